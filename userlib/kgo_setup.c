// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * kgo's start and its threads: kgo_run opens /dev/gmp, creates the
 * instance from the environment (GMPMAXPROCS, KGO_*), maps the state
 * page, the spawn ring and the scheduler area, queues the main goroutine
 * and turns the calling thread into M0; the template thread starts the
 * other M's when the kernel asks (Go's newm through templateThread).
 * Also the thread-local M block's offsets and throw.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
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
#include <stdarg.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

struct kgo_rt rt = {
	.fd = -1,
	.ring_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* Static TLS: one offset from %fs reaches every thread's block. */
static __thread struct kgo_m tls_m __attribute__((tls_model("initial-exec")));
/* Offsets of tls_m's fields from the %fs base: the same in every thread. */
intptr_t m_off;
intptr_t locks_off, curg_off, preempt_off;
intptr_t errno_off;	/* errno's, libc's thread-local */


/* At load time: getg() must answer NULL before kgo_run() too. */
static void __attribute__((constructor)) tls_init(void)
{
	uintptr_t tp = thread_pointer();

	m_off = (intptr_t)((uintptr_t)&tls_m - tp);
	errno_off = (intptr_t)((uintptr_t)&errno - tp);
	locks_off = (intptr_t)((uintptr_t)&tls_m.locks - tp);
	curg_off = (intptr_t)((uintptr_t)&tls_m.curg - tp);
	preempt_off = (intptr_t)((uintptr_t)&tls_m.preempt - tp);
}

void throw(const char *fmt, ...)
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

/* --- M's and start-up ------------------------------------------------------ */

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
#if KGO_ASAN
	{
		pthread_attr_t a;

		getm()->g0_lo = g0;
		if (!pthread_getattr_np(pthread_self(), &a)) {
			pthread_attr_getstack(&a, (void **)&getm()->thread_lo,
					      &getm()->thread_size);
			pthread_attr_destroy(&a);
		}
	}
#endif
#if KGO_TSAN
	getm()->tsan_thread = __tsan_get_current_fiber();
	getm()->tsan_g0 = __tsan_create_fiber(0);
	__tsan_set_fiber_name(getm()->tsan_g0, "g0");
	/*
	 * The goroutines this thread runs see its TLS as TSan set it up
	 * (san_arrive() acquires this); and errno, which kgo keeps for each
	 * goroutine, is no race between two that ran here.
	 */
	racerelease(&getm()->tsan_thread);
	AnnotateBenignRaceSized(__FILE__, __LINE__, &errno, sizeof(errno),
				"errno, kept per goroutine by kgo");
#endif
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
	san_arrive(KGO_SAN_THREAD, NULL);
#if KGO_TSAN
	__tsan_destroy_fiber(getm()->tsan_g0);
#endif
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
	thread_register(true);
	r = mstart();
	thread_register(false);
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
	thread_register(true);
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
			throw("thread exhaustion: the program exceeds its %u-thread limit (KGO_MAXTHREADS): every M is running a goroutine or blocked, and runnable goroutines need another",
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
				throw("failed to create new OS thread (have %u already; errno=%d, %s)",
					  rt.state->mcount, err, strerror(err));
		}
	}
	pthread_attr_destroy(&attr);
	thread_register(false);
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

/* --- The default P count: Go 1.25's container-aware GOMAXPROCS ---------- */

/*
 * The cgroup v2 directory of this process: the cgroup2 mount's point
 * joined with the path /proc/self/cgroup gives, relative to the mount's
 * root. 0, or -1 with no cgroup2 mount or no v2 entry.
 */
static int cgroup_dir(char *dir, size_t size)
{
	char line[4096], root[1024], mnt[1024], path[2048] = "";
	size_t rl;
	FILE *f;
	int found = 0;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3) &&
		    sscanf(line + 3, "%2047[^\n]", path) == 1)
			break;
	fclose(f);
	if (!path[0])
		return -1;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	/* ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS] - TYPE SOURCE SUPER */
	while (!found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - cgroup2 ");

		found = sep && sscanf(line, "%*s %*s %*s %1023s %1023s", root,
				      mnt) == 2;
	}
	fclose(f);
	if (!found)
		return -1;
	rl = strlen(root);
	if (!strcmp(root, "/"))
		rl = 0;
	else if (strncmp(path, root, rl) || (path[rl] && path[rl] != '/'))
		return -1;	/* our cgroup is not under that mount */
	return snprintf(dir, size, "%s%s", mnt, path + rl) < (int)size ? 0 : -1;
}

/*
 * The tightest cpu.max quota on the way from this process's cgroup up to
 * the root, in CPUs, or 0 with none (Go reads the whole hierarchy too: a
 * parent's limit binds its children).
 */
static double cgroup_cpu_limit(void)
{
	char dir[4096], file[4200], quota[32];
	double limit = 0, q;
	long period;
	char *slash;
	FILE *f;

	if (cgroup_dir(dir, sizeof(dir)))
		return 0;
	for (;;) {
		snprintf(file, sizeof(file), "%s/cpu.max", dir);
		f = fopen(file, "re");
		if (f) {
			if (fscanf(f, "%31s %ld", quota, &period) == 2 &&
			    strcmp(quota, "max") && period > 0) {
				q = strtod(quota, NULL) / (double)period;
				if (q > 0 && (!limit || q < limit))
					limit = q;
			}
			fclose(f);
		}
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = 0;
	}
	return limit;
}

