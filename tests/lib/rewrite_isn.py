#!/usr/bin/env python3
"""rewrite_isn.py - a server capture as if a firewall randomized each connection's ISN.

    rewrite_isn.py IN.pcap OUT.pcap [--seed N] [--mss N] [--strip-ts] [--keep-isn] [--every K]
                   [--undo LOG]

What Cisco ASA "TCP sequence number randomization" does between the two captures, seen from
the server's side: every connection (by the tuple of its first SYN as this capture sees it)
gets a random offset, added to the client's sequence numbers (client to server) and so to
the acknowledgement numbers and SACK edges the server sends back (the device takes it off
again on the way to the client, beyond this capture). --mss N clamps the MSS option
of SYNs to N (ASA's default is 1380); --strip-ts turns the SYNs' timestamp options into NOPs
(a client with timestamps off); --keep-isn leaves the sequence numbers alone (to strip the
timestamps of the client's capture too); --every K rewrites only every K-th connection (a
device on some paths only). --undo LOG takes a rewrite off again: LOG has a line "REWRITTEN
ORIGINAL" per connection (the lab's sm_isnrw writes it), and each connection whose first SYN
carries a REWRITTEN ISN gets it back (the offset that does it is applied as above).
TCP checksums are fixed. Classic pcap, Ethernet, IPv4 and IPv6 (no extension headers);
everything else is copied as it is. Prints how many connections were rewritten.
"""
import argparse
import random
import struct
import sys

ap = argparse.ArgumentParser()
ap.add_argument("inp")
ap.add_argument("out")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--mss", type=int)
ap.add_argument("--strip-ts", action="store_true")
ap.add_argument("--keep-isn", action="store_true")
ap.add_argument("--every", type=int, default=1)
ap.add_argument("--undo")
a = ap.parse_args()
undo = None
if a.undo:
    undo = {}
    for line in open(a.undo):
        new, orig = map(int, line.split())
        undo[new] = orig
rng = random.Random(a.seed)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def options(pkt, t, doff):
    """The TCP options of the header at t: (kind, offset, length) each, NOPs skipped."""
    i = t + 20
    while i < t + doff:
        kind = pkt[i]
        if kind == 0:
            return
        if kind == 1:
            i += 1
            continue
        ln = pkt[i + 1] if i + 1 < t + doff else 0
        if ln < 2:
            return
        yield kind, i, ln
        i += ln


data = open(a.inp, "rb").read()
endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
          b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(data[:4])
if endian is None:
    sys.exit("rewrite_isn.py: %s is not a classic pcap file" % a.inp)
if struct.unpack(endian + "I", data[20:24])[0] != 1:
    sys.exit("rewrite_isn.py: %s is not Ethernet" % a.inp)
offsets = {}  # (src, sport, dst, dport) of the client's direction -> offset
out = [data[:24]]
off = 24
while off + 16 <= len(data):
    hdr = data[off:off + 16]
    incl = struct.unpack(endian + "I", hdr[8:12])[0]
    pkt = bytearray(data[off + 16:off + 16 + incl])
    off += 16 + incl
    et = struct.unpack("!H", pkt[12:14])[0] if len(pkt) >= 14 else 0
    ip = 14
    if et == 0x0800 and len(pkt) >= ip + 20 and pkt[ip + 9] == 6:
        ihl = (pkt[ip] & 15) * 4
        src, dst = bytes(pkt[ip + 12:ip + 16]), bytes(pkt[ip + 16:ip + 20])
        t = ip + ihl
        tlen = struct.unpack("!H", pkt[ip + 2:ip + 4])[0] - ihl
        pseudo = src + dst + struct.pack("!BBH", 0, 6, tlen)
        frag = struct.unpack("!H", pkt[ip + 6:ip + 8])[0] & 0x3fff
    elif et == 0x86dd and len(pkt) >= ip + 40 and pkt[ip + 6] == 6:
        src, dst = bytes(pkt[ip + 8:ip + 24]), bytes(pkt[ip + 24:ip + 40])
        t = ip + 40
        tlen = struct.unpack("!H", pkt[ip + 4:ip + 6])[0]
        pseudo = src + dst + struct.pack("!IxxxB", tlen, 6)
        frag = 0
    else:
        out.append(hdr + bytes(pkt))
        continue
    if frag or len(pkt) < t + 20 or t + tlen > len(pkt):
        out.append(hdr + bytes(pkt))
        continue
    sport, dport, seq, ack = struct.unpack("!HHII", pkt[t:t + 12])
    doff = (pkt[t + 12] >> 4) * 4
    flags = pkt[t + 13]
    fwd, rev = (src, sport, dst, dport), (dst, dport, src, sport)
    if undo is not None and flags & 0x12 == 0x02 and seq in undo:
        offsets[fwd] = (undo[seq] - seq) & 0xffffffff  # a later ISN on the tuple: its own
    elif undo is None and flags & 0x12 == 0x02 and fwd not in offsets:
        o = rng.getrandbits(32) | 1
        offsets[fwd] = 0 if a.keep_isn or len(offsets) % a.every else o
    if fwd in offsets:  # client to server: the client's sequence numbers
        o = offsets[fwd]
        struct.pack_into("!I", pkt, t + 4, (seq + o) & 0xffffffff)
        if flags & 0x02 and (a.mss is not None or a.strip_ts):
            for kind, i, ln in options(pkt, t, doff):
                if kind == 2 and ln == 4 and a.mss is not None:
                    mss = struct.unpack("!H", pkt[i + 2:i + 4])[0]
                    struct.pack_into("!H", pkt, i + 2, min(mss, a.mss))
                if kind == 8 and a.strip_ts:
                    pkt[i:i + ln] = b"\x01" * ln
    elif rev in offsets and flags & 0x10:  # server to client: what it acknowledges
        o = offsets[rev]
        struct.pack_into("!I", pkt, t + 8, (ack + o) & 0xffffffff)
        for kind, i, ln in options(pkt, t, doff):  # SACK edges
            if kind == 5:
                for e in range(i + 2, i + ln - 3, 4):
                    v = struct.unpack("!I", pkt[e:e + 4])[0]
                    struct.pack_into("!I", pkt, e, (v + o) & 0xffffffff)
    else:
        out.append(hdr + bytes(pkt))
        continue
    pkt[t + 16:t + 18] = b"\0\0"
    struct.pack_into("!H", pkt, t + 16, csum(pseudo + bytes(pkt[t:t + tlen])))
    out.append(hdr + bytes(pkt))
open(a.out, "wb").write(b"".join(out))
print(len(offsets))
