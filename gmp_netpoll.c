// SPDX-License-Identifier: GPL-2.0
/*
 * The netpoller: a goroutine whose descriptor would block waits in the
 * kernel, on the file's own wait queue, and holds no M meanwhile.
 *
 * Go parks such a goroutine on its pollDesc and finds it again by calling
 * epoll_wait from findrunnable and sysmon. gmp needs no epoll instance
 * and no poll: NETPOLL_WAIT hooks a wait queue entry of its own on the
 * file (vfs_poll() with gmp's poll table, as epoll's ep_ptable_queue_proc
 * does), and the file's wake-up, in whatever context the waker runs,
 * puts the wait on the instance's ready list and queues the work that
 * makes its goroutine runnable. An M looking for work takes the list
 * first (gmp_netpoll(), Go's netpoll(0) in findrunnable), so a spinning
 * or scheduling M does not wait for the work.
 *
 * What the wake function may do: it runs under the file's wait queue
 * lock, with interrupts off, maybe in a hard interrupt (an eventfd
 * signalled from one) or a timer. So it takes no lock of gmp's: it
 * moves the wait's state word from WAITING to FIRED (once, whoever
 * fires: the file, the deadline's hrtimer, NETPOLL_CLOSE), adds it to a
 * lock-free list and queues a work item. Everything else (taking the
 * entries off their queues, dropping the file, sched.lock, waking an M)
 * happens in process context, in gmp_netpoll().
 *
 * No wake-up is lost between "would block" and "parked": the entries are
 * on the file's queues before vfs_poll() reads its state (the order every
 * poll() relies on), and a wake-up that comes while the ioctl is still
 * arming finds the state ARMING, turns it FIRED, and the ioctl, whose
 * move from ARMING to WAITING then fails, returns "ready" instead of
 * parking. Once WAITING, the goroutine belongs to the kernel until one
 * firing queues it.
 *
 * Lifetime: a wait holds a reference to its file until it is freed, so
 * the wait queues it is on outlive it, except one that goes with
 * POLLFREE (signalfd's), which the wake function leaves at once, as
 * epoll does, the head being freed only after an RCU grace period.
 * Waits are freed once fired by gmp_netpoll() (or, for one an M took,
 * by the work, so that the file's last put is not left to the M's next
 * return to user mode), or by the instance's teardown, after every entry
 * and timer is off and the work is done.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/llist.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/seq_file.h>
#include <linux/workqueue.h>

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

enum gmp_pollstate {
	GMP_PW_ARMING,		/* inside NETPOLL_WAIT */
	GMP_PW_WAITING,		/* parked: the kernel owns its goroutine */
	GMP_PW_FIRED,		/* woken once; no second firing queues it */
};

struct gmp_pollwait;

struct gmp_pollentry {
	wait_queue_entry_t wait;
	wait_queue_head_t *whead;	/* NULL once POLLFREE took it off */
	struct gmp_pollwait *pw;
};

/* One goroutine waiting for one file: Go's pollDesc, for one wait. */
struct gmp_pollwait {
	struct gmp_sched *s;
	struct file *file;		/* held until the wait is freed */
	u32 gidx;
	__poll_t events;		/* always with EPOLLERR | EPOLLHUP */
	atomic_t state;			/* enum gmp_pollstate */
	unsigned int nentries;
	bool overflow;			/* the file wanted more queues */
	bool timed;
	poll_table pt;
	struct gmp_pollentry entry[GMP_POLL_NWAIT];
	struct hrtimer timer;		/* the deadline */
	struct hlist_node node;		/* s->pollhash, under pollwait_lock */
	struct llist_node ready;	/* s->pollready, once fired */
};

static struct hlist_head *gmp_pollbucket(struct gmp_sched *s,
					 const struct file *file)
{
	return &s->pollhash[hash_ptr(file, HASH_BITS(s->pollhash))];
}

/*
 * Fire @pw: the one move to FIRED queues its goroutine, unless the ioctl
 * is still arming it (which then returns "ready"). Any context, no lock
 * of gmp's. True if this call fired it. Once it is on the ready list,
 * @pw may be freed at any moment: nothing here touches it after that.
 */
