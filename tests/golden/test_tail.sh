#!/usr/bin/env bash
# `synmatch tail` on a collector's alerts: the committed pair replayed by two -r agents into a
# collector with --alerts-pub, followed by two tails: one showing everything (failures in
# capitals, refused in lower case), one with --verdict missing (only those, and events).
#   tests/golden/test_tail.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
sock=ipc://$tmp/c.sock
pub=ipc://$tmp/alerts.sock
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"

"$build/synmatch-collector" --listen "$sock" --alerts-pub "$pub" --exit-when-done --stats 0 \
    --output "$tmp/live.jsonl" 2>"$tmp/collector.err" &
cpid=$!
"$build/synmatch" tail "$pub" >"$tmp/all.txt" 2>"$tmp/tail1.err" &
t1=$!
"$build/synmatch" tail --verdict missing "$pub" >"$tmp/missing.txt" 2>"$tmp/tail2.err" &
t2=$!
# A subscriber receives only what is published after it has joined. The replay runs at the
# capture's pace and the first verdict comes seconds in, so a tail that joins within that
# time misses only the start events; the checks below need none of them.
sleep 1
"$build/synmatch-agent" -r "$data/server.pcap" --role server --sensor-id server "${serve[@]}" \
    --collector "$sock" --realtime 2>"$tmp/as.err" &
spid=$!
"$build/synmatch-agent" -r "$data/client.pcap" --role client --sensor-id client \
    --collector "$sock" --realtime 2>"$tmp/ac.err" &
apid=$!
wait "$spid" "$apid"
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
wait "$cpid"
sleep 0.5 # the last lines reach the subscribers
kill "$t1" "$t2" 2>/dev/null || true
wait "$t1" "$t2" 2>/dev/null || true

fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
want_missing=$(grep -c '"verdict":"missing"' "$tmp/live.jsonl" || true)
want_refused=$(grep -c '"verdict":"refused"' "$tmp/live.jsonl" || true)
check "MISSING in capitals, once per missing verdict ($want_missing)" \
    '[ "$want_missing" -gt 0 ] && [ "$(grep -c "  MISSING " "$tmp/all.txt")" -eq "$want_missing" ]'
check "SUSPECT in capitals before them" '[ "$(grep -c "  SUSPECT " "$tmp/all.txt")" -ge "$want_missing" ]'
check "refused quietly ($want_refused)" \
    '[ "$want_refused" -gt 0 ] && [ "$(grep -c "  refused " "$tmp/all.txt")" -eq "$want_refused" ] && ! grep -q REFUSED "$tmp/all.txt"'
check "matched quietly, with both ends of the handshake" 'grep -q "  matched .*server .* sent syn-ack, client got syn-ack" "$tmp/all.txt"'
check "--verdict missing: only the missing verdicts" \
    '[ "$(grep -c "  MISSING " "$tmp/missing.txt")" -eq "$want_missing" ] && ! grep -Eq "  (SUSPECT|matched|refused) " "$tmp/missing.txt"'
check "--verdict missing: events still shown" 'grep -q "sensor_end" "$tmp/missing.txt"'
[ "$fail" -eq 0 ] || { echo "--- all"; head -20 "$tmp/all.txt"; echo "--- missing"; cat "$tmp/missing.txt"; }
exit "$fail"
