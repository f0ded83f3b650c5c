// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * kgo: the user side of gmp. It opens /dev/gmp, creates the instance,
 * maps the state page and the spawn ring, turns threads into M's and
 * feeds goroutines to the kernel through the ring. The kernel does the
 * scheduling; this library never picks which goroutine runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kgo.h"

/*
 * Thread-local state belongs to the M (the thread), and a goroutine may
 * come back from the kernel on another M. The compiler assumes the thread
 * never changes inside a function and may reuse a TLS address across a
 * call, so every TLS access after a possible switch goes through these
 * functions, which it may neither inline nor analyse.
 */
#if defined(__has_attribute) && __has_attribute(noipa)
#define KGO_TLS_ACCESSOR __attribute__((noipa))
#else
#define KGO_TLS_ACCESSOR __attribute__((noinline, noclone))
#endif

/* A goroutine's user-side record, at the top of its stack mapping. */
struct kgo_g {
	void (*fn)(void *arg);
	void *arg;
	int (*main_fn)(void *arg);	/* the main goroutine only */
	char *stack;			/* the mapping, guard page included */
	size_t stack_size;
	uint64_t goid;
	struct kgo_g *next;		/* free stack list */
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
	pthread_mutex_t ring_lock;	/* spawn ring producers */
	pthread_mutex_t stack_lock;
	bool stack_guard;
	struct kgo_g *free_stacks;
	unsigned int nfree_stacks;
	int main_status;
} rt = {
	.fd = -1,
	.ring_lock = PTHREAD_MUTEX_INITIALIZER,
	.stack_lock = PTHREAD_MUTEX_INITIALIZER,
};

static __thread struct kgo_g *tls_curg;	/* goroutine running on this M */
static __thread struct kgo_g *tls_deadg;	/* exited here, stack not yet freed */

void kgo_gostart1(struct kgo_g *g, uintptr_t unused, uint64_t goid)
	__attribute__((noreturn, visibility("hidden")));
extern char kgo_gostart[] __attribute__((visibility("hidden")));

static KGO_TLS_ACCESSOR struct kgo_g *getg(void)
{
	return tls_curg;
}

static KGO_TLS_ACCESSOR void setg(struct kgo_g *g)
{
	tls_curg = g;
}

static KGO_TLS_ACCESSOR void set_deadg(struct kgo_g *g)
{
	tls_deadg = g;
}

/*
 * errno is thread-local too, and glibc's __errno_location() is declared
 * const: the compiler may reuse the old M's errno address after a switch.
 */
static KGO_TLS_ACCESSOR int get_errno(void)
{
	return errno;
}

static KGO_TLS_ACCESSOR void set_errno(int e)
{
	errno = e;
}

static KGO_TLS_ACCESSOR struct kgo_g *take_deadg(void)
{
	struct kgo_g *g = tls_deadg;

	tls_deadg = NULL;
	return g;
}

static __attribute__((noreturn, format(printf, 1, 2)))
void kgo_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kgo: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* --- Stacks ----------------------------------------------------------- */

/*
 * Goroutine stacks come from a pool: chunks of KGO_CHUNK_STACKS stacks,
 * one mapping each (adjacent chunks even merge into one VMA), so a million
 * goroutines stay far below vm.max_map_count. Pool stacks have no guard
 * page: an overflow runs into the next stack, as on any fixed-size stack
 * without one. KGO_STACK_GUARD=1 gives every stack its own mapping and a
 * guard page instead (for debugging; two mappings per goroutine).
 * Freed stacks are reused last-in first-out; past KGO_FREE_STACKS_MAX
 * cached ones their memory is given back with MADV_DONTNEED.
 */
#define KGO_CHUNK_STACKS	64
#define KGO_FREE_STACKS_MAX	256

static struct kgo_g *stack_record(char *base)
{
	uintptr_t top = (uintptr_t)base + rt.stack_size - sizeof(struct kgo_g);
	struct kgo_g *g = (struct kgo_g *)(top & ~(uintptr_t)15);

	g->stack = base;
	g->stack_size = rt.stack_size;
	return g;
}

static struct kgo_g *stack_map_guarded(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, rt.stack_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
			  -1, 0);

	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, page, PROT_NONE)) {
		munmap(base, rt.stack_size);
		return NULL;
	}
	return stack_record(base);
}

/* Refill the free list with a new chunk; stack_lock held. */
static int stack_chunk(void)
{
	size_t i, size = rt.stack_size * KGO_CHUNK_STACKS;
	char *chunk = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
			   -1, 0);

	if (chunk == MAP_FAILED)
		return -ENOMEM;
	/*
	 * A goroutine touches the top page or two of its stack: a huge page
	 * would zero and pin 2 MiB for 32 of them (measured: 13x slower
	 * spawns with 64 KiB stacks). Best effort: THP may be compiled out.
	 */
	madvise(chunk, size, MADV_NOHUGEPAGE);
	for (i = KGO_CHUNK_STACKS; i-- > 0;) {
		struct kgo_g *g = stack_record(chunk + i * rt.stack_size);

		g->next = rt.free_stacks;
		rt.free_stacks = g;
		rt.nfree_stacks++;
	}
	return 0;
}

