// SPDX-License-Identifier: GPL-2.0
/*
 * Sleep and timers through kgo: a sleeping goroutine holds no M, sleeps
 * at least as long as asked, many sleepers wake in deadline order, a
 * timer's channel gives select a timeout, stop says whether it fired, a
 * reset racing the timer's fire loses no value and leaves no stale one,
 * a ticker's ticks stay on their grid however slow the reader, and a
 * pending timer is not mistaken for a deadlock.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

#define MS 1000000LL

/*
 * One P: while main sleeps, another goroutine runs on the only M. It runs
 * during every sleep of main's; main sleeps 50 ms at a time until the
 * other has run SLEEP_COUNTS times during its sleeps in all (one sleep on
 * the stock kernel), or for SLEEPS_MAX sleeps. A count within one fixed
 * sleep would be a rate, which a slow or busy guest can miss.
 */
#define SLEEP_COUNTS	100
#define SLEEPS_MAX	200
static uint32_t stop_counting;
static long counted, counted_asleep;
static int64_t slept_min = INT64_MAX;
static int sleeps, idle_sleeps;

static void counter(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_counting, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&counted, 1, __ATOMIC_RELAXED);
		kgo_yield();
	}
}

static int sleep_main(void *arg)
{
	int64_t t0, slept;
	long before, during;
	int r;

	(void)arg;
	kgo_go(counter, NULL);
	for (sleeps = 0; sleeps < SLEEPS_MAX &&
	     counted_asleep < SLEEP_COUNTS; sleeps++) {
		before = __atomic_load_n(&counted, __ATOMIC_RELAXED);
		t0 = now_ns();
		r = kgo_sleep(50 * MS);
		GCHECK_RET(!r, 1, "kgo_sleep(50 ms), sleep %d, returned %d, want 0",
			   sleeps + 1, r);
		slept = now_ns() - t0;
		during = __atomic_load_n(&counted, __ATOMIC_RELAXED) - before;
		slept_min = slept < slept_min ? slept : slept_min;
		idle_sleeps += !during;
		counted_asleep += during;
	}
	__atomic_store_n(&stop_counting, 1, __ATOMIC_RELEASE);
	return 0;
}

TEST(sleep_parks_the_goroutine_not_the_m)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(sleep_main, NULL, "1"));
	TH_LOG("%d sleeps, the shortest %lld us; the other goroutine ran %ld times meanwhile",
	       sleeps, (long long)slept_min / 1000, counted_asleep);
	EXPECT_GE(slept_min, 50 * MS);
	EXPECT_EQ(0, idle_sleeps)
		TH_LOG("%d of %d sleeps held the M: nothing else ran",
		       idle_sleeps, sleeps);
	EXPECT_GE(counted_asleep, SLEEP_COUNTS);
}

/*
 * 500 sleepers on one P, asleep at once with shuffled deadlines: all wake,
 * none early, and the M is free meanwhile (main waits parked).
 */
#define SLEEPERS 500
static int nwoken, early;
static struct kgo_waitgroup wg;

static void sleeper(void *arg)
{
	int64_t want = (2 + (int)(intptr_t)arg / 10) * MS, t0 = now_ns();

	kgo_sleep(want);
	if (now_ns() - t0 < want)
		__atomic_add_fetch(&early, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&nwoken, 1, __ATOMIC_RELAXED);
	kgo_waitgroup_done(&wg);
}

static int sleepers_main(void *arg)
{
	int i;

	(void)arg;
	kgo_waitgroup_add(&wg, SLEEPERS);
	for (i = 0; i < SLEEPERS; i++)
		kgo_go(sleeper, (void *)(intptr_t)((i * 7919) % SLEEPERS));
	kgo_waitgroup_wait(&wg);
	return 0;
}

TEST(many_sleepers_none_early)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(sleepers_main, NULL, "1"));
	EXPECT_EQ(SLEEPERS, nwoken);
	EXPECT_EQ(0, early);
}

