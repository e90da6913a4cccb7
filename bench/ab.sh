#!/usr/bin/env bash
# ab.sh - this tree against an older commit, side by side in one run: compare on a pair of
# files and the collector end to end (sm_feed over ipc://), interleaved, medians.
#
#   bench/ab.sh [--runs N] [--connections N] BASE_REV DATADIR
#
# BASE_REV is built in a git worktree under /tmp, with the same cmake options as this tree
# (each side with its own tools: the generators and sm_feed of its commit); DATADIR holds client.pcap and server.pcap (bench/gen_pair
# makes them; compare_bench.sh generates them when missing). Each run times, one after the
# other: base compare, this compare, base collector, this collector (each collector with its
# own sm_feed, --connections, default 2,000,000). Prints each run and the medians, and the
# ratios this/base (time) and this/base (records/s). Run it on an otherwise idle machine.
set -euo pipefail
runs=5
conns=2000000
while [ $# -gt 2 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --connections) conns=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N] [--connections N] BASE_REV DATADIR" >&2; exit 2 ;;
    esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--runs N] [--connections N] BASE_REV DATADIR" >&2; exit 2; }
rev=$1
data=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
[ -f "$data/client.pcap" ] && [ -f "$data/server.pcap" ] || { echo "no pair in $data" >&2; exit 2; }

short=$(git -C "$root" rev-parse --short "$rev")
wt=/tmp/sm-ab-$short
[ -d "$wt" ] || git -C "$root" worktree add --detach "$wt" "$rev" >/dev/null
log=$(mktemp)
# Each side built the same way (the way bench/build.sh does, which older commits lack).
build_side() { # SRC: prints its build directory
    cmake -S "$1" -B "$1/build-bench" -DSM_WERROR=ON -DSM_BENCH=ON >>"$log"
    cmake --build "$1/build-bench" -j2 >>"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
    echo "$1/build-bench"
}
base=$(build_side "$wt")
this=$(build_side "$root")
sock=$(mktemp -d /tmp/sm-ab.XXXXXX)
trap 'rm -rf "$sock" "$log"' EXIT

cat "$data/client.pcap" "$data/server.pcap" >/dev/null # page cache
compare_s() { # BUILD: wall seconds of one compare
    local t0 t1
    t0=$EPOCHREALTIME
    "$1/synmatch" compare -q --map --missing --format csv "$data/client.pcap" "$data/server.pcap" \
        >/dev/null || true
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'
}
collector_rps() { # BUILD: records/s end to end
    local ep=ipc://$sock/c.sock
    "$1/synmatch-collector" --listen "$ep" --exit-when-done --output /dev/null --stats 0 \
        2>"$sock/err" &
    local pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$sock/err" 2>/dev/null && break; sleep 0.05; done
    "$1/bench/sm_feed" send "$ep" --connections "$conns" >"$sock/feed"
    wait "$pid"
    local t1=$EPOCHREALTIME t0 recs
    t0=$(awk -F= '$1 == "t_first_ns" {print $2}' "$sock/feed")
    recs=$(awk -F= '$1 == "records" {print $2}' "$sock/feed")
    awk -v t0="$t0" -v t1="$t1" -v r="$recs" 'BEGIN {printf "%.0f", r / (t1 - t0 / 1e9)}'
}
printf 'run\tcompare_base_s\tcompare_this_s\tcollector_base_rps\tcollector_this_rps\n'
: >"$sock/runs"
for i in $(seq "$runs"); do
    a=$(compare_s "$base")
    b=$(compare_s "$this")
    c=$(collector_rps "$base")
    d=$(collector_rps "$this")
    printf '%d\t%s\t%s\t%s\t%s\n' "$i" "$a" "$b" "$c" "$d" | tee -a "$sock/runs"
done
median() { cut -f"$1" "$sock/runs" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ca=$(median 2) cb=$(median 3) ra=$(median 4) rb=$(median 5)
awk -v ca="$ca" -v cb="$cb" -v ra="$ra" -v rb="$rb" -v rev="$short" 'BEGIN {
    printf "medians: compare %s %.3f s, this %.3f s (x%.3f); collector %s %.0f rec/s, this %.0f rec/s (x%.3f)\n",
        rev, ca, cb, cb / ca, rev, ra, rb, rb / ra
}'
