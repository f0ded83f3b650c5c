#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read the RESULT lines of a benchmark console log, print the table:
medians [min-max] per workload and system, then each peer's median over
gmp's (above 1: gmp is faster; "-" where a peer has no such workload)."""
import statistics
import sys

WHAT = {
    "spawn": "spawn + exit, per goroutine (P=2)",
    "yield": "yield, per switch (P=1)",
    "parkready": "park/ready round trip (Go: unbuffered chan) (P=1)",
    "chan": "unbuffered channel round trip (P=1)",
    "select": "round trip, receiver selects over 2 channels (P=1)",
    "daisy": "daisy chain of 10,000, per link (P=2)",
    "pool": "worker pool, 100,000 jobs, per job (P=2)",
    "switch": "bare user-space stack switch (floor)",
    "preemptlat50": "preemption latency, slice end to next G, p50 (us)",
    "preemptlat99": "preemption latency, slice end to next G, p99 (us)",
    "preemptcost": "one preemption, last instant to next G (ns) (P=1)",
    "handofflat50": "hand-off latency, nanosleep() blocks to next G, p50 (us)",
    "handofflat99": "hand-off latency, nanosleep() blocks to next G, p99 (us)",
}


PEERS = ["go", "fiber", "pthread"]
NAME = {"go": "Go 1.19", "fiber": "Boost.Fiber", "pthread": "pthreads"}
ORDER = ("spawn", "yield", "parkready", "chan", "select", "daisy", "pool",
         "preemptlat50",
         "preemptlat99", "preemptcost", "handofflat50", "handofflat99",
         "switch")


def main(path):
    res, env, fails = {}, "", []
    for line in open(path, errors="replace"):
        f = line.split()
        if f[:1] == ["RESULT"] and len(f) == 4:
            res.setdefault((f[2], f[1]), []).append(float(f[3]))
        elif f[:1] == ["BENCH-ENV"]:
            env = " ".join(f[1:])
        elif f[:1] == ["BENCH-FAIL"]:
            fails.append(" ".join(f[1:]))
    print(f"gmp scheduler benchmarks ({env}); ns per operation unless "
          f"marked, median of "
          f"{max((len(v) for v in res.values()), default=0)} runs [min-max]")
    print("QEMU TCG (software emulation): absolute numbers are not hardware "
          "numbers; compare ratios within this run.")
    peers = [p for p in PEERS if any(k[1] == p for k in res)]
    print(f"{'workload':<52} {'gmp':>20} "
          + " ".join(f"{NAME[p]:>20}" for p in peers) + " "
          + " ".join(f"{NAME[p] + '/gmp':>{max(7, len(NAME[p]) + 4)}}"
                     for p in peers))
    fmt = lambda c: f"{c[0]:9.1f} [{c[1]:.0f}-{c[2]:.0f}]" if c else "-"
    for w in ORDER:
        cells = {}
        for sys_ in ["gmp", "baseline"] + peers:
            v = res.get((w, sys_))
            if v:
                cells[sys_] = (statistics.median(v), min(v), max(v))
        if not cells:
            continue
        if w == "switch":
            print(f"{WHAT[w]:<52} {fmt(cells.get('baseline')):>20}")
            continue
        ratios = []
        for p in peers:
            r = (f"{cells[p][0] / cells['gmp'][0]:.2f}"
                 if p in cells and "gmp" in cells else "-")
            ratios.append(f"{r:>{max(7, len(NAME[p]) + 4)}}")
        print(f"{WHAT[w]:<52} {fmt(cells.get('gmp')):>20} "
              + " ".join(f"{fmt(cells.get(p)):>20}" for p in peers) + " "
              + " ".join(ratios))
    for f in fails:
        print(f"FAILED: {f}")
    return 1 if fails or not res else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
