#!/usr/bin/env bash
# compare --report: the HTML page opened by headless Chromium with no network (a network
# namespace of its own), on the committed lab pair and on a generated ~100 MB pair (bench
# gen_pair, 50,000 connections, 3% first SYNs lost: more failures than the page lists).
# Each time: no console message at all (the page logs nothing; errors, CSP refusals and
# failed loads would), a screenshot, and the DOM's numbers equal to compare's: verdict counts
# (its stderr summary), table sizes (its csv tables), the bars of the timeline and of the
# attempts histogram summed per verdict (the counts again, and the attempts of every verdict
# from --verdicts), the failures listed and how many more. The page fetches nothing, and
# stays within a size bound. Chromium's console is first shown a page with an error, to
# prove this test sees one.
#   tests/golden/test_report.sh SYNMATCH GEN_PAIR
set -euo pipefail
synmatch=$1
gen_pair=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$here/../data/lab-nat
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }

command -v chromium >/dev/null || { echo "FAIL chromium is not installed (scripts/setup.sh)"; exit 1; }
# No network: a namespace with nothing but a loopback that is down.
if unshare --net true 2>/dev/null; then nonet=(unshare --net)
elif unshare -r -n true 2>/dev/null; then nonet=(unshare -r -n)
else echo "FAIL cannot make a network namespace for Chromium (unshare)"; exit 1; fi

# browse NAME URL: DOM to $tmp/NAME.dom, screenshot to $tmp/NAME.png, console lines to
# $tmp/NAME.console (the console lines whose source is the page: errors, exceptions, CSP
# refusals and failed loads all name it). Bounded: 60 s per run.
browse() {
    local name=$1 url=$2 flags
    flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
           --disable-component-update --disable-sync --no-first-run --enable-logging=stderr
           --v=0)
    rm -rf "$tmp/profile"
    timeout 60 "${nonet[@]}" chromium "${flags[@]}" --user-data-dir="$tmp/profile" \
        --dump-dom "$url" >"$tmp/$name.dom" 2>"$tmp/$name.err" || true
    rm -rf "$tmp/profile"
    timeout 60 "${nonet[@]}" chromium "${flags[@]}" --user-data-dir="$tmp/profile" \
        --screenshot="$tmp/$name.png" --window-size=1100,2400 "$url" >/dev/null 2>>"$tmp/$name.err" || true
    # the page's own messages; Chromium's internal pages (chrome://) log too, under load
    grep ':CONSOLE' "$tmp/$name.err" | grep -F "source: $url" >"$tmp/$name.console" || true
}

# ---- the console check can fail -------------------------------------------------------------
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body><script>nosuchfunction();</script></body></html>\n' >"$tmp/broken.html"
browse broken "file://$tmp/broken.html"
[ -s "$tmp/broken.console" ] && ok "a script error shows on Chromium's console (the check works)" ||
    { bad "a script error did not show: this check cannot see console errors"; tail -5 "$tmp/broken.err"; }

# check NAME CLIENT SERVER MAX_BYTES [compare options]: the report of that pair, checked.
check() {
    local name=$1 c=$2 s=$3 max=$4
    shift 4
    local rc=0
    "$synmatch" compare --report "$tmp/$name.html" "$@" "$c" "$s" >/dev/null 2>"$tmp/$name.summary" || rc=$?
    [ "$rc" -le 1 ] || { bad "$name: compare exit $rc"; cat "$tmp/$name.summary"; return; }
    for t in map missing broken unwitnessed; do
        "$synmatch" compare -q --$t --format csv "$@" "$c" "$s" >"$tmp/$name.$t.csv" || true
    done
    "$synmatch" compare -q --verdicts "$@" "$c" "$s" >"$tmp/$name.verdicts" || true
    local size
    size=$(stat -c %s "$tmp/$name.html")
    [ "$size" -le "$max" ] && ok "$name: the page is $size bytes (at most $max)" || bad "$name: the page is $size bytes, more than $max"
    if grep -Eo '(src|href)=|url\(|@import|https?://[^"]*' "$tmp/$name.html" | grep -vx 'http://www.w3.org/2000/svg' | grep -q .; then
        bad "$name: the page refers to something outside it: $(grep -Eo '(src|href)=|url\(|@import|https?://[^"]*' "$tmp/$name.html" | grep -vx 'http://www.w3.org/2000/svg' | sort -u | head -3)"
    else ok "$name: nothing outside the page is referred to (a CSP forbids fetching anyway)"; fi
    browse "$name" "file://$tmp/$name.html"
    [ -s "$tmp/$name.console" ] && { bad "$name: console messages"; head -5 "$tmp/$name.console"; } ||
        ok "$name: loaded with the network off, no console message"
    /usr/bin/python3 - "$tmp/$name.png" <<'PY' && ok "$name: screenshot taken" || bad "$name: screenshot"
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (1100, 2400) and len(b) > 30000, (w, h, len(b))  # a blank page is a few KB
PY
    if /usr/bin/python3 - "$tmp" "$name" <<'PY'; then ok "$name: the DOM's numbers are compare's"; else bad "$name: the DOM's numbers"; fi
