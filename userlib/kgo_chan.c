// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Channels and select, as Go's runtime/chan.go and select.go have them:
 * a ring buffer of elements under a lock, and two queues of waiters
 * (sudogs) that a partner completes directly, copying the element from or
 * to the waiter's own memory, then readies it. Nothing here enters the
 * kernel unless a goroutine parks with nothing else to run on its P.
 *
 * A waiter is a goroutine (parked with gopark) or a plain thread
 * (which sleeps on a futex): channels connect goroutines to the rest of
 * a C program too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kgo.h"
#include "kgo_runtime.h"

/*
 * One blocked operation (or one select): who waits, and which of its
 * sudogs a partner completed. done goes 0 -> 1 when a partner claims it
 * (a select's other channels then skip it, Go's selectDone), and 1 -> 2
 * once the partner is finished with it, which is what a thread waits for.
 */
struct waiter {
	struct kgo_g *g;		/* NULL: a plain thread */
	uint32_t done;
	struct sudog *fired;
};

/* A waiter's place in one channel's queue (Go's sudog). */
struct sudog {
	struct waiter *w;
	struct kgo_chan *c;
	struct sudog *next, *prev;
	struct sudog *wnext;		/* to wake once the lock is dropped */
	void *elem;			/* the value, or where it goes; or NULL */
	int casei;			/* its select case */
	bool queued;
	bool success;			/* false: woken by close */
};

struct waitq {
	struct sudog *first, *last;
};

struct kgo_chan {
	struct kgo_spinlock lock;
	bool closed;
	uint32_t nselect;		/* selects that may still lock it */
	size_t elemsize;
	size_t cap;			/* Go's dataqsiz */
	size_t count;			/* Go's qcount */
	size_t sendx, recvx;
	struct waitq recvq, sendq;
	unsigned char *buf;
};

#define KGO_CHAN_ELEM_MAX	(64 * 1024)	/* Go's limit too */

struct kgo_chan *kgo_chan_make(size_t elemsize, size_t cap)
{
	struct kgo_chan *c;

	if (elemsize > KGO_CHAN_ELEM_MAX ||
	    (elemsize && cap > (SIZE_MAX - sizeof(*c)) / elemsize)) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c) + elemsize * cap);
	if (!c)
		return NULL;
	c->elemsize = elemsize;
	c->cap = cap;
	c->buf = (unsigned char *)(c + 1);
	return c;
}

int kgo_chan_free(struct kgo_chan *c)
{
	int r = 0;

	if (!c)
		return 0;
	kgo_acquirem();
	spin_lock(&c->lock);
	if (c->recvq.first || c->sendq.first || c->nselect)
		r = -EBUSY;
	spin_unlock(&c->lock);
	kgo_releasem();
	if (!r)
		free(c);
	return r;
}

size_t kgo_chan_len(const struct kgo_chan *c)
{
	return c ? __atomic_load_n(&c->count, __ATOMIC_RELAXED) : 0;
}

size_t kgo_chan_cap(const struct kgo_chan *c)
{
	return c ? c->cap : 0;
}

size_t chan_elemsize(const struct kgo_chan *c)
{
	return c->elemsize;
}

/* --- Wait queues: the channel's lock held --------------------------------- */

static void enqueue(struct waitq *q, struct sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		q->first = sg;
	q->last = sg;
	sg->queued = true;
}

static void remove_sudog(struct waitq *q, struct sudog *sg)
{
	if (!sg->queued)
		return;
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		q->first = sg->next;
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->queued = false;
}

/*
 * Go's dequeue: the first waiter that can still be completed. A select
 * another channel already claimed is dropped from this queue on the way.
 */
static struct sudog *dequeue(struct waitq *q)
{
	struct sudog *sg;

	uint32_t zero;

