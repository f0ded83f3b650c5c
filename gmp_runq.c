// SPDX-License-Identifier: GPL-2.0
/*
 * Run queues and free G lists, after Go's runtime/proc.go.
 *
 * A P's local queue is a 256-slot ring indexed by free-running u32 head
 * and tail: only the M holding the P puts (at tail, store-release), any M
 * takes (at head, compare-and-swap), so stealing needs no lock. runnext
 * holds the G that should run next on this P and inherit the time slice.
 * The global queue and the global free list live under sched.lock.
 */
#include <linux/atomic.h>
#include <linux/module.h>

#include "gmp_core.h"

bool gmp_runqempty(struct gmp_p *pp)
{
	/*
	 * As in Go: runnext may be taken while head/tail move, so reread
	 * tail to get a consistent view.
	 */
	for (;;) {
		/* Acquire: see head/tail updates by the owner and thieves. */
		u32 head = smp_load_acquire(&pp->runqhead);
		u32 tail = smp_load_acquire(&pp->runqtail); /* as above */
		struct gmp_g *next = READ_ONCE(pp->runnext);

		/* Tail unchanged since the reads above: they are consistent. */
		if (tail == smp_load_acquire(&pp->runqtail))
			return head == tail && !next;
	}
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqempty);

u32 gmp_runqlen(struct gmp_p *pp)
{
	/* A snapshot: both indices are read with acquire, as in Go. */
	return smp_load_acquire(&pp->runqtail) -
	       smp_load_acquire(&pp->runqhead); /* as above */
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqlen);

/* Append a batch linked through schedlink; sched.lock held. */
static void globrunqputbatch(struct gmp_sched *s, struct gmp_g *head,
			     struct gmp_g *tail, u32 n)
{
	lockdep_assert_held(&s->lock);
	tail->schedlink = NULL;
	if (s->runqtail)
		s->runqtail->schedlink = head;
	else
		s->runqhead = head;
	s->runqtail = tail;
	WRITE_ONCE(s->runqsize, s->runqsize + n);
}

void gmp_globrunqput(struct gmp_sched *s, struct gmp_g *gp)
{
	globrunqputbatch(s, gp, gp, 1);
}
EXPORT_SYMBOL_IF_KUNIT(gmp_globrunqput);

/*
 * Move half of the local queue and @gp to the global queue (Go's
 * runqputslow). Fails if a stealer moved head meanwhile: the caller
 * retries the fast path, which then has room. Unlike Go this claims the
 * slots before reading them, which is safe because only the owner ever
 * writes slots, and saves a 1 KiB batch array on the kernel stack.
 */
static bool runqputslow(struct gmp_sched *s, struct gmp_p *pp,
			struct gmp_g *gp, u32 head, u32 tail)
{
	u32 n = (tail - head) / 2, i;
	struct gmp_g *first, *last;

	if (WARN_ON_ONCE(n != GMP_RUNQ_SIZE / 2))
		return false;
	/* Release: claims the slots; pairs with thieves' acquire of head. */
	if (cmpxchg_release(&pp->runqhead, head, head + n) != head)
		return false;
	first = READ_ONCE(pp->runq[head % GMP_RUNQ_SIZE]);
	last = first;
	for (i = 1; i < n; i++) {
		struct gmp_g *g = READ_ONCE(pp->runq[(head + i) % GMP_RUNQ_SIZE]);

		last->schedlink = g;
		last = g;
	}
	last->schedlink = gp;

	spin_lock(&s->lock);
	globrunqputbatch(s, first, gp, n + 1);
	spin_unlock(&s->lock);
	return true;
}

/*
 * Put @gp on @pp's local queue; with @next, into runnext, kicking the old
 * runnext to the tail. A full queue spills half to the global queue.
 * Called only by the M holding @pp, never with sched.lock held.
 */
void gmp_runqput(struct gmp_sched *s, struct gmp_p *pp, struct gmp_g *gp,
		 bool next)
{
	if (next) {
		struct gmp_g *old;

		do {
			old = READ_ONCE(pp->runnext);
		} while (cmpxchg(&pp->runnext, old, gp) != old);
		if (!old)
			return;
		gp = old;
	}

	for (;;) {
		/* Acquire: slots before head are free once consumers are done. */
		u32 head = smp_load_acquire(&pp->runqhead);
		u32 tail = pp->runqtail;

		if (tail - head < GMP_RUNQ_SIZE) {
			WRITE_ONCE(pp->runq[tail % GMP_RUNQ_SIZE], gp);
			/* Release: the slot is written before it is visible. */
			smp_store_release(&pp->runqtail, tail + 1);
			return;
		}
		if (runqputslow(s, pp, gp, head, tail))
			return;
	}
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqput);

/*
 * Take a G from @pp: runnext first (then *@inherit is true: it keeps the
 * current time slice), else the head of the queue. Owner only.
 */
struct gmp_g *gmp_runqget(struct gmp_p *pp, bool *inherit)
{
	struct gmp_g *next = READ_ONCE(pp->runnext);

	if (next && cmpxchg(&pp->runnext, next, NULL) == next) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		/* Acquire: pairs with the release of head by thieves. */
		u32 head = smp_load_acquire(&pp->runqhead);
		u32 tail = pp->runqtail;
		struct gmp_g *gp;

		if (tail == head)
			return NULL;
		gp = READ_ONCE(pp->runq[head % GMP_RUNQ_SIZE]);
		/* Release: our read of the slot is done before it is reused. */
		if (cmpxchg_release(&pp->runqhead, head, head + 1) == head)
			return gp;
	}
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqget);

/*
 * Grab half of @pp's queue into @batch starting at @batchhead (Go's
 * runqgrab); with @stealrunnext and an otherwise empty queue, runnext.
 */
