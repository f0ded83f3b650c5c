// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * kgo_park and kgo_ready: goroutines waiting on a user address, futex
 * style, in a hashed table of wait queues, without the kernel.
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
#include <sched.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

/* --- Parking on an address: kgo_park and kgo_ready --------------------------- */

/*
 * A parked goroutine waits on a user address, futex style, in one of
 * these queues (Go's semaphore table plays the same part for its sudogs):
 * its context is in its slot, it is in no run queue, and only a kgo_ready()
 * on its address puts it back in one. The kernel is not involved unless
 * the M is left with nothing to run. A queue's lock is held for a few
 * pointer moves and never across a switch.
 */
#define KGO_WAITQ_BITS	8

static struct kgo_waitq {
	struct kgo_spinlock lock;
	struct kgo_g *head, *tail;
} __attribute__((aligned(64))) waitqs[1 << KGO_WAITQ_BITS];

static struct kgo_waitq *waitq_of(const uint32_t *addr)
{
	uint64_t h = (uintptr_t)addr * 0x9e3779b97f4a7c15ULL;

	return &waitqs[h >> (64 - KGO_WAITQ_BITS)];
}

void spin_lock(struct kgo_spinlock *l)
{
	unsigned int spins = 0;

	while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
			/* Its holder's thread may be preempted: let it run. */
			if (++spins % 1024 == 0)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
	}
}

/*
 * kgo_park's commit (Go's park_m through gopark), on g0: queue @g on its
 * address if the word still holds the value it expects, under the lock
 * kgo_ready() takes, so a waker that changed the word first is never
 * missed; if it changed, @g resumes at once with -EAGAIN.
 */
static bool park_commit(struct kgo_g *g, void *arg)
{
	struct kgo_waitq *q = arg;

	spin_lock(&q->lock);
	if (__atomic_load_n(g->park_addr, __ATOMIC_ACQUIRE) != g->park_val) {
		spin_unlock(&q->lock);
		g->park_result = -EAGAIN;
		return false;
	}
	g->park_result = 0;
	g->waitlink = NULL;
	if (q->tail)
		q->tail->waitlink = g;
	else
		q->head = g;
	q->tail = g;
	spin_unlock(&q->lock);
	return true;
}

int kgo_park(const uint32_t *addr, uint32_t val)
{
	struct kgo_g *g = getg();

	if (!g)
		throw("kgo_park called outside a goroutine");
	if ((uintptr_t)addr % sizeof(*addr))
		return -EINVAL;
	g->park_addr = addr;
	g->park_val = val;
	acquirem();
	gopark(park_commit, waitq_of(addr), false, "kgo_park");
	return g->park_result;
}

/* kgo_ready's work, inside acquirem: the lock, and this M's P. */
static int ready_n(const uint32_t *addr, uint32_t n)
{
	struct kgo_waitq *q = waitq_of(addr);
	struct kgo_g *readied = NULL, **tail = &readied, **pg, *g;
	bool onp = getg() != NULL;
	int count = 0;

	/* First parked, first readied; other addresses stay queued. */
	spin_lock(&q->lock);
	for (pg = &q->head; *pg && (uint32_t)count < n;) {
		g = *pg;
		if (g->park_addr != addr) {
			pg = &g->waitlink;
			continue;
		}
		*pg = g->waitlink;
		if (q->tail == g)
			q->tail = pg == &q->head ? NULL :
				  (struct kgo_g *)((char *)pg -
						   offsetof(struct kgo_g, waitlink));
		g->waitlink = NULL;
		*tail = g;
		tail = &g->waitlink;
		count++;
	}
	spin_unlock(&q->lock);

	while (readied) {
		g = readied;
		readied = g->waitlink;
		live_add();
		ready(g, onp);
	}
	if (count && onp)
		wakep();
	return count;
}

int kgo_ready(const uint32_t *addr, uint32_t n)
{
	int count;

	if (!rt.running)
		return -ENXIO;
	if ((uintptr_t)addr % sizeof(*addr))
		return -EINVAL;
	acquirem();
	count = ready_n(addr, n);
	releasem();
	return count;
}
