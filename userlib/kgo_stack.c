// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Goroutine stacks and G indices: the pool of stack chunks (one mapping
 * per KGO_CHUNK_STACKS, guards from the module's stack mapping), each
 * P's free list (Go's gfget and gfput), the stacks of a size of their
 * own, and the SIGSEGV handler that turns a run into a guard into Go's
 * fatal "stack overflow".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

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
#define KGO_FREE_STACKS_MAX	256
#define KGO_CHUNK_IDLE_NS	(50 * 1000 * 1000)
#define KGO_CHUNK_RELEASE_MAX	64	/* chunks emptied per exit at most */

struct kgo_chunk {
	char *base;
	unsigned int nfree;
	bool idle;			/* on the idle list */
	uint64_t idle_since;		/* CLOCK_MONOTONIC_COARSE, ns */
	struct kgo_chunk *idle_prev, *idle_next;
	struct kgo_g g[KGO_CHUNK_STACKS];
};

struct kgo_gfree gfree[GMP_NPROCS_MAX];

/* The pool (Go's sched.gFree and stack cache), under its lock. */
static struct {
	pthread_mutex_t lock;		/* taken on g0 or inside acquirem */
	int guard;			/* KGO_STACK_GUARD: 0, 1 (module), 2 */
	size_t stride;			/* a pooled stack and its guard */
	int fd;				/* /dev/gmp for stack mappings */
	struct kgo_g *free;		/* the global free list */
	unsigned int nfree;
	struct kgo_g *free_own;		/* G's whose own stack was unmapped */
	struct kgo_chunk *idle_head, *idle_tail; /* all free, oldest first */
	uint32_t gidxgen;		/* G indices handed to stacks so far */
	uint32_t gtabclaimed;		/* slots below it are allocated (pages) */
	uint64_t ngfrefill;		/* batches moved global -> P */
	uint64_t ngfspill;		/* batches moved P -> global */
} stacks = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
};

/*
 * kgo_run's settings: @size bytes per stack (rounded up to pages) and
 * whether each gets a guard. The module's layout counts stack pages in
 * 16 bits: a bigger stack gets its own mapping and guard (2).
 */
void stack_init(size_t size, bool guard)
{
	rt.stack_size = (size + KGO_PAGE - 1) & ~(size_t)(KGO_PAGE - 1);
	stacks.guard = !guard ? 0 : rt.stack_size / KGO_PAGE <= 0xffff ? 1 : 2;
	stacks.stride = rt.stack_size +
			(stacks.guard == 1 ? KGO_STACK_GUARD_SIZE : 0);
}

/* kgo_stats()'s stack counters. */
void stack_stats(struct kgo_stats *k)
{
	/* g0 takes the lock: no goroutine may be preempted holding it. */
	acquirem();
	rt_lock(&stacks.lock);
	k->ngcreated = stacks.gidxgen;
	k->ngfreeglobal = stacks.nfree;
	rt_unlock(&stacks.lock);
	releasem();
	k->ngfrefill = __atomic_load_n(&stacks.ngfrefill, __ATOMIC_RELAXED);
	k->ngfspill = __atomic_load_n(&stacks.ngfspill, __ATOMIC_RELAXED);
}

