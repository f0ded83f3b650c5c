// SPDX-License-Identifier: GPL-2.0
/*
 * The netpoller: a goroutine whose descriptor would block waits in the
 * kernel, on the file's own wait queue, and holds no M meanwhile.
 *
 * Go parks such a goroutine on its pollDesc and finds it again by calling
 * epoll_wait from findrunnable and sysmon. gmp needs no epoll instance
 * and no poll. The first NETPOLL_WAIT on a file registers it: a struct
 * gmp_polldesc (Go's pollDesc, epoll's epitem) holds the file and keeps
 * wait queue entries of its own on the file's queues (vfs_poll() with
 * gmp's poll table, as epoll's ep_ptable_queue_proc does) until the
 * program closes it. The file's wake-up, in whatever context the waker
 * runs, counts the event in the registration's slot of the poll area (a
 * read-only shared mapping: kgo reads the counts without a system call),
 * and fires the goroutines waiting for it: each goes on the instance's
 * ready list. An M looking for work takes the list first (gmp_netpoll(),
 * Go's netpoll(0) in findrunnable); with a P idle, a work item takes it.
 *
 * What the wake function may do: it runs under the file's wait queue
 * lock, with interrupts off, maybe in a hard interrupt (an eventfd
 * signalled from one) or a timer. It takes the registration's own lock
 * (pd->lock, irq-safe, nested inside the wait queue lock and taking
 * none), counts, and moves each waiter's state word from WAITING to FIRED
 * (once, whoever fires: the file, the deadline's hrtimer, NETPOLL_CLOSE),
 * adds it to a lock-free list and maybe queues a work item. Everything
 * else (unlinking the waiter, sched.lock, waking an M) happens in process
 * context, in gmp_netpoll().
 *
 * No wake-up is lost between "would block" and "parked". kgo reads the
 * slot's count before the call that would block and passes it; the wait
 * is added to pd->waiters, and the count compared, under pd->lock, which
 * the wake-up holds while it counts and fires. So either the wake-up
 * finds the waiter, or the waiter sees the count moved and returns
 * "ready" without parking. A wait that comes without a count (the first
 * on the file, kgo's cached index went stale, or GMP_NETPOLL_POLL: kgo
 * skipped the call) reads the count, then polls the file's state, as
 * poll() does: the entries were on the file's queues before. A wake-up
 * that comes while the ioctl is still arming finds the state ARMING,
 * turns it FIRED, and the ioctl, whose move from ARMING to WAITING then
 * fails, returns "ready" instead of parking. Once WAITING, the goroutine
 * belongs to the kernel until one firing queues it.
 *
 * Lifetime. A registration holds a reference to its file, so the queues
 * it is on outlive it, except one that goes with POLLFREE (signalfd's),
 * which the wake function leaves at once, as epoll does, the head being
 * freed only after an RCU grace period. Because it holds the file, a
 * registration ends when the program says so: NETPOLL_CLOSE (kgo_close(),
 * before close()), or, for a descriptor the program closed by itself, the
 * reaper, which finds files that only gmp holds any more (see
 * gmp_pollreap()). Each wait holds a reference to its registration; the
 * last put takes the entries off the file's queues and drops the file.
 * Waits are freed once fired by gmp_netpoll(), or by the ioctl that found
 * them fired while arming, or by the instance's teardown, after every
 * entry and timer is off and the work is done.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/llist.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/seq_file.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "gmp_compat.h"
#include "gmp_core.h"
#include "gmp_netpoll.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_shm.h"
#include "gmp_trace_events.h"

/* Wait queues one file may hook (a pipe and a tty use two). */
#define GMP_POLL_NWAIT	2

/* Waits scheddetail lists at most. */
#define GMP_NETPOLL_SHOW	64

/* How often the reaper looks, and at how many registrations each time. */
#define GMP_POLLREAP_MS		20
#define GMP_POLLREAP_BATCH	1024

/* What a registration listens for: everything NETPOLL_WAIT accepts. */
#define GMP_PD_EVENTS	((__force __poll_t)GMP_NETPOLL_EVENTS | EPOLLERR | \
			 EPOLLHUP)
/* The events counted in rseq and in wseq (both for a wake-up with no key). */
#define GMP_PD_REVENTS	(EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | \
			 EPOLLRDHUP | EPOLLERR | EPOLLHUP)
#define GMP_PD_WEVENTS	(EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND | EPOLLERR | \
			 EPOLLHUP)

enum gmp_pollstate {
	GMP_PW_ARMING,		/* inside NETPOLL_WAIT */
	GMP_PW_WAITING,		/* parked: the kernel owns its goroutine */
	GMP_PW_FIRED,		/* woken once; no second firing queues it */
};

struct gmp_polldesc;

struct gmp_pollentry {
	wait_queue_entry_t wait;
	wait_queue_head_t *whead;	/* NULL once off it (POLLFREE, release) */
	struct gmp_polldesc *pd;
};

