#!/usr/bin/env bash
# The JetStream transport against the ZeroMQ one, on the same records: three real
# nats-server processes on loopback forming a JetStream cluster, the streams made with three
# replicas by `--nats-setup` (twice: it is idempotent), the lab pair replayed by two -r agents
# into NATS and into one ZeroMQ collector. Every final verdict, group by group, must equal
# the ZeroMQ collector's:
#   1. one shard owning all the partitions (16 here);
#   2. two shards at once (--shard 0/2 and 1/2), each reading only its own partitions;
#   3. two shards with the agents at the capture's pace while shard 1 is SIGKILLed and started
#      again: the verdict stream holds every group's final verdict exactly once (the restarted
#      shard replays its partitions and publishes none twice), and the shards' files none twice;
#   4. the same while one of the three nats-servers is SIGKILLed: nothing lost, nothing twice.
# Also: the errors a new user meets (no server, a partition count that differs).
#   tests/nats/test_nats_replay.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
data=$root/tests/data/lab-nat
tmp=$(mktemp -d)
# shellcheck source=../lib/nats.sh
. "$root/tests/lib/nats.sh"
cleanup() {
    set +e
    kill $(jobs -p) 2>/dev/null
    nats_cluster_down
    [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
command -v nats-server >/dev/null || { echo "FAIL nats-server not installed (scripts/setup.sh)"; exit 1; }

fail=0
# 16 partitions, not the default 64: each is a replicated consumer, and a 3-server cluster
# takes about half a second to make one (30 s per cluster at 64, four clusters here). The
# default count is what nats_live and nats_sensors use.
P=16
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
same() { python3 "$root/tests/lib/same_verdicts.py" "$@"; }

fresh_cluster() { # DIR: a new 3-node cluster with empty storage and the streams made
    nats_cluster_down
    rm -rf "$1"
    nats_cluster_up "$1" 3 || return 1
    local t
    for t in $(seq 50); do # the first stream waits for the cluster's meta leader
        "$build/synmatch-collector" --listen "$NATS_URL" --nats-setup --nats-replicas 3 \
            --partitions $P 2>>"$1/setup.err" && return 0
        sleep 0.2
    done
    echo "FAIL --nats-setup never succeeded:"; tail -n 3 "$1/setup.err"
    return 1
}

serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"
# shellcheck source=../lib/replay.sh
. "$root/tests/lib/replay.sh"
sm_replay "$build" "$tmp" "$data/client.pcap" "$data/server.pcap" "$tmp/zmq.jsonl" "${serve[@]}" ||
    fail=$((fail + 1))

"$build/synmatch-collector" --listen nats://127.0.0.1:1 --exit-when-done 2>"$tmp/noserver.err" && rc=0 || rc=$?
check "no server: exit status 11 and one clear line ($(head -c 100 "$tmp/noserver.err"))" \
    test "$rc" -eq 11 -a "$(wc -l <"$tmp/noserver.err")" -eq 1

fresh_cluster "$tmp/c1" || exit 1
check "--nats-setup again (idempotent)" \
    "$build/synmatch-collector" --listen "$NATS_URL" --nats-setup --nats-replicas 3 --partitions $P \
    2>>"$tmp/c1/setup.err"
"$build/synmatch-collector" --listen "$NATS_URL" --nats-setup --partitions 8 2>"$tmp/p8.err" && rc=0 || rc=$?
check "--nats-setup with another partition count refused ($(head -c 90 "$tmp/p8.err"))" \
    grep -q "made with $P partitions, not 8" "$tmp/p8.err"
"$build/synmatch-agent" -r "$data/client.pcap" --role client --sensor-id c --partitions 8 \
    --collector "$NATS_URL" 2>"$tmp/agentp8.err" && rc=0 || rc=$?
check "an agent with another partition count refused at start (exit $rc)" \
    eval 'test "$rc" -eq 11 && grep -q "has $P partitions, this agent 8" "$tmp/agentp8.err"'

# run OUT PACE SHARD...: shards (K/N) and the two agents into NATS (PACE: --realtime or
# nothing); waits (bounded) for every shard to finish. A function KILLER, when set, runs in
# the background meanwhile (it may kill and restart shard processes).
shard_pids=()
start_shard() { # K/N OUT
    "$build/synmatch-collector" --listen "$NATS_URL" --shard "$1" --exit-when-done --stats 0 \
        --output "$2.${1%/*}" 2>>"$2.${1%/*}.err" &
    shard_pids[${1%/*}]=$!
}
run() {
    local out=$1 pace=$2 k
    shift 2
    shard_pids=()
    for k in "$@"; do start_shard "$k" "$out"; done
    # a long linger: an agent that ends while the cluster elects a stream leader waits for it
    "$build/synmatch-agent" -r "$data/server.pcap" $pace --role server --sensor-id server --partitions $P \
        "${serve[@]}" --collector "$NATS_URL" --linger-ms 30000 2>"$out.server.err" &
    local spid=$!
    local kpid=
    if [ -n "${KILLER:-}" ]; then
        "$KILLER" "$out" &
        kpid=$!
    fi
    "$build/synmatch-agent" -r "$data/client.pcap" $pace --role client --sensor-id client --partitions $P \
        --collector "$NATS_URL" --linger-ms 30000 2>"$out.client.err" ||
        { echo "FAIL the client agent:"; cat "$out.client.err"; }
    wait "$spid" || { echo "FAIL the server agent:"; cat "$out.server.err"; }
    local i left=0
    if [ -n "$kpid" ]; then # it waited for the shards it started itself: their status
        wait "$kpid" || left=1
        while read -r i; do unset "shard_pids[$i]"; done <"$out.restarted"
    fi
    for i in "${!shard_pids[@]}"; do
        local p=${shard_pids[$i]}
        for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then
            left=1
            kill "$p"
        fi
        wait "$p" || left=1
    done
    if [ "$left" = 1 ]; then
        echo "FAIL a shard did not finish in 60 s:"
        tail -n 5 "$out".*.err
        return 1
    fi
    cat "$out".[0-9] >"$out"
    "$build/synmatch" tail --json --from-start --exit-idle 2 "$NATS_URL" >"$out.stream" 2>"$out.tail.err"
}

run "$tmp/one.jsonl" "" 0/1 || fail=$((fail + 1))
check "one JetStream shard = the ZeroMQ collector" same "$tmp/zmq.jsonl" "$tmp/one.jsonl"
check "the verdict stream holds the same, once each" same "$tmp/zmq.jsonl" "$tmp/one.jsonl.stream"
# sent as LZ4 blocks (include/synmatch/nats.h): fewer bytes than the lines, and tail unpacked them
check "the verdict messages went packed, under half their lines' bytes" awk '
    match($0, /lines published [0-9]+ \([0-9]+ bytes, sent as [0-9]+\)/) {
        split(substr($0, RSTART, RLENGTH), f, /[ ()]+/); found = 1; lines = f[4]; sent = f[8]
    }
    END { if (!found || lines == 0 || sent * 2 >= lines) { print "lines " lines " sent " sent; exit 1 } }
' "$tmp/one.jsonl.0.err"

fresh_cluster "$tmp/c2" || exit 1
run "$tmp/two.jsonl" "" 0/2 1/2 || fail=$((fail + 1))
check "two shards together = the ZeroMQ collector" same "$tmp/zmq.jsonl" "$tmp/two.jsonl"
check "the verdict stream too" same "$tmp/zmq.jsonl" "$tmp/two.jsonl.stream"
for k in 0 1; do
    check "shard $k/2 owns $((P / 2)) of $P partitions" grep -q "shard $k/2: $((P / 2)) of $P partitions" "$tmp/two.jsonl.$k.err"
done
check "each shard decided only its own partitions' groups" python3 - "$P" "$tmp/two.jsonl.0" "$tmp/two.jsonl.1" <<'PY'
import json, sys
P = int(sys.argv.pop(1))
def part(isn):  # sm_partition_of(isn, P)
    return ((isn * 0x9E3779B97F4A7C15) % 2**64 >> 32) % P
bad = 0
for k, path in enumerate(sys.argv[1:]):
    for line in open(path):
        v = json.loads(line)
        if "verdict" in v and part(v["seq"]) % 2 != k:
            bad += 1
print("  %d verdicts in the wrong shard" % bad)
sys.exit(1 if bad else 0)
PY

# 3. A shard SIGKILLed and started again, at the capture's pace (~10 s, most groups decided
# from 5 s on): shard 1 killed at 6 s and back at 7 s. It replays its partitions and must
# publish none of what its predecessor published.
fresh_cluster "$tmp/c3" || exit 1
shard_restart() { # OUT (in the background; it waits for the shard it starts again)
    sleep 6
    kill -KILL "${shard_pids[1]}"
    echo "shard 1 SIGKILLed" >>"$1.faults"
    sleep 1
    start_shard 1/2 "$1"
    echo 1 >"$1.restarted"
    echo "shard 1 started again" >>"$1.faults"
    # its child: waited for here (bounded), the caller takes this function's status
    for _ in $(seq 600); do kill -0 "${shard_pids[1]}" 2>/dev/null || break; sleep 0.1; done
    kill "${shard_pids[1]}" 2>/dev/null && echo "FAIL the restarted shard did not finish"
    wait "${shard_pids[1]}"
}
KILLER=shard_restart run "$tmp/restart.jsonl" --realtime 0/2 1/2 || fail=$((fail + 1))
check "restart: $(tr '\n' ';' <"$tmp/restart.jsonl.faults")" test "$(wc -l <"$tmp/restart.jsonl.faults")" -eq 2
check "restart: the verdict stream = the ZeroMQ collector, each group once" \
    same "$tmp/zmq.jsonl" "$tmp/restart.jsonl.stream"
check "restart: the shards' files hold no verdict twice and none different" \
    same "$tmp/zmq.jsonl" "$tmp/restart.jsonl" --at-most-once
check "restart: the shard replayed its $((P / 2)) partitions" \
    grep -q "collector_start.*\"replaying\":$((P / 2))" "$tmp/restart.jsonl.stream"
check "restart: and recognised what its predecessor had published" \
    grep -q 'verdicts already published before a restart [1-9]' "$tmp/restart.jsonl.1.err"

# 4. One nats-server SIGKILLed at 6 s: the streams' and consumers' leaders it held are elected
# again (seconds), the agents hold what the stream did not take and send it again in order, the
# shards wait: nothing lost, nothing twice.
fresh_cluster "$tmp/c4" || exit 1
node_kill() { # OUT
    sleep 6
    nats_node_kill 2
    echo "nats-server n2 SIGKILLed" >>"$1.faults"
    : >"$1.restarted"
}
KILLER=node_kill run "$tmp/node.jsonl" --realtime 0/2 1/2 || fail=$((fail + 1))
check "node: $(cat "$tmp/node.jsonl.faults")" test -s "$tmp/node.jsonl.faults"
check "node: the verdict stream = the ZeroMQ collector, each group once" \
    same "$tmp/zmq.jsonl" "$tmp/node.jsonl.stream"
check "node: the shards' files too" same "$tmp/zmq.jsonl" "$tmp/node.jsonl"
check "node: no agent gave up a batch" eval '! grep -q "not stored" "$tmp"/node.jsonl.*.err'

if [ "$fail" -ne 0 ]; then
    for f in "$tmp"/c*/n*.log; do echo "--- $f"; tail -n 5 "$f"; done
    tail -n 3 "$tmp"/*.err
fi
echo "$fail checks failed"
[ "$fail" -eq 0 ]