static struct kgo_g *stack_get(void)
{
	struct kgo_g *g = NULL;

	if (rt.stack_guard)
		return stack_map_guarded();
	pthread_mutex_lock(&rt.stack_lock);
	if (rt.free_stacks || !stack_chunk()) {
		g = rt.free_stacks;
		rt.free_stacks = g->next;
		rt.nfree_stacks--;
	}
	pthread_mutex_unlock(&rt.stack_lock);
	return g;
}

static void stack_put(struct kgo_g *g)
{
	if (rt.stack_guard) {
		munmap(g->stack, g->stack_size);
		return;
	}
	unsigned int cached;

	pthread_mutex_lock(&rt.stack_lock);
	cached = rt.nfree_stacks;
	pthread_mutex_unlock(&rt.stack_lock);
	/*
	 * Beyond the cache, keep the address range but drop the memory below
	 * the page that holds the record itself.
	 */
	if (cached >= KGO_FREE_STACKS_MAX) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);

		madvise(g->stack, (size_t)((char *)g - g->stack) & ~(page - 1),
			MADV_DONTNEED);
	}
	pthread_mutex_lock(&rt.stack_lock);
	g->next = rt.free_stacks;
	rt.free_stacks = g;
	rt.nfree_stacks++;
	pthread_mutex_unlock(&rt.stack_lock);
}

/*
 * A goroutine that exits leaves its stack to whatever runs next on its M
 * (it cannot free the stack it stands on). Called at every point where
 * the kernel returns to user space on an M.
 */
static void reclaim_dead_stack(void)
{
	struct kgo_g *g = take_deadg();

	if (g)
		stack_put(g);
}

/* --- The spawn ring --------------------------------------------------- */

static long gmp_ioctl(unsigned long cmd, unsigned long arg)
{
	long r = ioctl(rt.fd, cmd, arg);

	return r < 0 ? -errno : r;
}

/*
 * Start an idle P on a parked M if the kernel has both and no M is
 * already spinning for work (Go's wakep).
 */
static void wakep(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with the kernel's */
	if (__atomic_load_n(&rt.state->npidle, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&rt.state->nmidle, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&rt.state->nmspinning, __ATOMIC_RELAXED))
		gmp_ioctl(GMP_IOC_WAKEP, 0);
}

static void ring_push(const struct gmp_spawn *e)
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
	rt.spawn[tail & rt.ring->mask] = *e;
	__atomic_store_n(&rt.ring->tail, tail + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&rt.ring_lock);
	wakep();
}

static int spawn(struct kgo_g *g, uint32_t flags)
{
	struct gmp_spawn e = {
		.pc = (uintptr_t)kgo_gostart,
		.arg = { (uintptr_t)g, 0 },
		.stack_lo = (uintptr_t)g->stack,
		.stack_size = (uintptr_t)g - (uintptr_t)g->stack,
		.flags = flags,
	};

	ring_push(&e);
	return 0;
}

int kgo_go(void (*fn)(void *arg), void *arg)
{
	struct kgo_g *g;

	if (!rt.running)
		return -ENXIO;
	g = stack_get();
	if (!g)
		return -ENOMEM;
	g->fn = fn;
	g->arg = arg;
	g->main_fn = NULL;
	return spawn(g, 0);
}

/* --- Goroutines ------------------------------------------------------- */

static __attribute__((noreturn)) void goexit(int status)
{
	long r;

	set_deadg(getg());
	r = gmp_ioctl(GMP_IOC_GOEXIT, (uint32_t)status);
	kgo_fatal("GMP_IOC_GOEXIT returned: %s", strerror((int)-r));
}

void kgo_gostart1(struct kgo_g *g, uintptr_t unused, uint64_t goid)
{
	(void)unused;
	reclaim_dead_stack();
	g->goid = goid;
	setg(g);
	if (g->main_fn)
		goexit(g->main_fn(g->arg));
	g->fn(g->arg);
	goexit(0);
}

void kgo_exit(void)
{
	if (!getg())
		kgo_fatal("kgo_exit called outside a goroutine");
	goexit(0);
}

/*
 * The x87 control word and MXCSR's control bits are callee-saved in the
 * SysV ABI; the goroutine may come back on an M whose are different.
 */
struct fpctl {
	uint32_t mxcsr;
	uint16_t fcw;
};

static inline void fpctl_save(struct fpctl *f)
{
	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(f->mxcsr), "=m"(f->fcw));
}

static inline void fpctl_restore(const struct fpctl *f)
{
	__asm__ volatile("ldmxcsr %0; fldcw %1" : : "m"(f->mxcsr), "m"(f->fcw));
}

/*
 * Make a call after which the calling goroutine may resume on another M
 * (GOSCHED, GOPARK): keep what the ABI says survives a call and what
 * belongs to the goroutine rather than the thread.
 */
