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
	(void)arg;
	main_id = kgo_id();
	if (kgo_go(first, (void *)7))
		return 1;
	while (!__atomic_load_n(&first_ran, __ATOMIC_ACQUIRE))
		kgo_yield();
	return 0;
}

TEST(first_goroutine)
{
	int status = -1;

	REQUIRE_GMP();
	ASSERT_EQ(0, kgo_run(spawn_first, NULL, &status));
	EXPECT_EQ(0, status);
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

	(void)arg;
	for (i = 0; i < NGO; i++)
		if (kgo_go(count_run, (void *)i))
			return 1;
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
	ASSERT_EQ(0, status);
	check_many(_metadata);
}

TEST(many_each_once_one_p)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(spawn_many, NULL, &status));
	ASSERT_EQ(0, status);
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
