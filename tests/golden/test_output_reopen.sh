#!/usr/bin/env bash
# Log rotation of the collector's --output under load: 400,000 SYNs (4,000 never reach the
# server) replayed as fast as the collector takes them by two `synmatch-agent -r` (batches of
# 100 records, so that the collector's loop turns often: it takes a signal between turns), while the
# output is moved away and the collector sent SIGHUP every 10 ms, as logrotate does. Then:
#   - every line of every file is whole JSON, every file ends with a newline;
#   - the files, put together, hold exactly the verdicts of a run without rotation (per ISN:
#     the verdict and the attempts), no line lost, none written twice;
#   - every real ISN has exactly one final verdict;
#   - the rotation happened under load: at least 10 reopens, verdicts in at least 5 files,
#     and the collector said each reopen it took.
#   tests/golden/test_output_reopen.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
count=400000

/usr/bin/python3 "$here/../lib/gen_syn_pair.py" "$tmp/client.pcap" "$tmp/server.pcap" \
    --count "$count" --rate 50000 --lost-every 100 --truth "$tmp/truth.txt" >/dev/null

# run NAME ROTATE: one replay into a collector writing $tmp/NAME/out.jsonl; with ROTATE=1 the
# file is moved to out.jsonl.N and the collector HUPed every 10 ms while it runs.
run() {
    local name=$1 rotate=$2 d=$tmp/$1
    mkdir "$d"
    local sock=ipc://$d/c.sock
    "$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 \
        --output "$d/out.jsonl" 2>"$d/collector.err" &
    local cpid=$!
    for _ in $(seq 100); do grep -q "listening on" "$d/collector.err" && break; sleep 0.05; done
    "$build/synmatch-agent" -r "$tmp/server.pcap" --role server --sensor-id server \
        --serve 198.19.0.10 --batch-records 100 --collector "$sock" 2>"$d/as.err" &
    "$build/synmatch-agent" -r "$tmp/client.pcap" --role client --sensor-id client \
        --batch-records 100 --collector "$sock" 2>"$d/ac.err" &
    # at most 180 s: a sanitizer build on a loaded machine took over 30 s for the rotated run
    local n=0 end=$((SECONDS + 180))
    while kill -0 "$cpid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
        if [ "$rotate" = 1 ] && mv "$d/out.jsonl" "$d/out.jsonl.$((n + 1))" 2>/dev/null; then
            n=$((n + 1))
            kill -HUP "$cpid" 2>/dev/null || true
        fi
        sleep 0.01
    done
    if kill -0 "$cpid" 2>/dev/null; then
        echo "FAIL $name: the collector did not finish within 180 s"
        for f in collector as ac; do echo "--- $f.err"; tail -5 "$d/$f.err"; done
        return 1
    fi
    wait "$cpid" || { echo "FAIL $name: collector exit status"; tail -5 "$d/collector.err"; return 1; }
    wait
    echo "$n" >"$d/rotations"
}
run plain 0
run rotated 1

fail=0
rot=$(cat "$tmp/rotated/rotations")
reopened=$(grep -c "output $tmp/rotated/out.jsonl reopened" "$tmp/rotated/collector.err" || true)
# The last signal may come as the collector ends, after its last pass: then it is not taken.
if [ "$rot" -ge 10 ] && [ "$reopened" -le "$rot" ] && [ "$reopened" -ge $((rot - 1)) ]; then
    echo "ok   $rot rotations under load, $reopened reopens said by the collector"
else
    echo "FAIL rotations $rot, reopens said $reopened (want >= 10, and one per signal taken)"
    fail=1
fi
files=()
for i in $(seq "$rot"); do files+=("$tmp/rotated/out.jsonl.$i"); done
[ -e "$tmp/rotated/out.jsonl" ] && files+=("$tmp/rotated/out.jsonl") # not after an unanswered last signal
/usr/bin/python3 - "$tmp/truth.txt" "$tmp/plain/out.jsonl" "${files[@]}" <<'PY' || fail=1
import json, sys
truth = {int(l.split()[0]) for l in open(sys.argv[1])}
bad = 0
def finals(paths):
    global bad
    out, with_verdicts = {}, 0
    for p in paths:
        data = open(p, "rb").read()
        if data and not data.endswith(b"\n"):
            print("FAIL %s does not end with a newline" % p); bad += 1
        n = 0
        for i, line in enumerate(data.splitlines(), 1):
            try:
                o = json.loads(line)
            except ValueError:
                print("FAIL %s:%d is not whole JSON: %r" % (p, i, line[:80])); bad += 1
                continue
            if "verdict" not in o or o["verdict"] == "suspect":
                continue
            n += 1
            if o["seq"] in out:
                print("FAIL ISN %d has two final verdicts (%s)" % (o["seq"], p)); bad += 1
            out[o["seq"]] = (o["verdict"], o["attempts"])
        with_verdicts += n > 0
    return out, with_verdicts
plain, _ = finals([sys.argv[2]])
rot, nfiles = finals(sys.argv[3:])
if set(plain) != truth:
    print("FAIL the run without rotation: %d ISNs judged, %d real" % (len(plain), len(truth))); bad += 1
lost = sorted(set(plain) - set(rot))
extra = sorted(set(rot) - set(plain))
diff = [k for k in plain if k in rot and plain[k] != rot[k]]
for what, ks in (("lost in rotation", lost), ("only with rotation", extra), ("verdict differs", diff)):
    if ks:
        print("FAIL %d ISNs %s, e.g. %s" % (len(ks), what, ks[:5])); bad += 1
if nfiles < 5:
    print("FAIL verdicts in only %d files: the rotation did not happen under load" % nfiles); bad += 1
kinds = {}
for v in rot.values():
    kinds[v[0]] = kinds.get(v[0], 0) + 1
print("%s %d ISNs in %d files, one final verdict each, as without rotation %s"
      % ("ok  " if not bad else "FAIL", len(rot), nfiles, kinds))
sys.exit(1 if bad else 0)
PY
exit "$fail"