static u32 runqgrab(struct gmp_p *pp, struct gmp_g **batch, u32 batchhead,
		    bool stealrunnext)
{
	for (;;) {
		/* Acquire both: pairs with the owner's release of tail. */
		u32 head = smp_load_acquire(&pp->runqhead);
		u32 tail = smp_load_acquire(&pp->runqtail); /* as above */
		u32 n = tail - head, i;

		n -= n / 2;
		if (n == 0) {
			struct gmp_g *next;

			if (!stealrunnext)
				return 0;
			next = READ_ONCE(pp->runnext);
			if (!next)
				return 0;
			if (cmpxchg(&pp->runnext, next, NULL) != next)
				continue;
			WRITE_ONCE(batch[batchhead % GMP_RUNQ_SIZE], next);
			return 1;
		}
		if (n > GMP_RUNQ_SIZE / 2)	/* read inconsistent head/tail */
			continue;
		for (i = 0; i < n; i++) {
			struct gmp_g *gp =
				READ_ONCE(pp->runq[(head + i) % GMP_RUNQ_SIZE]);

			WRITE_ONCE(batch[(batchhead + i) % GMP_RUNQ_SIZE], gp);
		}
		/* Release: the slots were read before the owner may reuse them. */
		if (cmpxchg_release(&pp->runqhead, head, head + n) == head)
			return n;
	}
}

/*
 * Steal half of @victim's G's into @pp's queue and return one of them
 * (Go's runqsteal). Called by the M holding @pp.
 */
struct gmp_g *gmp_runqsteal(struct gmp_p *pp, struct gmp_p *victim,
			    bool stealrunnext)
{
	u32 tail = pp->runqtail;
	u32 n = runqgrab(victim, pp->runq, tail, stealrunnext);
	struct gmp_g *gp;

	if (n == 0)
		return NULL;
	n--;
	gp = READ_ONCE(pp->runq[(tail + n) % GMP_RUNQ_SIZE]);
	if (n == 0)
		return gp;
	/* Acquire: a stale head can only make the check stricter. */
	WARN_ON_ONCE(tail - smp_load_acquire(&pp->runqhead) + n >=
		     GMP_RUNQ_SIZE);
	/* Release: the stolen slots are written before they are visible. */
	smp_store_release(&pp->runqtail, tail + n);
	return gp;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqsteal);

/*
 * Take a fair share of the global queue (Go's globrunqget): return one G
 * and move up to @max - 1 more (0: no limit) to @pp's local queue, never
 * more than it has room for. sched.lock held.
 */
struct gmp_g *gmp_globrunqget(struct gmp_sched *s, struct gmp_p *pp, u32 max)
{
	u32 n, room;
	struct gmp_g *gp;

	lockdep_assert_held(&s->lock);
	if (s->runqsize == 0)
		return NULL;
	n = s->runqsize / s->nprocs + 1;
	if (n > s->runqsize)
		n = s->runqsize;
	if (max > 0 && n > max)
		n = max;
	if (n > GMP_RUNQ_SIZE / 2)
		n = GMP_RUNQ_SIZE / 2;
	room = GMP_RUNQ_SIZE - gmp_runqlen(pp);
	if (n > room + 1)
		n = room + 1;

	WRITE_ONCE(s->runqsize, s->runqsize - n);
	gp = s->runqhead;
	s->runqhead = gp->schedlink;
	while (--n > 0) {
		struct gmp_g *gp1 = s->runqhead;
		u32 tail = pp->runqtail;

		s->runqhead = gp1->schedlink;
		WRITE_ONCE(pp->runq[tail % GMP_RUNQ_SIZE], gp1);
		/* Release: the slot is written before it is visible. */
		smp_store_release(&pp->runqtail, tail + 1);
	}
	if (!s->runqhead)
		s->runqtail = NULL;
	gp->schedlink = NULL;
	return gp;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_globrunqget);

/*
 * Put a dead G on @pp's free list; past GMP_GFREE_MAX, move a batch to
 * the global list (Go's gfput). Owner only, sched.lock not held.
 */
void gmp_gfput(struct gmp_sched *s, struct gmp_p *pp, struct gmp_g *gp)
{
	gp->status = GMP_GDEAD;
	gp->schedlink = pp->gfree;
	pp->gfree = gp;
	if (++pp->gfreecnt < GMP_GFREE_MAX)
		return;

	spin_lock(&s->lock);
	while (pp->gfreecnt >= GMP_GFREE_BATCH) {
		gp = pp->gfree;
		pp->gfree = gp->schedlink;
		pp->gfreecnt--;
		gp->schedlink = s->gfree;
		s->gfree = gp;
		s->ngfree++;
	}
	spin_unlock(&s->lock);
}
EXPORT_SYMBOL_IF_KUNIT(gmp_gfput);

/*
 * Take a dead G for reuse, refilling @pp's list from the global one in a
 * batch when empty (Go's gfget). NULL: allocate a new one.
 */
struct gmp_g *gmp_gfget(struct gmp_sched *s, struct gmp_p *pp)
{
	struct gmp_g *gp;

	if (!pp->gfree && READ_ONCE(s->ngfree)) {
		spin_lock(&s->lock);
		while (pp->gfreecnt < GMP_GFREE_BATCH && s->gfree) {
			gp = s->gfree;
			s->gfree = gp->schedlink;
			s->ngfree--;
			gp->schedlink = pp->gfree;
			pp->gfree = gp;
			pp->gfreecnt++;
		}
		spin_unlock(&s->lock);
	}
	gp = pp->gfree;
	if (gp) {
		pp->gfree = gp->schedlink;
		pp->gfreecnt--;
		gp->schedlink = NULL;
	}
	return gp;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_gfget);
