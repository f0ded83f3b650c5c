/* SPDX-License-Identifier: GPL-2.0 */
/* debugfs: schedtrace and scheddetail (gmp_trace.c). */
#ifndef _GMP_TRACE_H
#define _GMP_TRACE_H

#include "gmp_core.h"

void gmp_trace_init(void);
void gmp_trace_exit(void);
void gmp_trace_instance_add(struct gmp_sched *s);
void gmp_trace_instance_remove(struct gmp_sched *s);

#endif /* _GMP_TRACE_H */
