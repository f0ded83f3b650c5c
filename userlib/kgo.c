// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * kgo: the user side of gmp. It opens /dev/gmp, creates the instance,
 * maps the state page, the spawn ring and the scheduler area, and turns
 * threads into M's. The kernel owns P's and M's: which M holds which P,
 * parking and waking M's, stealing, the global queue. A goroutine switch
 * on one M that needs none of that (yield to the next G of the P's own
 * queue, spawn into runnext, exit) is done here, on the P's run queue in
 * the shared area, as Go's runtime does it; everything else is an ioctl.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <cpuid.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

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
	const uint32_t *park_addr;	/* kgo_park's arguments and result */
	uint32_t park_val;
	int park_result;
	struct kgo_g *waitlink;		/* its wait queue while parked */
	bool (*park_commit)(struct kgo_g *g, void *arg); /* kgo_gopark's */
	void *park_commit_arg;
	bool park_sleeping;
	struct kgo_m *lockedm;		/* the M it is wired to, if any */
	bool own_stack;			/* kgo_go_attr's size: not pooled */
	bool start_locked;		/* KGO_ATTR_LOCKED */
	int lockcount;			/* kgo_lock_osthread() nesting */
	uint64_t eh[2];			/* its C++ exception globals, switched out */
	bool keepm;			/* preempted where it must keep its M */
	struct kgo_g *next;		/* free list */
};

static struct {
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
	uint32_t gidxgen;		/* G indices handed to stacks so far */
	uint32_t gtabclaimed;		/* slots below it are allocated (whole pages) */
	uint64_t goidgen;
	pthread_mutex_t ring_lock;	/* spawn ring producers */
	pthread_mutex_t stack_lock;
	int stack_guard;		/* KGO_STACK_GUARD: 0, 1 (module), 2 */
	size_t stack_stride;		/* a pooled stack and its guard */
	int stack_fd;			/* /dev/gmp for stack mappings */
	struct kgo_g *free_stacks;
	unsigned int nfree_stacks;
	struct kgo_g *free_own;		/* G's whose own stack was unmapped */
	struct kgo_chunk *idle_head, *idle_tail; /* all free, oldest first */
	uint64_t ngfrefill;		/* batches moved global -> P */
	uint64_t ngfspill;		/* batches moved P -> global */
	uint64_t nspawnwait;		/* spawnwait() yields */
	/*
	 * checkdead's count (kgo_runtime.h) in the low half, and in the high
	 * half a generation every kgo_live_add() bumps in the same atomic
	 * add: a word seen twice unchanged means nothing was counted in
	 * between.
	 */
	uint64_t live;
	bool mainexited;		/* the instance is ending */
	pthread_mutex_t tids_lock;	/* kgo's own threads, for checkdead */
	pid_t *tids;
	size_t ntids, tids_cap;
	bool nodeadlock;		/* KGO_DEADLOCK=0 */
	uint64_t npreempted;		/* preemptions taken */
	uint64_t npreemptdeferred;	/* ... and put off to releasem */
	uint64_t npreemptkeepm;		/* taken, at unsafe points: M kept */
	bool keepm;			/* the kernel has GOSCHED_KEEPM */
} rt = {
	.fd = -1,
	.ring_lock = PTHREAD_MUTEX_INITIALIZER,
	.stack_lock = PTHREAD_MUTEX_INITIALIZER,
	.stack_fd = -1,
	.tids_lock = PTHREAD_MUTEX_INITIALIZER,
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
	char *g0;
	int *errnop;
	uint64_t *ehg;	/* the C++ runtime's exception globals, or NULL */
};

/* Static TLS: one offset from %fs reaches every thread's block. */
static __thread struct kgo_m tls_m __attribute__((tls_model("initial-exec")));
/* Offsets of tls_m's fields from the %fs base: the same in every thread. */
static intptr_t kgo_m_off;
intptr_t kgo_locks_off, kgo_curg_off, kgo_preempt_off;
static intptr_t kgo_errno_off;	/* errno's, libc's thread-local */

#define KGO_G0_STACK	(64 * 1024)
#define KGO_PAGE	4096
/*
 * Below every pooled stack: a frame that overshoots its stack by up to
 * this much faults in the guard, never in a neighbour's stack. It costs
 * no memory (no page is ever there), only address space, and the page
 * tables of a million stacks grow by 128 bytes each.
 */
#define KGO_STACK_GUARD_SIZE	(64 * 1024)

uint32_t kgo_mcall(struct gmp_gslot *slot, void (*fn)(void *),
		   struct kgo_g *g, void *g0sp)
	__attribute__((visibility("hidden")));
uint32_t kgo_switch(struct gmp_gslot *slot, struct kgo_g *g,
		    const struct gmp_gslot *next, uint32_t *publish,
		    uint32_t val, uint64_t next_pid_gidx)
	__attribute__((visibility("hidden")));
void kgo_tls_moved(uintptr_t *frame) __attribute__((visibility("hidden")));
void kgo_gogo(const struct gmp_gslot *slot, uint32_t pid, uint32_t gidx)
	__attribute__((noreturn, visibility("hidden")));
void kgo_gostart1(struct kgo_g *g, uint32_t pid, uint32_t gidx)
	__attribute__((noreturn, visibility("hidden")));
extern char kgo_gostart[] __attribute__((visibility("hidden")));

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
	return (struct kgo_m *)(thread_pointer() + kgo_m_off);
}

/* At load time: getg() must answer NULL before kgo_run() too. */
static void __attribute__((constructor)) tls_init(void)
{
	uintptr_t tp = thread_pointer();

	kgo_m_off = (intptr_t)((uintptr_t)&tls_m - tp);
	kgo_errno_off = (intptr_t)((uintptr_t)&errno - tp);
	kgo_locks_off = (intptr_t)((uintptr_t)&tls_m.locks - tp);
	kgo_curg_off = (intptr_t)((uintptr_t)&tls_m.curg - tp);
	kgo_preempt_off = (intptr_t)((uintptr_t)&tls_m.preempt - tp);
}

/* Go's names inside this file; kgo_runtime.h has them for the others. */
#define getg		kgo_getg
#define acquirem	kgo_acquirem
#define releasem	kgo_releasem

void kgo_throw(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	/* One write: the message stays whole beside other threads' output. */
	n = snprintf(msg, sizeof(msg), "kgo: fatal error: ");
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	if (write(2, msg, (size_t)n) < 0)
		n = 0;		/* nothing better to do: we abort anyway */
	abort();
}

/* --- Stacks and G indices ---------------------------------------------- */

/*
 * Goroutine stacks come from a pool: chunks of KGO_CHUNK_STACKS stacks,
 * one mapping each (adjacent chunks even merge into one VMA), so a million
 * goroutines stay far below vm.max_map_count. Pool stacks have no guard
 * page: an overflow runs into the next stack, as on any fixed-size stack
 * without one. KGO_STACK_GUARD=1 gives every stack its own mapping and a
 * guard page instead (for debugging; two mappings per goroutine).
 *
 * Each stack owns one G index for life, so a free stack is a free G (Go's
 * gfget/gfput keep a G and its stack together too), and one record, kept
 * in its chunk's header rather than on the stack: a stack's memory is
 * first touched by its goroutine, and a chunk whose stacks are all free
 * can give its memory back in one call. Freed stacks are reused last-in
 * first-out. Once more than KGO_FREE_STACKS_MAX are cached, chunks that
 * have stayed entirely free for KGO_CHUNK_IDLE_NS are emptied with
 * MADV_DONTNEED, up to KGO_CHUNK_RELEASE_MAX whenever a goroutine exits
 * (Go returns stack memory at GC time and from its background scavenger;
 * kgo has neither).
 * Not at once: goroutines that come and go in bursts would empty and
 * refault the same chunks over and over (measured: 300 chunks emptied in
 * a 20,000-goroutine spawn benchmark, one page fault per goroutine).
 */
#define KGO_CHUNK_STACKS	64
#define KGO_FREE_STACKS_MAX	256
#define KGO_CHUNK_IDLE_NS	(50 * 1000 * 1000)
#define KGO_CHUNK_RELEASE_MAX	64	/* chunks emptied per exit at most */

struct kgo_chunk {
	char *base;
	unsigned int nfree;
	bool idle;			/* on rt's idle list */
	uint64_t idle_since;		/* CLOCK_MONOTONIC_COARSE, ns */
	struct kgo_chunk *idle_prev, *idle_next;
	struct kgo_g g[KGO_CHUNK_STACKS];
};

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

static struct kgo_gfree {
	struct kgo_g *head;
	unsigned int n;
	uint64_t ngfget;		/* G's taken from this list */
	uint32_t spawnskip;		/* dry lists to pass before a spawnwait */
	uint32_t spawnshift;		/* fruitless spawnwaits in a row */
} __attribute__((aligned(64))) gfree[GMP_NPROCS_MAX];

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* The idle list, oldest first; stack_lock held. */
static void chunk_idle_add(struct kgo_chunk *c, uint64_t now)
{
	c->idle = true;
	c->idle_since = now;
	c->idle_next = NULL;
	c->idle_prev = rt.idle_tail;
	if (rt.idle_tail)
		rt.idle_tail->idle_next = c;
	else
		rt.idle_head = c;
	rt.idle_tail = c;
}

static void chunk_idle_del(struct kgo_chunk *c)
{
	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		rt.idle_head = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else
		rt.idle_tail = c->idle_prev;
	c->idle = false;
}

