#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test guest from /gmp: module life cycle checks, the
# KUnit suite (if this kernel has KUnit) and every selftest. Each result
# is a line vm/results.py reads: GMP-CHECK <name> <status>, KTAP in the
# kernel log, and the selftests' TAP between GMP-SELFTEST markers.
# Each test's start and end go to the kernel log too, so that
# vm/results.py charges a splat to the test that was running (as
# liburing's runtests.sh does).
mark() {
	echo "GMP-TEST-$1 $2" > /dev/kmsg 2>/dev/null
}
check() {
	name=$1
	shift
	mark BEGIN "$name"
	"$@"
	rc=$?
	mark END "$name"
	echo "GMP-CHECK $name $rc"
}

# Two CPUs, or the multi-P paths would go untested.
check guest_has_2_cpus sh -c '[ "$(grep -c ^processor /proc/cpuinfo)" -ge 2 ]'
# What the kernel leaked booting is not gmp's: cleared before the module loads.
sh kmemleak-scan.sh baseline
check insmod insmod ./gmp.ko
check dev_gmp_exists test -c /dev/gmp
check dev_gmp_mode_0666 sh -c '[ "$(stat -c %a /dev/gmp)" = 666 ]'

# An open instance pins the module; closing it lets rmmod through.
exec 3</dev/gmp
check rmmod_refused_while_open sh -c '! rmmod gmp 2>/dev/null'
exec 3<&-

if [ -f gmp_kunit.ko ]; then
	echo "GMP-KUNIT-BEGIN"
	check kunit_load insmod ./gmp_kunit.ko
	check kunit_unload rmmod gmp_kunit
fi

for t in ./gmp_*_test; do
	echo "GMP-SELFTEST $t"
	# The ASan and TSan builds check user space, the same on any kernel:
	# they run on the stock kernel; the debug kernel's KASAN sees the
	# kernel side of the same paths in their plain builds.
	case $t in *_asan_test|*_tsan_test) if [ -f gmp_kunit.ko ]; then
		printf 'TAP version 13\n1..1\nok 1 %s # SKIP sanitizer builds run on the stock kernel\n' "$t"
		echo "GMP-SELFTEST-EXIT $t 0"
		continue
	fi ;; esac
	mark BEGIN "$t"
	"$t"
	rc=$?
	mark END "$t"
	echo "GMP-SELFTEST-EXIT $t $rc"
done

check demo_hello ./hello 16
# The examples (examples/), each checking its own answer.
check example_workers ./workers 20000
check example_sieve sh -c './sieve 1000 | tee /dev/stderr | grep -q "the 1000th prime is 7919"'
check example_pipeline ./pipeline
# A goroutine per connection: the guest boots with lo down.
check example_echo sh -c '{ ip link set lo up || ifconfig lo up; } 2>/dev/null
	./echo 1000 | tee /dev/stderr | grep -q "1000 of 1000 connections echoed"'
check example_http sh -c './http 500 | tee /dev/stderr | grep -q "500 of 500 clients got every answer right"'
# A real SIGTERM from outside, once it runs: handled as a value, a clean
# stop (exit 0), not the default action (killed, 143).
check example_shutdown sh -c './shutdown 4 > /tmp/shutdown.out & p=$!
	i=0
	until grep -q running /tmp/shutdown.out; do
		i=$((i + 1)); [ $i -lt 600 ] || { kill -9 $p; exit 1; }; sleep 0.1
	done
	sleep 1; kill -TERM $p; wait $p; rc=$?; cat /tmp/shutdown.out
	[ $rc = 0 ] && grep -q "got SIGTERM" /tmp/shutdown.out &&
		grep -q "producer stopped" /tmp/shutdown.out'
check rmmod rmmod gmp
check dev_gmp_gone sh -c '! test -e /dev/gmp'
# Load, run goroutines on several M's, unload, again: every round's M
# threads have exited and their notifiers gone before rmmod, and the
# preempt notifiers' static key flips in the running scheduler each time.
check module_reload_20_rounds sh -c 'for i in $(seq 20); do
	insmod ./gmp.ko && ./hello 4 > /dev/null && ./pipeline > /dev/null &&
		rmmod gmp || { echo "reload: round $i failed"; exit 1; }
done'
# On a kernel with kmemleak, what gmp leaked shows as a report.
sh kmemleak-scan.sh && check kmemleak_scanned true
exit 0
