// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * The scheduler's user side (Go's proc.go): a goroutine switch on one M
 * that needs none of the kernel's P's and M's (yield to the next G of
 * the P's own queue, spawn into runnext, exit, park) is done here, on the
 * P's run queue in the shared area; everything else is an ioctl. Also
 * newproc and spawn back-pressure, gopark and goready, LockOSThread and
 * the small queries (kgo_id, kgo_nprocs, kgo_stats).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

/* --- The kernel and the spawn ring ---------------------------------------- */

/*
 * The system call itself, not libc's ioctl(): errno is the goroutine's,
 * and a sanitizer's interceptor around it would see g0's schedule calls
 * enter and never return (the kernel resumes a goroutine instead). Kept
 * an opaque call, as libc's was: its callers keep nothing in registers
 * across it (the kernel may give back a frame saved elsewhere).
 */
__attribute__((noinline, noipa))
long gmp_ioctl(unsigned long cmd, unsigned long arg)
{
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_ioctl), "D"((long)rt.fd), "S"(cmd),
			   "d"(arg)
			 : "rcx", "r11", "memory");
	return r;
}

/*
 * Start an idle P if there is one and no M is already spinning for work
 * (Go's wakep): the kernel hands it to a parked M, or asks the template
 * thread for a new M if none is parked and not enough are on their way.
 * At maxmcount, with fewer M's on their way than idle P's, the kernel is
 * asked too: it is the one to tell thread exhaustion (Go's checkmcount)
 * from an M that will come back, and nobody else may look (sysmon sleeps
 * while every P is idle and nothing is queued where it can see).
 */
void wakep(void)
{
	const struct gmp_state *st = rt.state;
	uint32_t npidle;

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with the kernel's */
	npidle = __atomic_load_n(&st->npidle, __ATOMIC_RELAXED);
	if (!npidle || __atomic_load_n(&st->nmspinning, __ATOMIC_RELAXED))
		return;
	if (__atomic_load_n(&st->nmidle, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&st->nmstarting, __ATOMIC_RELAXED) < npidle)
		gmp_ioctl(GMP_IOC_WAKEP, 0);
}

/*
 * Hand G @gidx to the kernel to make runnable: the way in for a thread
 * holding no P. From a goroutine (its P's queue is full) the WAKEP that
 * follows drains it into that P at once, and the kernel's runqputslow
 * moves half the queue to the global one, as Go's does.
 */
void ring_push(uint32_t gidx, uint32_t flags, int then)
{
	uint32_t head, tail, entries = rt.ring->entries;

	rt_lock(&rt.ring_lock);
	for (;;) {
		tail = rt.ring->tail;
		head = __atomic_load_n(&rt.ring->head, __ATOMIC_ACQUIRE);
		if (tail - head < entries)
			break;
		/* Full: have the kernel take what is there. */
		rt_unlock(&rt.ring_lock);
		gmp_ioctl(GMP_IOC_WAKEP, 0);
		rt_lock(&rt.ring_lock);
	}
	rt.spawn[tail & rt.ring->mask] = (struct gmp_spawn){
		.gidx = gidx,
		.flags = flags,
	};
	__atomic_store_n(&rt.ring->tail, tail + 1, __ATOMIC_RELEASE);
	rt_unlock(&rt.ring_lock);
	if (then == RING_DRAIN)
		gmp_ioctl(GMP_IOC_WAKEP, 0);
	else if (then == RING_WAKEP)
		wakep();
}

/* --- Goroutines ----------------------------------------------------------- */

static __attribute__((noreturn)) void kfatal_ioctl(const char *what, long r)
{
	throw("%s returned: %s", what, strerror((int)-r));
}

/*
 * Called by kgo_resume when a goroutine comes back on another M than the
 * one it left, before its saved context is popped: a C function may keep
 * errno's address in a register or on its stack across a call, and
 * glibc's __errno_location() is declared const, so compilers do. Every
 * word from the saved context (@frame: see kgo_x86_64.S) to the top of
 * the goroutine's stack that holds the old M's errno address, saved
 * registers and the registers an asynchronous preemption saved included,
 * is made the new M's. Only that exact address: errno is the one
 * thread-local the goroutine owns; other thread-locals are the M's.
 */
/* The layouts kgo_x86_64.S uses (kgo_asm.h), pinned to the C types. */
_Static_assert(offsetof(struct gmp_gslot, pc) == KGO_SLOT_PC, "gslot pc");
_Static_assert(offsetof(struct gmp_gslot, sp) == KGO_SLOT_SP, "gslot sp");
_Static_assert(offsetof(struct gmp_gslot, arg) == KGO_SLOT_ARG, "gslot arg");
_Static_assert(KGO_CTX_TP == 8 && KGO_CTX_G == KGO_CTX_TP + 8 &&
	       KGO_CTX_REGS == KGO_CTX_G + 8 &&
	       KGO_CTX_RET == KGO_CTX_REGS + 6 * 8 &&
	       KGO_CTX_SIZE == KGO_CTX_RET + 8 && KGO_CTX_SIZE % 16 == 0,
	       "a saved context: FPU word, tp, g, six registers, return");