static void stack_record(struct kgo_g *g, char *base, uint32_t gidx)
{
	g->stack = base;
	g->stack_size = rt.stack_size;
	g->gidx = gidx;
}

/* The top of @g's stack, where a new goroutine's sp starts (16-aligned). */
static uintptr_t stack_top(const struct kgo_g *g)
{
	return (uintptr_t)g->stack + g->stack_size;
}

/*
 * Have the kernel allocate the G table's pages up to slot @end (not
 * included) now, where it can say ENOMEM (its memory cgroup is at its
 * limit), rather than on the first store to a slot, where the answer
 * would be the OOM killer. Kernels before 5.14 lack the advice: their
 * pages still come on first touch. stack_lock held.
 */
static int gtab_claim(uint32_t end)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = (uintptr_t)&rt.gtab[rt.gtabclaimed];
	uintptr_t to = (uintptr_t)&rt.gtab[end];

	if (end <= rt.gtabclaimed)
		return 0;
	from &= ~(page - 1);
	to = (to + page - 1) & ~(page - 1);
	if (madvise((void *)from, to - from, MADV_POPULATE_WRITE) &&
	    errno != EINVAL)
		return -ENOMEM;
	/* The table is page-aligned: whole pages hold whole slots. */
	rt.gtabclaimed = (uint32_t)((to - (uintptr_t)rt.gtab) /
				    sizeof(*rt.gtab));
	return 0;
}

/*
 * Claim @n fresh G indices, the first in *@first; stack_lock held.
 * -EAGAIN: the G table is full. -ENOMEM: the kernel has no memory for it.
 */
static int gidx_alloc(uint32_t n, uint32_t *first)
{
	uint32_t f = rt.gidxgen + 1;	/* index 0 is no goroutine */

	/* maxg may be below a chunk's 64: no unsigned wrap. */
	if (n > rt.maxg || f > rt.maxg - n)
		return -EAGAIN;
	if (gtab_claim(f + n))
		return -ENOMEM;
	rt.gidxgen += n;
	*first = f;
	return 0;
}

/*
 * Go's persistentalloc: zeroed memory kgo keeps for the life of the
 * process (chunk headers, G records), carved from mappings of its own.
 * Those records are made inside kgo_acquirem(), where malloc must not be
 * called: a goroutine preempted inside malloc still holds its thread's
 * arena lock, and an M that blocks on that lock in a section no one can
 * hand off keeps its P, and maybe the preempted goroutine, from running.
 * Never freed, so callers allocate last, after every step that can fail.
 * stack_lock held.
 */
#define KGO_PERSIST_BLOCK	(256 * 1024)

static void *persistentalloc(size_t size)
{
	static char *cur, *end;
	char *p;

	size = (size + 63) & ~(size_t)63;
	if (size > KGO_PERSIST_BLOCK)
		return NULL;
	if (!cur || (size_t)(end - cur) < size) {
		p = mmap(NULL, KGO_PERSIST_BLOCK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		cur = p;
		end = p + KGO_PERSIST_BLOCK;
	}
	p = cur;
	cur += size;
	return p;
}

static void stack_free_push(struct kgo_g *g)
{
	g->next = rt.free_stacks;
	rt.free_stacks = g;
	rt.nfree_stacks++;
	if (g->chunk)
		g->chunk->nfree++;
}

/* A stack of @size with a guard page below it: its lowest byte, or NULL. */
static char *map_guarded(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK |
			  MAP_NORESERVE, -1, 0);

	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, page, PROT_NONE)) {
		munmap(base, size + page);
		return NULL;
	}
	return base + page;
}

static void unmap_guarded(char *stack, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	munmap(stack - page, size + page);
}

/* Refill the free list with one guarded stack; stack_lock held. */
static int stack_guarded(void)
{
	struct kgo_g *g;
	uint32_t gidx;
	char *stack;
	int err;

	err = gidx_alloc(1, &gidx);
	if (err)
		return err;
	stack = map_guarded(rt.stack_size);
	g = stack ? persistentalloc(sizeof(*g)) : NULL;
	if (!g) {
		if (stack)
			unmap_guarded(stack, rt.stack_size);
		rt.gidxgen--;
		return -ENOMEM;
	}
	stack_record(g, stack, gidx);
	stack_free_push(g);
	return 0;
}

/*
 * A G with a stack of its own size (kgo_go_attr), with a guard page: a G
 * record and index kept from an earlier one if any, the stack mapped
 * afresh. Such G's never enter the pools; their exit unmaps the stack.
 */
static struct kgo_g *stack_own(size_t size, int *err)
{
	char *stack = map_guarded(size);
	struct kgo_g *g;

	if (!stack) {
		*err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&rt.stack_lock);
	g = rt.free_own;
	if (g) {
		rt.free_own = g->next;
	} else {
		uint32_t gidx;

		*err = gidx_alloc(1, &gidx);
		g = *err ? NULL : persistentalloc(sizeof(*g));
		if (g) {
			g->gidx = gidx;
		} else if (!*err) {
			rt.gidxgen--;
			*err = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&rt.stack_lock);
	if (!g) {
		unmap_guarded(stack, size);
		return NULL;
	}
	g->stack = stack;
	g->stack_size = size;
	g->own_stack = true;
	return g;
}

/* On g0, @g dead: unmap its own stack, keep its record and index. */
static void stack_own_put(struct kgo_g *g)
{
	unmap_guarded(g->stack, g->stack_size);
	g->stack = NULL;
	pthread_mutex_lock(&rt.stack_lock);
	g->next = rt.free_own;
	rt.free_own = g;
	pthread_mutex_unlock(&rt.stack_lock);
}

/*
 * KGO_CHUNK_STACKS stacks in one mapping: the module's stack mapping,
 * where every stack has a guard below it that only its fault handler
 * knows of (one VMA for them all, no page for a guard: a million
 * goroutines stay far below vm.max_map_count), or plain anonymous memory
 * with KGO_STACK_GUARD=0. MAP_FAILED on failure.
 */
static char *map_chunk(size_t size)
{
	int flags = MAP_PRIVATE | MAP_STACK | MAP_NORESERVE;

	if (rt.stack_guard != 1)
		return mmap(NULL, size, PROT_READ | PROT_WRITE,
			    flags | MAP_ANONYMOUS, -1, 0);
	if (rt.stack_fd < 0) {
		rt.stack_fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		if (rt.stack_fd < 0)
			return MAP_FAILED;
	}
	return mmap(NULL, size, PROT_READ | PROT_WRITE, flags, rt.stack_fd,
		    (off_t)GMP_OFF_STACKS_LAYOUT(rt.stack_size / KGO_PAGE,
						 KGO_STACK_GUARD_SIZE / KGO_PAGE));
}

/* Refill the free list with a new chunk; stack_lock held. */
static int stack_chunk(void)
{
	size_t size = rt.stack_stride * KGO_CHUNK_STACKS;
	size_t guard = rt.stack_stride - rt.stack_size;
	struct kgo_chunk *c;
	unsigned int i;
	uint32_t gidx;
	char *base;
	int err;

	/* Indices first: a full or refused G table costs no mapping. */
	err = gidx_alloc(KGO_CHUNK_STACKS, &gidx);
	if (err)
		return err;
	base = map_chunk(size);
	c = base == MAP_FAILED ? NULL : persistentalloc(sizeof(*c));
	if (!c) {
		if (base != MAP_FAILED)
			munmap(base, size);
		rt.gidxgen -= KGO_CHUNK_STACKS;
		return -ENOMEM;
	}
	c->base = base;
	/*
	 * A goroutine touches the top page or two of its stack: a huge page
	 * would zero and pin 2 MiB for 32 of them (measured: 13x slower
	 * spawns with 64 KiB stacks). Best effort: THP may be compiled out.
	 */
	madvise(c->base, size, MADV_NOHUGEPAGE);
	for (i = KGO_CHUNK_STACKS; i-- > 0;) {
		c->g[i].chunk = c;
		stack_record(&c->g[i], c->base + i * rt.stack_stride + guard,
			     gidx + i);
		stack_free_push(&c->g[i]);
	}
	return 0;
}

/* Take the global list's first stack; stack_lock held, list not empty. */
static struct kgo_g *stack_free_pop(void)
{
	struct kgo_g *g = rt.free_stacks;

	rt.free_stacks = g->next;
	rt.nfree_stacks--;
	if (g->chunk) {
		if (g->chunk->idle)
			chunk_idle_del(g->chunk);
		g->chunk->nfree--;
	}
	return g;
}

/* Make sure the global list is not empty; stack_lock held. */
static int stack_refill(void)
{
	if (rt.free_stacks)
		return 0;
	return rt.stack_guard == 2 ? stack_guarded() : stack_chunk();
}

/* A free stack and its G from the global list, or NULL with *@err set. */
static struct kgo_g *stack_get(int *err)
{
	struct kgo_g *g = NULL;

	pthread_mutex_lock(&rt.stack_lock);
	*err = stack_refill();
	if (!*err)
		g = stack_free_pop();
	pthread_mutex_unlock(&rt.stack_lock);
	return g;
}

/*
 * Give @n G's from @list back to the global list; past the cache, chunks
 * free for long enough give their memory back, a bounded number per call
 * so no exit pays for a million. Under the lock: none of their stacks can
 * be handed out meanwhile.
 */
static struct kgo_g *stack_put_list(struct kgo_g *list, unsigned int n)
{
	struct kgo_chunk *c;
	uint64_t now = 0;
	struct kgo_g *g;

