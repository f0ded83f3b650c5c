// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler: Go's schedule() loop, run by threads inside the module.
 *
 * An M is a thread of the owning process that called GMP_IOC_MSTART. The
 * frame it called from is its g0 frame: the M returns there when the
 * instance exits or a signal finds it idle. While the M runs a goroutine,
 * its pt_regs hold that goroutine's frame, so entering the module from a
 * goroutine (GOEXIT, GOSCHED) and leaving onto another one is a frame
 * switch done by gmp_arch_x86.S. Invariant on every return to user mode:
 * regs hold a goroutine's frame and the ioctl returns 0, or they hold the
 * g0 frame and the ioctl returns MSTART's result.
 *
 * Locking: sched.lock (a spinlock) guards the global queue and the idle P
 * and M lists; local run queues are lock-free (gmp_runq.c); gmp_core.h
 * has the order of all the locks.
 */
#include <linux/cpumask.h>
#include <linux/errno.h>
#include <linux/ktime.h>
#include <linux/random.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>

#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_netpoll.h"
#include "gmp_ring.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_shm.h"
#include "gmp_sysmon.h"
#include "gmp_trace_events.h"

#define GMP_STEAL_TRIES	4	/* Go's stealTries: passes over all P's */

/* --- Publishing the read-only state page ----------------------------- */

/*
 * Copy the counters to the state page. Under sched.lock: two publishers
 * racing could otherwise write back a stale nmidle or npidle after the
 * fresh one, and user space would skip a wakep the barriers promised.
 */
void gmp_publish_state(struct gmp_sched *s)
{
	struct gmp_state *st = s->state;

	spin_lock(&s->lock);
	WRITE_ONCE(st->mcount, READ_ONCE(s->mcount));
	WRITE_ONCE(st->nmidle, READ_ONCE(s->nmidle));
	WRITE_ONCE(st->npidle, READ_ONCE(s->npidle));
	WRITE_ONCE(st->nbadg, atomic64_read(&s->nbadg));
	WRITE_ONCE(st->nspawned, READ_ONCE(s->nspawned));
	WRITE_ONCE(st->nbadspawn, READ_ONCE(s->nbadspawn));
	WRITE_ONCE(st->nkswitch, atomic64_read(&s->nkswitch));
	WRITE_ONCE(st->nmspinning, atomic_read(&s->nmspinning));
	WRITE_ONCE(st->nmstarting, READ_ONCE(s->nmstarting));
	WRITE_ONCE(st->nprocs, READ_ONCE(s->nprocs));
	WRITE_ONCE(st->exit_code, READ_ONCE(s->exit_code));
	WRITE_ONCE(st->exiting, READ_ONCE(s->exiting));
	WRITE_ONCE(st->npreemptreq, atomic64_read(&s->npreemptreq));
	WRITE_ONCE(st->npreempt, atomic64_read(&s->npreempt));
	WRITE_ONCE(st->sysmon_ns, gmp_sysmon_runtime(s));
	WRITE_ONCE(st->nsysmonwake, READ_ONCE(s->nsysmonwake));
	WRITE_ONCE(st->nhandoff, atomic64_read(&s->nhandoff));
	WRITE_ONCE(st->nexitsyscall, atomic64_read(&s->nexitsyscall));
	WRITE_ONCE(st->nkeepm, atomic64_read(&s->nkeepm));
	WRITE_ONCE(st->nnetpoll, atomic64_read(&s->nnetpoll));
	WRITE_ONCE(st->nnetpollready, atomic64_read(&s->nnetpollready));
	spin_unlock(&s->lock);
}

/*
 * The idle side of the lost-wakeup protocol (Go's findrunnable, which
 * looks at the queues once more after it released its P). An M that has
 * just made something idle, its P on the idle list or itself on the
 * parked list, publishes the counts wakers read (npidle, nmidle), then
 * looks for work again. A waker (gmp_wakep(), a goroutine's ready, kgo's
 * wakep from user space) queues its work first and reads those counts
 * after a full barrier. With this side's full barrier between its store
 * and its load, one of the two sees the other: either the waker finds
 * the idle P or M, or this finds the work. Returns whether work is
 * pending.
 */
