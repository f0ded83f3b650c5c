#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# splat.sh LOG: print any kernel splat in LOG and exit 0 if there is one,
# 1 if the log is clean. What counts is what must never happen under gmp.
# The patterns, one per line, are vm/splat-patterns.txt (results.py reads
# them too, to charge each splat to the test that was running).
pattern=$(paste -sd'|' "$(dirname "$0")/splat-patterns.txt")
# A leak is its "unreferenced object" report, which kmemleak-scan.sh prints
# after the tests; the kernel's "N new suspected memory leaks" line also
# comes from the baseline scan, whose boot-time reports it then clears.
# "traps: prog[pid] general protection fault ... in prog[...]" is a user
# program's own fault (the fuzzer's goroutines run scribbled frames).
grep -nE "$pattern" "$1" | grep -v 'GMP-' | grep -vE '(^[0-9]+:|\] )traps: [^ ]+\[[0-9]+\] ' | head -40 | sed 's/^/splat: /' | grep . && exit 0
exit 1
