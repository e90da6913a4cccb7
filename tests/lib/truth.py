#!/usr/bin/python3
"""Derive and cross-check the truth files of one lab recording (stdlib only).

Inputs are the SYN/RST tables printed by lab_pcap_syns (tests/lib/lab.sh):
    ts_ns family src sport dst dport flags_hex seq ack
plus the client's own connection log (traffic.tsv) and the nft counters.
Every check that fails is printed; the exit status is 1 if any failed.
See tests/netns/README.md for the meaning of the files written.
"""
import argparse
import collections
import os
import sys

SYN, RST, ACK = 0x02, 0x04, 0x10

ap = argparse.ArgumentParser()
ap.add_argument("--client", required=True)
ap.add_argument("--server", required=True)
ap.add_argument("--fw", required=True)
ap.add_argument("--traffic", required=True)
ap.add_argument("--counters", required=True)
ap.add_argument("--outdir", required=True)
ap.add_argument("--nat", type=int, default=0)
ap.add_argument("--syn-retries", type=int, required=True)
ap.add_argument("--client-ips", required=True)      # comma separated
ap.add_argument("--server-ips", required=True)
ap.add_argument("--other-ips", required=True)
ap.add_argument("--nat-ips", required=True)         # firewall's server-side addresses
ap.add_argument("--ports", required=True)           # ok,drop,refused,lossy,other
ap.add_argument("--fault-ports", required=True)     # replydrop,hostdrop,fullq,cookies,reset
ap.add_argument("--sport-reuse", type=int, required=True)
ap.add_argument("--sport-reuse-rst", type=int, required=True)
# The firewall randomizes ISNs (lab_rewrite_on): a reused source port's new SYN may then carry
# an ISN below what the server's TIME_WAIT socket last saw, with a TSval equal to its last
# (the same millisecond), so the server answers it with an ACK, the client resets, and its
# retransmission gets through: a reused port may take two attempts, both seen at the server.
ap.add_argument("--rewrite", type=int, default=0)
a = ap.parse_args()

CLIENT = set(a.client_ips.split(","))
SERVER = a.server_ips.split(",")
OTHER = set(a.other_ips.split(","))
NATIPS = set(a.nat_ips.split(","))
P_OK, P_DROP, P_REF, P_LOSSY, P_OTHER = (int(x) for x in a.ports.split(","))
P_REPLYDROP, P_HOSTDROP, P_FULLQ, P_COOKIES, P_RESET = (int(x) for x in a.fault_ports.split(","))
# What each kind of connection must end as (docs/VERDICTS.md), and the client's own result.
EXPECT = dict(head="matched", ok="matched", reuse="matched", lossy="matched", tail="matched",
              filler="matched", cookies="matched", refused="refused", drop="missing",
              replydrop="reply_lost", hostdrop="unanswered", fullq="unanswered",
              reset="answered_by_middlebox", other="out_of_scope")
RETRIED = ("drop", "replydrop", "hostdrop", "fullq")  # every attempt sent: 1 + syn retries

errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            t = line.rstrip("\n").split("\t")
            if len(t) != 9:
                continue
            rows.append(dict(ts=int(t[0]), fam=t[1], src=t[2], sport=int(t[3]), dst=t[4],
                             dport=int(t[5]), flags=int(t[6], 16), seq=int(t[7]), ack=int(t[8])))
    return rows


def is_syn(r):
    return r["flags"] & (SYN | ACK) == SYN


cli, srv, fw = load(a.client), load(a.server), load(a.fw)
traffic = [l.rstrip("\n").split("\t") for l in open(a.traffic) if l.strip()]
counters = {}
for line in open(a.counters):
    t = line.split()
    if len(t) >= 2:
        counters[t[0]] = int(t[1])

# ---- client view: one entry per (ISN, 4-tuple), attempts = SYN packets -------------------
conns = collections.OrderedDict()
for r in cli:
    if is_syn(r) and r["src"] in CLIENT:
        k = (r["seq"], r["fam"], r["src"], r["sport"], r["dst"], r["dport"])
        c = conns.setdefault(k, dict(first=r["ts"], attempts=0))
        c["attempts"] += 1

srv_syn = collections.Counter()
srv_syn_src = collections.defaultdict(set)
for r in srv:
    if is_syn(r) and r["dst"] in SERVER:
        srv_syn[r["seq"]] += 1
        srv_syn_src[r["seq"]].add(r["src"])