_Static_assert(offsetof(struct kgo_g, park_commit) == KGO_G_PARK_COMMIT &&
	       offsetof(struct kgo_g, park_commit_arg) == KGO_G_PARK_ARG,
	       "gopark's commit, where kgo_parkswitch finds it");
_Static_assert(KGO_PFRAME_FLAGS == 15 * 8 &&
	       KGO_PFRAME_RIP == KGO_PFRAME_FLAGS + 8,
	       "the preemption frame: 15 registers, rflags, the rip");
_Static_assert(KGO_PFRAME_REDZONE == GMP_PREEMPT_REDZONE,
	       "the stub drops the gap the kernel stepped over");

/* It reads every word of live frames, their redzones too: not ASan's. */
__attribute__((no_sanitize_address)) void tls_moved(uintptr_t *frame)
{
	uintptr_t old = frame[KGO_CTX_TP / 8] + errno_off;
	uintptr_t new = thread_pointer() + errno_off;
	const struct kgo_g *g = (const struct kgo_g *)frame[KGO_CTX_G / 8];
	uintptr_t *p, *top = (uintptr_t *)(g->stack + g->stack_size);

	for (p = frame + KGO_CTX_REGS / 8; p < top; p++)
		if (__builtin_expect(*p == old, 0))
			*p = new;
}

/*
 * The C++ runtime keeps, per thread, the exceptions caught and not yet
 * done with (what "throw;" and std::current_exception() read) and the
 * count of those in flight (std::uncaught_exceptions()): two words of
 * __cxa_eh_globals, found through __cxa_get_globals() when libstdc++ is
 * in the process. A goroutine that parks or is preempted inside a catch
 * block may resume on another M, and others may throw and catch on this
 * one meanwhile: so the two words are the goroutine's, switched out with
 * it (leaving the M's clear for the next one) and back in on resume.
 */
static KGO_INLINE void eh_switchout(struct kgo_m *m, struct kgo_g *g)
{
	uint64_t *ehg = m->ehg;

	if (ehg) {
		g->eh[0] = ehg[0];
		g->eh[1] = ehg[1];
		ehg[0] = 0;
		ehg[1] = 0;
	}
}

static KGO_INLINE void eh_switchin(struct kgo_m *m, const struct kgo_g *g)
{
	uint64_t *ehg = m->ehg;

	if (ehg) {
		ehg[0] = g->eh[0];
		ehg[1] = g->eh[1];
	}
}

#if KGO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

/*
 * AddressSanitizer's fiber switch, told on arrival: this M now runs on
 * stack @on (@g's, for a goroutine). The kernel resumes goroutines on its
 * own, so no switch can be announced before it happens, as the API
 * expects; so each arrival announces itself, start and finish at once,
 * before any code that cares which stack it is on. The fake stack ASan
 * kept for the stack left (detect_stack_use_after_return) is saved with
 * it: kgo's own switches always arrive somewhere before the goroutine
 * left can run elsewhere (in ASan builds the direct switches go through
 * g0). A goroutine that ends leaves its fake stack to be freed.
 */
void san_arrive(enum kgo_san_stack on, struct kgo_g *g)
{
	struct kgo_m *m = getm();
	void **from, *save, *to;
	const void *lo;
	size_t size;

	switch (m->asan_on) {
	case KGO_SAN_G:
		from = &m->asan_g->asan_fake;
		break;
	case KGO_SAN_G0:
		from = &m->asan_fake_g0;
		break;
	default:
		from = &m->asan_fake_thread;
	}
	switch (on) {
	case KGO_SAN_G:
		lo = g->stack;
		size = g->stack_size;
		to = g->asan_fake;
		break;
	case KGO_SAN_G0:
		lo = m->g0_lo;
		size = KGO_G0_STACK;
		to = m->asan_fake_g0;
		break;
	default:
		lo = m->thread_lo;
		size = m->thread_size;
		to = m->asan_fake_thread;
	}
	__sanitizer_start_switch_fiber(m->asan_dying ? NULL : &save, lo, size);
	/* A dying goroutine's fake stack is freed: its record forgets it. */
	*from = m->asan_dying ? NULL : save;
	m->asan_dying = false;
	__sanitizer_finish_switch_fiber(to, NULL, NULL);
	m->asan_on = on;
	m->asan_g = g;
}

#elif KGO_TSAN
/*
 * ThreadSanitizer's fiber switch, told on arrival as for ASan above: every
 * goroutine and every g0 is a fiber, and the thread its own. kgo is not
 * instrumented, so nothing between the switch and this call is seen. The
 * switch itself orders nothing (no_sync), as a goroutine switch does not
 * in Go's race detector: only kgo's channels, locks, parks and spawns do.
 */
