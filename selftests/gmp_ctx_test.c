// SPDX-License-Identifier: GPL-2.0
/*
 * Contexts and goroutine groups through kgo: cancelling a parent reaches
 * every descendant (a chain thousands deep included) and each blocked
 * goroutine returns -ECANCELED with the parent's cause; deadlines fire,
 * are inherited, and count as live for the deadlock report; the _ctx
 * calls act when the context is live and do nothing once it ended; a
 * group returns the first error, cancels the others and keeps its limit.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

#define MS 1000000LL

/*
 * 10,000 contexts under one root: the first 5,000 a chain, each the
 * child of the one before, the rest children of contexts picked at
 * random. A goroutine blocks on each in kgo_chan_recv_ctx() on a channel
 * nobody sends on; cancelling the root must end every one of them.
 */
#define NCTX 10000
#define CHAIN 5000
static struct kgo_ctx *ctxs[NCTX];
static struct kgo_chan *never;
static struct kgo_waitgroup tree_wg;
static uint32_t tree_started, tree_canceled, tree_bad;

static void tree_waiter(void *arg)
{
	struct kgo_ctx *ctx = arg;
	int r;

	__atomic_add_fetch(&tree_started, 1, __ATOMIC_RELAXED);
	r = kgo_chan_recv_ctx(ctx, never, NULL);
	if (r == -ECANCELED && kgo_ctx_err(ctx) == -ECANCELED &&
	    kgo_ctx_cause(ctx) == -ESHUTDOWN)
		__atomic_add_fetch(&tree_canceled, 1, __ATOMIC_RELAXED);
	else if (!__atomic_exchange_n(&tree_bad, 1, __ATOMIC_RELAXED))
		GCHECK_FAIL("a waiter got %d (err %d, cause %d), want -ECANCELED with cause -ESHUTDOWN",
			    r, kgo_ctx_err(ctx), kgo_ctx_cause(ctx));
	kgo_waitgroup_done(&tree_wg);
}

static int tree_main(void *arg)
{
	struct kgo_ctx *root = kgo_ctx_with_cancel(NULL), *parent;
	uint32_t seed = 1;
	int i, r;

	(void)arg;
	never = kgo_chan_make(0, 0);
	GCHECK_RET(root && never, 1, "making the root and a channel failed");
	for (i = 0; i < NCTX; i++) {
		seed = seed * 1103515245 + 12345;
		parent = !i ? root : i < CHAIN ? ctxs[i - 1] :
			 ctxs[(seed >> 8) % (uint32_t)i];
		ctxs[i] = kgo_ctx_with_cancel(parent);
		GCHECK_RET(ctxs[i], 1, "kgo_ctx_with_cancel of context %d failed", i);
	}
	kgo_waitgroup_add(&tree_wg, NCTX);
	for (i = 0; i < NCTX; i++) {
		r = kgo_go(tree_waiter, ctxs[i]);
		GCHECK_RET(!r, 2, "kgo_go of waiter %d returned %d", i, r);
	}
	while (__atomic_load_n(&tree_started, __ATOMIC_RELAXED) < NCTX)
		kgo_sleep(MS);
	kgo_sleep(10 * MS);	/* let the last ones block */
	GCHECK_RET(!__atomic_load_n(&tree_canceled, __ATOMIC_RELAXED), 3,
		   "%u waiters returned before the cancel", tree_canceled);
	kgo_ctx_cancel(root, -ESHUTDOWN);
	kgo_waitgroup_wait(&tree_wg);
	/* Freed root first, then the rest in an order of no relation. */
	kgo_ctx_free(root);
	for (i = 0; i < NCTX; i++)
		kgo_ctx_free(ctxs[(i * 7919) % NCTX]);
	r = kgo_chan_free(never);
	GCHECK_RET(!r, 4, "kgo_chan_free of the silent channel returned %d", r);
	return 0;
}

TEST(cancel_reaches_10000_descendants)
{
	REQUIRE_GMP();
	SKIP_UNDER_TSAN("10,000 live goroutines are 2 GB of TSan state");
	ASSERT_EQ(0, run_with_procs(tree_main, NULL, "2"));
	EXPECT_EQ(NCTX, tree_canceled);
	EXPECT_EQ(0, tree_bad);
}

/*
 * A deadline ends a blocked call with -ETIMEDOUT, not before it; a child
 * asking for a later deadline gets its parent's and ends with it; a
 * context made under an ended parent is born ended; main blocked only on
 * a deadline is not a deadlock. A deadline in the past ends at once.
 * Under it a chain 2,000 deep: the timer thread's cancel reaches its end.
 */
