/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * gmp: Go's G/M/P scheduler, run by the kernel, for C programs.
 *
 * This header is the one contract between the gmp kernel module and user
 * space. There is one copy: the module, kgo (userlib/) and the selftests
 * all build against this file; kgo installs only kgo.h, its own API.
 * Conventions, as in the kernel's own extensible uapi (clone3, openat2):
 *
 *  - fixed-width fields, explicit padding, 64-bit pointers as __aligned_u64;
 *  - structs that may grow start with their size; the kernel accepts a
 *    shorter one (the missing tail reads as zero) and a longer one only if
 *    the bytes it does not know are zero (else -E2BIG);
 *  - every flags and reserved field must be zero unless a bit is defined,
 *    else -EINVAL;
 *  - memory shared with the kernel is read by the kernel as untrusted input.
 *
 * See Documentation/uapi.rst.
 */
#ifndef _UAPI_GMP_H
#define _UAPI_GMP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define GMP_DEVICE_PATH		"/dev/gmp"
#define GMP_API_VERSION		3

/* Defaults and limits (Go's names in comments). */
#define GMP_MAXMCOUNT_DEFAULT	10000	/* sched.maxmcount */
#define GMP_MAXMCOUNT_MAX	10000
#define GMP_NPROCS_MAX		1024	/* _MaxGomaxprocs is 1024 in Go */
#define GMP_RING_ENTRIES_DEFAULT 256
#define GMP_RING_ENTRIES_MAX	4096
#define GMP_MAXG_DEFAULT	1048576	/* G table slots: 2^20 */
#define GMP_MAXG_MAX		16777216	/* 2^24 */
#define GMP_RUNQ_SIZE		256	/* a P's local run queue, as in Go */
/*
 * Fairness, both sides: a switch whose P's new schedtick is a multiple of
 * this takes from the global queue first (Go's schedule(): 61), so the
 * holder enters the kernel on it when gmp_state.runqsize or the spawn
 * ring says there is work there.
 */
#define GMP_GLOBAL_TICK		61

/*
 * GMP_IOC_CREATE: make the scheduler instance of this open file. Once per
 * file; the calling process owns it (other processes get -EPERM). G table
 * index 0 is never a goroutine: at most maxg - 1 are live at once.
 * maxprocs defaults to the larger of nprocs and the possible CPUs. A
 * failed CREATE may be retried on the same file. -EMFILE: the caller's
 * user has max_user_instances (module parameter) instances already.
 */
struct gmp_create {
	__u32 size;		/* in: sizeof(struct gmp_create) */
	__u32 flags;		/* in: none defined, must be 0 */
	__u32 nprocs;		/* in: P count, 0 = online CPUs; out: used */
	__u32 maxmcount;	/* in: M limit, 0 = default; out: used */
	__u32 ring_entries;	/* in: spawn ring size (power of 2), 0 = default; out */
	__u32 features;		/* out: GMP_FEAT_* */
	__aligned_u64 state_size; /* out: bytes to mmap at GMP_OFF_STATE */
	__aligned_u64 ring_size;  /* out: bytes to mmap at GMP_OFF_RING */
	__u32 maxg;		/* in: G table slots, 2 ..GMP_MAXG_MAX, 0 = default; out */
	__u32 resv0;		/* in: must be zero */
	__aligned_u64 sched_size; /* out: bytes to mmap at GMP_OFF_SCHED */
	__aligned_u64 gtab_off;	/* out: offset of the G table in that area */
	__u32 maxprocs;		/* in: P's PROCRESIZE may reach, 0 = default */
	__u32 resv;		/* in: must be zero */
	/* VER1 */
	__aligned_u64 preempt_pc; /* in: async preemption stub, 0 = none */
	__u32 slice_us;		/* in: time slice, 0 = default; out: used */
	__u32 resv1;		/* in: must be zero */
};

#define GMP_CREATE_SIZE_VER0	72	/* sizeof first published struct */
#define GMP_CREATE_SIZE_VER1	88	/* adds preempt_pc, slice_us */

