/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Between the scheduling loop (gmp_sched.c) and its entry points
 * (gmp_proc.c): the P and M helpers and the parts of schedule() that
 * exitsyscall, PROCRESIZE and instance set-up reuse. Nothing else
 * includes it; the rest of gmp sees the scheduler through gmp_core.h.
 */
#ifndef _GMP_SCHED_H
#define _GMP_SCHED_H

#include <linux/types.h>

struct gmp_gk;
struct gmp_m;
struct gmp_p;
struct gmp_sched;
struct pt_regs;

/* P's and M's; the first four with sched.lock held (lockdep asserts it) */
void pidleput(struct gmp_sched *s, struct gmp_p *pp);
bool pidleremove(struct gmp_sched *s, struct gmp_p *pp);
struct gmp_p *pidleget(struct gmp_sched *s);
void putp_locked(struct gmp_sched *s, struct gmp_p *pp);
void acquirep(struct gmp_m *m, struct gmp_p *pp);
void gmp_wirep(struct gmp_m *m);

/* schedule() */
bool gmp_work_pending(struct gmp_sched *s);
int gmp_execute(struct gmp_sched *s, struct gmp_m *m, u32 gidx,
		bool inherit, struct pt_regs *regs);
void gmp_keepm_wire(struct gmp_sched *s, struct gmp_m *m, u32 gidx,
		    struct gmp_gk *gk);

#endif /* _GMP_SCHED_H */
