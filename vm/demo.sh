#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# gmp's main job on a fresh Debian 12 machine: install what is needed,
# build gmp.ko, the kgo library and the examples, then boot Debian's
# stock kernel under QEMU, load the module and run the goroutine demo.
#   vm/demo.sh [N goroutines] [vm/run.sh options, e.g. --kvm]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8}
[ $# -gt 0 ] && shift

vm/deps.sh
. vm/kernels.sh
stock_kernels
make --no-print-directory module KDIR="$STOCK_KDIR" MODOUT=build/stock
make --no-print-directory userlib examples
rm -rf build/guest-demo
mkdir -p build/guest-demo
cp build/stock/gmp.ko examples/hello build/guest-demo/
vm/run.sh --kernel stock --dir build/guest-demo "$@" -- \
	"insmod gmp.ko && ./hello $n && rmmod gmp"
