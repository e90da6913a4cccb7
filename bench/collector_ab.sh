#!/usr/bin/env bash
# collector_ab.sh - two synmatch-collector binaries side by side on the collector benchmark's
# mix (bench/sm_gen.h), interleaved run by run over ipc://, so that a change is measured against
# its base in the same hour of a shared machine (docs/PERFORMANCE.md).
#
#   bench/collector_ab.sh [--runs N] [--connections N] BASE_COLLECTOR NEW_COLLECTOR
#
# The base is typically built from a worktree of the commit before the change:
#   git worktree add /tmp/base COMMIT && cmake -S /tmp/base -B /tmp/base/build-bench -DSM_BENCH=ON
#   cmake --build /tmp/base/build-bench --target synmatch-collector
# Each run: the collector with --exit-when-done --output /dev/null, fed by `sm_feed send`
# (this tree's build-bench); wall = the collector's exit - the feeder's first send. Prints
# every run (binary, wall s, records/s, collector CPU s) and the medians of records/s.
set -euo pipefail
runs=7
conns=2000000
while [ $# -gt 2 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --connections) conns=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--runs N] [--connections N] BASE_COLLECTOR NEW_COLLECTOR" >&2; exit 2; }
base=$1
new=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mktemp -d /tmp/sm-collector-ab.XXXXXX)
trap 'rm -rf "$out"' EXIT
# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
feed=$build/bench/sm_feed

: >"$out/times.tsv"
for i in $(seq "$runs"); do
    for which in base new; do
        col=$base
        [ "$which" = new ] && col=$new
        d=$(mktemp -d "$out/run.XXXXXX")
        ep=ipc://$d/c.sock
        /usr/bin/time -f "%e %U %S" -o "$d/time" "$col" --listen "$ep" --exit-when-done \
            --output /dev/null --stats 0 2>"$d/err" &
        cpid=$!
        for _ in $(seq 100); do grep -q "listening on" "$d/err" 2>/dev/null && break; sleep 0.05; done
        "$feed" send "$ep" --connections "$conns" >"$d/feed"
        wait "$cpid"
        t1=$EPOCHREALTIME
        t0=$(awk -F= '$1 == "t_first_ns" {print $2}' "$d/feed")
        recs=$(awk -F= '$1 == "records" {print $2}' "$d/feed")
        read -r _ user sys <"$d/time"
        awk -v w="$which" -v t0="$t0" -v t1="$t1" -v r="$recs" -v u="$user" -v s="$sys" \
            'BEGIN { wall = t1 - t0 / 1e9; printf "%s\t%.3f\t%.0f\t%.2f\n", w, wall, r / wall, u + s }' |
            tee -a "$out/times.tsv"
    done
done
for which in base new; do
    printf "%s: median %s records/s over %s runs\n" "$which" \
        "$(awk -v w="$which" '$1 == w {print $3}' "$out/times.tsv" | sort -n |
            awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')" \
        "$runs"
done
