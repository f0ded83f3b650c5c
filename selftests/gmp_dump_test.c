// SPDX-License-Identifier: GPL-2.0
/*
 * Goroutine dumps (issue 23): kgo_dump(), SIGQUIT and the deadlock report
 * list every goroutine in Go's format, with its status, Go's wait reason
 * and a backtrace taken from its saved context, and where it was created.
 * Each test runs kgo in a child process and reads what it wrote to stderr.
 * The goroutine bodies below are never inlined and never end in a tail
 * call, so each is a frame of its own in the backtraces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gmp_test_util.h"

#define NOINLINE __attribute__((noinline))
#define SEC 1000000000LL

static struct kgo_chan *c_recv, *c_send, *c_sel1, *c_sel2;
static struct kgo_mutex mu;
static struct kgo_waitgroup wg;
static volatile int sink, stop;

static NOINLINE void recv_blocked(void *arg)
{
	int v;

	(void)arg;
	sink = kgo_chan_recv(c_recv, &v);
}

static NOINLINE void send_blocked(void *arg)
{
	(void)arg;
	sink = kgo_chan_send(c_send, &(int){ 1 });
}

static NOINLINE void sleeper(void *arg)
{
	(void)arg;
	sink = kgo_sleep(60 * SEC);
}

static NOINLINE void lock_waiter(void *arg)
{
	(void)arg;
	kgo_mutex_lock(&mu);
	sink = 1;
	kgo_mutex_unlock(&mu);
}

static NOINLINE void wg_waiter(void *arg)
{
	(void)arg;
	kgo_waitgroup_wait(&wg);
	sink = 2;
}

static NOINLINE void select_waiter(void *arg)
{
	int a, b;
	struct kgo_select_case cs[2] = {
		{ .c = c_sel1, .op = KGO_RECV, .elem = &a },
		{ .c = c_sel2, .op = KGO_RECV, .elem = &b },
	};

	(void)arg;
	sink = kgo_select(cs, 2, 0);
}

static NOINLINE void yielder(void *arg)
{
	(void)arg;
	while (!stop)
		kgo_yield();
	sink = 3;
}

static NOINLINE void never_started(void *arg)
{
	(void)arg;
	sink = 4;
}

/* Spins in its own code: sysmon preempts it there. */
static NOINLINE void spinner(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!stop)
		n++;
	sink = (int)n;
}

static NOINLINE void nil_sender(void *arg)
{
	(void)arg;
	sink = kgo_chan_send(NULL, &(int){ 1 });
}

/*
 * The block of @text, a dump, for the goroutine with a frame in @fn:
 * from its "goroutine" line to the blank line after it, copied to @out.
 * False if no block has that frame.
 */
static bool block_of(const char *text, const char *fn, char *out,
		     size_t size)
{
	char frame[80];
	const char *f, *start, *end;

	snprintf(frame, sizeof(frame), "\n%s(...)\n", fn);
	f = strstr(text, frame);
	if (!f)
		return false;
	for (start = f; start > text && strncmp(start, "goroutine ", 10);
	     start--)
		;
	end = strstr(f, "\n\n");
	if (!end)
		end = f + strlen(f);
	snprintf(out, size, "%.*s", (int)(end - start), start);
	return true;
}

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* @fn's block starts with "goroutine N [@status" and has "created by". */
#define EXPECT_BLOCK(text, fn, status, created) do {			\
		char b_[2048], h_[64];					\
									\
		snprintf(h_, sizeof(h_), "[%s", status);		\
		EXPECT_TRUE(block_of(text, fn, b_, sizeof(b_)))		\
			TH_LOG("no goroutine with a frame in %s:\n%s", fn, text); \
		EXPECT_TRUE(has(b_, h_))				\
			TH_LOG("%s is not %s:\n%s", fn, status, b_);	\
		if (created[0]) {					\
			snprintf(h_, sizeof(h_), "created by %s", created); \
			EXPECT_TRUE(has(b_, h_))			\
				TH_LOG("%s not %s:\n%s", fn, h_, b_);	\
		}							\
	} while (0)