fw_syn = collections.Counter(r["seq"] for r in fw if is_syn(r) and r["src"] in CLIENT)

# answers seen at the server (sent by it) and at the client (received), keyed by ISN (= ack-1)
srv_ans = collections.defaultdict(set)
for r in srv:
    if r["src"] in SERVER and r["flags"] & ACK and r["flags"] & (SYN | RST):
        srv_ans[(r["ack"] - 1) & 0xFFFFFFFF].add("syn-ack" if r["flags"] & SYN else "rst")
cli_ans = collections.defaultdict(set)
for r in cli:
    if r["dst"] in CLIENT and r["flags"] & ACK and r["flags"] & (SYN | RST):
        cli_ans[(r["ack"] - 1) & 0xFFFFFFFF].add("syn-ack" if r["flags"] & SYN else "rst")


def kind_of(k):
    """Kind by destination; the client's log only tells 'tail' apart from 'ok'."""
    isn, fam, src, sport, dst, dport = k
    if dst in OTHER:
        kind = "other"
    elif dst not in SERVER:
        kind = "unknown"
    else:
        kind = {P_OK: "reuse" if sport == a.sport_reuse else "ok", P_DROP: "drop",
                P_REF: "refused", P_LOSSY: "lossy", P_REPLYDROP: "replydrop",
                P_HOSTDROP: "hostdrop", P_FULLQ: "fullq", P_COOKIES: "cookies",
                P_RESET: "reset"}.get(dport, "unknown")
    log = log_by_key.get((fam, sport, dst, dport))
    if kind == "ok" and log is not None and log[0] in ("tail", "head"):
        kind = log[0]
    if kind == "fullq" and log is not None and log[0] == "filler":
        kind = "filler"
    return kind


# ---- the client's own log ---------------------------------------------------------------
want_result = dict(ok="ok", reuse="ok", lossy="ok", other="ok", tail="ok", head="ok", drop="timeout",
                   refused="refused", replydrop="timeout", hostdrop="timeout", fullq="timeout",
                   filler="ok", cookies="ok", reset="refused")
log_by_key = {}
for t in traffic:
    kind, fam, sport, dst, dport, syncnt, res = t
    check(res == want_result.get(kind), "traffic: %s connection %s:%s -> %s:%s ended %r, expected %r"
          % (kind, fam, sport, dst, dport, res, want_result.get(kind)))
    log_by_key[(fam, int(sport), dst, int(dport))] = t

