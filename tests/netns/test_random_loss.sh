#!/usr/bin/env bash
# Real loss is still found: the firewall drops 1% of all SYNs at random (nftables numgen)
# for DURATION seconds (default 20) while the client sends a steady stream of SYN probes
# (one SYN per ISN from a raw socket, IPv4 and IPv6, to the server's closed port: the server
# kernel answers RST) and makes real connections (the Linux stack, one retransmission) to
# its open port. Agents capture live on both ends; the collector joins. Per ISN, against the
# truth from tcpdump on both sides of the firewall:
#   - an ISN none of whose SYNs reached the server: exactly one final `missing`, the client's
#     attempt count;
#   - every other: exactly one `refused` (a probe: the server's RST reached the client) or
#     `matched` (a connection), attempts and lost attempts as captured;
#   - no other verdict, no verdict for an ISN not captured; recall and precision 100%;
#   - the firewall's random-drop counter = client SYN packets - server SYN packets;
#   - the sensors' books balance (nothing lost between agents and collector).
#   tests/netns/test_random_loss.sh BUILD_DIR [DURATION_S] [PROBES_PER_S]
set -euo pipefail
build=$(cd "$1" && pwd)
duration=${2:-20}
rate=${3:-400}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smr$$}
LAB_SYN_RETRIES=1
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
lab_test_begin
sock=ipc://$out/collector.sock

# 1% of every SYN forwarded to the server, before the lab's own rules (lower priority value).
lab_exec fw nft -f - <<EOF
table inet synmatch_loss {
    counter random_drop { }
    chain forward {
        type filter hook forward priority filter - 10; policy accept;
        iifname "fw-c" tcp flags & (syn | ack) == syn numgen random mod 100 < 1 counter name "random_drop" drop
    }
}
EOF

"$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 \
    --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
lab_capture_start "$out" 2>/dev/null
for role in server client; do
    ifc=s-fw
    [ "$role" = client ] && ifc=c-fw
    ip netns exec "$(lab_ns "$role")" setpriv --pdeathsig TERM "$build/synmatch-agent" -i "$ifc" \
        --role "$role" --sensor-id "$role" --collector "$sock" 2>"$out/agent_$role.err" &
    echo "$!" >>"$out/agent.pids"
    echo "$!" >>"$LAB_RUN/pids"
done
sleep 1

lab_exec client "$LAB_PY" - "$duration" "$rate" "$LAB_C4" "$LAB_S4" "$LAB_C6" "$LAB_S6" \
    "$LAB_PORT_REFUSED" "$LAB_PORT_OK" >"$out/traffic.txt" <<'PY'
import random, socket, struct, sys, threading, time
dur, rate = float(sys.argv[1]), float(sys.argv[2])
c4, s4, c6, s6 = sys.argv[3:7]
p_probe, p_conn = int(sys.argv[7]), int(sys.argv[8])

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def tcp_syn(sport, dport, isn):
    # 24 bytes: header + MSS option
    return struct.pack("!HHIIBBHHH", sport, dport, isn, 0, 6 << 4, 0x02, 64240, 0, 0) + \
        struct.pack("!BBH", 2, 4, 1460)

raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
raw6.setsockopt(socket.IPPROTO_IPV6, 7, 16)  # IPV6_CHECKSUM at offset 16: the kernel sums it
src4, dst4 = socket.inet_aton(c4), socket.inet_aton(s4)
isns, probes, conns = set(), 0, 0
stop = time.monotonic() + dur

def connections():
    global conns
    while time.monotonic() < stop:
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
        s.settimeout(4)
        try:
            s.connect((s4, p_conn)); s.sendall(b"hi\n"); s.recv(100)
        except OSError:
            pass
        s.close()
        conns += 1
        time.sleep(0.01)

workers = [threading.Thread(target=connections) for _ in range(4)]
for w in workers:
    w.start()
t0 = time.monotonic()
while time.monotonic() < stop:
    isn = random.getrandbits(32)
    if isn in isns:
        continue
    isns.add(isn)
    sport = 20000 + probes % 10000
    seg = tcp_syn(sport, p_probe, isn)
    if probes % 5 == 4:
        raw6.sendto(seg, (s6, 0))
    else:
        pseudo = src4 + dst4 + struct.pack("!BBH", 0, 6, len(seg))
        seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
        raw4.sendto(seg, (s4, 0))
    probes += 1
    ahead = t0 + probes / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
for w in workers:
    w.join()
print("probes", probes, "connections", conns)
PY
# The last SYN is decided timeout (3 s) + skew (1 s) after it; a real connection's second
# SYN goes 1 s after its first.
sleep 6
while read -r p; do kill -TERM "$p" 2>/dev/null || true; done <"$out/agent.pids"
while read -r p; do wait "$p" 2>/dev/null || true; done <"$out/agent.pids"
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then
    echo "FAIL collector did not exit after both agents ended" >&2
    exit 1
