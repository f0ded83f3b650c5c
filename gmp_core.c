// SPDX-License-Identifier: GPL-2.0
/*
 * gmp: Go's G/M/P scheduler, run by the kernel, for C programs.
 *
 * This file is the /dev/gmp misc device and the life cycle of a scheduler
 * instance: open, GMP_IOC_CREATE (Go's schedinit), mmap of the shared
 * pages, ioctl dispatch and release. The scheduler itself is gmp_sched.c
 * (the loop) and gmp_proc.c (its entry points).
 *
 * Copyright (C) 2026 The gmp developers
 */
#include <linux/build_bug.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/cpumask.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>
#include <asm/ptrace.h>

#include "gmp_compat.h"
#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_handoff.h"
#include "gmp_netpoll.h"
#include "gmp_sched.h"
#include "gmp_shm.h"
#include "gmp_sysmon.h"
#include "gmp_trace.h"

/* --- Instances per user ---------------------------------------------- */

/*
 * Each instance costs a kernel thread (sysmon) and a debugfs directory
 * that no memory cgroup or RLIMIT_NPROC pays for, so a user may have at
 * most this many at once (like inotify's max_user_instances); a CREATE
 * over it gets -EMFILE. CAP_SYS_RESOURCE goes past it; 0 lifts it.
 */
static unsigned int gmp_max_user_instances = 128;
module_param_named(max_user_instances, gmp_max_user_instances, uint, 0644);
MODULE_PARM_DESC(max_user_instances,
		 "Instances (each with a sysmon thread) one user may have at once, 0: no limit (default 128)");

static DEFINE_MUTEX(gmp_users_lock);
static DEFINE_XARRAY(gmp_users);	/* euid -> its instances, an xa value */

static unsigned long gmp_user_count(kuid_t uid)
{
	return xa_to_value(xa_load(&gmp_users, __kuid_val(uid)));
}

static int gmp_user_charge(struct gmp_sched *s)
{
	unsigned int max = READ_ONCE(gmp_max_user_instances);
	kuid_t uid = current_euid();
	unsigned long n;
	int ret;

	mutex_lock(&gmp_users_lock);
	n = gmp_user_count(uid);
	if (max && n >= max && !capable(CAP_SYS_RESOURCE))
		ret = -EMFILE;
	else
		ret = xa_err(xa_store(&gmp_users, __kuid_val(uid),
				      xa_mk_value(n + 1), GMP_GFP));
	mutex_unlock(&gmp_users_lock);
	if (!ret) {
		s->uid = uid;
		s->uid_charged = true;
	}
	return ret;
}

static void gmp_user_uncharge(struct gmp_sched *s)
{
	unsigned long n;

	if (!s->uid_charged)
		return;
	mutex_lock(&gmp_users_lock);
	n = gmp_user_count(s->uid);
	if (n > 1)	/* replacing a present entry allocates nothing */
		xa_store(&gmp_users, __kuid_val(s->uid), xa_mk_value(n - 1),
			 GFP_KERNEL);
	else
		xa_erase(&gmp_users, __kuid_val(s->uid));
	mutex_unlock(&gmp_users_lock);
	s->uid_charged = false;
}

/* --- GMP_IOC_CREATE -------------------------------------------------- */