import csv, json, re, sys
from html.parser import HTMLParser
tmp, name = sys.argv[1], sys.argv[2]

class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.ids, self.section = [], {}, None
        self.bars = {}          # section -> svg index -> verdict -> sum of data-n
        self.svg = {}
        self.verdict_rows, self.cur_verdict, self.cells = {}, None, []
        self.failure_rows, self.in_failures_body, self.row = [], False, None
        self.listed = None
        self.text_for = None
        self.in_title, self.titles = False, []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id")
        if tag == "svg":
            self.svg[self.section] = self.svg.get(self.section, -1) + 1
        if tag == "rect" and "data-n" in a:
            cls = a["class"][2:]
            d = self.bars.setdefault(self.section, {}).setdefault(self.svg[self.section], {})
            d[cls] = d.get(cls, 0) + int(a["data-n"])
        if tag == "tr" and "data-verdict" in a:
            self.cur_verdict, self.cells = a["data-verdict"], []
        if tag == "tbody" and self.section == "failures":
            self.in_failures_body = True
        if tag == "tr" and self.in_failures_body:
            self.row = []
        if tag == "td" and (self.cur_verdict or self.row is not None):
            (self.row if self.row is not None else self.cells).append("")
        if "id" in a and tag in ("td", "span", "b"):
            self.text_for = a["id"]
            self.ids[a["id"]] = ""
        if tag == "title" and self.section == "attempts":
            self.in_title = True
            self.titles.append("")
        if tag == "p" and a.get("id") == "failures-listed":
            self.listed = (int(a["data-listed"]), int(a["data-more"]))
    def handle_endtag(self, tag):
        if tag == "tr" and self.cur_verdict:
            self.verdict_rows[self.cur_verdict] = int(self.cells[1])
            self.cur_verdict = None
        if tag == "tr" and self.row is not None:
            self.failure_rows.append(self.row)
            self.row = None
        if tag == "tbody":
            self.in_failures_body = False
        if tag in ("td", "span", "b"):
            self.text_for = None
        if tag == "title":
            self.in_title = False
    def handle_data(self, data):
        if self.in_title:
            self.titles[-1] += data
        if self.text_for:
            self.ids[self.text_for] += data
        if self.row is not None and self.row:
            self.row[-1] += data
        elif self.cur_verdict and self.cells:
            self.cells[-1] += data

dom = Dom()
dom.feed(open("%s/%s.dom" % (tmp, name), encoding="utf-8").read())
errors = []
def want(cond, what):
    if not cond:
        errors.append(what)

# compare's stderr summary: "client SYNs: 74 ISNs, matched 56, missing 8, ..., not for the server 4"
line = [l for l in open("%s/%s.summary" % (tmp, name)) if "client SYNs:" in l][0]
counts = dict((k, int(v)) for v, k in [])
groups = int(re.search(r"client SYNs: (\d+) ISNs", line).group(1))
oos = int(re.search(r"not for the server (\d+)", line).group(1))
counts = {m.group(1): int(m.group(2)) for m in re.finditer(r", ([a-z_]+) (\d+)", line.split(", not for the server")[0])}
want(dom.verdict_rows == counts, "verdict rows %s, compare says %s" % (dom.verdict_rows, counts))
want(int(dom.ids["groups"]) == groups and int(dom.ids["out-of-scope"]) == oos, "groups / out of scope")
rows = {t: list(csv.DictReader(open("%s/%s.%s.csv" % (tmp, name, t)))) for t in ("map", "missing", "broken", "unwitnessed")}
for t, r in rows.items():
    want(int(dom.ids["rows-" + t]) == len(r), "rows-%s %s, csv %d" % (t, dom.ids["rows-" + t], len(r)))
