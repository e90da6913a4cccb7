#!/usr/bin/env bash
# Faults on the transport between agents and collector, with real agents capturing live in the
# lab and the collector in the firewall namespace (tcp://, agents connect across the veths).
#
#   tests/netns/test_transport_faults.sh BUILD_DIR cut
#     1. silent but alive: no traffic at all for 3 s, then SYNs the firewall drops; the server's
#        heartbeats advance its watermark, so their `missing` comes on time (nothing stuck);
#     2. heartbeats cut: nftables drops the server agent's transport packets; the collector
#        reports `sensor_down` within the sensor timeout (1 s) + 1 s, and SYNs sent meanwhile
#        are never `missing`;
#     3. the rule removed: the same TCP connection recovers (`sensor_back`), verdicts resume
#        (`matched`, `missing`).
#   tests/netns/test_transport_faults.sh BUILD_DIR reset
#     the transport reset 10 times for 1 s (nftables rejects both agents' packets to the
#     collector port with a TCP reset) under steady connections: whatever was lost shows as
#     seq gaps and `transport_loss`, the books balance, and against tcpdump on both ends no
#     ISN the server captured is `missing`, no ISN it did not is `matched`.
set -euo pipefail
build=$(cd "$1" && pwd)
mode=${2:-cut}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smf$$}
LAB_SYN_RETRIES=1
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
lab_test_begin
port=7400

# The collector's own table in the firewall namespace: rules for its port are added later.
lab_exec fw nft -f - <<EOF
table inet synmatch_transport {
    counter transport_blocked { }
    chain input {
        type filter hook input priority filter; policy accept;
    }
}
EOF
block() { # drop|reset IFACE...
    local verdict=drop i
    [ "$1" = reset ] && verdict="reject with tcp reset"
    shift
    for i in "$@"; do
        lab_exec fw nft add rule inet synmatch_transport input iifname "$i" tcp dport $port \
            counter name transport_blocked $verdict
    done
}
unblock() { lab_exec fw nft flush chain inet synmatch_transport input; }

ip netns exec "$LAB_NS_FW" "$build/synmatch-collector" --listen "tcp://*:$port" --insecure \
    --stats 0 --exit-when-done --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
echo "$cpid" >>"$LAB_RUN/pids"
for _ in $(seq 100); do grep -q "listening on" "$out/collector.err" && break; sleep 0.05; done
[ "$mode" = reset ] && lab_capture_start "$out" 2>/dev/null
for spec in server:s-fw:$LAB_FWS4 client:c-fw:$LAB_FWC4; do
    IFS=: read -r role ifc coll <<<"$spec"
    ip netns exec "$(lab_ns "$role")" setpriv --pdeathsig TERM "$build/synmatch-agent" -i "$ifc" \
        --role "$role" --sensor-id "$role" --collector "tcp://$coll:$port" 2>"$out/agent_$role.err" &
    echo "$!" >>"$out/agent.pids"
    echo "$!" >>"$LAB_RUN/pids"
done
sleep 1

# connect PHASE PORT N: N connections in parallel (one retransmission, ~3 s when dropped);
# appends "PHASE sport dport" per connection to conns.txt
connect() {
    lab_exec client "$LAB_PY" - "$1" "$2" "$3" "$LAB_S4" <<'PY' >>"$out/conns.txt"
import os, socket, sys, threading
phase, port, n, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def one():
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
    s.settimeout(5)
    s.bind(("0.0.0.0", 0))
    os.write(1, ("%s %d %d\n" % (phase, s.getsockname()[1], port)).encode())
    try:
        s.connect((dst, port)); s.sendall(b"hi\n"); s.recv(100)
    except OSError:
        pass
    s.close()
ts = [threading.Thread(target=one) for _ in range(n)]
for t in ts: t.start()
for t in ts: t.join()
PY
}
now() { date +%s.%N; }

if [ "$mode" = cut ]; then
    sleep 3                               # 1. silent but alive
    connect quiet "$LAB_PORT_DROP" 2      # returns ~3 s after the first SYN
    sleep 3                               # decided at last SYN (+1 s) + timeout 3 s + skew 1 s
    cp "$out/verdicts.jsonl" "$out/quiet_snapshot.jsonl"
    t_cut=$(now)                          # 2. heartbeats cut
    block drop fw-s
    sleep 2.5
    connect cut "$LAB_PORT_OK" 2 &
    bg=$!
    connect cut "$LAB_PORT_DROP" 2
    wait "$bg"
    unblock                               # 3. restored
    t_restore=$(now)
    for _ in $(seq 300); do grep -q '"event":"sensor_back"' "$out/verdicts.jsonl" && break; sleep 0.1; done
    # The server was blind (down) up to the client's watermark when it came back; a SYN is
    # judged over its time +- the skew allowance (1 s), so wait that out.
    sleep 1.5
    connect after "$LAB_PORT_OK" 2 &
    bg=$!
    connect after "$LAB_PORT_DROP" 2
    wait "$bg"
    sleep 5
else
    (for _ in $(seq 60); do connect steady "$LAB_PORT_OK" 3; connect steady "$LAB_PORT_DROP" 1 & sleep 0.3; done; wait) &
    traffic=$!
    for _ in $(seq 10); do
        sleep 1
        block reset fw-s fw-c
        sleep 1
        unblock
    done
    wait "$traffic"
    sleep 6
    t_cut=0 t_restore=0