static void __maybe_unused gmp_uapi_pins(void)
{
	BUILD_BUG_ON(sizeof(struct gmp_create) != GMP_CREATE_SIZE_VER1);
	BUILD_BUG_ON(offsetof(struct gmp_create, preempt_pc) !=
		     GMP_CREATE_SIZE_VER0);
	BUILD_BUG_ON(offsetof(struct gmp_create, state_size) != 24);
	BUILD_BUG_ON(sizeof(struct gmp_ring) != GMP_RING_SPAWN_OFF);
	BUILD_BUG_ON(offsetof(struct gmp_ring, tail) != 64);
	BUILD_BUG_ON(offsetof(struct gmp_ring, entries) != 128);
	BUILD_BUG_ON(sizeof(struct gmp_spawn) != 16);
	BUILD_BUG_ON(offsetof(struct gmp_create, maxg) != 40);
	BUILD_BUG_ON(offsetof(struct gmp_create, gtab_off) != 56);
	BUILD_BUG_ON(sizeof(struct gmp_pshared) != 64 * 2 + 4 * GMP_RUNQ_SIZE);
	BUILD_BUG_ON(offsetof(struct gmp_pshared, runqtail) != 64);
	BUILD_BUG_ON(sizeof(struct gmp_gslot) != 64);
	BUILD_BUG_ON(PAGE_SIZE % sizeof(struct gmp_gslot));
	BUILD_BUG_ON(GMP_OFF_SCHED & ~PAGE_MASK);
	BUILD_BUG_ON(sizeof(struct gmp_state) != 152);
	BUILD_BUG_ON(sizeof(struct gmp_netpoll_wait) !=
		     GMP_NETPOLL_WAIT_SIZE_VER1);
	BUILD_BUG_ON(offsetof(struct gmp_netpoll_wait, pd) !=
		     GMP_NETPOLL_WAIT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct gmp_pollslot) != 8);
	BUILD_BUG_ON(GMP_POLLSLOTS_MAX % GMP_POLLSLOTS_PER_PAGE);
	BUILD_BUG_ON(GMP_OFF_POLL - GMP_OFF_SCHED <
		     (u64)GMP_MAXG_MAX * sizeof(struct gmp_gslot) +
		     GMP_NPROCS_MAX * sizeof(struct gmp_pshared));
	BUILD_BUG_ON(offsetof(struct gmp_netpoll_wait, deadline_ns) != 16);
	BUILD_BUG_ON(sizeof(struct gmp_state) > PAGE_SIZE);
	BUILD_BUG_ON(GMP_OFF_RING & ~PAGE_MASK);
}

/*
 * Check a creation request and fill in its defaults and outputs. Fields
 * the kernel writes must come in as zero, like the reserved ones.
 */
int gmp_create_check(struct gmp_create *c)
{
	if (c->flags || c->resv0 || c->resv || c->resv1)
		return -EINVAL;
	if (c->preempt_pc && !gmp_user_addr_ok(c->preempt_pc))
		return -EINVAL;
	if (!c->slice_us)
		c->slice_us = GMP_SLICE_US_DEFAULT;
	if (c->slice_us < GMP_SLICE_US_MIN || c->slice_us > GMP_SLICE_US_MAX)
		return -EINVAL;
	if (c->features || c->state_size || c->ring_size || c->sched_size ||
	    c->gtab_off)
		return -EINVAL;
	if (!c->nprocs)
		c->nprocs = num_online_cpus();
	if (c->nprocs > GMP_NPROCS_MAX)
		return -EINVAL;
	if (!c->maxprocs)
		c->maxprocs = clamp_t(u32, num_possible_cpus(), c->nprocs,
				      GMP_NPROCS_MAX);
	if (c->maxprocs < c->nprocs || c->maxprocs > GMP_NPROCS_MAX)
		return -EINVAL;
	if (!c->maxmcount)
		c->maxmcount = GMP_MAXMCOUNT_DEFAULT;
	if (c->maxmcount > GMP_MAXMCOUNT_MAX)
		return -EINVAL;
	if (!c->ring_entries)
		c->ring_entries = GMP_RING_ENTRIES_DEFAULT;
	if (!is_power_of_2(c->ring_entries) ||
	    c->ring_entries > GMP_RING_ENTRIES_MAX)
		return -EINVAL;
	if (!c->maxg)
		c->maxg = GMP_MAXG_DEFAULT;
	if (c->maxg < 2 || c->maxg > GMP_MAXG_MAX)
		return -EINVAL;
	c->features = GMP_FEAT_SPAWN_RING | GMP_FEAT_USER_RUNQ |
		      GMP_FEAT_PREEMPT | GMP_FEAT_LOCKOSTHREAD | GMP_FEAT_KEEPM |
		      GMP_FEAT_NETPOLL | GMP_FEAT_NETPOLL_PD |
		      GMP_FEAT_NETPOLL_POLL;
	if (gmp_handoff_supported())
		c->features |= GMP_FEAT_HANDOFF;
	c->sched_size = gmp_sched_area_size(c->maxprocs, c->maxg, &c->gtab_off);
	c->state_size = PAGE_ALIGN(sizeof(struct gmp_state));
	c->ring_size = PAGE_ALIGN(GMP_RING_SPAWN_OFF +
				  c->ring_entries * sizeof(struct gmp_spawn));
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_create_check);