	while ((sg = q->first)) {
		remove_sudog(q, sg);
		zero = 0;
		if (__atomic_compare_exchange_n(&sg->w->done, &zero, 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return sg;
	}
	return NULL;
}

/*
 * The partner of a claimed @sg is done with it: wake its waiter. Called
 * after the channel's lock is dropped, inside kgo_acquirem().
 */
static void wake(struct sudog *sg)
{
	struct waiter *w = sg->w;
	struct kgo_g *g = w->g;

	w->fired = sg;
	if (g) {
		goready(g, false);
	} else {
		__atomic_store_n(&w->done, 2, __ATOMIC_RELEASE);
		kgo_futex_wake(&w->done);
	}
}

/* --- Blocking -------------------------------------------------------------- */

struct park_locks {
	struct kgo_chan **c;		/* sorted, each once */
	int n;
};

static void unlock_all(const struct park_locks *pl)
{
	int i;

	for (i = pl->n - 1; i >= 0; i--)
		spin_unlock(&pl->c[i]->lock);
}

static void lock_all(const struct park_locks *pl)
{
	int i;

	for (i = 0; i < pl->n; i++)
		spin_lock(&pl->c[i]->lock);
}

/*
 * On g0, the goroutine saved: now the channels may see it (Go's unlockf).
 * Once a lock is dropped a partner may run the goroutine on another M and
 * reuse its stack, where @arg lives: so the list is copied first.
 */
static bool park_commit(struct kgo_g *g, void *arg)
{
	const struct park_locks *pl = arg;
	struct kgo_chan *c[KGO_SELECT_MAX];
	struct park_locks copy = { .c = c, .n = pl->n };

	(void)g;
	memcpy(c, pl->c, sizeof(c[0]) * (size_t)pl->n);
	unlock_all(&copy);
	return true;
}

/*
 * Wait, its sudogs queued and @pl's locks held inside kgo_acquirem(),
 * until a partner has completed one of them. Returns with the locks
 * dropped and acquirem released.
 */
static void block(struct waiter *w, const struct park_locks *pl,
		  const char *who)
{
	uint32_t v;

	if (w->g) {
		gopark(park_commit, (void *)pl, false, who);
		return;
	}
	unlock_all(pl);
	kgo_releasem();
	while ((v = __atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) != 2)
		kgo_futex_wait(&w->done, v);
}

/*
 * A goroutine's operation on a nil channel: Go blocks it forever. @who is
 * Go's wait reason for it, which dumps show.
 */
static bool forever_commit(struct kgo_g *g, void *arg)
{
	(void)g;
	(void)arg;
	return true;
}

static int block_forever(const char *who)
{
	if (!kgo_getg())
		return -EINVAL;	/* a thread would just hang */
	kgo_acquirem();
	gopark(forever_commit, NULL, false, who);
	throw("%s: woken on a nil channel", who);
}

/* --- Send and receive ------------------------------------------------------ */

static void *slot(struct kgo_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

/*
 * The sizes a channel most often carries are copied inline, a word at a
 * time, rather than through a call to memcpy.
 */
static KGO_INLINE void copy_elem(const struct kgo_chan *c, void *dst,
				 const void *src)
{
	if (!dst)
		return;
	if (KGO_TSAN) {		/* never an intercepted memcpy, even at -O0 */
		racecopy(dst, src, c->elemsize);
		return;
	}
	switch (c->elemsize) {
	case 0:
		return;
	case 4:
		memcpy(dst, src, 4);
		return;
	case 8:
		memcpy(dst, src, 8);
		return;
	case 16:
		memcpy(dst, src, 16);
		return;
	default:
		memcpy(dst, src, c->elemsize);
	}
}

static void clear_elem(const struct kgo_chan *c, void *dst)
{
	if (dst && c->elemsize)
		raceclear(dst, c->elemsize);
}

/*
 * Try to complete a send of @elem on @c, lock held: to a waiting receiver
 * or into the buffer. 0 when done (*@woken set if a receiver must be
 * woken), -EPIPE closed, -EAGAIN it would block.
 */
static KGO_INLINE int send_locked(struct kgo_chan *c, const void *elem,
				  struct sudog **woken)
{
	struct sudog *sg;

	*woken = NULL;
	if (c->closed)
		return -EPIPE;
	sg = dequeue(&c->recvq);
	if (sg) {
		copy_elem(c, sg->elem, elem);
		sg->success = true;
		*woken = sg;
		return 0;
	}
	if (c->count < c->cap) {
		copy_elem(c, slot(c, c->sendx), elem);
		if (++c->sendx == c->cap)
			c->sendx = 0;
		__atomic_store_n(&c->count, c->count + 1, __ATOMIC_RELAXED);
		return 0;
	}
	return -EAGAIN;
}

/*
 * Try to complete a receive into @elem, lock held: from the buffer (a
 * waiting sender then refills the slot), from a waiting sender, or a
 * closed channel's zero value. 1 a value, 0 closed, -EAGAIN it would block.
 */
static KGO_INLINE int recv_locked(struct kgo_chan *c, void *elem,
				  struct sudog **woken)
{
	struct sudog *sg;

	*woken = NULL;
	if (c->count) {
		copy_elem(c, elem, slot(c, c->recvx));
		sg = dequeue(&c->sendq);
		if (sg) {	/* the buffer was full: the sender takes the slot */
			copy_elem(c, slot(c, c->recvx), sg->elem);
			sg->success = true;
			*woken = sg;
		} else {
			__atomic_store_n(&c->count, c->count - 1,
					 __ATOMIC_RELAXED);
		}
		if (++c->recvx == c->cap)
			c->recvx = 0;
		if (sg)
			c->sendx = c->recvx;
		return 1;
	}
	sg = dequeue(&c->sendq);
	if (sg) {		/* unbuffered: straight from the sender */
		copy_elem(c, elem, sg->elem);
		sg->success = true;
		*woken = sg;
		return 1;
	}
	if (c->closed) {
		clear_elem(c, elem);
		return 0;
	}
	return -EAGAIN;
}

/*
 * chanop's wait: queue a sudog for the calling goroutine or thread on
 * @c, whose lock is held inside kgo_acquirem(), and block until a partner
 * or close completes it. Kept out of line so that an operation that
 * completes at once builds no waiter; a goroutine's needs only the fields
 * a partner reads (enqueue() sets the links).
 */
static __attribute__((noinline)) int chanop_wait(struct kgo_chan *c,
						 bool send, void *elem,
						 const char *who)
{
	struct park_locks pl = { .c = &c, .n = 1 };
	struct waiter w;
	struct sudog sg;

	w.g = kgo_getg();
	w.done = 0;
	sg.w = &w;
	sg.c = c;
	sg.elem = elem;
	sg.success = false;
	enqueue(send ? &c->sendq : &c->recvq, &sg);
	if (__builtin_expect(w.g != NULL, 1))
		gopark(spin_unlock_commit, &c->lock, false, who);
	else
		block(&w, &pl, who);
	if (send)
		return sg.success ? 0 : -EPIPE;
	return sg.success ? 1 : 0;
}

/*
 * One send (@op KGO_SEND) or receive on @c: completed at once if it can
 * be, else -EAGAIN, or, @blocking, queued and waited for. Returns as
 * send_locked or recv_locked, and for a wait that close ended, -EPIPE
 * (send) or 0 (receive, *@elem cleared by close).
 */
static KGO_INLINE int chanop(struct kgo_chan *c, int op, void *elem,
			     bool blocking, const char *who)
{
	struct sudog *woken;
	bool send = op == KGO_SEND;
	int r;

	if (send && !elem && c && c->elemsize)
		return -EINVAL;
	if (!c)
		return !blocking ? -EAGAIN :
		       block_forever(send ? "chan send (nil chan)" :
				     "chan receive (nil chan)");
	/*
	 * TSan: whatever the partner did before its operation comes before
	 * whatever follows ours, both ways (wider than Go's rule for a
	 * buffered channel: races between two senders may go unseen). Never
	 * under kgo's locks: TSan's runtime may wait there for a goroutine
	 * preempted inside it, which would need this P.
	 */
	racerelease(c);
	kgo_acquirem();
	spin_lock(&c->lock);
	r = send ? send_locked(c, elem, &woken) : recv_locked(c, elem, &woken);
	if (r != -EAGAIN || !blocking) {
		spin_unlock(&c->lock);
		if (woken)
			wake(woken);
		kgo_releasem();
		if (r == -EAGAIN)
			return r;
	} else {
		r = chanop_wait(c, send, elem, who);
	}
	raceacquire(c);
	return r;
}

/* The element is only read from on a send: the cast drops no promise. */
int kgo_chan_send(struct kgo_chan *c, const void *elem)
{
	return chanop(c, KGO_SEND, (void *)elem, true, "kgo_chan_send");
}

int kgo_chan_trysend(struct kgo_chan *c, const void *elem)
{
	return chanop(c, KGO_SEND, (void *)elem, false, "kgo_chan_trysend");
}

int kgo_chan_recv(struct kgo_chan *c, void *elem)
{
	return chanop(c, KGO_RECV, elem, true, "kgo_chan_recv");
}

int kgo_chan_tryrecv(struct kgo_chan *c, void *elem)
{
	return chanop(c, KGO_RECV, elem, false, "kgo_chan_tryrecv");
}

/*
 * Go's closechan: every waiting receiver gets the zero value and
 * ok = false, every waiting sender fails with -EPIPE (Go panics there).
 */
int kgo_chan_close(struct kgo_chan *c)
{
	struct sudog *list = NULL, *sg;

	if (!c)
		return -EINVAL;
	racerelease(c);		/* before a receive that sees it closed */
	kgo_acquirem();
	spin_lock(&c->lock);
	if (c->closed) {
		spin_unlock(&c->lock);
		kgo_releasem();
		return -EPIPE;
	}
	c->closed = true;
	while ((sg = dequeue(&c->recvq))) {
		clear_elem(c, sg->elem);
		sg->success = false;
		sg->wnext = list;
		list = sg;
	}
	while ((sg = dequeue(&c->sendq))) {
		sg->success = false;
		sg->wnext = list;
		list = sg;
	}
	spin_unlock(&c->lock);
	while ((sg = list)) {
		list = sg->wnext;	/* read before the waiter runs */
		wake(sg);
	}
	kgo_releasem();
	return 0;
}

/* --- select ---------------------------------------------------------------- */

/* A channel case as kgo_select() takes it: 0, or -EINVAL. */
int select_case_check(const struct kgo_select_case *cs)
{
	if (cs->op != KGO_SEND && cs->op != KGO_RECV)
		return -EINVAL;
	if (cs->op == KGO_SEND && !cs->elem && cs->c && cs->c->elemsize)
		return -EINVAL;	/* nothing to send */
	return 0;
}

/* Sort @n channels by address and drop repeats (Go's lockorder). */
static int lock_order(struct kgo_chan **c, int n)
{
	struct kgo_chan *t;
	int i, j, m = 0;

	for (i = 1; i < n; i++) {
		t = c[i];
		for (j = i; j > 0 && c[j - 1] > t; j--)
			c[j] = c[j - 1];
		c[j] = t;
	}
	for (i = 0; i < n; i++)
		if (!m || c[m - 1] != c[i])
			c[m++] = c[i];
	return m;
}

/*
 * Go's selectgo: with every channel locked, look at the cases in a random
 * order (so none is favoured) and complete the first that is ready; if
 * none is, queue a sudog on every channel and wait for a partner to claim
 * one; then take the others back.
 */
/* selectgo() met a KGO_POLL case: select_poll() does that select. */
#define SELECT_HAS_POLL		INT_MIN

static __attribute__((noinline)) int
selectgo(struct kgo_select_case *cases, int n, unsigned int flags)
{
	struct kgo_chan *locks[KGO_SELECT_MAX];
	struct sudog sgs[KGO_SELECT_MAX], *woken, *sg;
	int order[KGO_SELECT_MAX], nlive = 0, i, j, r;
	struct waiter w = { .g = NULL };
	struct park_locks pl = { .c = locks };
	struct kgo_select_case *cs;

	if (n < 0 || n > KGO_SELECT_MAX || (n && !cases) ||
	    (flags & ~KGO_SELECT_NONBLOCK))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (cases[i].op == KGO_POLL)
			return SELECT_HAS_POLL;
		if (select_case_check(&cases[i]))
			return -EINVAL;
		if (!cases[i].c)
			continue;	/* a nil channel: never ready */
		/* Go's pollorder: a random permutation, inside out. */
		j = (int)(fastrand() % (uint32_t)(nlive + 1));
		if (j != nlive)
			order[nlive] = order[j];
		order[j] = i;
		locks[nlive++] = cases[i].c;
	}
	if (!nlive) {
		if (flags & KGO_SELECT_NONBLOCK)
			return -EAGAIN;
		return block_forever("select (no cases)");
	}
	pl.n = lock_order(locks, nlive);
	for (i = 0; i < pl.n; i++)	/* as chanop() does, every case */
		racerelease(locks[i]);

	kgo_acquirem();
	lock_all(&pl);
	for (i = 0; i < nlive; i++) {
		cs = &cases[order[i]];
		if (cs->op == KGO_SEND)
			r = send_locked(cs->c, cs->elem, &woken);
		else
			r = recv_locked(cs->c, cs->elem, &woken);
		if (r == -EAGAIN)
			continue;
		unlock_all(&pl);
		if (woken)
			wake(woken);
		kgo_releasem();
		raceacquire(cs->c);
		if (cs->op == KGO_RECV)
			cs->ok = r;
		return r < 0 ? r : order[i];
	}
	if (flags & KGO_SELECT_NONBLOCK) {
		unlock_all(&pl);
		kgo_releasem();
		return -EAGAIN;
	}

	w.g = kgo_getg();
	for (i = 0; i < nlive; i++) {
		cs = &cases[order[i]];
		sg = &sgs[i];
		*sg = (struct sudog){ .w = &w, .c = cs->c, .elem = cs->elem,
				      .casei = order[i] };
		enqueue(cs->op == KGO_SEND ? &cs->c->sendq : &cs->c->recvq,
			sg);
		/*
		 * Until pass 3 has locked it again, the channel is this
		 * select's, even once a partner has emptied its queues.
		 */
		cs->c->nselect++;
	}
	block(&w, &pl, "kgo_select");

	/* Take back the sudogs no partner claimed (Go's pass 3). */
	kgo_acquirem();
	lock_all(&pl);
	for (i = 0; i < nlive; i++) {
		sg = &sgs[i];
		cs = &cases[sg->casei];
		remove_sudog(cs->op == KGO_SEND ? &cs->c->sendq :
			     &cs->c->recvq, sg);
		cs->c->nselect--;
	}
	unlock_all(&pl);
	kgo_releasem();

	sg = w.fired;
	cs = &cases[sg->casei];
	raceacquire(cs->c);
	if (cs->op == KGO_RECV) {
		cs->ok = sg->success;
		return sg->casei;
	}
	return sg->success ? sg->casei : -EPIPE;
}

/*
 * Go's select. Its frame is small: a select with a descriptor case
 * (select_poll()) selects again on channels, and its own arrays and
 * selectgo()'s are not on the goroutine's stack twice.
 */
int kgo_select(struct kgo_select_case *cases, int n, unsigned int flags)
{
	int r = selectgo(cases, n, flags);

	return r == SELECT_HAS_POLL ? select_poll(cases, n, flags) : r;
}
