/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User register frames (gmp_frame.c, gmp_arch_x86.S): the byte offsets the
 * stub uses, pinned against the C definitions with BUILD_BUG_ON in
 * gmp_frame.c so that a change to either struct breaks the build instead
 * of the stub, and, for C only, the frame calls.
 */
#ifndef _GMP_FRAME_H
#define _GMP_FRAME_H

/* struct pt_regs (arch/x86/include/asm/ptrace.h), 64-bit */
#define GMP_PTREGS_GPRS		0	/* r15 .. di: 15 words */
#define GMP_PTREGS_ORIG_AX	120
#define GMP_PTREGS_IP		128
#define GMP_PTREGS_FLAGS	144
#define GMP_PTREGS_SP		152

/* struct gmp_frame (gmp_core.h) */
#define GMP_FRAME_GPRS		0	/* r15 .. di, same order */
#define GMP_FRAME_NGPRS		15
#define GMP_FRAME_IP		120
#define GMP_FRAME_FLAGS		128
#define GMP_FRAME_SP		136
#define GMP_FRAME_SIZE		144

/*
 * RFLAGS bits a goroutine's frame may carry (arithmetic flags, DF, AC);
 * IF and the fixed bit 1 are always set; IOPL, NT, TF, RF, VM, VIF and
 * VIP never come from a frame.
 */
#define GMP_EFLAGS_USER		0x40cd5	/* CF PF AF ZF SF DF OF AC */
#define GMP_EFLAGS_ALWAYS	0x202	/* IF | fixed bit 1 */

#ifndef __ASSEMBLY__
#include "gmp_core.h"

/* gmp_frame.c and gmp_arch_x86.S */
void gmp_arch_frame_save(const struct pt_regs *regs, struct gmp_frame *dst);
void gmp_arch_frame_load(struct pt_regs *regs, const struct gmp_frame *src);
bool gmp_user_addr_ok(unsigned long addr);
int gmp_frame_check(const struct gmp_frame *f);
int gmp_frame_load(struct pt_regs *regs, const struct gmp_frame *f);
void gmp_frame_save(const struct pt_regs *regs, struct gmp_frame *dst);
void gmp_resume_frame(const struct gmp_gslot *gs, u32 gidx, u32 pid,
		      struct gmp_frame *f);
bool gmp_in_trap(const struct pt_regs *regs);
long gmp_syscall_restarting(struct pt_regs *regs);
bool gmp_restart_syscall_now(struct pt_regs *regs);
bool gmp_frame_held(const struct pt_regs *regs);
int gmp_preempt_frame(struct pt_regs *regs, u64 pc, unsigned long *newsp);
int gmp_inject_call(struct gmp_sched *s, struct pt_regs *regs);
bool gmp_twork_add(struct gmp_sched *s, struct gmp_m *m,
		   struct callback_head *work, task_work_func_t fn,
		   enum task_work_notify_mode mode, atomic_t *queued);
#endif /* __ASSEMBLY__ */

#endif /* _GMP_FRAME_H */
