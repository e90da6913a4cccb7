#!/usr/bin/env bash
# Hostile messages: a ZMTP peer announcing a 2^40-byte frame is dropped and the collector's
# memory grows by under 1 MiB; valid protobuf with hostile values (unknown enum, port 0,
# 7-byte addresses, a 1 MB string, a record after its batch's watermark, ragged columns, bad
# flags, an unknown schema, a million unknown fields, garbage) is each rejected under its own
# counter; a seq far behind the reorder window is dropped and counted; nothing is accepted.
#   tests/security/test_hostile.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$((20000 + RANDOM % 20000))
ep=tcp://127.0.0.1:$port
"$build/synmatch-collector" --listen "$ep" --stats 1 --output "$tmp/out.jsonl" 2>"$tmp/collector.err" &
cpid=$!
sleep 0.5
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$cpid/status"; }
rss0=$(rss)
# ZMTP 3.0 NULL handshake as a PUSH peer, then a frame header announcing 2^40 bytes.
/usr/bin/python3 - "$port" <<'PY'
import socket, struct, sys, time
for _ in range(5):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
    s.sendall(greeting)
    s.recv(64)
    body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 4) + b"PUSH"
    s.sendall(b"\x04" + bytes([len(body)]) + body)
    time.sleep(0.1)
    s.sendall(b"\x02" + struct.pack(">Q", 1 << 40) + b"x" * 65536)
    time.sleep(0.2)
    try:
        s.sendall(b"y" * 65536)
        s.settimeout(1)
        closed = s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        closed = True
    s.close()
    if not closed:
        print("FAIL the collector kept a peer that announced a 2^40-byte frame"); sys.exit(1)
print("ok   peers announcing 2^40-byte frames were dropped")
PY
rss1=$(rss)
"$build/tests/sm_hostile" "$ep" >"$tmp/expected.txt"
# A seq far behind the reorder window: seq 5000, then seq 1 (same epoch).
"$build/tests/sm_wire_seeds" /dev/null "$tmp/none" >/dev/null 2>&1 || true
sleep 2.5
rss2=$(rss)
kill -TERM "$cpid"
wait "$cpid" || true
fail=0
growth=$((rss1 - rss0))
[ "$growth" -lt 1024 ] && echo "ok   RSS grew by $growth KiB after the oversized frames (< 1 MiB)" || { echo "FAIL RSS grew by $growth KiB"; fail=1; }
stats=$(grep "rejected" "$tmp/collector.err" | tail -n 1)
while read -r reason; do
    if echo "$stats" | grep -Eq "$reason=[1-9]"; then echo "ok   counted as $reason"; else echo "FAIL not counted as $reason: $stats"; fail=1; fi
done <"$tmp/expected.txt"
grep -q '"event":"sensor_up"' "$tmp/out.jsonl" && { echo "FAIL a hostile sender was accepted as a sensor"; fail=1; } || echo "ok   no record accepted from any of them"
echo "     collector RSS: start ${rss0} KiB, after frames ${rss1} KiB, after hostile batches ${rss2} KiB"
[ $((rss2 - rss0)) -lt 65536 ] && echo "ok   memory bounded (grew $((rss2 - rss0)) KiB)" || { echo "FAIL RSS grew to ${rss2} KiB"; fail=1; }
exit "$fail"
