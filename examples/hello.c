// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * hello: the first goroutines. The main goroutine starts N goroutines,
 * each says hello with its id, and main yields until all have run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <kgo.h>

static int done;

static void hello(void *arg)
{
	printf("hello from goroutine %llu (spawned as #%ld)\n",
	       (unsigned long long)kgo_id(), (long)(intptr_t)arg);
	__atomic_add_fetch(&done, 1, __ATOMIC_SEQ_CST);
}

static int main_goroutine(void *arg)
{
	long i, n = (long)(intptr_t)arg;

	printf("main goroutine %llu on %d P's\n",
	       (unsigned long long)kgo_id(), kgo_nprocs());
	for (i = 0; i < n; i++)
		if (kgo_go(hello, (void *)(intptr_t)i))
			return 1;
	while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < n)
		kgo_yield();
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
