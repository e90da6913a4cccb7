#!/bin/bash
# run_reference.sh - time the reference methods on one capture pair (see bench/README.md).
#
#   bench/run_reference.sh CLIENT.pcap SERVER.pcap OUTDIR [NESTED_SAMPLE]
#
# Needs: tshark, /usr/bin/time, /usr/bin/python3 (pcap_floor is built by bench/build.sh unless
# PCAP_FLOOR=/path/to/pcap_floor is set). Every step runs under /usr/bin/time -v; its report goes to
# OUTDIR/<step>.time, its stderr to OUTDIR/<step>.err, and a summary table to OUTDIR/summary.tsv.
# Runs the steps one after another so they do not compete for the CPUs.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 CLIENT.pcap SERVER.pcap OUTDIR [NESTED_SAMPLE]" >&2
    exit 2
fi
CLIENT=$(realpath "$1")
SERVER=$(realpath "$2")
OUT=$3
SAMPLE=${4:-100}
HERE=$(cd "$(dirname "$0")" && pwd)
ARTICLE="$HERE/../scripts/article_method.py"
mkdir -p "$OUT"
FLOOR=${PCAP_FLOOR:-}
if [ -z "$FLOOR" ]; then
    # shellcheck source=build.sh
    . "$HERE/build.sh" "$OUT/cmake.log"
    FLOOR=$build/bench/pcap_floor
fi

# tshark with default preferences
TSHOME=$(mktemp -d)
trap 'rm -rf "$TSHOME"' EXIT

# server addresses of the gen_pair model
SIPS=(--server-ip 198.19.10.10 --server-ip 2001:db8:10::10)

step() { # name, command...
    local name=$1
    shift
    echo "== $name: $*" >&2
    /usr/bin/time -v -o "$OUT/$name.time" "$@" 2>"$OUT/$name.err"
}

# warm the page cache so every step reads from memory
cat "$CLIENT" "$SERVER" >/dev/null

step floor "$FLOOR" "$CLIENT" "$SERVER" >"$OUT/floor.out"
step tshark_fields_client env HOME="$TSHOME" XDG_CONFIG_HOME="$TSHOME" \
    tshark -r "$CLIENT" -T fields -e frame.number -e tcp.stream >/dev/null
step tshark_fields_server env HOME="$TSHOME" XDG_CONFIG_HOME="$TSHOME" \
    tshark -r "$SERVER" -T fields -e frame.number -e tcp.stream >/dev/null
step article_map /usr/bin/python3 "$ARTICLE" --map "$CLIENT" "$SERVER" -o "$OUT/map.csv"
step article_missing /usr/bin/python3 "$ARTICLE" --missing "${SIPS[@]}" "$CLIENT" "$SERVER" \
    -o "$OUT/missing.csv"
if [ "$SAMPLE" -gt 0 ]; then
    step nested_map /usr/bin/python3 "$ARTICLE" --map --nested-loop-sample "$SAMPLE" \
        "$CLIENT" "$SERVER" -o /dev/null
    step nested_missing /usr/bin/python3 "$ARTICLE" --missing "${SIPS[@]}" \
        --nested-loop-sample "$SAMPLE" "$CLIENT" "$SERVER" -o /dev/null
fi

# summary: wall, user+sys, max RSS of each step (max RSS of a step = its largest process)
{
    printf 'step\twall\tuser_s\tsys_s\tmax_rss_mib\n'
    for t in "$OUT"/*.time; do
        name=$(basename "$t" .time)
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$t")
        user=$(sed -n 's/.*User time (seconds): //p' "$t")
        sys=$(sed -n 's/.*System time (seconds): //p' "$t")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$t")
        printf '%s\t%s\t%s\t%s\t%d\n' "$name" "$wall" "$user" "$sys" $((rss / 1024))
    done
} >"$OUT/summary.tsv"
column -t "$OUT/summary.tsv" >&2
grep -h '^article_method\|^nested_loop' "$OUT"/article_*.err "$OUT"/nested_*.err >&2 2>/dev/null || true
