/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * Inside kgo: what the scheduler's user side (kgo_proc.c and its
 * neighbours) gives the rest of the library (channels, select, sync,
 * timers), and below, the types and helpers kgo's own files share.
 * Hidden symbols only: none of this is ABI.
 */
#ifndef KGO_RUNTIME_H
#define KGO_RUNTIME_H

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kgo_asm.h"

/*
 * The symbols kgo's files share. Hidden from the shared library's users,
 * and renamed here so that a static link cannot clash with a program's
 * own (an execute() or a wakep() of its own): kgo's sources use Go's
 * names, the objects carry __kgo_ ones. kgo_ names are the public API
 * (kgo.h) and the assembly's entry points (kgo_x86_64.S); the functions
 * the assembly calls are renamed in kgo_asm.h.
 */
#define rt			__kgo_rt
#define gfree			__kgo_gfree
#define gmp_ioctl		__kgo_gmp_ioctl
#define net_reset		__kgo_net_reset
#define park_schedules		__kgo_park_schedules
#define select_poll		__kgo_select_poll
#define select_case_check	__kgo_select_case_check
#define wakep			__kgo_wakep
#define ring_push		__kgo_ring_push
#define mcall_locked		__kgo_mcall_locked
#define schedule		__kgo_schedule
#define ready			__kgo_ready
#define newproc			__kgo_newproc
#define gopark			__kgo_gopark
#define goready			__kgo_goready
#define live_add		__kgo_live_add
#define live_sub		__kgo_live_sub
#define thread_register		__kgo_thread_register
#define throw			__kgo_throw
#define nanotime		__kgo_nanotime
#define chan_elemsize		__kgo_chan_elemsize
#define timer_start		__kgo_timer_start
#define timer_stop		__kgo_timer_stop
#define fastrand		__kgo_fastrand
#define spin_lock_slow		__kgo_spin_lock_slow
#define spin_unlock_commit	__kgo_spin_unlock_commit
#define semtable		__kgo_semtable
#define releasem_preempt	__kgo_releasem_preempt
#define stack_top		__kgo_stack_top
#define stack_own		__kgo_stack_own
#define stack_own_put		__kgo_stack_own_put
#define stack_get		__kgo_stack_get
#define gfget_refill		__kgo_gfget_refill
#define gfput_spill		__kgo_gfput_spill
#define segv_handler_install	__kgo_segv_handler_install
#define sigquit_install		__kgo_sigquit_install
#define dump_fatal		__kgo_dump_fatal
#define san_arrive		__kgo_san_arrive
#define san_threads_register	__kgo_san_threads_register
#define timers_init		__kgo_timers_init
#define racegostart		__kgo_racegostart
#define racegoend		__kgo_racegoend
#define trace_init		__kgo_trace_init
#define trace_flush		__kgo_trace_flush
#define traceev_slow		__kgo_traceev_slow
#define metrics_stats		__kgo_metrics_stats
#define schedlat_record		__kgo_schedlat_record
#define stack_ngidx		__kgo_stack_ngidx
#define sigstack_set		__kgo_sigstack_set
#define sigstack_clear		__kgo_sigstack_clear
#define xsave_init		__kgo_xsave_init
#define safe_text_init		__kgo_safe_text_init
#define stack_init		__kgo_stack_init
#define stack_stats		__kgo_stack_stats
#define preempt_stats		__kgo_preempt_stats
#define curg_off		__kgo_curg_off
#define errno_off		__kgo_errno_off
#define locks_off		__kgo_locks_off
#define m_off			__kgo_m_off
#define preempt_off		__kgo_preempt_off

#define KGO_HIDDEN	__attribute__((visibility("hidden")))

/*
 * Built with -fsanitize=address (make -C userlib asan): every stack an M
 * arrives on is announced to AddressSanitizer (san_arrive(), kgo_proc.c).
 */
#ifdef __SANITIZE_ADDRESS__
#define KGO_ASAN	1
#else
#define KGO_ASAN	0
#endif

/*
 * Built for ThreadSanitizer (make -C userlib tsan): kgo itself is not
 * instrumented, as Go's runtime is not under -race, but tells TSan of
 * every switch (each goroutine, each g0 is a TSan fiber) and of the
 * happens-before edges its channels, locks and parks make (racerelease,
 * raceacquire; Documentation/debugging.rst).
 */
#ifndef KGO_TSAN
#define KGO_TSAN	0
#endif

/* A sanitizer build: kgo's direct switches go through g0 (san_arrive). */
#define KGO_SAN		(KGO_ASAN || KGO_TSAN)