static long kswitch(const char *who, unsigned long cmd, unsigned long arg)
{
	struct kgo_g *g = getg();
	struct fpctl fp;
	int saved_errno = get_errno();
	long r;

	if (!g)
		kgo_fatal("%s called outside a goroutine", who);
	fpctl_save(&fp);
	r = gmp_ioctl(cmd, arg);
	/* Possibly on another M now: TLS is that M's. */
	setg(g);
	reclaim_dead_stack();
	fpctl_restore(&fp);
	set_errno(saved_errno);
	return r;
}

void kgo_yield(void)
{
	long r = kswitch("kgo_yield", GMP_IOC_GOSCHED, 0);

	if (r)
		kgo_fatal("GMP_IOC_GOSCHED: %s", strerror((int)-r));
}

int kgo_park(const uint32_t *addr, uint32_t val)
{
	struct gmp_wait w = { .uaddr = (uintptr_t)addr, .val = val };

	return (int)kswitch("kgo_park", GMP_IOC_GOPARK, (uintptr_t)&w);
}

int kgo_ready(const uint32_t *addr, uint32_t n)
{
	struct gmp_wait w = { .uaddr = (uintptr_t)addr, .val = n };

	if (!rt.running)
		return -ENXIO;
	return (int)gmp_ioctl(GMP_IOC_GOREADY, (uintptr_t)&w);
}

uint64_t kgo_id(void)
{
	struct kgo_g *g = getg();

	return g ? g->goid : 0;
}

int kgo_nprocs(void)
{
	return rt.running ? rt.nprocs : 0;
}

/* --- M's and start-up --------------------------------------------------- */

/* Go's mstart: run goroutines until the instance exits. */
static int mstart(void)
{
	for (;;) {
		long r = gmp_ioctl(GMP_IOC_MSTART, 0);

		reclaim_dead_stack();
		if (r != -EINTR)
			return (int)r;
	}
}

static void *mthread(void *unused)
{
	int r;

	(void)unused;
	r = mstart();
	if (r)
		fprintf(stderr, "kgo: M thread: GMP_IOC_MSTART: %s\n",
			strerror(-r));
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

static int instance_open(void)
{
	struct gmp_create c = { .size = sizeof(c) };
	long nprocs = 0, stack = KGO_STACK_SIZE_DEFAULT, guard = 0;
	int r;

	r = env_long("GMPMAXPROCS", 1, GMP_NPROCS_MAX, &nprocs);
	if (r >= 0)
		r = env_long("KGO_STACK_SIZE", 16384, 1L << 30, &stack);
	if (r >= 0)
		r = env_long("KGO_STACK_GUARD", 0, 1, &guard);
	if (r < 0)
		return r;
	rt.stack_guard = guard;
	rt.stack_size = ((size_t)stack + 4095) & ~(size_t)4095;
	c.nprocs = (uint32_t)nprocs;

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
	rt.state_size = c.state_size;
	rt.ring_size = c.ring_size;
	rt.state = mmap(NULL, c.state_size, PROT_READ, MAP_SHARED, rt.fd,
			GMP_OFF_STATE);
	if (rt.state == MAP_FAILED)
		return -errno;
	rt.ring = mmap(NULL, c.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       rt.fd, GMP_OFF_RING);
	if (rt.ring == MAP_FAILED)
		return -errno;
	if (rt.state->magic != GMP_STATE_MAGIC ||
	    rt.state->version != GMP_API_VERSION)
		return -EPROTO;
	rt.spawn = (struct gmp_spawn *)((char *)rt.ring + GMP_RING_SPAWN_OFF);
	return 0;
}

static void instance_close(void)
{
	if (rt.ring && rt.ring != MAP_FAILED)
		munmap(rt.ring, rt.ring_size);
	if (rt.state && rt.state != MAP_FAILED)
		munmap(rt.state, rt.state_size);
	if (rt.fd >= 0)
		close(rt.fd);
	rt.ring = NULL;
	rt.state = NULL;
	rt.fd = -1;
}

int kgo_run(int (*main_fn)(void *arg), void *arg, int *status)
{
	struct kgo_g *g;
	pthread_attr_t attr;
	int r, i;

	if (rt.running || rt.fd >= 0)
		return -EBUSY;
	r = instance_open();
	if (r) {
		instance_close();
		return r;
	}
	rt.running = true;

	/* newproc(main) */
	g = stack_get();
	if (!g) {
		r = -ENOMEM;
		goto out;
	}
	g->main_fn = main_fn;
	g->arg = arg;
	spawn(g, GMP_SPAWN_MAIN);

	/* One M per P; the calling thread is M0. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 1; i < rt.nprocs; i++) {
		pthread_t t;

		r = pthread_create(&t, &attr, mthread, NULL);
		if (r) {
			r = -r;
			break;
		}
	}
	pthread_attr_destroy(&attr);
	if (r)
		goto out;

	r = mstart();
	if (!r && status)
		*status = __atomic_load_n(&rt.state->exit_code, __ATOMIC_ACQUIRE);
out:
	/*
	 * Other M's may still be running goroutines on the instance, so it
	 * stays open: it ends with the process, as a Go program's does.
	 */
	return r;
}
