#!/usr/bin/env bash
# A real Prometheus server (Debian's prometheus, its own instance on its own port and data
# directory) scrapes a collector and an agent every second while the committed pair is
# replayed at the capture's pace, with the example rules of dist/prometheus/rules.yml loaded:
#   - both targets are up (the agent while it replays);
#   - once the replay is over and the collector's output still, the server's
#     synmatch_verdicts_total equal the verdict file's counts, kind by kind, and its
#     per-service counters sum to the same;
#   - the agent's records counter was scraped, never past the records it sent, and the
#     collector counts exactly those records from it;
#   - the server loaded the rules (promtool check rules accepts the file too), and its
#     recording rule over the services gives a value;
#   - every query of the Grafana dashboard dist/grafana/synmatch.json evaluates on it.
# Every wait is bounded; on failure the server's log and the last answers are printed.
#   tests/golden/test_prometheus.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
for p in prometheus promtool curl; do
    command -v $p >/dev/null || { echo "FAIL $p is not installed (scripts/setup.sh)"; exit 1; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port)
aport=$(free_port)
pport=$(free_port)
sock=ipc://$tmp/c.sock
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"

promtool check rules "$root/dist/prometheus/rules.yml" >"$tmp/rules.lint" 2>&1 &&
    ok "promtool check rules accepts dist/prometheus/rules.yml" ||
    { bad "promtool check rules"; cat "$tmp/rules.lint"; }

cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - $root/dist/prometheus/rules.yml
scrape_configs:
  - job_name: synmatch-collector
    static_configs:
      - targets: ['127.0.0.1:$cport']
  - job_name: synmatch-agent
    static_configs:
      - targets: ['127.0.0.1:$aport']
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
ppid_=$!
api="http://127.0.0.1:$pport"
for _ in $(seq 300); do curl -sf "$api/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$api/-/ready" >/dev/null || { bad "prometheus not ready after 30 s"; cat "$tmp/prometheus.log"; exit 1; }
ok "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') ready on 127.0.0.1:$pport"

# query EXPR: the instant vector as "labels value" lines (python prints them)
query() {
    curl -sf --get "$api/api/v1/query" --data-urlencode "query=$1" >"$tmp/q.json" || { echo "error"; return; }
    python3 - "$tmp/q.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for s in r["data"]["result"]:
    m = s["metric"]
    print(",".join("%s=%s" % (k, m[k]) for k in sorted(m) if k not in ("__name__", "instance", "job")), s["value"][1])
PY
}

"$build/synmatch-collector" --listen "$sock" --stats 0 --health-interval 1 \
    --metrics-listen "127.0.0.1:$cport" --output "$tmp/live.jsonl" 2>"$tmp/collector.err" &
cpid=$!
"$build/synmatch-agent" -r "$data/server.pcap" --role server --sensor-id server "${serve[@]}" \
    --collector "$sock" --realtime 2>"$tmp/as.err" &
spid=$!
"$build/synmatch-agent" -r "$data/client.pcap" --role client --sensor-id client \
    --collector "$sock" --realtime --metrics-listen "127.0.0.1:$aport" 2>"$tmp/ac.err" &
apid=$!
up=""
for _ in $(seq 40); do
    up=$(query 'up{job=~"synmatch-.*"} == 1' | wc -l)
    [ "$up" = 2 ] && break
    sleep 0.25
done
[ "$up" = 2 ] && ok "both targets up (collector and agent scraped)" ||
    { bad "targets up: $up"; curl -s "$api/api/v1/targets" | head -c 2000; echo; }
wait "$spid" "$apid" || true
sent=$(sed -n 's/.*records sent \([0-9]*\),.*/\1/p' "$tmp/ac.err")

prev=-1
for _ in $(seq 40); do
    n=$(wc -c <"$tmp/live.jsonl")
    [ "$n" = "$prev" ] && break
    prev=$n
    sleep 0.5
