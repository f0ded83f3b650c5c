#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn gmp's test logs into one verdict.

    results.py [--checks FILE] LABEL=CONSOLE_LOG:VM_EXIT_STATUS ...

Reads, for each VM run, the guest's GMP-CHECK lines, the selftests' TAP
between GMP-SELFTEST markers and the KUnit KTAP in the kernel log dump;
--checks adds host-side results ("ok NAME" / "not ok NAME" lines). Prints
every failing case, then a closing line "N passed, N failed, N skipped".
Exits 1 if anything failed or a run produced no results at all.
"""
import re
import sys

SPLAT_FILE = __file__.rsplit("/", 1)[0] + "/splat-patterns.txt"
# A user program's own fault ("traps: prog[pid] general protection ...").
USER_TRAP = re.compile(r"(^|\] )traps: [^ ]+\[[0-9]+\] ")
MARK = re.compile(r"GMP-TEST-(BEGIN|END) (\S+)")
RESULT = re.compile(r"^(not ok|ok) \d+ (.*?)(?:\s+#\s*(SKIP|TODO)\b\s*(.*))?$")
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


class Tally:
    def __init__(self):
        self.passed, self.failed, self.skipped = 0, [], []

    def add(self, name, ok, skip=None):
        if skip is not None:
            self.skipped.append(f"{name}: {skip}")
        elif ok:
            self.passed += 1
        else:
            self.failed.append(name)


def selftests(label, lines, tally):
    """TAP of each selftest binary, between its two markers."""
    current, seen, plan, nfail = None, 0, None, 0
    for line in lines:
        if line.startswith("GMP-SELFTEST "):
            current, seen, plan, nfail = line.split()[1], 0, None, 0
            continue
        if line.startswith("GMP-SELFTEST-EXIT ") and current:
            status = line.split()[2]
            name = f"[{label}] {current}"
            if plan is None or seen != plan:
                tally.add(f"{name}: planned {plan} tests, {seen} reported "
                          f"(exit {status})", False)
            elif status != "0" and nfail == 0:
                tally.add(f"{name}: exit status {status}", False)
            current = None
            continue
        if not current:
            continue
        m = re.match(r"^1\.\.(\d+)$", line)
        if m:
            plan = int(m.group(1))
            continue
        m = RESULT.match(line)
        if m:
            seen += 1
            skip = (m.group(4) or "no reason") if m.group(3) == "SKIP" else None
            nfail += m.group(1) != "ok" and skip is None
            tally.add(f"[{label}] {current}: {m.group(2)}", m.group(1) == "ok", skip)
    if current:
        tally.add(f"[{label}] {current}: never finished", False)


def kunit(label, dmesg, tally, expected):
    """KTAP: count the test cases (indented results) per suite."""
    suite, ncases, nsuites = None, 0, 0
    for raw in dmesg:
        line = STAMP.sub("", raw)
        body = line.strip()
        m = re.match(r"^# Subtest: (\S+)", body)
        if m:
            suite = m.group(1)
            continue
        m = RESULT.match(body)
        if not m:
            continue
        indented = line.startswith(" ") or line.startswith("\t")
        skip = (m.group(4) or "no reason") if m.group(3) == "SKIP" else None
        if indented and suite:
            ncases += 1
            tally.add(f"[{label}] kunit {suite}.{m.group(2)}",
                      m.group(1) == "ok", skip)
        elif not indented:
            nsuites += 1
            if m.group(1) != "ok" and skip is None:
                tally.add(f"[{label}] kunit suite {m.group(2)}", False)
    if expected and ncases == 0:
        tally.add(f"[{label}] kunit: the suite printed no results", False)


def splats(label, dmesg, tally):
    """Charge each kernel splat to the test whose markers enclose it."""
    with open(SPLAT_FILE) as f:
        pattern = re.compile("|".join(l.strip() for l in f if l.strip()))
    running, charged = "(no test: boot or between tests)", set()
    for line in dmesg:
        m = MARK.search(line)
        if m:
            running = m.group(2) if m.group(1) == "BEGIN" else \
                "(no test: between tests)"
            continue
        if "GMP-" in line or USER_TRAP.search(line) or \
           not pattern.search(line):
            continue
        if running not in charged:
            charged.add(running)
            tally.add(f"[{label}] kernel splat while {running} ran: "
                      f"{STAMP.sub('', line)}", False)


def vm_run(spec, tally):
    label, rest = spec.split("=", 1)
    path, status = rest.rsplit(":", 1)
    with open(path, errors="replace") as f:
        lines = [l.rstrip("\n") for l in f]
    try:
        begin = lines.index("GMP-DMESG-BEGIN")
        end = lines.index("GMP-DMESG-END", begin)
        console, dmesg = lines[:begin], lines[begin + 1:end]
    except ValueError:
        console, dmesg = lines, []
        tally.add(f"[{label}] the guest did not finish (no kernel log dump)",
                  False)
    before = tally.passed + len(tally.failed) + len(tally.skipped)
    for line in console:
        m = re.match(r"^GMP-CHECK (\S+) (\d+)$", line)
        if m:
            tally.add(f"[{label}] {m.group(1)}", m.group(2) == "0")
    selftests(label, console, tally)
    kunit(label, dmesg, tally, "GMP-KUNIT-BEGIN" in console)
    splats(label, dmesg, tally)
    if status != "0":
        tally.add(f"[{label}] VM run: exit status {status} "
                  "(124: timeout; 1 with passing tests: a kernel splat)", False)
    if tally.passed + len(tally.failed) + len(tally.skipped) == before:
        tally.add(f"[{label}] no results at all", False)


def main(argv):
    tally = Tally()
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--checks":
        with open(args[1]) as f:
            for line in f:
                m = re.match(r"^(not ok|ok) (.*)$", line.strip())
                if m:
                    tally.add(f"[host] {m.group(2)}", m.group(1) == "ok")
        args = args[2:]
    for spec in args:
        vm_run(spec, tally)
    for s in tally.skipped:
        print(f"SKIP {s}")
    for f in tally.failed:
        print(f"FAIL {f}")
    line = f"{tally.passed} passed, {len(tally.failed)} failed"
    if tally.skipped:
        line += f", {len(tally.skipped)} skipped"
    print(line)
    return 1 if tally.failed or tally.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
