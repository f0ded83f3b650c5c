// SPDX-License-Identifier: GPL-2.0
/*
 * Ordinary C in goroutines under preemption (1 ms slices, 2 P's): what a
 * C programmer writes without thinking must work.
 *
 *  - malloc_and_stdio_under_preemption: 8 goroutines malloc, realloc and
 *    free blocks of every size class (and mmap-sized ones), each filled
 *    and checked; 16 more fprintf lines to one FILE on a pipe that a
 *    plain thread reads and checks, line by line, in order per writer,
 *    and look at the FILE's lock before each line: it must never be
 *    held by their own thread. Before preemption learnt where it is
 *    safe, glibc's tcache broke (a segfault in __libc_malloc) and two
 *    goroutines on one M both "held" the FILE's recursive lock (merged
 *    lines). Until the stub raised the M's locks count itself, a second
 *    preemption landing on asyncpreempt2()'s first instructions could
 *    move a goroutine stopped in stdio (lines merged in one full suite
 *    run on the 6.12 debug kernel, and in one of eight 40 s runs on the
 *    6.1 debug kernel with four VMs sharing two host CPUs).
 *  - exitsyscall_keeps_the_thread: a goroutine whose blocking call lost
 *    its P comes back on the thread it blocked on.
 *  - preemption_on_asyncpreempt2_entry_is_deferred: the second
 *    preemption of the first case's race, made to land on
 *    asyncpreempt2()'s entry every time by signal handlers that play
 *    the kernel.
 *  - skynet_million: Go's skynet benchmark, 1,111,111 goroutines each
 *    with a malloc'd channel, on 2 P's (static build only). It hung at
 *    10^6 when a goroutine holding malloc's arena lock lost its P in an
 *    mmap and others ran on its thread.
 *
 * Built twice: gmp_csafe_test statically (libc is inside the program, so
 * no preempted goroutine may move) and gmp_csafe_dyn_test dynamically
 * (libc is a library: goroutines stopped in the program's own code move
 * freely, those stopped in libc keep their M). GMP_CSAFE_SECONDS sets the
 * run time (default 30).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "gmp_test_util.h"
#include "kselftest_harness.h"

#define NALLOC		8
#define NPRINT		16
#define LIVE		16	/* blocks each allocator holds */
#define PAYLOAD		72

#ifdef GMP_CSAFE_DYNAMIC
#define LINKED "dynamic"
#else
#define LINKED "static"
#endif

static long run_seconds(void)
{
	const char *v = getenv("GMP_CSAFE_SECONDS");
	long s = v ? strtol(v, NULL, 10) : 30;

	return s > 0 ? s : 30;
}

static volatile int stop;
static struct latch done;

struct result {
	uint64_t ops;
	uint64_t bad;		/* blocks whose contents changed */
	uint64_t moves;		/* times it came back on another thread */
};

static struct result results[NALLOC];

/* A size from every class: small, tcache, large bins, mmap'd. */
static size_t pick_size(uint32_t *seed)
{
	uint32_t r;

	*seed = *seed * 1103515245 + 12345;
	r = *seed >> 8;
	switch (r % 8) {
	case 0:
		return 1 + r % 24;
	case 1: case 2: case 3:
		return 24 + r % 1000;
	case 4: case 5:
		return 1024 + r % 8192;
	case 6:
		return 16384 + r % 65536;
	default:
		return 128 * 1024 + r % (256 * 1024);	/* above the mmap threshold */
	}
}

/*
 * Fill and check in the program's own code (a byte loop, not memset and
 * memcmp), so that preemptions land both here and in libc.
 */
static __attribute__((noinline)) void fill(unsigned char *p, size_t n,
					   unsigned char tag)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(tag + i);
	__asm__ volatile("" : : "r"(p) : "memory");
}

static __attribute__((noinline)) bool intact(const unsigned char *p, size_t n,
					     unsigned char tag)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(tag + i))
			return false;
	return true;
}