/* A registered file: Go's pollDesc, epoll's epitem. */
struct gmp_polldesc {
	struct gmp_sched *s;
	struct file *file;		/* held until the last put */
	u32 idx;			/* its slot in the poll area, its id */
	struct gmp_pollslot *slot;	/* ... in the kernel's view */
	struct kref ref;		/* the registration, and each wait */
	spinlock_t lock;		/* waiters, dead, the slot's counts */
	struct list_head waiters;	/* struct gmp_pollwait, by arrival */
	bool dead;			/* unregistered: no new waiter */
	unsigned int nentries;
	bool overflow;			/* the file wanted more queues */
	poll_table pt;
	struct gmp_pollentry entry[GMP_POLL_NWAIT];
	struct hlist_node node;		/* s->pollhash while registered */
	struct llist_node dead_node;	/* s->polldead: the work releases it */
	struct rcu_head rcu;
};

/* One goroutine waiting for one registered file. */
struct gmp_pollwait {
	struct gmp_polldesc *pd;	/* holds a reference */
	u32 gidx;
	__poll_t events;		/* always with EPOLLERR | EPOLLHUP */
	atomic_t state;			/* enum gmp_pollstate */
	bool timed;
	bool exclusive;			/* EPOLLEXCLUSIVE: one per event */
	struct list_head node;		/* pd->waiters, under pd->lock */
	struct hrtimer timer;		/* the deadline */
	struct llist_node ready;	/* s->pollready, once fired */
};

/*
 * Fire @pw: the one move to FIRED queues its goroutine, unless the ioctl
 * is still arming it (which then returns "ready"). Any context, no lock
 * of gmp's needed. True if this call fired it. Once on the ready list,
 * @pw belongs to gmp_netpoll().
 */
static bool gmp_pollwait_fire(struct gmp_sched *s, struct gmp_pollwait *pw)
{
	int old = atomic_read(&pw->state);

	do {
		if (old == GMP_PW_FIRED)
			return false;
	} while (!atomic_try_cmpxchg(&pw->state, &old, GMP_PW_FIRED));
	if (old != GMP_PW_WAITING || !llist_add(&pw->ready, &s->pollready))
		return true;
	/*
	 * An idle P needs an M to take it: the work's wakep. Without one,
	 * every P's M takes the list when it next schedules in the kernel,
	 * or sysmon hands it to the work (gmp_netpoll_retake()). The list
	 * before the count, as a waker does: the idle side publishes the
	 * count, then looks at the list (gmp_idle_recheck()).
	 */
	smp_mb__after_atomic();
	if (READ_ONCE(s->npidle))
		queue_work(system_highpri_wq, &s->pollwork);
	return true;
}

/*
 * Count @mask in @pd's slot and fire its waiters for it (all, for a
 * close). pd->lock held. A waiter asking EPOLLEXCLUSIVE is one of a herd
 * (accepters on one listener): one such firing per event is enough, as
 * the one woken tries, and parks again with the new count if it lost.
 */
static unsigned int gmp_pd_wake_locked(struct gmp_polldesc *pd,
				       __poll_t mask, bool all)
{
	/* A hang-up, an error, a wake-up that says nothing: every one. */
	bool one = !all && mask && !(mask & (EPOLLERR | EPOLLHUP));
	struct gmp_pollwait *pw;
	bool excl_done = false;
	unsigned int n = 0;

	if (!mask || (mask & GMP_PD_REVENTS))
		WRITE_ONCE(pd->slot->rseq, pd->slot->rseq + 1);
	if (!mask || (mask & GMP_PD_WEVENTS))
		WRITE_ONCE(pd->slot->wseq, pd->slot->wseq + 1);
	list_for_each_entry(pw, &pd->waiters, node) {
		if (!all && mask && !(mask & pw->events))
			continue;
		if (one && pw->exclusive && excl_done)
			continue;
		if (gmp_pollwait_fire(pd->s, pw)) {
			n++;
			excl_done |= pw->exclusive;
		}
	}
	return n;
}

/* The file's wake-up: under its wait queue lock, interrupts off. */
static int gmp_pollwake(struct wait_queue_entry *wait, unsigned int mode,
			int sync, void *key)
{
	struct gmp_pollentry *e = container_of(wait, struct gmp_pollentry,
					       wait);
	struct gmp_polldesc *pd = e->pd;
	__poll_t mask = key_to_poll(key);
	unsigned long flags;

	if (mask && !(mask & (GMP_PD_EVENTS | POLLFREE)))
		return 0;
	spin_lock_irqsave(&pd->lock, flags);
	/* The queue goes: nothing would wake its waiters again. */
	if (mask & POLLFREE)
		WRITE_ONCE(pd->dead, true);
	gmp_pd_wake_locked(pd, mask & POLLFREE ? 0 : mask, mask & POLLFREE);
	spin_unlock_irqrestore(&pd->lock, flags);
	/*
	 * The queue goes away: leave it now. gmp_pd_detach() cannot free
	 * the registration before this returns, since it takes this same
	 * queue's lock to leave it, unless it sees the NULL, stored last.
	 */
	if (mask & POLLFREE) {
		list_del_init(&wait->entry);
		/* pairs with gmp_pd_detach()'s smp_load_acquire() */
		smp_store_release(&e->whead, NULL);
	}
	return 0;
}

