#!/usr/bin/env bash
# synmatch top under tmux against a live lab: client, firewall and server namespaces, the
# firewall dropping every SYN to one port (8081), agents capturing on both veths, a collector
# publishing its alerts, real connections (lab_traffic: IPv4 and IPv6, the dropped port, a
# closed port, healthy ones). Then the captured pane must show the dropped service first with
# the failure count the collector wrote for it (and every verdict the collector wrote
# counted), both sensors up; after a resize the view fits; q ends top with status 0 and the
# terminal's modes as they were. Every wait is bounded and prints the pane when it fails.
#   tests/netns/test_top_live.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smtop$$}
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
out=$(mktemp -d)
chmod 711 "$out" # the agents run as nobody once capturing: they must reach the socket
sock=ipc://$out/collector.sock
alerts=$out/alerts.sock
tm=(tmux -S "$out/tmux.sock")
cleanup() {
    "${tm[@]}" kill-server 2>/dev/null || true
    [ -n "${apid_s:-}" ] && kill "$apid_s" "$apid_c" 2>/dev/null
    [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null
    lab_down
    [ -n "${KEEP:-}" ] || rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
pane() { "${tm[@]}" capture-pane -p -t top; }
command -v tmux >/dev/null || { echo "FAIL tmux is not installed (scripts/setup.sh)"; exit 1; }

LAB_NO_TRAP=1 lab_up
"$build/synmatch-collector" --listen "$sock" --alerts-pub "ipc://$alerts" --stats 0 \
    --output "$out/verdicts.jsonl" 2>"$out/collector.err" &
cpid=$!
for _ in $(seq 100); do [ -S "$alerts" ] && break; sleep 0.1; done
"${tm[@]}" new-session -d -s top -x 160 -y 50 \
    "stty -g >$out/stty.before; LANG=C.UTF-8 $build/synmatch top ipc://$alerts 2>$out/top.err; echo \$? >$out/rc; stty -g >$out/stty.after; sleep 120"
# top subscribes before any sensor speaks (a PUB socket keeps nothing for late joiners): its
# connection shows on the socket, and its subscription follows within milliseconds.
for _ in $(seq 100); do ss -xH | grep -q "$alerts" && break; sleep 0.1; done
ss -xH | grep -q "$alerts" || { bad "top never connected to the alerts socket"; cat "$out/top.err"; exit 1; }
sleep 1
ip netns exec "$LAB_NS_S" setpriv --pdeathsig TERM "$build/synmatch-agent" -i s-fw --role server \
    --sensor-id server --collector "$sock" 2>"$out/agent_server.err" &
apid_s=$!
ip netns exec "$LAB_NS_C" setpriv --pdeathsig TERM "$build/synmatch-agent" -i c-fw --role client \
    --sensor-id client --collector "$sock" 2>"$out/agent_client.err" &
apid_c=$!
echo "$apid_s $apid_c" >>"$LAB_RUN/pids"
sleep 1
lab_traffic "$out/traffic.tsv"
# The last dropped SYN's group is decided 3 x 2 s (backoff) + 1 s (skew) after it.
sleep 6
# The verdicts have stopped coming (agents still up): what the collector wrote is the truth.
prev=-1
for _ in $(seq 50); do
    n=$(wc -l <"$out/verdicts.jsonl")
    [ "$n" = "$prev" ] && break
    prev=$n
    sleep 0.5
done
read -r want_name want_fail want_verdicts < <(/usr/bin/python3 - "$out/verdicts.jsonl" <<'PY'
import json, sys
failing = {"missing", "reply_lost", "unanswered", "answered_by_middlebox"}
fails, verdicts = {}, 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    v = o.get("verdict")
    if v is None or v == "suspect":
        continue
    verdicts += 1
    c = o["client"]
    name = ("[%s]:%d" if ":" in c["dst"] else "%s:%d") % (c["dst"], c["dport"])
    fails[name] = fails.get(name, 0) + (v in failing)
best = sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[0]
print(best[0], best[1], verdicts)
PY
)
echo "     the collector wrote $want_verdicts final verdicts; most failures: $want_name ($want_fail)"
case "$want_name" in *:8081) ok "the collector's most failing service is the dropped port" ;; *) bad "most failures at $want_name" ;; esac
# first_is NAME FAILURES: the pane's first service row (its columns: service, verdicts, /s,
# failures, ...)
first_is() { pane | grep -A1 '^SERVICE ' | tail -1 | awk -v n="$1" -v f="$2" '$1 == n && (f == "" || $4 == f) {ok = 1} END {exit !ok}'; }
for _ in $(seq 30); do first_is "$want_name" "$want_fail" && break; sleep 0.2; done
got=$(pane | grep -A1 '^SERVICE ' | tail -1)
first_is "$want_name" "$want_fail" &&
    ok "the pane's first service: $want_name with $want_fail failures" ||
    { bad "first service row: '$got'"; pane | sed 's/^/    | /'; }
pane | grep -Eq "verdicts $want_verdicts " && ok "every final verdict counted ($want_verdicts)" ||
    { bad "verdicts counted: $(pane | head -1)"; }
pane | grep -Eq '^server +server +up ' && pane | grep -Eq '^client +client +up ' &&
    ok "both sensors up" || { bad "sensors"; pane | sed 's/^/    | /'; }
pane | grep -q "MISSING .*:8081" && ok "the latest alerts show MISSING SYNs to port 8081" || bad "latest alerts"

"${tm[@]}" resize-window -t top -x 90 -y 24
sleep 1
w=$(pane | awk '{ if (length($0) > m) m = length($0) } END { print m }')
h=$(pane | wc -l)
[ "$w" -le 90 ] && [ "$h" -le 24 ] && first_is "$want_name" "" && pane | grep -q '^SENSORS' &&
    ok "resized to 90x24: the view fits (widest line $w), the same service first" ||
    { bad "after the resize: $w x $h"; pane | sed 's/^/    | /'; }
"${tm[@]}" send-keys -t top q
for _ in $(seq 50); do [ -s "$out/stty.after" ] && break; sleep 0.1; done
[ "$(cat "$out/rc" 2>/dev/null)" = 0 ] && ok "q: top exits 0" || bad "q: exit status '$(cat "$out/rc" 2>/dev/null)'"
cmp -s "$out/stty.before" "$out/stty.after" && ok "the terminal's modes restored" || bad "terminal modes differ after top"
kill -TERM "$apid_s" "$apid_c" 2>/dev/null || true
wait "$apid_s" "$apid_c" 2>/dev/null || true
apid_s=""
[ "$fail" = 0 ] && echo PASS || { echo "$fail failure(s)"; exit 1; }
