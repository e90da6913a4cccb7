#!/usr/bin/env bash
# Real Linux traffic through client, firewall and server namespaces (nftables dropping SYNs,
# IPv4 and IPv6, reused ports, a refused port, optionally masquerade NAT), captured with
# tcpdump on both ends, then:
#   1. tcp.stream parity with tshark on every frame of all three captures;
#   2. the missing list is exactly the SYNs the firewall dropped, with their attempt counts;
#   3. the map and missing list equal the article's method (tshark -T ek, joined on seq_raw);
#   4. every client ISN gets the verdict the truth expects from its fault (matched, refused,
#      reply_lost, unanswered, answered_by_middlebox, missing), lost attempts counted, NAT
#      visible, and SYNs to a host the server does not own never judged.
# With --rewrite the firewall randomizes every connection's ISN as Cisco ASA does (an NFQUEUE
# program, tests/lib/sm_isnrw.c; --mss N clamps the MSS too): the map must still name every
# delivered connection's server stream (checked against the article's method on the server
# capture with the rewrite taken off again), every matched verdict says "match":"fingerprint"
# with both ISNs, and compare warns of the device. With --no-timestamps the client sends no
# TCP timestamps: IPv4 is matched by IP ID; a delivered IPv6 SYN carries only its ports, and
# may be matched only rightly, else unknown (isn_rewritten_unmatchable) or ambiguous, never
# missing; a dropped one is still missing (the server saw no SYN to its port at all).
#   tests/netns/test_real_pair.sh SYNMATCH [--nat] [--rewrite [--mss N]] [--no-timestamps]
set -euo pipefail
synmatch=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rewrite=0
nots=0
mss=""
prev=""
for a in "$@"; do
    case "$a" in
        --rewrite) rewrite=1 ;;
        --no-timestamps) nots=1 ;;
    esac
    [ "$prev" = --mss ] && mss=$a
    prev=$a
done
export LAB_ISNRW=${LAB_ISNRW:-$(dirname "$synmatch")/tests/sm_isnrw}

