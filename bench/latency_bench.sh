#!/usr/bin/env bash
# latency_bench.sh - end-to-end alert latency of the live pipeline: from a missing SYN's
# deadline to the moment the collector writes its `suspect` and `missing` lines.
#
#   bench/latency_bench.sh [--runs N] [--rate R] [--seconds S] OUTDIR
#
# The lab of tests/lib/lab.sh (client, firewall and server namespaces; nftables in the firewall
# drops every SYN to port 8081), with the client's net.ipv4.tcp_syn_retries = 1: a dropped
# connect() sends 2 SYNs (t, t + 1 s) and gives up. synmatch-agent captures live on the
# client's and the server's veth and sends to synmatch-collector over ipc://; the collector's
# standard output goes through a pipe to a reader that stamps every line with CLOCK_REALTIME
# as it arrives (the moment it is written, after the collector's fflush).
# Traffic, from the client namespace for S seconds [20]: Poisson arrivals, R per second [20]
# to the dropped port and, independently, R per second to the open port 8080 (these end
# `matched`); 1 in 5 over IPv6.
#
# Deadlines, in event time (the capture clock; everything runs on one host, one clock), from
# the engine's own rules (docs/ARCHITECTURE.md, collector defaults --timeout 3 --max-skew 1):
#   suspect: first attempt + timeout + skew             (the server watermark passes it)
#   missing: last attempt + max(timeout, 3 x last gap) + skew
# latency = line stamp - deadline. Lines are kept only for SYN groups whose deadline came
# before the agents were stopped.
#
# Runs 1..N: agents straight to the collector (the headline figure). Then one run with
# `sm_feed tap` between the agents and the collector: it stamps every batch as it arrives, so
# for each deadline D the batch that carried the server watermark past D splits the latency:
#   agent side = T_tap - D     (the agent sends a batch every 100 ms; its watermark is the
#                               newest record's time or the drain start - 40 ms (2 x the 20 ms
#                               read timeout), whichever is later; then encode, send, transport)
#   collector  = T_line - T_tap (relay hop, receive, decode, books, join, write, flush, pipe)
# and, on the empty server heartbeats (watermark = drain start - 40 ms exactly), the agent's
# drain + encode + send + transport = T_tap - W - 40 ms. Last, the collector's decode, join
# and write are timed in-process on batches of live size (sm_stages --batch 8).
# Results: OUTDIR/summary.txt (also printed).
set -euo pipefail

runs=3
rate=20
seconds=20
usage() { echo "usage: $0 [--runs N] [--rate R] [--seconds S] OUTDIR" >&2; exit 2; }
while [ $# -gt 1 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        *) usage ;;
    esac
done
[ $# -eq 1 ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

# shellcheck source=build.sh
. "$here/build.sh" "$out/cmake.log"
bench_sources_md5 >"$out/sources.md5"

export LAB="smlat$$" LAB_SYN_RETRIES=1 LAB_NO_TRAP=1
# shellcheck source=../tests/lib/lab.sh
. "$root/tests/lib/lab.sh"
tmp=$(mktemp -d /tmp/sm-latency-bench.XXXXXX)
chmod 711 "$tmp" # live agents send as `nobody` once capturing: they must reach the sockets
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    lab_down
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab_up

cat >"$tmp/stamp.py" <<'PY'
# Stamps every line of standard input with CLOCK_REALTIME (ns) as it arrives.
import sys, time
inp, out = sys.stdin.buffer, sys.stdout.buffer
while True:
    line = inp.readline()
    if not line:
        break
    out.write(b"%d\t" % time.time_ns() + line)
    out.flush()
PY

cat >"$tmp/traffic.py" <<'PY'
# Poisson arrivals, R per second each: connects to the dropped port, and (independently) to
# the open one, for S seconds. Random times, so deadlines fall at any phase of the agents'
# heartbeats and of the other traffic.
import errno, random, socket, sys, time
cfg = dict(a.split("=", 1) for a in sys.argv[1:])
rate, secs = float(cfg["rate"]), float(cfg["seconds"])
rnd = random.Random(int(cfg.get("seed", "1")))
held = []
count = {"drop": 0, "ok": 0}
t0 = time.monotonic()
nxt = {"drop": t0 + rnd.expovariate(rate), "ok": t0 + rnd.expovariate(rate)}
while True:
    kind = min(nxt, key=nxt.get)
    due = nxt[kind]
    if due - t0 >= secs:
        break
    now = time.monotonic()
    if now < due:
        time.sleep(due - now)
    nxt[kind] = due + rnd.expovariate(rate)
    v6 = rnd.random() < 0.2
    fam, dst = (socket.AF_INET6, cfg["s6"]) if v6 else (socket.AF_INET, cfg["s4"])
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex((dst, int(cfg["p_drop" if kind == "drop" else "p_ok"])))
    if rc not in (0, errno.EINPROGRESS):
        print("connect error", rc, file=sys.stderr)
    count[kind] += 1
    now = time.monotonic()
    held.append((now, s))
    while held and now - held[0][0] > 5:  # a dropped connect gives up after 3 s
        held.pop(0)[1].close()
time.sleep(4)
for _, s in held:
    s.close()
print("drop_connects=%d ok_connects=%d" % (count["drop"], count["ok"]))
PY

cat >"$tmp/analyze.py" <<'PY'
# latency per verdict line; with a tap log, the stages.
import calendar, json, sys
lines_path, stop_ns, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tap_path = sys.argv[4] if len(sys.argv) > 4 else None
TIMEOUT, SKEW, MARGIN = 3_000_000_000, 1_000_000_000, 40_000_000

def ts(s):  # 2027-01-15T08:00:03.530660962Z
    return calendar.timegm((int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]))) * 10**9 + int(s[20:29])

