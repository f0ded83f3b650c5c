// SPDX-License-Identifier: GPL-2.0
/*
 * Checking and loading user register frames. Every goroutine frame, built
 * from its slot in the G table (user memory), passes gmp_frame_check()
 * before gmp_arch_frame_load() puts it in pt_regs; the only other frame
 * loaded is an M's g0 frame, saved from that thread's own pt_regs.
 */
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/module.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <asm/processor.h>
#include <asm/ptrace.h>

#include "gmp_core.h"
#include "gmp_frame.h"

static void __maybe_unused gmp_frame_layout_pins(void)
{
	BUILD_BUG_ON(offsetof(struct pt_regs, r15) != GMP_PTREGS_GPRS);
	BUILD_BUG_ON(offsetof(struct pt_regs, di) != GMP_PTREGS_GPRS + 14 * 8);
	BUILD_BUG_ON(offsetof(struct pt_regs, orig_ax) != GMP_PTREGS_ORIG_AX);
	BUILD_BUG_ON(offsetof(struct pt_regs, ip) != GMP_PTREGS_IP);
	BUILD_BUG_ON(offsetof(struct pt_regs, flags) != GMP_PTREGS_FLAGS);
	BUILD_BUG_ON(offsetof(struct pt_regs, sp) != GMP_PTREGS_SP);

	BUILD_BUG_ON(offsetof(struct gmp_frame, r15) != GMP_FRAME_GPRS);
	BUILD_BUG_ON(offsetof(struct gmp_frame, di) != GMP_FRAME_GPRS + 14 * 8);
	BUILD_BUG_ON(offsetof(struct gmp_frame, ip) != GMP_FRAME_IP);
	BUILD_BUG_ON(offsetof(struct gmp_frame, flags) != GMP_FRAME_FLAGS);
	BUILD_BUG_ON(offsetof(struct gmp_frame, sp) != GMP_FRAME_SP);
	BUILD_BUG_ON(sizeof(struct gmp_frame) != GMP_FRAME_SIZE);

	BUILD_BUG_ON(GMP_EFLAGS_USER != (X86_EFLAGS_CF | X86_EFLAGS_PF |
					 X86_EFLAGS_AF | X86_EFLAGS_ZF |
					 X86_EFLAGS_SF | X86_EFLAGS_DF |
					 X86_EFLAGS_OF | X86_EFLAGS_AC));
	BUILD_BUG_ON(GMP_EFLAGS_ALWAYS != (X86_EFLAGS_IF | X86_EFLAGS_FIXED));
}

/*
 * A user address a frame may point at: above the first page (NULL
 * dereferences stay faults in user space, not surprises) and below
 * TASK_SIZE_MAX, so canonical and never a kernel address.
 */
bool gmp_user_addr_ok(unsigned long addr)
{
	return addr >= PAGE_SIZE && addr < TASK_SIZE_MAX;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_user_addr_ok);

int gmp_frame_check(const struct gmp_frame *f)
{
	if (!gmp_user_addr_ok(f->ip) || !gmp_user_addr_ok(f->sp))
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_frame_check);

/*
 * Load @f into @regs if it passes gmp_frame_check(); returns the check's
 * result and leaves @regs alone on failure.
 */
int gmp_frame_load(struct pt_regs *regs, const struct gmp_frame *f)
{
	int ret = gmp_frame_check(f);

	if (ret)
		return ret;
	gmp_arch_frame_load(regs, f);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_frame_load);

/* Save @regs into @dst: every register, as gmp_frame_load() restores. */
void gmp_frame_save(const struct pt_regs *regs, struct gmp_frame *dst)
{
	gmp_arch_frame_save(regs, dst);
}
EXPORT_SYMBOL_IF_KUNIT(gmp_frame_save);

/*
 * The frame that resumes goroutine @gidx from its slot @gs on P @pid (the
 * uapi's resume convention): each shared word is read once, every other
 * register is zero. gmp_frame_load() checks it.
 */
void gmp_resume_frame(const struct gmp_gslot *gs, u32 gidx, u32 pid,
		      struct gmp_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->ip = READ_ONCE(gs->pc);
	f->sp = READ_ONCE(gs->sp);
	f->di = READ_ONCE(gs->arg);
	f->si = pid;
	f->dx = gidx;
	f->flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_resume_frame);