static void gmp_pollqueue(struct file *file, wait_queue_head_t *whead,
			  poll_table *pt)
{
	struct gmp_polldesc *pd = container_of(pt, struct gmp_polldesc, pt);
	struct gmp_pollentry *e;

	if (pd->nentries == GMP_POLL_NWAIT) {
		pd->overflow = true;
		return;
	}
	e = &pd->entry[pd->nentries++];
	e->pd = pd;
	e->whead = whead;
	init_waitqueue_func_entry(&e->wait, gmp_pollwake);
	add_wait_queue(whead, &e->wait);
}

/* Take @pd off its file's wait queues: nothing wakes it after. */
static void gmp_pd_detach(struct gmp_polldesc *pd)
{
	unsigned int i;

	for (i = 0; i < pd->nentries; i++) {
		struct gmp_pollentry *e = &pd->entry[i];
		wait_queue_head_t *whead;

		rcu_read_lock();	/* a POLLFREE head lives this long */
		whead = smp_load_acquire(&e->whead);
		if (whead) {
			remove_wait_queue(whead, &e->wait);
			e->whead = NULL;
		}
		rcu_read_unlock();
	}
}

/* The last reference went, and @pd left the index: free it with its file. */
static void gmp_pd_free(struct gmp_polldesc *pd)
{
	fput(pd->file);
	kfree_rcu(pd, rcu);
}

/* The last put, in process context: off the file's queues, out of the index. */
static void gmp_pd_release(struct kref *ref)
{
	struct gmp_polldesc *pd = container_of(ref, struct gmp_polldesc, ref);

	gmp_pd_detach(pd);
	xa_erase(&pd->s->polldescs, pd->idx);
	gmp_pd_free(pd);
}

/*
 * The last put, by an M. Its fput() of a file's last reference waits for
 * its return to user mode, which a parking M puts off (a closed socket
 * would stay open): the work puts that one instead.
 */
static void gmp_pd_release_m(struct kref *ref)
{
	struct gmp_polldesc *pd = container_of(ref, struct gmp_polldesc, ref);
	struct gmp_sched *s = pd->s;

	gmp_pd_detach(pd);
	xa_erase(&s->polldescs, pd->idx);
	if (gmp_fput_nonfinal(pd->file))
		kfree_rcu(pd, rcu);
	else if (llist_add(&pd->dead_node, &s->polldead))
		queue_work(system_highpri_wq, &s->pollwork);
}

static void gmp_pd_put(struct gmp_polldesc *pd, bool on_m)
{
	kref_put(&pd->ref, on_m ? gmp_pd_release_m : gmp_pd_release);
}

/*
 * End @pd's registration (NETPOLL_CLOSE, the reaper, teardown): no new
 * waiter, and every waiter fired. pollhash_lock held; the caller drops
 * the registration's reference after it. Returns how many fired.
 */
static unsigned int gmp_pd_unregister(struct gmp_sched *s,
				      struct gmp_polldesc *pd)
{
	unsigned long flags;
	unsigned int n;

	hash_del(&pd->node);
	WRITE_ONCE(s->npolldesc, s->npolldesc - 1);
	spin_lock_irqsave(&pd->lock, flags);
	WRITE_ONCE(pd->dead, true);
	n = gmp_pd_wake_locked(pd, 0, true);
	spin_unlock_irqrestore(&pd->lock, flags);
	return n;
}

/* @file's registration, with a reference, or NULL. pollhash_lock held. */
static struct gmp_polldesc *gmp_pd_find(struct gmp_sched *s,
					struct file *file)
{
	struct gmp_polldesc *pd;

	hash_for_each_possible(s->pollhash, pd, node, (unsigned long)file)
		if (pd->file == file && !READ_ONCE(pd->dead)) {
			kref_get(&pd->ref);
			return pd;
		}
	return NULL;
}

/* The slot @idx in the poll area, its page allocated on first use. */
static struct gmp_pollslot *gmp_pollslot_get(struct gmp_sched *s, u32 idx)
{
	struct gmp_region *r = &s->pollslot_region;
	unsigned int pg = idx / GMP_POLLSLOTS_PER_PAGE;
	/* pairs with the cmpxchg_release() below: the page is zeroed */
	struct page *page = smp_load_acquire(&r->pages[pg]), *old;

	if (!page) {
		page = alloc_page(GMP_GFP | __GFP_ZERO);
		if (!page)
			return NULL;
		/* pairs with the acquires here and in gmp_vm_fault() */
		old = cmpxchg_release(&r->pages[pg], NULL, page);
		if (old) {		/* another registration's won */
			__free_page(page);
			page = old;
		}
	}
	return (struct gmp_pollslot *)page_address(page) +
	       idx % GMP_POLLSLOTS_PER_PAGE;
}

