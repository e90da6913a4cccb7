#!/usr/bin/env python3
"""health_check.py - the collector's health lines against its own verdict lines.

    health_check.py [--quiet] [--json OUT] VERDICTS.jsonl

In a collector's output every health line of an interval follows the verdict lines it
counts and precedes those of the next interval (collector/health.h). So the verdicts between
two groups of health lines (one "from" each) must be exactly what that group's lines count:
per service (the server's destination when the server saw the SYN, else the client's, through
the NAT translations earlier verdicts showed), every final verdict kind, the suspects and the
attempts; services without a line of their own are summed in the "other" line. Exits 1 and
prints each difference when they disagree, 0 when every interval agrees. With --json, writes
the intervals ({"from", "lines": {service: line}, "counted": {service: counts}}) to OUT.
"""
import json
import sys


def service_of(v, nat):
    c = v["client"]
    s = v.get("server")
    if s is not None:
        if (s["dst"], s["dport"]) != (c["dst"], c["dport"]):
            nat[(c["dst"], c["dport"])] = (s["dst"], s["dport"])
        dst, port = s["dst"], s["dport"]
    else:
        dst, port = nat.get((c["dst"], c["dport"]), (c["dst"], c["dport"]))
    return ("[%s]:%d" if ":" in dst else "%s:%d") % (dst, port)


def empty():
    return {"verdicts": {}, "suspects": 0, "attempts": 0}


def main(argv):
    quiet = "--quiet" in argv
    argv = [a for a in argv if a != "--quiet"]
    out_json = None
    if "--json" in argv:
        k = argv.index("--json")
        out_json = argv[k + 1]
        del argv[k:k + 2]
    path = argv[0]
    nat, counted, intervals, bad = {}, {}, [], 0
    group = None  # the health lines of the group being read: {"from", "lines"}

    def check(g):
        nonlocal bad, counted
        lines = g["lines"]
        other = lines.get("other")
        rest = empty()
        for svc, cnt in counted.items():
            if svc in lines:
                want = cnt
                got = lines[svc]
            else:
                for k, n in cnt["verdicts"].items():
                    rest["verdicts"][k] = rest["verdicts"].get(k, 0) + n
                rest["suspects"] += cnt["suspects"]
                rest["attempts"] += cnt["attempts"]
                continue
            if (got.get("verdicts", {}) != want["verdicts"] or got["suspects"] != want["suspects"]
                    or got["attempts"] != want["attempts"]):
                print("FAIL interval %s service %s: line %s/%s/%s, verdict lines %s/%s/%s" % (
                    g["from"], svc, got.get("verdicts"), got["suspects"], got["attempts"],
                    want["verdicts"], want["suspects"], want["attempts"]))
                bad += 1
        if other is not None or rest["verdicts"] or rest["suspects"]:
            o = other or empty()
            # the other line also sums services that had only lone SYNs: compare verdicts
            if (o.get("verdicts", {}) != rest["verdicts"] or o["suspects"] != rest["suspects"]
                    or o["attempts"] != rest["attempts"]):
                print("FAIL interval %s other: line %s/%s/%s, verdict lines %s/%s/%s" % (
                    g["from"], o.get("verdicts"), o["suspects"], o["attempts"],
                    rest["verdicts"], rest["suspects"], rest["attempts"]))
                bad += 1
        for svc, line in lines.items():
            if svc != "other" and svc not in counted and (line.get("verdicts") or line["suspects"]):
                print("FAIL interval %s service %s: line counts %s, no verdict line" % (
                    g["from"], svc, line.get("verdicts")))
                bad += 1
        intervals.append({"from": g["from"], "lines": lines, "counted": counted})
        counted = {}

    for raw in open(path):
        o = json.loads(raw)
        if o.get("event") == "health":
            if group is not None and group["from"] != o["from"]:
                check(group)
                group = None
            if group is None:
                group = {"from": o["from"], "lines": {}}
            group["lines"][o["service"]] = o
            continue
        if "verdict" not in o:
            continue
        if group is not None:
            check(group)
            group = None
        svc = service_of(o, nat)
        c = counted.setdefault(svc, empty())
        if o["verdict"] == "suspect":
            c["suspects"] += 1
        else:
            c["verdicts"][o["verdict"]] = c["verdicts"].get(o["verdict"], 0) + 1
            c["attempts"] += o["attempts"]
    if group is not None:
        check(group)
    if counted:
        print("FAIL %d services' verdicts after the last health lines: %s" % (
            len(counted), sorted(counted)))
        bad += 1
    if out_json:
        with open(out_json, "w") as f:
            json.dump(intervals, f)
    if not quiet or bad:
        print("%s health lines of %d intervals equal the verdict lines between them" % (
            "FAIL" if bad else "ok  ", len(intervals)))
    return 1 if bad or not intervals else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