static bool gmp_pollwait_fire(struct gmp_pollwait *pw)
{
	struct gmp_sched *s = pw->s;
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

/* The file's wake-up: under its wait queue lock, interrupts off. */
static int gmp_pollwake(struct wait_queue_entry *wait, unsigned int mode,
			int sync, void *key)
{
	struct gmp_pollentry *e = container_of(wait, struct gmp_pollentry,
					       wait);
	__poll_t mask = key_to_poll(key);

	if (mask && !(mask & (e->pw->events | POLLFREE)))
		return 0;	/* not what it waits for (a reader, a writer) */
	gmp_pollwait_fire(e->pw);
	/*
	 * The queue goes away: leave it now. gmp_netpoll() cannot free the
	 * wait before this returns, since it takes this same queue's lock
	 * to leave it, unless it sees the NULL, stored last.
	 */
	if (mask & POLLFREE) {
		list_del_init(&wait->entry);
		/* pairs with gmp_pollwait_detach()'s smp_load_acquire() */
		smp_store_release(&e->whead, NULL);
	}
	return 0;
}

static void gmp_pollqueue(struct file *file, wait_queue_head_t *whead,
			  poll_table *pt)
{
	struct gmp_pollwait *pw = container_of(pt, struct gmp_pollwait, pt);
	struct gmp_pollentry *e;

	if (pw->nentries == GMP_POLL_NWAIT) {
		pw->overflow = true;
		return;
	}
	e = &pw->entry[pw->nentries++];
	e->pw = pw;
	e->whead = whead;
	init_waitqueue_func_entry(&e->wait, gmp_pollwake);
	add_wait_queue(whead, &e->wait);
}

static enum hrtimer_restart gmp_pollwait_timeout(struct hrtimer *timer)
{
	gmp_pollwait_fire(container_of(timer, struct gmp_pollwait, timer));
	return HRTIMER_NORESTART;
}

/* Take @pw off its wait queues and stop its timer: nothing fires it after. */
static void gmp_pollwait_detach(struct gmp_pollwait *pw)
{
	unsigned int i;

	for (i = 0; i < pw->nentries; i++) {
		struct gmp_pollentry *e = &pw->entry[i];
		wait_queue_head_t *whead;

		rcu_read_lock();	/* a POLLFREE head lives this long */
		whead = smp_load_acquire(&e->whead);
		if (whead)
			remove_wait_queue(whead, &e->wait);
		rcu_read_unlock();
	}
	if (pw->timed)
		hrtimer_cancel(&pw->timer);
}

/* Detached @pw leaves the instance's hash: nothing can find it after. */
static void gmp_pollwait_unlink(struct gmp_sched *s, struct gmp_pollwait *pw)
{
	spin_lock(&s->pollwait_lock);
	hlist_del(&pw->node);
	s->npollwait--;
	spin_unlock(&s->pollwait_lock);
}

static void gmp_pollwait_free(struct gmp_sched *s, struct gmp_pollwait *pw)
{
	gmp_pollwait_unlink(s, pw);
	fput(pw->file);
	kfree(pw);
}

/* Free the waits an M unlinked (gmp_netpoll()): their files' last puts. */
static void gmp_pollwait_put_dead(struct gmp_sched *s)
{
	struct gmp_pollwait *pw, *next;
	unsigned int i = 0;

	llist_for_each_entry_safe(pw, next, llist_del_all(&s->polldead),
				  ready) {
		fput(pw->file);
		kfree(pw);
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
		gmp_pollwait_detach(pw);
		if (pp) {
			/*
			 * An M's fput() of the last reference waits for its
			 * return to user mode, which a parking M puts off: a
			 * closed socket would stay open. The work puts that
			 * one instead; any other goes now.
			 */
			gmp_pollwait_unlink(s, pw);
			if (gmp_fput_nonfinal(pw->file))
				kfree(pw);
			else if (llist_add(&pw->ready, &s->polldead))
				queue_work(system_highpri_wq, &s->pollwork);
		} else {
			gmp_pollwait_free(s, pw);
		}
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
	gmp_pollwait_put_dead(s);
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
 * The wait is hooked and in the hash: does the caller's word still hold
 * its value? A closer changes the word, then calls NETPOLL_CLOSE, which
 * scans the hash: with a full barrier on each side, either it finds
 * this wait or this sees its change.
 */
static long gmp_netpoll_word_check(const struct gmp_netpoll_wait *a)
{
	u32 v;

	if (!a->uaddr)
		return 0;
	smp_mb();	/* the hash insertion before the load; pairs below */
	if (get_user(v, (u32 __user *)u64_to_user_ptr(a->uaddr)))
		return -EFAULT;
	return v == a->uval ? 0 : -EAGAIN;
}

long gmp_netpoll_wait_ioctl(struct gmp_sched *s,
			    struct gmp_netpoll_wait __user *uarg)
{
	struct gmp_netpoll_wait a;
	struct gmp_pollwait *pw;
	__poll_t mask;
	u32 usize;
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
	if ((a.events & ~GMP_NETPOLL_EVENTS) || a.revents ||
	    a.deadline_ns > KTIME_MAX || (a.uaddr % sizeof(u32)) ||
	    !gmp_gslot(s, a.gidx, NULL))
		return -EINVAL;
	if (a.deadline_ns && a.deadline_ns <= ktime_get_ns())
		return -ETIMEDOUT;

	pw = kzalloc(sizeof(*pw), GMP_GFP);
	if (!pw)
		return -ENOMEM;
	pw->file = fget(a.fd);
	if (!pw->file) {
		kfree(pw);
		return -EBADF;
	}
	/* A wait on a /dev/gmp file would hold an instance up: a cycle. */
	if (pw->file->f_op == s->file->f_op) {
		fput(pw->file);
		kfree(pw);
		return -EINVAL;
	}
	pw->s = s;
	pw->gidx = a.gidx;
	pw->events = (__force __poll_t)a.events | EPOLLERR | EPOLLHUP;
	atomic_set(&pw->state, GMP_PW_ARMING);
	spin_lock(&s->pollwait_lock);
	if (s->npollwait >= s->maxg) {
		spin_unlock(&s->pollwait_lock);
		fput(pw->file);
		kfree(pw);
		return -ENOSPC;
	}
	s->npollwait++;
	hlist_add_head(&pw->node, gmp_pollbucket(s, pw->file));
	spin_unlock(&s->pollwait_lock);

	init_poll_funcptr(&pw->pt, gmp_pollqueue);
	pw->pt._key = pw->events;
	mask = vfs_poll(pw->file, &pw->pt) & pw->events;
	if (!mask && !pw->overflow && pw->nentries) {
		if (a.deadline_ns) {
			/* Before WAITING: after it the wait may be gone. */
			hrtimer_init(&pw->timer, CLOCK_MONOTONIC,
				     HRTIMER_MODE_ABS);
			pw->timer.function = gmp_pollwait_timeout;
			pw->timed = true;
			hrtimer_start(&pw->timer, ns_to_ktime(a.deadline_ns),
				      HRTIMER_MODE_ABS);
		}
		ret = gmp_netpoll_word_check(&a);
		if (!ret && atomic_cmpxchg(&pw->state, GMP_PW_ARMING,
					   GMP_PW_WAITING) == GMP_PW_ARMING) {
			atomic64_inc(&s->nnetpoll);
			WRITE_ONCE(s->state->nnetpoll,
				   atomic64_read(&s->nnetpoll));
			trace_gmp_park(s->tgid, a.gidx);
			return 0;
		}
		/* Fired while arming: ready, or the deadline, or a close. */
	}

	gmp_pollwait_detach(pw);
	if (!mask && !pw->overflow && pw->nentries && !ret)
		mask = vfs_poll(pw->file, NULL) & pw->events;
	if (ret)
		;			/* the word changed, or a fault */
	else if (!mask && (pw->overflow || !pw->nentries))
		ret = -EOPNOTSUPP;	/* nothing would wake it */
	else if (!mask && a.deadline_ns && a.deadline_ns <= ktime_get_ns())
		ret = -ETIMEDOUT;
	else
		ret = 1;
	gmp_pollwait_free(s, pw);
	if (ret == 1 && put_user((__force u32)mask, &uarg->revents))
		ret = -EFAULT;
	return ret;
}

long gmp_netpoll_close_ioctl(struct gmp_sched *s, unsigned long fd)
{
	struct gmp_pollwait *pw;
	struct file *file;
	long n = 0;

	if (fd > INT_MAX)
		return -EBADF;
	file = fget(fd);
	if (!file)
		return -EBADF;
	/*
	 * The caller changed its word first (gmp_netpoll_word_check()).
	 * Under the lock no wait can be freed: gmp_netpoll() takes it.
	 */
	smp_mb();
	spin_lock(&s->pollwait_lock);
	hlist_for_each_entry(pw, gmp_pollbucket(s, file), node)
		if (pw->file == file && gmp_pollwait_fire(pw))
			n++;
	spin_unlock(&s->pollwait_lock);
	fput(file);
	return n;
}

void gmp_netpoll_init(struct gmp_sched *s)
{
	spin_lock_init(&s->pollwait_lock);
	hash_init(s->pollhash);
	init_llist_head(&s->pollready);
	init_llist_head(&s->polldead);
	INIT_WORK(&s->pollwork, gmp_pollwork);
	s->pollinit = true;
}

/*
 * The instance goes: no ioctl runs and no M looks for work any more, but
 * the files may still fire. Stop the work, take every wait off its
 * queues, wait for the work a last firing queued, then free them all,
 * fired or not.
 */
void gmp_netpoll_destroy(struct gmp_sched *s)
{
	struct gmp_pollwait *pw;
	struct hlist_node *tmp;
	unsigned int bkt;

	if (!s->pollinit)
		return;
	WRITE_ONCE(s->pollclosed, true);
	cancel_work_sync(&s->pollwork);
	hash_for_each(s->pollhash, bkt, pw, node) {
		gmp_pollwait_detach(pw);
		cond_resched();
	}
	cancel_work_sync(&s->pollwork);
	hash_for_each_safe(s->pollhash, bkt, tmp, pw, node) {
		gmp_pollwait_free(s, pw);
		cond_resched();
	}
	gmp_pollwait_put_dead(s);
	/* What was fired and not taken is freed above: the list is stale. */
	init_llist_head(&s->pollready);
}

/*
 * For scheddetail: the waits by state, and the first few. A wait
 * WAITING whose file is ready, or FIRED with the ready list empty and
 * no M running, is a lost wake-up.
 */
void gmp_netpoll_show(struct seq_file *sf, struct gmp_sched *s)
{
	static const char * const names[] = { "arming", "waiting", "fired" };
	unsigned int n[ARRAY_SIZE(names)] = { 0 }, shown = 0, st, bkt;
	struct gmp_pollwait *pw;

	if (!s->pollinit)
		return;
	spin_lock(&s->pollwait_lock);
	hash_for_each(s->pollhash, bkt, pw, node) {
		st = atomic_read(&pw->state);
		if (st < ARRAY_SIZE(names))
			n[st]++;
		if (shown++ < GMP_NETPOLL_SHOW)
			seq_printf(sf, "  W: g=%u state=%s events=%#x queues=%u%s\n",
				   pw->gidx, st < ARRAY_SIZE(names) ?
				   names[st] : "?", (__force u32)pw->events,
				   pw->nentries, pw->timed ? " deadline" : "");
	}
	spin_unlock(&s->pollwait_lock);
	seq_printf(sf, "netpoll: waits=%u arming=%u waiting=%u fired=%u ready=%s dead=%s parked=%lld readied=%lld\n",
		   READ_ONCE(s->npollwait), n[GMP_PW_ARMING],
		   n[GMP_PW_WAITING], n[GMP_PW_FIRED],
		   llist_empty(&s->pollready) ? "empty" : "queued",
		   llist_empty(&s->polldead) ? "empty" : "queued",
		   atomic64_read(&s->nnetpoll),
		   atomic64_read(&s->nnetpollready));
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
