// SPDX-License-Identifier: GPL-2.0
/*
 * gmp's side of the scheduler benchmarks (bench/run.sh runs it beside
 * go_bench.go in the same VM). Usage: gmp_bench WORKLOAD N
 * Prints "WORKLOAD NS_PER_OP". Workloads:
 *   spawn      start N goroutines that do nothing, wait for all
 *   yield      two goroutines yield N times each; per yield
 *   parkready  two goroutines hand a token back and forth with park and
 *              ready N times; per round trip
 *   chan       a round trip over two unbuffered kgo channels, N times
 *   select     the same, pings alternating between two channels and the
 *              receiver selecting over both
 *   daisy      Go's daisy chain of N goroutines; per goroutine
 *   pool       one worker per P over N jobs on a buffered channel; per job
 *   switch     baseline: a bare user-space stack switch (no scheduler),
 *              two contexts swapping N times each; per switch
 *   preempt    two goroutines spin without yielding for N ms on one P;
 *              prints three lines: preemptlat50 and preemptlat99 (slice
 *              expiry to the other goroutine running, us, median and
 *              99th percentile) and preemptcost (one goroutine's last
 *              instant to the next one's first, ns, median)
 *   handoff    on one P, a goroutine sleeps 1 ms in nanosleep() N times
 *              while another is runnable; prints handofflat50 and
 *              handofflat99 (the sleep called to the other goroutine
 *              running, us: the hand-off of the blocked M's P)
 *   parked     N goroutines parked on a channel receive; prints rss and
 *              mem, bytes per goroutine (bench_util.h)
 *   fair       four CPU-bound goroutines per P that never yield, for N
 *              ms; prints fair, Jain's index of the work each one did
 *   sysmix     four goroutines per P compute N units of work each, once
 *              alone and once beside as many goroutines blocking in
 *              read() on pipes that a plain thread writes a byte to every
 *              50 us; prints sysmix, the second time over the first
 *   echo       a 64-byte message over one TCP loopback connection and back,
 *              N times, a goroutine at each end; per round trip
 *   echo100    the same over 100 connections at once, N round trips in
 *              all; per round trip (the inverse of the throughput)
 *   idle       N TCP loopback connections that carry nothing, a goroutine
 *              in kgo_read() on each server end; prints idlethr (the
 *              process's threads), idlerss and idlemem (bytes per
 *              connection, both ends' sockets included)
 * P counts come from GMPMAXPROCS (run.sh sets 1 for yield and parkready).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../selftests/gmp_test_util.h"
#include "bench_util.h"

static long n;
static double ns_per_op;	/* < 0: printed by the workload itself */
#define WRONG (-2.0)		/* a workload's answer was wrong */

/* --- spawn -------------------------------------------------------------- */

static struct latch spawned;

static void nothing(void *arg)
{
	(void)arg;
	latch_done(&spawned);
}

static void bench_spawn(void)
{
	double t = now_ns();
	long i;

	double t1;

	spawned.target = n;
	for (i = 0; i < n; i++)
		if (kgo_go(nothing, NULL))
			abort();
	t1 = now_ns();
	latch_wait(&spawned);
	ns_per_op = (now_ns() - t) / n;
	if (getenv("GMP_BENCH_RUSAGE")) {
		struct kgo_stats st = { .size = sizeof(st) };

		kgo_stats(&st);
		fprintf(stderr, "spawn loop %.1f ns/op, running them %.1f ns/op; G's made %llu, spawner waits %llu\n",
			(t1 - t) / n, (now_ns() - t1) / n,
			(unsigned long long)st.ngcreated,
			(unsigned long long)st.nspawnwait);
	}
}

/* --- yield -------------------------------------------------------------- */

static struct latch yielded = { .target = 2 };

static void yielder(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n; i++)
		kgo_yield();
	latch_done(&yielded);
}

static void bench_yield(void)
{
	double t = now_ns();

	kgo_go(yielder, NULL);
	kgo_go(yielder, NULL);
	latch_wait(&yielded);
	ns_per_op = (now_ns() - t) / (2.0 * n);
}

/* --- parkready ---------------------------------------------------------- */

static uint32_t ping, pong;
static struct latch pingponged = { .target = 1 };

static void ponger(void *arg)
{
	long i;

	(void)arg;
	for (i = 1; i <= n; i++) {
		wait_change(&ping, (uint32_t)(i - 1));
		set_and_ready(&pong, (uint32_t)i);
	}
	latch_done(&pingponged);
}