/*
 * P's by default (Go 1.25): the CPUs this thread may run on, and no more
 * than the cgroup's CPU limit rounded up, but at least 2 for a limit
 * (a limit of 0.5 CPU still gains from two threads' parallelism in
 * bursts). 0 leaves the choice to the module (its online CPUs).
 */
static long procs_default(void)
{
	double limit = cgroup_cpu_limit();
	long n = 0, l;
	cpu_set_t set;

	if (!sched_getaffinity(0, sizeof(set), &set))
		n = CPU_COUNT(&set);
	if (limit > 0) {
		l = (long)limit;
		l += l < limit;
		l = l < 2 ? 2 : l;
		if (!n || l < n)
			n = l;
	}
	return n > GMP_NPROCS_MAX ? GMP_NPROCS_MAX : n;
}

static void *map_area(size_t size, int prot, uint64_t off)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, rt.fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

/* A forked child has no poll area (the mapping is not copied). */
static void pollslots_atfork_child(void)
{
	rt.pollslots = NULL;
}

static void pollslots_once(void)
{
	pthread_atfork(NULL, NULL, pollslots_atfork_child);
}

static int instance_open(void)
{
	struct gmp_create c = { .size = sizeof(c) };
	long nprocs = 0, stack = KGO_STACK_SIZE_DEFAULT, guard = 1, maxg = 0;
	long slice = 0, preempt = 1, deadlock = 1, maxthreads = 0, guess = 1;
	int r;

	r = env_long("GMPMAXPROCS", 1, GMP_NPROCS_MAX, &nprocs);
	if (!nprocs)
		nprocs = procs_default();
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
		r = env_long("KGO_READGUESS", 0, 1, &guess);
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
	stack_init((size_t)stack, guard);
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
	if (r == -EOPNOTSUPP)
		fprintf(stderr, "kgo: this thread runs with a user shadow stack (x86 CET), and gmp switches stacks without one: run the program without it (GLIBC_TUNABLES=glibc.cpu.x86_shstk=off)\n");
	if (r)
		return r;
	rt.nprocs = (int)c.nprocs;
	rt.maxg = c.maxg;
	rt.keepm = c.features & GMP_FEAT_KEEPM;
	rt.netpoll = c.features & GMP_FEAT_NETPOLL;
	rt.readguess = guess && (c.features & GMP_FEAT_NETPOLL_POLL);
	rt.pid = getpid();
	/* The poll area: read only where the kernel made a page. */
	if (c.features & GMP_FEAT_NETPOLL_PD) {
		static pthread_once_t once = PTHREAD_ONCE_INIT;

		rt.pollslots = map_area(GMP_POLLSLOTS_MAX *
					sizeof(struct gmp_pollslot), PROT_READ,
					GMP_OFF_POLL);
		if (!rt.pollslots)
			return -errno;
		pthread_once(&once, pollslots_once);
	}
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
	if (rt.pollslots)
		munmap((void *)rt.pollslots,
		       GMP_POLLSLOTS_MAX * sizeof(struct gmp_pollslot));
	rt.pollslots = NULL;
	net_reset();
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

#if !KGO_TSAN
/* Defined in a program built with -fsanitize=thread. */
extern void __tsan_init(void) __attribute__((weak));
#endif

int kgo_run(int (*main_fn)(void *arg), void *arg, int *status)
{
	pthread_attr_t attr;
	pthread_t t;
	int r;

#if !KGO_TSAN
	/* TSan would see goroutines as one thread's calls that never end. */
	if (__tsan_init) {
		fprintf(stderr, "kgo: built with -fsanitize=thread: link kgo's ThreadSanitizer build (userlib/tsan/libkgo.a)\n");
		return -ENOTSUP;
	}
#endif
	if (rt.running || rt.fd >= 0)
		return -EBUSY;
	r = instance_open();
	if (r) {
		instance_close();
		return r;
	}
	rt.running = true;
	trace_init();
	segv_handler_install();
	sigquit_install();

	r = newproc(NULL, main_fn, arg, (uintptr_t)__builtin_return_address(0),
		    0, false);
	if (r)
		goto out;

	/* Other M's are started on demand by the template thread. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	san_threads_register();
	/*
	 * TSan: the timer thread is started here, before any goroutine
	 * runs, not by the first to sleep: the pthread_once would order
	 * that goroutine before every later one that sleeps.
	 */
	if (KGO_TSAN)
		timers_init();
	thread_register(true);	/* M0 */
	r = -pthread_create(&t, &attr, templatethread, NULL);
	pthread_attr_destroy(&attr);
	if (r)
		goto out;

	r = mstart();
	raceacquire(&rt);	/* the main goroutine's end: goexit() */
	/* Done: kgo_go() and the like say -ENXIO from now on. */
	rt.running = false;
	trace_flush();
	if (!r && status)
		*status = __atomic_load_n(&rt.state->exit_code, __ATOMIC_ACQUIRE);
out:
	/*
	 * Other M's may still be running goroutines on the instance, so it
	 * stays open: it ends with the process, as a Go program's does.
	 */
	return r;
}
