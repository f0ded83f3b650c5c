/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by gmp's kgo-based selftests.
 *
 * A latch: goroutines count down with latch_done(), a goroutine waits in
 * latch_wait() parked (Go's WaitGroup, or main blocking on a channel),
 * so the waiter does not occupy an M the way a kgo_yield() loop would.
 */
#ifndef GMP_TEST_UTIL_H
#define GMP_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../userlib/kgo.h"

/* Skip (with the reason) when the module is not loaded; harness tests only. */
#define REQUIRE_GMP() do {						\
		if (access("/dev/gmp", F_OK))				\
			SKIP(return, "/dev/gmp missing: gmp.ko is not loaded"); \
	} while (0)

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

/* CLOCK_MONOTONIC, ns. */
static inline long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Run @fn as kgo's main goroutine on @procs P's: its status, or -errno. */
static inline int run_with_procs(int (*fn)(void *), void *arg,
				 const char *procs)
{
	int status = -1, r;

	setenv("GMPMAXPROCS", procs, 1);
	r = kgo_run(fn, arg, &status);
	return r ? r : status;
}

/*
 * run_with_procs(@fn) in a child process: how it ended (its exit status,
 * or 128 + the signal) and the start of what it wrote to stderr.
 */
static inline int run_in_child(int (*fn)(void *), const char *procs,
			       char *err, size_t size)
{
	int fds[2], status;
	size_t got;
	ssize_t n;
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (!pid) {
		dup2(fds[1], 2);
		_exit(run_with_procs(fn, NULL, procs) & 0xff);
	}
	close(fds[1]);
	for (got = 0; got < size - 1; got += (size_t)n) {
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
