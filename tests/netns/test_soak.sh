#!/usr/bin/env bash
# Soak: steady real connections (20 per second, one in ten to the port the firewall drops)
# for DURATION seconds while the collector and the two agents are killed (SIGKILL) and
# restarted at random every MIN..MAX seconds. Against tcpdump on both ends:
#   - no ISN has two final verdicts; `missing` only for ISNs the server never saw, `matched`
#     only for ISNs it saw: restarts cost verdicts (non-network ones, or none for records
#     that died with a process), never a false alert;
#   - every closed epoch's books balance (emitted = before + received + unsent + lost);
#   - each collector instance that lived 20 s or more kept its open file count (within 2) and
#     its RSS (within 4 MiB of warm-up) flat after its first 10 s, and one that lived 120 s
#     or more was no higher in the last third of its life than in the middle third (+512 KiB);
#   - most ISNs (at least half) still get a final verdict.
#   tests/netns/test_soak.sh BUILD_DIR [DURATION_S] [MIN_S] [MAX_S]    (CI: 60 10 20;
#   bench/soak.sh: 600 30 90)
set -euo pipefail
build=$(cd "$1" && pwd)
duration=${2:-60}
gap_min=${3:-10}
gap_max=${4:-20}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smk$$}
LAB_SYN_RETRIES=1
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
lab_test_begin
sock=ipc://$out/collector.sock
lab_capture_start "$out" 2>/dev/null

ncol=0
start_collector() {
    ncol=$((ncol + 1))
    "$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 \
        --output "$out/verdicts.$ncol.jsonl" 2>"$out/collector.$ncol.err" &
    cpid=$!
    echo "$cpid" >>"$LAB_RUN/pids"
}
start_agent() { # role
    local ifc=s-fw
    [ "$1" = client ] && ifc=c-fw
    ip netns exec "$(lab_ns "$1")" setpriv --pdeathsig TERM "$build/synmatch-agent" -i "$ifc" \
        --role "$1" --sensor-id "$1" --collector "$sock" --quiet 2>>"$out/agent_$1.err" &
    eval "pid_$1=$!"
    echo "$!" >>"$LAB_RUN/pids"
}
start_collector
start_agent server
start_agent client
sleep 1

lab_exec client "$LAB_PY" - "$duration" "$LAB_S4" "$LAB_PORT_OK" "$LAB_PORT_DROP" <<'PY' >"$out/traffic.txt" &
import socket, sys, threading, time
dur, dst, ok, drop = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def one(port):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)
    s.settimeout(4)
    try:
        s.connect((dst, port)); s.sendall(b"hi\n"); s.recv(100)
    except OSError:
        pass
    s.close()
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < dur:
    threading.Thread(target=one, args=(drop if n % 10 == 9 else ok,), daemon=True).start()
    n += 1
    time.sleep(max(0, t0 + n * 0.05 - time.monotonic()))
time.sleep(4)
print("connections", n)
PY
traffic=$!

# Restart something at random until the traffic ends; sample the collector meanwhile.
: >"$out/restarts.txt"
: >"$out/samples.tsv"
end=$((SECONDS + duration))
next=$((SECONDS + gap_min + RANDOM % (gap_max - gap_min + 1)))
while [ "$SECONDS" -lt "$end" ]; do
    if [ -e "/proc/$cpid/status" ]; then
        printf '%s\t%s\t%s\t%s\n' "$ncol" "$SECONDS" "$(awk '/^VmRSS/ {print $2}' "/proc/$cpid/status")" \
            "$(ls "/proc/$cpid/fd" | wc -l)" >>"$out/samples.tsv"
    fi
    if [ "$SECONDS" -ge "$next" ]; then
        case $((RANDOM % 3)) in
            0) kill -9 "$cpid"; wait "$cpid" 2>/dev/null || true; sleep 0.5; start_collector; what=collector ;;
            1) kill -9 "$pid_server"; wait "$pid_server" 2>/dev/null || true; start_agent server; what=server ;;
            2) kill -9 "$pid_client"; wait "$pid_client" 2>/dev/null || true; start_agent client; what=client ;;
        esac
        echo "$SECONDS $what" >>"$out/restarts.txt"
        next=$((SECONDS + gap_min + RANDOM % (gap_max - gap_min + 1)))
    fi
    sleep 1
