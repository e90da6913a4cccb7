#!/usr/bin/env python3
"""check_live.py EXPECTED.tsv VERDICTS.jsonl NAT REWRITE [--events-free]

The verdicts of a live lab run against its truth (tests/lib/truth.py's expected.tsv), ISN by
ISN: every ISN whose SYNs the firewall dropped has exactly one final `missing` with the right
attempts; every other ISN to the server exactly the one final verdict its fault implies, with
answers, lost attempts, NAT, the server host's reasons and SYN cookies; nothing out of scope
judged; a `suspect` for every failure and nothing else; the sensors' books balance. With
--events-free the count of collector_start and sensor_up events is not checked (several
collector shards, or a shard started again, each say so). Exit 1 on any problem.
"""
import json, sys
events_free = "--events-free" in sys.argv[5:]
expected, verdicts, nat, rewrite = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
want = {}
for line in open(expected):
    if line.startswith("#"):
        continue
    isn, fam, src, sport, dst, dport, kind, expect, answer, ca, sa = line.rstrip("\n").split("\t")
    want[int(isn)] = dict(kind=kind, expect=expect, answer=answer, ca=int(ca), sa=int(sa))
final, suspects, events, bad = {}, set(), [], 0
for line in open(verdicts):
    o = json.loads(line)
    if "event" in o:
        events.append(o["event"])
        b = o.get("books")
        if o["event"] == "sensor_end" and (b is None or b["lost"] or b["gaps"] or b["unsent"]
                                           or b["emitted"] != b["received"]):
            print("FAIL books do not balance without loss:", o); bad += 1
        continue
    if o["verdict"] == "suspect":
        suspects.add(o["seq"])
        continue
    if o["seq"] in final:
        print("FAIL two final verdicts for ISN", o["seq"]); bad += 1
    final[o["seq"]] = o
if not events_free and (events.count("collector_start") != 1 or events.count("sensor_up") != 2):
    print("FAIL events", events); bad += 1
if ("isn_rewriting" in events) != rewrite:
    print("FAIL isn_rewriting event", "missing" if rewrite else "without a rewrite", events); bad += 1
for isn, w in want.items():
    v = final.get(isn)
    if w["expect"] == "out_of_scope":
        if v is not None or isn in suspects:
            print("FAIL out-of-scope ISN judged", isn, v and v["verdict"]); bad += 1
        continue
    if v is None:
        print("FAIL no verdict for", isn, w); bad += 1; continue
    if rewrite and v.get("server") is not None and (v.get("match") != "fingerprint" or v.get("server_seq") == isn):
        print("FAIL ISN", isn, "match", v.get("match"), "server_seq", v.get("server_seq"), "(rewritten)"); bad += 1
    if v["verdict"] != w["expect"]:
        print("FAIL ISN", isn, w["kind"], "expected", w["expect"], "got", v["verdict"], v.get("reason")); bad += 1
        print("     its verdict:", json.dumps(v)[:600])  # enough to tell a flake's cause later
        continue
    if v["attempts"] != w["ca"]:
        print("FAIL ISN", isn, "attempts", v["attempts"], "want", w["ca"]); bad += 1
    if w["expect"] == "matched":
        if v["answer"] != w["answer"]:
            print("FAIL ISN", isn, "answer", v["answer"], "want", w["answer"]); bad += 1
        if v["lost_before"] != w["ca"] - w["sa"]:
            print("FAIL ISN", isn, "lost_before", v["lost_before"], "want", w["ca"] - w["sa"]); bad += 1
        if nat and v["server"]["src"] == v["client"]["src"]:
            print("FAIL ISN", isn, "NAT not visible"); bad += 1
    # suspect is the early warning of every failure, and only of failures
    failure = w["expect"] in ("missing", "reply_lost", "unanswered", "answered_by_middlebox")
    if (isn in suspects) != failure:
        print("FAIL", w["kind"], "ISN", isn, w["expect"], "suspect" if isn in suspects else "no suspect"); bad += 1
    # the server host's counters, live: the full listen queue named, SYN cookies marked
    want_reason = "listen_queue_overflow" if w["kind"] == "fullq" else None
    if w["expect"] == "unanswered" and v.get("reason") != want_reason:
        print("FAIL", w["kind"], "ISN", isn, "reason", v.get("reason"), "want", want_reason); bad += 1
    if bool(v.get("syncookies")) != (w["kind"] == "cookies"):
        print("FAIL", w["kind"], "ISN", isn, "syncookies", v.get("syncookies")); bad += 1
for isn in final:
    if isn not in want:
        print("FAIL verdict for an ISN not in the captures", isn); bad += 1
n_missing = sum(1 for w in want.values() if w["expect"] == "missing")
kinds = {}
for w in want.values():
    kinds[w["expect"]] = kinds.get(w["expect"], 0) + 1
print("%s %d ISNs: %s; %d final verdicts, %d suspects; %d problems"
      % ("ok  " if not bad else "FAIL", len(want), ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
         len(final), len(suspects), bad))
sys.exit(1 if bad else 0)