# the timeline and the attempts histogram, summed per verdict, are the counts again
nonzero = {k: v for k, v in counts.items() if v}
want(dom.bars["timeline"][0] == nonzero, "timeline bars %s" % dom.bars["timeline"][0])
want(dom.bars["attempts"][0] == nonzero, "attempts bars %s" % dom.bars["attempts"][0])
failing = ("missing", "reply_lost", "unanswered", "answered_by_middlebox")
want(dom.bars["timeline"].get(1, {}) == {k: v for k, v in nonzero.items() if k in failing}, "failure bars")
# attempts per verdict, from every verdict line
verdicts = [json.loads(l) for l in open("%s/%s.verdicts" % (tmp, name)) if '"verdict"' in l]
want(len(verdicts) == sum(counts.values()), "verdict lines")
bins = {}
for o in verdicts:
    b = "9+" if o["attempts"] >= 9 else str(o["attempts"])
    bins[(b, o["verdict"])] = bins.get((b, o["verdict"]), 0) + 1
got = {}
for t in dom.titles:  # "2 attempts: 5 missing"
    m = re.fullmatch(r"(\S+) attempts?: (\d+) (\w+)", t)
    got[(m.group(1), m.group(3))] = int(m.group(2))
want(got == bins, "attempts histogram %s, verdicts say %s" % (got, bins))
# the failures: every one counted, the first 500 listed in time order with their filters
fails = sorted([r for r in rows["missing"]] + [r for r in rows["broken"] if r["verdict"] in failing],
               key=lambda r: (r["first"], int(r["client_stream"]), int(r["seq"])))
total = int(dom.ids["failures-total"])
want(total == len(fails) == int(dom.ids["failed"]), "failures total %d, csv %d" % (total, len(fails)))
want(dom.listed == (min(500, total), total - min(500, total)), "listed %s" % (dom.listed,))
want(len(dom.failure_rows) == min(500, total), "failure rows %d" % len(dom.failure_rows))
for got, r in zip(dom.failure_rows, fails):
    verdict = r.get("verdict", "missing")
    flt = "tcp.stream eq %s tcp.seq_raw == %s" % (r["client_stream"], r["seq"])
    if got[0] != verdict or got[1] != r["first"] or got[4].split() != flt.split():
        errors.append("failure row %s != %s" % (got[:5], (verdict, r["first"], flt)))
        break
for e in errors[:8]:
    print("    " + e)
print("    %d verdicts, %d failures (%d listed), %d timeline bars" % (sum(counts.values()), total, len(dom.failure_rows), sum(len(v) for v in [dom.bars["timeline"][0]])))
sys.exit(1 if errors else 0)
PY
}

check lab "$data/client.pcap" "$data/server.pcap" 100000
mkdir -p "$tmp/pair"
"$gen_pair" --connections 50000 --loss 3 "$tmp/pair/client.pcap" "$tmp/pair/server.pcap" >"$tmp/gen.log" 2>&1 ||
    { bad "gen_pair"; tail -3 "$tmp/gen.log"; exit 1; }
echo "     generated pair: $(( $(stat -c %s "$tmp/pair/client.pcap") + $(stat -c %s "$tmp/pair/server.pcap") )) bytes"
check pair100m "$tmp/pair/client.pcap" "$tmp/pair/server.pcap" 1000000
# The same comparison gives the same page.
"$synmatch" compare -q --report "$tmp/again.html" "$tmp/pair/client.pcap" "$tmp/pair/server.pcap" >/dev/null || true
cmp -s "$tmp/again.html" "$tmp/pair100m.html" && ok "the same comparison, the same bytes" || bad "two runs, two pages"
rm -rf "$tmp/pair"
[ "$fail" = 0 ] && echo PASS || { echo "$fail failure(s)"; exit 1; }
