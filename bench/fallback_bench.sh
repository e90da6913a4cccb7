#!/usr/bin/env bash
# fallback_bench.sh - synmatch-collector throughput when every record takes the second matcher
# (a device between the sensors rewrote every ISN, as Cisco ASA does), side by side with the
# same mix unrewritten, in one run.
#
#   bench/fallback_bench.sh [--runs N] [--connections N] [--rate R] OUTDIR
#
# 1. builds the tools (bench/build.sh: build-bench);
# 2. a checked run with every ISN rewritten: the verdict counts must equal the generator's
#    truth (every delivered SYN matched, by fingerprint; every lost one missing, one suspect
#    each; nothing else);
# 3. N interleaved timed runs over ipc://, rewritten 0% and 100%: the collector with
#    --exit-when-done --output /dev/null; records/s = records / (collector exit - the
#    feeder's first send). Medians.
# --rate is connections per second of event time (default 5,000): the live second matcher
# keeps the last lone server SYNs in a ring (an eighth of --max-pending, at most 16,384), so
# it holds about ring / (timeout - skew) rewritten connections a second (docs/PERFORMANCE.md).
# Results: OUTDIR/summary.txt (also printed).
set -euo pipefail

runs=5
conns=1000000
rate=5000
usage() { echo "usage: $0 [--runs N] [--connections N] [--rate R] OUTDIR" >&2; exit 2; }
while [ $# -gt 1 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --connections) conns=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        *) usage ;;
    esac
done
[ $# -eq 1 ] || usage
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
collector=$build/synmatch-collector
feed=$build/bench/sm_feed
sock_dir=$(mktemp -d /tmp/sm-fallback-bench.XXXXXX)
col_pid=""
cleanup() {
    [ -n "$col_pid" ] && kill "$col_pid" 2>/dev/null || true
    rm -rf "$sock_dir"
}
trap cleanup EXIT

# run_one REWRITE_PCT OUTPUT TAG: one collector + one feeder; appends a line to times.tsv.
run_one() {
    local pct=$1 output=$2 tag=$3 ep="ipc://$sock_dir/collector.sock"
    "$collector" --listen "$ep" --exit-when-done --output "$output" --stats 0 2>"$out/$tag.err" &
    col_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$out/$tag.err" 2>/dev/null && break; sleep 0.05; done
    "$feed" send "$ep" --connections "$conns" --rate "$rate" --rewrite "$pct" >"$out/$tag.feed"
    wait "$col_pid"
    local t_end=$EPOCHREALTIME t0 recs
    col_pid=""
    t0=$(awk -F= '$1 == "t_first_ns" {print $2}' "$out/$tag.feed")
    recs=$(awk -F= '$1 == "records" {print $2}' "$out/$tag.feed")
    awk -v tag="$tag" -v p="$pct" -v t0="$t0" -v t1="$t_end" -v r="$recs" 'BEGIN {
        w = t1 - t0 / 1e9; printf "%s\t%s\t%.3f\t%.0f\n", tag, p, w, r / w }' >>"$out/times.tsv"
}

: >"$out/times.tsv"
run_one 100 "$out/verdicts.jsonl" check
want_m=$(awk -F= '$1 == "expected_matched" {print $2}' "$out/check.feed")
want_x=$(awk -F= '$1 == "expected_missing" {print $2}' "$out/check.feed")
check=$(/usr/bin/python3 - "$out/verdicts.jsonl" "$want_m" "$want_x" <<'PY'
import collections, json, sys
n, fp = collections.Counter(), 0
for line in open(sys.argv[1]):
    v = json.loads(line)
    n[v.get("verdict", "event")] += 1
    fp += v.get("match") == "fingerprint"
wm, wx = int(sys.argv[2]), int(sys.argv[3])
other = {k: c for k, c in n.items() if k not in ("matched", "missing", "suspect", "event")}
ok = n["matched"] == wm == fp and n["missing"] == n["suspect"] == wx and not other
print("%s: matched %d (want %d, by fingerprint %d), missing %d (want %d), suspect %d, other: %s"
      % ("ok" if ok else "WRONG", n["matched"], wm, fp, n["missing"], wx, n["suspect"],
         other or "none"))
PY
)
rm -f "$out/verdicts.jsonl"
for i in $(seq "$runs"); do
    run_one 0 /dev/null "isn$i"
    run_one 100 /dev/null "rewritten$i"
done
median() { # rewrite_pct column
    awk -F'\t' -v p="$1" -v k="$2" '$2 == p && $1 != "check" {print $k}' "$out/times.tsv" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
m0=$(median 0 4)
m1=$(median 100 4)
{
    echo "fallback_bench: $conns connections at $rate/s of event time, $runs runs each, ipc://"
    echo "check (every ISN rewritten): $check"
    printf "ISN matched (0%% rewritten):    %.2f M records/s (median)\n" "$(echo "$m0 / 1000000" | bc -l)"
    printf "fingerprint (100%% rewritten):  %.2f M records/s (median), %.2fx the ISN path's time\n" \
        "$(echo "$m1 / 1000000" | bc -l)" "$(echo "$m0 / $m1" | bc -l)"
} | tee "$out/summary.txt"
[[ $check == ok* ]]
