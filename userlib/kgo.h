/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * kgo: goroutines for C, scheduled by the gmp kernel module.
 *
 * Link with -lkgo (pkg-config --libs kgo). /dev/gmp must exist: the gmp
 * module is loaded. Every function returning int returns 0 (or a count)
 * on success and a negative errno on failure, as liburing does.
 *
 *	static void hello(void *arg) { puts(arg); }
 *
 *	static int main_goroutine(void *arg)
 *	{
 *		kgo_go(hello, "hello from a goroutine");
 *		kgo_yield();
 *		return 0;
 *	}
 *
 *	int main(void)
 *	{
 *		int status;
 *		int err = kgo_run(main_goroutine, NULL, &status);
 *
 *		return err ? 1 : status;
 *	}
 */
#ifndef KGO_H
#define KGO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KGO_VERSION_MAJOR	0
#define KGO_VERSION_MINOR	13

/* The default goroutine stack size, and the environment knob for it. */
#define KGO_STACK_SIZE_DEFAULT	(64 * 1024)

/*
 * Start the runtime and run @main_fn(@arg) as the main goroutine (Go's
 * rt0_go: schedinit, newproc(main), mstart). The calling thread becomes
 * M0. Returns when the main goroutine returns or calls kgo_exit(); its
 * return value goes to *@status (0 after kgo_exit()). Other goroutines
 * still running then are abandoned, as in Go: return from main() to end
 * them. Once per process.
 *
 * Environment: GMPMAXPROCS (P count; default, as Go 1.25's GOMAXPROCS:
 * the CPUs of the process's affinity mask, no more than the tightest
 * cpu.max quota of its cgroup v2 and their ancestors rounded up, but at
 * least 2 for such a limit),
 * KGO_STACK_SIZE (bytes per goroutine stack, default 64 KiB),
 * KGO_STACK_GUARD=0 (no guard under each stack: an overflow is no longer
 * the fatal "stack overflow"; default 1),
 * KGO_MAXG (G table size: at most KGO_MAXG - 1 goroutines live at once,
 * default 1048576; unused slots cost no memory; pooled stacks take
 * indices 64 at a time), KGO_SLICE_US (how long a goroutine runs before
 * sysmon preempts it, default 10000 us, at least 100), KGO_PREEMPT=0 (no
 * asynchronous preemption: goroutines switch only where they call kgo; no
 * blocking hand-off either), KGO_DEADLOCK=0 (no deadlock report),
 * KGO_MAXTHREADS (threads at most, default 10000: past it, the fatal
 * "thread exhaustion"), KGO_PREEMPT_SAFE=exe|none|all (where a preempted
 * goroutine may move to another thread: the program's own code only by
 * default; see Documentation/kgo.rst).
 *
 * kgo_run() installs a SIGSEGV handler, for the "stack overflow" message,
 * if the program has none, and gives each of its threads an alternate
 * signal stack if it has none.
 *
 * Deadlock: when every goroutine is parked for good (no timer pending,
 * none running, sleeping or in a system call) and every thread of the
 * process is kgo's own, kgo prints Go's "kgo: fatal error: all goroutines
 * are asleep - deadlock!" and exits with status 2, as Go does. A thread
 * the program started could still wake a goroutine, so while one exists
 * at that moment nothing is reported.
 *
 * Errors: -ENOENT /dev/gmp is missing (the module is not loaded; a message
 * says so on stderr), -EBUSY already running, -EINVAL a bad environment
 * value, else what opening or creating the instance returned.
 */
int kgo_run(int (*main_fn)(void *arg), void *arg, int *status);

/*
 * Start a goroutine running @fn(@arg) (Go's go statement). Returns 0, or
 * -ENXIO outside kgo_run(), -ENOMEM without memory for its stack,
 * -EAGAIN when the G table is full (KGO_MAXG goroutines). A goroutine
 * spawning far ahead of the goroutines it started may yield here first,
 * so that those which end give their stacks back (spawn back-pressure,
 * Documentation/design.rst).
 */
int kgo_go(void (*fn)(void *arg), void *arg);

