// SPDX-License-Identifier: GPL-2.0
/*
 * Goroutines through the kgo library: the first goroutine, exit statuses,
 * each spawned goroutine running exactly once, yields, the environment and
 * misuse. The harness runs every test in a fresh child process, so each
 * has its own instance (kgo_run is once per process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

static int ret42(void *arg)
{
	(void)arg;
	return 42;
}

TEST(main_status)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(ret42, NULL, &status));
	EXPECT_EQ(42, status);
}

static int exits(void *arg)
{
	(void)arg;
	kgo_exit();
}

TEST(main_goexit)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(exits, NULL, &status));
	EXPECT_EQ(0, status);
}

/* The first goroutine: spawned by main, it runs and main sees it. */
static volatile int first_ran;
static uint64_t first_id, main_id;

static void first(void *arg)
{
	first_id = kgo_id();
	__atomic_store_n(&first_ran, (int)(intptr_t)arg, __ATOMIC_RELEASE);
}

static int spawn_first(void *arg)
{
	int r;

	(void)arg;
	main_id = kgo_id();
	r = kgo_go(first, (void *)7);
	GCHECK_RET(!r, 1, "kgo_go(first) returned %d, want 0", r);
	while (!__atomic_load_n(&first_ran, __ATOMIC_ACQUIRE))
		kgo_yield();
	return 0;
}

TEST(first_goroutine)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(spawn_first, NULL, &status));
	EXPECT_EQ(0, gcheck_report(status));
	EXPECT_EQ(7, first_ran);
	EXPECT_EQ(1, main_id);
	EXPECT_EQ(2, first_id);
}

/* N goroutines: each runs exactly once and has its own id. */
#define NGO 2000
static int runs[NGO];
static uint64_t ids[NGO];
static int finished;

static void count_run(void *arg)
{
	intptr_t i = (intptr_t)arg;

	__atomic_add_fetch(&runs[i], 1, __ATOMIC_RELAXED);
	ids[i] = kgo_id();
	__atomic_add_fetch(&finished, 1, __ATOMIC_RELEASE);
}

static int spawn_many(void *arg)
{
	intptr_t i;
	int r;

	(void)arg;
	for (i = 0; i < NGO; i++) {
		r = kgo_go(count_run, (void *)i);
		GCHECK_RET(!r, 1, "kgo_go of goroutine %ld of %d returned %d, want 0",
			   (long)i, NGO, r);
	}
	while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < NGO)
		kgo_yield();
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_many(struct __test_metadata *_metadata)
{
	int i, wrong = -1;

	for (i = 0; i < NGO && wrong < 0; i++)
		if (runs[i] != 1)
			wrong = i;
	ASSERT_EQ(-1, wrong) TH_LOG("goroutine %d ran %d times", wrong, runs[wrong]);
	qsort(ids, NGO, sizeof(ids[0]), cmp_u64);
	for (i = 0; i < NGO && wrong < 0; i++)
		if (ids[i] != (uint64_t)i + 2)
			wrong = i;
	ASSERT_EQ(-1, wrong) TH_LOG("ids are not 2..%d", NGO + 1);
}

TEST(many_each_once)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(spawn_many, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	check_many(_metadata);
}

TEST(many_each_once_one_p)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(spawn_many, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	check_many(_metadata);
}

/* Goroutines that only yield all make progress. */
#define NYIELDERS 8
#define NYIELDS 200
static int progress[NYIELDERS];
static int yielders_done;

static void yielder(void *arg)
{
	intptr_t me = (intptr_t)arg;
	int i;

	for (i = 0; i < NYIELDS; i++) {
		__atomic_add_fetch(&progress[me], 1, __ATOMIC_RELAXED);
		kgo_yield();
	}
	__atomic_add_fetch(&yielders_done, 1, __ATOMIC_RELEASE);
}

static int spawn_yielders(void *arg)
{
	intptr_t i;

	(void)arg;
	for (i = 0; i < NYIELDERS; i++)
		kgo_go(yielder, (void *)i);
	while (__atomic_load_n(&yielders_done, __ATOMIC_ACQUIRE) < NYIELDERS)
		kgo_yield();
	return 0;
}

TEST(yielders_progress)
{
	int status = -1, i;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(spawn_yielders, NULL, &status));
	for (i = 0; i < NYIELDERS; i++)
		EXPECT_EQ(NYIELDS, progress[i]);
}

/*
 * Free G's are reused through the P's own list (Go's gfget/gfput): a
 * spawner on one P takes the G's its exited goroutines gave back, takes
 * the global lock once per batch of 32 and not once per spawn, and a P
 * never keeps more than 63 free G's.
 */
