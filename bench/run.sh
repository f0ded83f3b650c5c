#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scheduler benchmarks: gmp (kgo) beside Go 1.19 in one VM run on Debian's
# stock kernel, interleaved, ROUNDS times (default 5). Prints a table of
# medians with the ratio Go/gmp (above 1: gmp is faster) and keeps it in
# build/bench/results.txt. Options go to vm/run.sh (e.g. --kvm).
set -euo pipefail
cd "$(dirname "$0")/.."

vm/deps.sh
command -v go >/dev/null || {
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends golang-go >&2
}
. vm/kernels.sh
stock_kernels
make --no-print-directory module KDIR="$STOCK_KDIR" MODOUT=build/stock >/dev/null
make --no-print-directory -C userlib >/dev/null
make --no-print-directory -C bench >/dev/null

out=build/bench
rm -rf "$out/guest"
mkdir -p "$out/guest"
cp build/stock/gmp.ko bench/gmp_bench bench/go_bench bench/guest.sh "$out/guest/"
vm/run.sh --kernel stock --dir "$out/guest" --log "$out/console.log" "$@" \
	-- "ROUNDS=${ROUNDS:-5} sh guest.sh" > /dev/null
{
	python3 bench/table.py "$out/console.log"
	echo "gcc: $(gcc --version | head -1); go: $(go version); flags: -O2, static"
} | tee "$out/results.txt"
