#!/usr/bin/env bash
# synmatch-agent capturing live (needs root): two network namespaces joined by a veth pair,
# real TCP connections between them, the agent and a tcpdump on the same interface, the
# agent's batches received over ipc:// by sm_pull_dump (ipc sockets are files, so they work
# across namespaces). Asserts:
#   - the records are exactly the SYN, SYN/ACK and RST packets tcpdump saw (ports, seq, ack,
#     flags, addresses), IPv4 and IPv6, a refused port included; no data segment is a record;
#   - batch seqs are 0..N without holes, the last batch (only it) has end_of_stream;
#   - an idle agent still sends batches (at least 5 in 0.6 s of silence);
#   - watermarks never decrease and every record's time is at most its batch's watermark;
#   - the server scope holds the interface's addresses (/32, /128, any port) and --serve;
#   - hand-built 802.1Q and QinQ frames (IPv4, IPv6), injected raw on the receive and the
#     transmit path: exactly the SYN/RST ones become records, with their VLAN ids;
#   - a second agent narrowed by `port 8080`, sending over tcp://: exactly the port 8080 ones;
#   - SIGTERM: exit 0 and one summary line; kernel drops 0;
#   - start-up errors (no such interface, no permission, bad expression, bad endpoint) exit
#     with their documented status and one line naming the object.
#   tests/netns/test_agent_live.sh SYNMATCH-AGENT SM_PULL_DUMP
set -euo pipefail
agent=$1
dump=$2
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL: needs root (network namespaces, live capture)" >&2
    exit 1
fi

tag=smag$$
nsa=$tag-a
nsb=$tag-b
out=$(mktemp -d)
chmod 711 "$out" # the agent runs as nobody once capturing: it must reach the socket
chmod 755 "$out"
pids=()
cleanup() { # keeps the logs when the test failed
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$nsa" 2>/dev/null || true
    ip netns del "$nsb" 2>/dev/null || true
    if [ "$rc" -eq 0 ]; then rm -rf "$out"; else echo "logs kept in $out" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bg() { # runs a command in the background, dying with this shell
    setpriv --pdeathsig TERM "$@" &
    pids+=($!)
}
wait_for() { # FILE PATTERN TIMEOUT_S: waits until FILE holds a line matching PATTERN
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1:" >&2
    cat "$1" >&2 || true
    return 1
}

fail=0
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}

# ---- the two hosts ------------------------------------------------------------------------
ip netns add "$nsa"
ip netns add "$nsb"
for ns in "$nsa" "$nsb"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    ip -n "$ns" link set lo up
done
ip link add va netns "$nsa" type veth peer name vb netns "$nsb"
ip -n "$nsa" addr add 198.18.0.1/24 dev va
ip -n "$nsa" addr add 2001:db8::1/64 dev va nodad
ip -n "$nsb" addr add 198.18.0.2/24 dev vb
ip -n "$nsb" addr add 2001:db8::2/64 dev vb nodad
ip -n "$nsa" link set va up
ip -n "$nsb" link set vb up

cat >"$out/server.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 8080))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    line = c.makefile("rb").readline()
    c.sendall(b"reply " + line)
    c.close()
PY
cat >"$out/client.py" <<'PY'
import socket, sys, time
ok = refused = 0
for i in range(5):
    for fam, host in ((socket.AF_INET, "198.18.0.2"), (socket.AF_INET6, "2001:db8::2")):
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect((host, 8080))
        c.sendall(b"hello %d with some data to carry\n" % i)
        data = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            data += d
        c.close()
        assert data.startswith(b"reply hello"), data
        ok += 1
for i in range(2):
    for fam, host in ((socket.AF_INET, "198.18.0.2"), (socket.AF_INET6, "2001:db8::2")):
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.settimeout(5)
        try:
            c.connect((host, 8082))
        except ConnectionRefusedError:
            refused += 1
        c.close()
print("ok", ok, "refused", refused)
sys.exit(0 if ok == 10 and refused == 4 else 1)
PY

