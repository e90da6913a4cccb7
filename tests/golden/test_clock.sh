#!/usr/bin/env bash
# Two clocks that disagree, measured and corrected (docs/VERDICTS.md, "Clocks"):
#   - the committed real pair with the server capture shifted by -17.3 s, +300 s and +3 days
#     (editcap): offline (compare) and live (two -r agents and the collector) every final
#     verdict (kind, attempts, answers, reason, both stream numbers: the map, the missing and
#     the unwitnessed lists) equals the unshifted pair's; compare prints the offset within
#     1 ms of the shift and the collector says it in a clock_offset event;
#   - the same shift with --no-clock-correction: measured and printed, not corrected, and no
#     SYN the unshifted pair calls delivered is called missing;
#   - a generated 10-minute pair with the server's clock 5 s ahead and drifting 200 ppm
#     (tests/lib/retime.py): verdicts as unshifted; the offset printed within 1 ms of the
#     drifted clock's at the middle, the drift within 5 ppm;
#   - the same pair with the server's clock stepping +2 s and -2 s in the middle: one step
#     told; offline and live, no false missing: every verdict as unshifted but the few SYNs
#     at the step, which are unknown (clock_stepped, or live clock_offset_exceeds_skew until
#     the step is seen).
#   tests/golden/test_clock.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib=$here/../lib
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"
# shellcheck source=../lib/replay.sh
. "$lib/replay.sh"
live() { sm_replay "$build" "$tmp" "$@"; } # CLIENT SERVER OUT [SERVE...]

compare() { # CLIENT SERVER OUT [OPTIONS...]: verdicts to OUT, stderr to OUT.err
    local c=$1 s=$2 out=$3
    shift 3
    "$build/synmatch" compare --verdicts "$@" "$c" "$s" >"$out" 2>"$out.err" || true
}
# check.py BASE GOT MODE [WANT_OFFSET [WANT_DRIFT]]: MODE same | step | uncorrected
check() {
    /usr/bin/python3 - "$@" <<'PY'
import json, re, sys
base_path, got_path, mode = sys.argv[1:4]
want = float(sys.argv[4]) if len(sys.argv) > 4 else None
want_drift = float(sys.argv[5]) if len(sys.argv) > 5 else None
def finals(path):
    out, events = {}, []
    for line in open(path):
        o = json.loads(line)
        if "event" in o:
            events.append(o)
        elif o["verdict"] != "suspect":
            out[o["seq"]] = (o["verdict"], o["attempts"], o.get("answer"), o.get("lost_before"),
                             o.get("reason"), o.get("client_stream"), o.get("server_stream"))
    return out, events
base, _ = finals(base_path)
got, events = finals(got_path)
bad = 0
for k in sorted(set(base) | set(got)):
    b, g = base.get(k), got.get(k)
    if b == g:
        continue
    # at the step: unknown, never missing (live, before the step is seen, the matched pairs'
    # delays show it first: clock_offset_exceeds_skew)
    if mode == "step" and g and b and g[0] == "unknown" and g[4] in ("clock_stepped",
                                                                    "clock_offset_exceeds_skew"):
        continue
    if mode == "uncorrected" and g and b and (g[0] != "missing" or b[0] == "missing"):
        continue
    if bad < 5:
        print("FAIL %s ISN %d: %s, unshifted %s" % (got_path, k, g, b))
    bad += 1
if not base:
    print("FAIL no verdicts in", base_path); bad += 1
if mode == "step":
    stepped = sum(1 for v in got.values() if v[4] in ("clock_stepped", "clock_offset_exceeds_skew"))
    if stepped > 8:
        print("FAIL %d verdicts unknown at the step: more than its few seconds" % stepped); bad += 1
# what was said about the clocks: compare's stderr line, or the collector's event
told = None
err = open(got_path + ".err").read()
m = re.search(r"the server's clock is ([0-9.]+) s(?: \([0-9.]+ days\))? (behind|ahead of)", err)
if m:
    told = float(m.group(1)) * (-1 if m.group(2) == "behind" else 1)
    if mode != "uncorrected" and "times corrected" not in err:
        print("FAIL compare did not say the times were corrected"); bad += 1
    if mode == "uncorrected" and "not corrected" not in err:
        print("FAIL compare did not say the times were left alone"); bad += 1
    if mode == "step" and "stepped 1 time" not in err:
        print("FAIL compare did not tell the step:", err.strip().splitlines()[-1]); bad += 1
    d = re.search(r"drift ([+-][0-9.]+) ppm", err)
    if want_drift is not None and (not d or abs(float(d.group(1)) - want_drift) > 5):
        print("FAIL drift told %s, applied %+.1f ppm" % (d and d.group(1), want_drift)); bad += 1
clk = [e for e in events if e["event"] == "clock_offset"]
if clk:
    told = clk[-1]["offset"] if mode != "step" else told
    if not clk[-1]["corrected"] and mode != "uncorrected":
        print("FAIL the collector's clock_offset event says not corrected"); bad += 1
if want is not None and mode != "step":
    if told is None:
        print("FAIL nothing told about the clocks in", got_path); bad += 1
    elif abs(told - want) > 0.001:
        print("FAIL offset told %.6f s, applied %.6f s" % (told, want)); bad += 1
print("%s %s: %d verdicts%s" % ("ok  " if not bad else "FAIL", got_path.split("/")[-1], len(got),
                                 "" if told is None else ", offset told %.4f s" % told))
sys.exit(1 if bad else 0)
PY
}