/*
 * Asynchronous preemption (Go's asyncPreempt). sysmon preempts a goroutine
 * that has run for more than slice_us without a switch (its P's schedtick
 * did not move). With preempt_pc set, the kernel makes the M, on its way
 * back to user mode, call preempt_pc as if the interrupted code had done
 * so from 128 bytes below its stack pointer (past the red zone): it
 * stores the interrupted rip at rsp - 136, sets rsp to that address and
 * rip to preempt_pc, and changes nothing else. The stub must preserve
 * every register and flag and return with `ret $128`. It decides itself
 * whether the goroutine can be switched there (kgo defers it while the M
 * is inside the library). A goroutine whose stack cannot take the call
 * (unmapped, or sp not a user address) is not preempted this time.
 */
#define GMP_SLICE_US_DEFAULT	10000	/* Go's forcePreemptNS: 10 ms */
#define GMP_SLICE_US_MIN	100
#define GMP_SLICE_US_MAX	10000000
#define GMP_PREEMPT_REDZONE	128

/* gmp_create.features */
#define GMP_FEAT_SPAWN_RING	0x1U	/* goroutines made runnable via the ring */
/* 0x2 was API version 1's kernel-saved goroutine frames: never reused. */
#define GMP_FEAT_USER_RUNQ	0x4U	/* run queues and G's in shared memory */
#define GMP_FEAT_PREEMPT	0x8U	/* sysmon, async preemption (preempt_pc) */
#define GMP_FEAT_HANDOFF	0x10U	/* P's of blocked M's handed off (MSTART) */
#define GMP_FEAT_LOCKOSTHREAD	0x20U	/* G's wired to their M (LOCKOSTHREAD) */
#define GMP_FEAT_KEEPM		0x40U	/* GOSCHED_KEEPM; exitsyscall keeps the M */
#define GMP_FEAT_NETPOLL	0x80U	/* NETPOLL_WAIT, NETPOLL_CLOSE */
#define GMP_FEAT_NETPOLL_PD	0x100U	/* registrations, GMP_OFF_POLL */
#define GMP_FEAT_NETPOLL_POLL	0x200U	/* GMP_NETPOLL_POLL */

/*
 * mmap offsets: the read-only state page(s), the read-write spawn ring,
 * the read-write scheduler area (P's run queues, then the G table).
 */
#define GMP_OFF_STATE		0x00000000ULL
#define GMP_OFF_RING		0x10000000ULL
#define GMP_OFF_SCHED		0x20000000ULL
#define GMP_OFF_POLL		0x80000000ULL

/*
 * Goroutine stacks with guards (mmap MAP_PRIVATE, read-write, from any
 * open /dev/gmp, no instance needed): anonymous memory laid out as stack
 * slots of guard_pages + stack_pages pages, each guard below its stack.
 * The offset says the layout; the mapping's first byte is a slot's first.
 * A touch of a guard page is SIGSEGV (SEGV_MAPERR at the address), with
 * no page and no VMA of its own: one mapping holds any number of stacks.
 * Pages are private, zero on first touch and copied on fork, as anonymous
 * memory; MADV_DONTNEED gives them back. Never executable.
 */
#define GMP_OFF_STACKS		0x4000000000000000ULL	/* bit 62 */
#define GMP_STACKS_GUARD_SHIFT	54	/* 8 bits: guard pages, 1..255 */
#define GMP_STACKS_SIZE_SHIFT	38	/* 16 bits: stack pages, 1..65535 */
#define GMP_OFF_STACKS_LAYOUT(stack_pages, guard_pages)			\
	(GMP_OFF_STACKS | (__u64)(guard_pages) << GMP_STACKS_GUARD_SHIFT |	\
	 (__u64)(stack_pages) << GMP_STACKS_SIZE_SHIFT)