/* G indices handed out so far: every G record is at one of 1 to this. */
uint32_t stack_ngidx(void)
{
	return __atomic_load_n(&stacks.gidxgen, __ATOMIC_RELAXED);
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* The idle list, oldest first; stacks.lock held. */
static void chunk_idle_add(struct kgo_chunk *c, uint64_t now)
{
	c->idle = true;
	c->idle_since = now;
	c->idle_next = NULL;
	c->idle_prev = stacks.idle_tail;
	if (stacks.idle_tail)
		stacks.idle_tail->idle_next = c;
	else
		stacks.idle_head = c;
	stacks.idle_tail = c;
}

static void chunk_idle_del(struct kgo_chunk *c)
{
	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		stacks.idle_head = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else
		stacks.idle_tail = c->idle_prev;
	c->idle = false;
}

static void stack_record(struct kgo_g *g, char *base, uint32_t gidx)
{
	g->stack = base;
	g->stack_size = rt.stack_size;
	g->gidx = gidx;
	g->slot = gslot(gidx);
	g->slot->user = (uintptr_t)g;	/* allg, for dumps and gdb */
}

/* The top of @g's stack, where a new goroutine's sp starts (16-aligned). */
uintptr_t stack_top(const struct kgo_g *g)
{
	return (uintptr_t)g->stack + g->stack_size;
}

/*
 * Have the kernel allocate the G table's pages up to slot @end (not
 * included) now, where it can say ENOMEM (its memory cgroup is at its
 * limit), rather than on the first store to a slot, where the answer
 * would be the OOM killer. Kernels before 5.14 lack the advice: their
 * pages still come on first touch. stacks.lock held.
 */
static int gtab_claim(uint32_t end)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = (uintptr_t)&rt.gtab[stacks.gtabclaimed];
	uintptr_t to = (uintptr_t)&rt.gtab[end];

	if (end <= stacks.gtabclaimed)
		return 0;
	from &= ~(page - 1);
	to = (to + page - 1) & ~(page - 1);
	if (madvise((void *)from, to - from, MADV_POPULATE_WRITE) &&
	    errno != EINVAL)
		return -ENOMEM;
	/* The table is page-aligned: whole pages hold whole slots. */
	stacks.gtabclaimed = (uint32_t)((to - (uintptr_t)rt.gtab) /
				    sizeof(*rt.gtab));
	return 0;
}

/*
 * Claim @n fresh G indices, the first in *@first; stacks.lock held.
 * -EAGAIN: the G table is full. -ENOMEM: the kernel has no memory for it.
 */
