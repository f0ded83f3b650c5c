// SPDX-License-Identifier: GPL-2.0
/*
 * ThreadSanitizer and goroutines (issue 23): built with -fsanitize=thread
 * against kgo's TSan build (userlib/tsan), where every goroutine is a TSan
 * fiber and kgo's channels, locks, parks and spawns are TSan's
 * happens-before edges, as Go's race detector has them. A race seeded
 * between two goroutines is reported, with both goroutines' functions,
 * even when one P runs them one after the other (a switch orders
 * nothing); programs that order their goroutines with kgo's primitives
 * give no report, over stacks that goroutines hand on to each other.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gmp_test_util.h"

#ifndef __SANITIZE_THREAD__
#error "gmp_tsan_test is built with -fsanitize=thread (selftests/Makefile)"
#endif

#define NOINLINE __attribute__((noinline))

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* --- A seeded race --------------------------------------------------------- */

static long shared;

/*
 * Closed once both racers exist. TSan reuses the thread id of a fiber
 * that has ended for the next one, and sees no race between two owners
 * of one id: a racer must not end before the other is made.
 */
static struct kgo_chan *start;

static NOINLINE void racer_a(void *arg)
{
	kgo_chan_recv(start, NULL);
	shared = 1;			/* seeded: no order with racer_b */
	kgo_waitgroup_done(arg);
}

static NOINLINE void racer_b(void *arg)
{
	kgo_chan_recv(start, NULL);
	shared = 2;
	kgo_waitgroup_done(arg);
}

static int race_main(void *arg)
{
	struct kgo_waitgroup wg = KGO_WAITGROUP_INIT;

	(void)arg;
	start = kgo_chan_make(0, 0);
	kgo_waitgroup_add(&wg, 2);
	kgo_go(racer_a, &wg);
	kgo_go(racer_b, &wg);
	kgo_chan_close(start);
	kgo_waitgroup_wait(&wg);
	return shared == 1 || shared == 2 ? 0 : 1;
}

TEST(data_race_between_goroutines_is_reported)
{
	static char err[32 << 10];
	const char *procs[] = { "1", "2" };
	unsigned int i;

	REQUIRE_GMP();
	for (i = 0; i < 2; i++) {
		/* TSan's exit status for a program it reported on */
		EXPECT_EQ(66, run_in_child(race_main, procs[i], err,
					   sizeof(err)))
			TH_LOG("GMPMAXPROCS=%s: %s", procs[i], err);
		EXPECT_TRUE(has(err, "WARNING: ThreadSanitizer: data race"))
			TH_LOG("GMPMAXPROCS=%s: %s", procs[i], err);
		EXPECT_TRUE(has(err, "racer_a") && has(err, "racer_b"))
			TH_LOG("GMPMAXPROCS=%s: %s", procs[i], err);
		/* the fibers carry the goroutines' names, and the spawn */
		EXPECT_TRUE(has(err, "'goroutine ")) TH_LOG("%s", err);
		EXPECT_TRUE(has(err, "race_main")) TH_LOG("%s", err);
	}
}

/*
 * Two goroutines that each spawn and sleep, but order nothing between
 * them: kgo's own locks (its stacks', its timers') must not order them.
 * With one P, the first is done before the second starts.
 */
static long shared2;

static void nothing(void *arg)
{
	(void)arg;
}

static NOINLINE void spawner_a(void *arg)
{
	kgo_chan_recv(start, NULL);
	shared2 = 1;			/* seeded */
	kgo_go(nothing, NULL);
	kgo_sleep(1000);
	kgo_waitgroup_done(arg);
}

static NOINLINE void spawner_b(void *arg)
{
	kgo_chan_recv(start, NULL);
	kgo_sleep(1000);
	kgo_go(nothing, NULL);
	shared2 = 2;
	kgo_waitgroup_done(arg);
}

static int spawners_main(void *arg)
{
	struct kgo_waitgroup wg = KGO_WAITGROUP_INIT;

	(void)arg;
	start = kgo_chan_make(0, 0);
	kgo_waitgroup_add(&wg, 2);
	kgo_go(spawner_a, &wg);
	kgo_go(spawner_b, &wg);
	kgo_chan_close(start);
	kgo_waitgroup_wait(&wg);
	return shared2 == 1 || shared2 == 2 ? 0 : 1;	/* not dead stores */
}