/*
 * An instance's life cycle, in one place: CREATE sets each concern up in
 * the order below (Go's schedinit), and gmp_instance_free() takes them
 * down in the reverse order. A CREATE that fails half way frees what it
 * set up: every teardown copes with a part that was never set up.
 */
static int gmp_instance_init(struct gmp_sched *s, const struct gmp_create *c)
{
	u32 i;
	int ret;

	/* First: it sets up the locks gmp_sched_destroy() takes. */
	ret = gmp_sched_init(s, c->nprocs, c->maxprocs, c->maxmcount);
	gmp_sysmon_init(s);
	if (!ret)
		ret = gmp_netpoll_init(s);
	if (!ret)
		ret = gmp_user_charge(s);
	if (!ret)
		ret = gmp_gtab_init(s, c->maxprocs, c->maxg);
	if (!ret)
		ret = gmp_region_alloc(&s->state_region, c->state_size,
				       c->state_size);
	if (!ret)
		ret = gmp_region_alloc(&s->ring_region, c->ring_size,
				       c->ring_size);
	if (ret)
		return ret;

	for (i = 0; i < c->maxprocs; i++)
		s->allp[i]->sh = (struct gmp_pshared *)s->sched_region.vaddr + i;
	s->state = s->state_region.vaddr;
	s->state->magic = GMP_STATE_MAGIC;
	s->state->version = GMP_API_VERSION;
	s->state->nprocs = c->nprocs;
	s->state->maxmcount = c->maxmcount;
	s->state->sysmontime = ktime_get_ns();
	s->ring = s->ring_region.vaddr;
	s->ring->entries = c->ring_entries;
	s->ring->mask = c->ring_entries - 1;
	s->spawn = s->ring_region.vaddr + GMP_RING_SPAWN_OFF;
	s->ring_entries = c->ring_entries;
	s->preempt_pc = c->preempt_pc;
	s->handoff = c->preempt_pc && (c->features & GMP_FEAT_HANDOFF);
	s->slice_ns = (u64)c->slice_us * NSEC_PER_USEC;
	s->mm = current->mm;
	s->tgid = current->tgid;
	mmgrab(s->mm);
	gmp_publish_state(s);
	ret = gmp_sysmon_start(s);
	/* Last: a schedtrace read looks at sysmon's task. */
	if (!ret)
		gmp_trace_instance_add(s);
	return ret;
}

static void gmp_instance_free(struct gmp_sched *s)
{
	/* First: debugfs readers look at all of it (waits them out). */
	gmp_trace_instance_remove(s);
	/* Then: a file's wake-up may still queue the netpoller's work. */
	gmp_netpoll_destroy(s);
	/* Then: a blocked M's sched_out may still kick sysmon. */
	gmp_handoff_detach(s);
	gmp_sysmon_stop(s);
	gmp_netpoll_fini(s);	/* after sysmon, which may queue its work */
	if (s->mm)
		mmdrop(s->mm);
	s->mm = NULL;
	gmp_region_free(&s->ring_region);
	gmp_region_free(&s->state_region);
	gmp_gtab_destroy(s);
	gmp_user_uncharge(s);
	gmp_sched_destroy(s);
}

/*
 * A CREATE failed: free what it set up and return the instance to what
 * gmp_open() left, so that nothing a retry builds can be chained to a
 * freed P, M or page (the idle P list, its counts, the M table).
 */
