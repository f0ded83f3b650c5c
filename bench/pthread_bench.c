// SPDX-License-Identifier: GPL-2.0
/*
 * Plain pthreads' side of the scheduler benchmarks: a thread per
 * goroutine, the same workloads as gmp_bench.c. P's are CPUs: with
 * GMPMAXPROCS=n every thread is pinned to the first n CPUs.
 * Usage: pthread_bench WORKLOAD N; prints "WORKLOAD NS_PER_OP".
 *   spawn  start N threads (64 KiB stacks, as gmp's default) that do
 *          nothing, wait for all (a counter under a mutex, as a WaitGroup)
 *   yield  two threads call sched_yield() N times each; per yield
 *   chan   a round trip over two unbuffered channels built from a mutex
 *          and condition variables (a sender waits until its value is
 *          taken); per round trip
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long n;

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static pthread_attr_t attr;

static int start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	return pthread_create(t, &attr, fn, arg);
}

/* --- spawn ----------------------------------------------------------------- */

static pthread_mutex_t wg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wg_cv = PTHREAD_COND_INITIALIZER;
static long wg_left;

static void *nothing(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wg_mu);
	if (--wg_left == 0)
		pthread_cond_signal(&wg_cv);
	pthread_mutex_unlock(&wg_mu);
	return NULL;
}

static double spawn(void)
{
	double t = now_ns();
	pthread_t th;
	long i;

	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	wg_left = n;
	for (i = 0; i < n; i++)
		while (start(&th, nothing, NULL))
			sched_yield();	/* out of threads for a moment */
	pthread_mutex_lock(&wg_mu);
	while (wg_left)
		pthread_cond_wait(&wg_cv, &wg_mu);
	pthread_mutex_unlock(&wg_mu);
	return (now_ns() - t) / n;
}

/* --- yield ----------------------------------------------------------------- */

static void *yielder(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n; i++)
		sched_yield();
	return NULL;
}

static double yield(void)
{
	double t = now_ns();
	pthread_t a, b;

	if (start(&a, yielder, NULL) || start(&b, yielder, NULL))
		return -1;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return (now_ns() - t) / (2.0 * n);
}

/* --- chan: an unbuffered channel of longs ------------------------------------ */

struct chan {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long val;
	int full;		/* a value waits to be taken */
};

static void chan_send(struct chan *c, long v)
{
	pthread_mutex_lock(&c->mu);
	while (c->full)
		pthread_cond_wait(&c->cv, &c->mu);
	c->val = v;
	c->full = 1;
	pthread_cond_broadcast(&c->cv);
	while (c->full)		/* unbuffered: until it is taken */
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static long chan_recv(struct chan *c)
{
	long v;

	pthread_mutex_lock(&c->mu);
	while (!c->full)
		pthread_cond_wait(&c->cv, &c->mu);
	v = c->val;
	c->full = 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return v;
}

static struct chan ping = { .mu = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };
static struct chan pong = { .mu = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };

static void *ponger(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n; i++)
		chan_send(&pong, chan_recv(&ping) + 1);
	return NULL;
}

static double chan(void)
{
	pthread_t p;
	double t;
	long i;

	if (start(&p, ponger, NULL))
		return -1;
	t = now_ns();
	for (i = 0; i < n; i++) {
		chan_send(&ping, i);
		if (chan_recv(&pong) != i + 1)
			return -1;
	}
	t = (now_ns() - t) / n;
	pthread_join(p, NULL);
	return t;
}

int main(int argc, char **argv)
{
	const char *env = getenv("GMPMAXPROCS");
	int procs = env ? atoi(env) : 1, i;
	cpu_set_t cpus;
	double d = -1;

	if (argc != 3 || (n = atol(argv[2])) <= 0 || procs < 1) {
		fprintf(stderr, "usage: pthread_bench spawn|yield|chan N\n");
		return 2;
	}
	/* The same CPU count as the other systems get P's. */
	CPU_ZERO(&cpus);
	for (i = 0; i < procs; i++)
		CPU_SET(i, &cpus);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	if (!strcmp(argv[1], "spawn"))
		d = spawn();
	else if (!strcmp(argv[1], "yield"))
		d = yield();
	else if (!strcmp(argv[1], "chan"))
		d = chan();
	if (d < 0)
		return 2;
	printf("%s %.1f\n", argv[1], d);
	return 0;
}