/*
 * @file's registration, made if it has none, with a reference; an
 * ERR_PTR: -ENOMEM, -ENOSPC (GMP_POLLSLOTS_MAX files registered),
 * -EOPNOTSUPP (nothing would wake a waiter: no poll method, or more
 * queues than gmp hooks). Two threads registering one file at once both
 * hook it; the one that finds the other's in the hash undoes its own.
 */
static struct gmp_polldesc *gmp_pd_get(struct gmp_sched *s, struct file *file)
{
	struct gmp_polldesc *pd, *found;
	int ret;

	spin_lock(&s->pollhash_lock);
	found = gmp_pd_find(s, file);
	spin_unlock(&s->pollhash_lock);
	if (found)
		return found;

	pd = kzalloc(sizeof(*pd), GMP_GFP);
	if (!pd)
		return ERR_PTR(-ENOMEM);
	pd->s = s;
	pd->file = get_file(file);
	kref_init(&pd->ref);		/* the registration's */
	spin_lock_init(&pd->lock);
	INIT_LIST_HEAD(&pd->waiters);
	/* Reserved now, published once it won (gmp_pd_lookup() may look). */
	ret = xa_alloc(&s->polldescs, &pd->idx, NULL,
		       XA_LIMIT(1, GMP_POLLSLOTS_MAX - 1), GMP_GFP);
	if (ret) {
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto out_free;
	}
	/* A slot is reused: the counts go on from the last owner's. */
	pd->slot = gmp_pollslot_get(s, pd->idx);
	ret = -ENOMEM;
	if (!pd->slot)
		goto out_erase;
	init_poll_funcptr(&pd->pt, gmp_pollqueue);
	pd->pt._key = GMP_PD_EVENTS;
	vfs_poll(file, &pd->pt);
	ret = -EOPNOTSUPP;
	if (pd->overflow || !pd->nentries)
		goto out_detach;

	/*
	 * A new owner's counts differ from any a waiter read from the slot
	 * before: between the last owner's end and this one's hooks no
	 * event was counted, so no such count may park anyone.
	 */
	spin_lock_irq(&pd->lock);
	gmp_pd_wake_locked(pd, 0, true);
	spin_unlock_irq(&pd->lock);

	spin_lock(&s->pollhash_lock);
	found = gmp_pd_find(s, file);
	if (!found) {
		hash_add(s->pollhash, &pd->node, (unsigned long)file);
		WRITE_ONCE(s->npollreg, s->npollreg + 1);
		WRITE_ONCE(s->npolldesc, s->npolldesc + 1);
		if (s->npolldesc == 1 && !READ_ONCE(s->pollclosed))
			queue_delayed_work(system_unbound_wq, &s->pollreap,
					   msecs_to_jiffies(GMP_POLLREAP_MS));
		kref_get(&pd->ref);	/* the caller's */
	}
	spin_unlock(&s->pollhash_lock);
	if (!found) {
		/* The reserved entry: no allocation, so no failure. */
		WARN_ON_ONCE(xa_is_err(xa_store(&s->polldescs, pd->idx, pd,
						GMP_GFP)));
		return pd;
	}
out_detach:
	gmp_pd_detach(pd);
out_erase:
	xa_erase(&s->polldescs, pd->idx);
out_free:
	fput(pd->file);
	kfree(pd);
	return found ? found : ERR_PTR(ret);
}

/*
 * The registration kgo names by @idx, if it is still @file's (the index
 * may be stale: the file closed, the slot reused), with a reference.
 */
static struct gmp_polldesc *gmp_pd_lookup(struct gmp_sched *s, u32 idx,
					  struct file *file)
{
	struct gmp_polldesc *pd;

	if (!idx || idx >= GMP_POLLSLOTS_MAX)
		return NULL;
	rcu_read_lock();
	pd = xa_load(&s->polldescs, idx);
	if (pd && (pd->file != file || READ_ONCE(pd->dead) ||
		   !kref_get_unless_zero(&pd->ref)))
		pd = NULL;
	rcu_read_unlock();
	return pd;
}

/* Did @pd count an event @events waits for since kgo read @seen? */
static bool gmp_pd_moved(const struct gmp_polldesc *pd, __poll_t events,
			 u64 seen)
{
	return ((events & GMP_PD_REVENTS & ~(EPOLLERR | EPOLLHUP)) &&
		READ_ONCE(pd->slot->rseq) != lower_32_bits(seen)) ||
	       ((events & GMP_PD_WEVENTS & ~(EPOLLERR | EPOLLHUP)) &&
		READ_ONCE(pd->slot->wseq) != upper_32_bits(seen)) ||
	       (!(events & ~(EPOLLERR | EPOLLHUP | EPOLLEXCLUSIVE)) &&
		(READ_ONCE(pd->slot->rseq) != lower_32_bits(seen) ||
		 READ_ONCE(pd->slot->wseq) != upper_32_bits(seen)));
}