fi
while read -r p; do kill -TERM "$p" 2>/dev/null || true; done <"$out/agent.pids"
while read -r p; do wait "$p" 2>/dev/null || true; done <"$out/agent.pids"
for _ in $(seq 150); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then echo "FAIL collector did not exit after both agents ended"; exit 1; fi
wait "$cpid" || { echo "FAIL collector exit status"; tail -5 "$out/collector.err"; exit 1; }
cpid=""
blocked=$(lab_exec fw nft list counter inet synmatch_transport transport_blocked | awk '$1 == "packets" {print $2}')
if [ "$mode" = reset ]; then
    lab_capture_stop >"$out/capture_stats.log" 2>&1 || { echo "FAIL tcpdump dropped packets"; exit 1; }
    lab_pcap_syns "$out/server.pcap" >"$out/server.syns"
else
    : >"$out/server.syns"
fi

/usr/bin/python3 - "$mode" "$out" "$t_cut" "$t_restore" "$blocked" <<'PY'
import datetime, json, sys
mode, out, t_cut, t_restore, blocked = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
def epoch(rfc):
    d = datetime.datetime.strptime(rfc[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()
conns = {}   # (sport, dport) -> phases in order (the kernel may reuse a source port)
for line in open(out + "/conns.txt"):
    ph, sport, dport = line.split()
    conns.setdefault((int(sport), int(dport)), []).append(ph)
server_isns = set()
for line in open(out + "/server.syns"):
    f = line.split("\t")
    if int(f[6], 16) & 0x12 == 0x02:
        server_isns.add(int(f[7]))
events, bad = [], 0
def verdicts(path):
    got = {}
    for line in open(path):
        o = json.loads(line)
        key = "event" not in o and (o["client"]["sport"], o["client"]["dport"])
        if key in conns and o["verdict"] != "suspect":
            got.setdefault(key, []).append(o)
    return got
for line in open(out + "/verdicts.jsonl"):
    o = json.loads(line)
    if "event" in o:
        events.append(o)
final = verdicts(out + "/verdicts.jsonl")
client_lost = sum(e["books"]["lost"] + e["books"]["unsent"] for e in events
                  if e.get("books") and e["sensor"] == "client")
counts, unjudged = {}, 0
for key, phases in sorted(conns.items()):
    vs = sorted(final.get(key, []), key=lambda o: o["first"])
    if len(vs) > len(phases) or len(set(o["seq"] for o in vs)) != len(vs):
        print("FAIL port", key, "connections", phases, "final verdicts", [(o["seq"], o["verdict"]) for o in vs]); bad += 1; continue
    if len(vs) < len(phases):
        if mode == "cut":
            print("FAIL port", key, "connections", phases, "only", len(vs), "final verdicts"); bad += 1; continue
        unjudged += len(phases) - len(vs)   # the client's records lost in transit: checked below
    for ph, o in zip(phases, vs):
        v, dport = o["verdict"], key[1]
        counts[(ph, dport, v)] = counts.get((ph, dport, v), 0) + 1
        if mode == "cut":
            ok = {("quiet", 8081): {"missing"}, ("cut", 8080): {"sensor_down", "matched"},
                  ("cut", 8081): {"sensor_down"}, ("after", 8080): {"matched"},
                  ("after", 8081): {"missing"}}[(ph, dport)]
        else:
            ok = ({"matched", "transport_loss", "sensor_down", "unknown"} if o["seq"] in server_isns
                  else {"missing", "transport_loss", "sensor_down", "unknown"})
        if v not in ok:
            print("FAIL", ph, dport, "ISN", o["seq"], "got", v, o.get("reason", ""), "want one of", sorted(ok)); bad += 1
if unjudged > client_lost:
    print("FAIL %d connections without a verdict, but the client's books lost only %d records"
          % (unjudged, client_lost)); bad += 1
ev = [(e["event"], e.get("sensor"), e.get("time")) for e in events]
if mode == "cut":
    snap = verdicts(out + "/quiet_snapshot.jsonl")
    for key, phases in conns.items():
        if "quiet" in phases and key not in snap:
            print("FAIL quiet-time SYN", key, "not decided on time: the silent server's watermark is stuck"); bad += 1
    downs = [epoch(t) for e, s, t in ev if e == "sensor_down" and s == "server"]
    late = [d - t_cut for d in downs if d >= t_cut]
    if not late:
        print("FAIL no sensor_down for the server after its heartbeats were cut"); bad += 1
    elif late[0] > 2.0:
        print("FAIL sensor_down %.2f s after the cut (sensor timeout 1 s)" % late[0]); bad += 1
    else:
        print("ok   sensor_down %.2f s after the heartbeats were cut" % late[0])
    backs = [epoch(t) - t_restore for e, s, t in ev if e == "sensor_back" and s == "server"]
    if not backs:
        print("FAIL no sensor_back after the rule was removed"); bad += 1
    else:
        print("ok   sensor_back %.2f s after the rule was removed" % backs[0])
else:
    gaps = [e for e in events if e["event"] == "transport_gap"]
    print("transport gaps: %d; %d connections unjudged (their client records lost, %d declared); verdicts: %s"
          % (len(gaps), unjudged, client_lost, {"%s/%d/%s" % k: n for k, n in sorted(counts.items())}))
    if not gaps:
        print("FAIL ten transport resets and not one seq gap: nothing was tested"); bad += 1
for e in events:
    b = e.get("books")
    if b and b["emitted"] != b["before"] + b["received"] + b["unsent"] + b["lost"]:
        print("FAIL books do not balance", e); bad += 1
    if b:
        print("     books of %s: %s" % (e["sensor"], b))
if blocked == 0:
    print("FAIL the nftables rule blocked nothing: the test did not cut the transport"); bad += 1
print("%s %s: %d connections, %d transport packets blocked, %d problems"
      % ("ok  " if not bad else "FAIL", mode, sum(map(len, conns.values())), blocked, bad))
sys.exit(1 if bad else 0)
PY
