// SPDX-License-Identifier: GPL-2.0
/*
 * Scheduler traces (issue 23). The module's tracepoints, read through
 * tracefs as perf, trace-cmd and bpftrace read them: with the gmp events
 * on, a program that spawns, steals, parks on a pipe, is preempted and
 * blocks in a system call must leave each kind of event, with its own
 * tgid and sane fields. And kgo's own half (KGO_TRACE): every user-space
 * start and leaving per P, which kgo-trace.py merges with the kernel's
 * into a Chrome trace and a timeline picture.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gmp_test_util.h"

#define TRACEFS "/sys/kernel/tracing"
#define MS 1000000LL

static volatile int stop;
static int pipefd[2];

static int put(const char *file, const char *val)
{
	char path[256];
	int fd, ok;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -EIO;
}

static void spin_ms(long ms)
{
	long long end = now_ns() + ms * MS;

	while (now_ns() < end && !stop)
		;
}

static void spinner(void *arg)
{
	(void)arg;
	spin_ms(40);		/* several slices: sysmon preempts it */
}

static void burst(void *arg)
{
	(void)arg;
	spin_ms(1);
}

static void reader(void *arg)
{
	char c;

	(void)arg;
	kgo_read(pipefd[0], &c, 1);	/* parks in the netpoller */
}

static void sleeper(void *arg)
{
	(void)arg;
	usleep(60 * 1000);	/* a blocking system call: hand-off */
}

static int workload(void *arg)
{
	int i;

	(void)arg;
	if (pipe2(pipefd, O_NONBLOCK))
		return 1;
	kgo_go(reader, NULL);
	kgo_go(spinner, NULL);
	kgo_go(sleeper, NULL);
	for (i = 0; i < 200; i++)	/* this P's queue: the other steals */
		kgo_go(burst, NULL);
	kgo_sleep(30 * MS);
	if (write(pipefd[1], "x", 1) != 1)
		return 2;
	kgo_sleep(80 * MS);
	return 0;
}

/* How many lines of @text are event @name of process @pid. */
static int count(const char *text, const char *name, pid_t pid)
{
	char ev[64], tg[32];
	const char *l, *e;
	int n = 0;

	snprintf(ev, sizeof(ev), " %s: ", name);
	snprintf(tg, sizeof(tg), "tgid=%d ", pid);
	for (l = text; (l = strstr(l, ev)); l = e) {
		e = strchr(l, '\n');
		if (!e)
			e = l + strlen(l);
		if (memmem(l, e - l, tg, strlen(tg)))
			n++;
	}
	return n;
}

static int tracing_setup(void)
{
	if (access(TRACEFS "/events", F_OK)) {
		mkdir(TRACEFS, 0755);
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	}
	if (access(TRACEFS "/events/gmp/enable", F_OK))
		return -ENOENT;
	if (put("tracing_on", "0") || put("buffer_size_kb", "8192") ||
	    put("trace_clock", "mono") || put("trace", "") ||
	    put("events/gmp/enable", "1") || put("tracing_on", "1"))
		return -EIO;
	return 0;
}

/* All of @path, or "" (at most @size - 1 bytes): its length. */
static size_t slurp(const char *path, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		while (got < size - 1 &&
		       (n = read(fd, buf + got, size - 1 - got)) > 0)
			got += (size_t)n;
		close(fd);
	}
	buf[got] = 0;
	return got;
}

/* Tracing off again; the trace's text into @text (NUL-terminated). */
static size_t tracing_take(char *text, size_t size)
{
	size_t got;

	put("tracing_on", "0");
	put("events/gmp/enable", "0");
	got = slurp(TRACEFS "/trace", text, size);
	put("trace", "");
	return got;
}

static int run_workload(const char *kgo_trace)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (kgo_trace)
			setenv("KGO_TRACE", kgo_trace, 1);
		_exit(run_with_procs(workload, NULL, "2") & 0xff);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? pid : -2;
}

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