static int gidx_alloc(uint32_t n, uint32_t *first)
{
	uint32_t f = stacks.gidxgen + 1;	/* index 0 is no goroutine */

	/* maxg may be below a chunk's 64: no unsigned wrap. */
	if (n > rt.maxg || f > rt.maxg - n)
		return -EAGAIN;
	if (gtab_claim(f + n))
		return -ENOMEM;
	stacks.gidxgen += n;
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
 * stacks.lock held.
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
	g->next = stacks.free;
	stacks.free = g;
	stacks.nfree++;
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

/* Refill the free list with one guarded stack; stacks.lock held. */
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
		stacks.gidxgen--;
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
struct kgo_g *stack_own(size_t size, int *err)
{
	char *stack = map_guarded(size);
	struct kgo_g *g;

	if (!stack) {
		*err = -ENOMEM;
		return NULL;
	}
	rt_lock(&stacks.lock);
	g = stacks.free_own;
	if (g) {
		stacks.free_own = g->next;
	} else {
		uint32_t gidx;

		*err = gidx_alloc(1, &gidx);
		g = *err ? NULL : persistentalloc(sizeof(*g));
		if (g) {
			g->gidx = gidx;
			g->slot = gslot(gidx);
			g->slot->user = (uintptr_t)g;
		} else if (!*err) {
			stacks.gidxgen--;
			*err = -ENOMEM;
		}
	}
	rt_unlock(&stacks.lock);
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
void stack_own_put(struct kgo_g *g)
{
	unmap_guarded(g->stack, g->stack_size);
	g->stack = NULL;
	rt_lock(&stacks.lock);
	g->next = stacks.free_own;
	stacks.free_own = g;
	rt_unlock(&stacks.lock);
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

	if (stacks.guard != 1)
		return mmap(NULL, size, PROT_READ | PROT_WRITE,
			    flags | MAP_ANONYMOUS, -1, 0);
	if (stacks.fd < 0) {
		stacks.fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		if (stacks.fd < 0)
			return MAP_FAILED;
	}
	return mmap(NULL, size, PROT_READ | PROT_WRITE, flags, stacks.fd,
		    (off_t)GMP_OFF_STACKS_LAYOUT(rt.stack_size / KGO_PAGE,
						 KGO_STACK_GUARD_SIZE / KGO_PAGE));
}

/* Refill the free list with a new chunk; stacks.lock held. */
static int stack_chunk(void)
{
	size_t size = stacks.stride * KGO_CHUNK_STACKS;
	size_t guard = stacks.stride - rt.stack_size;
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
		stacks.gidxgen -= KGO_CHUNK_STACKS;
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
		stack_record(&c->g[i], c->base + i * stacks.stride + guard,
			     gidx + i);
		stack_free_push(&c->g[i]);
	}
	return 0;
}

/* Take the global list's first stack; stacks.lock held, list not empty. */
static struct kgo_g *stack_free_pop(void)
{
	struct kgo_g *g = stacks.free;

	stacks.free = g->next;
	stacks.nfree--;
	if (g->chunk) {
		if (g->chunk->idle)
			chunk_idle_del(g->chunk);
		g->chunk->nfree--;
	}
	return g;
}

/* Make sure the global list is not empty; stacks.lock held. */
static int stack_refill(void)
{
	if (stacks.free)
		return 0;
	return stacks.guard == 2 ? stack_guarded() : stack_chunk();
}

/* A free stack and its G from the global list, or NULL with *@err set. */
struct kgo_g *stack_get(int *err)
{
	struct kgo_g *g = NULL;

	rt_lock(&stacks.lock);
	*err = stack_refill();
	if (!*err)
		g = stack_free_pop();
	rt_unlock(&stacks.lock);
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

	rt_lock(&stacks.lock);
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
	if (stacks.idle_head && stacks.nfree > KGO_FREE_STACKS_MAX) {
		now = now ?: coarse_ns();
		for (n = 0; n < KGO_CHUNK_RELEASE_MAX &&
		     stacks.nfree > KGO_FREE_STACKS_MAX && stacks.idle_head &&
		     now - stacks.idle_head->idle_since >= KGO_CHUNK_IDLE_NS; n++) {
			c = stacks.idle_head;
			chunk_idle_del(c);
			madvise(c->base, stacks.stride * KGO_CHUNK_STACKS,
				MADV_DONTNEED);
		}
	}
	rt_unlock(&stacks.lock);
	return list;
}

/*
 * gfget()'s slow half (kgo_runtime.h has the fast one): P @pf's list is
 * empty, so move a batch from the global list, making stacks if needed.
 * 0 once the list has one, else why not.
 */
int gfget_refill(struct kgo_gfree *pf)
{
	struct kgo_g *g;
	int err = 0;

	rt_lock(&stacks.lock);
	while (pf->n < KGO_GFREE_BATCH) {
		err = stack_refill();
		if (err)
			break;
		g = stack_free_pop();
		g->next = pf->head;
		pf->head = g;
		pf->n++;
	}
	rt_unlock(&stacks.lock);
	if (!pf->head)
		return err ? err : -ENOMEM;
	__atomic_add_fetch(&stacks.ngfrefill, 1, __ATOMIC_RELAXED);
	return 0;
}

/* gfput()'s slow half: P @pf's list is full, give a batch back. */
void gfput_spill(struct kgo_gfree *pf)
{
	pf->head = stack_put_list(pf->head, pf->n - (KGO_GFREE_BATCH - 1));
	pf->n = KGO_GFREE_BATCH - 1;
	__atomic_add_fetch(&stacks.ngfspill, 1, __ATOMIC_RELAXED);
}

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
		guard = g->own_stack || stacks.guard == 2 ? KGO_PAGE :
			stacks.stride - rt.stack_size;
		low = (uintptr_t)g->stack;
		if (addr < low && addr >= low - guard)
			throw("stack overflow: goroutine %llu ran off its %zu KiB stack at %p (KGO_STACK_SIZE, or kgo_go_attr()'s stack_size, sets it)",
				  (unsigned long long)g->goid,
				  g->stack_size / 1024, info->si_addr);
	}
	signal(sig, SIG_DFL);
	/* A fault faults again; a signal sent (or forced) is sent again. */
	if (info->si_code <= 0 || info->si_code == SI_KERNEL)
		raise(sig);
}

void segv_handler_install(void)
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
char *sigstack_set(void)
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

void sigstack_clear(char *p)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!p)
		return;
	sigaltstack(&ss, NULL);
	munmap(p, KGO_SIGSTACK);
}
