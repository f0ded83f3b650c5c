/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * Where every goroutine begins. The kernel enters here with rsp at the
 * top of the goroutine's stack (16-byte aligned), rdi = arg[0] of its
 * spawn entry (the kgo_g record), rsi = arg[1], rdx = its goroutine id,
 * and no return address: kgo_gostart1 never returns.
 */
	.text
	.globl	kgo_gostart
	.hidden	kgo_gostart
	.type	kgo_gostart, @function
kgo_gostart:
	.cfi_startproc
	.cfi_undefined rip		/* outermost frame for unwinders */
	xorl	%ebp, %ebp
	call	kgo_gostart1
	ud2
	.cfi_endproc
	.size	kgo_gostart, . - kgo_gostart

	.section .note.GNU-stack, "", @progbits