	pthread_mutex_lock(&rt.stack_lock);
	while (n--) {
		g = list;
		list = g->next;
		stack_free_push(g);
		c = g->chunk;
		if (c && c->nfree == KGO_CHUNK_STACKS) {
			now = now ?: coarse_ns();
			chunk_idle_add(c, now);
		}
	}
	if (rt.idle_head && rt.nfree_stacks > KGO_FREE_STACKS_MAX) {
		now = now ?: coarse_ns();
		for (n = 0; n < KGO_CHUNK_RELEASE_MAX &&
		     rt.nfree_stacks > KGO_FREE_STACKS_MAX && rt.idle_head &&
		     now - rt.idle_head->idle_since >= KGO_CHUNK_IDLE_NS; n++) {
			c = rt.idle_head;
			chunk_idle_del(c);
			madvise(c->base, rt.stack_stride * KGO_CHUNK_STACKS,
				MADV_DONTNEED);
		}
	}
	pthread_mutex_unlock(&rt.stack_lock);
	return list;
}

/* Go's gfget: a free G for a goroutine on P @pid, or NULL with *@err set. */
static struct kgo_g *gfget(uint32_t pid, int *err)
{
	struct kgo_gfree *pf = &gfree[pid];
	struct kgo_g *g;

	*err = 0;
	if (!pf->head) {
		pthread_mutex_lock(&rt.stack_lock);
		while (pf->n < KGO_GFREE_BATCH) {
			*err = stack_refill();
			if (*err)
				break;
			g = stack_free_pop();
			g->next = pf->head;
			pf->head = g;
			pf->n++;
		}
		pthread_mutex_unlock(&rt.stack_lock);
		if (!pf->head)
			return NULL;
		*err = 0;
		__atomic_add_fetch(&rt.ngfrefill, 1, __ATOMIC_RELAXED);
	}
	g = pf->head;
	pf->head = g->next;
	pf->n--;
	__atomic_store_n(&pf->ngfget, pf->ngfget + 1, __ATOMIC_RELAXED);
	return g;
}

/* Go's gfput: @g is dead and its stack free; keep it on P @pid. */
static void gfput(uint32_t pid, struct kgo_g *g)
{
	struct kgo_gfree *pf = &gfree[pid];

	g->next = pf->head;
	pf->head = g;
	if (++pf->n < KGO_GFREE_MAX)
		return;
	pf->head = stack_put_list(pf->head, pf->n - (KGO_GFREE_BATCH - 1));
	pf->n = KGO_GFREE_BATCH - 1;
	__atomic_add_fetch(&rt.ngfspill, 1, __ATOMIC_RELAXED);
}

/* --- The kernel and the spawn ring ---------------------------------------- */

static long gmp_ioctl(unsigned long cmd, unsigned long arg)
{
	long r = ioctl(rt.fd, cmd, arg);

	return r < 0 ? -errno : r;
}

/*
 * Start an idle P if there is one and no M is already spinning for work
 * (Go's wakep): the kernel hands it to a parked M, or asks the template
 * thread for a new M if none is parked and not enough are on their way.
 * At maxmcount, with fewer M's on their way than idle P's, the kernel is
 * asked too: it is the one to tell thread exhaustion (Go's checkmcount)
 * from an M that will come back, and nobody else may look (sysmon sleeps
 * while every P is idle and nothing is queued where it can see).
 */
static void wakep(void)
{
	const struct gmp_state *st = rt.state;
	uint32_t npidle;

	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with the kernel's */
	npidle = __atomic_load_n(&st->npidle, __ATOMIC_RELAXED);
	if (!npidle || __atomic_load_n(&st->nmspinning, __ATOMIC_RELAXED))
		return;
	if (__atomic_load_n(&st->nmidle, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&st->nmstarting, __ATOMIC_RELAXED) < npidle)
		gmp_ioctl(GMP_IOC_WAKEP, 0);
}

enum { RING_WAKEP, RING_DRAIN, RING_QUIET };

/*
 * Hand G @gidx to the kernel to make runnable: the way in for a thread
 * holding no P. From a goroutine (its P's queue is full) the WAKEP that
 * follows drains it into that P at once, and the kernel's runqputslow
 * moves half the queue to the global one, as Go's does.
 */
static void ring_push(uint32_t gidx, uint32_t flags, int then)
{
	uint32_t head, tail, entries = rt.ring->entries;

	pthread_mutex_lock(&rt.ring_lock);
	for (;;) {
		tail = rt.ring->tail;
		head = __atomic_load_n(&rt.ring->head, __ATOMIC_ACQUIRE);
		if (tail - head < entries)
			break;
		/* Full: have the kernel take what is there. */
		pthread_mutex_unlock(&rt.ring_lock);
		gmp_ioctl(GMP_IOC_WAKEP, 0);
		pthread_mutex_lock(&rt.ring_lock);
	}
	rt.spawn[tail & rt.ring->mask] = (struct gmp_spawn){
		.gidx = gidx,
		.flags = flags,
	};
	__atomic_store_n(&rt.ring->tail, tail + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&rt.ring_lock);
	if (then == RING_DRAIN)
		gmp_ioctl(GMP_IOC_WAKEP, 0);
	else if (then == RING_WAKEP)
		wakep();
}

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
static bool runqput_next(struct gmp_pshared *pp, uint32_t gidx,
			 uint32_t *spill)
{
	uint32_t old = __atomic_exchange_n(&pp->runnext, gidx, __ATOMIC_ACQ_REL);

	*spill = old;
	return !old || runqput_tail(pp, old);
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

/* --- Goroutines ----------------------------------------------------------- */

static __attribute__((noreturn)) void kfatal_ioctl(const char *what, long r)
{
	kgo_throw("%s returned: %s", what, strerror((int)-r));
}

/*
 * Called by kgo_resume when a goroutine comes back on another M than the
 * one it left, before its saved context is popped: a C function may keep
 * errno's address in a register or on its stack across a call, and
 * glibc's __errno_location() is declared const, so compilers do. Every
 * word from the saved context (@frame: see kgo_x86_64.S) to the top of
 * the goroutine's stack that holds the old M's errno address, saved
 * registers and the registers an asynchronous preemption saved included,
 * is made the new M's. Only that exact address: errno is the one
 * thread-local the goroutine owns; other thread-locals are the M's.
 */
void kgo_tls_moved(uintptr_t *frame)
{
	uintptr_t old = frame[1] + kgo_errno_off;
	uintptr_t new = thread_pointer() + kgo_errno_off;
	const struct kgo_g *g = (const struct kgo_g *)frame[2];
	uintptr_t *p, *top = (uintptr_t *)(g->stack + g->stack_size);

	for (p = frame + 3; p < top; p++)
		if (__builtin_expect(*p == old, 0))
			*p = new;
}

/*
 * The C++ runtime keeps, per thread, the exceptions caught and not yet
 * done with (what "throw;" and std::current_exception() read) and the
 * count of those in flight (std::uncaught_exceptions()): two words of
 * __cxa_eh_globals, found through __cxa_get_globals() when libstdc++ is
 * in the process. A goroutine that parks or is preempted inside a catch
 * block may resume on another M, and others may throw and catch on this
 * one meanwhile: so the two words are the goroutine's, switched out with
 * it (leaving the M's clear for the next one) and back in on resume.
 */
extern void *__cxa_get_globals(void) __attribute__((weak));

static KGO_INLINE void eh_switchout(struct kgo_m *m, struct kgo_g *g)
{
	uint64_t *ehg = m->ehg;

	if (ehg) {
		g->eh[0] = ehg[0];
		g->eh[1] = ehg[1];
		ehg[0] = 0;
		ehg[1] = 0;
	}
}

static KGO_INLINE void eh_switchin(struct kgo_m *m, const struct kgo_g *g)
{
	uint64_t *ehg = m->ehg;

	if (ehg) {
		ehg[0] = g->eh[0];
		ehg[1] = g->eh[1];
	}
}

/*
 * @g is running again after a switch, maybe on another M (its locks at 1):
 * make it the thread's current goroutine and give it its errno and C++
 * exception state back.
 */
static KGO_INLINE void resumed(struct kgo_g *g, int saved_errno)
{
	struct kgo_m *m = getm();

	/*
	 * The P from the slot, not the register the resume passed: if a
	 * preemption or a hand-off stub came in right at the resume point,
	 * that register was saved then and is stale when the stub returns.
	 * Whoever resumes a goroutine writes its slot's p first.
	 */
	m->p = __atomic_load_n(&gslot(g->gidx)->p, __ATOMIC_RELAXED);
	m->curg = g;
	*m->errnop = saved_errno;
	eh_switchin(m, g);
	releasem();
}

/*
 * Switch away from the calling goroutine: save its context and run @fn(g)
 * on the M's g0 stack (Go's mcall). Returns when the goroutine is resumed,
 * maybe on another M: the thread's own state (P, current G, errno) is
 * reloaded for that M. The caller has done acquirem(): until then the
 * goroutine may be preempted and move, so the M is read only after.
 */
static void mcall_locked(const char *who, void (*fn)(void *), struct kgo_g *g)
{
	struct kgo_m *m = getm();
	int saved_errno;

	if (!g)
		kgo_throw("%s called outside a goroutine", who);
	saved_errno = *m->errnop;
	eh_switchout(m, g);
	/*
	 * The switch is what a pending request asked for. Cleared before it,
	 * not after: a request that comes right at the resume point (the
	 * stub then finds locks raised and defers) must still be honoured.
	 */
	m->preempt = false;
	kgo_mcall(gslot(g->gidx), fn, g, m->g0);
	resumed(g, saved_errno);
}

static void mcall(const char *who, void (*fn)(void *), struct kgo_g *g)
{
	acquirem();
	mcall_locked(who, fn, g);
}

/* On g0: the kernel finds this M another goroutine (does not return). */
static __attribute__((noreturn)) void kschedule(unsigned long cmd,
						unsigned long arg)
{
	long r;

	getm()->preempt = false;	/* deferred on g0: meant for no one */
	/*
	 * No goroutine is this thread's while it is in the kernel: a signal
	 * handler there, or the thread once MSTART returns, is a plain
	 * thread to kgo. The resume that follows sets curg again.
	 */
	getm()->curg = NULL;
	r = gmp_ioctl(cmd, arg);

	kfatal_ioctl(cmd == GMP_IOC_GOSCHED ? "GMP_IOC_GOSCHED" :
		     cmd == GMP_IOC_GOEXIT ? "GMP_IOC_GOEXIT" :
		     "GMP_IOC_SCHEDULE", r);
}

/*
 * Go's schedule() takes from the global queue first on every 61st
 * schedtick, so goroutines handing their P back and forth cannot starve
 * it. The global queue is the kernel's, and so are spawns still in the
 * ring: the kernel is asked only when one of them has something (the
 * state page's runqsize is kept current; Go reads sched.runqsize without
 * its lock too).
 */
static KGO_INLINE bool globrunq_due(uint32_t tick)
{
	const struct gmp_ring *r = rt.ring;

	return tick % 61 == 0 &&
	       (__atomic_load_n(&rt.state->runqsize, __ATOMIC_RELAXED) ||
		__atomic_load_n(&r->tail, __ATOMIC_RELAXED) !=
		__atomic_load_n(&r->head, __ATOMIC_RELAXED));
}

/*
 * The goroutine a yield at @tick switches to in user space, taken from
 * @pp's own queue, or 0 to let the kernel pick: when the global queue is
 * due, when the P is taken away, and with the queue full, since the next
 * G may come from runnext and leave no room for the yielding one.
 */
static KGO_INLINE uint32_t yield_next(struct gmp_pshared *pp, uint32_t tick,
				       bool *inherit)
{
	*inherit = false;
	if (globrunq_due(tick) ||
	    __atomic_load_n(&pp->retire, __ATOMIC_RELAXED) || runqfull(pp))
		return 0;
	return runqget(pp, inherit);
}

/* Count a switch to a G that does not inherit its predecessor's slice. */
static KGO_INLINE void schedtick_set(struct gmp_pshared *pp, uint32_t tick,
				     bool inherit)
{
	if (!inherit)
		__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
}

/*
 * On g0 (Go's gosched_m): requeue @g behind the P's other goroutines and
 * run the next one, all in user space; when the global queue is due, or
 * with nothing else local, let the kernel choose (global queue, stealing,
 * parking).
 */
static void gosched_m(void *arg)
{
	struct kgo_g *g = arg;
	struct gmp_pshared *pp = thisp();
	uint32_t tick = pp->schedtick + 1, next;
	bool inherit;

	/* A wired M runs nothing else: the kernel parks it (stoplockedm). */
	if (getm()->lockedg)
		kschedule(GMP_IOC_GOSCHED, 0);

	next = yield_next(pp, tick, &inherit);
	if (next) {
		schedtick_set(pp, tick, inherit);
		__atomic_store_n(&gslot(g->gidx)->status, GMP_GRUNNABLE,
				 __ATOMIC_RELAXED);
		runqput_tail(pp, g->gidx);	/* not full: room */
		execute(pp, next);
	}
	/* The kernel sees the 61st tick and looks at the global queue first. */
	__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
	kschedule(GMP_IOC_GOSCHED, 0);
}

/*
 * Go's Gosched. The common case, another goroutine in this P's own queue,
 * switches to it directly without g0: the caller's context is saved, the
 * switch leaves its stack, and only then does the queue tail that shows
 * the caller to thieves move (kgo_switch). Anything else goes through g0
 * and gosched_m, which looks again.
 */
void kgo_yield(void)
{
	struct gmp_pshared *pp;
	struct gmp_gslot *ns;
	struct kgo_g *g;
	struct kgo_m *m;
	uint32_t tick, tail, next;
	int saved_errno;
	bool inherit;

	acquirem();
	m = getm();
	g = m->curg;
	if (!g || m->lockedg)
		goto slow;
	pp = &rt.allp[m->p];
	tick = pp->schedtick + 1;
	next = yield_next(pp, tick, &inherit);
	if (!next)
		goto slow;
	schedtick_set(pp, tick, inherit);
	__atomic_store_n(&gslot(g->gidx)->status, GMP_GRUNNABLE,
			 __ATOMIC_RELAXED);
	tail = pp->runqtail;		/* not full: a thief only makes room */
	pp->runq[tail % GMP_RUNQ_SIZE] = g->gidx;
	ns = markrunning(m, pp, next);	/* clears m->preempt, as mcall does */
	saved_errno = *m->errnop;
	eh_switchout(m, g);
	kgo_switch(gslot(g->gidx), g, ns, &pp->runqtail, tail + 1,
		   (uint64_t)next << 32 | m->p);
	resumed(g, saved_errno);
	return;
slow:
	mcall_locked("kgo_yield", gosched_m, g);
}

/* --- Asynchronous preemption ---------------------------------------------- */

/* The XSAVE area kgo_asyncpreempt uses; read by it, set at start-up. */
uint64_t kgo_xsave_size __attribute__((visibility("hidden")));
uint64_t kgo_xsave_mask __attribute__((visibility("hidden")));
uint8_t kgo_have_xsave __attribute__((visibility("hidden")));
bool *kgo_preempt1(const uint64_t *frame) __attribute__((visibility("hidden")));
extern char kgo_asyncpreempt[] __attribute__((visibility("hidden")));
extern char kgo_asyncpreempt_end[] __attribute__((visibility("hidden")));

/*
 * Which state components a preempted goroutine keeps: all the OS enabled
 * for user space (XCR0: x87, SSE, AVX, AVX-512, ...) but AMX tiles, which
 * need a permission first and would make each save 8 KiB. Without XSAVE,
 * FXSAVE's x87 and SSE state (MXCSR and the x87 control word included).
 */
static void xsave_init(void)
{
	unsigned int a, b, c, d, i;
	uint64_t size = 576;	/* legacy area + XSAVE header */
	uint32_t lo, hi;

	__cpuid(1, a, b, c, d);
	if (!(c & bit_OSXSAVE)) {
		kgo_xsave_size = 512;
		return;
	}
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	kgo_xsave_mask = ((uint64_t)hi << 32 | lo) & ~(3ULL << 17);
	for (i = 2; i < 63; i++) {
		if (!(kgo_xsave_mask >> i & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		if (b + a > size)
			size = b + a;
	}
	kgo_xsave_size = (size + 63) & ~(uint64_t)63;
	kgo_have_xsave = 1;
}

/* On g0 (Go's gopreempt_m): the kernel puts @g on the global queue. */
static void preempt_m(void *arg)
{
	(void)arg;
	kschedule(GMP_IOC_GOSCHED, 0);
}

/*
 * The same for a goroutine stopped at a point not known to be safe: it
 * stays wired to this M until it runs here again, and the P goes on
 * without it (GMP_GOSCHED_KEEPM).
 */
static void preempt_keepm_m(void *arg)
{
	(void)arg;
	kschedule(GMP_IOC_GOSCHED, GMP_GOSCHED_KEEPM);
}

/*
 * Where a preempted goroutine may move to another M (Go's
 * isAsyncSafePoint): the executable segments of the program's own code
 * when it is linked dynamically. Everything else (libc, libstdc++, the
 * dynamic loader, the vDSO, any other library, and all of a static
 * binary, where libc is part of the program) may keep per-thread state
 * or hold a lock mid-update: a goroutine stopped there keeps its M. Set
 * once in kgo_run() before any goroutine runs; KGO_PREEMPT_SAFE=none
 * keeps every preempted goroutine on its M, =all moves every one (the
 * unsafe behaviour before 0.7, for measuring).
 */
#define KGO_SAFE_TEXT_MAX	8

static struct {
	uintptr_t lo, hi;
} safe_text[KGO_SAFE_TEXT_MAX];
static unsigned int nsafe_text;
static bool safe_all;

static int safe_text_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	bool dynamic = false;
	unsigned int i;

	(void)size;
	(void)arg;
	/* The program itself comes first. */
	for (i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_INTERP)
			dynamic = true;
	for (i = 0; dynamic && i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) ||
		    nsafe_text == KGO_SAFE_TEXT_MAX)
			continue;
		safe_text[nsafe_text].lo = info->dlpi_addr + ph->p_vaddr;
		safe_text[nsafe_text].hi = info->dlpi_addr + ph->p_vaddr +
					   ph->p_memsz;
		nsafe_text++;
	}
	return 1;	/* only the first object */
}

static int safe_text_init(void)
{
	const char *v = getenv("KGO_PREEMPT_SAFE");

	if (v && !strcmp(v, "all")) {
		safe_all = true;
		return 0;
	}
	if (v && strcmp(v, "none") && strcmp(v, "exe")) {
		fprintf(stderr, "kgo: KGO_PREEMPT_SAFE=%s: not exe, none or all\n",
			v);
		return -EINVAL;
	}
	if (!v || strcmp(v, "none"))
		dl_iterate_phdr(safe_text_phdr, NULL);
	return 0;
}

static KGO_INLINE bool preempt_safe(const struct kgo_g *g, uintptr_t pc)
{
	unsigned int i;

	if (safe_all || !rt.keepm)
		return true;
	/*
	 * Still inside the stub of a preemption that found an unsafe point
	 * (the interrupted code is below on the stack): not safe either.
	 */
	if (g->keepm || (pc >= (uintptr_t)kgo_asyncpreempt &&
			 pc < (uintptr_t)kgo_asyncpreempt_end))
		return false;
	for (i = 0; i < nsafe_text; i++)
		if (pc >= safe_text[i].lo && pc < safe_text[i].hi)
			return true;
	return false;
}

/*
 * Leave kgo after acquirem(): drop the count without honouring a pending
 * preemption (the caller is about to decide about it itself).
 */
static inline void releasem_only(void)
{
	__asm__ volatile("decl %%fs:(%0)" : : "r"(kgo_locks_off) : "memory");
}

/*
 * A preemption the kernel asked for while the M was inside kgo, honoured
 * by releasem() once it is out.
 */
void kgo_preempt_park(void)
{
	struct kgo_m *m;

	acquirem();
	m = getm();
	if (m->locks != 1 || !m->preempt || !m->curg) {
		releasem_only();
		return;
	}
	m->preempt = false;
	/* Deferred inside kgo_preempt1()'s switch: that one's point holds. */
	mcall_locked("preemption", m->curg->keepm ? preempt_keepm_m : preempt_m,
		     m->curg);
}

/*
 * Called by kgo_asyncpreempt with the goroutine's whole state saved on
 * its stack, @frame (the interrupted rip at frame[16]). Inside kgo (locks
 * set) the switch waits for releasem(); else the goroutine goes to the
 * global run queue, as a preempted one does in Go, and this returns when
 * it runs again: on any M if it was stopped in the program's own code,
 * else on this one (preempt_safe()). The kernel's hand-off comes here
 * too, on the way back from a system call: that goroutine always keeps
 * its M. Returns the goroutine's keepm flag for the stub to clear, or
 * NULL.
 */
bool *kgo_preempt1(const uint64_t *frame)
{
	struct kgo_g *g;
	struct kgo_m *m;

	acquirem();
	m = getm();
	g = m->curg;
	if (m->locks != 1 || !g) {
		m->preempt = true;
		__atomic_add_fetch(&rt.npreemptdeferred, 1, __ATOMIC_RELAXED);
		releasem_only();
		return NULL;
	}
	__atomic_add_fetch(&rt.npreempted, 1, __ATOMIC_RELAXED);
	if (preempt_safe(g, frame[16])) {
		mcall_locked("preemption", preempt_m, g);
		return NULL;
	}
	__atomic_add_fetch(&rt.npreemptkeepm, 1, __ATOMIC_RELAXED);
	/*
	 * Until the stub returns to the interrupted code, the goroutine is
	 * still stopped where it was: a preemption deferred meanwhile (one
	 * that comes as it resumes, inside kgo) or one that lands in the
	 * stub must keep its M too.
	 */
	if (g->keepm) {
		mcall_locked("preemption", preempt_keepm_m, g);
		return NULL;	/* an outer call clears it */
	}
	g->keepm = true;
	mcall_locked("preemption", preempt_keepm_m, g);
	return &g->keepm;
}

void kgo_preempt_stats(uint64_t *taken, uint64_t *deferred)
{
	*taken = __atomic_load_n(&rt.npreempted, __ATOMIC_RELAXED);
	*deferred = __atomic_load_n(&rt.npreemptdeferred, __ATOMIC_RELAXED);
}

_Static_assert(sizeof(struct kgo_stats) >= KGO_STATS_SIZE_VER0,
	       "struct kgo_stats only grows");

int kgo_stats(struct kgo_stats *st)
{
	struct kgo_stats k = { .size = sizeof(k) };
	unsigned int i;

	if (st->size < KGO_STATS_SIZE_VER0)
		return -EINVAL;
	kgo_preempt_stats(&k.npreempted, &k.npreemptdeferred);
	/* g0 takes stack_lock: no goroutine may be preempted holding it. */
	acquirem();
	pthread_mutex_lock(&rt.stack_lock);
	k.ngcreated = rt.gidxgen;
	k.ngfreeglobal = rt.nfree_stacks;
	pthread_mutex_unlock(&rt.stack_lock);
	releasem();
	for (i = 0; i < GMP_NPROCS_MAX; i++)
		k.ngfget += __atomic_load_n(&gfree[i].ngfget, __ATOMIC_RELAXED);
	k.ngfrefill = __atomic_load_n(&rt.ngfrefill, __ATOMIC_RELAXED);
	k.ngfspill = __atomic_load_n(&rt.ngfspill, __ATOMIC_RELAXED);
	k.nspawnwait = __atomic_load_n(&rt.nspawnwait, __ATOMIC_RELAXED);
	k.npreemptkeepm = __atomic_load_n(&rt.npreemptkeepm, __ATOMIC_RELAXED);
	k.size = st->size < sizeof(k) ? st->size : (uint32_t)sizeof(k);
	memcpy(st, &k, k.size);
	return 0;
}

/*
 * On g0, the current goroutine put away (dead or parked): run the next
 * one of this P's queue, or, with none, the P taken away or the global
 * queue due, let the kernel find this M one (Go's schedule after park_m
 * and goexit0).
 */
static __attribute__((noreturn)) void schedule_next(struct gmp_pshared *pp)
{
	uint32_t tick = pp->schedtick + 1, next;
	bool inherit;

	if (globrunq_due(tick)) {
		/* The kernel sees the 61st tick and looks there first. */
		__atomic_store_n(&pp->schedtick, tick, __ATOMIC_RELAXED);
	} else if (!__atomic_load_n(&pp->retire, __ATOMIC_RELAXED) &&
		   !getm()->lockedg) {
		next = runqget(pp, &inherit);
		if (next) {
			schedtick_set(pp, tick, inherit);
			execute(pp, next);
		}
	}
	__atomic_store_n(&pp->curg, 0, __ATOMIC_RELAXED);
	kschedule(GMP_IOC_SCHEDULE, 0);
}

/* On g0 (Go's goexit0): free @g, run the next local goroutine. */
static void goexit0(void *arg)
{
	struct kgo_g *g = arg;

	if (g->main_fn) {	/* the kernel ends the instance */
		__atomic_store_n(&rt.mainexited, true, __ATOMIC_SEQ_CST);
		kschedule(GMP_IOC_GOEXIT, (uint32_t)g->status);
	}
	__atomic_store_n(&gslot(g->gidx)->status, GMP_GDEAD, __ATOMIC_RELEASE);
	getm()->curg = NULL;
	/* We are off its stack: g0. */
	if (g->own_stack)
		stack_own_put(g);
	else
		gfput(getm()->p, g);
	kgo_live_sub();
	/* Not GOEXIT then: its slot may be someone else's already. */
	schedule_next(thisp());
}

static __attribute__((noreturn)) void goexit(struct kgo_g *g, int status)
{
	if (g->lockcount) {	/* unwired: Go would end the thread */
		g->lockcount = 1;
		kgo_unlock_osthread();
	}
	g->status = status;
	mcall("kgo_exit", goexit0, g);
	kgo_throw("a dead goroutine was resumed");
}

void kgo_gostart1(struct kgo_g *g, uint32_t pid, uint32_t gidx)
{
	struct kgo_m *m = getm();

	(void)pid;	/* maybe stale: see mcall_locked() */
	m->p = __atomic_load_n(&gslot(gidx)->p, __ATOMIC_RELAXED);
	m->curg = g;
	releasem();
	if (g->start_locked && kgo_lock_osthread())
		kgo_throw("kgo_go_attr: KGO_ATTR_LOCKED: this gmp module cannot wire a goroutine to its thread");
	if (g->main_fn)
		goexit(g, g->main_fn(g->arg));
	g->fn(g->arg);
	goexit(g, 0);
}

void kgo_exit(void)
{
	struct kgo_g *g = getg();

	if (!g)
		kgo_throw("kgo_exit called outside a goroutine");
	goexit(g, 0);
}

/*
 * Go's newproc, inside acquirem: it uses this M's P. @stack_size: 0 for
 * a pooled stack, else a stack of that size of its own.
 */
static int newproc(void (*fn)(void *arg), void *arg, size_t stack_size,
		   bool locked)
{
	struct kgo_g *cur = getg(), *g;
	struct gmp_gslot *gs;
	uint32_t spill;
	int err;

	/* A thread with no P takes from the global list. */
	if (stack_size)
		g = stack_own(stack_size, &err);
	else
		g = cur ? gfget(getm()->p, &err) : stack_get(&err);
	if (!g)
		return err;
	g->start_locked = locked;
	g->fn = fn;
	g->arg = arg;
	g->main_fn = NULL;
	g->goid = __atomic_add_fetch(&rt.goidgen, 1, __ATOMIC_RELAXED);
	gs = gslot(g->gidx);
	gs->pc = (uintptr_t)kgo_gostart;
	gs->sp = stack_top(g);
	gs->arg = (uintptr_t)g;
	gs->goid = g->goid;
	gs->parentgoid = cur ? cur->goid : 0;
	__atomic_store_n(&gs->status, GMP_GRUNNABLE, __ATOMIC_RELEASE);

	kgo_live_add();
	if (!cur) {			/* a thread with no P */
		ring_push(g->gidx, 0, RING_WAKEP);
		return 0;
	}
	/* Into this P's runnext, then wake an idle P. */
	if (!runqput_next(thisp(), g->gidx, &spill)) {
		ring_push(spill, 0, RING_DRAIN);
		return 0;
	}
	wakep();
	return 0;
}

/*
 * Spawn back-pressure (kgo's own; Go has none). A goroutine spawning in a
 * loop faster than its goroutines finish takes a fresh stack for each, and
 * the first touch of a fresh stack is a page fault: measured at 19 us under
 * TCG, most of the cost of a spawn. Go hardly pays it: its 2 KiB stacks
 * sit in huge pages, 1024 to a fault. kgo's fixed-size stacks cannot (a
 * huge page would make every goroutine's RSS its whole stack), so they
 * are recycled sooner instead: when newproc finds its P's free list empty
 * (gfget would go to the global list, where fresh stacks come in, a chunk
 * at a time) while the P already holds KGO_SPAWNWAIT_RUNQ queued
 * goroutines, the spawner yields first. The queued goroutines run, and the
 * ones that end leave their stacks on the P for the spawns that follow.
 *
 * Queued goroutines that park or compute instead give nothing back, and
 * the spawner then only waited. So a fruitless wait doubles the number of
 * times the P's free list may run dry before it waits again (up to
 * 2^KGO_SPAWNWAIT_SHIFT_MAX, a refill of 32 each); a wait that recovers
 * stacks resets it.
 */
#define KGO_SPAWNWAIT_RUNQ	KGO_CHUNK_STACKS
#define KGO_SPAWNWAIT_SHIFT_MAX	10

/* Under acquirem: should the current goroutine yield before spawning? */
static bool spawnwait_due(void)
{
	struct kgo_m *m = getm();
	struct gmp_pshared *pp;
	struct kgo_gfree *pf;

	if (!m->curg || m->lockedg)
		return false;
	pf = &gfree[m->p];
	if (pf->head)
		return false;
	pp = &rt.allp[m->p];
	if (pp->runqtail - __atomic_load_n(&pp->runqhead, __ATOMIC_ACQUIRE) <
	    KGO_SPAWNWAIT_RUNQ)
		return false;
	if (pf->spawnskip) {
		pf->spawnskip--;
		return false;
	}
	return true;
}

/* Yield so queued goroutines can end; judge the wait on the P returned to. */
static void spawnwait(void)
{
	struct kgo_gfree *pf;

	__atomic_add_fetch(&rt.nspawnwait, 1, __ATOMIC_RELAXED);
	kgo_yield();
	acquirem();
	pf = &gfree[getm()->p];
	if (pf->head) {
		pf->spawnshift = 0;
	} else {
		if (pf->spawnshift < KGO_SPAWNWAIT_SHIFT_MAX)
			pf->spawnshift++;
		pf->spawnskip = 1u << pf->spawnshift;
	}
	releasem();
}

int kgo_go(void (*fn)(void *arg), void *arg)
{
	int err;

	if (!rt.running)
		return -ENXIO;
	acquirem();
	if (spawnwait_due()) {
		releasem();
		spawnwait();
		acquirem();
	}
	err = newproc(fn, arg, 0, false);
	releasem();
	return err;
}

_Static_assert(sizeof(struct kgo_attr) == KGO_ATTR_SIZE_VER0,
	       "kgo_attr grows only with a new KGO_ATTR_SIZE_VER");

int kgo_go_attr(void (*fn)(void *arg), void *arg,
		const struct kgo_attr *attr)
{
	size_t stack = 0;
	uint32_t i;
	int err;

	if (!rt.running)
		return -ENXIO;
	if (!attr)
		return kgo_go(fn, arg);
	if (attr->size < KGO_ATTR_SIZE_VER0 || attr->flags & ~KGO_ATTR_LOCKED)
		return -EINVAL;
	/* A newer caller's fields we do not know must be zero (openat2). */
	for (i = sizeof(*attr); i < attr->size; i++)
		if (((const unsigned char *)attr)[i])
			return -E2BIG;
	if (attr->stack_size) {
		if (attr->stack_size < KGO_STACK_SIZE_MIN ||
		    attr->stack_size > KGO_STACK_SIZE_MAX)
			return -EINVAL;
		stack = ((size_t)attr->stack_size + 4095) & ~(size_t)4095;
		if (stack == rt.stack_size)
			stack = 0;	/* the pool's own size */
	}
	acquirem();
	err = newproc(fn, arg, stack, attr->flags & KGO_ATTR_LOCKED);
	releasem();
	return err;
}

/* --- Parking: Go's gopark and goready ------------------------------------- */

/*
 * A parked goroutine waits on a user address, futex style, in one of
 * these queues (Go's semaphore table plays the same part for its sudogs):
 * its context is in its slot, it is in no run queue, and only a kgo_ready()
 * on its address puts it back in one. The kernel is not involved unless
 * the M is left with nothing to run. A queue's lock is held for a few
 * pointer moves and never across a switch.
 */
#define KGO_WAITQ_BITS	8

static struct kgo_waitq {
	struct kgo_spinlock lock;
	struct kgo_g *head, *tail;
} __attribute__((aligned(64))) waitqs[1 << KGO_WAITQ_BITS];

static struct kgo_waitq *waitq_of(const uint32_t *addr)
{
	uint64_t h = (uintptr_t)addr * 0x9e3779b97f4a7c15ULL;

