/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * Inside kgo: what kgo.c (the scheduler's user side) gives the rest of
 * the library (channels, select, sync, timers). Hidden symbols only:
 * none of this is ABI.
 */
#ifndef KGO_RUNTIME_H
#define KGO_RUNTIME_H

#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KGO_HIDDEN	__attribute__((visibility("hidden")))

struct kgo_g;

/* Offsets of this thread's M fields from %fs: the same in every thread. */
extern intptr_t kgo_locks_off KGO_HIDDEN, kgo_curg_off KGO_HIDDEN,
	kgo_preempt_off KGO_HIDDEN;

void kgo_preempt_park(void) KGO_HIDDEN;

/*
 * The running goroutine (Go's getg), NULL on a thread that is not running
 * one, in one %fs-relative load: outside kgo_acquirem() a goroutine may be
 * preempted at any instruction and resumed on another thread.
 */
static inline struct kgo_g *kgo_getg(void)
{
	struct kgo_g *g;

	__asm__ volatile("movq %%fs:(%1), %0" : "=r"(g) : "r"(kgo_curg_off)
			 : "memory");
	return g;
}

/* Go's acquirem: no preemption, no move to another M, until releasem. */
static inline void kgo_acquirem(void)
{
	__asm__ volatile("incl %%fs:(%0)" : : "r"(kgo_locks_off) : "memory");
}

/*
 * Go's releasem: and honour a preemption that came meanwhile. Once locks
 * is dropped the goroutine may move, so the flag is read in one
 * instruction too (a stale one is harmless: kgo_preempt_park() checks
 * again).
 */
static inline void kgo_releasem(void)
{
	unsigned char preempt;

	__asm__ volatile("decl %%fs:(%1)\n\tmovb %%fs:(%2), %0"
			 : "=q"(preempt) : "r"(kgo_locks_off),
			   "r"(kgo_preempt_off) : "memory");
	if (__builtin_expect(preempt, 0))
		kgo_preempt_park();
}

/*
 * A spin lock for short sections (a few pointer moves, a small copy),
 * taken inside kgo_acquirem(), so its holder is never preempted by kgo;
 * a waiter whose holder's thread lost its CPU yields the CPU now and then.
 */
struct kgo_spinlock {
	uint32_t v;
};

void kgo_spin_lock(struct kgo_spinlock *l) KGO_HIDDEN;

static inline void kgo_spin_unlock(struct kgo_spinlock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
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
 * the goroutine resumes at once; else it waits until kgo_goready(). Either
 * way kgo_gopark returns with the acquirem level released. @sleeping:
 * something other than a goroutine will wake it (a timer), so it does not
 * count towards a deadlock. @who names the caller in fatal messages.
 */
void kgo_gopark(bool (*commit)(struct kgo_g *g, void *arg), void *arg,
		bool sleeping, const char *who) KGO_HIDDEN;

/*
 * Go's goready: make @g, parked by kgo_gopark(), runnable. From a
 * goroutine (inside kgo_acquirem()) into its P's runnext; from any other
 * thread through the kernel. @sleeping as it was parked.
 */
void kgo_goready(struct kgo_g *g, bool sleeping) KGO_HIDDEN;

/*
 * Deadlock detection (Go's checkdead). kgo counts what can still make
 * progress: goroutines not parked for good (sleepers included) and timers
 * armed. A count that falls to zero is "all goroutines are asleep", if
 * no thread outside kgo could still wake one.
 */
void kgo_live_add(void) KGO_HIDDEN;
void kgo_live_sub(void) KGO_HIDDEN;

/* The calling thread is kgo's own (@add) or no longer: see checkdead. */
void kgo_thread_register(bool add) KGO_HIDDEN;

/* A fatal misuse: a message naming it on stderr, then abort (Go's throw). */
void kgo_throw(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2))) KGO_HIDDEN;

/* CLOCK_MONOTONIC in ns. */
int64_t kgo_nanotime(void) KGO_HIDDEN;

/* A cheap per-M random number (Go's fastrand). */
uint32_t kgo_fastrand(void) KGO_HIDDEN;

#endif /* KGO_RUNTIME_H */
