// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Asynchronous preemption, user side: the XSAVE area the stub saves, the
 * safe points (Go's isAsyncSafePoint: the program's own code, when it is
 * linked dynamically), and the entry points the stub and releasem() call
 * to switch a preempted goroutine out, keeping its M where the point is
 * not known to be safe.
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
#include <cpuid.h>
#include <link.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

/* --- Asynchronous preemption ---------------------------------------------- */

/* The XSAVE area kgo_asyncpreempt uses; read by it, set at start-up. */
/* Preemptions taken, put off to releasem, taken at unsafe points (M kept). */
static struct {
	uint64_t npreempted, npreemptdeferred, npreemptkeepm;
} pstats;

uint64_t xsave_size __attribute__((visibility("hidden")));
uint64_t xsave_mask __attribute__((visibility("hidden")));
uint8_t have_xsave __attribute__((visibility("hidden")));

/*
 * Which state components a preempted goroutine keeps: all the OS enabled
 * for user space (XCR0: x87, SSE, AVX, AVX-512, ...) but AMX tiles, which
 * need a permission first and would make each save 8 KiB. Without XSAVE,
 * FXSAVE's x87 and SSE state (MXCSR and the x87 control word included).
 */
void xsave_init(void)
{
	unsigned int a, b, c, d, i;
	uint64_t size = 576;	/* legacy area + XSAVE header */
	uint32_t lo, hi;

	__cpuid(1, a, b, c, d);
	if (!(c & bit_OSXSAVE)) {
		xsave_size = 512;
		return;
	}
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xsave_mask = ((uint64_t)hi << 32 | lo) & ~(3ULL << 17);
	for (i = 2; i < 63; i++) {
		if (!(xsave_mask >> i & 1))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		if (b + a > size)
			size = b + a;
	}
	xsave_size = (size + 63) & ~(uint64_t)63;
	have_xsave = 1;
}

/* On g0 (Go's gopreempt_m): the kernel puts @g on the global queue. */
static void preempt_m(void *arg)
{
	traceev(getm()->p, KGO_TEV_PREEMPT, ((struct kgo_g *)arg)->goid);
	schedule(GMP_IOC_GOSCHED, 0);
}

/*
 * The same for a goroutine stopped at a point not known to be safe: it
 * stays wired to this M until it runs here again, and the P goes on
 * without it (GMP_GOSCHED_KEEPM).
 */
static void preempt_keepm_m(void *arg)
{
	traceev(getm()->p, KGO_TEV_PREEMPT, ((struct kgo_g *)arg)->goid);
	schedule(GMP_IOC_GOSCHED, GMP_GOSCHED_KEEPM);
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

int safe_text_init(void)
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

static KGO_INLINE bool preempt_safe(const struct kgo_g *g,
				     const uint64_t *frame)
{
	uintptr_t pc = frame[KGO_PFRAME_RIP / 8];
	unsigned int i;

	if (safe_all || !rt.keepm)
		return true;
	/*
	 * Stopped in a signal handler on the M's alternate signal stack
	 * (the frame is off the goroutine's stack): the handler's frame,
	 * and the signal mask its return restores, are this M's.
	 */
	if ((uintptr_t)frame < (uintptr_t)g->stack ||
	    (uintptr_t)frame >= stack_top(g))
		return false;
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
	__asm__ volatile("decl %%fs:(%0)" : : "r"(locks_off) : "memory");
}

/*
 * A preemption the kernel asked for while the M was inside kgo, honoured
 * by releasem() once it is out.
 */
void releasem_preempt(void)
{
	struct kgo_m *m;

	acquirem();
	m = getm();
	if (m->locks != 1 || !m->preempt || !m->curg) {
		releasem_only();
		return;
	}
	m->preempt = false;
	/* Deferred inside asyncpreempt2()'s switch: that one's point holds. */
	mcall_locked("preemption", m->curg->keepm ? preempt_keepm_m : preempt_m,
		     m->curg);
}

/*
 * Called by kgo_asyncpreempt with the goroutine's whole state saved on
 * its stack, @frame (kgo_asm.h's KGO_PFRAME_*), and the M's locks count
 * already raised by the stub: the acquirem() this would begin with (see
 * kgo_x86_64.S for why it is the stub's). Stopped inside kgo (locks set
 * before) the switch waits for releasem(); else the goroutine goes to
 * the global run queue, as a preempted one does in Go, and this returns
 * when it runs again: on any M if it was stopped in the program's own
 * code, else on this one (preempt_safe()). The kernel's hand-off comes
 * here too, on the way back from a system call: that goroutine always
 * keeps its M. Returns the goroutine's keepm flag for the stub to clear,
 * or NULL.
 */
bool *asyncpreempt2(const uint64_t *frame)
{
	struct kgo_g *g;
	struct kgo_m *m;

	m = getm();
	g = m->curg;
	if (m->locks != 1 || !g) {
		m->preempt = true;
		__atomic_add_fetch(&pstats.npreemptdeferred, 1, __ATOMIC_RELAXED);
		releasem_only();
		return NULL;
	}
	__atomic_add_fetch(&pstats.npreempted, 1, __ATOMIC_RELAXED);
	if (preempt_safe(g, frame)) {
		mcall_locked("preemption", preempt_m, g);
		return NULL;
	}
	__atomic_add_fetch(&pstats.npreemptkeepm, 1, __ATOMIC_RELAXED);
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
	*taken = __atomic_load_n(&pstats.npreempted, __ATOMIC_RELAXED);
	*deferred = __atomic_load_n(&pstats.npreemptdeferred, __ATOMIC_RELAXED);
}

/* kgo_stats()'s preemption counters. */
void preempt_stats(struct kgo_stats *k)
{
	k->npreempted = __atomic_load_n(&pstats.npreempted, __ATOMIC_RELAXED);
	k->npreemptdeferred = __atomic_load_n(&pstats.npreemptdeferred,
					      __ATOMIC_RELAXED);
	k->npreemptkeepm = __atomic_load_n(&pstats.npreemptkeepm,
					   __ATOMIC_RELAXED);
}