static u64 gmp_pd_seen(const struct gmp_polldesc *pd)
{
	return (u64)READ_ONCE(pd->slot->wseq) << 32 | READ_ONCE(pd->slot->rseq);
}

static enum hrtimer_restart gmp_pollwait_timeout(struct hrtimer *timer)
{
	struct gmp_pollwait *pw = container_of(timer, struct gmp_pollwait,
					       timer);

	gmp_pollwait_fire(pw->pd->s, pw);
	return HRTIMER_NORESTART;
}

/* Take @pw off its registration and stop its timer: nothing fires it after. */
static void gmp_pollwait_unlink(struct gmp_pollwait *pw)
{
	struct gmp_polldesc *pd = pw->pd;
	unsigned long flags;

	spin_lock_irqsave(&pd->lock, flags);
	list_del(&pw->node);
	spin_unlock_irqrestore(&pd->lock, flags);
	if (pw->timed)
		hrtimer_cancel(&pw->timer);
}

static void gmp_pollwait_free(struct gmp_sched *s, struct gmp_pollwait *pw,
			      bool on_m)
{
	gmp_pd_put(pw->pd, on_m);
	kfree(pw);
	atomic_dec(&s->npollwait);
}

/* Release the registrations an M could not: their files' last puts. */
static void gmp_pd_put_dead(struct gmp_sched *s)
{
	struct gmp_polldesc *pd, *next;
	unsigned int i = 0;

	llist_for_each_entry_safe(pd, next, llist_del_all(&s->polldead),
				  dead_node) {
		gmp_pd_free(pd);
		if (!(++i % 64))
			cond_resched();
	}
}

/*
 * Go's netpoll(0) and injectglist: make the goroutines of every fired
 * wait runnable, on @pp's queue (the caller's P) or, without one, the
 * global queue, and free the waits. Process context. Returns how many.
 */
u32 gmp_netpoll(struct gmp_sched *s, struct gmp_p *pp)
{
	struct gmp_pollwait *pw, *next;
	struct llist_node *list;
	struct gmp_gslot *gs;
	u32 gidx, n = 0, i = 0;

	if (llist_empty(&s->pollready))
		return 0;
	list = llist_reverse_order(llist_del_all(&s->pollready));
	llist_for_each_entry_safe(pw, next, list, ready) {
		gidx = pw->gidx;
		gmp_pollwait_unlink(pw);
		gmp_pollwait_free(s, pw, !!pp);
		if (!(++i % 64))
			cond_resched();
		/* It parked as WAITING; anything else is a forged index. */
		gs = gmp_gslot(s, gidx, NULL);
		if (!gs || cmpxchg(&gs->status, GMP_GWAITING,
				   GMP_GRUNNABLE) != GMP_GWAITING) {
			atomic64_inc(&s->nbadg);
			continue;
		}
		if (pp)
			gmp_runqput(s, pp, gidx, false);
		else if (!gmp_globrunqput(s, gidx))
			continue;
		trace_gmp_ready(s->tgid, gidx);
		n++;
	}
	atomic64_add(n, &s->nnetpollready);
	WRITE_ONCE(s->state->nnetpollready, atomic64_read(&s->nnetpollready));
	return n;
}

bool gmp_netpoll_pending(struct gmp_sched *s)
{
	return !llist_empty(&s->pollready);
}

/*
 * sysmon's look (Go's sysmon polls the network when nobody has for 10
 * ms): waits that fired while every P was busy stay on the list until
 * an M schedules in the kernel. If one was there at the last look and
 * still is, give the list to the work, which queues them globally,
 * where kgo's 61st schedtick looks. The node is compared, never read.
 */
bool gmp_netpoll_retake(struct gmp_sched *s)
{
	struct llist_node *first = READ_ONCE(s->pollready.first);
	bool stale = first && first == s->pollseen;

	s->pollseen = first;
	if (stale)
		queue_work(system_highpri_wq, &s->pollwork);
	return stale;
}

/* The work a firing queues: no P here, so the global queue and wakep. */
static void gmp_pollwork(struct work_struct *work)
{
	struct gmp_sched *s = container_of(work, struct gmp_sched, pollwork);

	if (READ_ONCE(s->pollclosed))
		return;
	gmp_pd_put_dead(s);
	if (!gmp_netpoll(s, NULL))
		return;
	/*
	 * As Go's wakep: a spinning M will find them on the global queue,
	 * or, having stopped spinning, in its look at every queue after.
	 */
	smp_mb(); /* the queued G's before nmspinning; pairs with gmp_spin() */
	if (!atomic_read(&s->nmspinning))
		gmp_wakep(s);
}

