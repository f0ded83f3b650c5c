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
make --no-print-directory module-stock userlib examples
make --no-print-directory guest-demo
vm/run.sh --kernel stock --dir build/guest-demo "$@" -- \
	"insmod gmp.ko && ./hello $n && rmmod gmp"
