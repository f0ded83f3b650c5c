#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# splat.sh LOG: print any kernel splat in LOG and exit 0 if there is one,
# 1 if the log is clean. What counts is what must never happen under gmp.
pattern='BUG:|WARNING:|Oops|KASAN|UBSAN|general protection fault|kernel BUG at|'\
'possible recursive locking|possible circular locking|inconsistent lock state|'\
'suspicious RCU usage|scheduling while atomic|sleeping function called from invalid context|'\
'soft lockup|hard LOCKUP|blocked for more than|Kernel panic|kmemleak: .* new suspected|unreferenced object|Call Trace:'
# "traps: prog[pid] general protection fault ... in prog[...]" is a user
# program's own fault (the fuzzer's goroutines run scribbled frames).
grep -nE "$pattern" "$1" | grep -v 'GMP-' | grep -vE '(^[0-9]+:|\] )traps: [^ ]+\[[0-9]+\] ' | head -40 | sed 's/^/splat: /' | grep . && exit 0
exit 1