	return &waitqs[h >> (64 - KGO_WAITQ_BITS)];
}

void kgo_spin_lock(struct kgo_spinlock *l)
{
	unsigned int spins = 0;

	while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
			/* Its holder's thread may be preempted: let it run. */
			if (++spins % 1024 == 0)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
	}
}


/*
 * Go's goready: make @g runnable in this P's runnext, or through the
 * kernel from a thread that holds no P.
 */
static void goready(struct kgo_g *g, bool onp)
{
	uint32_t spill;

	__atomic_store_n(&gslot(g->gidx)->status, GMP_GRUNNABLE,
			 __ATOMIC_RELEASE);
	if (!onp)
		ring_push(g->gidx, 0, RING_WAKEP);
	else if (g->lockedm)	/* to the global queue, and its M (startlockedm) */
		ring_push(g->gidx, 0, RING_DRAIN);
	else if (!runqput_next(thisp(), g->gidx, &spill))
		ring_push(spill, 0, RING_DRAIN);
}

/*
 * kgo_park's commit (Go's park_m through gopark), on g0: queue @g on its
 * address if the word still holds the value it expects, under the lock
 * kgo_ready() takes, so a waker that changed the word first is never
 * missed; if it changed, @g resumes at once with -EAGAIN.
 */
static bool park_commit(struct kgo_g *g, void *arg)
{
	struct kgo_waitq *q = arg;

	kgo_spin_lock(&q->lock);
	if (__atomic_load_n(g->park_addr, __ATOMIC_ACQUIRE) != g->park_val) {
		kgo_spin_unlock(&q->lock);
		g->park_result = -EAGAIN;
		return false;
	}
	g->park_result = 0;
	g->waitlink = NULL;
	if (q->tail)
		q->tail->waitlink = g;
	else
		q->head = g;
	q->tail = g;
	kgo_spin_unlock(&q->lock);
	return true;
}

