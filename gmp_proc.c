// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler's entry points, after Go's runtime/proc.go: the ioctls a
 * thread or goroutine makes (MSTART, GOEXIT, GOSCHED, SCHEDULE,
 * LOCKOSTHREAD, WAKEP, NEWM, PROCRESIZE), exitsyscall for a goroutine
 * whose M lost its P (gmp_handoff.c), and an instance's set-up and
 * tear-down. Those that switch goroutines end in the scheduling loop,
 * gmp_sched.c, whose comment has the frame invariant and the locking.
 */
#include <linux/cpumask.h>
#include <linux/errno.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_handoff.h"
#include "gmp_ring.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_shm.h"
#include "gmp_trace_events.h"

/* --- ioctl entry points ---------------------------------------------- */

static struct gmp_m *gmp_m_create(struct gmp_sched *s)
{
	struct gmp_m *m = kzalloc(sizeof(*m), GMP_GFP);
	int ret;

	if (!m)
		return ERR_PTR(-ENOMEM);
	if (!alloc_cpumask_var(&m->allowed, GMP_GFP)) {
		kfree(m);
		return ERR_PTR(-ENOMEM);
	}
	cpumask_copy(m->allowed, current->cpus_ptr);
	m->tid = task_pid_nr(current);
	m->task = current;
	m->ingmp = true;	/* in MSTART: gmp_ioctl() clears it */
	m->s = s;
	m->cpu = -1;
	init_waitqueue_head(&m->park);
	INIT_LIST_HEAD(&m->idle);
	INIT_LIST_HEAD(&m->lockedwait);

	spin_lock(&s->lock);
	if (s->mcount >= s->maxmcount) {
		spin_unlock(&s->lock);
		free_cpumask_var(m->allowed);
		kfree(m);
		return ERR_PTR(-EAGAIN);
	}
	m->id = s->mcount;
	WRITE_ONCE(s->mcount, s->mcount + 1);
	/* Most likely one the template thread started for us. */
	if (s->nmstarting)
		WRITE_ONCE(s->nmstarting, s->nmstarting - 1);
	spin_unlock(&s->lock);

	ret = xa_insert(&s->ms, m->tid, m, GMP_GFP);
	if (!ret && s->handoff) {
		ret = gmp_handoff_register(m);
		if (ret)
			xa_erase(&s->ms, m->tid);
	}
	if (ret) {
		spin_lock(&s->lock);
		WRITE_ONCE(s->mcount, s->mcount - 1);
		spin_unlock(&s->lock);
		free_cpumask_var(m->allowed);
		kfree(m);
		return ERR_PTR(ret);
	}
	get_task_struct(current);	/* sysmon's handle, until the end */
	trace_gmp_mstart(s->tgid, m->tid, m->id, READ_ONCE(s->mcount));
	return m;
}

/*
 * GMP_IOC_MSTART: the calling thread becomes (or goes on as) an M. @locks
 * is its word of the user library's "in the runtime" count, or NULL: then
 * its P is never handed off while it blocks.
 */
long gmp_mstart(struct gmp_sched *s, struct pt_regs *regs,
		u32 __user *locks)
{
	struct gmp_m *m = gmp_m_current(s);

	if (!m) {
		m = gmp_m_create(s);
		if (IS_ERR(m))
			return PTR_ERR(m);
	} else if (m->runs_g) {
		return -EBUSY;	/* a goroutine cannot become an M */
	}
	m->locks = locks;
	gmp_frame_save(regs, &m->g0);
	return gmp_schedule(s, m, regs);
}

/* The M running goroutines on behalf of the caller, or NULL. */
struct gmp_m *gmp_m_running(struct gmp_sched *s)
{
	struct gmp_m *m = gmp_m_current(s);

	return m && m->runs_g && m->p ? m : NULL;
}

/*
 * The calling M and the goroutine it runs, by its P's curg (user memory),
 * with the goroutine's slot and, if @gkp, its private half: for GOEXIT,
 * GOSCHED and LOCKOSTHREAD. NULL if the caller is no M running goroutines
 * or its curg is no goroutine.
 */
static struct gmp_m *gmp_m_curg(struct gmp_sched *s, u32 *gidx,
				struct gmp_gslot **gsp, struct gmp_gk **gkp)
{
	struct gmp_m *m = gmp_m_running(s);

	if (!m)
		return NULL;
	*gidx = READ_ONCE(m->p->sh->curg);
	*gsp = gmp_gslot(s, *gidx, gkp);
	return *gsp ? m : NULL;
}

