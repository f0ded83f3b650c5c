// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Deadlock detection (Go's checkdead): the count of what can still make
 * progress, kgo's own threads, and the fatal "all goroutines are asleep".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

/* --- Deadlock detection: Go's checkdead ------------------------------------ */

/*
 * cd.live's count is only ever above the truth, never below: a
 * goroutine is counted in before it can run (newproc, goready) and out
 * after it stopped (its park committed, its exit), so zero means nothing
 * is running, no timer is armed and every goroutine waits on another.
 * A thread that is not kgo's (one the program started, even if it has
 * not used kgo yet) could still wake one, so kgo gives its verdict only
 * when every thread in /proc/self/task is one of its own (M's, the
 * template thread), each registered by its tid from its first
 * instruction to its last: one still being started counts as foreign. With
 * others kgo says nothing, as Go does with cgo's extra M's.
 */
#define LIVE_ONE	((1ULL << 32) | 1)	/* one more, and a new generation */

static struct {
	/*
	 * The count in the low half, and in the high half a generation
	 * every live_add() bumps in the same atomic add: a word seen twice
	 * unchanged means nothing was counted in between.
	 */
	uint64_t live;
	pthread_mutex_t tids_lock;	/* kgo's own threads */
	pid_t *tids;
	size_t ntids, tids_cap;
} cd = {
	.tids_lock = PTHREAD_MUTEX_INITIALIZER,
};
#define LIVE_COUNT(w)	((uint32_t)(w))

static void checkdead(uint64_t live);

/* One of kgo's threads is @tid; cd.tids_lock held. */
static void tid_add(pid_t tid)
{
	if (cd.ntids == cd.tids_cap) {
		size_t cap = cd.tids_cap ? 2 * cd.tids_cap : 64;
		pid_t *t = realloc(cd.tids, cap * sizeof(*t));

		if (!t)		/* unknown to checkdead: it stays quiet */
			return;
		cd.tids = t;
		cd.tids_cap = cap;
	}
	cd.tids[cd.ntids++] = tid;
}

void thread_register(bool add)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	size_t i;

	pthread_mutex_lock(&cd.tids_lock);
	if (add) {
		tid_add(tid);
	} else {
		for (i = 0; i < cd.ntids; i++)
			if (cd.tids[i] == tid) {
				cd.tids[i] = cd.tids[--cd.ntids];
				break;
			}
	}
	pthread_mutex_unlock(&cd.tids_lock);
	/*
	 * The count may have fallen to zero while this thread was still
	 * starting, unknown, and so kept checkdead quiet: look again.
	 */
	if (add) {
		uint64_t live = __atomic_load_n(&cd.live, __ATOMIC_SEQ_CST);

		if (!LIVE_COUNT(live))
			checkdead(live);
	}
}

#if KGO_TSAN
#define SAN_TASKS_MAX	64

/* Up to @max of this process's thread ids. */
static size_t task_list(pid_t *tids, size_t max)
{
	struct dirent *d;
	size_t n = 0;
	DIR *dir;
	long tid;

	dir = opendir("/proc/self/task");
	if (!dir)
		return 0;
	while (n < max && (d = readdir(dir))) {
		tid = strtol(d->d_name, NULL, 10);
		if (tid > 0)
			tids[n++] = (pid_t)tid;
	}
	closedir(dir);
	return n;
}

static void *tid_of(void *tid)
{
	*(pid_t *)tid = (pid_t)syscall(SYS_gettid);
	return NULL;
}

/*
 * Does thread @tid block every signal it can (all but SIGKILL, SIGSTOP
 * and glibc's two)? The sanitizer's own threads start so.
 */
static bool blocks_all_signals(pid_t tid)
{
	const unsigned long long can_not = 1ULL << (SIGKILL - 1) |
		1ULL << (SIGSTOP - 1) | 1ULL << 31 | 1ULL << 32;
	unsigned long long mask = 0;
	char path[64], line[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "SigBlk: %llx", &mask) == 1;
	fclose(f);
	return found && (mask | can_not) == ~0ULL;
}

/*
 * ThreadSanitizer runs a thread of its own, started by the process's
 * first pthread_create, or at fork in the child. It never wakes a
 * goroutine, so checkdead counts it as kgo's. Before kgo starts any
 * thread, start one: a thread that appears with it, but for it, is the
 * sanitizer's, and so is one already there that blocks every signal (a
 * guess: a thread of the program's that does so, and could still wake a
 * goroutine, would be taken for one). Called by kgo_run.
 */
void san_threads_register(void)
{
	pid_t before[SAN_TASKS_MAX], after[SAN_TASKS_MAX], probe = 0;
	size_t nb, na, i, j;
	pthread_t t;

	nb = task_list(before, SAN_TASKS_MAX);
	if (pthread_create(&t, NULL, tid_of, &probe))
		return;
	pthread_join(t, NULL);
	na = task_list(after, SAN_TASKS_MAX);
	pthread_mutex_lock(&cd.tids_lock);
	for (i = 0; i < na; i++) {
		for (j = 0; j < nb && before[j] != after[i]; j++)
			;
		if (after[i] != probe &&
		    (j == nb || blocks_all_signals(after[i])))
			tid_add(after[i]);
	}
	pthread_mutex_unlock(&cd.tids_lock);
}
#endif

static bool all_threads_ours(void)
{
	bool ours = true, found;
	struct dirent *d;
	size_t i;
	DIR *dir;
	long tid;

	dir = opendir("/proc/self/task");
	if (!dir)
		return false;
	pthread_mutex_lock(&cd.tids_lock);
	while (ours && (d = readdir(dir))) {
		tid = strtol(d->d_name, NULL, 10);
		if (tid <= 0)
			continue;	/* . and .. */
		for (found = false, i = 0; !found && i < cd.ntids; i++)
			found = cd.tids[i] == tid;
		ours = found;
	}
	pthread_mutex_unlock(&cd.tids_lock);
	closedir(dir);
	return ours;
}

/*
 * Nothing can wake anyone: say so, as Go does, and exit. Not once the
 * main goroutine has ended (the instance is closing: abandoned goroutines
 * may still run out their last steps). A verdict is final, so it is
 * confirmed: 10 ms later cd.live must still be @live, the word that was
 * seen at zero (nothing counted in meanwhile), and every thread still
 * kgo's.
 */
static void checkdead(uint64_t live)
{
	const struct timespec confirm = { .tv_nsec = 10 * 1000 * 1000 };

	if (rt.nodeadlock || __atomic_load_n(&rt.mainexited, __ATOMIC_SEQ_CST) ||
	    !all_threads_ours())
		return;
	nanosleep(&confirm, NULL);
	if (__atomic_load_n(&cd.live, __ATOMIC_SEQ_CST) != live ||
	    __atomic_load_n(&rt.mainexited, __ATOMIC_SEQ_CST) ||
	    !all_threads_ours())
		return;
	fflush(NULL);
	fputs("kgo: fatal error: all goroutines are asleep - deadlock!\n\n",
	      stderr);
	fflush(stderr);
	dump_fatal();
	_exit(2);
}

void live_add(void)
{
	__atomic_add_fetch(&cd.live, LIVE_ONE, __ATOMIC_SEQ_CST);
}

void live_sub(void)
{
	uint64_t live = __atomic_sub_fetch(&cd.live, 1, __ATOMIC_SEQ_CST);

	if (!LIVE_COUNT(live))
		checkdead(live);
}
