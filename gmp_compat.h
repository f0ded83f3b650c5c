/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version-dependent call gmp makes goes through here, so a
 * port to another kernel touches one file. Features are probed from the
 * kernel's headers by Kbuild (GMP_HAVE_*), not guessed from the version.
 * gmp is developed on 6.1.
 */
#ifndef _GMP_COMPAT_H
#define _GMP_COMPAT_H

#include <linux/mm.h>

/* vm_flags became read-only behind vm_flags_set()/vm_flags_clear() in 6.3. */
static inline void gmp_vma_flags_set(struct vm_area_struct *vma,
				     unsigned long flags)
{
#ifdef GMP_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static inline void gmp_vma_flags_clear(struct vm_area_struct *vma,
				       unsigned long flags)
{
#ifdef GMP_HAVE_VM_FLAGS_SET
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

#endif /* _GMP_COMPAT_H */
