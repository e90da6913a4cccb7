#!/usr/bin/env bash
# The built-in live demo: sets everything up, then runs the whole pipeline on real traffic.
#
#   sudo scripts/demo.sh [--nat]
#
# Three network namespaces: client, firewall (nftables), server. synmatch-agent captures live
# on the client's and the server's interface and sends its records to synmatch-collector over
# ZeroMQ; `synmatch tail` shows the collector's alerts as they happen while the client makes
# real connections (IPv4 and IPv6), one port per way a connection attempt breaks: the firewall
# drops the SYN (MISSING), drops the server's SYN/ACK (REPLY_LOST) or resets the connection
# itself (MIDDLEBOX); the server host's own firewall drops the SYN, or its accept queue is
# full (UNANSWERED); the port is closed (refused); SYN cookies answer (matched); healthy.
# Everything is removed on exit, also on Ctrl-C; the verdicts stay in a directory under /tmp.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nat=0
for a in "$@"; do
    case "$a" in
        --nat) nat=1 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--nat]" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: needs root (network namespaces, packet capture)" >&2
    exit 1
fi
"$root/scripts/setup.sh" "$root/build"
bin=$root/build
LAB=smdemo$$
# shellcheck source=../tests/lib/lab.sh
. "$root/tests/lib/lab.sh"
out=$(mktemp -d /tmp/synmatch-demo.XXXXXX)
chmod 711 "$out" # the agents run as nobody once capturing: they must reach the socket
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    lab_down
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT
trap 'exit 143' TERM

echo "== network: client $LAB_C4 / $LAB_C6 -> firewall -> server $LAB_S4 / $LAB_S6"
echo "   port $LAB_PORT_DROP: the firewall drops the SYN        port $LAB_PORT_REPLYDROP: it drops the server's SYN/ACK"
echo "   port $LAB_PORT_RESET: the firewall resets it           port $LAB_PORT_HOSTDROP: the server host drops the SYN"
echo "   port $LAB_PORT_FULLQ: the server's accept queue is full  port $LAB_PORT_REFUSED: closed (the server resets)"
echo "   port $LAB_PORT_COOKIES: answered with SYN cookies        port $LAB_PORT_OK: healthy"
LAB_NO_TRAP=1 lab_up 2>/dev/null
[ "$nat" = 1 ] && { lab_nat_on; echo "== the firewall masquerades: the server sees $LAB_FWS4 / $LAB_FWS6"; }

# Keys: one pair for the collector, one per agent, one for the person tailing the alerts, and
# the collector's two allow-lists (agents may send records, the operator may read alerts).
for k in collector client server operator; do "$bin/synmatch" keygen "$out/$k" >/dev/null; done
printf 'client %s\nserver %s\n' "$(cat "$out/client.pub")" "$(cat "$out/server.pub")" >"$out/agents.allow"
printf 'operator %s\n' "$(cat "$out/operator.pub")" >"$out/subscribers.allow"
echo "== keys in $out: the collector accepts only the two agents' keys, and publishes alerts"
echo "   only to the operator's (CURVE, an allow-list per socket)"
"$bin/synmatch-collector" --listen "ipc://$out/collector.sock" --alerts-pub "ipc://$out/alerts.sock" \
    --key "$out/collector.key" --allow "$out/agents.allow" \
    --alerts-allow "$out/subscribers.allow" \
    --exit-when-done --stats 0 --output "$out/verdicts.jsonl" 2>"$out/collector.log" &
pids+=($!)
cpid=$!
sleep 0.3
"$bin/synmatch" tail --key "$out/operator.key" --server-key "$out/collector.pub" \
    "ipc://$out/alerts.sock" &
pids+=($!)
sleep 0.3
ip netns exec "$LAB_NS_S" "$bin/synmatch-agent" -i s-fw --role server --sensor-id server \
    --key "$out/server.key" --server-key "$out/collector.pub" \
    --collector "ipc://$out/collector.sock" 2>"$out/agent-server.log" &
pids+=($!)
spid=$!
ip netns exec "$LAB_NS_C" "$bin/synmatch-agent" -i c-fw --role client --sensor-id client \
    --key "$out/client.key" --server-key "$out/collector.pub" \
    --collector "ipc://$out/collector.sock" 2>"$out/agent-client.log" &
pids+=($!)
apid=$!
sleep 1
echo "== making connections from the client (about 20 s); alerts as they happen:"
# shellcheck disable=SC2086  # LAB_FAULTS is words on purpose
lab_traffic "$out/traffic.tsv" $LAB_FAULTS >/dev/null
echo "== waiting for the last retransmissions to be decided (7 s)"
sleep 7
kill -TERM "$spid" "$apid"
wait "$spid" "$apid" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
sleep 0.3
echo
echo "== final verdicts ($out/verdicts.jsonl):"
/usr/bin/python3 - "$out/verdicts.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "verdict" in o and o["verdict"] != "suspect":
        c[o["verdict"]] += 1
for k, n in sorted(c.items()):
    print("  %-22s %d" % (k, n))
PY
echo "== what the firewalls did, by their own counters (packets, bytes):"
echo "   drop_*: SYNs dropped (missing), replydrop_*: SYN/ACKs dropped (reply_lost),"
echo "   reset_*: SYNs reset by the firewall (answered_by_middlebox), hostdrop_*: SYNs the server host dropped (unanswered)"
lab_counters | grep -E '^(drop|replydrop|reset|hostdrop)_' | sed 's/^/  /'
echo "== agents:"
tail -n 1 "$out/agent-client.log" | sed 's/^/  /'
tail -n 1 "$out/agent-server.log" | sed 's/^/  /'
