/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The netpoller: goroutines waiting on a file's own wait queue, readied
 * by its wake-up (gmp_netpoll.c).
 */
#ifndef _GMP_NETPOLL_H
#define _GMP_NETPOLL_H

#include "gmp_core.h"

struct seq_file;

int gmp_netpoll_init(struct gmp_sched *s);
void gmp_netpoll_destroy(struct gmp_sched *s);
void gmp_netpoll_fini(struct gmp_sched *s);
bool gmp_netpoll_pending(struct gmp_sched *s);
bool gmp_netpoll_retake(struct gmp_sched *s);
void gmp_netpoll_show(struct seq_file *sf, struct gmp_sched *s);
u32 gmp_netpoll(struct gmp_sched *s, struct gmp_p *pp);
long gmp_netpoll_wait_ioctl(struct gmp_sched *s,
			    struct gmp_netpoll_wait __user *uarg, bool *sched);
long gmp_netpoll_close_ioctl(struct gmp_sched *s, unsigned long fd);

#endif /* _GMP_NETPOLL_H */
