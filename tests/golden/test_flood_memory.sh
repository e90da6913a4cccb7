#!/usr/bin/env bash
# The collector's memory under a SYN flood from 2^20 spoofed sources (IPv6, 2001:db8:f::/48,
# one address per SYN; half to one port, half spread over 4,096 ports), fed as a server
# sensor's batches (tests/lib/sm_flood_feed.c) with --max-pending 131072 and
# --health-services 20 (a table of 48 services):
#   - peak RSS with 2^20 sources is within 32 MB of the peak with 2^18 (the estimator, the
#     service table and the join are bounded, not the flood), and under 300 MB;
#   - every SYN is counted in the health lines (their unmonitored_syns sum to 2^20), at most
#     21 lines an interval, the services past the table's bound in the "other" line
#     (services_folded said), the stats line counts what was folded and at most 48 tracked;
#   - each health line's distinct-source estimate is within 5 standard errors
#     (sources_error) of its SYN count (all sources distinct), the busy port's and other's
#     (the estimator's hash is keyed at random per run: at 3 standard errors one of 24 lines
#     fell outside in about one run in 16, as seen in CI; at 5, one in 70,000);
#   - a syn_flood event for the flooded port.
#   tests/golden/test_flood_memory.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
feed=$build/tests/sm_flood_feed
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

# run NAME SYNS: the collector fed SYNS flood SYNs; its peak RSS in kB in $tmp/NAME.rss.
# Bounded waits, generous: a sanitizer build on a loaded machine is ten times slower.
run() {
    local name=$1 syns=$2 sock=ipc://$tmp/$1.sock
    /usr/bin/time -f "%M" -o "$tmp/$name.rss" "$build/synmatch-collector" --listen "$sock" \
        --exit-when-done --stats 0 --max-pending 131072 --health-interval 1 --health-services 20 \
        --output "$tmp/$name.jsonl" 2>"$tmp/$name.err" &
    local cpid=$!
    for _ in $(seq 400); do grep -q "listening on" "$tmp/$name.err" 2>/dev/null && break; sleep 0.05; done
    # the feeder keeps its connection until the collector, done, closes it
    timeout 300 "$feed" --hold 280 --syns "$syns" "$sock" >"$tmp/$name.feed" 2>&1 ||
        bad "$name: the feeder failed (exit $?)"
    for _ in $(seq 3000); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$cpid" 2>/dev/null && { bad "$name: the collector did not finish"; kill $(pgrep -P "$cpid") 2>/dev/null || true; }
    wait "$cpid" || bad "$name: collector exit $?"
    if [ "$fail" -gt 0 ]; then
        echo "--- $name: collector stderr"; tail -20 "$tmp/$name.err"
        echo "--- $name: feeder"; tail -5 "$tmp/$name.feed"
        exit 1
    fi
}
run small $((1 << 18))
run big $((1 << 20))
small=$(tail -1 "$tmp/small.rss")
big=$(tail -1 "$tmp/big.rss")
echo "     peak RSS: 2^18 sources $((small / 1024)) MB, 2^20 sources $((big / 1024)) MB"
if [ -n "${SM_SANITIZED:-}" ]; then
    # ASan keeps freed memory in quarantine and adds shadow memory: RSS says nothing of the
    # program's bound here. The plain build's run of this test holds it; here the rest.
    echo "     (sanitizer build: peak RSS not compared; the plain build's run compares it)"
else
    [ "$big" -lt $((small + 32 * 1024)) ] && [ "$big" -lt $((300 * 1024)) ] &&
        ok "memory bounded: 2^20 sources within 32 MB of 2^18 ($(((big - small) / 1024)) MB more)" ||
        bad "memory grows with the flood: $small kB -> $big kB"
fi

/usr/bin/python3 - "$tmp/big.jsonl" $((1 << 20)) <<'PY' || fail=$((fail + 1))
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = int(sys.argv[2])
health = [o for o in lines if o.get("event") == "health"]
bad = 0
total = sum(o.get("unmonitored_syns", 0) for o in health)
print("%s every SYN counted: %d of %d in %d health lines" % ("ok  " if total == want else "FAIL", total, want, len(health)))
bad += total != want
per = {}
for o in health:
    per[o["from"]] = per.get(o["from"], 0) + 1
folded = [o for o in health if o["service"] == "other" and o.get("services_folded")]
print("%s at most %d lines an interval (20 services and other), folded into other in %d intervals (up to %d services said)" % (
    "ok  " if max(per.values()) <= 21 and folded else "FAIL", max(per.values()), len(folded),
    max((o["services_folded"] for o in folded), default=0)))
bad += not (max(per.values()) <= 21 and folded)
checked = 0
for o in health:
    n = o.get("unmonitored_syns", 0)
    if n < 2000 or "unmonitored_sources" not in o:
        continue
    est, err = o["unmonitored_sources"], o["sources_error"]
    checked += 1
    if abs(est - n) > 5 * err * n:
        print("FAIL %s %s: %d sources estimated for %d distinct" % (o["from"], o["service"], est, n))
        bad += 1
print("%s distinct-source estimates within 5 standard errors in %d lines (busy port and other)" % (
    "ok  " if checked >= 8 else "FAIL", checked))
bad += checked < 8
floods = [o for o in lines if o.get("event") == "syn_flood"]
print("%s syn_flood for %s" % ("ok  " if any(o["service"] == "[2001:db8:10::10]:443" for o in floods) else "FAIL",
                              [o["service"] for o in floods][:3]))
bad += not any(o["service"] == "[2001:db8:10::10]:443" for o in floods)
sys.exit(1 if bad else 0)
PY
grep -Eq "services tracked ([0-9]|[1-3][0-9]|4[0-8]), folded into other [1-9]" "$tmp/big.err" && ok "the stats line counts the folding: $(grep -o 'services tracked.*evicted [0-9]*' "$tmp/big.err")" ||
    bad "stats line: $(grep 'health:' "$tmp/big.err")"
exit "$fail"
