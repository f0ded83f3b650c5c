// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Sleep, timers and tickers: Go's time.Sleep, time.NewTimer and
 * time.NewTicker for goroutines, and the timers kgo's contexts use.
 *
 * Timers sit in one min-heap served by kgo's timer thread, a plain thread
 * that is never an M (Go before 1.14 had a timer goroutine; since, each P
 * checks timers when it schedules, which needs the M's to wake on time,
 * and gmp's M's sleep in the kernel): it sleeps until the earliest timer
 * is due, then readies the sleeper or sends on the timer's channel, from
 * outside any P, through the kernel's spawn ring like any other thread.
 * A sleeping goroutine holds no M.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kgo.h"
#include "kgo_runtime.h"

enum { TIMER_IDLE, TIMER_PENDING };

struct kgo_timer {
	struct timer t;
	struct kgo_chan *c;
};

/* A ticker is a periodic timer: the same, its period set. */
struct kgo_ticker {
	struct kgo_timer kt;
};

/*
 * tm.lock is taken on g0 (a sleeper's timer is added there), so no
 * goroutine may hold it where it can be preempted, or the M whose g0
 * waits for it could never run that goroutine again: goroutines take it
 * inside kgo_acquirem() (tm_lock), the timer thread is a plain thread.
 * Nothing is allocated under it either (malloc's own locks may be held
 * by a preempted goroutine): room in the heap is reserved beforehand.
 */
static struct {
	pthread_once_t once;
	int started;			/* 1, or -errno */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct timer **heap;
	size_t n, cap;
	size_t reserved;		/* slots promised to heap_add */
	struct timer *firing;		/* its fire() is running */
} tm = {
	.once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void tm_lock(void)
{
	kgo_acquirem();
	rt_lock(&tm.lock);
}

static void tm_unlock(void)
{
	rt_unlock(&tm.lock);
	kgo_releasem();
}

/* --- The heap: tm.lock held ------------------------------------------------ */

static void heap_set(size_t i, struct timer *t)
{
	tm.heap[i] = t;
	t->idx = i;
}

static void sift_up(size_t i)
{
	struct timer *t = tm.heap[i];

	while (i) {
		size_t parent = (i - 1) / 2;

		if (tm.heap[parent]->when <= t->when)
			break;
		heap_set(i, tm.heap[parent]);
		i = parent;
	}
	heap_set(i, t);
}

static void sift_down(size_t i)
{
	struct timer *t = tm.heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= tm.n)
			break;
		if (c + 1 < tm.n && tm.heap[c + 1]->when < tm.heap[c]->when)
			c++;
		if (t->when <= tm.heap[c]->when)
			break;
		heap_set(i, tm.heap[c]);
		i = c;
	}
	heap_set(i, t);
}

/*
 * Promise one heap_add() a slot, growing the heap with the array
 * allocated and freed outside tm.lock. 0, or -ENOMEM.
 */