void san_arrive(enum kgo_san_stack on, struct kgo_g *g)
{
	struct kgo_m *m = getm();
	void *to;

	switch (on) {
	case KGO_SAN_G:
		to = g->tsan_fiber;
		break;
	case KGO_SAN_G0:
		to = m->tsan_g0;
		break;
	default:
		to = m->tsan_thread;
	}
	__tsan_switch_to_fiber(to, __tsan_switch_to_fiber_no_sync);
	if (on != KGO_SAN_THREAD)	/* the thread's TLS: see mstart() */
		__tsan_acquire(&m->tsan_thread);
}

/*
 * A new goroutine's fiber, made by its creator: the spawn orders them.
 * Its "created by" stack gets the kgo_go call (kgo's own frames are not
 * on TSan's shadow stack).
 */
void racegostart(struct kgo_g *g)
{
	char name[40] = "goroutine ", *p = name + sizeof(name);
	uint64_t id = g->goid;

	__tsan_func_entry((void *)g->gopc);
	g->tsan_fiber = __tsan_create_fiber(0);
	__tsan_func_exit();
	if (!g->tsan_fiber)
		throw("ThreadSanitizer made no fiber");
	/* The id in decimal, without stdio: TSan copies the name. */
	*--p = '\0';
	do
		*--p = (char)('0' + id % 10);
	while ((id /= 10));
	memmove(name + 10, p, (size_t)(name + sizeof(name) - p));
	__tsan_set_fiber_name(g->tsan_fiber, name);
}

/*
 * On g0, @g dead: its fiber goes. So does the history of its stack, which
 * the next goroutine there must not be seen racing with: in this build
 * every stack is its own mapping (newproc), and TSan forgets a range when
 * it is unmapped (goexit0, next).
 */
void racegoend(struct kgo_g *g)
{
	__tsan_destroy_fiber(g->tsan_fiber);
	g->tsan_fiber = NULL;
}
#endif

#if KGO_SAN
/* mcall's fn, on g0: say so first. */
static void san_g0(void *g)
{
	san_arrive(KGO_SAN_G0, NULL);
	getm()->san_mcall_fn(g);
}
#endif

/*
 * @g is running again after a switch, maybe on another M (its locks at 1):
 * make it the thread's current goroutine and give it its errno and C++
 * exception state back.
 */
static KGO_INLINE void resumed(struct kgo_g *g, int saved_errno)
{
	struct kgo_m *m;

	san_arrive(KGO_SAN_G, g);
	m = getm();

	/*
	 * The P from the slot, not the register the resume passed: if a
	 * preemption or a hand-off stub came in right at the resume point,
	 * that register was saved then and is stale when the stub returns.
	 * Whoever resumes a goroutine writes its slot's p first.
	 */
	m->p = __atomic_load_n(&g->slot->p, __ATOMIC_RELAXED);
	m->curg = g;
	traceev(m->p, KGO_TEV_START, g->goid);
	schedlat_check(g);
	*m->errnop = saved_errno;
	eh_switchin(m, g);
	releasem();
}

/*
 * Switch away from the calling goroutine: save its context and run @fn(g)
 * on the M's g0 stack (Go's mcall). Returns when the goroutine is resumed,
 * maybe on another M: the thread's own state (P, current G, errno) is
 * reloaded for that M. The caller has done acquirem(): until then the
 * goroutine may be preempted and move, so the M is read only after.
 */
void mcall_locked(const char *who, void (*fn)(void *), struct kgo_g *g)
{
	struct kgo_m *m = getm();
	int saved_errno;

	if (!g)
		throw("%s called outside a goroutine", who);
	saved_errno = *m->errnop;
	eh_switchout(m, g);
	/*
	 * The switch is what a pending request asked for. Cleared before it,
	 * not after: a request that comes right at the resume point (the
	 * stub then finds locks raised and defers) must still be honoured.
	 */
	m->preempt = false;
#if KGO_SAN
	m->san_mcall_fn = fn;
	fn = san_g0;
#endif
	kgo_mcall(g->slot, fn, g, m->g0);
	resumed(g, saved_errno);
}

/* On g0: the kernel finds this M another goroutine (does not return). */
__attribute__((noreturn)) void schedule(unsigned long cmd,
						unsigned long arg)
{
	long r;

	getm()->preempt = false;	/* deferred on g0: meant for no one */
	/*
	 * No goroutine is this thread's while it is in the kernel: a signal
	 * handler there, or the thread once MSTART returns, is a plain
	 * thread to kgo. The resume that follows sets curg again.
	 */
	getm()->curg = NULL;
	r = gmp_ioctl(cmd, arg);

	kfatal_ioctl(cmd == GMP_IOC_GOSCHED ? "GMP_IOC_GOSCHED" :
		     cmd == GMP_IOC_GOEXIT ? "GMP_IOC_GOEXIT" :
		     "GMP_IOC_SCHEDULE", r);
}

