#!/usr/bin/env bash
# Reordered and duplicated batches: the committed real pair, cut into small batches and sent
# to the collector shuffled within a window, 10% duplicated, with random delays (several
# seeds), gives exactly the verdicts `synmatch compare` gives in order, with no duplicate
# alert, and the collector counts the duplicates it dropped.
#   tests/golden/test_reorder.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
mapfile -t ips <"$data/server_ips.txt"
"$build/synmatch" compare --verdicts "$data/client.pcap" "$data/server.pcap" >"$tmp/offline.jsonl" 2>/dev/null || true
fail=0
for seed in 1 2 3; do
    sock=ipc://$tmp/c$seed.sock
    "$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 \
        --output "$tmp/live$seed.jsonl" 2>"$tmp/collector$seed.err" &
    cpid=$!
    "$build/tests/sm_shuffle_send" --seed "$seed" --window 16 --dup 10 --batch 4 \
        "$data/client.pcap" "$data/server.pcap" "$sock" "${ips[@]}" 2>"$tmp/send$seed.err" ||
        true # it waits for the collector to close (at most 120 s); the check below tells
    for _ in $(seq 300); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$cpid" 2>/dev/null; then # never hang: say what the collector had
        kill -TERM "$cpid"
        wait "$cpid" || true
        echo "FAIL seed $seed: collector did not finish in 30 s; sender: $(cat "$tmp/send$seed.err")"
        grep "stats: sensors" "$tmp/collector$seed.err" | tail -1
        grep '"event"' "$tmp/live$seed.jsonl" | cut -c1-200
        fail=1
        continue
    fi
    wait "$cpid" || { echo "FAIL seed $seed: collector exit status"; fail=1; continue; }
    /usr/bin/python3 - "$tmp/live$seed.jsonl" "$tmp/offline.jsonl" "$seed" "$tmp/collector$seed.err" <<'PY' || fail=1
import json, re, sys
def finals(path):
    out, dup = {}, 0
    for line in open(path):
        o = json.loads(line)
        if o.get("verdict") and o["verdict"] != "suspect":
            dup += o["seq"] in out
            out[o["seq"]] = (o["verdict"], o["attempts"], o.get("answer"), o.get("lost_before"))
    return out, dup
live, dup = finals(sys.argv[1])
off, _ = finals(sys.argv[2])
bad = [(k, live.get(k), off.get(k)) for k in sorted(set(live) | set(off)) if live.get(k) != off.get(k)]
for b in bad[:5]:
    print("FAIL ISN %d: shuffled %s, in order %s" % b)
stats = open(sys.argv[4]).read()
m = re.search(r"dup (\d+)", stats)
dups = int(m.group(1)) if m else 0
ok = not bad and dup == 0 and dups > 0 and off
print("%s seed %s: %d ISNs, same verdicts, %d duplicate alerts, collector dropped %d duplicate batches"
      % ("ok  " if ok else "FAIL", sys.argv[3], len(off), dup, dups))
sys.exit(0 if ok else 1)
PY
done
exit "$fail"
