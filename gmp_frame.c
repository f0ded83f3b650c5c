// SPDX-License-Identifier: GPL-2.0
/*
 * User register frames: checking and loading them, and calls injected
 * into them. Every goroutine frame, built from its slot in the G table
 * (user memory), passes gmp_frame_check() before gmp_arch_frame_load()
 * puts it in pt_regs; the only other frame loaded is an M's g0 frame,
 * saved from that thread's own pt_regs. sysmon's task works (preemption,
 * the way back from a lost P) make a goroutine call the user library's
 * stub as if its code had called it: gmp_inject_call() is the one place
 * that writes to a goroutine's stack.
 */
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <asm/processor.h>
#include <asm/ptrace.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

#include "gmp_compat.h"
#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_shm.h"

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

/* --- Calls injected into a goroutine's frame ------------------------ */

/*
 * Did the task with user frame @regs enter the kernel through a trap with
 * no error code (int3: a breakpoint, a uprobe's among them; a debug or
 * invalid-opcode trap)? Those leave orig_ax at -1; a system call leaves
 * its number there and a page fault its error code.
 */
bool gmp_in_trap(const struct pt_regs *regs)
{
	return (long)regs->orig_ax == -1;
}

/*
 * The -ERESTART* code of the system call the current task is returning
 * from with user frame @regs, which the signal code will restart on the
 * way to user mode by rewinding rip after the task works have run; 0 if
 * there is no system call to restart.
 */
long gmp_syscall_restarting(struct pt_regs *regs)
{
	long ret;

	if (syscall_get_nr(current, regs) < 0)
		return 0;
	ret = syscall_get_return_value(current, regs);
	switch (ret) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
	case -ERESTART_RESTARTBLOCK:
		return ret;
	}
	return 0;
}

/*
 * The signals an instruction raises itself (a fault, a breakpoint, a
 * single step): their handler, or a debugger, is told about the frame
 * the instruction left, and must find it unchanged.
 */
#define GMP_SYNC_SIGNALS (sigmask(SIGSEGV) | sigmask(SIGBUS) |		\
			  sigmask(SIGILL) | sigmask(SIGTRAP) |		\
			  sigmask(SIGFPE) | sigmask(SIGSYS))

/*
 * True if the current thread has a trap's signal still to deliver. The
 * task works run before the signal code takes a signal, so a call put
 * into the frame now would be what the handler sees: gdb, seeing its
 * breakpoint's SIGTRAP, would back rip up by one into the stub. Only
 * the thread itself queues these (a fault's signal is forced, never
 * blocked; one sent by kill() and blocked is no trap's and would defer
 * forever), so what the lock shows stays true until it returns to user
 * mode.
 */
static bool gmp_trap_signal_pending(void)
{
	unsigned long pending;

	if (!task_sigpending(current))
		return false;
	spin_lock_irq(&current->sighand->siglock);
	pending = current->pending.signal.sig[0] & GMP_SYNC_SIGNALS &
		  ~current->blocked.sig[0];
	spin_unlock_irq(&current->sighand->siglock);
	return pending;
}

/*
 * The current thread's user frame @regs must stay as it is for a while:
 * a debugger single-steps it (TF), or a trap's signal is about to
 * describe it. A thread that sets TF on itself is never preempted.
 */
bool gmp_frame_held(const struct pt_regs *regs)
{
	return (regs->flags & X86_EFLAGS_TF) || gmp_trap_signal_pending();
}

/*
 * Where the preemption call's return address goes for the user frame
 * @regs: 0 and *@newsp, or why the frame cannot take the call now. These
 * are left alone (-EAGAIN), and sysmon asks again on its next pass:
 *
 * - a system call about to be restarted, whose rip the signal code
 *   rewinds after the task works have run;
 * - a uprobe stepping an instruction out of line, rip in its XOL slot;
 * - a thread being single-stepped (TF), or with a trap's signal pending:
 *   the signal must describe the instruction that raised it.
 */
int gmp_preempt_frame(struct pt_regs *regs, u64 pc, unsigned long *newsp)
{
	unsigned long sp = regs->sp - GMP_PREEMPT_REDZONE - sizeof(u64);

	if (!pc || !user_mode(regs))
		return -EINVAL;
	if (gmp_syscall_restarting(regs) || gmp_uprobe_stepping(current) ||
	    gmp_frame_held(regs))
		return -EAGAIN;
	if (regs->sp < sp || !gmp_user_addr_ok(sp) ||
	    !gmp_user_addr_ok(regs->sp))
		return -EFAULT;
	*newsp = sp;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_preempt_frame);

/*
 * Make the goroutine in the M's user frame @regs call the stub, as if
 * the interrupted code had called it: 0, or why the frame cannot take it.
 * Both sysmon's task works (preemption, hand-off) go through here.
 */
int gmp_inject_call(struct gmp_sched *s, struct pt_regs *regs)
{
	unsigned long sp;
	int ret = gmp_preempt_frame(regs, s->preempt_pc, &sp);

	if (ret)
		return ret;
	if (put_user(regs->ip, (unsigned long __user *)sp))
		return -EFAULT;
	regs->sp = sp;
	regs->ip = s->preempt_pc;
	return 0;
}

/*
 * Queue @work (with @fn) on @m, whose @queued flag the caller has just
 * set. The work holds a file reference, so the instance outlives it; on
 * failure (the file or the M going away) the flag is cleared again.
 */
bool gmp_twork_add(struct gmp_sched *s, struct gmp_m *m,
		   struct callback_head *work, task_work_func_t fn,
		   enum task_work_notify_mode mode, atomic_t *queued)
{
	if (!gmp_get_file_live(s->file))
		goto undo;
	init_task_work(work, fn);
	if (task_work_add(m->task, work, mode)) {
		fput(s->file);	/* the M is exiting */
		goto undo;
	}
	return true;
undo:
	atomic_set(queued, 0);
	return false;
}

/*
 * A system call interrupted by a signal with no handler to run is
 * restarted by the signal code, which rewinds rip after the task works
 * have run. Do it now instead, so the stub call can go in front of the
 * restarted call: when the goroutine runs again, the stub returns to the
 * system call instruction. (With a handler to run, the call now restarts
 * after the handler instead of failing with EINTR.)
 */
bool gmp_restart_syscall_now(struct pt_regs *regs)
{
	long ret = gmp_syscall_restarting(regs);

	if (!ret)
		return true;
	if (in_ia32_syscall())
		return false;
	/*
	 * restart_syscall() continues from this thread's restart_block
	 * (the sleep's end, the futex word, ...): the goroutine makes that
	 * call on this M, as gmp_exitsyscall() keeps every goroutine whose
	 * system call lost its P on its M.
	 */
	regs->ax = ret == -ERESTART_RESTARTBLOCK ? __NR_restart_syscall :
						     regs->orig_ax;
	regs->ip -= 2;
	return true;
}
