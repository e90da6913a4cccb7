#!/usr/bin/env bash
# collector_bench.sh - synmatch-collector throughput, end to end over ZeroMQ and stage by stage.
#
#   bench/collector_bench.sh [--runs N] [--connections N] [--cg-connections N] OUTDIR
#
# Steps (docs/PERFORMANCE.md, "Collector throughput"):
#   1. build the tools (build-bench: the project with -DSM_BENCH=ON -DSM_WERROR=ON; the
#      collector measured is the one built there, same sources and flags as build/);
#   2. a checked run: `sm_feed send` over ipc:// into the collector writing a file; the verdict
#      counts are compared with the generator's truth (every missing SYN `missing`, every other
#      `matched`, one `suspect` per missing, nothing else);
#   3. N timed runs each over ipc:// and tcp://127.0.0.1, interleaved: the collector with
#      --exit-when-done --output /dev/null under /usr/bin/time; sm_feed pre-encodes everything,
#      then sends. Wall = collector exit - the feeder's first send (CLOCK_REALTIME both);
#      records/s = records / wall; CPU = the collector's user + sys (both its threads:
#      the main loop and ZeroMQ's I/O thread). Medians.
#   4. sm_stages --runs N: unpack, decode (= unpack + validation + copy), books + join, write,
#      and all of them in one pass without ZeroMQ; the join again at 5,000 and 100,000
#      connections per second of event time (a smaller and a larger join table);
#   5. callgrind instruction counts per record on a smaller input (--cg-connections): each
#      stage alone (--toggle-collect=stage_*) and the whole collector process fed over ipc://.
# Beside the timed runs' medians: how fast each CPU ran one fixed loop before and after them
# (build.sh's cpu_speeds). Results: OUTDIR/summary.txt (also printed), raw data beside it.
set -euo pipefail

runs=5
conns=2000000
cg_conns=300000
while [ $# -gt 1 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --connections) conns=$2; shift 2 ;;
        --cg-connections) cg_conns=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N] [--connections N] [--cg-connections N] OUTDIR" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--runs N] [--connections N] [--cg-connections N] OUTDIR" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
collector=$build/synmatch-collector
feed=$build/bench/sm_feed
stages=$build/bench/sm_stages
bench_sources_md5 >"$out/sources.md5"

sock_dir=$(mktemp -d /tmp/sm-collector-bench.XXXXXX)
col_pid=""
cleanup() {
    [ -n "$col_pid" ] && kill "$col_pid" 2>/dev/null || true
    rm -rf "$sock_dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_one TRANSPORT OUTPUT TAG: one collector + one feeder; appends a line to times.tsv.
run_one() {
    local transport=$1 output=$2 tag=$3 ep
    if [ "$transport" = ipc ]; then
        ep="ipc://$sock_dir/collector.sock"
    else
        ep="tcp://127.0.0.1:$(free_port)"
    fi
    /usr/bin/time -f "%e %U %S %M" -o "$out/$tag.time" \
        "$collector" --listen "$ep" --exit-when-done --output "$output" --stats 0 \
        2>"$out/$tag.err" &
    col_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$out/$tag.err" 2>/dev/null && break; sleep 0.05; done
    "$feed" send "$ep" --connections "$conns" >"$out/$tag.feed"
    wait "$col_pid"
    local t_end=$EPOCHREALTIME
    col_pid=""
    local t0 recs
    t0=$(awk -F= '$1 == "t_first_ns" {print $2}' "$out/$tag.feed")
    recs=$(awk -F= '$1 == "records" {print $2}' "$out/$tag.feed")
    read -r _ user sys rss <"$out/$tag.time"
    awk -v tag="$tag" -v tr="$transport" -v t0="$t0" -v t1="$t_end" -v r="$recs" -v u="$user" \
        -v s="$sys" -v m="$rss" 'BEGIN {
            w = t1 - t0 / 1e9;
            printf "%s\t%s\t%.3f\t%.2f\t%.2f\t%.0f\t%.0f\t%d\n", tag, tr, w, u, s, r / w, r / (u + s), m
        }' >>"$out/times.tsv"
}

# ---- 2. checked run -------------------------------------------------------------------------
: >"$out/times.tsv"
run_one ipc "$out/verdicts.jsonl" check
grep -o '"verdict":"[a-z_]*"' "$out/verdicts.jsonl" | sort | uniq -c | awk '{print $2, $1}' |
    sed 's/"verdict"://; s/"//g' >"$out/verdict_counts.txt"
