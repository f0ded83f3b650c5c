/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The blocking hand-off: the preempt notifiers that see an M block and
 * sysmon's retake of its P (gmp_handoff.c).
 */
#ifndef _GMP_HANDOFF_H
#define _GMP_HANDOFF_H

#include "gmp_core.h"

int gmp_handoff_register(struct gmp_m *m);
void gmp_handoff_detach(struct gmp_sched *s);
bool gmp_handoff_supported(void);
void gmp_handoff_init(void);
void gmp_handoff_exit(void);
bool gmp_handoff_retake(struct gmp_sched *s, struct gmp_p *pp,
			struct gmp_m *m, u64 now);

#endif /* _GMP_HANDOFF_H */