static bool gmp_idle_recheck(struct gmp_sched *s)
{
	gmp_publish_state(s);
	smp_mb(); /* the idle counts before the work loads; pairs with wakers */
	return gmp_work_pending(s);
}

/* --- P's and M's ---------------------------------------------------- */

void pidleput(struct gmp_sched *s, struct gmp_p *pp)
{
	lockdep_assert_held(&s->lock);
	pp->status = GMP_PIDLE;
	pp->link = s->pidle;
	s->pidle = pp;
	WRITE_ONCE(s->npidle, s->npidle + 1);
}

/*
 * Take @pp off the idle list if it is there: false if not (pidleget()
 * takes a P off before its new M marks it running).
 */
bool pidleremove(struct gmp_sched *s, struct gmp_p *pp)
{
	struct gmp_p **link;

	lockdep_assert_held(&s->lock);
	for (link = &s->pidle; *link; link = &(*link)->link) {
		if (*link != pp)
			continue;
		*link = pp->link;
		pp->link = NULL;
		WRITE_ONCE(s->npidle, s->npidle - 1);
		gmp_sysmon_wake(s);
		return true;
	}
	return false;
}

struct gmp_p *pidleget(struct gmp_sched *s)
{
	struct gmp_p *pp = s->pidle;

	lockdep_assert_held(&s->lock);
	if (pp) {
		s->pidle = pp->link;
		pp->link = NULL;
		WRITE_ONCE(s->npidle, s->npidle - 1);
		gmp_sysmon_wake(s);
	}
	return pp;
}

/*
 * Give back a P its M released: idle if it is still one of the nprocs,
 * else (procresize took it away) dead, its goroutines moved to the global
 * queue as Go's procresize moves a destroyed P's. sched.lock held; the
 * caller owns the P's queue (it just released it, or nobody holds it).
 */
void putp_locked(struct gmp_sched *s, struct gmp_p *pp)
{
	struct gmp_m *waitm = pp->waitm;
	bool inherit;
	u32 gidx;
	int i;

	lockdep_assert_held(&s->lock);
	WRITE_ONCE(pp->sh->retire, 0);
	if (waitm) {
		/* Back to the M it was taken from (gmp_exitsyscall_inplace()). */
		pp->waitm = NULL;
		pp->status = GMP_PRUNNING;
		pp->m = waitm;
		WRITE_ONCE(waitm->nextp, pp);
		wake_up(&waitm->park);
		return;
	}
	if (pp->id < s->nprocs) {
		pidleput(s, pp);
		return;
	}
	for (i = 0; i <= GMP_RUNQ_SIZE; i++) {
		gidx = gmp_runqget(s, pp, &inherit);
		if (!gidx)
			break;
		gmp_globrunqput_locked(s, gidx);
	}
	pp->status = GMP_PDEAD;
}

void acquirep(struct gmp_m *m, struct gmp_p *pp)
{
	m->p = pp;
	pp->m = m;
	pp->status = GMP_PRUNNING;
}

static struct gmp_p *releasep(struct gmp_m *m)
{
	struct gmp_p *pp = m->p;

	pp->m = NULL;
	WRITE_ONCE(m->p, NULL);	/* the M's sched_out reads it */
	return pp;
}

/* Give back the P @m holds: idle, or dead if procresize took it. */
static void gmp_dropp(struct gmp_sched *s, struct gmp_m *m)
{
	spin_lock(&s->lock);
	putp_locked(s, releasep(m));
	spin_unlock(&s->lock);
}

static void mput(struct gmp_sched *s, struct gmp_m *m)
{
	lockdep_assert_held(&s->lock);
	list_add(&m->idle, &s->midle);
	m->parked = true;
	WRITE_ONCE(s->nmidle, s->nmidle + 1);
}

static void munlink(struct gmp_sched *s, struct gmp_m *m)
{
	lockdep_assert_held(&s->lock);
	list_del_init(&m->idle);
	m->parked = false;
	WRITE_ONCE(s->nmidle, s->nmidle - 1);
}

static struct gmp_m *mget(struct gmp_sched *s)
{
	struct gmp_m *m;

