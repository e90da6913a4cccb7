#!/usr/bin/env python3
"""gen_syn_pair.py - a client and a server capture of bare SYNs, for load and fault tests.

    gen_syn_pair.py CLIENT.pcap SERVER.pcap --count N [--rate R] [--lost-every K]
                    [--flood-every F --flood-seen-every S]

SYN i leaves the client at T0 + i/R (nanosecond pcap, Ethernet, IPv4) from 198.18.x.y to
198.19.0.10:443 with ISN (i * 2654435761 + 12345) mod 2^32 (unique per i). The server
capture has it 1 ms later with its SYN/ACK 50 us after that, and the client capture has the
SYN/ACK 1 ms after that again (each file in time order but for these few ms), except:
  --lost-every K    real SYN r (counting real ones) with r % K == 37 % K never reaches the
                    server (a true `missing`);
  --flood-every F   all but every F-th SYN are spoofed flood SYNs (to port 80 instead of 443),
                    of which the server sees every S-th (--flood-seen-every, 0 = none); the
                    F-th ones are the real connections (port 443), seen unless lost.
--dst ADDR and --dst-mac MAC --src-mac MAC (client file only) make the client file replayable
onto a real link (tcpreplay; with --no-client-answers it holds the SYNs alone); --src-net
A.B.C keeps the sources in A.B.C.10-249 (default 198.18: 198.18.x.y).
Prints the truth on stdout: `real N`, `lost N`, `flood N`, `flood_seen N`; with --truth FILE,
also the ISN of every real SYN and whether the server saw it (`ISN 1|0` per line).
"""
import argparse
import socket
import struct

T0 = 1767225600 * 10**9  # 2026-01-01T00:00:00Z
ETH = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(ts, src, dst, sport, dport, seq, ack, flags, eth=ETH):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = src + dst + struct.pack("!BBH", 0, 6, 20)
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    pkt = eth + ip + tcp
    return struct.pack("<IIII", ts // 10**9, ts % 10**9, len(pkt), len(pkt)) + pkt


def isn_of(i):
    return (i * 2654435761 + 12345) & 0xffffffff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("client")
    ap.add_argument("server")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rate", type=int, default=50000)
    ap.add_argument("--lost-every", type=int, default=100)
    ap.add_argument("--flood-every", type=int, default=1)
    ap.add_argument("--flood-seen-every", type=int, default=0)
    ap.add_argument("--truth")
    ap.add_argument("--dst", default="198.19.0.10")
    ap.add_argument("--dst-mac", default="02:00:00:00:00:02")
    ap.add_argument("--src-mac", default="02:00:00:00:00:01")
    ap.add_argument("--src-net", default="198.18")
    ap.add_argument("--client-answers", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()
    server = socket.inet_aton(a.dst)
    mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
    ceth = mac(a.dst_mac) + mac(a.src_mac) + b"\x08\x00"
    net = [int(x) for x in a.src_net.split(".")]
    hdr = struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 262144, 1)
    n = {"real": 0, "lost": 0, "flood": 0, "flood_seen": 0}
    truth = open(a.truth, "w") if a.truth else None
    with open(a.client, "wb") as c, open(a.server, "wb") as s:
        c.write(hdr)
        s.write(hdr)
        for i in range(a.count):
            t = T0 + i * 10**9 // a.rate
            if len(net) == 2:
                src = bytes(net + [(i >> 8) & 0xff, i & 0xff])
            else:  # a /24: hosts .10 to .249, clear of the lab's routers and client
                src = bytes(net + [10 + i % 240])
            sport = 1024 + (i * 7) % 60000
            isn = isn_of(i)
            real = a.flood_every <= 1 or i % a.flood_every == 0
            if real:
                n["real"] += 1
                r = i // a.flood_every if a.flood_every > 1 else i  # index among the real ones
                seen = a.lost_every <= 0 or r % a.lost_every != 37 % a.lost_every
                n["lost"] += not seen
                if truth:
                    truth.write("%d %d\n" % (isn, seen))
            else:
                n["flood"] += 1
                seen = a.flood_seen_every > 0 and i % a.flood_seen_every == 1
                n["flood_seen"] += seen
            dport = 443 if real else 80
            c.write(frame(t, src, server, sport, dport, isn, 0, 0x02, ceth))
            if seen:
                s.write(frame(t + 1000000, src, server, sport, dport, isn, 0, 0x02))
                s.write(frame(t + 1050000, server, src, dport, sport, 0x5eed, isn + 1, 0x12))
            if seen and a.client_answers:
                c.write(frame(t + 2050000, server, src, dport, sport, 0x5eed, isn + 1, 0x12,
                              ceth[6:12] + ceth[0:6] + ceth[12:]))
    if truth:
        truth.close()
    for k, v in n.items():
        print(k, v)


if __name__ == "__main__":
    main()
