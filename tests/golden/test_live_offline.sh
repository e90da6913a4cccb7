#!/usr/bin/env bash
# Live equals offline: the committed real capture pair replayed through two `synmatch-agent -r`
# processes into `synmatch-collector` gives, for every ISN, the same final verdict and attempt
# count as `synmatch compare --verdicts` on the same files, and the same Community IDs with one
# --community-id-seed given to both (and other IDs than seed 0's: the option reaches the writer).
#   tests/golden/test_live_offline.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
sock=ipc://$tmp/c.sock
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"

"$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 --community-id-seed 7 --output "$tmp/live.jsonl" 2>"$tmp/collector.err" &
cpid=$!
"$build/synmatch-agent" -r "$data/server.pcap" --role server --sensor-id server "${serve[@]}" --collector "$sock" 2>"$tmp/as.err" &
spid=$!
"$build/synmatch-agent" -r "$data/client.pcap" --role client --sensor-id client --collector "$sock" 2>"$tmp/ac.err" &
apid=$!
wait "$spid" "$apid"
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
wait "$cpid"
"$build/synmatch" compare --verdicts --community-id-seed 7 "$data/client.pcap" "$data/server.pcap" >"$tmp/offline.jsonl" 2>/dev/null || true
"$build/synmatch" compare --verdicts "$data/client.pcap" "$data/server.pcap" >"$tmp/seed0.jsonl" 2>/dev/null || true

/usr/bin/python3 - "$tmp/live.jsonl" "$tmp/offline.jsonl" "$tmp/seed0.jsonl" <<'PY'
import json, sys
def finals(path):
    out = {}
    for line in open(path):
        o = json.loads(line)
        if o.get("verdict") and o["verdict"] != "suspect":
            assert o["seq"] not in out, "two final verdicts for %d in %s" % (o["seq"], path)
            out[o["seq"]] = (o["verdict"], o["attempts"], o.get("answer"), o.get("lost_before"),
                             o["community_id"], o.get("server_community_id"))
    return out
live, off, seed0 = finals(sys.argv[1]), finals(sys.argv[2]), finals(sys.argv[3])
same_id = [k for k in off if k in seed0 and off[k][4] == seed0[k][4]]
if same_id or len(seed0) != len(off):
    print("FAIL --community-id-seed 7 gives seed 0's IDs for %d ISNs" % len(same_id))
    sys.exit(1)
bad = [(k, live.get(k), off.get(k)) for k in sorted(set(live) | set(off)) if live.get(k) != off.get(k)]
for b in bad[:10]:
    print("FAIL ISN %d: live %s, offline %s" % b)
kinds = {}
for v in off.values():
    kinds[v[0]] = kinds.get(v[0], 0) + 1
print("%s live = offline for %d ISNs %s" % ("FAIL" if bad else "ok  ", len(off), kinds))
sys.exit(1 if bad or not off else 0)
PY
