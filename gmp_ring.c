// SPDX-License-Identifier: GPL-2.0
/*
 * The spawn ring: user space produces struct gmp_spawn entries (a G index
 * to make runnable), the kernel consumes them. The ring lives in pages
 * both sides map; the kernel keeps its own consumer index, reads each
 * entry exactly once into a private copy and checks only that copy, so an
 * entry rewritten while it is read can at worst be rejected, never
 * half-trusted.
 */
#include <linux/errno.h>
#include <linux/module.h>

#include "gmp_core.h"
#include "gmp_ring.h"
#include "gmp_sched.h"

int gmp_spawn_check(const struct gmp_spawn *sp, u32 maxg)
{
	if (sp->flags & ~GMP_SPAWN_FLAGS_ALL)
		return -EINVAL;
	if (sp->resv)
		return -EINVAL;
	if (sp->gidx == 0 || sp->gidx >= maxg)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_spawn_check);

static void gmp_spawn_read(const struct gmp_spawn *shared, struct gmp_spawn *e)
{
	e->gidx = READ_ONCE(shared->gidx);
	e->flags = READ_ONCE(shared->flags);
	e->resv = READ_ONCE(shared->resv);
}

/*
 * Consume every entry published so far: valid ones make their G's
 * runnable on @pp (NULL: the global queue), invalid ones are dropped and
 * counted. Returns 0, or -EINVAL if anything was dropped or the producer
 * index is impossible. *@naccepted gets the number accepted.
 */
int gmp_ring_drain(struct gmp_sched *s, struct gmp_p *pp, u32 *naccepted)
{
	struct gmp_ring *ring = s->ring;
	u32 head, tail, accepted = 0;
	int ret = 0;

	if (!mutex_trylock(&s->ring_lock)) {
		/* Another M is draining: it will hand out what is there. */
		*naccepted = 0;
		return 0;
	}
	head = s->ring_head;
	/* Entries up to tail are written; pairs with the producer's release. */
	tail = smp_load_acquire(&ring->tail);
	if (tail - head > s->ring_entries) {
		/* A producer index no producer could have written. */
		s->nbadspawn++;
		ret = -EINVAL;
		goto out;
	}
	for (; head != tail; head++) {
		struct gmp_spawn e;
		int err;

		gmp_spawn_read(&s->spawn[head & (s->ring_entries - 1)], &e);
		err = gmp_spawn_check(&e, s->maxg);
		if (!err)
			err = gmp_newproc(s, pp, &e);
		if (err) {
			s->nbadspawn++;
			ret = -EINVAL;
			continue;
		}
		accepted++;
	}
	s->ring_head = head;
	/* Our reads of the slots before head are done: the producer may reuse them. */
	smp_store_release(&ring->head, head);
out:
	mutex_unlock(&s->ring_lock);
	*naccepted = accepted;
	return ret;
}

/*
 * Entries a drain would take now, for the lost-wakeup re-checks. Not an
 * impossible producer index: "pending" work nobody can take would keep an
 * M from parking.
 */
bool gmp_ring_pending(struct gmp_sched *s)
{
	/* Pairs with the producer's release of tail. */
	u32 n = smp_load_acquire(&s->ring->tail) - READ_ONCE(s->ring_head);

	return n && n <= s->ring_entries;
}