done
want=$(python3 - "$tmp/live.jsonl" <<'PY'
import json, sys
c = {}
for o in map(json.loads, open(sys.argv[1])):
    if "verdict" in o:
        c[o["verdict"]] = c.get(o["verdict"], 0) + 1
print(" ".join("verdict=%s:%d" % kv for kv in sorted(c.items())))
PY
)
have=""
for _ in $(seq 40); do
    have=$(query 'synmatch_verdicts_total > 0' | sed 's/ /:/' | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$have" = "$want" ] && break
    sleep 0.5
done
[ -n "$want" ] && [ "$have" = "$want" ] && ok "prometheus's synmatch_verdicts_total equal the verdict file: $want" ||
    { bad "verdict counters: prometheus '$have', file '$want'"; }
svc=$(query 'sum by (verdict) (synmatch_service_verdicts_total) > 0' | sed 's/ /:/' | sort | tr '\n' ' ' | sed 's/ $//')
[ "$svc" = "$want" ] && ok "the per-service counters sum to the same" || bad "per-service sums '$svc'"
# The agent exits once its file is sent, so its last figures may not be scraped: its counter
# must have been scraped, never falling and never past what it sent; the collector (still up) must
# count exactly that many records from it.
curl -sf --get "$api/api/v1/query" --data-urlencode 'query=synmatch_agent_records_total[5m]' -o "$tmp/range.json" || true
python3 - "$tmp/range.json" "${sent:-0}" <<'PY' && ok "the agent's records counter scraped (never falling, never past its $sent records)" || bad "agent records over time"
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
vals = [int(float(v[1])) for v in r[0]["values"]] if r else []
sent = int(sys.argv[2])
print("     %d samples: %s" % (len(vals), vals[:3] + ["..."] + vals[-2:] if len(vals) > 5 else vals))
sys.exit(0 if len(vals) >= 3 and vals == sorted(vals) and 0 < vals[-1] <= sent else 1)
PY
col=$(query 'synmatch_records_total{sensor="client"}' | awk '{print $NF}')
[ -n "$sent" ] && [ "$col" = "$sent" ] && ok "the collector's synmatch_records_total{sensor=\"client\"} is the $sent records the agent sent" ||
    bad "collector's records from the client: '$col', agent said '$sent'"
curl -sf "$api/api/v1/rules" -o "$tmp/rules.json" || true
python3 - "$tmp/rules.json" <<'PY' && ok "the example rules are loaded and evaluate" || { bad "rules"; head -c 1500 "$tmp/rules.json"; echo; }
import json, sys
g = json.load(open(sys.argv[1]))["data"]["groups"]
rules = [r for grp in g for r in grp["rules"]]
bad = [r["name"] for r in rules if r.get("health") != "ok"]
print("     %d groups, %d rules, not ok: %s" % (len(g), len(rules), bad))
sys.exit(0 if len(rules) >= 12 and not bad else 1)
PY
# The Grafana dashboard: every panel's query is valid PromQL for this server, and the
# verdicts panel shows data.
python3 - "$root/dist/grafana/synmatch.json" "$api" <<'PY' && ok "every query of dist/grafana/synmatch.json evaluates" || bad "dashboard queries"
import json, sys, urllib.parse, urllib.request
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
bad, data = 0, 0
for e in exprs:
    q = e.replace("$service", ".*").replace("$__rate_interval", "1m")
    url = sys.argv[2] + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        r = json.load(urllib.request.urlopen(url, timeout=5))
        ok = r.get("status") == "success"
    except Exception as ex:  # a 400 for invalid PromQL
        ok, r = False, {"error": str(ex)}
    if not ok:
        print("     bad query: %s (%s)" % (q, r.get("error")))
        bad += 1
    elif "synmatch_service_verdicts_total" in q and r["data"]["result"]:
        data += 1
print("     %d panels, %d queries, %d with verdict data" % (len(d["panels"]), len(exprs), data))
sys.exit(1 if bad or len(exprs) < 15 or data == 0 else 0)
PY
share=$(query 'synmatch:service_failure_share:rate5m' | wc -l)
[ "$share" -gt 0 ] && ok "the recording rule gives the failure share of $share services" || bad "recording rule: no series"
kill -TERM "$cpid" "$ppid_" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
[ "$fail" = 0 ] || { echo "--- prometheus log"; tail -20 "$tmp/prometheus.log"; }
exit "$fail"
