#!/usr/bin/env bash
# The JetStream path live, with its security: three nats-server processes forming a cluster
# in a namespace of their own, joined to the lab's client and server namespaces by links the
# captures never see; TLS client certificates mapped to users with the permissions
# scripts/nats-auth.sh gives (an agent publishes only its own sensor's subjects, a shard
# cannot publish records, a reader only reads verdicts). Agents capture live on the lab's
# veths (real Linux connections through nftables, every handshake fault); two collector
# shards; the client agent is cut off from NATS for 10 s by nftables in the middle of the
# traffic. Then, from the verdict stream, ISN by ISN against the truth of the captures
# (tests/lib/check_live.py): every dropped SYN missing, every other connection the verdict
# its fault implies, each once, nothing lost to the cut.
#   tests/nats/test_nats_live.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
LAB=${LAB:-smn$$}
# shellcheck source=../lib/lab.sh
. "$root/tests/lib/lab.sh"
# shellcheck source=../lib/nats.sh
. "$root/tests/lib/nats.sh"
out=$(mktemp -d)
chmod 711 "$out"
cleanup() {
    set +e
    kill $(jobs -p) 2>/dev/null
    nats_cluster_down
    nats_lab_unlink
    lab_down
    [ -n "${KEEP:-}" ] && echo "kept $out" || rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
command -v nats-server >/dev/null || { echo "FAIL nats-server not installed (scripts/setup.sh)"; exit 1; }
fail=0
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}

