// SPDX-License-Identifier: GPL-2.0
/*
 * Blocking hand-off: Go's entersyscall, retake of a P in a system call,
 * handoffp and exitsyscall, with no wrapper around the system call.
 *
 * Go learns that a goroutine enters a system call because its runtime
 * wraps every one. The kernel knows better: each M carries a preempt
 * notifier, and when the M is switched out because it blocked (in any
 * system call, or a page fault that waits for I/O), sched_out marks it
 * "in a system call" (Go's _Psyscall) and, if its P has work waiting and
 * sysmon is asleep for long, kicks sysmon through an irq_work. sched_out
 * runs inside the scheduler: it neither sleeps nor touches user memory.
 *
 * sysmon takes the P of an M that has been blocked for a sysmon tick
 * (20 us), unless the user library is in a critical section on that M:
 * the library registers, with MSTART, a per-thread word that is non-zero
 * while the M's code uses its P (Go's m.locks), and sysmon reads it with
 * the process's mm borrowed, never faulting. The claim is a compare-and-
 * swap on the M's state word, which carries a count of blocks, so an M
 * that woke (sched_in swaps the state back) or blocked again keeps its P.
 *
 * Before the claim, sysmon queues a task work (TWA_RESUME: the system
 * call is not interrupted) that runs when the M returns to user mode. If
 * the M lost its P, that work makes the goroutine call the user library's
 * stub (gmp_create.preempt_pc), exactly as a preemption does: the stub
 * saves the goroutine's whole state and yields through GOSCHED, where the
 * kernel sees an M without a P and does Go's exitsyscall: take an idle P
 * and go on with the goroutine, or queue it globally and park the M.
 *
 * Lifetime: the notifier must live as long as its task can be switched,
 * which may be after the instance is gone (an M thread still exiting when
 * the last file reference is dropped). So it is a small object of its own
 * with two references, the instance's and the task's. The instance drops
 * its one after unhooking the M under RCU (notifiers run with preemption
 * off); the task drops its one at its last switch (TASK_DEAD), and the
 * object is freed from a work item reached through an irq_work, since
 * nothing can be freed from inside the scheduler. Each object holds a
 * module reference: the notifier's ops are module text.
 */
#include <linux/file.h>
#include <linux/irq_work.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/task_stack.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "gmp_compat.h"
#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_handoff.h"
#include "gmp_netpoll.h"
#include "gmp_ring.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_sysmon.h"

/* An M blocked for less than this keeps its P (Go: one sysmon tick). */
#define GMP_HANDOFF_MIN_NS	(20 * NSEC_PER_USEC)
/* With no work waiting and idle P's about, Go waits this long. */
#define GMP_HANDOFF_IDLE_NS	(10 * NSEC_PER_MSEC)

#ifdef GMP_HAVE_PREEMPT_NOTIFIERS

struct gmp_mnote {
	struct preempt_notifier pn;
	struct gmp_m __rcu *m;	/* NULL once the instance let go */
	refcount_t ref;		/* the instance's and the task's */
	struct llist_node reap;
	struct callback_head unhook;	/* the task's: see gmp_handoff_detach() */
};

static LLIST_HEAD(gmp_reap_list);

static void gmp_mnote_free(struct gmp_mnote *n)
{
	kfree(n);
	module_put(THIS_MODULE);
}

static void gmp_reap_workfn(struct work_struct *work)
{
	struct gmp_mnote *n, *next;

	llist_for_each_entry_safe(n, next, llist_del_all(&gmp_reap_list), reap)
		gmp_mnote_free(n);
}

static DECLARE_WORK(gmp_reap_work, gmp_reap_workfn);

static void gmp_reap_irqfn(struct irq_work *work)
{
	schedule_work(&gmp_reap_work);
}

static DEFINE_IRQ_WORK(gmp_reap_irq, gmp_reap_irqfn);

