#!/usr/bin/env bash
# A server agent killed with SIGKILL: the collector reports the sensor down and gives no
# `missing` (and no `matched`) for client SYNs sent while it was silent, even SYNs the
# firewall dropped; restarted (a new epoch), matching resumes.
#   tests/netns/test_sensor_down.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smk$$}
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
out=$(mktemp -d)
chmod 711 "$out" # the agents run as nobody once capturing: they must reach the socket
sock=ipc://$out/collector.sock
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    lab_down
    rm -rf "$out"
}
trap cleanup EXIT
LAB_NO_TRAP=1 lab_up 2>/dev/null

agent() { # role iface -> pid on stdout is not usable from $(...); use globals
    ip netns exec "$(lab_ns "$1")" "$build/synmatch-agent" -i "$2" --role "$1" --sensor-id "$1" \
        --collector "$sock" 2>>"$out/agent_$1.err" &
}
connect() { # PHASE PORT N SPORT: lab_connect to the server, into conns.txt
    lab_connect "$1" "$LAB_S4" "$2" "$3" "$4" >>"$out/conns.txt"
}

"$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 --sensor-timeout 1 \
    --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
agent server s-fw; spid=$!
agent client c-fw; apid=$!
sleep 1
connect before 8080 3 21000
sleep 0.5 # a heartbeat carries the last records (SYNs still in a batch die with the agent)
kill -KILL "$spid"
sleep 2 # the collector notices the silence (1 s)
connect during 8080 3 22000 &
c1=$!
connect during 8081 2 22100
wait "$c1"
sleep 1
agent server s-fw; spid=$!
sleep 1.5
connect after 8080 3 23000 &
c2=$!
connect after 8081 2 23100
wait "$c2"
sleep 8 # let the last dropped SYNs be decided (backoff 1 s: quiet 3 s, + skew)
kill -TERM "$spid" "$apid"
wait "$spid" "$apid" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then echo "FAIL collector still running"; exit 1; fi

/usr/bin/python3 - "$out/conns.txt" "$out/verdicts.jsonl" <<'PY'
import json, sys
phase_of = {}
for line in open(sys.argv[1]):
    ph, sport = line.split()
    phase_of[int(sport)] = ph
final, events, bad = {}, [], 0
for line in open(sys.argv[2]):
    o = json.loads(line)
    if "event" in o:
        events.append((o["event"], o.get("sensor")))
    elif o["verdict"] != "suspect" and o["client"]["sport"] in phase_of:
        final.setdefault(o["client"]["sport"], []).append(o)
want = {"before": {8080: "matched"}, "during": {8080: "sensor_down", 8081: "sensor_down"},
        "after": {8080: "matched", 8081: "missing"}}
for sport, ph in phase_of.items():
    vs = final.get(sport, [])
    if len(vs) != 1:
        print("FAIL", ph, "port", sport, "has", len(vs), "final verdicts:")
        for v in vs:
            print("    ", json.dumps(v, sort_keys=True))
        bad += 1; continue
    v = vs[0]
    w = want[ph][v["client"]["dport"]]
    if v["verdict"] != w:
        print("FAIL", ph, v["client"]["dport"], "sport", sport, "expected", w, "got", v["verdict"], v.get("reason")); bad += 1
ev = [e for e in events if e[1] == "server"]
for need in [("sensor_up", "server"), ("sensor_down", "server")]:
    if need not in ev:
        print("FAIL event missing", need); bad += 1
if sum(1 for e in ev if e[0] == "sensor_up") != 2:
    print("FAIL expected two sensor_up for the server (two epochs)", ev); bad += 1
print("%s %d connections in 3 phases; server events %s; %d problems" % ("ok  " if not bad else "FAIL", len(phase_of), [e[0] for e in ev], bad))
sys.exit(1 if bad else 0)
PY
