/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * kgo's context switches (Go's gogo and mcall), and where every goroutine
 * begins. The resume convention is the uapi's (gmp_uapi.h): whoever
 * resumes a goroutine, kgo or the kernel, loads rsp, rdi and rip from its
 * struct gmp_gslot and puts the P id in esi and the G index in edx.
 *
 * A saved context is 80 bytes on the goroutine's own stack, written by
 * kgo_mcall or kgo_switch and popped by kgo_resume (KGO_CTX_* in
 * kgo_asm.h):
 *
 *	sp + 0	MXCSR (4 bytes), x87 control word (2), padding (2)
 *	sp + 8	the thread pointer (%fs:0) of the M it was saved on
 *	sp + 16	its struct kgo_g
 *	sp + 24	r15, r14, r13, r12, rbx, rbp
 *	sp + 72	the return address
 *
 * A goroutine resumed on another M than the one it left has its stack
 * and saved registers fixed up by tls_moved() first, while the frame
 * is still in memory.
 */
#include "kgo_asm.h"

/*
 * Push the context above for goroutine \g; its sp goes to KGO_SLOT_SP(%rdi).
 * The slot's pc is kgo_resume already: gostart1 sets it once, as a
 * goroutine begins, and nothing else resumes it another way.
 */
.macro	SAVE_CONTEXT g
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	pushq	\g
	movq	%fs:0, %rax
	pushq	%rax
	subq	$KGO_CTX_TP, %rsp
	stmxcsr	KGO_CTX_FPU(%rsp)
	fnstcw	KGO_CTX_FPU+4(%rsp)
	movq	%rsp, KGO_SLOT_SP(%rdi)
.endm

	.text

/*
 * uint32_t kgo_mcall(struct gmp_gslot *slot, void (*fn)(void *),
 *		      struct kgo_g *g, void *g0sp)
 *
 * Save the calling goroutine @g's context in @slot and call fn(g) on the
 * M's g0 stack @g0sp, which never returns to here. When the goroutine is
 * resumed, kgo_mcall returns the id of the P it now runs on.
 */
	.globl	kgo_mcall
	.hidden	kgo_mcall
	.type	kgo_mcall, @function
kgo_mcall:
	.cfi_startproc
	SAVE_CONTEXT %rdx
	movq	%rcx, %rsp		/* onto g0: the goroutine's stack is left alone */
	movq	%rdx, %rdi
	call	*%rsi
	ud2
	.cfi_endproc
	.size	kgo_mcall, . - kgo_mcall

/*
 * uint32_t kgo_switch(struct gmp_gslot *slot, struct kgo_g *g,
 *		       const struct gmp_gslot *next, uint32_t *publish,
 *		       uint32_t val, uint64_t next_pid_gidx)
 *
 * A direct switch between goroutines (kgo_yield's fast path): save the
 * calling goroutine @g's context in @slot as kgo_mcall does, leave its
 * stack for @next's, and only then store @val at @publish (the P's run
 * queue tail, which makes the caller visible to thieves: from that store
 * on, another M may resume it, so nothing here touches its stack again).
 * Then resume @next with the P id in the low half of @next_pid_gidx and
 * its G index in the high half. Returns, like kgo_mcall, when the caller
 * is resumed.
 */
	.globl	kgo_switch
	.hidden	kgo_switch
	.type	kgo_switch, @function
kgo_switch:
	.cfi_startproc
	SAVE_CONTEXT %rsi
	movq	KGO_SLOT_PC(%rdx), %rax
	movq	KGO_SLOT_SP(%rdx), %rsp	/* off the caller's stack */
	movq	KGO_SLOT_ARG(%rdx), %rdi
	movl	%r8d, (%rcx)		/* x86 stores are releases */
	movl	%r9d, %esi
	shrq	$32, %r9
	movl	%r9d, %edx
	jmp	*%rax
	.cfi_endproc
	.size	kgo_switch, . - kgo_switch

