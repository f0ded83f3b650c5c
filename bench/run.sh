#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scheduler benchmarks: gmp (kgo) beside Go 1.19, Boost.Fiber and plain
# pthreads in one VM run on Debian's stock kernel, interleaved, ROUNDS
# times (default 5). Prints a table of medians with each peer's ratio to
# gmp (above 1: gmp is better) and keeps it in build/bench/results.txt,
# with the plot of the sweeps in build/bench/sweep.png. Options go to
# vm/run.sh (e.g. --kvm). The guest gets 12 GiB: a million parked
# goroutines take up to 6 GiB in some systems.
set -euo pipefail
cd "$(dirname "$0")/.."

vm/deps.sh
# The peers: Go 1.19, Boost.Fiber, and g++ for it.
need=()
command -v go >/dev/null || need+=(golang-go)
command -v g++ >/dev/null || need+=(g++)
[ -f /usr/lib/x86_64-linux-gnu/libboost_fiber.a ] || need+=(libboost-fiber-dev libboost-context-dev)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
if [ ${#need[@]} -gt 0 ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
. vm/kernels.sh
stock_kernels
make --no-print-directory module KDIR="$STOCK_KDIR" MODOUT=build/stock >/dev/null
make --no-print-directory -C userlib >/dev/null
make --no-print-directory -C bench >/dev/null

out=build/bench
rm -rf "$out/guest"
mkdir -p "$out/guest"
cp build/stock/gmp.ko bench/gmp_bench bench/go_bench bench/fiber_bench \
	bench/pthread_bench bench/guest.sh "$out/guest/"
vm/run.sh --kernel stock --dir "$out/guest" --log "$out/console.log" \
	--mem 12288 --timeout 3600 "$@" \
	-- "ROUNDS=${ROUNDS:-5} SYSMIX_N=${SYSMIX_N:-100000} sh guest.sh" > /dev/null
{
	python3 bench/table.py "$out/console.log" "$out/sweep.dat"
	echo "gcc: $(gcc --version | head -1); go: $(go version); boost: $(dpkg-query -W -f='${Version}' libboost-fiber-dev); flags: -O2, static"
} | tee "$out/results.txt"
gnuplot -e "dat='$out/sweep.dat'; png='$out/sweep.png'" bench/plot.gp
echo "plot: $out/sweep.png"