/*
 * Goroutine contexts. A goroutine that is not running is a slot of the G
 * table (struct gmp_gslot) holding where it resumes: pc, sp and one
 * argument. Whoever resumes it, the user library switching in user space
 * or the kernel returning an M to user mode, does the same: rsp = sp,
 * rdi = arg, rsi = the id of the P the M holds, rdx = the G's index, and
 * jumps to pc. Everything else a goroutine needs to survive a switch
 * (callee-saved registers, FPU control) it saves itself, on its own stack,
 * before it publishes its context. The kernel never reads or writes a
 * goroutine's stack; it loads only the three words, checked to be user
 * addresses, and zeroes every other general register.
 *
 * The ioctls. Scalar arguments travel in the ioctl argument itself; an
 * argument documented as 0 must be 0 (-EINVAL). Unknown numbers: -ENOTTY.
 * Before GMP_IOC_CREATE every other one fails with -EBADFD; from a process
 * other than the creator (say a forked child), with -EPERM. GOEXIT,
 * GOSCHED and SCHEDULE come from an M running goroutines (else -EINVAL);
 * the first two act on the goroutine in its P's curg (the caller: the
 * user library keeps curg up to date) and fail with -EINVAL if curg is
 * no goroutine. A user address, wherever the kernel checks
 * one, is at least 4096 and below the top of the user address space.
 *
 * One line each here; Documentation/uapi.rst has each one's contract:
 *
 * MSTART	the calling thread becomes an M (Go's mstart); arg: 0 or
 *		its __u32 "in the runtime" word (Go's m.locks), which lets
 *		sysmon hand its P off while it blocks
 * GOEXIT	curg is dead (Go's goexit0); arg: its exit status
 * GOSCHED	curg goes to the global queue (Go's Gosched; exitsyscall
 *		from an M that lost its P); arg: 0 or GMP_GOSCHED_KEEPM
 * SCHEDULE	curg was put away by user space (Go's park_m); arg: 0
 * WAKEP	take the ring's entries now, start an idle P (Go's wakep)
 * PROCRESIZE	use arg P's (Go's procresize); returns the previous count
 * NEWM		the template thread's wait for M's to start (Go's
 *		templateThread); -EAGAIN: thread exhaustion
 * LOCKOSTHREAD	wire (1) or unwire (0) curg to this M (Go's LockOSThread)
 *
 * GOSCHED, SCHEDULE and GOEXIT do not return to their caller: the thread
 * comes back to user mode in another goroutine's context (or MSTART's,
 * with MSTART's result). The caller must not run on the parked
 * goroutine's stack in that case (kgo calls them from the M's own g0
 * stack, as Go's mcall does).
 */
enum gmp_ioc_nr {
	GMP_IOC_NR_CREATE,
	GMP_IOC_NR_MSTART,
	GMP_IOC_NR_GOEXIT,
	GMP_IOC_NR_GOSCHED,
	GMP_IOC_NR_WAKEP,
	/*
	 * 5 and 6 were GOPARK and GOREADY (API version 2), goroutines
	 * parked on a user word in the kernel; kgo parks in user space and
	 * nothing called them. Never reused: -ENOTTY.
	 */
	GMP_IOC_NR_RESERVED5,
	GMP_IOC_NR_RESERVED6,
	GMP_IOC_NR_SCHEDULE,
	GMP_IOC_NR_NEWM,
	GMP_IOC_NR_PROCRESIZE,
	GMP_IOC_NR_LOCKOSTHREAD,
	GMP_IOC_NR_NETPOLL_WAIT,
	GMP_IOC_NR_NETPOLL_CLOSE,
	GMP_IOC_NR_LAST
};

/* GMP_IOC_GOSCHED's argument */
#define GMP_GOSCHED_KEEPM	0x1UL

#define GMP_IOC_MAGIC		0xE7
#define GMP_IOC_CREATE		_IOWR(GMP_IOC_MAGIC, GMP_IOC_NR_CREATE, struct gmp_create)
#define GMP_IOC_MSTART		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_MSTART)
#define GMP_IOC_GOEXIT		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_GOEXIT)
#define GMP_IOC_GOSCHED		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_GOSCHED)
#define GMP_IOC_WAKEP		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_WAKEP)
#define GMP_IOC_SCHEDULE	_IO(GMP_IOC_MAGIC, GMP_IOC_NR_SCHEDULE)
#define GMP_IOC_NEWM		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_NEWM)
#define GMP_IOC_PROCRESIZE	_IO(GMP_IOC_MAGIC, GMP_IOC_NR_PROCRESIZE)
#define GMP_IOC_LOCKOSTHREAD	_IO(GMP_IOC_MAGIC, GMP_IOC_NR_LOCKOSTHREAD)
#define GMP_IOC_NETPOLL_WAIT	_IOWR(GMP_IOC_MAGIC, GMP_IOC_NR_NETPOLL_WAIT, \
				      struct gmp_netpoll_wait)
