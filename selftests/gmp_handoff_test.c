// SPDX-License-Identifier: GPL-2.0
/*
 * The blocking hand-off, through kgo: a goroutine whose M blocks in the
 * kernel (read on an empty pipe, nanosleep, a futex wait) does not keep
 * the other goroutines of its P from running, even on P = 1, and when the
 * call returns the goroutine goes on, on some P, with the call's result
 * and its errno. No goroutine is lost or run twice; a process killed with
 * goroutines blocked leaves nothing behind.
 *
 * On P = 1 every test here hangs without the hand-off (the blocked M holds
 * the only P): the harness's timeout turns that into a failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

/* --- One goroutine blocks, main goes on on the same P ------------------- */

enum blocker { PIPE_READ, NANOSLEEP, FUTEX_WAIT_ };

static struct {
	enum blocker kind;
	int fds[2];
	uint32_t futex_word;
	volatile int blocking;	/* set just before the blocking call */
	volatile int done;
	long ret;		/* the call's result */
	int err;		/* errno after it */
	long long slept_ns;
	long long handoffs;
} b;

static void blocker(void *arg)
{
	struct timespec ts = { .tv_nsec = 300 * 1000 * 1000 };
	long long t0;
	char c = 0;

	(void)arg;
	errno = 0;
	b.blocking = 1;
	t0 = now_ns();
	switch (b.kind) {
	case PIPE_READ:
		b.ret = read(b.fds[0], &c, 1);
		if (b.ret == 1)
			b.ret = c;
		break;
	case NANOSLEEP:
		b.ret = nanosleep(&ts, NULL);
		break;
	case FUTEX_WAIT_:
		b.ret = syscall(SYS_futex, &b.futex_word, FUTEX_WAIT, 0,
				NULL, NULL, 0);
		break;
	}
	b.err = errno;
	b.slept_ns = now_ns() - t0;
	b.done = 1;
}

static const char *const blocker_names[] = {
	[PIPE_READ] = "read", [NANOSLEEP] = "nanosleep",
	[FUTEX_WAIT_] = "futex wait",
};

static int block_main(void *arg)
{
	long long t0;
	int r;

	(void)arg;
	r = kgo_go(blocker, NULL);
	GCHECK_RET(!r, 1, "kgo_go(blocker) returned %d, want 0", r);
	/* P = 1: the blocker runs now and blocks holding the only P. */
	while (!b.blocking)
		kgo_yield();
	/*
	 * Here because sysmon handed the P to another M, or because it
	 * preempted the blocker before its call: the blocker took over this
	 * goroutine's slice from runnext (Go's inheritTime), and a slow
	 * guest can spend it. Then yield to it until it blocks and the
	 * hand-off comes.
	 */
	for (t0 = now_ns(); ; kgo_yield()) {
		if (trace_counter("handoff", &b.handoffs)) {
			b.handoffs = -1;	/* no debugfs: nothing to wait on */
			break;
		}
		if (b.handoffs >= 1 || now_ns() - t0 > 10LL * 1000000000)
			break;
	}
	GCHECK_RET(!b.done || b.kind == NANOSLEEP, 2,
		   "the blocker's %s returned %ld (errno %d) before it was woken: it did not block at all",
		   blocker_names[b.kind], b.ret, b.err);
	switch (b.kind) {
	case PIPE_READ:
		GCHECK_RET(write(b.fds[1], "x", 1) == 1, 3,
			   "write to the blocker's pipe failed (errno %d)", errno);
		break;
	case NANOSLEEP:
		break;
	case FUTEX_WAIT_:
		/* Until the waiter is really asleep, a wake finds nobody. */
		while (!b.done) {
			__atomic_store_n(&b.futex_word, 1, __ATOMIC_RELEASE);
			syscall(SYS_futex, &b.futex_word, FUTEX_WAKE, 1, NULL,
				NULL, 0);
			kgo_yield();
		}
		break;
	}
	while (!b.done)
		kgo_yield();
	return 0;
}