expected_rows = []
kinds = collections.Counter()
dropped = collections.Counter()          # ISN -> attempts (client side)
lossy = {}
for k, c in conns.items():
    isn, fam, src, sport, dst, dport = k
    kind = kind_of(k)
    kinds[kind] += 1
    check(kind != "unknown", "client SYN to unexpected destination %s:%d" % (dst, dport))
    n_srv = srv_syn.get(isn, 0)
    ans = sorted(srv_ans.get(isn, ())) or ["none"]
    log = log_by_key.get((fam, sport, dst, dport))
    # a reused 4-tuple has several ISNs; the log has one row per connection
    if check(log is not None, "client SYN %d %s:%d -> %s:%d not in traffic.tsv" % (isn, src, sport, dst, dport)):
        check(log[0] == kind, "client SYN %d %s:%d -> %s:%d is %s by destination, %s in traffic.tsv"
              % (isn, src, sport, dst, dport, kind, log[0]))
    syncnt = log[5] if log else "-"
    retries = 1 + (int(syncnt) if syncnt != "-" else a.syn_retries)
    if kind == "drop":
        check(c["attempts"] == retries, "dropped ISN %d: %d SYN attempts at the client, expected %d"
              % (isn, c["attempts"], retries))
        check(n_srv == 0, "dropped ISN %d reached the server (%d SYNs)" % (isn, n_srv))
        check(fw_syn.get(isn, 0) == c["attempts"], "dropped ISN %d: firewall_in saw %d SYNs, client sent %d"
              % (isn, fw_syn.get(isn, 0), c["attempts"]))
        check("syn-ack" not in cli_ans.get(isn, ()), "dropped ISN %d got a SYN/ACK at the client" % isn)
        dropped[isn] += c["attempts"]
    elif kind == "other":
        check(n_srv == 0, "out-of-scope ISN %d seen at the server" % isn)
        ans = ["-"]
    elif kind == "reset":
        check(c["attempts"] == 1, "reset ISN %d: %d attempts, expected 1" % (isn, c["attempts"]))
        check(n_srv == 0, "reset ISN %d reached the server" % isn)
        check(cli_ans.get(isn) == {"rst"}, "reset ISN %d: client received %s, expected the firewall's rst"
              % (isn, sorted(cli_ans.get(isn, ()))))
    elif kind in RETRIED:
        # seen at the server every time; the server answered (replydrop) or not (the host dropped it)
        check(c["attempts"] == retries, "%s ISN %d: %d attempts, expected %d" % (kind, isn, c["attempts"], retries))
        check(n_srv == c["attempts"], "%s ISN %d: server saw %d of %d SYNs" % (kind, isn, n_srv, c["attempts"]))
        want_ans = ["syn-ack"] if kind == "replydrop" else ["none"]
        check(ans == want_ans, "%s ISN %d: server answered %s, expected %s" % (kind, isn, ans, want_ans))
        check(not cli_ans.get(isn), "%s ISN %d: the client received %s" % (kind, isn, sorted(cli_ans.get(isn, ()))))
    elif kind == "reuse" and a.rewrite and c["attempts"] == 2:
        check(n_srv == 2, "reuse ISN %d: server saw %d of 2 SYNs" % (isn, n_srv))
        check("syn-ack" in ans, "reuse ISN %d: server answered %s, expected a syn-ack" % (isn, ans))
        check("syn-ack" in cli_ans.get(isn, ()), "reuse ISN %d: client never received the syn-ack" % isn)
        ans = ["syn-ack"]
    else:
        check(n_srv == 1, "%s ISN %d: server saw %d SYNs, expected 1" % (kind, isn, n_srv))
        want_ans = "rst" if kind == "refused" else "syn-ack"
        check(ans == [want_ans], "%s ISN %d: server answered %s, expected %s" % (kind, isn, ans, want_ans))
        check(want_ans in cli_ans.get(isn, ()), "%s ISN %d: client never received the %s" % (kind, isn, want_ans))
        if kind == "lossy":
            check(c["attempts"] == 2, "lossy ISN %d: %d client attempts, expected 2" % (isn, c["attempts"]))
            lossy[isn] = c["attempts"]
        else:
            check(c["attempts"] == 1, "%s ISN %d: %d client attempts, expected 1" % (kind, isn, c["attempts"]))
    if n_srv and kind not in ("drop", "other", "reset"):
        want_src = NATIPS if a.nat else CLIENT
        check(srv_syn_src[isn] <= want_src, "%s ISN %d: server saw source %s, expected one of %s"
              % (kind, isn, sorted(srv_syn_src[isn]), sorted(want_src)))
    expect = EXPECT.get(kind, "unknown")
    expected_rows.append((isn, fam, src, sport, dst, dport, kind, expect, ",".join(ans), c["attempts"], n_srv))

# ---- totals against the traffic log and the firewall's counters ---------------------------
log_kinds = collections.Counter(t[0] for t in traffic)
for kind in EXPECT:
    check(kinds[kind] == log_kinds[kind], "%s: %d ISNs in client.pcap, %d connections in traffic.tsv"
          % (kind, kinds[kind], log_kinds[kind]))
