#!/usr/bin/env python3
"""same_verdicts.py REFERENCE.jsonl OTHER.jsonl [--at-most-once]

Final verdicts of two collector outputs, client SYN group by group (ISN, client source port,
first attempt): equal, and each group exactly once in OTHER. With --at-most-once OTHER may
lack groups (a shard's own file misses what it was killed before writing) but must hold none
twice and none different. Prints the first differences and one summary line; exit 1 on any.
"""
import json
import sys


def finals(path):
    d, twice = {}, []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        v = json.loads(line)
        if v.get("verdict") in (None, "suspect"):
            continue
        k = (v["seq"], v["client"]["sport"], v["first"])
        if k in d:
            twice.append(k)
        d[k] = (v["verdict"], v.get("reason"), v.get("attempts"), v.get("server_seq"))
    return d, twice


def main():
    ref, other = sys.argv[1], sys.argv[2]
    at_most_once = "--at-most-once" in sys.argv[3:]
    (a, ta), (b, tb) = finals(ref), finals(other)
    keys = set(a) | set(b)
    diff = sorted(k for k in keys if a.get(k) != b.get(k) and not (at_most_once and k not in b))
    for k in diff[:10]:
        print("  ISN %d sport %d: %s vs %s" % (k[0], k[1], a.get(k), b.get(k)))
    for k in tb[:5]:
        print("  ISN %d sport %d: twice in %s" % (k[0], k[1], other))
    print("  %d and %d final verdicts, %d differ, %d twice%s"
          % (len(a), len(b), len(diff), len(tb), "" if not ta else ", %d twice in the reference" % len(ta)))
    sys.exit(1 if diff or ta or tb or not a else 0)


main()
