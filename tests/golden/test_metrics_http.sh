#!/usr/bin/env bash
# Health lines and /metrics on a replay of the committed pair, with the metrics endpoints on
# IPv6 loopback, under hostile HTTP requests:
#   - the collector (--health-interval 1, --metrics-listen [::1]:PORT) and the client agent
#     (--metrics-listen [::1]:PORT) answer /metrics; promtool check metrics accepts both;
#   - while the replay runs at the capture's pace, the collector's endpoint gets a 1 MiB
#     header, a 100 KiB URL, a malformed request line, a binary blob, a POST with a body, an
#     unknown path, 40 connections held open at once (more than its 32) and one that never
#     finishes its request: each gets an HTTP error or is closed, a good scrape works in
#     between, and every refusal is counted (synmatch_http_requests_total);
#   - the collector kept deciding: once the replay is over and its output still, its
#     synmatch_verdicts_total equal the verdict file's counts, kind by kind, and its final
#     verdicts equal compare's on the same files (but for the few whose retries the end of
#     the capture leaves open: they end collector_stopped when it is stopped); the health
#     lines count exactly the verdict lines between them (tests/lib/health_check.py);
#   - a bad --metrics-listen is refused at start with a usage message.
#   tests/golden/test_metrics_http.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
lib=$here/../lib
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
command -v promtool >/dev/null || { echo "FAIL promtool is not installed (scripts/setup.sh: prometheus)"; exit 1; }
ip -6 addr show lo | grep -q '::1' || { echo "FAIL no IPv6 loopback address here"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])'; }
cport=$(free_port)
aport=$(free_port)
sock=ipc://$tmp/c.sock
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"

# A bad address never starts.
if "$build/synmatch-collector" --listen "$sock" --metrics-listen '[::1' 2>"$tmp/badaddr.err"; then
    bad "--metrics-listen '[::1' accepted"
else
    grep -q "metrics\|\[IPV6\]:PORT" "$tmp/badaddr.err" && ok "--metrics-listen '[::1': refused at start ($(head -1 "$tmp/badaddr.err"))" ||
        bad "bad address: $(cat "$tmp/badaddr.err")"
fi

"$build/synmatch-collector" --listen "$sock" --stats 0 --health-interval 1 \
    --metrics-listen "[::1]:$cport" --output "$tmp/live.jsonl" 2>"$tmp/collector.err" &
cpid=$!
for _ in $(seq 100); do curl -gsf "http://[::1]:$cport/metrics" -o /dev/null && break; sleep 0.05; done
"$build/synmatch-agent" -r "$data/server.pcap" --role server --sensor-id server "${serve[@]}" \
    --collector "$sock" --realtime 2>"$tmp/as.err" &
spid=$!
"$build/synmatch-agent" -r "$data/client.pcap" --role client --sensor-id client \
    --collector "$sock" --realtime --metrics-listen "[::1]:$aport" 2>"$tmp/ac.err" &
apid=$!
for _ in $(seq 100); do curl -gsf "http://[::1]:$aport/metrics" -o /dev/null && break; sleep 0.05; done
sleep 1

# The agent's exposition, over IPv6.
if curl -gsf "http://[::1]:$aport/metrics" -o "$tmp/agent.prom"; then
    grep -q '^synmatch_agent_info{sensor="client",role="client",mode="file"} 1' "$tmp/agent.prom" &&
        ok "the agent answers /metrics on [::1]:$aport" || bad "agent exposition: $(head -5 "$tmp/agent.prom")"
    promtool check metrics <"$tmp/agent.prom" >"$tmp/agent.lint" 2>&1 &&
        ok "promtool check metrics accepts the agent's exposition" ||
        { bad "promtool on the agent's exposition"; cat "$tmp/agent.lint"; }
else
    bad "no /metrics from the agent on [::1]:$aport"
fi

# Hostile requests while the replay runs (python: raw sockets, every wait bounded).
/usr/bin/python3 - "$cport" >"$tmp/hostile.txt" 2>&1 <<'PY' || fail=$((fail + 1))
import socket, sys, time
port = int(sys.argv[1])

def conn():
    s = socket.create_connection(("::1", port), timeout=5)
    s.settimeout(5)
    return s

def exchange(data, read=True):
    s = conn()
    try:
        s.sendall(data)
    except OSError:
        pass  # closed while we were still sending: a refusal too
    out = b""
    try:
        while read:
            d = s.recv(65536)
            if not d:
                break
            out += d
            if b"\r\n\r\n" in out and len(out) > 12 and not out.startswith(b"HTTP/1.1 200"):
                break
    except OSError:
        pass
    s.close()
    return out

