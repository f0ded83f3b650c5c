// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Signals as values: Go's os/signal Notify and Stop for kgo's channels.
 *
 * A signal a channel asks for gets kgo's handler, which does only what is
 * async-signal-safe: it sets the signal's bit in a pending mask, bumps a
 * sequence word and wakes the signal thread on it. The signal thread, a
 * plain thread that is never an M (as the timer thread, kgo_time.c) and
 * that blocks every signal, takes the pending mask and sends each signal
 * it holds on every channel registered for it, without blocking: a full
 * channel misses it, as in Go. A signal that comes again before the
 * thread took the first is sent once.
 *
 * While any channel is registered, a signal may still come: that counts
 * as something that can make progress (live_add), so a goroutine waiting
 * for one is not a deadlock, as Go's signal goroutine keeps a program
 * alive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kgo.h"
#include "kgo_runtime.h"

#define KGO_NSIG		64	/* signals 1..64, realtime included */
#define SIGBIT(sig)		(1ULL << ((sig) - 1))
#define SIGTHREAD_STACK		(64 * 1024)

/* Signals a handler must not take: uncatchable, or faults of the code. */
#define SIG_FORBIDDEN	(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) |		\
			 SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) |		\
			 SIGBIT(SIGFPE) | SIGBIT(SIGILL) | SIGBIT(SIGTRAP))

/* One notified channel and the signals it asked for. */
struct sigreg {
	struct kgo_chan *c;
	uint64_t mask;
	struct sigreg *next;
};

/*
 * sg.lock guards the registrations, the dispositions saved and which
 * signals have kgo's handler. The signal thread sends under it, so once
 * kgo_signal_stop() returns its channel gets nothing more (Go's promise).
 * Goroutines take it inside kgo_acquirem() (sg_lock): one preempted
 * holding it would keep the signal thread from every channel. Nothing is
 * allocated or freed under it.
 */
static struct {
	pthread_once_t once;
	int started;			/* 1, or -errno */
	pthread_mutex_t lock;
	struct sigreg *regs;
	uint64_t handled;		/* signals kgo's handler has */
	struct sigaction old[KGO_NSIG + 1];	/* what each had before */
	/* The handler's side: no lock. */
	uint64_t pending;
	uint32_t seq;
} sg = {
	.once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void sg_lock(void)
{
	kgo_acquirem();
	rt_lock(&sg.lock);
}

static void sg_unlock(void)
{
	rt_unlock(&sg.lock);
	kgo_releasem();
}

/* kgo_releasem() without honouring a preemption: a handler cannot switch. */
static inline void releasem_nopreempt(void)
{
	__asm__ volatile("decl %%fs:(%0)" : : "r"(locks_off) : "memory");
}

/* --- The handler: async-signal-safe only ---------------------------------- */

/*
 * It may run on any thread, on a goroutine's M included: acquirem keeps
 * a preemption from moving the goroutine, and the M's alternate stack
 * with it, to another M before the handler has returned (a preemption
 * that comes meanwhile waits for the goroutine's next call into kgo).
 * One injected before the first instruction, as the kernel may do right
 * after it set the handler's frame up, is not seen here: only where
 * kgo's code counts as a safe point (libkgo.a in a dynamically linked
 * program) may it move the goroutine, unless the preemption code keeps
 * a goroutine whose frame is off its own stack on its M.
 */
static void sig_handler(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno;

	kgo_acquirem();
	saved_errno = errno;
	(void)info;
	(void)uctx;
	if (sig >= 1 && sig <= KGO_NSIG) {
		__atomic_or_fetch(&sg.pending, SIGBIT(sig), __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sg.seq, 1, __ATOMIC_SEQ_CST);
		kgo_futex_wake(&sg.seq);
	}
	errno = saved_errno;
	releasem_nopreempt();
}

/* --- The signal thread ---------------------------------------------------- */

/* Send each signal of @pending to every channel that asked for it. */
static void deliver(uint64_t pending)
{
	struct sigreg *r;
	int sig;

	rt_lock(&sg.lock);
	for (sig = 1; sig <= KGO_NSIG; sig++) {
		if (!(pending & SIGBIT(sig)))
			continue;
		for (r = sg.regs; r; r = r->next)
			if (r->mask & SIGBIT(sig))
				kgo_chan_trysend(r->c, &sig);	/* full: missed */
	}
	rt_unlock(&sg.lock);
}

static void *sigproc(void *unused)
{
	uint64_t pending;
	sigset_t all;
	uint32_t seq;

	(void)unused;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	thread_register(true);
	for (;;) {
		/* The sequence first: a signal after the exchange bumps it. */
		seq = __atomic_load_n(&sg.seq, __ATOMIC_SEQ_CST);
		pending = __atomic_exchange_n(&sg.pending, 0, __ATOMIC_SEQ_CST);
		if (pending)
			deliver(pending);
		else
			kgo_futex_wait(&sg.seq, seq);
	}
	return NULL;
}

static void sig_start_thread(void)
{
	pthread_attr_t attr;
	sigset_t all;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, SIGTHREAD_STACK);
	/* Every signal blocked from its first instruction (glibc 2.32). */
	sigfillset(&all);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	pthread_attr_setsigmask_np(&attr, &all);
#endif
	sg.started = pthread_create(&t, &attr, sigproc, NULL) ? -EAGAIN : 1;
	pthread_attr_destroy(&attr);
}

