#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scheduler benchmarks: gmp (kgo) beside Go 1.19, Boost.Fiber and plain
# pthreads in one VM run on Debian's stock kernel, interleaved, ROUNDS
# times (default 5). Prints a table of medians with each peer's ratio to
# gmp (above 1: gmp is better) and keeps it in build/bench/results.txt,
# with the plot of the sweeps in build/bench/sweep.png. Options go to
# vm/run.sh (e.g. --kvm). With --icount the guest clock counts
# instructions: the table is in instructions per operation, the same on
# every host and run, in build/bench-icount/: one vCPU, every row at
# P=1, two rounds side by side with each row's spread between them, and
# without the memory rows and the million-thread spawn. The
# guest gets 12 GiB: a million parked goroutines take up to 6 GiB in
# some systems. SET=sched or SET=net runs only those rows (guest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

vm/deps.sh bench
make --no-print-directory module-stock userlib bench examples >/dev/null
make --no-print-directory guest-bench >/dev/null
out=build/bench icount= counted=0 rounds=${ROUNDS:-5}
case " $* " in *" --icount "*)
	# Counted, not timed: its own results beside the timed ones, on
	# one vCPU (guest.sh says why), two rounds side by side so that the
	# table shows how well each count repeats.
	out=build/bench-icount icount="--icount --smp 1" counted=1
	rounds=${ROUNDS:-2}
	rm -rf "$out"
	mkdir -p "$out"
	cp -r build/bench/guest "$out/"
esac
# shellcheck disable=SC2086 # $icount: options, split on purpose
vm/run.sh --kernel stock --dir "$out/guest" --log "$out/console.log" \
	--mem 12288 --timeout 3600 $icount "$@" \
	-- "SET=${SET:-all} ROUNDS=$rounds COUNTED=$counted SYSMIX_N=${SYSMIX_N:-100000} sh guest.sh" > /dev/null
{
	python3 bench/table.py ${icount:+--icount} "$out/console.log" "$out/sweep.dat"
	echo "gcc: $(gcc --version | head -1); go: $(go version); boost: $(dpkg-query -W -f='${Version}' libboost-fiber-dev); flags: -O2, static"
} | tee "$out/results.txt"
# SET=net has no sweeps: nothing to plot.
if [ $counted = 0 ] && grep -q '^[0-9]' "$out/sweep.dat"; then
	gnuplot -e "dat='$out/sweep.dat'; png='$out/sweep.png'" bench/plot.gp
	echo "plot: $out/sweep.png"
fi
