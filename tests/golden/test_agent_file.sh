#!/usr/bin/env bash
# synmatch-agent -r on a committed real capture (tests/data/lab-nat/client.pcap), received by
# sm_pull_dump over ipc://. Asserts:
#   1. fast replay: the records are exactly the file's SYN, SYN/ACK and RST headers as tshark
#      dissects them (time, addresses, ports, seq, ack, flags), with frame numbers and
#      tcp.stream (also equal to `synmatch streams`); seqs 0..N, end_of_stream last,
#      watermarks never decrease, counters final; the agent exits 0;
#   2. --realtime: the replay takes the capture's duration, records arrive at their pace, and
#      heartbeats keep coming in between;
#   3. the collector absent for 2 s at start: nothing is lost (a fast replay waits for the
#      collector; more batches than ZeroMQ's own buffer holds);
#      and away for 4 s while the agent ends (its default drain waits, see --linger-ms), and
#      connected but not reading for 3 s while the agent ends (nothing lost over ipc://);
#   4. --realtime (it cannot wait, like a live capture) with --queue 2 and 5 ms heartbeats:
#      the loss is declared: a seq gap, batches_unsent equal to the gap, records_unsent equal to the records that did not arrive, and unsent_from/to spans
#      that cover every one of them;
#   5. bad input: missing file, not a capture, truncated file, bad --serve, bad sensor id,
#      options that do not go together: documented exit statuses and one line naming them.
#   tests/golden/test_agent_file.sh SYNMATCH-AGENT SM_PULL_DUMP SYNMATCH
set -euo pipefail
agent=$1
dump=$2
synmatch=$3
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
pcap=$root/tests/data/lab-nat/client.pcap
out=$(mktemp -d)
pids=()
cleanup() { # keeps the logs when the test failed
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$rc" -eq 0 ]; then rm -rf "$out"; else echo "logs kept in $out" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v tshark >/dev/null || { echo "FAIL: tshark (the oracle) is not installed" >&2; exit 1; }

fail=0
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
wait_for() { # FILE PATTERN TIMEOUT_S
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}

# The oracle: tshark's SYN/SYN-ACK/RST headers (not those quoted in ICMP errors), and the
# frame -> tcp.stream map of `synmatch streams`.
tshark -r "$pcap" -Y "(tcp.flags.syn==1 || tcp.flags.reset==1) && !icmp && !icmpv6" \
    -T fields -E separator=/t -e frame.number -e tcp.stream -e frame.time_epoch -e ip.src \
    -e ipv6.src -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw \
    -e tcp.ack_raw -e tcp.flags >"$out/truth.tsv" 2>/dev/null
"$synmatch" streams "$pcap" >"$out/streams.tsv"
tshark -r "$pcap" -T fields -e frame.time_epoch 2>/dev/null | sort | tail -1 >"$out/last_ts"

# RUN NAME [late SECONDS] [recv RECEIVER-ARGS... ] -- AGENT-ARGS...: the receiver (started
# late if asked), then the agent.
run() {
    local name=$1 late=0 recv=()
    shift
    if [ "$1" = late ]; then late=$2; shift 2; fi
    if [ "$1" = recv ]; then
        shift
        while [ "$1" != -- ]; do recv+=("$1"); shift; done
    fi
    shift # --
    local ep="ipc://$out/$name.sock"
    (
        sleep "$late"
        exec "$dump" "$ep" --eos 1 --timeout-ms 60000 "${recv[@]}"
    ) >"$out/$name.dump" 2>"$out/$name.dump.err" &
    local dpid=$!
    pids+=("$dpid")
    [ "$late" = 0 ] && wait_for "$out/$name.dump" "^L " 10
    local t0 t1 rc=0
    t0=$(date +%s%N)
    "$agent" -r "$pcap" --role client --sensor-id "lab-$name" --collector "$ep" --quiet "$@" \
        2>"$out/$name.err" || rc=$?
    t1=$(date +%s%N)
    echo "$rc $(((t1 - t0) / 1000000))" >"$out/$name.rc"
    wait "$dpid" || echo "receiver exit $?" >>"$out/$name.rc"
}

analyse() { # NAME MODE
    "$py" - "$root/tests/lib" "$out" "$1" "$2" <<'PY'
import sys
here, out, name, mode = sys.argv[1:5]
sys.path.insert(0, here)
import dump
batches, scope, rejects = dump.parse("%s/%s.dump" % (out, name))
recs = dump.records(batches)
rc_line = open("%s/%s.rc" % (out, name)).read().split()
rc, elapsed_ms = int(rc_line[0]), int(rc_line[1])
bad = dump.check_stream(batches, rejects, allow_gaps=(mode == "lossy"))
if len(rc_line) > 2:
    bad.append("receiver: %s" % " ".join(rc_line[2:]))
if rc != 0:
    bad.append("agent exit status %d" % rc)

truth = []
for line in open("%s/truth.tsv" % out):
    f = line.rstrip("\n").split("\t")
    sec, frac = f[2].split(".")
    truth.append(dict(frame=int(f[0]), stream=int(f[1]), ts=int(sec) * 10**9 + int(frac.ljust(9, "0")),
                      src=f[3] or f[4], sport=int(f[5]), dst=f[6] or f[7], dport=int(f[8]),
                      seq=int(f[9]), ack=int(f[10] or 0), flags=int(f[11], 16)))
streams = {}
for line in open("%s/streams.tsv" % out):
    f = line.rstrip("\n").split("\t")
    if len(f) > 1 and f[1] != "":
        streams[int(f[0])] = int(f[1].split(",")[0])
sec, frac = open("%s/last_ts" % out).read().split()[-1].split(".")
last_frame_ns = int(sec) * 10**9 + int(frac.ljust(9, "0"))
key = lambda r: (r["frame"], r["stream"], r["ts"], r["src"], r["sport"], r["dst"], r["dport"], r["seq"], r["ack"], r["flags"])
tkeys = [key(t) for t in truth]
got = [key(r) for r in recs]
last = batches[-1]["kv"] if batches else {}

if mode in ("fast", "realtime", "late", "late_end", "stalled"):
    if got != tkeys:
        gs, ts = set(got), set(tkeys)
        bad.append("records differ from tshark: %d vs %d; missing %s; extra %s" %
                   (len(got), len(tkeys), sorted(ts - gs)[:3], sorted(gs - ts)[:3]))
    if any(streams.get(r["frame"]) != r["stream"] for r in recs):
        bad.append("a record's tcp.stream differs from `synmatch streams`")
    if last and (int(last["records_unsent"]) or int(last["batches_unsent"])):
        bad.append("unsent declared: %s records, %s batches" % (last["records_unsent"], last["batches_unsent"]))
    if last and int(last["pcap_received"]) != 642:
        bad.append("pcap_received %s, the file has 642 frames" % last["pcap_received"])
    if last and int(last["records_emitted"]) != len(truth):
        bad.append("records_emitted %s" % last["records_emitted"])
if batches and batches[-1]["wm"] != last_frame_ns:
    bad.append("final watermark %d, the file's last frame is at %d" % (batches[-1]["wm"], last_frame_ns))
if mode == "realtime":
    if not 9.0 <= elapsed_ms / 1000 <= 13.0:
        bad.append("replay took %.1f s; the capture lasts 9.8 s" % (elapsed_ms / 1000))
    # each record arrives about when its capture time says, counted from the first batch
    t0 = batches[0]["recv_ns"] - (batches[0]["wm"] - truth[0]["ts"])
    for b in batches:
        for r in b["recs"]:
            lag = (b["recv_ns"] - t0) - (r["ts"] - truth[0]["ts"])
            if not -0.05e9 <= lag <= 0.5e9:
                bad.append("record of frame %d arrived %.3f s off its pace" % (r["frame"], lag / 1e9))
                break
    gaps = [(b["recv_ns"] - a["recv_ns"]) / 1e6 for a, b in zip(batches, batches[1:])]
    if max(gaps) > 400:
        bad.append("no batch for %.0f ms during the replay" % max(gaps))
    if len(batches) < 70:
        bad.append("only %d batches in a 9.8 s replay at 100 ms heartbeats" % len(batches))
if mode == "late":
    if len(batches) <= 102:
        bad.append("%d batches: not more than ZeroMQ's buffer of 100, the queue was not needed" % len(batches))
if mode == "late_end" and elapsed_ms < 3500:
    bad.append("the agent ended after %d ms: it did not wait for the collector" % elapsed_ms)
if mode == "lossy":
    seqs = [b["seq"] for b in batches]
    missing = sorted(set(range(seqs[-1] + 1)) - set(seqs))
    if not missing:
        bad.append("no seq gap although the queue held 2 batches")
    if int(last["batches_unsent"]) != len(missing):
        bad.append("batches_unsent %s, the gap is %d" % (last["batches_unsent"], len(missing)))
    lost = [t for t in truth if key(t) not in set(got)]
    if int(last["records_unsent"]) != len(lost) or len(lost) == 0:
        bad.append("records_unsent %s, %d records did not arrive" % (last["records_unsent"], len(lost)))
    if int(last["records_emitted"]) != len(truth):
        bad.append("records_emitted %s" % last["records_emitted"])
    if any(k not in set(tkeys) for k in got):
        bad.append("a record that is not in the file")
    spans = [(int(b["kv"]["unsent_from"]), int(b["kv"]["unsent_to"])) for b in batches
             if int(b["kv"]["unsent_to"]) != 0]
    uncovered = [t for t in lost if not any(f <= t["ts"] <= e for f, e in spans)]
    if uncovered:
        bad.append("%d lost records outside every declared unsent span %s" % (len(uncovered), spans))
    first_after = next((b for b in batches if b["seq"] > missing[0]), None) if missing else None
    if first_after is None or int(first_after["kv"]["unsent_to"]) == 0:
        bad.append("the first batch after the gap declares no unsent span")
for b in bad:
    print("  " + b)
print("  %s: %d batches, %d records (tshark: %d), agent %.2f s" % (name, len(batches), len(recs), len(truth), elapsed_ms / 1000))
sys.exit(1 if bad else 0)
PY
}

run fast -- --batch-records 50
check "fast replay = tshark's SYN/SYN-ACK/RST with frame and tcp.stream" analyse fast fast
run realtime -- --realtime
check "--realtime: paced like the capture, heartbeats in between" analyse realtime realtime
run late late 2 -- --batch-records 1 --linger-ms 8000
check "collector away for 2 s: nothing lost" analyse late late
# Everything fits ZeroMQ's buffers, so the agent reaches its end while the collector is still
# away for 4 s: the default drain of a fast replay waits for it (2 s would lose the end).
run late_end late 4 -- --batch-records 50
check "collector away for 4 s at the end, default --linger-ms: nothing lost" analyse late_end late_end
# Connected but busy (not reading, its ZeroMQ queue at the high-water mark) while the agent
# ends: over ipc:// libzmq 4.3.4 drops what the kernel still holds when the agent's side of the
# connection closes then, so the agent keeps it open until the receiver has read it all.
run stalled recv --rcvhwm 4 --stall-after 10 3000 -- --batch-records 1
check "receiver stalled 3 s while the agent ends (ipc://): nothing lost" analyse stalled stalled
# A fast replay waits for the collector; a --realtime one behaves like a live capture: it
# cannot wait, so with heartbeats every 5 ms the 2 s away overflow ZeroMQ's 100 and the queue.
run lossy late 2 -- --realtime --heartbeat-ms 5 --batch-records 1 --linger-ms 8000 --queue 2
check "--realtime --queue 2, collector away: the loss is declared" analyse lossy lossy
check "summary line counts the unsent records" grep -Eq "records sent [0-9]+, unsent [1-9][0-9]*; batches [0-9]+, unsent [1-9]" "$out/lossy.err"

# ---- bad input -----------------------------------------------------------------------------
expect_error() { # NAME STATUS PATTERN COMMAND...
    local name=$1 status=$2 pattern=$3 rc=0
    shift 3
    "$@" >"$out/err.out" 2>"$out/err.txt" || rc=$?
    if [ "$rc" -eq "$status" ] && [ "$(wc -l <"$out/err.txt")" -eq 1 ] && grep -q -- "$pattern" "$out/err.txt"; then
        echo "ok   $name (exit $rc: $(cat "$out/err.txt"))"
    else
        echo "FAIL $name: exit $rc, want $status and one line matching '$pattern':"
        cat "$out/err.txt"
        fail=$((fail + 1))
    fi
}
c=(--role client --sensor-id e --collector "ipc://$out/none.sock")
expect_error "missing file" 3 "$out/nope.pcap" "$agent" -r "$out/nope.pcap" "${c[@]}"
expect_error "not a capture" 4 "README.md" "$agent" -r "$root/README.md" "${c[@]}"
expect_error "bad --serve address" 2 "--serve 198.18.0.300: '198.18.0.300' is not an IPv4 or IPv6 address" \
    "$agent" -r "$pcap" --role server --sensor-id e --collector "ipc://$out/x" --serve 198.18.0.300
expect_error "--serve host bits" 2 "did you mean 198.18.0.0/24" \
    "$agent" -r "$pcap" --role server --sensor-id e --collector "ipc://$out/x" --serve 198.18.0.5/24
expect_error "--serve IPv6 port without brackets" 2 "\[ADDR\]:PORT" \
    "$agent" -r "$pcap" --role server --sensor-id e --collector "ipc://$out/x" --serve 2001:db8::1/64:443
expect_error "--serve port 0" 2 "the port must be 1-65535" \
    "$agent" -r "$pcap" --role server --sensor-id e --collector "ipc://$out/x" --serve '[2001:db8::1]:0'
expect_error "--serve prefix" 2 "the prefix length must be 0-32" \
    "$agent" -r "$pcap" --role server --sensor-id e --collector "ipc://$out/x" --serve 198.18.0.0/33
expect_error "--serve on a client" 2 "only a server agent" \
    "$agent" -r "$pcap" "${c[@]}" --serve 198.18.0.1
expect_error "bad sensor id" 2 "sensor id 'a b'" \
    "$agent" -r "$pcap" --role client --sensor-id 'a b' --collector "ipc://$out/x"
expect_error "--batch-records 0" 2 "--batch-records: not a number from 1 to 16384" \
    "$agent" -r "$pcap" "${c[@]}" --batch-records 0
expect_error "expression with -r" 2 "EXPRESSION: applies to live capture" \
    "$agent" -r "$pcap" "${c[@]}" port 80
expect_error "--realtime with -i" 2 "--realtime: applies to -r only" \
    "$agent" -i lo "${c[@]}" --realtime
expect_error "bad role" 2 "--role: client or server" \
    "$agent" -r "$pcap" --role middle --sensor-id e --collector "ipc://$out/x"

# A truncated file: what came before is sent, then end_of_stream, and exit 7.
head -c 40000 "$pcap" >"$out/trunc.pcap"
"$dump" "ipc://$out/trunc.sock" --eos 1 --timeout-ms 30000 >"$out/trunc.dump" 2>/dev/null &
pids+=($!)
wait_for "$out/trunc.dump" "^L " 10
rc=0
"$agent" -r "$out/trunc.pcap" "${c[@]/none.sock/trunc.sock}" --quiet 2>"$out/trunc.err" || rc=$?
wait "${pids[-1]}" || true
check "truncated file: exit 7" test "$rc" -eq 7
check "truncated file: one error line naming it" grep -q "trunc.pcap: .*" "$out/trunc.err"
check "truncated file: records before the cut, then end_of_stream" "$py" - "$root/tests/lib" "$out/trunc.dump" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import dump
batches, scope, rejects = dump.parse(sys.argv[2])
bad = dump.check_stream(batches, rejects)
n = len(dump.records(batches))
if not 0 < n < 158:
    bad.append("%d records" % n)
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY

echo "$fail checks failed"
[ "$fail" -eq 0 ]