int kgo_park(const uint32_t *addr, uint32_t val)
{
	struct kgo_g *g = getg();

	if (!g)
		kgo_throw("kgo_park called outside a goroutine");
	if ((uintptr_t)addr % sizeof(*addr))
		return -EINVAL;
	g->park_addr = addr;
	g->park_val = val;
	acquirem();
	kgo_gopark(park_commit, waitq_of(addr), false, "kgo_park");
	return g->park_result;
}

/* kgo_ready's work, inside acquirem: the lock, and this M's P. */
static int ready_n(const uint32_t *addr, uint32_t n)
{
	struct kgo_waitq *q = waitq_of(addr);
	struct kgo_g *ready = NULL, **tail = &ready, **pg, *g;
	bool onp = getg() != NULL;
	int count = 0;

	/* First parked, first readied; other addresses stay queued. */
	kgo_spin_lock(&q->lock);
	for (pg = &q->head; *pg && (uint32_t)count < n;) {
		g = *pg;
		if (g->park_addr != addr) {
			pg = &g->waitlink;
			continue;
		}
		*pg = g->waitlink;
		if (q->tail == g)
			q->tail = pg == &q->head ? NULL :
				  (struct kgo_g *)((char *)pg -
						   offsetof(struct kgo_g, waitlink));
		g->waitlink = NULL;
		*tail = g;
		tail = &g->waitlink;
		count++;
	}
	kgo_spin_unlock(&q->lock);

	while (ready) {
		g = ready;
		ready = g->waitlink;
		kgo_live_add();
		goready(g, onp);
	}
	if (count && onp)
		wakep();
	return count;
}