/*
 * The last reference went: free it (and the module reference) from a
 * work. Preemption off (the scheduler's, or the caller's own) from the
 * drop through irq_work_queue(): the reaper on another CPU may free the
 * object and put the module's last reference in between, and
 * gmp_handoff_exit() waits for such a putter with a grace period before
 * it syncs the irq_work.
 */
static void gmp_mnote_put(struct gmp_mnote *n)
{
	lockdep_assert_preemption_disabled();
	if (refcount_dec_and_test(&n->ref)) {
		llist_add(&n->reap, &gmp_reap_list);
		irq_work_queue(&gmp_reap_irq);
	}
}

/*
 * Task work, in the M's own task: take its notifier off the task, which
 * only the task itself may do safely, and drop the task's reference.
 */
static void gmp_mnote_unhook(struct callback_head *cb)
{
	struct gmp_mnote *n = container_of(cb, struct gmp_mnote, unhook);

	preempt_disable();
	preempt_notifier_unregister(&n->pn);
	/*
	 * Under preempt_disable(): the reaper's grace period waits for the
	 * put, and only the return is left in module text after it.
	 */
	gmp_mnote_put(n);
	preempt_enable();
}

/* The M blocked: it is in a system call now, as far as its P goes. */
static void gmp_entersyscall(struct gmp_m *m, struct gmp_p *pp)
{
	struct gmp_sched *s = m->s;
	int v = atomic_read(&m->sysstate);

	if ((v & GMP_MSTATE_MASK) != GMP_MRUN)
		return;		/* its P was taken already */
	WRITE_ONCE(m->syscallwhen, ktime_get_mono_fast_ns());
	v = ((v + GMP_MSTATE_SEQ) & ~GMP_MSTATE_MASK) | GMP_MSYSCALL;
	atomic_set_release(&m->sysstate, v);
	/* Work is waiting behind it and sysmon sleeps for long: wake it. */
	if (READ_ONCE(s->sysmon_delay_us) > 2 * GMP_SYSMON_MIN_US &&
	    (!gmp_runqempty_hint(pp) || READ_ONCE(s->runqsize) ||
	     gmp_netpoll_pending(s)))
		gmp_sysmon_kick(s);
}

static void gmp_sched_out(struct preempt_notifier *pn,
			  struct task_struct *next)
{
	struct gmp_mnote *n = container_of(pn, struct gmp_mnote, pn);
	struct gmp_p *pp;
	struct gmp_m *m;

	if (unlikely(gmp_current_dead())) {
		/* Its last switch: this is never called again. */
		gmp_mnote_put(n);
		return;
	}
	m = rcu_dereference_sched(n->m);
	if (!m || m->ingmp || !m->runs_g || !gmp_task_blocked(current))
		return;
	/*
	 * Blocked inside a uprobe's breakpoint handling: its way back to
	 * user mode steps an instruction out of line, and the exitsyscall
	 * work could not move rip then. Keep the P (as Go keeps it for an
	 * M that is not at a safe point). The step is set up only after
	 * the handler looked the probe up under the mmap lock, where it
	 * most often sleeps: so any block inside a trap counts, not only
	 * one that is already stepping.
	 */
	if (gmp_in_trap(task_pt_regs(current)) || gmp_uprobe_stepping(current))
		return;
	pp = READ_ONCE(m->p);
	if (pp)
		gmp_entersyscall(m, pp);
}

/* Running again: if sysmon has not taken the P, the M keeps it. */
static void gmp_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct gmp_mnote *n = container_of(pn, struct gmp_mnote, pn);
	struct gmp_m *m = rcu_dereference_sched(n->m);
	int v;

	if (!m)
		return;
	v = atomic_read(&m->sysstate);
	if ((v & GMP_MSTATE_MASK) == GMP_MSYSCALL)
		atomic_cmpxchg(&m->sysstate, v,
			       (v & ~GMP_MSTATE_MASK) | GMP_MRUN);
}