/*
 * Go's schedule() takes from the global queue first on every 61st
 * schedtick, so goroutines handing their P back and forth cannot starve
 * it. The global queue is the kernel's, and so are spawns still in the
 * ring: the kernel is asked only when one of them has something (the
 * state page's runqsize is kept current; Go reads sched.runqsize without
 * its lock too).
 */
static KGO_INLINE bool globrunq_due(uint32_t tick)
{
	const struct gmp_ring *r = rt.ring;

	return tick % GMP_GLOBAL_TICK == 0 &&
	       (__atomic_load_n(&rt.state->runqsize, __ATOMIC_RELAXED) ||
		__atomic_load_n(&r->tail, __ATOMIC_RELAXED) !=
		__atomic_load_n(&r->head, __ATOMIC_RELAXED));
}

/*
 * The goroutine a yield at @tick switches to in user space, taken from
 * @pp's own queue, or 0 to let the kernel pick: when the global queue is
 * due, when the P is taken away, and with the queue full, since the next
 * G may come from runnext and leave no room for the yielding one.
 */
static KGO_INLINE uint32_t yield_next(struct gmp_pshared *pp, uint32_t tick,
				       bool *inherit)
{
	*inherit = false;
	if (globrunq_due(tick) ||
	    __atomic_load_n(&pp->retire, __ATOMIC_RELAXED) || runqfull(pp))
		return 0;
	return runqget(pp, inherit);
}

/* Count a switch to a G that does not inherit its predecessor's slice. */
static KGO_INLINE void schedtick_set(struct gmp_pshared *pp, uint32_t tick,
				     bool inherit)
{
	if (!inherit)
		__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
}

/*
 * On g0 (Go's gosched_m): requeue @g behind the P's other goroutines and
 * run the next one, all in user space; when the global queue is due, or
 * with nothing else local, let the kernel choose (global queue, stealing,
 * parking).
 */
static void gosched_m(void *arg)
{
	struct kgo_g *g = arg;
	struct gmp_pshared *pp = thisp();
	uint32_t tick = pp->schedtick + 1, next;
	bool inherit;

	traceev(getm()->p, KGO_TEV_YIELD, g->goid);
	/* A wired M runs nothing else: the kernel parks it (stoplockedm). */
	if (getm()->lockedg)
		schedule(GMP_IOC_GOSCHED, 0);

	next = yield_next(pp, tick, &inherit);
	if (next) {
		schedtick_set(pp, tick, inherit);
		__atomic_store_n(&g->slot->status, GMP_GRUNNABLE,
				 __ATOMIC_RELAXED);
		runqput_tail(pp, g->gidx);	/* not full: room */
		execute(pp, next);
	}
	/* The kernel sees the 61st tick and looks at the global queue first. */
	__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
	schedule(GMP_IOC_GOSCHED, 0);
}

/*
 * Go's Gosched. The common case, another goroutine in this P's own queue,
 * switches to it directly without g0: the caller's context is saved, the
 * switch leaves its stack, and only then does the queue tail that shows
 * the caller to thieves move (kgo_switch). Anything else goes through g0
 * and gosched_m, which looks again.
 */
void kgo_yield(void)
{
	struct gmp_pshared *pp;
	struct gmp_gslot *ns;
	struct kgo_g *g;
	struct kgo_m *m;
	uint32_t tick, tail, next;
	int saved_errno;

	acquirem();
	m = getm();
	g = m->curg;
	if (KGO_SAN || !g || m->lockedg)	/* sanitizers: san_arrive() */
		goto slow;
	pp = &rt.allp[m->p];
	tick = pp->schedtick + 1;
	/*
	 * runnext's G (it inherits the slice and would leave the queue as
	 * full as it was), the 61st tick and a retiring P: gosched_m.
	 */
	if (__atomic_load_n(&pp->runnext, __ATOMIC_RELAXED) ||
	    globrunq_due(tick) || __atomic_load_n(&pp->retire, __ATOMIC_RELAXED))
		goto slow;
	next = runqget_head(pp);
	if (!next)
		goto slow;
	/* One taken from the head: room at the tail, and only ours. */
	tail = pp->runqtail;
	__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
	__atomic_store_n(&g->slot->status, GMP_GRUNNABLE, __ATOMIC_RELAXED);
	pp->runq[tail % GMP_RUNQ_SIZE] = g->gidx;
	ns = markrunning(m, pp, next);	/* clears m->preempt, as mcall does */
	saved_errno = *m->errnop;
	eh_switchout(m, g);
	kgo_switch(g->slot, g, ns, &pp->runqtail, tail + 1,
		   (uint64_t)next << 32 | m->p);
	resumed(g, saved_errno);
	return;
slow:
	mcall_locked("kgo_yield", gosched_m, g);
}

/* --- Counters -------------------------------------------------------------- */

_Static_assert(sizeof(struct kgo_stats) == KGO_STATS_SIZE_VER5,
	       "the latest size is the struct's");
_Static_assert(sizeof(struct kgo_stats) >= KGO_STATS_SIZE_VER0,
	       "struct kgo_stats only grows");