/*
 * The reaper. A registration holds its file; a program that closes the
 * descriptor with close() rather than kgo_close() leaves gmp the only
 * holder, and the file (a socket whose peer waits for its end) would
 * stay open. Every GMP_POLLREAP_MS while there are registrations, look
 * at the next GMP_POLLREAP_BATCH of them and end those whose file only
 * gmp holds. Their waiters fire, and find the descriptor closed.
 */
static void gmp_pollreap(struct work_struct *work)
{
	struct gmp_sched *s = container_of(to_delayed_work(work),
					   struct gmp_sched, pollreap);
	struct gmp_polldesc *pd, *gone[16];
	unsigned long idx = s->pollreap_next;
	unsigned int n = 0, ngone, i;
	bool reap;

	do {
		/* Under RCU: a registration and its file stay readable. */
		ngone = 0;
		rcu_read_lock();
		xa_for_each_start(&s->polldescs, idx, pd, idx) {
			/* Only gmp holds it, or its queue went (POLLFREE). */
			if ((READ_ONCE(pd->dead) ||
			     file_count(pd->file) == 1) &&
			    kref_get_unless_zero(&pd->ref))
				gone[ngone++] = pd;
			if (++n == GMP_POLLREAP_BATCH ||
			    ngone == ARRAY_SIZE(gone))
				break;
		}
		rcu_read_unlock();
		idx = pd ? idx + 1 : 0;
		for (i = 0; i < ngone; i++) {
			pd = gone[i];
			spin_lock(&s->pollhash_lock);
			reap = !hlist_unhashed(&pd->node) &&
			       (READ_ONCE(pd->dead) ||
				file_count(pd->file) == 1);
			if (reap) {
				gmp_pd_unregister(s, pd);
				WRITE_ONCE(s->npollreaped,
					   s->npollreaped + 1);
			}
			spin_unlock(&s->pollhash_lock);
			if (reap)
				gmp_pd_put(pd, false);	/* the registration's */
			gmp_pd_put(pd, false);
		}
		cond_resched();
	} while (idx && n < GMP_POLLREAP_BATCH);
	s->pollreap_next = idx;
	spin_lock(&s->pollhash_lock);
	if (s->npolldesc && !READ_ONCE(s->pollclosed))
		queue_delayed_work(system_unbound_wq, &s->pollreap,
				   msecs_to_jiffies(GMP_POLLREAP_MS));
	spin_unlock(&s->pollhash_lock);
}

/*
 * The wait is on its registration: does the caller's word still hold
 * its value? A closer changes the word, then calls NETPOLL_CLOSE, which
 * fires every waiter under pd->lock: with a full barrier on each side,
 * either it finds this wait or this sees its change.
 */
static long gmp_netpoll_word_check(const struct gmp_netpoll_wait *a)
{
	u32 v;

	if (!a->uaddr)
		return 0;
	smp_mb();	/* the list insertion before the load; pairs below */
	if (get_user(v, (u32 __user *)u64_to_user_ptr(a->uaddr)))
		return -EFAULT;
	return v == a->uval ? 0 : -EAGAIN;
}

/*
 * Hook @pw on @pd (whose reference it takes over) unless @pd counted an
 * event for it since @seen, then arm its deadline and park it. 0:
 * parked; 1: ready; -errno. The caller frees @pw unless parked.
 */
