#!/usr/bin/env bash
# Golden test of `synmatch compare` on a committed real capture pair (tests/data/lab-nat,
# recorded by tests/netns/record_pair.sh --nat), and every bad-input case with its exit status.
#   tests/golden/test_compare_cli.sh SYNMATCH [--update]
set -euo pipefail
synmatch=$1
update=${2:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
golden=$data/expected
c=$data/client.pcap
s=$data/server.pcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# run NAME EXPECTED_STATUS ARGS...: stdout to $tmp/NAME.out, stderr to $tmp/NAME.err
run() {
    local name=$1 want=$2 rc=0
    shift 2
    "$synmatch" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name: exit $rc"; else
        bad "$name: exit $rc, expected $want"
        sed 's/^/    /' "$tmp/$name.err" | head -n 5
    fi
}

# ---- golden outputs ------------------------------------------------------------------------
run table 1 compare "$c" "$s"
run map_csv 1 compare --map --format csv "$c" "$s"
run missing_csv 1 compare --missing --format csv "$c" "$s"
run both_jsonl 1 compare --format jsonl "$c" "$s"
run verdicts 1 compare --verdicts "$c" "$s"
run missing_v4 1 compare --missing --format csv --server-ip 198.18.2.2 "$c" "$s"
if [ "$update" = --update ]; then
    mkdir -p "$golden"
    for n in table map_csv missing_csv both_jsonl verdicts missing_v4; do cp "$tmp/$n.out" "$golden/$n.out"; done
    cp "$tmp/table.err" "$golden/table.err"
    echo "golden files updated in $golden"
fi
for n in table map_csv missing_csv both_jsonl verdicts missing_v4; do
    if cmp -s "$golden/$n.out" "$tmp/$n.out"; then ok "$n matches its golden file"; else
        bad "$n differs from its golden file"
        diff "$golden/$n.out" "$tmp/$n.out" | head -n 10
    fi
done
cmp -s "$golden/table.err" "$tmp/table.err" && ok "stderr summary matches" || { bad "stderr summary differs"; diff "$golden/table.err" "$tmp/table.err"; }

# The golden files are anchored to the recording's own truth, not only to an earlier run.
[ "$(tail -n +2 "$tmp/missing_csv.out" | awk -F, '{print $2, $1}' | sort)" = "$(sort "$data/dropped_counts.txt")" ] &&
    ok "missing = the firewall's dropped SYNs ($(wc -l <"$data/dropped_counts.txt") ISNs)" || bad "missing differs from dropped_counts.txt"

# ---- formats -------------------------------------------------------------------------------
head -n 1 "$tmp/map_csv.out" | grep -qx 'client_stream,server_stream,client_seq,server_seq,client_src,client_sport,client_dst,client_dport,server_src,server_sport,server_dst,server_dport,delta,verdict,match,community_id,server_community_id' &&
    ok "map csv header" || bad "map csv header"
head -n 1 "$tmp/missing_csv.out" | grep -qx 'count,seq,client_src,client_sport,client_dst,client_dport,client_stream,first,last,community_id' &&
    ok "missing csv header" || bad "missing csv header"
/usr/bin/python3 - "$tmp/both_jsonl.out" <<'PY' && ok "jsonl rows parse and carry the table's keys" || bad "jsonl rows"
import json, sys
keys = {"map": ["client_stream", "server_stream", "client_seq", "server_seq", "client_src", "server_src", "delta", "verdict"],
        "missing": ["count", "seq", "client_src", "client_stream", "first", "last"],
        "broken": ["verdict", "count", "seq", "client_src", "client_stream", "server_stream", "server_answer", "client_answer", "reason"]}
seen = set()
for line in open(sys.argv[1]):
    o = json.loads(line)
    seen.add(o["table"])
    assert all(k in o for k in keys[o["table"]]), o
    if o["table"] == "missing":
        assert o["first"].endswith("Z") and len(o["first"]) == 30, o["first"]
assert seen == {"map", "missing", "broken"}, seen
PY
# The closed port: refused, in the map and the broken table, never a failure on its own.
/usr/bin/python3 - "$tmp/verdicts.out" "$data/expected.tsv" <<'PY' && ok "closed port: refused, the server's RST received" || bad "refused verdicts"
import json, sys
want = {int(l.split("\t")[0]) for l in open(sys.argv[2]) if not l.startswith("#") and l.split("\t")[6] == "refused"}
got = {o["seq"]: o for o in map(json.loads, open(sys.argv[1])) if "verdict" in o}
assert want and all(got[i]["verdict"] == "refused" and got[i]["answer"] == "rst" and got[i]["client_answer"] == "rst" for i in want), want
assert sum(1 for o in got.values() if o["verdict"] == "refused") == len(want)
assert all(o["schema"] == 2 for o in got.values())
PY
# Swapped arguments look healthy: said on stderr, with the counts.
run swapped 0 compare "$s" "$c"
grep -q "the files look swapped: all 62 client SYNs" "$tmp/swapped.err" && ok "swapped arguments are pointed out" || bad "swapped arguments not noticed"
grep -q "swapped" "$tmp/table.err" && bad "the right order is called swapped" || ok "the right order is not called swapped"
# A server capture that stops early: its SYNs are listed as not witnessed, with the reason.
/usr/bin/python3 - "$s" "$tmp/server_short.pcap" "$tmp/verdicts.out" <<'PY'
import json, struct, sys
src, dst, verdicts = sys.argv[1:4]
drop_first = min(json.loads(l)["first"] for l in open(verdicts) if '"missing"' in l)
import datetime
t0 = datetime.datetime.strptime(drop_first[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
cut = int(t0.timestamp()) * 10**9 + int(drop_first[20:29]) + 4500 * 10**6  # the first attempts' windows close inside
data = open(src, "rb").read()
out, pos = [data[:24]], 24
nano = data[:4] in (b"\x4d\x3c\xb2\xa1",)
while pos + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack("<IIII", data[pos:pos + 16])
    ts = sec * 10**9 + (frac if nano else frac * 1000)
    if ts > cut:
        break
    out.append(data[pos:pos + 16 + incl])
    pos += 16 + incl
open(dst, "wb").write(b"".join(out))
PY
run short_server 0 compare --unwitnessed --format csv "$c" "$tmp/server_short.pcap"
/usr/bin/python3 - "$tmp/short_server.out" "$data/dropped_counts.txt" <<'PY' && ok "server capture stopped early: every dropped SYN listed as not witnessed, with the reason" || { bad "server capture stopped early"; cat "$tmp/short_server.out"; }
import sys
rows = [l.rstrip("\n").split(",") for l in open(sys.argv[1])][1:]
listed = {int(r[3]): r[1] for r in rows if r[0] == "unknown"}
dropped = [int(l.split()[0]) for l in open(sys.argv[2])]
assert all(listed.get(i) == "after_server_capture" for i in dropped), listed
PY
# The windows of the first attempts close inside the server capture, the last ones' do not:
# partly witnessed, never missing (a 3 s longer timeout makes the recording that case).
run partly 1 compare --unwitnessed --format csv --timeout 6 "$c" "$s"
/usr/bin/python3 - "$tmp/partly.out" "$data/dropped_counts.txt" <<'PY' && ok "partly witnessed groups: unknown, partly_outside_server_capture, attempts_inside" || { bad "partly witnessed"; cat "$tmp/partly.out"; }
import sys
rows = [l.rstrip("\n").split(",") for l in open(sys.argv[1])][1:]
partly = {int(r[3]): int(r[11]) for r in rows if r[1] == "partly_outside_server_capture"}
three = [int(l.split()[0]) for l in open(sys.argv[2]) if l.split()[1] == "3"]
assert three and all(0 < partly.get(i, 0) < 3 for i in three), (partly, three)
PY
grep -q 'missing' "$tmp/verdicts.out" && ! grep -q '"verdict":"suspect"' "$tmp/verdicts.out" && ok "verdicts are final ones" || bad "verdicts"
[ "$(tail -n +2 "$tmp/missing_v4.out" | cut -d, -f5 | sort -u)" = 198.18.2.2 ] &&
    [ "$(tail -n +2 "$tmp/missing_v4.out" | wc -l)" -lt "$(tail -n +2 "$tmp/missing_csv.out" | wc -l)" ] &&
    ok "--server-ip narrows the missing list" || bad "--server-ip narrows the missing list"

# ---- determinism and standard input ---------------------------------------------------------
"$synmatch" compare "$c" "$s" >"$tmp/again.out" 2>/dev/null || true
cmp -s "$tmp/table.out" "$tmp/again.out" && ok "output is deterministic" || bad "output differs between runs"
"$synmatch" compare "$c" - <"$s" >"$tmp/stdin.out" 2>/dev/null || true
cmp -s "$tmp/table.out" "$tmp/stdin.out" && ok "server from standard input" || bad "server from standard input"
cat "$c" | "$synmatch" compare - "$s" >"$tmp/stdin2.out" 2>/dev/null || true
cmp -s "$tmp/table.out" "$tmp/stdin2.out" && ok "client from a pipe" || bad "client from a pipe"
run no_missing 1 compare --missing --format csv "$c" "$c" --server-ip 198.18.2.2
[ "$(wc -l <"$tmp/no_missing.out")" -eq 1 ] && ok "a capture against itself: header only" || bad "self compare"

# ---- capture drops declared by the server's pcapng: never "missing" ------------------------
/usr/bin/python3 "$here/../lib/pcap_to_pcapng_isb.py" "$s" "$tmp/server_drops.pcapng" 0
run isb_nodrops 1 compare --missing --format csv "$c" "$tmp/server_drops.pcapng"
cmp -s "$tmp/missing_csv.out" "$tmp/isb_nodrops.out" && ok "pcapng copy, no drops: same missing list" || bad "pcapng copy differs"
/usr/bin/python3 "$here/../lib/pcap_to_pcapng_isb.py" "$s" "$tmp/server_drops.pcapng" 5
run isb_drops 0 compare --verdicts "$c" "$tmp/server_drops.pcapng"
n_loss=$(grep -c '"verdict":"sensor_capture_loss"' "$tmp/isb_drops.out" || true)
[ "$n_loss" -eq "$(wc -l <"$data/dropped_counts.txt")" ] && ! grep -q '"verdict":"missing"' "$tmp/isb_drops.out" &&
    ok "declared drops: $n_loss unmatched SYNs are sensor_capture_loss, none missing" || bad "declared drops: $n_loss sensor_capture_loss"
grep -q "declares 5 dropped packets" "$tmp/isb_drops.err" && ok "drops announced on stderr" || bad "drops not announced"

# ---- the numbering cap says when the numbers stop being exact -------------------------------
"$synmatch" streams --max-conversations 3 "$c" >/dev/null 2>"$tmp/cap.err" || true
grep -Eq "numbering is not exact from frame [0-9]+" "$tmp/cap.err" && ok "--max-conversations: inexact numbering announced" || bad "--max-conversations warning"
"$synmatch" compare --max-conversations 3 "$c" "$s" >/dev/null 2>"$tmp/cap2.err" || true
grep -Eq "stream numbers are not exact from frame [0-9]+" "$tmp/cap2.err" && ok "compare --max-conversations: announced" || bad "compare --max-conversations warning"

# ---- bad input: one clear line, a distinct status ------------------------------------------
run usage_none 2 compare
run usage_format 2 compare --format xml "$c" "$s"
run usage_ip 2 compare --server-ip 300.1.1.1 "$c" "$s"
run usage_stdin_twice 2 compare - -
run missing_file 3 compare "$tmp/nope.pcap" "$s"
grep -q "nope.pcap: cannot open: No such file or directory" "$tmp/missing_file.err" && ok "missing file named" || bad "missing file message"
echo "this is not a capture" >"$tmp/text.pcap"
run not_capture 4 compare "$c" "$tmp/text.pcap"
grep -q "not a pcap or pcapng file" "$tmp/not_capture.err" && ok "not-a-capture message" || bad "not-a-capture message"
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x93\x00\x00\x00' >"$tmp/lt147.pcap"
run linktype 5 compare "$c" "$tmp/lt147.pcap"
grep -q "unsupported link type 147" "$tmp/linktype.err" && ok "link type named" || bad "link type message"
: >"$tmp/empty.pcap"
run empty 6 compare "$tmp/empty.pcap" "$s"
grep -q "empty file" "$tmp/empty.err" && ok "empty file message" || bad "empty file message"
head -c 40000 "$s" >"$tmp/trunc.pcap"
run truncated 7 compare "$c" "$tmp/trunc.pcap"
grep -Eq "truncated at frame [0-9]+ \(byte [0-9]+\)" "$tmp/truncated.err" && ok "truncation names the frame" || bad "truncation message"
grep -q "^PARTIAL: " "$tmp/truncated.out" && grep -q "Stream map" "$tmp/truncated.out" && ok "partial results printed and marked" || bad "partial output"
head -c 24 "$s" >"$tmp/header_only.pcap"
run no_scope 8 compare "$c" "$tmp/header_only.pcap"
grep -q -- "--server-ip" "$tmp/no_scope.err" && ok "no-scope message names --server-ip" || bad "no-scope message"
for n in missing_file not_capture linktype empty no_scope; do
    [ "$(wc -l <"$tmp/$n.err")" -eq 1 ] && ok "$n: one line on stderr" || { bad "$n: $(wc -l <"$tmp/$n.err") lines on stderr"; cat "$tmp/$n.err"; }
done

echo "$fail checks failed"
[ "$fail" -eq 0 ]