/* The stacks an M runs on, for san_arrive(). */
enum kgo_san_stack {
	KGO_SAN_THREAD,		/* its own thread's, before and after MSTART */
	KGO_SAN_G0,		/* g0's */
	KGO_SAN_G,		/* a goroutine's */
};

struct kgo_g;

/* Offsets of this thread's M fields from %fs: the same in every thread. */
extern intptr_t locks_off KGO_HIDDEN, curg_off KGO_HIDDEN,
	preempt_off KGO_HIDDEN;

void releasem_preempt(void) KGO_HIDDEN;

/*
 * The running goroutine (Go's getg), NULL on a thread that is not running
 * one, in one %fs-relative load: outside kgo_acquirem() a goroutine may be
 * preempted at any instruction and resumed on another thread.
 */
static inline struct kgo_g *kgo_getg(void)
{
	struct kgo_g *g;

	__asm__ volatile("movq %%fs:(%1), %0" : "=r"(g) : "r"(curg_off)
			 : "memory");
	return g;
}

/* Go's acquirem: no preemption, no move to another M, until releasem. */
static inline void kgo_acquirem(void)
{
	__asm__ volatile("incl %%fs:(%0)" : : "r"(locks_off) : "memory");
}

/*
 * Go's releasem: and honour a preemption that came meanwhile. Once locks
 * is dropped the goroutine may move, so the flag is read in one
 * instruction too (a stale one is harmless: releasem_preempt() checks
 * again).
 */
static inline void kgo_releasem(void)
{
	unsigned char preempt;

	__asm__ volatile("decl %%fs:(%1)\n\tmovb %%fs:(%2), %0"
			 : "=q"(preempt) : "r"(locks_off),
			   "r"(preempt_off) : "memory");
	if (__builtin_expect(preempt, 0))
		releasem_preempt();
}

/*
 * A spin lock for short sections (a few pointer moves, a small copy),
 * taken inside kgo_acquirem(), so its holder is never preempted by kgo;
 * a waiter whose holder's thread lost its CPU yields the CPU now and then.
 */
struct kgo_spinlock {
	uint32_t v;
};

void spin_lock_slow(struct kgo_spinlock *l) KGO_HIDDEN;

/* Taken at the first try, inline; a held lock waits out of line. */
static inline void spin_lock(struct kgo_spinlock *l)
{
	if (__builtin_expect(__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE),
			     0))
		spin_lock_slow(l);
}

