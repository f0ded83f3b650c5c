/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmp's frame switch for x86_64.
 *
 * When the kernel moves an M (a thread inside the module) from one
 * goroutine to another, the registers the thread returns to user mode with
 * are its struct pt_regs at the top of its kernel stack. Switching is two
 * steps: save the outgoing user frame out of pt_regs, load the next one
 * into it. The syscall exit path then returns to the loaded frame (the
 * SYSRET checks send any frame SYSRET cannot restore through IRET).
 *
 * Loading never touches cs or ss, masks RFLAGS to the bits user space may
 * own and sets orig_ax to -1 so the syscall that switched cannot be
 * "restarted" into the new frame (as rt_sigreturn does). Addresses are
 * checked by the C caller (gmp_frame_load) before the stub runs.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include "gmp_frame.h"

.macro COPY_GPRS from, to
	.irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
	movq	(\i * 8)(\from), %rax
	movq	%rax, (\i * 8)(\to)
	.endr
.endm

/* void gmp_arch_frame_save(const struct pt_regs *regs, struct gmp_frame *dst) */
SYM_FUNC_START(gmp_arch_frame_save)
	COPY_GPRS %rdi, %rsi
	movq	GMP_PTREGS_IP(%rdi), %rax
	movq	%rax, GMP_FRAME_IP(%rsi)
	movq	GMP_PTREGS_FLAGS(%rdi), %rax
	movq	%rax, GMP_FRAME_FLAGS(%rsi)
	movq	GMP_PTREGS_SP(%rdi), %rax
	movq	%rax, GMP_FRAME_SP(%rsi)
	RET
SYM_FUNC_END(gmp_arch_frame_save)

/* void gmp_arch_frame_load(struct pt_regs *regs, const struct gmp_frame *src) */
SYM_FUNC_START(gmp_arch_frame_load)
	COPY_GPRS %rsi, %rdi
	movq	GMP_FRAME_IP(%rsi), %rax
	movq	%rax, GMP_PTREGS_IP(%rdi)
	movq	GMP_FRAME_SP(%rsi), %rax
	movq	%rax, GMP_PTREGS_SP(%rdi)
	movq	GMP_FRAME_FLAGS(%rsi), %rax
	andq	$GMP_EFLAGS_USER, %rax
	orq	$GMP_EFLAGS_ALWAYS, %rax
	movq	%rax, GMP_PTREGS_FLAGS(%rdi)
	movq	$-1, GMP_PTREGS_ORIG_AX(%rdi)
	RET
SYM_FUNC_END(gmp_arch_frame_load)
