// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Sleep and timers: Go's time.Sleep and time.NewTimer for goroutines.
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
#include <time.h>

#include "kgo.h"
#include "kgo_runtime.h"

enum { TIMER_IDLE, TIMER_PENDING, TIMER_FIRING };

struct timer {
	int64_t when;
	size_t idx;			/* in the heap, while pending */
	int state;
	void (*fire)(struct timer *t, int64_t now);
};

struct kgo_timer {
	struct timer t;
	struct kgo_chan *c;
};

static struct {
	pthread_once_t once;
	int started;			/* 1, or -errno */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct timer **heap;
	size_t n, cap;
} tm = {
	.once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

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

static int heap_add(struct timer *t)
{
	if (tm.n == tm.cap) {
		size_t cap = tm.cap ? 2 * tm.cap : 64;
		struct timer **h = realloc(tm.heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		tm.heap = h;
		tm.cap = cap;
	}
	tm.heap[tm.n] = t;
	t->idx = tm.n++;
	t->state = TIMER_PENDING;
	sift_up(t->idx);
	if (!t->idx)
		pthread_cond_signal(&tm.cond);	/* a new earliest */
	return 0;
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

static void *timerproc(void *unused)
{
	struct timespec ts;
	struct timer *t;
	int64_t now;

	(void)unused;
	kgo_thread_register(true);
	pthread_mutex_lock(&tm.lock);
	for (;;) {
		if (!tm.n) {
			pthread_cond_wait(&tm.cond, &tm.lock);
			continue;
		}
		t = tm.heap[0];
		now = kgo_nanotime();
		if (t->when > now) {
			ts.tv_sec = t->when / 1000000000;
			ts.tv_nsec = t->when % 1000000000;
			pthread_cond_timedwait(&tm.cond, &tm.lock, &ts);
			continue;
		}
		heap_del(t);
		t->state = TIMER_FIRING;
		pthread_mutex_unlock(&tm.lock);
		t->fire(t, now);	/* may free a sleeper's timer: not after */
		pthread_mutex_lock(&tm.lock);
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

static int timers_init(void)
{
	pthread_once(&tm.once, timer_start_thread);
	return tm.started < 0 ? tm.started : 0;
}

static int64_t deadline(int64_t ns)
{
	int64_t now = kgo_nanotime();

	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

/* --- Sleep ---------------------------------------------------------------- */

struct sleeper {
	struct timer t;
	struct kgo_g *g;
	int err;
};

static void sleeper_fire(struct timer *t, int64_t now)
{
	struct sleeper *s = (struct sleeper *)t;
	struct kgo_g *g = s->g;

	(void)now;
	/* s lives on the sleeper's stack: nothing after the goready. */
	kgo_goready(g, true);
}

/* On g0, the goroutine saved: only now may the timer thread wake it. */
static bool sleep_commit(struct kgo_g *g, void *arg)
{
	struct sleeper *s = arg;
	int err;

	s->g = g;
	pthread_mutex_lock(&tm.lock);
	err = heap_add(&s->t);
	pthread_mutex_unlock(&tm.lock);
	s->err = err;
	return !err;
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
	if (err)
		return err;
	s.t.when = deadline(ns);
	kgo_acquirem();
	/* Sleeping, not stuck: the timer will wake it (no deadlock). */
	kgo_gopark(sleep_commit, &s, true, "kgo_sleep");
	return s.err;
}

/* --- Timers with a channel: Go's time.NewTimer ----------------------------- */

/*
 * An armed timer counts for checkdead as something that can still make
 * progress: from arming until it has sent, or is stopped.
 */
static void chantimer_fire(struct timer *t, int64_t now)
{
	struct kgo_timer *kt = (struct kgo_timer *)t;

	kgo_chan_trysend(kt->c, &now);	/* cap 1: a missed value is dropped */
	pthread_mutex_lock(&tm.lock);
	t->state = TIMER_IDLE;
	pthread_mutex_unlock(&tm.lock);
	kgo_live_sub();
}

struct kgo_timer *kgo_timer_start(int64_t ns)
{
	struct kgo_timer *kt;
	int err = timers_init();

	if (err) {
		errno = -err;
		return NULL;
	}
	kt = calloc(1, sizeof(*kt));
	if (!kt)
		return NULL;
	kt->c = kgo_chan_make(sizeof(int64_t), 1);
	if (!kt->c) {
		free(kt);
		return NULL;
	}
	kt->t.fire = chantimer_fire;
	kt->t.when = deadline(ns > 0 ? ns : 0);
	kgo_live_add();
	pthread_mutex_lock(&tm.lock);
	err = heap_add(&kt->t);
	pthread_mutex_unlock(&tm.lock);
	if (err) {
		kgo_live_sub();
		kgo_chan_free(kt->c);
		free(kt);
		errno = -err;
		return NULL;
	}
	return kt;
}

struct kgo_chan *kgo_timer_chan(const struct kgo_timer *t)
{
	return t->c;
}

int kgo_timer_stop(struct kgo_timer *kt)
{
	int stopped = 0;

	pthread_mutex_lock(&tm.lock);
	/* Being fired: wait for the send, a few instructions away. */
	while (kt->t.state == TIMER_FIRING) {
		pthread_mutex_unlock(&tm.lock);
		if (kgo_getg())
			kgo_yield();
		else
			sched_yield();
		pthread_mutex_lock(&tm.lock);
	}
	if (kt->t.state == TIMER_PENDING) {
		heap_del(&kt->t);
		stopped = 1;
	}
	pthread_mutex_unlock(&tm.lock);
	if (stopped)
		kgo_live_sub();
	return stopped;
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
