#!/usr/bin/env bash
# agent_bench.sh - synmatch-agent's live capture rate against tcpdump, on one veth, in one run.
#
#   bench/agent_bench.sh [--runs N] [--packets N] [--rates "R1 R2 ..."] [--senders K] OUTDIR
#
# Two network namespaces joined by a veth pair (no addresses: the frames carry 198.18.0.0/15
# and 2001:db8::/32 addresses and a foreign destination MAC, so the receiving stack answers
# nothing). In the receiving namespace, on the same interface and at the same time:
#   synmatch-agent -i IF --role client ...  (defaults: 32 MiB buffer, kernel BPF for SYN/RST,
#                                            batches to `sm_feed sink` over ipc://, which
#                                            decodes and discards them)
#   tcpdump -i IF -w /dev/null              (defaults: 2 MiB buffer, no filter)
# and in the sending namespace tcpreplay -K (preloaded) replays bench/gen_flood's capture
# (70% distinct SYNs, 5% SYN/ACK, 5% RST, 20% ACK/data/FIN that the agent's filter rejects).
#
# Part A, free scheduling: `tcpreplay --topspeed`, N runs; then K senders at once.
# Part B, a starved host (the knee): every process on CPU 1, the two captures at nice 19 and
#   K senders (default 2) at nice 0 competing with them, so the captures get only the CPU
#   the senders leave; each sender at --pps R for every R of --rates (3 runs each), then
#   --topspeed. The whole flood each time: it is several times what the agent's 32 MiB ring
#   holds, so the runs measure a sustained rate, not the buffer.
# Per run: packets offered (tcpreplay's count and rate), veth drops, each capture's
# "received" and "dropped by kernel" (agent: its summary line; tcpdump: its last lines), the
# CPU each capture used (from /proc/PID/stat), and the records the sink got.
# Results: OUTDIR/runs.tsv and OUTDIR/summary.txt (also printed).
set -euo pipefail

runs=5
packets=1000000
rates="25000 50000 75000 100000"
senders=2
usage() { echo "usage: $0 [--runs N] [--packets N] [--rates \"R...\"] [--senders K] OUTDIR" >&2; exit 2; }
while [ $# -gt 1 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --packets) packets=$2; shift 2 ;;
        --rates) rates=$2; shift 2 ;;
        --senders) senders=$2; shift 2 ;;
        *) usage ;;
    esac