int kgo_stats(struct kgo_stats *st)
{
	struct kgo_stats k = { .size = sizeof(k) };
	unsigned int i;

	if (st->size < KGO_STATS_SIZE_VER0)
		return -EINVAL;
	preempt_stats(&k);
	stack_stats(&k);
	for (i = 0; i < GMP_NPROCS_MAX; i++)
		k.ngfget += __atomic_load_n(&gfree[i].ngfget, __ATOMIC_RELAXED);
	k.nspawnwait = __atomic_load_n(&rt.nspawnwait, __ATOMIC_RELAXED);
	if (getg()) {	/* the state page is mapped while goroutines run */
		k.nkpreempt = __atomic_load_n(&rt.state->npreempt,
					      __ATOMIC_RELAXED);
		k.nhandoff = __atomic_load_n(&rt.state->nhandoff,
					     __ATOMIC_RELAXED);
		k.nnetpoll = __atomic_load_n(&rt.state->nnetpoll,
					     __ATOMIC_RELAXED);
		k.nnetpollready = __atomic_load_n(&rt.state->nnetpollready,
						  __ATOMIC_RELAXED);
		k.nsteal = __atomic_load_n(&rt.state->nsteal, __ATOMIC_RELAXED);
		k.nrunqglobal = __atomic_load_n(&rt.state->runqsize,
						__ATOMIC_RELAXED);
		metrics_stats(&k);
	}
	k.size = st->size < sizeof(k) ? st->size : (uint32_t)sizeof(k);
	memcpy(st, &k, k.size);
	return 0;
}

/* --- Exit and spawn: goexit, newproc ------------------------------------------ */

/*
 * On g0, the current goroutine put away (dead or parked): run the next
 * one of this P's queue, or, with none, the P taken away or the global
 * queue due, let the kernel find this M one (Go's schedule after park_m
 * and goexit0).
 */
static __attribute__((noreturn)) void schedule_next(struct gmp_pshared *pp)
{
	uint32_t tick = pp->schedtick + 1, next;
	bool inherit;

	if (globrunq_due(tick)) {
		/* The kernel sees the 61st tick and looks there first. */
		__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
	} else if (!__atomic_load_n(&pp->retire, __ATOMIC_RELAXED) &&
		   !getm()->lockedg) {
		next = runqget(pp, &inherit);
		if (next) {
			schedtick_set(pp, tick, inherit);
			execute(pp, next);
		}
	}
	__atomic_store_n(&pp->curg, 0, __ATOMIC_RELAXED);
	schedule(GMP_IOC_SCHEDULE, 0);
}

/* On g0 (Go's goexit0): free @g, run the next local goroutine. */
static void goexit0(void *arg)
{
	struct kgo_g *g = arg;

	if (g->main_fn) {	/* the kernel ends the instance */
		__atomic_store_n(&rt.mainexited, true, __ATOMIC_SEQ_CST);
		schedule(GMP_IOC_GOEXIT, (uint32_t)g->status);
	}
	traceev(getm()->p, KGO_TEV_END, g->goid);
	__atomic_store_n(&g->slot->status, GMP_GDEAD, __ATOMIC_RELEASE);
	getm()->curg = NULL;
	racegoend(g);
#if KGO_ASAN
	/* Frames that never returned leave poison for the next goroutine. */
	ASAN_UNPOISON_MEMORY_REGION(g->stack, g->stack_size);
#endif
	/* We are off its stack: g0. */
	if (g->own_stack)
		stack_own_put(g);
	else
		gfput(getm()->p, g);
	live_sub();
	/* Not GOEXIT then: its slot may be someone else's already. */
	schedule_next(thisp());
}

static __attribute__((noreturn)) void goexit(struct kgo_g *g, int status)
{
	if (g->lockcount) {	/* unwired: Go would end the thread */
		g->lockcount = 1;
		kgo_unlock_osthread();
	}
	g->status = status;
	if (g->main_fn)		/* its end orders kgo_run's return */
		racerelease(&rt);
	acquirem();
#if KGO_ASAN
	getm()->asan_dying = true;	/* its fake stack goes */
#endif
	mcall_locked("kgo_exit", goexit0, g);
	throw("a dead goroutine was resumed");
}

void gostart1(struct kgo_g *g, uint32_t pid, uint32_t gidx)
{
	struct kgo_m *m;

	san_arrive(KGO_SAN_G, g);
	m = getm();
	(void)pid;	/* maybe stale: see mcall_locked() */
	(void)gidx;
	m->p = __atomic_load_n(&g->slot->p, __ATOMIC_RELAXED);
	m->curg = g;
	traceev(m->p, KGO_TEV_START, g->goid);
	schedlat_check(g);
	/*
	 * From now on the goroutine resumes where a switch saved it (which
	 * leaves the pc alone: kgo_x86_64.S). Nobody resumes it before it
	 * switches out, and the arg is not read there.
	 */
	g->slot->pc = (uintptr_t)kgo_resume;
	releasem();
	if (g->start_locked && kgo_lock_osthread())
		throw("kgo_go_attr: KGO_ATTR_LOCKED: this gmp module cannot wire a goroutine to its thread");
	if (g->main_fn)
		goexit(g, g->main_fn(g->arg));
	g->fn(g->arg);
	goexit(g, 0);
}

