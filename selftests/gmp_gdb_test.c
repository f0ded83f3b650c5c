// SPDX-License-Identifier: GPL-2.0
/*
 * gdb sees goroutines (issue 23): gdb, in batch mode, runs this program's
 * target half (GMP_GDB_TARGET=1) to a breakpoint with goroutines parked
 * on a channel, sleeping, waiting for a mutex, runnable (not started)
 * and running on the other P; kgo-gdb.py, auto-loaded from the program itself, must list
 * each with its status and its own function, and "goroutine N bt" must
 * show a parked goroutine's frames and a running one's. Then the program
 * continues to its normal end: the registers lent to a goroutine's
 * backtrace were given back.
 *
 * gdb comes from the guest's /gmp/gdb.sh (vm/stage-gdb.sh) or $GMP_GDB;
 * without one the test says SKIP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gmp_test_util.h"

#define NOINLINE __attribute__((noinline))

static struct kgo_chan *ch;
static struct kgo_mutex mu;
static volatile int sink, stop;

static NOINLINE void recv_blocked(void *arg)
{
	int v;

	(void)arg;
	sink = kgo_chan_recv(ch, &v);
}

static NOINLINE void sleeper(void *arg)
{
	(void)arg;
	sink = kgo_sleep(10LL * 1000 * 1000 * 1000);
}

static NOINLINE void lock_waiter(void *arg)
{
	(void)arg;
	kgo_mutex_lock(&mu);
	sink = 1;
	kgo_mutex_unlock(&mu);
}

static NOINLINE void spinner(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!stop)
		n++;
	sink = (int)n;
}

/*
 * Runnable in main's runnext at the breakpoint; on a slow kernel the
 * other P may take it first: then it waits here, listed all the same.
 */
static NOINLINE void never_started(void *arg)
{
	int v;

	(void)arg;
	sink = kgo_chan_recv(ch, &v);
}

/* Where gdb stops the program: every goroutine is where it will stay. */
NOINLINE void gdb_stop_here(void)
{
	__asm__ volatile("" ::: "memory");
}

static int target_main(void *arg)
{
	(void)arg;
	ch = kgo_chan_make(sizeof(int), 0);
	kgo_mutex_lock(&mu);
	kgo_go(recv_blocked, NULL);	/* goroutine 2 */
	kgo_go(sleeper, NULL);		/* 3 */
	kgo_go(lock_waiter, NULL);	/* 4 */
	kgo_go(spinner, NULL);		/* 5: on the other P */
	kgo_sleep(50 * 1000 * 1000);
	kgo_go(never_started, NULL);	/* 6: in runnext, P1 busy */
	gdb_stop_here();
	stop = 1;
	kgo_mutex_unlock(&mu);
	kgo_chan_send(ch, &(int){ 1 });
	kgo_chan_send(ch, &(int){ 2 });	/* never_started, which ran */
	return 0;
}

/* The target half, instead of the harness, when gdb starts us. */
static int target(void)
{
	int status = -1;

	setenv("GMPMAXPROCS", "2", 1);
	if (kgo_run(target_main, NULL, &status))
		return 99;
	return status;
}

static const char *find_gdb(void)
{
	const char *g = getenv("GMP_GDB");

	if (g && !access(g, X_OK))
		return g;
	if (!access("/gmp/gdb.sh", X_OK))
		return "/gmp/gdb.sh";
	return NULL;
}

