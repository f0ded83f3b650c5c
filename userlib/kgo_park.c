// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * kgo_park and kgo_ready: goroutines waiting on a user address, futex
 * style, in the semaphore's wait table (kgo_sync.c), without the kernel.
 */
#include <errno.h>
#include <stdint.h>

#include "kgo.h"
#include "kgo_runtime.h"

/*
 * A parked goroutine waits on a user address, futex style, in the wait
 * table the semaphore uses (kgo_sync.c, Go's semTable): its context is
 * in its slot, its waiter on its own stack, it is in no run queue, and
 * only a kgo_ready() on its address puts it back in one. The kernel is
 * not involved unless the M is left with nothing to run.
 */

/*
 * kgo_park's commit (Go's park_m through gopark), on g0: queue @w on its
 * address if the word still holds the value it waits out, under the lock
 * kgo_ready() takes, so a waker that changed the word first is never
 * missed; if it changed, the goroutine resumes at once.
 */
static bool park_commit(struct kgo_g *g, void *arg)
{
	struct semwaiter *w = arg;
	struct semroot *root = semroot(w->addr);

	(void)g;
	spin_lock(&root->lock);
	if (__atomic_load_n(w->addr, __ATOMIC_ACQUIRE) != w->val) {
		spin_unlock(&root->lock);
		w->done = 1;	/* not parked: -EAGAIN */
		return false;
	}
	semroot_queue(root, w, false);
	spin_unlock(&root->lock);
	return true;
}

int kgo_park(const uint32_t *addr, uint32_t val)
{
	struct semwaiter w = { .addr = addr, .val = val, .park = true };

	w.g = getg();
	if (!w.g)
		throw("kgo_park called outside a goroutine");
	if ((uintptr_t)addr % sizeof(*addr))
		return -EINVAL;
	acquirem();
	gopark(park_commit, &w, false, "kgo_park");
	raceacquire(addr);	/* as a futex wake orders, for TSan */
	/* Readied, or (done) the word had changed already. */
	return w.done ? -EAGAIN : 0;
}

/* kgo_ready's work, inside acquirem: the lock, and this M's P. */
static int ready_n(const uint32_t *addr, uint32_t n)
{
	struct semroot *root = semroot(addr);
	struct semwaiter *readied = NULL, **tail = &readied, *w, *next;
	bool onp = getg() != NULL;
	struct kgo_g *g;
	int count = 0;

	/*
	 * First parked, first readied; other addresses stay queued. One walk
	 * of the root, however many are readied.
	 */
	spin_lock(&root->lock);
	for (w = semroot_find(root->first, addr, true);
	     w && (uint32_t)count < n; w = next) {
		next = semroot_find(w->next, addr, true);
		semroot_unlink(root, w);
		w->next = NULL;
		*tail = w;
		tail = &w->next;
		count++;
	}
	spin_unlock(&root->lock);

	while (readied) {
		w = readied;
		readied = w->next;
		g = w->g;	/* last touch of @w: on @g's stack */
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
	racerelease(addr);
	acquirem();
	count = ready_n(addr, n);
	releasem();
	return count;
}
