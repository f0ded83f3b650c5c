// SPDX-License-Identifier: GPL-2.0
/*
 * sysmon: Go's system monitor, one kernel thread per instance that holds
 * no P. It wakes every 20 us to 10 ms (backing off while it finds nothing
 * to do, asleep while every P is idle, woken early by an M that blocks
 * with work waiting), preempts a goroutine that has run for longer than
 * the instance's slice without a switch (Go's retake and preemptone), and
 * takes the P of an M blocked in the kernel (gmp_handoff.c).
 *
 * Preemption is asynchronous, as Go's is since 1.14, but without a signal:
 * sysmon queues a task_work on the M with TWA_SIGNAL, which kicks the M
 * out of user mode; on its way back, in its own context, the work makes
 * the M call the user library's preemption stub (gmp_create.preempt_pc)
 * as if the interrupted code had called it from below its red zone. The
 * stub saves everything, yields, and returns to the interrupted code once
 * the goroutine runs again, maybe on another M (gmp_uapi.h has the
 * contract). The kernel changes rip and rsp of the M's user frame and
 * writes one word to the goroutine's stack, nothing else.
 *
 * Lifetime: a queued work holds a reference to the instance's file, so the
 * instance (and the M the work is embedded in) cannot be released before
 * the work has run, and the module cannot go before the file does. The
 * work drops the reference last; the final fput is deferred by the VFS.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/task_work.h>

#include "gmp_compat.h"
#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_handoff.h"
#include "gmp_netpoll.h"
#include "gmp_ring.h"
#include "gmp_sched.h"
#include "gmp_sysmon.h"
#include "gmp_trace_events.h"

#define GMP_SYSMON_IDLE_CYCLES	50	/* then start doubling the delay */

/*
 * The task work, run by the M itself on its way to user mode. It injects
 * the call only if the M still runs the goroutines sysmon saw and the
 * same one is still on (schedtick unchanged): the M may have switched or
 * entered the scheduler since.
 */
static void gmp_preempt_twork(struct callback_head *cb)
{
	struct gmp_m *m = container_of(cb, struct gmp_m, preempt_work);
	struct gmp_sched *s = m->s;
	struct file *file = s->file;

	m->ingmp = true;	/* blocking in here is not a system call */
	/* One call per goroutine run: a second one would nest in the first. */
	if (!(current->flags & PF_EXITING) && current->mm == s->mm &&
	    m->runs_g && m->p && !READ_ONCE(s->exiting) &&
	    READ_ONCE(m->p->sh->schedtick) == m->preempt_tick &&
	    !(m->preempt_injected && m->preempt_injected_tick == m->preempt_tick) &&
	    !gmp_inject_call(s, current_pt_regs())) {
		m->preempt_injected = true;
		m->preempt_injected_tick = m->preempt_tick;
		atomic64_inc(&s->npreempt);
		/*
		 * Start a new slice: a G that takes over this one's slice
		 * through runnext (inheritTime), switched to in user space
		 * without the M entering the scheduler, must be preemptible
		 * a slice from now, not refused as this call's goroutine. The
		 * M is in the kernel: its user code cannot race this store.
		 */
		WRITE_ONCE(m->p->sh->schedtick, m->preempt_tick + 1);
	}
	m->ingmp = false;
	atomic_set_release(&m->preempt_queued, 0);
	fput(file);	/* last: the instance may go with it */
}

/* Go's preemptone: ask @m to switch away from the goroutine at @tick. */
static bool gmp_preemptone(struct gmp_sched *s, struct gmp_m *m, u32 tick)
{
	if (!s->preempt_pc || atomic_cmpxchg(&m->preempt_queued, 0, 1))
		return false;
	m->preempt_tick = tick;
	if (!gmp_twork_add(s, m, &m->preempt_work, gmp_preempt_twork,
			   TWA_SIGNAL, &m->preempt_queued))
		return false;
	atomic64_inc(&s->npreemptreq);
	if (trace_gmp_preempt_enabled()) {
		struct gmp_p *pp = READ_ONCE(m->p);

		trace_gmp_preempt(s->tgid, pp ? pp->id : U32_MAX,
				  pp ? READ_ONCE(pp->sh->curg) : 0, m->tid);
	}
	return true;
}