/*
 * Timers fire in deadline order (the timer thread's heap), never early:
 * 500 timers set in a shuffled order for 200 ms + i * 100 us from one
 * start; each channel holds its fire time. A timer's deadline is only
 * known to lie between the clock before and after kgo_timer_start(), so
 * the order is checked where those windows do not overlap.
 *
 * Setting 500 up takes 50 ms on KASAN, longer on a busy machine, and a
 * call that takes over 100 us overlaps its neighbours' windows. A try
 * whose setup outran the first deadline, or that left most neighbours
 * unordered, is drained and redone with twice the head start and twice
 * the spacing, up to TIMERS_TRIES times.
 */
#define NTIMERS 500
#define TIMERS_START (200 * MS)
#define TIMERS_GAP (MS / 10)
#define TIMERS_TRIES 5
static int64_t fire_at[NTIMERS], lo[NTIMERS], hi[NTIMERS];
static int64_t timers_start, timers_gap;
static int timers_tries, timers_late, early_fires, backwards, checked;

static int timers_main(void *arg)
{
	static struct kgo_timer *t[NTIMERS];
	int64_t base, ns;
	int i, j, r;

	(void)arg;
	timers_start = TIMERS_START;
	timers_gap = TIMERS_GAP;
	for (timers_tries = 1; ; timers_tries++) {
		base = now_ns();
		for (i = 0; i < NTIMERS; i++) {
			j = (i * 7919) % NTIMERS;
			lo[j] = now_ns();
			ns = base + timers_start + j * timers_gap - lo[j];
			t[j] = kgo_timer_start(ns);
			hi[j] = now_ns() + ns;
			lo[j] += ns;
			GCHECK_RET(t[j], 1,
				   "try %d: kgo_timer_start of timer %d failed (errno %d)",
				   timers_tries, j, errno);
		}
		/* All set before the first is due, or deadlines were clamped. */
		timers_late = now_ns() >= base + timers_start;
		for (j = 0; j < NTIMERS; j++) {
			r = kgo_chan_recv(kgo_timer_chan(t[j]), &fire_at[j]);
			GCHECK_RET(r == 1, 2,
				   "try %d: recv from timer %d's channel returned %d, want 1",
				   timers_tries, j, r);
			r = kgo_timer_free(t[j]);
			GCHECK_RET(!r, 3,
				   "try %d: kgo_timer_free of fired timer %d returned %d, want 0",
				   timers_tries, j, r);
		}
		/*
		 * Early is wrong in any try; order only where no deadline
		 * was clamped (those fire as they were set).
		 */
		checked = 0;
		for (j = 0; j < NTIMERS; j++) {
			early_fires += fire_at[j] < lo[j];
			if (j && hi[j - 1] < lo[j]) {
				checked++;
				backwards += !timers_late &&
					     fire_at[j] < fire_at[j - 1];
			}
		}
		if ((!timers_late && checked > NTIMERS / 2) ||
		    timers_tries == TIMERS_TRIES)
			return 0;
		timers_start *= 2;
		timers_gap *= 2;
	}
}

TEST(timers_fire_in_deadline_order)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(timers_main, NULL, "2"));
	TH_LOG("try %d: %lld ms ahead, %lld us apart: %d of %d neighbours ordered; the last fired %lld us late",
	       timers_tries, (long long)timers_start / MS,
	       (long long)timers_gap / 1000, checked, NTIMERS - 1,
	       (long long)(fire_at[NTIMERS - 1] - hi[NTIMERS - 1]) / 1000);
	EXPECT_EQ(0, early_fires);
	EXPECT_EQ(0, backwards);
	EXPECT_EQ(0, timers_late)
		TH_LOG("setting %d timers up outran %lld ms", NTIMERS,
		       (long long)timers_start / MS);
	EXPECT_GT(checked, NTIMERS / 2);
}

