#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run every gmp test: build the module for Debian's stock 6.1 kernel and
# for the debug test kernel (KASAN, lockdep, DEBUG_ATOMIC_SLEEP, KUnit),
# W=1 and checkpatch --strict, then boot each kernel under QEMU and run the
# KUnit suite (debug kernel) and the selftests (both). Prints each failing
# case and a closing line "N passed, N failed". Options go to vm/run.sh
# (for example --kvm).
#
# vm/test.sh --all also runs the suite on Debian's 6.12 and 6.12-rt
# (bookworm-backports) and on the 6.12 debug kernel (KUnit too, and
# PROVE_RAW_LOCK_NESTING for RT's lock rules), built once and cached like
# the 6.1 one: about 20 minutes more, and the 6.12 debug kernel's build
# the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
all=
if [ "${1:-}" = --all ]; then
	all=1
	shift
fi

vm/deps.sh ${all:+612}
. vm/kernels.sh
stock_kernels
t=$SECONDS
ktree=$(vm/build-kernel.sh)
echo "test: debug kernel ready in $((SECONDS - t)) s: $ktree" >&2

mkdir -p build
checks=build/host-checks.txt
: > "$checks"
result() { if [ "$2" = 0 ]; then echo "ok $1"; else echo "not ok $1"; fi >> "$checks"; }

# Builds: a warning is a failure.
kernels="stock debug"
[ -z "$all" ] || kernels="$kernels 612 612rt debug612"
[ -z "$all" ] || echo "test: 6.12 debug kernel ready: $(vm/build-kernel.sh --612)" >&2
for k in $kernels; do
	rc=0
	make --no-print-directory module-$k W=1 > build/$k-build.log 2>&1 || rc=$?
	if [ $rc = 0 ] && grep -E "warning:|error:" build/$k-build.log; then rc=1; fi
	[ $rc = 0 ] || tail -30 build/$k-build.log
	result "build gmp.ko for the $k kernel, W=1, no warnings" $rc
done
if [ -n "$all" ]; then	# DKMS, as a user installs it (nothing is loaded)
	kernels_612 rt && krels="${K612_KDIR#*/linux-headers-}"
	kernels_612 && krels="$krels ${K612_KDIR#*/linux-headers-}"
	vm/dkms-check.sh "${STOCK_KDIR#*/linux-headers-}" $krels >> "$checks"
fi
rc=0
make --no-print-directory userlib selftests examples > build/user-build.log 2>&1 || { rc=$?; tail -30 build/user-build.log; }
result "build kgo, selftests and examples" $rc
rc=0
make --no-print-directory check CHECKPATCH="$ktree/scripts/checkpatch.pl" > build/checkpatch.log 2>&1 || { rc=$?; cat build/checkpatch.log; }
result "checkpatch.pl --strict on the kernel sources" $rc

# Stage each guest's /gmp (Makefile: guest-test-*) and boot it.
declare -A vmrc runk=([stock]=stock [debug]=debug [612]=6.12 [612rt]=6.12-rt
			 [debug612]=debug-6.12)
for k in $kernels; do
	make --no-print-directory guest-test-$k > /dev/null
	echo "test: === ${runk[$k]} kernel ===" >&2
	vmrc[$k]=0
	# 6 GiB: a million parked goroutines (gmp_scale_test) need ~4.5.
	# 30 min: room for a test's own watchdog (the soak's reports a hang
	# after 200 s) to speak before the VM's limit cuts it off.
	vm/run.sh --kernel ${runk[$k]} --dir build/guest-$k \
		--log build/$k-console.log --mem 6144 --timeout 1800 "$@" \
		-- sh run-tests.sh || vmrc[$k]=$?
done
# What needs more CPUs than 2: the default P count under a cgroup limit.
echo "test: === stock kernel, 4 CPUs ===" >&2
vmrc[smp4]=0
vm/run.sh --kernel stock --dir build/guest-stock --log build/smp4-console.log \
	--smp 4 --timeout 900 "$@" -- sh run-smp4.sh || vmrc[smp4]=$?

echo "test: total $((SECONDS - start)) s" >&2
runs=("stock-4cpu=build/smp4-console.log:${vmrc[smp4]}")
for k in $kernels; do
	runs+=("${runk[$k]}=build/$k-console.log:${vmrc[$k]}")
done
python3 vm/results.py --checks "$checks" "${runs[@]}"