	lockdep_assert_held(&s->lock);
	m = list_first_entry_or_null(&s->midle, struct gmp_m, idle);
	if (m)
		munlink(s, m);
	return m;
}

/*
 * Bind the running M to its P's CPU, an affinity Go cannot give (Go's
 * wirep binds M and P: here acquirep()). Only when the P changed,
 * outside any lock, and only to a CPU the thread was allowed when it
 * became an M (its affinity and cpuset then): set_cpus_allowed_ptr()
 * itself does not check the cpuset. The M gets its own mask back when
 * MSTART returns.
 */
void gmp_bindcpu(struct gmp_m *m)
{
	int cpu = m->p->cpu;

	if (m->cpu == cpu)
		return;
	m->cpu = cpu;
	if (cpumask_test_cpu(cpu, m->allowed))
		set_cpus_allowed_ptr(current, cpumask_of(cpu));
	else
		set_cpus_allowed_ptr(current, m->allowed);
}

/* The M the calling thread is, or NULL. */
struct gmp_m *gmp_m_current(struct gmp_sched *s)
{
	return xa_load(&s->ms, task_pid_nr(current));
}

/*
 * Go's checkmcount, when an M is needed for work and an idle P: every M is
 * running a goroutine or blocked (in a system call, or wired), none is
 * parked, starting, spinning or waiting for its wired goroutine, and
 * maxmcount is reached. Go throws; the template thread does (NEWM returns
 * -EAGAIN). Marks the instance so. sched.lock held.
 */
static bool gmp_mexhausted_locked(struct gmp_sched *s)
{
	lockdep_assert_held(&s->lock);
	if (!s->pidle || !list_empty(&s->midle) ||
	    s->mcount < s->maxmcount || s->nmstarting ||
	    !list_empty(&s->lockedwait) || atomic_read(&s->nmspinning) ||
	    s->exiting)
		return false;
	s->mexhausted = true;
	return true;
}

/*
 * For sysmon, which stays awake while goroutines are queued (globally or
 * in the spawn ring, where a plain thread readies them): the same check,
 * in case no wakep came after the last M blocked.
 */
void gmp_checkmcount(struct gmp_sched *s)
{
	bool exhausted, ring = gmp_ring_pending(s);

	spin_lock(&s->lock);
	exhausted = (s->runqsize || ring) && !s->mexhausted &&
		    gmp_mexhausted_locked(s);
	spin_unlock(&s->lock);
	if (exhausted)
		wake_up(&s->newm_wait);
}

/*
 * Start an idle P on a parked M if there is work for it (Go's wakep and
 * startm). Without a parked M, ask the template thread for a new one
 * (Go's newm through templateThread): M's are threads of the process, so
 * user space creates them, and the new M takes an idle P when it enters.
 * Never more requested than idle P's, nor beyond maxmcount.
 */
void gmp_wakep(struct gmp_sched *s)
{
	struct gmp_p *pp = NULL;
	struct gmp_m *m = NULL;
	bool newm = false;

	smp_mb(); /* work published before the idle counts are read */
	if (!READ_ONCE(s->npidle))
		return;
	spin_lock(&s->lock);
	if (s->pidle && !list_empty(&s->midle)) {
		pp = pidleget(s);
		m = mget(s);
		m->nextp = pp;
	} else if (s->nmstarting < s->npidle &&
		   s->mcount + s->nmstarting < s->maxmcount &&
		   !s->exiting) {
		WRITE_ONCE(s->nmstarting, s->nmstarting + 1);
		s->newm_req++;
		newm = true;
	} else if (gmp_mexhausted_locked(s)) {
		newm = true;
	} else {
		gmp_sysmon_wake(s);	/* gmp_checkmcount() looks again */
	}
	spin_unlock(&s->lock);
	if (pp)
		wake_up(&m->park);
	if (newm)
		wake_up(&s->newm_wait);
}

/*
 * Go's handoffp, for sysmon: take the P of @m, blocked in a system call
 * with state word @v (gmp_handoff.c), give it back, and start an M on it
 * if there is work. The goroutine stays with its M, in GMP_GSYSCALL.
 * The claim and the release are one section under sched.lock: the M may
 * wake at once, and its way back waits for the lock before it looks at
 * its P. False if the M woke or blocked again since @v.
 */