static struct preempt_ops gmp_preempt_ops = {
	.sched_in = gmp_sched_in,
	.sched_out = gmp_sched_out,
};

/* Called by the M itself (MSTART), in process context. */
int gmp_handoff_register(struct gmp_m *m)
{
	struct gmp_mnote *n;

	n = kzalloc(sizeof(*n), GMP_GFP);
	if (!n)
		return -ENOMEM;
	__module_get(THIS_MODULE);
	refcount_set(&n->ref, 2);
	RCU_INIT_POINTER(n->m, m);
	preempt_notifier_init(&n->pn, &gmp_preempt_ops);
	/* The scheduler walks this task's list: no switch in between. */
	preempt_disable();
	preempt_notifier_register(&n->pn);
	preempt_enable();
	m->note = n;
	return 0;
}

/*
 * The instance goes: unhook every M's notifier, wait until no notifier
 * can still be looking at an M, then drop the instance's references. A
 * thread that lives on (its MSTART returned, or it exec'd another program
 * while running a goroutine) must not keep the notifier, and the module
 * reference, for the rest of its life: task work takes it off in the
 * task itself. A task already past its task work (exiting) drops it at
 * its last switch instead.
 */
void gmp_handoff_detach(struct gmp_sched *s)
{
	unsigned long tid;
	struct gmp_m *m;
	bool any = false;

	xa_for_each(&s->ms, tid, m) {
		if (m->note) {
			RCU_INIT_POINTER(m->note->m, NULL);
			any = true;
		}
	}
	if (!any)
		return;
	synchronize_rcu();
	gmp_sysmon_kick_sync(s);
	xa_for_each(&s->ms, tid, m) {
		if (!m->note)
			continue;
		init_task_work(&m->note->unhook, gmp_mnote_unhook);
		task_work_add(m->task, &m->note->unhook, TWA_NONE);
		if (refcount_dec_and_test(&m->note->ref))
			gmp_mnote_free(m->note);
		m->note = NULL;
	}
}

bool gmp_handoff_supported(void)
{
	return true;
}

void gmp_handoff_init(void)
{
	preempt_notifier_inc();
}

void gmp_handoff_exit(void)
{
	/*
	 * No object is left (each held a module reference), but the putter
	 * of the last may still be about to queue gmp_reap_irq: wait for it
	 * to leave its preemption-off section, then flush the tail.
	 */
	synchronize_rcu();
	irq_work_sync(&gmp_reap_irq);
	flush_work(&gmp_reap_work);
	preempt_notifier_dec();
}

#else /* !GMP_HAVE_PREEMPT_NOTIFIERS */

int gmp_handoff_register(struct gmp_m *m)
{
	return 0;
}

void gmp_handoff_detach(struct gmp_sched *s)
{
}

bool gmp_handoff_supported(void)
{
	return false;
}

void gmp_handoff_init(void)
{
}

void gmp_handoff_exit(void)
{
}

#endif /* GMP_HAVE_PREEMPT_NOTIFIERS */

/*
 * The M's way back to user mode after sysmon took its P: the goroutine
 * must not run on without one, so make it call the stub, which yields
 * (GOSCHED, on an M without a P: gmp_exitsyscall). A frame a uprobe or
 * a debugger steps, or that a trap's signal is about to describe, is
 * left as it is: the M waits here for a P instead.
 */
static void gmp_exitsyscall_frame(struct gmp_sched *s, struct gmp_m *m)
{
	struct pt_regs *regs = current_pt_regs();

	if ((current->flags & PF_EXITING) || current->mm != s->mm)
		return;
	if (gmp_uprobe_stepping(current) || gmp_frame_held(regs)) {
		if (!gmp_exitsyscall_inplace(s, m) ||
		    fatal_signal_pending(current) || READ_ONCE(s->exiting))
			return;
		pr_warn_ratelimited("gmp: pid %d: goroutine %u lost its P while it was stepped and cannot go on\n",
				    task_tgid_nr(current), m->syscallg);
		force_sig(SIGSEGV);
		return;
	}
	if (gmp_restart_syscall_now(regs) && !gmp_inject_call(s, regs))
		return;
	/* Its stack cannot take the call: as if the goroutine faulted. */
	pr_warn_ratelimited("gmp: pid %d: goroutine %u lost its P in a system call and its stack cannot take the call back\n",
			    task_tgid_nr(current), m->syscallg);
	force_sig(SIGSEGV);
}

