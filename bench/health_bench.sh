#!/usr/bin/env bash
# health_bench.sh - what service health and /metrics cost the collector (docs/PERFORMANCE.md,
# "Service health and metrics").
#
#   bench/health_bench.sh [--runs N] [--connections N] [--cg-connections N] OUTDIR
#
# One collector binary (build-bench, bench/build.sh), three ways, interleaved run by run:
#   off      --health-interval 0: no health lines, no alerts, no metrics (the old collector)
#   health   the default: health lines every 10 s of event time
#   metrics  health, and --metrics-listen with a scraper fetching /metrics every 50 ms for
#            the whole run (a Prometheus scrapes every 15 s; this is 300 times that)
# each fed by `sm_feed send` over ipc:// (--connections, default 2,000,000 at 50,000/s of
# event time: 40 s of event time, four health intervals), --output /dev/null. Per run: wall
# (feeder's first send to the collector's exit), records/s, CPU; for metrics the stats
# line's snapshots (count, longest wall and CPU, how many over 1 ms) and the scrapes' own
# latency; for every run the loop's longest turn. Medians, and the ratios to off. Then
# callgrind instruction counts of the whole collector process, off against health, on
# --cg-connections (default 300,000). The machine is shared: read the medians and the
# instruction counts, not one run.
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
# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
collector=$build/synmatch-collector
feed=$build/bench/sm_feed
bench_sources_md5 >"$out/sources.md5"
sock_dir=$(mktemp -d /tmp/sm-health-bench.XXXXXX)
col_pid="" scr_pid=""
cleanup() {
    [ -n "$scr_pid" ] && kill "$scr_pid" 2>/dev/null || true
    [ -n "$col_pid" ] && kill "$col_pid" 2>/dev/null || true
    rm -rf "$sock_dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The scraper: GET /metrics every 50 ms until STOP exists; prints count, median and max ms.
cat >"$sock_dir/scrape.py" <<'PY'
import os, sys, time, urllib.request
url, stop = sys.argv[1], sys.argv[2]
lat, fails = [], 0
while not os.path.exists(stop):
    t = time.monotonic()
    try:
        urllib.request.urlopen(url, timeout=2).read()
        lat.append((time.monotonic() - t) * 1000)
    except OSError:
        fails += 1
    time.sleep(0.05)
lat.sort()
print("scrapes %d failed %d median_ms %.2f max_ms %.2f" % (
    len(lat), fails, lat[len(lat) // 2] if lat else 0, lat[-1] if lat else 0))
PY

run_one() { # MODE TAG
    local mode=$1 tag=$2 ep="ipc://$sock_dir/c.sock" port extra=()
    case $mode in
        off) extra=(--health-interval 0) ;;
        health) extra=() ;;
        metrics) port=$(free_port); extra=(--metrics-listen "127.0.0.1:$port") ;;
    esac
    rm -f "$sock_dir/stop"
    /usr/bin/time -f "%e %U %S %M" -o "$out/$tag.time" \
        "$collector" --listen "$ep" --exit-when-done --output /dev/null --stats 0 "${extra[@]}" \
        2>"$out/$tag.err" &
    col_pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$out/$tag.err" 2>/dev/null && break; sleep 0.05; done
    if [ "$mode" = metrics ]; then
        python3 "$sock_dir/scrape.py" "http://127.0.0.1:$port/metrics" "$sock_dir/stop" >"$out/$tag.scrape" &
        scr_pid=$!
    fi
    "$feed" send "$ep" --connections "$conns" >"$out/$tag.feed"
    wait "$col_pid"
    local t_end=$EPOCHREALTIME
    col_pid=""
    touch "$sock_dir/stop"
    if [ -n "$scr_pid" ]; then wait "$scr_pid" || true; scr_pid=""; fi
    local t0 recs user sys rss turn snap
    t0=$(awk -F= '$1 == "t_first_ns" {print $2}' "$out/$tag.feed")
    recs=$(awk -F= '$1 == "records" {print $2}' "$out/$tag.feed")
    read -r _ user sys rss <"$out/$tag.time"
    turn=$(sed -n 's/.*longest turn \([0-9.]*\) ms.*/\1/p' "$out/$tag.err" | tail -1)
    snap=$(sed -n 's/.*snapshots \([0-9]*\), longest \([0-9.]*\) ms (\([0-9.]*\) ms of CPU), \([0-9]*\) over 1 ms.*/\1 \2 \3 \4/p' "$out/$tag.err" | tail -1)
    [ -n "$snap" ] || snap="- - - -"
    awk -v tag="$tag" -v m="$mode" -v t0="$t0" -v t1="$t_end" -v r="$recs" -v u="$user" \
        -v s="$sys" -v x="$rss" -v turn="$turn" -v snap="$snap" 'BEGIN {
            w = t1 - t0 / 1e9; split(snap, p, " ")
            printf "%s\t%s\t%.3f\t%.0f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t%s\t%.0f\n", tag, m, w, r / w, u, s, x,
                turn, p[1], p[2], p[3], p[4], r / (u + s)
        }' >>"$out/runs.tsv"
}