bool gmp_handoffp(struct gmp_sched *s, struct gmp_m *m, struct gmp_p *pp,
		  int v)
{
	struct gmp_gslot *gs;
	u32 gidx;

	spin_lock(&s->lock);
	/*
	 * sysmon read pp->m and then v without the lock: meanwhile @m may
	 * have given @pp up, taken another P and blocked again, with a v
	 * the claim below would accept. Only the P @m holds now is its to
	 * lose (and only its goroutine is in the system call). @m is
	 * asleep at v, so its P cannot change unless the claim fails.
	 */
	if (READ_ONCE(m->p) != pp ||
	    atomic_cmpxchg(&m->sysstate, v,
			   (v & ~GMP_MSTATE_MASK) | GMP_MHANDOFF) != v) {
		spin_unlock(&s->lock);
		return false;	/* the queued work finds RUN */
	}
	gidx = READ_ONCE(pp->sh->curg);
	gs = gmp_gslot(s, gidx, NULL);
	m->syscallg = gidx;	/* for its exitsyscall */
	m->syscallp = pp;
	if (gs)
		WRITE_ONCE(gs->status, GMP_GSYSCALL);
	WRITE_ONCE(pp->sh->curg, 0);
	putp_locked(s, releasep(m));
	spin_unlock(&s->lock);
	atomic64_inc(&s->nhandoff);
	trace_gmp_handoff(s->tgid, pp->id, gidx, m->tid);
	/* The P is idle now: it may be the one a G queued meanwhile needs. */
	if (gmp_idle_recheck(s)) {
		gmp_wakep(s);
		gmp_publish_state(s);
	}
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_handoffp);

/* --- Goroutines ------------------------------------------------------ */

/*
 * Make the G in a checked spawn entry's slot runnable (Go's newproc1, the
 * kernel's part of it: user space built the context) and put it in @pp's
 * runnext, or on the global queue without a P. Called with ring_lock held.
 */
int gmp_newproc(struct gmp_sched *s, struct gmp_p *pp,
		const struct gmp_spawn *sp)
{
	struct gmp_gslot *gs = gmp_gslot(s, sp->gidx, NULL);

	if (!gs)
		return -EINVAL;
	/* Main before it is queued: it may run and exit at once. */
	if (sp->flags & GMP_SPAWN_MAIN) {
		if (s->maing)
			return -EINVAL;
		WRITE_ONCE(s->maing, sp->gidx);
	}
	WRITE_ONCE(gs->status, GMP_GRUNNABLE);
	if (pp) {
		gmp_runqput(s, pp, sp->gidx, true);
	} else if (!gmp_globrunqput(s, sp->gidx)) {
		/* Already queued: a duplicate, refused as a whole. */
		if (sp->flags & GMP_SPAWN_MAIN)
			WRITE_ONCE(s->maing, 0);
		return -EINVAL;
	}
	WRITE_ONCE(s->nspawned, s->nspawned + 1);
	return 0;
}

/* --- schedule() ------------------------------------------------------ */

/* Give up the P, if any, and put the g0 frame back in @regs. */
static void gmp_m_to_g0(struct gmp_sched *s, struct gmp_m *m,
			struct pt_regs *regs)
{
	if (m->p)
		gmp_dropp(s, m);
	gmp_arch_frame_load(regs, &m->g0);
	gmp_publish_state(s);
}

bool gmp_work_pending(struct gmp_sched *s)
{
	u32 i;

	if (READ_ONCE(s->runqsize) || gmp_ring_pending(s) ||
	    gmp_netpoll_pending(s))
		return true;
	for (i = 0; i < READ_ONCE(s->nprocs); i++)
		if (!gmp_runqempty(s->allp[i]))
			return true;
	return false;
}

