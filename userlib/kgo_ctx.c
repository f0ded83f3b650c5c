// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Contexts and goroutine groups: Go's context package (cancellation and
 * deadlines for a tree of work) and golang.org/x/sync/errgroup.
 *
 * A context is a node in a tree. Cancelling one marks it, closes its done
 * channel and detaches its children, then does the same to them: with a
 * work list, not recursion, so a chain 10,000 deep costs no stack. Each
 * context has its own lock, taken with its parent's never held: a child
 * is detached under its parent's lock and then cancelled under its own.
 * A child holds a reference on its parent, so a parent's memory stays
 * while a child might still unlink from it; the creator holds one more,
 * given back by kgo_ctx_free(). A deadline is a timer of kgo's timer
 * thread whose fire cancels the context with -ETIMEDOUT.
 *
 * None of this is on the path of a channel operation without a context:
 * the _ctx calls are a select with the context's done channel as one
 * more case.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "kgo.h"
#include "kgo_runtime.h"

struct kgo_ctx {
	struct kgo_mutex mu;		/* children, err and cause */
	uint32_t refs;
	struct kgo_ctx *parent;		/* referenced; NULL: the background */
	struct kgo_ctx *children;	/* linked while not cancelled */
	struct kgo_ctx *prev, *next;	/* in parent->children, under its mu */
	bool linked;			/* in parent->children */
	bool has_timer;			/* the deadline's, set before arming */
	struct kgo_ctx *work;		/* in a cancel's work list */
	int err, cause;			/* set once, before done closes */
	int64_t deadline;		/* INT64_MAX: none */
	struct kgo_chan *done;
	struct timer timer;
};

/* Never cancelled: no done channel, no deadline. NULL means it too. */
static struct kgo_ctx background = { .deadline = INT64_MAX };

static struct kgo_ctx *ctx_or_background(struct kgo_ctx *ctx)
{
	return ctx ? ctx : &background;
}

struct kgo_ctx *kgo_ctx_background(void)
{
	return &background;
}

