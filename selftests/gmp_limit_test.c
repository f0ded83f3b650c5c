// SPDX-License-Identifier: GPL-2.0
/*
 * Limits: the kernel memory of an instance is charged to its process's
 * memory cgroup and given back with it; at the cgroup's limit, creating
 * an instance or claiming G table pages (MADV_POPULATE_WRITE, as kgo does)
 * is ENOMEM, the OOM killer is never called, and the instance stays whole.
 * A full G table is EAGAIN to kgo_go, the goroutines there run on, and
 * the slots of those that end come back. Goroutines blocked in read()
 * hold a thread each: below maxmcount they all run, and at it the program
 * stops with Go's "thread exhaustion" instead of freezing.
 *
 * The memory cgroup tests run each case in a child moved into a cgroup
 * of its own, under cgroup2 (mounted at /sys/fs/cgroup if it is not).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kselftest_harness.h"
#include "gmp_test_util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CGROOT	"/sys/fs/cgroup"
#define MIB	(1024L * 1024)

/* In a child: fail with the line and errno. */
#define CHECK(cond) do {						\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s failed (errno %d)\n",\
				__FILE__, __LINE__, #cond, errno);	\
			_exit(1);					\
		}							\
	} while (0)

static int cg_write(const char *cg, const char *file, const char *val)
{
	char path[160];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -EIO;
}

/* A number from a cgroup file, or the one after @key in it; -1 if none. */
static long cg_read(const char *cg, const char *file, const char *key)
{
	char path[160], buf[1024], line[64];
	const char *p = buf + 1;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	buf[0] = '\n';			/* every key follows a newline */
	if (read_file(path, buf + 1, sizeof(buf) - 1))
		return -1;
	if (key) {
		snprintf(line, sizeof(line), "\n%s ", key);
		p = strstr(buf, line);
		if (!p)
			return -1;
		p += strlen(line);
	}
	return strtol(p, NULL, 10);
}

/* memory.max = what the cgroup uses now + @margin bytes. */
static int cg_limit(const char *cg, long margin)
{
	char v[32];

	snprintf(v, sizeof(v), "%ld", cg_read(cg, "memory.current", NULL) +
		 margin);
	return cg_write(cg, "memory.max", v);
}

/*
 * A fresh memory cgroup in @cg, or NULL with the reason the test must
 * skip: no cgroup2, no memory controller, not root.
 */
static const char *cg_make(char *cg, size_t size, const char *name)
{
	char ctrl[256];

	if (access(GMP_DEVICE_PATH, F_OK))
		return GMP_DEVICE_PATH " missing: gmp.ko is not loaded";
	if (access(CGROOT "/cgroup.controllers", F_OK) &&
	    mount("none", CGROOT, "cgroup2", 0, NULL))
		return "cgroup2 is not mounted and cannot be";
	if (read_file(CGROOT "/cgroup.controllers", ctrl, sizeof(ctrl)) ||
	    !strstr(ctrl, "memory"))
		return "no memory controller (CONFIG_MEMCG)";
	if (cg_write(CGROOT, "cgroup.subtree_control", "+memory"))
		return "cannot enable the memory controller (not root?)";
	snprintf(cg, size, CGROOT "/gmp-%s-%d", name, getpid());
	if (mkdir(cg, 0755) && errno != EEXIST)
		return "cannot make a cgroup";
	return NULL;
}

/*
 * Run @fn in a child moved into @cg: its exit status, or 128 + the
 * signal that ended it. The OOM killer must not have run for it.
 */