static void allocator(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	struct result *res = &results[id];
	unsigned char *blk[LIVE] = { 0 };
	size_t len[LIVE] = { 0 };
	uint32_t seed = (uint32_t)id * 7919 + 1;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	unsigned int i;

	while (!stop) {
		unsigned int k = (seed >> 4) % LIVE;
		unsigned char tag = (unsigned char)(id * 31 + k);
		size_t n = pick_size(&seed);

		if (blk[k]) {
			if (!intact(blk[k], len[k], tag))
				res->bad++;
			if (seed & 1) {
				/* realloc keeps the old contents. */
				unsigned char *q = realloc(blk[k], n);

				if (!q)
					abort();
				if (!intact(q, n < len[k] ? n : len[k], tag))
					res->bad++;
				blk[k] = q;
			} else {
				free(blk[k]);
				blk[k] = malloc(n);
			}
		} else {
			blk[k] = (seed & 2) ? calloc(1, n) : malloc(n);
		}
		if (!blk[k])
			abort();
		len[k] = n;
		fill(blk[k], n, tag);
		res->ops++;
		if ((pid_t)syscall(SYS_gettid) != tid) {
			tid = (pid_t)syscall(SYS_gettid);
			res->moves++;
		}
	}
	for (i = 0; i < LIVE; i++) {
		if (blk[i] && !intact(blk[i], len[i],
				      (unsigned char)(id * 31 + i)))
			res->bad++;
		free(blk[i]);
	}
	latch_done(&done);
}

static FILE *out;
static uint64_t lines_written[NPRINT];
static uint64_t lock_foreign;	/* FILE lock found held by this thread */

/*
 * Before each fprintf, a printer looks at the FILE's recursive lock
 * (glibc's _IO_lock_t): if its owner is this very thread, another
 * goroutine took it here and is stopped inside stdio while this one
 * runs on its thread, which is the state that merges lines, caught even
 * when no line merges. The thread is read on both sides of the look, so
 * a move in between is not taken for it, and read from %fs each time:
 * pthread_self() is declared const, and the compiler may reuse a value
 * from before the goroutine last moved.
 */
static inline void *thread_self(void)
{
	void *self;

	__asm__ volatile("movq %%fs:16, %0" : "=r"(self) : : "memory");
	return self;
}

static void check_file_lock(void)
{
#ifdef __GLIBC__
	struct glibc_io_lock { int lock; int cnt; void *owner; };
	struct glibc_io_lock *lk = (struct glibc_io_lock *)out->_lock;
	void *self = thread_self(), *owner;

	owner = __atomic_load_n(&lk->owner, __ATOMIC_RELAXED);
	if (owner == self && thread_self() == self)
		__atomic_add_fetch(&lock_foreign, 1, __ATOMIC_RELAXED);
#endif
}

static void payload(char *buf, unsigned int g, unsigned int seq)
{
	unsigned int i;

	for (i = 0; i < PAYLOAD; i++)
		buf[i] = (char)('a' + (g * 7 + seq + i) % 26);
	buf[PAYLOAD] = 0;
}

static void printer(void *arg)
{
	unsigned int g = (unsigned int)(uintptr_t)arg, seq = 0;
	char buf[PAYLOAD + 1];

	while (!stop) {
		payload(buf, g, seq);
		check_file_lock();
		fprintf(out, "g%02u %08u %s\n", g, seq, buf);
		seq++;
	}
	lines_written[g] = seq;
	latch_done(&done);
}

/* The reading end: a plain thread checking every line as it comes. */
struct reader {
	int fd;
	uint64_t lines, bad;
	uint32_t next[NPRINT];
	char first_bad[160];
};

