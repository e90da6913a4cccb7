#!/usr/bin/env bash
# nats_bench.sh - collector shards over NATS JetStream, in records per second, on the
# collector benchmark's mix (bench/sm_gen.h; docs/PERFORMANCE.md, "JetStream").
#
#   bench/nats_bench.sh [--runs N] [--connections N] [--batch N] [--cases "CASE..."] OUTDIR
#
# Every run starts from empty storage (nats-server on loopback, file storage under OUTDIR,
# --nats-setup), and checks the verdict counts against the generator's truth. Cases:
#   e2e-r1     one shard over one server: records / (the shard's exit - the feeder's first
#              publish), the feeder publishing as agents do (partitioned, message ids);
#   consume-r1 the stream loaded first, then one shard timed alone (what a shard takes);
#   e2e-r3     one shard over a 3-server cluster, replicas 3;
#   e2e-2sh    two shards (0/2, 1/2) over one server: until both exited.
# Medians of N runs (default 3) per case, interleaved. --batch: records per agent batch (the
# feeder's; default 16384, the agent's --batch-records over nats://; each batch is split into
# 64 parts).
# --cases: a subset of the cases above. Results: OUTDIR/summary.txt.
# Shards run with GLIBC_TUNABLES=glibc.malloc.hugetlb=1, as the shipped systemd unit runs the
# collector (malloc's memory in transparent huge pages); set GLIBC_TUNABLES (even empty) to
# run them otherwise.
set -euo pipefail
runs=3
conns=1000000
batch=16384
cases=(e2e-r1 consume-r1 e2e-r3 e2e-2sh)
usage() { echo "usage: $0 [--runs N] [--connections N] [--batch N] [--cases \"CASE...\"] OUTDIR" >&2; exit 2; }
while [ $# -gt 1 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --connections) conns=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --cases) read -r -a cases <<<"$2"; shift 2 ;;
        *) usage ;;
    esac
done
[ $# -eq 1 ] || usage
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
collector=$build/synmatch-collector
feed=$build/bench/sm_feed
shard_env=GLIBC_TUNABLES=${GLIBC_TUNABLES-glibc.malloc.hugetlb=1}
# shellcheck source=../tests/lib/nats.sh
. "$root/tests/lib/nats.sh"
trap 'nats_cluster_down' EXIT

setup() { # NODES
    nats_cluster_down
    # a server of the last cluster may still be closing its files
    rm -rf "$out/js" 2>/dev/null || { sleep 1; rm -rf "$out/js"; }
    nats_cluster_up "$out/js" "$1" >/dev/null
    local t
    for t in $(seq 100); do
        "$collector" --listen "$NATS_URL" --nats-setup --nats-replicas "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "nats_bench: --nats-setup failed" >&2
    return 1
}

# check FEED_FILE SHARD_ERR...: the verdicts of the shards equal the generator's truth
check() {
    local feedf=$1
    shift
    local m=0 x=0 f
    for f in "$@"; do
        local mx
        mx=$(grep -Eo 'matched [0-9]+ missing [0-9]+' "$f" | tail -1)
        m=$((m + $(echo "$mx" | cut -d' ' -f2)))
        x=$((x + $(echo "$mx" | cut -d' ' -f4)))
    done
    local em ex
    em=$(sed -n 's/^expected_matched=//p' "$feedf")
    ex=$(sed -n 's/^expected_missing=//p' "$feedf")
    [ "$m" = "$em" ] && [ "$x" = "$ex" ] ||
        { echo "nats_bench: verdicts $m matched $x missing, expected $em and $ex" >&2; return 1; }
}

# one CASE: prints records/s
one() {
    local case=$1 t_end shards=(0/1)
    case $case in
        e2e-r3) setup 3 ;;
        *) setup 1 ;;
    esac
    [ "$case" = e2e-2sh ] && shards=(0/2 1/2)
    if [ "$case" = consume-r1 ]; then
        "$feed" send "$NATS_URL" --connections "$conns" --batch "$batch" --partitions 64 >"$out/feed.txt"
        local t0
        t0=$(date +%s%N)
        env "$shard_env" "$collector" --listen "$NATS_URL" --exit-when-done --stats 0 \
            --output /dev/null 2>"$out/shard0.err"
        t_end=$(date +%s%N)
        check "$out/feed.txt" "$out/shard0.err"
        echo $(($(sed -n 's/^records=//p' "$out/feed.txt") * 1000 / ((t_end - t0) / 1000000)))
        return
    fi
    local pids=() k
    for k in "${shards[@]}"; do
        env "$shard_env" "$collector" --listen "$NATS_URL" --shard "$k" --exit-when-done --stats 0 \
            --output /dev/null 2>"$out/shard${k%/*}.err" &
        pids+=($!)
    done
    sleep 1
    "$feed" send "$NATS_URL" --connections "$conns" --batch "$batch" --partitions 64 >"$out/feed.txt"
    wait "${pids[@]}"
    t_end=$(date +%s%N)
    local errs=()
    for k in "${shards[@]}"; do errs+=("$out/shard${k%/*}.err"); done
    check "$out/feed.txt" "${errs[@]}"
    local t_first
    t_first=$(sed -n 's/^t_first_ns=//p' "$out/feed.txt")
    echo $(($(sed -n 's/^records=//p' "$out/feed.txt") * 1000 / ((t_end - t_first) / 1000000)))
}

: >"$out/runs.txt"
speeds_before=$(cpu_speeds)
for ((r = 1; r <= runs; r++)); do
    for c in "${cases[@]}"; do
        v=$(one "$c")
        echo "$c $v" | tee -a "$out/runs.txt"
    done
done
{
    echo "nats_bench: $conns connections ($(sed -n 's/^records=//p' "$out/feed.txt") records, batches of $batch), medians of $runs"
    for c in "${cases[@]}"; do
        printf '%-11s %s records/s\n' "$c" "$(awk -v c="$c" '$1 == c {print $2}' "$out/runs.txt" | sort -n |
            awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
    done
    echo "CPU speed check (ms of one loop on each CPU; unequal, or well above this machine's usual: the host was loading it): before $speeds_before| after $(cpu_speeds)"
} | tee "$out/summary.txt"