/*
 * void kgo_parkswitch(struct gmp_gslot *slot, struct kgo_g *g, void *g0sp,
 *		       const struct gmp_gslot *next, uint64_t next_pid_gidx)
 *
 * gopark's direct switch: save the calling goroutine @g's context in
 * @slot, and on the M's g0 stack @g0sp run its commit
 * (g->park_commit(g, g->park_commit_arg), Go's unlockf): from there on a
 * waker may run @g anywhere, so its stack is left first. If the commit
 * parked it, resume @next (taken from the P's queue by the caller) as
 * kgo_switch does; if not, park_abort() puts @next back and resumes @g.
 * Returns, like kgo_mcall, when @g is resumed.
 */
	.globl	kgo_parkswitch
	.hidden	kgo_parkswitch
	.type	kgo_parkswitch, @function
kgo_parkswitch:
	.cfi_startproc
	SAVE_CONTEXT %rsi
	movq	%rdx, %rsp		/* onto g0 */
	pushq	%rsi			/* @g, @next and its ids: four words, */
	pushq	%rsi			/* rsp stays aligned for the call */
	pushq	%rcx
	pushq	%r8
	movq	%rsi, %rdi
	movq	KGO_G_PARK_ARG(%rdi), %rsi
	call	*KGO_G_PARK_COMMIT(%rdi)
	popq	%r8
	popq	%rcx
	testb	%al, %al
	jz	1f
	movq	KGO_SLOT_PC(%rcx), %rax
	movq	KGO_SLOT_SP(%rcx), %rsp	/* off g0 */
	movq	KGO_SLOT_ARG(%rcx), %rdi
	movl	%r8d, %esi
	shrq	$32, %r8
	movl	%r8d, %edx
	jmp	*%rax
1:	movq	(%rsp), %rdi		/* @g; g0 stays aligned */
	movq	%r8, %rsi
	call	park_abort
	ud2
	.cfi_endproc
	.size	kgo_parkswitch, . - kgo_parkswitch

/*
 * Where a context saved by kgo_mcall or kgo_switch resumes: fix it up if
 * the M changed, pop it, return the P id.
 *
 * For unwinders (gdb stopping a thread here, just after the kernel or a
 * switch resumed it): the caller is the switch's, whose return address
 * and callee-saved registers are in the context at rsp.
 */
.macro	CTX_POP r
	popq	%\r
	.cfi_adjust_cfa_offset -8
	.cfi_restore \r
.endm

	.globl	kgo_resume
	.hidden	kgo_resume
	.type	kgo_resume, @function
kgo_resume:
	.cfi_startproc
	.cfi_def_cfa rsp, KGO_CTX_SIZE
	.cfi_offset rip, KGO_CTX_RET - KGO_CTX_SIZE
	.cfi_offset r15, KGO_CTX_REGS - KGO_CTX_SIZE
	.cfi_offset r14, KGO_CTX_REGS + 8 - KGO_CTX_SIZE
	.cfi_offset r13, KGO_CTX_REGS + 16 - KGO_CTX_SIZE
	.cfi_offset r12, KGO_CTX_REGS + 24 - KGO_CTX_SIZE
	.cfi_offset rbx, KGO_CTX_REGS + 32 - KGO_CTX_SIZE
	.cfi_offset rbp, KGO_CTX_REGS + 40 - KGO_CTX_SIZE
	movq	%fs:0, %rax
	cmpq	KGO_CTX_TP(%rsp), %rax
	jne	2f
1:	ldmxcsr	KGO_CTX_FPU(%rsp)
	fldcw	KGO_CTX_FPU+4(%rsp)
	.cfi_remember_state
	addq	$KGO_CTX_REGS, %rsp
	.cfi_adjust_cfa_offset -KGO_CTX_REGS
	CTX_POP	r15
	CTX_POP	r14
	CTX_POP	r13
	CTX_POP	r12
	CTX_POP	rbx
	CTX_POP	rbp
	movl	%esi, %eax
	ret
2:	.cfi_restore_state
	pushq	%rsi			/* the P id, twice: rsp stays aligned */
	.cfi_adjust_cfa_offset 8
	pushq	%rsi
	.cfi_adjust_cfa_offset 8
	leaq	16(%rsp), %rdi
	call	tls_moved
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	popq	%rsi
	.cfi_adjust_cfa_offset -8
	jmp	1b
	.cfi_endproc
	.size	kgo_resume, . - kgo_resume

