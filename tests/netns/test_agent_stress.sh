#!/usr/bin/env bash
# Live agents under a SYN flood (tcpreplay from the client namespace, every SYN forwarded to
# the server, whose kernel answers RST), checked against the firewall's counters:
#
#   tests/netns/test_agent_stress.sh BUILD_DIR starve
#     the server agent starved: a 1 MiB kernel buffer and SIGSTOP bursts of 300 ms. Its
#     pcap drops are reported (agent summary, collector books) and the unmatched SYNs in the
#     drop intervals end `sensor_capture_loss`: not one `missing`, since every SYN reached it.
#   tests/netns/test_agent_stress.sh BUILD_DIR pause
#     the collector paused with SIGSTOP for 10 s under the flood. Both agents keep capturing
#     (no pcap drops), their memory stays within their bound (--queue 50: ZeroMQ's 100 + 50
#     batches), their send drops are declared (books: emitted = received + unsent + lost) and
#     end `transport_loss`: not one `missing`.
set -euo pipefail
build=$(cd "$1" && pwd)
mode=${2:-starve}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-sms$$}
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
lab_test_begin
sock=ipc://$out/collector.sock

if [ "$mode" = starve ]; then count=300000; else count=700000; fi
rate=50000
mac() { ip -n "$(lab_ns "$1")" -o link show "$2" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
/usr/bin/python3 "$here/../lib/gen_syn_pair.py" "$out/flood.pcap" "$out/unused.pcap" --count "$count" \
    --rate "$rate" --lost-every 0 --no-client-answers --src-net 198.18.1 --dst "$LAB_S4" \
    --dst-mac "$(mac fw fw-c)" --src-mac "$(mac client c-fw)" >/dev/null
rm -f "$out/unused.pcap"

"$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 1 \
    --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
server_opts=() agent_opts=()
[ "$mode" = starve ] && server_opts=(--buffer-size 1)
[ "$mode" = pause ] && agent_opts=(--queue 50)
for role in server client; do
    ifc=s-fw opts=("${agent_opts[@]}")
    [ "$role" = client ] && ifc=c-fw
    [ "$role" = server ] && opts+=("${server_opts[@]}")
    ip netns exec "$(lab_ns "$role")" setpriv --pdeathsig TERM "$build/synmatch-agent" -i "$ifc" \
        --role "$role" --sensor-id "$role" --collector "$sock" "${opts[@]}" 2>"$out/agent_$role.err" &
    echo "$!" >"$out/agent_$role.pid"
    echo "$!" >>"$LAB_RUN/pids"
done
spid=$(cat "$out/agent_server.pid")
apid=$(cat "$out/agent_client.pid")
sleep 1
fwd0=$(lab_counter fwd_syn_v4)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
rss0_s=$(rss "$spid") rss0_c=$(rss "$apid")

lab_exec client tcpreplay -q -i c-fw --pps "$rate" "$out/flood.pcap" >"$out/tcpreplay.log" 2>&1 &
rpid=$!
peak_s=0 peak_c=0
if [ "$mode" = starve ]; then
    sleep 1
    for _ in 1 2 3 4; do
        kill -STOP "$spid"; sleep 0.3; kill -CONT "$spid"; sleep 0.7
    done
else
    sleep 2
    kill -STOP "$cpid"
    for _ in $(seq 50); do
        r=$(rss "$spid"); [ "$r" -gt "$peak_s" ] && peak_s=$r
        r=$(rss "$apid"); [ "$r" -gt "$peak_c" ] && peak_c=$r
        sleep 0.2
    done
    kill -CONT "$cpid"
fi
wait "$rpid" || { echo "FAIL tcpreplay"; cat "$out/tcpreplay.log"; exit 1; }
sleep 6 # the last SYNs are decided timeout (3 s) + skew (1 s) after them
fwd=$(($(lab_counter fwd_syn_v4) - fwd0))
kill -TERM "$spid" "$apid"
wait "$spid" "$apid" || true
for _ in $(seq 300); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then echo "FAIL collector did not finish"; exit 1; fi
wait "$cpid" || { echo "FAIL collector exit status"; tail -3 "$out/collector.err"; exit 1; }
cpid=""
grep -o '"verdict":"[a-z_]*"' "$out/verdicts.jsonl" | sort | uniq -c >"$out/verdict_counts.txt" || true
grep '"event"' "$out/verdicts.jsonl" >"$out/events.jsonl" || true

/usr/bin/python3 - "$mode" "$out" "$count" "$fwd" "$rss0_s" "$rss0_c" "$peak_s" "$peak_c" <<'PY'
import json, re, sys
mode, out, count, fwd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rss0_s, rss0_c, peak_s, peak_c = map(int, sys.argv[5:9])
bad = 0
counts = {}
for line in open(out + "/verdict_counts.txt"):
    n, v = line.split()
    counts[v.split(":")[1].strip('"')] = int(n)
counts.pop("suspect", None)
books = {}
for line in open(out + "/events.jsonl"):
    e = json.loads(line)
    if e.get("books"):
        books[e["sensor"]] = e["books"]
summ = {}
for role in ("server", "client"):
    m = re.search(r"dropped by kernel (\d+)", open("%s/agent_%s.err" % (out, role)).read())
    summ[role] = int(m.group(1)) if m else None
if fwd < count:
    print("FAIL truth: %d SYNs sent, the firewall forwarded %d" % (count, fwd)); bad += 1
if counts.get("missing", 0):
    print("FAIL %d SYNs called missing; every one reached the server" % counts["missing"]); bad += 1
final = sum(counts.values())
for role, b in books.items():
    if b["emitted"] != b["before"] + b["received"] + b["unsent"] + b["lost"]:
        print("FAIL books of", role, "do not balance", b); bad += 1
if books.get("client") and final != books["client"]["received"]:
    print("FAIL %d client SYN records received, %d final verdicts" % (books["client"]["received"], final)); bad += 1
if mode == "starve":
    if not summ["server"]:
        print("FAIL the starved server agent reports no pcap drops:", summ); bad += 1
    if counts.get("sensor_capture_loss", 0) == 0:
        print("FAIL pcap drops but no sensor_capture_loss verdict"); bad += 1
else:
    if summ["server"] or summ["client"]:
        print("FAIL pcap drops while the collector was paused:", summ); bad += 1
    if not any(b["unsent"] for b in books.values()):
        print("FAIL a 10 s pause and no send drop declared"); bad += 1
    if counts.get("transport_loss", 0) == 0:
        print("FAIL send drops but no transport_loss verdict"); bad += 1
    bound = 48 * 1024  # KiB: 150 batches of up to ~215 KB, plus slack
    for role, r0, pk in (("server", rss0_s, peak_s), ("client", rss0_c, peak_c)):
        print("     %s agent RSS %d KiB before, peak %d KiB during the pause" % (role, r0, pk))
        if pk - r0 > bound:
            print("FAIL %s agent grew %d KiB during the pause (bound %d)" % (role, pk - r0, bound)); bad += 1
print("     books:", books)
print("%s %s: %d SYNs at %d/s, forwarded %d; pcap drops %s; final verdicts %s; %d problems"
      % ("ok  " if not bad else "FAIL", mode, count, 50000, fwd, summ, counts, bad))
sys.exit(1 if bad else 0)
PY
