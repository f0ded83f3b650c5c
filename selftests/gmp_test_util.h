/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by gmp's kgo-based selftests.
 *
 * A latch: goroutines count down with latch_done(), a goroutine waits in
 * latch_wait() parked (Go's WaitGroup, or main blocking on a channel),
 * so the waiter does not occupy an M the way a kgo_yield() loop would.
 *
 * Goroutine-side checks (GCHECK and friends, below): what failed in a
 * goroutine, a plain thread or a forked child, said in a sentence.
 */
#ifndef GMP_TEST_UTIL_H
#define GMP_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../userlib/kgo.h"

/*
 * --- Goroutine-side checks ----------------------------------------------
 *
 * The harness's EXPECT and ASSERT belong to the TEST's own thread: a
 * goroutine (or a plain thread, or a forked child) cannot use them, so a
 * body run by kgo_run() reports a failure as a nonzero status, and the
 * TEST prints only "Expected 0 (0) == status (7)". These say what failed:
 *
 *   GCHECK_RET(r == 1, 2, "recv %ld returned %d, want 1", i, r);
 *
 * in the body, and, where the TEST reads the status,
 *
 *   # gmp_chan_test.c:45: recv 17 returned 0, want 1
 *
 * on stderr (a TAP comment) before the harness's own line.
 *
 * GCHECK(cond, fmt, ...)
 *	An expression: 1 if @cond holds; else the failure is recorded
 *	(file, line and the printf-style sentence) and it is 0, so that
 *	"if (!GCHECK(...)) { ...; return 3; }" can tidy up first.
 * GCHECK_RET(cond, status, fmt, ...)
 *	The usual form: when @cond is false, record it and return @status
 *	from the calling function (keep the status a TEST asserts on).
 * GCHECK_FAIL(fmt, ...)
 *	Record a failure found some other way.
 *
 * The sentence says what was expected and what was seen, values
 * included: "kgo_chan_trysend on a full channel returned -32, want
 * -EAGAIN". The first failure of the process is the one kept (later ones
 * are counted): goroutines on several M's may fail at once, and the
 * first writer wins through an atomic exchange. Recording formats into a
 * static buffer with vsnprintf and at most writes it out with one
 * writev(): no malloc, no lock, no kgo call, never a park or an abort,
 * so it is safe in any goroutine, under preemption, and in a plain
 * thread. The caller decides what a failure does (usually: return).
 *
 * Where the record is printed:
 *  - in the TEST's process, by gcheck_report(status), which prints the
 *    record (if any, once) and returns @status, so it wraps the status
 *    being asserted: EXPECT_EQ(0, gcheck_report(status)) after kgo_run().
 *    run_with_procs() calls it itself.
 *  - in a forked child, at the failure, to the stderr the test was
 *    started with, since the child's record dies with it: run_in_child()
 *    sets that up (its capture of the child's stderr into @err is left
 *    as it was, so a TEST matching kgo's messages there is unaffected);
 *    a test that forks a kgo child itself calls gcheck_child(2) in it.
 */
struct gcheck_record {
	uint32_t claimed;	/* a failure took the record */
	uint32_t written;	/* ... and finished writing it */
	uint32_t shown;		/* printed */
	uint32_t more;		/* failures after the first */
	char line[400];		/* "file.c:123: sentence" */
};

static struct gcheck_record gcheck_rec __attribute__((unused));
static int gcheck_echo_fd __attribute__((unused)) = -1;

/* "# <record>\n" to @fd in one write (a pipe keeps it whole). */
static inline void gcheck_write(int fd)
{
	struct iovec iov[3] = {
		{ .iov_base = "# ", .iov_len = 2 },
		{ .iov_base = gcheck_rec.line,
		  .iov_len = strnlen(gcheck_rec.line, sizeof(gcheck_rec.line)) },
		{ .iov_base = "\n", .iov_len = 1 },
	};

	if (writev(fd, iov, 3) < 0)
		return;		/* nowhere left to say it */
}

static __attribute__((format(printf, 3, 4), unused, noinline))
void gcheck_fail(const char *file, int line, const char *fmt, ...)
{
	const char *base = strrchr(file, '/');
	size_t size = sizeof(gcheck_rec.line);
	va_list ap;
	int n, fd;

	if (__atomic_exchange_n(&gcheck_rec.claimed, 1, __ATOMIC_ACQ_REL)) {
		__atomic_add_fetch(&gcheck_rec.more, 1, __ATOMIC_RELAXED);
		return;
	}
	n = snprintf(gcheck_rec.line, size, "%s:%d: ", base ? base + 1 : file,
		     line);
	if (n < 0 || (size_t)n >= size)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(gcheck_rec.line + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	__atomic_store_n(&gcheck_rec.written, 1, __ATOMIC_RELEASE);
	fd = __atomic_load_n(&gcheck_echo_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0 && !__atomic_exchange_n(&gcheck_rec.shown, 1,
					    __ATOMIC_ACQ_REL))
		gcheck_write(fd);
}

#define GCHECK(cond, fmt, ...)						\
	((cond) ? 1 : (gcheck_fail(__FILE__, __LINE__, fmt, ##__VA_ARGS__), 0))

#define GCHECK_RET(cond, status, fmt, ...) do {				\
		if (!GCHECK(cond, fmt, ##__VA_ARGS__))			\
			return (status);				\
	} while (0)

#define GCHECK_FAIL(fmt, ...)						\
	gcheck_fail(__FILE__, __LINE__, fmt, ##__VA_ARGS__)

/*
 * The TEST's side: print the recorded failure, if there is one and it
 * was not printed yet, as a TAP comment on stderr; returns @status.
 */
static inline int gcheck_report(int status)
{
	uint32_t more;

	if (!__atomic_load_n(&gcheck_rec.claimed, __ATOMIC_ACQUIRE) ||
	    __atomic_exchange_n(&gcheck_rec.shown, 1, __ATOMIC_ACQ_REL))
		return status;
	if (!__atomic_load_n(&gcheck_rec.written, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "# a goroutine check failed (its record was still being written)\n");
		return status;
	}
	fflush(stderr);
	gcheck_write(2);
	more = __atomic_load_n(&gcheck_rec.more, __ATOMIC_RELAXED);
	if (more)
		fprintf(stderr, "# (and %u later check failure%s)\n", more,
			more == 1 ? "" : "s");
	return status;
}

/*
 * In a forked child: start with no record, and print a failure to @fd
 * (a descriptor of the stderr the test was started with) as it happens.
 */
static inline void gcheck_child(int fd)
{
	memset(&gcheck_rec, 0, sizeof(gcheck_rec));
	__atomic_store_n(&gcheck_echo_fd, fd, __ATOMIC_RELEASE);
}

/* Skip (with the reason) when the module is not loaded; harness tests only. */
#define REQUIRE_GMP() do {						\
		if (access("/dev/gmp", F_OK))				\
			SKIP(return, "/dev/gmp missing: gmp.ko is not loaded"); \
	} while (0)

/*
 * Skip (with the reason) in a test built with -fsanitize=thread: kgo's TSan
 * build maps each goroutine's stack on its own (no free list, no chunks),
 * and TSan keeps about 200 KiB for each live goroutine.
 */
#ifdef __SANITIZE_THREAD__
#define SKIP_UNDER_TSAN(why)	SKIP(return, "kgo's ThreadSanitizer build: " why)
#else
#define SKIP_UNDER_TSAN(why)	do { } while (0)
#endif

/*
 * A harness test with a timeout of its own (@secs): TEST() takes none, so
 * it runs as "run" of an empty fixture named @name. kselftest_harness.h
 * must be included where it is used.
 */
#define TEST_TIMEOUT(name, secs)					\
	FIXTURE(name) {							\
		int unused;						\
	};								\
	FIXTURE_SETUP(name) {}						\
	FIXTURE_TEARDOWN(name) {}					\
	TEST_F_TIMEOUT(name, run, secs)

/* The debug kernel (KASAN, lockdep, kmemleak): every kernel path slower. */
static inline bool slow_kernel(void)
{
	return !access("/sys/kernel/debug/kmemleak", F_OK);
}

/* CLOCK_MONOTONIC, ns. */
static inline long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/*
 * Run @fn as kgo's main goroutine on @procs P's: its status, or -errno.
 * A goroutine check's failure is printed (gcheck_report()).
 */
static inline int run_with_procs(int (*fn)(void *), void *arg,
				 const char *procs)
{
	int status = -1, r;

	setenv("GMPMAXPROCS", procs, 1);
	r = kgo_run(fn, arg, &status);
	return gcheck_report(r ? r : status);
}

/* Read a whole (small) file, NUL-terminated. */
static inline int read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	buf[n] = 0;
	fclose(f);
	return 0;
}

/*
 * A child that has not ended after child_watchdog_secs (0: no limit) is
 * described on stderr, each thread's state, kernel wait channel and
 * system call from /proc, then killed: a hang says where it was before
 * the harness's own timeout kills the test without a word.
 */
static int child_watchdog_secs;

static inline void describe_hung_child(pid_t pid)
{
	char path[320], buf[512];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	fprintf(stderr, "# child %d still running after %d s; its threads:\n",
		(int)pid, child_watchdog_secs);
	while (d && (de = readdir(d))) {
		static const char *const what[] = { "stat", "wchan", "syscall" };
		unsigned int i;

		if (de->d_name[0] == '.')
			continue;
		fprintf(stderr, "#  %s:", de->d_name);
		for (i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
			snprintf(path, sizeof(path), "/proc/%d/task/%s/%s",
				 (int)pid, de->d_name, what[i]);
			if (read_file(path, buf, sizeof(buf)) < 0)
				continue;
			buf[strcspn(buf, "\n")] = 0;
			if (!i && strrchr(buf, ')'))	/* stat: its state */
				strrchr(buf, ')')[3] = 0;
			fprintf(stderr, " %s=[%s]", what[i], buf);
		}
		fprintf(stderr, "\n");
	}
	if (d)
		closedir(d);
}

/*
 * run_with_procs(@fn) in a child process: how it ended (its exit status,
 * or 128 + the signal) and the start of what it wrote to stderr. A
 * goroutine check that fails in the child prints to this process's
 * stderr at once, not into @err.
 */
static inline int run_in_child(int (*fn)(void *), const char *procs,
			       char *err, size_t size)
{
	struct timespec start, now;
	int fds[2], status;
	struct pollfd pfd;
	size_t got;
	ssize_t n;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (!pid) {
		gcheck_child(fcntl(2, F_DUPFD_CLOEXEC, 3));
		dup2(fds[1], 2);
		_exit(run_with_procs(fn, NULL, procs) & 0xff);
	}
	close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	for (got = 0; got < size - 1; got += (size_t)n) {
		if (child_watchdog_secs &&
		    poll(&pfd, 1, 1000) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec >= child_watchdog_secs) {
				describe_hung_child(pid);
				kill(pid, SIGKILL);
			}
			n = 0;
			continue;
		}
		n = read(fds[0], err + got, size - 1 - got);
		if (n <= 0)
			break;
	}
	err[got] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Park until *word no longer holds @old: the usual loop around kgo_park. */
static inline void wait_change(uint32_t *word, uint32_t old)
{
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == old)
		kgo_park(word, old);
}

/* Publish a new value, then ready one goroutine parked on it. */
static inline void set_and_ready(uint32_t *word, uint32_t val)
{
	__atomic_store_n(word, val, __ATOMIC_RELEASE);
	kgo_ready(word, 1);
}

/*
 * errno through calls the compiler cannot see into: errno's address is
 * the thread's, and glibc lets the compiler keep it across a switch.
 */
static __attribute__((noipa, unused)) int read_errno(void)
{
	return errno;
}

static __attribute__((noipa, unused)) void write_errno(int v)
{
	errno = v;
}

struct latch {
	uint64_t count;
	uint64_t target;
	uint32_t open;
};

static inline void latch_wait_word(uint32_t *word)
{
	while (!__atomic_load_n(word, __ATOMIC_ACQUIRE))
		kgo_park(word, 0);
}

static inline void latch_open(uint32_t *word)
{
	__atomic_store_n(word, 1, __ATOMIC_RELEASE);
	kgo_ready(word, UINT32_MAX);
}

/* Count one; the one that reaches the target opens the latch. */
static inline void latch_done(struct latch *l)
{
	if (__atomic_add_fetch(&l->count, 1, __ATOMIC_ACQ_REL) == l->target)
		latch_open(&l->open);
}

static inline void latch_wait(struct latch *l)
{
	latch_wait_word(&l->open);
}

/* This process's debugfs directory, /sys/kernel/debug/gmp/<pid>-<n>. */
static inline int trace_dir(char *out, size_t size)
{
	char prefix[32];
	struct dirent *d;
	DIR *dir = opendir("/sys/kernel/debug/gmp");

	if (!dir)
		return -errno;
	snprintf(prefix, sizeof(prefix), "%d-", getpid());
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, prefix, strlen(prefix)))
			break;
	if (d)
		snprintf(out, size, "/sys/kernel/debug/gmp/%s", d->d_name);
	closedir(dir);
	return d ? 0 : -ENOENT;
}

/*
 * A counter of this process's schedtrace line ("handoff=3" and the like),
 * read from a goroutine while the instance lives: 0, or -errno.
 */
static inline int trace_counter(const char *name, long long *val)
{
	char dir[320], path[360], buf[4096], key[64];
	const char *p;
	int ret = trace_dir(dir, sizeof(dir));

	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/schedtrace", dir);
	ret = read_file(path, buf, sizeof(buf));
	if (ret)
		return ret;
	snprintf(key, sizeof(key), " %s=", name);
	p = strstr(buf, key);
	if (!p || sscanf(p + strlen(key), "%lld", val) != 1)
		return -ENOENT;
	return 0;
}

#endif /* GMP_TEST_UTIL_H */
