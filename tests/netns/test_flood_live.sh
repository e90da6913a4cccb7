#!/usr/bin/env bash
# Service health in the lab, live: a client (tcp_syn_retries=1) keeps 20 connections a second
# going to each of two services on the server (198.18.2.2:8080 and :8087), agents capture on
# the client's and the server's veth, the collector writes health lines every 5 s. After a
# quiet start, at T1 the firewall starts dropping every SYN of a fifth of the client's source
# ports to :8080 (nftables jhash of the port: retransmissions do not get through either) while
# tcpreplay floods :8080 from 2,500 spoofed sources (198.19.0.0/16, through the "other"
# namespace) at 3,000 SYN/s; at T2 both stop. Then:
#   - a syn_flood and a degraded event for 198.18.2.2:8080 only, each within two intervals of
#     T1, and syn_flood_end and recovered for it after T2; nothing for :8087;
#   - the flood event names its evidence: the rate, the sources, the server host's SYN cookies;
#   - the health lines count exactly the verdict lines of their intervals
#     (tests/lib/health_check.py), and about a fifth of :8080's connections were dropped;
#   - in every interval wholly inside the flood, :8080's distinct-source estimate is within
#     5 standard errors (its sources_error) of the 2,500 sources sent (the estimator's hash is
#     keyed at random per run: a bound for every line of every run).
# Every wait is bounded; on failure the events and the collector's stderr are printed.
#   tests/netns/test_flood_live.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smfl$$}
export LAB_SYN_RETRIES=1
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
command -v tcpreplay >/dev/null || { echo "FAIL tcpreplay is not installed (scripts/setup.sh)"; exit 1; }
INTERVAL=5
SOURCES=2500
PPS=3000
FLOOD_S=20
lab_test_begin
sock=ipc://$out/collector.sock
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# The spoofed sources' answers go to the "other" namespace, which forwards nothing.
ip -n "$LAB_NS_FW" route add 198.19.0.0/16 via "$LAB_O4"
# The flood: distinct SYNs (ports and ISNs random), Ethernet from o-fw to fw-o.
smac=$(ip -n "$LAB_NS_O" -br link show o-fw | awk '{print $3}')
dmac=$(ip -n "$LAB_NS_FW" -br link show fw-o | awk '{print $3}')
"$LAB_PY" - "$out/flood.pcap" "$smac" "$dmac" "$SOURCES" $((PPS * FLOOD_S)) "$LAB_S4" "$LAB_PORT_OK" <<'PY'
import random, socket, struct, sys
path, smac, dmac, nsrc, n, dst, dport = sys.argv[1:8]
nsrc, n, dport = int(nsrc), int(n), int(dport)
mac = lambda s: bytes(int(x, 16) for x in s.split(":"))
eth = mac(dmac) + mac(smac) + b"\x08\x00"
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
rnd = random.Random(12)
d = socket.inet_aton(dst)
with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        k = i % nsrc
        s = socket.inet_aton("198.19.%d.%d" % (k >> 8, k & 255))
        opts = struct.pack("!BBH", 2, 4, 1460)
        tcp = struct.pack("!HHIIBBHHH", rnd.randrange(1024, 65536), dport, rnd.getrandbits(32), 0,
                          6 << 4, 0x02, 64240, 0, 0) + opts
        tcp = tcp[:16] + struct.pack("!H", csum(s + d + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, s, d)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = eth + ip + tcp
        f.write(struct.pack("<IIII", i // 1000, (i % 1000) * 1000, len(frame), len(frame)) + frame)
PY

"$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 \
    --health-interval "$INTERVAL" --degraded-window $((2 * INTERVAL)) \
    --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
ip netns exec "$LAB_NS_S" setpriv --pdeathsig TERM "$build/synmatch-agent" -i s-fw --role server \
    --sensor-id server --collector "$sock" 2>"$out/agent_server.err" &
apid_s=$!
ip netns exec "$LAB_NS_C" setpriv --pdeathsig TERM "$build/synmatch-agent" -i c-fw --role client \
    --sensor-id client --collector "$sock" 2>"$out/agent_client.err" &
apid_c=$!
echo "$apid_s $apid_c" >>"$LAB_RUN/pids"
sleep 1

# Steady connections, 20 a second to each service, until told to stop; one line each:
# start_time service sport result
cat >"$out/steady.py" <<'PY'
import os, socket, sys, threading, time
dst, ports, stop, rate = sys.argv[1], [int(p) for p in sys.argv[2].split(",")], sys.argv[3], float(sys.argv[4])
lock, out = threading.Lock(), []
def one(port, t0):
    s = socket.socket()
    res, sport = "ok", 0
    try:
        s.settimeout(8)
        s.bind(("0.0.0.0", 0))
        sport = s.getsockname()[1]
        s.connect((dst, port))
        s.sendall(b"steady\n")
        while s.recv(4096):
            pass
    except socket.timeout:
        res = "timeout"
    except OSError as e:
        res = "error:%s" % e.errno
    finally:
        s.close()
    with lock:
        out.append("%.6f\t%d\t%d\t%s" % (t0, port, sport, res))
threads, next_t = [], time.time()
while not os.path.exists(stop):
    for p in ports:
        t = threading.Thread(target=one, args=(p, time.time()))
        t.start()
        threads.append(t)
    next_t += 1.0 / rate
    time.sleep(max(0, next_t - time.time()))
for t in threads:
    t.join(10)
sys.stdout.write("\n".join(out) + "\n")
PY
(_lab_bg ip netns exec "$LAB_NS_C" "$LAB_PY" "$out/steady.py" "$LAB_S4" "$LAB_PORT_OK,$LAB_PORT_COOKIES" \
    "$out/stop" 20) >"$out/steady.tsv" 2>"$out/steady.err" &
tpid=$!
echo "$tpid" >>"$LAB_RUN/pids"
sleep $((2 * INTERVAL + 3))

T1=$(date +%s.%N)
lab_exec fw nft add rule inet "$LAB_NFT_TABLE" forward ip saddr "$LAB_C4" tcp dport "$LAB_PORT_OK" \
    'tcp flags & (syn | ack) == syn' jhash tcp sport mod 5 seed 0x5 == 0 counter drop
timeout $((FLOOD_S + 20)) ip netns exec "$LAB_NS_O" tcpreplay -q -i o-fw --pps "$PPS" "$out/flood.pcap" \
    >"$out/tcpreplay.out" 2>&1 || bad "tcpreplay: $(tail -2 "$out/tcpreplay.out")"
T2=$(date +%s.%N)
handle=$(lab_exec fw nft -a list chain inet "$LAB_NFT_TABLE" forward | sed -n 's/.*jhash.*handle \([0-9]*\)$/\1/p')
lab_exec fw nft list chain inet "$LAB_NFT_TABLE" forward | grep -o 'jhash.*' >"$out/drop_rule.txt" || true
lab_exec fw nft delete rule inet "$LAB_NFT_TABLE" forward handle "$handle"
echo "     flood and drops from $T1 to $T2 ($(grep -o 'packets [0-9]*' "$out/drop_rule.txt" | head -1) dropped)"

# Recovery: the alerts end within a few intervals; wait for both (bounded).
for _ in $(seq 80); do
    grep -q '"event":"recovered"' "$out/verdicts.jsonl" && grep -q '"event":"syn_flood_end"' "$out/verdicts.jsonl" && break
    sleep 0.5
done
sleep 1
touch "$out/stop"
for _ in $(seq 150); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
sleep 5 # the last groups are decided (3 s timeout and 1 s skew after their last SYN)
kill -TERM "$apid_s" "$apid_c"
wait "$apid_s" "$apid_c" || true
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then
    bad "the collector did not exit after both agents ended"
else
    wait "$cpid" && ok "collector exit 0" || bad "collector exit $?"
    cpid=""
fi

/usr/bin/python3 "$root/tests/lib/health_check.py" "$out/verdicts.jsonl" || fail=$((fail + 1))
/usr/bin/python3 - "$out/verdicts.jsonl" "$out/steady.tsv" "$T1" "$T2" "$INTERVAL" "$SOURCES" \
    "$LAB_S4:$LAB_PORT_OK" "$LAB_S4:$LAB_PORT_COOKIES" <<'PY' || fail=$((fail + 1))
import calendar, json, sys
path, steady, t1, t2, iv, nsrc, svc_a, svc_b = sys.argv[1:9]
t1, t2, iv, nsrc = float(t1), float(t2), float(iv), int(nsrc)
def secs(s):  # RFC 3339 with nanoseconds, UTC
    base, frac = s.rstrip("Z").split(".")
    return calendar.timegm(tuple(map(int, base.replace("T", "-").replace(":", "-").split("-"))) + (0, 0, 0)) + float("0." + frac)
lines = [json.loads(l) for l in open(path)]
alerts = [o for o in lines if o.get("event") in ("degraded", "recovered", "syn_flood", "syn_flood_end")]
bad = 0
def check(ok, text):
    global bad
    print(("ok   " if ok else "FAIL ") + text)
    bad += not ok
for o in alerts:
    print("     %-14s %-20s at %s (T1 %+.1f s) %s" % (o["event"], o["service"], o["at"], secs(o["at"]) - t1,
          {k: o[k] for k in ("rate", "sources", "share", "groups", "in_trouble", "suspects", "syncookies", "answered_with_cookies") if k in o}))
mine = [o for o in alerts if o["service"] == svc_a]
check(all(o["service"] == svc_a for o in alerts), "alerts for %s only (%d alerts, %d for others)" % (svc_a, len(alerts), len(alerts) - len(mine)))
slack = 1.0  # the rule and the replay start just after T1 is read
for ev in ("syn_flood", "degraded"):
    got = [o for o in mine if o["event"] == ev]
    check(len(got) == 1 and t1 <= secs(got[0]["at"]) <= t1 + 2 * iv + slack,
          "one %s within two intervals of T1 (%s)" % (ev, ["%+.1f s" % (secs(o["at"]) - t1) for o in got]))
for ev in ("syn_flood_end", "recovered"):
    got = [o for o in mine if o["event"] == ev]
    check(len(got) == 1 and secs(got[0]["at"]) > t2, "%s after T2 (%s)" % (ev, ["%+.1f s" % (secs(o["at"]) - t2) for o in got]))
fl = [o for o in mine if o["event"] == "syn_flood"]
if fl:
    f = fl[0]
    check(f["rate"] >= 1000 and abs(f["sources"] - nsrc) <= 5 * f["sources_error"] * nsrc and f.get("syncookies", 0) > 0,
          "syn_flood names its evidence: %.0f SYN/s over the floor, %d sources, %d SYN cookies (%.0f%% of the host's SYNs)" % (
              f["rate"], f["sources"], f.get("syncookies", 0), 100 * f.get("answered_with_cookies", 0)))
dg = [o for o in mine if o["event"] == "degraded"]
if dg:
    d = dg[0]
    check(d["share"] >= 0.05 and d["groups"] >= 20 and d["suspects"] > 0,
          "degraded names its evidence: %.1f%% of %d attempts in trouble, %d suspects" % (100 * d["share"], d["groups"], d["suspects"]))
# distinct sources, in the intervals wholly inside the flood (SYNs counted when let go: +1 s)
inside = [o for o in lines if o.get("event") == "health" and o["service"] == svc_a
          and secs(o["from"]) >= t1 + 1.5 and secs(o["to"]) <= t2 + 0.5]
for o in inside:
    ok = abs(o["unmonitored_sources"] - nsrc) <= 5 * o["sources_error"] * nsrc
    check(ok, "interval %s: %d sources estimated of %d sent (%d SYNs, %.0f/s)" % (
        o["from"][11:19], o["unmonitored_sources"], nsrc, o["unmonitored_syns"], o["unmonitored_rate"]))
check(len(inside) >= 2, "%d intervals wholly inside the flood" % len(inside))
# the firewall dropped about a fifth of the connections to the service
rows = [l.rstrip("\n").split("\t") for l in open(steady) if l.strip()]
during = [r for r in rows if t1 + 0.5 <= float(r[0]) <= t2 - 4 and r[1] == svc_a.split(":")[1]]
lost = sum(r[3] == "timeout" for r in during)
check(during and 0.1 <= lost / len(during) <= 0.3, "%d of %d connections to %s timed out during the drops" % (lost, len(during), svc_a))
other = [r for r in rows if r[1] == svc_b.split(":")[1]]
check(other and sum(r[3] != "ok" for r in other) == 0, "all %d connections to %s went through" % (len(other), svc_b))
sys.exit(1 if bad else 0)
PY
[ "$fail" = 0 ] || { echo "--- collector"; tail -5 "$out/collector.err"; }
[ "$fail" = 0 ] && echo PASS || { echo "$fail failure(s)"; exit 1; }
