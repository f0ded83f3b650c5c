#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read the RESULT lines of a benchmark console log, print the table:
medians [min-max] per workload and system, then each peer's ratio to gmp
(above 1: gmp is better; "-" where a peer has no such workload). With a
second argument, also write the sweeps (spawn, and memory per parked
goroutine, against N) there as a data file for bench/plot.gp.

    table.py [--icount] CONSOLE_LOG [SWEEP_DAT]

--icount: the run counted instructions (vm/run.sh --icount) on one vCPU
at P=1, so "ns" are guest instructions; with two rounds or more, the
first two side by side and each row's spread between them."""
import statistics
import sys

SWEEP = {
    "spawn": "spawn + exit, N={}, per goroutine (P=2)",
    "rss": "parked, N={}: RSS per goroutine (bytes)",
    "mem": "parked, N={}: machine memory per goroutine (bytes)",
    "idlethr": "idle TCP connections, N={}: threads",
    "idlerss": "idle TCP connections, N={}: RSS per connection (bytes)",
    "idlemem": "idle TCP connections, N={}: machine memory per conn. (bytes)",
}
WHAT = {
    "yield": "yield, per switch (P=1)",
    "parkready": "park/ready round trip (Go: unbuffered chan) (P=1)",
    "chan": "unbuffered channel round trip (P=1)",
    "select": "round trip, receiver selects over 2 channels (P=1)",
    "daisy": "daisy chain of 10,000, per link (P=2)",
    "pool": "worker pool, 100,000 jobs, per job (P=2)",
    "fair": "fairness: 8 CPU-bound for 1 s, Jain's index (P=2)",
    "sysmix": "compute beside 8 blocked in read(), time / alone (P=2)",
    "echo": "TCP loopback echo, 64 B round trip, 1 connection (P=1)",
    "echo100": "TCP loopback echo, 100 connections, per round trip (P=2)",
    "http100": "HTTP/1.1 hello, wrk, 100 connections: requests/s (P=2)",
    "http100p99": "HTTP/1.1 hello, wrk, 100 connections: p99 (us)",
    "http1000": "HTTP/1.1 hello, wrk, 1000 connections: requests/s (P=2)",
    "http1000p99": "HTTP/1.1 hello, wrk, 1000 connections: p99 (us)",
    "http10000": "HTTP/1.1 hello, wrk, 10,000 connections: requests/s (P=2)",
    "http10000p99": "HTTP/1.1 hello, wrk, 10,000 connections: p99 (us)",
    "switch": "bare user-space stack switch (floor)",
    "preemptlat50": "preemption latency, slice end to next G, p50 (us)",
    "preemptlat99": "preemption latency, slice end to next G, p99 (us)",
    "preemptcost": "one preemption, last instant to next G (ns) (P=1)",
    "handofflat50": "hand-off latency, nanosleep() blocks to next G, p50 (us)",
    "handofflat99": "hand-off latency, nanosleep() blocks to next G, p99 (us)",
}
HIGHER_IS_BETTER = {"fair", "http100", "http1000", "http10000"}
PEERS = ["go", "fiber", "pthread", "epoll"]
NAME = {"go": "Go 1.19", "fiber": "Boost.Fiber", "pthread": "pthreads",
        "epoll": "epoll floor"}
ORDER = ("spawn", "yield", "parkready", "chan", "select", "daisy", "pool",
         "fair", "sysmix", "echo", "echo100", "http100", "http100p99",
         "http1000", "http1000p99", "http10000", "http10000p99", "idlethr", "idlerss", "idlemem", "rss",
         "mem", "preemptlat50", "preemptlat99",
         "preemptcost", "handofflat50", "handofflat99", "switch")


def power(n):
    """10000 -> 10^4; anything else as it is."""
    s = str(n)
    return f"10^{len(s) - 1}" if s.strip("0") == "1" else s


def rows(res):
    """(label, workload key) in table order; sweeps by N."""
    for w in ORDER:
        if w in SWEEP:
            ns = sorted({int(k[0].split("@")[1]) for k in res
                         if k[0].startswith(w + "@")})
            for n in ns:
                yield SWEEP[w].format(power(n)), f"{w}@{n}"
        elif any(k[0] == w for k in res):
            yield WHAT[w], w


def fmt(c):
    if not c:
        return "-"
    if len(c) == 4:         # counted: (first, second) rounds
        return " / ".join(f"{v:.3f}" if v < 10 else f"{v:.1f}"
                          for v in c[3])
    if c[0] < 10:
        return f"{c[0]:8.3f} [{c[1]:.2f}-{c[2]:.2f}]"
    return f"{c[0]:9.1f} [{c[1]:.0f}-{c[2]:.0f}]"