#define GMP_IOC_NETPOLL_CLOSE	_IO(GMP_IOC_MAGIC, GMP_IOC_NR_NETPOLL_CLOSE)

/*
 * The netpoller (GMP_FEAT_NETPOLL): a goroutine waits for a descriptor
 * in the kernel, on the file's own wait queue, without holding an M.
 *
 * The first wait on a file registers it (Go's pollDesc): the kernel
 * holds the file and stays on its wait queues, and counts its events in
 * the file's slot of the poll area (GMP_FEAT_NETPOLL_PD), which user
 * space maps read-only: the slot's index is the registration's id. A
 * registration ends with NETPOLL_CLOSE, or when gmp is the only holder
 * of the file left (the program closed every descriptor of it: within
 * about 20 ms for each 1024 registrations), or with the instance.
 *
 * NETPOLL_WAIT	park goroutine gidx, which user space has saved (its slot
 *		holds where it resumes) and marked GMP_GWAITING, until
 *		the file polls one of events, or EPOLLERR/EPOLLHUP, or
 *		deadline_ns (CLOCK_MONOTONIC, 0: none) passes, or
 *		NETPOLL_CLOSE names the file. Then the kernel makes it
 *		RUNNABLE and queues it, as a goroutine readied by another.
 *		With pd, the file's registration from an earlier wait,
 *		and seen, its slot as read before the call that would
 *		block, it parks unless the slot counted an event for
 *		events since; without them (pd 0, or no longer this
 *		file's) it parks unless the file polls ready now. pd
 *		returns the file's registration. With GMP_NETPOLL_POLL
 *		in flags, a call with pd polls the file as one without
 *		does (for a caller that made no call that would block:
 *		it has no seen). With GMP_NETPOLL_SCHED in flags and pd
 *		the file's, a call that parks goes on as
 *		GMP_IOC_SCHEDULE (the calling M must hold a P).
 *		Returns 0: parked (the caller must not touch the
 *		goroutine's stack any more); 1: ready now, not parked,
 *		revents says what polled (0: an event was counted);
 *		-ETIMEDOUT: the deadline has passed; -EOPNOTSUPP: this
 *		file cannot be waited for here (block in the call
 *		instead); -EAGAIN: the word at uaddr no longer holds
 *		uval (checked after the wait is on the registration, so
 *		a NETPOLL_CLOSE that follows a change of the word finds
 *		it); -ENOSPC: as many waits as the G table has slots, or
 *		GMP_POLLSLOTS_MAX files registered; -EBADF: fd is not
 *		open. Only events in GMP_NETPOLL_EVENTS are accepted,
 *		and EPOLLEXCLUSIVE: of the waiters asking it, one event
 *		wakes one (accepters on one listener). A close() of the
 *		descriptor meanwhile does not end the wait (as for a
 *		thread blocked in read()); NETPOLL_CLOSE does.
 * NETPOLL_CLOSE	arg: a descriptor. End its file's registration and
 *		wake every goroutine waiting for it (before the program
 *		closes it, as Go's ErrNetClosing); returns how many.
 */
struct gmp_netpoll_wait {
	__u32 size;		/* in: sizeof(struct gmp_netpoll_wait) */
	__s32 fd;		/* in */
	__u32 events;		/* in: EPOLLIN, EPOLLOUT, ... */
	__u32 gidx;		/* in: the goroutine that waits */
	__aligned_u64 deadline_ns; /* in: CLOCK_MONOTONIC, 0: none */
	__aligned_u64 uaddr;	/* in: 0, or park only while the u32 here */
	__u32 uval;		/* ... holds uval (-EAGAIN if not) */
	__u32 revents;		/* out, when it returns 1; in: 0 */
	/* VER1 */
	__u32 pd;		/* in: the file's registration, 0: none; out */
	__u32 flags;		/* in: GMP_NETPOLL_SCHED */
	__aligned_u64 seen;	/* in, with pd: its struct gmp_pollslot */
};