# Hand-built VLAN-tagged frames (802.1Q, and QinQ 0x88a8 + 0x8100), sent raw out of one end
# of the veth. Sent from the peer, they arrive at va on the receive path, where Linux moves the
# outer tag into packet metadata before any capture sees it; sent from va itself, the capture
# sees them outgoing with the tags still in the frame. Both must pass the kernel filter.
cat >"$out/inject.py" <<'PY'
import socket, struct, sys, ipaddress
ifname, dst_mac, base, out = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3], 16), sys.argv[4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src_mac = s.getsockname()[4]
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
flagsets = {"SYN": 0x02, "SYN/ACK": 0x12, "RST": 0x04, "ACK": 0x10, "PSH/ACK": 0x18}
log = open(out, "a")
i = 0
for tags in ([(0x8100, 100)], [(0x88a8, 200), (0x8100, 100)]):
    for fam in (4, 6):
        for name, fl in flagsets.items():
            seq = base + i
            i += 1
            payload = b"x" * 40 if name == "PSH/ACK" else b""
            tcp = struct.pack("!HHIIBBHHH", 40000 + i, 8443, seq, 7 if fl & 0x10 else 0, 5 << 4, fl, 1024, 0, 0) + payload
            if fam == 4:
                ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0,
                                 ipaddress.ip_address("198.18.7.1").packed, ipaddress.ip_address("198.18.7.2").packed)
                ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
                et = 0x0800
            else:
                ip = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 6, 64,
                                 ipaddress.ip_address("2001:db8:7::1").packed, ipaddress.ip_address("2001:db8:7::2").packed)
                et = 0x86dd
            frame = dst_mac + src_mac
            for tpid, vid in tags:
                frame += struct.pack("!HH", tpid, vid)
            frame += struct.pack("!H", et) + ip + tcp
            s.send(frame)
            vl = ".".join(str(v) for _, v in tags)
            log.write("%d %d %s %s %d\n" % (seq, fam, vl, name, 1 if fl & 0x06 else 0))
PY

bg ip netns exec "$nsb" "$py" "$out/server.py" >"$out/server.log" 2>&1
wait_for "$out/server.log" listening 10

# ---- receiver, tcpdump, agent ----------------------------------------------------------------
endpoint="ipc://$out/collector.sock"
bg "$dump" "$endpoint" --eos 1 --timeout-ms 60000 >"$out/dump.txt" 2>"$out/dump.err"
dump_pid=${pids[-1]}
wait_for "$out/dump.txt" "^L " 10

bg ip netns exec "$nsa" tcpdump -i va -U -s 0 --immediate-mode --time-stamp-precision nano \
    -Z root -w "$out/truth.pcap" >"$out/tcpdump.log" 2>&1
tcpdump_pid=${pids[-1]}
wait_for "$out/tcpdump.log" "listening on" 10

bg ip netns exec "$nsa" "$agent" -i va --role server --sensor-id live-a \
    --collector "$endpoint" --serve 198.18.9.0/24:443 --serve '[2001:db8:9::1]:8443' \
    2>"$out/agent.err"
agent_pid=${pids[-1]}
wait_for "$out/agent.err" "capturing on va" 10

# A second agent on the same interface, narrowed by an expression, sending over tcp:// to a
# receiver on the namespace's own loopback.
bg ip netns exec "$nsa" "$dump" tcp://127.0.0.1:7011 --eos 1 --timeout-ms 60000 \
    >"$out/dump_b.txt" 2>"$out/dump_b.err"
dump_b_pid=${pids[-1]}
wait_for "$out/dump_b.txt" "^L " 10
bg ip netns exec "$nsa" "$agent" -i va --role client --sensor-id live-b \
    --collector tcp://127.0.0.1:7011 port 8080 2>"$out/agent_b.err"
agent_b_pid=${pids[-1]}
wait_for "$out/agent_b.err" "capturing on va" 10