/*
 * kgo_go with attributes. @attr->size: sizeof(struct kgo_attr) (an older
 * caller's smaller struct is fine; a newer one's unknown fields must be
 * zero, else -E2BIG: openat2's rule). @attr->stack_size: bytes, 0 for
 * the default; other sizes (KGO_STACK_SIZE_MIN..MAX, rounded up to pages)
 * get a stack mapping of their own with a guard page below it, made at
 * spawn and unmapped at exit (two system calls the pooled stacks do not
 * pay). KGO_ATTR_LOCKED: the goroutine starts wired to its thread, as if
 * its first call were kgo_lock_osthread(). NULL @attr is kgo_go.
 * Returns as kgo_go(), or -EINVAL for a bad size, flag or stack size.
 */
#define KGO_STACK_SIZE_MIN	(16 * 1024)
#define KGO_STACK_SIZE_MAX	(1L << 30)
#define KGO_ATTR_LOCKED		1u
#define KGO_ATTR_SIZE_VER0	16

struct kgo_attr {
	uint32_t size;			/* in: sizeof(struct kgo_attr) */
	uint32_t flags;			/* KGO_ATTR_* */
	uint64_t stack_size;		/* 0: the default */
};

int kgo_go_attr(void (*fn)(void *arg), void *arg,
		const struct kgo_attr *attr);

/*
 * Let other goroutines run (Go's runtime.Gosched). The next goroutine of
 * this M's own run queue runs without a system call; with nothing else
 * queued here, or on every 61st yield if the global queue or the spawn
 * ring has work, the kernel picks (global queue first, other P's).
 * Called from a goroutine only.
 */
void kgo_yield(void);

/*
 * Wait, without holding a thread, until another goroutine or thread calls
 * kgo_ready(@addr) (Go's gopark). Futex semantics: the goroutine parks
 * only if *@addr still equals @val when kgo looks, under the lock
 * kgo_ready() takes, so a waker that changes *@addr before kgo_ready() is
 * never missed. Returns 0 when readied, -EAGAIN if *@addr != @val (check
 * your condition again), -EINVAL for a misaligned @addr. Called from a
 * goroutine only; @addr must be readable. No system call unless the M
 * has nothing else to run.
 */
int kgo_park(const uint32_t *addr, uint32_t val);

/*
 * Make up to @n goroutines parked on @addr runnable, first parked first
 * (Go's goready): from a goroutine, into its P's runnext, with no system
 * call unless an idle P should be woken; from any other thread, through
 * the kernel. Returns how many it readied.
 */
int kgo_ready(const uint32_t *addr, uint32_t n);

/* End the calling goroutine (Go's runtime.Goexit). */
__attribute__((noreturn)) void kgo_exit(void);

/* The calling goroutine's id (Go's goid), 0 outside a goroutine. */
uint64_t kgo_id(void);

/* The number of P's (Go's GOMAXPROCS), 0 before kgo_run(). */
int kgo_nprocs(void);

/*
 * Go's runtime.GOMAXPROCS: use @n P's from now on and return the previous
 * number; @n < 1 only returns the current one. At most the instance's
 * maxprocs (the larger of GMPMAXPROCS and the possible CPUs): else
 * -EINVAL; -ENXIO outside kgo_run(). A goroutine running on a P taken
 * away gives it up at its next yield, park or exit.
 */
int kgo_gomaxprocs(int n);

/*
 * Go's runtime.LockOSThread and UnlockOSThread: wire the calling goroutine
 * to the thread (M) running it. Until as many unlocks as locks, it runs
 * only on that thread, and that thread runs no other goroutine: when the
 * goroutine yields, parks or is preempted, the thread gives its P to
 * another and sleeps until the goroutine is runnable again, then gets it
 * back with a P (a switch through the kernel, two thread switches, as in
 * Go). Thread-local storage, signal masks and other per-thread state then
 * stay the goroutine's. A goroutine that exits while wired is unwired (Go
 * ends the thread instead). 0, -EINVAL outside a goroutine, -ENOTSUP if
 * the module cannot wire (no GMP_FEAT_LOCKOSTHREAD).
 */
int kgo_lock_osthread(void);
int kgo_unlock_osthread(void);

