#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1 OR MIT
"""Merge a kgo trace and the kernel's gmp events into one timeline.

  kgo-trace.py KGO_TRACE_FILE [--kernel TRACE] [--json OUT.json]
               [--png OUT.png] [--width PIXELS]

KGO_TRACE_FILE is what a program run with KGO_TRACE=FILE wrote: each
goroutine's start on a P and its leaving, from user space. TRACE is the
text of tracefs's trace file (or `trace-cmd report`) taken with the gmp
events on and trace_clock set to mono, so both halves share
CLOCK_MONOTONIC:

  echo mono > /sys/kernel/tracing/trace_clock
  echo 1 > /sys/kernel/tracing/events/gmp/enable
  KGO_TRACE=/tmp/prog.trace ./prog
  cat /sys/kernel/tracing/trace > /tmp/kernel.trace

--json writes the Chrome trace format (chrome://tracing, ui.perfetto.dev):
one track per P, a slice per goroutine run, the kernel's events as
instants on their P. --png draws the same as a picture, one band per P,
each goroutine in its own colour, preemptions as red ticks above the
band and steals as blue ones, idle as white. A summary goes to stdout.
Standard library only.
"""

import argparse
import json
import re
import struct
import sys
import zlib

LEAVE = {"yield", "park", "preempt", "end"}
KERNEL_LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<tid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S*\s*"
    r"(?P<ts>\d+\.\d+):\s+(?P<event>gmp_\w+):\s+(?P<fields>.*)$")


def read_kgo(path):
    """The header's fields and the events: (ns, p, what, goid)."""
    head, events = {}, []
    with open(path) as f:
        first = f.readline().split()
        if len(first) < 2 or first[0] != "kgo-trace":
            raise SystemExit("%s: not a kgo trace" % path)
        for word in first[2:]:
            key, _, val = word.partition("=")
            head[key] = val
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            ts, p, what, goid = line.split()
            events.append((int(ts), int(p), what, int(goid)))
    events.sort(key=lambda e: e[0])
    return head, events


def read_kernel(path, pid):
    """The gmp events of process @pid: (ns, event, fields)."""
    out = []
    with open(path) as f:
        for line in f:
            m = KERNEL_LINE.match(line)
            if not m:
                continue
            fields = dict(kv.split("=", 1) for kv in m["fields"].split()
                          if "=" in kv)
            if pid is not None and fields.get("tgid") != str(pid):
                continue
            sec, _, frac = m["ts"].partition(".")
            ns = int(sec) * 10**9 + int(frac.ljust(9, "0")[:9])
            out.append((ns, m["event"], fields))
    return out


def slices(events):
    """Per P, the runs: (p, goid, start ns, end ns, how it ended)."""
    open_run, runs = {}, []
    for ts, p, what, goid in events:
        cur = open_run.pop(p, None)
        if cur:
            runs.append((p, cur[1], cur[0], ts,
                         what if what in LEAVE else "switch"))
        if what == "start":
            open_run[p] = (ts, goid)
    last = events[-1][0] if events else 0
    for p, (ts, goid) in open_run.items():
        runs.append((p, goid, ts, last, "trace end"))
    return runs


def chrome(head, runs, kernel, t0):
    pid = int(head.get("pid", 0))
    out = [{"ph": "M", "name": "process_name", "pid": pid,
            "args": {"name": "kgo pid %d" % pid}}]
    for p in sorted({r[0] for r in runs} |
                    {int(f["p"]) for _, _, f in kernel
                     if f.get("p", "").isdigit()}):
        out.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": p,
                    "args": {"name": "P%d" % p}})
    for p, goid, start, end, how in runs:
        out.append({"ph": "X", "name": "goroutine %d" % goid,
                    "cat": "goroutine", "pid": pid, "tid": p,
                    "ts": (start - t0) / 1000, "dur": (end - start) / 1000,
                    "args": {"goid": goid, "left": how}})
    for ts, event, fields in kernel:
        p = fields.get("p", "")
        out.append({"ph": "i", "s": "t" if p.isdigit() else "p",
                    "name": event, "cat": "kernel", "pid": pid,
                    "tid": int(p) if p.isdigit() else 0,
                    "ts": (ts - t0) / 1000, "args": fields})
    return {"traceEvents": out, "displayTimeUnit": "ns",
            "otherData": {"source": "kgo-trace.py", "clock": "CLOCK_MONOTONIC"}}


# A 3x5 pixel font for the labels: "P0", "10 ms".
FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", "P": "111101111100100", "m": "000111111101101",
    "s": "000011110001110", " ": "000000000000000",
}