void kgo_exit(void)
{
	struct kgo_g *g = getg();

	if (!g)
		throw("kgo_exit called outside a goroutine");
	goexit(g, 0);
}

/*
 * Go's newproc, inside acquirem: it uses this M's P, or from a thread
 * that runs no goroutine the global free list and the spawn ring. @fn, or
 * for the main goroutine (kgo_run, before any M exists) @main_fn, runs
 * with @arg. @stack_size: 0 for a pooled stack, else a stack of that size
 * of its own.
 */
int newproc(void (*fn)(void *arg), int (*main_fn)(void *arg), void *arg,
	    uintptr_t gopc, size_t stack_size, bool locked)
{
	struct kgo_g *cur = getg(), *g;
	struct gmp_gslot *gs;
	uint32_t spill;
	int err;

	/*
	 * A thread with no P takes from the global list. Under TSan every
	 * stack is its own mapping: see racegoend().
	 */
	if (stack_size || KGO_TSAN)
		g = stack_own(stack_size ? stack_size : rt.stack_size, &err);
	else
		g = cur ? gfget(getm()->p, &err) : stack_get(&err);
	if (!g)
		return err;
	g->start_locked = locked;
	g->fn = fn;
	g->arg = arg;
	g->main_fn = main_fn;
	g->gopc = gopc;
	schedlat_mark(getm(), g);
	g->goid = __atomic_add_fetch(&rt.goidgen, 1, __ATOMIC_RELAXED);
	racegostart(g);
	gs = g->slot;
	gs->pc = (uintptr_t)kgo_gostart;
	gs->sp = stack_top(g);
	gs->arg = (uintptr_t)g;
	gs->goid = g->goid;
	gs->parentgoid = cur ? cur->goid : 0;
	__atomic_store_n(&gs->status, GMP_GRUNNABLE, __ATOMIC_RELEASE);

	live_add();
	if (main_fn) {			/* kgo_run's thread becomes M0 and runs it */
		ring_push(g->gidx, GMP_SPAWN_MAIN, RING_QUIET);
		return 0;
	}
	if (!cur) {			/* a thread with no P */
		ring_push(g->gidx, 0, RING_WAKEP);
		return 0;
	}
	/* Into this P's runnext, then wake an idle P. */
	if (!runqput_next(thisp(), g->gidx, &spill)) {
		ring_push(spill, 0, RING_DRAIN);
		return 0;
	}
	wakep();
	return 0;
}

/*
 * Spawn back-pressure (kgo's own; Go has none). A goroutine spawning in a
 * loop faster than its goroutines finish takes a fresh stack for each, and
 * the first touch of a fresh stack is a page fault: measured at 19 us under
 * TCG, most of the cost of a spawn. Go hardly pays it: its 2 KiB stacks
 * sit in huge pages, 1024 to a fault. kgo's fixed-size stacks cannot (a
 * huge page would make every goroutine's RSS its whole stack), so they
 * are recycled sooner instead: when newproc finds its P's free list empty
 * (gfget would go to the global list, where fresh stacks come in, a chunk
 * at a time) while the P already holds KGO_SPAWNWAIT_RUNQ queued
 * goroutines, the spawner yields first. The queued goroutines run, and the
 * ones that end leave their stacks on the P for the spawns that follow.
 *
 * Queued goroutines that park or compute instead give nothing back, and
 * the spawner then only waited. So a fruitless wait doubles the number of
 * times the P's free list may run dry before it waits again (up to
 * 2^KGO_SPAWNWAIT_SHIFT_MAX, a refill of 32 each); a wait that recovers
 * stacks resets it.
 */
#define KGO_SPAWNWAIT_RUNQ	KGO_CHUNK_STACKS
#define KGO_SPAWNWAIT_SHIFT_MAX	10

/* Under acquirem: should the current goroutine yield before spawning? */
static bool spawnwait_due(void)
{
	struct kgo_m *m = getm();
	struct gmp_pshared *pp;
	struct kgo_gfree *pf;

	if (!m->curg || m->lockedg)
		return false;
	pf = &gfree[m->p];
	if (pf->head)
		return false;
	pp = &rt.allp[m->p];
	if (pp->runqtail - __atomic_load_n(&pp->runqhead, __ATOMIC_ACQUIRE) <
	    KGO_SPAWNWAIT_RUNQ)
		return false;
	if (pf->spawnskip) {
		pf->spawnskip--;
		return false;
	}
	return true;
}

