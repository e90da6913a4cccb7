#!/usr/bin/env bash
# A firewall that rewrites ISNs between the captures (Cisco ASA sequence number
# randomization), offline and live (two -r agents and the collector): the committed real pair (Linux TCP through masquerade NAT) with
# the server capture rewritten by tests/lib/rewrite_isn.py (a random offset per connection
# on the client's sequence numbers and the server's acknowledgements, MSS clamped to 1380):
#   - every final verdict (kind, attempts, answers, lost attempts, both stream numbers) equals
#     the unrewritten pair's: the stream map, the missing SYNs and the broken handshakes as
#     before, none delivered called missing or answered_by_middlebox;
#   - each SYN the server saw says "match": "fingerprint" and its server_seq differs, and
#     compare warns once that a device rewrites sequence numbers;
#   - live, the same verdicts as the live replay of the unrewritten pair, one isn_rewriting
#     event naming the path, and no suspect but for the SYNs that were really lost;
#   - adversarial: 3,000 SYNs in 3 ms to one server port, no options, one IP ID for all (a
#     load tool), every third connection rewritten, one in 50 lost: offline and live every
#     match made is right (the tuples agree: no NAT here), no delivered SYN is missing or
#     answered_by_middlebox, no lost one is matched;
#   - with timestamps off on the client as well (both captures' SYNs without them): IPv4 is
#     matched by IP ID exactly as before; IPv6 carries nothing but ports, so a connection it
#     cannot tell apart is unknown (isn_rewritten_unmatchable), never missing or middlebox.
#   tests/golden/test_isn_rewrite.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib=$here/../lib
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
compare() { # CLIENT SERVER OUT
    "$build/synmatch" compare --verdicts "$1" "$2" >"$3" 2>"$3.err" || true
}
python3 "$lib/rewrite_isn.py" "$data/server.pcap" "$tmp/rw.pcap" --mss 1380 >/dev/null
python3 "$lib/rewrite_isn.py" "$data/client.pcap" "$tmp/c_nots.pcap" --strip-ts --keep-isn >/dev/null
python3 "$lib/rewrite_isn.py" "$data/server.pcap" "$tmp/rw_nots.pcap" --strip-ts --seed 7 >/dev/null
compare "$data/client.pcap" "$data/server.pcap" "$tmp/base.jsonl"
compare "$data/client.pcap" "$tmp/rw.pcap" "$tmp/rw.jsonl"
compare "$tmp/c_nots.pcap" "$tmp/rw_nots.pcap" "$tmp/rw_nots.jsonl"
"$build/synmatch" compare --map --format csv "$data/client.pcap" "$tmp/rw.pcap" >"$tmp/rw_map.csv" 2>/dev/null || true
serve=()
while read -r ip; do serve+=(--serve "$ip"); done <"$data/server_ips.txt"
# shellcheck source=../lib/replay.sh
. "$lib/replay.sh"
live() { sm_replay "$build" "$tmp" "$@" "${serve[@]}"; } # CLIENT SERVER OUT
live "$data/client.pcap" "$data/server.pcap" "$tmp/live_base.jsonl" || fail=1
live "$data/client.pcap" "$tmp/rw.pcap" "$tmp/live_rw.jsonl" || fail=1
python3 "$lib/gen_syn_pair.py" "$tmp/lc.pcap" "$tmp/ls.pcap" --count 3000 --rate 1000000 \
    --lost-every 50 --truth "$tmp/load_truth.txt" >/dev/null
python3 "$lib/rewrite_isn.py" "$tmp/ls.pcap" "$tmp/ls_rw.pcap" --every 3 >/dev/null
compare "$tmp/lc.pcap" "$tmp/ls_rw.pcap" "$tmp/load.jsonl"
serve=(--serve 198.19.0.10)
live "$tmp/lc.pcap" "$tmp/ls_rw.pcap" "$tmp/live_load.jsonl" || fail=1
/usr/bin/python3 - "$tmp/load_truth.txt" "$tmp/load.jsonl" "$tmp/live_load.jsonl" <<'PY' || fail=1
import json, sys
seen = {int(l.split()[0]): l.split()[1] == "1" for l in open(sys.argv[1])}
bad = 0
for name, path in (("offline", sys.argv[2]), ("live", sys.argv[3])):
    wrong = misses = fp = lost_matched = 0
    for line in open(path):
        o = json.loads(line)
        if not o.get("verdict") or o["verdict"] == "suspect":
            continue
        if o.get("server"):
            fp += o["match"] == "fingerprint"
            wrong += o["server"]["sport"] != o["client"]["sport"] or o["server"]["src"] != o["client"]["src"]
            lost_matched += not seen[o["seq"]]
        elif seen[o["seq"]] and o["verdict"] in ("missing", "answered_by_middlebox"):
            misses += 1
    ok = wrong == 0 and misses == 0 and lost_matched == 0 and fp > 0
    print("%s load test %s: %d matched by fingerprint, %d wrong, %d delivered called missing or "
          "middlebox, %d lost ones matched" % ("ok  " if ok else "FAIL", name, fp, wrong, misses, lost_matched))
    bad += not ok
