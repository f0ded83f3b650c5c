#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Instructions per operation, by function and by instruction, from two
QEMU execution logs (-d exec,in_asm,nochain) of one workload run with two
operation counts: the difference cancels start-up and teardown, and what
is left is exact (each translated block's instructions, times the times
it ran). Used by bench/profile.sh.

    profile.py LOG_A N_A LOG_B N_B BINARY [--insn]
"""
import bisect
import collections
import re
import subprocess
import sys

IN_RE = re.compile(r'0x([0-9a-f]+):\s')
CONT_RE = re.compile(r'0x[0-9a-f]+:(\s+[0-9a-f]{2})+\s*$')
TRACE_RE = re.compile(r'Trace \d+: (\S+) \[[0-9a-f]+/([0-9a-f]+)/')


def load(path):
    """Per guest address, how many times its instruction ran; and its text."""
    bytb, ran, text = {}, collections.Counter(), {}
    cur = pending = None
    with open(path, errors='replace') as f:
        for line in f:
            if line.startswith('IN:'):
                cur = []
                continue
            m = IN_RE.match(line)
            if m and cur is not None:
                # A long instruction's bytes run on to a line of their
                # own, with an address but no mnemonic: not one more.
                if not CONT_RE.match(line):
                    ip = int(m.group(1), 16)
                    cur.append(ip)
                    text[ip] = line.split('  ', 2)[-1].strip()
                continue
            if cur:
                pending = cur
            cur = None
            m = TRACE_RE.match(line)
            if not m:
                continue
            # A block's first run follows its translation; later runs name
            # the same translated block (host address) again.
            tb = m.group(1)
            if pending is not None and pending[0] == int(m.group(2), 16):
                bytb[tb] = pending
            pending = None
            for ip in bytb.get(tb, ()):
                ran[ip] += 1
    return ran, text


def symbols(binary):
    out = subprocess.run(['nm', '-n', binary], capture_output=True,
                         text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwW':
            syms.append((int(p[0], 16), p[2]))
    return syms


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    (log_a, n_a, log_b, n_b, binary) = sys.argv[1:6]
    n_a, n_b = float(n_a), float(n_b)
    ran_a, text = load(log_a)
    ran_b, text_b = load(log_b)
    text.update(text_b)
    syms = symbols(binary)
    addrs = [a for a, _ in syms]

    def sym(ip):
        i = bisect.bisect_right(addrs, ip) - 1
        return syms[i][1] if i >= 0 else '?'

    per = {ip: (ran_b[ip] - ran_a.get(ip, 0)) / (n_b - n_a) for ip in ran_b}
    by = collections.Counter()
    for ip, v in per.items():
        by[sym(ip)] += v
    print(f'{sum(per.values()):.1f} instructions per operation (user space)')
    for name, v in by.most_common():
        if abs(v) >= 0.5:
            print(f'{v:8.1f}  {name}')
    if '--insn' in sys.argv[6:]:
        print()
        for ip in sorted(per):
            if per[ip] >= 0.5:
                print(f'{per[ip]:6.2f} {ip:x} {sym(ip):28s} {text.get(ip, "")}')


if __name__ == '__main__':
    main()