static inline void spin_unlock(struct kgo_spinlock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

struct kgo_g;
bool spin_unlock_commit(struct kgo_g *g, void *arg) KGO_HIDDEN;

/* Let others run: the goroutine yields, a plain thread sched_yield()s. */
static inline void yield_anywhere(void)
{
	if (kgo_getg())
		kgo_yield();
	else
		sched_yield();
}

/*
 * A plain thread's wait for a waker: sleep while *@addr still holds @val
 * (spurious returns happen: callers loop), and the waker's side.
 */
static inline void kgo_futex_wait(uint32_t *addr, uint32_t val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static inline void kgo_futex_wake(uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * Go's gopark, inside kgo_acquirem(): save the calling goroutine, mark it
 * waiting and call @commit(@g, @arg) on the M's g0 stack, where the
 * caller's locks are released (Go's unlockf). If @commit returns false
 * the goroutine resumes at once; else it waits until goready(). Either
 * way gopark returns with the acquirem level released. @sleeping:
 * something other than a goroutine will wake it (a timer), so it does not
 * count towards a deadlock. @who names the caller in fatal messages.
 */
void gopark(bool (*commit)(struct kgo_g *g, void *arg), void *arg,
		bool sleeping, const char *who) KGO_HIDDEN;

/*
 * Go's goready: make @g, parked by gopark(), runnable. From a
 * goroutine (inside kgo_acquirem()) into its P's runnext; from any other
 * thread through the kernel. @sleeping as it was parked.
 */
void goready(struct kgo_g *g, bool sleeping) KGO_HIDDEN;

/*
 * The wait table (kgo_sync.c, Go's semTable): waiters on a word sit in
 * one of its roots, hashed by the word's address, first in first out
 * unless one asks to go first (lifo: a mutex waiter that already waited
 * once). The semaphore (kgo_sync.c) and kgo_park (kgo_park.c) wait here.
 * A root's lock is held for a few pointer moves, never across a switch;
 * nwait counts its semaphore waiters, for a release's look without the
 * lock. Each side dequeues only waiters of its own kind.
 */
struct semwaiter {
	struct kgo_g *g;		/* NULL: a plain thread */
	const uint32_t *addr;
	struct semwaiter *next, *prev;
	uint32_t done;			/* 1 once released to (the futex word); kgo_park: 1 if it did not park */
	bool ticket;			/* handed the semaphore directly */
	uint32_t val;			/* kgo_park: the value it waits out */
	bool park;			/* kgo_park's, not the semaphore's */
};

struct semroot {
	struct kgo_spinlock lock;
	uint32_t nwait;
	struct semwaiter *first, *last;
} __attribute__((aligned(64)));

/* Go's semTabSize is 251 too. */
#define SEMTABLE_SIZE 251
extern struct semroot semtable[SEMTABLE_SIZE] KGO_HIDDEN;

static inline struct semroot *semroot(const uint32_t *addr)
{
	return &semtable[((uintptr_t)addr >> 3) % SEMTABLE_SIZE];
}

/*
 * Go's semaRoot.queue, root locked: add @w (its g, addr and kind set)
 * behind the root's waiters, or in front with @lifo. A semaphore waiter
 * is counted in nwait before its last look at the word, as in Go: a
 * release that misses the word's change then sees the count.
 */
static inline void semroot_queue(struct semroot *root, struct semwaiter *w,
				  bool lifo)
{
	w->next = NULL;
	w->prev = NULL;
	if (lifo && root->first) {
		w->next = root->first;
		root->first->prev = w;
		root->first = w;
	} else {
		w->prev = root->last;
		if (root->last)
			root->last->next = w;
		else
			root->first = w;
		root->last = w;
	}
}

/* From @w on, the first waiter on @addr of the kind asked for, or NULL. */
static inline struct semwaiter *semroot_find(struct semwaiter *w,
					      const uint32_t *addr, bool park)
{
	while (w && (w->addr != addr || w->park != park))
		w = w->next;
	return w;
}

/* Take @w off @root, root locked; @w's own links are left as they were. */
static inline void semroot_unlink(struct semroot *root, struct semwaiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		root->first = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		root->last = w->prev;
}

/*
 * Go's semaRoot.dequeue, root locked: take the first waiter on @addr of
 * the kind asked for (kgo_park's, or the semaphore's) off the root, or
 * NULL. Each side wakes only its own: a kgo_ready() on a semaphore word
 * never takes a semaphore waiter, nor a release a parked goroutine.
 */
static inline struct semwaiter *semroot_dequeue(struct semroot *root,
						 const uint32_t *addr, bool park)
{
	struct semwaiter *w = semroot_find(root->first, addr, park);

	if (w)
		semroot_unlink(root, w);
	return w;
}

/*
 * Deadlock detection (Go's checkdead). kgo counts what can still make
 * progress: goroutines not parked for good (sleepers included) and timers
 * armed. A count that falls to zero is "all goroutines are asleep", if
 * no thread outside kgo could still wake one.
 */
void live_add(void) KGO_HIDDEN;
void live_sub(void) KGO_HIDDEN;

/* The calling thread is kgo's own (@add) or no longer: see checkdead. */
void thread_register(bool add) KGO_HIDDEN;

/* A fatal misuse: a message naming it on stderr, then abort (Go's throw). */
void throw(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2))) KGO_HIDDEN;

/* CLOCK_MONOTONIC in ns. */
int64_t nanotime(void) KGO_HIDDEN;

/*
 * A timer of kgo's timer thread (kgo_time.c): at @when, fire(t, when)
 * runs on that thread, outside any lock. A periodic timer (@period > 0)
 * stays armed, its next due time on the grid when + k * period. A @live
 * one counts for checkdead as something that can still make progress
 * from arming until its (one-shot) fire has returned or it is stopped.
 * timer_start: arm an idle timer (0, or -ENOMEM/-EAGAIN). timer_stop:
 * 1 if it was armed, 0 if not; either way it is not firing when this
 * returns (the timer thread, stopping one from a fire, does not wait).
 */
struct timer {
	int64_t when, period;
	size_t idx;			/* in the heap, while armed */
	int state;
	bool live;
	void (*fire)(struct timer *t, int64_t due);
};

/* A channel's element size (kgo_chan.c keeps its struct to itself). */
size_t chan_elemsize(const struct kgo_chan *c) KGO_HIDDEN;

int timers_init(void) KGO_HIDDEN;
int timer_start(struct timer *t, int64_t when) KGO_HIDDEN;
int timer_stop(struct timer *t) KGO_HIDDEN;

/* A cheap per-M random number (Go's fastrand). */
uint32_t fastrand(void) KGO_HIDDEN;

/* --- The runtime's own types and helpers, for kgo's .c files --------------- */


/* Hot helpers of the switch paths: under emulation every call counts. */
#define KGO_INLINE	inline __attribute__((always_inline))

/* A goroutine's user-side record: one per stack, beside it, not on it. */
struct kgo_chunk;

