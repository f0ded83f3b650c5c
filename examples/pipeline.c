// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * pipeline: stages joined by channels, select with timeouts, and
 * cancellation with a context, Go style.
 *
 * A generator emits 1..N; a stage squares them; a slow stage sometimes
 * takes 30 ms. main reads results with a 10 ms timeout per result (one
 * timer, reset each time), and gives up on the whole pipeline 200 ms
 * after the first result: a context with that timeout, under the one
 * every stage works in. Ending the stages' context stops all of them, and
 * nothing leaks. (The deadline starts at the first result, not at once:
 * on a busy machine starting the stages alone can take longer.)
 *
 *	./pipeline [n]
 */
#include <stdio.h>
#include <stdlib.h>
#include <kgo.h>

#define MS 1000000LL

static struct kgo_waitgroup stages;

struct stage {
	struct kgo_ctx *ctx;		/* the stage stops when it ends */
	struct kgo_chan *in, *out;
	long n;
};

static void generator(void *arg)
{
	struct stage *s = arg;
	long i;

	for (i = 1; i <= s->n && !kgo_chan_send_ctx(s->ctx, s->out, &i); i++)
		;
	kgo_chan_close(s->out);
	kgo_waitgroup_done(&stages);
}

static void square(void *arg)
{
	struct stage *s = arg;
	long v;

	while (kgo_chan_recv_ctx(s->ctx, s->in, &v) == 1) {
		v *= v;
		if (kgo_chan_send_ctx(s->ctx, s->out, &v))
			break;
	}
	kgo_chan_close(s->out);
	kgo_waitgroup_done(&stages);
}

static void slow(void *arg)
{
	struct stage *s = arg;
	long v;

	while (kgo_chan_recv_ctx(s->ctx, s->in, &v) == 1) {
		if (v % 7 == 0 && kgo_sleep_ctx(s->ctx, 30 * MS))
			break;			/* now and then, too slow */
		if (kgo_chan_send_ctx(s->ctx, s->out, &v))
			break;
	}
	kgo_chan_close(s->out);
	kgo_waitgroup_done(&stages);
}

static int main_goroutine(void *arg)
{
	long n = (long)(intptr_t)arg, v, results = 0, timeouts = 0;
	struct kgo_ctx *ctx = kgo_ctx_with_cancel(NULL), *deadline = NULL;
	struct kgo_chan *c1 = kgo_chan_make(sizeof(long), 0);
	struct kgo_chan *c2 = kgo_chan_make(sizeof(long), 0);
	struct kgo_chan *c3 = kgo_chan_make(sizeof(long), 0);
	struct stage gen = { .ctx = ctx, .out = c1, .n = n };
	struct stage sq = { .ctx = ctx, .in = c1, .out = c2 };
	struct stage sl = { .ctx = ctx, .in = c2, .out = c3 };
	struct kgo_timer *t = kgo_timer_start(10 * MS);
	int r, over = 0;

	kgo_waitgroup_add(&stages, 3);
	kgo_go(generator, &gen);
	kgo_go(square, &sq);
	kgo_go(slow, &sl);
	while (!over) {
		struct kgo_select_case cs[2] = {
			{ .c = c3, .op = KGO_RECV, .elem = &v },
			{ .c = kgo_timer_chan(t), .op = KGO_RECV, .elem = NULL },
		};
		/* Without a deadline yet, the background: never ends. */
		r = kgo_select_ctx(deadline, cs, 2, 0);
		if (r == 0 && cs[0].ok) {
			if (!results++)
				deadline = kgo_ctx_with_timeout(ctx, 200 * MS);
			kgo_timer_reset(t, 10 * MS);
		} else if (r == 0) {
			printf("pipeline finished\n");
			over = 1;
		} else if (r == 1) {
			timeouts++;		/* a slow result: keep waiting */
			kgo_timer_reset(t, 10 * MS);
		} else {
			printf("pipeline deadline: cancelling\n");
			over = 1;
		}
	}
	kgo_ctx_cancel(ctx, 0);		/* every stage sees it and stops */
	kgo_waitgroup_wait(&stages);
	kgo_timer_free(t);
	kgo_ctx_free(deadline);
	kgo_ctx_free(ctx);
	printf("%ld results, %ld per-result timeouts, all 3 stages stopped\n",
	       results, timeouts);
	return results > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int status = 1;
	int err = kgo_run(main_goroutine, (void *)(intptr_t)n, &status);

	if (err) {
		fprintf(stderr, "pipeline: kgo_run: error %d\n", err);
		return 1;
	}
	return status;
}