static void bench_parkready(void)
{
	double t = now_ns();
	long i;

	kgo_go(ponger, NULL);
	for (i = 1; i <= n; i++) {
		set_and_ready(&ping, (uint32_t)i);
		wait_change(&pong, (uint32_t)(i - 1));
	}
	latch_wait(&pingponged);
	ns_per_op = (now_ns() - t) / n;
}

/* --- chan, select: kgo's channels --------------------------------------- */

/*
 * chan: a round trip over two unbuffered channels. select: the same, but
 * pings alternate between two channels and the ponger selects over both
 * (Go's select with two receive cases).
 */
static struct kgo_chan *cping[2], *cpong;
static bool use_select;

static void chan_ponger(void *arg)
{
	struct kgo_select_case cs[2];
	long i, v;
	int k;

	(void)arg;
	for (k = 0; k < 2; k++)
		cs[k] = (struct kgo_select_case){ .c = cping[k],
						  .op = KGO_RECV, .elem = &v };
	for (i = 0; i < n; i++) {
		if (use_select)
			kgo_select(cs, 2, 0);
		else
			kgo_chan_recv(cping[0], &v);
		kgo_chan_send(cpong, &v);
	}
}

static void bench_chan(bool sel)
{
	double t;
	long i, v;

	use_select = sel;
	cping[0] = kgo_chan_make(sizeof(long), 0);
	cping[1] = kgo_chan_make(sizeof(long), 0);
	cpong = kgo_chan_make(sizeof(long), 0);
	kgo_go(chan_ponger, NULL);
	t = now_ns();
	for (i = 0; i < n; i++) {
		kgo_chan_send(cping[sel ? i & 1 : 0], &i);
		kgo_chan_recv(cpong, &v);
	}
	ns_per_op = (now_ns() - t) / n;
}

/* --- daisy, pool: Go's classic channel programs ---------------------------- */

/*
 * daisy: Go's daisy chain. N goroutines in a row, each receiving from its
 * right neighbour and sending one more to its left; a 1 goes in at the
 * right end and N + 1 comes out at the left. Per goroutine: a spawn, a
 * channel hop and an exit.
 */
struct link {
	struct kgo_chan *left, *right;
};

static void whisper(void *arg)
{
	struct link *l = arg;
	long v;

	kgo_chan_recv(l->right, &v);
	v++;
	kgo_chan_send(l->left, &v);
}

static void bench_daisy(void)
{
	struct kgo_chan **c = calloc((size_t)n + 1, sizeof(*c));
	struct link *links = calloc((size_t)n, sizeof(*links));
	double t = now_ns();
	long i, v = 1;

	for (i = 0; i <= n; i++)
		c[i] = kgo_chan_make(sizeof(long), 0);
	for (i = 0; i < n; i++) {
		links[i] = (struct link){ .left = c[i], .right = c[i + 1] };
		kgo_go(whisper, &links[i]);
	}
	kgo_chan_send(c[n], &v);
	kgo_chan_recv(c[0], &v);
	ns_per_op = v == n + 1 ? (now_ns() - t) / n : WRONG;
}

/*
 * pool: a worker pool, one goroutine per P, over N small jobs sent on a
 * buffered channel (capacity 128) and closed at the end; each job adds
 * its number to the worker's sum. Per job.
 */
static struct kgo_chan *jobs;
static struct kgo_waitgroup pool_wg;
static long pool_sum;

static void pool_worker(void *arg)
{
	long j, sum = 0;

	(void)arg;
	while (kgo_chan_recv(jobs, &j) == 1)
		sum += j;
	__atomic_add_fetch(&pool_sum, sum, __ATOMIC_RELAXED);
	kgo_waitgroup_done(&pool_wg);
}

static void bench_pool(void)
{
	int w, nw = kgo_nprocs();
	double t = now_ns();
	long i;

	jobs = kgo_chan_make(sizeof(long), 128);
	kgo_waitgroup_add(&pool_wg, nw);
	for (w = 0; w < nw; w++)
		kgo_go(pool_worker, NULL);
	for (i = 1; i <= n; i++)
		kgo_chan_send(jobs, &i);
	kgo_chan_close(jobs);
	kgo_waitgroup_wait(&pool_wg);
	ns_per_op = pool_sum == n * (n + 1) / 2 ? (now_ns() - t) / n : WRONG;
}