static int in_cgroup(const char *cg, int (*fn)(const char *cg))
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		CHECK(cg_write(cg, "cgroup.procs", "0") == 0);
		_exit(fn(cg));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	if (cg_read(cg, "memory.events", "oom") != 0 ||
	    cg_read(cg, "memory.events", "oom_kill") != 0) {
		fprintf(stderr, "# the OOM killer ran in %s\n", cg);
		return 99;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A test running @fn in a child, in a memory cgroup of its own. */
#define MEMCG_TEST(name, fn)						\
	TEST(name)							\
	{								\
		char cg[128];						\
		const char *why = cg_make(cg, sizeof(cg), #fn);		\
									\
		if (why)						\
			SKIP(return, "%s", why);			\
		EXPECT_EQ(0, in_cgroup(cg, fn));			\
		rmdir(cg);						\
	}

static int create(int fd, uint32_t maxprocs, uint32_t maxg,
		  struct gmp_create *c)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->nprocs = 1;
	c->maxprocs = maxprocs;
	c->maxg = maxg;
	return ioctl(fd, GMP_IOC_CREATE, c);
}

/* Poll memory.current until it is at most @want, up to 5 s. */
static long current_falls_to(const char *cg, long want)
{
	long cur = cg_read(cg, "memory.current", NULL);
	int i;

	for (i = 0; i < 500 && cur > want; i++) {
		usleep(10000);
		cur = cg_read(cg, "memory.current", NULL);
	}
	return cur;
}

/* --- The instance's memory is the cgroup's -------------------------------- */

#define BIG_MAXG	GMP_MAXG_MAX
#define NPOPULATE	2048	/* G table pages: 8 MiB */

static int charged(const char *cg)
{
	long c0, c1, c2;
	struct gmp_create c;
	char *sched;
	int fd;

	c0 = cg_read(cg, "memory.current", NULL);
	fd = open(GMP_DEVICE_PATH, O_RDWR);
	CHECK(fd >= 0);
	/* 2^24 slots: 2 MiB of page pointers and 2 MiB of gk pointers. */
	CHECK(create(fd, 64, BIG_MAXG, &c) == 0);
	c1 = cg_read(cg, "memory.current", NULL);
	CHECK(c1 - c0 >= 3 * MIB);

	sched = mmap(NULL, c.sched_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     fd, GMP_OFF_SCHED);
	CHECK(sched != MAP_FAILED);
	CHECK(madvise(sched + c.gtab_off, NPOPULATE * 4096L,
		      MADV_POPULATE_WRITE) == 0);
	c2 = cg_read(cg, "memory.current", NULL);
	CHECK(c2 - c1 >= NPOPULATE * 4096L);

	/* All of it is given back with the instance. */
	CHECK(munmap(sched, c.sched_size) == 0);
	CHECK(close(fd) == 0);
	CHECK(current_falls_to(cg, c0 + MIB) <= c0 + MIB);
	return 0;
}

MEMCG_TEST(instance_memory_is_charged_and_given_back, charged)

/* --- CREATE at the limit ---------------------------------------------------- */

static int create_at_limit(const char *cg)
{
	struct gmp_create c;
	int fd = open(GMP_DEVICE_PATH, O_RDWR);

	CHECK(fd >= 0);
	CHECK(cg_limit(cg, 2 * MIB) == 0);
	/* Wants 4 MiB and more: refused, not paid for by the OOM killer. */
	CHECK(create(fd, 1024, BIG_MAXG, &c) == -1 && errno == ENOMEM);
	/* The same file can still make an instance that fits. */
	CHECK(create(fd, 1, 4096, &c) == 0);
	CHECK(close(fd) == 0);
	return 0;
}

MEMCG_TEST(create_at_the_limit_is_enomem, create_at_limit)

/* --- G table pages at the limit --------------------------------------------- */

static int gtab_at_limit(const char *cg)
{
	struct gmp_create c;
	char *gtab;
	int fd = open(GMP_DEVICE_PATH, O_RDWR);

	CHECK(fd >= 0);
	CHECK(create(fd, 1, 1 << 20, &c) == 0);		/* 64 MiB of slots */
	gtab = mmap(NULL, c.sched_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, GMP_OFF_SCHED);
	CHECK(gtab != MAP_FAILED);
	gtab += c.gtab_off;
	CHECK(madvise(gtab, 4096, MADV_POPULATE_WRITE) == 0);
	CHECK(cg_limit(cg, 2 * MIB) == 0);
	CHECK(madvise(gtab, c.sched_size - c.gtab_off,
		      MADV_POPULATE_WRITE) == -1 && errno == ENOMEM);
	/* A page the kernel had still serves. */
	CHECK(madvise(gtab, 4096, MADV_POPULATE_WRITE) == 0);
	((volatile char *)gtab)[64] = 1;
	CHECK(close(fd) == 0);
	return 0;
}

MEMCG_TEST(gtab_pages_at_the_limit_are_enomem, gtab_at_limit)

/* --- A full G table ---------------------------------------------------------- */

static struct kgo_chan *gate;
static struct kgo_waitgroup wg;
static long finished;

static void parker(void *arg)
{
	long v;

	(void)arg;
	kgo_waitgroup_done(&wg);	/* started */
	kgo_chan_recv(gate, &v);	/* until the gate closes */
	__atomic_add_fetch(&finished, 1, __ATOMIC_RELAXED);
	kgo_waitgroup_done(&wg);
}

#define SMALL_MAXG	192	/* slot 0 is no goroutine: two chunks fit */
#define STR(x)		#x
#define XSTR(x)		STR(x)

static int full_main(void *arg)
{
	int i, n = 0, err = 0;

	(void)arg;
	gate = kgo_chan_make(sizeof(long), 0);
	CHECK(gate);
	kgo_waitgroup_add(&wg, SMALL_MAXG);
	for (i = 0; i < SMALL_MAXG && !err; i++) {
		err = kgo_go(parker, NULL);
		n += !err;
	}
	CHECK(err == -EAGAIN);
	CHECK(n >= 64 && n < SMALL_MAXG);
	kgo_waitgroup_add(&wg, n - SMALL_MAXG);
	kgo_waitgroup_wait(&wg);		/* all n started */

	kgo_waitgroup_add(&wg, n);
	kgo_chan_close(gate);
	kgo_waitgroup_wait(&wg);
	CHECK(finished == n);

	/*
	 * The slots of ended goroutines serve new ones, once they have
	 * left them (just after their last kgo_waitgroup_done()).
	 */
	gate = kgo_chan_make(sizeof(long), 0);
	CHECK(gate);
	kgo_waitgroup_add(&wg, 2 * n);
	for (i = 0; i < n; i++) {
		int tries = 0;

		while ((err = kgo_go(parker, NULL)) == -EAGAIN && tries++ < 1000)
			kgo_sleep(1000000);
		CHECK(err == 0);
	}
	kgo_chan_close(gate);
	kgo_waitgroup_wait(&wg);
	CHECK(finished == 2 * n);
	return 0;
}

TEST(full_gtable_is_eagain_and_its_slots_come_back)
{
	int st = -1;
	pid_t pid;

	REQUIRE_GMP();
	pid = fork();
	if (pid == 0) {
		int ret;

		setenv("KGO_MAXG", XSTR(SMALL_MAXG), 1);
		/* One P: an ended G waits on its P's free list for reuse. */
		setenv("GMPMAXPROCS", "1", 1);
		CHECK(kgo_run(full_main, NULL, &ret) == 0);
		_exit(ret);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

/* --- Threads: goroutines blocked in read() hold one each ---------------- */

static int readers_pipe[2];
static uint32_t nreaders;
static struct latch readers_done;

static void reader(void *arg)
{
	char c;

	(void)arg;
	if (read(readers_pipe[0], &c, 1) != 1)
		abort();
	latch_done(&readers_done);
}

/*
 * @nreaders goroutines each read one byte of a pipe nobody has written
 * yet, so each blocks its thread. Main sleeps until there are as many
 * threads (it needs an M of its own to wake up and look), then writes a
 * byte for each.
 */
static int readers_main(void *arg)
{
	long long threads = 0;
	uint32_t i;
	int r;

	(void)arg;
	readers_done.target = nreaders;
	for (i = 0; i < nreaders; i++) {
		r = kgo_go(reader, NULL);
		GCHECK_RET(!r, 10, "kgo_go of reader %u of %u returned %d, want 0",
			   i + 1, nreaders, r);
	}
	while (threads < nreaders) {
		kgo_sleep(50 * 1000 * 1000);
		if (trace_counter("threads", &threads))
			return 12;	/* no schedtrace: the TEST skips */
	}
	for (i = 0; i < nreaders; i++)
		GCHECK_RET(write(readers_pipe[1], "x", 1) == 1, 11,
			   "write %u of %u to the readers' pipe failed (errno %d)",
			   i + 1, nreaders, errno);
	latch_wait(&readers_done);
	return 0;
}

TEST_TIMEOUT(blocked_readers_below_the_thread_limit_run, 600)
{
	char err[512];
	int status;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(readers_pipe));
	nreaders = 2000;
	status = run_in_child(readers_main, "2", err, sizeof(err));
	if (status == 12)
		SKIP(return, "no schedtrace to count threads (debugfs)");
	EXPECT_EQ(0, status);
	if (err[0])
		TH_LOG("stderr: %s", err);
}

/*
 * @nreaders goroutines block in read() and main sleeps in turn, for good:
 * once every reader holds a thread of the 10,000, main needs a 10,001st
 * to wake up. Main may well wake before that, on an M whose reader has
 * not blocked yet (the program runs on then), so it never writes: the
 * only way out is Go's fatal error, and a freeze is the harness's timeout.
 */
static int exhaust_main(void *arg)
{
	uint32_t i;
	int r;

	(void)arg;
	for (i = 0; i < nreaders; i++) {
		r = kgo_go(reader, NULL);
		GCHECK_RET(!r, 10, "kgo_go of reader %u of %u returned %d, want 0",
			   i + 1, nreaders, r);
	}
	for (;;)
		kgo_sleep(50 * 1000 * 1000);
}

TEST_TIMEOUT(thread_exhaustion_is_reported, 900)
{
	char err[512];
	int status;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(readers_pipe));
	nreaders = 10000;
	status = run_in_child(exhaust_main, "2", err, sizeof(err));
	TH_LOG("exit %d, stderr: %s", status, err);
	EXPECT_EQ(128 + SIGABRT, status);
	/*
	 * The guest may refuse a thread before kgo's limit (pids, memory):
	 * that is reported too, as Go's newosproc does.
	 */
	if (!strstr(err, "failed to create new OS thread")) {
		EXPECT_NE(NULL, strstr(err, "fatal error: thread exhaustion"));
		EXPECT_NE(NULL, strstr(err, "10000-thread limit"));
	}
}

TEST_HARNESS_MAIN
