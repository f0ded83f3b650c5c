/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * Layouts that kgo's assembly (kgo_x86_64.S) and its C both use: the
 * G table slot fields the switches load (gmp_uapi.h's struct gmp_gslot),
 * the context a switch saves on the goroutine's stack, and the frame the
 * preemption stub builds. kgo_proc.c pins each against the C types with
 * _Static_assert, so a change on either side breaks the build, not a
 * switch. Plain numbers and names only: the assembler includes it too.
 */
#ifndef KGO_ASM_H
#define KGO_ASM_H

/* struct gmp_gslot: where a goroutine resumes (the uapi's convention) */
#define KGO_SLOT_PC		0
#define KGO_SLOT_SP		8
#define KGO_SLOT_ARG		16

/* A context saved by kgo_mcall or kgo_switch, from its sp up */
#define KGO_CTX_FPU		0	/* MXCSR (4), x87 control word (2), pad */
#define KGO_CTX_TP		8	/* the thread pointer of the M it left */
#define KGO_CTX_G		16	/* its struct kgo_g */
#define KGO_CTX_REGS		24	/* r15, r14, r13, r12, rbx, rbp */
#define KGO_CTX_RET		72	/* the return address */
#define KGO_CTX_SIZE		80

/* struct kgo_g: gopark's commit, which kgo_parkswitch calls on g0 */
#define KGO_G_PARK_COMMIT	64
#define KGO_G_PARK_ARG		72

/* kgo_asyncpreempt's frame, from its rbp up */
#define KGO_PFRAME_FLAGS	120	/* after r15 ... rax */
#define KGO_PFRAME_RIP		128	/* the interrupted rip */
#define KGO_PFRAME_REDZONE	128	/* gmp_uapi.h's GMP_PREEMPT_REDZONE */

/* C functions the assembly calls (kgo_runtime.h renames the others) */
#define gostart1		__kgo_gostart1
#define asyncpreempt2		__kgo_asyncpreempt2
#define tls_moved		__kgo_tls_moved
#define park_abort		__kgo_park_abort

/* Data the assembly reads */
#define locks_off		__kgo_locks_off
#define have_xsave		__kgo_have_xsave
#define xsave_mask		__kgo_xsave_mask
#define xsave_size		__kgo_xsave_size

#endif /* KGO_ASM_H */