def main(path, datpath=None, icount=False):
    res, env, fails = {}, "", []
    for line in open(path, errors="replace"):
        f = line.split()
        if f[:1] == ["RESULT"] and len(f) == 4:
            res.setdefault((f[2], f[1]), []).append(float(f[3]))
        elif f[:1] == ["BENCH-ENV"]:
            env = " ".join(f[1:])
        elif f[:1] == ["BENCH-FAIL"]:
            fails.append(" ".join(f[1:]))
    runs = max((len(v) for v in res.values()), default=0)
    # Counted, two rounds or more: the first two side by side, each row's
    # spread between them, and whether every row repeats.
    twice = icount and runs > 1
    if twice:
        med = {k: (v[0], min(v[:2]), max(v[:2]), v[:2])
               for k, v in res.items()}
    else:
        med = {k: (statistics.median(v), min(v), max(v))
               for k, v in res.items()}
    unit = "instructions" if icount else "ns"
    print(f"gmp scheduler benchmarks ({env}); {unit} per operation unless "
          f"marked, " + ("two rounds in one guest, the first / the second"
                         if twice else
                         f"median of up to {runs} runs [min-max]"))
    if icount:
        print("QEMU -icount shift=0: the guest clock counts instructions "
              "(1 ns each; 1 us = 1000), the same on every host and run. An "
              "instruction is not a cycle: a locked instruction, a cache "
              "miss or a mode switch costs more on hardware. One vCPU, and "
              "every row at P=1: the timed table's P=2 rows need two real "
              "CPUs, and two vCPUs under icount interleave as the host "
              "decides, so their counts would not repeat.")
    else:
        print("QEMU TCG (software emulation): absolute numbers are not "
              "hardware numbers; compare ratios within this run.")
    peers = [p for p in PEERS if any(k[1] == p for k in res)]
    rw = [max(7, len(NAME[p]) + 4) for p in peers]
    over = []
    head = (f"{'workload':<56} {'gmp':>22} "
            + " ".join(f"{NAME[p]:>22}" for p in peers) + " "
            + " ".join(f"{NAME[p] + '/gmp':>{w}}" for p, w in zip(peers, rw)))
    print(head + ("  spread" if twice else ""))
    for label, w in rows(res):
        if icount:
            label = label.replace("(P=2)", "(P=1)")
        if twice:
            cs = [c for k, c in med.items() if k[0] == w and len(c) == 4]
            sp = max((c[2] - c[1]) / c[1] if c[1] else 0 for c in cs)
            if sp > 0.02:
                over.append(label)
            spread = f"  {100 * sp:5.2f}%" + (" *" if sp > 0.02 else "")
        else:
            spread = ""
        if w == "switch":
            print(f"{label:<56} {fmt(med.get((w, 'baseline'))):>22}"
                  .ljust(len(head)) + spread)
            continue
        g = med.get((w, "gmp"))
        ratios = []
        for p, width in zip(peers, rw):
            c = med.get((w, p))
            r = "-"
            if c and g and g[0] and c[0]:
                r = f"{(g[0] / c[0] if w in HIGHER_IS_BETTER else c[0] / g[0]):.2f}"
            ratios.append(f"{r:>{width}}")
        print(f"{label:<56} {fmt(g):>22} "
              + " ".join(f"{fmt(med.get((w, p))):>22}" for p in peers) + " "
              + " ".join(ratios) + spread)
    if twice:
        print("Counted twice: each cell is the first round / the second; "
              "spread is the row's largest difference between them. "
              + (f"{len(over)} row(s) over 2% (*)." if over else
                 "Every row within 2%."))
    print("Ratios: a peer's value over gmp's (for fairness, gmp's over the "
          "peer's): above 1, gmp is better.")
    for f in fails:
        print(f"FAILED: {f}")
    if datpath:
        write_sweeps(med, datpath)
    return 1 if fails or not res else 0


def write_sweeps(med, datpath):
    """One gnuplot block per sweep ("spawn", "mem"): a header line, then N
    and a column per system, "NaN" where it has no run."""
    sweep_peers = [p for p in PEERS if p != "epoll"]  # no sweeps
    systems = ["gmp"] + sweep_peers
    with open(datpath, "w") as out:
        for w in ("spawn", "mem"):
            ns = sorted({int(k[0].split("@")[1]) for k in med
                         if k[0].startswith(w + "@")})
            out.write("N gmp " + " ".join(
                f'"{NAME[p]}"' for p in sweep_peers) + "\n")
            for n in ns:
                cells = [med.get((f"{w}@{n}", s)) for s in systems]
                out.write(f"{n} " + " ".join(
                    f"{c[0]:.1f}" if c else "NaN" for c in cells) + "\n")
            out.write("\n\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    ic = bool(args) and args[0] == "--icount"
    sys.exit(main(*args[ic:ic + 2], icount=ic))
