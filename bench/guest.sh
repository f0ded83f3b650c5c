#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the benchmark guest: every workload for gmp and its peers (Go,
# and where written Boost.Fiber and pthreads), interleaved, ROUNDS times;
# one "RESULT system workload value" line each. Sweep workloads (spawn,
# and parked's rss and mem) are named workload@N.
ROUNDS=${ROUNDS:-5}
# COUNTED=1 (bench/run.sh --icount): the guest clock counts instructions.
# A million threads' spawn (tens of billions of instructions, mostly the
# kernel's) and the memory rows (not a time: the timed table has them)
# are left out.
COUNTED=${COUNTED:-0}
insmod ./gmp.ko || exit 1
# The echo rows use TCP over loopback: the guest boots with lo down.
{ ip link set lo up || ifconfig lo up; } 2>/dev/null
# 10^5 threads for pthreads' rows: pids, threads, and two mappings each.
echo 4194304 > /proc/sys/kernel/pid_max
echo 4194304 > /proc/sys/kernel/threads-max
echo 16777216 > /proc/sys/vm/max_map_count
echo "BENCH-ENV kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) mem=$(awk '/MemTotal/ { print int($2 / 1024) "M" }' /proc/meminfo)"
one() {	# system workload n procs command...
	sys=$1 w=$2 n=$3 procs=$4
	shift 4
	out=$(GMPMAXPROCS=$procs GOMAXPROCS=$procs "$@" "$w" "$n") || { echo "BENCH-FAIL $sys $w $n"; return; }
	# One "name value" line per result (preempt prints three).
	echo "$out" | while read -r name val; do
		case $w in spawn|parked) name="$name@$n" ;; esac
		echo "RESULT $sys $name $val"
	done
}
all4() {	# workload n procs: gmp, Go, Boost.Fiber, pthreads in turn
	one gmp "$@" ./gmp_bench;	one go "$@" ./go_bench
	one fiber "$@" ./fiber_bench;	one pthread "$@" ./pthread_bench
}
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	all4 spawn 10000 2
	all4 spawn 100000 2
	one gmp spawn 1000000 2 ./gmp_bench;	one go spawn 1000000 2 ./go_bench
	one fiber spawn 1000000 2 ./fiber_bench
	# A million threads take minutes under emulation: one run.
	[ $r = 1 ] && [ "$COUNTED" = 0 ] &&
		one pthread spawn 1000000 2 ./pthread_bench
	all4 yield 20000 1
	one gmp parkready 10000 1 ./gmp_bench;  one go parkready 10000 1 ./go_bench
	all4 chan 10000 1
	all4 daisy 10000 2
	all4 pool 100000 2
	one gmp select 10000 1 ./gmp_bench;     one go select 10000 1 ./go_bench
	one gmp preempt 2000 1 ./gmp_bench;     one go preempt 2000 1 ./go_bench
	one gmp handoff 300 1 ./gmp_bench;      one go handoff 300 1 ./go_bench
	all4 fair 1000 2
	all4 sysmix ${SYSMIX_N:-100000} 2
	one gmp echo 20000 1 ./gmp_bench;	one go echo 20000 1 ./go_bench
	one pthread echo 20000 1 ./pthread_bench
	one gmp echo100 50000 2 ./gmp_bench;	one go echo100 50000 2 ./go_bench
	one pthread echo100 50000 2 ./pthread_bench
	one baseline switch 1000000 1 ./gmp_bench
	if [ $r = 1 ] && [ "$COUNTED" = 0 ]; then
		# Memory is the same run to run: once, 10^4 to 10^6 parked
		# (pthreads: 10^5; a million threads need ~30 GiB of kernel
		# stacks and page tables).
		all4 parked 10000 2
		all4 parked 100000 2
		one gmp parked 1000000 2 ./gmp_bench
		one go parked 1000000 2 ./go_bench
		one fiber parked 1000000 2 ./fiber_bench
	fi
done
rmmod gmp