static void gmp_instance_reset(struct gmp_sched *s)
{
	size_t from = offsetof(struct gmp_sched, mm);

	gmp_instance_free(s);
	memset((char *)s + from, 0, sizeof(*s) - from);
}

/*
 * May the calling thread be an M? Not with a user shadow stack: gmp
 * moves a thread between goroutine stacks by rewriting its user frame
 * (and kgo switches stacks in user space), and every such return would
 * be one the shadow stack never saw: a control-protection fault. A
 * clear error at CREATE and MSTART instead: -EOPNOTSUPP.
 */
int gmp_thread_check(void)
{
	return gmp_user_shstk() ? -EOPNOTSUPP : 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_thread_check);

static long gmp_ioc_create(struct gmp_sched *s, unsigned long arg)
{
	struct gmp_create __user *uarg = (void __user *)arg;
	struct gmp_create c;
	u32 usize;
	int ret;

	if (get_user(usize, &uarg->size))
		return -EFAULT;
	if (usize < GMP_CREATE_SIZE_VER0)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&c, sizeof(c), uarg, usize);
	if (ret)
		return ret;
	ret = gmp_create_check(&c);
	if (!ret)
		ret = gmp_thread_check();
	if (ret)
		return ret;

	mutex_lock(&s->setup_lock);
	if (s->created) {
		ret = -EEXIST;
		goto out;
	}
	ret = gmp_instance_init(s, &c);
	if (!ret && copy_to_user(uarg, &c, min_t(size_t, usize, sizeof(c))))
		ret = -EFAULT;
	if (ret)
		gmp_instance_reset(s);
	else
		/* Publish the set-up instance; pairs with gmp_instance_access(). */
		smp_store_release(&s->created, true);
out:
	mutex_unlock(&s->setup_lock);
	return ret;
}

/* --- The other ioctls ------------------------------------------------ */

static long gmp_ioc_mstart(struct gmp_sched *s, unsigned long arg)
{
	u32 __user *locks = (u32 __user *)arg;

	if (gmp_thread_check())
		return -EOPNOTSUPP;
	if (!IS_ALIGNED(arg, sizeof(u32)) ||
	    (arg && (!gmp_user_addr_ok(arg) ||
		     !access_ok(locks, sizeof(*locks)))))
		return -EINVAL;
	return gmp_mstart(s, current_pt_regs(), locks);
}

static long gmp_ioc_goexit(struct gmp_sched *s, unsigned long arg)
{
	if (arg > U32_MAX)
		return -EINVAL;
	return gmp_goexit(s, current_pt_regs(), (int)(u32)arg);
}

static long gmp_ioc_gosched(struct gmp_sched *s, unsigned long arg)
{
	if (arg & ~GMP_GOSCHED_KEEPM)
		return -EINVAL;
	return gmp_gosched(s, current_pt_regs(), arg & GMP_GOSCHED_KEEPM);
}

static long gmp_ioc_schedule(struct gmp_sched *s, unsigned long arg)
{
	return arg ? -EINVAL : gmp_park_m(s, current_pt_regs());
}

static long gmp_ioc_procresize(struct gmp_sched *s, unsigned long arg)
{
	return arg > U32_MAX ? -EINVAL : gmp_procresize(s, arg);
}

static long gmp_ioc_lockosthread(struct gmp_sched *s, unsigned long arg)
{
	return arg > 1 ? -EINVAL : gmp_lockosthread(s, arg);
}

static long gmp_ioc_newm(struct gmp_sched *s, unsigned long arg)
{
	return arg > U32_MAX ? -EINVAL : gmp_newm_ioctl(s, arg);
}

static long gmp_ioc_wakep(struct gmp_sched *s, unsigned long arg)
{
	return arg ? -EINVAL : gmp_wakep_ioctl(s);
}

