/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scheduler (gmp_sched.c, the loop; gmp_proc.c, its entry points):
 * first what the rest of gmp calls, then the P and M helpers and the
 * parts of schedule() that only the two of them share (exitsyscall,
 * PROCRESIZE and instance set-up reuse them).
 */
#ifndef _GMP_SCHED_H
#define _GMP_SCHED_H

#include "gmp_core.h"

/* gmp_sched.c */
int gmp_newproc(struct gmp_sched *s, struct gmp_p *pp,
		const struct gmp_spawn *sp);
long gmp_schedule(struct gmp_sched *s, struct gmp_m *m, struct pt_regs *regs);
u32 gmp_findrunnable(struct gmp_sched *s, struct gmp_m *m, bool *inherit);
struct gmp_m *gmp_m_current(struct gmp_sched *s);
void gmp_wakep(struct gmp_sched *s);
bool gmp_startlockedm_idle(struct gmp_sched *s);
void gmp_checkmcount(struct gmp_sched *s);
bool gmp_handoffp(struct gmp_sched *s, struct gmp_m *m, struct gmp_p *pp,
		  int v);
void gmp_publish_state(struct gmp_sched *s);

/* gmp_proc.c */
int gmp_sched_init(struct gmp_sched *s, u32 nprocs, u32 maxprocs,
		   u32 maxmcount);
long gmp_procresize(struct gmp_sched *s, u32 nprocs);
void gmp_sched_destroy(struct gmp_sched *s);
long gmp_mstart(struct gmp_sched *s, struct pt_regs *regs,
		u32 __user *locks);
long gmp_goexit(struct gmp_sched *s, struct pt_regs *regs, int status);
long gmp_gosched(struct gmp_sched *s, struct pt_regs *regs, bool keepm);
long gmp_lockosthread(struct gmp_sched *s, bool lock);
long gmp_park_m(struct gmp_sched *s, struct pt_regs *regs);
long gmp_wakep_ioctl(struct gmp_sched *s);
long gmp_newm_ioctl(struct gmp_sched *s, u32 failed);
struct gmp_m *gmp_m_running(struct gmp_sched *s);
int gmp_exitsyscall_inplace(struct gmp_sched *s, struct gmp_m *m);

/* Between gmp_sched.c and gmp_proc.c only */

/* P's and M's; the first four with sched.lock held (lockdep asserts it) */
void pidleput(struct gmp_sched *s, struct gmp_p *pp);
bool pidleremove(struct gmp_sched *s, struct gmp_p *pp);
struct gmp_p *pidleget(struct gmp_sched *s);
void putp_locked(struct gmp_sched *s, struct gmp_p *pp);
void acquirep(struct gmp_m *m, struct gmp_p *pp);
void gmp_bindcpu(struct gmp_m *m);

/* schedule() */
bool gmp_work_pending(struct gmp_sched *s);
int gmp_execute(struct gmp_sched *s, struct gmp_m *m, u32 gidx,
		bool inherit, struct pt_regs *regs);
void gmp_keepm_wire(struct gmp_sched *s, struct gmp_m *m, u32 gidx,
		    struct gmp_gk *gk);

#endif /* _GMP_SCHED_H */