/* Run gdb's batch on ourselves; its output (stdout and stderr) in @out. */
static int run_gdb(const char *gdb, char *out, size_t size)
{
	char self[512];
	int fds[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || pipe(fds))
		return -1;
	self[n] = 0;
	pid = fork();
	if (!pid) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		setenv("GMP_GDB_TARGET", "1", 1);
		execl(gdb, gdb, "-nx", "-batch",
		      "-iex", "set pagination off",
		      "-iex", "set confirm off",
		      /* the script auto-loads from the program under test */
		      "-iex", "set auto-load safe-path /",
		      "-ex", "break gdb_stop_here",
		      "-ex", "run",
		      "-ex", "echo ===INFO===\\n",
		      "-ex", "info goroutines",
		      "-ex", "echo ===BT2===\\n",
		      "-ex", "goroutine 2 bt",
		      "-ex", "echo ===BT5===\\n",
		      "-ex", "goroutine 5 bt",
		      "-ex", "echo ===BT1===\\n",
		      "-ex", "bt",
		      "-ex", "echo ===END===\\n",
		      "-ex", "continue",
		      self, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (got < size - 1 &&
	       (n = read(fds[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The text between two markers of @out, copied to @buf. */
static const char *section(const char *out, const char *from, const char *to,
			   char *buf, size_t size)
{
	const char *a = strstr(out, from), *b;

	if (!a)
		return "";
	a += strlen(from);
	b = strstr(a, to);
	snprintf(buf, size, "%.*s", (int)(b ? b - a : (long)strlen(a)), a);
	return buf;
}

/* The line of @text with goroutine @goid's row in "info goroutines". */
static bool row(const char *text, int goid, char *buf, size_t size)
{
	char key[16];
	const char *l;

	snprintf(key, sizeof(key), " %-6d ", goid);
	for (l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l + 1, key, strlen(key))) {
			const char *e = strchr(l, '\n');

			snprintf(buf, size, "%.*s",
				 (int)(e ? e - l : (long)strlen(l)), l);
			return true;
		}
	return false;
}

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

#define EXPECT_ROW(info, goid, status, fn) do {				\
		char r_[256];						\
									\
		EXPECT_TRUE(row(info, goid, r_, sizeof(r_)))		\
			TH_LOG("no goroutine %d in:\n%s", goid, info);	\
		EXPECT_TRUE(has(r_, status) && has(r_, fn))		\
			TH_LOG("goroutine %d: want %s in %s: %s", goid, \
			       status, fn, r_);				\
	} while (0)

TEST(gdb_lists_goroutines_and_their_frames)
{
	static char out[64 << 10], info[8192], bt[8192];
	char line[256];
	const char *gdb = find_gdb();

	REQUIRE_GMP();
	if (!gdb)
		SKIP(return, "no gdb in this guest (vm/stage-gdb.sh, or GMP_GDB)");
	EXPECT_EQ(0, run_gdb(gdb, out, sizeof(out))) TH_LOG("%s", out);
	section(out, "===INFO===\n", "===BT2===", info, sizeof(info));
	EXPECT_ROW(info, 1, "running", "gdb_stop_here");
	EXPECT_ROW(info, 2, "waiting: chan receive", "recv_blocked");
	EXPECT_ROW(info, 3, "waiting: sleep", "sleeper");
	EXPECT_ROW(info, 4, "waiting: sync.Mutex.Lock", "lock_waiter");
	/* Running, or between two of its slices: either way, its frames. */
	EXPECT_ROW(info, 5, "", "spinner");
	EXPECT_ROW(info, 6, "", "never_started");
	if (row(info, 6, line, sizeof(line)) && has(line, "runnable")) {
		EXPECT_TRUE(has(line, "not started: ")) TH_LOG("%s", line);
	}
	/* The selected thread's goroutine is marked. */
	EXPECT_TRUE(has(info, "\n* 1 ")) TH_LOG("%s", info);

	section(out, "===BT2===\n", "===BT5===", bt, sizeof(bt));
	EXPECT_TRUE(has(bt, "#0 ") && has(bt, " recv_blocked ("))
		TH_LOG("goroutine 2 bt:\n%s", bt);
	section(out, "===BT5===\n", "===BT1===", bt, sizeof(bt));
	EXPECT_TRUE(has(bt, "#0 ") && has(bt, "spinner ("))
		TH_LOG("goroutine 5 bt:\n%s", bt);
	/* The selected thread is main's again, at the breakpoint. */
	section(out, "===BT1===\n", "===END===", bt, sizeof(bt));
	EXPECT_TRUE(has(bt, "#0 ") && has(bt, "gdb_stop_here ()"))
		TH_LOG("bt after goroutine N bt:\n%s", bt);
	EXPECT_TRUE(has(out, "exited normally")) TH_LOG("%s", out);
	EXPECT_FALSE(has(out, "Python Exception")) TH_LOG("%s", out);
}

int main(int argc, char **argv)
{
	if (getenv("GMP_GDB_TARGET"))
		return target();
	return test_harness_run(argc, argv);
}