static void check_line(struct reader *r, char *line)
{
	char want[PAYLOAD + 1];
	unsigned int g, seq;
	int pos = 0;

	if (sscanf(line, "g%2u %8u %n", &g, &seq, &pos) != 2 || pos != 13 ||
	    g >= NPRINT || seq != r->next[g] ||
	    (payload(want, g, seq), strcmp(line + pos, want))) {
		if (!r->bad++)
			snprintf(r->first_bad, sizeof(r->first_bad), "%.150s", line);
		return;
	}
	r->next[g]++;
	r->lines++;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	static char buf[1 << 16];
	size_t have = 0;
	ssize_t n;

	while ((n = read(r->fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *line = buf, *nl;

		have += (size_t)n;
		buf[have] = 0;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = 0;
			check_line(r, line);
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1) {
			r->bad++;	/* a "line" longer than the buffer */
			have = 0;
		}
	}
	return NULL;
}

static struct kgo_stats stats;

static int malloc_stdio_main(void *arg)
{
	uintptr_t i;
	int r;

	(void)arg;
	done.target = NALLOC + NPRINT;
	for (i = 0; i < NALLOC; i++) {
		r = kgo_go(allocator, (void *)i);
		GCHECK_RET(!r, 10, "kgo_go of allocator %lu returned %d, want 0",
			   (unsigned long)i, r);
	}
	for (i = 0; i < NPRINT; i++) {
		r = kgo_go(printer, (void *)i);
		GCHECK_RET(!r, 11, "kgo_go of printer %lu returned %d, want 0",
			   (unsigned long)i, r);
	}
	latch_wait(&done);
	stats.size = sizeof(stats);
	kgo_stats(&stats);
	return 0;
}

static void *stop_after(void *arg)
{
	sleep((unsigned int)(uintptr_t)arg);
	stop = 1;
	return NULL;
}

TEST_TIMEOUT(malloc_and_stdio_under_preemption, 600)
{
	uint64_t ops = 0, bad = 0, moves = 0, written = 0;
	long secs = run_seconds();
	struct reader r = { 0 };
	pthread_t rd, timer;
	int fds[2], status = -1, ret;
	unsigned int i;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(fds));
	r.fd = fds[0];
	out = fdopen(fds[1], "w");
	ASSERT_NE(NULL, out);
	ASSERT_EQ(0, pthread_create(&rd, NULL, reader_main, &r));
	ASSERT_EQ(0, pthread_create(&timer, NULL, stop_after,
				    (void *)(uintptr_t)secs));
	setenv("KGO_SLICE_US", "1000", 1);
	setenv("GMPMAXPROCS", "2", 1);
	ret = kgo_run(malloc_stdio_main, NULL, &status);
	fclose(out);
	pthread_join(rd, NULL);
	pthread_join(timer, NULL);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, gcheck_report(status));

	for (i = 0; i < NALLOC; i++) {
		ops += results[i].ops;
		bad += results[i].bad;
		moves += results[i].moves;
	}
	for (i = 0; i < NPRINT; i++)
		written += lines_written[i];
	TH_LOG("%s, %ld s: %llu allocations (%llu moved threads), %llu lines; %llu preemptions, %llu of them kept their M",
	       LINKED, secs, (unsigned long long)ops,
	       (unsigned long long)moves, (unsigned long long)r.lines,
	       (unsigned long long)stats.npreempted,
	       (unsigned long long)stats.npreemptkeepm);
	if (r.bad)
		TH_LOG("first bad line: \"%s\"", r.first_bad);
	if (lock_foreign)
		TH_LOG("%llu times a printer found the FILE's lock held by its own thread",
		       (unsigned long long)lock_foreign);
	EXPECT_EQ(0, lock_foreign);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, r.bad);
	EXPECT_EQ(written, r.lines);
	EXPECT_LT(0, ops);
	EXPECT_LT(0, r.lines);
	/* Preempted often, and at unsafe points: what the test is about. */
	EXPECT_LT(10, stats.npreempted);
	EXPECT_LT(0, stats.npreemptkeepm);
#ifdef GMP_CSAFE_DYNAMIC
	/* Stopped in the program's own code: moved as before. */
	EXPECT_LT(stats.npreemptkeepm, stats.npreempted);
#else
	/*
	 * libc is part of the program: no preempted goroutine moves (the
	 * two counters are read one after the other: keepm may be ahead).
	 */
	EXPECT_GE(stats.npreemptkeepm, stats.npreempted);
	EXPECT_EQ(0, moves);
#endif
}

/* --- A goroutine comes back from a lost P on its own thread ------------- */

static pid_t before[4], after[4];