static long gmp_ioc_netpoll_wait(struct gmp_sched *s, unsigned long arg)
{
	bool sched = false;
	long ret = gmp_netpoll_wait_ioctl(s, (void __user *)arg, &sched);

	/* Parked: the M's next goroutine, as GMP_IOC_SCHEDULE finds it. */
	return !ret && sched ? gmp_park_m(s, current_pt_regs()) : ret;
}

static long gmp_ioc_netpoll_close(struct gmp_sched *s, unsigned long arg)
{
	return gmp_netpoll_close_ioctl(s, arg);
}

struct gmp_ioctl_def {
	unsigned int cmd;
	bool needs_instance;
	long (*fn)(struct gmp_sched *s, unsigned long arg);
};

/* A reserved number has no entry: its cmd, 0, matches no command. */
static const struct gmp_ioctl_def gmp_ioctls[] = {
	[GMP_IOC_NR_CREATE] = {
		.cmd = GMP_IOC_CREATE,
		.fn = gmp_ioc_create,
	},
	[GMP_IOC_NR_MSTART] = {
		.cmd = GMP_IOC_MSTART,
		.needs_instance = true,
		.fn = gmp_ioc_mstart,
	},
	[GMP_IOC_NR_GOEXIT] = {
		.cmd = GMP_IOC_GOEXIT,
		.needs_instance = true,
		.fn = gmp_ioc_goexit,
	},
	[GMP_IOC_NR_GOSCHED] = {
		.cmd = GMP_IOC_GOSCHED,
		.needs_instance = true,
		.fn = gmp_ioc_gosched,
	},
	[GMP_IOC_NR_WAKEP] = {
		.cmd = GMP_IOC_WAKEP,
		.needs_instance = true,
		.fn = gmp_ioc_wakep,
	},
	[GMP_IOC_NR_SCHEDULE] = {
		.cmd = GMP_IOC_SCHEDULE,
		.needs_instance = true,
		.fn = gmp_ioc_schedule,
	},
	[GMP_IOC_NR_NEWM] = {
		.cmd = GMP_IOC_NEWM,
		.needs_instance = true,
		.fn = gmp_ioc_newm,
	},
	[GMP_IOC_NR_PROCRESIZE] = {
		.cmd = GMP_IOC_PROCRESIZE,
		.needs_instance = true,
		.fn = gmp_ioc_procresize,
	},
	[GMP_IOC_NR_LOCKOSTHREAD] = {
		.cmd = GMP_IOC_LOCKOSTHREAD,
		.needs_instance = true,
		.fn = gmp_ioc_lockosthread,
	},
	[GMP_IOC_NR_NETPOLL_WAIT] = {
		.cmd = GMP_IOC_NETPOLL_WAIT,
		.needs_instance = true,
		.fn = gmp_ioc_netpoll_wait,
	},
	[GMP_IOC_NR_NETPOLL_CLOSE] = {
		.cmd = GMP_IOC_NETPOLL_CLOSE,
		.needs_instance = true,
		.fn = gmp_ioc_netpoll_close,
	},
};

/* Is the instance usable by the calling task? */
static int gmp_instance_access(struct gmp_sched *s)
{
	/* See the instance set up; pairs with gmp_ioc_create(). */
	if (!smp_load_acquire(&s->created))
		return -EBADFD;
	if (current->mm != s->mm)
		return -EPERM;
	return 0;
}

static long gmp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gmp_sched *s = file->private_data;
	const struct gmp_ioctl_def *def;
	unsigned int nr = _IOC_NR(cmd);
	struct gmp_m *m;
	long ret;

	BUILD_BUG_ON(ARRAY_SIZE(gmp_ioctls) != GMP_IOC_NR_LAST);
	if (_IOC_TYPE(cmd) != GMP_IOC_MAGIC || nr >= GMP_IOC_NR_LAST)
		return -ENOTTY;
	def = &gmp_ioctls[array_index_nospec(nr, GMP_IOC_NR_LAST)];
	if (cmd != def->cmd)
		return -ENOTTY;
	if (!def->needs_instance)
		return def->fn(s, arg);
	ret = gmp_instance_access(s);
	if (ret)
		return ret;
	/* An M blocked in here holds its P for the kernel's own use. */
	m = gmp_m_current(s);
	if (m)
		m->ingmp = true;
	ret = def->fn(s, arg);
	if (!m)		/* MSTART made the caller an M (set ingmp) */
		m = gmp_m_current(s);
	if (m)
		m->ingmp = false;
	return ret;
}

