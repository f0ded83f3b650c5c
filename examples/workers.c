// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * workers: a worker pool, Go style. One goroutine per P takes jobs from
 * a buffered channel and sends results on another; a feeder sends the
 * jobs and closes the job channel (the workers then drain it and stop);
 * a closer closes the results once every worker is done, which ends
 * main's loop. The sum is checked against a formula.
 *
 *	./workers [jobs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <kgo.h>

struct pool {
	long njobs;
	struct kgo_chan *jobs, *results;
	struct kgo_waitgroup wg;
};

static void worker(void *arg)
{
	struct pool *p = arg;
	long n, sq;

	while (kgo_chan_recv(p->jobs, &n) == 1) {
		sq = n * n;
		kgo_chan_send(p->results, &sq);
	}
	kgo_waitgroup_done(&p->wg);
}

static void feeder(void *arg)
{
	struct pool *p = arg;
	long i;

	for (i = 1; i <= p->njobs; i++)
		kgo_chan_send(p->jobs, &i);
	kgo_chan_close(p->jobs);
}

static void closer(void *arg)
{
	struct pool *p = arg;

	kgo_waitgroup_wait(&p->wg);
	kgo_chan_close(p->results);
}

static int main_goroutine(void *arg)
{
	struct pool *p = arg;
	long sq, sum = 0, got = 0, n = p->njobs;
	long want = n * (n + 1) * (2 * n + 1) / 6;
	int i, nworkers = kgo_nprocs();

	p->jobs = kgo_chan_make(sizeof(long), 64);
	p->results = kgo_chan_make(sizeof(long), 64);
	if (!p->jobs || !p->results)
		return 1;
	kgo_waitgroup_add(&p->wg, nworkers);
	for (i = 0; i < nworkers; i++)
		kgo_go(worker, p);
	kgo_go(closer, p);
	kgo_go(feeder, p);
	while (kgo_chan_recv(p->results, &sq) == 1) {
		sum += sq;
		got++;
	}
	printf("%d workers squared %ld numbers: sum %ld (%s)\n", nworkers,
	       got, sum, sum == want && got == n ? "correct" : "WRONG");
	return sum == want && got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct pool p = { .njobs = argc > 1 ? atol(argv[1]) : 100000 };
	int status = 1, err;

	err = kgo_run(main_goroutine, &p, &status);
	if (err) {
		fprintf(stderr, "workers: kgo_run: error %d\n", err);
		return 1;
	}
	return status;
}