/* Yield so queued goroutines can end; judge the wait on the P returned to. */
static void spawnwait(void)
{
	struct kgo_gfree *pf;

	__atomic_add_fetch(&rt.nspawnwait, 1, __ATOMIC_RELAXED);
	kgo_yield();
	acquirem();
	pf = &gfree[getm()->p];
	if (pf->head) {
		pf->spawnshift = 0;
	} else {
		if (pf->spawnshift < KGO_SPAWNWAIT_SHIFT_MAX)
			pf->spawnshift++;
		pf->spawnskip = 1u << pf->spawnshift;
	}
	releasem();
}

int kgo_go(void (*fn)(void *arg), void *arg)
{
	int err;

	if (!rt.running)
		return -ENXIO;
	acquirem();
	if (spawnwait_due()) {
		releasem();
		spawnwait();
		acquirem();
	}
	err = newproc(fn, NULL, arg, (uintptr_t)__builtin_return_address(0),
		      0, false);
	releasem();
	return err;
}

_Static_assert(sizeof(struct kgo_attr) == KGO_ATTR_SIZE_VER0,
	       "kgo_attr grows only with a new KGO_ATTR_SIZE_VER");

int kgo_go_attr(void (*fn)(void *arg), void *arg,
		const struct kgo_attr *attr)
{
	size_t stack = 0;
	uint32_t i;
	int err;

	if (!rt.running)
		return -ENXIO;
	if (!attr)
		return kgo_go(fn, arg);
	if (attr->size < KGO_ATTR_SIZE_VER0 || attr->flags & ~KGO_ATTR_LOCKED)
		return -EINVAL;
	/* A newer caller's fields we do not know must be zero (openat2). */
	for (i = sizeof(*attr); i < attr->size; i++)
		if (((const unsigned char *)attr)[i])
			return -E2BIG;
	if (attr->stack_size) {
		if (attr->stack_size < KGO_STACK_SIZE_MIN ||
		    attr->stack_size > KGO_STACK_SIZE_MAX)
			return -EINVAL;
		stack = ((size_t)attr->stack_size + 4095) & ~(size_t)4095;
		if (stack == rt.stack_size)
			stack = 0;	/* the pool's own size */
	}
	acquirem();
	err = newproc(fn, NULL, arg, (uintptr_t)__builtin_return_address(0),
		      stack, attr->flags & KGO_ATTR_LOCKED);
	releasem();
	return err;
}


/* --- Parking: Go's gopark and goready ------------------------------------- */

/*
 * Go's goready: make @g runnable in this P's runnext, or through the
 * kernel from a thread that holds no P.
 */
void ready(struct kgo_g *g, bool onp)
{
	uint32_t spill;

	schedlat_mark(getm(), g);
	__atomic_store_n(&g->slot->status, GMP_GRUNNABLE,
			 __ATOMIC_RELEASE);
	if (!onp)
		ring_push(g->gidx, 0, RING_WAKEP);
	else if (g->lockedm)	/* to the global queue, and its M (startlockedm) */
		ring_push(g->gidx, 0, RING_DRAIN);
	else if (!runqput_next(thisp(), g->gidx, &spill))
		ring_push(spill, 0, RING_DRAIN);
}

/*
 * On g0, in a commit gopark_m() called: would schedule_next() leave it
 * to the kernel? Then do what it and schedule() do before their system
 * call, and say so: the commit's own system call may park the goroutine
 * and schedule the M at once (GMP_NETPOLL_SCHED). If that call does not
 * park it after all, the commit returns false and execute() undoes this.
 */