/* select with a timeout, both ways, and stop's answer. */
static struct kgo_chan *late;
static int64_t timeout_took, value_took;

static void late_sender(void *arg)
{
	(void)arg;
	kgo_sleep(10 * MS);
	kgo_chan_send(late, &(int){ 5 });
}

static int timeout_main(void *arg)
{
	struct kgo_chan *never = kgo_chan_make(sizeof(int), 0);
	struct kgo_timer *t;
	int64_t t0, fired = 0;
	int v = 0, r;

	(void)arg;
	/*
	 * Nothing comes: the timer's case wins after 30 ms. t0 is taken
	 * before the timer starts: a debug kernel under TCG can stall the
	 * vCPU for longer than 30 ms between any two lines.
	 */
	t0 = now_ns();
	t = kgo_timer_start(30 * MS);
	struct kgo_select_case cs[2] = {
		{ .c = never, .op = KGO_RECV, .elem = &v },
		{ .c = kgo_timer_chan(t), .op = KGO_RECV, .elem = &fired },
	};
	r = kgo_select(cs, 2, 0);
	GCHECK_RET(r == 1, 1,
		   "select on a silent channel and a 30 ms timer returned %d, want 1 (the timer)",
		   r);
	GCHECK_RET(fired >= t0 + 30 * MS, 1,
		   "the 30 ms timer fired %lld us after the start, want >= 30000",
		   (long long)(fired - t0) / 1000);
	timeout_took = now_ns() - t0;
	r = kgo_timer_stop(t);
	GCHECK_RET(r == 0, 2, "kgo_timer_stop of a fired timer returned %d, want 0",
		   r);
	r = kgo_timer_free(t);
	GCHECK_RET(!r, 2, "kgo_timer_free of a fired timer returned %d, want 0", r);

	/*
	 * A value at 10 ms beats a 10 s timeout, which stop then cancels.
	 * The margin is wide so a stalled VM cannot turn the race around.
	 */
	late = kgo_chan_make(sizeof(int), 0);
	kgo_go(late_sender, NULL);
	t = kgo_timer_start(10000 * MS);
	cs[0].c = late;
	cs[1].c = kgo_timer_chan(t);
	t0 = now_ns();
	r = kgo_select(cs, 2, 0);
	GCHECK_RET(r == 0 && v == 5, 3,
		   "select on a value due at 10 ms and a 10 s timer returned %d with value %d, want 0 with 5",
		   r, v);
	value_took = now_ns() - t0;
	r = kgo_timer_stop(t);
	GCHECK_RET(r == 1, 4,
		   "kgo_timer_stop of a pending 10 s timer returned %d, want 1", r);
	r = kgo_timer_free(t);
	GCHECK_RET(!r, 4, "kgo_timer_free of a stopped timer returned %d, want 0",
		   r);
	return 0;
}

TEST(select_with_timeout)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(timeout_main, NULL, "1"));
	EXPECT_GE(timeout_took, 30 * MS);
	EXPECT_LT(value_took, 10000 * MS);
	TH_LOG("timeout after %lld us, value after %lld us",
	       (long long)timeout_took / 1000, (long long)value_took / 1000);
}

/* Everything waits, but a timer is pending: not a deadlock. */
static int pending_main(void *arg)
{
	struct kgo_timer *t = kgo_timer_start(20 * MS);
	int64_t when;
	int r;

	(void)arg;
	r = kgo_chan_recv(kgo_timer_chan(t), &when);
	GCHECK_RET(r == 1, 1,
		   "recv from a 20 ms timer's channel returned %d, want 1", r);
	r = kgo_timer_free(t);
	GCHECK_RET(!r, r, "kgo_timer_free of a fired timer returned %d, want 0", r);
	return 0;
}

TEST(pending_timer_is_not_a_deadlock)
{
	REQUIRE_GMP();
	EXPECT_EQ(0, run_with_procs(pending_main, NULL, "2"));
}