static NOINLINE int statuses_main(void *arg)
{
	struct kgo_attr big = { .size = sizeof(big), .stack_size = 256 << 10 };
	int n;

	(void)arg;
	c_recv = kgo_chan_make(sizeof(int), 0);
	c_send = kgo_chan_make(sizeof(int), 0);
	c_sel1 = kgo_chan_make(sizeof(int), 0);
	c_sel2 = kgo_chan_make(sizeof(int), 0);
	kgo_mutex_lock(&mu);
	kgo_waitgroup_add(&wg, 1);
	kgo_go(recv_blocked, NULL);
	kgo_go(send_blocked, NULL);
	kgo_go(sleeper, NULL);
	kgo_go(lock_waiter, NULL);
	kgo_go(wg_waiter, NULL);
	kgo_go_attr(select_waiter, NULL, &big);	/* a stack of its own */
	kgo_go(yielder, NULL);
	kgo_sleep(20 * 1000 * 1000);		/* all of them park or yield */
	kgo_go(never_started, NULL);		/* P=1: not run before the dump */
	n = kgo_dump(2);
	GCHECK_RET(n == 9, 1, "kgo_dump printed %d goroutines, want 9", n);
	GCHECK_RET(kgo_dump(-1) == -EBADF, 1, "kgo_dump(-1) did not say EBADF");
	stop = 1;
	return 0;
}

TEST(dump_shows_every_status_and_frame)
{
	static char err[64 << 10];
	char exe[300];
	ssize_t n;

	REQUIRE_GMP();
	ASSERT_EQ(0, run_in_child(statuses_main, "1", err, sizeof(err)))
		TH_LOG("stderr:\n%s", err);
	/* The caller first, from its own frame on. */
	EXPECT_EQ(0, strncmp(err, "goroutine 1 [running]:\nstatuses_main(...)\n",
			     41)) TH_LOG("first block:\n%.300s", err);
	EXPECT_BLOCK(err, "recv_blocked", "chan receive]", "statuses_main");
	EXPECT_BLOCK(err, "send_blocked", "chan send]", "statuses_main");
	EXPECT_BLOCK(err, "sleeper", "sleep]", "statuses_main");
	EXPECT_BLOCK(err, "lock_waiter", "sync.Mutex.Lock]", "statuses_main");
	EXPECT_BLOCK(err, "wg_waiter", "sync.WaitGroup.Wait]", "statuses_main");
	EXPECT_BLOCK(err, "select_waiter", "select]", "statuses_main");
	EXPECT_BLOCK(err, "yielder", "runnable]", "statuses_main");
	EXPECT_BLOCK(err, "never_started", "runnable]", "statuses_main");
	/* kgo's own frames are shown, as Go shows the runtime's. */
	EXPECT_TRUE(has(err, "\nkgo_sleep(...)\n")) TH_LOG("%s", err);
	/* Frames end at the goroutine's function: no kgo start-up below. */
	EXPECT_FALSE(has(err, "gostart")) TH_LOG("%s", err);
	EXPECT_TRUE(has(err, " in goroutine 1\n")) TH_LOG("%s", err);
	/* Every frame says where it is, for addr2line. */
	n = readlink("/proc/self/exe", exe + 7, sizeof(exe) - 12);
	ASSERT_LT(0, n);
	memcpy(exe, "(...)\n\t", 7);
	strcpy(exe + 7 + n, " +0x");
	EXPECT_TRUE(has(err, exe)) TH_LOG("want %s in\n%s", exe, err);
	EXPECT_FALSE(has(err, "?(...)")) TH_LOG("%s", err);
}

static NOINLINE int preempted_main(void *arg)
{
	(void)arg;
	kgo_go(spinner, NULL);
	/* P=1: the spinner runs until sysmon preempts it for this. */
	kgo_sleep(30 * 1000 * 1000);
	kgo_dump(2);
	stop = 1;
	return 0;
}

