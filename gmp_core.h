/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmp internals: one struct gmp_sched per open /dev/gmp, holding Go's
 * scheduler state (runtime/runtime2.go's schedt, allp, m, p and g) for the
 * process that created it. This header has the types; each concern's
 * functions are in its own header (gmp_sched.h, gmp_runq.h, ...).
 */
#ifndef _GMP_CORE_H
#define _GMP_CORE_H

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/gfp.h>
#include <linux/hashtable.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <kunit/visibility.h>

#include "gmp_uapi.h"

/*
 * A user register frame: the general registers in struct pt_regs order,
 * then ip, flags and sp. Code and stack segments are never part of it:
 * the frame a thread returns to user mode with keeps its own. Saved and
 * loaded by gmp_arch_x86.S, whose offsets are pinned in gmp_frame.c.
 */
struct gmp_frame {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di;
	unsigned long ip, flags, sp;
};

/*
 * The kernel's private half of a goroutine, beside its shared slot: how
 * it is linked on the global run queue. kstate says whether it is; it
 * is claimed with a compare-and-swap before the link is touched, so an
 * index user space hands in twice can never be linked twice. One array
 * of these per G table page, allocated with the page.
 */
enum gmp_gkstate {
	GMP_GK_NONE,
	GMP_GK_GLOBALQ,		/* sched.runq, under sched.lock */
};

struct gmp_gk {
	atomic_t kstate;
	u32 gidx;
	struct gmp_m *lockedm;	/* the M it is wired to (LOCKOSTHREAD) */
	struct list_head link;
};

/*
 * What a process asks of the kernel (its instance, M's, G table pages) is
 * charged to its memory cgroup and, at the cgroup's limit, refused with
 * ENOMEM rather than paid for by the OOM killer.
 */
#define GMP_GFP	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

#define GMP_GSLOTS_PER_PAGE	(PAGE_SIZE / sizeof(struct gmp_gslot))
/* Bound on every retry loop over words user space can also write. */
#define GMP_CAS_TRIES	64
/* The netpoller's registrations, hashed by file: 1024 buckets. */
#define GMP_POLLHASH_BITS	10
#define GMP_POLLSLOTS_PER_PAGE	(PAGE_SIZE / sizeof(struct gmp_pollslot))

enum gmp_pstatus {
	GMP_PIDLE,
	GMP_PRUNNING,
	GMP_PDEAD,		/* beyond nprocs, held by no M */
};

/*
 * A P: the kernel's half (who holds it, where it runs) and its public
 * half in the scheduler area (its run queue, runnext, schedtick, curg).
 */
struct gmp_p {
	u32 id;
	enum gmp_pstatus status;
	int cpu;		/* the CPU its M is bound to */
	struct gmp_m *m;	/* the M holding it, if any */
	struct gmp_p *link;	/* sched.pidle */
	struct gmp_m *waitm;	/* the M it was taken from wants it back */
	struct gmp_pshared *sh;	/* in the scheduler area */
	/* sysmon's view (Go's p.sysmontick): sysmon's thread only */
	u32 sysmontick;		/* the schedtick it last saw */
	u64 schedwhen;		/* when it saw it change, ns */
};

/*
 * An M's state word for the blocking hand-off: the low bits say whether
 * it runs, is blocked in the kernel holding its P (Go's _Psyscall), or
 * lost that P to sysmon; the rest counts its blocks, so a compare-and-
 * swap never mistakes a later block for the one it looked at.
 */
#define GMP_MRUN		0
#define GMP_MSYSCALL		1
#define GMP_MHANDOFF		2
#define GMP_MSTATE_MASK		3
#define GMP_MSTATE_SEQ		4

#define GMP_SYSMON_MIN_US	20	/* Go's sysmon: 20 us ... */
#define GMP_SYSMON_MAX_US	10000	/* ... to 10 ms */

struct gmp_mnote;

struct gmp_m {
	u32 id;
	pid_t tid;		/* key in sched.ms */
	struct task_struct *task; /* held with get_task_struct */
	struct gmp_sched *s;
	struct gmp_p *p;	/* P held while running Go code */
	struct gmp_p *nextp;	/* P handed over by the waker (startm) */
	u32 lockedg;		/* the G wired to it (Go's m.lockedg), 0: none */
	u32 nextg;		/* with nextp: its lockedg, handed over to run */
	bool runs_g;		/* on a goroutine (curg in p->sh), not its g0 frame */
	struct list_head idle;	/* sched.midle */
	bool parked;		/* on sched.midle */
	int cpu;		/* the CPU it is bound to, -1: none yet */
	wait_queue_head_t park;	/* Go's m.park note */
	struct gmp_frame g0;	/* where the thread called MSTART */
	cpumask_var_t allowed;	/* its CPUs when it became an M */
	/* async preemption (gmp_sysmon.c) */
	struct callback_head preempt_work;
	atomic_t preempt_queued;	/* preempt_work is queued */
	u32 preempt_tick;	/* the schedtick sysmon wants ended */
	/* blocking hand-off (gmp_handoff.c) */
	struct gmp_mnote *note;	/* its preempt notifier, NULL: none */
	u32 __user *locks;	/* the library's per-M "in the runtime" word */
	bool ingmp;		/* in a gmp ioctl or task work: keeps its P */
	atomic_t sysstate;	/* GMP_M*, plus a count of blocks */
	u64 syscallwhen;	/* when it last blocked (mono fast ns) */
	u32 syscallg;		/* the goroutine whose P sysmon took */
	struct gmp_p *syscallp;	/* ... and that P */
	/* lockedg is wired only until it runs on this M again (KEEPM) */
	bool lockedg_temp;
	/* on sched.lockedwait: parked while lockedg sits on the global queue */
	struct list_head lockedwait;
	struct callback_head syscall_work;
	atomic_t syscall_queued;	/* syscall_work is queued */
	/* The call went in, for that schedtick, and the M has not entered
	 * the scheduler since: the M's own, not sysmon's.
	 */
	bool preempt_injected;
	u32 preempt_injected_tick;
};

/*
 * Kernel pages mapped into the process: the state page, the spawn ring and
 * the scheduler area. The first nvmap pages are allocated up front and
 * mapped at vaddr for the kernel; the rest (the G table) are allocated when
 * user space first touches them (gmp_shm.c) and reached by page_address().
 */
struct gmp_region {
	struct page **pages;
	unsigned int npages;
	unsigned int nvmap;
	void *vaddr;
};

/*
 * Go's schedt, allp and allm, for one process.
 *
 * Its locks, outermost first:
 *
 *   setup_lock       CREATE against itself; gmp_users_lock nests inside
 *   gmp_users_lock   the per-user instance counts (gmp_core.c)
 *   mmap_lock        the process's, held by the fault that populates a
 *                    G table page: gtab_lock nests inside (gmp_shm.c)
 *   ring_lock        the spawn ring's one consumer, taken with trylock;
 *                    newproc takes sched.lock inside it (gmp_ring.c)
 *   pollhash_lock    the netpoller's registered files (gmp_netpoll.c);
 *                    a registration's own pd->lock nests inside it, and
 *                    inside a file's wait queue locks (pd->lock is
 *                    irq-safe, taken by the file's wake-up, and takes
 *                    no lock of gmp's)
 *   sched.lock       innermost of gmp's: a spinlock_t, never held across
 *                    a sleep, a fault or another gmp lock; wait queue
 *                    locks nest inside it (wake_up()). On PREEMPT_RT it
 *                    is a sleeping lock, so it is never taken from the
 *                    preempt notifiers (gmp_handoff.c) or a hard irq_work
 *
 * The local run queues, an M's hand-off state word and the counters are
 * lock-free (gmp_runq.c, gmp_handoff.c).
 */
struct gmp_sched {
	struct mutex setup_lock;	/* create vs. mmap */
	bool created;			/* set once under setup_lock */
	struct file *file;		/* the /dev/gmp file it belongs to */

	/*
	 * Everything from mm on is set up by CREATE. A CREATE that fails
	 * frees what it set up and zeroes all of it (gmp_instance_reset()),
	 * so a retry on the same file starts from what open left, with no
	 * list or count pointing at what was freed.
	 */
	struct mm_struct *mm;		/* the owner's, held with mmgrab */
	pid_t tgid;			/* the owner, for tracepoints */

	spinlock_t lock;		/* sched.lock */
	struct gmp_p **allp;		/* maxprocs of them */
	u32 nprocs;			/* in use: allp[0 .. nprocs - 1] */
	u32 maxprocs;
	struct gmp_p *pidle;		/* idle P's */
	u32 npidle;
	struct list_head midle;		/* parked M's */
	/* wired M's whose goroutine is queued: an idle P goes to them */
	struct list_head lockedwait;
	u32 nmidle;
	u32 mcount;
	u32 maxmcount;
	u32 nmstarting;			/* M's requested, not registered yet */
	u32 newm_req;			/* of those, not yet taken by NEWM */
	/*
	 * wakep found work, an idle P and no M to run it, at maxmcount with
	 * every M busy or blocked: Go's "thread exhaustion" (NEWM says so)
	 */
	bool mexhausted;
	wait_queue_head_t newm_wait;	/* the template thread */
	struct xarray ms;		/* tid -> struct gmp_m */
	struct list_head runq;		/* global run queue of struct gmp_gk */
	u32 runqsize;
	u64 nspawned;			/* these two under ring_lock */
	u64 nbadspawn;
	atomic64_t nbadg;		/* indices and contexts dropped */
	atomic64_t nkswitch;		/* kernel resumes, all M's update */
	atomic_t nmspinning;		/* M's in gmp_spin() */
	u32 maing;			/* the main goroutine's index, 0: none yet */
	bool exiting;
	int exit_code;

	struct mutex ring_lock;		/* one consumer of the spawn ring */
	u32 ring_head;			/* the consumer index (the shared one is a copy) */
	struct gmp_region state_region;
	struct gmp_region ring_region;
	struct gmp_region sched_region;	/* P's public halves, then the G table */
	struct mutex gtab_lock;		/* populating G table pages */
	struct gmp_gk **gk;		/* per G table page, NULL until populated */
	u32 maxg;
	u32 gtab_pgoff;			/* first G table page in sched_region */
	struct gmp_state *state;	/* read-only for user space */
	struct gmp_ring *ring;
	struct gmp_spawn *spawn;
	u32 ring_entries;

	/* sysmon (gmp_sysmon.c) */
	struct task_struct *sysmon;
	wait_queue_head_t sysmon_wait;	/* sysmon sleeping: all P's idle */
	bool sysmonwait;		/* under sched.lock */
	u64 preempt_pc;			/* 0: no async preemption */
	u64 slice_ns;			/* Go's forcePreemptNS */
	atomic64_t npreemptreq;
	atomic64_t npreempt;
	u64 nsysmonwake;
	u32 sysmon_delay_us;		/* its current sleep */
	bool sysmon_kicked;		/* woken early by sysmon_kick */
	struct irq_work sysmon_kick;	/* gmp_sysmon_kick() */
	bool handoff;			/* blocked M's lose their P */
	atomic64_t nhandoff;		/* P's taken from blocked M's */
	atomic64_t nsteal;		/* findrunnable's steals */
	atomic64_t nexitsyscall;	/* ... whose G found an idle P after */
	atomic64_t nkeepm;		/* G's wired to their M for a while */

	/* the netpoller (gmp_netpoll.c) */
	spinlock_t pollhash_lock;	/* registrations: the hash, their count */
	DECLARE_HASHTABLE(pollhash, GMP_POLLHASH_BITS);	/* registered files */
	struct xarray polldescs;	/* every registration by index (RCU) */
	struct gmp_region pollslot_region; /* their counts, mapped read-only */
	u32 npolldesc;			/* registered, at most GMP_POLLSLOTS_MAX */
	u64 npollreg;			/* registrations made */
	u64 npollreaped;		/* ... ended because only gmp held the file */
	unsigned long pollreap_next;	/* where the reaper looks next */
	atomic_t npollwait;		/* at most maxg */
	struct llist_head pollready;	/* fired waits */
	struct llist_head polldead;	/* released by an M: the work puts them */
	struct work_struct pollwork;	/* takes them when no M does */
	struct delayed_work pollreap;	/* gmp_pollreap() */
	struct llist_node *pollseen;	/* sysmon's last look: compared only */
	bool pollinit;
	bool pollclosed;		/* the instance goes: the work does nothing */
	atomic64_t nnetpoll;		/* goroutines parked */
	atomic64_t nnetpollready;	/* ... made runnable again */

	struct dentry *debugfs;		/* gmp_trace.c */
	unsigned long created_at;	/* jiffies */
	kuid_t uid;			/* charged one of its instances */
	bool uid_charged;
};

/* gmp_core.c */
int gmp_create_check(struct gmp_create *c);
int gmp_thread_check(void);

#endif /* _GMP_CORE_H */