/*
 * Preemption. A goroutine that runs for a slice without calling into kgo
 * is preempted wherever it is (Go's asynchronous preemption): the kernel's
 * sysmon interrupts its M, which saves every register, the flags and the
 * whole x87/SSE/AVX state (XSAVE) on the goroutine's stack and lets others
 * run; the goroutine resumes where it was, maybe on another M, with the
 * same state and the same errno. Inside kgo's own functions preemption
 * waits until the function returns. Thread-local storage is the M's,
 * except errno: a goroutine that keeps the address of a __thread variable
 * across a point where it may switch, preemption included, may find
 * itself on another thread; errno's value and address follow the
 * goroutine (Documentation/design.rst). Preemption needs about 3 KiB of free stack
 * below the interrupted code's (128 bytes of red zone, the saved state
 * and kgo's frames).
 *
 * Blocking system calls. A goroutine may call anything, read() on a pipe
 * or nanosleep() included: when its M blocks in the kernel for more than
 * about 20 us and its P has other goroutines, sysmon hands the P to
 * another M (Go's handoffp), so they keep running. When the call returns,
 * the goroutine takes the same path as a preemption to get a P back (Go's
 * exitsyscall) and goes on, maybe on another thread, with the call's
 * result and errno.
 *
 * kgo_preempt_stats: how many preemptions this process took (returns from
 * a blocking call that lost its P included), and how many of those came
 * while the M was inside kgo and waited for it to return.
 */
void kgo_preempt_stats(uint64_t *taken, uint64_t *deferred);

/*
 * kgo_stats: the library's counters, for tests and tuning. Set size to
 * sizeof(struct kgo_stats) first: a caller built against an older, shorter
 * struct gets the fields it knows, and a newer library never writes past
 * size (fields are only ever added at the end). Returns 0, or -EINVAL if
 * size is below KGO_STATS_SIZE_VER0. Counters are read without a lock:
 * each is exact, but not consistent with the others while goroutines run.
 *
 * G's (a goroutine's record, G table slot and stack, reused together) are
 * kept free on per-P lists, refilled from and spilled to one global list
 * in batches of 32, as Go's gfget and gfput do.
 */
#define KGO_SCHEDLAT_BUCKETS	24

struct kgo_stats {
	uint32_t size;			/* in: sizeof(struct kgo_stats) */
	uint32_t resv;
	uint64_t npreempted;		/* as kgo_preempt_stats() */
	uint64_t npreemptdeferred;
	uint64_t ngcreated;		/* G's (stacks) ever made */
	uint64_t ngfreeglobal;		/* G's on the global free list now */
	uint64_t ngfget;		/* G's newproc took from a P's list */
	uint64_t ngfrefill;		/* batches the global list gave a P */
	uint64_t ngfspill;		/* batches a P gave the global list */
	/* KGO_STATS_SIZE_VER1 (0.6) */
	uint64_t nspawnwait;		/* spawner yields (spawn back-pressure) */
	/* KGO_STATS_SIZE_VER2 (0.7) */
	uint64_t npreemptkeepm;		/* of npreempted, stopped outside the
					 * program's own code: kept their M */
	/* KGO_STATS_SIZE_VER3 (0.9): the kernel's, from the state page */
	uint64_t nkpreempt;		/* preemption calls sysmon injected */
	uint64_t nhandoff;		/* P's taken from M's blocked in it */
	/* KGO_STATS_SIZE_VER4 (0.10): the kernel's netpoller */
	uint64_t nnetpoll;		/* goroutines parked waiting for a file */
	uint64_t nnetpollready;		/* ... made runnable again by it */
	/* KGO_STATS_SIZE_VER5 (0.11): Go's runtime/metrics, now */
	uint64_t ngrunnable;		/* goroutines by status */
	uint64_t ngrunning;
	uint64_t ngsyscall;
	uint64_t ngwaiting;
	uint64_t nrunqglobal;		/* goroutines on the global run queue */
	uint64_t nrunqlocal;		/* ... on the P's own (runnext too) */
	uint64_t nsteal;		/* steals by idle P's (the kernel's) */
	/*
	 * /sched/latencies: how long goroutines waited runnable before they
	 * ran (one readying in 8 sampled, from newproc and goready, as Go
	 * samples): schedlat[i] of them took less than schedlat_le_ns[i]
	 * and at least schedlat_le_ns[i - 1]; the last bound is UINT64_MAX.
	 */
	uint64_t schedlat[KGO_SCHEDLAT_BUCKETS];
	uint64_t schedlat_le_ns[KGO_SCHEDLAT_BUCKETS];
};

