#!/usr/bin/python3
"""Rewrites a classic pcap (Ethernet, us or ns) as pcapng with one interface and, at the end,
an Interface Statistics Block declaring IFDROP dropped packets over the whole capture, the way
dumpcap records kernel drops.  tests/lib/pcap_to_pcapng_isb.py IN.pcap OUT.pcapng IFDROP"""
import struct, sys

src, dst, ifdrop = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
magic = struct.unpack_from("<I", data)[0]
assert magic in (0xA1B2C3D4, 0xA1B23C4D), "little-endian classic pcap expected"
nsec = magic == 0xA1B23C4D
linktype = struct.unpack_from("<I", data, 20)[0] & 0xFFFF

def block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

def opt(code, value):
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
out.append(block(1, struct.pack("<HHI", linktype, 0, 0) + opt(9, bytes([9])) + opt(0, b"")))
off, first, last = 24, None, None
while off + 16 <= len(data):
    sec, frac, cap, wire = struct.unpack_from("<IIII", data, off)
    ts = sec * 10**9 + (frac if nsec else frac * 1000)
    first = ts if first is None else first
    last = ts
    out.append(block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, cap, wire) + data[off + 16:off + 16 + cap]))
    off += 16 + cap
def ts64(t):
    return struct.pack("<II", t >> 32, t & 0xFFFFFFFF)
opts = opt(2, ts64(first)) + opt(3, ts64(last)) + opt(5, struct.pack("<Q", ifdrop)) + opt(0, b"")
out.append(block(5, struct.pack("<I", 0) + ts64(last) + opts))
open(dst, "wb").write(b"".join(out))
