// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_fuzz_test: a fuzzer for /dev/gmp, bounded by a count of operations
 * and a time. It forks sessions one after another; each session is a
 * process that opens the device and, from several threads at once, does
 * random things to it, structure-aware but mostly wrong:
 *
 *  - ioctls: every command number and a few past the last, random sizes
 *    and flags in the create struct, arguments that are good, zero, user
 *    garbage, kernel addresses or non-canonical; other and closed fds;
 *  - mmap and munmap of every region, with random offsets, lengths and
 *    protections;
 *  - the spawn ring: good entries, indices out of range, torn entries
 *    and a tail far ahead, rewritten while an M drains it;
 *  - the scheduler area: run queue heads, tails, slots, runnext, curg and
 *    retire scribbled on, G table slots with kernel, non-canonical, odd
 *    and misaligned pc and sp, and random statuses;
 *  - M's (threads in MSTART, some through a template thread's NEWM)
 *    running goroutines that themselves call GOSCHED (plain or KEEPM),
 *    SCHEDULE, GOEXIT, LOCKOSTHREAD or random ioctls, and fork children that try
 *    the parent's instance;
 *  - CREATEs that fail late: the struct is readable but (all or the tail
 *    of it) not writable, so the kernel sets the instance up and then
 *    cannot copy the out fields back (EFAULT); the same file is created
 *    again (read-only once more, or writable) and used as usual;
 *  - madvise on gmp's mappings with any advice (DOFORK, DONTFORK,
 *    DONTNEED, REMOVE, WIPEONFORK, POPULATE_*, COLD, PAGEOUT, FREE, ...),
 *    then a fork whose child reads and writes whatever it inherited.
 *
 * A session ends by itself (exit with M's still in the kernel), by the
 * main goroutine's exit, by a fault of its own (a goroutine run from a
 * frame it scribbled), or by the parent's SIGKILL after a random time.
 * The kernel must survive all of it: the parent checks that every session
 * dies when killed (else the kernel holds it: a failure), and the VM's
 * console must show no KASAN, lockdep, atomic-sleep or kmemleak report
 * (vm/fuzz.sh, and the test suite's splat check). rmmod after the run
 * shows no instance leaked.
 *
 * Usage: gmp_fuzz_test [-n OPS] [-t SECONDS] [-s SEED]
 * (defaults: 200000 operations or 60 s, seed from the clock). Prints TAP
 * with one test and the counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../gmp_uapi.h"

#define NSTACKS		64	/* goroutines 1..NSTACKS have a stack each */
#define STACK_SZ	(16 * 1024)
#define MAX_THREADS	12
#define SESSION_OPS	20000	/* at most, per session */

/* What the sessions tell the parent, in a shared mapping. */
static struct counts {
	uint64_t ops, ioctls, ring, scribbles, frames, mmaps, forks;
	uint64_t gruns, gexits, mstarts, errnos;
	uint64_t nbadg, nbadspawn;
	/* late-failing CREATEs: tried, got EFAULT, file created after */
	uint64_t late, late_efault, late_then_created;
	/* madvise: calls, refused, MADV_DOFORK accepted on a gmp mapping */
	uint64_t madvises, madvise_errs, madv_dofork_ok;
	/* forks after madvise: children, gmp mappings they could touch,
	 * touches that faulted, children that died otherwise */
	uint64_t madv_forks, child_touched, child_touch_faults, child_died;
} *cnt;

static uint64_t budget;		/* operations in all */

#define COUNT(field) __atomic_add_fetch(&cnt->field, 1, __ATOMIC_RELAXED)

/* --- Randomness: xorshift64*, one state per thread ------------------------- */

static __thread uint64_t rnd_state;

static uint64_t rnd(void)
{
	uint64_t x = rnd_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rnd_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static int chance(int percent)
{
	return (int)below(100) < percent;
}

/* --- One session's state ------------------------------------------------ */

static int fd = -1;
static int fd2 = -1;		/* a second open file, never created */
static struct gmp_create cr;
static struct gmp_state *st;
static struct gmp_ring *ring;
static struct gmp_spawn *spawns;
static struct gmp_pshared *ps;
static struct gmp_gslot *gtab;
static char *stacks;
static uint32_t park_word;
static uint32_t locks_word;
/* Files for the netpoller: a pipe (read, write), an eventfd, a socket. */
static int netfds[4] = { -1, -1, -1, -1 };
static int netpeer = -1;	/* the socket's other end */
static volatile int session_over;

static int session_budget_left(void)
{
	return !session_over &&
	       __atomic_load_n(&cnt->ops, __ATOMIC_RELAXED) < budget;
}

static int op(void)
{
	uint64_t n = COUNT(ops);

	if (n >= budget)
		session_over = 1;
	return !session_over;
}

/* A value for a field that holds an address: mostly wrong. */
static uint64_t addr_value(void *good)
{
	static const uint64_t bad[] = {
		0, 1, 4095, 4096, 0x7fffffffefffULL, 0x7ffffffff000ULL,
		0x800000000000ULL, 0xffff800000000000ULL,
		0xffffffff81000000ULL, 0xfffffffffffff000ULL, ~0ULL,
		0x0000800000000008ULL,
	};

	switch (below(5)) {
	case 0:
	case 1:
		return (uintptr_t)good;
	case 2:
		return (uintptr_t)good + below(64);	/* misaligned */
	case 3:
		return bad[below(sizeof(bad) / sizeof(bad[0]))];
	default:
		return rnd();
	}
}

/* --- Goroutines --------------------------------------------------------- */

void fuzz_g_entry(void);
void fuzz_g_main(uint64_t arg, uint32_t p, uint32_t gidx)
	__attribute__((noreturn));

__asm__(".text\n"
	".globl fuzz_g_entry\n"
	"fuzz_g_entry:\n"
	"	andq $-16, %rsp\n"
	"	call fuzz_g_main\n"
	"	ud2\n");

static char *stack_top(uint32_t gidx)
{
	return stacks + (size_t)((gidx - 1) % NSTACKS + 1) * STACK_SZ;
}

/* A G table slot: a good context, or a random bad one. */
static void frame(uint32_t gidx, int good)
{
	struct gmp_gslot *gs = &gtab[gidx];

	COUNT(frames);
	if (good || gidx > NSTACKS) {
		gs->pc = (uintptr_t)fuzz_g_entry;
		gs->sp = (uintptr_t)stack_top(gidx <= NSTACKS ? gidx : 1);
	} else {
		/*
		 * Mostly what the kernel must refuse (kernel, non-canonical,
		 * low): a user address that is merely wrong is the program's
		 * own fault, and it ends the session.
		 */
		gs->pc = chance(10) ? (uintptr_t)fuzz_g_entry + below(8) :
				      addr_value(fuzz_g_entry);
		gs->sp = chance(10) ? (uintptr_t)stack_top(gidx) - below(16) :
				      addr_value(stack_top(gidx));
	}
	gs->arg = rnd();
}

static void ring_push(uint32_t gidx, uint32_t flags, uint64_t resv)
{
	uint32_t tail = __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);

	spawns[tail & ring->mask] = (struct gmp_spawn){
		.gidx = gidx, .flags = flags, .resv = resv };
	__atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
	COUNT(ring);
}

static uint32_t some_gidx(void)
{
	switch (below(8)) {
	case 0:
		return (uint32_t)rnd();
	case 1:
		return cr.maxg - (uint32_t)below(2);
	case 2:
		return 0;
	default:
		return 1 + (uint32_t)below(NSTACKS);
	}
}

/*
 * NETPOLL_WAIT with mostly sane fields: goroutine @gidx (0: any) waits
 * for one of the netpoller's files, a bad descriptor or /dev/gmp itself,
 * maybe with a deadline a few ms ahead or a word that changed, and a
 * registration id and counts that may be its file's, another's or none.
 */
static uint32_t last_pd;

static long some_netpoll(uint32_t gidx)
{
	struct gmp_netpoll_wait w = { .size = sizeof(w) };
	struct timespec now;
	long r;

	clock_gettime(CLOCK_MONOTONIC, &now);
	w.fd = chance(90) ? netfds[below(4)] : chance(50) ? fd : (int)rnd();
	w.events = chance(90) ? (uint32_t)(1 + below(4)) : (uint32_t)rnd();
	w.gidx = gidx ? gidx : some_gidx();
	if (chance(60))
		w.deadline_ns = (uint64_t)now.tv_sec * 1000000000 +
				(uint64_t)now.tv_nsec + below(4000000);
	if (chance(20)) {
		w.uaddr = addr_value(&park_word);
		w.uval = chance(50) ? park_word : (uint32_t)rnd();
	}
	/* A registration id: the last one returned, a small one or any. */
	if (chance(70)) {
		w.pd = chance(60) ? last_pd : chance(50) ? (uint32_t)below(8) :
		       (uint32_t)rnd();
		w.seen = chance(50) ? 0 : rnd();
	}
	if (chance(10))
		w.events |= EPOLLEXCLUSIVE;
	/*
	 * The flags: POLL; SCHED only for the goroutine itself, which is
	 * ready to be left (a thread elsewhere would be scheduled away);
	 * rarely any bits.
	 */
	if (chance(20))
		w.flags = chance(95) ? (uint32_t)below(4) : (uint32_t)rnd();
	if (!gidx)
		w.flags &= ~GMP_NETPOLL_SCHED;
	if (chance(5))
		w.size = (uint32_t)below(64);
	COUNT(ioctls);
	r = ioctl(fd, GMP_IOC_NETPOLL_WAIT, &w);
	if (r >= 0)
		last_pd = w.pd;
	return r;
}

/* A goroutine that is running: a few random things, then it leaves. */
void fuzz_g_main(uint64_t arg, uint32_t p, uint32_t gidx)
{
	int k;

	(void)arg;
	(void)p;
	COUNT(gruns);
	for (k = below(4); k > 0 && op(); k--) {
		if (chance(50) && gidx >= 1 && gidx <= NSTACKS) {
			frame(1 + (uint32_t)below(NSTACKS), chance(90));
			ring_push(some_gidx(), chance(5) ? GMP_SPAWN_MAIN : 0, 0);
		}
		if (chance(30))
			ioctl(fd, GMP_IOC_WAKEP, 0);
		if (chance(10))
			ioctl(fd, _IO(GMP_IOC_MAGIC, below(GMP_IOC_NR_LAST + 2)),
			      addr_value(&park_word));
		COUNT(ioctls);
	}
	if (!op() || gidx < 1 || gidx > NSTACKS) {
		ioctl(fd, GMP_IOC_GOEXIT, 0);
		__builtin_trap();	/* GOEXIT does not return */
	}
	/* Leaving: the context to come back to is the top of its stack. */
	frame(gidx, chance(95));
	COUNT(ioctls);
	switch (below(7)) {
	case 0:
		ioctl(fd, GMP_IOC_GOSCHED, 0);
		break;
	case 1:
		__atomic_store_n(&gtab[gidx].status, GMP_GWAITING,
				 __ATOMIC_RELEASE);
		ioctl(fd, GMP_IOC_SCHEDULE, 0);	/* parked for good, or readied */
		break;
	case 2:
		/* Wired to this M until it runs here again. */
		ioctl(fd, GMP_IOC_GOSCHED, GMP_GOSCHED_KEEPM);
		break;
	case 3:
		ioctl(fd, GMP_IOC_LOCKOSTHREAD, below(3));
		break;
	case 4:
		/* Released: so it does not block whoever needs the M. */
		ioctl(fd, GMP_IOC_PROCRESIZE, 1 + below(cr.maxprocs + 1));
		break;
	case 5:
		/* Parked on a file, or not (ready, an error): then readied. */
		__atomic_store_n(&gtab[gidx].status, GMP_GWAITING,
				 __ATOMIC_RELEASE);
		if (some_netpoll(gidx) == 0)
			ioctl(fd, GMP_IOC_SCHEDULE, 0);
		break;
	default:
		break;
	}
	COUNT(gexits);
	ioctl(fd, GMP_IOC_GOEXIT, (unsigned long)below(256));
	__builtin_trap();
}

/* --- Threads of a session ----------------------------------------------- */

static void *m_thread(void *arg)
{
	long r;

	rnd_state = (uintptr_t)arg | 1;
	while (session_budget_left()) {
		COUNT(mstarts);
		r = ioctl(fd, GMP_IOC_MSTART,
			  chance(70) ? (uintptr_t)&locks_word :
				       addr_value(&locks_word));
		if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	return NULL;
}

static int nthreads;
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;

static void start_thread(void *(*fn)(void *))
{
	pthread_t t;

	pthread_mutex_lock(&threads_mu);
	if (nthreads < MAX_THREADS &&
	    !pthread_create(&t, NULL, fn, (void *)(uintptr_t)rnd()))
		nthreads++;
	pthread_mutex_unlock(&threads_mu);
}

/* The template thread: NEWM, and the M's it asks for. */
static void *newm_thread(void *arg)
{
	long r;
	int i;

	rnd_state = (uintptr_t)arg | 1;
	while (session_budget_left() && op()) {
		COUNT(ioctls);
		r = ioctl(fd, GMP_IOC_NEWM, chance(80) ? 0 : rnd());
		if (r <= 0 && errno != EINTR)
			break;
		for (i = 0; i < r && i < 2; i++)
			start_thread(m_thread);
	}
	return NULL;
}

/* Scribble on the scheduler area: a P's queue, or a G's slot. */
static void scribble(void)
{
	struct gmp_pshared *p = &ps[below(cr.maxprocs)];
	uint32_t gidx = 1 + (uint32_t)below(NSTACKS);

	COUNT(scribbles);
	switch (below(8)) {
	case 0:
		p->runqhead = (uint32_t)rnd();
		break;
	case 1:
		p->runqtail = p->runqhead + (uint32_t)below(GMP_RUNQ_SIZE + 8);
		break;
	case 2:
		p->runq[below(GMP_RUNQ_SIZE)] = some_gidx();
		break;
	case 3:
		p->runnext = some_gidx();
		break;
	case 4:
		p->curg = some_gidx();
		break;
	case 5:
		p->retire = (uint32_t)below(3);
		break;
	case 6:
		gtab[gidx].status = (uint32_t)below(8);
		break;
	default:
		frame(gidx, 0);
		break;
	}
}

/* A random ioctl from a thread that is no M. */
static void some_ioctl(void)
{
	struct gmp_create c2;
	uint64_t old_wait[2];
	unsigned long cmd;
	char big[256];

	COUNT(ioctls);
	errno = 0;
	old_wait[0] = 1;
	switch (below(13)) {
	case 9:
		/* A file with no instance: -EBADFD for all of them. */
		ioctl(fd2, _IO(GMP_IOC_MAGIC, below(GMP_IOC_NR_LAST + 1)),
		      addr_value(&park_word));
		break;
	case 0:
		ioctl(fd, GMP_IOC_WAKEP, chance(90) ? 0 : rnd());
		break;
	case 1:
		/* The numbers GOPARK and GOREADY had: reserved, -ENOTTY. */
		old_wait[0] = addr_value(&park_word);
		old_wait[1] = rnd();
		ioctl(fd, _IOW(GMP_IOC_MAGIC, GMP_IOC_NR_RESERVED5 + below(2),
			       uint64_t[2]), old_wait);
		break;
	case 2:
		ioctl(fd, GMP_IOC_GOSCHED, GMP_GOSCHED_KEEPM);	/* not an M: -EINVAL */
		break;
	case 3:
		ioctl(fd, GMP_IOC_PROCRESIZE, below(cr.maxprocs + 3));
		break;
	case 4:
		memset(&c2, 0, sizeof(c2));
		c2.size = sizeof(c2);
		ioctl(fd, GMP_IOC_CREATE, &c2);	/* once per file: refused */
		break;
	case 5:
		/* Any number, any direction, any size, in the magic. */
		cmd = _IOC(below(4), GMP_IOC_MAGIC, below(GMP_IOC_NR_LAST + 4),
			   below(sizeof(big)));
		memset(big, (int)below(3) - 1, sizeof(big));
		ioctl(fd, cmd, chance(70) ? (void *)big :
				(void *)(uintptr_t)addr_value(big));
		break;
	case 6:
		ioctl(fd, GMP_IOC_GOEXIT, 0);	/* not an M: -EINVAL */
		break;
	case 7:
		ioctl(fd, GMP_IOC_SCHEDULE, 0);
		break;
	case 8:
		ioctl(fd, GMP_IOC_LOCKOSTHREAD, below(3));
		break;
	case 10:
		some_netpoll(0);	/* for any goroutine, from a thread */
		break;
	case 11:
		ioctl(fd, GMP_IOC_NETPOLL_CLOSE,
		      chance(90) ? (long)netfds[below(4)] : (long)rnd());
		break;
	case 12:
		/* Wake whoever waits: a byte, an event, a datagram. */
		if (write(chance(33) ? netpeer : netfds[1 + below(2)],
			  &old_wait[0], 8) < 0)
			COUNT(errnos);
		if (chance(50) && read(netfds[0], big, sizeof(big)) < 0)
			COUNT(errnos);
		break;
	}
	if (errno)
		COUNT(errnos);
}

/* mmap and munmap with random offsets, lengths and protections. */
static void some_mmap(void)
{
	static const uint64_t offs[] = { GMP_OFF_STATE, GMP_OFF_RING,
					 GMP_OFF_SCHED };
	uint64_t off = chance(80) ? offs[below(3)] : rnd() & ~4095ULL;
	size_t len = chance(50) ? 4096 * (1 + below(4)) : below(1 << 20);
	int prot = (int)below(8);
	void *m;

	COUNT(mmaps);
	if (chance(30))
		off += 4096 * below(4);
	m = mmap(NULL, len, prot, chance(80) ? MAP_SHARED : MAP_PRIVATE,
		 chance(90) ? fd : fd2, (off_t)off);
	if (m == MAP_FAILED)
		return;
	if (prot & PROT_READ && len)
		(void)*(volatile char *)m;
	if (chance(60))
		munmap(m, len);
}

/* A child of the session: the parent's instance is not its own. */
static void some_fork(void)
{
	pid_t pid;

	COUNT(forks);
	pid = fork();
	if (pid == 0) {
		struct gmp_create c2 = { .size = sizeof(c2) };

		ioctl(fd, GMP_IOC_WAKEP, 0);
		ioctl(fd, GMP_IOC_MSTART, 0);
		mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, GMP_OFF_STATE);
		ioctl(fd, GMP_IOC_CREATE, &c2);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* --- madvise, and forks after it ------------------------------------------ */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#define MADV_POPULATE_WRITE	23
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED	24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25
#endif

static sigjmp_buf touch_jmp;

static void touch_fault(int sig)
{
	(void)sig;
	siglongjmp(touch_jmp, 1);
}

/*
 * In a child forked after a madvise: read and write what it inherited of
 * the parent's gmp mappings (gmp marks them VM_DONTCOPY; MADV_DOFORK
 * asks to clear that). Exit status: a bit per mapping touched, 0x10 for
 * any touch that faulted.
 */
static void child_touch(void)
{
	struct sigaction sa = { .sa_handler = touch_fault };
	volatile uint32_t sink;
	volatile int mask = 0;
	uint32_t g = 1 + (uint32_t)below(cr.maxg - 1);

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (!sigsetjmp(touch_jmp, 1)) {
		sink = st->magic + st->npidle;
		mask |= 1;
	} else {
		mask |= 0x10;
	}
	if (!sigsetjmp(touch_jmp, 1)) {
		sink = ring->tail;
		ring->tail = (uint32_t)rnd();
		spawns[below(cr.ring_entries)].gidx = some_gidx();
		mask |= 2;
	} else {
		mask |= 0x10;
	}
	if (!sigsetjmp(touch_jmp, 1)) {
		sink = ps[0].runqhead;
		ps[below(cr.maxprocs)].runq[below(GMP_RUNQ_SIZE)] = some_gidx();
		ps[below(cr.maxprocs)].runqtail += (uint32_t)below(3);
		mask |= 4;
	} else {
		mask |= 0x10;
	}
	/* A G table slot, maybe on a page nobody touched yet. */
	if (!sigsetjmp(touch_jmp, 1)) {
		sink = gtab[g].status;
		gtab[g].status = (uint32_t)below(6);
		gtab[g].pc = rnd();
		mask |= 8;
	} else {
		mask |= 0x10;
	}
	(void)sink;
	_exit(mask);
}

static void madv_fork(void)
{
	int status;
	pid_t pid;

	COUNT(madv_forks);
	pid = fork();
	if (pid == 0)
		child_touch();
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return;
	if (!WIFEXITED(status)) {
		COUNT(child_died);
		return;
	}
	if (WEXITSTATUS(status) & 0xf)
		COUNT(child_touched);
	if (WEXITSTATUS(status) & 0x10)
		COUNT(child_touch_faults);
}

/*
 * madvise on a range of a gmp mapping. Advice that drops the state
 * page's or the ring's pages ends the session at its next look (they
 * come back only at mmap): that region is picked less often.
 */
static void some_madvise(void)
{
	static const int advice[] = {
		MADV_DOFORK, MADV_DONTFORK, MADV_DONTNEED, MADV_REMOVE,
		MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_POPULATE_READ,
		MADV_POPULATE_WRITE, MADV_COLD, MADV_PAGEOUT, MADV_DONTDUMP,
		MADV_DODUMP, MADV_FREE, MADV_WILLNEED, MADV_NORMAL,
		MADV_RANDOM, MADV_SEQUENTIAL, MADV_MERGEABLE,
		MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
		MADV_DONTNEED_LOCKED, MADV_COLLAPSE,
	};
	size_t npages, first, len;
	char *base;
	int adv, which = (int)below(10);

	COUNT(madvises);
	if (which == 0) {
		base = (char *)st;
		npages = cr.state_size / 4096;
	} else if (which == 1) {
		base = (char *)ring;
		npages = cr.ring_size / 4096;
	} else {
		/* The scheduler area: the P's, or the G table's first pages. */
		base = (char *)ps;
		npages = cr.gtab_off / 4096 + 4;
		if (npages > cr.sched_size / 4096)
			npages = cr.sched_size / 4096;
	}
	first = below(npages);
	len = 4096 * (1 + below(npages - first));
	if (chance(50)) {
		first = 0;
		len = npages * 4096;
	}
	/* The destructive ones on the state page and ring: rarely. */
	adv = chance(90) ? advice[below(sizeof(advice) / sizeof(advice[0]))] :
			   (int)below(30);
	if (which < 2 && (adv == MADV_DONTNEED || adv == MADV_FREE ||
			  adv == MADV_DONTNEED_LOCKED || adv == MADV_REMOVE ||
			  adv == MADV_PAGEOUT) && !chance(5))
		adv = MADV_DOFORK;
	if (madvise(base + first * 4096, len, adv)) {
		COUNT(madvise_errs);
	} else if (adv == MADV_DOFORK) {
		COUNT(madv_dofork_ok);
	}
	if (chance(adv == MADV_DOFORK ? 60 : 20))
		madv_fork();
}

/* The chaos thread: everything that is not an M's or a goroutine's. */
static void *chaos_thread(void *arg)
{
	rnd_state = (uintptr_t)arg | 1;
	while (session_budget_left() && op()) {
		switch (below(16)) {
		case 0:
		case 1:
		case 2:
			ring_push(some_gidx(), chance(90) ? 0 : (uint32_t)rnd(),
				  chance(95) ? 0 : rnd());
			break;
		case 3:
			frame(1 + (uint32_t)below(NSTACKS), chance(80));
			break;
		case 4:
			/* A tail far ahead of head, or a torn entry. */
			if (chance(50))
				ring->tail += (uint32_t)below(2 * cr.ring_entries);
			else
				spawns[below(cr.ring_entries)].gidx = some_gidx();
			break;
		case 5:
		case 6:
			scribble();
			break;
		case 7:
			some_mmap();
			break;
		case 8:
			if (chance(3))
				some_fork();
			else if (chance(10))
				some_madvise();
			break;
		case 9:
			if (chance(10))
				start_thread(m_thread);
			break;
		default:
			some_ioctl();
			break;
		}
		if (chance(1))
			sched_yield();
	}
	return NULL;
}

/*
 * A CREATE that fails after the instance is set up: a valid struct the
 * kernel can read but not write back (its page, or the page its tail is
 * on, is read-only), so copying the out fields fails with EFAULT. The
 * session then creates the same file again.
 */
static void late_create(void)
{
	char *pg = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct gmp_create *c;
	size_t in_first = 0;

	if (pg == MAP_FAILED)
		return;
	/* All of it on the read-only page, or straddling into it. */
	if (chance(40))
		in_first = 8 * (1 + below(sizeof(*c) / 8 - 1));
	c = (void *)(pg + 4096 - in_first);
	memset(c, 0, sizeof(*c));
	c->size = chance(80) ? sizeof(*c) : GMP_CREATE_SIZE_VER0;
	c->nprocs = (uint32_t)below(4);		/* 0: the online CPUs */
	c->maxprocs = chance(50) ? 0 : 4 + (uint32_t)below(5);
	c->maxg = chance(80) ? (uint32_t)(NSTACKS + 2 + below(5000)) :
			       (uint32_t)(chance(50) ? 0 : GMP_MAXG_MAX);
	c->ring_entries = chance(80) ? 1U << below(7) : 0;
	c->maxmcount = chance(80) ? 0 : 1 + (uint32_t)below(20);
	if (c->size > GMP_CREATE_SIZE_VER0) {
		c->preempt_pc = chance(50) ? 0 : (uintptr_t)fuzz_g_entry;
		c->slice_us = chance(50) ? 0 : (uint32_t)(100 + below(2000));
	}
	if (!mprotect(pg + 4096, 4096, PROT_READ)) {
		COUNT(late);
		COUNT(ioctls);
		op();
		if (ioctl(fd, GMP_IOC_CREATE, c) && errno == EFAULT)
			COUNT(late_efault);
	}
	munmap(pg, 2 * 4096);
}

/* Create the instance with a random, mostly valid, create struct. */
static int session_create(void)
{
	char buf[sizeof(struct gmp_create) + 64];
	struct gmp_create *c = (void *)buf;
	static const uint32_t sizes[] = { GMP_CREATE_SIZE_VER0,
					  GMP_CREATE_SIZE_VER1,
					  sizeof(struct gmp_create) + 8, 0, 8,
					  GMP_CREATE_SIZE_VER0 - 4 };

	memset(buf, 0, sizeof(buf));
	c->size = chance(80) ? sizeof(*c) : sizes[below(6)];
	if (chance(5))
		buf[sizeof(*c) + below(8)] = 1;	/* beyond: -E2BIG */
	c->nprocs = chance(70) ? 1 + (uint32_t)below(3) : (uint32_t)rnd();
	c->maxmcount = chance(80) ? 0 : (uint32_t)below(20);
	c->ring_entries = chance(70) ? 1U << below(6) : (uint32_t)rnd();
	c->maxg = chance(70) ? (uint32_t)(NSTACKS + 2 + below(1000)) :
			       (uint32_t)rnd();
	c->maxprocs = chance(80) ? 0 : (uint32_t)below(8);
	c->flags = chance(95) ? 0 : (uint32_t)rnd();
	c->resv = chance(95) ? 0 : 1;
	c->preempt_pc = chance(50) ? 0 : addr_value(fuzz_g_entry);
	c->slice_us = chance(70) ? (uint32_t)(100 + below(2000)) :
				   (uint32_t)rnd();
	COUNT(ioctls);
	op();
	if (ioctl(fd, GMP_IOC_CREATE, c))
		return -1;
	cr = *c;
	st = mmap(NULL, cr.state_size, PROT_READ, MAP_SHARED, fd, GMP_OFF_STATE);
	ring = mmap(NULL, cr.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    GMP_OFF_RING);
	ps = mmap(NULL, cr.sched_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		  GMP_OFF_SCHED);
	stacks = mmap(NULL, (NSTACKS + 1) * STACK_SZ, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED || ring == MAP_FAILED || ps == MAP_FAILED ||
	    stacks == MAP_FAILED)
		return -1;
	spawns = (void *)((char *)ring + GMP_RING_SPAWN_OFF);
	gtab = (void *)((char *)ps + cr.gtab_off);
	return 0;
}

static void session(uint64_t seed)
{
	uint64_t start = __atomic_load_n(&cnt->ops, __ATOMIC_RELAXED);
	int i, late, sv[2];

	rnd_state = seed | 1;
	fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	fd2 = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fd2 < 0 || pipe2(netfds, O_NONBLOCK | O_CLOEXEC))
		_exit(2);
	netfds[2] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv))
		_exit(2);
	netfds[3] = sv[0];
	netpeer = sv[1];
	/* Late failures first, once or twice; then the usual create. */
	late = chance(30);
	for (i = late ? 1 + (int)below(2) : 0; i > 0; i--)
		late_create();
	while (session_create()) {	/* bad create structs: errnos */
		COUNT(errnos);
		if (!session_budget_left())
			_exit(0);
	}
	if (late)
		COUNT(late_then_created);
	budget = start + SESSION_OPS < budget ? start + SESSION_OPS : budget;
	for (i = 1; i <= NSTACKS; i++)
		frame((uint32_t)i, 1);
	ring_push(1, GMP_SPAWN_MAIN, 0);
	for (i = 2; i <= 8; i++)
		ring_push((uint32_t)i, 0, 0);
	for (i = 1 + (int)below(3); i > 0; i--)
		start_thread(m_thread);
	if (chance(50))
		start_thread(newm_thread);
	start_thread(chaos_thread);
	if (chance(30))
		start_thread(chaos_thread);
	/* Wait a while, then leave: exit_group with M's in the kernel. */
	while (session_budget_left() && !st->exiting)
		usleep(1000 + below(20000));
	__atomic_add_fetch(&cnt->nbadg, st->nbadg, __ATOMIC_RELAXED);
	__atomic_add_fetch(&cnt->nbadspawn, st->nbadspawn, __ATOMIC_RELAXED);
	if (chance(20))
		close(fd);	/* the instance outlives the fd: mappings */
	_exit(0);
}