#define DEEP 2000
static int deadline_main(void *arg)
{
	struct kgo_ctx *ctx, *child, *late, *deep[DEEP];
	int64_t t0, d, dc;
	int i, r;

	(void)arg;
	never = kgo_chan_make(sizeof(int), 0);
	t0 = kgo_now();
	ctx = kgo_ctx_with_timeout(NULL, 30 * MS);
	child = kgo_ctx_with_timeout(ctx, 10000 * MS);
	GCHECK_RET(ctx && child, 1, "kgo_ctx_with_timeout failed");
	deep[0] = kgo_ctx_with_cancel(child);
	for (i = 1; i < DEEP; i++)
		deep[i] = kgo_ctx_with_cancel(deep[i - 1]);
	GCHECK_RET(deep[DEEP - 1], 1, "the chain's last context failed");
	GCHECK_RET(kgo_ctx_deadline(ctx, &d) == 1 && d >= t0 + 30 * MS, 2,
		   "the deadline of a 30 ms timeout is %lld ns after its start",
		   (long long)(d - t0));
	GCHECK_RET(kgo_ctx_deadline(child, &dc) == 1 && dc == d, 2,
		   "a child asking for 10 s has deadline %lld, want its parent's %lld",
		   (long long)dc, (long long)d);
	GCHECK_RET(kgo_ctx_deadline(NULL, &dc) == 0, 2,
		   "the background has a deadline");
	/* The chain's end: the cancel walks down, it is reached last. */
	r = kgo_chan_recv_ctx(deep[DEEP - 1], never, NULL);
	GCHECK_RET(r == -ETIMEDOUT, 3,
		   "recv under an inherited 30 ms deadline returned %d, want -ETIMEDOUT",
		   r);
	GCHECK_RET(kgo_now() >= d, 3, "the deadline fired %lld ns early",
		   (long long)(d - kgo_now()));
	GCHECK_RET(kgo_ctx_err(ctx) == -ETIMEDOUT &&
		   kgo_ctx_err(deep[DEEP - 1]) == -ETIMEDOUT, 3,
		   "after the deadline: err %d, the chain's end %d, want -ETIMEDOUT",
		   kgo_ctx_err(ctx), kgo_ctx_err(deep[DEEP - 1]));
	late = kgo_ctx_with_cancel(ctx);
	GCHECK_RET(late && kgo_ctx_err(late) == -ETIMEDOUT, 4,
		   "a context made under an ended parent has err %d, want -ETIMEDOUT",
		   late ? kgo_ctx_err(late) : 0);
	r = kgo_chan_tryrecv(kgo_ctx_done(late), NULL);
	GCHECK_RET(r == 0, 4,
		   "its done channel: tryrecv returned %d, want 0 (closed)", r);
	kgo_ctx_free(late);
	for (i = DEEP - 1; i >= 0; i--)
		kgo_ctx_free(deep[i]);
	kgo_ctx_free(child);
	kgo_ctx_free(ctx);

	ctx = kgo_ctx_with_deadline(NULL, kgo_now() - MS);
	GCHECK_RET(ctx && kgo_ctx_err(ctx) == -ETIMEDOUT, 5,
		   "a deadline in the past: err %d, want -ETIMEDOUT",
		   ctx ? kgo_ctx_err(ctx) : 0);
	kgo_ctx_free(ctx);
	kgo_chan_free(never);
	return 0;
}

TEST(deadline_fires_and_is_inherited)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(deadline_main, NULL, "2"));
}

/*
 * The _ctx calls on a live context do what the plain calls do; on an
 * ended one they return its error and do nothing; a cancel that comes
 * while they block ends them; the first cause stays.
 */
static struct kgo_ctx *to_cancel;

static void canceller(void *arg)
{
	(void)arg;
	kgo_sleep(10 * MS);
	kgo_ctx_cancel(to_cancel, 0);
}