/*
 * Sleeps so short the timer fires before the sleeper's park has even
 * finished on its old M: the waking must not touch the sleeper's stack
 * (here stacks of their own, unmapped when each goroutine ends).
 */
#define SHORT_SLEEPERS 40
#define SHORT_SLEEPS 200
static int short_done;

static void short_sleeper(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < SHORT_SLEEPS; i++)
		kgo_sleep(i % 3 ? 1 : 1000);
	__atomic_add_fetch(&short_done, 1, __ATOMIC_RELAXED);
	kgo_waitgroup_done(&wg);
}

static int short_main(void *arg)
{
	struct kgo_attr a = { .size = sizeof(a), .stack_size = 128 * 1024 };
	int i, r;

	(void)arg;
	kgo_waitgroup_add(&wg, SHORT_SLEEPERS);
	for (i = 0; i < SHORT_SLEEPERS; i++) {
		r = kgo_go_attr(short_sleeper, NULL, &a);
		GCHECK_RET(!r, 1,
			   "kgo_go_attr of sleeper %d (128 KiB stack) returned %d, want 0",
			   i, r);
	}
	kgo_waitgroup_wait(&wg);
	return 0;
}

TEST(short_sleeps_race_the_park)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(short_main, NULL, "2"));
	EXPECT_EQ(SHORT_SLEEPERS, short_done);
}

TEST(sleep_from_a_plain_thread)
{
	int64_t t0 = now_ns();

	EXPECT_EQ(0, kgo_sleep(5 * MS));
	EXPECT_GE(now_ns() - t0, 5 * MS);
}

/*
 * A ticker of 2 ms read 1000 times, the reader now and then 7 ms slow:
 * every tick is due on the grid first + k * period (no drift, whatever
 * was missed), in order, never received before it was due; ticks the
 * slow reader missed are dropped, not queued. After stop nothing comes;
 * after reset the ticks are on the new period's grid.
 */
#define TICKS 1000
#define PERIOD (2 * MS)
static int64_t tick_first, tick_last;
static int tick_off_grid, tick_backwards, tick_early, tick_gaps;

static int ticker_main(void *arg)
{
	struct kgo_ticker *tk = kgo_ticker_start(PERIOD);
	int64_t v, prev = 0, base;
	int i, r;

	(void)arg;
	GCHECK_RET(tk, 1, "kgo_ticker_start(2 ms) failed (errno %d)", errno);
	for (i = 0; i < TICKS; i++) {
		r = kgo_chan_recv(kgo_ticker_chan(tk), &v);
		GCHECK_RET(r == 1, 2, "tick %d: recv returned %d", i, r);
		if (!i)
			tick_first = v;
		tick_off_grid += (v - tick_first) % PERIOD != 0;
		tick_backwards += i && v <= prev;
		tick_early += v > kgo_now();
		tick_gaps += i && v - prev > PERIOD;
		prev = v;
		if (i % 100 == 50)
			kgo_sleep(7 * MS);
	}
	tick_last = v;
	r = kgo_ticker_stop(tk);
	GCHECK_RET(!r, 3, "kgo_ticker_stop returned %d", r);
	kgo_sleep(3 * PERIOD);
	r = kgo_chan_tryrecv(kgo_ticker_chan(tk), &v);
	GCHECK_RET(r == -EAGAIN, 3,
		   "a stopped ticker's channel: tryrecv returned %d, want -EAGAIN",
		   r);

	r = kgo_ticker_reset(tk, 3 * PERIOD);
	GCHECK_RET(!r, 4, "kgo_ticker_reset returned %d", r);
	for (i = 0; i < 20; i++) {
		r = kgo_chan_recv(kgo_ticker_chan(tk), &v);
		GCHECK_RET(r == 1, 4, "tick %d after reset: recv returned %d", i, r);
		if (!i)
			base = v;
		GCHECK_RET((v - base) % (3 * PERIOD) == 0, 4,
			   "tick %d after reset is %lld ns off its 6 ms grid", i,
			   (long long)((v - base) % (3 * PERIOD)));
	}
	GCHECK_RET(kgo_ticker_reset(tk, 0) == -EINVAL, 5,
		   "reset to a period of 0 was not refused");
	GCHECK_RET(!kgo_ticker_start(0) && errno == EINVAL, 5,
		   "a ticker of period 0 was not refused");
	r = kgo_ticker_free(tk);
	GCHECK_RET(!r, 5, "kgo_ticker_free returned %d", r);
	return 0;
}

