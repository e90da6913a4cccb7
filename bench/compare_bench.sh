#!/usr/bin/env bash
# compare_bench.sh - `synmatch compare` against its floor and its references, in one run.
#
#   bench/compare_bench.sh [--runs N] [--references] [--connections N] [--mix "ARGS"] DATADIR
#
# DATADIR holds (or receives) the generated pair: DATADIR/client.pcap, DATADIR/server.pcap
# from bench/gen_pair (defaults: ~1 GB per file, ~500k connections; --mix passes more options to
# gen_pair for another traffic mix, e.g. --mix "--v6 0 --data-packets 20 --rate 200": IPv4
# only, more packets per connection, a longer capture; docs/PERFORMANCE.md lists the mixes
# used). Steps:
#   1. build gen_pair and pcap_floor (bench/build.sh); generate the pair if it is missing;
#   2. check compare's map and missing list against the generator's ground truth;
#   3. time the floor (libpcap reading both files in parallel, nothing else) and compare,
#      interleaved, N runs each (default 5), files in the page cache (settled first: see
#      settle_cache below); report medians;
#   4. with --references, time tshark -T fields on each file and the article's method (tshark
#      -T ek + hash join, map and missing) once each, with the nested-loop extrapolation
#      (bench/run_reference.sh);
#   5. count instructions per packet with callgrind on a small pair (20k connections), for
#      compare and for the floor: stable numbers on a noisy machine.
# Beside the medians: how fast each CPU ran one fixed loop before and after the timed runs
# (build.sh's cpu_speeds), and with --references tshark's time on the client file against
# compare's median (issue 17's 120x).
# Results: DATADIR/bench/summary.txt (also printed).
set -euo pipefail

runs=5
refs=0
conns=""
mix=""
while [ $# -gt 1 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --references) refs=1; shift ;;
        --connections) conns=$2; shift 2 ;;
        --mix) mix=$2; shift 2 ;;
        *) echo "usage: $0 [--runs N] [--references] [--connections N] [--mix ARGS] DATADIR" >&2; exit 2 ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--runs N] [--references] [--connections N] [--mix ARGS] DATADIR" >&2; exit 2; }
data=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
synmatch=${SYNMATCH:-$root/build/synmatch}
out=$data/bench
mkdir -p "$out"
[ -x "$synmatch" ] || { echo "build synmatch first (scripts/setup.sh)" >&2; exit 1; }
# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
gen_pair=$build/bench/gen_pair
pcap_floor=$build/bench/pcap_floor
c=$data/client.pcap
s=$data/server.pcap
if [ ! -f "$c" ] || [ ! -f "$s" ]; then
    echo "== generating the pair into $data" >&2
    # shellcheck disable=SC2086 # $mix is a list of options
    "$gen_pair" ${conns:+--connections "$conns"} $mix "$c" "$s" 2>"$data/gen.log"
fi

# ---- 2. correctness against the generator's truth ------------------------------------------
"$synmatch" compare -q --map --format csv "$c" "$s" | tail -n +2 | cut -d, -f1-3 | sort >"$out/map.got" || true
tail -n +2 "$c.truth.map" | sort >"$out/map.want"
awk -F, '/^seq,attempts/{f=1; next} /^\[/{f=0} f && NF >= 7 {print $1, $2}' "$c.truth" | sort >"$out/missing.want"
"$synmatch" compare -q --missing --format csv "$c" "$s" | tail -n +2 | awk -F, '{print $2, $1}' | sort >"$out/missing.got" || true
map_ok=no; cmp -s "$out/map.want" "$out/map.got" && map_ok=yes
miss_ok=no; cmp -s "$out/missing.want" "$out/missing.got" && miss_ok=yes