for fam, v in (("ipv4", "v4"), ("ipv6", "v6")):
    n = sum(c["attempts"] for k, c in conns.items() if k[1] == fam and kind_of(k) == "drop")
    check(n == counters.get("drop_" + v), "dropped SYN packets %s: client.pcap %d, nft counter drop_%s %s"
          % (fam, n, v, counters.get("drop_" + v)))
    n = sum(1 for k in conns if k[1] == fam and kind_of(k) == "lossy")
    check(n == counters.get("lossy_" + v), "lossy first SYNs %s: client.pcap %d, nft counter lossy_%s %s"
          % (fam, n, v, counters.get("lossy_" + v)))
    n = sum(c["attempts"] for k, c in conns.items() if k[1] == fam and kind_of(k) not in ("drop", "reset")) \
        - sum(1 for k in conns if k[1] == fam and kind_of(k) == "lossy")
    check(n == counters.get("fwd_syn_" + v), "forwarded SYNs %s: client.pcap %d, nft counter fwd_syn_%s %s"
          % (fam, n, v, counters.get("fwd_syn_" + v)))
    check(any(k[1] == fam for k in conns), "no %s SYN in client.pcap" % fam)
    # the faults' own counters: the host dropped every SYN it saw, the firewall reset every
    # SYN to the reset port and dropped at least one SYN/ACK per reply-dropped connection
    for kind, name in (("hostdrop", "hostdrop_"), ("reset", "reset_")):
        n = sum(c["attempts"] for k, c in conns.items() if k[1] == fam and kind_of(k) == kind)
        check(n == counters.get(name + v, 0), "%s SYN packets %s: client.pcap %d, nft counter %s%s %s"
              % (kind, fam, n, name, v, counters.get(name + v)))
    n = sum(1 for k in conns if k[1] == fam and kind_of(k) == "replydrop")
    check(counters.get("replydrop_" + v, 0) >= n, "replydrop %s: %d connections, nft counter %s"
          % (fam, n, counters.get("replydrop_" + v)))
check(not any(r["dport"] == P_DROP for r in srv if is_syn(r)), "a SYN to the dropped port reached server.pcap")
check(sum(dropped.values()) == counters.get("drop_v4", -1) + counters.get("drop_v6", -1),
      "dropped SYN total %d != nft counters" % sum(dropped.values()))
for fam in ("ipv4", "ipv6"):
    reuse = [k for k in conns if k[1] == fam and kind_of(k) == "reuse"]
    check(len({k[2:] for k in reuse}) == 1 and len(reuse) >= 2,
          "%s: reused source port should give several ISNs on one 4-tuple, got %d" % (fam, len(reuse)))
refused_reuse = [k for k in conns if kind_of(k) == "refused" and k[3] == a.sport_reuse_rst]
check(len(refused_reuse) >= 2, "refused connections from the reused source port: %d" % len(refused_reuse))

# the server capture must outlast every dropped or unanswered SYN by timeout (3 s) + skew (1 s)
failing = set(dropped) | {k[0] for k in conns if kind_of(k) in RETRIED}
last_drop = max((r["ts"] for r in cli if is_syn(r) and r["seq"] in failing), default=0)
srv_last = max((r["ts"] for r in srv), default=0)
margin_ms = (srv_last - last_drop) // 1000000
check(margin_ms >= 4000, "server capture ends only %d ms after the last dropped SYN (need >= 4000)" % margin_ms)

# ---- write --------------------------------------------------------------------------------
o = a.outdir
with open(os.path.join(o, "dropped_isns.txt"), "w") as f:
    f.writelines("%d\n" % i for i in sorted(dropped))
with open(os.path.join(o, "dropped_counts.txt"), "w") as f:
    f.writelines("%d %d\n" % (i, dropped[i]) for i in sorted(dropped))
with open(os.path.join(o, "lossy_isns.txt"), "w") as f:
    f.writelines("%d %d\n" % (i, lossy[i]) for i in sorted(lossy))
with open(os.path.join(o, "server_ips.txt"), "w") as f:
    f.writelines(ip + "\n" for ip in SERVER)
with open(os.path.join(o, "expected.tsv"), "w") as f:
    f.write("# isn\tfamily\tsrc\tsport\tdst\tdport\tkind\texpect\tserver_answer\tclient_attempts\tserver_attempts\n")
    for r in sorted(expected_rows):
        f.write("\t".join(str(x) for x in r) + "\n")

summary = collections.OrderedDict()
summary["nat"] = a.nat
for kind in EXPECT:
    summary["conn_" + kind] = kinds[kind]
summary["dropped_isns"] = len(dropped)
summary["dropped_syn_packets"] = sum(dropped.values())
summary["lossy_syn_packets_dropped"] = len(lossy)
summary["client_syn_packets"] = sum(c["attempts"] for c in conns.values())
summary["server_syn_packets"] = sum(srv_syn.values())
summary["ipv6_isns"] = sum(1 for k in conns if k[1] == "ipv6")
summary["server_capture_after_last_dropped_syn_ms"] = margin_ms
with open(os.path.join(o, "summary.txt"), "w") as f:
    f.writelines("%s %s\n" % kv for kv in summary.items())

for e in errors:
    print("truth: FAIL: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
