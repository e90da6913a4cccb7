#!/usr/bin/python3
"""The seed article's method (tshark -T ek + a join on tcp.seq_raw), made runnable.

This is the reference synmatch is measured against (see bench/README.md).  It keeps the
article's data path -- tshark exports every SYN (flags 0x0002 or 0x00c2) of each capture as
Elasticsearch-style JSON lines, one object per packet -- but joins with a hash table on
tcp.seq_raw instead of the article's nested loop, and streams tshark's output instead of
collecting it.

  article_method.py --map CLIENT SERVER
      CSV client_stream,server_stream,client_seq,server_seq: one row per client tcp.stream
      (like the article's Sort-Object -Unique ClientTCPStream): the first client SYN of that
      stream (file order) whose seq_raw appears in a server SYN, paired with the first server
      SYN (file order) with that seq_raw.  Sorted by client_stream.

  article_method.py --missing --server-ip IP [--server-ip IP ...] CLIENT SERVER
      CSV count,seq: client SYNs sent to one of the server IPs whose seq_raw appears in no
      server SYN, grouped by seq_raw with the number of packets.  Sorted by seq.

  --nested-loop-sample N
      Also time the article's original nested loop (for each client SYN, scan every server
      SYN) on the first N client SYNs and print the time extrapolated to all client SYNs on
      stderr.  This keeps every server SYN's decoded JSON object in memory, as the article
      does, so RSS figures from such a run are not those of the hash join.

tshark runs with default preferences: HOME and XDG_CONFIG_HOME point at empty temp dirs.
Progress and timings go to stderr; stdout (or -o FILE) gets only the CSV.
"""

import argparse
import ipaddress
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

FIELDS = [
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
    "tcp.flags", "tcp.seq_raw", "tcp.stream",
]
SYN_FILTER = "tcp.flags==0x0002 or tcp.flags==0x00c2"


def log(msg):
    print("article_method: " + msg, file=sys.stderr, flush=True)


def tshark_cmd(tshark, path, display_filter):
    cmd = [tshark, "-r", path, "-T", "ek"]
    for f in FIELDS:
        cmd += ["-e", f]
    cmd += ["-Y", display_filter]
    return cmd