struct kgo_g {
	void (*fn)(void *arg);
	void *arg;
	int (*main_fn)(void *arg);	/* the main goroutine only */
	char *stack;			/* its lowest byte, above any guard page */
	size_t stack_size;
	struct kgo_chunk *chunk;	/* the pool chunk it is in, if any */
	uint64_t goid;
	uint32_t gidx;			/* its slot in the G table, for life */
	int status;			/* the main goroutine's exit status */
	bool (*park_commit)(struct kgo_g *g, void *arg); /* gopark's */
	void *park_commit_arg;
	bool park_sleeping;
	struct kgo_m *lockedm;		/* the M it is wired to, if any */
	bool own_stack;			/* kgo_go_attr's size: not pooled */
	bool start_locked;		/* KGO_ATTR_LOCKED */
	int lockcount;			/* kgo_lock_osthread() nesting */
	uint64_t eh[2];			/* its C++ exception globals, switched out */
	bool keepm;			/* preempted where it must keep its M */
	const char *waitreason;		/* gopark's @who, for dumps */
	uint64_t waitsince;		/* the kernel's nanotime at its park */
	uintptr_t gopc;			/* the pc of the kgo_go that made it */
	uint64_t runnable_tsc;		/* sampled: when it became runnable */
	struct kgo_g *next;		/* free list */
	struct gmp_gslot *slot;		/* gslot(gidx), kept at hand */
#if KGO_ASAN
	void *asan_fake;		/* its fake stack while switched out */
#endif
#if KGO_TSAN
	void *tsan_fiber;		/* its TSan fiber, from newproc */
#endif
};

/* The instance and the state of every concern: one per process. */
struct kgo_rt {
	int fd;
	bool running;
	int nprocs;
	size_t stack_size;
	struct gmp_state *state;
	size_t state_size;
	struct gmp_ring *ring;
	struct gmp_spawn *spawn;
	size_t ring_size;
	void *sched;			/* the scheduler area */
	size_t sched_size;
	struct gmp_pshared *allp;	/* P's public halves */
	struct gmp_gslot *gtab;		/* the G table */
	uint32_t maxg;
	uint64_t goidgen;
	pthread_mutex_t ring_lock;	/* spawn ring producers */
	uint64_t nspawnwait;		/* spawnwait() yields */
	bool mainexited;		/* the instance is ending */
	bool nodeadlock;		/* KGO_DEADLOCK=0 */
	bool keepm;			/* the kernel has GOSCHED_KEEPM */
	bool netpoll;			/* ... and NETPOLL_WAIT */
	bool readguess;			/* ... GMP_NETPOLL_POLL, KGO_READGUESS=1 */
	/* the poll area (GMP_FEAT_NETPOLL_PD), or NULL: registered files' counts */
	const volatile struct gmp_pollslot *pollslots;
	int pid;			/* the process that made the instance */
	struct kgo_tracebuf *trace;	/* KGO_TRACE's buffers, per P, or NULL */
};

/*
 * Per M (thread): the goroutine it runs, the P it holds while it does,
 * its g0 stack, where switches that give up the current goroutine's stack
 * run (Go's mcall), and where its errno lives.
 *
 * locks is Go's m.locks: while it is non-zero the M is inside kgo (on g0,
 * between switching a goroutine out and the next one in, or in a section
 * that must not move to another M), and a preemption the kernel injects
 * only sets preempt, which the section's end honours. It is changed only
 * by one instruction addressing the thread's own block (acquirem), so a
 * goroutine preempted around it cannot change another M's count. Every M
 * enters goroutines with locks at 1, and a goroutine clears it once it
 * knows which M it is on.
 */
struct kgo_m {
	struct kgo_g *curg;
	struct kgo_g *lockedg;		/* the goroutine wired to it */
	uint32_t p;
	int locks;
	bool preempt;
	bool parkslow;			/* in gopark_m's commit */
	char *g0;
	int *errnop;
	uint64_t *ehg;	/* the C++ runtime's exception globals, or NULL */
	uint32_t schedsample;	/* readyings by this thread: 1 in 8 timed */
#if KGO_ASAN
	/* The stack ASan was last told this thread runs on (san_arrive) */
	enum kgo_san_stack asan_on;
	struct kgo_g *asan_g;		/* KGO_SAN_G's goroutine */
	bool asan_dying;		/* ... which is leaving for good */
	void *asan_fake_g0, *asan_fake_thread;
	char *g0_lo;			/* g0's stack */
	char *thread_lo;		/* the thread's own stack */
	size_t thread_size;
#endif
#if KGO_TSAN
	void *tsan_g0, *tsan_thread;	/* the fibers of g0 and the thread */
#endif
#if KGO_SAN
	void (*san_mcall_fn)(void *);	/* mcall's fn, run by san_g0() */
#endif
};