#define GF_ROUNDS 50
#define GF_LIVE 30
#define GF_BURST 300
static int gf_done;
static uint32_t gf_gate;
static struct kgo_stats gf_steady, gf_burst;

static void gf_exit(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&gf_done, 1, __ATOMIC_RELEASE);
}

/* Parks until the whole burst is out, so all of it is live at once. */
static void gf_gated_exit(void *arg)
{
	while (!__atomic_load_n(&gf_gate, __ATOMIC_ACQUIRE))
		kgo_park(&gf_gate, 0);
	gf_exit(arg);
}

static void wait_count(const int *count, int target)
{
	while (__atomic_load_n(count, __ATOMIC_ACQUIRE) < target)
		kgo_yield();
}

static int gf_wave(int n, void (*fn)(void *arg))
{
	int target = __atomic_load_n(&gf_done, __ATOMIC_ACQUIRE) + n, i, r;

	for (i = 0; i < n; i++) {
		r = kgo_go(fn, NULL);
		GCHECK_RET(!r, -1, "kgo_go %d of a wave of %d returned %d, want 0",
			   i + 1, n, r);
	}
	if (fn == gf_gated_exit) {
		__atomic_store_n(&gf_gate, 1, __ATOMIC_RELEASE);
		kgo_ready(&gf_gate, n);
	}
	wait_count(&gf_done, target);
	return 0;
}

static int gf_main(void *arg)
{
	int r, ret;

	(void)arg;
	for (r = 0; r < GF_ROUNDS; r++)
		if (gf_wave(GF_LIVE, gf_exit))
			return 1;	/* gf_wave said why */
	gf_steady.size = sizeof(gf_steady);
	ret = kgo_stats(&gf_steady);
	GCHECK_RET(!ret, 2, "kgo_stats (steady) returned %d, want 0", ret);
	if (gf_wave(GF_BURST, gf_gated_exit))
		return 3;	/* gf_wave said why */
	/* One preempted right after counting itself has exited by now. */
	for (r = 0; r < 4; r++)
		kgo_yield();
	gf_burst.size = sizeof(gf_burst);
	ret = kgo_stats(&gf_burst);
	GCHECK_RET(!ret, 4, "kgo_stats (burst) returned %d, want 0", ret);
	return 0;
}

TEST(free_gs_reused_per_p)
{
	struct kgo_stats old = { .size = KGO_STATS_SIZE_VER0 - 8 };
	int status = -1;

	REQUIRE_GMP();
	SKIP_UNDER_TSAN("no per-P free list of stacks");
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(gf_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	ASSERT_EQ(-EINVAL, kgo_stats(&old));

	/* Every spawn took a G from the P's list, refilled once: one chunk. */
	EXPECT_EQ(GF_ROUNDS * GF_LIVE, gf_steady.ngfget);
	EXPECT_LE(gf_steady.ngcreated, 64);
	EXPECT_EQ(1, gf_steady.ngfrefill);
	EXPECT_EQ(0, gf_steady.ngfspill);

	/* 300 exits spill in batches and leave at most 63 on the P. */
	EXPECT_EQ(GF_ROUNDS * GF_LIVE + GF_BURST, gf_burst.ngfget);
	EXPECT_GE(gf_burst.ngfspill, (GF_BURST - 64) / 32);
	EXPECT_LE(gf_burst.ngfrefill, 3 + GF_BURST / 32 + 1);
	EXPECT_LE(gf_burst.ngcreated - gf_burst.ngfreeglobal - 1, 63)
		TH_LOG("created %llu, free globally %llu",
		       (unsigned long long)gf_burst.ngcreated,
		       (unsigned long long)gf_burst.ngfreeglobal);
}

/*
 * Spawn back-pressure: a spawner far ahead of its goroutines yields when
 * its P's free list runs dry, so the ones that end give their stacks back
 * instead of each new goroutine faulting in a fresh one. Where waiting
 * gives nothing back (the goroutines park), the spawner waits less and
 * less often. Both on one P, where no other M runs the queue.
 */
#define SR_SPAWNS 20000
#define SW_PARKED 4000
static int sr_done;
static uint32_t sw_gate;
static struct kgo_stats sr_stats;

static void sr_exit(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&sr_done, 1, __ATOMIC_RELEASE);
}

static void sw_parked(void *arg)
{
	while (!__atomic_load_n(&sw_gate, __ATOMIC_ACQUIRE))
		kgo_park(&sw_gate, 0);
	sr_exit(arg);
}