#define KGO_STATS_SIZE_VER0	64
#define KGO_STATS_SIZE_VER1	72
#define KGO_STATS_SIZE_VER2	80
#define KGO_STATS_SIZE_VER3	96
#define KGO_STATS_SIZE_VER4	112
#define KGO_STATS_SIZE_VER5	(168 + 16 * KGO_SCHEDLAT_BUCKETS)

int kgo_stats(struct kgo_stats *st);

/*
 * kgo_dump: every goroutine to @fd in Go's format (the caller's first):
 * "goroutine N [status, M minutes]:", its frames (function, then the
 * object and the address in it, for addr2line) and where it was created.
 * A goroutine running on another thread shows no frames. Returns how many
 * goroutines it printed, or -ENXIO before kgo_run(). SIGQUIT prints the
 * same to stderr and exits with status 2 (unless the program handles
 * SIGQUIT), and so does the deadlock report.
 */
int kgo_dump(int fd);

/*
 * Channels (Go's chan): fixed-size elements of @elemsize bytes (at most
 * 64 KiB, 0 allowed), unbuffered when @cap is 0. Any goroutine or thread
 * may use one; a blocked goroutine parks (its M runs others), a blocked
 * thread sleeps. Elements are copied in and out with memcpy.
 *
 * kgo_chan_make: the channel, or NULL with errno EINVAL or ENOMEM.
 * kgo_chan_free: 0, or -EBUSY while anyone is blocked on it, a select
 *   that waited on it included until that select returns (it stays).
 *   Free a channel only once no goroutine can use it again.
 * kgo_chan_send: 0 once a receiver took *@elem or it is buffered;
 *   -EPIPE on a closed channel, or when it is closed while the sender
 *   waits (Go panics: "send on closed channel"); -EINVAL for a NULL
 *   @elem with a non-zero element size.
 * kgo_chan_recv: 1 and the value in *@elem (@elem may be NULL to drop
 *   it); 0 once the channel is closed and drained, *@elem then zeroed
 *   (Go's v, ok := <-c with ok false).
 * kgo_chan_trysend, kgo_chan_tryrecv: the same without blocking (a
 *   select with a default case): -EAGAIN when they would block.
 * kgo_chan_close: 0; -EPIPE if already closed (Go panics: "close of
 *   closed channel"), -EINVAL for NULL. Blocked receivers get 0, blocked
 *   senders -EPIPE.
 * kgo_chan_len, kgo_chan_cap: elements buffered now, and the capacity.
 *
 * A NULL channel is Go's nil channel: a blocking send or receive on it
 * blocks the goroutine forever (-EINVAL from a thread), a try variant
 * returns -EAGAIN.
 */
struct kgo_chan;

struct kgo_chan *kgo_chan_make(size_t elemsize, size_t cap);
int kgo_chan_free(struct kgo_chan *c);
int kgo_chan_send(struct kgo_chan *c, const void *elem);
int kgo_chan_recv(struct kgo_chan *c, void *elem);
int kgo_chan_trysend(struct kgo_chan *c, const void *elem);
int kgo_chan_tryrecv(struct kgo_chan *c, void *elem);
int kgo_chan_close(struct kgo_chan *c);
size_t kgo_chan_len(const struct kgo_chan *c);
size_t kgo_chan_cap(const struct kgo_chan *c);