static void ctx_get(struct kgo_ctx *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

/*
 * Drop a reference; the last one frees @c and drops the one it held on
 * its parent, and so on up (a loop: chains may be deep). The last
 * reference goes after the context was cancelled, so no select waits on
 * its done channel for long: one still returning makes the free -EBUSY
 * for a moment.
 */
static void ctx_put(struct kgo_ctx *c)
{
	struct kgo_ctx *parent;

	while (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		parent = c->parent;
		/* Armed after a cancel that came first, or firing now. */
		if (c->has_timer)
			timer_stop(&c->timer);
		while (kgo_chan_free(c->done) == -EBUSY)
			yield_anywhere();
		free(c);
		c = parent;
	}
}

/* Take @c out of its parent's children, if it is still there. */
static void ctx_unlink(struct kgo_ctx *c)
{
	struct kgo_ctx *p = c->parent;

	if (!p)
		return;
	kgo_mutex_lock(&p->mu);
	if (c->linked) {
		if (c->prev)
			c->prev->next = c->next;
		else
			p->children = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->linked = false;
	}
	kgo_mutex_unlock(&p->mu);
}

/*
 * Cancel @c alone: set its error, close its done channel and move its
 * children, each with a reference, onto *@work. False if it was
 * cancelled already (its children then went with that cancel).
 */
static bool cancel_one(struct kgo_ctx *c, int err, int cause,
		       struct kgo_ctx **work)
{
	struct kgo_ctx *child, *next;

	kgo_mutex_lock(&c->mu);
	if (c->err) {
		kgo_mutex_unlock(&c->mu);
		return false;
	}
	c->cause = cause;
	__atomic_store_n(&c->err, err, __ATOMIC_RELEASE);
	for (child = c->children; child; child = next) {
		next = child->next;
		child->linked = false;
		ctx_get(child);
		child->work = *work;
		*work = child;
	}
	c->children = NULL;
	kgo_mutex_unlock(&c->mu);
	kgo_chan_close(c->done);
	/* The timer thread cancelling from this timer's fire skips the wait. */
	if (c->has_timer)
		timer_stop(&c->timer);
	return true;
}

/* Cancel @c and every descendant with @err and @cause. */
static void ctx_cancel(struct kgo_ctx *c, int err, int cause)
{
	struct kgo_ctx *work = NULL, *w;

	if (!cancel_one(c, err, cause, &work))
		return;
	ctx_unlink(c);
	while (work) {
		w = work;
		work = w->work;
		cancel_one(w, err, cause, &work);
		ctx_put(w);
	}
}

static void ctx_timer_fire(struct timer *t, int64_t due)
{
	struct kgo_ctx *c = (struct kgo_ctx *)((char *)t -
					       offsetof(struct kgo_ctx, timer));

	(void)due;
	/* The context cannot be freed meanwhile: its free stops this timer. */
	ctx_cancel(c, -ETIMEDOUT, -ETIMEDOUT);
}

struct kgo_ctx *kgo_ctx_with_cancel(struct kgo_ctx *parent)
{
	struct kgo_ctx *c = calloc(1, sizeof(*c));
	int err = 0, cause = 0;

	if (c)
		c->done = kgo_chan_make(0, 0);
	if (!c || !c->done) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->refs = 1;
	parent = ctx_or_background(parent);
	c->deadline = parent->deadline;
	if (parent == &background)
		return c;
	ctx_get(parent);
	c->parent = parent;
	kgo_mutex_lock(&parent->mu);
	err = parent->err;
	cause = parent->cause;
	if (!err) {
		c->next = parent->children;
		if (c->next)
			c->next->prev = c;
		parent->children = c;
		c->linked = true;
	}
	kgo_mutex_unlock(&parent->mu);
	if (err)		/* born ended, as Go's are under an ended parent */
		ctx_cancel(c, err, cause);
	return c;
}

struct kgo_ctx *kgo_ctx_with_deadline(struct kgo_ctx *parent,
				      int64_t deadline)
{
	struct kgo_ctx *c = kgo_ctx_with_cancel(parent);
	int err;

	if (!c || deadline >= c->deadline || kgo_ctx_err(c))
		return c;	/* the parent's comes first, or it has */
	c->deadline = deadline;
	if (deadline <= nanotime()) {
		ctx_cancel(c, -ETIMEDOUT, -ETIMEDOUT);
		return c;
	}
	c->timer.fire = ctx_timer_fire;
	c->timer.live = true;	/* an armed deadline: not a deadlock */
	c->has_timer = true;
	err = timer_start(&c->timer, deadline);
	if (err) {
		c->has_timer = false;
		kgo_ctx_free(c);
		errno = -err;
		return NULL;
	}
	/* Cancelled by its parent meanwhile: not live until it is freed. */
	if (kgo_ctx_err(c))
		timer_stop(&c->timer);
	return c;
}

struct kgo_ctx *kgo_ctx_with_timeout(struct kgo_ctx *parent, int64_t ns)
{
	int64_t now = nanotime();

	return kgo_ctx_with_deadline(parent,
				     ns > INT64_MAX - now ? INT64_MAX : now + ns);
}

void kgo_ctx_cancel(struct kgo_ctx *ctx, int cause)
{
	if (ctx && ctx != &background)
		ctx_cancel(ctx, -ECANCELED, cause ? cause : -ECANCELED);
}

void kgo_ctx_free(struct kgo_ctx *ctx)
{
	if (!ctx || ctx == &background)
		return;
	kgo_ctx_cancel(ctx, 0);
	ctx_put(ctx);
}

struct kgo_chan *kgo_ctx_done(struct kgo_ctx *ctx)
{
	return ctx_or_background(ctx)->done;
}

int kgo_ctx_err(struct kgo_ctx *ctx)
{
	return __atomic_load_n(&ctx_or_background(ctx)->err, __ATOMIC_ACQUIRE);
}

int kgo_ctx_cause(struct kgo_ctx *ctx)
{
	int err = kgo_ctx_err(ctx);

	return err ? ctx->cause : 0;
}

int kgo_ctx_deadline(struct kgo_ctx *ctx, int64_t *deadline)
{
	ctx = ctx_or_background(ctx);
	if (ctx->deadline == INT64_MAX)
		return 0;
	*deadline = ctx->deadline;
	return 1;
}

/* --- Blocking calls with a context ------------------------------------------ */

int kgo_select_ctx(struct kgo_ctx *ctx, struct kgo_select_case *cases,
		   int n, unsigned int flags)
{
	struct kgo_select_case all[KGO_SELECT_MAX];
	int err = kgo_ctx_err(ctx), i, r;

	if (err)
		return err;
	if (n < 0 || n >= KGO_SELECT_MAX || (n && !cases))
		return -EINVAL;
	for (i = 0; i < n; i++)
		all[i] = cases[i];
	all[n] = (struct kgo_select_case){
		.c = kgo_ctx_done(ctx), .op = KGO_RECV,
	};
	r = kgo_select(all, n + 1, flags);
	for (i = 0; i < n; i++)
		cases[i].ok = all[i].ok;
	return r == n ? kgo_ctx_err(ctx) : r;
}

int kgo_chan_send_ctx(struct kgo_ctx *ctx, struct kgo_chan *c,
		      const void *elem)
{
	struct kgo_select_case cs = {
		.c = c, .op = KGO_SEND, .elem = (void *)elem,
	};

	return kgo_select_ctx(ctx, &cs, 1, 0);
}

int kgo_chan_recv_ctx(struct kgo_ctx *ctx, struct kgo_chan *c, void *elem)
{
	struct kgo_select_case cs = { .c = c, .op = KGO_RECV, .elem = elem };
	int r = kgo_select_ctx(ctx, &cs, 1, 0);

	return r ? r : cs.ok;
}

int kgo_sleep_ctx(struct kgo_ctx *ctx, int64_t ns)
{
	struct kgo_select_case cs = { .op = KGO_RECV };
	struct kgo_timer *t;
	int r = kgo_ctx_err(ctx);

	if (r)
		return r;
	if (!kgo_ctx_done(ctx) || ns <= 0)
		return kgo_sleep(ns);	/* nothing can end it early */
	t = kgo_timer_start(ns);
	if (!t)
		return -errno;
	cs.c = kgo_timer_chan(t);
	r = kgo_select_ctx(ctx, &cs, 1, 0);
	kgo_timer_free(t);
	return r;
}

/* --- Groups: Go's errgroup ------------------------------------------------- */

struct kgo_group {
	struct kgo_ctx *ctx;
	struct kgo_waitgroup wg;
	struct kgo_chan *sem;		/* a token per running goroutine */
	uint32_t active;
	uint32_t failed;		/* err is set */
	int err;
};

struct group_task {
	struct kgo_group *g;
	int (*fn)(struct kgo_ctx *ctx, void *arg);
	void *arg;
};

struct kgo_group *kgo_group_new(struct kgo_ctx *parent)
{
	struct kgo_group *g = calloc(1, sizeof(*g));

	if (g)
		g->ctx = kgo_ctx_with_cancel(parent);
	if (!g || !g->ctx) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	return g;
}

struct kgo_ctx *kgo_group_ctx(struct kgo_group *g)
{
	return g->ctx;
}

int kgo_group_set_limit(struct kgo_group *g, int n)
{
	struct kgo_chan *sem = NULL;

	if (__atomic_load_n(&g->active, __ATOMIC_ACQUIRE))
		return -EBUSY;
	if (n >= 0) {
		sem = kgo_chan_make(0, (size_t)n);
		if (!sem)
			return -ENOMEM;
	}
	kgo_chan_free(g->sem);
	g->sem = sem;
	return 0;
}

/* The first failure is the group's error, and cancels the others. */
static void group_fail(struct kgo_group *g, int err)
{
	if (__atomic_exchange_n(&g->failed, 1, __ATOMIC_ACQ_REL))
		return;
	g->err = err;
	kgo_ctx_cancel(g->ctx, err);
}

/*
 * Give the goroutine's token and count back. The count goes last: once
 * it is zero no goroutine of the group touches @g again, which is what
 * kgo_group_free() checks, and what kgo_group_wait() waits for after
 * the wait group (a goroutine may be between the two for a moment).
 */
static void group_leave(struct kgo_group *g)
{
	if (g->sem)
		kgo_chan_tryrecv(g->sem, NULL);
	kgo_waitgroup_done(&g->wg);
	__atomic_sub_fetch(&g->active, 1, __ATOMIC_RELEASE);
}

static void group_run(void *arg)
{
	struct group_task task = *(struct group_task *)arg;
	int r;

	free(arg);
	r = task.fn(task.g->ctx, task.arg);
	if (r)
		group_fail(task.g, r);
	group_leave(task.g);
}

static int group_go(struct kgo_group *g,
		    int (*fn)(struct kgo_ctx *ctx, void *arg), void *arg,
		    bool block)
{
	struct group_task *task;
	int r;

	if (g->sem) {
		r = block ? kgo_chan_send(g->sem, NULL) :
			    kgo_chan_trysend(g->sem, NULL);
		if (r)
			return r;
	}
	__atomic_add_fetch(&g->active, 1, __ATOMIC_ACQUIRE);
	kgo_waitgroup_add(&g->wg, 1);
	task = malloc(sizeof(*task));
	if (!task) {
		group_leave(g);
		return -ENOMEM;
	}
	*task = (struct group_task){ .g = g, .fn = fn, .arg = arg };
	r = kgo_go(group_run, task);
	if (r) {
		free(task);
		group_leave(g);
	}
	return r;
}

int kgo_group_go(struct kgo_group *g,
		 int (*fn)(struct kgo_ctx *ctx, void *arg), void *arg)
{
	return group_go(g, fn, arg, true);
}

int kgo_group_trygo(struct kgo_group *g,
		    int (*fn)(struct kgo_ctx *ctx, void *arg), void *arg)
{
	return group_go(g, fn, arg, false);
}

int kgo_group_wait(struct kgo_group *g)
{
	kgo_waitgroup_wait(&g->wg);
	while (__atomic_load_n(&g->active, __ATOMIC_ACQUIRE))
		yield_anywhere();
	kgo_ctx_cancel(g->ctx, g->err);
	return g->err;
}

int kgo_group_free(struct kgo_group *g)
{
	if (!g)
		return 0;
	if (__atomic_load_n(&g->active, __ATOMIC_ACQUIRE))
		return -EBUSY;
	kgo_ctx_free(g->ctx);
	kgo_chan_free(g->sem);
	free(g);
	return 0;
}