: >"$out/runs.tsv"
for i in $(seq "$runs"); do
    for m in off health metrics; do
        run_one "$m" "$m$i"
    done
done
median() { # MODE COLUMN
    awk -F'\t' -v m="$1" -v k="$2" '$2 == m {print $k}' "$out/runs.tsv" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# callgrind: instructions of the whole process, off against health
ir_collector() { # TAG ARGS...
    local tag=$1 ep="ipc://$sock_dir/cg.sock"
    shift
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$collector" --listen "$ep" \
        --exit-when-done --output /dev/null --stats 0 "$@" 2>"$out/cg_$tag.err" &
    col_pid=$!
    for _ in $(seq 300); do grep -q "listening on" "$out/cg_$tag.err" 2>/dev/null && break; sleep 0.1; done
    "$feed" send "$ep" --connections "$cg_conns" >"$out/cg_$tag.feed"
    wait "$col_pid" || true
    col_pid=""
    awk '/refs:/ {gsub(",", "", $NF); print $NF}' "$out/cg_$tag.err"
}
ir_off=$(ir_collector off --health-interval 0)
ir_on=$(ir_collector health)
cg_recs=$(awk -F= '$1 == "records" {print $2}' "$out/cg_off.feed")

{
    echo "synmatch-collector with and without service health and metrics, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $conns connections"
    printf '%-8s %8s %10s %7s %7s %14s %9s %12s   (median of %d runs)\n' mode wall_s records/s user_s sys_s records/cpu_s rss_kb turn_max_ms "$runs"
    for m in off health metrics; do
        printf '%-8s %8s %10s %7s %7s %14s %9s %12s\n' "$m" "$(median $m 3)" "$(median $m 4)" \
            "$(median $m 5)" "$(median $m 6)" "$(median $m 13)" "$(median $m 7)" "$(median $m 8)"
    done
    awk -F'\t' '{r[$2] = r[$2] " " $4} END {for (m in r) printf "  records/s per run, %-8s%s\n", m, r[m]}' "$out/runs.tsv" | sort
    off=$(median off 4)
    offc=$(median off 13)
    for m in health metrics; do
        awk -v a="$(median $m 4)" -v b="$off" -v c="$(median $m 13)" -v d="$offc" -v m="$m" \
            'BEGIN {printf "  %s / off: %.3f of the records/s, %.3f of the records per CPU second\n", m, a / b, c / d}'
    done
    echo "  snapshots per metrics run (count, longest wall ms, longest CPU ms, over 1 ms):"
    awk -F'\t' '$2 == "metrics" {printf "    %s: %s, %s, %s, %s\n", $1, $9, $10, $11, $12}' "$out/runs.tsv"
    echo "  scrapes per metrics run:"
    for f in "$out"/metrics*.scrape; do echo "    $(basename "$f" .scrape): $(cat "$f")"; done
    echo "callgrind, whole collector process, $cg_conns connections = $cg_recs records:"
    awk -v a="$ir_off" -v b="$ir_on" -v r="$cg_recs" 'BEGIN {
        printf "  off     %14.0f instructions  %7.1f per record\n", a, a / r
        printf "  health  %14.0f instructions  %7.1f per record  (%+.2f%%)\n", b, b / r, 100 * (b - a) / a }'
} | tee "$out/summary.txt"