/*
 * GMP_IOC_LOCKOSTHREAD: wire the calling goroutine to its M (@lock) or
 * unwire it (Go's LockOSThread and UnlockOSThread; user space counts the
 * nesting). The wiring is kernel memory: queues user space forges cannot
 * move a wired G to another M.
 */
long gmp_lockosthread(struct gmp_sched *s, bool lock)
{
	struct gmp_gslot *gs;
	struct gmp_gk *gk;
	struct gmp_m *m;
	u32 gidx;

	m = gmp_m_curg(s, &gidx, &gs, &gk);
	if (!m)
		return -EINVAL;
	if (lock) {
		if (m->lockedg && m->lockedg != gidx)
			return -EBUSY;
		m->lockedg = gidx;
		WRITE_ONCE(gk->lockedm, m);
	} else {
		if (m->lockedg != gidx)
			return -EINVAL;
		m->lockedg = 0;
		WRITE_ONCE(gk->lockedm, NULL);
	}
	return 0;
}

/* The main goroutine ended: stop every M at its next scheduling point. */
static void gmp_exit_instance(struct gmp_sched *s, int status)
{
	unsigned long idx;
	struct gmp_m *m;

	spin_lock(&s->lock);
	s->exit_code = status;
	WRITE_ONCE(s->exiting, true);
	spin_unlock(&s->lock);
	/* Idle M's, and wired ones waiting for their goroutine. */
	xa_for_each(&s->ms, idx, m)
		wake_up(&m->park);
	wake_up_all(&s->newm_wait);
}

/* GMP_IOC_GOEXIT: the calling goroutine is done (Go's goexit0). */
long gmp_goexit(struct gmp_sched *s, struct pt_regs *regs, int status)
{
	struct gmp_gslot *gs;
	struct gmp_m *m;
	u32 gidx;

	m = gmp_m_curg(s, &gidx, &gs, NULL);
	if (!m)
		return -EINVAL;
	if (m->lockedg == gidx)	/* a wired G that exits unwires */
		gmp_lockosthread(s, false);
	WRITE_ONCE(gs->status, GMP_GDEAD);
	if (gidx == READ_ONCE(s->maing))
		gmp_exit_instance(s, status);
	return gmp_schedule(s, m, regs);
}

/*
 * Go's exitsyscall, for a goroutine whose M lost its P while blocked
 * (gmp_handoff.c): it has saved its context and yielded. Unlike Go's, the
 * goroutine stays on this M: the call returned into the code that made
 * it, libc's say, which may hold a lock or per-thread state (malloc's
 * arena and cache, a FILE's recursive lock, restart_syscall()'s
 * restart_block) that no other goroutine may see on this thread and this
 * goroutine must not leave behind. So run it at once on an idle P if
 * there is one (exitsyscallfast), else wire it here until an M that takes
 * it from the global queue, or an idle P, comes back to this M (as Go's
 * stoplockedm waits for a locked G).
 */
static long gmp_exitsyscall(struct gmp_sched *s, struct gmp_m *m,
			    struct pt_regs *regs)
{
	u32 gidx = m->syscallg;
	struct gmp_gslot *gs;
	struct gmp_p *pp;
	struct gmp_gk *gk;

	m->syscallg = 0;
	m->runs_g = false;
	gs = gmp_gslot(s, gidx, &gk);
	if (!gs || READ_ONCE(gs->status) != GMP_GSYSCALL) {
		atomic64_inc(&s->nbadg);	/* user space rewrote it */
		return gmp_schedule(s, m, regs);
	}
	WRITE_ONCE(gs->status, GMP_GRUNNABLE);
	spin_lock(&s->lock);
	pp = s->exiting ? NULL : pidleget(s);
	spin_unlock(&s->lock);
	if (pp) {
		acquirep(m, pp);
		atomic64_inc(&s->nexitsyscall);
		if (!gmp_execute(s, m, gidx, false, regs)) {
			gmp_publish_state(s);
			return 0;
		}
	} else {
		gmp_keepm_wire(s, m, gidx, gk);
		gmp_globrunqput(s, gidx);
	}
	return gmp_schedule(s, m, regs);
}

/*
 * The hand-off work found @m unable to take the stub call: a uprobe is
 * stepping an instruction out of line, with rip in its slot (the M blocked
 * while the probe was being handled), or a debugger steps it or a trap's
 * signal is about to describe its frame. The goroutine must go on in place,
 * on this M and with the P it had, whose index the library keeps: take
 * that P back now if it is idle, else reserve it, so that the M holding it
 * hands it back when it next schedules (sysmon preempts it at once).
 * 0 with the goroutine running on it again; -EINTR on a fatal signal or
 * when the instance exits; -EINVAL if the P or goroutine went.
 */