/* --- preempt ------------------------------------------------------------ */

/*
 * Each spinner reads the clock in a loop; a gap of more than 200 us
 * between two readings means it was off the CPU, which ends one stint
 * (the time it ran without a break) and starts the next. With two of
 * them on one P, the stints alternate: a stint's slice expired 10 ms
 * after it began (Go's forcePreemptNS, gmp's default), and the other
 * spinner's next stint began when the preemption was done.
 */
#define SLICE_NS	10e6
#define MAX_STINTS	8192

static struct stint {
	double start, end;
	int g;
} stints[MAX_STINTS];
static int nstints;
static struct latch spun = { .target = 2 };

static void stint_add(double start, double end, int g)
{
	int i = __atomic_fetch_add(&nstints, 1, __ATOMIC_RELAXED);

	if (i < MAX_STINTS)
		stints[i] = (struct stint){ start, end, g };
}

static void spinner(void *arg)
{
	double t0 = now_ns(), start = t0, prev = t0, t;

	while ((t = now_ns()) - t0 < n * 1e6) {
		if (t - prev > 200e3) {
			stint_add(start, prev, (int)(intptr_t)arg);
			start = t;
		}
		prev = t;
	}
	latch_done(&spun);
}

static int by_start(const void *a, const void *b)
{
	const struct stint *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/* Merge neighbours of the same goroutine in place; the new count. */
static int runs_merge(struct stint *st, int m)
{
	int i, r = 0;

	for (i = 0; i < m; i++) {
		if (r && st[r - 1].g == st[i].g)
			st[r - 1].end = st[i].end;
		else
			st[r++] = st[i];
	}
	return r;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void bench_preempt(void)
{
	static double lat[MAX_STINTS], cost[MAX_STINTS];
	int i, k = 0, m;

	kgo_go(spinner, (void *)0);
	kgo_go(spinner, (void *)1);
	latch_wait(&spun);
	m = nstints < MAX_STINTS ? nstints : MAX_STINTS;
	qsort(stints, m, sizeof(stints[0]), by_start);
	/*
	 * One goroutine's run: its stints until the other's next one (a gap
	 * with nobody else running, the host's doing under emulation, does
	 * not end a run). The first run of each began at spawn.
	 */
	m = runs_merge(stints, m);
	for (i = 2; i + 1 < m; i++) {
		lat[k] = stints[i + 1].start - stints[i].start - SLICE_NS;
		cost[k++] = stints[i + 1].start - stints[i].end;
	}
	if (!k)
		abort();
	qsort(lat, k, sizeof(lat[0]), by_value);
	qsort(cost, k, sizeof(cost[0]), by_value);
	printf("preemptlat50 %.1f\n", lat[k / 2] / 1e3);
	printf("preemptlat99 %.1f\n", lat[k * 99 / 100] / 1e3);
	printf("preemptcost %.1f\n", cost[k / 2]);
	ns_per_op = -1;		/* printed */
}

/* --- handoff ------------------------------------------------------------ */

/*
 * The blocker stamps the clock and sleeps 1 ms in nanosleep(2); the
 * runner, next in the P's queue, runs only once the P is handed to
 * another M (or the sleep ends), stamps the clock and waits for the next
 * round. Nothing the runner does can give it the P: no system call of
 * its own ends the blocker's (with a pipe, Go's writer took the P back
 * at its own exitsyscall, which measured that instead of sysmon).
 */
#define HANDOFF_SLEEP_NS	1000000
static double *hblock, *hlat;
static volatile long hround = -1, hseen = -1;
static struct latch handed = { .target = 2 };

static void blocker(void *arg)
{
	struct timespec ts = { .tv_nsec = HANDOFF_SLEEP_NS };
	long i;

	(void)arg;
	for (i = 0; i < n; i++) {
		while (hseen != i - 1)
			kgo_yield();
		hblock[i] = now_ns();
		hround = i;
		nanosleep(&ts, NULL);
	}
	latch_done(&handed);
}

static void runner(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n; i++) {
		while (hround != i)
			kgo_yield();
		hlat[i] = now_ns() - hblock[i];
		hseen = i;
	}
	latch_done(&handed);
}

static void bench_handoff(void)
{
	hblock = calloc(n, sizeof(*hblock));
	hlat = calloc(n, sizeof(*hlat));
	if (!hblock || !hlat)
		abort();
	kgo_go(blocker, NULL);
	kgo_go(runner, NULL);
	latch_wait(&handed);
	qsort(hlat, n, sizeof(hlat[0]), by_value);
	printf("handofflat50 %.1f\n", hlat[n / 2] / 1e3);
	printf("handofflat99 %.1f\n", hlat[n * 99 / 100] / 1e3);
	ns_per_op = -1;		/* printed */
}

/* --- parked: memory per parked goroutine -------------------------------- */

static struct kgo_chan *release;
static long nparked;

static void parker(void *arg)
{
	long v;

	(void)arg;
	__atomic_add_fetch(&nparked, 1, __ATOMIC_RELAXED);
	kgo_chan_recv(release, &v);	/* until closed */
	latch_done(&spawned);
}

static void bench_parked(void)
{
	struct mem_reading before = mem_read(), after;
	long i;

	release = kgo_chan_make(sizeof(long), 0);
	spawned.target = n;
	for (i = 0; i < n; i++)
		if (kgo_go(parker, NULL))
			abort();
	while (__atomic_load_n(&nparked, __ATOMIC_RELAXED) < n)
		kgo_sleep(1000000);
	kgo_sleep(20000000);	/* the last ones counted are parked too */
	after = mem_read();
	kgo_chan_close(release);
	latch_wait(&spawned);
	mem_print(before, after, n);
	ns_per_op = -1;		/* printed */
}

/* --- fair: CPU-bound goroutines that never yield ------------------------ */

#define PER_P		4	/* fair's and sysmix's goroutines per P */
#define MAX_G		256

static volatile int stop;
static long shares[MAX_G];
static unsigned long long sink;
static struct latch computed, readers_done;

static void fair_spinner(void *arg)
{
	fair_spin(&stop, shares, (int)(uintptr_t)arg, &sink);
	latch_done(&computed);
}

static void bench_fair(void)
{
	int g = PER_P * kgo_nprocs(), k;

	if (g > MAX_G)
		abort();
	computed.target = g;
	for (k = 0; k < g; k++)
		kgo_go(fair_spinner, (void *)(uintptr_t)k);
	kgo_sleep(n * 1000000LL);
	stop = 1;
	latch_wait(&computed);
	printf("fair %.3f\n", jain(shares, g));
	ns_per_op = -1;		/* printed */
}

/* --- sysmix: computing beside goroutines blocked in read() --------------- */

static int mix_pipe[MAX_G][2];
static int mix_nreaders;
static long mix_reads;

static void mix_computer(void *arg)
{
	mix_compute(n, (int)(uintptr_t)arg, &sink);
	latch_done(&computed);
}

/* Blocks in read(2) itself: the M blocks and sysmon hands its P on. */
static void mix_reader(void *arg)
{
	mix_read(mix_pipe[(uintptr_t)arg][0], &mix_reads);
	latch_done(&readers_done);
}

/* A plain thread, outside the scheduler: a byte to the next pipe. */
static void *mix_writer(void *arg)
{
	(void)arg;
	mix_write(mix_pipe, mix_nreaders, &stop);
	return NULL;
}

/* The computers' time, with @readers goroutines blocking beside them. */
static double mix_phase(int readers)
{
	int g = PER_P * kgo_nprocs(), k;
	pthread_t writer;
	double t;

	memset(&computed, 0, sizeof(computed));
	memset(&readers_done, 0, sizeof(readers_done));
	computed.target = g;
	readers_done.target = readers;
	mix_nreaders = readers;
	stop = 0;
	for (k = 0; k < readers; k++) {
		if (pipe(mix_pipe[k]))
			abort();
		kgo_go(mix_reader, (void *)(uintptr_t)k);
	}
	if (readers && pthread_create(&writer, NULL, mix_writer, NULL))
		abort();
	t = now_ns();
	for (k = 0; k < g; k++)
		kgo_go(mix_computer, (void *)(uintptr_t)k);
	latch_wait(&computed);
	t = now_ns() - t;
	stop = 1;
	if (readers) {
		pthread_join(writer, NULL);
		latch_wait(&readers_done);
	}
	for (k = 0; k < readers; k++) {
		close(mix_pipe[k][0]);
		close(mix_pipe[k][1]);
	}
	return t;
}

static void bench_sysmix(void)
{
	int g = PER_P * kgo_nprocs();
	double alone, mixed;

	if (g > MAX_G)
		abort();
	alone = mix_phase(0);
	mixed = mix_phase(g);
	if (!mix_reads)
		abort();
	printf("sysmix %.3f\n", mixed / alone);
	ns_per_op = -1;		/* printed */
}

/* --- switch: the floor any user-space switch is measured against -------- */

void bench_swap(void **save_sp, void *load_sp);
__asm__(".text\n"
	"bench_swap:\n"
	"	pushq %rbp\n	pushq %rbx\n	pushq %r12\n"
	"	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n"
	"	popq %r12\n	popq %rbx\n	popq %rbp\n"
	"	ret\n");

static void *main_sp, *other_sp;

static void other(void)
{
	for (;;)
		bench_swap(&other_sp, main_sp);
}

static void bench_switch(void)
{
	size_t size = 64 * 1024;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **sp = (void **)(stack + size);
	double t;
	long i;

	/* A frame bench_swap can "return" into: six registers, then other(). */
	*--sp = NULL;
	*--sp = (void *)other;
	for (i = 0; i < 6; i++)
		*--sp = NULL;
	other_sp = sp;
	t = now_ns();
	for (i = 0; i < n; i++)
		bench_swap(&main_sp, other_sp);
	ns_per_op = (now_ns() - t) / (2.0 * n);
}

/* --- echo: round trips over TCP loopback, kgo_read/kgo_write ------------- */

#define ECHO_MSG 64
static int echo_lfd;
static struct sockaddr_in echo_addr;
static struct kgo_waitgroup echo_wg;
static long echo_bad;

static void echo_server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_MSG];
	ssize_t r;

	while ((r = kgo_read(fd, buf, sizeof(buf))) > 0)
		if (kgo_write(fd, buf, (size_t)r) != r)
			break;
	kgo_close(fd);
}

