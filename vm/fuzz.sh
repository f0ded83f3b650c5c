#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The fuzzer's long run: build gmp.ko for the debug kernel (KASAN,
# lockdep, DEBUG_ATOMIC_SLEEP, kmemleak, UBSAN), boot it, run
# gmp_fuzz_test for OPS operations or SECONDS, then scan for leaks (a
# kernel without kmemleak makes it say SKIP) and unload the module.
# Passes when the fuzzer passes, rmmod succeeds (no instance leaked) and
# the console has no splat (vm/splat.sh: KASAN, lockdep, atomic sleep,
# kmemleak and the rest).
#   vm/fuzz.sh [OPS [SECONDS [SEED]]] [-- vm/run.sh options, e.g. --kvm]
set -euo pipefail
cd "$(dirname "$0")/.."
ops=${1:-10000000} secs=${2:-3000} seed=${3:-$(date +%s)}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = -- ] && shift

vm/deps.sh
make --no-print-directory module-debug userlib selftests W=1 >/dev/null
make --no-print-directory guest-fuzz >/dev/null
g=build/guest-fuzz
cat > "$g/fuzz-guest.sh" <<GUEST
sh kmemleak-scan.sh baseline
insmod ./gmp.ko || exit 1
./gmp_fuzz_test -n $ops -t $secs -s $seed
echo "GMP-FUZZ-EXIT \$?"
sh kmemleak-scan.sh && echo "GMP-KMEMLEAK-SCANNED"
rmmod gmp
echo "GMP-RMMOD \$?"
GUEST
log=build/fuzz-console.log
vm/run.sh --kernel debug --dir "$g" --log "$log" --mem 4096 \
	--timeout $((secs + 900)) "$@" -- sh fuzz-guest.sh >/dev/null || true
grep -aE '^# |^(not )?ok 1 fuzz|GMP-(FUZZ-EXIT|RMMOD|KMEMLEAK)' "$log" || true
rc=0
grep -aq '^GMP-FUZZ-EXIT 0' "$log" || { echo "fuzz: the fuzzer failed"; rc=1; }
grep -aq '^GMP-RMMOD 0' "$log" || { echo "fuzz: rmmod gmp failed after the run"; rc=1; }
grep -aq '^GMP-KMEMLEAK-SCANNED' "$log" ||
	echo "fuzz: SKIP the leak scan: this kernel has no kmemleak"
if vm/splat.sh "$log"; then echo "fuzz: kernel splat (above)"; rc=1; fi
[ $rc = 0 ] && echo "fuzz: clean ($log)"
exit $rc
