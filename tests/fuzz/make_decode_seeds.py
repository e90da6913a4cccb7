#!/usr/bin/python3
"""Writes fuzz_decode seeds from capture files: one seed per distinct frame, in the target's
input format (link-type selector byte, two bytes of extra wire length, the frame).
   tests/fuzz/make_decode_seeds.py OUTDIR CAPTURE...   (classic pcap and pcapng)"""
import hashlib, os, struct, sys

SELECTOR = {0: 0, 1: 1, 12: 2, 14: 3, 101: 4, 108: 5, 113: 6, 228: 7, 229: 8, 276: 9}

def frames(path):
    data = open(path, "rb").read()
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        off, ifs, e = 0, [], "<"
        while off + 12 <= len(data):
            t, ln = struct.unpack_from(e + "II", data, off)
            if t == 0x0A0D0D0A:
                e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                t, ln = struct.unpack_from(e + "II", data, off)
                ifs = []
            elif t == 1:
                ifs.append(struct.unpack_from(e + "H", data, off + 8)[0])
            elif t == 6:
                ifid, _, _, cap, wire = struct.unpack_from(e + "IIIII", data, off + 8)
                yield ifs[ifid], data[off + 28:off + 28 + cap], wire - cap
            if ln < 12:
                return
            off += ln
        return
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    lt = struct.unpack_from(e + "I", data, 20)[0] & 0xFFFF
    off = 24
    while off + 16 <= len(data):
        _, _, cap, wire = struct.unpack_from(e + "IIII", data, off)
        yield lt, data[off + 16:off + 16 + cap], wire - cap
        off += 16 + cap

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
n = 0
PER_FILE = 40  # enough variety; libFuzzer finds the rest
for path in sys.argv[2:]:
    taken = 0
    for lt, frame, extra in frames(path):
        if lt not in SELECTOR or taken == PER_FILE:
            continue
        taken += 1
        extra = min(extra, 0x7FFF)
        seed = bytes([SELECTOR[lt]]) + struct.pack(">H", 0x8000 | extra if extra else 0) + frame
        name = hashlib.sha1(seed).hexdigest()[:16]
        p = os.path.join(out, name)
        if not os.path.exists(p):
            open(p, "wb").write(seed)
            n += 1
print("%d seeds written to %s" % (n, out))