int gmp_exitsyscall_inplace(struct gmp_sched *s, struct gmp_m *m)
{
	struct gmp_p *pp = m->syscallp;
	u32 gidx = m->syscallg;
	struct gmp_gslot *gs = gmp_gslot(s, gidx, NULL);
	int ret = 0;

	if (!gs || !pp || READ_ONCE(gs->status) != GMP_GSYSCALL)
		return -EINVAL;
	spin_lock(&s->lock);
	if (pp->id >= s->nprocs || pp->waitm || s->exiting) {
		ret = -EINVAL;	/* procresize took it away */
	} else if (pp->status == GMP_PIDLE && pidleremove(s, pp)) {
		acquirep(m, pp);
	} else {
		WRITE_ONCE(m->nextp, NULL);
		pp->waitm = m;
		WRITE_ONCE(pp->sh->retire, 1);
	}
	spin_unlock(&s->lock);
	if (ret)
		return ret;
	if (!m->p) {
		wait_event_killable(m->park, READ_ONCE(m->nextp) ||
				    READ_ONCE(s->exiting));
		spin_lock(&s->lock);
		if (m->nextp) {
			m->p = m->nextp;
			m->nextp = NULL;
		} else {
			pp->waitm = NULL;
		}
		spin_unlock(&s->lock);
		if (!m->p)
			return -EINTR;
	}
	m->syscallg = 0;
	m->syscallp = NULL;
	WRITE_ONCE(gs->p, pp->id);
	WRITE_ONCE(gs->status, GMP_GRUNNING);
	WRITE_ONCE(pp->sh->curg, gidx);
	WRITE_ONCE(pp->sh->schedtick, READ_ONCE(pp->sh->schedtick) + 1);
	gmp_bindcpu(m);
	atomic64_inc(&s->nexitsyscall);
	gmp_publish_state(s);
	return 0;
}

/* GMP_IOC_GOSCHED: yield through the kernel (Go's goschedImpl). */
long gmp_gosched(struct gmp_sched *s, struct pt_regs *regs, bool keepm)
{
	struct gmp_gslot *gs;
	struct gmp_gk *gk;
	struct gmp_m *m;
	u32 gidx;

	m = gmp_m_curg(s, &gidx, &gs, NULL);
	if (!m) {
		m = gmp_m_current(s);
		if (m && m->runs_g && !m->p && m->syscallg)
			return gmp_exitsyscall(s, m, regs);
		return -EINVAL;
	}
	/*
	 * Only a running goroutine yields: anything else means user space
	 * lost track of which one this M runs. Its context is saved: once
	 * queued, another M may run it at once.
	 */
	if (cmpxchg(&gs->status, GMP_GRUNNING, GMP_GRUNNABLE) != GMP_GRUNNING) {
		atomic64_inc(&s->nbadg);
		return -EINVAL;
	}
	m->runs_g = false;
	WRITE_ONCE(m->p->sh->curg, 0);
	if (keepm && gmp_gslot(s, gidx, &gk))
		gmp_keepm_wire(s, m, gidx, gk);
	gmp_globrunqput(s, gidx);
	return gmp_schedule(s, m, regs);
}

/*
 * GMP_IOC_SCHEDULE: the calling goroutine saved its context and user space
 * put it away (Go's park_m): find the M another one.
 */
long gmp_park_m(struct gmp_sched *s, struct pt_regs *regs)
{
	struct gmp_m *m = gmp_m_running(s);

	return m ? gmp_schedule(s, m, regs) : -EINVAL;
}

/* GMP_IOC_WAKEP: take what is in the ring now, start an idle P for it. */
long gmp_wakep_ioctl(struct gmp_sched *s)
{
	struct gmp_m *m = gmp_m_running(s);
	u32 naccepted;
	int ret;

	ret = gmp_ring_drain(s, m ? m->p : NULL, &naccepted);
	gmp_wakep(s);
	gmp_publish_state(s);
	return ret ? ret : naccepted;
}

/*
 * GMP_IOC_NEWM: the template thread waits for M's to start. @failed of
 * the last ones it was asked for could not be started: stop counting on
 * them, so the next wakep can ask again.
 */