static void sleeper(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	struct timespec ts = { 0, 30 * 1000 * 1000 };

	before[i] = (pid_t)syscall(SYS_gettid);
	nanosleep(&ts, NULL);	/* long enough for sysmon to take the P */
	after[i] = (pid_t)syscall(SYS_gettid);
	latch_done(&done);
}

static volatile int spin_stop;

static void spinner(void *arg)
{
	(void)arg;
	while (!spin_stop)
		;
	latch_done(&done);
}

static int exitsyscall_main(void *arg)
{
	uintptr_t i;
	long long handoff = 0;

	(void)arg;
	done.count = 0;
	done.open = 0;
	done.target = 4;
	/* Keep both P's busy, so the sleepers come back to no idle P. */
	for (i = 0; i < 2; i++)
		kgo_go(spinner, NULL);
	for (i = 0; i < 4; i++)
		kgo_go(sleeper, (void *)i);
	latch_wait(&done);
	trace_counter("handoff", &handoff);
	spin_stop = 1;
	return handoff > 0 ? 0 : 3;
}

TEST(exitsyscall_keeps_the_thread)
{
	int status = -1;
	unsigned int i;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "2", 1);
	/*
	 * What moves the sleeper is the test's business only if it is the
	 * hand-off: a preemption in the sleeper's own code (this
	 * executable's, between nanosleep() and gettid) may move it too
	 * (KGO_PREEMPT_SAFE=exe), seen once on the debug kernel's dynamic
	 * build. So preempted goroutines keep their thread here.
	 */
	setenv("KGO_PREEMPT_SAFE", "none", 1);
	ASSERT_EQ(0, kgo_run(exitsyscall_main, NULL, &status));
	if (status == 3)
		SKIP(return, "no hand-off seen (no debugfs?)");
	ASSERT_EQ(0, gcheck_report(status));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(before[i], after[i]);
}

/* --- A second preemption on asyncpreempt2()'s entry ------------------- */

/*
 * The race, made to happen on purpose: a preemption stops a goroutine in
 * libc, and a second one lands on the first instruction of
 * asyncpreempt2(), which the first one's stub has just called (sysmon
 * asks again a slice later, and an M stalled right there takes it). The
 * test plays the kernel with signal handlers that do to the interrupted
 * frame what gmp_inject_call() does: the goroutine raise()s SIGUSR2,
 * whose handler sends the frame, stopped inside libc, to the stub and
 * puts an int3 on asyncpreempt2()'s first byte; the SIGTRAP handler puts
 * the byte back and sends that frame to the stub too. The second call
 * must be deferred (it is inside kgo), and the first must keep its M.
 * Before the stub raised the M's locks count itself, the second was
 * taken as a preemption of its own, at a safe point in a dynamically
 * linked program, and the goroutine moved with libc under it.
 */
extern char kgo_asyncpreempt[] __attribute__((visibility("hidden")));
extern char kgo_asyncpreempt_end[] __attribute__((visibility("hidden")));

static unsigned char *ap2_entry, ap2_byte;
static volatile int traps, kernel_first;

/* What gmp_inject_call() does to a user frame (gmp_uapi.h's contract). */
static void inject_stub(ucontext_t *uc)
{
	greg_t *r = uc->uc_mcontext.gregs;
	uint64_t sp = (uint64_t)r[REG_RSP] - GMP_PREEMPT_REDZONE - 8;

	*(uint64_t *)sp = (uint64_t)r[REG_RIP];
	r[REG_RSP] = (greg_t)sp;
	r[REG_RIP] = (greg_t)kgo_asyncpreempt;
}