/*
 * void kgo_gogo(const struct gmp_gslot *slot, uint32_t pid, uint32_t gidx)
 *
 * Resume the goroutine in @slot on this M, as the kernel would.
 */
	.globl	kgo_gogo
	.hidden	kgo_gogo
	.type	kgo_gogo, @function
kgo_gogo:
	.cfi_startproc
	movq	KGO_SLOT_PC(%rdi), %rax
	movq	KGO_SLOT_SP(%rdi), %rsp
	movq	KGO_SLOT_ARG(%rdi), %rdi
	jmp	*%rax
	.cfi_endproc
	.size	kgo_gogo, . - kgo_gogo

/*
 * Where every goroutine begins: rsp at the top of its stack (16-byte
 * aligned), rdi = its struct kgo_g, esi = the P id, edx = its G index,
 * and no return address: gostart1 never returns.
 */
	.globl	kgo_gostart
	.hidden	kgo_gostart
	.type	kgo_gostart, @function
kgo_gostart:
	.cfi_startproc
	.cfi_undefined rip		/* outermost frame for unwinders */
	xorl	%ebp, %ebp
	call	gostart1
	ud2
	.globl	kgo_gostart_end
	.hidden	kgo_gostart_end
kgo_gostart_end:
	.cfi_endproc
	.size	kgo_gostart, . - kgo_gostart

/*
 * kgo_asyncpreempt: where the kernel's asynchronous preemption sends a
 * goroutine (gmp_create.preempt_pc; Go's asyncPreempt). The kernel made
 * the M call it from 128 bytes below the interrupted rsp, past the red
 * zone: [rsp] is the interrupted rip, and every register and flag is the
 * interrupted code's. Save all of them, raise the M's locks count (Go's
 * acquirem: asyncpreempt2() is entered inside kgo), save the vector and
 * x87 state with XSAVE (or FXSAVE) on a 64-byte aligned area below, call
 * asyncpreempt2(rbp) with a C-conforming frame (DF clear, rsp aligned),
 * restore everything and return to the interrupted instruction, dropping
 * the red zone gap.
 *
 * The count goes up here, in the stub, whose code kgo never counts as a
 * safe point, and not in asyncpreempt2(): a second preemption (sysmon
 * asks again a slice after the first, and an M stalled on its way in
 * gives it the time) landing on asyncpreempt2()'s first instructions
 * would find the program's own code, no flag set, and move a goroutine
 * whose first stop was in libc. Raised here, it is deferred instead, and
 * a blocked M keeps its P.
 *
 *	rbp + 0		r15 ... rax (15 registers)
 *	rbp + 120	rflags
 *	rbp + 128	the interrupted rip
 *	rbp + 136	the red zone the kernel stepped over (128 bytes)
 */
/*
 * asyncpreempt2() returns the goroutine's "keep its M" flag if it set it:
 * cleared only here, inside this stub, whose code kgo never counts as a
 * safe point, so no preemption can come between the clear and the return
 * to the interrupted code with the flag already gone.
 */
/* A push and a pop that unwinders can follow. */
.macro	PUSHREG r
	pushq	%\r
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset \r, 0
.endm

.macro	POPREG r
	popq	%\r
	.cfi_adjust_cfa_offset -8
	.cfi_restore \r
.endm

.macro	CLEAR_KEEPM
	testq	%rax, %rax
	jz	3f
	movb	$0, (%rax)
3:
.endm

	.globl	kgo_asyncpreempt
	.hidden	kgo_asyncpreempt
	.type	kgo_asyncpreempt, @function