static void echo_acceptor(void *arg)
{
	long i, conns = (long)(intptr_t)arg;
	int fd;

	for (i = 0; i < conns; i++) {
		fd = kgo_accept4(echo_lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			   sizeof(int));
		kgo_go(echo_server, (void *)(intptr_t)fd);
	}
}

static void echo_client(void *arg)
{
	long i, rounds = (long)(intptr_t)arg;
	char msg[ECHO_MSG], back[ECHO_MSG];
	ssize_t got, r;
	int fd;

	memset(msg, 'e', sizeof(msg));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || kgo_connect(fd, (struct sockaddr *)&echo_addr,
				  sizeof(echo_addr))) {
		__atomic_add_fetch(&echo_bad, 1, __ATOMIC_RELAXED);
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (i = 0; i < rounds; i++) {
		if (kgo_write(fd, msg, sizeof(msg)) != sizeof(msg))
			break;
		for (got = 0; got < ECHO_MSG; got += r) {
			r = kgo_read(fd, back + got, sizeof(back) - (size_t)got);
			if (r <= 0)
				break;
		}
		if (got != ECHO_MSG || memcmp(msg, back, sizeof(msg)))
			break;
	}
	if (i != rounds)
		__atomic_add_fetch(&echo_bad, 1, __ATOMIC_RELAXED);
out:
	if (fd >= 0)
		kgo_close(fd);
	kgo_waitgroup_done(&echo_wg);
}

