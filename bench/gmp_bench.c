// SPDX-License-Identifier: GPL-2.0
/*
 * gmp's side of the scheduler benchmarks (bench/run.sh runs it beside
 * go_bench.go in the same VM). Usage: gmp_bench WORKLOAD N
 * Prints "WORKLOAD NS_PER_OP". Workloads:
 *   spawn      start N goroutines that do nothing, wait for all
 *   yield      two goroutines yield N times each; per yield
 *   parkready  two goroutines hand a token back and forth with park and
 *              ready N times; per round trip
 *   switch     baseline: a bare user-space stack switch (no scheduler),
 *              two contexts swapping N times each; per switch
 * P counts come from GMPMAXPROCS (run.sh sets 1 for yield and parkready).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "../selftests/gmp_test_util.h"

static long n;
static double ns_per_op;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* --- spawn -------------------------------------------------------------- */

static struct latch spawned;

static void nothing(void *arg)
{
	(void)arg;
	latch_done(&spawned);
}

static void bench_spawn(void)
{
	double t = now_ns();
	long i;

	double t1;

	spawned.target = n;
	for (i = 0; i < n; i++)
		if (kgo_go(nothing, NULL))
			abort();
	t1 = now_ns();
	latch_wait(&spawned);
	ns_per_op = (now_ns() - t) / n;
	if (getenv("GMP_BENCH_RUSAGE"))
		fprintf(stderr, "spawn loop %.1f ns/op, running them %.1f ns/op\n",
			(t1 - t) / n, (now_ns() - t1) / n);
}

/* --- yield -------------------------------------------------------------- */

static struct latch yielded = { .target = 2 };

static void yielder(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < n; i++)
		kgo_yield();
	latch_done(&yielded);
}

static void bench_yield(void)
{
	double t = now_ns();

	kgo_go(yielder, NULL);
	kgo_go(yielder, NULL);
	latch_wait(&yielded);
	ns_per_op = (now_ns() - t) / (2.0 * n);
}

/* --- parkready ---------------------------------------------------------- */

static uint32_t ping, pong;
static struct latch pingponged = { .target = 1 };

static void ponger(void *arg)
{
	long i;

	(void)arg;
	for (i = 1; i <= n; i++) {
		wait_change(&ping, (uint32_t)(i - 1));
		set_and_ready(&pong, (uint32_t)i);
	}
	latch_done(&pingponged);
}

static void bench_parkready(void)
{
	double t = now_ns();
	long i;

	kgo_go(ponger, NULL);
	for (i = 1; i <= n; i++) {
		set_and_ready(&ping, (uint32_t)i);
		wait_change(&pong, (uint32_t)(i - 1));
	}
	latch_wait(&pingponged);
	ns_per_op = (now_ns() - t) / n;
}

/* --- switch: the floor any user-space switch is measured against -------- */

void bench_swap(void **save_sp, void *load_sp);
__asm__(".text\n"
	"bench_swap:\n"
	"	pushq %rbp\n	pushq %rbx\n	pushq %r12\n"
	"	pushq %r13\n	pushq %r14\n	pushq %r15\n"
	"	movq %rsp, (%rdi)\n"
	"	movq %rsi, %rsp\n"
	"	popq %r15\n	popq %r14\n	popq %r13\n"
	"	popq %r12\n	popq %rbx\n	popq %rbp\n"
	"	ret\n");

static void *main_sp, *other_sp;

static void other(void)
{
	for (;;)
		bench_swap(&other_sp, main_sp);
}

static void bench_switch(void)
{
	size_t size = 64 * 1024;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **sp = (void **)(stack + size);
	double t;
	long i;

	/* A frame bench_swap can "return" into: six registers, then other(). */
	*--sp = NULL;
	*--sp = (void *)other;
	for (i = 0; i < 6; i++)
		*--sp = NULL;
	other_sp = sp;
	t = now_ns();
	for (i = 0; i < n; i++)
		bench_swap(&main_sp, other_sp);
	ns_per_op = (now_ns() - t) / (2.0 * n);
}

/* --- main --------------------------------------------------------------- */

static const char *workload;

static int bench_main(void *arg)
{
	(void)arg;
	if (!strcmp(workload, "spawn"))
		bench_spawn();
	else if (!strcmp(workload, "yield"))
		bench_yield();
	else if (!strcmp(workload, "parkready"))
		bench_parkready();
	else
		return 2;
	return 0;
}

int main(int argc, char **argv)
{
	int status = 1, err;

	if (argc != 3) {
		fprintf(stderr, "usage: gmp_bench spawn|yield|parkready|switch N\n");
		return 2;
	}
	workload = argv[1];
	n = atol(argv[2]);
	if (!strcmp(workload, "switch")) {
		bench_switch();
		status = 0;
	} else {
		err = kgo_run(bench_main, NULL, &status);
		if (err) {
			fprintf(stderr, "gmp_bench: kgo_run: %s\n", strerror(-err));
			return 1;
		}
	}
	if (status)
		return status;
	printf("%s %.1f\n", workload, ns_per_op);
	if (getenv("GMP_BENCH_RUSAGE")) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "rusage: user %ld.%06ld s, sys %ld.%06ld s, minflt %ld, nvcsw %ld, nivcsw %ld\n",
			ru.ru_utime.tv_sec, ru.ru_utime.tv_usec, ru.ru_stime.tv_sec,
			ru.ru_stime.tv_usec, ru.ru_minflt, ru.ru_nvcsw, ru.ru_nivcsw);
	}
	return 0;
}