rows, counts = [], {}
for raw in open(lines_path):
    stamp, line = raw.split("\t", 1)
    obj = json.loads(line)
    kind = obj.get("verdict")
    if kind is None:
        continue
    counts[kind] = counts.get(kind, 0) + 1
    if kind not in ("suspect", "missing"):
        continue
    first, last, att = ts(obj["first"]), ts(obj["last"]), obj["attempts"]
    if kind == "suspect":
        dl = first + TIMEOUT + SKEW
    else:
        if att > 2:
            continue  # the gap before the last attempt is not in the line
        gap = last - first
        dl = last + max(TIMEOUT, 3 * gap) + SKEW
    if dl > stop_ns - 500_000_000:
        continue
    rows.append((kind, obj["seq"], dl, int(stamp)))

def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)

res = {"counts": counts}
for kind in ("suspect", "missing"):
    lat = [(s - d) / 1e6 for k, _, d, s in rows if k == kind]
    res[kind] = {"n": len(lat), "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": max(lat) if lat else float("nan"), "min": min(lat) if lat else float("nan")}

if tap_path:
    srv = []  # (watermark, recv_ns, records), server batches in arrival order
    for l in open(tap_path):
        f = l.split()
        if f[2] == "server":
            srv.append((int(f[4]), int(f[0]), int(f[5])))
    stages = {"agent": [], "collector": [], "total": [], "heartbeat_send": []}
    for kind, _, dl, stamp in rows:
        hit = next(((w, t) for w, t, n in srv if w >= dl), None)
        if hit is None:
            continue
        w, t = hit
        stages["agent"].append((t - dl) / 1e6)
        stages["collector"].append((stamp - t) / 1e6)
        stages["total"].append((stamp - dl) / 1e6)
    # An empty heartbeat's watermark is its drain start - 40 ms: what follows is the agent's
    # drain, encode and send plus the transport to the tap.
    stages["heartbeat_send"] = [(t - w - MARGIN) / 1e6 for w, t, n in srv if n == 0]
    res["stages"] = {k: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "max": max(v) if v else float("nan")} for k, v in stages.items()}
json.dump(res, open(out_path, "w"), indent=1)
print(json.dumps(res))
PY

