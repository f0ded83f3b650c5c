// SPDX-License-Identifier: GPL-2.0
/*
 * Regression tests for the findings of a security review of the module
 * (Documentation/security.rst, "Review findings"): each failed, or crashed
 * the kernel, before its fix.
 *
 *  - create_retry_after_late_failure: a CREATE that fails after the
 *    scheduler is set up (its out fields cannot be written back) must
 *    leave nothing behind for a retry on the same file to chain to.
 *  - dofork_child_gets_no_pages: MADV_DOFORK on gmp's mappings must not
 *    give a forked child the parent's state page, run queues or G table.
 *  - user_instance_limit: one user's instances (each a sysmon thread) are
 *    bounded by the max_user_instances module parameter.
 *  - restart_block_stays_on_its_thread: a system call restarted through
 *    restart_syscall() after its goroutine's P was handed off restarts on
 *    the thread that holds its restart block.
 *  - uprobe_step_not_preempted: a preemption never moves rip while a uprobe
 *    single-steps an instruction out of line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "gmp_raw.h"
#include "kselftest_harness.h"
#include "gmp_test_util.h"

static long gmp_ioctl_ret(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

/* A CREATE on @fd with @nprocs P's and room for @maxprocs: 0 or -errno. */
static long create(int fd, struct gmp_create *c, uint32_t nprocs,
		   uint32_t maxprocs)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->nprocs = nprocs;
	c->maxprocs = maxprocs;
	return gmp_ioctl_ret(fd, GMP_IOC_CREATE, (uintptr_t)c);
}

/* --- A CREATE that fails late, then a retry ------------------------------ */

TEST(create_retry_after_late_failure)
{
	long pg = sysconf(_SC_PAGESIZE);
	static const uint32_t sizes[] = { 4, 1, 3, 2, 4 };
	struct gmp_create *c;
	struct gmp_state *st;
	unsigned int i, round;
	int fd;

	REQUIRE_GMP();
	c = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	ASSERT_NE(MAP_FAILED, c);
	fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);

	/*
	 * Readable, not writable: the kernel reads the request, sets the
	 * instance up, then fails to write the out fields back. Twice, so
	 * a second failure cannot build on the first one's leftovers either.
	 */
	for (round = 0; round < 2; round++) {
		memset(c, 0, sizeof(*c));
		c->size = sizeof(*c);
		c->nprocs = 2;
		c->maxprocs = 4;
		ASSERT_EQ(0, mprotect(c, pg, PROT_READ));
		EXPECT_EQ(-EFAULT, gmp_ioctl_ret(fd, GMP_IOC_CREATE,
						 (uintptr_t)c));
		ASSERT_EQ(0, mprotect(c, pg, PROT_READ | PROT_WRITE));
		/* Nothing was created. */
		EXPECT_EQ(-EBADFD, gmp_ioctl_ret(fd, GMP_IOC_PROCRESIZE, 1));
		EXPECT_EQ(MAP_FAILED, mmap(NULL, pg, PROT_READ, MAP_SHARED, fd,
					   GMP_OFF_STATE));
	}

	ASSERT_EQ(0, create(fd, c, 2, 4));
	st = mmap(NULL, c->state_size, PROT_READ, MAP_SHARED, fd,
		  GMP_OFF_STATE);
	ASSERT_NE(MAP_FAILED, st);
	EXPECT_EQ(2, st->nprocs);
	EXPECT_EQ(2, st->npidle) {
		TH_LOG("a fresh instance with 2 P's has %u idle: P's of the failed CREATE are still listed",
		       st->npidle);
	}
	/* procresize walks every P: each must be this instance's own. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		long old = st->nprocs;

		EXPECT_EQ(old, gmp_ioctl_ret(fd, GMP_IOC_PROCRESIZE, sizes[i]));
		EXPECT_EQ(sizes[i], st->nprocs);
		EXPECT_EQ(sizes[i], st->npidle) {
			TH_LOG("after PROCRESIZE %u: npidle %u", sizes[i],
			       st->npidle);
		}
	}
	EXPECT_EQ(-EEXIST, create(fd, c, 1, 1));
	close(fd);
	munmap(c, pg);
}

/* --- MADV_DOFORK ------------------------------------------------------- */

/*
 * In a forked child, touch @addr (write if @write): returns how the child
 * ended, 128 + the signal if it was killed.
 */
