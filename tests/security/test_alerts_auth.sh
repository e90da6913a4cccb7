#!/usr/bin/env bash
# Who may read the alerts. A collector with keys publishes only to subscribers on its
# --alerts-allow list (CURVE, a ZAP domain of its own):
#   - tails without a key, with a key not on the list and with an agent's key receive nothing,
#     and the collector counts each kind; a listed tail receives every line;
#   - a peer sending records with a subscriber's key is refused (and counted as such);
#   - SIGHUP after editing the list adds one subscriber and removes the other, no restart;
#   - without keys, a non-loopback --alerts-pub is refused with one clear line; with
#     --insecure it starts and says that anyone may read it; --alerts-allow without --key is a
#     usage error.
#   tests/security/test_alerts_auth.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for FILE PATTERN SECONDS: true once PATTERN shows in FILE
wait_for() {
    for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
lines() { wc -l <"$1" | tr -d ' '; }

for k in collector client server sub1 sub2; do "$build/synmatch" keygen "$k" >/dev/null; done
printf 'client %s\nserver %s\n' "$(cat client.pub)" "$(cat server.pub)" >agents.allow
printf '# name public-key\nsub1 %s\n' "$(cat sub1.pub)" >subs.allow
"$build/tests/sm_wire_seeds" "$data/server.pcap" seeds >/dev/null 2>&1 ||
    { mkdir -p seeds; "$build/tests/sm_wire_seeds" "$data/server.pcap" seeds >/dev/null; }
pull=tcp://127.0.0.1:$(free_port)
pub=tcp://127.0.0.1:$(free_port)

"$build/synmatch-collector" --listen "$pull" --alerts-pub "$pub" --key collector.key \
    --allow agents.allow --alerts-allow subs.allow --stats 1 --output verdicts.jsonl \
    2>collector.err &
cpid=$!
wait_for collector.err "listening on" 10 || { bad "collector did not start"; cat collector.err; exit 1; }
grep -q "alerts on $pub (CURVE, 1 subscriber allowed)" collector.err &&
    ok "start-up line: the alerts socket is encrypted, one subscriber allowed" ||
    { bad "start-up line does not say who may read the alerts"; grep listening collector.err; }
tail_to() { # OUT [KEY]
    local out=$1
    shift
    if [ $# -gt 0 ]; then
        "$build/synmatch" tail --json --key "$1" --server-key collector.pub "$pub" >"$out" 2>"$out.err" &
    else
        "$build/synmatch" tail --json "$pub" >"$out" 2>"$out.err" &
    fi
}
tail_to nokey.out
tail_to unlisted.out sub2.key
tail_to agentkey.out client.key
tail_to sub1.out sub1.key
wait_for collector.err "subscribers: handshakes ok 1" 10 ||
    { bad "the listed subscriber did not connect"; tail -3 collector.err; }
# A peer sending records with a subscriber's key: refused on the records socket.
"$build/tests/sm_push" --repeat 3 --key sub1.key --server-key collector.pub "$pull" seeds/* \
    >/dev/null 2>&1 &

replay() { # CLIENT SERVER SERVE...
    local c=$1 s=$2
    shift 2
    "$build/synmatch-agent" -r "$s" --role server --sensor-id server "$@" --key server.key \
        --server-key collector.pub --collector "$pull" 2>>agents.err &
    local spid=$!
    "$build/synmatch-agent" -r "$c" --role client --sensor-id client --key client.key \
        --server-key collector.pub --collector "$pull" 2>>agents.err
    wait "$spid"
}
# Run 1: a generated pair (January 2026); run 2, after the reload: the real pair (November).
/usr/bin/python3 "$here/../lib/gen_syn_pair.py" gc.pcap gs.pcap --count 400 --rate 40 \
    --lost-every 50 >/dev/null
replay gc.pcap gs.pcap --serve 198.19.0.10
wait_for verdicts.jsonl '"event":"sensor_end","time":"[^"]*","sensor":"client"' 10 || true
for _ in $(seq 100); do [ "$(grep -c '"sensor_end"' verdicts.jsonl)" -ge 2 ] && break; sleep 0.1; done
sleep 2
# The last seconds wait for the next records to move event time past --timeout.
n1=$(grep -c '"verdict"' verdicts.jsonl || true)
[ "$n1" -ge 200 ] && ok "run 1: $n1 verdict lines" || bad "run 1: only $n1 verdict lines"
for f in nokey unlisted agentkey; do
    [ "$(lines $f.out)" -eq 0 ] && ok "$f tail received nothing" || bad "$f tail received $(lines $f.out) lines"
done
/usr/bin/python3 - verdicts.jsonl sub1.out <<'PY' || fail=$((fail + 1))
import sys
want = [l for l in open(sys.argv[1]) if '"verdict"' in l]
got = set(open(sys.argv[2]))
miss = [l for l in want if l not in got]
print(("ok   " if not miss else "FAIL ") + "the listed subscriber received %d of %d verdict lines"
      % (len(want) - len(miss), len(want)))
sys.exit(1 if miss else 0)
PY

# The list edited: sub2 in, sub1 out; SIGHUP; every subscriber reconnects and is checked again.
printf 'sub2 %s\n' "$(cat sub2.pub)" >subs.allow
kill -HUP "$cpid"
wait_for collector.err "allow-list of subscribers reloaded: 1 allowed" 10 &&
    ok "SIGHUP reloaded the subscribers' list" || bad "no reload line"
tail_to sub2.out sub2.key
# its handshake is the second one allowed on the alerts socket
wait_for collector.err "subscribers: handshakes ok [2-9].*allowed [2-9]" 10 ||
    { bad "the added subscriber did not connect"; grep "subscribers:" collector.err | tail -2; }
sleep 1
before1=$(lines sub1.out)
before=$(grep -c '"verdict"' verdicts.jsonl || true)
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"
replay "$data/client.pcap" "$data/server.pcap" "${serve[@]}"
for _ in $(seq 100); do [ "$(grep -c '"sensor_end"' verdicts.jsonl)" -ge 4 ] && break; sleep 0.1; done
sleep 4
after=$(grep -c '"verdict"' verdicts.jsonl || true)
[ "$after" -gt "$before" ] && ok "run 2: $((after - before)) more verdict lines" || bad "run 2 gave no verdicts"
[ "$(lines sub1.out)" -eq "$before1" ] && ok "the removed subscriber received nothing after the reload" ||
    bad "the removed subscriber received $(($(lines sub1.out) - before1)) lines after the reload"
/usr/bin/python3 - verdicts.jsonl sub2.out "$before" <<'PY' || fail=$((fail + 1))
import sys
want = [l for l in open(sys.argv[1]) if '"verdict"' in l][int(sys.argv[3]):]
got = set(open(sys.argv[2]))
miss = [l for l in want if l not in got]
print(("ok   " if want and not miss else "FAIL ") + "the added subscriber received %d of the %d "
      "verdict lines after the reload" % (len(want) - len(miss), len(want)))
sys.exit(1 if miss or not want else 0)
PY
for f in nokey agentkey; do
    [ "$(lines $f.out)" -eq 0 ] && ok "$f tail still received nothing" || bad "$f tail received $(lines $f.out) lines"
done
kill -TERM "$cpid"
wait "$cpid" || true
/usr/bin/python3 - collector.err <<'PY' || fail=$((fail + 1))
import re, sys
err = open(sys.argv[1]).read()
def last(pat):
    m = re.findall(pat, err)
    return [int(x) for x in m[-1]] if m else None
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL ") + msg); bad += not cond
s = last(r"stats: subscribers: handshakes ok (\d+), failed: protocol (\d+) auth (\d+) other (\d+) "
         r"\| allow-list: allowed (\d+) denied (\d+) \(not listed (\d+), an agent's key (\d+)\)")
a = last(r"stats: agents: handshakes ok (\d+), failed: protocol (\d+) auth (\d+) other (\d+) "
         r"\| allow-list: allowed (\d+) denied (\d+) \(not listed (\d+), a subscriber's key (\d+)\)")
check(s is not None and a is not None, "stats lines for both sockets")
if s and a:
    check(s[1] + s[2] + s[3] >= 1, "the keyless tail's handshakes failed and were counted (%d)" % (s[1] + s[2] + s[3]))
    check(s[6] >= 1, "the unlisted key was refused on the alerts socket (%d)" % s[6])
    check(s[7] >= 1, "the agent's key was refused on the alerts socket (%d)" % s[7])
    check(s[4] >= 2, "the listed subscribers passed (%d)" % s[4])
    check(a[7] >= 1, "the subscriber's key was refused on the records socket (%d)" % a[7])
    check(a[4] >= 2, "the agents passed (%d)" % a[4])
sys.exit(1 if bad else 0)
PY
grep -q '"sensor":"sub1"' verdicts.jsonl && bad "records sent with a subscriber's key were accepted" ||
    ok "no record accepted from the subscriber's key"

# Without keys.
rc=0
"$build/synmatch-collector" --listen "ipc://$tmp/x.sock" --alerts-pub "tcp://0.0.0.0:$(free_port)" \
    --stats 0 >/dev/null 2>nokeys.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "refusing to publish alerts on tcp://0.0.0.0" nokeys.err &&
    ok "no keys: a non-loopback alerts endpoint is refused (exit 2)" ||
    { bad "no keys: exit $rc"; cat nokeys.err; }
port=$(free_port)
"$build/synmatch-collector" --listen "ipc://$tmp/y.sock" --alerts-pub "tcp://0.0.0.0:$port" \
    --insecure --stats 0 --output /dev/null 2>insecure.err &
ipid=$!
wait_for insecure.err "listening on" 10 && grep -q "anyone who can connect may read them" insecure.err &&
    ok "--insecure: starts and says anyone may read the alerts" || { bad "--insecure"; cat insecure.err; }
kill -TERM "$ipid"
wait "$ipid" || true
rc=0
"$build/synmatch-collector" --listen "ipc://$tmp/z.sock" --alerts-pub "ipc://$tmp/za.sock" \
    --alerts-allow subs.allow --stats 0 >/dev/null 2>noalerts.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "alerts-allow needs --key" noalerts.err &&
    ok "--alerts-allow without --key: usage error" || { bad "--alerts-allow without --key: exit $rc"; cat noalerts.err; }
echo "$fail checks failed"
exit "$fail"