# ---- 3. floor and compare, interleaved -----------------------------------------------------
# Puts the pair in the page cache the way a first sequential read from disk (or gen_pair's
# writing) leaves it, in large folios: drops it, then reads it once. The project's virtual
# machines run DAMON reclaim, which pages out cold file pages; read back a few pages at a time
# over hours, a file ends up cached in small pages, and read(2) of it costs 2-3x as much for
# every reader (the 100 MB client file: 18 ms against 7-8 ms fresh). The floor, compare and
# the references all read the files in the state this leaves (docs/PERFORMANCE.md, "The page
# cache's pages").
settle_cache() {
    sync -- "$@" 2>/dev/null || true
    local f
    for f in "$@"; do
        dd if="$f" iflag=nocache count=0 status=none 2>/dev/null ||
            echo "compare_bench: could not drop $f from the page cache; timing it as cached" >&2
    done
    cat -- "$@" >/dev/null
}
settle_cache "$c" "$s"
speeds_before=$(cpu_speeds)
: >"$out/times.tsv"
# timed NAME CMD...: a line of times.tsv. Wall time from the shell's clock, to the 10 µs
# (time(1)'s %e steps by 10 ms, a tenth of a 100 MB pair's run); CPU and RSS from time(1).
timed() {
    local name=$1 t0 t1
    shift
    t0=$EPOCHREALTIME
    /usr/bin/time -f "%U\t%S\t%M" -o "$out/time.one" "$@" >/dev/null || true
    t1=$EPOCHREALTIME
    printf '%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.5f", b - a}')" \
        "$(tail -n 1 "$out/time.one")" >>"$out/times.tsv"
}
for i in $(seq "$runs"); do
    timed floor "$pcap_floor" "$c" "$s"
    timed compare "$synmatch" compare -q "$c" "$s"
done
rm -f "$out/time.one"
speeds_after=$(cpu_speeds)
median() { # name column
    awk -F'\t' -v n="$1" -v k="$2" '$1 == n {print $k}' "$out/times.tsv" | sort -n |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# ---- 4. references -------------------------------------------------------------------------
if [ "$refs" = 1 ]; then
    PCAP_FLOOR=$pcap_floor "$here/run_reference.sh" "$c" "$s" "$out/ref" 200
fi

# ---- 5. callgrind instructions per packet on a small pair ----------------------------------
small=$data/small
if [ ! -f "$small/client.pcap" ]; then
    mkdir -p "$small"
    # shellcheck disable=SC2086
    "$gen_pair" $mix --connections 20000 "$small/client.pcap" "$small/server.pcap" 2>/dev/null
fi
pk=$(( $(grep -E '^client_packets=' "$small/client.pcap.truth" | cut -d= -f2) + \
       $(grep -E '^server_packets=' "$small/client.pcap.truth" | cut -d= -f2) ))
ir() { { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null || true; } | awk '/refs:/ {gsub(",", "", $NF); print $NF}'; }
ir_compare=$(ir "$synmatch" compare -q "$small/client.pcap" "$small/server.pcap")
ir_floor=$(ir "$pcap_floor" "$small/client.pcap" "$small/server.pcap")

{
    echo "synmatch compare benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs"
    echo "pair: $(stat -c %s "$c") + $(stat -c %s "$s") bytes"
    echo "correct against the generator's truth: map $map_ok, missing $miss_ok"
    echo
    printf '%-10s %9s %9s %9s %12s   (median of %d runs)\n' step wall_s user_s sys_s max_rss_kb "$runs"
    for n in floor compare; do
        printf '%-10s %9s %9s %9s %12s\n' "$n" "$(median $n 2)" "$(median $n 3)" "$(median $n 4)" "$(median $n 5)"
    done
    awk -v a="$(median compare 2)" -v b="$(median floor 2)" 'BEGIN {printf "compare / floor wall time: %.3f\n", a / b}'
    # each compare run against the floor run just before it
    awk -F'\t' '$1 == "floor" {f = $2} $1 == "compare" && f > 0 {print $2 / f}' "$out/times.tsv" | sort -g |
        awk '{v[NR] = $1} END {printf "median of the %d pairwise ratios: %.3f\n", NR, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
    echo "CPU speed check (ms of one loop on each CPU; unequal, or well above this machine's usual: the host was loading it): before $speeds_before| after $speeds_after"
    echo
    echo "callgrind on the 20k-connection pair ($pk packets):"
    awk -v c="$ir_compare" -v f="$ir_floor" -v p="$pk" 'BEGIN {
        printf "  compare %.0f instructions, %.0f per packet\n", c, c / p;
        printf "  floor   %.0f instructions, %.0f per packet\n", f, f / p }'
    if [ -f "$out/ref/summary.tsv" ]; then
        echo
        echo "references (one run each; $out/ref):"
        sed 's/^/  /' "$out/ref/summary.tsv"
        # tshark's wall time (m:ss.ss) on the client file against compare's median on both
        awk -F'\t' -v c="$(median compare 2)" '$1 == "tshark_fields_client" {
            n = split($2, t, ":"); s = t[n] + (n > 1 ? 60 * t[n - 1] : 0);
            printf "  tshark -T fields on the client file / compare on both: %.0fx (%.2f s / %.4f s)\n", s / c, s, c }' "$out/ref/summary.tsv"
        grep -h "extrapolated" "$out/ref"/nested_*.err 2>/dev/null | sed 's/^/  /' || true
    fi
} | tee "$out/summary.txt"