static int child_touch(volatile uint32_t *addr, bool write)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		if (write)
			*addr = 7;
		else
			(void)*addr;
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(dofork_child_gets_no_pages)
{
	struct gmp_create in = { .nprocs = 1, .maxprocs = 1 };
	struct gmp_pshared *p0;
	struct gmp_create c;
	struct gmp_state *st;
	struct gmp_ring *ring;
	struct raw_inst ri;
	int fd;

	REQUIRE_GMP();
	fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, raw_inst_setup(&ri, fd, &in));
	c = ri.c;
	st = ri.state;
	ring = ri.ring;
	p0 = ri.p0;
	/* The parent's own pages are there (and faulted in). */
	ASSERT_EQ(GMP_STATE_MAGIC, st->magic);
	ASSERT_EQ(0, p0->runnext);
	ASSERT_EQ(0, ring->tail);

	/* Undo VM_DONTCOPY; whether that is allowed or not, no page leaks. */
	madvise(st, c.state_size, MADV_DOFORK);
	madvise(ring, c.ring_size, MADV_DOFORK);
	madvise(p0, c.sched_size, MADV_DOFORK);

	EXPECT_EQ(128 + SIGBUS, child_touch(&st->magic, false))
		TH_LOG("a forked child read the parent's state page");
	EXPECT_EQ(128 + SIGBUS, child_touch(&ring->tail, true))
		TH_LOG("a forked child wrote the parent's spawn ring");
	EXPECT_EQ(128 + SIGBUS, child_touch(&p0->runnext, true))
		TH_LOG("a forked child wrote the parent's P 0");
	EXPECT_EQ(128 + SIGBUS,
		  child_touch((uint32_t *)((char *)p0 + c.gtab_off + 4096), true))
		TH_LOG("a forked child touched a G table page");
	EXPECT_EQ(0, p0->runnext);
	EXPECT_EQ(0, ring->tail);
	close(fd);
}

/* --- Instances per user ------------------------------------------------ */

#define MAX_USER_PARAM	"/sys/module/gmp/parameters/max_user_instances"

static int param_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

/*
 * In a child running as @uid (if not 0): create instances until one is
 * refused, at most @max + 2. Returns how many were created, and the
 * refusal's errno in *@err (0 if none was refused).
 */
