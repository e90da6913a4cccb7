#!/usr/bin/env python3
"""retime.py - a classic pcap with its clock made wrong: an offset, a drift, a step.

    retime.py IN.pcap OUT.pcap [--shift S] [--drift-ppm P] [--step-at T --step S]

Each frame's time t becomes t + shift + drift_ppm * 1e-6 * (t - t0) (t0 = the first frame),
plus `step` seconds from T seconds after t0 on (someone fixed the clock mid-capture). Frames
keep their order and bytes; microsecond and nanosecond files are both kept as they are.
Prints the offset the file then has against the original at its middle frame time.
"""
import argparse
import struct
import sys

ap = argparse.ArgumentParser()
ap.add_argument("inp")
ap.add_argument("out")
ap.add_argument("--shift", type=float, default=0.0)
ap.add_argument("--drift-ppm", type=float, default=0.0)
ap.add_argument("--step-at", type=float)
ap.add_argument("--step", type=float, default=0.0)
a = ap.parse_args()

data = open(a.inp, "rb").read()
magic = data[:4]
endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
          b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
if endian is None:
    sys.exit("retime.py: %s is not a classic pcap file" % a.inp)
scale = 10**9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 10**6
out = [data[:24]]
off, t0, times = 24, None, []
while off + 16 <= len(data):
    sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
    t = sec * scale + frac
    if t0 is None:
        t0 = t
    dt = (t - t0) / scale
    moved = a.shift + a.drift_ppm * 1e-6 * dt
    if a.step_at is not None and dt >= a.step_at:
        moved += a.step
    nt = t + round(moved * scale)
    times.append((t, moved))
    out.append(struct.pack(endian + "IIII", nt // scale, nt % scale, incl, orig))
    out.append(data[off + 16:off + 16 + incl])
    off += 16 + incl
open(a.out, "wb").write(b"".join(out))
if times:
    mid = (times[0][0] + times[-1][0]) / 2
    print("%.9f" % min(times, key=lambda x: abs(x[0] - mid))[1])
