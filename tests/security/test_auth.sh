#!/usr/bin/env bash
# Untrusted peers against a collector with keys, while two legitimate agents replay the
# committed real pair: a raw TCP client sending random bytes, a ZeroMQ NULL-mechanism peer, a
# CURVE peer with an unknown key, a CURVE peer with the wrong server key, and an allowed agent
# sending batches under another sensor's id. Zero records accepted from any of them, each
# refusal counted, and the legitimate sensors' verdicts exactly as offline.
#   tests/security/test_auth.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
cd "$tmp"
for k in collector client server stranger; do "$build/synmatch" keygen "$k" >/dev/null; done
{ echo "# sensor-id public-key"; echo "client $(cat client.pub)"; echo "server $(cat server.pub)"; } >allow
"$build/tests/sm_wire_seeds" "$data/server.pcap" seeds >/dev/null 2>&1 || { mkdir -p seeds; "$build/tests/sm_wire_seeds" "$data/server.pcap" seeds >/dev/null; }
port=$((20000 + RANDOM % 20000))
ep=tcp://127.0.0.1:$port
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"

"$build/synmatch-collector" --listen "$ep" --key collector.key --allow allow --exit-when-done \
    --stats 0 --output live.jsonl 2>collector.err &
cpid=$!
sleep 0.3
# The legitimate pair, replayed at its own pace (~10 s) so the attacks overlap it.
"$build/synmatch-agent" -r "$data/server.pcap" --role server --sensor-id server "${serve[@]}" \
    --key server.key --server-key collector.pub --collector "$ep" --realtime 2>server.err &
spid=$!
"$build/synmatch-agent" -r "$data/client.pcap" --role client --sensor-id client \
    --key client.key --server-key collector.pub --collector "$ep" --realtime 2>client.err &
apid=$!
# Attacks, all while the replay runs.
/usr/bin/python3 - "$port" <<'PY' &
import os, socket, sys, time
for _ in range(20):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
        s.sendall(os.urandom(4096)); time.sleep(0.05); s.close()
    except OSError:
        pass
PY
"$build/tests/sm_push" --repeat 5 "$ep" seeds/* &                       # NULL mechanism
"$build/tests/sm_push" --repeat 5 --key stranger.key --server-key collector.pub "$ep" seeds/* &
"$build/tests/sm_push" --repeat 5 --key client.key --server-key stranger.pub "$ep" seeds/* &  # wrong server key
"$build/tests/sm_push" --repeat 5 --key client.key --server-key collector.pub "$ep" seeds/* &  # impostor: seeds claim "seed-sensor"
wait "$spid" "$apid"
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
wait "$cpid"
"$build/synmatch" compare --verdicts "$data/client.pcap" "$data/server.pcap" >offline.jsonl 2>/dev/null || true

/usr/bin/python3 - live.jsonl offline.jsonl collector.err <<'PY'
import json, re, sys
def finals(path):
    out, sensors = {}, set()
    for line in open(path):
        o = json.loads(line)
        if o.get("event") == "sensor_up":
            sensors.add(o["sensor"])
        if o.get("verdict") and o["verdict"] != "suspect":
            out[o["seq"]] = (o["verdict"], o["attempts"], o.get("answer"))
    return out, sensors
live, sensors = finals(sys.argv[1])
off, _ = finals(sys.argv[2])
err = open(sys.argv[3]).read()
def num(pat):
    m = re.search(pat, err)
    return int(m.group(1)) if m else -1
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL ") + msg)
    bad += not cond
check(live == off, "legitimate sensors: %d ISNs, verdicts as offline" % len(off))
check(sensors == {"client", "server"}, "only the two allowed sensors were heard: %s" % sorted(sensors))
check(num(r"denied (\d+)") >= 1, "unknown key refused by the allow-list (denied %d)" % num(r"denied (\d+)"))
check(num(r"another sensor's id (\d+)") >= 1, "impostor batches rejected (%d)" % num(r"another sensor's id (\d+)"))
failed = num(r"protocol (\d+)") + num(r"auth (\d+)") + num(r"other (\d+)")
check(failed >= 3, "failed handshakes counted: %d (random bytes, NULL peer, wrong server key)" % failed)
check(num(r"allowed (\d+)") >= 2, "the legitimate agents passed the allow-list")
sys.exit(1 if bad else 0)
PY