static int create_until_refused(uid_t uid, int max, int *err)
{
	int fds[2], status, i, r[2] = { -1, 0 };
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (!pid) {
		struct gmp_create c;
		int n = 0, e = 0;

		if (uid && setresuid(uid, uid, uid))
			_exit(1);
		for (i = 0; i < max + 2; i++) {
			int fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
			long ret = fd < 0 ? -errno : create(fd, &c, 1, 1);

			if (ret) {
				e = (int)-ret;
				break;
			}
			n++;
		}
		r[0] = n;
		r[1] = e;
		if (write(fds[1], r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);	/* every instance goes with the process */
	}
	close(fds[1]);
	if (read(fds[0], r, sizeof(r)) != sizeof(r))
		r[0] = -1;
	close(fds[0]);
	waitpid(pid, &status, 0);
	*err = r[1];
	return r[0];
}

TEST(user_instance_limit)
{
	char old[32] = "";
	int n, err;

	REQUIRE_GMP();
	if (geteuid())
		SKIP(return, "needs root to set %s", MAX_USER_PARAM);
	ASSERT_EQ(0, read_file(MAX_USER_PARAM, old, sizeof(old)));
	EXPECT_EQ(128, atoi(old)) TH_LOG("the default changed: %s", old);
	ASSERT_EQ(0, param_write(MAX_USER_PARAM, "3"));

	/* Instances of exited processes are uncharged: twice the same. */
	n = create_until_refused(65534, 3, &err);
	EXPECT_EQ(3, n);
	EXPECT_EQ(EMFILE, err);
	n = create_until_refused(65534, 3, &err);
	EXPECT_EQ(3, n) TH_LOG("an exited process still holds instances");
	EXPECT_EQ(EMFILE, err);
	/* Another user has its own count; CAP_SYS_RESOURCE is not bound. */
	n = create_until_refused(65533, 3, &err);
	EXPECT_EQ(3, n);
	n = create_until_refused(0, 3, &err);
	EXPECT_EQ(5, n);
	EXPECT_EQ(0, err);
	/* 0 lifts the limit. */
	ASSERT_EQ(0, param_write(MAX_USER_PARAM, "0"));
	n = create_until_refused(65534, 3, &err);
	EXPECT_EQ(5, n);

	old[strcspn(old, "\n")] = 0;
	ASSERT_EQ(0, param_write(MAX_USER_PARAM, old));
}

/* --- restart_syscall() after a hand-off --------------------------------- */

#define SLEEP_NS	1500000000LL

struct restart_run {
	int stopper;		/* pipe to the stopping process */
	int sleep_ret;		/* clock_nanosleep's result */
	long long slept_ns;
	uint32_t done;
	uint64_t spins;
	long long handoffs;	/* -1: debugfs unreadable */
};

static struct restart_run rr;

/*
 * Sleeps in one system call while the other goroutine keeps the only P
 * busy: sysmon hands the P off, then the process is stopped and continued,
 * which interrupts the sleep with -ERESTART_RESTARTBLOCK. It restarts
 * through restart_syscall() from this thread's restart block.
 */
static void restart_sleeper(void *arg)
{
	struct timespec ts = { SLEEP_NS / 1000000000LL, SLEEP_NS % 1000000000LL };
	long long t0 = now_ns();
	char b = 1;

	if (write(rr.stopper, &b, 1) != 1)
		rr.sleep_ret = -1;
	rr.sleep_ret = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	rr.slept_ns = now_ns() - t0;
	__atomic_store_n(&rr.done, 1, __ATOMIC_RELEASE);
}

static void restart_spinner(void *arg)
{
	while (!__atomic_load_n(&rr.done, __ATOMIC_ACQUIRE)) {
		rr.spins++;
		kgo_yield();
	}
}

static int restart_main(void *arg)
{
	kgo_go(restart_sleeper, NULL);
	kgo_go(restart_spinner, NULL);
	while (!__atomic_load_n(&rr.done, __ATOMIC_ACQUIRE))
		kgo_sleep(10 * 1000 * 1000);
	if (trace_counter("handoff", &rr.handoffs))
		rr.handoffs = -1;
	return 0;
}

TEST_TIMEOUT(restart_block_stays_on_its_thread, 120)
{
	int fds[2], status;
	pid_t stopper;
	char b;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(fds));
	stopper = fork();
	ASSERT_LE(0, stopper);
	if (!stopper) {
		/*
		 * Once the sleeper is about to sleep, give sysmon time to hand
		 * its P off, then stop and continue the whole process.
		 */
		close(fds[1]);
		if (read(fds[0], &b, 1) != 1)
			_exit(1);
		usleep(300 * 1000);
		kill(getppid(), SIGSTOP);
		usleep(100 * 1000);
		kill(getppid(), SIGCONT);
		_exit(0);
	}
	close(fds[0]);
	rr.stopper = fds[1];
	setenv("KGO_SLICE_US", "10000", 1);
	ASSERT_EQ(0, run_with_procs(restart_main, NULL, "1"));
	waitpid(stopper, &status, 0);
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	close(fds[1]);

	EXPECT_EQ(0, rr.sleep_ret) {
		TH_LOG("clock_nanosleep(1.5 s) returned %s after %lld ms: the restart ran on another thread's restart block",
		       strerror(rr.sleep_ret), rr.slept_ns / 1000000);
	}
	EXPECT_LE(SLEEP_NS, rr.slept_ns);
	EXPECT_LT(0, rr.spins);
	/* The scenario happened: the sleeper's P was handed off. */
	if (rr.handoffs >= 0)
		EXPECT_LT(0, rr.handoffs) TH_LOG("sysmon never took the sleeper's P");
	TH_LOG("slept %lld ms, %lld hand-offs", rr.slept_ns / 1000000,
	       rr.handoffs);
}

/* --- uprobes ------------------------------------------------------------ */

#define PROBE_GROUP	"gmp_regress"
#define NPROBED		4

static const char *tracefs(void)
{
	if (!access("/sys/kernel/tracing/uprobe_events", W_OK))
		return "/sys/kernel/tracing";
	if (!access("/sys/kernel/debug/tracing/uprobe_events", W_OK))
		return "/sys/kernel/debug/tracing";
	return NULL;
}

static __attribute__((noinline, noipa)) uint64_t probed_add(uint64_t v)
{
	return v + 3;
}

struct probed_run {
	uint64_t calls[NPROBED];
	uint64_t want;
	uint32_t left;
	uint32_t bad;
};

static struct probed_run pr;

/* Calls the probed function, checking each result; every call traps. */
static void probed_loop(void *arg)
{
	uint64_t *calls = arg, v = 0;

	while (*calls < pr.want) {
		uint64_t next = probed_add(v);

		if (next != v + 3)
			__atomic_add_fetch(&pr.bad, 1, __ATOMIC_RELAXED);
		v = next;
		(*calls)++;
	}
	if (v != pr.want * 3)
		__atomic_add_fetch(&pr.bad, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&pr.left, 1, __ATOMIC_RELEASE);
}

