/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What gmp_bench.c, pthread_bench.c and fiber_bench.cpp share (go_bench.go
 * has the same in Go): the memory reading of the parked workload, the
 * unit of CPU work of fair and sysmix, and Jain's fairness index.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A "Name:   value kB" line of a /proc file, in kB; -1 if missing. */
static inline long proc_kb(const char *path, const char *name)
{
	char line[256];
	size_t len = strlen(name);
	long kb = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':') {
			kb = atol(line + len + 1);
			break;
		}
	fclose(f);
	return kb;
}

/*
 * The process's resident memory, and the machine's memory in use (total
 * less free: it counts what the kernel holds for the process too, such
 * as a thread's kernel stack, which RSS does not). The guest runs
 * nothing else, so the difference between two readings is the
 * workload's.
 */
struct mem_reading {
	long rss_kb, used_kb;
};

static inline struct mem_reading mem_read(void)
{
	struct mem_reading m;

	m.rss_kb = proc_kb("/proc/self/status", "VmRSS");
	m.used_kb = proc_kb("/proc/meminfo", "MemTotal") -
		    proc_kb("/proc/meminfo", "MemFree");
	return m;
}

/*
 * Print "PREFIXrss BYTES" and "PREFIXmem BYTES" per goroutine (or
 * connection) between two readings.
 */
static inline void mem_print_as(const char *prefix, struct mem_reading a,
				struct mem_reading b, long n)
{
	printf("%srss %.0f\n", prefix, (b.rss_kb - a.rss_kb) * 1024.0 / n);
	printf("%smem %.0f\n", prefix, (b.used_kb - a.used_kb) * 1024.0 / n);
}

static inline void mem_print(struct mem_reading a, struct mem_reading b,
			     long n)
{
	mem_print_as("", a, b, n);
}

/* The process's threads now. */
static inline long bench_threads(void)
{
	return proc_kb("/proc/self/status", "Threads");
}

/*
 * One unit of CPU work: a run of a 64-bit linear congruential generator
 * the compiler cannot fold (go_bench.go's work() is the same loop).
 */
#define WORK_STEPS	1000

static inline unsigned long long work(unsigned long long x)
{
	int i;

	for (i = 0; i < WORK_STEPS; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

/* Jain's index of the shares: 1 when equal, 1/n when one took all. */
static inline double jain(const long *c, int n)
{
	double sum = 0, sq = 0;
	int i;

	for (i = 0; i < n; i++) {
		sum += c[i];
		sq += (double)c[i] * c[i];
	}
	return sq > 0 ? sum * sum / (n * sq) : 0;
}

/*
 * fair's goroutine @k: units of work until *@stop; its count goes to
 * @shares[@k], its result to *@sink (so the work is not thrown away).
 */
static inline void fair_spin(volatile int *stop, long *shares, int k,
			     unsigned long long *sink)
{
	unsigned long long x = k;
	long c = 0;

	while (!*stop) {
		x = work(x);
		c++;
	}
	shares[k] = c;
	__atomic_xor_fetch(sink, x, __ATOMIC_RELAXED);
}

/* sysmix's computer @k: @n units of work. */
static inline void mix_compute(long n, int k, unsigned long long *sink)
{
	unsigned long long x = k;
	long i;

	for (i = 0; i < n; i++)
		x = work(x);
	__atomic_xor_fetch(sink, x, __ATOMIC_RELAXED);
}

/* sysmix's reader: read(2) a byte at a time from @fd until a 'q'. */
static inline void mix_read(int fd, long *reads)
{
	char c;

	while (read(fd, &c, 1) == 1 && c != 'q')
		__atomic_add_fetch(reads, 1, __ATOMIC_RELAXED);
}

/*
 * sysmix's writer, a plain thread: a byte to the next of @n pipes every
 * 50 us until *@stop, then a 'q' to each to end its reader.
 */
static inline void mix_write(int (*pipes)[2], int n, volatile int *stop)
{
	struct timespec ts = { 0, 50000 };
	int k = 0;

	while (!*stop) {
		if (write(pipes[k][1], "x", 1) != 1)
			abort();
		k = (k + 1) % n;
		nanosleep(&ts, NULL);
	}
	for (k = 0; k < n; k++)
		if (write(pipes[k][1], "q", 1) != 1)
			abort();
}

/* The echo workloads: lo up (the guest boots with it down); 0 or -1. */
static inline int bench_loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (fd >= 0)
		close(fd);
	return r ? -1 : 0;
}

/* A listening TCP socket on 127.0.0.1, any port: its address in @a. */
static inline int bench_listen(struct sockaddr_in *a, socklen_t *len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*a);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(fd, 1024) || getsockname(fd, (struct sockaddr *)a, len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * idle: N TCP loopback connections that carry nothing, a reader (a
 * goroutine, a thread, an epoll registration) on each server end, the
 * client ends held by the main. IDLE_PORTS listeners, so that N can pass
 * the ephemeral ports one destination has; each with the longest backlog
 * (a full accept queue drops the SYN: a second's retry).
 */
#define IDLE_PORTS	4
/* After the last reader started: 50 ms and 1 us per connection. */
#define IDLE_SETTLE_NS(n)	(50000000LL + 1000LL * (n))

static inline int idle_listen(int lfd[IDLE_PORTS],
			      struct sockaddr_in a[IDLE_PORTS])
{
	socklen_t len;
	int k;

	for (k = 0; k < IDLE_PORTS; k++) {
		lfd[k] = bench_listen(&a[k], &len);
		if (lfd[k] < 0 || listen(lfd[k], SOMAXCONN))
			return -1;
	}
	return 0;
}

/*
 * The idle rows' end: the threads, and the memory per connection since
 * @before, printed; then exit. The teardown is not measured, and 10^5
 * hang-ups at once overflow loopback's backlog (minutes of
 * retransmissions): the kernel closes the rest.
 */
static inline __attribute__((noreturn)) void
idle_report(struct mem_reading before, long n)
{
	struct mem_reading after = mem_read();

	printf("idlethr %ld\n", bench_threads());
	mem_print_as("idle", before, after, n);
	fflush(stdout);
	_exit(0);
}

/* Room for @n descriptors (the soft limit up to the hard one, or more). */
static inline int bench_raise_nofile(long n)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return -1;
	if ((long)r.rlim_cur >= n)
		return 0;
	r.rlim_cur = (rlim_t)n;
	if ((long)r.rlim_max < n)
		r.rlim_max = (rlim_t)n;
	return setrlimit(RLIMIT_NOFILE, &r);
}

#endif
