#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Where a benchmark's instructions go, exactly: run one gmp_bench workload
# twice in the counted VM (vm/run.sh --icount) with QEMU logging every
# block of the program it runs, at two operation counts, and print the
# difference per operation by function (bench/profile.py; --insn adds
# every instruction). User space only: the kernel's share is the counted
# table's figure (bench/run.sh --icount) minus this one.
#
#   bench/profile.sh WORKLOAD [N] [--insn]     e.g. bench/profile.sh chan
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/profile.sh WORKLOAD [N] [--insn]" >&2; exit 2; }
w=$1 n=${2:-1000} insn=
[ "${3:-}" = --insn ] && insn=--insn
make --no-print-directory module-stock userlib bench >/dev/null
make --no-print-directory guest-bench >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp build/bench/guest/gmp.ko build/bench/guest/gmp_bench "$work/"
# The program is static and not position-independent: its text is at
# 0x400000, and only blocks there are logged.
for k in 1 2; do
	printf 'insmod ./gmp.ko\nGMPMAXPROCS=1 ./gmp_bench %s %s\n' \
		"$w" $((n * k)) > "$work/p.sh"
	QEMU_EXTRA="-d exec,in_asm,nochain -dfilter 0x400000+0x200000 -D $work/$k.log" \
		vm/run.sh --kernel stock --dir "$work" --icount --timeout 900 \
		-- 'sh p.sh' | grep "^$w " || true
done
# Per operation as the benchmark counts them (yield: per switch, two
# goroutines each yielding N times).
per=$n
[ "$w" = yield ] && per=$((2 * n))
python3 bench/profile.py "$work/1.log" "$per" "$work/2.log" $((2 * per)) \
	build/bench/guest/gmp_bench $insn