#define GMP_NETPOLL_WAIT_SIZE_VER0	40
#define GMP_NETPOLL_WAIT_SIZE_VER1	56	/* adds pd, flags, seen */
/*
 * gmp_netpoll_wait.flags: the caller is an M on g0 whose P has nothing
 * else to run: once the goroutine is parked, find the M another one, as
 * GMP_IOC_SCHEDULE does (the ioctl does not return then), if pd was the
 * file's registration; else return 0 as without it, with pd set.
 */
#define GMP_NETPOLL_SCHED	0x1U
/*
 * gmp_netpoll_wait.flags: poll the file now, with pd as without it, and
 * ignore seen: the caller skipped the call that would block, guessing
 * (from the counts) that the file has nothing for it (GMP_FEAT_NETPOLL_POLL).
 */
#define GMP_NETPOLL_POLL	0x2U

/*
 * The poll area (mmap at GMP_OFF_POLL, read-only, GMP_POLLSLOTS_MAX
 * slots): a registered file's events, counted by the kernel as its
 * wake-ups come. A slot's page exists once a file in it was registered.
 * A reused slot's counts go on from its last owner's.
 */
struct gmp_pollslot {
	__u32 rseq;		/* EPOLLIN, PRI, RDNORM, RDBAND, RDHUP, ERR, HUP */
	__u32 wseq;		/* EPOLLOUT, WRNORM, WRBAND, ERR, HUP */
};

#define GMP_POLLSLOTS_MAX	0x100000U	/* 2^20 */

/*
 * EPOLLIN, PRI, OUT, ERR, HUP, RDNORM, RDBAND, WRNORM, WRBAND, RDHUP;
 * EPOLLERR and EPOLLHUP are waited for whether asked for or not.
 */
#define GMP_NETPOLL_EVENTS	0x23dfU

/*
 * The spawn ring (mmap at GMP_OFF_RING, read-write): how a thread holding
 * no P (or a P whose local queue is full) makes a goroutine runnable. User
 * space produces struct gmp_spawn entries at tail, the kernel consumes
 * them at head. The producer writes the entry, then stores tail with
 * release semantics; the kernel loads tail with acquire semantics, copies
 * each entry once, checks it, and publishes head with release semantics.
 */
struct gmp_ring {
	__u32 head;		/* kernel-written: next entry to consume */
	__u32 resv0[15];	/* head and tail on separate cache lines */
	__u32 tail;		/* user-written: next free entry */
	__u32 resv1[15];
	__u32 entries;		/* kernel-written: ring size, a power of 2 */
	__u32 mask;		/* kernel-written: entries - 1 */
	__u32 resv2[14];
	/* struct gmp_spawn spawn[entries] follows, at GMP_RING_SPAWN_OFF */
};

#define GMP_RING_SPAWN_OFF	192

/*
 * Make the goroutine in slot @gidx runnable: a new one (its slot holds a
 * fresh context) or one user space parked. The kernel marks the slot
 * GMP_GRUNNABLE and queues the index: on the draining M's P, else the
 * global queue.
 */
struct gmp_spawn {
	__u32 gidx;		/* 1 .. maxg - 1 */
	__u32 flags;		/* GMP_SPAWN_* */
	__aligned_u64 resv;	/* must be zero */
};

/* gmp_spawn.flags */
#define GMP_SPAWN_MAIN		0x1U	/* the main goroutine: its exit ends the instance */
#define GMP_SPAWN_FLAGS_ALL	GMP_SPAWN_MAIN

/*
 * The scheduler area (mmap at GMP_OFF_SCHED, read-write, MAP_SHARED):
 * maxprocs struct gmp_pshared, then at gtab_off the G table of maxg struct
 * gmp_gslot. G table pages are allocated when first touched (by user
 * space, so mapping maxg slots costs only what is used). The kernel reads
 * everything here as untrusted: indices are bounds-checked, contexts are
 * checked before they are loaded, every loop over shared indices is
 * bounded, and a corrupt queue only hurts the process that corrupted it.
 */

/*
 * A P's public half: Go's p.runqhead, runqtail, runq and runnext, as G
 * indices (0 is no G). The M holding the P (in user space, or in the
 * kernel on its behalf) is the only one that writes runq[] and runqtail;
 * any M takes from runqhead with a compare-and-swap, and takes runnext by
 * swapping it with 0. Slots are written before runqtail is stored with
 * release semantics.
 */
