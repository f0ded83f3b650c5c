/* SPDX-License-Identifier: GPL-2.0 */
/* sysmon, the instance's kernel thread that holds no P (gmp_sysmon.c). */
#ifndef _GMP_SYSMON_H
#define _GMP_SYSMON_H

#include "gmp_core.h"

void gmp_sysmon_init(struct gmp_sched *s);
int gmp_sysmon_start(struct gmp_sched *s);
void gmp_sysmon_kick(struct gmp_sched *s);
void gmp_sysmon_kick_sync(struct gmp_sched *s);
void gmp_sysmon_stop(struct gmp_sched *s);
void gmp_sysmon_wake(struct gmp_sched *s);
u64 gmp_sysmon_runtime(struct gmp_sched *s);

#endif /* _GMP_SYSMON_H */