static int probed_main(void *arg)
{
	int i;

	pr.left = NPROBED;
	for (i = 0; i < NPROBED; i++)
		kgo_go(probed_loop, &pr.calls[i]);
	while (__atomic_load_n(&pr.left, __ATOMIC_ACQUIRE))
		kgo_sleep(5 * 1000 * 1000);
	return 0;
}

/* Run probed_main with 1 ms slices in a child: how the child ended. */
static int probed_child(uint64_t want, uint64_t *npreempted)
{
	int fds[2], status;
	uint64_t r[2] = { 0, 0 };
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (!pid) {
		struct kgo_stats st = { .size = sizeof(st) };

		pr.want = want;
		setenv("KGO_SLICE_US", "1000", 1);
		if (run_with_procs(probed_main, NULL, "2"))
			_exit(2);
		kgo_stats(&st);
		r[0] = st.npreempted;
		r[1] = pr.bad;
		if (write(fds[1], r, sizeof(r)) != sizeof(r))
			_exit(3);
		_exit(r[1] ? 4 : 0);
	}
	close(fds[1]);
	if (read(fds[0], r, sizeof(r)) != sizeof(r))
		r[0] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	*npreempted = r[0];
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The file offset of @addr in the executable mapping that holds it. */
static long text_offset(const void *addr, char *path, size_t size)
{
	unsigned long start, end, off, a = (unsigned long)addr;
	char line[512], perms[8];
	FILE *f = fopen("/proc/self/maps", "r");
	long ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s %lx", &start, &end, perms, &off) != 4)
			continue;
		if (a >= start && a < end && perms[2] == 'x') {
			ret = (long)(a - start + off);
			break;
		}
	}
	fclose(f);
	if (ret >= 0 && !realpath("/proc/self/exe", path))
		ret = -1;
	(void)size;
	return ret;
}

static int tracefs_write(const char *dir, const char *file, const char *val,
			 bool append)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

TEST_TIMEOUT(uprobe_step_not_preempted, 600)
{
	char exe[PATH_MAX], probe[PATH_MAX + 128], prof[8192];
	const char *dir = tracefs();
	uint64_t npreempted = 0, want;
	long long hits = 0;
	long off;
	char *p;
	int ret, round;

	REQUIRE_GMP();
	if (!dir)
		SKIP(return, "no tracefs with uprobe_events (CONFIG_UPROBE_EVENTS)");
	off = text_offset((const void *)probed_add, exe, sizeof(exe));
	ASSERT_LE(0, off);
	snprintf(probe, sizeof(probe), "p:%s/probed %s:0x%lx\n", PROBE_GROUP,
		 exe, off);
	ret = tracefs_write(dir, "uprobe_events", probe, true);
	if (ret)
		SKIP(return, "uprobe_events refused the probe: %s", strerror(-ret));
	ASSERT_EQ(0, tracefs_write(dir, "events/" PROBE_GROUP "/probed/enable",
				   "1", false));

	/*
	 * Every call to probed_add() traps and single-steps out of line,
	 * and goroutines are preempted every millisecond: rounds of more
	 * calls until enough preemptions landed beside the steps.
	 */
	ret = 0;
	for (round = 0, want = 2000; round < 6 && npreempted < 200; round++) {
		uint64_t n = 0;

		ret = probed_child(want, &n);
		if (ret)
			break;
		npreempted += n;
		want *= 2;
	}
	tracefs_write(dir, "events/" PROBE_GROUP "/probed/enable", "0", false);
	if (!read_file("/sys/kernel/tracing/uprobe_profile", prof, sizeof(prof)) ||
	    !read_file("/sys/kernel/debug/tracing/uprobe_profile", prof,
		       sizeof(prof))) {
		p = strstr(prof, "probed");
		if (p)
			sscanf(p + strlen("probed"), "%lld", &hits);
	}
	tracefs_write(dir, "uprobe_events", "-:" PROBE_GROUP "/probed\n", true);

	EXPECT_EQ(0, ret) {
		TH_LOG("a goroutine calling a uprobed function ended with %d (128 + signal, or 4: a wrong result)",
		       ret);
	}
	EXPECT_LT(0, hits) TH_LOG("the uprobe never fired");
	EXPECT_LT(0, npreempted) TH_LOG("no preemption happened");
	TH_LOG("%lld uprobe hits, %llu preemptions in %d rounds", hits,
	       (unsigned long long)npreempted, round);
}

TEST_HARNESS_MAIN