static int sr_main(void *arg)
{
	void (*fn)(void *arg) = arg;
	int n = fn == sr_exit ? SR_SPAWNS : SW_PARKED, i, r;

	for (i = 0; i < n; i++) {
		r = kgo_go(fn, NULL);
		GCHECK_RET(!r, 1, "kgo_go %d of %d returned %d, want 0", i + 1, n,
			   r);
	}
	sr_stats.size = sizeof(sr_stats);
	r = kgo_stats(&sr_stats);
	GCHECK_RET(!r, 2, "kgo_stats returned %d, want 0", r);
	__atomic_store_n(&sw_gate, 1, __ATOMIC_RELEASE);
	while (kgo_ready(&sw_gate, n))
		;
	wait_count(&sr_done, n);
	return 0;
}

TEST(spawn_recycles_stacks)
{
	int status = -1;

	REQUIRE_GMP();
	SKIP_UNDER_TSAN("stacks are unmapped, not recycled");
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(sr_main, sr_exit, &status));
	ASSERT_EQ(0, gcheck_report(status));
	EXPECT_EQ(SR_SPAWNS, sr_done);
	/* Without the waits: one fresh stack for nearly every spawn. */
	EXPECT_LE(sr_stats.ngcreated, 4 * 64);
	EXPECT_GE(sr_stats.nspawnwait, SR_SPAWNS / 256);
	TH_LOG("%d spawns: %llu G's made, %llu spawner waits", SR_SPAWNS,
	       (unsigned long long)sr_stats.ngcreated,
	       (unsigned long long)sr_stats.nspawnwait);
}

TEST(spawnwait_backs_off)
{
	int status = -1;

	REQUIRE_GMP();
	SKIP_UNDER_TSAN("stacks are unmapped, not recycled");
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(sr_main, sw_parked, &status));
	ASSERT_EQ(0, gcheck_report(status));
	EXPECT_EQ(SW_PARKED, sr_done);
	EXPECT_GE(sr_stats.ngcreated, SW_PARKED);
	/*
	 * The free list runs dry 125 times (4000 / 32). A wait at each would
	 * be about 60 (not before 64 are queued); fruitless waits double the
	 * gap instead: about log2(125).
	 */
	EXPECT_GE(sr_stats.nspawnwait, 3);
	EXPECT_LE(sr_stats.nspawnwait, 10);
	TH_LOG("%d parked: %llu spawner waits", SW_PARKED,
	       (unsigned long long)sr_stats.nspawnwait);
}

/*
 * kgo_go_attr: a stack of its own size (here 1 MiB, used 600 KiB deep,
 * which the default 64 KiB could not hold), made and unmapped per
 * goroutine with the G record kept for the next; a goroutine that starts wired; and
 * the extensible struct's checks.
 */
#define BIG_STACK (1024 * 1024)
/*
 * Each round maps 1 MiB, faults 600 KiB in and unmaps it: 200 rounds
 * outlasted the harness's 30 s on the debug kernel under load. 32 show the
 * reuse as well (31 new records without it).
 */
#define ATTR_ROUNDS 32
static int attr_deep_ok, attr_locked_ok, attr_unlocked_einval;
static struct kgo_stats attr_before, attr_after;

static __attribute__((noinline)) long deep(int depth)
{
	volatile char frame[1024];

	frame[0] = (char)depth;
	frame[sizeof(frame) - 1] = (char)depth;
	return depth ? deep(depth - 1) + frame[0] - frame[sizeof(frame) - 1] + 1 : 0;
}

static void deep_goroutine(void *arg)
{
	(void)arg;
	if (deep(600) == 600)
		__atomic_add_fetch(&attr_deep_ok, 1, __ATOMIC_RELAXED);
}

static void locked_goroutine(void *arg)
{
	/* Started wired: exactly one unlock undoes it. */
	if (kgo_unlock_osthread() == 0 && kgo_unlock_osthread() == -EINVAL)
		__atomic_add_fetch(arg ? &attr_locked_ok : &attr_unlocked_einval,
				   1, __ATOMIC_RELAXED);
}

static void plain_goroutine(void *arg)
{
	(void)arg;
	if (kgo_unlock_osthread() == -EINVAL)
		__atomic_add_fetch(&attr_unlocked_einval, 1, __ATOMIC_RELAXED);
}