/* --- The parent --------------------------------------------------------- */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t ops = 200000, seed = (uint64_t)time(NULL), sessions = 0;
	uint64_t killed = 0, exited = 0, faulted = 0;
	double limit = 60, t0 = now(), t;
	int opt, status, stuck = 0;
	pid_t pid;

	while ((opt = getopt(argc, argv, "n:t:s:")) != -1) {
		switch (opt) {
		case 'n':
			ops = strtoull(optarg, NULL, 0);
			break;
		case 't':
			limit = atof(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-n OPS] [-t SECONDS] [-s SEED]\n",
				argv[0]);
			return 2;
		}
	}
	printf("TAP version 13\n1..1\n");
	if (access(GMP_DEVICE_PATH, F_OK)) {
		printf("ok 1 fuzz # SKIP %s missing: gmp.ko is not loaded\n",
		       GMP_DEVICE_PATH);
		return 0;
	}
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED)
		return 1;
	printf("# seed %llu, %llu operations or %.0f s\n",
	       (unsigned long long)seed, (unsigned long long)ops, limit);
	fflush(stdout);
	rnd_state = seed | 1;
	budget = ops;		/* each session narrows its own copy */
	while (cnt->ops < ops && (t = now() - t0) < limit) {
		uint64_t s = rnd();
		double deadline = now() + 0.05 + below(2000) / 1000.0;

		sessions++;
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			session(s);
		/* SIGKILL at a random time, and it must die. */
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (now() > deadline) {
				kill(pid, SIGKILL);
				if (now() > deadline + 30) {
					printf("# session %llu (seed %llu) did not die in 30 s after SIGKILL\n",
					       (unsigned long long)sessions,
					       (unsigned long long)s);
					stuck = 1;
					break;
				}
			}
			usleep(2000);
		}
		if (stuck)
			break;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed++;
		else if (WIFSIGNALED(status))
			faulted++;
		else
			exited++;
	}
	printf("# %.0f s: %llu operations in %llu sessions (%llu exited, %llu killed, %llu died of their own faults)\n",
	       now() - t0, (unsigned long long)cnt->ops,
	       (unsigned long long)sessions, (unsigned long long)exited,
	       (unsigned long long)killed, (unsigned long long)faulted);
	printf("# ioctls %llu (errno %llu), ring entries %llu, scribbles %llu, frames %llu, mmaps %llu, forks %llu\n",
	       (unsigned long long)cnt->ioctls, (unsigned long long)cnt->errnos,
	       (unsigned long long)cnt->ring, (unsigned long long)cnt->scribbles,
	       (unsigned long long)cnt->frames, (unsigned long long)cnt->mmaps,
	       (unsigned long long)cnt->forks);
	printf("# goroutine runs %llu, exits %llu, MSTARTs %llu; the kernel dropped %llu G's and %llu ring entries\n",
	       (unsigned long long)cnt->gruns, (unsigned long long)cnt->gexits,
	       (unsigned long long)cnt->mstarts, (unsigned long long)cnt->nbadg,
	       (unsigned long long)cnt->nbadspawn);
	printf("# late-failing creates %llu (EFAULT %llu), sessions created again after them %llu\n",
	       (unsigned long long)cnt->late,
	       (unsigned long long)cnt->late_efault,
	       (unsigned long long)cnt->late_then_created);
	printf("# madvise %llu (refused %llu, MADV_DOFORK accepted %llu); forks after madvise %llu: children touched inherited gmp mappings in %llu, a touch faulted in %llu, %llu died\n",
	       (unsigned long long)cnt->madvises,
	       (unsigned long long)cnt->madvise_errs,
	       (unsigned long long)cnt->madv_dofork_ok,
	       (unsigned long long)cnt->madv_forks,
	       (unsigned long long)cnt->child_touched,
	       (unsigned long long)cnt->child_touch_faults,
	       (unsigned long long)cnt->child_died);
	/* The kernel ran goroutines: the fuzzer reached past the checks. */
	if (stuck || !cnt->gruns || sessions < 2) {
		printf("not ok 1 fuzz\n");
		return 1;
	}
	printf("ok 1 fuzz\n");
	return 0;
}
