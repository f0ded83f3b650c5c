// SPDX-License-Identifier: GPL-2.0
/*
 * Run queues, after Go's runtime/proc.go, over G indices.
 *
 * A P's local queue is a 256-slot ring in its public half (struct
 * gmp_pshared), indexed by free-running u32 head and tail: only the M
 * holding the P puts (at tail, store-release), any M takes (at head,
 * compare-and-swap), so stealing needs no lock. runnext holds the G that
 * should run next on this P and inherit the time slice. The M holding the
 * P uses the queue from user space exactly as the kernel does here.
 *
 * Everything in a public half is user memory: an index read here is
 * checked where it is used (gmp_gslot()), a head/tail pair no queue can
 * have is treated as corrupt, and every retry loop is bounded by
 * GMP_CAS_TRIES, so a hostile process can lose its own goroutines but
 * never wedge or crash the kernel. The global queue is kernel memory,
 * under sched.lock.
 */
#include <linux/atomic.h>
#include <linux/module.h>

#include "gmp_core.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_shm.h"
#include "gmp_sysmon.h"

bool gmp_runqempty(struct gmp_p *pp)
{
	struct gmp_pshared *sh = pp->sh;
	int i;

	/*
	 * As in Go: runnext may be taken while head/tail move, so reread
	 * tail to get a consistent view. A queue that never holds still
	 * (or a corrupt one) reads as empty: nobody can take from it.
	 */
	for (i = 0; i < GMP_CAS_TRIES; i++) {
		/* Acquire: see head/tail updates by the owner and thieves. */
		u32 head = smp_load_acquire(&sh->runqhead);
		u32 tail = smp_load_acquire(&sh->runqtail); /* as above */
		u32 next = READ_ONCE(sh->runnext);

		/* Tail unchanged since the reads above: they are consistent. */
		if (tail == smp_load_acquire(&sh->runqtail))
			return (head == tail || tail - head > GMP_RUNQ_SIZE) &&
			       !next;
	}
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqempty);

/*
 * One look, no retry: for sched_out, which runs under the runqueue lock
 * with interrupts off and must not spin as long as a process that keeps
 * rewriting its queue's tail wants. A wrong answer costs one early or
 * one missed sysmon kick, nothing more.
 */
bool gmp_runqempty_hint(struct gmp_p *pp)
{
	struct gmp_pshared *sh = pp->sh;

	return READ_ONCE(sh->runqhead) == READ_ONCE(sh->runqtail) &&
	       !READ_ONCE(sh->runnext);
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqempty_hint);

u32 gmp_runqlen(struct gmp_p *pp)
{
	/* A snapshot: both indices are read with acquire, as in Go. */
	u32 n = smp_load_acquire(&pp->sh->runqtail) -
		smp_load_acquire(&pp->sh->runqhead); /* as above */

	return n <= GMP_RUNQ_SIZE ? n : 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqlen);

/*
 * The global queue's length, in the state page too and at once: user
 * space decides from it whether its 61st schedtick must enter the kernel
 * (Go reads sched.runqsize the same way, without the lock). Every
 * scheduler has its state page before a queue is used.
 */
static void gmp_runqsize_set(struct gmp_sched *s, u32 n)
{
	lockdep_assert_held(&s->lock);
	WRITE_ONCE(s->runqsize, n);
	WRITE_ONCE(s->state->runqsize, n);
}

/*
 * Link @gidx on the global queue; sched.lock held. An index that is no
 * goroutine, or one already on a kernel queue, is dropped and counted:
 * then false.
 */
bool gmp_globrunqput_locked(struct gmp_sched *s, u32 gidx)
{
	struct gmp_gk *gk;

	lockdep_assert_held(&s->lock);
	if (!gmp_gslot(s, gidx, &gk) ||
	    atomic_cmpxchg(&gk->kstate, GMP_GK_NONE, GMP_GK_GLOBALQ) !=
	    GMP_GK_NONE) {
		atomic64_inc(&s->nbadg);
		return false;
	}
	list_add_tail(&gk->link, &s->runq);
	gmp_runqsize_set(s, s->runqsize + 1);
	gmp_sysmon_wake(s);	/* gmp_checkmcount() must look */
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_globrunqput_locked);