LAB_NO_TRAP=1 lab_up
nats_lab_link
nats_tls_make "$out/tls" agent-client agent-server shard-0 shard-1 reader-test admin
nats_cluster_up "$out/nats" 3 || exit 1
url_local=$NATS_URL                           # from the NATS namespace: loopback
url_c=${NATS_URL//127.0.0.1/$NATS_ADDR_C}     # from the client namespace
url_s=${NATS_URL//127.0.0.1/$NATS_ADDR_S}     # from the server namespace
in_nats() { ip netns exec "$NATS_NS" "$@"; }
for _ in $(seq 50); do
    in_nats "$build/synmatch-collector" --listen "$url_local" --nats-setup --nats-replicas 3 \
        $(nats_tls_args admin) 2>>"$out/setup.err" && break
    sleep 0.2
done
check "--nats-setup with the admin certificate" grep -q "consumers synmatch-p0" "$out/setup.err"

# Permissions, as a stranger would try them.
in_nats "$build/synmatch-collector" --listen "$url_local" --nats-setup $(nats_tls_args shard-0) \
    2>"$out/shard_setup.err" && rc=0 || rc=$?
check "a shard's certificate cannot make streams (exit $rc)" test "$rc" -ne 0
lab_exec client timeout 20 "$build/synmatch-agent" -r "$root/tests/data/lab-nat/client.pcap" \
    --role client --sensor-id server --collector "$url_c" $(nats_tls_args agent-client) \
    2>"$out/impostor.err" && rc=0 || rc=$?
check "an agent's certificate cannot publish as another sensor (exit $rc: $(grep -o 'Permissions Violation[^"]*' "$out/impostor.err" | head -1))" \
    eval 'test "$rc" -ne 0 && grep -q "Permissions Violation" "$out/impostor.err"'
lab_exec client timeout 20 "$build/synmatch-agent" -r "$root/tests/data/lab-nat/client.pcap" \
    --role client --sensor-id client --collector "$url_c" 2>"$out/nocert.err" && rc=0 || rc=$?
check "no certificate, no connection (exit $rc)" test "$rc" -ne 0

# The shards, then the agents capturing live.
for k in 0 1; do
    in_nats "$build/synmatch-collector" --listen "$url_local" --shard "$k/2" --exit-when-done \
        --stats 0 --output "$out/shard$k.jsonl" $(nats_tls_args "shard-$k") 2>"$out/shard$k.err" &
    eval "spid$k=$!"
done
lab_capture_start "$out"
ip netns exec "$LAB_NS_S" setpriv --pdeathsig TERM "$build/synmatch-agent" -i s-fw --role server \
    --sensor-id server --collector "$url_s" $(nats_tls_args agent-server) 2>"$out/agent_server.err" &
apid_s=$!
ip netns exec "$LAB_NS_C" setpriv --pdeathsig TERM "$build/synmatch-agent" -i c-fw --role client \
    --sensor-id client --collector "$url_c" $(nats_tls_args agent-client) 2>"$out/agent_client.err" &
apid_c=$!
echo "$apid_s $apid_c" >>"$LAB_RUN/pids"
sleep 2 # agents up, heard by both shards
# The client agent cut off from NATS for 10 s from 3 s into the traffic (TCP to the cluster's
# address dropped both ways in the client namespace; the capture link is untouched).
(
    sleep 3
    lab_exec client nft -f - <<EOF
table inet sm_cut {
    chain o { type filter hook output priority 0; ip daddr $NATS_ADDR_C counter drop; }
    chain i { type filter hook input priority 0; ip saddr $NATS_ADDR_C counter drop; }
}
EOF
    echo "cut $(date +%s.%N)" >>"$out/cut.txt"
    sleep 10
    lab_exec client nft list table inet sm_cut >"$out/cut_counters.txt"
    lab_exec client nft delete table inet sm_cut
    echo "healed $(date +%s.%N)" >>"$out/cut.txt"
) &
cutter=$!
# shellcheck disable=SC2086  # LAB_FAULTS is words on purpose
lab_traffic "$out/traffic.tsv" $LAB_FAULTS
wait "$cutter"
check "the client agent was cut off for 10 s" test "$(wc -l <"$out/cut.txt")" -eq 2
# The last dropped SYN's group is decided ~7 s after it; what the cut held arrives after the
# heal. Then the agents stop (end of stream) and the shards finish.
sleep 8
kill -TERM "$apid_s" "$apid_c"
wait "$apid_s" "$apid_c" || true
for k in 0 1; do
    p=$(eval echo "\$spid$k")
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        echo "FAIL shard $k did not finish after the agents ended:"
        tail -n 5 "$out/shard$k.err"
        kill "$p"
        fail=$((fail + 1))
    fi
    wait "$p" || { echo "FAIL shard $k exit status"; fail=$((fail + 1)); }
done
lab_capture_stop >/dev/null
lab_counters >"$out/nft_counters.txt"
lab_truth "$out" 0 >"$out/truth.log" 2>&1 || { cat "$out/truth.log" >&2; exit 1; }

in_nats "$build/synmatch" tail --json --from-start --exit-idle 2 "$url_local" \
    $(nats_tls_args reader-test) >"$out/stream.jsonl" 2>"$out/tail.err"
check "a reader's certificate reads the verdict stream ($(grep -c verdict "$out/stream.jsonl") verdict lines)" \
    grep -q '"verdict"' "$out/stream.jsonl"
cut_packets=$(grep -o 'counter packets [0-9]*' "$out/cut_counters.txt" | awk '{s += $3} END {print s + 0}')
check "the cut dropped the client agent's packets to NATS ($cut_packets)" test "$cut_packets" -gt 0
check "no agent gave up a batch" eval '! grep -q "not stored" "$out"/agent_*.err'
check "the verdict stream against the truth of the captures, each ISN once" \
    python3 "$root/tests/lib/check_live.py" "$out/expected.tsv" "$out/stream.jsonl" 0 0 --events-free
cat "$out/shard0.jsonl" "$out/shard1.jsonl" >"$out/files.jsonl"
check "the shards' files hold the same" \
    python3 "$root/tests/lib/check_live.py" "$out/expected.tsv" "$out/files.jsonl" 0 0 --events-free
drops=$(awk '$1 ~ /^drop_/ {s += $2} END {print s}' "$out/nft_counters.txt")
attempts=$(python3 -c 'import json,sys; print(sum(o["attempts"] for o in map(json.loads, open(sys.argv[1])) if o.get("verdict") == "missing"))' "$out/stream.jsonl")
check "firewall dropped $drops SYNs = attempts of the missing verdicts ($attempts)" test "$drops" = "$attempts"
if [ "$fail" -ne 0 ]; then
    for f in "$out"/shard*.err "$out"/agent_*.err; do echo "--- $f"; tail -n 4 "$f"; done
fi
echo "$fail checks failed"
[ "$fail" -eq 0 ]