static long gmp_pollwait_arm(struct gmp_sched *s, struct gmp_pollwait *pw,
			     const struct gmp_netpoll_wait *a, u64 seen)
{
	struct gmp_polldesc *pd = pw->pd;
	long ret;

	spin_lock_irq(&pd->lock);
	if (pd->dead || gmp_pd_moved(pd, pw->events, seen)) {
		spin_unlock_irq(&pd->lock);
		INIT_LIST_HEAD(&pw->node);
		return 1;
	}
	list_add_tail(&pw->node, &pd->waiters);
	spin_unlock_irq(&pd->lock);

	if (a->deadline_ns) {
		/* Before WAITING: after it the wait may be gone. */
		hrtimer_init(&pw->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
		pw->timer.function = gmp_pollwait_timeout;
		pw->timed = true;
		hrtimer_start(&pw->timer, ns_to_ktime(a->deadline_ns),
			      HRTIMER_MODE_ABS);
	}
	ret = gmp_netpoll_word_check(a);
	if (!ret && atomic_cmpxchg(&pw->state, GMP_PW_ARMING,
				   GMP_PW_WAITING) == GMP_PW_ARMING)
		return 0;
	/* Fired while arming (ready, the deadline, a close), or the word. */
	gmp_pollwait_unlink(pw);
	if (ret)
		return ret;
	if (!pd->dead && a->deadline_ns && a->deadline_ns <= ktime_get_ns() &&
	    !gmp_pd_moved(pd, pw->events, seen))
		return -ETIMEDOUT;
	return 1;
}

long gmp_netpoll_wait_ioctl(struct gmp_sched *s,
			    struct gmp_netpoll_wait __user *uarg, bool *sched)
{
	struct gmp_netpoll_wait a;
	struct gmp_polldesc *pd;
	struct gmp_pollwait *pw;
	__poll_t events, mask = 0;
	struct file *file;
	u32 usize;
	u64 seen;
	bool poll;
	long ret;

	if (get_user(usize, &uarg->size))
		return -EFAULT;
	if (usize < GMP_NETPOLL_WAIT_SIZE_VER0)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&a, sizeof(a), uarg, usize);
	if (ret)
		return ret;
	if ((a.events & ~(GMP_NETPOLL_EVENTS | EPOLLEXCLUSIVE)) || a.revents ||
	    a.deadline_ns > KTIME_MAX || (a.uaddr % sizeof(u32)) ||
	    (a.flags & ~(GMP_NETPOLL_SCHED | GMP_NETPOLL_POLL)) ||
	    !gmp_gslot(s, a.gidx, NULL))
		return -EINVAL;
	/* Park, then schedule: only an M holding a P can (gmp_park_m()). */
	if ((a.flags & GMP_NETPOLL_SCHED) && !gmp_m_running(s))
		return -EINVAL;
	if (a.deadline_ns && a.deadline_ns <= ktime_get_ns())
		return -ETIMEDOUT;
	events = (__force __poll_t)(a.events & GMP_NETPOLL_EVENTS) |
		 EPOLLERR | EPOLLHUP;

	file = fget(a.fd);
	if (!file)
		return -EBADF;
	/* A wait on a /dev/gmp file would hold an instance up: a cycle. */
	if (file->f_op == s->file->f_op) {
		fput(file);
		return -EINVAL;
	}
	/* The registration kgo cached, or the file's (then poll it now). */
	pd = gmp_pd_lookup(s, a.pd, file);
	seen = a.seen;
	/*
	 * Schedule only with the id the caller has: a new one must reach
	 * its cache, so this call returns (0, parked) with it in pd.
	 */
	*sched = pd && (a.flags & GMP_NETPOLL_SCHED);
	/* seen stands for a poll, unless the caller has none (POLL). */
	poll = !pd || (a.flags & GMP_NETPOLL_POLL);
	if (!pd)
		pd = gmp_pd_get(s, file);
	if (poll && !IS_ERR(pd)) {
		seen = gmp_pd_seen(pd);
		smp_mb(); /* the count before the file's state */
		mask = vfs_poll(file, NULL) & events;
	}
	fput(file);		/* the registration holds it */
	if (IS_ERR(pd))
		return PTR_ERR(pd);
	if (usize >= GMP_NETPOLL_WAIT_SIZE_VER1 && put_user(pd->idx, &uarg->pd)) {
		ret = -EFAULT;
		goto out_put;
	}
	if (mask) {
		ret = 1;
		goto out_put;
	}
	if (atomic_inc_return(&s->npollwait) > s->maxg) {
		atomic_dec(&s->npollwait);
		ret = -ENOSPC;
		goto out_put;
	}
	pw = kzalloc(sizeof(*pw), GMP_GFP);
	if (!pw) {
		atomic_dec(&s->npollwait);
		ret = -ENOMEM;
		goto out_put;
	}
	pw->pd = pd;
	pw->gidx = a.gidx;
	pw->events = events;
	pw->exclusive = a.events & EPOLLEXCLUSIVE;
	atomic_set(&pw->state, GMP_PW_ARMING);
	ret = gmp_pollwait_arm(s, pw, &a, seen);
	if (!ret) {
		atomic64_inc(&s->nnetpoll);
		WRITE_ONCE(s->state->nnetpoll, atomic64_read(&s->nnetpoll));
		trace_gmp_park(s->tgid, a.gidx);
		return 0;
	}
	gmp_pollwait_free(s, pw, false);
	goto out;

out_put:
	gmp_pd_put(pd, false);
out:
	if (ret == 1 && put_user((__force u32)mask, &uarg->revents))
		ret = -EFAULT;
	return ret;
}

long gmp_netpoll_close_ioctl(struct gmp_sched *s, unsigned long fd)
{
	struct gmp_polldesc *pd;
	struct file *file;
	long n = 0;

	if (fd > INT_MAX)
		return -EBADF;
	file = fget(fd);
	if (!file)
		return -EBADF;
	/* The caller changed its word first (gmp_netpoll_word_check()). */
	smp_mb();
	spin_lock(&s->pollhash_lock);
	pd = gmp_pd_find(s, file);
	if (pd)
		n = gmp_pd_unregister(s, pd);
	spin_unlock(&s->pollhash_lock);
	if (pd) {
		gmp_pd_put(pd, false);	/* the registration's */
		gmp_pd_put(pd, false);
	}
	fput(file);
	return n;
}