struct gmp_pshared {
	__u32 runqhead;		/* any consumer, compare-and-swap */
	__u32 resv0[15];
	__u32 runqtail;		/* the owner only */
	__u32 runnext;		/* a G index or 0 */
	__u32 schedtick;	/* at every switch but to runnext's G */
	__u32 curg;		/* the goroutine its M runs, or 0 */
	__u32 retire;		/* kernel: give this P back (procresize) */
	__u32 resv1[11];
	__u32 runq[GMP_RUNQ_SIZE];
};

/* Go's G statuses (runtime2.go _Gidle ... _Gdead), in gmp_gslot.status. */
enum gmp_gstatus {
	GMP_GIDLE,
	GMP_GRUNNABLE,
	GMP_GRUNNING,
	GMP_GSYSCALL,
	GMP_GWAITING,
	GMP_GDEAD,
};

/*
 * One goroutine: written by user space, and by the kernel where noted.
 * The kernel claims a G to run it by changing its status from RUNNABLE to
 * RUNNING atomically, drops a queued G that is not RUNNABLE (counted in
 * nbadg), and marks one whose context it refuses DEAD.
 */
struct gmp_gslot {
	__aligned_u64 pc;	/* resume: rip */
	__aligned_u64 sp;	/* resume: rsp */
	__aligned_u64 arg;	/* resume: rdi */
	__aligned_u64 goid;	/* its goroutine id (traces only) */
	__aligned_u64 parentgoid; /* its creator's (traces only) */
	__u32 status;		/* enum gmp_gstatus; the kernel sets it too */
	__u32 p;		/* kernel: the P it last ran on */
	__aligned_u64 user;	/* user space's own (kgo: its G record); never read */
	__aligned_u64 resv;
};

/*
 * Scheduler state (mmap at GMP_OFF_STATE, read-only): written by the kernel
 * only, read by user space lock-free (each field is one aligned load; no
 * field is consistent with another). Go's names where Go has one.
 */
struct gmp_state {
	__u32 magic;		/* GMP_STATE_MAGIC */
	__u32 version;		/* GMP_API_VERSION */
	__u32 nprocs;		/* gomaxprocs */
	__u32 maxmcount;
	__u32 mcount;		/* M's registered */
	__u32 nmidle;		/* M's parked in the kernel (stopm) */
	__u32 npidle;		/* P's with no M */
	__u32 runqsize;		/* goroutines on the global run queue, always current */
	__u32 exiting;		/* non-zero once the main goroutine ended */
	__s32 exit_code;	/* its GOEXIT status */
	__aligned_u64 nbadg;	/* G indices or contexts the kernel dropped */
	__aligned_u64 resv0;	/* 0 (was nparked, API version 2) */
	__aligned_u64 nspawned;	/* ring entries accepted */
	__aligned_u64 nbadspawn; /* ring entries rejected */
	__aligned_u64 nkswitch;	/* goroutines resumed by the kernel */
	__u32 nmspinning;	/* M's spinning for work: no wakep needed */
	__u32 nmstarting;	/* M's asked of the template thread, not here yet */
	__aligned_u64 npreemptreq; /* preemptions sysmon asked for */
	__aligned_u64 npreempt;	/* preemption calls injected (preempt_pc) */
	__aligned_u64 sysmon_ns; /* CPU time sysmon has used */
	__aligned_u64 nsysmonwake; /* times sysmon woke up */
	__aligned_u64 nhandoff;	/* P's sysmon took from blocked M's */
	__aligned_u64 nexitsyscall; /* of their G's, found an idle P at once */
	__aligned_u64 nkeepm;	/* G's kept on their M until it runs them (KEEPM) */
	__aligned_u64 nnetpoll;	/* goroutines parked by NETPOLL_WAIT */
	__aligned_u64 nnetpollready; /* ... readied by the kernel since */
	__aligned_u64 sysmontime; /* CLOCK_MONOTONIC ns at sysmon's last look: */
				/* late by its delay, 0 if never (dumps) */
	__aligned_u64 nsteal;	/* runqsteals by M's in the kernel */
};

#define GMP_STATE_MAGIC		0x676d7053	/* "Spmg" */

#endif /* _UAPI_GMP_H */