TEST(ticker_stays_on_its_grid)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(ticker_main, NULL, "2"));
	TH_LOG("%d ticks over %lld ms; %d gaps where the reader was slow",
	       TICKS, (long long)(tick_last - tick_first) / MS, tick_gaps);
	EXPECT_EQ(0, tick_off_grid);
	EXPECT_EQ(0, tick_backwards);
	EXPECT_EQ(0, tick_early);
	EXPECT_GE(tick_gaps, 1);
}

/*
 * Reset racing the fire: a timer reset 2,000 times for 0 to 49 us, on two
 * P's while another goroutine resets a second timer the same way. After
 * each reset exactly one value comes, due after the reset began (never a
 * stale one from before it), and nothing after it. A lost value would
 * wait for the 10 s guard.
 */
#define RESETS 2000
static int reset_lost[2], reset_stale[2], reset_extra[2];

static int reset_loop(int who)
{
	struct kgo_timer *t = kgo_timer_start(0), *guard;
	int64_t t0, v;
	int i, r;

	if (!t)
		return 1;
	guard = kgo_timer_start(10000 * MS);
	struct kgo_select_case cs[2] = {
		{ .c = kgo_timer_chan(t), .op = KGO_RECV, .elem = &v },
		{ .c = kgo_timer_chan(guard), .op = KGO_RECV, .elem = NULL },
	};
	for (i = 0; i < RESETS; i++) {
		t0 = kgo_now();
		r = kgo_timer_reset(t, (i * 7919 % 50) * 1000);
		if (r < 0)
			return 2;
		r = kgo_select(cs, 2, 0);
		if (r != 0) {
			reset_lost[who]++;
			break;
		}
		reset_stale[who] += v < t0;
		reset_extra[who] += kgo_chan_tryrecv(kgo_timer_chan(t), NULL) != -EAGAIN;
	}
	kgo_timer_free(guard);
	return kgo_timer_free(t) ? 3 : 0;
}

static uint32_t other_done;

static void other_resetter(void *arg)
{
	(void)arg;
	__atomic_store_n(&other_done, reset_loop(1) + 1, __ATOMIC_RELEASE);
	kgo_ready(&other_done, 1);
}

static int reset_main(void *arg)
{
	int r;

	(void)arg;
	kgo_go(other_resetter, NULL);
	r = reset_loop(0);
	GCHECK_RET(!r, r, "reset loop 0 failed at step %d", r);
	wait_change(&other_done, 0);
	r = (int)other_done - 1;
	GCHECK_RET(!r, r, "reset loop 1 failed at step %d", r);
	GCHECK_RET(kgo_timer_chan(NULL) == NULL, 4,
		   "kgo_timer_chan(NULL) is not the nil channel");
	GCHECK_RET(kgo_timer_reset(NULL, 0) == -EINVAL, 4,
		   "kgo_timer_reset(NULL) was not refused");
	return 0;
}

TEST(timer_reset_races_the_fire)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(reset_main, NULL, "2"));
	EXPECT_EQ(0, reset_lost[0] + reset_lost[1]);
	EXPECT_EQ(0, reset_stale[0] + reset_stale[1]);
	EXPECT_EQ(0, reset_extra[0] + reset_extra[1]);
}

TEST_HARNESS_MAIN
