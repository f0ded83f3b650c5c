// SPDX-License-Identifier: GPL-2.0
/*
 * Parking and readying goroutines (kgo_park/kgo_ready, Go's gopark and
 * goready): a parked goroutine frees its M for others, wakeups are never
 * lost, a plain thread can ready a goroutine, counts are exact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

/*
 * Ping-pong: two goroutines hand a token back and forth through two
 * words, each parking until the other moves. With one P the parked one
 * must free the only M or nothing moves at all.
 */
#define ROUNDS 500
static uint32_t ping, pong;

static void ponger(void *arg)
{
	uint32_t i;

	(void)arg;
	for (i = 1; i <= ROUNDS; i++) {
		wait_change(&ping, i - 1);
		set_and_ready(&pong, i);
	}
}

static int pingpong_main(void *arg)
{
	uint32_t i;

	(void)arg;
	kgo_go(ponger, NULL);
	for (i = 1; i <= ROUNDS; i++) {
		set_and_ready(&ping, i);
		wait_change(&pong, i - 1);
	}
	return (int)__atomic_load_n(&pong, __ATOMIC_ACQUIRE);
}

TEST(pingpong_one_p)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(pingpong_main, NULL, &status));
	EXPECT_EQ(ROUNDS, status);
}

TEST(pingpong_two_p)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "2", 1);
	ASSERT_EQ(0, kgo_run(pingpong_main, NULL, &status));
	EXPECT_EQ(ROUNDS, status);
}

/* The value moved on before the park: -EAGAIN, no sleep. */
static uint32_t word;

static int eagain_main(void *arg)
{
	int r;

	(void)arg;
	word = 5;
	r = kgo_park(&word, 4);
	GCHECK_RET(r == -EAGAIN, 1,
		   "kgo_park on a word holding 5, expecting 4, returned %d, want -EAGAIN",
		   r);
	r = kgo_park((uint32_t *)((char *)&word + 1), 5);
	GCHECK_RET(r == -EINVAL, 2,
		   "kgo_park on a misaligned word returned %d, want -EINVAL", r);
	r = kgo_ready(&word, 10);	/* nobody parked */
	GCHECK_RET(r == 0, 3,
		   "kgo_ready of 10 with nobody parked returned %d, want 0", r);
	return 0;
}

TEST(park_value_changed)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(eagain_main, NULL, &status));
	EXPECT_EQ(0, gcheck_report(status));
}

/*
 * The same with another goroutine queued behind the caller: kgo_park
 * switches straight to it when it parks (kgo_parkswitch), so a park that
 * declines has taken it off the queue already and must put it back. Each
 * round, the queued goroutine must not have run when -EAGAIN comes back
 * (nothing was parked; on one P nobody else runs), must run exactly once
 * afterwards, and must not be lost (the caller then parks for good: the
 * deadlock report).
 */
#define ABORT_ROUNDS 2000
static uint32_t abort_word, abort_done, abort_runs;

static void abort_queued(void *arg)
{
	uint32_t done = __atomic_load_n(&abort_done, __ATOMIC_RELAXED);

	(void)arg;
	__atomic_add_fetch(&abort_runs, 1, __ATOMIC_RELAXED);
	set_and_ready(&abort_done, done + 1);
}

/* Preemptions and hand-offs of this process so far (kgo_stats). */
static uint64_t switched_away(void)
{
	struct kgo_stats st = { .size = sizeof(st) };

	kgo_stats(&st);
	return st.npreempted + st.npreemptdeferred + st.nkpreempt +
	       st.nhandoff;
}

static int abort_main(void *arg)
{
	uint64_t moved;
	uint32_t i;
	int r;

	(void)arg;
	for (i = 0; i < ABORT_ROUNDS; i++) {
		moved = switched_away();
		GCHECK_RET(kgo_go(abort_queued, NULL) == 0, 1,
			   "round %u: kgo_go failed", i);
		abort_word = 5;
		r = kgo_park(&abort_word, 4);
		GCHECK_RET(r == -EAGAIN, 2,
			   "round %u: kgo_park on a changed word returned %d, want -EAGAIN",
			   i, r);
		/*
		 * Unless the kernel switched this goroutine away meanwhile (a
		 * preemption, or its M's P handed off while it blocked, on a
		 * slow debug kernel), the queued one has not run yet.
		 */
		GCHECK_RET(__atomic_load_n(&abort_runs, __ATOMIC_RELAXED) == i ||
			   switched_away() != moved, 3,
			   "round %u: the queued goroutine ran %u times before the declined park returned, want %u",
			   i, abort_runs, i);
		wait_change(&abort_done, i);
		GCHECK_RET(__atomic_load_n(&abort_runs, __ATOMIC_RELAXED) == i + 1, 4,
			   "round %u: the queued goroutine ran %u times, want %u",
			   i, abort_runs, i + 1);
	}
	return 0;
}

TEST(park_value_changed_with_a_goroutine_queued)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(abort_main, NULL, &status));
	EXPECT_EQ(0, gcheck_report(status));
}

/* A thread that is not a goroutine readies the main goroutine. */
static uint32_t from_thread;

static void *readier(void *arg)
{
	(void)arg;
	usleep(20000);
	__atomic_store_n(&from_thread, 1, __ATOMIC_RELEASE);
	return (void *)(intptr_t)kgo_ready(&from_thread, 1);
}

static int thread_main(void *arg)
{
	pthread_t t;
	void *readied;
	int r;

	(void)arg;
	r = pthread_create(&t, NULL, readier, NULL);
	GCHECK_RET(!r, -1, "pthread_create returned %d, want 0", r);
	wait_change(&from_thread, 0);
	pthread_join(t, &readied);
	return (int)(intptr_t)readied;
}

TEST(ready_from_plain_thread)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(thread_main, NULL, &status));
	/* 1 if main was parked when the thread readied it, 0 if not yet. */
	EXPECT_GE(gcheck_report(status), 0);
	EXPECT_LE(status, 1);
	EXPECT_EQ(1, from_thread);
}

/* kgo_ready(n) readies exactly n of the goroutines parked on a word. */
#define NPARK 10
static uint32_t gate, parked_in, woken;

static void parker(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&parked_in, 1, __ATOMIC_RELEASE);
	wait_change(&gate, 0);
	__atomic_add_fetch(&woken, 1, __ATOMIC_RELEASE);
}

static int count_main(void *arg)
{
	int i, first, rest = 0;

	(void)arg;
	for (i = 0; i < NPARK; i++)
		kgo_go(parker, NULL);
	/* Let them all reach the park: they cannot leave it on their own. */
	while (__atomic_load_n(&parked_in, __ATOMIC_ACQUIRE) < NPARK)
		kgo_yield();
	for (i = 0; i < 50; i++)
		kgo_yield();
	__atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
	first = kgo_ready(&gate, 3);
	while (rest + first < NPARK) {
		int r = kgo_ready(&gate, NPARK);

		GCHECK_RET(r >= 0, 100,
			   "kgo_ready of %d with %d readied so far returned %d, want >= 0",
			   NPARK, rest + first, r);
		rest += r;
		kgo_yield();
	}
	while (__atomic_load_n(&woken, __ATOMIC_ACQUIRE) < NPARK)
		kgo_yield();
	return first;
}

TEST(ready_counts)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(count_main, NULL, &status));
	EXPECT_EQ(3, gcheck_report(status));
	EXPECT_EQ(NPARK, woken);
}

TEST_HARNESS_MAIN
