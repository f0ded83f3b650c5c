/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by gmp's kgo-based selftests.
 *
 * A latch: goroutines count down with latch_done(), a goroutine waits in
 * latch_wait() parked (Go's WaitGroup, or main blocking on a channel),
 * so the waiter does not occupy an M the way a kgo_yield() loop would.
 */
#ifndef GMP_TEST_UTIL_H
#define GMP_TEST_UTIL_H

#include <stdint.h>

#include "../userlib/kgo.h"

struct latch {
	uint64_t count;
	uint64_t target;
	uint32_t open;
};

static inline void latch_wait_word(uint32_t *word)
{
	while (!__atomic_load_n(word, __ATOMIC_ACQUIRE))
		kgo_park(word, 0);
}

static inline void latch_open(uint32_t *word)
{
	__atomic_store_n(word, 1, __ATOMIC_RELEASE);
	kgo_ready(word, UINT32_MAX);
}

/* Count one; the one that reaches the target opens the latch. */
static inline void latch_done(struct latch *l)
{
	if (__atomic_add_fetch(&l->count, 1, __ATOMIC_ACQ_REL) == l->target)
		latch_open(&l->open);
}

static inline void latch_wait(struct latch *l)
{
	latch_wait_word(&l->open);
}

#endif /* GMP_TEST_UTIL_H */
