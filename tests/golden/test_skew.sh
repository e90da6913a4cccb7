#!/usr/bin/env bash
# Clock skew within the allowance: the committed real pair with the server capture's
# timestamps shifted by +400 ms and by -400 ms (editcap) gives, per ISN, the same verdict,
# attempts, answer and lost attempts as unshifted: offline (compare) and live (two -r agents
# and the collector). No false alert either way.
#   tests/golden/test_skew.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"
# shellcheck source=../lib/replay.sh
. "$here/../lib/replay.sh"
live() { sm_replay "$build" "$tmp" "$@" "${serve[@]}"; } # CLIENT SERVER OUT


"$build/synmatch" compare --verdicts "$data/client.pcap" "$data/server.pcap" >"$tmp/base.jsonl" 2>/dev/null || true
fail=0
for shift in 0.4 -0.4; do
    editcap -t "$shift" "$data/server.pcap" "$tmp/server$shift.pcap" >/dev/null
    "$build/synmatch" compare --verdicts "$data/client.pcap" "$tmp/server$shift.pcap" >"$tmp/off$shift.jsonl" 2>/dev/null || true
    live "$data/client.pcap" "$tmp/server$shift.pcap" "$tmp/live$shift.jsonl"
    /usr/bin/python3 - "$tmp/base.jsonl" "$tmp/off$shift.jsonl" "$tmp/live$shift.jsonl" "$shift" <<'PY' || fail=1
import json, sys
def finals(path):
    out = {}
    for line in open(path):
        o = json.loads(line)
        if o.get("verdict") and o["verdict"] != "suspect":
            out[o["seq"]] = (o["verdict"], o["attempts"], o.get("answer"), o.get("lost_before"))
    return out
base = finals(sys.argv[1])
bad = 0
for name, path in (("offline", sys.argv[2]), ("live", sys.argv[3])):
    got = finals(path)
    diff = [(k, got.get(k), base.get(k)) for k in sorted(set(got) | set(base)) if got.get(k) != base.get(k)]
    for d in diff[:5]:
        print("FAIL shift %s %s ISN %d: %s, unshifted %s" % ((sys.argv[4], name) + d))
    bad += len(diff)
print("%s server clock %+.1f s: %d ISNs, offline and live verdicts as unshifted" % ("ok  " if not bad else "FAIL", float(sys.argv[4]), len(base)))
sys.exit(1 if bad or not base else 0)
PY
done
exit "$fail"