long gmp_newm_ioctl(struct gmp_sched *s, u32 failed)
{
	u32 n;

	if (gmp_m_current(s))
		return -EBUSY;	/* an M never waits here: it would hold its P */
	/* Not asked again at once: the next wakep will, if still needed. */
	spin_lock(&s->lock);
	WRITE_ONCE(s->nmstarting, s->nmstarting - min(failed, s->nmstarting));
	spin_unlock(&s->lock);
	gmp_publish_state(s);
	if (wait_event_interruptible(s->newm_wait, READ_ONCE(s->newm_req) ||
				     READ_ONCE(s->mexhausted) ||
				     READ_ONCE(s->exiting)))
		return -EINTR;
	spin_lock(&s->lock);
	n = s->exiting ? 0 : s->newm_req;
	s->newm_req = 0;
	if (s->mexhausted && !s->exiting && !n) {
		spin_unlock(&s->lock);
		return -EAGAIN;
	}
	spin_unlock(&s->lock);
	gmp_publish_state(s);
	return n;
}

/*
 * GMP_IOC_PROCRESIZE (Go's procresize): use @nprocs P's from now on.
 * Returns the previous number. An idle P taken away leaves the idle list
 * and gives its goroutines to the global queue now; a held one is marked
 * (pshared.retire) and its M gives it back at its next switch.
 */
long gmp_procresize(struct gmp_sched *s, u32 nprocs)
{
	struct gmp_p **link, *pp;
	u32 old, i;

	if (nprocs < 1 || nprocs > s->maxprocs)
		return -EINVAL;
	spin_lock(&s->lock);
	old = s->nprocs;
	WRITE_ONCE(s->nprocs, nprocs);
	for (link = &s->pidle; (pp = *link);) {
		if (pp->id < nprocs) {
			link = &pp->link;
			continue;
		}
		*link = pp->link;
		pp->link = NULL;
		WRITE_ONCE(s->npidle, s->npidle - 1);
		putp_locked(s, pp);
	}
	for (i = nprocs; i < old; i++)
		if (s->allp[i]->status == GMP_PRUNNING)
			WRITE_ONCE(s->allp[i]->sh->retire, 1);
	/* Given back: a dead P becomes idle, a held one simply stays. */
	for (i = old; i < nprocs; i++) {
		pp = s->allp[i];
		WRITE_ONCE(pp->sh->retire, 0);
		if (pp->status == GMP_PDEAD)
			pidleput(s, pp);
	}
	spin_unlock(&s->lock);
	gmp_publish_state(s);
	if (gmp_work_pending(s))
		gmp_wakep(s);
	return old;
}

/* --- Instance set-up and tear-down ----------------------------------- */

int gmp_sched_init(struct gmp_sched *s, u32 nprocs, u32 maxprocs,
		   u32 maxmcount)
{
	u32 i;

	spin_lock_init(&s->lock);
	mutex_init(&s->ring_lock);
	xa_init(&s->ms);
	INIT_LIST_HEAD(&s->midle);
	INIT_LIST_HEAD(&s->lockedwait);
	INIT_LIST_HEAD(&s->runq);
	init_waitqueue_head(&s->newm_wait);
	s->nprocs = nprocs;
	s->maxprocs = maxprocs;
	s->maxmcount = maxmcount;
	s->allp = kcalloc(maxprocs, sizeof(*s->allp), GMP_GFP);
	if (!s->allp)
		return -ENOMEM;
	for (i = 0; i < maxprocs; i++) {
		s->allp[i] = kzalloc(sizeof(*s->allp[i]), GMP_GFP);
		if (!s->allp[i])
			return -ENOMEM;	/* gmp_sched_destroy() frees the rest */
		s->allp[i]->id = i;
		s->allp[i]->cpu = cpumask_local_spread(i, NUMA_NO_NODE);
		s->allp[i]->status = GMP_PDEAD;	/* until pidleput */
	}
	/* Push in reverse so P0 is handed out first. */
	spin_lock(&s->lock);
	for (i = nprocs; i-- > 0;)
		pidleput(s, s->allp[i]);
	spin_unlock(&s->lock);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_sched_init);

void gmp_sched_destroy(struct gmp_sched *s)
{
	struct gmp_m *m;
	unsigned long tid;
	u32 i;

	/* The G's private halves, linked or not, go with the G table. */
	xa_for_each(&s->ms, tid, m) {
		put_task_struct(m->task);
		free_cpumask_var(m->allowed);
		kfree(m);
	}
	xa_destroy(&s->ms);
	mutex_destroy(&s->ring_lock);
	if (s->allp) {
		for (i = 0; i < s->maxprocs; i++)
			kfree(s->allp[i]);
		kfree(s->allp);
		/* A failed CREATE may be retried on the same file. */
		s->allp = NULL;
	}
}
EXPORT_SYMBOL_IF_KUNIT(gmp_sched_destroy);