int kgo_ready(const uint32_t *addr, uint32_t n)
{
	int count;

	if (!rt.running)
		return -ENXIO;
	if ((uintptr_t)addr % sizeof(*addr))
		return -EINVAL;
	acquirem();
	count = ready_n(addr, n);
	releasem();
	return count;
}

/* On g0: Go's park_m for kgo_gopark(). */
static void gopark_m(void *arg)
{
	struct kgo_g *g = arg;
	struct gmp_pshared *pp = thisp();
	bool sleeping = g->park_sleeping;

	__atomic_store_n(&gslot(g->gidx)->status, GMP_GWAITING, __ATOMIC_RELAXED);
	if (!g->park_commit(g, g->park_commit_arg))
		execute(pp, g->gidx);
	/* From here a readier may run @g on any M, even end it: no more @g. */
	if (!sleeping)
		kgo_live_sub();
	schedule_next(pp);
}

void kgo_gopark(bool (*commit)(struct kgo_g *g, void *arg), void *arg,
		bool sleeping, const char *who)
{
	struct kgo_g *g = getg();

	if (!g)
		kgo_throw("%s called outside a goroutine", who);
	g->park_commit = commit;
	g->park_commit_arg = arg;
	g->park_sleeping = sleeping;
	mcall_locked(who, gopark_m, g);
}

