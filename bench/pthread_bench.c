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
 *   daisy  Go's daisy chain with a thread per link; per link
 *   pool   one worker thread per P over N jobs in a bounded queue of 128
 *          under a mutex; per job
 *   parked N threads waiting on a condition variable; rss and mem per
 *          thread (bench_util.h)
 *   fair   four CPU-bound threads per P for N ms; Jain's index of their
 *          work
 *   sysmix four threads per P compute N units each, alone and beside as
 *          many threads blocking in read() on pipes a writer thread feeds
 *          a byte every 50 us; the second time over the first
 *   echo   a 64-byte message over one TCP loopback connection and back,
 *          N times, a thread at each end blocking in read() and write();
 *          per round trip
 *   echo100 the same over 100 connections at once (200 threads), N round
 *          trips in all; per round trip
 *   idle   N TCP loopback connections that carry nothing, a thread in
 *          read() on each server end: threads, rss and mem per connection
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

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

/* Until every thread counted by wg_left has called nothing(). */
static void wg_wait(void)
{
	pthread_mutex_lock(&wg_mu);
	while (wg_left)
		pthread_cond_wait(&wg_cv, &wg_mu);
	pthread_mutex_unlock(&wg_mu);
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
	wg_wait();
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

/* --- daisy: a thread per link, channels as above ---------------------------- */

struct link {
	struct chan *left, *right;
};

static void *whisper(void *arg)
{
	struct link *l = arg;

	chan_send(l->left, chan_recv(l->right) + 1);
	return NULL;
}

static double daisy(void)
{
	struct chan *c = calloc((size_t)n + 1, sizeof(*c));
	struct link *links = calloc((size_t)n, sizeof(*links));
	double t = now_ns();
	pthread_t th;
	long i, v;

	if (!c || !links)
		return -1;
	for (i = 0; i <= n; i++) {
		pthread_mutex_init(&c[i].mu, NULL);
		pthread_cond_init(&c[i].cv, NULL);
	}
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < n; i++) {
		links[i] = (struct link){ .left = &c[i], .right = &c[i + 1] };
		while (start(&th, whisper, &links[i]))
			sched_yield();
	}
	chan_send(&c[n], 1);
	v = chan_recv(&c[0]);
	return v == n + 1 ? (now_ns() - t) / n : -1;
}

/* --- pool: a bounded queue of 128 under a mutex ------------------------------ */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long q[128];
	unsigned int head, count;
	int closed;
	long total;
} jobs = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *pool_worker(void *arg)
{
	long sum = 0;

	(void)arg;
	pthread_mutex_lock(&jobs.mu);
	for (;;) {
		while (!jobs.count && !jobs.closed)
			pthread_cond_wait(&jobs.cv, &jobs.mu);
		if (!jobs.count)
			break;
		sum += jobs.q[jobs.head];
		jobs.head = (jobs.head + 1) % 128;
		jobs.count--;
		pthread_cond_broadcast(&jobs.cv);	/* room for the feeder */
	}
	jobs.total += sum;
	pthread_mutex_unlock(&jobs.mu);
	return NULL;
}

static double pool(int procs)
{
	pthread_t w[64];
	double t = now_ns();
	long i;
	int k;

	for (k = 0; k < procs && k < 64; k++)
		if (start(&w[k], pool_worker, NULL))
			return -1;
	for (i = 1; i <= n; i++) {
		pthread_mutex_lock(&jobs.mu);
		while (jobs.count == 128)
			pthread_cond_wait(&jobs.cv, &jobs.mu);
		jobs.q[(jobs.head + jobs.count) % 128] = i;
		jobs.count++;
		pthread_cond_broadcast(&jobs.cv);
		pthread_mutex_unlock(&jobs.mu);
	}
	pthread_mutex_lock(&jobs.mu);
	jobs.closed = 1;
	pthread_cond_broadcast(&jobs.cv);
	pthread_mutex_unlock(&jobs.mu);
	while (k--)
		pthread_join(w[k], NULL);
	return jobs.total == n * (n + 1) / 2 ? (now_ns() - t) / n : -1;
}

/* --- parked: memory per waiting thread ----------------------------------- */

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static long nparked;
static int released;

static void *parker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&park_mu);
	nparked++;
	while (!released)
		pthread_cond_wait(&park_cv, &park_mu);
	pthread_mutex_unlock(&park_mu);
	return nothing(NULL);
}

