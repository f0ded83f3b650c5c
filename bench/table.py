#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read the RESULT lines of a benchmark console log, print the table."""
import statistics
import sys

WHAT = {
    "spawn": "spawn + exit, per goroutine (P=2)",
    "yield": "yield, per switch (P=1)",
    "parkready": "park/ready round trip (Go: unbuffered chan) (P=1)",
    "chan": "unbuffered channel round trip (P=1)",
    "select": "round trip, receiver selects over 2 channels (P=1)",
    "switch": "bare user-space stack switch (floor)",
    "preemptlat50": "preemption latency, slice end to next G, p50 (us)",
    "preemptlat99": "preemption latency, slice end to next G, p99 (us)",
    "preemptcost": "one preemption, last instant to next G (ns) (P=1)",
    "handofflat50": "hand-off latency, nanosleep() blocks to next G, p50 (us)",
    "handofflat99": "hand-off latency, nanosleep() blocks to next G, p99 (us)",
}


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
    print(f"{'workload':<52} {'gmp':>20} {'Go 1.19':>20} {'Go/gmp':>7}")
    for w in ("spawn", "yield", "parkready", "chan", "select", "preemptlat50", "preemptlat99",
              "preemptcost", "handofflat50", "handofflat99", "switch"):
        cells = {}
        for sys_ in ("gmp", "go", "baseline"):
            v = res.get((w, sys_))
            if v:
                cells[sys_] = (statistics.median(v), min(v), max(v))
        fmt = lambda c: f"{c[0]:9.1f} [{c[1]:.0f}-{c[2]:.0f}]" if c else "-"
        if w == "switch":
            print(f"{WHAT[w]:<52} {fmt(cells.get('baseline')):>20}")
            continue
        ratio = (f"{cells['go'][0] / cells['gmp'][0]:7.2f}"
                 if "go" in cells and "gmp" in cells else "-")
        print(f"{WHAT[w]:<52} {fmt(cells.get('gmp')):>20} "
              f"{fmt(cells.get('go')):>20} {ratio:>7}")
    for f in fails:
        print(f"FAILED: {f}")
    return 1 if fails or not res else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