static void bench_echo(long conns)
{
	socklen_t len = sizeof(echo_addr);
	double t;
	long i;

	if (bench_loopback_up() ||
	    (echo_lfd = bench_listen(&echo_addr, &len)) < 0) {
		ns_per_op = WRONG;
		return;
	}
	kgo_go(echo_acceptor, (void *)(intptr_t)conns);
	kgo_waitgroup_add(&echo_wg, conns);
	t = now_ns();
	for (i = 0; i < conns; i++)
		kgo_go(echo_client, (void *)(intptr_t)(n / conns));
	kgo_waitgroup_wait(&echo_wg);
	ns_per_op = echo_bad ? WRONG : (now_ns() - t) / (n / conns * conns);
	close(echo_lfd);
}

/* --- idle: N connections that carry nothing, a goroutine reading each -- */

static int idle_lfd[IDLE_PORTS];
static struct sockaddr_in idle_addr[IDLE_PORTS];
static long nidle;

static void idle_fail(const char *what)
{
	fprintf(stderr, "gmp_bench: idle: %s: %s\n", what, strerror(errno));
	exit(3);
}

static void idle_server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;

	__atomic_add_fetch(&nidle, 1, __ATOMIC_RELAXED);
	/* Nothing is sent: only the end (the exit's) may come. */
	if (kgo_read(fd, &c, 1) != 0 && errno != ECONNRESET)
		idle_fail("read");
	kgo_close(fd);
}