TEST(kgo_trace_and_kernel_events_make_one_timeline)
{
	static char text[8 << 20], kgo[4 << 20], out[8192], json[4 << 20];
	char cmd[512], line[64];
	struct stat st;
	pid_t pid;
	int fd, p, rc;

	REQUIRE_GMP();
	if (tracing_setup())
		SKIP(return, "no gmp events in tracefs (a kernel without event tracing?)");
	unlink("/tmp/kgo.trace");
	pid = run_workload("/tmp/kgo.trace");
	tracing_take(text, sizeof(text));
	ASSERT_LT(0, pid);
	fd = open("/tmp/kernel.trace", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)strlen(text), write(fd, text, strlen(text)));
	close(fd);

	/* kgo's half: its header, and starts and leavings on both P's. */
	slurp("/tmp/kgo.trace", kgo, sizeof(kgo));
	snprintf(line, sizeof(line), "kgo-trace 1 pid=%d nprocs=2 ", pid);
	EXPECT_EQ(0, strncmp(kgo, line, strlen(line))) TH_LOG("%.200s", kgo);
	for (p = 0; p < 2; p++) {
		snprintf(line, sizeof(line), " %d start ", p);
		EXPECT_TRUE(has(kgo, line)) TH_LOG("no start on P%d", p);
	}
	EXPECT_TRUE(has(kgo, " park ") && has(kgo, " end ") &&
		    has(kgo, " preempt ")) TH_LOG("%.2000s", kgo);

	if (access("/gmp/python.sh", X_OK) || access("/gmp/kgo-trace.py", R_OK))
		SKIP(return, "no Python in this guest for kgo-trace.py (vm/stage-gdb.sh)");
	snprintf(cmd, sizeof(cmd),
		 "/gmp/python.sh /gmp/kgo-trace.py /tmp/kgo.trace --kernel /tmp/kernel.trace --json /tmp/t.json --png /tmp/t.png > /tmp/t.out 2>&1");
	rc = system(cmd);
	slurp("/tmp/t.out", out, sizeof(out));
	EXPECT_EQ(0, rc) TH_LOG("%s", out);
	EXPECT_TRUE(has(out, "\nP0: ") && has(out, "\nP1: ") &&
		    has(out, "gmp_preempt: ") && has(out, "gmp_execute: "))
		TH_LOG("%s", out);
	slurp("/tmp/t.json", json, sizeof(json));
	EXPECT_EQ(0, strncmp(json, "{\"traceEvents\": [", 17)) TH_LOG("%.200s", json);
	EXPECT_TRUE(has(json, "\"name\": \"goroutine 1\"") &&
		    has(json, "\"name\": \"P1\"") &&
		    has(json, "\"name\": \"gmp_steal\"")) TH_LOG("%.400s", json);
	slurp("/tmp/t.png", out, 9);
	EXPECT_EQ(0, memcmp(out, "\x89PNG\r\n\x1a\n", 8));
	EXPECT_EQ(0, stat("/tmp/t.png", &st));
	EXPECT_LT(500, st.st_size);
}

TEST(tracepoints_show_the_scheduler)
{
	static const char *const events[] = {
		"gmp_execute", "gmp_park", "gmp_ready", "gmp_steal",
		"gmp_preempt", "gmp_handoff", "gmp_mstart", "gmp_mstop",
	};
	static char text[8 << 20];
	char err[256];
	size_t got, i;
	pid_t pid;

	REQUIRE_GMP();
	if (tracing_setup())
		SKIP(return, "no gmp events in tracefs (a kernel without event tracing?)");
	pid = run_workload(NULL);
	got = tracing_take(text, sizeof(text));
	ASSERT_LT(0, pid) TH_LOG("the workload failed");
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		snprintf(err, sizeof(err), "%s", events[i]);
		EXPECT_LT(0, count(text, events[i], pid))
			TH_LOG("no %s event of pid %d in %zu bytes of trace",
			       err, pid, got);
	}
	/* The ids are the program's own, from 1. */
	EXPECT_FALSE(strstr(text, "goid=0 ") != NULL) TH_LOG("an execute with goid 0");
}

TEST_HARNESS_MAIN