/* Go's findrunnable, without the spinning-M part; 0: nothing. */
u32 gmp_findrunnable(struct gmp_sched *s, struct gmp_m *m, bool *inherit)
{
	struct gmp_p *pp = m->p;
	u32 naccepted, i, n, gidx, start;

	*inherit = false;
	gmp_ring_drain(s, pp, &naccepted);
	/* Go polls the network later, when all else fails; gmp's is a list. */
	gmp_netpoll(s, pp);

	/* Fairness: now and then the global queue goes first. */
	if (READ_ONCE(pp->sh->schedtick) % GMP_GLOBAL_TICK == 0 &&
	    READ_ONCE(s->runqsize)) {
		spin_lock(&s->lock);
		gidx = gmp_globrunqget(s, pp, 1);
		spin_unlock(&s->lock);
		if (gidx)
			return gidx;
	}
	gidx = gmp_runqget(s, pp, inherit);
	if (gidx)
		return gidx;
	if (READ_ONCE(s->runqsize)) {
		spin_lock(&s->lock);
		gidx = gmp_globrunqget(s, pp, 0);
		spin_unlock(&s->lock);
		if (gidx)
			return gidx;
	}

	/*
	 * Steal: GMP_STEAL_TRIES passes over the P's from a random start,
	 * runnext only in the last.
	 */
	n = READ_ONCE(s->nprocs);
	start = n > 1 ? get_random_u32_below(n) : 0;
	for (i = 0; n > 1 && i < GMP_STEAL_TRIES * n; i++) {
		struct gmp_p *victim = s->allp[(start + i) % n];

		if (victim == pp)
			continue;
		gidx = gmp_runqsteal(pp, victim,
				     i >= (GMP_STEAL_TRIES - 1) * n);
		if (gidx) {
			atomic64_inc(&s->nsteal);
			WRITE_ONCE(s->state->nsteal, atomic64_read(&s->nsteal));
			trace_gmp_steal(s->tgid, pp->id, victim->id, gidx);
			return gidx;
		}
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_findrunnable);

/*
 * Go's spinning M: before giving up its P, an M that found nothing keeps
 * looking for a short while, so a burst of new work does not pay for
 * parking and waking a thread each time. At most half the busy P's worth
 * of M's spin at once (Go's rule); while one spins, wakep is not needed
 * (user space reads nmspinning in the state page).
 */
#define GMP_SPIN_NS	(50 * NSEC_PER_USEC)

static u32 gmp_spin(struct gmp_sched *s, struct gmp_m *m, bool *inherit)
{
	u32 busy = READ_ONCE(s->nprocs) - READ_ONCE(s->npidle);
	u32 gidx = 0;
	u64 deadline;

	if (2 * (u32)atomic_read(&s->nmspinning) >= busy)
		return 0;
	atomic_inc(&s->nmspinning);
	gmp_publish_state(s);
	deadline = ktime_get_ns() + GMP_SPIN_NS;
	/* Not on a P procresize took away: the scheduling loop gives it back. */
	while (!gidx && ktime_get_ns() < deadline && !READ_ONCE(s->exiting) &&
	       m->p->id < READ_ONCE(s->nprocs) && !signal_pending(current)) {
		cpu_relax();
		cond_resched();
		gidx = gmp_findrunnable(s, m, inherit);
	}
	atomic_dec(&s->nmspinning);
	gmp_publish_state(s);
	return gidx;
}

/*
 * Sleep until the M is handed a P (m->nextp: startm, startlockedm) or the
 * instance exits, then take the P: 0, or -EINTR on a signal without one.
 */
static int gmp_mpark(struct gmp_sched *s, struct gmp_m *m)
{
	int ret = wait_event_interruptible(m->park, READ_ONCE(m->nextp) ||
					   READ_ONCE(s->exiting));

	spin_lock(&s->lock);
	if (m->parked)
		munlink(s, m);
	list_del_init(&m->lockedwait);
	if (m->nextp) {
		acquirep(m, m->nextp);
		m->nextp = NULL;
		ret = 0;
	}
	spin_unlock(&s->lock);
	gmp_publish_state(s);
	return ret ? -EINTR : 0;
}

/*
 * Go's startlockedm: @gidx, just taken from a queue by @m, is wired to
 * @lockedm, which waits for it in gmp_stoplockedm(). Hand it the G and
 * @m's P; @m goes on without a P (and parks, as Go's stopm).
 */
static bool gmp_startlockedm(struct gmp_sched *s, struct gmp_m *m,
			     struct gmp_m *lockedm, u32 gidx)
{
	spin_lock(&s->lock);
	/* Handed one already: the G was queued twice (forged queues). */
	if (lockedm->nextp) {
		spin_unlock(&s->lock);
		return false;
	}
	list_del_init(&lockedm->lockedwait);
	lockedm->nextg = gidx;
	lockedm->nextp = releasep(m);
	lockedm->nextp->m = lockedm;
	spin_unlock(&s->lock);
	wake_up(&lockedm->park);
	return true;
}

/*
 * Hand @lockedm, waiting on sched.lockedwait, its goroutine @gk (taken off
 * the global queue) and @pp; the caller wakes it. sched.lock held.
 */
static void gmp_lockedwait_hand_locked(struct gmp_sched *s,
				       struct gmp_m *lockedm,
				       struct gmp_gk *gk, struct gmp_p *pp)
{
	lockdep_assert_held(&s->lock);
	list_del_init(&lockedm->lockedwait);
	lockedm->nextg = gmp_globrunqremove_locked(s, gk);
	lockedm->nextp = pp;	/* gmp_mpark() takes it */
	pp->m = lockedm;
}

/*
 * For sysmon: a P that stayed idle for a pass while a wired goroutine
 * waits on the global queue for its M goes to that M, which needs no new
 * thread to run it. The goroutine may hold a lock (glibc's malloc arena,
 * say) that the thread creating new M's, or every other M, waits for:
 * this is what lets it run and release it. Returns whether it handed any.
 */
bool gmp_startlockedm_idle(struct gmp_sched *s)
{
	struct gmp_m *lockedm;
	struct gmp_gk *gk;
	bool did = false;

	spin_lock(&s->lock);
	while (s->pidle && !s->exiting) {
		lockedm = list_first_entry_or_null(&s->lockedwait,
						   struct gmp_m, lockedwait);
		if (!lockedm)
			break;
		list_del_init(&lockedm->lockedwait);
		if (lockedm->nextp || !gmp_gslot(s, lockedm->lockedg, &gk) ||
		    atomic_read(&gk->kstate) != GMP_GK_GLOBALQ)
			continue;
		gmp_lockedwait_hand_locked(s, lockedm, gk, pidleget(s));
		wake_up(&lockedm->park);
		did = true;
	}
	spin_unlock(&s->lock);
	if (did)
		gmp_publish_state(s);
	return did;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_startlockedm_idle);

/*
 * @m gives up its P with nothing queued on it: if the goroutine its next
 * schedule would take, the global queue's first, is wired to an M that
 * waits for it, hand that M the P and the goroutine now, rather than
 * waking a third M to do it (a preemption that keeps goroutines on their
 * M's rotates through here). True if it did.
 */
static bool gmp_handoff_lockedwait(struct gmp_sched *s, struct gmp_m *m)
{
	struct gmp_m *lockedm = NULL;
	struct gmp_gk *gk;

	if (!gmp_runqempty(m->p) || gmp_ring_pending(s))
		return false;
	spin_lock(&s->lock);
	gk = list_first_entry_or_null(&s->runq, struct gmp_gk, link);
	if (gk && !s->exiting && m->p->id < s->nprocs && !m->p->waitm) {
		lockedm = READ_ONCE(gk->lockedm);
		if (lockedm == m || !lockedm || lockedm->nextp ||
		    list_empty(&lockedm->lockedwait))
			lockedm = NULL;
	}
	if (lockedm)
		gmp_lockedwait_hand_locked(s, lockedm, gk, releasep(m));
	spin_unlock(&s->lock);
	if (lockedm)
		wake_up(&lockedm->park);
	return lockedm;
}

/*
 * Go's stoplockedm: @m's wired goroutine switched out, and nothing else may
 * run on @m. Give its P back (to another M if there is work), then wait
 * until an M that took the goroutine from a queue hands it over with a P
 * (gmp_startlockedm). @regs hold the g0 frame while it waits, so a signal
 * is delivered there (-EINTR: the user library calls MSTART again).
 */
static int gmp_stoplockedm(struct gmp_sched *s, struct gmp_m *m,
			   struct pt_regs *regs)
{
	struct gmp_gk *gk;

	if (m->p && gmp_handoff_lockedwait(s, m))
		gmp_publish_state(s);
	if (m->p) {
		gmp_dropp(s, m);
		if (gmp_idle_recheck(s))
			gmp_wakep(s);
	}
	gmp_publish_state(s);
	gmp_arch_frame_load(regs, &m->g0);
	/*
	 * Its goroutine waits on the global queue: a P nobody else takes
	 * comes here (gmp_startlockedm_idle()), so sysmon must look.
	 */
	spin_lock(&s->lock);
	if (!m->nextp && gmp_gslot(s, m->lockedg, &gk) &&
	    atomic_read(&gk->kstate) == GMP_GK_GLOBALQ &&
	    list_empty(&m->lockedwait)) {
		list_add_tail(&m->lockedwait, &s->lockedwait);
		gmp_sysmon_wake(s);
	}
	spin_unlock(&s->lock);
	return gmp_mpark(s, m);
}

/*
 * Go's execute: run goroutine @gidx on @m by loading its context into
 * @regs. The index and the context come from user memory: a G that is not
 * runnable (claimed with a compare-and-swap, so no G runs twice however
 * the queues were forged) or whose context is no user address is dropped.
 */
int gmp_execute(struct gmp_sched *s, struct gmp_m *m, u32 gidx,
		bool inherit, struct pt_regs *regs)
{
	struct gmp_pshared *sh = m->p->sh;
	struct gmp_m *lockedm;
	struct gmp_gslot *gs;
	struct gmp_gk *gk;
	struct gmp_frame f;

	gs = gmp_gslot(s, gidx, &gk);
	if (!gs)
		goto bad;
	lockedm = READ_ONCE(gk->lockedm);
	if (lockedm && lockedm != m) {
		if (!gmp_startlockedm(s, m, lockedm, gidx))
			goto bad;
		return -EAGAIN;
	}
	if (cmpxchg(&gs->status, GMP_GRUNNABLE, GMP_GRUNNING) != GMP_GRUNNABLE)
		goto bad;
	gmp_resume_frame(gs, gidx, m->p->id, &f);
	if (gmp_frame_load(regs, &f)) {
		WRITE_ONCE(gs->status, GMP_GDEAD);
		goto bad;
	}
	WRITE_ONCE(gs->p, m->p->id);
	WRITE_ONCE(sh->curg, gidx);
	m->runs_g = true;
	gmp_bindcpu(m);
	if (!inherit)
		WRITE_ONCE(sh->schedtick, READ_ONCE(sh->schedtick) + 1);
	atomic64_inc(&s->nkswitch);
	trace_gmp_execute(s->tgid, m->p->id, gidx, READ_ONCE(gs->goid),
			  inherit);
	return 0;
bad:
	atomic64_inc(&s->nbadg);
	return -EINVAL;
}

/*
 * Park @m, which holds no P, until it is handed one or the instance exits
 * (Go's stopm). @regs already hold the g0 frame, so a signal is delivered
 * there: then return -EINTR and the user library calls MSTART again.
 */
static int gmp_stopm(struct gmp_sched *s, struct gmp_m *m)
{
	spin_lock(&s->lock);
	mput(s, m);
	spin_unlock(&s->lock);
	/* Work published before nmidle was visible saw no M to wake. */
	if (gmp_idle_recheck(s)) {
		spin_lock(&s->lock);
		if (m->parked && s->pidle) {
			munlink(s, m);
			acquirep(m, pidleget(s));
		}
		spin_unlock(&s->lock);
		if (m->p)
			return 0;
	}

	return gmp_mpark(s, m);
}

/*
 * Wire @gidx to @m until it runs on @m again (gmp_keepm_unwire()): it
 * was stopped where the thread's state is not its own to leave. A G wired
 * for good (LOCKOSTHREAD) stays so.
 */
void gmp_keepm_wire(struct gmp_sched *s, struct gmp_m *m, u32 gidx,
		    struct gmp_gk *gk)
{
	if (m->lockedg)
		return;
	m->lockedg = gidx;
	m->lockedg_temp = true;
	WRITE_ONCE(gk->lockedm, m);
	atomic64_inc(&s->nkeepm);
}

/*
 * @m's goroutine, wired to it by gmp_keepm_wire(), is back on it: unwire
 * it. Until it leaves the kernel it cannot be switched away from.
 */
static void gmp_keepm_unwire(struct gmp_sched *s, struct gmp_m *m)
{
	struct gmp_gk *gk;

	if (!m->lockedg_temp)
		return;
	if (gmp_gslot(s, m->lockedg, &gk))
		WRITE_ONCE(gk->lockedm, NULL);
	m->lockedg = 0;
	m->lockedg_temp = false;
}

/*
 * The scheduling loop (Go's schedule). On entry @m runs no goroutine and
 * the frame in @regs has been saved where it needs to be (or is dead).
 * Returns 0 with a goroutine's frame loaded, or MSTART's result with the
 * g0 frame loaded.
 */
long gmp_schedule(struct gmp_sched *s, struct gmp_m *m, struct pt_regs *regs)
{
	m->runs_g = false;
	m->preempt_injected = false;	/* the next goroutine may be preempted */
	if (m->p)
		WRITE_ONCE(m->p->sh->curg, 0);
	for (;;) {
		bool inherit;
		u32 gidx;
		int ret;

		if (READ_ONCE(s->exiting))
			break;
		/*
		 * However hostile the shared pages, this loop must stay
		 * killable and preemptible: leave through g0 on a signal.
		 */
		if (signal_pending(current)) {
			gmp_m_to_g0(s, m, regs);
			return -EINTR;
		}
		cond_resched();
		/* A wired M runs its own goroutine or nothing. */
		if (m->lockedg) {
			ret = gmp_stoplockedm(s, m, regs);
			if (ret)
				return ret;
			gidx = m->nextg;
			m->nextg = 0;
			if (m->p && gidx &&
			    !gmp_execute(s, m, gidx, false, regs)) {
				gmp_keepm_unwire(s, m);
				gmp_publish_state(s);
				return 0;
			}
			continue;
		}
		/* The M this P was taken from waits for it: hand it back. */
		if (m->p && READ_ONCE(m->p->waitm))
			gmp_dropp(s, m);
		/* procresize took this P away: give it back, take another. */
		if (m->p && m->p->id >= READ_ONCE(s->nprocs)) {
			spin_lock(&s->lock);
			if (m->p->id >= s->nprocs)
				putp_locked(s, releasep(m));
			spin_unlock(&s->lock);
		}
		if (!m->p) {
			struct gmp_p *pp;

			spin_lock(&s->lock);
			pp = pidleget(s);
			spin_unlock(&s->lock);
			if (pp) {
				acquirep(m, pp);
			} else {
				gmp_arch_frame_load(regs, &m->g0);
				ret = gmp_stopm(s, m);
				if (ret)
					return ret;
				continue;
			}
		}

		gidx = gmp_findrunnable(s, m, &inherit);
		if (!gidx)
			gidx = gmp_spin(s, m, &inherit);
		/*
		 * More work than this M takes and an idle P: start another M
		 * (Go reaches the same through resetspinning and newproc).
		 */
		if (gidx && (!gmp_runqempty(m->p) || READ_ONCE(s->runqsize)))
			gmp_wakep(s);
		if (gidx) {
			if (!gmp_execute(s, m, gidx, inherit, regs)) {
				gmp_publish_state(s);
				return 0;
			}
			continue;
		}

		/* Nothing to run: give the P back, then look once more. */
		gmp_dropp(s, m);
		if (gmp_idle_recheck(s))
			continue;
		gmp_arch_frame_load(regs, &m->g0);
		ret = gmp_stopm(s, m);
		if (ret)
			return ret;
	}

	/* Exiting: leave through the g0 frame, MSTART returns 0. */
	trace_gmp_mstop(s->tgid, m->tid, m->id, READ_ONCE(s->mcount));
	gmp_m_to_g0(s, m, regs);
	set_cpus_allowed_ptr(current, m->allowed);
	m->cpu = -1;
	return 0;
}
