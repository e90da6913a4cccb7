#!/usr/bin/env bash
# `synmatch tail` against hostile lines: a fake alerts socket (sm_pub_lines) publishes two
# real verdicts of the committed pair among lines crafted to break a reader (escaped quotes
# that fake a key, nested objects where values belong, nesting past any sane depth, a 1 MiB
# line, invalid UTF-8, control characters raw and escaped, a NUL byte, duplicate keys, an
# array, an empty line) and a health line. Five tails read them at once: everything, --json,
# --service, --sensor with --health, --filters with --verdict. Each must stay up until told
# to stop and exit 0; what is shown is right and printable; what is refused is counted by
# reason; the filters select the handshake in the real captures (tshark).
#   tests/golden/test_tail_hostile.sh SYNMATCH SM_PUB_LINES
set -euo pipefail
synmatch=$1
publisher=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

grep -m1 '"verdict":"matched"' "$data/expected/verdicts.out" >"$tmp/matched.json"
grep -m1 '"verdict":"missing"' "$data/expected/verdicts.out" >"$tmp/missing.json"
/usr/bin/python3 - "$tmp" <<'PY'
import sys
tmp = sys.argv[1]
T = '"time":"2026-11-26T06:56:20.000Z"'
lines = [
    open(tmp + "/matched.json", "rb").read().rstrip(b"\n"),
    open(tmp + "/missing.json", "rb").read().rstrip(b"\n"),
    # an escaped quote inside a value that a key search would take for "verdict":"missing"
    b'{"schema":2,"event":"sensor_up",' + T.encode() + b',"sensor":"a\\",\\"verdict\\":\\"missing","role":"client"}',
    b'{"schema":2,"verdict":"mis\\"sing","seq":1,"attempts":1,"last":"2026-11-26T06:56:20.000Z"}',
    # objects where strings and numbers belong
    b'{"schema":2,"verdict":"matched","seq":{"a":[1,{"b":2}]},"attempts":[],"client":{"src":{"x":1},"sport":1,"dst":"198.18.2.2","dport":8080},"server":{"src":"198.18.2.1","sport":99999,"dst":"198.18.2.2","dport":8080},"answer":{"n":1},"delay":"soon","reason":{"r":1}}',
    b'{"a":' + b'[' * 30000 + b']' * 30000 + b'}',                 # deeper than any parser should go
    b'{"schema":2,"event":"x","pad":"' + b'a' * (1 << 20) + b'"}',  # 1 MiB
    b'{"schema":2,"event":"sensor_up","sensor":"\xff\xfe\xc0\xaf","role":"client"}',  # invalid UTF-8
    b'{"schema":2,"event":"sensor_up",' + T.encode() + b',"sensor":"evil\\u001b[2J\\u0007\\u009b1m","role":"client"}',
    b'hello \x1b[31m world \x07',
    b'[1,2,3]',
    b'',
    b'{"hello":"world","n":[1,{"deep":"\\u001b]0;title\\u0007"}]}',
    b'{"schema":2,"event":"x\x00y"}',
    b'{"verdict":"matched","verdict":"missing"}',
    b'{"schema":2,"event":"health",' + T.encode() + b',"sensor":"server","role":"server","up":true,"capture_drops":3,"clock_offset":0.001,"note":"\\u001bx"}',
    b'{"schema":2,"event":"health",' + T.encode() + b',"sensor":"server","role":"server","sentinel":true}',
]
with open(tmp + "/lines", "wb") as f:
    for l in lines:
        f.write(l + b"\n")
print(len(lines), "lines written")
PY

ep=ipc://$tmp/alerts.sock
start_tail() { # NAME ARGS...
    local name=$1
    shift
    "$synmatch" tail "$@" "$ep" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    echo $! >"$tmp/$name.pid"
}
start_tail all
start_tail json --json
start_tail service --service 198.18.2.2:8081
start_tail health --sensor server --health
start_tail filters --filters --verdict matched
"$publisher" --subscribers 5 --wait 15 "$ep" "$tmp/lines" >"$tmp/pub.out" 2>"$tmp/pub.err" ||
    { bad "the publisher: $(cat "$tmp/pub.err")"; exit 1; }