#define KGO_PAGE	4096

/* Each M's g0 stack, where mcall's functions run. */
#define KGO_G0_STACK	(64 * 1024)
/*
 * Below every pooled stack: a frame that overshoots its stack by up to
 * this much faults in the guard, never in a neighbour's stack. It costs
 * no memory (no page is ever there), only address space, and the page
 * tables of a million stacks grow by 128 bytes each.
 */
#define KGO_STACK_GUARD_SIZE	(64 * 1024)

/*
 * Stacks come in chunks of this many (kgo_stack.c): one mapping, and the
 * back-pressure threshold of spawns (kgo_proc.c).
 */
#define KGO_CHUNK_STACKS	64

/*
 * Each P keeps its own free G's (Go's p.gFree): newproc takes from it and
 * goexit0 gives back to it without a lock. Only the M holding the P uses
 * it, with locks raised, so the P cannot be taken meanwhile. An empty list
 * takes KGO_GFREE_BATCH from the global one in one locked section (gfget),
 * and one that reaches KGO_GFREE_MAX gives back all but KGO_GFREE_BATCH - 1
 * (gfput): Go's 32 and 64. Threads without a P use the global list. A P
 * retired by kgo_gomaxprocs() keeps its list until it comes back; stacks
 * in P lists are never returned to the system.
 */
#define KGO_GFREE_BATCH		32
#define KGO_GFREE_MAX		64

struct kgo_gfree {
	struct kgo_g *head;
	unsigned int n;
	uint64_t ngfget;		/* G's taken from this list */
	uint32_t spawnskip;		/* dry lists to pass before a spawnwait */
	uint32_t spawnshift;		/* fruitless spawnwaits in a row */
} __attribute__((aligned(64)));


extern struct kgo_rt rt KGO_HIDDEN;

/* --- The user-space trace (kgo_trace.c) ---------------------------------- */

#define KGO_TRACE_EVENTS	(1 << 16)	/* kept per P: its last ones */

enum kgo_tev_type {
	KGO_TEV_START,		/* a goroutine runs on the P from now */
	KGO_TEV_YIELD,		/* ... and leaves it: kgo_yield */
	KGO_TEV_PARK,		/* gopark (its wait reason in a dump) */
	KGO_TEV_PREEMPT,	/* preempted (sysmon, or the hand-off) */
	KGO_TEV_END,		/* its end */
	KGO_TEV_NTYPES,
};

struct kgo_tev {
	uint64_t ts;		/* CLOCK_MONOTONIC, ns */
	uint64_t goid;
	uint32_t type;		/* enum kgo_tev_type */
	uint32_t pad;
};

struct kgo_tracebuf {
	uint64_t n;		/* events written, ever */
	uint64_t pad[7];	/* each P's count on its own cache line */
	struct kgo_tev ev[KGO_TRACE_EVENTS];
};

/* --- Metrics (kgo_trace.c): Go's /sched/latencies, sampled ----------- */

void metrics_stats(struct kgo_stats *k) KGO_HIDDEN;
void schedlat_record(struct kgo_g *g) KGO_HIDDEN;

/* @g becomes runnable: one time in 8 (Go's gTrackingPeriod), note when. */
static KGO_INLINE void schedlat_mark(struct kgo_m *m, struct kgo_g *g)
{
	if (__builtin_expect(!(++m->schedsample & 7), 0))
		g->runnable_tsc = __builtin_ia32_rdtsc();
}

/* @g runs: if it was noted, count how long it waited. */
static KGO_INLINE void schedlat_check(struct kgo_g *g)
{
	if (__builtin_expect(g->runnable_tsc != 0, 0))
		schedlat_record(g);
}

void trace_init(void) KGO_HIDDEN;
void trace_flush(void) KGO_HIDDEN;
void traceev_slow(uint32_t p, uint32_t type, uint64_t goid) KGO_HIDDEN;

/* One event on P @p, by the M holding it; off, one predictable test. */
static KGO_INLINE void traceev(uint32_t p, uint32_t type, uint64_t goid)
{
	if (__builtin_expect(rt.trace != NULL, 0))
		traceev_slow(p, type, goid);
}
extern struct kgo_gfree gfree[GMP_NPROCS_MAX] KGO_HIDDEN;
/* Offsets from %fs of this thread's M block and of errno (kgo_setup.c). */
extern intptr_t m_off KGO_HIDDEN, errno_off KGO_HIDDEN;

/* kgo_proc.c: the kernel, the spawn ring, switches through g0. */
enum { RING_WAKEP, RING_DRAIN, RING_QUIET };

