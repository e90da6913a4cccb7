#!/usr/bin/env bash
# Record a client/server capture pair of real Linux TCP traffic, plus truth files.
#
#   tests/netns/record_pair.sh [--nat] [--rewrite] [--mss N] [--no-timestamps] OUTDIR
#
# --rewrite: the firewall randomizes each connection's ISN as Cisco ASA does (lab_rewrite_on;
# LAB_ISNRW names the sm_isnrw program), --mss N also clamps the MSS to N; --no-timestamps
# turns TCP timestamps off on the client (IPv4 and IPv6).
#
# Needs root, ip (iproute2), nft, tcpdump, /usr/bin/python3; ethtool optional.
# Writes OUTDIR/{client,server,firewall_in}.pcap and the truth files described in
# tests/netns/README.md. Exit status 0 only if every cross-check passed. Rerunnable;
# the lab (namespaces, listeners, tcpdumps) is removed on exit, error, Ctrl-C or TERM.
set -euo pipefail

usage() { echo "usage: $0 [--nat] [--rewrite] [--mss N] [--no-timestamps] OUTDIR" >&2; exit 2; }

nat=0
rewrite=0
mss=""
nots=0
outdir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --nat) nat=1 ;;
        --rewrite) rewrite=1 ;;
        --mss) [ $# -gt 1 ] || usage; mss=$2; shift ;;
        --no-timestamps) nots=1 ;;
        -h | --help) usage ;;
        -*) usage ;;
        *) [ -z "$outdir" ] || usage; outdir=$1 ;;
    esac
    shift
done
[ -n "$outdir" ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces)" >&2; exit 77; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smt$$}
# shellcheck source-path=SCRIPTDIR source=../lib/lab.sh
. "$root/tests/lib/lab.sh"

t0=$(date +%s%N)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
rm -f "$outdir"/{client,server,firewall_in}.pcap "$outdir"/{dropped_isns,dropped_counts,lossy_isns,server_ips,nft_counters,capture_stats,summary}.txt \
    "$outdir"/{expected,traffic}.tsv "$outdir"/isn_rewrites.txt

lab_gc                      # namespaces left by SIGKILLed earlier runs
lab_up                      # installs EXIT/INT/TERM traps that call lab_down
if [ "$nat" = 1 ]; then
    lab_nat_on
fi
if [ "$rewrite" = 1 ]; then
    lab_rewrite_on $mss
fi
if [ "$nots" = 1 ]; then
    lab_exec client sysctl -qw net.ipv4.tcp_timestamps=0
fi
lab_capture_start "$outdir"
# shellcheck disable=SC2086  # LAB_FAULTS is words on purpose
lab_traffic "$outdir/traffic.tsv" $LAB_FAULTS
lab_capture_stop >/dev/null
lab_counters >"$outdir/nft_counters.txt"

lab_truth "$outdir" "$nat"

lab_down
trap - EXIT INT TERM
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
echo "duration_ms $ms" >>"$outdir/summary.txt"
echo "record_pair: OK ($outdir, nat=$nat, ${ms} ms)"
cat "$outdir/summary.txt"
