// SPDX-License-Identifier: GPL-2.0
/*
 * sysmon's asynchronous preemption, through kgo: a goroutine spinning
 * without calls does not keep the others from running (Go's
 * TestPreemption idea), CPU-bound goroutines share their P's fairly, and
 * a goroutine preempted thousands of times keeps every register, its
 * flags, its vector and x87 state and its errno, and its identity.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

static volatile int stop;

static void *stop_after(void *arg)
{
	struct timespec ts = { .tv_sec = (long)(intptr_t)arg };

	nanosleep(&ts, NULL);
	stop = 1;
	return NULL;
}

static void stop_in(long seconds)
{
	pthread_t t;

	stop = 0;
	if (pthread_create(&t, NULL, stop_after, (void *)(intptr_t)seconds))
		abort();
	pthread_detach(t);
}

/*
 * Run @n copies of @fn (given 0 .. n-1) until stop is set @seconds from
 * now; each counts down @done at the end.
 */
static int run_workers(void (*fn)(void *), intptr_t n, struct latch *done,
		       long seconds)
{
	intptr_t i;

	stop_in(seconds);
	for (i = 0; i < n; i++)
		if (kgo_go(fn, (void *)i))
			return 1;
	latch_wait(done);
	return 0;
}

/* --- A spinner does not stop the others on P = 1 ----------------------- */

static volatile int spin_stop, spin_done;

static void spinner(void *arg)
{
	(void)arg;
	while (!spin_stop)
		;	/* no call: only preemption gets another G on */
	spin_done = 1;
}

static int spin_main(void *arg)
{
	(void)arg;
	if (kgo_go(spinner, NULL))
		return 1;
	kgo_yield();		/* the spinner runs, and never yields */
	spin_stop = 1;		/* so we are here only by preemption */
	while (!spin_done)
		kgo_yield();
	return 0;
}

TEST(spinner_does_not_block_p1)
{
	uint64_t taken, deferred;
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(spin_main, NULL, &status));
	ASSERT_EQ(0, status);
	kgo_preempt_stats(&taken, &deferred);
	TH_LOG("preemptions taken %llu, deferred %llu",
	       (unsigned long long)taken, (unsigned long long)deferred);
	EXPECT_GE(taken, 1);
}

/* --- CPU shares ----------------------------------------------------------- */

#define NWORK 3

static uint64_t shares[NWORK];
static struct latch work_done = { .target = NWORK };

/*
 * CPU time, as the goroutine sees it: the sum of the gaps between two
 * clock readings in a row that are shorter than 200 us. A longer gap
 * means it was off its M: another goroutine's slice (10 ms), or the
 * preemption itself, which under a debug kernel in TCG takes hundreds of
 * microseconds even when the same goroutine is picked again at once. So
 * only the time it ran counts, whatever the speed of the (virtual) CPU.
 */
static void cpu_bound(void *arg)
{
	long long t, prev = now_ns();
	uint64_t ran = 0;

	while (!stop) {
		t = now_ns();
		if (t - prev < 200000)
			ran += t - prev;
		prev = t;
	}
	shares[(intptr_t)arg] = ran;
	latch_done(&work_done);
}

static int shares_main(void *arg)
{
	(void)arg;
	/* Long enough that vCPU speed differences average out. */
	return run_workers(cpu_bound, NWORK, &work_done, 4);
}

static void check_shares(struct __test_metadata *_metadata, const char *procs)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int status = -1, i;

	setenv("GMPMAXPROCS", procs, 1);
	ASSERT_EQ(0, kgo_run(shares_main, NULL, &status));
	ASSERT_EQ(0, status);
	for (i = 0; i < NWORK; i++) {
		lo = shares[i] < lo ? shares[i] : lo;
		hi = shares[i] > hi ? shares[i] : hi;
	}
	TH_LOG("P=%s: %llu %llu %llu us on a CPU", procs,
	       (unsigned long long)shares[0] / 1000,
	       (unsigned long long)shares[1] / 1000,
	       (unsigned long long)shares[2] / 1000);
	ASSERT_GT(lo, 0);
	/* Within 20% of each other. */
	EXPECT_LE((hi - lo) * 5, hi);
}