def colour(goid):
    """A colour of its own for each goroutine, never white or red."""
    h = (goid * 2654435761) & 0xffffffff
    return (40 + (h & 0x7f), 60 + ((h >> 8) & 0x7f), 90 + ((h >> 16) & 0x7f))


def png(path, runs, kernel, t0, t1, width):
    procs = sorted({r[0] for r in runs}) or [0]
    band, gap, top, left, scale = 28, 10, 12, 40, 2
    height = top + len(procs) * (band + gap) + 16
    img = [bytearray(b"\xff" * (width * 3)) for _ in range(height)]
    span = max(t1 - t0, 1)

    def x(ns):
        return left + min(width - left - 1,
                          max(0, (ns - t0) * (width - left - 1) // span))

    def text(x0, y0, s):
        for i, ch in enumerate(s):
            glyph = FONT.get(ch, FONT[" "])
            for bit, on in enumerate(glyph):
                if on == "1":
                    gx = x0 + (i * 4 + bit % 3) * scale
                    gy = y0 + (bit // 3) * scale
                    fill(gx, gx + scale - 1, gy, gy + scale - 1, (0, 0, 0))

    def fill(x0, x1, y0, y1, rgb):
        for y in range(y0, y1):
            row = img[y]
            for xx in range(x0, x1 + 1):
                row[3 * xx:3 * xx + 3] = bytes(rgb)

    row_of = {p: top + i * (band + gap) for i, p in enumerate(procs)}
    for p in procs:                       # the band's outline: idle is white
        y = row_of[p]
        fill(left, width - 1, y + band, y + band, (200, 200, 200))
        text(4, y + band // 2 - 5, "P%d" % p)
    for p, goid, start, end, _ in runs:
        y = row_of[p]
        fill(x(start), x(end), y, y + band - 1, colour(goid))
    for ts, event, fields in kernel:
        p = fields.get("p", "")
        if not p.isdigit() or int(p) not in row_of:
            continue
        rgb = {"gmp_preempt": (220, 0, 0), "gmp_steal": (0, 0, 220),
               "gmp_handoff": (230, 140, 0)}.get(event)
        if rgb:
            y = row_of[int(p)]
            fill(x(ts), x(ts), y - 8, y - 2, rgb)
    axis = height - 16
    step = 10 if span < 200 * 10**6 else 50      # labelled ticks, ms
    for ms in range(0, span // 10**6 + 1):       # a tick every millisecond
        xx = x(t0 + ms * 10**6)
        major = ms % step == 0
        fill(xx, xx, axis, axis + (5 if major else 2),
             (0, 0, 0) if major else (150, 150, 150))
        if major and xx + 40 < width:
            text(xx + 2, axis + 5, "%d ms" % ms if ms else "0")
    raw = b"".join(b"\x00" + bytes(r) for r in img)

    def chunk(kind, data):
        body = kind + data
        return (struct.pack(">I", len(data)) + body +
                struct.pack(">I", zlib.crc32(body) & 0xffffffff))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                           8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kgo_trace")
    ap.add_argument("--kernel", help="tracefs text with the gmp events")
    ap.add_argument("--json", help="write the Chrome trace format here")
    ap.add_argument("--png", help="draw the timeline per P here")
    ap.add_argument("--width", type=int, default=1600)
    a = ap.parse_args()

    head, events = read_kgo(a.kgo_trace)
    pid = int(head["pid"]) if "pid" in head else None
    kernel = read_kernel(a.kernel, pid) if a.kernel else []
    runs = slices(events)
    stamps = [e[0] for e in events] + [k[0] for k in kernel]
    if not stamps:
        raise SystemExit("%s: no events" % a.kgo_trace)
    t0, t1 = min(stamps), max(stamps)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(chrome(head, runs, kernel, t0), f)
    if a.png:
        png(a.png, runs, kernel, t0, t1, a.width)

    print("kgo trace of pid %s: %.3f ms, %d user-space events, %d kernel "
          "events" % (head.get("pid", "?"), (t1 - t0) / 1e6, len(events),
                      len(kernel)))
    for p in sorted({r[0] for r in runs}):
        mine = [r for r in runs if r[0] == p]
        busy = sum(r[3] - r[2] for r in mine)
        print("P%d: %d runs of %d goroutines, busy %.1f%%" % (
            p, len(mine), len({r[1] for r in mine}),
            100.0 * busy / max(t1 - t0, 1)))
    counts = {}
    for _, event, _ in kernel:
        counts[event] = counts.get(event, 0) + 1
    for event in sorted(counts):
        print("%s: %d" % (event, counts[event]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