fi
wait "$cpid" && crc=0 || crc=$?
cpid=""
lab_capture_stop >"$out/capture_stats.log" 2>&1 || { echo "FAIL tcpdump dropped packets"; cat "$out/capture_stats.log"; exit 1; }
dropped=$(lab_exec fw nft list counter inet synmatch_loss random_drop | awk '$1 == "packets" {print $2}')
lab_pcap_syns "$out/client.pcap" >"$out/client.syns"
lab_pcap_syns "$out/server.pcap" >"$out/server.syns"

[ "$crc" -eq 0 ] || { echo "FAIL collector exit $crc"; tail -5 "$out/collector.err"; exit 1; }
echo "traffic: $(cat "$out/traffic.txt"); firewall dropped $dropped SYNs at random"
/usr/bin/python3 - "$out/client.syns" "$out/server.syns" "$out/verdicts.jsonl" "$dropped" "$LAB_PORT_REFUSED" "$LAB_S4" "$LAB_S6" <<'PY'
import ipaddress, json, sys
csyns, ssyns, verdicts, dropped = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
closed = int(sys.argv[5])
servers = {ipaddress.ip_address(a) for a in sys.argv[6:8]}

# A connection is its ISN and tuple (no NAT in this lab): at hundreds of thousands of random
# ISNs, two connections share one now and then (a 10-minute run had 8 such pairs).
def key(seq, src, sport, dst, dport):
    return (int(seq), ipaddress.ip_address(src), int(sport), ipaddress.ip_address(dst), int(dport))

def syns(path, to_server):
    out = {}
    for line in open(path):
        ts, fam, src, sport, dst, dport, flags, seq, ack = line.split("\t")
        fl = int(flags, 16)
        if fl & 0x12 != 0x02:
            continue
        if to_server and ipaddress.ip_address(dst) not in servers:
            continue
        k = key(seq, src, sport, dst, dport)
        out[k] = out.get(k, 0) + 1
    return out

client, server = syns(csyns, True), syns(ssyns, False)
bad = 0
stray = set(server) - set(client)
if stray:
    print("FAIL truth: server saw ISNs the client never sent", sorted(stray, key=str)[:5]); bad += 1
lost = sum(client.values()) - sum(server.values())
if lost != dropped:
    print("FAIL truth: client SYNs - server SYNs = %d, firewall counter %d" % (lost, dropped)); bad += 1
final, suspects = {}, set()
for line in open(verdicts):
    o = json.loads(line)
    if "event" in o:
        b = o.get("books")
        if o["event"] == "sensor_end" and (b is None or b["lost"] or b["gaps"] or b["unsent"]
                                           or b["emitted"] != b["received"]):
            print("FAIL books do not balance:", o); bad += 1
        continue
    c = o["client"]
    k = key(o["seq"], c["src"], c["sport"], c["dst"], c["dport"])
    if o["verdict"] == "suspect":
        suspects.add(k); continue
    if k in final:
        print("FAIL two final verdicts for", k); bad += 1
    final[k] = o
tp = fp = fn = 0
for isn, n in client.items():
    v = final.get(isn)
    want = "missing" if isn not in server else "refused" if isn[4] == closed else "matched"
    if v is None:
        print("FAIL no verdict for ISN", isn, want); bad += 1; fn += want == "missing"; continue
    if v["verdict"] != want:
        print("FAIL %s: %s, truth %s (%d client SYNs, %d at the server)"
              % (isn, v["verdict"], want, n, server.get(isn, 0)), v.get("reason", "")); bad += 1
        fn += want == "missing"; fp += v["verdict"] == "missing"; continue
    tp += want == "missing"
    if v["attempts"] != n:
        print("FAIL ISN", isn, "attempts", v["attempts"], "want", n); bad += 1
    if want != "missing" and v["lost_before"] != n - server[isn]:
        print("FAIL ISN", isn, "lost_before", v["lost_before"], "want", n - server[isn]); bad += 1
for isn in final:
    if isn not in client:
        print("FAIL verdict for an ISN not captured", isn); bad += 1
nmiss = sum(1 for i in client if i not in server)
if nmiss == 0:
    print("FAIL no ISN lost entirely: the test proved nothing about recall"); bad += 1
recall = tp / (tp + fn) if tp + fn else 0
precision = tp / (tp + fp) if tp + fp else 0
print("%s %d ISNs (with their tuples), %d client SYNs, %d lost; missing: %d true, recall %.4f, precision %.4f; "
      "%d reached the server; %d suspects; %d problems"
      % ("ok  " if not bad else "FAIL", len(client), sum(client.values()), lost, nmiss, recall,
         precision, len(client) - nmiss, len(suspects), bad))
sys.exit(1 if bad else 0)
PY
