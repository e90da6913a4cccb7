#!/usr/bin/env bash
# Community ID against Wireshark's: on the committed real capture pair (tests/data/lab-nat,
# IPv4 and IPv6 through masquerade NAT), every verdict's community_id equals the one tshark's
# communityid dissector gives the client SYN's frame (its tcp.stream, client capture) and
# every server_community_id the one it gives the server's (server capture), for seeds 0, 1 and
# 65535; the csv map's last columns say the same. The published test vectors are in the unit
# test (tests/unit/test_communityid.c).
#   tests/golden/test_community_id.sh SYNMATCH
set -euo pipefail
synmatch=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

tshark -G protocols 2>/dev/null | grep -q $'\tcommunityid$' ||
    { echo "FAIL this tshark has no communityid dissector"; exit 1; }

for seed in 0 1 65535; do
    for side in client server; do
        # stream -> ID of its SYNs (a stream's frames all share one ID)
        tshark -r "$data/$side.pcap" --enable-protocol communityid -o "communityid.seed:$seed" \
            -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields -e tcp.stream -e communityid \
            2>"$tmp/tshark.err" | sort -u >"$tmp/$side.$seed.tsv" ||
            { echo "FAIL tshark on $side.pcap"; cat "$tmp/tshark.err"; exit 1; }
    done
    "$synmatch" compare --verdicts --community-id-seed "$seed" "$data/client.pcap" "$data/server.pcap" \
        >"$tmp/v.$seed.jsonl" 2>"$tmp/err" || [ $? -eq 1 ] || { echo "FAIL compare"; cat "$tmp/err"; exit 1; }
    "$synmatch" compare --map --format csv --community-id-seed "$seed" "$data/client.pcap" "$data/server.pcap" \
        >"$tmp/map.$seed.csv" 2>"$tmp/err" || [ $? -eq 1 ] || { echo "FAIL compare --map"; cat "$tmp/err"; exit 1; }
    if /usr/bin/python3 - "$tmp" "$seed" <<'PY'; then echo "ok   seed $seed: community_id = tshark's"; else echo "FAIL seed $seed"; fail=$((fail + 1)); fi
import csv, json, sys
tmp, seed = sys.argv[1], sys.argv[2]
def ids(side):
    out = {}
    for line in open("%s/%s.%s.tsv" % (tmp, side, seed)):
        stream, cid = line.rstrip("\n").split("\t")
        assert out.get(int(stream), cid) == cid, "two IDs for %s stream %s" % (side, stream)
        out[int(stream)] = cid
    return out
client, server = ids("client"), ids("server")
n = nat = v6 = 0
bad = []
for line in open("%s/v.%s.jsonl" % (tmp, seed)):
    o = json.loads(line)
    if "verdict" not in o:
        continue
    n += 1
    v6 += ":" in o["client"]["src"]
    if client.get(o["client_stream"]) != o["community_id"]:
        bad.append(("client", o["seq"], o["community_id"], client.get(o["client_stream"])))
    if o["server"] is None:
        assert "server_community_id" not in o, o
        continue
    if o["server"] == o["client"]:
        assert "server_community_id" not in o, o
        continue
    nat += 1
    if server.get(o["server_stream"]) != o["server_community_id"]:
        bad.append(("server", o["seq"], o["server_community_id"], server.get(o["server_stream"])))
for b in bad[:10]:
    print("    %s side of ISN %d: synmatch %s, tshark %s" % b)
rows = list(csv.DictReader(open("%s/map.%s.csv" % (tmp, seed))))
assert list(rows[0].keys())[-3:] == ["match", "community_id", "server_community_id"], rows[0].keys()
for r in rows:
    assert r["community_id"] == client[int(r["client_stream"])], r
    assert r["server_community_id"] in ("", server[int(r["server_stream"])]), r
print("    %d verdicts (%d IPv6, %d with a NAT-translated server tuple), %d map rows" % (n, v6, nat, len(rows)))
sys.exit(1 if bad or n < 50 or nat < 20 or v6 < 10 else 0)
PY
done

# The seed is part of the hash: three seeds, three different IDs for the first verdict.
[ "$(for s in 0 1 65535; do head -n 1 "$tmp/v.$s.jsonl"; done | grep -o '"community_id":"[^"]*"' | sort -u | wc -l)" = 3 ] &&
    echo "ok   the seed changes the ID" || { echo "FAIL the seed does not change the ID"; fail=$((fail + 1)); }
# The option's bounds.
for bad_seed in 65536 -1 x ""; do
    rc=0; "$synmatch" compare --community-id-seed "$bad_seed" "$data/client.pcap" "$data/server.pcap" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] && echo "ok   --community-id-seed '$bad_seed' refused (exit 2)" ||
        { echo "FAIL --community-id-seed '$bad_seed': exit $rc"; fail=$((fail + 1)); }
done
[ "$fail" = 0 ] && echo "PASS" || { echo "$fail failure(s)"; exit 1; }