fail=0
compare "$data/client.pcap" "$data/server.pcap" "$tmp/base.jsonl"
live "$data/client.pcap" "$data/server.pcap" "$tmp/lbase.jsonl" "${serve[@]}"
for shift in -17.3 300 259200; do
    editcap -t "$shift" "$data/server.pcap" "$tmp/s$shift.pcap" >/dev/null
    compare "$data/client.pcap" "$tmp/s$shift.pcap" "$tmp/off$shift.jsonl"
    check "$tmp/base.jsonl" "$tmp/off$shift.jsonl" same "$shift" || fail=1
    live "$data/client.pcap" "$tmp/s$shift.pcap" "$tmp/live$shift.jsonl" "${serve[@]}" || fail=1
    check "$tmp/lbase.jsonl" "$tmp/live$shift.jsonl" same "$shift" || fail=1
done
compare "$data/client.pcap" "$tmp/s-17.3.pcap" "$tmp/nocorr.jsonl" --no-clock-correction
check "$tmp/base.jsonl" "$tmp/nocorr.jsonl" uncorrected -17.3 || fail=1

# Ten minutes at 20 connections/s, one SYN in 100 lost on the way.
/usr/bin/python3 "$lib/gen_syn_pair.py" "$tmp/gc.pcap" "$tmp/gs.pcap" --count 12000 --rate 20 \
    --lost-every 100 >/dev/null
compare "$tmp/gc.pcap" "$tmp/gs.pcap" "$tmp/g.jsonl"
live "$tmp/gc.pcap" "$tmp/gs.pcap" "$tmp/lg.jsonl" --serve 198.19.0.10
mid=$(/usr/bin/python3 "$lib/retime.py" "$tmp/gs.pcap" "$tmp/gdrift.pcap" --shift 5 --drift-ppm 200)
compare "$tmp/gc.pcap" "$tmp/gdrift.pcap" "$tmp/gdrift.jsonl"
check "$tmp/g.jsonl" "$tmp/gdrift.jsonl" same "$mid" 200 || fail=1
for step in 2 -2; do
    /usr/bin/python3 "$lib/retime.py" "$tmp/gs.pcap" "$tmp/gstep$step.pcap" --shift 5 \
        --step-at 300 --step "$step" >/dev/null
    compare "$tmp/gc.pcap" "$tmp/gstep$step.pcap" "$tmp/gstep$step.jsonl"
    check "$tmp/g.jsonl" "$tmp/gstep$step.jsonl" step || fail=1
    live "$tmp/gc.pcap" "$tmp/gstep$step.pcap" "$tmp/lstep$step.jsonl" --serve 198.19.0.10 || fail=1
    check "$tmp/lg.jsonl" "$tmp/lstep$step.jsonl" step || fail=1
done
exit "$fail"
