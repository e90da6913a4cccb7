#!/usr/bin/env bash
# A SYN proxy in front of the server: nftables `synproxy` on the lab's firewall answers every
# IPv4 SYN to the proxied ports with its own SYN cookie, and opens the connection to the
# server (with the client's ISN) only after the client's ACK. Real connections, while a SYN
# flood from spoofed sources hits the proxy from the "other" namespace. Offline (compare) and
# live (the captures replayed through two agents and a collector) every connection must get:
#   proxied port, server listening     matched, proxied, matched by ISN, the proxy's and the
#                                      server's timings, no reply_delay
#   proxied port, nothing listens      refused, proxied
#   proxied port, server host drops    unanswered, proxied
#   proxied port, the proxy's SYN to   answered_by_middlebox (the server never saw it), not
#     the server dropped (fw output)   proxied
#   not proxied (IPv6), listening      matched, not proxied
#   dropped by the firewall            missing
# and the flood must change none of it: none of its SYNs reaches the server.
#   tests/netns/test_synproxy.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
# shellcheck source=../lib/replay.sh
. "$root/tests/lib/replay.sh"
lab_test_begin

P_OK=$LAB_PORT_OK P_REF=$LAB_PORT_REFUSED P_HOST=$LAB_PORT_HOSTDROP P_DROP=$LAB_PORT_DROP
P_PXDROP=8089 # proxied; the proxy's own SYN towards the server is dropped (fw output chain)
PROXIED="$P_OK, $P_REF, $P_HOST, $P_PXDROP"
# The proxy (IPv4 only: this kernel's synproxy does not answer forwarded IPv6 SYNs) ahead of
# the lab's own rules (priority -1). SYNs to the proxied ports are not tracked; the proxy
# takes them, and the client's ACK, itself.
lab_exec fw nft -f - <<EOF || { echo "FAIL the kernel has no nftables synproxy (CONFIG_NFT_SYNPROXY)"; exit 1; }
table ip synmatch_proxy {
    chain pre {
        type filter hook prerouting priority raw; policy accept;
        iifname { "fw-c", "fw-o" } tcp dport { $PROXIED } tcp flags & (syn | ack) == syn notrack
    }
    chain forward {
        type filter hook forward priority -1; policy accept;
        tcp dport { $PROXIED } ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
        tcp dport { $PROXIED } ct state invalid drop
    }
    chain output {
        type filter hook output priority filter; policy accept;
        tcp dport $P_PXDROP tcp flags & (syn | ack) == syn counter drop
    }
}
EOF
lab_exec fw sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
[ -r /proc/net/stat/synproxy ] || { echo "FAIL no /proc/net/stat/synproxy"; exit 1; }
synproxy_syns() { # SYNs the proxy answered, all CPUs
    local n=0 _e syn _r
    while read -r _e syn _r; do n=$((n + 16#$syn)); done < <(lab_exec fw tail -n +2 /proc/net/stat/synproxy)
    echo "$n"
}
syns0=$(synproxy_syns)

cat >"$out/flood.py" <<'PY'
# SYNs from spoofed sources in 198.18.3.0/24 (the other namespace's link) to the server's
# proxied port, 100 every 5 ms, until killed; prints how many were sent.
import random, signal, socket, struct, sys, time
dst, dport = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rnd = random.Random(7)
sent = 0
def done(*_):
    print(sent, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF
d = socket.inet_aton(dst)
while True:
    for _ in range(100):
        src = socket.inet_aton("198.18.3.%d" % rnd.randint(10, 250))
        tcp = struct.pack("!HHIIBBHHH", rnd.randint(1024, 65535), dport, rnd.getrandbits(32), 0,
                          5 << 4, 0x02, 65535, 0, 0)
        c = csum(src + d + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, src, d)
        s.sendto(ip + tcp, (dst, 0))
        sent += 1
    if sent == 1000:
        print("flooding", file=sys.stderr, flush=True)
    time.sleep(0.005)
PY

cat >"$out/client.py" <<'PY'
# One line per connection: kind family sport result. Each binds its own source port.
import socket, sys, threading, time
s4, s6 = sys.argv[1], sys.argv[2]
p_ok, p_ref, p_host, p_pxdrop, p_drop = (int(x) for x in sys.argv[3:8])
flood_ready = sys.argv[8]
out, lock, sport = [], threading.Lock(), [42000]
def conn(kind, dst, port, hold=0.0):
    with lock:
        sport[0] += 1
        sp = sport[0]
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sp))
    s.settimeout(12)
    try:
        s.connect((dst, port))
        if hold:
            time.sleep(hold)  # the proxy's window is 0 until the server answers: nothing sent
            res = "connected"
        else:
            s.sendall(b"%s\n" % kind.encode())
            data = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            res = "ok" if data.startswith(b"reply ") else "error:badreply"
    except OSError as e:
        res = "error:%s" % type(e).__name__
    finally:
        s.close()
    with lock:
        out.append("%s\t%s\t%d\t%s" % (kind, "ipv6" if fam == socket.AF_INET6 else "ipv4", sp, res))
conn("head", s6, p_ok)
time.sleep(1.5)
deadline = time.time() + 10  # the flood is running before the connections start
while time.time() < deadline:
    try:
        if "flooding" in open(flood_ready).read():
            break
    except OSError:
        pass
    time.sleep(0.05)
else:
    sys.exit("the flood did not start")
threads = [threading.Thread(target=conn, args=("drop", d, p_drop)) for d in (s4, s6)]
threads += [threading.Thread(target=conn, args=(k, s4, p, 0.3)) for k, p in
            (("hostdrop", p_host), ("hostdrop", p_host), ("pxdrop", p_pxdrop), ("pxdrop", p_pxdrop))]
for t in threads:
    t.start()
for _ in range(10):
    conn("proxied", s4, p_ok)
for _ in range(3):
    conn("direct", s6, p_ok)
for _ in range(2):
    conn("refused", s4, p_ref)
for t in threads:
    t.join()
time.sleep(1.5)  # past the last dropped SYN's timeout and skew
conn("tail", s6, p_ok)
print("\n".join(out))
PY

lab_capture_start "$out" 2>/dev/null
(_lab_bg ip netns exec "$LAB_NS_O" python3 "$out/flood.py" "$LAB_S4" "$P_OK") \
    >"$out/flood.count" 2>"$out/flood.err" &
flood=$!
timeout 60 ip netns exec "$LAB_NS_C" python3 "$out/client.py" "$LAB_S4" "$LAB_S6" \
    "$P_OK" "$P_REF" "$P_HOST" "$P_PXDROP" "$P_DROP" "$out/flood.err" >"$out/traffic.tsv" || {
    echo "FAIL client traffic"; cat "$out/flood.err"; exit 1; }
kill -TERM "$flood"
wait "$flood" || true
lab_capture_stop >/dev/null
flooded=$(cat "$out/flood.count")
answered=$(($(synproxy_syns) - syns0))

fail=0
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
check "the flood ran through the proxy ($flooded SYNs sent, the proxy answered $answered SYNs)" \
    test "$flooded" -ge 1000 -a "$answered" -ge "$flooded"
lab_pcap_syns "$out/server.pcap" | awk -F'\t' '$3 ~ /^198\.18\.3\./' >"$out/flood_at_server.txt"
check "none of the flood reached the server" test ! -s "$out/flood_at_server.txt"

"$build/synmatch" compare --verdicts "$out/client.pcap" "$out/server.pcap" \
    >"$out/offline.jsonl" 2>"$out/compare.err" && rc=0 || rc=$?
check "compare exits 1 (failures found)" test "$rc" -eq 1
sm_replay "$build" "$out" "$out/client.pcap" "$out/server.pcap" "$out/live.jsonl" \
    --serve "$LAB_S4" --serve "$LAB_S6" || fail=$((fail + 1))

verify() { # NAME VERDICTS.jsonl
    /usr/bin/python3 - "$out/traffic.tsv" "$2" "$P_DROP" <<'PY'
import json, sys
want = dict(head=("matched", False), direct=("matched", False), tail=("matched", False),
            proxied=("matched", True), refused=("refused", True), hostdrop=("unanswered", True),
            pxdrop=("answered_by_middlebox", False), drop=("missing", False))
conns = {}
for line in open(sys.argv[1]):
    if line.strip():
        kind, fam, sport, res = line.rstrip("\n").split("\t")
        conns[int(sport)] = (kind, fam, res)
got, bad = {}, 0
for line in open(sys.argv[2]):
    v = json.loads(line)
    if "verdict" not in v or v["verdict"] == "suspect":
        continue
    got.setdefault(v["client"]["sport"], []).append(v)
for sport, (kind, fam, res) in sorted(conns.items()):
    vs = got.pop(sport, [])
    if len(vs) != 1:
        print("  %s %d: %d final verdicts" % (kind, sport, len(vs))); bad += 1; continue
    v, (verdict, proxied) = vs[0], want[kind]
    if v["verdict"] != verdict or v.get("proxied", False) != proxied:
        print("  %s %d (%s): %s proxied=%s, want %s proxied=%s" % (kind, sport, res, v["verdict"],
              v.get("proxied", False), verdict, proxied)); bad += 1; continue
    if proxied:
        if v.get("match") != "isn" or v.get("server_seq") != v["seq"] or v["proxy_rtt"] <= 0:
            print("  %s %d: match %s server_seq %s proxy_rtt %s" % (kind, sport, v.get("match"),
                  v.get("server_seq"), v.get("proxy_rtt"))); bad += 1
        if "reply_delay" in v or ("server_answer_delay" in v) != (v["answer"] != "none"):
            print("  %s %d: timings %s" % (kind, sport, v)); bad += 1
    if kind == "pxdrop" and (v.get("server") is not None or "server_saw_syn" in v):
        print("  %s %d: the server never saw it: %s" % (kind, sport, v)); bad += 1
if got:
    print("  verdicts for connections the client did not make:", sorted(got)); bad += 1
print("  %d connections, %d problems" % (len(conns), bad))
sys.exit(1 if bad else 0)
PY
}
check "offline verdicts" verify offline "$out/offline.jsonl"
check "live verdicts" verify live "$out/live.jsonl"
if [ "$fail" -ne 0 ]; then
    echo "--- traffic"; cat "$out/traffic.tsv"
    echo "--- compare stderr"; cat "$out/compare.err"
fi
echo "$fail checks failed"
[ "$fail" -eq 0 ]