/*
 * Go's select. Each case sends *elem on, or receives into elem from, its
 * channel (a NULL channel's case is never ready). When several are ready
 * one is picked uniformly at random. Returns the index of the case done;
 * for a receive, ok is then 1 (a value) or 0 (closed). With
 * KGO_SELECT_NONBLOCK (Go's default case) it returns -EAGAIN when no case
 * is ready; without it, it blocks until one is (forever with no case, or
 * only NULL channels). -EPIPE: the chosen case sends on a closed channel;
 * -EINVAL: a bad case, or more than KGO_SELECT_MAX.
 *
 * A KGO_POLL case waits for a descriptor: @c is NULL and @elem a struct
 * pollfd, ready when poll(2) would say so for its fd and events (a
 * negative fd is never ready, as poll ignores it). When chosen, its
 * revents says what polled: POLLNVAL if kgo_close() closed it meanwhile.
 * A select that blocks waits for each descriptor in a goroutine of its
 * own (what a Go program would start, sending on a channel), withdrawn
 * when another case is chosen: other goroutines waiting on that
 * descriptor then wake and look again. -ENOMEM if the waits could not be
 * set up; -EINVAL for a NULL @elem or an fd beyond 2^20.
 */
#define KGO_SEND		1
#define KGO_RECV		2
#define KGO_POLL		3
#define KGO_SELECT_NONBLOCK	1u
#define KGO_SELECT_MAX		64

struct kgo_select_case {
	struct kgo_chan *c;
	int op;			/* KGO_SEND, KGO_RECV or KGO_POLL */
	void *elem;		/* the value to send, where to receive, or a
				 * struct pollfd */
	int ok;			/* out, for KGO_RECV */
};

int kgo_select(struct kgo_select_case *cases, int n, unsigned int flags);

/*
 * Time. kgo_sleep: Go's time.Sleep: the goroutine parks for at least @ns
 * nanoseconds (CLOCK_MONOTONIC) and holds no M meanwhile; @ns <= 0 just
 * yields; from a plain thread it is nanosleep. 0, or -ENOMEM/-EAGAIN if
 * the timer could not be set up.
 *
 * kgo_now: the clock all of these use, CLOCK_MONOTONIC in ns.
 *
 * kgo_timer_start: Go's time.NewTimer: after @ns, the time it was due
 * (kgo_now() ns, an int64_t, as Go 1.23 sends) is sent on
 * kgo_timer_chan(t), a channel with room for one; use it in kgo_select()
 * for a timeout. NULL with errno on failure; kgo_timer_chan(NULL) is
 * NULL, a channel that is never ready. kgo_timer_stop: 1 if it stopped
 * the timer before it fired, 0 if it had fired (or was stopped) already.
 * kgo_timer_reset: Go's Timer.Reset: stop it and arm it again for @ns
 * from now, fired or not; 1 if it was pending, 0 if not, -EINVAL for
 * NULL, -ENOMEM or -EAGAIN (as for start, in which case it stays
 * stopped). As in
 * Go 1.23, after stop or reset returns no value sent before is left on
 * the channel: a receive waits for the new one. kgo_timer_free: stop and
 * free the timer and its channel (0, or -EBUSY while a goroutine is still
 * blocked on the channel).
 *
 * kgo_ticker_start: Go's time.NewTicker: every @period ns (> 0, else
 * NULL and EINVAL) the time the tick was due is sent on
 * kgo_ticker_chan(t), a channel with room for one. Ticks stay on the grid
 * start + k * period: one a slow reader misses is dropped, never sent
 * late and never shifting the ones after. kgo_ticker_stop: no more ticks
 * (and, as for timers, none left on the channel); 0, -EINVAL for NULL.
 * kgo_ticker_reset: stop
 * it and start again with @period from now (-EINVAL for @period <= 0);
 * kgo_ticker_free: stop it and free it (0, or -EBUSY as for timers).
 *
 * An armed timer or a running ticker counts as something that may still
 * happen: no deadlock is reported while one is pending.
 */
struct kgo_timer;
struct kgo_ticker;

int kgo_sleep(int64_t ns);
int64_t kgo_now(void);
struct kgo_timer *kgo_timer_start(int64_t ns);
struct kgo_chan *kgo_timer_chan(const struct kgo_timer *t);
int kgo_timer_stop(struct kgo_timer *t);
int kgo_timer_reset(struct kgo_timer *t, int64_t ns);
int kgo_timer_free(struct kgo_timer *t);
struct kgo_ticker *kgo_ticker_start(int64_t period);
struct kgo_chan *kgo_ticker_chan(const struct kgo_ticker *t);
int kgo_ticker_stop(struct kgo_ticker *t);
int kgo_ticker_reset(struct kgo_ticker *t, int64_t period);
int kgo_ticker_free(struct kgo_ticker *t);

