#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the benchmark guest: every workload for gmp and its peers (Go,
# and where written Boost.Fiber and pthreads), interleaved, ROUNDS times;
# one "RESULT system workload ns" line each.
ROUNDS=${ROUNDS:-5}
insmod ./gmp.ko || exit 1
echo "BENCH-ENV kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
one() {	# system workload n procs command...
	sys=$1 w=$2 n=$3 procs=$4
	shift 4
	out=$(GMPMAXPROCS=$procs GOMAXPROCS=$procs "$@" "$w" "$n") || { echo "BENCH-FAIL $sys $w"; return; }
	# One "name value" line per result (preempt prints three).
	echo "$out" | while read -r name val; do echo "RESULT $sys $name $val"; done
}
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	one gmp spawn 20000 2 ./gmp_bench;      one go spawn 20000 2 ./go_bench
	one fiber spawn 20000 2 ./fiber_bench;  one pthread spawn 20000 2 ./pthread_bench
	one gmp yield 20000 1 ./gmp_bench;      one go yield 20000 1 ./go_bench
	one fiber yield 20000 1 ./fiber_bench;  one pthread yield 20000 1 ./pthread_bench
	one gmp parkready 10000 1 ./gmp_bench;  one go parkready 10000 1 ./go_bench
	one gmp chan 10000 1 ./gmp_bench;       one go chan 10000 1 ./go_bench
	one fiber chan 10000 1 ./fiber_bench;   one pthread chan 10000 1 ./pthread_bench
	one gmp daisy 10000 2 ./gmp_bench;      one go daisy 10000 2 ./go_bench
	one fiber daisy 10000 2 ./fiber_bench;  one pthread daisy 10000 2 ./pthread_bench
	one gmp pool 100000 2 ./gmp_bench;      one go pool 100000 2 ./go_bench
	one fiber pool 100000 2 ./fiber_bench;  one pthread pool 100000 2 ./pthread_bench
	one gmp select 10000 1 ./gmp_bench;     one go select 10000 1 ./go_bench
	one gmp preempt 2000 1 ./gmp_bench;     one go preempt 2000 1 ./go_bench
	one gmp handoff 300 1 ./gmp_bench;      one go handoff 300 1 ./go_bench
	one baseline switch 1000000 1 ./gmp_bench
done
rmmod gmp