/* --- Notify and Stop ------------------------------------------------------ */

/* sg.lock held: put @sig's disposition back as it was before kgo's. */
static void sig_restore(int sig)
{
	sigaction(sig, &sg.old[sig], NULL);
	sg.handled &= ~SIGBIT(sig);
}

/* sg.lock held: give each signal of @mask kgo's handler. 0, or -EINVAL. */
static int sig_install(uint64_t mask)
{
	struct sigaction sa;
	uint64_t done = 0;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sig_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	for (sig = 1; sig <= KGO_NSIG; sig++) {
		if (!(mask & SIGBIT(sig)) || (sg.handled & SIGBIT(sig)))
			continue;
		if (sigaction(sig, &sa, &sg.old[sig])) {
			for (sig = 1; sig <= KGO_NSIG; sig++)
				if (done & SIGBIT(sig))
					sig_restore(sig);
			return -EINVAL;
		}
		sg.handled |= SIGBIT(sig);
		done |= SIGBIT(sig);
	}
	return 0;
}

/* @set as a mask of signals 1..64; 0 with anything kgo cannot catch. */
static uint64_t set_mask(const sigset_t *set)
{
	struct sigaction cur;
	uint64_t mask = 0;
	int sig;

	for (sig = 1; sig <= KGO_NSIG; sig++) {
		if (sigismember(set, sig) != 1)
			continue;
		/* glibc's own signals (32, 33) fail here. */
		if ((SIG_FORBIDDEN & SIGBIT(sig)) || sigaction(sig, NULL, &cur))
			return 0;
		mask |= SIGBIT(sig);
	}
	return mask;
}

int kgo_signal_notify(struct kgo_chan *c, const sigset_t *set)
{
	struct sigreg *n, *r;
	uint64_t mask;
	bool first;
	int err;

	if (!c || !set || chan_elemsize(c) != sizeof(int))
		return -EINVAL;
	mask = set_mask(set);
	if (!mask)
		return -EINVAL;
	pthread_once(&sg.once, sig_start_thread);
	if (sg.started < 0)
		return sg.started;
	n = malloc(sizeof(*n));		/* outside the lock */
	if (!n)
		return -ENOMEM;
	sg_lock();
	err = sig_install(mask);
	if (err) {
		sg_unlock();
		free(n);
		return err;
	}
	for (r = sg.regs; r && r->c != c; r = r->next)
		;
	if (r) {			/* Go: the signals are added */
		r->mask |= mask;
	} else {
		first = !sg.regs;
		n->c = c;
		n->mask = mask;
		n->next = sg.regs;
		sg.regs = n;
		n = NULL;
		/* Before the lock goes: a stop's live_sub() comes after. */
		if (first)
			live_add();
	}
	sg_unlock();
	free(n);
	return 0;
}

int kgo_signal_stop(struct kgo_chan *c)
{
	struct sigreg **pp, *r = NULL;
	uint64_t still = 0;
	bool last = false;
	int sig;

	if (!c)
		return -EINVAL;
	sg_lock();
	for (pp = &sg.regs; *pp; pp = &(*pp)->next)
		if ((*pp)->c == c) {
			r = *pp;
			*pp = r->next;
			break;
		}
	if (r) {
		for (pp = &sg.regs; *pp; pp = &(*pp)->next)
			still |= (*pp)->mask;
		for (sig = 1; sig <= KGO_NSIG; sig++)
			if ((sg.handled & ~still) & SIGBIT(sig))
				sig_restore(sig);
		last = !sg.regs;
	}
	sg_unlock();
	free(r);
	if (last)
		live_sub();
	return 0;
}
