// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * hello: the first goroutines. The main goroutine starts N goroutines,
 * each says hello with its id, and main waits for all of them with a
 * WaitGroup, as a Go program would.
 *
 *	cc hello.c $(pkg-config --cflags --libs kgo) && ./a.out 8
 */
#include <stdio.h>
#include <stdlib.h>
#include <kgo.h>

static struct kgo_waitgroup wg = KGO_WAITGROUP_INIT;

static void hello(void *arg)
{
	printf("hello from goroutine %llu (spawned as #%ld)\n",
	       (unsigned long long)kgo_id(), (long)(intptr_t)arg);
	kgo_waitgroup_done(&wg);
}

static int main_goroutine(void *arg)
{
	long i, n = (long)(intptr_t)arg;

	printf("main goroutine %llu on %d P's\n",
	       (unsigned long long)kgo_id(), kgo_nprocs());
	kgo_waitgroup_add(&wg, (int)n);
	for (i = 0; i < n; i++)
		if (kgo_go(hello, (void *)(intptr_t)i))
			return 1;
	kgo_waitgroup_wait(&wg);
	printf("all %ld goroutines said hello\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 4;
	int status = 1;
	int err = kgo_run(main_goroutine, (void *)(intptr_t)n, &status);

	if (err) {
		fprintf(stderr, "hello: kgo_run: error %d\n", err);
		return 1;
	}
	return status;
}
