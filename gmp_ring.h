/* SPDX-License-Identifier: GPL-2.0 */
/* The spawn ring's consumer (gmp_ring.c). */
#ifndef _GMP_RING_H
#define _GMP_RING_H

#include "gmp_core.h"

int gmp_spawn_check(const struct gmp_spawn *sp, u32 maxg);
int gmp_ring_drain(struct gmp_sched *s, struct gmp_p *pp, u32 *naccepted);
bool gmp_ring_pending(struct gmp_sched *s);

#endif /* _GMP_RING_H */
