// SPDX-License-Identifier: GPL-2.0
/*
 * Many goroutines: 100,000 spawned and joined, and a million parked at
 * once (GMP_TEST_LIVE overrides the count), with the memory each parked
 * goroutine costs reported: user RSS from /proc/self/statm and the
 * kernel's share from the slab counters in /proc/meminfo; once they have
 * exited, kgo gives their stacks' memory back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

FIXTURE(scale) {
	int unused;
};

FIXTURE_SETUP(scale)
{
	REQUIRE_GMP();
	/* A small stack: what a parked goroutine touches is one page. */
	setenv("KGO_STACK_SIZE", "16384", 1);
}

FIXTURE_TEARDOWN(scale)
{
}

static struct latch done;

static void noop(void *arg)
{
	(void)arg;
	latch_done(&done);
}

static int spawn_join_main(void *arg)
{
	uint64_t i;
	int r;

	(void)arg;
	for (i = 0; i < done.target; i++) {
		r = kgo_go(noop, NULL);
		GCHECK_RET(!r, 1, "kgo_go %llu of %llu returned %d, want 0",
			   (unsigned long long)i + 1,
			   (unsigned long long)done.target, r);
	}
	latch_wait(&done);
	return 0;
}

TEST_F_TIMEOUT(scale, spawn_join_100k, 600)
{
	int status = -1;

	done.target = 100000;
	ASSERT_EQ(0, kgo_run(spawn_join_main, NULL, &status));
	EXPECT_EQ(0, gcheck_report(status));
	EXPECT_EQ(done.target, done.count);
}

/* --- A million parked at once -------------------------------------------- */

static uint32_t gate;
static struct latch all_parked;
static uint64_t target;
static long rss_before, rss_parked, rss_after, slab_before, slab_parked;

static long rss_kib(void)
{
	long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long slab_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static struct latch again = { .target = 1000 };

static void again_noop(void *arg)
{
	(void)arg;
	latch_done(&again);
}

static void parked(void *arg)
{
	(void)arg;
	latch_done(&all_parked);
	latch_wait_word(&gate);
	latch_done(&done);
}

static int live_main(void *arg)
{
	uint64_t i;
	int r;

	(void)arg;
	rss_before = rss_kib();
	slab_before = slab_kib();
	for (i = 0; i < done.target; i++) {
		r = kgo_go(parked, NULL);
		GCHECK_RET(!r, 1, "kgo_go of parked goroutine %llu of %llu returned %d, want 0",
			   (unsigned long long)i + 1,
			   (unsigned long long)done.target, r);
	}
	latch_wait(&all_parked);
	rss_parked = rss_kib();
	slab_parked = slab_kib();
	latch_open(&gate);
	latch_wait(&done);
	/*
	 * All gone: once their stacks have been free for a while (50 ms),
	 * later exits give the memory back, a bounded share each.
	 */
	nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
	for (i = 0; i < again.target; i++) {
		r = kgo_go(again_noop, NULL);
		GCHECK_RET(!r, 1, "kgo_go %llu of %llu after they exited returned %d, want 0",
			   (unsigned long long)i + 1,
			   (unsigned long long)again.target, r);
	}
	latch_wait(&again);
	rss_after = rss_kib();
	return 0;
}

TEST_F_TIMEOUT(scale, million_live, 900)
{
	const char *env = getenv("GMP_TEST_LIVE");
	long rss_each, slab_each;
	int status = -1;

	target = env ? strtoull(env, NULL, 10) : 1000000;
	done.target = target;
	all_parked.target = target;
	ASSERT_EQ(0, kgo_run(live_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	EXPECT_EQ(target, all_parked.count);
	EXPECT_EQ(target, done.count);
	rss_each = (rss_parked - rss_before) * 1024 / (long)target;
	slab_each = (slab_parked - slab_before) * 1024 / (long)target;
	ksft_print_msg("%llu goroutines parked at once: %ld bytes of user RSS and %ld bytes of kernel slab each\n",
		       (unsigned long long)target, rss_each, slab_each);
	/* What a parked goroutine may cost: its stack's top page and a G. */
	EXPECT_GT(8192, rss_each);
	EXPECT_GT(1024, slab_each);
	/* And their stacks' memory comes back (the G table's pages stay). */
	ksft_print_msg("user RSS: %ld KiB before, %ld parked, %ld after they exited\n",
		       rss_before, rss_parked, rss_after);
	EXPECT_GT((rss_parked - rss_before) / 4, rss_after - rss_before);
}

TEST_HARNESS_MAIN
