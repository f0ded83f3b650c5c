// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * pipeline: stages joined by channels, select with timeouts, and
 * cancellation by closing a channel, Go style.
 *
 * A generator emits 1..N; a stage squares them; a slow stage sometimes
 * takes 30 ms. main reads results with a 10 ms timeout per result, and
 * gives up on the whole pipeline 200 ms after the first result: it
 * closes "done", which every stage selects on, so all of them stop and
 * nothing leaks. (The deadline starts at the first result, not at once:
 * on a busy machine starting the stages alone can take longer.)
 *
 *	./pipeline [n]
 */
#include <stdio.h>
#include <stdlib.h>
#include <kgo.h>

#define MS 1000000LL

static struct kgo_chan *done;
static struct kgo_waitgroup stages;

/* Send @v on @out unless done is closed first: 1 sent, 0 cancelled. */
static int send_or_done(struct kgo_chan *out, long *v)
{
	struct kgo_select_case cs[2] = {
		{ .c = out, .op = KGO_SEND, .elem = v },
		{ .c = done, .op = KGO_RECV, .elem = NULL },
	};

	return kgo_select(cs, 2, 0) == 0;
}

/* Receive into @v unless done is closed: 1 a value, 0 closed/cancelled. */
static int recv_or_done(struct kgo_chan *in, long *v)
{
	struct kgo_select_case cs[2] = {
		{ .c = in, .op = KGO_RECV, .elem = v },
		{ .c = done, .op = KGO_RECV, .elem = NULL },
	};

	return kgo_select(cs, 2, 0) == 0 && cs[0].ok;
}

struct stage {
	struct kgo_chan *in, *out;
	long n;
};

static void generator(void *arg)
{
	struct stage *s = arg;
	long i;

	for (i = 1; i <= s->n && send_or_done(s->out, &i); i++)
		;
	kgo_chan_close(s->out);
	kgo_waitgroup_done(&stages);
}

static void square(void *arg)
{
	struct stage *s = arg;
	long v;

	while (recv_or_done(s->in, &v)) {
		v *= v;
		if (!send_or_done(s->out, &v))
			break;
	}
	kgo_chan_close(s->out);
	kgo_waitgroup_done(&stages);
}

static void slow(void *arg)
{
	struct stage *s = arg;
	long v;

	while (recv_or_done(s->in, &v)) {
		if (v % 7 == 0)
			kgo_sleep(30 * MS);	/* now and then, too slow */
		if (!send_or_done(s->out, &v))
			break;
	}
	kgo_chan_close(s->out);
	kgo_waitgroup_done(&stages);
}

static int main_goroutine(void *arg)
{
	long n = (long)(intptr_t)arg, v, results = 0, timeouts = 0;
	struct kgo_chan *c1 = kgo_chan_make(sizeof(long), 0);
	struct kgo_chan *c2 = kgo_chan_make(sizeof(long), 0);
	struct kgo_chan *c3 = kgo_chan_make(sizeof(long), 0);
	struct stage gen = { .out = c1, .n = n };
	struct stage sq = { .in = c1, .out = c2 };
	struct stage sl = { .in = c2, .out = c3 };
	struct kgo_timer *deadline = NULL, *t;
	int r, over = 0;

	done = kgo_chan_make(0, 0);
	kgo_waitgroup_add(&stages, 3);
	kgo_go(generator, &gen);
	kgo_go(square, &sq);
	kgo_go(slow, &sl);
	while (!over) {
		t = kgo_timer_start(10 * MS);
		struct kgo_select_case cs[3] = {
			{ .c = c3, .op = KGO_RECV, .elem = &v },
			{ .c = kgo_timer_chan(t), .op = KGO_RECV, .elem = NULL },
			{ .c = deadline ? kgo_timer_chan(deadline) : NULL,
			  .op = KGO_RECV, .elem = NULL },
		};
		r = kgo_select(cs, 3, 0);
		kgo_timer_free(t);
		if (r == 0 && cs[0].ok) {
			if (!results++)
				deadline = kgo_timer_start(200 * MS);
		} else if (r == 0) {
			printf("pipeline finished\n");
			over = 1;
		} else if (r == 1) {
			timeouts++;		/* a slow result: keep waiting */
		} else {
			printf("pipeline deadline: cancelling\n");
			over = 1;
		}
	}
	kgo_chan_close(done);		/* every stage sees it and stops */
	kgo_waitgroup_wait(&stages);
	kgo_timer_free(deadline);
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