static void on_usr2(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	if ((char *)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP] ==
	    kgo_asyncpreempt)
		kernel_first++;	/* the kernel's stub call came first */
	ap2_entry[0] = 0xcc;	/* int3 */
	inject_stub(ctx);
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *r = uc->uc_mcontext.gregs;
	unsigned char **ret = (unsigned char **)r[REG_RSP];

	(void)sig;
	(void)si;
	ap2_entry[0] = ap2_byte;
	if ((unsigned char *)r[REG_RIP] == ap2_entry + 1) {
		r[REG_RIP]--;	/* back onto the entry */
	} else if ((char *)r[REG_RIP] == kgo_asyncpreempt &&
		   *ret == ap2_entry + 1) {
		/*
		 * The kernel sent the goroutine to the stub on its way back
		 * from the trap, before this handler (a hand-off or a
		 * preemption whose task work ran first): the call it made
		 * returns to just past the int3. Back onto the entry, too.
		 */
		*ret = ap2_entry;
		kernel_first++;
	}
	traps++;
	inject_stub(uc);
}

/*
 * asyncpreempt2() is local to libkgo.a: find it as the target of the
 * stub's "movq %rbp, %rdi; call rel32".
 */
static unsigned char *find_ap2(void)
{
	unsigned char *p;
	int32_t rel;

	for (p = (unsigned char *)kgo_asyncpreempt;
	     p + 8 <= (unsigned char *)kgo_asyncpreempt_end; p++) {
		if (p[0] != 0x48 || p[1] != 0x89 || p[2] != 0xef || p[3] != 0xe8)
			continue;
		memcpy(&rel, p + 4, 4);
		return p + 8 + rel;
	}
	return NULL;
}

static struct kgo_stats st0, st1;
static void *thread0, *thread1;
static long long live0[4], live1[4];	/* schedtrace's, if debugfs */
static const char *const live_name[4] = {
	"preempt", "preemptreq", "handoff", "exitsyscall"
};

static void read_live(long long *v)
{
	int i;

	for (i = 0; i < 4; i++)
		if (trace_counter(live_name[i], &v[i]))
			v[i] = -1;
}

static int entry_main(void *arg)
{
	(void)arg;
	st0.size = sizeof(st0);
	st1.size = sizeof(st1);
	thread0 = thread_self();
	read_live(live0);
	kgo_stats(&st0);
	raise(SIGUSR2);		/* both preemptions happen in here */
	thread1 = thread_self();
	/*
	 * The kernel publishes its counts (nkpreempt, nhandoff) when an M
	 * parks, among other times: park this one once before reading them
	 * (a goroutine that parks may come back on another M: the thread
	 * is read before).
	 */
	kgo_sleep(1000000);
	kgo_stats(&st1);
	read_live(live1);
	return 0;
}