static void run_blocker(struct __test_metadata *_metadata, enum blocker kind)
{
	int status = -1;

	memset(&b, 0, sizeof(b));
	b.kind = kind;
	ASSERT_EQ(0, pipe(b.fds));
	setenv("GMPMAXPROCS", "1", 1);
	ASSERT_EQ(0, kgo_run(block_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	close(b.fds[0]);
	close(b.fds[1]);
	TH_LOG("blocked %lld us; handoffs by then %lld", b.slept_ns / 1000,
	       b.handoffs);
	if (b.handoffs >= 0)
		EXPECT_GE(b.handoffs, 1);
	switch (kind) {
	case PIPE_READ:
		EXPECT_EQ('x', b.ret);
		break;
	case NANOSLEEP:
		EXPECT_EQ(0, b.ret);
		EXPECT_GE(b.slept_ns, 300LL * 1000 * 1000);
		break;
	case FUTEX_WAIT_:
		/* Woken (0), or the word changed before it slept (EAGAIN). */
		EXPECT_TRUE(b.ret == 0 || (b.ret == -1 && b.err == EAGAIN));
		break;
	}
	EXPECT_EQ(0, kind == FUTEX_WAIT_ ? 0 : b.err);
}

TEST(pipe_read_does_not_block_p1)
{
	REQUIRE_GMP();
	run_blocker(_metadata, PIPE_READ);
}

TEST(nanosleep_does_not_block_p1)
{
	REQUIRE_GMP();
	run_blocker(_metadata, NANOSLEEP);
}

TEST(futex_wait_does_not_block_p1)
{
	REQUIRE_GMP();
	run_blocker(_metadata, FUTEX_WAIT_);
}

/* --- Many blocked at once: none lost, none run twice ------------------- */

#define NBLOCK	16

static int many_fds[NBLOCK][2];
static uint32_t many_runs[NBLOCK];
static volatile int many_reading;
static char many_got[NBLOCK];
static struct latch many_done;

static void many_reader(void *arg)
{
	intptr_t i = (intptr_t)arg;
	char c = 0;

	__atomic_add_fetch(&many_runs[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&many_reading, 1, __ATOMIC_RELAXED);
	if (read(many_fds[i][0], &c, 1) == 1)
		many_got[i] = c;
	latch_done(&many_done);
}

static int many_main(void *arg)
{
	intptr_t i;
	int r;

	(void)arg;
	for (i = 0; i < NBLOCK; i++) {
		r = kgo_go(many_reader, (void *)i);
		GCHECK_RET(!r, 1, "kgo_go of reader %ld returned %d, want 0",
			   (long)i, r);
	}
	while (many_reading < NBLOCK)
		kgo_yield();
	for (i = 0; i < NBLOCK; i++) {
		char c = 'a' + i;

		GCHECK_RET(write(many_fds[i][1], &c, 1) == 1, 2,
			   "write to reader %ld's pipe failed (errno %d)", (long)i,
			   errno);
	}
	latch_wait(&many_done);
	return 0;
}

static void run_many(struct __test_metadata *_metadata, const char *procs)
{
	int status = -1, i;

	memset(many_runs, 0, sizeof(many_runs));
	memset(many_got, 0, sizeof(many_got));
	memset(&many_done, 0, sizeof(many_done));
	many_done.target = NBLOCK;
	many_reading = 0;
	for (i = 0; i < NBLOCK; i++)
		ASSERT_EQ(0, pipe(many_fds[i]));
	setenv("GMPMAXPROCS", procs, 1);
	ASSERT_EQ(0, kgo_run(many_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	for (i = 0; i < NBLOCK; i++) {
		EXPECT_EQ(1, many_runs[i]);
		EXPECT_EQ('a' + i, many_got[i]);
		close(many_fds[i][0]);
		close(many_fds[i][1]);
	}
}

TEST(many_blocked_p1)
{
	REQUIRE_GMP();
	run_many(_metadata, "1");
}

TEST(many_blocked_p2)
{
	REQUIRE_GMP();
	run_many(_metadata, "2");
}

/* --- Killed with goroutines blocked: nothing left behind --------------- */

static int kill_fds[2];

static void kill_reader(void *arg)
{
	char c;

	(void)arg;
	__atomic_add_fetch(&many_reading, 1, __ATOMIC_RELAXED);
	if (read(kill_fds[0], &c, 1) < 0)
		_exit(9);
}

static int kill_main(void *arg)
{
	int i, r;

	(void)arg;
	for (i = 0; i < 8; i++) {
		r = kgo_go(kill_reader, NULL);
		GCHECK_RET(!r, 1, "kgo_go of reader %d returned %d, want 0", i, r);
	}
	while (many_reading < 8)
		kgo_yield();
	/* Tell the parent, then block too: every M is in a read. */
	kill(getppid(), SIGUSR1);
	kill_reader(NULL);
	return 0;
}

static volatile sig_atomic_t child_ready;

static void on_usr1(int sig)
{
	(void)sig;
	child_ready = 1;
}

TEST(killed_while_blocked)
{
	struct timespec ts = { .tv_nsec = 100 * 1000 * 1000 };
	int status = 0, i, st = -1;
	pid_t pid;

	REQUIRE_GMP();
	signal(SIGUSR1, on_usr1);
	child_ready = 0;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		gcheck_child(2);	/* the parent sees only child_ready */
		many_reading = 0;
		if (pipe(kill_fds))
			_exit(3);
		setenv("GMPMAXPROCS", "2", 1);
		kgo_run(kill_main, NULL, &status);
		_exit(4);
	}
	for (i = 0; i < 300 && !child_ready; i++)
		nanosleep(&ts, NULL);
	EXPECT_TRUE(child_ready);
	/* Let sysmon hand off some P's, then kill it. */
	nanosleep(&ts, NULL);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* The module still works for the next process. */
	run_blocker(_metadata, PIPE_READ);
}

TEST_HARNESS_MAIN