static int calls_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1);
	struct kgo_ctx *ctx = kgo_ctx_with_cancel(NULL);
	int v = 7, got = 0, r;
	int64_t t0;

	(void)arg;
	r = kgo_chan_send_ctx(ctx, c, &v);
	GCHECK_RET(r == 0, 1, "send_ctx with room returned %d, want 0", r);
	r = kgo_chan_recv_ctx(ctx, c, &got);
	GCHECK_RET(r == 1 && got == 7, 1,
		   "recv_ctx returned %d with %d, want 1 with 7", r, got);
	r = kgo_sleep_ctx(ctx, MS);
	GCHECK_RET(r == 0, 1, "a 1 ms sleep_ctx returned %d, want 0", r);

	struct kgo_select_case cs[1] = {
		{ .c = c, .op = KGO_RECV, .elem = &got },
	};
	r = kgo_select_ctx(ctx, cs, 1, KGO_SELECT_NONBLOCK);
	GCHECK_RET(r == -EAGAIN, 2,
		   "a nonblocking select_ctx on an empty channel returned %d, want -EAGAIN",
		   r);
	kgo_chan_close(c);
	r = kgo_select_ctx(ctx, cs, 1, 0);
	GCHECK_RET(r == 0 && cs[0].ok == 0, 2,
		   "select_ctx on a closed channel returned %d with ok %d, want 0 with 0",
		   r, cs[0].ok);
	r = kgo_chan_recv_ctx(ctx, c, &got);
	GCHECK_RET(r == 0, 2, "recv_ctx on a closed channel returned %d", r);
	kgo_chan_free(c);

	/* A cancel while blocked: the sleep ends early. */
	to_cancel = ctx;
	kgo_go(canceller, NULL);
	t0 = kgo_now();
	r = kgo_sleep_ctx(ctx, 10000 * MS);
	GCHECK_RET(r == -ECANCELED, 3,
		   "sleep_ctx(10 s) cancelled at 10 ms returned %d, want -ECANCELED",
		   r);
	GCHECK_RET(kgo_now() - t0 < 10000 * MS, 3, "the sleep was not cut short");
	kgo_ctx_cancel(ctx, -EIO);
	GCHECK_RET(kgo_ctx_cause(ctx) == -ECANCELED, 3,
		   "a second cancel changed the cause to %d", kgo_ctx_cause(ctx));

	/* Ended: nothing happens, the error comes back. */
	c = kgo_chan_make(sizeof(int), 1);
	r = kgo_chan_send_ctx(ctx, c, &v);
	GCHECK_RET(r == -ECANCELED && kgo_chan_len(c) == 0, 4,
		   "send_ctx on an ended context returned %d and left %zu values, want -ECANCELED and 0",
		   r, kgo_chan_len(c));
	kgo_chan_send(c, &v);
	r = kgo_chan_recv_ctx(ctx, c, &got);
	GCHECK_RET(r == -ECANCELED && kgo_chan_len(c) == 1, 4,
		   "recv_ctx on an ended context returned %d and left %zu values, want -ECANCELED and 1",
		   r, kgo_chan_len(c));
	r = kgo_sleep_ctx(ctx, 0);
	GCHECK_RET(r == -ECANCELED, 4,
		   "sleep_ctx on an ended context returned %d", r);
	kgo_chan_free(c);
	kgo_ctx_free(ctx);

	/* The background: never ends, NULL done channel. */
	GCHECK_RET(!kgo_ctx_done(NULL) && !kgo_ctx_done(kgo_ctx_background()) &&
		   !kgo_ctx_err(NULL), 5, "the background is not the nil context");
	kgo_ctx_cancel(kgo_ctx_background(), 0);
	kgo_ctx_free(kgo_ctx_background());
	GCHECK_RET(!kgo_ctx_err(kgo_ctx_background()), 5,
		   "cancelling the background ended it");
	return 0;
}

TEST(ctx_calls_act_or_return_the_error)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(calls_main, NULL, "2"));
}

/* A plain thread waits on a context too. */
static void *plain_waiter(void *arg)
{
	struct kgo_ctx *ctx = kgo_ctx_with_timeout(NULL, 20 * MS);
	struct kgo_chan *c = kgo_chan_make(0, 0);
	intptr_t r;

	(void)arg;
	r = kgo_chan_recv_ctx(ctx, c, NULL);
	kgo_ctx_free(ctx);
	kgo_chan_free(c);
	return (void *)r;
}

TEST(plain_thread_waits_with_a_deadline)
{
	pthread_t t;
	void *r;

	ASSERT_EQ(0, pthread_create(&t, NULL, plain_waiter, NULL));
	ASSERT_EQ(0, pthread_join(t, &r));
	EXPECT_EQ(-ETIMEDOUT, (int)(intptr_t)r);
}

/*
 * A group of 100: number 37 fails with -EIO after 5 ms; the others block
 * on the group's context and must see it cancelled with cause -EIO; wait
 * returns -EIO.
 */
#define NGROUP 100
static uint32_t saw_cancel;

static int errgroup_member(struct kgo_ctx *ctx, void *arg)
{
	int r;

	if ((intptr_t)arg < 0)
		return 0;
	if ((intptr_t)arg == 37) {
		kgo_sleep(5 * MS);
		return -EIO;
	}
	r = kgo_chan_recv_ctx(ctx, never, NULL);
	if (r == -ECANCELED && kgo_ctx_cause(ctx) == -EIO)
		__atomic_add_fetch(&saw_cancel, 1, __ATOMIC_RELAXED);
	return r;	/* not the first error: wait keeps -EIO */
}