/* The same, taking sched.lock. Returns false if @gidx was dropped. */
bool gmp_globrunqput(struct gmp_sched *s, u32 gidx)
{
	bool queued;

	spin_lock(&s->lock);
	queued = gmp_globrunqput_locked(s, gidx);
	spin_unlock(&s->lock);
	return queued;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_globrunqput);

/*
 * Move half of the local queue and @gidx to the global queue (Go's
 * runqputslow). Fails if a stealer moved head meanwhile: the caller
 * retries the fast path, which then has room. Unlike Go this claims the
 * slots before reading them, which is safe because only the owner writes
 * slots, and needs no batch array on the kernel stack.
 */
static bool runqputslow(struct gmp_sched *s, struct gmp_p *pp, u32 gidx,
			u32 head)
{
	struct gmp_pshared *sh = pp->sh;
	u32 n = GMP_RUNQ_SIZE / 2, i;

	/* Release: claims the slots; pairs with thieves' acquire of head. */
	if (cmpxchg_release(&sh->runqhead, head, head + n) != head)
		return false;
	spin_lock(&s->lock);
	for (i = 0; i < n; i++)
		gmp_globrunqput_locked(s, READ_ONCE(sh->runq[(head + i) %
							    GMP_RUNQ_SIZE]));
	gmp_globrunqput_locked(s, gidx);
	spin_unlock(&s->lock);
	return true;
}

/*
 * Is @gidx wired to an M (LOCKOSTHREAD)? Such a G is never put in a P's
 * local queue, where user space could run it on any M: it waits on the
 * global queue until an M takes it and hands it over (startlockedm).
 */
static bool gmp_glocked(struct gmp_sched *s, u32 gidx)
{
	struct gmp_gk *gk;

	return gmp_gslot(s, gidx, &gk) && READ_ONCE(gk->lockedm);
}

/*
 * Put @gidx on @pp's local queue; with @next, into runnext, kicking the
 * old runnext to the tail. A full queue spills half to the global queue,
 * and a G wired to an M goes there at once. Called only by the M holding
 * @pp, never with sched.lock held.
 */
void gmp_runqput(struct gmp_sched *s, struct gmp_p *pp, u32 gidx, bool next)
{
	struct gmp_pshared *sh = pp->sh;
	int i;

	if (gmp_glocked(s, gidx)) {
		gmp_globrunqput(s, gidx);
		return;
	}
	if (next) {
		gidx = xchg(&sh->runnext, gidx);
		if (!gidx)
			return;
	}
	for (i = 0; i < GMP_CAS_TRIES; i++) {
		/* Acquire: slots before head are free once consumers are done. */
		u32 head = smp_load_acquire(&sh->runqhead);
		u32 tail = READ_ONCE(sh->runqtail);

		if (tail - head < GMP_RUNQ_SIZE) {
			WRITE_ONCE(sh->runq[tail % GMP_RUNQ_SIZE], gidx);
			/* Release: the slot is written before it is visible. */
			smp_store_release(&sh->runqtail, tail + 1);
			return;
		}
		if (tail - head > GMP_RUNQ_SIZE)
			break;	/* corrupt: no queue looks like this */
		if (runqputslow(s, pp, gidx, head))
			return;
	}
	gmp_globrunqput(s, gidx);
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqput);

/*
 * Take a G from @pp: runnext first (then *@inherit is true: it keeps the
 * current time slice), else the head of the queue; 0 if empty. A corrupt
 * queue is emptied. Owner only.
 */
