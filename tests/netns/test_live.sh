#!/usr/bin/env bash
# The live pipeline on real traffic: client, firewall and server namespaces (nftables drops
# SYNs to one port), synmatch-agent capturing live on the client's and the server's veth,
# synmatch-collector joining them. Real connections: IPv4 and IPv6, dropped, refused, with
# data, reused ports, and to a host the server does not serve. Then, per ISN, against the
# truth taken from tcpdump at both ends and the firewall's counters:
#   - every ISN whose SYNs the firewall dropped: exactly one final `missing`, right attempts;
#   - every other ISN to the server: exactly one final verdict, the one its fault implies
#     (matched, refused for the closed port, reply_lost when the firewall drops the SYN/ACK,
#     unanswered when the server host drops the SYN or its accept queue is full, with the
#     reason listen_queue_overflow from the server host's counters, matched with syncookies
#     under tcp_syncookies=2, answered_by_middlebox for a firewall reset), lost attempts
#     counted, and with --nat the translation visible;
#   - nothing out of scope judged, no other verdict, a `suspect` for every failure and for
#     nothing else.
# With --rewrite the firewall randomizes every connection's ISN as Cisco ASA does
# (tests/lib/sm_isnrw.c): the same verdicts, each one with a server side matched by
# fingerprint with both ISNs, and an isn_rewriting event.
#   tests/netns/test_live.sh BUILD_DIR [--nat] [--rewrite]
set -euo pipefail
build=$(cd "$1" && pwd)
shift
nat=0
rewrite=0
for a in "$@"; do
    case "$a" in
        --nat) nat=1 ;;
        --rewrite) rewrite=1 ;;
        *) echo "usage: $0 BUILD_DIR [--nat] [--rewrite]" >&2; exit 2 ;;
    esac
done
export LAB_ISNRW=$build/tests/sm_isnrw
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-sml$$}
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
out=$(mktemp -d)
chmod 711 "$out" # the agents run as nobody once capturing: they must reach the socket
sock=ipc://$out/collector.sock
cleanup() {
    [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null
    lab_down
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
LAB_NO_TRAP=1 lab_up
[ "$nat" = 1 ] && lab_nat_on
[ "$rewrite" = 0 ] || lab_rewrite_on

"$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 \
    --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
lab_capture_start "$out"
ip netns exec "$LAB_NS_S" setpriv --pdeathsig TERM "$build/synmatch-agent" -i s-fw --role server \
    --sensor-id server --collector "$sock" 2>"$out/agent_server.err" &
apid_s=$!
ip netns exec "$LAB_NS_C" setpriv --pdeathsig TERM "$build/synmatch-agent" -i c-fw --role client \
    --sensor-id client --collector "$sock" 2>"$out/agent_client.err" &
apid_c=$!
echo "$apid_s $apid_c" >>"$LAB_RUN/pids"
sleep 1 # agents up and heard by the collector
# shellcheck disable=SC2086  # LAB_FAULTS is words on purpose
lab_traffic "$out/traffic.tsv" $LAB_FAULTS
# The last dropped SYN goes out ~4 s before lab_traffic returns; its group is decided
# 3 x 2 s (backoff) + 1 s (skew) after it. Wait past that before stopping the agents.
sleep 6
kill -TERM "$apid_s" "$apid_c"
wait "$apid_s" "$apid_c" || true
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then
    echo "FAIL collector did not exit after both agents ended" >&2
    exit 1
fi
wait "$cpid" && crc=0 || crc=$?
cpid=""
lab_capture_stop >/dev/null
lab_counters >"$out/nft_counters.txt"
lab_truth "$out" "$nat" >"$out/truth.log" 2>&1 || {
    cat "$out/truth.log" >&2
    exit 1
}

fail=0
[ "$crc" -eq 0 ] && echo "ok   collector exit 0" || { echo "FAIL collector exit $crc"; cat "$out/collector.err"; fail=1; }
for a in server client; do
    grep -q "records" "$out/agent_$a.err" && echo "ok   $a agent summary line" || { echo "FAIL $a agent summary"; cat "$out/agent_$a.err"; fail=1; }
done
/usr/bin/python3 "$root/tests/lib/check_live.py" "$out/expected.tsv" "$out/verdicts.jsonl" "$nat" "$rewrite" \
    >"$out/check.txt" || fail=1
cat "$out/check.txt"
# A verdict not as expected: the SYNs of its source ports as both captures saw them, TCP
# timestamps and IP IDs included (what the second matcher compares), for the next reader.
ports=$({ grep -o '"sport": [0-9]*' "$out/check.txt" || true; } | awk '{print $2}' | sort -u | paste -sd' ')
if [ -n "$ports" ]; then
    echo "--- SYNs from source ports $ports: epoch, src, sport, dst, dport, seq, tsval, ip.id"
    for c in client server; do
        echo "    $c capture:"
        tshark -r "$out/$c.pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.srcport in {$ports}" \
            -T fields -e frame.time_epoch -e ip.src -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst \
            -e tcp.dstport -e tcp.seq_raw -e tcp.options.timestamp.tsval -e ip.id 2>/dev/null | head -40
    done
fi
# Cross-check with the firewall: dropped SYN packets = attempts of the missing verdicts.
drops=$(awk '$1 ~ /^drop_/ {s += $2} END {print s}' "$out/nft_counters.txt")
attempts=$(/usr/bin/python3 -c 'import json,sys; print(sum(o["attempts"] for o in map(json.loads, open(sys.argv[1])) if o.get("verdict") == "missing"))' "$out/verdicts.jsonl")
[ "$drops" = "$attempts" ] && echo "ok   firewall dropped $drops SYNs = attempts of the missing verdicts" ||
    { echo "FAIL firewall dropped $drops SYNs, missing verdicts count $attempts"; fail=1; }
[ "$fail" -eq 0 ] || { echo "--- collector stderr"; tail -5 "$out/collector.err"; }
exit "$fail"