void kgo_goready(struct kgo_g *g, bool sleeping)
{
	bool onp = getg() != NULL;

	if (!sleeping)
		kgo_live_add();
	goready(g, onp);
	if (onp)
		wakep();
}

/* --- Deadlock detection: Go's checkdead ------------------------------------ */

/*
 * rt.live's count is only ever above the truth, never below: a
 * goroutine is counted in before it can run (newproc, goready) and out
 * after it stopped (its park committed, its exit), so zero means nothing
 * is running, no timer is armed and every goroutine waits on another.
 * A thread that is not kgo's (one the program started, even if it has
 * not used kgo yet) could still wake one, so kgo gives its verdict only
 * when every thread in /proc/self/task is one of its own (M's, the
 * template thread), each registered by its tid from its first
 * instruction to its last: one still being started counts as foreign. With
 * others kgo says nothing, as Go does with cgo's extra M's.
 */
#define LIVE_ONE	((1ULL << 32) | 1)	/* one more, and a new generation */
#define LIVE_COUNT(w)	((uint32_t)(w))

static void checkdead(uint64_t live);

void kgo_thread_register(bool add)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	size_t i;

	pthread_mutex_lock(&rt.tids_lock);
	if (add) {
		if (rt.ntids == rt.tids_cap) {
			size_t cap = rt.tids_cap ? 2 * rt.tids_cap : 64;
			pid_t *t = realloc(rt.tids, cap * sizeof(*t));

			if (!t) {	/* unknown to checkdead: it stays quiet */
				pthread_mutex_unlock(&rt.tids_lock);
				return;
			}
			rt.tids = t;
			rt.tids_cap = cap;
		}
		rt.tids[rt.ntids++] = tid;
	} else {
		for (i = 0; i < rt.ntids; i++)
			if (rt.tids[i] == tid) {
				rt.tids[i] = rt.tids[--rt.ntids];
				break;
			}
	}
	pthread_mutex_unlock(&rt.tids_lock);
	/*
	 * The count may have fallen to zero while this thread was still
	 * starting, unknown, and so kept checkdead quiet: look again.
	 */
	if (add) {
		uint64_t live = __atomic_load_n(&rt.live, __ATOMIC_SEQ_CST);

		if (!LIVE_COUNT(live))
			checkdead(live);
	}
}

static bool all_threads_ours(void)
{
	bool ours = true, found;
	struct dirent *d;
	size_t i;
	DIR *dir;
	long tid;

	dir = opendir("/proc/self/task");
	if (!dir)
		return false;
	pthread_mutex_lock(&rt.tids_lock);
	while (ours && (d = readdir(dir))) {
		tid = strtol(d->d_name, NULL, 10);
		if (tid <= 0)
			continue;	/* . and .. */
		for (found = false, i = 0; !found && i < rt.ntids; i++)
			found = rt.tids[i] == tid;
		ours = found;
	}
	pthread_mutex_unlock(&rt.tids_lock);
	closedir(dir);
	return ours;
}

/*
 * Nothing can wake anyone: say so, as Go does, and exit. Not once the
 * main goroutine has ended (the instance is closing: abandoned goroutines
 * may still run out their last steps). A verdict is final, so it is
 * confirmed: 10 ms later rt.live must still be @live, the word that was
 * seen at zero (nothing counted in meanwhile), and every thread still
 * kgo's.
 */
static void checkdead(uint64_t live)
{
	const struct timespec confirm = { .tv_nsec = 10 * 1000 * 1000 };

	if (rt.nodeadlock || __atomic_load_n(&rt.mainexited, __ATOMIC_SEQ_CST) ||
	    !all_threads_ours())
		return;
	nanosleep(&confirm, NULL);
	if (__atomic_load_n(&rt.live, __ATOMIC_SEQ_CST) != live ||
	    __atomic_load_n(&rt.mainexited, __ATOMIC_SEQ_CST) ||
	    !all_threads_ours())
		return;
	fflush(NULL);
	fputs("kgo: fatal error: all goroutines are asleep - deadlock!\n",
	      stderr);
	_exit(2);
}

void kgo_live_add(void)
{
	__atomic_add_fetch(&rt.live, LIVE_ONE, __ATOMIC_SEQ_CST);
}

void kgo_live_sub(void)
{
	uint64_t live = __atomic_sub_fetch(&rt.live, 1, __ATOMIC_SEQ_CST);

	if (!LIVE_COUNT(live))
		checkdead(live);
}

int64_t kgo_nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Per M, not per goroutine: only its spread matters (Go's fastrand). */
static __thread uint64_t fastrand_state
	__attribute__((tls_model("initial-exec")));

uint32_t kgo_fastrand(void)
{
	uint64_t x;

	kgo_acquirem();		/* the state is this M's until releasem */
	x = fastrand_state;
	if (!x)
		x = (uint64_t)kgo_nanotime() | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	fastrand_state = x;
	kgo_releasem();
	return (uint32_t)(x >> 32);
}

int kgo_lock_osthread(void)
{
	struct kgo_m *m;
	struct kgo_g *g;
	long r = 0;

	acquirem();		/* the M we wire to is the one we are on */
	m = getm();
	g = m->curg;
	if (!rt.running || !g) {
		releasem();
		return -EINVAL;
	}
	if (!g->lockcount) {
		r = gmp_ioctl(GMP_IOC_LOCKOSTHREAD, 1);
		if (r == -ENOTTY)
			r = -ENOTSUP;	/* a module without it */
		if (!r) {
			g->lockedm = m;
			m->lockedg = g;
		}
	}
	if (!r)
		g->lockcount++;
	releasem();
	return (int)r;
}

int kgo_unlock_osthread(void)
{
	struct kgo_m *m;
	struct kgo_g *g;
	long r = 0;

	acquirem();
	m = getm();
	g = m->curg;
	if (!rt.running || !g || !g->lockcount) {
		releasem();
		return -EINVAL;
	}
	if (--g->lockcount == 0) {
		r = gmp_ioctl(GMP_IOC_LOCKOSTHREAD, 0);
		g->lockedm = NULL;
		m->lockedg = NULL;
	}
	releasem();
	return (int)r;
}

uint64_t kgo_id(void)
{
	struct kgo_g *g = getg();

	return g ? g->goid : 0;
}

int kgo_nprocs(void)
{
	return rt.running ? (int)__atomic_load_n(&rt.state->nprocs,
						 __ATOMIC_RELAXED) : 0;
}

int kgo_gomaxprocs(int n)
{
	if (!rt.running)
		return -ENXIO;
	if (n < 1)
		return kgo_nprocs();
	return (int)gmp_ioctl(GMP_IOC_PROCRESIZE, (unsigned int)n);
}

/* --- M's and start-up ------------------------------------------------------ */

/* --- Stack overflow ------------------------------------------------------ */

/*
 * A goroutine that runs off its stack touches the guard below it (the
 * module's stack mapping, or a PROT_NONE page for kgo_go_attr's stacks
 * and KGO_STACK_GUARD's big-stack fallback) and gets SIGSEGV. kgo's
 * handler, installed by kgo_run() if the program has none, runs on each
 * M's alternate signal stack (the goroutine's is exhausted) and turns a
 * fault in the running goroutine's guard into Go's fatal "stack overflow",
 * naming the goroutine and its stack size. Any other fault is left to the
 * default action: the handler steps aside and the instruction faults
 * again.
 */
#define KGO_SIGSTACK	(64 * 1024)

static void segv_handler(int sig, siginfo_t *info, void *uctx)
{
	const struct kgo_g *g = kgo_getg();
	uintptr_t addr = (uintptr_t)info->si_addr, low;
	size_t guard;

	(void)uctx;
	if (g && g->stack) {
		guard = g->own_stack || rt.stack_guard == 2 ? KGO_PAGE :
			rt.stack_stride - rt.stack_size;
		low = (uintptr_t)g->stack;
		if (addr < low && addr >= low - guard)
			kgo_throw("stack overflow: goroutine %llu ran off its %zu KiB stack at %p (KGO_STACK_SIZE, or kgo_go_attr()'s stack_size, sets it)",
				  (unsigned long long)g->goid,
				  g->stack_size / 1024, info->si_addr);
	}
	signal(sig, SIG_DFL);
	/* A fault faults again; a signal sent (or forced) is sent again. */
	if (info->si_code <= 0 || info->si_code == SI_KERNEL)
		raise(sig);
}

static void segv_handler_install(void)
{
	struct sigaction sa, old;

	if (sigaction(SIGSEGV, NULL, &old) || old.sa_handler != SIG_DFL ||
	    (old.sa_flags & SA_SIGINFO))
		return;		/* the program's own handler */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
}

/* This M's alternate signal stack, unless the thread has one: or NULL. */
static char *sigstack_set(void)
{
	stack_t ss, old;
	char *p;

	if (sigaltstack(NULL, &old) || !(old.ss_flags & SS_DISABLE))
		return NULL;
	p = mmap(NULL, KGO_SIGSTACK, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	ss.ss_sp = p;
	ss.ss_size = KGO_SIGSTACK;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL)) {
		munmap(p, KGO_SIGSTACK);
		return NULL;
	}
	return p;
}

