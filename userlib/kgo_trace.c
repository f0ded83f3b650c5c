// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * The user-space half of a scheduler trace (Go's runtime/trace, for the
 * switches the kernel never sees): with KGO_TRACE=FILE set when kgo_run()
 * starts, every goroutine's start on a P and its leaving through g0 (a
 * yield, a park, a preemption, its end) go to that P's buffer, and
 * kgo_run() writes them to FILE as it returns. A direct switch between
 * two goroutines (kgo_yield's and gopark's fast paths) records only the
 * start of the next: tracing off, a switch costs one test. The kernel's half is its tracepoints
 * (the gmp system in tracefs); userlib/kgo-trace.py merges both into a
 * Chrome/Perfetto trace and draws a timeline per P.
 *
 * Only the M holding a P writes its buffer (inside acquirem, or on g0),
 * so a record is two plain stores and the time from the vDSO. Each P
 * keeps its last KGO_TRACE_EVENTS; the buffers are one reserved mapping
 * whose pages come as they are written. Off, each site costs one test of
 * rt.trace (kgo_runtime.h: traceev()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

static const char *trace_path;

/* --- Metrics --------------------------------------------------------------- */

/*
 * Scheduling latency, in powers of two of TSC ticks: bucket i counts the
 * waits of 2^(i + 6) to 2^(i + 7) ticks (the first, any shorter; the
 * last, any longer). The TSC is read by one instruction; kgo_stats()
 * turns the bounds into ns against CLOCK_MONOTONIC over the program's
 * run (metrics.tsc0, ns0: taken by kgo_run()).
 */
#define SCHEDLAT_SHIFT	6

static struct {
	uint64_t lat[KGO_SCHEDLAT_BUCKETS];
	uint64_t tsc0, ns0;
} metrics;

void schedlat_record(struct kgo_g *g)
{
	uint64_t d = __builtin_ia32_rdtsc() - g->runnable_tsc;
	int b = 63 - __builtin_clzll(d | 1) - SCHEDLAT_SHIFT;

	g->runnable_tsc = 0;
	if (b < 0)
		b = 0;
	if (b >= KGO_SCHEDLAT_BUCKETS)
		b = KGO_SCHEDLAT_BUCKETS - 1;
	__atomic_add_fetch(&metrics.lat[b], 1, __ATOMIC_RELAXED);
}

/* kgo_stats()'s runtime/metrics: a look at the G table and the P's now. */
void metrics_stats(struct kgo_stats *k)
{
	uint32_t gidx, n = stack_ngidx(), p, head, tail;
	uint64_t dtsc = __builtin_ia32_rdtsc() - metrics.tsc0;
	uint64_t dns = (uint64_t)nanotime() - metrics.ns0;
	double ns_per_tick = dtsc && dns ? (double)dns / (double)dtsc : 0;
	int i;

	for (gidx = 1; gidx <= n && gidx <= rt.maxg; gidx++) {
		switch (__atomic_load_n(&gslot(gidx)->status,
					__ATOMIC_RELAXED)) {
		case GMP_GRUNNABLE:
			k->ngrunnable++;
			break;
		case GMP_GRUNNING:
			k->ngrunning++;
			break;
		case GMP_GSYSCALL:
			k->ngsyscall++;
			break;
		case GMP_GWAITING:
			k->ngwaiting++;
			break;
		}
	}
	for (p = 0; p < (uint32_t)rt.nprocs; p++) {
		head = __atomic_load_n(&rt.allp[p].runqhead, __ATOMIC_RELAXED);
		tail = __atomic_load_n(&rt.allp[p].runqtail, __ATOMIC_RELAXED);
		if (tail - head <= GMP_RUNQ_SIZE)
			k->nrunqlocal += tail - head;
		k->nrunqlocal += !!__atomic_load_n(&rt.allp[p].runnext,
						   __ATOMIC_RELAXED);
	}
	for (i = 0; i < KGO_SCHEDLAT_BUCKETS; i++) {
		k->schedlat[i] = __atomic_load_n(&metrics.lat[i],
						 __ATOMIC_RELAXED);
		k->schedlat_le_ns[i] = i == KGO_SCHEDLAT_BUCKETS - 1 ? UINT64_MAX :
			(uint64_t)((double)(1ULL << (i + SCHEDLAT_SHIFT + 1)) *
				   ns_per_tick);
	}
}

/* KGO_TRACE: reserve the buffers, or leave tracing off. */
void trace_init(void)
{
	const char *path = getenv("KGO_TRACE");
	void *p;

	metrics.tsc0 = __builtin_ia32_rdtsc();
	metrics.ns0 = (uint64_t)nanotime();
	if (!path || !*path)
		return;
	p = mmap(NULL, (size_t)GMP_NPROCS_MAX * sizeof(struct kgo_tracebuf),
		 PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "kgo: KGO_TRACE: no memory for the buffers\n");
		return;
	}
	trace_path = path;
	__atomic_store_n(&rt.trace, (struct kgo_tracebuf *)p, __ATOMIC_RELEASE);
}

void traceev_slow(uint32_t p, uint32_t type, uint64_t goid)
{
	struct kgo_tracebuf *b = &rt.trace[p % GMP_NPROCS_MAX];
	struct kgo_tev *e = &b->ev[b->n++ % KGO_TRACE_EVENTS];

	e->ts = (uint64_t)nanotime();
	e->goid = goid;
	e->type = type;
}

/*
 * Write every P's events to KGO_TRACE's file: a header, then one line
 * per event, "ns p event goid", each P's in order, its oldest first.
 */
void trace_flush(void)
{
	static const char *const names[] = {
		[KGO_TEV_START] = "start", [KGO_TEV_YIELD] = "yield",
		[KGO_TEV_PARK] = "park", [KGO_TEV_PREEMPT] = "preempt",
		[KGO_TEV_END] = "end",
	};
	struct kgo_tracebuf *t = rt.trace;
	uint64_t i, first;
	uint32_t p;
	FILE *f;

	if (!t)
		return;
	f = fopen(trace_path, "w");
	if (!f) {
		fprintf(stderr, "kgo: KGO_TRACE: %s: %s\n", trace_path,
			strerror(errno));
		return;
	}
	fprintf(f, "kgo-trace 1 pid=%d nprocs=%d clock=CLOCK_MONOTONIC\n",
		(int)getpid(), rt.nprocs);
	for (p = 0; p < GMP_NPROCS_MAX; p++) {
		uint64_t n = __atomic_load_n(&t[p].n, __ATOMIC_ACQUIRE);

		first = n > KGO_TRACE_EVENTS ? n - KGO_TRACE_EVENTS : 0;
		if (first)
			fprintf(f, "# p %u lost %llu oldest events\n", p,
				(unsigned long long)first);
		for (i = first; i < n; i++) {
			const struct kgo_tev *e = &t[p].ev[i % KGO_TRACE_EVENTS];

			fprintf(f, "%llu %u %s %llu\n", (unsigned long long)e->ts,
				p, e->type < KGO_TEV_NTYPES ? names[e->type] : "?",
				(unsigned long long)e->goid);
		}
	}
	if (fclose(f))
		fprintf(stderr, "kgo: KGO_TRACE: %s: %s\n", trace_path,
			strerror(errno));
}