# ---- traffic, then silence, then SIGTERM -------------------------------------------------------
ip netns exec "$nsa" "$py" "$out/client.py" >"$out/client.log" 2>&1 || {
    echo "client traffic failed:" >&2
    cat "$out/client.log" >&2
    exit 1
}
mac_a=$(ip -n "$nsa" -br link show va | awk '{print $3}')
mac_b=$(ip -n "$nsb" -br link show vb | awk '{print $3}')
ip netns exec "$nsb" "$py" "$out/inject.py" vb "$mac_a" 5eed0000 "$out/injected.txt"
ip netns exec "$nsa" "$py" "$out/inject.py" va "$mac_b" 7a000000 "$out/injected.txt"
sleep 0.3 # the last FIN/ACKs
quiet_from=$(date +%s%N)
sleep 0.6
quiet_to=$(date +%s%N)
kill -TERM "$agent_pid" "$agent_b_pid"
agent_rc=0
wait "$agent_pid" || agent_rc=$?
agent_b_rc=0
wait "$agent_b_pid" || agent_b_rc=$?
dump_rc=0
wait "$dump_pid" || dump_rc=$?
dump_b_rc=0
wait "$dump_b_pid" || dump_b_rc=$?
kill -TERM "$tcpdump_pid"
wait "$tcpdump_pid" || true

check "agent exits 0 on SIGTERM" test "$agent_rc" -eq 0
check "one summary line on stderr" test "$(grep -c 'sensor live-a: packets received' "$out/agent.err")" -eq 1
check "receiver got end_of_stream (exit $dump_rc)" test "$dump_rc" -eq 0
check "agent with an expression, over tcp://: exit 0, end_of_stream (exits $agent_b_rc, $dump_b_rc)" \
    test "$agent_b_rc" -eq 0 -a "$dump_b_rc" -eq 0

check "batches and records agree with tcpdump" "$py" - "$out/dump.txt" "$out/truth.pcap" \
    "$quiet_from" "$quiet_to" "$out/agent.err" "$here/../lib" "$out/dump_b.txt" "$out/injected.txt" <<'PY'
import struct, sys, re, ipaddress
dump, pcap, quiet_from, quiet_to, agent_err = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, sys.argv[6])
dump_b, injected_path = sys.argv[7], sys.argv[8]
import dump as dumpfile
batches, scope, rejects = dumpfile.parse(dump)
recs = dumpfile.records(batches)
bad = dumpfile.check_stream(batches, rejects)
if not batches:
    print("  no batches"); sys.exit(1)
# heartbeats while idle
idle = [b for b in batches if quiet_from <= b["recv_ns"] <= quiet_to]
if len(idle) < 5:
    bad.append("only %d batches in the %.2f s of silence" % (len(idle), (quiet_to - quiet_from) / 1e9))
if any(b["n"] for b in idle):
    bad.append("records during the silence")
# the watermark follows the wall clock while idle (within the margin plus a heartbeat)
for b in idle:
    if b["recv_ns"] - b["wm"] > 300_000_000:
        bad.append("idle batch %d: watermark %.3f s behind its arrival" % (b["seq"], (b["recv_ns"] - b["wm"]) / 1e9))