/*
 * Contexts (Go's context package): cancellation and deadlines for a tree
 * of work. A context is cancelled by kgo_ctx_cancel(), by its deadline,
 * or by its parent's ending; ending reaches every descendant, and then
 * kgo_ctx_done()'s channel is closed (a receive in kgo_select() returns
 * ok 0).
 *
 * kgo_ctx_background: the root, never cancelled, no deadline (NULL
 *   stands for it everywhere); its done channel is NULL (never ready).
 * kgo_ctx_with_cancel: a child of @parent. NULL with errno ENOMEM.
 * kgo_ctx_with_deadline: a child that ends at @deadline (kgo_now()
 *   ns), or at its parent's deadline if that is earlier. NULL with errno
 *   ENOMEM, or EAGAIN if kgo's timer thread could not be started.
 * kgo_ctx_with_timeout: the same at kgo_now() + @ns.
 * kgo_ctx_cancel: end @ctx and its descendants with @cause (any
 *   non-zero value, a negative errno by convention; 0 means -ECANCELED).
 *   Once ended, later calls change nothing.
 * kgo_ctx_free: cancel, and give the creator's reference back (Go's
 *   "defer cancel()"). Memory goes when the context and all of its
 *   descendants are freed; use a context no more once you freed it.
 * kgo_ctx_err: 0 while live; -ECANCELED (cancelled, or a parent was),
 *   -ETIMEDOUT (a deadline passed: Go's DeadlineExceeded).
 * kgo_ctx_cause: the cause given to kgo_ctx_cancel() (Go's
 *   context.Cause), else kgo_ctx_err().
 * kgo_ctx_deadline: 1 and *@deadline if @ctx has one, else 0.
 *
 * Blocking calls with a context return its error when it ends first; if
 * it has ended already they do not block (nor act). Otherwise they are
 * the calls without: kgo_chan_send_ctx (0, -EPIPE), kgo_chan_recv_ctx
 * (1, 0), kgo_select_ctx (a case's index; at most KGO_SELECT_MAX - 1
 * cases), kgo_sleep_ctx (0 after @ns).
 * Any thread may use them. The calls without a context stay as fast as
 * they were: nothing here is on their path.
 */
struct kgo_ctx;

struct kgo_ctx *kgo_ctx_background(void);
struct kgo_ctx *kgo_ctx_with_cancel(struct kgo_ctx *parent);
struct kgo_ctx *kgo_ctx_with_deadline(struct kgo_ctx *parent,
				      int64_t deadline);
struct kgo_ctx *kgo_ctx_with_timeout(struct kgo_ctx *parent, int64_t ns);
void kgo_ctx_cancel(struct kgo_ctx *ctx, int cause);
void kgo_ctx_free(struct kgo_ctx *ctx);
struct kgo_chan *kgo_ctx_done(struct kgo_ctx *ctx);
int kgo_ctx_err(struct kgo_ctx *ctx);
int kgo_ctx_cause(struct kgo_ctx *ctx);
int kgo_ctx_deadline(struct kgo_ctx *ctx, int64_t *deadline);
int kgo_chan_send_ctx(struct kgo_ctx *ctx, struct kgo_chan *c,
		      const void *elem);
int kgo_chan_recv_ctx(struct kgo_ctx *ctx, struct kgo_chan *c, void *elem);
int kgo_select_ctx(struct kgo_ctx *ctx, struct kgo_select_case *cases,
		   int n, unsigned int flags);
int kgo_sleep_ctx(struct kgo_ctx *ctx, int64_t ns);

/*
 * Goroutine groups (Go's errgroup): kgo_group_go() runs @fn(ctx, arg) in
 * a new goroutine with the group's context; the first @fn to return
 * non-zero cancels that context with its value as the cause, and
 * kgo_group_wait() waits for every goroutine, cancels the context and
 * returns that first value (0 if none failed).
 *
 * kgo_group_new: a group whose context is a child of @parent. NULL with
 *   errno ENOMEM.
 * kgo_group_ctx: the group's context (freed with the group).
 * kgo_group_set_limit: at most @n goroutines of the group at once (< 0:
 *   no limit, the default); -EBUSY while any runs.
 * kgo_group_go: 0, blocking while the limit is reached; -ENOMEM, or the
 *   kgo_go() error (the goroutine then did not start).
 * kgo_group_trygo: the same, but -EAGAIN at the limit.
 * kgo_group_free: free it, after kgo_group_wait(); -EBUSY while any of
 *   its goroutines runs.
 */