long gmp_ioctl(unsigned long cmd, unsigned long arg) KGO_HIDDEN;
bool park_schedules(void) KGO_HIDDEN;
/* kgo_select() with a KGO_POLL case (kgo_net.c). */
int select_poll(struct kgo_select_case *cases, int n, unsigned int flags)
	KGO_HIDDEN;
int select_case_check(const struct kgo_select_case *cs) KGO_HIDDEN;
/* kgo_net.c: forget the registrations of an instance gone. */
void net_reset(void) KGO_HIDDEN;
void wakep(void) KGO_HIDDEN;
void ring_push(uint32_t gidx, uint32_t flags, int then) KGO_HIDDEN;
void mcall_locked(const char *who, void (*fn)(void *), struct kgo_g *g)
	KGO_HIDDEN;
void schedule(unsigned long cmd, unsigned long arg)
	__attribute__((noreturn)) KGO_HIDDEN;
void ready(struct kgo_g *g, bool onp) KGO_HIDDEN;
int newproc(void (*fn)(void *arg), int (*main_fn)(void *arg), void *arg,
	    uintptr_t gopc,
	    size_t stack_size, bool locked) KGO_HIDDEN;

/* kgo_stack.c: stacks, G records and indices, stack overflow. */
uintptr_t stack_top(const struct kgo_g *g) KGO_HIDDEN;
struct kgo_g *stack_own(size_t size, int *err) KGO_HIDDEN;
void stack_own_put(struct kgo_g *g) KGO_HIDDEN;
struct kgo_g *stack_get(int *err) KGO_HIDDEN;
int gfget_refill(struct kgo_gfree *pf) KGO_HIDDEN;
void gfput_spill(struct kgo_gfree *pf) KGO_HIDDEN;
void segv_handler_install(void) KGO_HIDDEN;
char *sigstack_set(void) KGO_HIDDEN;
void sigstack_clear(char *p) KGO_HIDDEN;
void stack_init(size_t size, bool guard) KGO_HIDDEN;
void stack_stats(struct kgo_stats *k) KGO_HIDDEN;
uint32_t stack_ngidx(void) KGO_HIDDEN;

#if KGO_SAN
void san_arrive(enum kgo_san_stack on, struct kgo_g *g) KGO_HIDDEN;
#else
static inline void san_arrive(enum kgo_san_stack on, struct kgo_g *g)
{
	(void)on;
	(void)g;
}
#endif

/*
 * ThreadSanitizer (KGO_TSAN): Go's race hooks. racerelease(addr) before
 * and raceacquire(addr) after an operation that orders goroutines make
 * the ordering TSan's happens-before; racegostart gives a new goroutine
 * its fiber, racegoend takes it and the stack's history away. A copy
 * between goroutines' memory kgo makes for them (a channel's element) is
 * racecopy: uninstrumented, since the copier is not its owner.
 */
#if KGO_TSAN
#include <sanitizer/tsan_interface.h>

static inline void raceacquire(const void *addr)
{
	__tsan_acquire((void *)addr);
}

static inline void racerelease(const void *addr)
{
	__tsan_release((void *)addr);
}

static inline void racecopy(void *dst, const void *src, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n)
			 : : "memory");
}

static inline void raceclear(void *dst, size_t n)
{
	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0)
			 : "memory");
}

void racegostart(struct kgo_g *g) KGO_HIDDEN;
void racegoend(struct kgo_g *g) KGO_HIDDEN;
void san_threads_register(void) KGO_HIDDEN;

/* TSan's entry points no header declares. */
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
void __tsan_func_entry(void *call_pc);
void __tsan_func_exit(void);
void __tsan_read_range(void *addr, unsigned long size);
void __tsan_write_range(void *addr, unsigned long size);
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
void AnnotateBenignRaceSized(const char *file, int line,
			     const volatile void *mem, long size,
			     const char *description);

/* TSan sees neither the accesses nor the ordering of the calls between. */
static inline void raceignore(bool begin)
{
	if (begin) {
		__tsan_ignore_thread_begin();
		AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
	} else {
		AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
		__tsan_ignore_thread_end();
	}
}
#else
static inline void raceignore(bool begin)
{
	(void)begin;
}

static inline void raceacquire(const void *addr)
{
	(void)addr;
}

static inline void racerelease(const void *addr)
{
	(void)addr;
}

