// SPDX-License-Identifier: GPL-2.0
/*
 * AddressSanitizer and goroutines (issue 23): built with
 * -fsanitize=address against kgo's ASan build (userlib/asan), which tells
 * ASan about every stack an M arrives on. A use after free and a stack
 * buffer overflow seeded in a goroutine are reported, with the
 * goroutine's function in the report; goroutines that end deep in their
 * stacks (kgo_exit) leave no poison for the next one on the same stack,
 * and switching, longjmp and ending goroutines give no false report and
 * no "ASan is ignoring requested __asan_handle_no_return".
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gmp_test_util.h"

#ifndef __SANITIZE_ADDRESS__
#error "gmp_asan_test is built with -fsanitize=address (selftests/Makefile)"
#endif

#define NOINLINE __attribute__((noinline))

static volatile int sink;
static volatile int index16 = 16;

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static NOINLINE void uaf_goroutine(void *arg)
{
	char *p = malloc(32), *volatile q = p;

	(void)arg;
	p[0] = 1;
	free(p);
	q[3] = 7;			/* seeded: written after free */
	sink = q[0];
}

static int uaf_main(void *arg)
{
	(void)arg;
	kgo_go(uaf_goroutine, NULL);
	kgo_sleep(2000LL * 1000 * 1000);	/* ASan ends the process first */
	return 0;
}

TEST(use_after_free_in_a_goroutine_is_reported)
{
	static char err[16 << 10];
	int rc;

	REQUIRE_GMP();
	rc = run_in_child(uaf_main, "2", err, sizeof(err));
	EXPECT_NE(0, rc) TH_LOG("the use after free went unseen");
	EXPECT_TRUE(has(err, "ERROR: AddressSanitizer: heap-use-after-free"))
		TH_LOG("%s", err);
	EXPECT_TRUE(has(err, "uaf_goroutine")) TH_LOG("%s", err);
}

static NOINLINE void overflow_goroutine(void *arg)
{
	char buf[16];

	(void)arg;
	memset(buf, 0, sizeof(buf));
	buf[index16] = 1;		/* seeded: one past the end */
	sink = buf[3];
}

static int overflow_main(void *arg)
{
	(void)arg;
	kgo_go(overflow_goroutine, NULL);
	kgo_sleep(2000LL * 1000 * 1000);
	return 0;
}

TEST(stack_buffer_overflow_in_a_goroutine_is_reported)
{
	static char err[16 << 10];

	REQUIRE_GMP();
	EXPECT_NE(0, run_in_child(overflow_main, "1", err, sizeof(err)));
	EXPECT_TRUE(has(err, "ERROR: AddressSanitizer: stack-buffer-overflow"))
		TH_LOG("%s", err);
	EXPECT_TRUE(has(err, "overflow_goroutine")) TH_LOG("%s", err);
}

/*
 * Frames with poisoned redzones that never return: kgo_exit() from deep
 * inside. Their stacks go to the next goroutines.
 */
/* Called through a pointer: the compiler sees no "infinite recursion". */
static void (*volatile exit_goroutine)(void) = kgo_exit;

static NOINLINE void deep(struct kgo_waitgroup *wg, int depth)
{
	char buf[40];

	memset(buf, depth, sizeof(buf));
	sink = buf[depth % 40];
	if (depth) {
		deep(wg, depth - 1);
		return;
	}
	kgo_waitgroup_done(wg);
	exit_goroutine();
}

static void deep_goroutine(void *arg)
{
	deep(arg, 8);
}

static jmp_buf jb[64];
static struct kgo_waitgroup *jwg;

static NOINLINE void jumper(void *arg)
{
	long i = (long)arg;
	char buf[64];

	memset(buf, 1, sizeof(buf));
	if (!setjmp(jb[i])) {
		kgo_yield();
		longjmp(jb[i], 1);	/* noreturn: ASan unpoisons this stack */
	}
	sink = buf[5];
	kgo_waitgroup_done(jwg);
}

static struct kgo_chan *ping, *pong;

static NOINLINE void ponger(void *arg)
{
	char buf[64];
	int v;

	(void)arg;
	memset(buf, 2, sizeof(buf));
	while (kgo_chan_recv(ping, &v) == 1 && v >= 0)
		kgo_chan_send(pong, &v);
	sink = buf[9];
}

static int switching_main(void *arg)
{
	struct kgo_waitgroup wg = { 0 };
	char buf[128];
	long i;
	int v;

	(void)arg;
	memset(buf, 3, sizeof(buf));
	for (i = 0; i < 20000; i++) {
		kgo_waitgroup_add(&wg, 1);
		GCHECK_RET(!kgo_go(deep_goroutine, &wg), 1, "kgo_go %ld failed",
			   i);
		if (i % 500 == 499)
			kgo_waitgroup_wait(&wg);
	}
	kgo_waitgroup_wait(&wg);
	jwg = &wg;
	for (i = 0; i < 60; i++) {
		kgo_waitgroup_add(&wg, 1);
		kgo_go(jumper, (void *)i);
	}
	kgo_waitgroup_wait(&wg);
	ping = kgo_chan_make(sizeof(int), 0);
	pong = kgo_chan_make(sizeof(int), 0);
	kgo_go(ponger, NULL);
	for (v = 0; v < 20000; v++) {
		int w;

		kgo_chan_send(ping, &v);
		kgo_chan_recv(pong, &w);
		GCHECK_RET(w == v, 2, "pong %d, want %d", w, v);
		if (!(v % 1000))
			kgo_sleep(100 * 1000);
	}
	v = -1;
	kgo_chan_send(ping, &v);
	return buf[7] == 3 ? 0 : 3;
}

TEST(switching_and_ending_goroutines_is_clean)
{
	static char err[16 << 10];

	REQUIRE_GMP();
	EXPECT_EQ(0, run_in_child(switching_main, "2", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_FALSE(has(err, "AddressSanitizer")) TH_LOG("%s", err);
	EXPECT_FALSE(has(err, "__asan_handle_no_return")) TH_LOG("%s", err);
	EXPECT_EQ(0, run_in_child(switching_main, "1", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_FALSE(has(err, "AddressSanitizer")) TH_LOG("%s", err);
	/*
	 * With fake stacks (clang's default, gcc's opt-in): each goroutine's
	 * goes with it, a dead one's is freed and never handed on with its
	 * G record.
	 */
	setenv("ASAN_OPTIONS", "detect_stack_use_after_return=1", 1);
	EXPECT_EQ(0, run_in_child(switching_main, "2", err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_FALSE(has(err, "AddressSanitizer")) TH_LOG("%s", err);
}

TEST_HARNESS_MAIN