done
wait "$traffic"
sleep 5 # the last SYNs are decided timeout (3 s) + skew (1 s) after them
kill -TERM "$pid_server" "$pid_client"
wait "$pid_server" "$pid_client" 2>/dev/null || true
for _ in $(seq 150); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then echo "FAIL the last collector did not finish"; exit 1; fi
wait "$cpid" || { echo "FAIL the last collector's exit status"; tail -3 "$out/collector.$ncol.err"; exit 1; }
lab_capture_stop >"$out/capture_stats.log" 2>&1 || { echo "FAIL tcpdump dropped packets"; exit 1; }
lab_pcap_syns "$out/client.pcap" >"$out/client.syns"
lab_pcap_syns "$out/server.pcap" >"$out/server.syns"

/usr/bin/python3 - "$out" "$ncol" "$LAB_S4" <<'PY'
import glob, json, sys
out, ncol, s4 = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def syns(path, to=None):
    isns = set()
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if int(f[6], 16) & 0x12 == 0x02 and (to is None or f[4] == to):
            isns.add(int(f[7]))
    return isns
client, server = syns(out + "/client.syns", s4), syns(out + "/server.syns")
bad, final, kinds, closed = 0, {}, {}, 0
for k in range(1, ncol + 1):
    for line in open("%s/verdicts.%d.jsonl" % (out, k)):
        try:
            o = json.loads(line)
        except ValueError:          # a SIGKILLed collector may leave a cut line
            continue
        if "event" in o:
            b = o.get("books")
            if b:
                closed += 1
                if b["emitted"] != b["before"] + b["received"] + b["unsent"] + b["lost"]:
                    print("FAIL books do not balance", o); bad += 1
            continue
        if o["verdict"] == "suspect" or o["seq"] not in client:
            continue
        if o["seq"] in final:
            print("FAIL ISN %d: %s in collector %d after %s" % (o["seq"], o["verdict"], k, final[o["seq"]])); bad += 1
        final[o["seq"]] = "%s (collector %d)" % (o["verdict"], k)
        kinds[o["verdict"]] = kinds.get(o["verdict"], 0) + 1
        if o["verdict"] == "missing" and o["seq"] in server:
            print("FAIL false missing: ISN %d reached the server" % o["seq"]); bad += 1
        if o["verdict"] == "matched" and o["seq"] not in server:
            print("FAIL matched: ISN %d never reached the server" % o["seq"]); bad += 1
samples = {}
for line in open(out + "/samples.tsv"):
    k, t, rss, fds = map(int, line.split())
    samples.setdefault(k, []).append((t, rss, fds))
for k, v in samples.items():
    life = v[-1][0] - v[0][0]
    if life < 20:
        continue
    late = [s for s in v if s[0] - v[0][0] >= 10]
    lo, hi = min(s[1] for s in late), max(s[1] for s in late)
    dfd = max(s[2] for s in late) - min(s[2] for s in late)
    note = ""
    if life >= 120:   # a plateau: the last third no higher than the middle third (+512 KiB)
        mid = max(s[1] for s in v if life / 3 <= s[0] - v[0][0] < 2 * life / 3)
        end = max(s[1] for s in v if s[0] - v[0][0] >= 2 * life / 3)
        note = ", middle third max %d KiB, last third max %d KiB" % (mid, end)
        if end > mid + 512:
            print("FAIL collector %d still growing: %d KiB -> %d KiB" % (k, mid, end)); bad += 1
    print("     collector %d: %d s, RSS %d..%d KiB, open files %d..%d%s" % (
        k, life, lo, hi, min(s[2] for s in late), max(s[2] for s in late), note))
    # warm-up (ZeroMQ and malloc arenas, the pool reaching its size) stays within 4 MiB
    if hi - lo > 4096 or dfd > 2:
        print("FAIL collector %d not flat: RSS moved %d KiB, open files %d" % (k, hi - lo, dfd)); bad += 1
if len(final) < len(client) / 2:
    print("FAIL only %d of %d ISNs got a final verdict" % (len(final), len(client))); bad += 1
restarts = [l.split()[1] for l in open(out + "/restarts.txt")]
print("%s %d ISNs (%d reached the server), restarts %s; %d final verdicts %s; %d closed epochs balanced; %d problems"
      % ("ok  " if not bad else "FAIL", len(client), len(client & server), restarts, len(final), kinds, closed, bad))
sys.exit(1 if bad else 0)
PY
