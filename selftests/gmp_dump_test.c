// SPDX-License-Identifier: GPL-2.0
/*
 * Goroutine dumps (issue 23): kgo_dump(), SIGQUIT and the deadlock report
 * list every goroutine in Go's format, with its status, Go's wait reason
 * and a backtrace taken from its saved context, and where it was created.
 * And the metrics (Go's runtime/metrics), from kgo_stats() and debugfs.
 * Each test runs kgo in a child process and reads what it wrote to stderr.
 * The goroutine bodies below are never inlined and never end in a tail
 * call, so each is a frame of its own in the backtraces.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
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
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
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
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
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
	/* Back to the header: a line "goroutine <id> [" */
	for (start = f; start > text; start--)
		if (start[-1] == '\n' && !strncmp(start, "goroutine ", 10) &&
		    start[10] >= '0' && start[10] <= '9')
			break;
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
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	return 0;
}

TEST(dump_shows_every_status_and_frame)
{
	static char err[64 << 10];
	char exe[300];
	ssize_t n;

	REQUIRE_GMP();
	/*
	 * No preemption: sysmon once cut the caller's slice between the
	 * kgo_go() of never_started and the dump (TSan build), and it ran.
	 */
	setenv("KGO_PREEMPT", "0", 1);
	n = run_in_child(statuses_main, "1", err, sizeof(err));
	unsetenv("KGO_PREEMPT");
	ASSERT_EQ(0, n) TH_LOG("stderr:\n%s", err);
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

/*
 * A spinner, then a dump 30 ms later. P=1: the spinner runs until sysmon
 * preempts it for this goroutine. P=2: it runs on the other P.
 */
static NOINLINE int spin_main(void *arg)
{
	(void)arg;
	kgo_go(spinner, NULL);
	kgo_sleep(30 * 1000 * 1000);
	kgo_dump(2);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	return 0;
}

TEST(dump_unwinds_a_preempted_goroutine)
{
	static char err[16 << 10];
	char b[2048];

	REQUIRE_GMP();
	ASSERT_EQ(0, run_in_child(spin_main, "1", err, sizeof(err)))
		TH_LOG("stderr:\n%s", err);
	/* Through kgo_asyncpreempt's frame into the code it interrupted. */
	EXPECT_BLOCK(err, "spinner", "runnable]", "spin_main");
	if (block_of(err, "spinner", b, sizeof(b))) {
		EXPECT_TRUE(has(b, "\nkgo_asyncpreempt(...)\n"))
			TH_LOG("%s", b);
	}
}

TEST(dump_of_a_goroutine_on_another_thread)
{
	static char err[16 << 10];
	const char *b;

	REQUIRE_GMP();
	ASSERT_EQ(0, run_in_child(spin_main, "2", err, sizeof(err)))
		TH_LOG("stderr:\n%s", err);
	/* Running on the other P, or caught between two slices. */
	b = strstr(err, "\ngoroutine 2 [");
	ASSERT_TRUE(b != NULL) TH_LOG("%s", err);
	if (!strncmp(b, "\ngoroutine 2 [running]:\n", 24)) {
		EXPECT_EQ(0, strncmp(b + 24, "\tgoroutine running on other thread; stack unavailable\n", 54))
			TH_LOG("%s", b);
	} else {
		EXPECT_BLOCK(err, "spinner", "runnable]", "spin_main");
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
	SKIP_UNDER_TSAN("SIGQUIT keeps its default action (TSan defers signals)");
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

#ifndef __SANITIZE_ADDRESS__	/* a minute is enough once per kernel */
static NOINLINE int minute_main(void *arg)
{
	(void)arg;
	c_recv = kgo_chan_make(sizeof(int), 0);
	kgo_go(recv_blocked, NULL);
	kgo_sleep(61 * SEC);
	kgo_dump(2);
	return 0;
}

/* Go's ", N minutes" from a minute on: the park's stamp, the dump's now. */
TEST_TIMEOUT(dump_says_how_many_minutes_a_goroutine_waited, 300)
{
	static char err[16 << 10];

	REQUIRE_GMP();
	if (slow_kernel())	/* user-space arithmetic: once, on stock */
		SKIP(return, "a minute's wait runs on the stock kernel only");
	SKIP_UNDER_TSAN("a minute's wait runs in the plain build only");
	ASSERT_EQ(0, run_in_child(minute_main, "1", err, sizeof(err)))
		TH_LOG("stderr:\n%s", err);
	EXPECT_BLOCK(err, "recv_blocked", "chan receive, 1 minutes]",
		     "minute_main");
	/* Under a minute, no time: the main goroutine slept, then ran. */
	EXPECT_TRUE(has(err, "goroutine 1 [running]:\n")) TH_LOG("%s", err);
}
#endif

static struct kgo_chan *c_park;

static void parked(void *arg)
{
	int v;

	(void)arg;
	kgo_chan_recv(c_park, &v);
}

static void pinger(void *arg)
{
	int v;

	(void)arg;
	while (kgo_chan_recv(c_recv, &v) == 1 && v >= 0)
		kgo_chan_send(c_send, &v);
}

/*
 * This process's instance's debugfs metrics, in @buf; or what went
 * wrong, for the failure's message.
 */
static void read_metrics(char *buf, size_t size)
{
	char prefix[32], path[300];
	struct dirent *d;
	ssize_t n;
	DIR *dir;
	int fd;

	snprintf(buf, size, "no debugfs directory for pid %d", getpid());
	if (access("/sys/kernel/debug/gmp", F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	dir = opendir("/sys/kernel/debug/gmp");
	if (!dir)
		return;
	snprintf(prefix, sizeof(prefix), "%d-", getpid());
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, prefix, strlen(prefix))) {
			snprintf(path, sizeof(path),
				 "/sys/kernel/debug/gmp/%s/metrics", d->d_name);
			fd = open(path, O_RDONLY);
			n = fd < 0 ? -errno : read(fd, buf, size - 1);
			if (n < 0)
				n = snprintf(buf, size, "%s: %s", path,
					     strerror(-(int)n));
			buf[n] = 0;
			if (fd >= 0)
				close(fd);
		}
	closedir(dir);
}

static unsigned long metric(const char *text, const char *name)
{
	const char *l = strstr(text, name);

	return l ? strtoul(l + strlen(name), NULL, 10) : ~0UL;
}

static int metrics_main(void *arg)
{
	struct kgo_stats st = { .size = sizeof(st) };
	uint64_t sum = 0;
	char text[2048];
	int i, v;

	(void)arg;
	c_park = kgo_chan_make(sizeof(int), 0);
	c_recv = kgo_chan_make(sizeof(int), 0);
	c_send = kgo_chan_make(sizeof(int), 0);
	for (i = 0; i < 10; i++)
		kgo_go(parked, NULL);
	kgo_go(pinger, NULL);
	kgo_sleep(10 * 1000 * 1000);	/* P=1: all of them park */
	for (v = 0; v < 2000; v++) {	/* 4000 readyings, ~500 timed */
		kgo_chan_send(c_recv, &v);
		kgo_chan_recv(c_send, &i);
	}
	for (i = 0; i < 3; i++)		/* runnable, not run yet */
		kgo_go(never_started, NULL);
	GCHECK_RET(!kgo_stats(&st), 1, "kgo_stats failed");
	GCHECK_RET(st.ngwaiting == 11 && st.ngrunnable == 3 &&
		   st.ngrunning == 1 && st.ngsyscall == 0, 2,
		   "by status: %llu waiting, %llu runnable, %llu running, %llu in system calls; want 11, 3, 1, 0",
		   (unsigned long long)st.ngwaiting,
		   (unsigned long long)st.ngrunnable,
		   (unsigned long long)st.ngrunning,
		   (unsigned long long)st.ngsyscall);
	GCHECK_RET(st.nrunqlocal == 3 && st.nrunqglobal == 0, 3,
		   "run queues: %llu local, %llu global; want 3, 0",
		   (unsigned long long)st.nrunqlocal,
		   (unsigned long long)st.nrunqglobal);
	for (i = 0; i < KGO_SCHEDLAT_BUCKETS; i++) {
		sum += st.schedlat[i];
		GCHECK_RET(!i || st.schedlat_le_ns[i] > st.schedlat_le_ns[i - 1],
			   4, "latency bucket %d's bound %llu is not above the last",
			   i, (unsigned long long)st.schedlat_le_ns[i]);
	}
	GCHECK_RET(sum >= 300 && sum <= 700, 5,
		   "%llu scheduling latencies sampled of 4000 readyings, want about 500",
		   (unsigned long long)sum);
	GCHECK_RET(st.schedlat_le_ns[KGO_SCHEDLAT_BUCKETS - 1] == UINT64_MAX,
		   6, "the last latency bucket is bounded");

	read_metrics(text, sizeof(text));
	GCHECK_RET(metric(text, "/sched/goroutines/waiting:goroutines ") == 11 &&
		   metric(text, "/sched/goroutines/runnable:goroutines ") == 3 &&
		   metric(text, "/sched/goroutines/running:goroutines ") == 1 &&
		   metric(text, "/sched/gomaxprocs:threads ") == 1 &&
		   metric(text, "/sched/runqueue/local:goroutines ") == 3, 7,
		   "debugfs metrics:\n%s", text);
	v = -1;
	kgo_chan_send(c_recv, &v);
	return 0;
}

TEST(metrics_from_kgo_stats_and_debugfs)
{
	char err[4096];

	REQUIRE_GMP();
	/*
	 * No hand-off: on a slow kernel sysmon would give the P away while
	 * the main goroutine reads debugfs, and the three runnable ones ran.
	 */
	setenv("KGO_PREEMPT", "0", 1);
	EXPECT_EQ(0, run_in_child(metrics_main, "1", err, sizeof(err)))
		TH_LOG("%s", err);
}

TEST_HARNESS_MAIN
