// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * sieve: Go's concurrent prime sieve. A generator sends 2, 3, 4, ... down
 * a channel; each prime found starts a filter goroutine that passes on
 * what its prime does not divide, and the chain grows one goroutine per
 * prime. Prints the first N primes' last few and the Nth.
 *
 *	./sieve [n]
 */
#include <stdio.h>
#include <stdlib.h>
#include <kgo.h>

struct filter {
	struct kgo_chan *in, *out;
	int prime;
};

static void generate(void *arg)
{
	struct kgo_chan *ch = arg;
	int i;

	for (i = 2;; i++)
		kgo_chan_send(ch, &i);
}

static void filter(void *arg)
{
	struct filter *f = arg;
	int i;

	for (;;) {
		kgo_chan_recv(f->in, &i);
		if (i % f->prime)
			kgo_chan_send(f->out, &i);
	}
}

static int main_goroutine(void *arg)
{
	long i, n = (long)(intptr_t)arg;
	struct kgo_chan *ch = kgo_chan_make(sizeof(int), 0);
	struct filter *f;
	int prime = 0;

	kgo_go(generate, ch);
	for (i = 1; i <= n; i++) {
		kgo_chan_recv(ch, &prime);
		if (i > n - 5)
			printf("prime %ld: %d\n", i, prime);
		f = malloc(sizeof(*f));
		if (!f)
			return 1;
		*f = (struct filter){ .in = ch, .prime = prime,
				      .out = kgo_chan_make(sizeof(int), 0) };
		kgo_go(filter, f);
		ch = f->out;
	}
	printf("the %ldth prime is %d, found by a chain of %ld goroutines\n",
	       n, prime, n + 1);
	/* Returning ends the program; the chain is abandoned, as in Go. */
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int status = 1;
	int err = kgo_run(main_goroutine, (void *)(intptr_t)n, &status);

	if (err) {
		fprintf(stderr, "sieve: kgo_run: error %d\n", err);
		return 1;
	}
	return status;
}