static double parked(void)
{
	struct timespec ms = { .tv_nsec = 1000000 }, settle = { .tv_nsec = 20000000 };
	struct mem_reading before = mem_read(), after;
	pthread_t th;
	long i;

	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	wg_left = n;
	for (i = 0; i < n; i++)
		if (start(&th, parker, NULL))
			return -1;	/* out of threads: no number */
	for (;;) {
		pthread_mutex_lock(&park_mu);
		i = nparked;
		pthread_mutex_unlock(&park_mu);
		if (i == n)
			break;
		nanosleep(&ms, NULL);
	}
	nanosleep(&settle, NULL);
	after = mem_read();
	pthread_mutex_lock(&park_mu);
	released = 1;
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_mu);
	wg_wait();
	mem_print(before, after, n);
	return 0;
}

/* --- fair, sysmix: CPU-bound threads, and threads blocked in read() ------- */

#define PER_P	4
#define MAX_T	256

static volatile int stop;
static long shares[MAX_T];
static unsigned long long sink;

static void *fair_spinner(void *arg)
{
	fair_spin(&stop, shares, (int)(uintptr_t)arg, &sink);
	return NULL;
}

static double fair(int procs)
{
	struct timespec ts = { .tv_sec = n / 1000, .tv_nsec = n % 1000 * 1000000 };
	pthread_t th[MAX_T];
	int g = PER_P * procs, k;

	if (g > MAX_T)
		return -1;
	for (k = 0; k < g; k++)
		if (start(&th[k], fair_spinner, (void *)(uintptr_t)k))
			return -1;
	nanosleep(&ts, NULL);
	stop = 1;
	for (k = 0; k < g; k++)
		pthread_join(th[k], NULL);
	printf("fair %.3f\n", jain(shares, g));
	return 0;
}

static int mix_pipe[MAX_T][2];
static int mix_nreaders;
static long mix_reads;

static void *mix_computer(void *arg)
{
	mix_compute(n, (int)(uintptr_t)arg, &sink);
	return NULL;
}

static void *mix_reader(void *arg)
{
	mix_read(mix_pipe[(uintptr_t)arg][0], &mix_reads);
	return NULL;
}

static void *mix_writer(void *arg)
{
	(void)arg;
	mix_write(mix_pipe, mix_nreaders, &stop);
	return NULL;
}

static double mix_phase(int procs, int readers)
{
	pthread_t comp[MAX_T], rd[MAX_T], writer;
	int g = PER_P * procs, k;
	double t;

	mix_nreaders = readers;
	stop = 0;
	for (k = 0; k < readers; k++)
		if (pipe(mix_pipe[k]) || start(&rd[k], mix_reader, (void *)(uintptr_t)k))
			abort();
	if (readers && start(&writer, mix_writer, NULL))
		abort();
	t = now_ns();
	for (k = 0; k < g; k++)
		if (start(&comp[k], mix_computer, (void *)(uintptr_t)k))
			abort();
	for (k = 0; k < g; k++)
		pthread_join(comp[k], NULL);
	t = now_ns() - t;
	stop = 1;
	if (readers)
		pthread_join(writer, NULL);
	for (k = 0; k < readers; k++) {
		pthread_join(rd[k], NULL);
		close(mix_pipe[k][0]);
		close(mix_pipe[k][1]);
	}
	return t;
}

static double sysmix(int procs)
{
	double alone, mixed;

	if (PER_P * procs > MAX_T)
		return -1;
	alone = mix_phase(procs, 0);
	mixed = mix_phase(procs, PER_P * procs);
	if (!mix_reads)
		return -1;
	printf("sysmix %.3f\n", mixed / alone);
	return 0;
}

/* --- echo ----------------------------------------------------------------- */

#define ECHO_MSG 64
static struct sockaddr_in echo_addr;
static long echo_rounds, echo_bad;

static void *echo_server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[ECHO_MSG];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)r) != r)
			break;
	close(fd);
	return NULL;
}

static void *echo_client(void *arg)
{
	char msg[ECHO_MSG], back[ECHO_MSG];
	ssize_t got, r;
	long i;
	int fd;

	(void)arg;
	memset(msg, 'e', sizeof(msg));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&echo_addr,
			      sizeof(echo_addr)))
		goto bad;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	for (i = 0; i < echo_rounds; i++) {
		if (write(fd, msg, sizeof(msg)) != sizeof(msg))
			break;
		for (got = 0; got < ECHO_MSG; got += r) {
			r = read(fd, back + got, sizeof(back) - (size_t)got);
			if (r <= 0)
				break;
		}
		if (got != ECHO_MSG || memcmp(msg, back, sizeof(msg)))
			break;
	}
	close(fd);
	if (i == echo_rounds)
		return NULL;
