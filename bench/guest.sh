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
# Counted, the guest has one vCPU (bench/run.sh --icount): two vCPUs
# under icount take turns on one host thread, and where QEMU switches
# between them follows the host, so a P=2 row's count moves by 10-40%
# run to run. There every row runs at P=1 ($P2), and the short rows run
# X times as many operations (the pool XP times, hand-off's samples XH
# times): a window of a few million instructions has one timer tick or
# sysmon pass in it or none, which alone moved yield's count by 5%; over
# hundreds of millions they average out.
P2=2 X=1 XP=1 XH=1
[ "$COUNTED" = 1 ] && P2=1 X=50 XP=5 XH=10
insmod ./gmp.ko || exit 1
# Counted: no address-space randomization either (vm/run.sh fixes the
# rest), so that a count repeats run to run.
[ "$COUNTED" = 1 ] && echo 0 > /proc/sys/kernel/randomize_va_space
# The echo and http rows use TCP over loopback: the guest boots with lo
# down. wrk's thousand connections, and the servers', need descriptors
# (the idle rows raise their own limit, to 2N); 10^5 idle connections
# need more ephemeral ports than the default range.
ulimit -n 65536
echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range
{ ip link set lo up || ifconfig lo up; } 2>/dev/null
# 10^5 threads for pthreads' rows: pids, threads, and two mappings each.
echo 4194304 > /proc/sys/kernel/pid_max
echo 4194304 > /proc/sys/kernel/threads-max
echo 16777216 > /proc/sys/vm/max_map_count
echo "BENCH-ENV kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) mem=$(awk '/MemTotal/ { print int($2 / 1024) "M" }' /proc/meminfo)"
one() {	# system workload n procs command...
	sys=$1 w=$2 n=$3 procs=$4
	shift 4
	# Counted: a second of idle guest clock first (no time on the host:
	# QEMU skips to the next timer), so that what the last program left
	# the kernel to do (RCU callbacks, freeing 10^4 threads) is done
	# before this one, not counted in it. It moved the pool's count by
	# a quarter.
	[ "$COUNTED" = 1 ] && sleep 1
	# Counted, spawn up to 10^5 runs three times, the median kept: a
	# batch of 10^4 is 5 million instructions, and one tick more or
	# less in it moved its count by 4%.
	reps=1
	[ "$COUNTED" = 1 ] && [ "$w" = spawn ] && [ "$n" -le 100000 ] && reps=3
	out= rep=0
	while [ $rep -lt $reps ]; do
		o=$(GMPMAXPROCS=$procs GOMAXPROCS=$procs "$@" "$w" "$n") || { echo "BENCH-FAIL $sys $w $n"; return; }
		out="$out$o
"
		rep=$((rep + 1))
	done
	# The median of three is what is left of the sum without the
	# lowest and the highest.
	[ $reps = 3 ] && out=$(echo "$out" | awk 'NF == 2 {
		if (!($1 in c)) { lo[$1] = $2; hi[$1] = $2 }
		c[$1]++; sum[$1] += $2
		if ($2 < lo[$1]) lo[$1] = $2
		if ($2 > hi[$1]) hi[$1] = $2
	} END { for (k in c) print k, sum[k] - lo[k] - hi[k] }')
	# One "name value" line per result (preempt prints three).
	echo "$out" | while read -r name val; do
		[ -n "$name" ] || continue
		case $w in spawn|parked|idle) name="$name@$n" ;; esac
		echo "RESULT $sys $name $val"
	done
}
all4() {	# workload n procs: gmp, Go, Boost.Fiber, pthreads in turn
	one gmp "$@" ./gmp_bench;	one go "$@" ./go_bench
	one fiber "$@" ./fiber_bench;	one pthread "$@" ./pthread_bench
}
# The http rows: a server on 127.0.0.1:PORT (gmp: examples/http.c, a
# goroutine per connection; Go: net/http; the floor: epoll_bench's loop,
# a thread per CPU), loaded by wrk (2 threads, C connections, 3 s) in the
# same guest: requests per second and the p99 latency in microseconds.
listening() {	# port: is something listening there (IPv4)?
	grep -qi ":$(printf %04X "$1") 00000000:0000 0A" /proc/net/tcp
}
http_rows() {	# system conns port command...
	sys=$1 c=$2 port=$3
	shift 3
	GMPMAXPROCS=2 GOMAXPROCS=2 "$@" > /dev/null 2>&1 &
	pid=$!
	i=0
	until listening "$port"; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "BENCH-FAIL $sys http$c"; kill $pid; wait $pid; return; }
		sleep 0.1
	done
	# 10^4 connections: 10 s, so that setting them up is a small part.
	d=3s
	[ "$c" -lt 10000 ] || d=10s
	out=$(./wrk.sh -t2 -c"$c" -d$d --latency "http://127.0.0.1:$port/" 2>&1)
	kill $pid
	wait $pid 2>/dev/null
	rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
	p99=$(echo "$out" | awk '$1 == "99%" { v = $2; u = 1
		if (v ~ /ms$/) u = 1000; else if (v ~ /us$/) u = 1; else if (v ~ /s$/) u = 1000000
		sub(/[a-z]+$/, "", v); print v * u }')
	if [ -z "$rps" ] || [ -z "$p99" ] || echo "$out" | grep -q "Non-2xx"; then
		echo "BENCH-FAIL $sys http$c"
		echo "$out" >&2
		return
	fi
	echo "RESULT $sys http$c $rps"
	echo "RESULT $sys http${c}p99 $p99"
}
http_all() {	# conns
	http_rows gmp "$1" 8081 ./http 0 8081
	http_rows go "$1" 8082 ./go_bench httpserve 8082
	http_rows epoll "$1" 8083 ./epoll_bench httpserve 8083
}
sched_rows() {	# the scheduler's workloads
	all4 spawn 10000 $P2
	all4 spawn 100000 $P2
	one gmp spawn 1000000 $P2 ./gmp_bench
	one go spawn 1000000 $P2 ./go_bench
	one fiber spawn 1000000 $P2 ./fiber_bench
	# A million threads take minutes under emulation: one run.
	[ $r = 1 ] && [ "$COUNTED" = 0 ] &&
		one pthread spawn 1000000 2 ./pthread_bench
	all4 yield $((20000 * X)) 1
	one gmp parkready $((10000 * X)) 1 ./gmp_bench
	one go parkready $((10000 * X)) 1 ./go_bench
	all4 chan $((10000 * X)) 1
	all4 daisy 10000 $P2
	all4 pool $((100000 * XP)) $P2
	one gmp select $((10000 * X)) 1 ./gmp_bench
	one go select $((10000 * X)) 1 ./go_bench
	one gmp preempt 2000 1 ./gmp_bench;     one go preempt 2000 1 ./go_bench
	one gmp handoff $((300 * XH)) 1 ./gmp_bench
	one go handoff $((300 * XH)) 1 ./go_bench
	# Ratios of times, set by time (1 s of work; a write every 50 us):
	# under icount 50 us is 50,000 instructions, a tenth of hardware's,
	# so these measure the counted clock, not the code. Timed only.
	[ "$COUNTED" = 1 ] && return
	all4 fair 1000 $P2
	all4 sysmix ${SYSMIX_N:-100000} $P2
}
net_rows() {	# the network's
	one gmp echo 20000 1 ./gmp_bench;	one go echo 20000 1 ./go_bench
	one pthread echo 20000 1 ./pthread_bench
	one gmp echo100 50000 $P2 ./gmp_bench
	one go echo100 50000 $P2 ./go_bench
	one pthread echo100 50000 $P2 ./pthread_bench
	one epoll echo 20000 1 ./epoll_bench
	one epoll echo100 50000 $P2 ./epoll_bench
	# A request rate under icount is not a count: timed runs only.
	if [ "$COUNTED" = 0 ]; then
		http_all 100
		http_all 1000
		http_all 10000
	fi
}
settle() {	# until the last program's sockets are gone (at most 60 s)
	i=0
	while [ $i -lt 60 ] &&
	      [ "$(awk '/^TCP:/ { print $3 }' /proc/net/sockstat)" -gt 16 ]; do
		sleep 1
		i=$((i + 1))
	done
}
idle_rows() {	# threads and memory with N idle connections: once
	for c in 10000 100000; do
		settle; one gmp idle $c 2 ./gmp_bench
		settle; one go idle $c 2 ./go_bench
		settle; one pthread idle $c 2 ./pthread_bench
		settle; one epoll idle $c 2 ./epoll_bench
	done
}
mem_rows() {
	# Memory is the same run to run: once, 10^4 to 10^6 parked
	# (pthreads: 10^5; a million threads need ~30 GiB of kernel
	# stacks and page tables).
	all4 parked 10000 2
	all4 parked 100000 2
	one gmp parked 1000000 2 ./gmp_bench
	one go parked 1000000 2 ./go_bench
	one fiber parked 1000000 2 ./fiber_bench
}
# SET=sched or SET=net: only those rows (and the baseline), for a quick
# look at one part; the default is all.
SET=${SET:-all}
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	case $SET in all|sched) sched_rows ;; esac
	case $SET in all|net) net_rows ;; esac
	one baseline switch 1000000 1 ./gmp_bench
	[ $r = 1 ] && [ "$COUNTED" = 0 ] && [ "$SET" = all ] && mem_rows
	[ $r = 1 ] && [ "$COUNTED" = 0 ] && [ "$SET" != sched ] && idle_rows
done
rmmod gmp
