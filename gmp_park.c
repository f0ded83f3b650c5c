// SPDX-License-Identifier: GPL-2.0
/*
 * Goroutines waiting on a key (Go's gopark and goready), with futex
 * semantics: GOPARK re-reads the user's word under the wait queue's lock
 * that GOREADY takes, so a waker that changes the word and then readies
 * cannot slip between a waiter's check and its park. A parked goroutine
 * holds no M: its M schedules another goroutine at once.
 */
#include <linux/errno.h>
#include <linux/hash.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_park.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_shm.h"

#define GMP_WAITQ_BITS	6

struct gmp_waitq {
	struct mutex lock;	/* the list, and GOPARK's check of the word */
	struct list_head gs;	/* parked G's (struct gmp_gk), first parked first */
};

int gmp_waitq_init(struct gmp_sched *s)
{
	u32 i, n = 1U << GMP_WAITQ_BITS;

	s->waitq = kcalloc(n, sizeof(*s->waitq), GMP_GFP);
	if (!s->waitq)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		mutex_init(&s->waitq[i].lock);
		INIT_LIST_HEAD(&s->waitq[i].gs);
	}
	return 0;
}

void gmp_waitq_destroy(struct gmp_sched *s)
{
	u32 i;

	if (!s->waitq)
		return;
	for (i = 0; i < 1U << GMP_WAITQ_BITS; i++)
		mutex_destroy(&s->waitq[i].lock);
	kfree(s->waitq);
	s->waitq = NULL;
}

static struct gmp_waitq *gmp_waitq_of(struct gmp_sched *s, u64 key)
{
	return &s->waitq[hash_64(key, GMP_WAITQ_BITS)];
}

/* Copy and check a struct gmp_wait from user space. */
int gmp_wait_from_user(struct gmp_wait *w, unsigned long arg)
{
	if (copy_from_user(w, (const void __user *)arg, sizeof(*w)))
		return -EFAULT;
	if (w->flags)
		return -EINVAL;
	if (!IS_ALIGNED(w->uaddr, sizeof(u32)) || !gmp_user_addr_ok(w->uaddr))
		return -EINVAL;
	return 0;
}

/* GMP_IOC_GOPARK */
long gmp_gopark(struct gmp_sched *s, struct pt_regs *regs,
		const struct gmp_wait *w)
{
	struct gmp_m *m = gmp_m_running(s);
	struct gmp_gslot *gs;
	struct gmp_waitq *q;
	struct gmp_gk *gk;
	u32 cur;

	if (!m || !gmp_curg(s, m, &gs, &gk))
		return -EINVAL;
	q = gmp_waitq_of(s, w->uaddr);

	/*
	 * Read the word under the lock without faulting (as futexes do): a
	 * fault that sleeps, on userfaultfd say, must not hold the queue.
	 * On a fault, drop the lock, fault the page in and look again.
	 */
	for (;;) {
		int ret;

		mutex_lock(&q->lock);
		pagefault_disable();
		ret = get_user(cur, (u32 __user *)w->uaddr);
		pagefault_enable();
		if (!ret)
			break;
		mutex_unlock(&q->lock);
		if (get_user(cur, (u32 __user *)w->uaddr))
			return -EFAULT;
	}
	if (cur != w->val) {
		mutex_unlock(&q->lock);
		return -EAGAIN;
	}
	/* Its context was saved before the call: GOREADY may run it at once. */
	if (atomic_cmpxchg(&gk->kstate, GMP_GK_NONE, GMP_GK_WAITQ) !=
	    GMP_GK_NONE) {
		mutex_unlock(&q->lock);
		return -EINVAL;	/* curg names a G the kernel holds queued */
	}
	WRITE_ONCE(gs->status, GMP_GWAITING);
	gk->waitkey = w->uaddr;
	list_add_tail(&gk->link, &q->gs);
	atomic64_inc(&s->nparked);
	mutex_unlock(&q->lock);

	return gmp_schedule(s, m, regs);
}

/* GMP_IOC_GOREADY */
long gmp_goready(struct gmp_sched *s, const struct gmp_wait *w)
{
	struct gmp_m *m = gmp_m_running(s);
	struct gmp_waitq *q = gmp_waitq_of(s, w->uaddr);
	struct gmp_gk *gk, *tmp;
	LIST_HEAD(ready);
	long n = 0;

	/*
	 * A bucket may hold every parked G of the instance, under keys the
	 * process chose: the walks may be long, so they give the CPU up.
	 * Sleeping here is no system call to sched_out (ingmp is set).
	 */
	mutex_lock(&q->lock);
	list_for_each_entry_safe(gk, tmp, &q->gs, link) {
		if (n == w->val)
			break;
		cond_resched();
		if (gk->waitkey != w->uaddr)
			continue;
		list_move_tail(&gk->link, &ready);
		n++;
	}
	mutex_unlock(&q->lock);

	list_for_each_entry_safe(gk, tmp, &ready, link) {
		struct gmp_gslot *gs = gmp_gslot(s, gk->gidx, NULL);

		cond_resched();
		list_del_init(&gk->link);
		atomic_set(&gk->kstate, GMP_GK_NONE);
		atomic64_dec(&s->nparked);
		WRITE_ONCE(gs->status, GMP_GRUNNABLE);
		if (m)
			gmp_runqput(s, m->p, gk->gidx, true);
		else
			gmp_globrunqput(s, gk->gidx);
	}
	if (n) {
		gmp_wakep(s);
		gmp_publish_state(s);
	}
	return n;
}