bad:
	__atomic_add_fetch(&echo_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static double echo(long conns)
{
	pthread_t *cl = calloc((size_t)conns, sizeof(*cl)), t;
	socklen_t len;
	double t0, d;
	long i;
	int lfd, fd;

	if (!cl || bench_loopback_up() ||
	    (lfd = bench_listen(&echo_addr, &len)) < 0)
		return -1;
	echo_rounds = n / conns;
	t0 = now_ns();
	for (i = 0; i < conns; i++)
		if (pthread_create(&cl[i], &attr, echo_client, NULL))
			return -1;
	for (i = 0; i < conns; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return -1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
			   sizeof(int));
		if (pthread_create(&t, &attr, echo_server, (void *)(intptr_t)fd))
			return -1;
		pthread_detach(t);
	}
	for (i = 0; i < conns; i++)
		pthread_join(cl[i], NULL);
	d = (now_ns() - t0) / (echo_rounds * conns);
	close(lfd);
	free(cl);
	return echo_bad ? -1 : d;
}

/* --- idle: N connections that carry nothing, a thread reading each ----- */

static int idle_lfd[IDLE_PORTS];
static struct sockaddr_in idle_addr[IDLE_PORTS];
static long nidle;

static void *idle_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;

	__atomic_add_fetch(&nidle, 1, __ATOMIC_RELAXED);
	if (read(fd, &c, 1) > 0)	/* nothing is sent */
		abort();
	close(fd);
	return NULL;
}

static void *idle_acceptor(void *arg)
{
	int k = (int)(intptr_t)arg, fd;
	pthread_t th;
	long i;

	for (i = k; i < n; i += IDLE_PORTS) {
		fd = accept4(idle_lfd[k], NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 || start(&th, idle_reader, (void *)(intptr_t)fd)) {
			fprintf(stderr, "pthread_bench: idle: accept or thread %ld failed\n", i);
			exit(3);
		}
	}
	return NULL;
}

static double idle(void)
{
	long long settle_ns = IDLE_SETTLE_NS(n);
	struct timespec ms = { .tv_nsec = 1000000 };
	struct timespec settle = { settle_ns / 1000000000,
				   settle_ns % 1000000000 };
	struct mem_reading before;
	pthread_t acc[IDLE_PORTS];
	int *fds, k;
	long i;

	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds || bench_loopback_up() || bench_raise_nofile(2 * n + 64) ||
	    idle_listen(idle_lfd, idle_addr))
		return -1;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (k = 0; k < IDLE_PORTS; k++)
		if (pthread_create(&acc[k], NULL, idle_acceptor, (void *)(intptr_t)k))
			return -1;
	before = mem_read();
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (struct sockaddr *)&idle_addr[i % IDLE_PORTS],
			    sizeof(idle_addr[0])))
			return -1;
	}
	while (__atomic_load_n(&nidle, __ATOMIC_RELAXED) < n)
		nanosleep(&ms, NULL);
	nanosleep(&settle, NULL);
	idle_report(before, n);
}

int main(int argc, char **argv)
{
	const char *env = getenv("GMPMAXPROCS");
	int procs = env ? atoi(env) : 1, i;
	cpu_set_t cpus;
	double d = -1, p = -1;

	if (argc != 3 || (n = atol(argv[2])) <= 0 || procs < 1) {
		fprintf(stderr, "usage: pthread_bench spawn|yield|chan|daisy|pool|parked|fair|sysmix|echo|echo100|idle N\n");
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
	else if (!strcmp(argv[1], "daisy"))
		d = daisy();
	else if (!strcmp(argv[1], "pool"))
		d = pool(procs);
	else if (!strcmp(argv[1], "parked"))
		p = parked();
	else if (!strcmp(argv[1], "fair"))
		p = fair(procs);
	else if (!strcmp(argv[1], "sysmix"))
		p = sysmix(procs);
	else if (!strcmp(argv[1], "echo"))
		d = echo(1);
	else if (!strcmp(argv[1], "echo100"))
		d = echo(100);
	else if (!strcmp(argv[1], "idle"))
		p = idle();
	if (p == 0)
		return 0;	/* the workload printed its lines */
	if (d < 0)
		return 3;	/* unknown workload or a wrong answer */
	printf("%s %.1f\n", argv[1], d);
	return 0;
}