int gmp_netpoll_init(struct gmp_sched *s)
{
	struct gmp_region *r = &s->pollslot_region;

	spin_lock_init(&s->pollhash_lock);
	hash_init(s->pollhash);
	xa_init_flags(&s->polldescs, XA_FLAGS_ALLOC1 | XA_FLAGS_ACCOUNT);
	init_llist_head(&s->pollready);
	init_llist_head(&s->polldead);
	INIT_WORK(&s->pollwork, gmp_pollwork);
	INIT_DELAYED_WORK(&s->pollreap, gmp_pollreap);
	s->pollinit = true;
	/* The poll area: its pages come with the first file in each. */
	r->npages = GMP_POLLSLOTS_MAX / GMP_POLLSLOTS_PER_PAGE;
	r->pages = kvcalloc(r->npages, sizeof(*r->pages), GMP_GFP);
	return r->pages ? 0 : -ENOMEM;
}

/*
 * The instance goes: no ioctl runs and no M looks for work any more, but
 * the files and deadlines may still fire. Stop the reaper and the work,
 * take every registration off its file's queues and stop every deadline,
 * wait for the work a last firing queued, then free them all.
 */
void gmp_netpoll_destroy(struct gmp_sched *s)
{
	struct gmp_pollwait *pw, *tmp;
	struct gmp_polldesc *pd;
	unsigned long idx;

	if (!s->pollinit)
		return;
	WRITE_ONCE(s->pollclosed, true);
	cancel_delayed_work_sync(&s->pollreap);
	cancel_work_sync(&s->pollwork);
	xa_for_each(&s->polldescs, idx, pd) {
		gmp_pd_detach(pd);
		list_for_each_entry(pw, &pd->waiters, node)
			if (pw->timed)
				hrtimer_cancel(&pw->timer);
		cond_resched();
	}
	cancel_work_sync(&s->pollwork);
	/* What was fired and not taken is freed below: the list is stale. */
	init_llist_head(&s->pollready);
	xa_for_each(&s->polldescs, idx, pd) {
		kref_get(&pd->ref);
		list_for_each_entry_safe(pw, tmp, &pd->waiters, node) {
			list_del(&pw->node);
			gmp_pollwait_free(s, pw, false);
		}
		if (!hlist_unhashed(&pd->node)) {
			gmp_pd_unregister(s, pd);
			gmp_pd_put(pd, false);	/* the registration's */
		}
		gmp_pd_put(pd, false);
		cond_resched();
	}
	gmp_pd_put_dead(s);
	xa_destroy(&s->polldescs);
	gmp_region_free(&s->pollslot_region);
}

/*
 * For scheddetail: the registrations, the waits by state, and the first
 * few. A wait WAITING whose file is ready, or FIRED with the ready list
 * empty and no M running, is a lost wake-up.
 */
void gmp_netpoll_show(struct seq_file *sf, struct gmp_sched *s)
{
	static const char * const names[] = { "arming", "waiting", "fired" };
	unsigned int n[ARRAY_SIZE(names)] = { 0 }, shown = 0, st;
	struct gmp_pollwait *pw;
	struct gmp_polldesc *pd;
	unsigned long idx;

	if (!s->pollinit)
		return;
	/* Under RCU: a registration, its lock and its waiters stay. */
	rcu_read_lock();
	xa_for_each(&s->polldescs, idx, pd) {
		spin_lock_irq(&pd->lock);
		list_for_each_entry(pw, &pd->waiters, node) {
			st = atomic_read(&pw->state);
			if (st < ARRAY_SIZE(names))
				n[st]++;
			if (shown++ < GMP_NETPOLL_SHOW)
				seq_printf(sf, "  W: g=%u pd=%u state=%s events=%#x rseq=%u wseq=%u%s\n",
					   pw->gidx, pd->idx,
					   st < ARRAY_SIZE(names) ?
					   names[st] : "?",
					   (__force u32)pw->events,
					   READ_ONCE(pd->slot->rseq),
					   READ_ONCE(pd->slot->wseq),
					   pw->timed ? " deadline" : "");
		}
		spin_unlock_irq(&pd->lock);
	}
	seq_printf(sf, "netpoll: registered=%u reaped=%llu waits=%u arming=%u waiting=%u fired=%u ready=%s dead=%s parked=%lld readied=%lld\n",
		   s->npolldesc, s->npollreaped, atomic_read(&s->npollwait),
		   n[GMP_PW_ARMING], n[GMP_PW_WAITING], n[GMP_PW_FIRED],
		   llist_empty(&s->pollready) ? "empty" : "queued",
		   llist_empty(&s->polldead) ? "empty" : "queued",
		   atomic64_read(&s->nnetpoll),
		   atomic64_read(&s->nnetpollready));
	rcu_read_unlock();
}

/*
 * sysmon has stopped: no gmp_netpoll_retake() can queue the work again.
 * Wait out one it queued after gmp_netpoll_destroy() (which it found
 * closed, and did nothing).
 */
void gmp_netpoll_fini(struct gmp_sched *s)
{
	if (!s->pollinit)
		return;
	cancel_work_sync(&s->pollwork);
	s->pollinit = false;
}