static void sigstack_clear(char *p)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!p)
		return;
	sigaltstack(&ss, NULL);
	munmap(p, KGO_SIGSTACK);
}

/* Go's mstart: run goroutines until the instance exits. */
static int mstart(void)
{
	/*
	 * Not malloc: a goroutine waiting for this M's P may hold malloc's
	 * arena lock (see gmp_exitsyscall()), and a new M must get to the
	 * kernel without waiting for it.
	 */
	char *g0 = mmap(NULL, KGO_G0_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	char *sigstack;
	long r;

	if (g0 == MAP_FAILED)
		return -ENOMEM;
	sigstack = sigstack_set();
	getm()->errnop = &errno;
	getm()->ehg = __cxa_get_globals ? __cxa_get_globals() : NULL;
	getm()->locks = 1;	/* goroutines it resumes clear it */
	/* The top, 16-byte aligned, for kgo_mcall's call. */
	getm()->g0 = (char *)(((uintptr_t)g0 + KGO_G0_STACK) & ~(uintptr_t)15);
	/*
	 * Our locks word: while it is zero this thread runs goroutine code,
	 * which can lose the P when it blocks (the kernel's hand-off).
	 */
	do {
		r = gmp_ioctl(GMP_IOC_MSTART, (unsigned long)&getm()->locks);
	} while (r == -EINTR);
	/* A plain thread again: kgo's calls take their thread paths. */
	getm()->g0 = NULL;
	getm()->curg = NULL;
	getm()->lockedg = NULL;
	getm()->preempt = false;
	getm()->locks = 0;
	getm()->p = 0;
	sigstack_clear(sigstack);
	munmap(g0, KGO_G0_STACK);
	return (int)r;
}

static void *mthread(void *unused)
{
	int r;

	(void)unused;
	kgo_thread_register(true);
	r = mstart();
	kgo_thread_register(false);
	if (r)
		fprintf(stderr, "kgo: M thread: GMP_IOC_MSTART: %s\n",
			strerror(-r));
	return NULL;
}

/*
 * Go's template thread: a plain thread (never an M) that starts M's when
 * the kernel asks for them, so M's appear as work does, up to one per P
 * that has work (and more once M's block, with sysmon's hand-off).
 */
static void *templatethread(void *unused)
{
	pthread_attr_t attr;
	uint32_t failed = 0;

	(void)unused;
	kgo_thread_register(true);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (;;) {
		long n = gmp_ioctl(GMP_IOC_NEWM, failed);
		pthread_t t;

		failed = 0;
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			kgo_throw("thread exhaustion: the program exceeds its %u-thread limit (KGO_MAXTHREADS): every M is running a goroutine or blocked, and runnable goroutines need another",
				  rt.state->maxmcount);
		if (n <= 0)
			break;
		while (n-- > 0) {
			int err = pthread_create(&t, &attr, mthread, NULL);

			/*
			 * Go's newosproc throws here too: goroutines that need
			 * the thread would otherwise wait for good.
			 */
			if (err)
				kgo_throw("failed to create new OS thread (have %u already; errno=%d, %s)",
					  rt.state->mcount, err, strerror(err));
		}
	}
	pthread_attr_destroy(&attr);
	kgo_thread_register(false);
	return NULL;
}

static int env_long(const char *name, long lo, long hi, long *out)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < lo || n > hi) {
		fprintf(stderr, "kgo: %s=%s: want an integer in [%ld, %ld]\n",
			name, v, lo, hi);
		return -EINVAL;
	}
	*out = n;
	return 1;
}

static void *map_area(size_t size, int prot, uint64_t off)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, rt.fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

static int instance_open(void)
{
	struct gmp_create c = { .size = sizeof(c) };
	long nprocs = 0, stack = KGO_STACK_SIZE_DEFAULT, guard = 1, maxg = 0;
	long slice = 0, preempt = 1, deadlock = 1, maxthreads = 0;
	int r;

	r = env_long("GMPMAXPROCS", 1, GMP_NPROCS_MAX, &nprocs);
	if (r >= 0)
		r = env_long("KGO_STACK_SIZE", KGO_STACK_SIZE_MIN,
			     KGO_STACK_SIZE_MAX, &stack);
	if (r >= 0)
		r = env_long("KGO_STACK_GUARD", 0, 1, &guard);
	if (r >= 0)
		r = env_long("KGO_MAXG", 2, GMP_MAXG_MAX, &maxg);
	if (r >= 0)
		r = env_long("KGO_SLICE_US", GMP_SLICE_US_MIN, GMP_SLICE_US_MAX,
			     &slice);
	if (r >= 0)
		r = env_long("KGO_PREEMPT", 0, 1, &preempt);
	if (r >= 0)
		r = env_long("KGO_DEADLOCK", 0, 1, &deadlock);
	if (r >= 0)
		r = env_long("KGO_MAXTHREADS", 4, GMP_MAXMCOUNT_MAX, &maxthreads);
	if (r >= 0)
		r = safe_text_init();
	if (r < 0)
		return r;
	rt.nodeadlock = !deadlock;
	c.slice_us = (uint32_t)slice;
	if (preempt) {
		xsave_init();
		c.preempt_pc = (uintptr_t)kgo_asyncpreempt;
	}
	rt.stack_size = ((size_t)stack + KGO_PAGE - 1) & ~(size_t)(KGO_PAGE - 1);
	/* The module's layout counts stack pages in 16 bits. */
	rt.stack_guard = !guard ? 0 : rt.stack_size / KGO_PAGE <= 0xffff ? 1 : 2;
	rt.stack_stride = rt.stack_size +
			  (rt.stack_guard == 1 ? KGO_STACK_GUARD_SIZE : 0);
	c.nprocs = (uint32_t)nprocs;
	c.maxg = (uint32_t)maxg;
	c.maxmcount = (uint32_t)maxthreads;

	rt.fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (rt.fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			fprintf(stderr, "kgo: %s does not exist: the gmp kernel module is not loaded (insmod gmp.ko)\n",
				GMP_DEVICE_PATH);
		else
			fprintf(stderr, "kgo: open %s: %s\n", GMP_DEVICE_PATH,
				strerror(-r));
		return r;
	}
	r = (int)gmp_ioctl(GMP_IOC_CREATE, (uintptr_t)&c);
	if (r)
		return r;
	rt.nprocs = (int)c.nprocs;
	rt.maxg = c.maxg;
	rt.keepm = c.features & GMP_FEAT_KEEPM;
	rt.state_size = c.state_size;
	rt.ring_size = c.ring_size;
	rt.sched_size = c.sched_size;
	rt.state = map_area(c.state_size, PROT_READ, GMP_OFF_STATE);
	rt.ring = map_area(c.ring_size, PROT_READ | PROT_WRITE, GMP_OFF_RING);
	rt.sched = map_area(c.sched_size, PROT_READ | PROT_WRITE, GMP_OFF_SCHED);
	if (!rt.state || !rt.ring || !rt.sched)
		return -errno;
	if (rt.state->magic != GMP_STATE_MAGIC ||
	    rt.state->version != GMP_API_VERSION)
		return -EPROTO;
	rt.spawn = (struct gmp_spawn *)((char *)rt.ring + GMP_RING_SPAWN_OFF);
	rt.allp = rt.sched;
	rt.gtab = (struct gmp_gslot *)((char *)rt.sched + c.gtab_off);
	return 0;
}

static void instance_close(void)
{
	if (rt.sched)
		munmap(rt.sched, rt.sched_size);
	if (rt.ring)
		munmap(rt.ring, rt.ring_size);
	if (rt.state)
		munmap(rt.state, rt.state_size);
	if (rt.fd >= 0)
		close(rt.fd);
	rt.sched = NULL;
	rt.ring = NULL;
	rt.state = NULL;
	rt.fd = -1;
}

int kgo_run(int (*main_fn)(void *arg), void *arg, int *status)
{
	struct kgo_g *g;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (rt.running || rt.fd >= 0)
		return -EBUSY;
	r = instance_open();
	if (r) {
		instance_close();
		return r;
	}
	rt.running = true;
	segv_handler_install();

	/* newproc(main) */
	g = stack_get(&r);
	if (!g)
		goto out;
	g->main_fn = main_fn;
	g->arg = arg;
	g->goid = __atomic_add_fetch(&rt.goidgen, 1, __ATOMIC_RELAXED);
	gslot(g->gidx)->pc = (uintptr_t)kgo_gostart;
	gslot(g->gidx)->sp = stack_top(g);
	gslot(g->gidx)->arg = (uintptr_t)g;
	gslot(g->gidx)->goid = g->goid;
	/* No wakep: the calling thread becomes M0 and runs it. */
	kgo_live_add();
	ring_push(g->gidx, GMP_SPAWN_MAIN, RING_QUIET);

	/* Other M's are started on demand by the template thread. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	kgo_thread_register(true);	/* M0 */
	r = -pthread_create(&t, &attr, templatethread, NULL);
	pthread_attr_destroy(&attr);
	if (r)
		goto out;

	r = mstart();
	/* Done: kgo_go() and the like say -ENXIO from now on. */
	rt.running = false;
	if (!r && status)
		*status = __atomic_load_n(&rt.state->exit_code, __ATOMIC_ACQUIRE);
out:
	/*
	 * Other M's may still be running goroutines on the instance, so it
	 * stays open: it ends with the process, as a Go program's does.
	 */
	return r;
}
