// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * shutdown: a service that runs until SIGINT or SIGTERM, then stops
 * cleanly, the way Go servers do it: signal.Notify, a context, errgroup.
 *
 * A producer and a pool of workers run in one group. Signals arrive as
 * values on a channel; main waits for one, cancels the group's context,
 * and every goroutine sees it, finishes the job in hand and returns;
 * the group's wait collects them. A ticker prints progress meanwhile.
 *
 *	./shutdown [workers]		(then Ctrl-C, or kill -TERM)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kgo.h>

#define MS 1000000LL

static struct kgo_chan *jobs;
static long done_jobs;

static int producer(struct kgo_ctx *ctx, void *arg)
{
	long n;

	(void)arg;
	for (n = 1; !kgo_chan_send_ctx(ctx, jobs, &n); n++)
		;
	return 0;
}

static int worker(struct kgo_ctx *ctx, void *arg)
{
	long job, sum = 0, i;

	(void)arg;
	while (kgo_chan_recv_ctx(ctx, jobs, &job) == 1) {
		for (i = 0; i < 1000; i++)	/* a little work per job */
			sum += (job * i) % 7;
		__atomic_add_fetch(&done_jobs, 1, __ATOMIC_RELAXED);
		if (job % 64 == 0)
			kgo_sleep(MS);		/* and now and then a wait */
	}
	return sum < 0;			/* never: 0, stopped by the cancel */
}

static int main_goroutine(void *arg)
{
	int nworkers = (int)(intptr_t)arg, i, r, sig = 0;
	struct kgo_chan *sigc = kgo_chan_make(sizeof(int), 1);
	struct kgo_group *g = kgo_group_new(NULL);
	struct kgo_ticker *tick = kgo_ticker_start(500 * MS);
	int64_t t;
	sigset_t set;

	jobs = kgo_chan_make(sizeof(long), 16);
	if (!sigc || !g || !tick || !jobs)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	r = kgo_signal_notify(sigc, &set);
	if (r) {
		fprintf(stderr, "shutdown: kgo_signal_notify: %s\n", strerror(-r));
		return 1;
	}
	kgo_group_go(g, producer, NULL);
	for (i = 0; i < nworkers; i++)
		kgo_group_go(g, worker, NULL);
	printf("running %d workers: stop with SIGINT or SIGTERM\n", nworkers);
	fflush(stdout);
	while (!sig) {
		struct kgo_select_case cs[2] = {
			{ .c = sigc, .op = KGO_RECV, .elem = &sig },
			{ .c = kgo_ticker_chan(tick), .op = KGO_RECV, .elem = &t },
		};

		if (kgo_select(cs, 2, 0) == 1)
			printf("%ld jobs done\n",
			       __atomic_load_n(&done_jobs, __ATOMIC_RELAXED));
		fflush(stdout);
	}
	printf("got %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	kgo_ctx_cancel(kgo_group_ctx(g), 0);
	r = kgo_group_wait(g);
	printf("all %d workers and the producer stopped after %ld jobs (group: %d)\n",
	       nworkers, done_jobs, r);
	kgo_signal_stop(sigc);
	kgo_ticker_free(tick);
	kgo_group_free(g);
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	int workers = argc > 1 ? atoi(argv[1]) : 4;
	int status = 1;
	int err = kgo_run(main_goroutine, (void *)(intptr_t)workers, &status);

	if (err) {
		fprintf(stderr, "shutdown: kgo_run: error %d\n", err);
		return 1;
	}
	return status;
}