struct kgo_group;

struct kgo_group *kgo_group_new(struct kgo_ctx *parent);
struct kgo_ctx *kgo_group_ctx(struct kgo_group *g);
int kgo_group_set_limit(struct kgo_group *g, int n);
int kgo_group_go(struct kgo_group *g, int (*fn)(struct kgo_ctx *ctx, void *arg),
		 void *arg);
int kgo_group_trygo(struct kgo_group *g,
		    int (*fn)(struct kgo_ctx *ctx, void *arg), void *arg);
int kgo_group_wait(struct kgo_group *g);
int kgo_group_free(struct kgo_group *g);

/*
 * Signals as values (Go's os/signal): after kgo_signal_notify(c, set),
 * each signal of @set the process receives is sent on @c as an int (its
 * number) instead of running its default action (or the handler it
 * had). @c must be a channel of ints (element size sizeof(int)). The
 * send never blocks (as in Go): give @c room for as
 * many as may come at once, one for a single signal. Several channels
 * may ask for one signal: each gets it. A signal that comes again before
 * it was sent is sent once. Notifying a channel again adds @set to its
 * signals. 0, -EINVAL (a NULL @c or @set, a channel that is not of
 * ints, an empty @set, or one holding
 * a signal that cannot be caught: SIGKILL, SIGSTOP, the fault signals
 * SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, or one libc keeps for
 * itself; nothing is changed then), -ENOMEM, -EAGAIN (the thread that
 * sends them could not be started).
 * kgo_signal_stop: @c gets no more signals once it returns; a signal no
 * channel asks for any longer gets back the disposition it had before
 * kgo took it (its default action, or the program's own handler). 0
 * (also for a channel never notified), -EINVAL for NULL. Stop a channel
 * before freeing it.
 * While a channel is notified, a goroutine waiting on it is not a
 * deadlock: a signal may come. Goroutines and plain threads may call
 * both.
 */
int kgo_signal_notify(struct kgo_chan *c, const sigset_t *set);
int kgo_signal_stop(struct kgo_chan *c);

/*
 * Descriptor I/O, Go's net and os files: a goroutine whose call would
 * block parks in the kernel on the file's own wait queue and holds no M
 * (no thread) meanwhile, so 10,000 connections need GOMAXPROCS threads,
 * not 10,000. Each has the signature and the return convention of the
 * call it is named after (-1 with errno), and blocks as that call does on
 * a blocking descriptor, whether or not the descriptor is O_NONBLOCK: a
 * read or receive until some data, an accept until a connection, a
 * connect until it is made, a write or send until all of it is written
 * (or an error after part of it: the count so far). MSG_DONTWAIT in
 * flags keeps its meaning. Writes and sends never raise SIGPIPE (EPIPE
 * instead: Go's rule). Plain threads may call them too (they wait in
 * ppoll); a file the kernel cannot wait for is used as a plain blocking
 * call.
 *
 * kgo_poll: wait until @fd polls one of @events (POLLIN, POLLOUT...) or
 *   POLLERR/POLLHUP, at most @timeout_ns (< 0: for ever, 0: just look);
 *   the revents, 0 on timeout, -1 with errno.
 * kgo_set_deadline: Go's SetReadDeadline and SetWriteDeadline at once:
 *   reads (reads, receives, accepts) and writes (writes, sends, connects)
 *   of @fd that wait past the kgo_now() time given fail with ETIMEDOUT;
 *   0 clears one. It stays with the descriptor number until kgo_close().
 * kgo_close: close(), after waking every goroutine waiting on @fd (they
 *   fail with EBADF, Go's ErrNetClosing) and ending the kernel's
 *   registration of its file. kgo's close() is kgo_close(): a program
 *   linked with kgo gets this from close() too. (Threads that are not
 *   goroutines, waiting in ppoll(), are not woken, as by close().)
 */