TEST(fair_shares_p1)
{
	REQUIRE_GMP();
	check_shares(_metadata, "1");
}

TEST(fair_shares_p2)
{
	REQUIRE_GMP();
	/*
	 * The debug kernel (the only one with KUnit) spends KASAN and lockdep
	 * time unevenly over the vCPUs, which skews shares across P's; P = 1
	 * above still runs there, and this runs on the stock kernel.
	 */
	if (!access("/sys/kernel/debug/kunit", F_OK))
		SKIP(return, "debug kernel: its overhead differs per vCPU; shares across P's are checked on the stock kernel");
	check_shares(_metadata, "2");
}

/* --- The whole user state survives ---------------------------------------- */

#define NSTATE		3
#define STATE_SPINS	20000000UL

static int have_avx;
static uint64_t state_bad[NSTATE], state_rounds[NSTATE];
static double fp_expect;
static struct latch state_done = { .target = NSTATE };

/* Doubles kept in registers through a long dependent chain. */
static __attribute__((noinline)) double fp_chain(void)
{
	double x = 1.0, y = 0.5;
	long i;

	for (i = 1; i <= 3000000; i++) {
		x = x * 1.0000001 + y / (double)i;
		y = y * 0.9999999 + 1e-7;
	}
	return x + y;
}

/*
 * General registers and DF held across a spin with no calls: every one
 * must come back as loaded. Returns how many differ.
 */
