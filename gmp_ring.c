// SPDX-License-Identifier: GPL-2.0
/*
 * The spawn ring: user space produces struct gmp_spawn entries, the kernel
 * consumes them. The ring lives in pages both sides map; the kernel keeps
 * its own consumer index, reads each entry exactly once into a private
 * copy and checks only that copy, so an entry rewritten while it is read
 * can at worst be rejected, never half-trusted.
 */
#include <linux/errno.h>
#include <linux/module.h>
#include <asm/processor-flags.h>

#include "gmp_core.h"
#include "gmp_frame.h"

int gmp_spawn_check(const struct gmp_spawn *sp)
{
	u64 top;

	if (sp->flags & ~GMP_SPAWN_FLAGS_ALL)
		return -EINVAL;
	if (sp->resv0 || sp->resv[0] || sp->resv[1])
		return -EINVAL;
	if (!gmp_user_addr_ok(sp->pc))
		return -EINVAL;
	if (sp->stack_size < GMP_STACK_MIN || sp->stack_size > GMP_STACK_MAX)
		return -EINVAL;
	if (!IS_ALIGNED(sp->stack_lo, 16) || !IS_ALIGNED(sp->stack_size, 16))
		return -EINVAL;
	if (check_add_overflow(sp->stack_lo, sp->stack_size, &top))
		return -EINVAL;
	/* The whole stack is user memory: both ends below TASK_SIZE_MAX. */
	if (!gmp_user_addr_ok(sp->stack_lo) || !gmp_user_addr_ok(top))
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_spawn_check);

/* The first frame of a goroutine, from a checked entry (uapi comment). */
void gmp_spawn_frame(const struct gmp_spawn *sp, u64 goid, struct gmp_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->ip = sp->pc;
	f->sp = sp->stack_lo + sp->stack_size;
	f->di = sp->arg[0];
	f->si = sp->arg[1];
	f->dx = goid;
	f->flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_spawn_frame);

static void gmp_spawn_read(const struct gmp_spawn *shared, struct gmp_spawn *e)
{
	e->pc = READ_ONCE(shared->pc);
	e->arg[0] = READ_ONCE(shared->arg[0]);
	e->arg[1] = READ_ONCE(shared->arg[1]);
	e->stack_lo = READ_ONCE(shared->stack_lo);
	e->stack_size = READ_ONCE(shared->stack_size);
	e->flags = READ_ONCE(shared->flags);
	e->resv0 = READ_ONCE(shared->resv0);
	e->resv[0] = READ_ONCE(shared->resv[0]);
	e->resv[1] = READ_ONCE(shared->resv[1]);
}

/*
 * Consume every entry published so far: valid ones become runnable G's on
 * @pp (NULL: the global queue) with @parentgoid as their creator, invalid
 * ones are dropped and counted.
 * Returns 0, -EINVAL if anything was dropped or the producer index is
 * impossible, or -ENOMEM if a G could not be allocated (that entry and
 * those after it stay in the ring). *@naccepted gets the number spawned.
 */
int gmp_ring_drain(struct gmp_sched *s, struct gmp_p *pp, u64 parentgoid,
		   u32 *naccepted)
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
		err = gmp_spawn_check(&e);
		if (!err && (e.flags & GMP_SPAWN_MAIN) && s->mainspawned)
			err = -EINVAL;
		if (err) {
			s->nbadspawn++;
			ret = -EINVAL;
			continue;
		}
		if (!gmp_newproc(s, pp, &e, parentgoid)) {
			ret = -ENOMEM;
			break;
		}
		accepted++;
	}
	WRITE_ONCE(s->ring_stalled, ret == -ENOMEM);
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
 * impossible producer index, and not while the drain is stalled for
 * memory: "pending" work nobody can take would keep an M from parking.
 */
bool gmp_ring_pending(struct gmp_sched *s)
{
	/* Pairs with the producer's release of tail. */
	u32 n = smp_load_acquire(&s->ring->tail) - READ_ONCE(s->ring_head);

	return n && n <= s->ring_entries && !READ_ONCE(s->ring_stalled);
}
