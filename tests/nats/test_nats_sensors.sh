#!/usr/bin/env bash
# Several sensors of each role over JetStream, and one server view going dark: three client
# sensors (agents on the client's veth, each narrowed to its own services by a capture
# expression), two server sensors (the server host, serving 198.18.2.2, and the other host,
# serving 198.18.3.2), a nats-server in a namespace of its own, one collector. Real
# connections in three phases: all agents up; the other host's agent SIGKILLed; started
# again. While it is silent only what it serves becomes sensor_down: connections to the
# server host keep their verdicts (matched, and missing for the port the firewall drops).
#   tests/nats/test_nats_sensors.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-sms$$}
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
# shellcheck source=../lib/nats.sh
. "$root/tests/lib/nats.sh"
out=$(mktemp -d)
cleanup() {
    set +e
    kill $(jobs -p) 2>/dev/null
    nats_cluster_down
    nats_lab_unlink
    lab_down
    [ -n "${KEEP:-}" ] && echo "kept $out" || rm -rf "$out"
}
trap cleanup EXIT
command -v nats-server >/dev/null || { echo "FAIL nats-server not installed (scripts/setup.sh)"; exit 1; }
LAB_NO_TRAP=1 lab_up 2>/dev/null
nats_lab_link
nats_cluster_up "$out/nats" 1 || exit 1
url_local=$NATS_URL
ip netns exec "$NATS_NS" "$build/synmatch-collector" --listen "$url_local" --nats-setup \
    --partitions 8 2>"$out/setup.err" || { cat "$out/setup.err"; exit 1; }

# agent NATS_ADDR NS IFACE ROLE ID [EXPRESSION]: a live agent reaching NATS at NATS_ADDR; its
# pid in $last
agent() {
    local url=${url_local//127.0.0.1/$1}
    ip netns exec "$(lab_ns "$2")" setpriv --pdeathsig TERM "$build/synmatch-agent" -i "$3" \
        --role "$4" --sensor-id "$5" --partitions 8 --collector "$url" "${@:6}" \
        2>>"$out/agent_$5.err" &
    last=$!
}
ip netns exec "$NATS_NS" "$build/synmatch-collector" --listen "$url_local" --exit-when-done \
    --stats 0 --sensor-timeout 1 --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
agent "$NATS_ADDR_S" server s-fw server server; srv=$last
agent "$NATS_ADDR_O" other o-fw server other; oth=$last
agent "$NATS_ADDR_C" client c-fw client client-a "tcp port 8080"; ca=$last
agent "$NATS_ADDR_C" client c-fw client client-b "tcp port 8081"; cb=$last
agent "$NATS_ADDR_C" client c-fw client client-c "tcp port 9090"; cc=$last
sleep 2

connect() { # PHASE DST PORT N SPORT: lab_connect, into conns.txt
    lab_connect "$@" >>"$out/conns.txt"
}
phase() { # NAME BASE_SPORT
    connect "$1" "$LAB_S4" 8080 3 "$2" &
    local a=$!
    connect "$1" "$LAB_S4" 8081 2 "$(($2 + 100))" &
    local b=$!
    connect "$1" "$LAB_O4" 9090 3 "$(($2 + 200))"
    wait "$a" "$b"
}
phase before 21000
sleep 0.5 # a heartbeat carries the last records
kill -KILL "$oth"
sleep 2 # the collector notices the silence (1 s)
phase during 22000
sleep 1
agent "$NATS_ADDR_O" other o-fw server other; oth=$last
sleep 2
phase after 23000
sleep 8 # the last dropped SYNs decided (backoff 1 s: quiet 3 s, + skew)
kill -TERM "$srv" "$oth" "$ca" "$cb" "$cc"
wait "$srv" "$oth" "$ca" "$cb" "$cc" 2>/dev/null || true
for _ in $(seq 200); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$cpid" 2>/dev/null; then echo "FAIL collector still running"; tail -5 "$out/collector.err"; exit 1; fi

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
want = {"before": {8080: "matched", 8081: "missing", 9090: "matched"},
        "during": {8080: "matched", 8081: "missing", 9090: "sensor_down"},
        "after": {8080: "matched", 8081: "missing", 9090: "matched"}}
for sport, ph in sorted(phase_of.items()):
    vs = final.get(sport, [])
    if len(vs) != 1:
        print("FAIL", ph, "sport", sport, "has", len(vs), "final verdicts:", [v["verdict"] for v in vs])
        bad += 1
        continue
    v = vs[0]
    w = want[ph][v["client"]["dport"]]
    if v["verdict"] != w:
        print("FAIL", ph, v["client"]["dport"], "sport", sport, "expected", w, "got", v["verdict"], v.get("reason"))
        bad += 1
ups = sorted({s for e, s in events if e == "sensor_up"})
if ups != ["client-a", "client-b", "client-c", "other", "server"]:
    print("FAIL sensors heard:", ups); bad += 1
if ("sensor_down", "other") not in events or ("sensor_down", "server") in events:
    print("FAIL sensor_down events:", [s for e, s in events if e == "sensor_down"]); bad += 1
print("%s %d connections in 3 phases, 5 sensors, one server view dark for a while; %d problems"
      % ("ok  " if not bad else "FAIL", len(phase_of), bad))
sys.exit(1 if bad else 0)
PY