static inline void racecopy(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

static inline void raceclear(void *dst, size_t n)
{
	memset(dst, 0, n);
}

static inline void racegostart(struct kgo_g *g)
{
	(void)g;
}

static inline void racegoend(struct kgo_g *g)
{
	(void)g;
}

static inline void san_threads_register(void)
{
}
#endif

/*
 * kgo's own pthread locks (its stacks, ring, timers, signals). Under TSan
 * what they hold is kgo's business: the calls made inside (malloc, a
 * condition variable) are not seen, and the lock orders nothing, since
 * two goroutines that each spawned, or slept, are not ordered in Go and
 * must not hide a race between them.
 */
static inline void rt_lock(pthread_mutex_t *l)
{
	raceignore(true);
	pthread_mutex_lock(l);
}

static inline void rt_unlock(pthread_mutex_t *l)
{
	pthread_mutex_unlock(l);
	raceignore(false);
}

/* kgo_traceback.c: goroutine dumps */
void dump_fatal(void) KGO_HIDDEN;
void sigquit_install(void) KGO_HIDDEN;

/* kgo_preempt.c */
void xsave_init(void) KGO_HIDDEN;
int safe_text_init(void) KGO_HIDDEN;
bool *asyncpreempt2(const uint64_t *frame) KGO_HIDDEN;
void preempt_stats(struct kgo_stats *k) KGO_HIDDEN;
extern char kgo_asyncpreempt[] KGO_HIDDEN, kgo_asyncpreempt_end[] KGO_HIDDEN;

/* libstdc++'s, when it is in the process (see eh_switchout()). */
extern void *__cxa_get_globals(void) __attribute__((weak));

uint32_t kgo_mcall(struct gmp_gslot *slot, void (*fn)(void *),
		   struct kgo_g *g, void *g0sp)
	__attribute__((visibility("hidden")));
uint32_t kgo_switch(struct gmp_gslot *slot, struct kgo_g *g,
		    const struct gmp_gslot *next, uint32_t *publish,
		    uint32_t val, uint64_t next_pid_gidx)
	__attribute__((visibility("hidden")));
uint32_t kgo_parkswitch(struct gmp_gslot *slot, struct kgo_g *g, void *g0sp,
			const struct gmp_gslot *next, uint64_t next_pid_gidx)
	__attribute__((visibility("hidden")));
void park_abort(struct kgo_g *g, uint64_t next_pid_gidx)
	__attribute__((noreturn, visibility("hidden")));
void tls_moved(uintptr_t *frame) __attribute__((visibility("hidden")));
void kgo_gogo(const struct gmp_gslot *slot, uint32_t pid, uint32_t gidx)
	__attribute__((noreturn, visibility("hidden")));
void gostart1(struct kgo_g *g, uint32_t pid, uint32_t gidx)
	__attribute__((noreturn, visibility("hidden")));
extern char kgo_gostart[] __attribute__((visibility("hidden")));
extern char kgo_resume[] __attribute__((visibility("hidden")));

/*
 * The running thread's M. A goroutine may come back from a switch on
 * another thread, and the compiler assumes a function never changes
 * threads: it may keep a TLS address (errno's too: glibc declares
 * __errno_location() const) across the switch. So getm() reads the
 * thread pointer afresh with a volatile asm the compiler can neither drop
 * nor move across a call (it clobbers memory), and every access after a
 * possible switch calls it again; between switches the pointer is good.
 */
static KGO_INLINE uintptr_t thread_pointer(void)
{
	uintptr_t tp;

	__asm__ volatile("movq %%fs:0, %0" : "=r"(tp) : : "memory");
	return tp;
}

static KGO_INLINE struct kgo_m *getm(void)
{
	return (struct kgo_m *)(thread_pointer() + m_off);
}

/* Go's names, for kgo's own files. */
#define getg		kgo_getg
#define acquirem	kgo_acquirem
#define releasem	kgo_releasem

/* --- The P's run queue, from user space ------------------------------------ */

/*
 * The M holding a P owns its queue (gmp_uapi.h): these are Go's runqput
 * and runqget for the owner, the kernel's gmp_runq.c for everyone else.
 * Only the owner writes runq[] and runqtail; head and runnext are shared.
 */
static KGO_INLINE struct gmp_pshared *thisp(void)
{
	return &rt.allp[getm()->p];
}

static KGO_INLINE struct gmp_gslot *gslot(uint32_t gidx)
{
	return &rt.gtab[gidx];
}

/* Nothing in runnext or the queue (a moment's view: others add). */
static KGO_INLINE bool runqempty(struct gmp_pshared *pp)
{
	return !__atomic_load_n(&pp->runnext, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&pp->runqhead, __ATOMIC_ACQUIRE) == pp->runqtail;
}

/* Owner only: a thief can make room, nobody else can take it. */
static KGO_INLINE bool runqfull(struct gmp_pshared *pp)
{
	return pp->runqtail - __atomic_load_n(&pp->runqhead, __ATOMIC_ACQUIRE) >=
	       GMP_RUNQ_SIZE;
}

/* Put @gidx at the tail; false if the queue is full. */
static KGO_INLINE bool runqput_tail(struct gmp_pshared *pp, uint32_t gidx)
{
	uint32_t head = __atomic_load_n(&pp->runqhead, __ATOMIC_ACQUIRE);
	uint32_t tail = pp->runqtail;

	if (tail - head >= GMP_RUNQ_SIZE)
		return false;
	pp->runq[tail % GMP_RUNQ_SIZE] = gidx;
	/* The slot is written before a thief can see it. */
	__atomic_store_n(&pp->runqtail, tail + 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * Put @gidx in runnext, kicking the old one to the tail; false (with the
 * kicked G in *@spill) if the queue is full.
 */
static inline bool runqput_next(struct gmp_pshared *pp, uint32_t gidx,
			 uint32_t *spill)
{
	uint32_t old = __atomic_exchange_n(&pp->runnext, gidx, __ATOMIC_ACQ_REL);

	*spill = old;
	return !old || runqput_tail(pp, old);
}

/* The G at the queue's head, taken against thieves; 0 if it is empty. */
static KGO_INLINE uint32_t runqget_head(struct gmp_pshared *pp)
{
	for (;;) {
		uint32_t head = __atomic_load_n(&pp->runqhead, __ATOMIC_ACQUIRE);
		uint32_t tail = pp->runqtail;
		uint32_t gidx;

		if (tail == head)
			return 0;
		gidx = __atomic_load_n(&pp->runq[head % GMP_RUNQ_SIZE],
				       __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&pp->runqhead, &head, head + 1,
						false, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return gidx;
	}
}

/*
 * Go's runqget: runnext first, and then *@inherit is set: the G inherits
 * the time slice of the one it replaces, so the schedtick is not bumped
 * and sysmon still preempts a chain of goroutines readying each other
 * through runnext after a slice, rather than letting it starve the queue.
 */
static KGO_INLINE uint32_t runqget(struct gmp_pshared *pp, bool *inherit)
{
	uint32_t next = __atomic_load_n(&pp->runnext, __ATOMIC_RELAXED);

	*inherit = next && __atomic_compare_exchange_n(&pp->runnext, &next, 0,
						       false, __ATOMIC_ACQ_REL,
						       __ATOMIC_RELAXED);
	if (*inherit)
		return next;
	return runqget_head(pp);
}

/*
 * @gidx, taken from the queue of this M's P @pp, is about to run on @m:
 * mark it running there. A preemption request still pending was meant for the
 * goroutine switched away from (or for g0), not for this one.
 */
static KGO_INLINE struct gmp_gslot *markrunning(struct kgo_m *m,
						 struct gmp_pshared *pp,
						 uint32_t gidx)
{
	struct gmp_gslot *gs = gslot(gidx);

	__atomic_store_n(&gs->status, GMP_GRUNNING, __ATOMIC_RELAXED);
	__atomic_store_n(&gs->p, m->p, __ATOMIC_RELAXED);
	__atomic_store_n(&pp->curg, gidx, __ATOMIC_RELAXED);
	m->preempt = false;
	return gs;
}

/* Go's execute, in user space: run @gidx on this M. Does not return. */
static KGO_INLINE __attribute__((noreturn))
void execute(struct gmp_pshared *pp, uint32_t gidx)
{
	struct kgo_m *m = getm();

	kgo_gogo(markrunning(m, pp, gidx), m->p, gidx);
}

/* --- The P's free G's, from user space ------------------------------------- */

/*
 * Go's gfget: a free G (and its stack) for a goroutine on P @pid, or NULL
 * with *@err set. The fast half, on every spawn, is inline; an empty list
 * is refilled by kgo_stack.c.
 */
static KGO_INLINE struct kgo_g *gfget(uint32_t pid, int *err)
{
	struct kgo_gfree *pf = &gfree[pid];
	struct kgo_g *g;

	*err = 0;
	if (__builtin_expect(!pf->head, 0)) {
		*err = gfget_refill(pf);
		if (*err)
			return NULL;
	}
	g = pf->head;
	pf->head = g->next;
	pf->n--;
	__atomic_store_n(&pf->ngfget, pf->ngfget + 1, __ATOMIC_RELAXED);
	return g;
}

/* Go's gfput: @g is dead and its stack free; keep it on P @pid. */
static KGO_INLINE void gfput(uint32_t pid, struct kgo_g *g)
{
	struct kgo_gfree *pf = &gfree[pid];

	g->next = pf->head;
	pf->head = g;
	if (__builtin_expect(++pf->n >= KGO_GFREE_MAX, 0))
		gfput_spill(pf);
}

#endif /* KGO_RUNTIME_H */
