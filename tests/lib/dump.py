"""Reading sm_pull_dump's output and the checks every agent test makes on it.

sm_pull_dump (tests/lib/sm_pull_dump.c) prints B (batch), R (record), S (scope) and X
(rejected message) lines; see the comment at the top of that file.
"""


def parse(path):
    """Returns (batches, scope, rejects). Each batch is a dict with its records in 'recs'."""
    batches, scope, rejects = [], set(), []
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == "B":
            kv = dict(x.split("=", 1) for x in f[6:])
            batches.append(dict(sensor=f[1], seq=int(f[2]), wm=int(f[3]), n=int(f[4]),
                                eos=int(f[5]), recv_ns=int(kv["recv_ns"]),
                                epoch=int(kv["epoch"]), kv=kv, recs=[]))
        elif f[0] == "R":
            batches[-1]["recs"].append(dict(
                ts=int(f[1]), fam=int(f[2]), src=f[3], sport=int(f[4]), dst=f[5],
                dport=int(f[6]), seq=int(f[7]), ack=int(f[8]), flags=int(f[9], 16),
                frame=int(f[10]), stream=int(f[11]), vlan=f[12]))
        elif f[0] == "S":
            scope.add((f[1], int(f[2])))
        elif f[0] == "X":
            rejects.append(line.strip())
    return batches, scope, rejects


def records(batches):
    return [r for b in batches for r in b["recs"]]


def check_stream(batches, rejects, allow_gaps=False):
    """The invariants of one agent epoch. Returns a list of problems (empty: all good)."""
    bad = []
    if rejects:
        bad.append("rejected by the wire validation: %s" % rejects[:3])
    if not batches:
        return bad + ["no batches"]
    if len({b["epoch"] for b in batches}) != 1 or len({b["sensor"] for b in batches}) != 1:
        bad.append("more than one sensor or epoch")
    seqs = [b["seq"] for b in batches]
    if seqs != sorted(set(seqs)) or seqs[0] != 0:
        bad.append("seqs not increasing from 0: %s" % seqs[:20])
    elif not allow_gaps and seqs != list(range(len(seqs))):
        bad.append("seqs have holes: %s" % [s for s in range(seqs[-1]) if s not in set(seqs)][:20])
    if batches[-1]["eos"] != 1 or any(b["eos"] for b in batches[:-1]):
        bad.append("end_of_stream is not on the last batch only")
    for b in batches:
        if b["n"] != len(b["recs"]):
            bad.append("batch %d announces %d records, holds %d" % (b["seq"], b["n"], len(b["recs"])))
    for a, b in zip(batches, batches[1:]):
        if b["wm"] < a["wm"]:
            bad.append("watermark decreased at seq %d: %d -> %d" % (b["seq"], a["wm"], b["wm"]))
    for b in batches:
        for r in b["recs"]:
            if r["ts"] > b["wm"]:
                bad.append("record ts %d after its batch %d's watermark %d" % (r["ts"], b["seq"], b["wm"]))
                break
    for k in ("pcap_received", "records_emitted", "records_unsent", "batches_unsent"):
        vals = [int(b["kv"][k]) for b in batches]
        if vals != sorted(vals):
            bad.append("counter %s decreases" % k)
    return bad