# truth: tcpdump's capture, parsed here (classic pcap, ns, Ethernet)
def parse(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xa1b23c4d, hex(magic)
    off, out = 24, []
    while off + 16 <= len(data):
        sec, nsec, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        l2 = 12
        while struct.unpack(">H", pkt[l2:l2 + 2])[0] in (0x8100, 0x88a8):
            l2 += 4
        et = struct.unpack(">H", pkt[l2:l2 + 2])[0]
        ip = pkt[l2 + 2:]
        if et == 0x0800:
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6:
                continue
            src, dst = str(ipaddress.ip_address(ip[12:16])), str(ipaddress.ip_address(ip[16:20]))
            tcp = ip[ihl:]
            paylen = struct.unpack(">H", ip[2:4])[0] - ihl
            fam = 4
        elif et == 0x86dd:
            if ip[6] != 6:
                continue
            src, dst = str(ipaddress.ip_address(ip[8:24])), str(ipaddress.ip_address(ip[24:40]))
            tcp = ip[40:]
            paylen = struct.unpack(">H", ip[4:6])[0]
            fam = 6
        else:
            continue
        sport, dport, seq, ack = struct.unpack(">HHII", tcp[:12])
        doff = (tcp[12] >> 4) * 4
        flags = ((tcp[12] & 1) << 8) | tcp[13]
        out.append(dict(ts=sec * 10**9 + nsec, fam=fam, src=src, sport=sport, dst=dst, dport=dport,
                        seq=seq, ack=ack, flags=flags, data=paylen - doff))
    return out

pk = parse(pcap)
key = lambda r: (r["fam"], r["src"], r["sport"], r["dst"], r["dport"], r["seq"], r["ack"], r["flags"])
want = sorted(key(p) for p in pk if p["flags"] & 0x06)
got = sorted(key(r) for r in recs)
if want != got:
    ws, gs = set(want), set(got)
    bad.append("records differ from tcpdump's SYN/RST: %d vs %d; missing %s; extra %s" %
               (len(got), len(want), sorted(ws - gs)[:5], sorted(gs - ws)[:5]))
data_pkts = [p for p in pk if p["data"] > 0]
if not data_pkts:
    bad.append("the traffic carried no data segments")
if any(key(p) in set(got) for p in data_pkts):
    bad.append("a data segment became a record")
if any(not (r["flags"] & 0x06) for r in recs):
    bad.append("a record has neither SYN nor RST")
kinds = {
    "IPv4 SYN": lambda r: r["fam"] == 4 and r["flags"] & 0x12 == 0x02,
    "IPv6 SYN": lambda r: r["fam"] == 6 and r["flags"] & 0x12 == 0x02,
    "IPv4 SYN/ACK": lambda r: r["fam"] == 4 and r["flags"] & 0x12 == 0x12,
    "IPv6 SYN/ACK": lambda r: r["fam"] == 6 and r["flags"] & 0x12 == 0x12,
    "IPv4 RST": lambda r: r["fam"] == 4 and r["flags"] & 0x04,
    "IPv6 RST": lambda r: r["fam"] == 6 and r["flags"] & 0x04,
}
for name, pred in kinds.items():
    n = sum(1 for r in recs if pred(r))
    if n == 0:
        bad.append("no %s record" % name)
# capture times: the agent's own kernel timestamps, close to tcpdump's for the same packet
tsd = {}
for p in pk:
    tsd.setdefault(key(p), p["ts"])
for r in recs:
    t = tsd.get(key(r))
    if t is not None and abs(r["ts"] - t) > 50_000_000:
        bad.append("record ts %d is %.3f s from tcpdump's" % (r["ts"], (r["ts"] - t) / 1e9))
        break
# the injected VLAN frames: exactly the SYN/RST ones are records, with their tags
injected = [l.split() for l in open(injected_path)]
by_seq = {}
for r in recs:
    by_seq.setdefault(r["seq"], []).append(r)
for seq, fam, vl, name, want_rec in injected:
    got_r = by_seq.get(int(seq), [])
    if want_rec == "1" and (len(got_r) != 1 or got_r[0]["vlan"] != vl or got_r[0]["fam"] != int(fam)):
        bad.append("injected IPv%s VLAN %s %s (seq %s): records %s" % (fam, vl, name, seq, got_r))
    if want_rec == "0" and got_r:
        bad.append("injected IPv%s VLAN %s %s became a record" % (fam, vl, name))
if len(injected) != 40:
    bad.append("%d frames injected, 40 expected" % len(injected))

# the second agent: `port 8080` applied by the kernel filter
batches_b, _, rejects_b = dumpfile.parse(dump_b)
for p in dumpfile.check_stream(batches_b, rejects_b):
    bad.append("port 8080 agent: " + p)
recs_b = dumpfile.records(batches_b)
want_b = sorted(k for k in want if 8080 in (k[2], k[4]))
got_b = sorted(key(r) for r in recs_b)
if not want_b or got_b != want_b:
    bad.append("port 8080 agent: %d records, tcpdump has %d SYN/RST on port 8080" % (len(got_b), len(want_b)))
if any(r["dport"] == 8082 or r["sport"] == 8082 for r in recs_b):
    bad.append("port 8080 agent: records of port 8082")
if batches_b and batches_b[-1]["kv"]["role"] != "client" or any(b["kv"]["nscope"] != "0" for b in batches_b):
    bad.append("port 8080 agent: a client announces a scope")
if any(r["stream"] != -1 or r["frame"] != 0 for r in recs):
    bad.append("live records carry frame/stream columns")

# scope: interface addresses plus --serve
for want_s in [("198.18.0.1/32", 0), ("2001:db8::1/128", 0), ("198.18.9.0/24", 443), ("2001:db8:9::1/128", 8443)]:
    if want_s not in scope:
        bad.append("scope lacks %s port %d (has %s)" % (want_s[0], want_s[1], sorted(scope)))
if not any(s.startswith("fe80:") for s, _ in scope):
    bad.append("scope lacks the link-local address")

# counters: cumulative, no kernel drops, records emitted = records received
last = batches[-1]["kv"]
if int(last["pcap_dropped"]) != 0:
    bad.append("kernel drops: %s" % last["pcap_dropped"])
if int(last["pcap_received"]) < len(recs):
    bad.append("pcap_received %s < %d records" % (last["pcap_received"], len(recs)))
if int(last["records_emitted"]) != len(recs) or int(last["records_unsent"]) != 0:
    bad.append("records_emitted %s / unsent %s, received %d" % (last["records_emitted"], last["records_unsent"], len(recs)))
summary = [l for l in open(agent_err) if "packets received" in l]
m = re.search(r"records sent (\d+), unsent (\d+); batches (\d+)", summary[0] if summary else "")
if not m or int(m.group(1)) != len(recs) or int(m.group(3)) != len(batches):
    bad.append("summary line disagrees: %s" % (summary[0].strip() if summary else "none"))

for b in bad:
    print("  " + b)
print("  %d batches (%d in %.2f s of silence), %d records, %d tcpdump SYN/RST, %d data segments" %
      (len(batches), len(idle), (quiet_to - quiet_from) / 1e9, len(recs), len(want), len(data_pkts)))
sys.exit(1 if bad else 0)
PY

# ---- start-up errors: status and one line naming the object ------------------------------------
expect_error() { # NAME STATUS PATTERN COMMAND...
    local name=$1 status=$2 pattern=$3 rc=0
    shift 3
    "$@" >"$out/err.out" 2>"$out/err.txt" || rc=$?
    if [ "$rc" -eq "$status" ] && [ "$(wc -l <"$out/err.txt")" -eq 1 ] && grep -q -- "$pattern" "$out/err.txt"; then
        echo "ok   $name (exit $rc: $(cat "$out/err.txt"))"
    else
        echo "FAIL $name: exit $rc, want $status and one line matching '$pattern':"
        cat "$out/err.txt"
        fail=$((fail + 1))
    fi
}
common=(--role client --sensor-id e --collector "ipc://$out/none.sock")
expect_error "no such interface" 12 "interface nosuch0: no such interface" \
    ip netns exec "$nsa" "$agent" -i nosuch0 "${common[@]}"
cp "$agent" "$out/agent-copy"
chmod 755 "$out/agent-copy"
expect_error "no permission" 12 "interface va: permission denied" \
    ip netns exec "$nsa" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$out/agent-copy" -i va "${common[@]}"
expect_error "bad expression" 2 "expression 'port nonsense-port'" \
    ip netns exec "$nsa" "$agent" -i va "${common[@]}" port nonsense-port
expect_error "vlan in the expression" 2 "expression 'vlan 100'.*not allowed" \
    ip netns exec "$nsa" "$agent" -i va "${common[@]}" vlan 100
expect_error "bad endpoint transport" 11 "collector udp://x:1: not a tcp://, ipc:// or nats:// endpoint" \
    ip netns exec "$nsa" "$agent" -i va --role client --sensor-id e --collector udp://x:1
expect_error "malformed endpoint" 11 "collector tcp://nohostport: malformed endpoint" \
    ip netns exec "$nsa" "$agent" -i va --role client --sensor-id e --collector tcp://nohostport
expect_error "interface down" 12 "interface vdown: interface is down" \
    sh -c "ip -n $nsa link add vdown type veth peer name vdown2 &&
           timeout 10 ip netns exec $nsa $agent -i vdown ${common[*]}"

echo "$fail checks failed"
[ "$fail" -eq 0 ]
