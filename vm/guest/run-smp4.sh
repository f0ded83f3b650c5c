#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside a 4-CPU test guest from /gmp: the selftests that need more
# CPUs than the main run's 2 (a cgroup CPU limit below 4 is hidden by the
# default P count's floor of 2 on fewer). Same result lines as
# run-tests.sh.
check() {
	name=$1
	shift
	"$@"
	echo "GMP-CHECK $name $?"
}

check guest_has_4_cpus sh -c '[ "$(grep -c ^processor /proc/cpuinfo)" -ge 4 ]'
check insmod insmod ./gmp.ko
for t in ./gmp_procs_test; do
	echo "GMP-SELFTEST $t"
	"$t"
	echo "GMP-SELFTEST-EXIT $t $?"
done
check rmmod rmmod gmp
exit 0