static int group_main(void *arg)
{
	struct kgo_group *g = kgo_group_new(NULL);
	intptr_t i;
	int r;

	(void)arg;
	never = kgo_chan_make(0, 0);
	GCHECK_RET(g && never, 1, "kgo_group_new failed");
	for (i = 0; i < NGROUP; i++) {
		r = kgo_group_go(g, errgroup_member, (void *)i);
		GCHECK_RET(!r, 1, "kgo_group_go %ld returned %d", (long)i, r);
	}
	r = kgo_group_wait(g);
	GCHECK_RET(r == -EIO, 2, "kgo_group_wait returned %d, want -EIO", r);
	GCHECK_RET(kgo_ctx_err(kgo_group_ctx(g)) == -ECANCELED, 2,
		   "the group's context after wait: err %d",
		   kgo_ctx_err(kgo_group_ctx(g)));
	r = kgo_group_free(g);
	GCHECK_RET(!r, 2, "kgo_group_free returned %d", r);

	/* None fails: 0, and wait cancels the context all the same. */
	g = kgo_group_new(NULL);
	for (i = 0; i < 10; i++)
		kgo_group_go(g, errgroup_member, (void *)(intptr_t)-1);
	GCHECK_RET(!kgo_ctx_err(kgo_group_ctx(g)), 3,
		   "the group's context ended before wait");
	r = kgo_group_wait(g);
	GCHECK_RET(r == 0 && kgo_ctx_err(kgo_group_ctx(g)) == -ECANCELED, 3,
		   "no member failed: wait returned %d, the context's err %d, want 0 and -ECANCELED",
		   r, kgo_ctx_err(kgo_group_ctx(g)));
	kgo_group_free(g);
	kgo_chan_free(never);
	return 0;
}

TEST(group_returns_the_first_error_and_cancels_the_rest)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(group_main, NULL, "2"));
	EXPECT_EQ(NGROUP - 1, saw_cancel);
}

/* A limit of 3 holds with 40 goroutines; trygo says -EAGAIN at it. */
#define LIMIT 3
static uint32_t running, running_max;
static struct kgo_chan *gate;

static int limited(struct kgo_ctx *ctx, void *arg)
{
	uint32_t n = __atomic_add_fetch(&running, 1, __ATOMIC_RELAXED);
	uint32_t m = __atomic_load_n(&running_max, __ATOMIC_RELAXED);

	(void)ctx;
	while (n > m && !__atomic_compare_exchange_n(&running_max, &m, n, false,
						      __ATOMIC_RELAXED,
						      __ATOMIC_RELAXED))
		;
	if (arg)
		kgo_chan_recv(gate, NULL);	/* held until main lets go */
	else
		kgo_sleep(MS);
	__atomic_sub_fetch(&running, 1, __ATOMIC_RELAXED);
	return 0;
}

static int limit_main(void *arg)
{
	struct kgo_group *g = kgo_group_new(NULL);
	int i, r;

	(void)arg;
	gate = kgo_chan_make(0, 0);
	r = kgo_group_set_limit(g, LIMIT);
	GCHECK_RET(!r, 1, "kgo_group_set_limit returned %d", r);
	for (i = 0; i < 40; i++) {
		r = kgo_group_go(g, limited, NULL);
		GCHECK_RET(!r, 1, "kgo_group_go %d returned %d", i, r);
	}
	r = kgo_group_wait(g);
	GCHECK_RET(!r, 1, "kgo_group_wait returned %d", r);
	kgo_group_free(g);

	g = kgo_group_new(NULL);
	kgo_group_set_limit(g, LIMIT);
	for (i = 0; i < LIMIT; i++) {
		r = kgo_group_trygo(g, limited, gate);
		GCHECK_RET(!r, 2, "trygo %d under the limit returned %d", i, r);
	}
	r = kgo_group_trygo(g, limited, gate);
	GCHECK_RET(r == -EAGAIN, 2, "trygo at the limit returned %d, want -EAGAIN",
		   r);
	r = kgo_group_set_limit(g, 10);
	GCHECK_RET(r == -EBUSY, 2,
		   "set_limit while goroutines run returned %d, want -EBUSY", r);
	r = kgo_group_free(g);
	GCHECK_RET(r == -EBUSY, 2, "free while goroutines run returned %d", r);
	kgo_chan_close(gate);
	r = kgo_group_wait(g);
	GCHECK_RET(!r, 3, "kgo_group_wait returned %d", r);
	r = kgo_group_free(g);
	GCHECK_RET(!r, 3, "kgo_group_free returned %d", r);
	kgo_chan_free(gate);
	return 0;
}

TEST(group_limit_holds)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(limit_main, NULL, "2"));
	EXPECT_LE(running_max, LIMIT);
	EXPECT_GE(running_max, 1);
	TH_LOG("at most %u of the group's goroutines ran at once", running_max);
}

TEST_HARNESS_MAIN
