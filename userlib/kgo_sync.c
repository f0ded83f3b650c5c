// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Go's sync package for goroutines: Mutex (with starvation mode),
 * RWMutex, WaitGroup and Once, on a semaphore like Go's runtime/sema.go,
 * whose wait table (Go's semTable) kgo_park's goroutines wait in too.
 * A goroutine that waits parks (its M runs others); a plain thread that
 * waits sleeps on a futex. The zero value of each type is ready to use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>

#include "kgo.h"
#include "kgo_runtime.h"

/* --- The wait table (Go's semTable) ---------------------------------------- */

struct semroot semtable[SEMTABLE_SIZE];

/* spin_lock() found @l held: wait for it to look free, and try again. */
void spin_lock_slow(struct kgo_spinlock *l)
{
	unsigned int spins = 0;

	do {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
			/* Its holder's thread may be preempted: let it run. */
			if (++spins % 1024 == 0)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
	} while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE));
}

/* --- The semaphore: Go's semacquire and semrelease ------------------------- */

static bool cansemacquire(uint32_t *addr)
{
	uint32_t v = __atomic_load_n(addr, __ATOMIC_ACQUIRE);

	while (v)
		if (__atomic_compare_exchange_n(addr, &v, v - 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
	return false;
}

/* gopark's commit when one spin lock is all there is to drop: @arg. */
bool spin_unlock_commit(struct kgo_g *g, void *arg)
{
	(void)g;
	spin_unlock(arg);
	return true;
}

/* Go's semacquire1: take one from *@addr, waiting until there is one. */
static void semacquire(uint32_t *addr, bool lifo, const char *who)
{
	struct semroot *root = semroot(addr);
	struct semwaiter w = { .addr = addr };
	uint32_t v;

	if (cansemacquire(addr))
		return;
	for (;;) {
		kgo_acquirem();
		spin_lock(&root->lock);
		/* Counted first: a release that misses the word sees us. */
		__atomic_add_fetch(&root->nwait, 1, __ATOMIC_SEQ_CST);
		if (cansemacquire(addr)) {
			__atomic_sub_fetch(&root->nwait, 1, __ATOMIC_SEQ_CST);
			spin_unlock(&root->lock);
			kgo_releasem();
			return;
		}
		w.g = kgo_getg();
		w.done = 0;
		w.ticket = false;
		semroot_queue(root, &w, lifo);
		if (w.g) {
			/* The root is static: no copy needed. */
			gopark(spin_unlock_commit, &root->lock, false, who);
		} else {
			spin_unlock(&root->lock);
			kgo_releasem();
			while (!(v = __atomic_load_n(&w.done, __ATOMIC_ACQUIRE)))
				kgo_futex_wait(&w.done, v);
		}
		if (w.ticket || cansemacquire(addr))
			return;
	}
}

/*
 * Go's semrelease1: add one to *@addr and wake its first waiter. With
 * @handoff the waiter is handed the unit directly (a ticket) and, from a
 * goroutine, runs next: the caller yields to it, as Go's does.
 */
static void semrelease(uint32_t *addr, bool handoff)
{
	struct semroot *root = semroot(addr);
	struct semwaiter *w;
	struct kgo_g *g;
	bool ticket = false;

	__atomic_add_fetch(addr, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&root->nwait, __ATOMIC_SEQ_CST))
		return;
	kgo_acquirem();
	spin_lock(&root->lock);
	w = semroot_dequeue(root, addr, false);
	if (w)
		__atomic_sub_fetch(&root->nwait, 1, __ATOMIC_SEQ_CST);
	spin_unlock(&root->lock);
	if (!w) {
		kgo_releasem();
		return;
	}
	/* Still ours until woken: it waits for done or goready. */
	if (handoff && cansemacquire(addr))
		ticket = w->ticket = true;
	g = w->g;
	if (g) {
		goready(g, false);
	} else {
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		kgo_futex_wake(&w->done);
	}
	kgo_releasem();
	if (ticket && kgo_getg())
		kgo_yield();
}

/* --- Mutex ---------------------------------------------------------------- */

/*
 * Go's sync.Mutex. state: locked, a waiter woken (so Unlock need not wake
 * another), starving, and the count of waiters above them. In normal mode
 * a woken waiter competes with goroutines arriving (which are on a CPU
 * already and usually win); one that has waited over 1 ms switches the
 * mutex to starvation mode, where Unlock hands it straight to the first
 * waiter and newcomers queue behind: no waiter starves.
 */
#define MUTEX_LOCKED		1
#define MUTEX_WOKEN		2
#define MUTEX_STARVING		4
#define MUTEX_WAITER_SHIFT	3
#define STARVATION_NS		(1000 * 1000)

static bool can_spin(int iter)
{
	return iter < 4 && kgo_nprocs() > 1 && kgo_getg();
}

static void do_spin(void)
{
	int i;

	for (i = 0; i < 30; i++)
		__builtin_ia32_pause();
}

static void mutex_lock_slow(struct kgo_mutex *m)
{
	int64_t wait_start = 0;
	bool starving = false, awoke = false, lifo;
	int iter = 0;
	int32_t old = __atomic_load_n(&m->state, __ATOMIC_RELAXED), new;

	for (;;) {
		/* Spin a little while it is held in normal mode. */
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
		    can_spin(iter)) {
			/* Tell Unlock not to wake others while we spin. */
			if (!awoke && !(old & MUTEX_WOKEN) &&
			    old >> MUTEX_WAITER_SHIFT &&
			    __atomic_compare_exchange_n(&m->state, &old,
							old | MUTEX_WOKEN,
							false, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				awoke = true;
			do_spin();
			iter++;
			old = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
			continue;
		}
		new = old;
		/* A starving mutex is not grabbed: newcomers queue. */
		if (!(old & MUTEX_STARVING))
			new |= MUTEX_LOCKED;
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			new += 1 << MUTEX_WAITER_SHIFT;
		/* Switch to starvation mode if it is still held. */
		if (starving && (old & MUTEX_LOCKED))
			new |= MUTEX_STARVING;
		if (awoke) {
			if (!(new & MUTEX_WOKEN))
				throw("kgo_mutex_lock: inconsistent mutex state");
			new &= ~MUTEX_WOKEN;
		}
		if (!__atomic_compare_exchange_n(&m->state, &old, new, false,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return;		/* taken with a CAS */
		/* A waiter that waited before goes to the front. */
		lifo = wait_start != 0;
		if (!wait_start)
			wait_start = nanotime();
		semacquire(&m->sema, lifo, "kgo_mutex_lock");
		starving = starving ||
			   nanotime() - wait_start > STARVATION_NS;
		old = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
		if (old & MUTEX_STARVING) {
			/* Handed to us: the state is ours to fix. */
			int32_t delta = MUTEX_LOCKED -
					(1 << MUTEX_WAITER_SHIFT);

			if (old & (MUTEX_LOCKED | MUTEX_WOKEN) ||
			    !(old >> MUTEX_WAITER_SHIFT))
				throw("kgo_mutex_lock: inconsistent mutex state");
			/* The last waiter, or not starving: normal mode. */
			if (!starving || old >> MUTEX_WAITER_SHIFT == 1)
				delta -= MUTEX_STARVING;
			__atomic_add_fetch(&m->state, delta, __ATOMIC_ACQUIRE);
			return;
		}
		awoke = true;
		iter = 0;
	}
}

/*
 * Under TSan (KGO_TSAN) each lock and unlock is also said to it, with the
 * addresses Go's race detector uses: the mutex, and for an RWMutex its
 * reader and writer semaphores.
 */
void kgo_mutex_lock(struct kgo_mutex *m)
{
	int32_t unlocked = 0;

	if (!__atomic_compare_exchange_n(&m->state, &unlocked, MUTEX_LOCKED,
					 false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		mutex_lock_slow(m);
	raceacquire(m);
}

int kgo_mutex_trylock(struct kgo_mutex *m)
{
	int32_t old = __atomic_load_n(&m->state, __ATOMIC_RELAXED);

	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return -EBUSY;
	if (!__atomic_compare_exchange_n(&m->state, &old, old | MUTEX_LOCKED,
					 false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return -EBUSY;
	raceacquire(m);
	return 0;
}

static void mutex_unlock_slow(struct kgo_mutex *m, int32_t new)
{
	int32_t old;

	if (!((new + MUTEX_LOCKED) & MUTEX_LOCKED))
		throw("kgo_mutex_unlock: unlock of unlocked mutex");
	if (new & MUTEX_STARVING) {
		/* Hand it to the first waiter, which runs next. */
		semrelease(&m->sema, true);
		return;
	}
	old = new;
	for (;;) {
		/*
		 * No waiters, or one is already woken or has the lock, or it
		 * went starving: nobody to wake.
		 */
		if (!(old >> MUTEX_WAITER_SHIFT) ||
		    old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING))
			return;
		new = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
		if (__atomic_compare_exchange_n(&m->state, &old, new, false,
						__ATOMIC_RELEASE,
						__ATOMIC_RELAXED)) {
			semrelease(&m->sema, false);
			return;
		}
	}
}

void kgo_mutex_unlock(struct kgo_mutex *m)
{
	int32_t new;

	racerelease(m);
	new = __atomic_sub_fetch(&m->state, MUTEX_LOCKED, __ATOMIC_RELEASE);
	if (new)
		mutex_unlock_slow(m, new);
}

/* --- RWMutex -------------------------------------------------------------- */

/*
 * Go's sync.RWMutex: readers count themselves in reader_count; a writer
 * takes w, then subtracts RWMUTEX_MAX_READERS so new readers wait, and
 * waits for the readers already in (reader_wait) to leave.
 */
#define RWMUTEX_MAX_READERS	(1 << 30)

void kgo_rwmutex_rlock(struct kgo_rwmutex *rw)
{
	if (__atomic_add_fetch(&rw->reader_count, 1, __ATOMIC_ACQUIRE) < 0)
		semacquire(&rw->reader_sem, false, "kgo_rwmutex_rlock");
	raceacquire(&rw->reader_sem);
}

int kgo_rwmutex_tryrlock(struct kgo_rwmutex *rw)
{
	int32_t c = __atomic_load_n(&rw->reader_count, __ATOMIC_RELAXED);

	while (c >= 0)
		if (__atomic_compare_exchange_n(&rw->reader_count, &c, c + 1,
						false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			raceacquire(&rw->reader_sem);
			return 0;
		}
	return -EBUSY;
}

void kgo_rwmutex_runlock(struct kgo_rwmutex *rw)
{
	int32_t r;

	racerelease(&rw->writer_sem);	/* readers are not ordered */
	r = __atomic_sub_fetch(&rw->reader_count, 1, __ATOMIC_RELEASE);
	if (r >= 0)
		return;
	if (r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS)
		throw("kgo_rwmutex_runlock: runlock of unlocked rwmutex");
	/* A writer waits: the last reader out lets it in. */
	if (__atomic_sub_fetch(&rw->reader_wait, 1, __ATOMIC_ACQ_REL) == 0)
		semrelease(&rw->writer_sem, false);
}

void kgo_rwmutex_lock(struct kgo_rwmutex *rw)
{
	int32_t r;

	kgo_mutex_lock(&rw->w);
	r = __atomic_sub_fetch(&rw->reader_count, RWMUTEX_MAX_READERS,
			       __ATOMIC_ACQ_REL) + RWMUTEX_MAX_READERS;
	if (r && __atomic_add_fetch(&rw->reader_wait, r, __ATOMIC_ACQ_REL))
		semacquire(&rw->writer_sem, false, "kgo_rwmutex_lock");
	raceacquire(&rw->reader_sem);
	raceacquire(&rw->writer_sem);
}

int kgo_rwmutex_trylock(struct kgo_rwmutex *rw)
{
	int32_t zero = 0;

	if (kgo_mutex_trylock(&rw->w))
		return -EBUSY;
	if (!__atomic_compare_exchange_n(&rw->reader_count, &zero,
					 -RWMUTEX_MAX_READERS, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		kgo_mutex_unlock(&rw->w);
		return -EBUSY;
	}
	raceacquire(&rw->reader_sem);
	raceacquire(&rw->writer_sem);
	return 0;
}

void kgo_rwmutex_unlock(struct kgo_rwmutex *rw)
{
	int32_t r, i;

	racerelease(&rw->reader_sem);
	r = __atomic_add_fetch(&rw->reader_count, RWMUTEX_MAX_READERS,
			       __ATOMIC_RELEASE);
	if (r >= RWMUTEX_MAX_READERS)
		throw("kgo_rwmutex_unlock: unlock of unlocked rwmutex");
	/* Let in the readers that queued meanwhile. */
	for (i = 0; i < r; i++)
		semrelease(&rw->reader_sem, false);
	kgo_mutex_unlock(&rw->w);
}

/* --- WaitGroup ------------------------------------------------------------ */

/* Go's sync.WaitGroup: the counter in the high half, waiters in the low. */
void kgo_waitgroup_add(struct kgo_waitgroup *wg, int delta)
{
	uint64_t state;
	int32_t v;
	uint32_t w;

	if (delta < 0)		/* a Done comes before the Wait it ends */
		racerelease(wg);
	state = __atomic_add_fetch(&wg->state, (uint64_t)(int64_t)delta << 32,
				   __ATOMIC_ACQ_REL);
	v = (int32_t)(state >> 32);
	w = (uint32_t)state;
	if (v < 0)
		throw("kgo_waitgroup_add: negative WaitGroup counter");
	if (w && delta > 0 && v == delta)
		throw("kgo_waitgroup_add: called concurrently with kgo_waitgroup_wait");
	if (v > 0 || !w)
		return;
	/*
	 * The counter is 0 with waiters: nobody can change the state now but
	 * a misuse, which the check above or Wait's reports.
	 */
	if (__atomic_load_n(&wg->state, __ATOMIC_ACQUIRE) != state)
		throw("kgo_waitgroup_add: called concurrently with kgo_waitgroup_wait");
	__atomic_store_n(&wg->state, 0, __ATOMIC_RELEASE);
	for (; w; w--)
		semrelease(&wg->sema, false);
}

void kgo_waitgroup_done(struct kgo_waitgroup *wg)
{
	kgo_waitgroup_add(wg, -1);
}

void kgo_waitgroup_wait(struct kgo_waitgroup *wg)
{
	uint64_t state = __atomic_load_n(&wg->state, __ATOMIC_ACQUIRE);

	for (;;) {
		if (!(state >> 32))
			break;
		if (__atomic_compare_exchange_n(&wg->state, &state, state + 1,
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			semacquire(&wg->sema, false, "kgo_waitgroup_wait");
			if (__atomic_load_n(&wg->state, __ATOMIC_ACQUIRE))
				throw("kgo_waitgroup_wait: WaitGroup reused before the previous wait returned");
			break;
		}
	}
	raceacquire(wg);
}

/* --- Once ----------------------------------------------------------------- */

/* Go's sync.Once: the fast path is one load; the first caller runs @fn. */
void kgo_once_do(struct kgo_once *o, void (*fn)(void *arg), void *arg)
{
	if (!__atomic_load_n(&o->done, __ATOMIC_ACQUIRE)) {
		kgo_mutex_lock(&o->m);
		if (!o->done) {
			fn(arg);
			racerelease(o);	/* @fn comes before every return */
			__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
		}
		kgo_mutex_unlock(&o->m);
	}
	raceacquire(o);
}
