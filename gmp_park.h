/* SPDX-License-Identifier: GPL-2.0 */
/*
 * GOPARK and GOREADY: goroutines parked on a user word in the kernel
 * (gmp_park.c).
 */
#ifndef _GMP_PARK_H
#define _GMP_PARK_H

#include "gmp_core.h"

int gmp_waitq_init(struct gmp_sched *s);
void gmp_waitq_destroy(struct gmp_sched *s);
int gmp_wait_from_user(struct gmp_wait *w, unsigned long arg);
long gmp_gopark(struct gmp_sched *s, struct pt_regs *regs,
		const struct gmp_wait *w);
long gmp_goready(struct gmp_sched *s, const struct gmp_wait *w);

#endif /* _GMP_PARK_H */