static int heap_reserve(void)
{
	struct timer **h = NULL, **old;
	size_t cap = 0;

	for (;;) {
		tm_lock();
		if (h && cap > tm.cap) {
			memcpy(h, tm.heap, tm.n * sizeof(*h));
			old = tm.heap;
			tm.heap = h;
			tm.cap = cap;
			h = old;	/* freed below */
		}
		if (tm.n + tm.reserved < tm.cap) {
			tm.reserved++;
			tm_unlock();
			free(h);
			return 0;
		}
		cap = tm.cap ? 2 * tm.cap : 64;
		tm_unlock();
		free(h);
		h = malloc(cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
	}
}


/* Add @t in the slot heap_reserve() promised. */
static void heap_add(struct timer *t)
{
	tm.reserved--;
	tm.heap[tm.n] = t;
	t->idx = tm.n++;
	t->state = TIMER_PENDING;
	sift_up(t->idx);
	if (!t->idx)
		pthread_cond_signal(&tm.cond);	/* a new earliest */
}

static void heap_del(struct timer *t)
{
	size_t i = t->idx;
	struct timer *moved;

	t->state = TIMER_IDLE;
	if (i == --tm.n)
		return;
	/* The last one fills the hole, then finds its place either way. */
	moved = tm.heap[tm.n];
	heap_set(i, moved);
	sift_down(i);
	sift_up(moved->idx);
}

/* --- The timer thread -------------------------------------------------------- */

static __thread bool on_timer_thread;

/*
 * The first time on the grid @due + k * @period (k >= 1) after @now: a
 * periodic timer that fell behind skips the ticks it missed, and the
 * ones after stay where they were due (Go's ticker).
 */
static int64_t next_due(int64_t due, int64_t period, int64_t now)
{
	int64_t k = now > due ? (now - due) / period + 1 : 1, next;

	if (__builtin_mul_overflow(k, period, &next) ||
	    __builtin_add_overflow(next, due, &next))
		return INT64_MAX;
	return next;
}

static void *timerproc(void *unused)
{
	struct timespec ts;
	struct timer *t;
	int64_t now, due;
	bool live;

	(void)unused;
	on_timer_thread = true;
	thread_register(true);
	rt_lock(&tm.lock);
	for (;;) {
		if (!tm.n) {
			pthread_cond_wait(&tm.cond, &tm.lock);
			continue;
		}
		t = tm.heap[0];
		now = nanotime();
		if (t->when > now) {
			ts.tv_sec = t->when / 1000000000;
			ts.tv_nsec = t->when % 1000000000;
			pthread_cond_timedwait(&tm.cond, &tm.lock, &ts);
			continue;
		}
		due = t->when;
		/* A periodic timer stays live; a one-shot one is done. */
		live = t->live && t->period <= 0;
		if (t->period > 0) {	/* stays in the heap, its slot kept */
			t->when = next_due(due, t->period, now);
			sift_down(0);
		} else {
			heap_del(t);
		}
		tm.firing = t;
		rt_unlock(&tm.lock);
		raceacquire(t);		/* Go's: who set it, before it fires */
		t->fire(t, due);	/* may free a sleeper's timer: not after */
		if (live)		/* after its work: what it woke counts */
			live_sub();
		rt_lock(&tm.lock);
		tm.firing = NULL;
	}
	return NULL;
}

static void timer_start_thread(void)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t t;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tm.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	tm.started = pthread_create(&t, &attr, timerproc, NULL) ? -EAGAIN : 1;
	pthread_attr_destroy(&attr);
}

int timers_init(void)
{
	pthread_once(&tm.once, timer_start_thread);
	return tm.started < 0 ? tm.started : 0;
}