for name in all json service health filters; do
    for _ in $(seq 100); do grep -q sentinel "$tmp/$name.out" 2>/dev/null && break; sleep 0.1; done
    grep -q sentinel "$tmp/$name.out" || bad "$name: the last line never came"
    pid=$(cat "$tmp/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] && ok "$name: up to the end, exit 0" || { bad "$name: exit $rc"; sed 's/^/    /' "$tmp/$name.err"; }
done

# Everything: the two real verdicts as ever, the rest shown safely or counted.
all=$tmp/all.out
[ "$(grep -c '  MISSING ' "$all")" = 1 ] && ok "one MISSING: the real one (a faked key makes none)" || bad "MISSING lines: $(grep -c '  MISSING ' "$all")"
grep -q '  matched .*198.18.1.2:33616 -> 198.18.2.2:8080  seq 3266297307  attempts 1  server 198.18.2.1:33616 -> 198.18.2.2:8080 sent syn-ack, client got syn-ack, delay 0.000110880 s' "$all" &&
    ok "the real matched verdict, as before" || bad "matched verdict line"
grep -qF 'sensor_up              a","verdict":"missing (client)' "$all" && ok "escaped quotes: a sensor's odd name, shown as it is" || bad "escaped quotes"
grep -qF '  mis"sing  ' "$all" && ok "a verdict named with a quote: shown" || bad "quoted verdict name"
grep -q '^?  matched  *?  seq ?  attempts ?$' "$all" && ok "nested objects where values belong: '?' (an answer that is no string: none)" || bad "nested values"
grep -q 'health *server  role=server  up=true  capture_drops=3  clock_offset=0.001  note=?x' "$all" && ok "health line: its values" || bad "health line"
grep -qF '{"hello":"world","n":[1,{"deep":"\u001b]0;title\u0007"}]}' "$all" && ok "an object of no known kind: as it came" || bad "raw object"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$all" "$tmp/service.out" "$tmp/health.out" "$tmp/filters.out" ||
   LC_ALL=C grep -q $'\xc2[\x80-\x9f]' "$all"; then bad "a control character reached the terminal"; else ok "no control character printed"; fi
grep -qF 'evil?[2J??1m (client)' "$all" && ok "escaped control characters printed as '?'" || bad "escaped controls: $(grep evil "$all")"
grep -q 'refusing lines that are too long' "$tmp/all.err" && grep -q 'refusing lines that are not JSON (counted' "$tmp/all.err" &&
    ok "each reason said once when first seen" || bad "first-refusal warnings"
grep -q '8 of 17 lines refused: too_long 1, not_json 6, not_object 1' "$tmp/all.err" &&
    ok "refused and counted: too_long 1, not_json 6, not_object 1" || { bad "refusal counts"; cat "$tmp/all.err"; }
[ "$(wc -l <"$all")" = 9 ] && ok "9 lines shown" || bad "$(wc -l <"$all") lines shown"

# --json: exactly the 9 valid objects, each still valid JSON.
/usr/bin/python3 - "$tmp/json.out" <<'PY' && ok "--json: the 9 valid objects, unchanged" || bad "--json"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1], "rb")]
assert len(objs) == 9 and all(isinstance(o, dict) for o in objs), len(objs)
PY
# --service: the missing verdict (port 8081) and no other verdict; events still show.
[ "$(grep -c '  MISSING ' "$tmp/service.out")" = 1 ] && ! grep -q '  matched ' "$tmp/service.out" && grep -q sensor_up "$tmp/service.out" &&
    ok "--service 198.18.2.2:8081: its verdict only, events still shown" || { bad "--service"; cat "$tmp/service.out"; }
# --sensor server --health: the two health lines only.
[ "$(wc -l <"$tmp/health.out")" = 2 ] && [ "$(grep -c ' health ' "$tmp/health.out")" = 2 ] &&
    ok "--sensor server --health: the two health lines only" || { bad "--health"; cat "$tmp/health.out"; }

# --filters: under the matched verdicts, one filter per side; in the real captures each
# selects that connection's SYN and the SYN/ACK answering it, nothing else.
f=$tmp/filters.out
cf=$(grep -m1 '^    client: ' "$f" | sed 's/^    client: //; s/   or   tcp.stream eq [0-9]*$//')
sf=$(grep -m1 '^    server: ' "$f" | sed 's/^    server: //; s/   or   tcp.stream eq [0-9]*$//')
grep -q '^    client: .*   or   tcp.stream eq 0$' "$f" && ok "--filters: tcp.stream eq N where the line has it" || bad "stream filter: $(head -3 "$f")"
for side in client server; do
    flt=$cf; [ "$side" = server ] && flt=$sf
    got=$(tshark -r "$data/$side.pcap" -Y "$flt" -T fields -e tcp.flags.str 2>/dev/null | tr -d '·' | sort | tr '\n' ' ')
    [ "$got" = "AS S " ] && ok "--filters $side: selects its SYN and SYN/ACK in $side.pcap" ||
        bad "--filters $side: '$flt' selects: $got"
done
[ "$fail" = 0 ] && echo PASS || { echo "$fail failure(s)"; exit 1; }