want_m=$(awk -F= '$1 == "expected_matched" {print $2}' "$out/check.feed")
want_x=$(awk -F= '$1 == "expected_missing" {print $2}' "$out/check.feed")
check=$(awk -v wm="$want_m" -v wx="$want_x" '
    {c[$1] = $2; if ($1 != "matched" && $1 != "missing" && $1 != "suspect") other = other " " $1 "=" $2}
    END {
        ok = (c["matched"] == wm && c["missing"] == wx && c["suspect"] == wx && other == "")
        printf "%s: matched %d (want %d), missing %d (want %d), suspect %d, other:%s\n",
            ok ? "ok" : "WRONG", c["matched"], wm, c["missing"], wx, c["suspect"], other == "" ? " none" : other
    }' "$out/verdict_counts.txt")
rm -f "$out/verdicts.jsonl"

# ---- 3. timed runs, interleaved -------------------------------------------------------------
speeds_before=$(cpu_speeds)
for i in $(seq "$runs"); do
    run_one ipc /dev/null "ipc$i"
    run_one tcp /dev/null "tcp$i"
done
speeds_after=$(cpu_speeds)
median() { # transport column
    awk -F'\t' -v t="$1" -v k="$2" '$2 == t && $1 != "check" {print $k}' "$out/times.tsv" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# ---- 4. stages ------------------------------------------------------------------------------
# (sm_stages exits 1 when the verdicts differ from the truth; the runs are kept either way and
# the check line says what differed: random ISNs collide now and then, see docs/PERFORMANCE.md.)
"$stages" --runs "$runs" --connections "$conns" >"$out/stages.txt" || true
# The join's cost depends on how many entries it holds: the event rate times ~4 s (timeout +
# skew) for groups and server SYNs. 50,000 connections/s (the default) holds ~400k entries.
for r in 5000 100000; do
    "$stages" --runs "$runs" --connections "$conns" --rate "$r" --stage join >"$out/stages-rate$r.txt" || true
done

# ---- 5. callgrind ---------------------------------------------------------------------------
ir() { { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null || true; } |
    awk '/refs:/ {gsub(",", "", $NF); print $NF}'; }
: >"$out/callgrind.tsv"
cg_recs=$("$stages" --connections "$cg_conns" --stage unpack --runs 1 | awk '/^input:/ {print $4}')
for st in unpack decode join write all; do
    echo -e "$st\t$(ir --toggle-collect=stage_$st "$stages" --connections "$cg_conns" --stage $st --runs 1)" \
        >>"$out/callgrind.tsv"
done
# Where the join's and the writer's instructions go (inclusive, per function).
for st in join write; do
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$st.out" --toggle-collect=stage_$st \
        "$stages" --connections "$cg_conns" --stage $st --runs 1 >/dev/null 2>&1 || true
    callgrind_annotate --inclusive=yes "$out/cg.$st.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -40 \
        >"$out/cg.$st.txt" || true
done
ep="ipc://$sock_dir/cg.sock"
valgrind --tool=callgrind --callgrind-out-file=/dev/null "$collector" --listen "$ep" \
    --exit-when-done --output /dev/null --stats 0 2>"$out/cg_collector.err" &
col_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$out/cg_collector.err" 2>/dev/null && break; sleep 0.1; done
"$feed" send "$ep" --connections "$cg_conns" >"$out/cg.feed"
wait "$col_pid" || true
col_pid=""
echo -e "collector\t$(awk '/refs:/ {gsub(",", "", $NF); print $NF}' "$out/cg_collector.err")" >>"$out/callgrind.tsv"
# The generator's cost is outside every stage_* function; the collector process counts
# everything it runs, start-up and ZeroMQ's I/O thread included.

{
    echo "synmatch-collector throughput, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs"
    head -1 "$out/stages.txt"
    echo "checked run (ipc): $check"
    echo
    printf '%-5s %8s %9s %8s %8s %14s %14s %10s   (median of %d runs)\n' transport wall_s records/s \
        user_s sys_s records/cpu_s "" max_rss_kb "$runs"
    for t in ipc tcp; do
        printf '%-9s %8s %9s %8s %8s %14s %14s %10s\n' "$t" "$(median $t 3)" "$(median $t 6)" \
            "$(median $t 4)" "$(median $t 5)" "$(median $t 7)" "" "$(median $t 8)"
    done
    echo "CPU speed check (ms of one loop on each CPU; unequal, or well above this machine's" \
        "usual: the host was loading it): before $speeds_before| after $speeds_after"
    echo
    echo "stages in-process (sm_stages --runs $runs --connections $conns):"
    tail -n +2 "$out/stages.txt" | sed 's/^/  /'
    for r in 5000 100000; do
        echo "  join at $r connections/s of event time:"
        grep -E '^(join|verdicts)' "$out/stages-rate$r.txt" | sed 's/^/    /'
    done
    echo
    echo "callgrind, $cg_conns connections = $cg_recs records:"
    awk -F'\t' -v r="$cg_recs" '{printf "  %-10s %14.0f instructions  %7.0f per record\n", $1, $2, $2 / r}' \
        "$out/callgrind.tsv"
} | tee "$out/summary.txt"