static int attr_main(void *arg)
{
	struct kgo_attr big = { .size = sizeof(big), .stack_size = BIG_STACK };
	struct kgo_attr locked = { .size = sizeof(locked),
				   .flags = KGO_ATTR_LOCKED };
	struct {
		struct kgo_attr a;
		uint64_t future;
	} newer = { { .size = sizeof(newer) } };
	struct kgo_attr bad;
	int i, r;

	(void)arg;
	/* The first one makes a G; the next ones reuse its record. */
	for (i = 0; i < ATTR_ROUNDS; i++) {
		r = kgo_go_attr(deep_goroutine, NULL, &big);
		GCHECK_RET(!r, 1,
			   "kgo_go_attr with a %d-byte stack, round %d, returned %d, want 0",
			   BIG_STACK, i, r);
		while (__atomic_load_n(&attr_deep_ok, __ATOMIC_RELAXED) <= i)
			kgo_yield();
		if (i == 0) {
			attr_before.size = sizeof(attr_before);
			kgo_stats(&attr_before);
		}
	}
	attr_after.size = sizeof(attr_after);
	kgo_stats(&attr_after);
	r = kgo_go_attr(locked_goroutine, (void *)1, &locked);
	GCHECK_RET(!r, 2, "kgo_go_attr with KGO_ATTR_LOCKED returned %d, want 0",
		   r);
	r = kgo_go_attr(plain_goroutine, NULL, NULL);
	GCHECK_RET(!r, 2, "kgo_go_attr with no attr returned %d, want 0", r);
	bad = big;
	bad.size = KGO_ATTR_SIZE_VER0 - 1;
	r = kgo_go_attr(plain_goroutine, NULL, &bad);
	GCHECK_RET(r == -EINVAL, 3,
		   "kgo_go_attr with size %u (below VER0) returned %d, want -EINVAL",
		   (unsigned int)bad.size, r);
	bad = big;
	bad.flags = 2;
	r = kgo_go_attr(plain_goroutine, NULL, &bad);
	GCHECK_RET(r == -EINVAL, 4,
		   "kgo_go_attr with unknown flag 2 returned %d, want -EINVAL", r);
	bad = big;
	bad.stack_size = KGO_STACK_SIZE_MIN - 1;
	r = kgo_go_attr(plain_goroutine, NULL, &bad);
	GCHECK_RET(r == -EINVAL, 5,
		   "kgo_go_attr with a stack of KGO_STACK_SIZE_MIN - 1 returned %d, want -EINVAL",
		   r);
	newer.future = 1;
	r = kgo_go_attr(plain_goroutine, NULL, &newer.a);
	GCHECK_RET(r == -E2BIG, 6,
		   "kgo_go_attr with a nonzero unknown field returned %d, want -E2BIG",
		   r);
	newer.future = 0;		/* zero: understood as absent */
	r = kgo_go_attr(plain_goroutine, NULL, &newer.a);
	GCHECK_RET(!r, 7,
		   "kgo_go_attr with a larger struct, unknown field zero, returned %d, want 0",
		   r);
	while (__atomic_load_n(&attr_unlocked_einval, __ATOMIC_RELAXED) < 2 ||
	       !__atomic_load_n(&attr_locked_ok, __ATOMIC_RELAXED))
		kgo_yield();
	return 0;
}

TEST_TIMEOUT(go_attr_stack_size_locked_and_checks, 180)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(attr_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	/* Counted with atomics by goroutines: read the same way. */
	EXPECT_EQ(ATTR_ROUNDS, __atomic_load_n(&attr_deep_ok, __ATOMIC_RELAXED));
	EXPECT_EQ(1, __atomic_load_n(&attr_locked_ok, __ATOMIC_RELAXED));
	/*
	 * Records are reused: one more at most, for a goroutine counted
	 * done but still on its way out when the next one was spawned.
	 */
	EXPECT_LE(attr_after.ngcreated - attr_before.ngcreated, 2);
}

static int report_nprocs(void *arg)
{
	(void)arg;
	return kgo_nprocs();
}

TEST(gmpmaxprocs_env)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "3", 1);
	ASSERT_EQ(0, kgo_run(report_nprocs, NULL, &status));
	EXPECT_EQ(3, status);
}

TEST(gmpmaxprocs_bad)
{
	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "lots", 1);
	EXPECT_EQ(-EINVAL, kgo_run(ret42, NULL, NULL));
	setenv("GMPMAXPROCS", "0", 1);
	EXPECT_EQ(-EINVAL, kgo_run(ret42, NULL, NULL));
}

static void nothing(void *arg)
{
	(void)arg;
}

TEST(misuse_outside_run)
{
	EXPECT_EQ(-ENXIO, kgo_go(nothing, NULL));
	EXPECT_EQ(0, kgo_id());
	EXPECT_EQ(0, kgo_nprocs());
}

TEST(run_once_per_process)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(ret42, NULL, &status));
	EXPECT_EQ(-EBUSY, kgo_run(ret42, NULL, &status));
}

TEST_HARNESS_MAIN
