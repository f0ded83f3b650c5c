/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory shared with the process: the regions, the G table, the stack
 * mapping (gmp_shm.c).
 */
#ifndef _GMP_SHM_H
#define _GMP_SHM_H

#include "gmp_core.h"

int gmp_region_alloc(struct gmp_region *r, size_t size, size_t vmap_size);
void gmp_region_free(struct gmp_region *r);
int gmp_gtab_init(struct gmp_sched *s, u32 nprocs, u32 maxg);
void gmp_gtab_destroy(struct gmp_sched *s);
struct page *gmp_gtab_populate(struct gmp_sched *s, unsigned int pg, gfp_t gfp);
struct gmp_gslot *gmp_gslot(struct gmp_sched *s, u32 gidx,
			    struct gmp_gk **gkp);
u64 gmp_sched_area_size(u32 nprocs, u32 maxg, u64 *gtab_off);
extern const struct vm_operations_struct gmp_vm_ops;
int gmp_stack_mmap(struct vm_area_struct *vma);
bool gmp_stack_guard_page(unsigned long pgoff);

#endif /* _GMP_SHM_H */