/* --- mmap, open, release --------------------------------------------- */

static int gmp_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct gmp_sched *s = file->private_data;
	struct gmp_region *r;
	int ret;

	if (vma->vm_pgoff >= GMP_OFF_STACKS >> PAGE_SHIFT)
		return gmp_stack_mmap(vma);
	ret = gmp_instance_access(s);
	if (ret)
		return ret;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	/* Kernel pages user space writes are never code, nor made so later. */
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	gmp_vma_flags_clear(vma, VM_MAYEXEC);
	if (vma->vm_pgoff == GMP_OFF_STATE >> PAGE_SHIFT) {
		r = &s->state_region;
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		gmp_vma_flags_clear(vma, VM_MAYWRITE);
	} else if (vma->vm_pgoff == GMP_OFF_RING >> PAGE_SHIFT) {
		r = &s->ring_region;
	} else if (vma->vm_pgoff == GMP_OFF_POLL >> PAGE_SHIFT) {
		/* Counts the kernel keeps; pages come with registrations. */
		r = &s->pollslot_region;
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		gmp_vma_flags_clear(vma, VM_MAYWRITE);
	} else if (vma->vm_pgoff == GMP_OFF_SCHED >> PAGE_SHIFT) {
		/* Pages come on first touch: the G table is mostly empty. */
		r = &s->sched_region;
		gmp_vma_flags_set(vma, VM_DONTDUMP);
	} else {
		return -EINVAL;
	}
	if (vma_pages(vma) > r->npages)
		return -EINVAL;
	/*
	 * A forked child gets no mapping rather than a shared scheduler; if
	 * MADV_DOFORK gives it one, gmp_vm_fault() serves it nothing.
	 */
	gmp_vma_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND);
	vma->vm_private_data = s;
	vma->vm_ops = &gmp_vm_ops;
	return 0;
}

static int gmp_open(struct inode *inode, struct file *file)
{
	struct gmp_sched *s = kzalloc(sizeof(*s), GMP_GFP);

	if (!s)
		return -ENOMEM;
	mutex_init(&s->setup_lock);
	s->file = file;
	file->private_data = s;
	return nonseekable_open(inode, file);
}

static int gmp_release(struct inode *inode, struct file *file)
{
	struct gmp_sched *s = file->private_data;

	if (s->created)
		gmp_instance_free(s);
	mutex_destroy(&s->setup_lock);
	kfree(s);
	return 0;
}

static const struct file_operations gmp_fops = {
	.owner = THIS_MODULE,
	.open = gmp_open,
	.release = gmp_release,
	.unlocked_ioctl = gmp_ioctl,
	.mmap = gmp_mmap,
};

static struct miscdevice gmp_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gmp",
	.fops = &gmp_fops,
	.mode = 0666,
};

static int __init gmp_init(void)
{
	int ret;

	gmp_trace_init();
	gmp_handoff_init();
	ret = misc_register(&gmp_misc);
	if (ret) {
		gmp_handoff_exit();
		gmp_trace_exit();
	}
	return ret;
}

static void __exit gmp_exit(void)
{
	misc_deregister(&gmp_misc);
	gmp_handoff_exit();
	gmp_trace_exit();
	WARN_ON_ONCE(!xa_empty(&gmp_users));
	xa_destroy(&gmp_users);
}

module_init(gmp_init);
module_exit(gmp_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The gmp developers");
MODULE_DESCRIPTION("Go's G/M/P goroutine scheduler, run by the kernel");
