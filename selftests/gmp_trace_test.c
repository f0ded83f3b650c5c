// SPDX-License-Identifier: GPL-2.0
/*
 * The module's tracepoints (issue 23), read through tracefs as perf,
 * trace-cmd and bpftrace read them: with the gmp events on, a program
 * that spawns, steals, parks on a pipe, is preempted and blocks in a
 * system call must leave each kind of event, with its own tgid and
 * sane fields.
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

TEST(tracepoints_show_the_scheduler)
{
	static const char *const events[] = {
		"gmp_execute", "gmp_park", "gmp_ready", "gmp_steal",
		"gmp_preempt", "gmp_handoff", "gmp_mstart", "gmp_mstop",
	};
	static char text[8 << 20];
	char err[256];
	size_t got = 0, i;
	ssize_t n;
	pid_t pid;
	int fd, status;

	REQUIRE_GMP();
	if (access(TRACEFS "/events", F_OK)) {
		mkdir(TRACEFS, 0755);
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	}
	if (access(TRACEFS "/events/gmp/enable", F_OK))
		SKIP(return, "no gmp events in tracefs (a kernel without event tracing?)");
	ASSERT_EQ(0, put("tracing_on", "0"));
	ASSERT_EQ(0, put("buffer_size_kb", "8192"));
	ASSERT_EQ(0, put("trace", ""));
	ASSERT_EQ(0, put("events/gmp/enable", "1"));
	ASSERT_EQ(0, put("tracing_on", "1"));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(run_with_procs(workload, NULL, "2") & 0xff);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	put("tracing_on", "0");
	put("events/gmp/enable", "0");
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("workload status %#x", status);

	fd = open(TRACEFS "/trace", O_RDONLY);
	ASSERT_LE(0, fd);
	while (got < sizeof(text) - 1 &&
	       (n = read(fd, text + got, sizeof(text) - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = 0;
	close(fd);
	put("trace", "");
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