def status(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0

def good():
    r = exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return status(r) == 200 and b"synmatch_verdicts_total" in r

bad = 0
def expect(name, resp, codes):
    global bad
    st = status(resp)
    if st in codes or (0 in codes and resp == b""):
        print("ok   %s: %s" % (name, st or "closed"))
    else:
        print("FAIL %s: got %r" % (name, resp[:80]))
        bad += 1
    if not good():
        print("FAIL a good scrape after %s" % name)
        bad += 1

expect("a 1 MiB header", exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"), {413, 414, 431, 400, 0})
expect("a 100 KiB URL", exchange(b"GET /" + b"m" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"), {414, 413, 431, 400, 0})
expect("a malformed request line", exchange(b"GARBAGE\r\n\r\n"), {400, 0})
expect("binary bytes", exchange(bytes(range(256)) * 64), {400, 0})
expect("a POST with a body", exchange(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 65536), {405})
expect("an unknown path", exchange(b"GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), {404})
expect("HTTP/0.9 garbage version", exchange(b"GET /metrics HTTP/9.9\r\n\r\n"), {505, 400, 0})
# 40 connections held open (the endpoint takes 32, 16 from one address), and one that never
# finishes its request: a good scrape still works once they are gone, and meanwhile the
# collector keeps deciding (checked by the shell afterwards).
held = []
for _ in range(40):
    try:
        s = socket.create_connection(("::1", port), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never ends its headers
        held.append(s)
    except OSError:
        pass
time.sleep(1)
for s in held:
    s.close()
time.sleep(0.5)
print("ok   40 connections held and dropped (%d accepted)" % len(held))
if not good():
    print("FAIL a good scrape after the held connections")
    bad += 1
sys.exit(1 if bad else 0)
PY
cat "$tmp/hostile.txt"
curl -gsf "http://[::1]:$cport/metrics" -o "$tmp/mid.prom" || bad "scrape after the hostile requests"
grep -Eq '^synmatch_http_requests_total\{code="refused"\} [1-9]' "$tmp/mid.prom" &&
    ok "refusals counted: $(grep 'code="refused"' "$tmp/mid.prom"), $(grep 'code="405"' "$tmp/mid.prom"), $(grep 'code="404"' "$tmp/mid.prom")" ||
    bad "refusals not counted: $(grep http_requests "$tmp/mid.prom")"

wait "$spid" "$apid" || true
# Nothing more to decide (the agents ended): the output stops growing. Then the counters the
# endpoint serves are the file's.
prev=-1
for _ in $(seq 40); do
    n=$(wc -c <"$tmp/live.jsonl")
    [ "$n" = "$prev" ] && break
    prev=$n
    sleep 0.5
done
curl -gsf "http://[::1]:$cport/metrics" -o "$tmp/final.prom" || bad "final scrape"
promtool check metrics <"$tmp/final.prom" >"$tmp/collector.lint" 2>&1 &&
    ok "promtool check metrics accepts the collector's exposition" ||
    { bad "promtool on the collector's exposition"; cat "$tmp/collector.lint"; }
/usr/bin/python3 - "$tmp/live.jsonl" "$tmp/final.prom" <<'PY' && ok "synmatch_verdicts_total equal the verdict file, kind by kind" || bad "verdict counters differ from the file"
import json, re, sys
file = {}
for o in map(json.loads, open(sys.argv[1])):
    if "verdict" in o:
        file[o["verdict"]] = file.get(o["verdict"], 0) + 1
prom = {m.group(1): int(float(m.group(2))) for m in
        re.finditer(r'^synmatch_verdicts_total\{verdict="([a-z_]+)"\} (\S+)$', open(sys.argv[2]).read(), re.M)}
diff = {k: (file.get(k, 0), prom.get(k, 0)) for k in set(file) | set(prom) if file.get(k, 0) != prom.get(k, 0)}
print("     file %s" % sorted(file.items()))
if diff:
    print("     (file, metrics) differ: %s" % diff)
sys.exit(1 if diff or not file else 0)
PY
kill -TERM "$cpid"
wait "$cpid" && ok "collector exit 0 on SIGTERM" || bad "collector exit $?"

# It kept deciding: the same verdicts as compare.
"$build/synmatch" compare --verdicts "$data/client.pcap" "$data/server.pcap" >"$tmp/offline.jsonl" 2>/dev/null || true
/usr/bin/python3 - "$tmp/live.jsonl" "$tmp/offline.jsonl" <<'PY' && ok "every final verdict equals compare's" || bad "verdicts differ from compare's"
import json, sys
def finals(p):
    return {o["seq"]: (o["verdict"], o["attempts"], o.get("reason")) for o in map(json.loads, open(p))
            if o.get("verdict") not in (None, "suspect")}
live, off = finals(sys.argv[1]), finals(sys.argv[2])
stopped = [k for k, v in live.items() if v[2] == "collector_stopped"]
same = [k for k in live if k not in stopped and live[k][:2] == off.get(k, (None, None, None))[:2]]
print("     %d final verdicts live, %d offline, %d equal, %d left open at the stop" % (
    len(live), len(off), len(same), len(stopped)))
sys.exit(0 if len(live) == len(off) and len(same) + len(stopped) == len(live) and len(stopped) < 10 else 1)
PY
/usr/bin/python3 "$lib/health_check.py" "$tmp/live.jsonl" || fail=$((fail + 1))
grep -q '"event":"health"' "$tmp/live.jsonl" && grep -q '"sensor":"server","service":"198.18.2.2:8080"' "$tmp/live.jsonl" &&
    ok "health lines name the service and its server sensor" || bad "no health line for 198.18.2.2:8080"
exit "$fail"