def syn_layers(tshark, path, display_filter, env, stats=None):
    """Yield the 'layers' object of every packet tshark prints, one at a time.
    stats (a dict), if given, receives tshark's own resource usage when it exits."""
    cmd = tshark_cmd(tshark, path, display_filter)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, bufsize=1 << 20)
    try:
        for line in proc.stdout:
            # -T ek prints an {"index": ...} line before each packet object
            if line.startswith(b'{"index"'):
                continue
            obj = json.loads(line)
            layers = obj.get("layers")
            if layers:
                yield layers
    finally:
        proc.stdout.close()
        _, status, ru = os.wait4(proc.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc
        if stats is not None:
            stats["tshark_user"] = ru.ru_utime
            stats["tshark_sys"] = ru.ru_stime
            stats["tshark_maxrss_kb"] = ru.ru_maxrss
    if rc != 0:
        raise SystemExit("article_method: tshark failed (exit %d): %s" % (rc, " ".join(cmd)))


def first(layers, key):
    v = layers.get(key)
    return v[0] if v else None


def client_filter(server_ips):
    terms = []
    for ip in server_ips:
        addr = ipaddress.ip_address(ip)
        if addr.version == 4:
            terms.append("ip.dst_host==%s" % addr)
        else:
            terms.append("ipv6.dst_host==%s" % addr)
    return "(%s) and (%s)" % (" or ".join(terms), SYN_FILTER)


class Side:
    """What one capture's SYN export leaves in memory."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.stats = {}

    def describe(self, name):
        st = self.stats
        return ("%s: %d SYNs, %.1f s wall, tshark %.1f s user + %.1f s sys, tshark max RSS %.0f MiB"
                % (name, self.count, self.seconds, st.get("tshark_user", 0.0),
                   st.get("tshark_sys", 0.0), st.get("tshark_maxrss_kb", 0) / 1024.0))


def read_server(args, env, keep_objects):
    """Server SYNs -> dict seq_raw -> first server stream (file order)."""
    side = Side()
    side.first_stream = {}
    side.objects = [] if keep_objects else None
    t0 = time.perf_counter()
    setdefault = side.first_stream.setdefault
    for layers in syn_layers(args.tshark, args.server, SYN_FILTER, env, side.stats):
        side.count += 1
        seq = first(layers, "tcp_seq_raw")
        stream = first(layers, "tcp_stream")
        if seq is None or stream is None:
            continue
        setdefault(int(seq), int(stream))
        if keep_objects:
            side.objects.append(layers)
    side.seconds = time.perf_counter() - t0
    return side


def read_client(args, env, dfilter, sample_n, consume):
    """Stream client SYNs into consume(stream, seq); keep the first sample_n objects."""
    side = Side()
    side.sample = []
    t0 = time.perf_counter()
    for layers in syn_layers(args.tshark, args.client, dfilter, env, side.stats):
        side.count += 1
        if len(side.sample) < sample_n:
            side.sample.append(layers)
        seq = first(layers, "tcp_seq_raw")
        stream = first(layers, "tcp_stream")
        if seq is None or stream is None:
            continue
        consume(int(stream), int(seq))
    side.seconds = time.perf_counter() - t0
    return side


def nested_loop_map(sample, server_objects):
    """The article's MapTCPStreams loop, over the sample only."""
    rows = []
    for c in sample:
        cseq = c.get("tcp_seq_raw")
        for s in server_objects:
            if s.get("tcp_seq_raw") == cseq:
                rows.append((int(c["tcp_stream"][0]), int(s["tcp_stream"][0]),
                             cseq[0], s["tcp_seq_raw"][0]))
    out = {}
    for r in rows:  # Sort-Object -Unique -Property ClientTCPStream keeps one row per stream
        out.setdefault(r[0], r)
    return out


def nested_loop_missing(sample, server_objects):
    """The article's FindMissingSYNPackets loop: `$ServerSYNPackets.tcp_seq_raw -contains`
    enumerates every server object's seq for each client SYN, then scans it."""
    missing = []
    for c in sample:
        values = [s.get("tcp_seq_raw", [None])[0] for s in server_objects]
        if c["tcp_seq_raw"][0] not in values:
            missing.append(int(c["tcp_seq_raw"][0]))
    return missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--map", action="store_true", help="map client tcp.stream to server tcp.stream")
    mode.add_argument("--missing", action="store_true", help="client SYNs never seen at the server")
    ap.add_argument("--server-ip", action="append", default=[],
                    help="server address (v4 or v6) the client SYNs must be sent to; repeatable; "
                         "required with --missing")
    ap.add_argument("--nested-loop-sample", type=int, default=0, metavar="N",
                    help="time the article's nested loop on the first N client SYNs and print "
                         "the extrapolated total on stderr")
    ap.add_argument("--parallel", action="store_true",
                    help="run the two tshark processes at the same time (the article runs them "
                         "one after the other); the client side is then buffered as (stream, seq)")
    ap.add_argument("--tshark", default=shutil.which("tshark") or "tshark")
    ap.add_argument("-o", "--output", help="write the CSV here instead of stdout")
    ap.add_argument("client")
    ap.add_argument("server")
    args = ap.parse_args()
    if args.missing and not args.server_ip:
        ap.error("--missing needs at least one --server-ip")
    for ip in args.server_ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            ap.error("not an IP address: %s" % ip)
    for p in (args.client, args.server):
        if not os.path.isfile(p):
            ap.error("no such file: %s" % p)

    cfilter = client_filter(args.server_ip) if (args.missing or args.server_ip) else SYN_FILTER
    keep = args.nested_loop_sample > 0
    t_start = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="article_method_home_") as home, \
            tempfile.TemporaryDirectory(prefix="article_method_xdg_") as xdg:
        env = dict(os.environ)
        env["HOME"] = home
        env["XDG_CONFIG_HOME"] = xdg

        if args.parallel:
            buffered = []
            holder = {}

            def client_thread():
                holder["side"] = read_client(args, env, cfilter, args.nested_loop_sample,
                                             lambda st, sq: buffered.append((st, sq)))

            th = threading.Thread(target=client_thread)
            th.start()
            server = read_server(args, env, keep)
            th.join()
            if "side" not in holder:
                raise SystemExit("article_method: client tshark failed")
            client_rows = buffered
            client = holder["side"]
        else:
            server = read_server(args, env, keep)
            client_rows = None

        sfirst = server.first_stream
        if args.map:
            result = {}

            def consume(stream, seq):
                if stream not in result:
                    s = sfirst.get(seq)
                    if s is not None:
                        result[stream] = (s, seq)
        else:
            result = {}

            def consume(stream, seq):
                if seq not in sfirst:
                    result[seq] = result.get(seq, 0) + 1

        if client_rows is None:
            client = read_client(args, env, cfilter, args.nested_loop_sample, consume)
        else:
            for st, sq in client_rows:
                consume(st, sq)
            del client_rows

    out = open(args.output, "w", newline="") if args.output else sys.stdout
    if args.map:
        out.write("client_stream,server_stream,client_seq,server_seq\n")
        for cs in sorted(result):
            ss, seq = result[cs]
            out.write("%d,%d,%d,%d\n" % (cs, ss, seq, seq))
    else:
        out.write("count,seq\n")
        for seq in sorted(result):
            out.write("%d,%d\n" % (result[seq], seq))
    out.flush()
    if args.output:
        out.close()
    t_total = time.perf_counter() - t_start
    ru = resource.getrusage(resource.RUSAGE_SELF)
    log(server.describe("server"))
    log(client.describe("client"))
    log("python: %.1f s user + %.1f s sys, max RSS %.0f MiB; rows %d; total %.1f s wall%s"
        % (ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024.0, len(result), t_total,
           " (parallel)" if args.parallel else ""))

    if keep:
        sample = client.sample
        n = len(sample)
        if n == 0:
            log("nested loop: no client SYNs to sample")
            return
        t0 = time.perf_counter()
        if args.map:
            nl = nested_loop_map(sample, server.objects)
        else:
            nl = nested_loop_missing(sample, server.objects)
        dt = time.perf_counter() - t0
        per = dt / n
        total = per * client.count
        # agreement with the hash join on the sample
        if args.map:
            agree = all(result.get(cs, (None,))[0] == row[1] for cs, row in nl.items())
        else:
            agree = all(seq in result for seq in nl)
        log("nested loop: %d client SYNs x %d server SYNs in %.2f s (%.3f ms per client SYN); "
            "extrapolated to all %d client SYNs: %.0f s (%.2f h) [same answer as hash join on "
            "the sample: %s]"
            % (n, len(server.objects), dt, per * 1e3, client.count, total, total / 3600.0,
               "yes" if agree else "NO"))
        print("nested_loop_sample=%d nested_loop_sample_seconds=%.3f "
              "nested_loop_extrapolated_seconds=%.1f client_syns=%d server_syns=%d"
              % (n, dt, total, client.count, len(server.objects)), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