/*
 * Go's retake, for running P's: one whose schedtick has not moved for a
 * slice is running the same goroutine all along, so preempt it; one
 * procresize took away is preempted at once. An M that is asleep in a
 * system call is not preempted (that would only restart the call).
 * Returns whether it asked for anything.
 */
static bool gmp_retake(struct gmp_sched *s, u64 now)
{
	bool did = false;
	u32 i;

	for (i = 0; i < s->maxprocs; i++) {
		struct gmp_p *pp = s->allp[i];
		struct gmp_m *m;
		u32 t;

		spin_lock(&s->lock);
		m = pp->status == GMP_PRUNNING ? pp->m : NULL;
		spin_unlock(&s->lock);
		/* M's are freed with the instance only: m stays valid. */
		if (!m)
			continue;
		if (gmp_handoff_retake(s, pp, m, now)) {
			did = true;
			continue;
		}
		if (!READ_ONCE(m->runs_g) || gmp_task_blocked(m->task))
			continue;
		t = READ_ONCE(pp->sh->schedtick);
		/*
		 * A P seen running for the first time starts its slice now:
		 * its schedtick may still be 0, the zero sysmontick says, and
		 * schedwhen 0 is boot, not when the goroutine started.
		 */
		if (t != pp->sysmontick || !pp->schedwhen) {
			pp->sysmontick = t;
			pp->schedwhen = now;
			if (!READ_ONCE(pp->sh->retire))
				continue;
		}
		if (now - pp->schedwhen < s->slice_ns &&
		    !READ_ONCE(pp->sh->retire))
			continue;
		did |= gmp_preemptone(s, m, t);
	}
	return did;
}

/*
 * Every P idle, no goroutine queued and no wired goroutine waiting for
 * one (or the instance exiting): nothing can need preempting until an M
 * takes a P. Sleep until pidleget() or a goroutine queued globally wakes
 * us (Go's sysmonwait). Returns whether it slept.
 */
static bool gmp_sysmon_wait(struct gmp_sched *s)
{
	bool wait, ring = gmp_ring_pending(s);

	spin_lock(&s->lock);
	wait = (s->npidle >= s->nprocs && list_empty(&s->lockedwait) &&
		!s->runqsize && !ring) || s->exiting;
	if (wait)
		s->sysmonwait = true;
	spin_unlock(&s->lock);
	if (wait)
		wait_event_idle(s->sysmon_wait, !READ_ONCE(s->sysmonwait) ||
				kthread_should_stop());
	return wait;
}

/* pidleget() took a P: wake sysmon if it sleeps. sched.lock held. */
void gmp_sysmon_wake(struct gmp_sched *s)
{
	lockdep_assert_held(&s->lock);
	if (s->sysmonwait) {
		s->sysmonwait = false;
		/* Stale since every P went idle: a park may read it now. */
		WRITE_ONCE(s->state->sysmontime, ktime_get_ns());
		wake_up(&s->sysmon_wait);
	}
}

/* A blocked M's kick (gmp_sysmon_kick()) runs: end sysmon's sleep. */
static void gmp_sysmon_kickfn(struct irq_work *work)
{
	struct gmp_sched *s = container_of(work, struct gmp_sched, sysmon_kick);

	WRITE_ONCE(s->sysmon_kicked, true);
	wake_up_process(s->sysmon);
}

/*
 * An M blocked with work waiting behind it (sched_out, gmp_handoff.c):
 * wake sysmon now rather than at the end of its sleep. Callable with
 * preemption off, from the scheduler's own switch path.
 */
void gmp_sysmon_kick(struct gmp_sched *s)
{
	irq_work_queue(&s->sysmon_kick);
}