TEST(spawns_and_sleeps_do_not_order_goroutines)
{
	static char err[32 << 10];

	REQUIRE_GMP();
	child_watchdog_secs = 20;	/* it once hung, in a CI run: where? */
	EXPECT_EQ(66, run_in_child(spawners_main, "1", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_TRUE(has(err, "spawner_a") && has(err, "spawner_b"))
		TH_LOG("%s", err);
}

/* --- Orders kgo makes ------------------------------------------------------ */

struct msg {
	long v[8];
};

static struct kgo_chan *ch, *back, *buffered, *closing;
static struct kgo_mutex mu = KGO_MUTEX_INIT;
static struct kgo_rwmutex rw = KGO_RWMUTEX_INIT;
static struct kgo_once once = KGO_ONCE_INIT;
static long counter, table[16], closed_data, *lazy;
static long spawned[64];
static struct kgo_waitgroup *spawn_wg;

/* An unbuffered round trip of a malloc'd message, written on both sides. */
static NOINLINE void echo(void *arg)
{
	struct msg *m;
	int i;

	(void)arg;
	while (kgo_chan_recv(ch, &m) == 1 && m) {
		for (i = 0; i < 8; i++)
			m->v[i] += 1;
		kgo_chan_send(back, &m);
	}
}

/* A buffered channel's consumer, freeing what it was given. */
static NOINLINE void consumer(void *arg)
{
	struct msg *m;
	long sum = 0;

	while (kgo_chan_recv(buffered, &m) == 1 && m) {
		sum += m->v[3];
		free(m);
	}
	*(long *)arg = sum;
	kgo_chan_send(back, &m);
}

static void init_lazy(void *arg)
{
	(void)arg;
	lazy = malloc(sizeof(*lazy));
	*lazy = 99;
}

/* Under a mutex, an RWMutex, and a Once: all in one worker. */
static NOINLINE void worker(void *arg)
{
	struct kgo_waitgroup *wg = arg;
	long seen;
	int i;

	for (i = 0; i < 200; i++) {
		kgo_mutex_lock(&mu);
		counter++;
		kgo_mutex_unlock(&mu);
		if (i % 20 == 0) {
			kgo_rwmutex_lock(&rw);
			table[i % 16]++;
			kgo_rwmutex_unlock(&rw);
		} else {
			kgo_rwmutex_rlock(&rw);
			seen = table[i % 16];
			kgo_rwmutex_runlock(&rw);
			(void)seen;
		}
		if (i % 50 == 0)
			kgo_yield();
	}
	kgo_once_do(&once, init_lazy, NULL);
	if (*lazy != 99)
		abort();
	kgo_waitgroup_done(wg);
}

/* Writes, then closes: the receiver that sees the close reads them. */
static NOINLINE void closer(void *arg)
{
	(void)arg;
	closed_data = 7;
	kgo_chan_close(closing);
}

/* Readied by kgo_ready() after a write: kgo_park() orders it after. */
static uint32_t park_word;
static long park_data, io_data;
static int io_pipe[2];

static NOINLINE void readier(void *arg)
{
	(void)arg;
	park_data = 5;
	while (kgo_ready(&park_word, 1) == 0)	/* until it is parked */
		kgo_yield();
}

/* Writes, then writes to a pipe: the reader of the pipe reads it. */
static NOINLINE void io_writer(void *arg)
{
	char c = 'x';

	(void)arg;
	io_data = 9;
	if (kgo_write(io_pipe[1], &c, 1) != 1)
		abort();
}

/* Stack locals, written and read: the stacks go on to later goroutines. */
static NOINLINE void stack_user(void *arg)
{
	volatile long local[256];
	int i;

	for (i = 0; i < 256; i++)
		local[i] = i;
	spawned[(long)arg % 64] += local[17];	/* written by the spawner too */
	kgo_waitgroup_done(spawn_wg);
}

static int ordered_main(void *arg)
{
	struct kgo_waitgroup wg = KGO_WAITGROUP_INIT;
	struct kgo_select_case cs[2];
	struct msg *m, *got;
	long sum = -1, i;
	int k, r;

	(void)arg;
	ch = kgo_chan_make(sizeof(m), 0);
	back = kgo_chan_make(sizeof(m), 0);
	buffered = kgo_chan_make(sizeof(m), 4);
	closing = kgo_chan_make(sizeof(int), 0);

	kgo_go(echo, NULL);
	for (i = 0; i < 300; i++) {
		m = malloc(sizeof(*m));
		for (k = 0; k < 8; k++)
			m->v[k] = i;
		if (i % 2) {
			kgo_chan_send(ch, &m);
		} else {	/* the same, through select */
			cs[0] = (struct kgo_select_case){ .c = ch, .op = KGO_SEND,
							  .elem = &m };
			r = kgo_select(cs, 1, 0);
			GCHECK_RET(r == 0, 1, "select sent on case %d", r);
		}
		cs[0] = (struct kgo_select_case){ .c = back, .op = KGO_RECV,
						  .elem = &got };
		cs[1] = (struct kgo_select_case){ .c = closing, .op = KGO_RECV };
		r = i % 3 ? kgo_chan_recv(back, &got) - 1 : kgo_select(cs, 2, 0);
		GCHECK_RET(r == 0 && got == m && m->v[5] == i + 1, 2,
			   "round trip %ld: %d", i, r);
		free(m);
	}
	m = NULL;
	kgo_chan_send(ch, &m);

	kgo_go(consumer, &sum);
	for (i = 0; i < 300; i++) {
		m = calloc(1, sizeof(*m));
		m->v[3] = 1;
		kgo_chan_send(buffered, &m);
	}
	m = NULL;
	kgo_chan_send(buffered, &m);
	kgo_chan_recv(back, &m);
	GCHECK_RET(sum == 300, 3, "consumer saw %ld", sum);

	kgo_waitgroup_add(&wg, 8);
	for (i = 0; i < 8; i++)
		kgo_go(worker, &wg);
	kgo_waitgroup_wait(&wg);
	GCHECK_RET(counter == 1600, 4, "counter %ld", counter);

	kgo_go(closer, NULL);
	r = kgo_chan_recv(closing, &k);
	GCHECK_RET(r == 0 && closed_data == 7, 5, "closed: %d", r);

	kgo_go(readier, NULL);
	r = kgo_park(&park_word, 0);	/* the word never changes */
	GCHECK_RET(r == 0 && park_data == 5, 6, "park: %d", r);

	GCHECK_RET(!pipe(io_pipe), 7, "pipe");
	kgo_go(io_writer, NULL);
	GCHECK_RET(kgo_read(io_pipe[0], &k, 1) == 1 && io_data == 9, 7,
		   "pipe read");
	close(io_pipe[0]);
	close(io_pipe[1]);

	/* Spawns order the spawner before the goroutine; stacks recycle. */
	spawn_wg = &wg;
	for (i = 0; i < 300; i++) {
		spawned[i % 64] += 1;
		kgo_waitgroup_add(&wg, 1);
		kgo_go(stack_user, (void *)i);
		kgo_waitgroup_wait(&wg);
	}
	return 0;
}

TEST(kgo_orders_are_happens_before)
{
	static char err[32 << 10];

	REQUIRE_GMP();
	EXPECT_EQ(0, run_in_child(ordered_main, "2", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_FALSE(has(err, "ThreadSanitizer")) TH_LOG("%s", err);
	EXPECT_EQ(0, run_in_child(ordered_main, "1", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_FALSE(has(err, "ThreadSanitizer")) TH_LOG("%s", err);
}

/* --- kgo_run's return ------------------------------------------------------ */

static long result;

static NOINLINE void writer(void *arg)
{
	result = 42;
	kgo_waitgroup_done(arg);
}

static int result_main(void *arg)
{
	struct kgo_waitgroup wg = KGO_WAITGROUP_INIT;

	(void)arg;
	kgo_waitgroup_add(&wg, 1);
	kgo_go(writer, &wg);
	kgo_waitgroup_wait(&wg);
	result++;
	return 0;
}

/* What the main goroutine did comes before kgo_run() returns. */
TEST(kgo_run_returns_after_main)
{
	static char err[32 << 10];
	int fds[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	if (!pid) {
		int st = -1;

		dup2(fds[1], 2);
		setenv("GMPMAXPROCS", "2", 1);
		if (kgo_run(result_main, NULL, &st) || st)
			_exit(1);
		/* TSan's _exit makes this 66 if it reported */
		_exit(result == 43 ? 0 : 2);
	}
	close(fds[1]);
	while ((n = read(fds[0], err + got, sizeof(err) - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("status %#x: %s", status, err);
	EXPECT_FALSE(has(err, "ThreadSanitizer")) TH_LOG("%s", err);
}

TEST_HARNESS_MAIN
