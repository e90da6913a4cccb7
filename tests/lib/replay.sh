# replay.sh - sourced by the golden tests: a live replay of a capture pair, two `-r` agents
# into a collector on an ipc:// socket that exits when both have ended.
#
#   sm_replay BUILD_DIR TMP_DIR CLIENT.pcap SERVER.pcap OUT.jsonl [SERVER AGENT OPTIONS...]
#
# The collector's lines go to OUT.jsonl, its stderr to OUT.jsonl.err. Returns 1 (and says
# so) when the collector does not finish within 20 s of the agents.
sm_replay() {
    local build=$1 tmp=$2 c=$3 s=$4 out=$5
    shift 5
    local sock=ipc://$tmp/replay.sock
    "$build/synmatch-collector" --listen "$sock" --exit-when-done --stats 0 --output "$out" \
        2>"$out.err" &
    local cpid=$!
    "$build/synmatch-agent" -r "$s" --role server --sensor-id server "$@" --collector "$sock" \
        2>/dev/null &
    local spid=$!
    "$build/synmatch-agent" -r "$c" --role client --sensor-id client --collector "$sock" 2>/dev/null
    wait "$spid"
    for _ in $(seq 200); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$cpid" 2>/dev/null; then
        echo "FAIL the collector did not finish"
        tail -5 "$out.err"
        return 1
    fi
    wait "$cpid"
}