/* Wait until no kick queued before is still running. */
void gmp_sysmon_kick_sync(struct gmp_sched *s)
{
	irq_work_sync(&s->sysmon_kick);
}

/*
 * Sleep @us (a quarter more if that saves a wake-up), or until a blocked
 * M's sched_out kicks us (gmp_handoff.c) or we are told to stop. The
 * timer expires in hard interrupt context: on PREEMPT_RT a soft one
 * would wait for ksoftirqd, an ordinary thread the M's can crowd out.
 */
static void gmp_sysmon_sleep(struct gmp_sched *s, u32 us)
{
	ktime_t exp = ktime_add_us(ktime_get(), us);

	set_current_state(TASK_IDLE);
	if (!READ_ONCE(s->sysmon_kicked) && !kthread_should_stop())
		schedule_hrtimeout_range(&exp, (u64)us * NSEC_PER_USEC / 4,
					 HRTIMER_MODE_ABS_HARD);
	__set_current_state(TASK_RUNNING);
}

static int gmp_sysmon(void *data)
{
	struct gmp_sched *s = data;
	u32 max = clamp_t(u64, div_u64(s->slice_ns, 2 * NSEC_PER_USEC),
			  GMP_SYSMON_MIN_US, GMP_SYSMON_MAX_US);
	u32 idle = 0, delay = GMP_SYSMON_MIN_US;

	while (!kthread_should_stop()) {
		if (idle == 0)
			delay = GMP_SYSMON_MIN_US;
		else if (idle > GMP_SYSMON_IDLE_CYCLES)
			delay = min(2 * delay, max);
		WRITE_ONCE(s->sysmon_delay_us, delay);
		gmp_sysmon_sleep(s, delay);
		WRITE_ONCE(s->state->sysmontime, ktime_get_ns());
		WRITE_ONCE(s->nsysmonwake, s->nsysmonwake + 1);
		if (READ_ONCE(s->sysmon_kicked)) {
			WRITE_ONCE(s->sysmon_kicked, false);
			idle = 0;
		}
		if (gmp_sysmon_wait(s)) {
			WRITE_ONCE(s->state->sysmontime, ktime_get_ns());
			idle = 0;
			continue;
		}
		if (gmp_startlockedm_idle(s))
			idle = 0;
		gmp_checkmcount(s);
		if (gmp_netpoll_retake(s))
			idle = 0;
		if (gmp_retake(s, ktime_get_ns()))
			idle = 0;
		else
			idle++;
	}
	return 0;
}

/* Before any M can register: its sched_out may kick sysmon. */
void gmp_sysmon_init(struct gmp_sched *s)
{
	init_waitqueue_head(&s->sysmon_wait);
	/*
	 * Hard: on PREEMPT_RT a plain irq_work runs in a kthread, one hop
	 * more between the blocked M and sysmon. The callback only stores
	 * and wakes, which hard interrupt context allows.
	 */
	s->sysmon_kick = IRQ_WORK_INIT_HARD(gmp_sysmon_kickfn);
}

int gmp_sysmon_start(struct gmp_sched *s)
{
	struct task_struct *t;

	t = kthread_create(gmp_sysmon, s, "gmp-sysmon/%d",
			   task_tgid_nr(current));
	if (IS_ERR(t))
		return PTR_ERR(t);
	get_task_struct(t);
	s->sysmon = t;
	wake_up_process(t);
	return 0;
}

/* After gmp_handoff_detach(): no blocked M's kick may wake it after this. */
void gmp_sysmon_stop(struct gmp_sched *s)
{
	if (!s->sysmon)
		return;
	kthread_stop(s->sysmon);
	put_task_struct(s->sysmon);
	s->sysmon = NULL;
}

/* CPU time sysmon has used, ns. */
u64 gmp_sysmon_runtime(struct gmp_sched *s)
{
	return s->sysmon ? READ_ONCE(s->sysmon->se.sum_exec_runtime) : 0;
}