# one_run TAG TAP(0|1)
one_run() {
    local tag=$1 tap=$2 col_ep="ipc://$tmp/collector.sock" agent_ep cp sp ap cap tp=""
    agent_ep=$col_ep
    rm -f "$tmp/collector.sock" "$tmp/tap.sock" "$tmp/lines.fifo"
    mkfifo "$tmp/lines.fifo"
    python3 -u "$tmp/stamp.py" <"$tmp/lines.fifo" >"$out/$tag.lines" &
    local stamp_pid=$!
    pids+=("$stamp_pid")
    "$build/synmatch-collector" --listen "$col_ep" --exit-when-done --stats 0 \
        2>"$out/$tag.collector.err" >"$tmp/lines.fifo" &
    cp=$!
    pids+=("$cp")
    wait_for "$out/$tag.collector.err" "listening on"
    if [ "$tap" = 1 ]; then
        agent_ep="ipc://$tmp/tap.sock"
        "$build/bench/sm_feed" tap "$agent_ep" "$col_ep" "$out/$tag.tap" --eos 2 2>"$out/$tag.tap.err" &
        tp=$!
        pids+=("$tp")
        wait_for "$out/$tag.tap.err" "listening on"
    fi
    ip netns exec "$LAB_NS_S" "$build/synmatch-agent" -i s-fw --role server --sensor-id lat-server \
        --collector "$agent_ep" 2>"$out/$tag.agent_server.err" &
    sp=$!
    pids+=("$sp")
    ip netns exec "$LAB_NS_C" "$build/synmatch-agent" -i c-fw --role client --sensor-id lat-client \
        --collector "$agent_ep" 2>"$out/$tag.agent_client.err" &
    ap=$!
    pids+=("$ap")
    wait_for "$out/$tag.agent_server.err" "capturing on"
    wait_for "$out/$tag.agent_client.err" "capturing on"
    sleep 1.5 # both sensors up at the collector
    ip netns exec "$LAB_NS_C" python3 "$tmp/traffic.py" rate="$rate" seconds="$seconds" \
        s4="$LAB_S4" s6="$LAB_S6" p_drop="$LAB_PORT_DROP" p_ok="$LAB_PORT_OK" >"$out/$tag.traffic"
    sleep 3 # the last missing deadlines (last attempt + 4 s) pass
    local stop_ns
    stop_ns=$(date +%s%N)
    kill -INT "$sp" "$ap"
    wait "$sp" || true
    wait "$ap" || true
    [ -n "$tp" ] && { wait "$tp" || true; }
    wait "$cp" || true
    wait "$stamp_pid" || true
    pids=()
    python3 "$tmp/analyze.py" "$out/$tag.lines" "$stop_ns" "$out/$tag.json" \
        ${tp:+"$out/$tag.tap"} >/dev/null
    cat "$out/$tag.json" >&2
}

wait_for() { # file pattern
    local i
    for i in $(seq 200); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timeout waiting for '$2' in $1" >&2
    cat "$1" >&2
    exit 1
}

for i in $(seq "$runs"); do
    one_run "direct$i" 0
done
one_run tapped 1
lab_exec fw nft list counters table inet "$LAB_NFT_TABLE" >"$out/nft_counters.txt" 2>/dev/null || true
# The collector's own stages on batches the size of the live ones (8 records, a few per
# heartbeat at this rate), in-process: decode, books + join, write, per message / line.
"$build/bench/sm_stages" --batch 8 --rate "$rate" --connections 20000 --runs 5 >"$out/stages-small.txt" || true

python3 - "$out" "$runs" <<'PY' | tee "$out/summary.txt"
import json, statistics, sys, time
out, runs = sys.argv[1], int(sys.argv[2])
print("synmatch live alert latency, %s, lab of tests/lib/lab.sh, tcp_syn_retries=1" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
for r in range(1, runs + 1):
    print("direct%d traffic: %s" % (r, open("%s/direct%d.traffic" % (out, r)).read().strip()))
print()
print("%-8s %-8s %5s %9s %9s %9s %9s   (ms after the deadline)" % ("run", "verdict", "n", "min", "p50", "p99", "max"))
med = {"suspect": {"p50": [], "p99": []}, "missing": {"p50": [], "p99": []}}
for tag in ["direct%d" % r for r in range(1, runs + 1)] + ["tapped"]:
    d = json.load(open("%s/%s.json" % (out, tag)))
    for k in ("suspect", "missing"):
        x = d[k]
        print("%-8s %-8s %5d %9.1f %9.1f %9.1f %9.1f" % (tag, k, x["n"], x["min"], x["p50"], x["p99"], x["max"]))
        if tag.startswith("direct"):
            med[k]["p50"].append(x["p50"])
            med[k]["p99"].append(x["p99"])
    print("%-8s verdict counts: %s" % (tag, " ".join("%s=%d" % kv for kv in sorted(d["counts"].items()))))
print()
for k in ("suspect", "missing"):
    print("median of the %d direct runs, %s: p50 %.1f ms, p99 %.1f ms" % (runs, k, statistics.median(med[k]["p50"]), statistics.median(med[k]["p99"])))
d = json.load(open("%s/tapped.json" % out))
print()
print("stages (tapped run, suspect and missing lines together; ms):")
names = {"agent": "deadline -> batch at the tap (agent side)",
         "heartbeat_send": "  of which drain+encode+send+transport",
         "collector": "batch at the tap -> line written",
         "total": "total"}
for k in ("agent", "heartbeat_send", "collector", "total"):
    x = d["stages"][k]
    print("  %-44s n %4d  p50 %8.2f  p99 %8.2f  max %8.2f" % (names[k], x["n"], x["p50"], x["p99"], x["max"]))
print("  (heartbeat_send: on the empty server heartbeats, whose watermark is their drain start - 40 ms)")
print()
print("the collector's stages in-process on 8-record batches (sm_stages --batch 8):")
for l in open("%s/stages-small.txt" % out):
    if l.split()[0] in ("decode", "join", "write", "all"):
        print("  " + " ".join(l.split()))
PY