sys.exit(1 if bad else 0)
PY

/usr/bin/python3 - "$tmp/base.jsonl" "$tmp/rw.jsonl" "$tmp/rw_nots.jsonl" "$tmp/rw_map.csv" \
    "$tmp/live_base.jsonl" "$tmp/live_rw.jsonl" <<'PY' || fail=1
import json, sys
def finals(path):
    out = {}
    for line in open(path):
        o = json.loads(line)
        if o.get("verdict") and o["verdict"] != "suspect":
            out[o["seq"]] = o
    return out
def key(o):
    return (o["verdict"], o["attempts"], o.get("answer"), o.get("lost_before"), o.get("reason"),
            o.get("client_stream"), o.get("server_stream"))
base, rw, nots = (finals(p) for p in sys.argv[1:4])
bad = 0
def check(cond, msg):
    global bad
    print(("ok   " if cond else "FAIL ") + msg)
    bad += not cond
diff = [k for k in base if key(base[k]) != key(rw.get(k, base[k] | {"verdict": "absent"}))]
for k in diff[:5]:
    print("     ISN %d: %s, unrewritten %s" % (k, key(rw[k]) if k in rw else None, key(base[k])))
check(not diff and set(base) == set(rw), "ISNs rewritten: all %d verdicts as unrewritten" % len(base))
seen = [o for o in rw.values() if o.get("server")]
check(seen and all(o["match"] == "fingerprint" and o["server_seq"] != o["seq"] for o in seen),
      "every SYN the server saw (%d) matched by fingerprint, server_seq rewritten" % len(seen))
check(all(o["match"] == "isn" for o in base.values() if o.get("server")),
      "unrewritten: every match by ISN")
err = open(sys.argv[2] + ".err").read()
check(err.count("rewrites TCP sequence numbers") == 1, "compare warns once about the rewriting device")
rows = [l.rstrip("\n").split(",") for l in open(sys.argv[4])]
m = rows[0].index("match") if "match" in rows[0] else -1
check(m >= 0 and len(rows) - 1 == len(seen) and all(r[m] == "fingerprint" for r in rows[1:]),
      "the map (csv) has every such SYN, its column match = fingerprint")
# timestamps off
wrong = []
for k, b in base.items():
    n = nots[k]
    v6 = ":" in b["client"]["src"]
    if not v6 and key(n) != key(b):
        wrong.append((k, key(n), key(b)))
    if v6 and key(n) != key(b) and not (n["verdict"] == "unknown" and n.get("reason") == "isn_rewritten_unmatchable"):
        wrong.append((k, key(n), key(b)))
    if n["verdict"] in ("missing", "answered_by_middlebox") and b["verdict"] != n["verdict"]:
        wrong.append((k, key(n), key(b)))
for w in wrong[:5]:
    print("     ISN %d: %s, with timestamps %s" % w)
v6_unknown = sum(1 for o in nots.values() if o.get("reason") == "isn_rewritten_unmatchable")
check(not wrong, "timestamps off: IPv4 as before (by IP ID); IPv6 as before or unknown "
      "(isn_rewritten_unmatchable: %d), never a false missing or middlebox" % v6_unknown)
check(v6_unknown > 0, "timestamps off: the IPv6 connections sharing one source port are said to be unmatchable")
# live
lbase, lrw = finals(sys.argv[5]), finals(sys.argv[6])
ldiff = [k for k in lbase if k not in lrw or key(lbase[k]) != key(lrw[k])]
for k in ldiff[:5]:
    print("     live ISN %d: %s, unrewritten %s" % (k, key(lrw[k]) if k in lrw else None, key(lbase[k])))
check(lbase and not ldiff and set(lbase) == set(lrw), "live: all %d verdicts as the unrewritten replay" % len(lbase))
events = [json.loads(l) for l in open(sys.argv[6]) if '"event":"isn_rewriting"' in l]
check(len(events) == 1 and events[0]["server_seq"] != events[0]["client_seq"],
      "live: one isn_rewriting event, with both sequence numbers")
def suspects(path):
    return {json.loads(l)["seq"] for l in open(path) if '"verdict":"suspect"' in l}
check(suspects(sys.argv[6]) == suspects(sys.argv[5]), "live: suspects only for the SYNs really lost (%d)" % len(suspects(sys.argv[5])))
sys.exit(1 if bad else 0)
PY
exit "$fail"
