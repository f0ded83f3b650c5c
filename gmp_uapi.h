/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * gmp: Go's G/M/P scheduler, run by the kernel, for C programs.
 *
 * This header is the one contract between the gmp kernel module and user
 * space (the kgo library ships a copy). Conventions, as in the kernel's own
 * extensible uapi (clone3, openat2):
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
#define GMP_API_VERSION		1

/* Defaults and limits (Go's names in comments). */
#define GMP_MAXMCOUNT_DEFAULT	10000	/* sched.maxmcount */
#define GMP_MAXMCOUNT_MAX	10000
#define GMP_NPROCS_MAX		1024	/* _MaxGomaxprocs is 1024 in Go */
#define GMP_RING_ENTRIES_DEFAULT 256
#define GMP_RING_ENTRIES_MAX	4096
#define GMP_STACK_MIN		4096	/* smallest goroutine stack accepted */
#define GMP_STACK_MAX		0x40000000ULL	/* 1 GiB */

/*
 * GMP_IOC_CREATE: make the scheduler instance of this open file. Once per
 * file; the calling process owns it (other processes get -EPERM).
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
	__aligned_u64 resv[4];	/* in: must be zero */
};

#define GMP_CREATE_SIZE_VER0	72	/* sizeof first published struct */

/* gmp_create.features */
#define GMP_FEAT_SPAWN_RING	0x1U	/* goroutines spawned via the ring */
#define GMP_FEAT_KERNEL_SWITCH	0x2U	/* GOSCHED/GOEXIT switch frames */

/* mmap offsets: the read-only state page(s), the read-write spawn ring. */
#define GMP_OFF_STATE		0x00000000ULL
#define GMP_OFF_RING		0x10000000ULL

/*
 * The ioctls. Scalar arguments travel in the ioctl argument itself; an
 * argument documented as 0 must be 0 (-EINVAL). Unknown numbers: -ENOTTY.
 * Before GMP_IOC_CREATE every other one fails with -EBADFD; from a process
 * other than the creator (say a forked child), with -EPERM. GOEXIT and
 * GOSCHED from a thread that is not running a goroutine: -EINVAL.
 *
 * MSTART	the calling thread becomes an M (Go's mstart) and enters the
 *		scheduler; it returns only when the instance exits (0), when a
 *		signal interrupts an idle M (-EINTR: call it again), or on error.
 *		arg: 0.
 * GOEXIT	the calling goroutine ends (Go's goexit); does not return.
 *		arg: the goroutine's exit status as a __u32 (an int; kept in
 *		gmp_state.exit_code for the main goroutine).
 * GOSCHED	the calling goroutine yields its P through the kernel (Go's
 *		Gosched); returns 0 when it is scheduled again. arg: 0.
 * WAKEP	take new ring entries now and start an idle P for them if there
 *		is one (Go's wakep). Returns how many goroutines it accepted,
 *		or -EINVAL if an entry it read was invalid (it is dropped; the
 *		valid ones are still spawned). arg: 0.
 */
enum gmp_ioc_nr {
	GMP_IOC_NR_CREATE,
	GMP_IOC_NR_MSTART,
	GMP_IOC_NR_GOEXIT,
	GMP_IOC_NR_GOSCHED,
	GMP_IOC_NR_WAKEP,
	GMP_IOC_NR_GOPARK,
	GMP_IOC_NR_GOREADY,
	GMP_IOC_NR_LAST
};

#define GMP_IOC_MAGIC		0xE7
#define GMP_IOC_CREATE		_IOWR(GMP_IOC_MAGIC, GMP_IOC_NR_CREATE, struct gmp_create)
#define GMP_IOC_MSTART		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_MSTART)
#define GMP_IOC_GOEXIT		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_GOEXIT)
#define GMP_IOC_GOSCHED		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_GOSCHED)
#define GMP_IOC_WAKEP		_IO(GMP_IOC_MAGIC, GMP_IOC_NR_WAKEP)
#define GMP_IOC_GOPARK		_IOW(GMP_IOC_MAGIC, GMP_IOC_NR_GOPARK, struct gmp_wait)
#define GMP_IOC_GOREADY		_IOW(GMP_IOC_MAGIC, GMP_IOC_NR_GOREADY, struct gmp_wait)

/*
 * GOPARK and GOREADY: goroutines waiting on a key, futex style, without
 * blocking their M (Go's gopark and goready).
 *
 * GOPARK	if the __u32 at @uaddr still holds @val, the calling goroutine
 *		waits on @uaddr and its M runs another; returns 0 once readied
 *		(maybe on another M). -EAGAIN if the value differs (re-check
 *		and retry), -EFAULT if @uaddr cannot be read, -EINVAL from a
 *		thread not running a goroutine.
 * GOREADY	makes up to @val goroutines waiting on @uaddr runnable, first
 *		parked first, on the caller's P (its runnext, as goready does)
 *		or the global queue, and starts an idle P. Any thread of the
 *		process may call it. Returns how many it readied.
 *
 * The waker changes the value before GOREADY and the waiter checks it
 * inside GOPARK, under the same lock GOREADY takes: no wakeup is lost.
 */
struct gmp_wait {
	__aligned_u64 uaddr;	/* a __u32, 4-byte aligned, in the caller's memory */
	__u32 val;		/* GOPARK: expected value; GOREADY: how many */
	__u32 flags;		/* none defined: 0 */
};

/*
 * The spawn ring (mmap at GMP_OFF_RING, read-write): user space produces
 * struct gmp_spawn entries at tail, the kernel consumes them at head. The
 * producer writes the entry, then stores tail with release semantics; the
 * kernel loads tail with acquire semantics, copies each entry once, checks
 * it, and publishes head with release semantics.
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
 * A goroutine to start. It begins at @pc with rsp = stack_lo + stack_size
 * (so both must be 16-byte aligned), rdi = arg[0], rsi = arg[1], rdx = its
 * goroutine id and the rest of the general registers zero. It is entered
 * by a jump, with no return address: code at @pc must end the goroutine
 * with GMP_IOC_GOEXIT, never return. The kernel takes only canonical user
 * addresses for @pc and the stack, never reads or writes the stack itself,
 * and sets the code and stack segments itself.
 */
struct gmp_spawn {
	__aligned_u64 pc;
	__aligned_u64 arg[2];
	__aligned_u64 stack_lo;
	__aligned_u64 stack_size;
	__u32 flags;		/* GMP_SPAWN_* */
	__u32 resv0;		/* must be zero */
	__aligned_u64 resv[2];	/* must be zero */
};

/* gmp_spawn.flags */
#define GMP_SPAWN_MAIN		0x1U	/* the main goroutine: its exit ends the instance */
#define GMP_SPAWN_FLAGS_ALL	GMP_SPAWN_MAIN

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
	__u32 runqsize;		/* goroutines on the global run queue */
	__u32 exiting;		/* non-zero once the main goroutine ended */
	__s32 exit_code;	/* its GOEXIT status */
	__aligned_u64 goidgen;	/* last goroutine id handed out */
	__aligned_u64 ngoroutines; /* goroutines not yet dead */
	__aligned_u64 nspawned;	/* ring entries accepted */
	__aligned_u64 nbadspawn; /* ring entries rejected */
	__aligned_u64 nkswitch;	/* frame switches done by the kernel */
	__u32 nmspinning;	/* M's spinning for work: no wakep needed */
	__u32 resv0;
	__aligned_u64 resv[7];
};

#define GMP_STATE_MAGIC		0x676d7053	/* "Spmg" */

#endif /* _UAPI_GMP_H */