kgo_asyncpreempt:
	.cfi_startproc
	/*
	 * For unwinders (kgo_dump, gdb): a signal frame whose caller is
	 * the interrupted code, its rip at [rsp] and its rsp past the red
	 * zone, and every register where it is pushed.
	 */
	.cfi_signal_frame
	.cfi_def_cfa_offset 8 + KGO_PFRAME_REDZONE
	.cfi_offset rip, -(8 + KGO_PFRAME_REDZONE)
	pushfq
	.cfi_adjust_cfa_offset 8
	cld
	PUSHREG	rax
	PUSHREG	rcx
	PUSHREG	rdx
	PUSHREG	rbx
	PUSHREG	rbp
	PUSHREG	rsi
	PUSHREG	rdi
	PUSHREG	r8
	PUSHREG	r9
	PUSHREG	r10
	PUSHREG	r11
	PUSHREG	r12
	PUSHREG	r13
	PUSHREG	r14
	PUSHREG	r15
	movq	locks_off(%rip), %rax
	incl	%fs:(%rax)
	movq	%rsp, %rbp
	.cfi_def_cfa_register rbp
	andq	$-64, %rsp
	subq	xsave_size(%rip), %rsp
	cmpb	$0, have_xsave(%rip)
	je	1f
	xorl	%eax, %eax		/* XRSTOR wants a clean header */
	movq	%rax, 512(%rsp)
	movq	%rax, 520(%rsp)
	movq	%rax, 528(%rsp)
	movq	%rax, 536(%rsp)
	movq	%rax, 544(%rsp)
	movq	%rax, 552(%rsp)
	movq	%rax, 560(%rsp)
	movq	%rax, 568(%rsp)
	movl	xsave_mask(%rip), %eax
	movl	xsave_mask+4(%rip), %edx
	xsave64	(%rsp)
	movq	%rbp, %rdi
	call	asyncpreempt2
	CLEAR_KEEPM
	movl	xsave_mask(%rip), %eax
	movl	xsave_mask+4(%rip), %edx
	xrstor64 (%rsp)
	jmp	2f
1:	fxsave64 (%rsp)
	movq	%rbp, %rdi
	call	asyncpreempt2
	CLEAR_KEEPM
	fxrstor64 (%rsp)
2:	movq	%rbp, %rsp
	.cfi_def_cfa_register rsp
	POPREG	r15
	POPREG	r14
	POPREG	r13
	POPREG	r12
	POPREG	r11
	POPREG	r10
	POPREG	r9
	POPREG	r8
	POPREG	rdi
	POPREG	rsi
	POPREG	rbp
	POPREG	rbx
	POPREG	rdx
	POPREG	rcx
	POPREG	rax
	popfq
	.cfi_adjust_cfa_offset -8
	ret	$KGO_PFRAME_REDZONE
	.globl	kgo_asyncpreempt_end
	.hidden	kgo_asyncpreempt_end
kgo_asyncpreempt_end:
	.cfi_endproc
	.size	kgo_asyncpreempt, . - kgo_asyncpreempt

/*
 * void kgo_traceback_ctx(const void *ctx, void (*fn)(void *), void *arg)
 *
 * Call fn(arg) through a frame that unwinders read as the caller of the
 * switch that saved @ctx (a parked or runnable goroutine's context,
 * above): its return address, rsp and callee-saved registers are the
 * ones in @ctx, so an unwind begun in @fn (_Unwind_Backtrace) walks on
 * up that goroutine's stack, which nothing here writes to. kgo_dump's
 * way to a backtrace of a goroutine that is not running.
 */
	.globl	kgo_traceback_ctx
	.hidden	kgo_traceback_ctx
	.type	kgo_traceback_ctx, @function
kgo_traceback_ctx:
	.cfi_startproc
	PUSHREG	rbx
	movq	%rdi, %rbx
	.cfi_remember_state
	.cfi_def_cfa rbx, KGO_CTX_SIZE
	.cfi_offset rip, -8
	.cfi_offset rbp, -16
	.cfi_offset rbx, -24
	.cfi_offset r12, -32
	.cfi_offset r13, -40
	.cfi_offset r14, -48
	.cfi_offset r15, -56
	movq	%rdx, %rdi
	call	*%rsi
	.cfi_restore_state
	POPREG	rbx
	ret
	.cfi_endproc
	.globl	kgo_traceback_ctx_end
	.hidden	kgo_traceback_ctx_end
kgo_traceback_ctx_end:
	.size	kgo_traceback_ctx, . - kgo_traceback_ctx

	.section .note.GNU-stack, "", @progbits