bool park_schedules(void)
{
	struct kgo_m *m = getm();
	struct gmp_pshared *pp;

	/* Once: the kernel may schedule the M away from gopark_m(). */
	if (!m->parkslow || m->lockedg || KGO_SAN)
		return false;
	m->parkslow = false;
	pp = thisp();
	if (!runqempty(pp) || globrunq_due(pp->schedtick + 1) ||
	    __atomic_load_n(&pp->retire, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&pp->curg, 0, __ATOMIC_RELAXED);
	m->preempt = false;
	m->curg = NULL;
	return true;
}

/* On g0: Go's park_m for gopark(). */
static void gopark_m(void *arg)
{
	struct kgo_g *g = arg;
	struct gmp_pshared *pp = thisp();
	bool sleeping = g->park_sleeping;

	traceev(getm()->p, KGO_TEV_PARK, g->goid);
	__atomic_store_n(&g->slot->status, GMP_GWAITING, __ATOMIC_RELAXED);
	getm()->parkslow = true;
	if (!g->park_commit(g, g->park_commit_arg)) {
		getm()->parkslow = false;
		execute(pp, g->gidx);
	}
	getm()->parkslow = false;
	/* From here a readier may run @g on any M, even end it: no more @g. */
	if (!sleeping)
		live_sub();
	schedule_next(pp);
}

/*
 * On g0, from kgo_parkswitch: @g's commit did not park it (the word it
 * waits out had changed). Put back the goroutine taken to follow it, in
 * runnext, which the taking emptied, and resume @g.
 */
void park_abort(struct kgo_g *g, uint64_t next_pid_gidx)
{
	struct gmp_pshared *pp = thisp();
	uint32_t next = (uint32_t)(next_pid_gidx >> 32), spill;

	if (!g->park_sleeping)
		live_add();
	__atomic_store_n(&gslot(next)->status, GMP_GRUNNABLE, __ATOMIC_RELAXED);
	if (!runqput_next(pp, next, &spill))
		ring_push(spill, 0, RING_DRAIN);
	execute(pp, g->gidx);
}

/*
 * Go's gopark, called inside acquirem: park the calling goroutine once
 * @commit(g, @arg) says so, on g0, and run another. The common case,
 * another goroutine in this P's own queue, goes straight to it
 * (kgo_parkswitch: the commit runs on g0 between the two, no scheduler
 * call); anything else through gopark_m, which lets the kernel choose.
 */
void gopark(bool (*commit)(struct kgo_g *g, void *arg), void *arg,
		bool sleeping, const char *who)
{
	struct kgo_m *m = getm();
	struct kgo_g *g = m->curg;
	struct gmp_pshared *pp;
	struct gmp_gslot *ns;
	uint32_t tick, next;
	int saved_errno;
	bool inherit;

	if (!g)
		throw("%s called outside a goroutine", who);
	g->park_commit = commit;
	g->park_commit_arg = arg;
	g->park_sleeping = sleeping;
	g->waitreason = who;
	g->waitsince = rt.state->sysmontime;
	pp = &rt.allp[m->p];
	tick = pp->schedtick + 1;
	if (KGO_SAN || m->lockedg || globrunq_due(tick) ||
	    __atomic_load_n(&pp->retire, __ATOMIC_RELAXED))
		goto slow;
	next = runqget(pp, &inherit);
	if (!next)
		goto slow;
	schedtick_set(pp, tick, inherit);
	/*
	 * Counted out now, not after the commit: @next is live, so the count
	 * cannot reach zero meanwhile (park_abort counts @g back in).
	 */
	if (!sleeping)
		live_sub();
	__atomic_store_n(&g->slot->status, GMP_GWAITING,
			 __ATOMIC_RELAXED);
	ns = markrunning(m, pp, next);	/* clears m->preempt, as mcall does */
	saved_errno = *m->errnop;
	eh_switchout(m, g);
	kgo_parkswitch(g->slot, g, m->g0, ns,
		       (uint64_t)next << 32 | m->p);
	resumed(g, saved_errno);
	return;
slow:
	mcall_locked(who, gopark_m, g);
}

void goready(struct kgo_g *g, bool sleeping)
{
	bool onp = getg() != NULL;

	if (!sleeping)
		live_add();
	ready(g, onp);
	if (onp)
		wakep();
}

/* --- Small services: time, random, LockOSThread, queries --------------------- */

int64_t nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Per M, not per goroutine: only its spread matters (Go's fastrand). */
static __thread uint64_t fastrand_state
	__attribute__((tls_model("initial-exec")));

uint32_t fastrand(void)
{
	uint64_t x;

	kgo_acquirem();		/* the state is this M's until releasem */
	x = fastrand_state;
	if (!x)
		x = (uint64_t)nanotime() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	fastrand_state = x;
	kgo_releasem();
	return (uint32_t)(x >> 32);
}

int kgo_lock_osthread(void)
{
	struct kgo_m *m;
	struct kgo_g *g;
	long r = 0;

	acquirem();		/* the M we wire to is the one we are on */
	m = getm();
	g = m->curg;
	if (!rt.running || !g) {
		releasem();
		return -EINVAL;
	}
	if (!g->lockcount) {
		r = gmp_ioctl(GMP_IOC_LOCKOSTHREAD, 1);
		if (r == -ENOTTY)
			r = -ENOTSUP;	/* a module without it */
		if (!r) {
			g->lockedm = m;
			m->lockedg = g;
		}
	}
	if (!r)
		g->lockcount++;
	releasem();
	return (int)r;
}

int kgo_unlock_osthread(void)
{
	struct kgo_m *m;
	struct kgo_g *g;
	long r = 0;

	acquirem();
	m = getm();
	g = m->curg;
	if (!rt.running || !g || !g->lockcount) {
		releasem();
		return -EINVAL;
	}
	if (--g->lockcount == 0) {
		r = gmp_ioctl(GMP_IOC_LOCKOSTHREAD, 0);
		g->lockedm = NULL;
		m->lockedg = NULL;
	}
	releasem();
	return (int)r;
}

uint64_t kgo_id(void)
{
	struct kgo_g *g = getg();

	return g ? g->goid : 0;
}

int kgo_nprocs(void)
{
	return rt.running ? (int)__atomic_load_n(&rt.state->nprocs,
						 __ATOMIC_RELAXED) : 0;
}

int kgo_gomaxprocs(int n)
{
	if (!rt.running)
		return -ENXIO;
	if (n < 1)
		return kgo_nprocs();
	return (int)gmp_ioctl(GMP_IOC_PROCRESIZE, (unsigned int)n);
}