static void idle_acceptor(void *arg)
{
	int k = (int)(intptr_t)arg, fd;
	long i;

	for (i = k; i < n; i += IDLE_PORTS) {
		fd = kgo_accept4(idle_lfd[k], NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			idle_fail("accept");
		if (kgo_go(idle_server, (void *)(intptr_t)fd))
			idle_fail("kgo_go");
	}
}

/*
 * Threads, and memory per connection (both ends' sockets, the reader's
 * stack and the kernel's wait), with all N readers waiting.
 */
static void bench_idle(void)
{
	struct mem_reading before;
	int *fds, k;
	long i;

	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds || bench_loopback_up() || bench_raise_nofile(2 * n + 64) ||
	    idle_listen(idle_lfd, idle_addr))
		idle_fail("setup");
	for (k = 0; k < IDLE_PORTS; k++)
		kgo_go(idle_acceptor, (void *)(intptr_t)k);
	before = mem_read();
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    kgo_connect(fds[i], (struct sockaddr *)&idle_addr[i % IDLE_PORTS],
				sizeof(idle_addr[0])))
			idle_fail("connect");
	}
	while (__atomic_load_n(&nidle, __ATOMIC_RELAXED) < n)
		kgo_sleep(1000000);
	/* The last ones counted are waiting too (the peers sleep as long). */
	kgo_sleep(IDLE_SETTLE_NS(n));
	idle_report(before, n);
}

/* --- main --------------------------------------------------------------- */

static const char *workload;

static int bench_main(void *arg)
{
	(void)arg;
	if (!strcmp(workload, "spawn"))
		bench_spawn();
	else if (!strcmp(workload, "yield"))
		bench_yield();
	else if (!strcmp(workload, "parkready"))
		bench_parkready();
	else if (!strcmp(workload, "chan"))
		bench_chan(false);
	else if (!strcmp(workload, "select"))
		bench_chan(true);
	else if (!strcmp(workload, "daisy"))
		bench_daisy();
	else if (!strcmp(workload, "pool"))
		bench_pool();
	else if (!strcmp(workload, "preempt"))
		bench_preempt();
	else if (!strcmp(workload, "handoff"))
		bench_handoff();
	else if (!strcmp(workload, "parked"))
		bench_parked();
	else if (!strcmp(workload, "fair"))
		bench_fair();
	else if (!strcmp(workload, "sysmix"))
		bench_sysmix();
	else if (!strcmp(workload, "echo"))
		bench_echo(1);
	else if (!strcmp(workload, "echo100"))
		bench_echo(100);
	else if (!strcmp(workload, "idle"))
		bench_idle();
	else
		return 2;
	return ns_per_op == WRONG ? 3 : 0;
}

int main(int argc, char **argv)
{
	int status = 1, err;

	if (argc != 3) {
		fprintf(stderr, "usage: gmp_bench spawn|yield|parkready|chan|select|daisy|pool|preempt|handoff|parked|fair|sysmix|echo|echo100|idle|switch N\n");
		return 2;
	}
	workload = argv[1];
	n = atol(argv[2]);
	if (!strcmp(workload, "switch")) {
		bench_switch();
		status = 0;
	} else {
		err = kgo_run(bench_main, NULL, &status);
		if (err) {
			fprintf(stderr, "gmp_bench: kgo_run: %s\n", strerror(-err));
			return 1;
		}
	}
	if (status)
		return status;
	if (ns_per_op >= 0)
		printf("%s %.1f\n", workload, ns_per_op);
	if (getenv("GMP_BENCH_RUSAGE")) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "rusage: user %ld.%06ld s, sys %ld.%06ld s, minflt %ld, nvcsw %ld, nivcsw %ld\n",
			ru.ru_utime.tv_sec, ru.ru_utime.tv_usec, ru.ru_stime.tv_sec,
			ru.ru_stime.tv_usec, ru.ru_minflt, ru.ru_nvcsw, ru.ru_nivcsw);
	}
	return 0;
}
