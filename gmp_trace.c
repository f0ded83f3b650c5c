// SPDX-License-Identifier: GPL-2.0
/*
 * Introspection: Go's schedtrace and scheddetail, as debugfs files.
 *
 *   /sys/kernel/debug/gmp/<tgid>-<n>/schedtrace    one line, Go's format
 *   /sys/kernel/debug/gmp/<tgid>-<n>/scheddetail   every P, M, netpoll wait
 *                                                  and live G
 *
 * <tgid> is the owning process, <n> a sequence number (a process may have
 * several instances). Values are a snapshot taken under sched.lock; the
 * lock-free run queue lengths may be a moment apart from the rest.
 */
#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "gmp_core.h"
#include "gmp_netpoll.h"
#include "gmp_runq.h"
#include "gmp_shm.h"
#include "gmp_sysmon.h"
#include "gmp_trace.h"

#define CREATE_TRACE_POINTS
#include "gmp_trace_events.h"

/* Goroutines scheddetail lists at most. */
#define GMP_TRACE_MAX_G	10000

static struct dentry *gmp_debugfs_root;
static atomic_t gmp_trace_seq = ATOMIC_INIT(0);

static const char *const gmp_gstatus_names[] = {
	[GMP_GIDLE] = "idle",
	[GMP_GRUNNABLE] = "runnable",
	[GMP_GRUNNING] = "running",
	[GMP_GSYSCALL] = "syscall",
	[GMP_GWAITING] = "waiting",
	[GMP_GDEAD] = "dead",
};

static void gmp_schedtrace_line(struct seq_file *sf, struct gmp_sched *s)
{
	u32 i;

	lockdep_assert_held(&s->lock);
	seq_printf(sf,
		   "SCHED %ums: gomaxprocs=%u idleprocs=%u threads=%u spinningthreads=%d idlethreads=%u runqueue=%u [",
		   jiffies_to_msecs(jiffies - s->created_at), s->nprocs,
		   s->npidle, s->mcount, atomic_read(&s->nmspinning), s->nmidle,
		   s->runqsize);
	for (i = 0; i < s->nprocs; i++)
		seq_printf(sf, i ? " %u" : "%u", gmp_runqlen(s->allp[i]) +
			   !!READ_ONCE(s->allp[i]->sh->runnext));
	/*
	 * gmp's additions after Go's fields: sysmon's work and cost, and
	 * the netpoller's registered files (live, made, reaped).
	 */
	seq_printf(sf, "] preempt=%lld preemptreq=%lld handoff=%lld exitsyscall=%lld keepm=%lld sysmon=%lluus pollfiles=%u pollregs=%llu pollreaped=%llu\n",
		   atomic64_read(&s->npreempt), atomic64_read(&s->npreemptreq),
		   atomic64_read(&s->nhandoff),
		   atomic64_read(&s->nexitsyscall),
		   atomic64_read(&s->nkeepm),
		   div_u64(gmp_sysmon_runtime(s), NSEC_PER_USEC),
		   READ_ONCE(s->npolldesc), READ_ONCE(s->npollreg),
		   READ_ONCE(s->npollreaped));
}