ssize_t kgo_read(int fd, void *buf, size_t n);
ssize_t kgo_write(int fd, const void *buf, size_t n);
ssize_t kgo_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t kgo_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t kgo_recv(int fd, void *buf, size_t n, int flags);
ssize_t kgo_send(int fd, const void *buf, size_t n, int flags);
ssize_t kgo_recvfrom(int fd, void *buf, size_t n, int flags,
		     struct sockaddr *from, socklen_t *fromlen);
ssize_t kgo_sendto(int fd, const void *buf, size_t n, int flags,
		   const struct sockaddr *to, socklen_t tolen);
ssize_t kgo_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t kgo_sendmsg(int fd, const struct msghdr *msg, int flags);
int kgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int kgo_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen,
		int flags);
int kgo_connect(int fd, const struct sockaddr *addr, socklen_t len);
int kgo_poll(int fd, short events, int64_t timeout_ns);
int kgo_set_deadline(int fd, int64_t rdeadline, int64_t wdeadline);
int kgo_close(int fd);

/*
 * Go's sync package. A zero-filled object is ready to use (or
 * KGO_MUTEX_INIT and friends); none may be copied once used. A goroutine
 * that waits parks, a plain thread sleeps. Misuse that Go reports with a
 * fatal error aborts the process with a message naming the call.
 *
 * kgo_mutex: Go's Mutex, with its starvation mode: a waiter that has
 *   waited over 1 ms gets the mutex handed to it at the next unlock, so
 *   none starves. trylock: 0 or -EBUSY. Unlocking an unlocked mutex is
 *   fatal. A mutex is not owned: any goroutine may unlock it. Unlike a
 *   pthread mutex, its memory must stay valid until every unlock call
 *   has returned, not only until it is unlocked (Go has a GC for this).
 * kgo_rwmutex: Go's RWMutex: many readers or one writer; a writer waiting
 *   keeps new readers out, so writers do not starve either.
 * kgo_waitgroup: Go's WaitGroup: add(n) before starting work, done() at
 *   each end, wait() until the counter is zero. A negative counter is
 *   fatal.
 * kgo_once: Go's Once: the first kgo_once_do() runs fn(arg); every call
 *   returns after it has. (fn must return: if it calls kgo_exit(), later
 *   callers wait forever, where Go would mark the Once done.)
 */
struct kgo_mutex {
	int32_t state;
	uint32_t sema;
};

struct kgo_rwmutex {
	struct kgo_mutex w;
	uint32_t writer_sem, reader_sem;
	int32_t reader_count, reader_wait;
};

struct kgo_waitgroup {
	uint64_t state;
	uint32_t sema;
};

struct kgo_once {
	uint32_t done;
	struct kgo_mutex m;
};

#define KGO_MUTEX_INIT		{ 0, 0 }
#define KGO_RWMUTEX_INIT	{ KGO_MUTEX_INIT, 0, 0, 0, 0 }
#define KGO_WAITGROUP_INIT	{ 0, 0 }
#define KGO_ONCE_INIT		{ 0, KGO_MUTEX_INIT }

void kgo_mutex_lock(struct kgo_mutex *m);
int kgo_mutex_trylock(struct kgo_mutex *m);
void kgo_mutex_unlock(struct kgo_mutex *m);
void kgo_rwmutex_lock(struct kgo_rwmutex *rw);
int kgo_rwmutex_trylock(struct kgo_rwmutex *rw);
void kgo_rwmutex_unlock(struct kgo_rwmutex *rw);
void kgo_rwmutex_rlock(struct kgo_rwmutex *rw);
int kgo_rwmutex_tryrlock(struct kgo_rwmutex *rw);
void kgo_rwmutex_runlock(struct kgo_rwmutex *rw);
void kgo_waitgroup_add(struct kgo_waitgroup *wg, int delta);
void kgo_waitgroup_done(struct kgo_waitgroup *wg);
void kgo_waitgroup_wait(struct kgo_waitgroup *wg);
void kgo_once_do(struct kgo_once *o, void (*fn)(void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* KGO_H */