done
[ $# -eq 1 ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
for t in tcpreplay tcpdump ip taskset nice; do
    command -v $t >/dev/null || { echo "$0: $t not installed" >&2; exit 1; }
done
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
data=${SM_BENCH_DATA:-/work/bench-data/live}
mkdir -p "$data"
# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
agent=$build/synmatch-agent
bench_sources_md5 >"$out/sources.md5"
feed=$build/bench/sm_feed
flood=$data/flood-$packets.pcap
[ -f "$flood" ] || "$build/bench/gen_flood" --packets "$packets" "$flood" 2>"$flood.log"

ns_tx="smab$$-tx"
ns_rx="smab$$-rx"
tmp=$(mktemp -d /tmp/sm-agent-bench.XXXXXX)
chmod 711 "$tmp" # live agents send as `nobody` once capturing: they must reach the sockets
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns_tx" 2>/dev/null || true
    ip netns del "$ns_rx" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns_tx"
ip netns add "$ns_rx"
ip -n "$ns_tx" link add ab-tx type veth peer name ab-rx netns "$ns_rx"
ip -n "$ns_tx" link set ab-tx up
ip -n "$ns_rx" link set lo up
ip -n "$ns_rx" link set ab-rx up

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
veth_drops() { # tx drops of ab-tx + rx drops of ab-rx
    local a b
    a=$(ip -n "$ns_tx" -s link show ab-tx | awk '/TX:/ {getline; print $4}')
    b=$(ip -n "$ns_rx" -s link show ab-rx | awk '/RX:/ {getline; print $4}')
    echo $((a + b))
}
wait_line() { # file pattern pid
    local i
    for i in $(seq 200); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# one_run TAG MODE(free|starved) NSENDERS RATE(topspeed|PPS) FILE
one_run() {
    local tag=$1 mode=$2 k=$3 rate=$4 file=$5 pin="" nice_cap="" sp ap tp i
    if [ "$mode" = starved ]; then
        pin="taskset -c 1"
        nice_cap="nice -n 19"
    fi
    local ep="ipc://$tmp/sink.sock"
    $pin ip netns exec "$ns_rx" "$feed" sink "$ep" --quiet >"$tmp/sink.out" 2>"$tmp/sink.err" &
    sp=$!
    pids+=("$sp")
    $pin $nice_cap ip netns exec "$ns_rx" "$agent" -i ab-rx --role client --sensor-id flood \
        --collector "$ep" 2>"$tmp/agent.err" &
    ap=$!
    pids+=("$ap")
    $pin $nice_cap ip netns exec "$ns_rx" tcpdump -i ab-rx -w /dev/null 2>"$tmp/tcpdump.err" &
    tp=$!
    pids+=("$tp")
    wait_line "$tmp/agent.err" "capturing on" "$ap" || { cat "$tmp/agent.err" >&2; exit 1; }
    wait_line "$tmp/tcpdump.err" "listening on" "$tp" || { cat "$tmp/tcpdump.err" >&2; exit 1; }
    sleep 0.5
    local d0 a0 t0 ropt="--topspeed"
    d0=$(veth_drops)
    a0=$(cpu_ticks "$ap")
    t0=$(cpu_ticks "$tp")
    [ "$rate" = topspeed ] || ropt="--pps=$rate"
    local rp=()
    for i in $(seq "$k"); do
        $pin ip netns exec "$ns_tx" tcpreplay -i ab-tx $ropt -K "$file" >"$tmp/tr$i.out" 2>&1 &
        rp+=("$!")
    done
    for i in "${rp[@]}"; do wait "$i"; done
    sleep 1 # let both captures empty their rings
    local a1 t1
    a1=$(cpu_ticks "$ap")
    t1=$(cpu_ticks "$tp")
    kill -INT "$ap" "$tp"
    wait "$ap" || true
    wait "$tp" || true
    wait "$sp" || true
    pids=()
    local d1 sent=0 pps=0 secs=0
    d1=$(veth_drops)
    for i in $(seq "$k"); do
        sent=$((sent + $(awk '/^Actual:/ {print $2}' "$tmp/tr$i.out")))
        pps=$(awk -v a="$pps" '/^Rated:/ {printf "%.0f", a + $(NF-1)}' "$tmp/tr$i.out")
        cat "$tmp/tr$i.out" >>"$out/$tag.tcpreplay"
    done
    cp "$tmp/agent.err" "$out/$tag.agent"
    cp "$tmp/tcpdump.err" "$out/$tag.tcpdump"
    local arecv adrop tcap trecv tdrop srec
    arecv=$(sed -n 's/.*packets received \([0-9]*\),.*/\1/p' "$tmp/agent.err")
    adrop=$(sed -n 's/.*dropped by kernel \([0-9]*\),.*/\1/p' "$tmp/agent.err")
    tcap=$(awk '/packets captured/ {print $1}' "$tmp/tcpdump.err")
    trecv=$(awk '/packets received by filter/ {print $1}' "$tmp/tcpdump.err")
    tdrop=$(awk '/packets dropped by kernel/ {print $1}' "$tmp/tcpdump.err")
    srec=$(sed -n 's/.* records=\([0-9]*\) .*/\1/p' "$tmp/sink.out")
    printf '%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\n' "$tag" "$mode" "$k" "$rate" \
        "$sent" "$pps" "$((d1 - d0))" "$arecv" "$adrop" "$tcap" "$trecv" "$tdrop" "${srec:-0}" \
        "$(echo "($a1 - $a0) / 100" | bc -l)" "$(echo "($t1 - $t0) / 100" | bc -l)" >>"$out/runs.tsv"
    tail -1 "$out/runs.tsv" >&2
}

printf 'tag\tmode\tsenders\trate\tsent\tpps\tveth_drop\tagent_recv\tagent_drop\ttcpdump_captured\ttcpdump_recv\ttcpdump_drop\tsink_records\tagent_cpu_s\ttcpdump_cpu_s\n' >"$out/runs.tsv"
for i in $(seq "$runs"); do
    one_run "free1-$i" free 1 topspeed "$flood"
done
for i in $(seq "$runs"); do
    one_run "free$senders-$i" free "$senders" topspeed "$flood"
done
for r in $rates; do
    for i in 1 2 3; do
        one_run "starved-$r-$i" starved "$senders" "$r" "$flood"
    done
done
for i in 1 2 3; do
    one_run "starved-top-$i" starved "$senders" topspeed "$flood"
done

{
    echo "synmatch-agent vs tcpdump on one veth, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
    echo "flood: $(cat "$flood.log")"
    echo
    awk -F'\t' 'NR > 1 {
        key = $2 " " $3 " " $4; n[key]++; order[key] = order[key] ? order[key] : ++k; names[order[key]] = key
        pps[key] = pps[key] " " $6; ad[key] = ad[key] " " $9; td[key] = td[key] " " $12
        ar[key] += $8; at[key] += $9; tr[key] += $11; tt[key] += $12; ac[key] += $14; tc[key] += $15
        sent[key] += $5; vd[key] += $7
    }
    function med(s,   a, m, i, j, t) {
        m = split(substr(s, 2), a, " ")
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
        printf "%-22s %4s %9s %9s | %-30s | %-30s | %s\n", "mode senders rate", "runs", "pps(med)", "veth_drop",
            "agent drops per run (% of kept)", "tcpdump drops per run (% of recv)", "CPU us/packet offered: agent tcpdump"
        for (i = 1; i <= k; i++) {
            key = names[i]
            printf "%-22s %4d %9d %9d | %-30s | %-30s | %.3f %.3f\n", key, n[key], med(pps[key]), vd[key],
                substr(ad[key], 2) sprintf(" (%.1f%%)", ar[key] ? 100 * at[key] / ar[key] : 0),
                substr(td[key], 2) sprintf(" (%.1f%%)", tr[key] ? 100 * tt[key] / tr[key] : 0),
                1e6 * ac[key] / sent[key], 1e6 * tc[key] / sent[key]
        }
    }' "$out/runs.tsv"
} | tee "$out/summary.txt"