TEST(dump_unwinds_a_preempted_goroutine)
{
	static char err[16 << 10];
	char b[2048];

	REQUIRE_GMP();
	ASSERT_EQ(0, run_in_child(preempted_main, "1", err, sizeof(err)))
		TH_LOG("stderr:\n%s", err);
	/* Through kgo_asyncpreempt's frame into the code it interrupted. */
	EXPECT_BLOCK(err, "spinner", "runnable]", "preempted_main");
	if (block_of(err, "spinner", b, sizeof(b))) {
		EXPECT_TRUE(has(b, "\nkgo_asyncpreempt(...)\n"))
			TH_LOG("%s", b);
	}
}

static NOINLINE int running_main(void *arg)
{
	(void)arg;
	kgo_go(spinner, NULL);
	kgo_sleep(20 * 1000 * 1000);
	kgo_dump(2);
	stop = 1;
	return 0;
}

TEST(dump_of_a_goroutine_on_another_thread)
{
	static char err[16 << 10];
	const char *b;

	REQUIRE_GMP();
	ASSERT_EQ(0, run_in_child(running_main, "2", err, sizeof(err)))
		TH_LOG("stderr:\n%s", err);
	/* Running on the other P, or caught between two slices. */
	b = strstr(err, "\ngoroutine 2 [");
	ASSERT_TRUE(b != NULL) TH_LOG("%s", err);
	if (!strncmp(b, "\ngoroutine 2 [running]:\n", 24)) {
		EXPECT_EQ(0, strncmp(b + 24, "\tgoroutine running on other thread; stack unavailable\n", 54))
			TH_LOG("%s", b);
	} else {
		EXPECT_BLOCK(err, "spinner", "runnable]", "running_main");
	}
}

static NOINLINE int deadlock_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 0);
	int v;

	(void)arg;
	kgo_go(nil_sender, NULL);
	sink = kgo_chan_recv(c, &v);	/* nobody will send */
	return 1;
}

TEST(deadlock_report_lists_the_goroutines)
{
	static char err[16 << 10];
	const char *d;

	REQUIRE_GMP();
	EXPECT_EQ(2, run_in_child(deadlock_main, "2", err, sizeof(err)));
	d = strstr(err, "all goroutines are asleep - deadlock!\n\ngoroutine ");
	ASSERT_TRUE(d != NULL) TH_LOG("stderr:\n%s", err);
	EXPECT_BLOCK(d, "deadlock_main", "chan receive]", "");
	EXPECT_BLOCK(d, "nil_sender", "chan send (nil chan)]", "deadlock_main");
}

static int quit_pipe = -1;

static NOINLINE int sigquit_main(void *arg)
{
	(void)arg;
	c_recv = kgo_chan_make(sizeof(int), 0);
	kgo_go(recv_blocked, NULL);
	kgo_go(sleeper, NULL);
	kgo_sleep(10 * 1000 * 1000);
	if (write(quit_pipe, "r", 1) != 1)
		return 1;
	kgo_sleep(60 * SEC);		/* until SIGQUIT */
	return 1;
}

TEST(sigquit_dumps_and_exits_2)
{
	static char err[16 << 10];
	int ready[2], out[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	char c;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(out));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		gcheck_child(fcntl(2, F_DUPFD_CLOEXEC, 3));
		dup2(out[1], 2);
		close(ready[0]);
		quit_pipe = ready[1];
		_exit(run_with_procs(sigquit_main, NULL, "2") & 0xff);
	}
	close(ready[1]);
	close(out[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	usleep(200 * 1000);	/* sigquit_main parks in kgo_sleep */
	kill(pid, SIGQUIT);
	while (got < sizeof(err) - 1 &&
	       (n = read(out[0], err + got, sizeof(err) - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = 0;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(ready[0]);
	close(out[0]);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2)
		TH_LOG("status %#x; stderr:\n%s", status, err);
	EXPECT_EQ(0, strncmp(err, "SIGQUIT: quit\n\n", 15)) TH_LOG("%s", err);
	EXPECT_BLOCK(err, "sigquit_main", "sleep]", "");
	EXPECT_BLOCK(err, "recv_blocked", "chan receive]", "sigquit_main");
	EXPECT_BLOCK(err, "sleeper", "sleep]", "sigquit_main");
}

TEST_HARNESS_MAIN
