/* SPDX-License-Identifier: GPL-2.0 */
/* Go's run queue primitives, over G indices (gmp_runq.c). */
#ifndef _GMP_RUNQ_H
#define _GMP_RUNQ_H

#include "gmp_core.h"

bool gmp_runqempty(struct gmp_p *pp);
bool gmp_runqempty_hint(struct gmp_p *pp);
u32 gmp_runqlen(struct gmp_p *pp);
void gmp_runqput(struct gmp_sched *s, struct gmp_p *pp, u32 gidx, bool next);
u32 gmp_runqget(struct gmp_sched *s, struct gmp_p *pp, bool *inherit);
u32 gmp_runqsteal(struct gmp_p *pp, struct gmp_p *victim, bool stealrunnext);
bool gmp_globrunqput(struct gmp_sched *s, u32 gidx);
u32 gmp_globrunqremove_locked(struct gmp_sched *s, struct gmp_gk *gk);
bool gmp_globrunqput_locked(struct gmp_sched *s, u32 gidx);
u32 gmp_globrunqget(struct gmp_sched *s, struct gmp_p *pp, u32 max);

#endif /* _GMP_RUNQ_H */