static int64_t deadline(int64_t ns)
{
	int64_t now = nanotime();

	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

int timer_start(struct timer *t, int64_t when)
{
	int err = timers_init();

	if (!err)
		err = heap_reserve();
	if (err)
		return err;
	if (t->live)
		live_add();
	racerelease(t);		/* Go's: before it fires (timerproc) */
	tm_lock();
	t->when = when;
	heap_add(t);
	tm_unlock();
	return 0;
}

int timer_stop(struct timer *t)
{
	int stopped = 0;

	tm_lock();
	/* Being fired: wait for its fire(), a few instructions away. */
	while (tm.firing == t && !on_timer_thread) {
		tm_unlock();
		yield_anywhere();
		tm_lock();
	}
	if (t->state == TIMER_PENDING) {
		heap_del(t);
		stopped = 1;
	}
	tm_unlock();
	if (stopped && t->live)
		live_sub();
	return stopped;
}

int64_t kgo_now(void)
{
	return nanotime();
}

/* --- Sleep ---------------------------------------------------------------- */

struct sleeper {
	struct timer t;
	struct kgo_g *g;
};

static void sleeper_fire(struct timer *t, int64_t due)
{
	struct sleeper *s = (struct sleeper *)t;
	struct kgo_g *g = s->g;

	(void)due;
	/* s lives on the sleeper's stack: nothing after the goready. */
	goready(g, true);
}

/*
 * On g0, the goroutine saved: only now may the timer thread wake it. Once
 * the lock is dropped it may already run elsewhere: @arg, on its stack,
 * is not touched again.
 */
static bool sleep_commit(struct kgo_g *g, void *arg)
{
	struct sleeper *s = arg;

	s->g = g;
	rt_lock(&tm.lock);
	heap_add(&s->t);
	rt_unlock(&tm.lock);
	return true;
}

int kgo_sleep(int64_t ns)
{
	struct sleeper s = { .t = { .fire = sleeper_fire } };
	struct timespec ts;
	int err;

	if (!kgo_getg()) {		/* a plain thread just sleeps */
		if (ns <= 0)
			return 0;
		ts.tv_sec = ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return 0;
	}
	if (ns <= 0) {
		kgo_yield();
		return 0;
	}
	err = timers_init();
	if (!err)
		err = heap_reserve();
	if (err)
		return err;
	s.t.when = deadline(ns);
	kgo_acquirem();
	/* Sleeping, not stuck: the timer will wake it (no deadlock). */
	gopark(sleep_commit, &s, true, "kgo_sleep");
	return 0;
}

/* --- Timers with a channel: Go's time.NewTimer ----------------------------- */

static void chantimer_fire(struct timer *t, int64_t due)
{
	struct kgo_timer *kt = (struct kgo_timer *)t;

	kgo_chan_trysend(kt->c, &due);	/* cap 1: a missed value is dropped */
}

/*
 * Disarm @t and empty @c: a value sent before this returns is never
 * received after it (Go 1.23). 1 if @t was armed.
 */
static int chantimer_disarm(struct timer *t, struct kgo_chan *c)
{
	int stopped = timer_stop(t);

	kgo_chan_tryrecv(c, NULL);
	return stopped;
}

/*
 * A timer with a channel with room for one value, armed for @ns from now
 * and every @period after if that is > 0; NULL with errno.
 */
static struct kgo_timer *chantimer_start(int64_t ns, int64_t period,
					 void (*fire)(struct timer *, int64_t))
{
	struct kgo_timer *kt = calloc(1, sizeof(*kt));
	int err = -ENOMEM;

	if (kt)
		kt->c = kgo_chan_make(sizeof(int64_t), 1);
	if (kt && kt->c) {
		kt->t.fire = fire;
		kt->t.period = period;
		kt->t.live = true;	/* a value may still come */
		err = timer_start(&kt->t, deadline(ns > 0 ? ns : 0));
		if (!err)
			return kt;
		kgo_chan_free(kt->c);
	}
	free(kt);
	errno = -err;
	return NULL;
}

struct kgo_timer *kgo_timer_start(int64_t ns)
{
	return chantimer_start(ns, 0, chantimer_fire);
}

struct kgo_chan *kgo_timer_chan(const struct kgo_timer *t)
{
	return t ? t->c : NULL;
}

int kgo_timer_stop(struct kgo_timer *kt)
{
	return kt ? chantimer_disarm(&kt->t, kt->c) : 0;
}

int kgo_timer_reset(struct kgo_timer *kt, int64_t ns)
{
	int was, err;

	if (!kt)
		return -EINVAL;
	was = chantimer_disarm(&kt->t, kt->c);
	err = timer_start(&kt->t, deadline(ns > 0 ? ns : 0));
	return err ? err : was;
}

int kgo_timer_free(struct kgo_timer *kt)
{
	int err;

	if (!kt)
		return 0;
	kgo_timer_stop(kt);
	err = kgo_chan_free(kt->c);
	if (!err)
		free(kt);
	return err;
}

/* --- Tickers: Go's time.NewTicker -------------------------------------------- */

/* A running ticker stays armed (and live) until stopped. */
static void ticker_fire(struct timer *t, int64_t due)
{
	struct kgo_timer *kt = (struct kgo_timer *)t;

	kgo_chan_trysend(kt->c, &due);	/* a reader behind: the tick is dropped */
}

struct kgo_ticker *kgo_ticker_start(int64_t period)
{
	if (period <= 0) {
		errno = EINVAL;
		return NULL;
	}
	return (struct kgo_ticker *)chantimer_start(period, period, ticker_fire);
}

struct kgo_chan *kgo_ticker_chan(const struct kgo_ticker *tk)
{
	return tk ? tk->kt.c : NULL;
}

int kgo_ticker_stop(struct kgo_ticker *tk)
{
	if (!tk)
		return -EINVAL;
	chantimer_disarm(&tk->kt.t, tk->kt.c);
	return 0;
}

int kgo_ticker_reset(struct kgo_ticker *tk, int64_t period)
{
	if (!tk || period <= 0)
		return -EINVAL;
	chantimer_disarm(&tk->kt.t, tk->kt.c);
	tk->kt.t.period = period;
	return timer_start(&tk->kt.t, deadline(period));
}

int kgo_ticker_free(struct kgo_ticker *tk)
{
	if (!tk)
		return 0;
	return kgo_timer_free(&tk->kt);
}
