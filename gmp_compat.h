/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version-dependent call gmp makes goes through here, so a
 * port to another kernel touches one file. Features are probed from the
 * kernel's headers by Kbuild (GMP_HAVE_*), not guessed from the version.
 * gmp is developed on 6.1.
 */
#ifndef _GMP_COMPAT_H
#define _GMP_COMPAT_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/uprobes.h>
#include <asm/prctl.h>

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

/*
 * Take a reference to @f unless its last one is already gone (it is being
 * released). The count became a file_ref_t in 6.13.
 */
static inline bool gmp_get_file_live(struct file *f)
{
#ifdef GMP_HAVE_FILE_REF
	return file_ref_get(&f->f_ref);
#else
	return atomic_long_inc_not_zero(&f->f_count);
#endif
}

/*
 * Drop a reference to @f unless it is the last one: false, and nothing
 * done, if it is (the caller must fput() it where the release may run).
 * An M's fput() of the last reference releases the file only on its way
 * back to user mode, which a parking M may put off for long.
 */
static inline bool gmp_fput_nonfinal(struct file *f)
{
#ifdef GMP_HAVE_FILE_REF
	return false;	/* file_ref_t has no such call: always the caller's */
#else
	return atomic_long_add_unless(&f->f_count, -1, 1);
#endif
}

/*
 * Is @t off its CPU because it blocked (asleep in a system call, say),
 * rather than preempted or about to run? 6.1 tells by on_rq; 6.12 has
 * task_is_runnable() for it.
 */
static inline bool gmp_task_blocked(struct task_struct *t)
{
#ifdef GMP_HAVE_TASK_IS_RUNNABLE
	return !task_is_runnable(t);
#else
	return !READ_ONCE(t->on_rq);
#endif
}

/*
 * Preempt notifiers (the blocking hand-off) exist when something selects
 * them: KVM does, in Debian's kernels.
 */
#ifdef CONFIG_PREEMPT_NOTIFIERS
#define GMP_HAVE_PREEMPT_NOTIFIERS 1
#endif

/*
 * Does the calling thread run with a user shadow stack (x86 CET, 6.6 and
 * later, when the kernel is built with it and the program enabled it)?
 */
static inline bool gmp_user_shstk(void)
{
#ifdef CONFIG_X86_USER_SHADOW_STACK
	return current->thread.features & ARCH_SHSTK_SHSTK;
#else
	return false;
#endif
}

/* Is the current task in its last switch? (task_struct.state until 5.14.) */
static inline bool gmp_current_dead(void)
{
	return READ_ONCE(current->__state) == TASK_DEAD;
}

/*
 * Is a uprobe single-stepping @t's probed instruction out of line? Its
 * user rip then points into the uprobe's XOL slot, and the step must end
 * before anything moves rip (signals wait too: uprobe_deny_signal()).
 */
static inline bool gmp_uprobe_stepping(struct task_struct *t)
{
#ifdef CONFIG_UPROBES
	return t->utask && READ_ONCE(t->utask->state) != UTASK_RUNNING;
#else
	return false;
#endif
}

#endif /* _GMP_COMPAT_H */
