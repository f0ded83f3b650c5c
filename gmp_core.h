/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmp internals: one struct gmp_sched per open /dev/gmp, holding Go's
 * scheduler state (runtime/runtime2.go's schedt, allp, m, p and g) for the
 * process that created it.
 */
#ifndef _GMP_CORE_H
#define _GMP_CORE_H

#include <linux/atomic.h>
#include <linux/cpumask.h>
#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
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

/* Go's G status values (runtime2.go _Gidle ... _Gdead). */
enum gmp_gstatus {
	GMP_GIDLE,
	GMP_GRUNNABLE,
	GMP_GRUNNING,
	GMP_GSYSCALL,
	GMP_GWAITING,
	GMP_GDEAD,
};

struct gmp_g {
	u64 goid;
	u64 parentgoid;		/* goid of the goroutine that spawned it */
	enum gmp_gstatus status;
	bool ismain;
	struct gmp_m *m;	/* the M running it, if any */
	struct gmp_frame frame;	/* where it resumes */
	struct gmp_g *schedlink; /* global run queue or free list */
	u64 waitkey;		/* GOPARK key while waiting */
	struct list_head waitlink; /* its wait queue */
	struct list_head allg;	/* sched.allgs */
};

#define GMP_RUNQ_SIZE	256	/* a P's local run queue, as in Go */
#define GMP_GFREE_MAX	64	/* per-P free G cache */
#define GMP_GFREE_BATCH	32	/* moved to/from the global list at once */
#define GMP_GLOBAL_TICK	61	/* every 61st schedtick checks global queue first */

enum gmp_pstatus {
	GMP_PIDLE,
	GMP_PRUNNING,
};

struct gmp_p {
	u32 id;
	enum gmp_pstatus status;
	u32 schedtick;		/* incremented on every execute */
	int cpu;		/* the CPU its M is bound to */
	struct gmp_m *m;	/* the M holding it, if any */
	struct gmp_p *link;	/* sched.pidle */
	/*
	 * Go's lock-free local run queue: the owning M puts at tail, any M
	 * takes at head with a compare-and-swap, runnext is the one-G
	 * fast lane that inherits the rest of the current time slice.
	 */
	u32 runqhead;
	u32 runqtail;
	struct gmp_g *runq[GMP_RUNQ_SIZE];
	struct gmp_g *runnext;
	/* Free G cache (gfget/gfput), owner only. */
	struct gmp_g *gfree;
	u32 gfreecnt;
};

struct gmp_m {
	u32 id;
	pid_t tid;		/* key in sched.ms */
	struct gmp_p *p;	/* P held while running Go code */
	struct gmp_p *nextp;	/* P handed over by the waker (startm) */
	struct gmp_g *curg;	/* goroutine running on it */
	struct list_head idle;	/* sched.midle */
	bool parked;		/* on sched.midle */
	int cpu;		/* the CPU it is bound to, -1: none yet */
	wait_queue_head_t park;	/* Go's m.park note */
	struct gmp_frame g0;	/* where the thread called MSTART */
	cpumask_var_t allowed;	/* its CPUs when it became an M */
};

/* Kernel pages mapped into the process (the state and the spawn ring). */
struct gmp_region {
	struct page **pages;
	unsigned int npages;
	void *vaddr;
};

/* Go's schedt, allp and allm, for one process. */
struct gmp_sched {
	struct mutex setup_lock;	/* create vs. mmap */
	bool created;			/* set once under setup_lock */
	struct mm_struct *mm;		/* the owner's, held with mmgrab */

	spinlock_t lock;		/* sched.lock */
	struct gmp_p **allp;
	u32 nprocs;
	struct gmp_p *pidle;		/* idle P's */
	u32 npidle;
	struct list_head midle;		/* parked M's */
	u32 nmidle;
	u32 mcount;
	u32 maxmcount;
	struct xarray ms;		/* tid -> struct gmp_m */
	struct gmp_g *runqhead;		/* global run queue */
	struct gmp_g *runqtail;
	u32 runqsize;
	struct gmp_g *gfree;		/* global free G list */
	u32 ngfree;
	struct list_head allgs;
	u64 goidgen;			/* these three under ring_lock */
	u64 nspawned;
	u64 nbadspawn;
	atomic64_t ngoroutines;		/* G's not yet dead, all M's update */
	atomic64_t nkswitch;		/* frame switches, all M's update */
	atomic_t nmspinning;		/* M's in gmp_spin() */
	bool mainspawned;
	bool exiting;
	int exit_code;

	struct mutex ring_lock;		/* one consumer of the spawn ring */
	u32 ring_head;			/* the consumer index (the shared one is a copy) */
	bool ring_stalled;		/* the last drain ran out of memory */
	struct gmp_region state_region;
	struct gmp_region ring_region;
	struct gmp_state *state;	/* read-only for user space */
	struct gmp_ring *ring;
	struct gmp_spawn *spawn;
	u32 ring_entries;

	struct gmp_waitq *waitq;	/* gmp_park.c */
	struct dentry *debugfs;		/* gmp_trace.c */
	unsigned long created_at;	/* jiffies */
};

/* gmp_frame.c + gmp_arch_x86.S */
void gmp_arch_frame_save(const struct pt_regs *regs, struct gmp_frame *dst);
void gmp_arch_frame_load(struct pt_regs *regs, const struct gmp_frame *src);
bool gmp_user_addr_ok(unsigned long addr);
int gmp_frame_check(const struct gmp_frame *f);
int gmp_frame_load(struct pt_regs *regs, const struct gmp_frame *f);
void gmp_frame_save(const struct pt_regs *regs, struct gmp_frame *dst);

/* gmp_ring.c */
int gmp_spawn_check(const struct gmp_spawn *sp);
void gmp_spawn_frame(const struct gmp_spawn *sp, u64 goid,
		     struct gmp_frame *f);
int gmp_ring_drain(struct gmp_sched *s, struct gmp_p *pp, u64 parentgoid,
		   u32 *naccepted);
bool gmp_ring_pending(struct gmp_sched *s);

/* gmp_runq.c: Go's run queue and free-G list primitives */
bool gmp_runqempty(struct gmp_p *pp);
u32 gmp_runqlen(struct gmp_p *pp);
void gmp_runqput(struct gmp_sched *s, struct gmp_p *pp, struct gmp_g *gp,
		 bool next);
struct gmp_g *gmp_runqget(struct gmp_p *pp, bool *inherit);
struct gmp_g *gmp_runqsteal(struct gmp_p *pp, struct gmp_p *victim,
			    bool stealrunnext);
void gmp_globrunqput(struct gmp_sched *s, struct gmp_g *gp);
struct gmp_g *gmp_globrunqget(struct gmp_sched *s, struct gmp_p *pp, u32 max);
void gmp_gfput(struct gmp_sched *s, struct gmp_p *pp, struct gmp_g *gp);
struct gmp_g *gmp_gfget(struct gmp_sched *s, struct gmp_p *pp);

/* gmp_core.c */
int gmp_create_check(struct gmp_create *c);

/* gmp_park.c */
int gmp_waitq_init(struct gmp_sched *s);
void gmp_waitq_destroy(struct gmp_sched *s);
int gmp_wait_from_user(struct gmp_wait *w, unsigned long arg);
long gmp_gopark(struct gmp_sched *s, struct pt_regs *regs,
		const struct gmp_wait *w);
long gmp_goready(struct gmp_sched *s, const struct gmp_wait *w);

/* gmp_trace.c */
void gmp_trace_init(void);
void gmp_trace_exit(void);
void gmp_trace_instance_add(struct gmp_sched *s);
void gmp_trace_instance_remove(struct gmp_sched *s);

/* gmp_sched.c */
int gmp_sched_init(struct gmp_sched *s, u32 nprocs, u32 maxmcount);
void gmp_sched_destroy(struct gmp_sched *s);
struct gmp_g *gmp_newproc(struct gmp_sched *s, struct gmp_p *pp,
			  const struct gmp_spawn *sp, u64 parentgoid);
long gmp_mstart(struct gmp_sched *s, struct pt_regs *regs);
long gmp_goexit(struct gmp_sched *s, struct pt_regs *regs, int status);
long gmp_gosched(struct gmp_sched *s, struct pt_regs *regs);
long gmp_wakep_ioctl(struct gmp_sched *s);
long gmp_schedule(struct gmp_sched *s, struct gmp_m *m, struct pt_regs *regs);
struct gmp_g *gmp_findrunnable(struct gmp_sched *s, struct gmp_m *m,
			       bool *inherit);
struct gmp_m *gmp_m_running(struct gmp_sched *s);
void gmp_wakep(struct gmp_sched *s);
void gmp_publish_state(struct gmp_sched *s);

#endif /* _GMP_CORE_H */
