#!/usr/bin/env bash
# synmatch top under tmux against a fake alerts socket (sm_pub_lines): sensor events, hostile
# lines, then the lab pair's 70 verdicts repeated 3,500 times at 50,000 lines a second (a
# tenth of that under a sanitizer build). The
# pane must show: PAUSED within two seconds of 'p' in the middle of the flood (keys are read
# under load), every line counted once the flood ends (it kept up), the refused lines by
# count (2 not JSON, 1 not an object), the dropped service (port 8081, IPv4 and IPv6 tie: by name) first with its failure
# count, both sensors up; the view must fit the pane after a resize; q must end top with
# status 0 and the terminal modes as they were.
#   tests/golden/test_top.sh SYNMATCH SM_PUB_LINES
set -euo pipefail
synmatch=$1
publisher=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
tm=(tmux -S "$tmp/tmux.sock")
cleanup() {
    "${tm[@]}" kill-server 2>/dev/null || true
    [ -n "${pub_pid:-}" ] && kill "$pub_pid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
pane() { "${tm[@]}" capture-pane -p -t top; }
# wait_pane WHAT SECONDS REGEX: polls the pane (every 0.1 s) until a line matches
wait_pane() {
    local what=$1 n=$(($2 * 10)) re=$3
    for _ in $(seq "$n"); do pane | grep -Eq "$re" && { ok "$what"; return 0; }; sleep 0.1; done
    bad "$what (waited $2 s for /$re/)"
    pane | sed 's/^/    | /'
    return 1
}
command -v tmux >/dev/null || { echo "FAIL tmux is not installed (scripts/setup.sh)"; exit 1; }

repeat=3500 rate=50000
# The sanitize run (a Debug ASan build, several times slower) checks the same things on a
# flood it can take: the speed is the release build's claim, memory safety this one's.
if grep -aq __asan_init "$synmatch"; then repeat=500 rate=5000; fi
{
    echo '{"schema":2,"event":"sensor_up","time":"2026-11-26T06:56:10.000Z","sensor":"server","role":"server","epoch":1,"seq":0}'
    echo '{"schema":2,"event":"sensor_up","time":"2026-11-26T06:56:10.100Z","sensor":"client","role":"client","epoch":1,"seq":0}'
    echo 'not json at all'
    echo '[1,2,3]'
    printf '{"verdict":"missing","client":{"src":"\xff"}}\n'
    echo '{"schema":2,"verdict":"missing","seq":{"nested":[1,{"a":2}]},"client":{"src":{"x":1}}}'
    echo '{"schema":2,"event":"sensor_up","sensor":"\u001b[2J\u0007","role":"x"}'
} >"$tmp/head"
cp "$data/expected/verdicts.out" "$tmp/verdicts"
nv=$(wc -l <"$tmp/verdicts")
fails_v4=$(grep -c '"verdict":"missing".*"dst":"198.18.2.2","dport":8081' "$tmp/verdicts")

ep=ipc://$tmp/alerts.sock
"${tm[@]}" new-session -d -s top -x 160 -y 48 \
    "stty -g >$tmp/stty.before; LANG=C.UTF-8 $synmatch top $ep 2>$tmp/top.err; echo \$? >$tmp/rc; stty -g >$tmp/stty.after; sleep 60"
"$publisher" --wait 10 "$ep" "$tmp/head" >"$tmp/pub1.out" 2>&1 || { bad "top never subscribed: $(cat "$tmp/pub1.out")"; exit 1; }
"$publisher" --wait 10 --repeat "$repeat" --rate "$rate" "$ep" "$tmp/verdicts" >"$tmp/pub2.out" 2>&1 &
pub_pid=$!
sleep 1.5
"${tm[@]}" send-keys -t top p
wait_pane "p during the flood: PAUSED within two seconds" 2 'PAUSED' || true
"${tm[@]}" send-keys -t top p
wait "$pub_pid" || { bad "publisher: $(cat "$tmp/pub2.out")"; }
pub_pid=""
total=$((7 + nv * repeat))
wait_pane "every line counted after the flood ($total lines), 3 refused" 10 "lines $total refused 3 " || true
wait_pane "the dropped service first: 198.18.2.2:8081 with $((fails_v4 * repeat)) failures" 3 \
    "^198\.18\.2\.2:8081 +[0-9]+ +[0-9.]+ +$((fails_v4 * repeat)) " || true
first=$(pane | grep -A1 '^SERVICE ' | tail -1 | awk '{print $1}')
[ "$first" = "198.18.2.2:8081" ] && ok "it is the first row" || bad "first row: '$first'"
pane | grep -Eq '^server +server +up ' && pane | grep -Eq '^client +client +up ' &&
    ok "both sensors up" || { bad "sensors"; pane | sed 's/^/    | /'; }
if LC_ALL=C pane | grep -q $'[\x01-\x08\x0b-\x1f\x7f]'; then bad "a control character in the pane"; else ok "no control character in the pane"; fi

"${tm[@]}" resize-window -t top -x 72 -y 20
wait_pane "resized to 72x20: redrawn" 3 '^ synmatch top .{50,}$' || true
sleep 0.5
w=$(pane | awk '{ if (length($0) > m) m = length($0) } END { print m }')
h=$(pane | wc -l)
[ "$w" -le 72 ] && [ "$h" -le 20 ] && pane | grep -q '^SERVICES' && pane | grep -q '^198\.18\.2\.2:8081 ' &&
    ok "the view fits 72x20 (widest line $w), services still first" || { bad "after the resize: $w x $h"; pane | sed 's/^/    | /'; }

"${tm[@]}" send-keys -t top q
for _ in $(seq 50); do [ -s "$tmp/rc" ] && break; sleep 0.1; done
[ "$(cat "$tmp/rc" 2>/dev/null)" = 0 ] && ok "q: top exits 0" || bad "q: exit status '$(cat "$tmp/rc" 2>/dev/null)'"
for _ in $(seq 20); do [ -s "$tmp/stty.after" ] && break; sleep 0.1; done
cmp -s "$tmp/stty.before" "$tmp/stty.after" && ok "the terminal's modes restored" || bad "terminal modes differ after top"
grep -q "$total lines: .* 3 refused (too_long 0, not_json 2, not_object 1)" "$tmp/top.err" && ok "exit line counts the same ($(cat "$tmp/top.err"))" || bad "exit line: $(cat "$tmp/top.err")"
[ "$fail" = 0 ] && echo PASS || { echo "$fail failure(s)"; exit 1; }