static void gmp_exitsyscall_twork(struct callback_head *cb)
{
	struct gmp_m *m = container_of(cb, struct gmp_m, syscall_work);
	struct gmp_sched *s = m->s;
	struct file *file = s->file;
	int v = atomic_read_acquire(&m->sysstate);

	if ((v & GMP_MSTATE_MASK) == GMP_MHANDOFF) {
		/*
		 * sysmon claimed the P under sched.lock and gives it back
		 * before dropping the lock: once we have been through it,
		 * the P and the goroutine's GMP_GSYSCALL are settled.
		 */
		m->ingmp = true;	/* on RT the lock may block: not a syscall */
		spin_lock(&s->lock);
		spin_unlock(&s->lock);
		atomic_set(&m->sysstate, (v & ~GMP_MSTATE_MASK) | GMP_MRUN);
		gmp_exitsyscall_frame(s, m);
		m->ingmp = false;
	}
	atomic_set_release(&m->syscall_queued, 0);
	fput(file);	/* last: the instance may go with it */
}

/* Have @m run gmp_exitsyscall_twork on its way back to user mode. */
static bool gmp_queue_exitsyscall(struct gmp_sched *s, struct gmp_m *m)
{
	if (atomic_cmpxchg(&m->syscall_queued, 0, 1))
		return true;	/* queued before and not run yet: it will */
	return gmp_twork_add(s, m, &m->syscall_work, gmp_exitsyscall_twork,
			     TWA_RESUME, &m->syscall_queued);
}

/*
 * The user library's "in the runtime" count of blocked @m, read without
 * faulting through the process's mm: non-zero (or unreadable) means its
 * code is using its P and it keeps it.
 */
static bool gmp_m_unlocked(struct gmp_sched *s, struct gmp_m *m)
{
	u32 locks = 1;

	if (!mmget_not_zero(s->mm))
		return false;
	kthread_use_mm(s->mm);
	if (copy_from_user_nofault(&locks, m->locks, sizeof(locks)))
		locks = 1;
	kthread_unuse_mm(s->mm);
	mmput(s->mm);
	return !locks;
}

/*
 * Go's retake for a P whose M is in a system call: hand it off once the
 * M has been blocked for a sysmon tick, if there is work for it or
 * nobody else to take new work (after 10 ms in any case). sysmon's
 * thread. Returns whether it took the P.
 */
bool gmp_handoff_retake(struct gmp_sched *s, struct gmp_p *pp,
			struct gmp_m *m, u64 now)
{
	int v = atomic_read_acquire(&m->sysstate);
	u64 when, blocked;
	bool work;

	if ((v & GMP_MSTATE_MASK) != GMP_MSYSCALL || !s->handoff || !m->locks)
		return false;
	when = READ_ONCE(m->syscallwhen);
	blocked = now > when ? now - when : 0;
	if (blocked < GMP_HANDOFF_MIN_NS)
		return false;
	work = !gmp_runqempty(pp) || READ_ONCE(s->runqsize) ||
	       gmp_ring_pending(s) || gmp_netpoll_pending(s);
	if (!work && blocked < GMP_HANDOFF_IDLE_NS &&
	    (READ_ONCE(s->npidle) || atomic_read(&s->nmspinning)))
		return false;
	if (!gmp_m_unlocked(s, m) || !gmp_queue_exitsyscall(s, m))
		return false;
	return gmp_handoffp(s, m, pp, v);
}