static __attribute__((noinline)) long gpr_spin(unsigned long spins)
{
	long bad;

	__asm__ volatile(
		"movabs $0x1111111111111111, %%rax\n\t"
		"movabs $0x2222222222222222, %%rbx\n\t"
		"movabs $0x3333333333333333, %%rdx\n\t"
		"movabs $0x4444444444444444, %%rsi\n\t"
		"movabs $0x5555555555555555, %%rdi\n\t"
		"movabs $0x6666666666666666, %%r8\n\t"
		"movabs $0x7777777777777777, %%r9\n\t"
		"movabs $0x8888888888888888, %%r10\n\t"
		"movabs $0x9999999999999999, %%r11\n\t"
		"movabs $0xaaaaaaaaaaaaaaaa, %%r12\n\t"
		"movabs $0xbbbbbbbbbbbbbbbb, %%r13\n\t"
		"movabs $0xcccccccccccccccc, %%r14\n\t"
		"movabs $0xdddddddddddddddd, %%r15\n\t"
		"std\n"
		"1:\tdec %%rcx\n\t"
		"jnz 1b\n\t"
		"pushfq\n\t"
		"cld\n\t"
		"popq %%rcx\n\t"
		"shrq $10, %%rcx\n\t"		/* DF */
		"andq $1, %%rcx\n\t"
		"xorq $1, %%rcx\n\t"		/* 0 if DF was still set */
#define CHECK(v, r)	"movabs $" v ", %%rbp\n\t" "cmpq %%rbp, %%" r "\n\t" \
			"setne %%bpl\n\t" "movzbq %%bpl, %%rbp\n\t" \
			"addq %%rbp, %%rcx\n\t"
		CHECK("0x1111111111111111", "rax")
		CHECK("0x2222222222222222", "rbx")
		CHECK("0x3333333333333333", "rdx")
		CHECK("0x4444444444444444", "rsi")
		CHECK("0x5555555555555555", "rdi")
		CHECK("0x6666666666666666", "r8")
		CHECK("0x7777777777777777", "r9")
		CHECK("0x8888888888888888", "r10")
		CHECK("0x9999999999999999", "r11")
		CHECK("0xaaaaaaaaaaaaaaaa", "r12")
		CHECK("0xbbbbbbbbbbbbbbbb", "r13")
		CHECK("0xcccccccccccccccc", "r14")
		CHECK("0xdddddddddddddddd", "r15")
#undef CHECK
		: "=c"(bad)
		: "c"(spins)
		: "rax", "rbx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "r12", "r13", "r14", "r15", "rbp", "cc", "memory");
	return bad;
}

/*
 * Vector registers held across a spin: xmm8-15 (SSE), and with AVX the
 * upper halves of ymm8-15 too. Returns how many differ.
 */
static __attribute__((noinline)) long vec_spin(unsigned long spins, int id)
{
	uint64_t pat[4] = { 0x0123456789abcdefULL + id, 0xfedcba9876543210ULL,
			    0x0f1e2d3c4b5a6978ULL, 0x8796a5b4c3d2e1f0ULL - id };
	uint64_t out[8][4];
	long bad = 0;
	int i, j;

	if (have_avx)
		__asm__ volatile(
			"vmovdqu (%1), %%ymm8\n\t"
			"vpaddq %%ymm8, %%ymm8, %%ymm9\n\t"
			"vpaddq %%ymm9, %%ymm8, %%ymm10\n\t"
			"vpaddq %%ymm10, %%ymm8, %%ymm11\n\t"
			"vpaddq %%ymm11, %%ymm8, %%ymm12\n\t"
			"vpaddq %%ymm12, %%ymm8, %%ymm13\n\t"
			"vpaddq %%ymm13, %%ymm8, %%ymm14\n\t"
			"vpaddq %%ymm14, %%ymm8, %%ymm15\n"
			"1:\tdec %0\n\t"
			"jnz 1b\n\t"
			"vmovdqu %%ymm8, 0(%2)\n\t"
			"vmovdqu %%ymm9, 32(%2)\n\t"
			"vmovdqu %%ymm10, 64(%2)\n\t"
			"vmovdqu %%ymm11, 96(%2)\n\t"
			"vmovdqu %%ymm12, 128(%2)\n\t"
			"vmovdqu %%ymm13, 160(%2)\n\t"
			"vmovdqu %%ymm14, 192(%2)\n\t"
			"vmovdqu %%ymm15, 224(%2)\n\t"
			"vzeroupper\n\t"
			: "+r"(spins) : "r"(pat), "r"(out)
			: "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			  "xmm14", "xmm15", "cc", "memory");
	else
		__asm__ volatile(
			"movdqu (%1), %%xmm8\n\t"
			"movdqa %%xmm8, %%xmm9\n\tpaddq %%xmm8, %%xmm9\n\t"
			"movdqa %%xmm9, %%xmm10\n\tpaddq %%xmm8, %%xmm10\n\t"
			"movdqa %%xmm10, %%xmm11\n\tpaddq %%xmm8, %%xmm11\n\t"
			"movdqa %%xmm11, %%xmm12\n\tpaddq %%xmm8, %%xmm12\n\t"
			"movdqa %%xmm12, %%xmm13\n\tpaddq %%xmm8, %%xmm13\n\t"
			"movdqa %%xmm13, %%xmm14\n\tpaddq %%xmm8, %%xmm14\n\t"
			"movdqa %%xmm14, %%xmm15\n\tpaddq %%xmm8, %%xmm15\n"
			"1:\tdec %0\n\t"
			"jnz 1b\n\t"
			"movdqu %%xmm8, 0(%2)\n\t"
			"movdqu %%xmm9, 32(%2)\n\t"
			"movdqu %%xmm10, 64(%2)\n\t"
			"movdqu %%xmm11, 96(%2)\n\t"
			"movdqu %%xmm12, 128(%2)\n\t"
			"movdqu %%xmm13, 160(%2)\n\t"
			"movdqu %%xmm14, 192(%2)\n\t"
			"movdqu %%xmm15, 224(%2)\n\t"
			: "+r"(spins) : "r"(pat), "r"(out)
			: "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			  "xmm14", "xmm15", "cc", "memory");
	/* Register k holds (k + 1) * pat, lane by lane. */
	for (i = 0; i < 8; i++)
		for (j = 0; j < (have_avx ? 4 : 2); j++)
			bad += out[i][j] != pat[j] * (uint64_t)(i + 1);
	return bad;
}

static __attribute__((noinline)) int errno_now(void)
{
	return errno;
}

static __attribute__((noinline)) void errno_set(int v)
{
	errno = v;
}

static unsigned int mxcsr_get(void)
{
	unsigned int v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static unsigned short fcw_get(void)
{
	unsigned short v;

	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

/* Round toward zero, and an x87 control word with 53-bit precision. */
#define TEST_MXCSR	(0x1f80 | 0x6000)
#define TEST_FCW	0x027f

static void state_worker(void *arg)
{
	intptr_t id = (intptr_t)arg;
	unsigned int mxcsr = TEST_MXCSR;
	unsigned short fcw = TEST_FCW;
	uint64_t bad = 0, rounds = 0;

	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
	__asm__ volatile("fldcw %0" : : "m"(fcw));
	while (!stop) {
		errno_set(1000 + (int)id);
		bad += fp_chain() != fp_expect;
		bad += gpr_spin(STATE_SPINS) != 0;
		bad += vec_spin(STATE_SPINS, (int)id) != 0;
		/* The control bits; the exception flags do change. */
		bad += (mxcsr_get() & ~0x3fU) != TEST_MXCSR;
		bad += fcw_get() != TEST_FCW;
		bad += errno_now() != 1000 + id;
		rounds++;
	}
	state_bad[id] = bad;
	state_rounds[id] = rounds;
	latch_done(&state_done);
}

static int state_main(void *arg)
{
	(void)arg;
	return run_workers(state_worker, NSTATE, &state_done, 8);
}

static int cpu_has_avx(void)
{
	unsigned int a, b, c, d, lo, hi;

	__cpuid(1, a, b, c, d);
	if (!(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

TEST(user_state_survives_preemption)
{
	unsigned int mxcsr = TEST_MXCSR, mxcsr0 = mxcsr_get();
	uint64_t taken, deferred;
	int status = -1, i;

	REQUIRE_GMP();
	have_avx = cpu_has_avx();
	/* The reference, unpreempted, under the same rounding mode. */
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
	fp_expect = fp_chain();
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr0));

	setenv("GMPMAXPROCS", "1", 1);
	setenv("KGO_SLICE_US", "200", 1);
	ASSERT_EQ(0, kgo_run(state_main, NULL, &status));
	ASSERT_EQ(0, status);
	kgo_preempt_stats(&taken, &deferred);
	TH_LOG("%s; preemptions taken %llu, deferred %llu; rounds %llu %llu %llu",
	       have_avx ? "AVX: ymm checked" : "no AVX: xmm checked",
	       (unsigned long long)taken, (unsigned long long)deferred,
	       (unsigned long long)state_rounds[0],
	       (unsigned long long)state_rounds[1],
	       (unsigned long long)state_rounds[2]);
	for (i = 0; i < NSTATE; i++) {
		EXPECT_EQ(0, state_bad[i]);
		EXPECT_GT(state_rounds[i], 0);
	}
	EXPECT_GE(taken, 2000);
}

/*
 * Who am I, under fire: goroutines that do nothing but ask kgo_id() are
 * preempted thousands of times on two P's, and so resume on the other
 * thread as often as not. Asking must never answer with the goroutine
 * the old thread runs now (kgo once found the thread's M, then read its
 * current G: a preemption in between did exactly that).
 */
#define NIDENT	8

static uint64_t ident_bad[NIDENT], ident_calls[NIDENT];
static struct latch ident_done = { .target = NIDENT };

static void ident_worker(void *arg)
{
	intptr_t i = (intptr_t)arg;
	uint64_t me = kgo_id(), bad = 0, calls = 0;

	while (!stop) {
		bad += kgo_id() != me;
		calls++;
	}
	ident_bad[i] = bad;
	ident_calls[i] = calls;
	latch_done(&ident_done);
}

static int ident_main(void *arg)
{
	(void)arg;
	return run_workers(ident_worker, NIDENT, &ident_done, 4);
}

TEST(identity_survives_preemption)
{
	uint64_t taken, deferred;
	int status = -1, i;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "2", 1);
	setenv("KGO_SLICE_US", "100", 1);
	ASSERT_EQ(0, kgo_run(ident_main, NULL, &status));
	ASSERT_EQ(0, status);
	kgo_preempt_stats(&taken, &deferred);
	TH_LOG("preemptions taken %llu; calls %llu %llu ...",
	       (unsigned long long)taken,
	       (unsigned long long)ident_calls[0],
	       (unsigned long long)ident_calls[1]);
	for (i = 0; i < NIDENT; i++) {
		EXPECT_EQ(0, ident_bad[i]);
		EXPECT_GT(ident_calls[i], 0);
	}
	EXPECT_GE(taken, 1000);
}

/*
 * The direct yield (kgo_switch) shows the yielding goroutine to thieves
 * only once it is off its stack. Three yielders on two P's keep one P
 * running dry, so its M steals the goroutine the other just queued, again
 * and again, while 100 us slices preempt them all: every goroutine must
 * come back with its own id, errno and stack, and some must have moved.
 * errno's address kept across the switch follows the goroutine too (kgo
 * once lost errno about once per 300 moves: a preemption right after
 * __errno_location() returned resumed with the old thread's address).
 */
#define NYS	3

static uint64_t ys_bad[NYS], ys_yields[NYS], ys_moves[NYS];
static struct latch ys_done = { .target = NYS };

static uintptr_t thread_pointer(void)
{
	uintptr_t tp;

	__asm__ volatile("movq %%fs:0, %0" : "=r"(tp) : : "memory");
	return tp;
}

static void ys_worker(void *arg)
{
	intptr_t i = (intptr_t)arg;
	uint64_t me = kgo_id(), bad = 0, n = 0, moves = 0;
	volatile uint64_t canary[4];
	int *volatile errp;		/* on the stack */
	uintptr_t tp = thread_pointer(), now;
	int k;

	while (!stop) {
		for (k = 0; k < 4; k++)
			canary[k] = me * 7919 + n + k;
		write_errno((int)(1000 + i));
		/* Kept across the switch, as compilers keep it in registers. */
		errp = &errno;
		kgo_yield();
		bad += read_errno() != 1000 + i || kgo_id() != me;
		bad += *errp != 1000 + i || errp != &errno;
		for (k = 0; k < 4; k++)
			bad += canary[k] != me * 7919 + n + k;
		now = thread_pointer();
		moves += now != tp;
		tp = now;
		n++;
	}
	ys_bad[i] = bad;
	ys_yields[i] = n;
	ys_moves[i] = moves;
	latch_done(&ys_done);
}

static int ys_main(void *arg)
{
	(void)arg;
	return run_workers(ys_worker, NYS, &ys_done, 4);
}

TEST(yield_survives_stealing_and_preemption)
{
	uint64_t moves = 0;
	int status = -1, i;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "2", 1);
	setenv("KGO_SLICE_US", "100", 1);
	ASSERT_EQ(0, kgo_run(ys_main, NULL, &status));
	ASSERT_EQ(0, status);
	for (i = 0; i < NYS; i++) {
		TH_LOG("goroutine %d: %llu yields, %llu moves", i,
		       (unsigned long long)ys_yields[i],
		       (unsigned long long)ys_moves[i]);
		EXPECT_EQ(0, ys_bad[i]);
		EXPECT_GT(ys_yields[i], 0);
		moves += ys_moves[i];
	}
	EXPECT_GT(moves, 0);
}

/*
 * Hostile stacks: a goroutine spinning with its stack pointer at a kernel
 * address, then at an unmapped user page, cannot take the preemption
 * call. The kernel must neither inject it nor fault: sysmon's requests
 * outnumber the calls injected, and once the stack is sane again the
 * goroutine is preempted as usual.
 */
static volatile int bad_done;
static volatile unsigned long spins_left;
static char bad_trace[4096];

static void bad_stack_spinner(void *arg)
{
	unsigned long sp = (unsigned long)arg;

	__asm__ volatile(
		"movq %%rsp, %%r12\n\t"
		"movq %1, %%rsp\n"
		"1:\tdec %0\n\t"
		"jnz 1b\n\t"
		"movq %%r12, %%rsp\n\t"
		: "+r"(spins_left) : "r"(sp) : "r12", "cc", "memory");
	spins_left = 300000000UL;
	bad_done++;
}

static int bad_stack_main(void *arg)
{
	char dir[320], path[360];
	void *hole;

	(void)arg;
	hole = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED)
		return 1;
	kgo_go(bad_stack_spinner, (void *)0xffffffff81000000UL);
	kgo_go(bad_stack_spinner, (char *)hole + 4096);
	while (bad_done < 2)
		kgo_yield();
	/* A sane spinner is preempted again: main runs to here. */
	stop = 0;
	if (kgo_go(spinner, NULL))
		return 1;
	kgo_yield();
	spin_stop = 1;
	while (!spin_done)
		kgo_yield();
	if (trace_dir(dir, sizeof(dir)))
		return 2;
	snprintf(path, sizeof(path), "%s/schedtrace", dir);
	return read_file(path, bad_trace, sizeof(bad_trace)) ? 3 : 0;
}

TEST(bad_stack_not_preempted)
{
	long long preempt = -1, req = -1;
	uint64_t taken, deferred;
	int status = -1;
	char *p;

	REQUIRE_GMP();
	if (access("/sys/kernel/debug/gmp", R_OK))
		SKIP(return, "/sys/kernel/debug/gmp unreadable (debugfs not mounted, or not root)");
	setenv("GMPMAXPROCS", "1", 1);
	setenv("KGO_SLICE_US", "1000", 1);
	spins_left = 300000000UL;
	ASSERT_EQ(0, kgo_run(bad_stack_main, NULL, &status));
	ASSERT_EQ(0, status);
	p = strstr(bad_trace, "preempt=");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(2, sscanf(p, "preempt=%lld preemptreq=%lld", &preempt, &req));
	kgo_preempt_stats(&taken, &deferred);
	TH_LOG("kernel: %lld asked, %lld injected; kgo: %llu taken", req,
	       preempt, (unsigned long long)taken);
	EXPECT_GT(req, preempt);
	EXPECT_GE(taken, 1);
}

/*
 * --- Preempted inside malloc, on P = 1 -----------------------------------
 *
 * A goroutine preempted inside malloc keeps its thread's arena lock until
 * it runs again. With guarded stacks every fresh goroutine needs a new
 * record, made inside newproc's no-preemption section; were it malloc'd
 * there, the spawner would block on the lock on the one M that holds the
 * one P, and the preempted goroutine could never run to release it.
 */
#define MALLOC_SPAWNS	3000

static volatile int malloc_stop;
static uint64_t mallocs;
static uint32_t holders_go;
static struct latch malloc_done;

static void mallocer(void *arg)
{
	unsigned int i = 0;
	char *p;

	(void)arg;
	while (!malloc_stop) {
		/* Past the tcache, below the mmap threshold: the arena's lock. */
		p = malloc(2048 + (i++ % 64) * 512);
		if (p) {
			p[0] = 1;
			free(p);
		}
		__atomic_add_fetch(&mallocs, 1, __ATOMIC_RELAXED);
	}
	latch_done(&malloc_done);
}

static void holder(void *arg)
{
	(void)arg;
	latch_wait_word(&holders_go);	/* alive, so every spawn is fresh */
	latch_done(&malloc_done);
}

static int malloc_main(void *arg)
{
	int i;

	(void)arg;
	malloc_done.target = MALLOC_SPAWNS + 1;
	if (kgo_go(mallocer, NULL))
		return 1;
	kgo_yield();
	for (i = 0; i < MALLOC_SPAWNS; i++)
		if (kgo_go(holder, NULL))
			return 2;
	malloc_stop = 1;
	latch_open(&holders_go);
	latch_wait(&malloc_done);
	return 0;
}

TEST(spawn_while_preempted_in_malloc_p1)
{
	uint64_t taken, deferred;
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	setenv("KGO_SLICE_US", "1000", 1);
	setenv("KGO_STACK_GUARD", "1", 1);
	ASSERT_EQ(0, kgo_run(malloc_main, NULL, &status));
	ASSERT_EQ(0, status);
	kgo_preempt_stats(&taken, &deferred);
	TH_LOG("%d spawns, %llu mallocs, %llu preemptions taken",
	       MALLOC_SPAWNS, (unsigned long long)mallocs,
	       (unsigned long long)taken);
	EXPECT_LT(0, mallocs);
	EXPECT_LT(0, taken);
}

/*
 * --- A runnext chain does not starve the local queue, on P = 1 -----------
 *
 * Two goroutines that ready each other through unbuffered channels run
 * from runnext by turns; a third waits in the P's queue behind them. As in
 * Go, a G taken from runnext inherits its predecessor's time slice, so the
 * chain as a whole is preempted after a slice and the third gets its turn.
 */
static struct kgo_chan *ab, *ba;
static volatile int chain_stop;
static uint64_t chain_trips;
static int64_t starved_from, starved_ns;
static uint32_t starved_ran;

static void starved(void *arg)
{
	(void)arg;
	starved_ns = now_ns() - starved_from;
	chain_stop = 1;
	latch_open(&starved_ran);
}

static void chain_b(void *arg)
{
	int v;

	(void)arg;
	while (kgo_chan_recv(ab, &v) == 1)
		kgo_chan_send(ba, &v);
}

static void chain_a(void *arg)
{
	int v = 0;

	(void)arg;
	starved_from = now_ns();
	if (kgo_go(starved, NULL))	/* into runnext ... */
		return;
	while (!chain_stop) {
		kgo_chan_send(ab, &v);	/* ... which B takes: C to the queue */
		if (kgo_chan_recv(ba, &v) != 1)
			break;
		chain_trips++;
	}
	kgo_chan_close(ab);
}

static int chain_main(void *arg)
{
	(void)arg;
	ab = kgo_chan_make(sizeof(int), 0);
	ba = kgo_chan_make(sizeof(int), 0);
	if (!ab || !ba || kgo_go(chain_b, NULL))
		return 1;
	kgo_yield();		/* B waits on ab */
	if (kgo_go(chain_a, NULL))
		return 2;
	latch_wait_word(&starved_ran);
	return 0;
}

TEST(runnext_chain_does_not_starve_queue_p1)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	/*
	 * A full 10 ms slice: with 1 ms, the debug kernel under TCG once
	 * preempted the pair before its first round trip, and the queued
	 * goroutine ran without having waited behind the chain at all.
	 */
	setenv("KGO_SLICE_US", "10000", 1);
	ASSERT_EQ(0, kgo_run(chain_main, NULL, &status));
	ASSERT_EQ(0, status);
	TH_LOG("the queued goroutine ran after %lld us and %llu round trips",
	       (long long)starved_ns / 1000, (unsigned long long)chain_trips);
	/* It waited behind the chain: the test tested something. */
	EXPECT_LT(0, chain_trips);
}

/* Preemption off: a spinner is never interrupted (KGO_PREEMPT=0). */
static int nopreempt_main(void *arg)
{
	(void)arg;
	stop_in(1);
	if (kgo_go(spinner, NULL))
		return 1;
	while (!stop)
		;
	spin_stop = 1;
	while (!spin_done)
		kgo_yield();
	return 0;
}

TEST(preempt_off_is_off)
{
	uint64_t taken, deferred;
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	setenv("KGO_PREEMPT", "0", 1);
	ASSERT_EQ(0, kgo_run(nopreempt_main, NULL, &status));
	ASSERT_EQ(0, status);
	kgo_preempt_stats(&taken, &deferred);
	EXPECT_EQ(0, taken + deferred);
}

TEST_HARNESS_MAIN