u32 gmp_runqget(struct gmp_sched *s, struct gmp_p *pp, bool *inherit)
{
	struct gmp_pshared *sh = pp->sh;
	u32 next = READ_ONCE(sh->runnext);
	int i;

	if (next && cmpxchg(&sh->runnext, next, 0) == next) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (i = 0; i < GMP_CAS_TRIES; i++) {
		/* Acquire: pairs with the release of head by thieves. */
		u32 head = smp_load_acquire(&sh->runqhead);
		u32 tail = READ_ONCE(sh->runqtail);
		u32 gidx;

		if (tail == head)
			return 0;
		if (tail - head > GMP_RUNQ_SIZE) {
			/* The owner may drop everything: start over empty. */
			if (cmpxchg(&sh->runqhead, head, tail) == head)
				atomic64_inc(&s->nbadg);
			continue;
		}
		gidx = READ_ONCE(sh->runq[head % GMP_RUNQ_SIZE]);
		/* Release: our read of the slot is done before it is reused. */
		if (cmpxchg_release(&sh->runqhead, head, head + 1) == head)
			return gidx;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqget);

/*
 * Grab half of @pp's queue into @batch starting at @batchhead (Go's
 * runqgrab); with @stealrunnext and an otherwise empty queue, runnext.
 */
static u32 runqgrab(struct gmp_pshared *sh, u32 *batch, u32 batchhead,
		    bool stealrunnext)
{
	int try;

	for (try = 0; try < GMP_CAS_TRIES; try++) {
		/* Acquire both: pairs with the owner's release of tail. */
		u32 head = smp_load_acquire(&sh->runqhead);
		u32 tail = smp_load_acquire(&sh->runqtail); /* as above */
		u32 n = tail - head, i;

		n -= n / 2;
		if (n == 0) {
			u32 next;

			if (!stealrunnext)
				return 0;
			next = READ_ONCE(sh->runnext);
			if (!next)
				return 0;
			if (cmpxchg(&sh->runnext, next, 0) != next)
				continue;
			WRITE_ONCE(batch[batchhead % GMP_RUNQ_SIZE], next);
			return 1;
		}
		if (n > GMP_RUNQ_SIZE / 2)	/* inconsistent head/tail */
			continue;
		for (i = 0; i < n; i++)
			WRITE_ONCE(batch[(batchhead + i) % GMP_RUNQ_SIZE],
				   READ_ONCE(sh->runq[(head + i) % GMP_RUNQ_SIZE]));
		/* Release: the slots were read before the owner may reuse them. */
		if (cmpxchg_release(&sh->runqhead, head, head + n) == head)
			return n;
	}
	return 0;
}

/*
 * Steal half of @victim's G's into @pp's queue and return one of them,
 * 0 if there was nothing (Go's runqsteal). Called by the M holding @pp
 * when its own queue is empty.
 */
u32 gmp_runqsteal(struct gmp_p *pp, struct gmp_p *victim, bool stealrunnext)
{
	struct gmp_pshared *sh = pp->sh;
	u32 tail = READ_ONCE(sh->runqtail);
	u32 n = runqgrab(victim->sh, sh->runq, tail, stealrunnext);
	u32 gidx;

	if (n == 0)
		return 0;
	n--;
	gidx = READ_ONCE(sh->runq[(tail + n) % GMP_RUNQ_SIZE]);
	if (n == 0)
		return gidx;
	/* Release: the stolen slots are written before they are visible. */
	smp_store_release(&sh->runqtail, tail + n);
	return gidx;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_runqsteal);

/*
 * Unlink @gk, which is on the global queue (kstate GMP_GK_GLOBALQ), from
 * it. sched.lock held.
 */
u32 gmp_globrunqremove_locked(struct gmp_sched *s, struct gmp_gk *gk)
{
	lockdep_assert_held(&s->lock);
	list_del_init(&gk->link);
	atomic_set(&gk->kstate, GMP_GK_NONE);
	gmp_runqsize_set(s, s->runqsize - 1);
	return gk->gidx;
}

/* Unlink the first G of the global queue; sched.lock held, not empty. */
static u32 globrunqpop(struct gmp_sched *s)
{
	return gmp_globrunqremove_locked(s, list_first_entry(&s->runq,
							     struct gmp_gk,
							     link));
}

/*
 * Take a fair share of the global queue (Go's globrunqget): return one G
 * and move up to @max - 1 more (0: no limit) to @pp's local queue, never
 * more than it has room for. sched.lock held; 0 if the queue is empty.
 */
u32 gmp_globrunqget(struct gmp_sched *s, struct gmp_p *pp, u32 max)
{
	struct gmp_pshared *sh = pp->sh;
	u32 n, room, gidx;

	lockdep_assert_held(&s->lock);
	if (s->runqsize == 0)
		return 0;
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

	gidx = globrunqpop(s);
	while (--n > 0) {
		u32 tail = READ_ONCE(sh->runqtail);
		struct gmp_gk *next = list_first_entry(&s->runq, struct gmp_gk,
						       link);

		/* Not into the local queue: see gmp_glocked(). */
		if (READ_ONCE(next->lockedm))
			break;

		WRITE_ONCE(sh->runq[tail % GMP_RUNQ_SIZE], globrunqpop(s));
		/* Release: the slot is written before it is visible. */
		smp_store_release(&sh->runqtail, tail + 1);
	}
	return gidx;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_globrunqget);
