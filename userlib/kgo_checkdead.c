// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Deadlock detection (Go's checkdead): the count of what can still make
 * progress, kgo's own threads, and the fatal "all goroutines are asleep".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

void thread_register(bool add)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	size_t i;

	pthread_mutex_lock(&cd.tids_lock);
	if (add) {
		if (cd.ntids == cd.tids_cap) {
			size_t cap = cd.tids_cap ? 2 * cd.tids_cap : 64;
			pid_t *t = realloc(cd.tids, cap * sizeof(*t));

			if (!t) {	/* unknown to checkdead: it stays quiet */
				pthread_mutex_unlock(&cd.tids_lock);
				return;
			}
			cd.tids = t;
			cd.tids_cap = cap;
		}
		cd.tids[cd.ntids++] = tid;
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