TEST(preemption_on_asyncpreempt2_entry_is_deferred)
{
	struct sigaction sa = { 0 };
	long pagesz = sysconf(_SC_PAGESIZE);
	uintptr_t page;
	uint64_t extra;
	int status = -1;

	REQUIRE_GMP();
	ap2_entry = find_ap2();
	ASSERT_NE(NULL, ap2_entry) TH_LOG("no call to asyncpreempt2 in the stub");
	ap2_byte = ap2_entry[0];
	page = (uintptr_t)ap2_entry & ~(uintptr_t)(pagesz - 1);
	ASSERT_EQ(0, mprotect((void *)page, (size_t)pagesz,
			      PROT_READ | PROT_WRITE | PROT_EXEC));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	ASSERT_EQ(0, sigaction(SIGUSR2, &sa, NULL));
	sa.sa_sigaction = on_trap;
	ASSERT_EQ(0, sigaction(SIGTRAP, &sa, NULL));
	/* One P and no sysmon preemption: only the two calls made here. */
	setenv("GMPMAXPROCS", "1", 1);
	setenv("KGO_SLICE_US", "10000000", 1);
	ASSERT_EQ(0, kgo_run(entry_main, NULL, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(1, traps);
	/*
	 * The kernel may have sent the goroutine to the stub too meanwhile:
	 * a P taken from its M while blocked (a page fault waiting on
	 * mmap_lock, on a busy debug kernel) comes back through the stub.
	 * Such calls keep their M, and one landing inside kgo is deferred.
	 * Without them, as almost always, the counts are exactly 1.
	 */
	extra = st1.nkpreempt - st0.nkpreempt + st1.nhandoff - st0.nhandoff;
	/* The state page's counts may lag; schedtrace's and the handlers' not. */
	if (live0[0] >= 0 && live0[2] >= 0 &&
	    extra < (uint64_t)(live1[0] - live0[0] + live1[2] - live0[2]))
		extra = (uint64_t)(live1[0] - live0[0] + live1[2] - live0[2]);
	if (extra < (uint64_t)kernel_first)
		extra = (uint64_t)kernel_first;
	TH_LOG("taken %llu deferred %llu keepm %llu; kernel: preempt %llu handoff %llu (live %lld, %lld); handlers: traps %d kernel_first %d",
	       (unsigned long long)(st1.npreempted - st0.npreempted),
	       (unsigned long long)(st1.npreemptdeferred - st0.npreemptdeferred),
	       (unsigned long long)(st1.npreemptkeepm - st0.npreemptkeepm),
	       (unsigned long long)(st1.nkpreempt - st0.nkpreempt),
	       (unsigned long long)(st1.nhandoff - st0.nhandoff),
	       live1[0] - live0[0], live1[2] - live0[2], traps, kernel_first);
	/*
	 * Every taken call kept its M, the second was deferred, and the
	 * goroutine never left its thread. (A taken call no count explained
	 * came in about one run in four once the machine had been up for
	 * longer than the slice: sysmon preempted a P it saw for the first
	 * time at once, gmp_preempt_test's first_slice_is_whole.)
	 */
	EXPECT_LE(1, st1.npreempted - st0.npreempted);
	EXPECT_GE(1 + extra, st1.npreempted - st0.npreempted);
	EXPECT_LE(1, st1.npreemptdeferred - st0.npreemptdeferred);
	EXPECT_GE(1 + extra, st1.npreemptdeferred - st0.npreemptdeferred);
	EXPECT_EQ(st1.npreempted - st0.npreempted,
		  st1.npreemptkeepm - st0.npreemptkeepm);
	EXPECT_EQ(thread0, thread1);
}

/* --- Go's skynet -------------------------------------------------------- */

#ifndef GMP_CSAFE_DYNAMIC
struct sky {
	struct kgo_chan *up;
	long num, size;
};

static void skynet(void *arg)
{
	struct sky *me = arg;
	long sum = 0, v, i;

	if (me->size == 1) {
		sum = me->num;
	} else {
		struct kgo_chan *c = kgo_chan_make(sizeof(long), 10);

		if (!c)
			abort();
		for (i = 0; i < 10; i++) {
			struct sky *child = malloc(sizeof(*child));

			if (!child)
				abort();
			child->up = c;
			child->num = me->num + i * (me->size / 10);
			child->size = me->size / 10;
			while (kgo_go(skynet, child) == -EAGAIN)
				kgo_yield();
		}
		for (i = 0; i < 10; i++) {
			if (kgo_chan_recv(c, &v) != 1)
				abort();
			sum += v;
		}
		while (kgo_chan_free(c) == -EBUSY)
			kgo_yield();
	}
	if (kgo_chan_send(me->up, &sum))
		abort();
	free(me);
}

static long sky_result;

static int skynet_main(void *arg)
{
	struct sky *root = malloc(sizeof(*root));
	struct kgo_chan *c = kgo_chan_make(sizeof(long), 1);
	int r;

	(void)arg;
	GCHECK_RET(root && c, 10, "malloc or kgo_chan_make failed: root %p, chan %p",
		   (void *)root, (void *)c);
	root->up = c;
	root->num = 0;
	root->size = 1000000;
	r = kgo_go(skynet, root);
	GCHECK_RET(!r, 11, "kgo_go of the root returned %d, want 0", r);
	r = kgo_chan_recv(c, &sky_result);
	GCHECK_RET(r == 1, 12, "recv of the root's sum returned %d, want 1", r);
	return 0;
}

TEST_TIMEOUT(skynet_million, 900)
{
	long long t = now_ns();
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "2", 1);
	ASSERT_EQ(0, kgo_run(skynet_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	TH_LOG("skynet 10^6: %lld ms", (now_ns() - t) / 1000000);
	EXPECT_EQ(499999500000L, sky_result);
}
#endif

TEST_HARNESS_MAIN