"$here/record_pair.sh" "$@" "$out" >"$out/record.log" 2>&1 || {
    cat "$out/record.log" >&2
    exit 1
}
fail=0
check() { # NAME COMMAND...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}

check "stream parity (client, server, firewall)" \
    "$root/tests/parity/stream_parity.sh" "$synmatch" "$out/client.pcap" "$out/server.pcap" "$out/firewall_in.pcap"

"$synmatch" compare --missing --format csv "$out/client.pcap" "$out/server.pcap" >"$out/missing.csv" 2>"$out/compare.err" && rc=0 || rc=$?
check "exit status 1 (missing SYNs found)" test "$rc" -eq 1
if [ "$rewrite" = 1 ]; then
    check "compare names the rewriting device ($(wc -l <"$out/isn_rewrites.txt") ISNs rewritten)" \
        grep -q "a device between the captures rewrites TCP sequence numbers" "$out/compare.err"
    # The server capture as it would be without the device: the article's reference.
    /usr/bin/python3 "$root/tests/lib/rewrite_isn.py" --undo "$out/isn_rewrites.txt" \
        "$out/server.pcap" "$out/server_orig.pcap" >/dev/null
    ref_server=$out/server_orig.pcap
else
    ref_server=$out/server.pcap
fi
tail -n +2 "$out/missing.csv" | awk -F, '{print $2, $1}' | sort >"$out/missing.got"
sort "$out/dropped_counts.txt" >"$out/missing.want"
# (IPv6 without timestamps too: the server saw no SYN at all to the dropped port)
check "missing = SYNs the firewall dropped, with attempt counts ($(wc -l <"$out/missing.want") ISNs)" \
    diff "$out/missing.want" "$out/missing.got"
if [ -n "$mss" ]; then
    tshark -r "$out/server.pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0" -T fields -e tcp.options.mss_val 2>/dev/null | sort -u >"$out/mss.txt"
    check "the server saw SYNs with MSS $mss at most ($(tr '\n' ' ' <"$out/mss.txt"))" \
        awk -v m="$mss" 'NF { n++; if ($1 > m) bad = 1 } END { exit bad || !n }' "$out/mss.txt"
fi

mapfile -t ips <"$out/server_ips.txt"
ipargs=()
for ip in "${ips[@]}"; do ipargs+=(--server-ip "$ip"); done
article() { /usr/bin/python3 "$root/scripts/article_method.py" "$@" 2>"$out/article.err" || { echo "article_method.py failed:" >&2; cat "$out/article.err" >&2; }; }
article --map "$out/client.pcap" "$ref_server" | cut -d, -f1-3 >"$out/art_map.csv"
"$synmatch" compare --map --format csv "$out/client.pcap" "$out/server.pcap" 2>/dev/null | cut -d, -f1-3 >"$out/our_map.csv" || true
if [ "$nots" = 1 ] && [ "$rewrite" = 1 ]; then
    # IPv6 SYNs carry only their ports here: a row may be missing, never wrong.
    check "map rows all in the article's ($(($(wc -l <"$out/our_map.csv") - 1)) of $(($(wc -l <"$out/art_map.csv") - 1)))" \
        test -z "$(comm -13 <(sort "$out/art_map.csv") <(sort "$out/our_map.csv"))"
else
    check "map = article's method ($(($(wc -l <"$out/art_map.csv") - 1)) rows)" diff "$out/art_map.csv" "$out/our_map.csv"
fi
# The article's method calls every client SYN the server did not see missing; synmatch tells
# the firewall's own reset (answered_by_middlebox) apart: leave those out of the comparison.
awk -F'\t' '$7 == "reset" {print $1}' "$out/expected.tsv" >"$out/reset_isns.txt"
article --missing "${ipargs[@]}" "$out/client.pcap" "$ref_server" |
    awk -F, -v rf="$out/reset_isns.txt" 'BEGIN {while ((getline l <rf) > 0) r[l] = 1} !($2 in r)' >"$out/art_miss.csv"
"$synmatch" compare --missing --format csv "${ipargs[@]}" "$out/client.pcap" "$out/server.pcap" 2>/dev/null |
    cut -d, -f1,2 | { read -r h; echo "$h"; sort -t, -k2n; } >"$out/our_miss.csv" || true
check "missing = article's method" diff "$out/art_miss.csv" "$out/our_miss.csv"

"$synmatch" compare --verdicts "$out/client.pcap" "$out/server.pcap" >"$out/verdicts.jsonl" 2>/dev/null || true
check "verdict per ISN matches the truth" /usr/bin/python3 - "$out/expected.tsv" "$out/verdicts.jsonl" "$@" <<'PY'
import json, sys
expected, verdicts = sys.argv[1], sys.argv[2]
nat = "--nat" in sys.argv[3:]
rewrite = "--rewrite" in sys.argv[3:]
nots = "--no-timestamps" in sys.argv[3:]
unmatched_v6 = 0
want = {}
for line in open(expected):
    if line.startswith("#"):
        continue
    isn, fam, src, sport, dst, dport, kind, expect, answer, ca, sa = line.rstrip("\n").split("\t")
    want[int(isn)] = dict(kind=kind, expect=expect, answer=answer, ca=int(ca), sa=int(sa), sport=int(sport))
got = {}
bad = 0
for line in open(verdicts):
    v = json.loads(line)
    if v["seq"] in got:
        print("  two verdicts for ISN", v["seq"]); bad += 1
    got[v["seq"]] = v
for isn, w in want.items():
    v = got.get(isn)
    if w["expect"] == "out_of_scope":
        if v is not None:
            print("  out-of-scope ISN", isn, "was judged:", v["verdict"]); bad += 1
        continue
    if v is None:
        print("  no verdict for ISN", isn, w); bad += 1; continue
    if rewrite and v.get("server") is not None:
        if v.get("match") != "fingerprint" or v.get("server_seq") == isn:
            print("  ISN", isn, "matched", v.get("match"), "server_seq", v.get("server_seq"), "(rewritten)"); bad += 1
    if (rewrite and nots and ":" in v["client"]["src"] and w["expect"] != "missing" and
            w["kind"] != "reset" and (v["verdict"] == "ambiguous" or
            (v["verdict"] == "unknown" and v.get("reason") == "isn_rewritten_unmatchable"))):
        # A delivered IPv6 SYN with nothing but its ports: not matched, and said so. (One
        # the firewall dropped or answered is missing or answered_by_middlebox as ever: the
        # server saw no SYN at all to that port.)
        unmatched_v6 += 1
        continue
    if v["verdict"] != w["expect"]:
        print("  ISN", isn, w["kind"], "expected", w["expect"], "got", v["verdict"]); bad += 1; continue
    if v["attempts"] != w["ca"]:
        print("  ISN", isn, "attempts", v["attempts"], "want", w["ca"]); bad += 1
    if w["expect"] == "matched":
        if v["answer"] != w["answer"]:
            print("  ISN", isn, "answer", v["answer"], "want", w["answer"]); bad += 1
        if v["lost_before"] != w["ca"] - w["sa"]:
            print("  ISN", isn, "lost_before", v["lost_before"], "want", w["ca"] - w["sa"]); bad += 1
        if nat and v["server"]["src"] == v["client"]["src"]:
            print("  ISN", isn, "NAT not visible: same source at both ends"); bad += 1
        if not nat and v["server"] != v["client"]:
            print("  ISN", isn, "tuples differ without NAT"); bad += 1
for isn in got:
    if isn not in want:
        print("  unexpected verdict for ISN", isn); bad += 1
print("  %d ISNs expected, %d verdicts, %d problems" % (len(want), len(got), bad))
if nots and rewrite:
    print("  %d IPv6 ISNs without timestamps not matched (ambiguous or isn_rewritten_unmatchable)" % unmatched_v6)
sys.exit(1 if bad else 0)
PY

echo "$fail checks failed"
[ "$fail" -eq 0 ]
