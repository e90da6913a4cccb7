#!/usr/bin/env bash
# The collector killed with SIGKILL for 5 s while two agents replay captures at 50,000 SYN/s
# (`synmatch-agent -r --realtime`), then restarted on the same endpoint:
#   - zero `missing` for an ISN the server captured, in either collector's output;
#   - the restarted collector joins the agents' epochs late: it says what it cannot know
#     (transport_loss for SYNs before its first server batch) and its books balance with
#     the records sent before it counted as `before`;
#   - every client SYN it received ends in exactly one final verdict.
# The captures are generated (one SYN per ISN; the server sees 99% of them, with a SYN/ACK).
#   tests/cli/test_collector_restart.sh BUILD_DIR [SECONDS] [SYN_PER_S]
set -euo pipefail
build=$(cd "$1" && pwd)
secs=${2:-14}
rate=${3:-50000}
tmp=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "keeping $tmp"
trap 'kill -9 $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

/usr/bin/python3 - "$tmp/client.pcap" "$tmp/server.pcap" "$((secs * rate))" "$rate" <<'PY'
import struct, sys
cpath, spath, n, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
T0 = 1767225600 * 10**9  # 2026-01-01T00:00:00Z
HDR = struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 262144, 1)
ETH = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def frame(ts, src, dst, sport, dport, seq, ack, flags):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, 20) + tcp)) + tcp[18:]
    pkt = ETH + ip + tcp
    return struct.pack("<IIII", ts // 10**9, ts % 10**9, len(pkt), len(pkt)) + pkt
server = bytes([198, 19, 0, 10])
with open(cpath, "wb") as c, open(spath, "wb") as s:
    c.write(HDR); s.write(HDR)
    for i in range(n):
        t = T0 + i * 10**9 // rate
        src = bytes([198, 18, (i >> 8) & 0xff, i & 0xff])
        sport = 1024 + (i * 7) % 60000
        isn = (i * 2654435761 + 12345) & 0xffffffff   # odd multiplier: unique per i
        c.write(frame(t, src, server, sport, 443, isn, 0, 0x02))
        if i % 100 != 37:                              # 1% never reach the server
            s.write(frame(t + 1000000, src, server, sport, 443, isn, 0, 0x02))
            s.write(frame(t + 1050000, server, src, 443, sport, 0x5eed, isn + 1, 0x12))
PY

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ep=tcp://127.0.0.1:$port
collector() { # N [more options]
    local n=$1
    shift
    "$build/synmatch-collector" --listen "$ep" --stats 0 --output "$tmp/verdicts$n.jsonl" "$@" \
        2>"$tmp/collector$n.err" &
    cpid=$!
    for _ in $(seq 100); do grep -q "listening on" "$tmp/collector$n.err" && break; sleep 0.05; done
}
collector 1
"$build/synmatch-agent" -r "$tmp/server.pcap" --role server --sensor-id server --serve 198.19.0.10 \
    --realtime --collector "$ep" --linger-ms 10000 2>"$tmp/agent_server.err" &
spid=$!
"$build/synmatch-agent" -r "$tmp/client.pcap" --role client --sensor-id client \
    --realtime --collector "$ep" --linger-ms 10000 2>"$tmp/agent_client.err" &
apid=$!
sleep 6
kill -KILL "$cpid"
wait "$cpid" 2>/dev/null || true
sleep 5
collector 2 --exit-when-done
wait "$spid" "$apid"
for _ in $(seq 200); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then echo "FAIL restarted collector did not finish"; exit 1; fi
wait "$cpid" || { echo "FAIL restarted collector exit status"; tail -5 "$tmp/collector2.err"; exit 1; }

/usr/bin/python3 - "$tmp/verdicts1.jsonl" "$tmp/verdicts2.jsonl" "$((secs * rate))" "$rate" <<'PY'
import json, sys
n, rate = int(sys.argv[3]), int(sys.argv[4])
lost = {(i * 2654435761 + 12345) & 0xffffffff for i in range(37, n, 100)}
bad = 0
def read(path):
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except ValueError:   # the killed collector's last line may be cut
            pass
    return out
kinds = []
for k, path in ((1, sys.argv[1]), (2, sys.argv[2])):
    final, count = {}, {}
    books = {}
    for o in read(path):
        if "event" in o:
            if o["event"] == "sensor_end":
                books[o["sensor"]] = o["books"]
            continue
        if o["verdict"] == "suspect":
            continue
        if o["seq"] in final:
            print("FAIL collector %d: two final verdicts for ISN %d" % (k, o["seq"])); bad += 1
        final[o["seq"]] = o["verdict"]
        count[o["verdict"]] = count.get(o["verdict"], 0) + 1
        if o["verdict"] == "missing" and o["seq"] not in lost:
            print("FAIL collector %d: missing for ISN %d, which the server captured" % (k, o["seq"])); bad += 1
        if o["verdict"] == "matched" and o["seq"] in lost:
            print("FAIL collector %d: matched for ISN %d, which never reached the server" % (k, o["seq"])); bad += 1
    kinds.append(count)
    if k == 2:
        for sensor in ("client", "server"):
            b = books.get(sensor)
            if b is None:
                print("FAIL collector 2: no sensor_end for", sensor); bad += 1; continue
            if b["before"] == 0:
                print("FAIL collector 2: joined", sensor, "late but counts nothing before", b); bad += 1
            if b["emitted"] != b["before"] + b["received"] + b["unsent"] + b["lost"]:
                print("FAIL collector 2: books of", sensor, "do not balance", b); bad += 1
        if books.get("client") and books["client"]["received"] != len(final):
            print("FAIL collector 2: %d client SYNs received, %d final verdicts"
                  % (books["client"]["received"], len(final))); bad += 1
        if count.get("missing", 0) == 0:
            print("FAIL collector 2: not one true missing SYN found"); bad += 1
        print("collector 2 books:", books)
print("%s %d SYNs at %d/s; before the kill %s; after the restart %s; %d problems"
      % ("ok  " if not bad else "FAIL", n, rate, kinds[0], kinds[1], bad))
sys.exit(1 if bad else 0)
PY