static int gmp_schedtrace_show(struct seq_file *sf, void *unused)
{
	struct gmp_sched *s = sf->private;

	spin_lock(&s->lock);
	gmp_schedtrace_line(sf, s);
	spin_unlock(&s->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gmp_schedtrace);

/*
 * Go's runtime/metrics, the kernel's view: goroutines by status (a scan
 * of the G table, as scheddetail's), the run queues, the M's and what
 * sysmon and the idle P's did. One "name value" line each, Go's names
 * where Go has the metric. Scheduling latencies are kgo's (kgo_stats()):
 * most switches never reach the kernel.
 */
static int gmp_metrics_show(struct seq_file *sf, void *unused)
{
	struct gmp_sched *s = sf->private;
	u32 n[ARRAY_SIZE(gmp_gstatus_names)] = { 0 }, gidx, st, i, local = 0;

	for (gidx = 1; gidx < s->maxg; gidx++) {
		struct gmp_gslot *gs = gmp_gslot(s, gidx, NULL);

		if (!gs) {
			gidx |= GMP_GSLOTS_PER_PAGE - 1;
			continue;
		}
		st = READ_ONCE(gs->status);
		if (st < ARRAY_SIZE(n))
			n[st]++;
		if (gidx % GMP_GSLOTS_PER_PAGE == 0)
			cond_resched();
	}
	spin_lock(&s->lock);
	for (i = 0; i < s->nprocs; i++)
		local += gmp_runqlen(s->allp[i]) +
			 !!READ_ONCE(s->allp[i]->sh->runnext);
	seq_printf(sf, "/sched/goroutines:goroutines %u\n",
		   n[GMP_GRUNNABLE] + n[GMP_GRUNNING] + n[GMP_GSYSCALL] +
		   n[GMP_GWAITING]);
	for (i = GMP_GRUNNABLE; i <= GMP_GWAITING; i++)
		seq_printf(sf, "/sched/goroutines/%s:goroutines %u\n",
			   gmp_gstatus_names[i], n[i]);
	seq_printf(sf, "/sched/gomaxprocs:threads %u\n", s->nprocs);
	seq_printf(sf, "/sched/threads:threads %u\n", s->mcount);
	seq_printf(sf, "/sched/threads/idle:threads %u\n", s->nmidle);
	seq_printf(sf, "/sched/procs/idle:procs %u\n", s->npidle);
	seq_printf(sf, "/sched/runqueue/global:goroutines %u\n", s->runqsize);
	seq_printf(sf, "/sched/runqueue/local:goroutines %u\n", local);
	spin_unlock(&s->lock);
	seq_printf(sf, "/sched/preemptions/requested:events %lld\n",
		   atomic64_read(&s->npreemptreq));
	seq_printf(sf, "/sched/preemptions:events %lld\n",
		   atomic64_read(&s->npreempt));
	seq_printf(sf, "/sched/handoffs:events %lld\n",
		   atomic64_read(&s->nhandoff));
	seq_printf(sf, "/sched/steals:events %lld\n",
		   atomic64_read(&s->nsteal));
	seq_printf(sf, "/sched/switches/kernel:events %lld\n",
		   atomic64_read(&s->nkswitch));
	seq_printf(sf, "/sched/netpoll/parked:events %lld\n",
		   atomic64_read(&s->nnetpoll));
	seq_printf(sf, "/sched/netpoll/readied:events %lld\n",
		   atomic64_read(&s->nnetpollready));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gmp_metrics);

/*
 * Live goroutines, from the G table. Not under sched.lock: the table's
 * pages stay until the instance goes, and each slot is user memory read
 * once per field, so a value may be stale or forged but never unsafe.
 */
static void gmp_scheddetail_gs(struct seq_file *sf, struct gmp_sched *s)
{
	u32 gidx, maing = READ_ONCE(s->maing), shown = 0;

	for (gidx = 1; gidx < s->maxg; gidx++) {
		struct gmp_gslot *gs = gmp_gslot(s, gidx, NULL);
		u32 status;

		if (!gs) {
			/* An untouched page: skip to the next one. */
			gidx |= GMP_GSLOTS_PER_PAGE - 1;
			continue;
		}
		status = READ_ONCE(gs->status);
		if (status == GMP_GIDLE || status == GMP_GDEAD)
			continue;
		if (++shown > GMP_TRACE_MAX_G) {
			seq_puts(sf, "  ... (more goroutines not shown)\n");
			break;
		}
		seq_printf(sf, "  G%llu: status=%u(%s) gidx=%u p=%u parent=%llu pc=%#llx%s\n",
			   READ_ONCE(gs->goid), status,
			   status < ARRAY_SIZE(gmp_gstatus_names) ?
			   gmp_gstatus_names[status] : "?", gidx,
			   READ_ONCE(gs->p), READ_ONCE(gs->parentgoid),
			   READ_ONCE(gs->pc), gidx == maing ? " main" : "");
		if (gidx % GMP_GSLOTS_PER_PAGE == 0)
			cond_resched();
	}
}

static int gmp_scheddetail_show(struct seq_file *sf, void *unused)
{
	struct gmp_sched *s = sf->private;
	unsigned long tid;
	struct gmp_m *m;
	u32 i;

	spin_lock(&s->lock);
	gmp_schedtrace_line(sf, s);
	seq_printf(sf, "spawned=%llu badspawn=%llu badg=%lld kswitch=%lld exiting=%d slice=%lluus sysmonwake=%llu\n",
		   s->nspawned, s->nbadspawn, atomic64_read(&s->nbadg),
		   atomic64_read(&s->nkswitch),
		   s->exiting, div_u64(s->slice_ns, NSEC_PER_USEC),
		   READ_ONCE(s->nsysmonwake));
	for (i = 0; i < s->nprocs; i++) {
		struct gmp_p *pp = s->allp[i];
		struct gmp_m *pm = READ_ONCE(pp->m);

		seq_printf(sf, "  P%u: status=%d schedtick=%u m=%d cpu=%d runqsize=%u runnext=%u curg=%u\n",
			   pp->id, pp->status, READ_ONCE(pp->sh->schedtick),
			   pm ? (int)pm->id : -1, pp->cpu, gmp_runqlen(pp),
			   READ_ONCE(pp->sh->runnext), READ_ONCE(pp->sh->curg));
	}
	xa_for_each(&s->ms, tid, m) {
		struct gmp_p *mp = READ_ONCE(m->p);

		seq_printf(sf, "  M%u: tid=%lu p=%d curg=%u parked=%d\n",
			   m->id, tid, mp ? (int)mp->id : -1,
			   mp && READ_ONCE(m->runs_g) ? READ_ONCE(mp->sh->curg) : 0,
			   m->parked);
	}
	spin_unlock(&s->lock);
	gmp_netpoll_show(sf, s);
	gmp_scheddetail_gs(sf, s);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gmp_scheddetail);

void gmp_trace_instance_add(struct gmp_sched *s)
{
	char name[32];

	s->created_at = jiffies;
	if (IS_ERR_OR_NULL(gmp_debugfs_root))
		return;
	snprintf(name, sizeof(name), "%d-%d", task_tgid_nr(current),
		 atomic_inc_return(&gmp_trace_seq));
	s->debugfs = debugfs_create_dir(name, gmp_debugfs_root);
	debugfs_create_file("schedtrace", 0400, s->debugfs, s,
			    &gmp_schedtrace_fops);
	debugfs_create_file("scheddetail", 0400, s->debugfs, s,
			    &gmp_scheddetail_fops);
	debugfs_create_file("metrics", 0400, s->debugfs, s,
			    &gmp_metrics_fops);
}

/* Waits for readers to finish: call before the instance is freed. */
void gmp_trace_instance_remove(struct gmp_sched *s)
{
	debugfs_remove_recursive(s->debugfs);
	s->debugfs = NULL;
}

void gmp_trace_init(void)
{
	gmp_debugfs_root = debugfs_create_dir("gmp", NULL);
}

void gmp_trace_exit(void)
{
	debugfs_remove_recursive(gmp_debugfs_root);
}
