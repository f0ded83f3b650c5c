// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for gmp's kernel-internal logic: frame checking and the
 * switch stub, spawn entry validation, instance parameters, the G table,
 * run queues fed honest and forged values, and findrunnable. Loaded after
 * gmp.ko on a kernel with CONFIG_KUNIT:
 *
 *   insmod gmp.ko && insmod gmp_kunit.ko   # KTAP results in dmesg
 *
 * vm/test.sh does this in the debug test kernel.
 */
#include <kunit/test.h>
#include <asm/prctl.h>
#include <linux/limits.h>
#include <linux/module.h>
#include <asm/processor-flags.h>
#include <asm/ptrace.h>
#include <asm/segment.h>

#include "gmp_core.h"
#include "gmp_frame.h"
#include "gmp_ring.h"
#include "gmp_runq.h"
#include "gmp_sched.h"
#include "gmp_shm.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

/* --- gmp_frame ------------------------------------------------------- */

static void gmp_user_addr_ok_test(struct kunit *test)
{
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(0));
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(PAGE_SIZE - 1));
	KUNIT_EXPECT_TRUE(test, gmp_user_addr_ok(PAGE_SIZE));
	KUNIT_EXPECT_TRUE(test, gmp_user_addr_ok(TASK_SIZE_MAX - 1));
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(TASK_SIZE_MAX));
	/*
	 * Non-canonical with 4- and 5-level paging alike, and kernel
	 * addresses (0x800000000000 is a user address under LA57).
	 */
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(0x0100000000000000UL));
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(0x8000000000000000UL));
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(0xff00000000000000UL));
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok((unsigned long)test));
	KUNIT_EXPECT_FALSE(test, gmp_user_addr_ok(ULONG_MAX));
}

static void gmp_frame_check_test(struct kunit *test)
{
	struct gmp_frame f = { .ip = 0x401000, .sp = 0x7ffc0000 };

	KUNIT_EXPECT_EQ(test, gmp_frame_check(&f), 0);
	f.ip = (unsigned long)gmp_frame_check;	/* a kernel text address */
	KUNIT_EXPECT_EQ(test, gmp_frame_check(&f), -EINVAL);
	f.ip = 0x401000;
	f.sp = 0xffff888000000000UL;
	KUNIT_EXPECT_EQ(test, gmp_frame_check(&f), -EINVAL);
}

static void gmp_frame_fill(struct gmp_frame *f, unsigned long seed)
{
	unsigned long *w = (unsigned long *)f;
	size_t i;

	for (i = 0; i < sizeof(*f) / sizeof(*w); i++)
		w[i] = seed + i * 0x1111;
	f->ip = 0x400000 + seed;
	f->sp = 0x7ff000000000UL + seed * 16;
}

/* The stub copies every register, in pt_regs order, and nothing else. */
static void gmp_arch_frame_roundtrip_test(struct kunit *test)
{
	struct pt_regs regs;
	struct gmp_frame in, out;

	memset(&regs, 0xa5, sizeof(regs));
	regs.cs = __USER_CS;
	regs.ss = __USER_DS;
	regs.orig_ax = 16;
	gmp_frame_fill(&in, 7);
	in.flags = X86_EFLAGS_CF | X86_EFLAGS_ZF | X86_EFLAGS_DF;

	KUNIT_ASSERT_EQ(test, gmp_frame_load(&regs, &in), 0);
	KUNIT_EXPECT_EQ(test, regs.r15, in.r15);
	KUNIT_EXPECT_EQ(test, regs.bx, in.bx);
	KUNIT_EXPECT_EQ(test, regs.ax, in.ax);
	KUNIT_EXPECT_EQ(test, regs.di, in.di);
	KUNIT_EXPECT_EQ(test, regs.ip, in.ip);
	KUNIT_EXPECT_EQ(test, regs.sp, in.sp);
	KUNIT_EXPECT_EQ(test, regs.flags, in.flags | X86_EFLAGS_IF |
					  X86_EFLAGS_FIXED);
	/* Never from a frame: segments; and the syscall is not restartable. */
	KUNIT_EXPECT_EQ(test, regs.cs, (unsigned long)__USER_CS);
	KUNIT_EXPECT_EQ(test, regs.ss, (unsigned long)__USER_DS);
	KUNIT_EXPECT_EQ(test, regs.orig_ax, -1UL);

	gmp_frame_save(&regs, &out);
	KUNIT_EXPECT_EQ(test, memcmp(&out, &in, offsetof(struct gmp_frame, flags)), 0);
	KUNIT_EXPECT_EQ(test, out.sp, in.sp);
}

/* RFLAGS: only arithmetic flags, DF and AC survive; IF is forced on. */
static void gmp_arch_frame_flags_test(struct kunit *test)
{
	struct pt_regs regs = {};
	struct gmp_frame f;

	gmp_frame_fill(&f, 1);
	f.flags = ~0UL;
	KUNIT_ASSERT_EQ(test, gmp_frame_load(&regs, &f), 0);
	KUNIT_EXPECT_EQ(test, regs.flags,
			(unsigned long)(GMP_EFLAGS_USER | GMP_EFLAGS_ALWAYS));
	KUNIT_EXPECT_FALSE(test, regs.flags & X86_EFLAGS_IOPL);
	KUNIT_EXPECT_FALSE(test, regs.flags & X86_EFLAGS_TF);
	KUNIT_EXPECT_FALSE(test, regs.flags & X86_EFLAGS_NT);
	KUNIT_EXPECT_FALSE(test, regs.flags & X86_EFLAGS_VM);

	f.flags = 0;
	KUNIT_ASSERT_EQ(test, gmp_frame_load(&regs, &f), 0);
	KUNIT_EXPECT_EQ(test, regs.flags, (unsigned long)GMP_EFLAGS_ALWAYS);
}

/* A frame that fails the check leaves pt_regs untouched. */
static void gmp_frame_load_rejects_test(struct kunit *test)
{
	struct pt_regs regs, before;
	struct gmp_frame f;

	memset(&regs, 0x5a, sizeof(regs));
	before = regs;
	gmp_frame_fill(&f, 3);
	f.ip = 0xffffffff81000000UL;
	KUNIT_EXPECT_EQ(test, gmp_frame_load(&regs, &f), -EINVAL);
	KUNIT_EXPECT_EQ(test, memcmp(&regs, &before, sizeof(regs)), 0);
}

/*
 * The stack mapping's guards come from its offset alone: in slots of
 * guard + stack pages, the first guard pages of each, wherever the
 * mapping starts and however many slots it has.
 */
static void gmp_stack_guard_page_test(struct kunit *test)
{
	u64 base = GMP_OFF_STACKS_LAYOUT(16, 16) >> PAGE_SHIFT;
	u64 odd = GMP_OFF_STACKS_LAYOUT(3, 1) >> PAGE_SHIFT;
	u64 big = GMP_OFF_STACKS_LAYOUT(0xffff, 0xff) >> PAGE_SHIFT;
	unsigned long slot;

	for (slot = 0; slot < 64; slot++) {
		KUNIT_EXPECT_TRUE(test, gmp_stack_guard_page(base + slot * 32));
		KUNIT_EXPECT_TRUE(test,
				  gmp_stack_guard_page(base + slot * 32 + 15));
		KUNIT_EXPECT_FALSE(test,
				   gmp_stack_guard_page(base + slot * 32 + 16));
		KUNIT_EXPECT_FALSE(test,
				   gmp_stack_guard_page(base + slot * 32 + 31));
		KUNIT_EXPECT_TRUE(test, gmp_stack_guard_page(odd + slot * 4));
		KUNIT_EXPECT_FALSE(test,
				   gmp_stack_guard_page(odd + slot * 4 + 3));
	}
	/* The largest layout: 64 slots of 65,790 pages fit the offset. */
	KUNIT_EXPECT_TRUE(test, gmp_stack_guard_page(big + 63 * 65790UL));
	KUNIT_EXPECT_FALSE(test,
			   gmp_stack_guard_page(big + 63 * 65790UL + 255));
}

static struct kunit_case gmp_frame_cases[] = {
	KUNIT_CASE(gmp_stack_guard_page_test),
	KUNIT_CASE(gmp_user_addr_ok_test),
	KUNIT_CASE(gmp_frame_check_test),
	KUNIT_CASE(gmp_arch_frame_roundtrip_test),
	KUNIT_CASE(gmp_arch_frame_flags_test),
	KUNIT_CASE(gmp_frame_load_rejects_test),
	{}
};

static struct kunit_suite gmp_frame_suite = {
	.name = "gmp_frame",
	.test_cases = gmp_frame_cases,
};

/* --- gmp_spawn ------------------------------------------------------- */

static void gmp_spawn_check_test(struct kunit *test)
{
	struct gmp_spawn sp = { .gidx = 1 };

	KUNIT_EXPECT_EQ(test, gmp_spawn_check(&sp, 2), 0);
	sp.flags = GMP_SPAWN_MAIN;
	KUNIT_EXPECT_EQ(test, gmp_spawn_check(&sp, 2), 0);
	sp.gidx = 1023;
	KUNIT_EXPECT_EQ(test, gmp_spawn_check(&sp, 1024), 0);

#define EXPECT_BAD(field_change) do {					\
		sp = (struct gmp_spawn){ .gidx = 5 };			\
		field_change;						\
		KUNIT_EXPECT_EQ_MSG(test, gmp_spawn_check(&sp, 1024), -EINVAL, \
				    "accepted: " #field_change);	\
	} while (0)

	EXPECT_BAD(sp.flags = 1U << 31);
	EXPECT_BAD(sp.resv = 1);
	EXPECT_BAD(sp.gidx = 0);
	EXPECT_BAD(sp.gidx = 1024);
	EXPECT_BAD(sp.gidx = U32_MAX);
#undef EXPECT_BAD
}

/* The resume convention: pc, sp, arg, the P and the index; nothing else. */
static void gmp_resume_frame_test(struct kunit *test)
{
	struct gmp_gslot gs = {
		.pc = 0x401000,
		.sp = 0x7f0000010000UL,
		.arg = 0x1234,
		.goid = 99,
		.status = GMP_GRUNNABLE,
	};
	struct gmp_frame f;

	memset(&f, 0xff, sizeof(f));
	gmp_resume_frame(&gs, 42, 3, &f);
	KUNIT_EXPECT_EQ(test, f.ip, 0x401000UL);
	KUNIT_EXPECT_EQ(test, f.sp, 0x7f0000010000UL);
	KUNIT_EXPECT_EQ(test, f.di, 0x1234UL);
	KUNIT_EXPECT_EQ(test, f.si, 3UL);
	KUNIT_EXPECT_EQ(test, f.dx, 42UL);
	KUNIT_EXPECT_EQ(test, f.ax | f.bx | f.cx | f.bp | f.r8 | f.r9 | f.r10 |
			f.r11 | f.r12 | f.r13 | f.r14 | f.r15, 0UL);
	KUNIT_EXPECT_EQ(test, f.flags, (unsigned long)GMP_EFLAGS_ALWAYS);
	KUNIT_EXPECT_EQ(test, gmp_frame_check(&f), 0);

	/* A forged slot builds a frame the check refuses. */
	gs.sp = 0xffff888000000000UL;
	gmp_resume_frame(&gs, 42, 3, &f);
	KUNIT_EXPECT_EQ(test, gmp_frame_check(&f), -EINVAL);
}

static struct kunit_case gmp_spawn_cases[] = {
	KUNIT_CASE(gmp_spawn_check_test),
	KUNIT_CASE(gmp_resume_frame_test),
	{}
};

static struct kunit_suite gmp_spawn_suite = {
	.name = "gmp_spawn",
	.test_cases = gmp_spawn_cases,
};

/* --- gmp_create ------------------------------------------------------ */

static void gmp_create_defaults_test(struct kunit *test)
{
	struct gmp_create c = { .size = sizeof(c) };
	u64 gtab_off;

	KUNIT_ASSERT_EQ(test, gmp_create_check(&c), 0);
	KUNIT_EXPECT_EQ(test, c.nprocs, num_online_cpus());
	KUNIT_EXPECT_EQ(test, c.maxmcount, (u32)GMP_MAXMCOUNT_DEFAULT);
	KUNIT_EXPECT_EQ(test, c.ring_entries, (u32)GMP_RING_ENTRIES_DEFAULT);
	KUNIT_EXPECT_EQ(test, c.maxg, (u32)GMP_MAXG_DEFAULT);
	KUNIT_EXPECT_EQ(test, c.state_size, (u64)PAGE_SIZE);
	KUNIT_EXPECT_GE(test, c.ring_size, (u64)(GMP_RING_SPAWN_OFF +
			GMP_RING_ENTRIES_DEFAULT * sizeof(struct gmp_spawn)));
	KUNIT_EXPECT_TRUE(test, c.features & GMP_FEAT_SPAWN_RING);
	KUNIT_EXPECT_TRUE(test, c.features & GMP_FEAT_USER_RUNQ);
	KUNIT_EXPECT_TRUE(test, c.features & GMP_FEAT_PREEMPT);
	KUNIT_EXPECT_EQ(test, !!(c.features & GMP_FEAT_HANDOFF),
			IS_ENABLED(CONFIG_PREEMPT_NOTIFIERS));
	KUNIT_EXPECT_EQ(test, c.slice_us, (u32)GMP_SLICE_US_DEFAULT);
	KUNIT_EXPECT_EQ(test, c.preempt_pc, 0ULL);
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(c.gtab_off, PAGE_SIZE));
	KUNIT_EXPECT_GE(test, c.maxprocs, c.nprocs);
	KUNIT_EXPECT_GE(test, c.maxprocs, num_possible_cpus());
	KUNIT_EXPECT_GE(test, c.gtab_off,
			(u64)c.maxprocs * sizeof(struct gmp_pshared));
	KUNIT_EXPECT_EQ(test, c.sched_size,
			gmp_sched_area_size(c.maxprocs, c.maxg, &gtab_off));
	KUNIT_EXPECT_EQ(test, c.sched_size,
			c.gtab_off + (u64)c.maxg * sizeof(struct gmp_gslot));
}

static void gmp_create_bad_test(struct kunit *test)
{
	struct gmp_create c;

#define EXPECT_BAD(field_change) do {					\
		memset(&c, 0, sizeof(c));				\
		field_change;						\
		KUNIT_EXPECT_EQ_MSG(test, gmp_create_check(&c), -EINVAL,	\
				    "accepted: " #field_change);	\
	} while (0)

	EXPECT_BAD(c.flags = 1);
	EXPECT_BAD(c.resv0 = 1);
	EXPECT_BAD(c.resv = 1);
	EXPECT_BAD(c.features = 1);
	EXPECT_BAD(c.ring_size = 4096);
	EXPECT_BAD(c.sched_size = 4096);
	EXPECT_BAD(c.gtab_off = 4096);
	EXPECT_BAD(c.nprocs = GMP_NPROCS_MAX + 1);
	EXPECT_BAD(c.maxmcount = GMP_MAXMCOUNT_MAX + 1);
	EXPECT_BAD(c.ring_entries = 3);
	EXPECT_BAD(c.ring_entries = GMP_RING_ENTRIES_MAX * 2);
	EXPECT_BAD(c.maxg = 1);
	EXPECT_BAD(c.maxg = GMP_MAXG_MAX + 1);
	EXPECT_BAD(c.nprocs = 4; c.maxprocs = 2);
	EXPECT_BAD(c.maxprocs = GMP_NPROCS_MAX + 1);
	EXPECT_BAD(c.resv1 = 1);
	EXPECT_BAD(c.slice_us = GMP_SLICE_US_MIN - 1);
	EXPECT_BAD(c.slice_us = GMP_SLICE_US_MAX + 1);
	EXPECT_BAD(c.preempt_pc = 1);
	EXPECT_BAD(c.preempt_pc = TASK_SIZE_MAX);
	EXPECT_BAD(c.preempt_pc = (u64)gmp_create_check);
#undef EXPECT_BAD
}

/* --- The preemption call: where it may go ------------------------------ */

static void gmp_preempt_regs(struct pt_regs *regs, unsigned long sp)
{
	memset(regs, 0, sizeof(*regs));
	regs->cs = __USER_CS;
	regs->ss = __USER_DS;
	regs->sp = sp;
	regs->ip = 0x401000;
	regs->orig_ax = -1;	/* came from an interrupt */
}

static void gmp_preempt_frame_test(struct kunit *test)
{
	struct pt_regs regs;
	unsigned long sp = 0;

	/* Below the red zone, 8 bytes for the return address. */
	gmp_preempt_regs(&regs, 0x7ffd0008);
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), 0);
	KUNIT_EXPECT_EQ(test, sp, 0x7ffd0008UL - GMP_PREEMPT_REDZONE - 8);

	/* A system call that returns normally can take it... */
	regs.orig_ax = 16;
	regs.ax = (unsigned long)-EINTR;
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), 0);
	/* ...one the signal code will restart (rewinding rip) cannot. */
	regs.ax = (unsigned long)-ERESTARTSYS;
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EAGAIN);
	regs.ax = (unsigned long)-ERESTART_RESTARTBLOCK;
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EAGAIN);

	/* A thread being single-stepped is left to its debugger. */
	gmp_preempt_regs(&regs, 0x7ffd0008);
	regs.flags |= X86_EFLAGS_TF;
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EAGAIN);

	/* No stub, or not a user frame. */
	gmp_preempt_regs(&regs, 0x7ffd0008);
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0, &sp), -EINVAL);
	regs.cs = __KERNEL_CS;
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EINVAL);

	/* Stacks that are no user addresses, or would wrap. */
	gmp_preempt_regs(&regs, 64);
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EFAULT);
	gmp_preempt_regs(&regs, 4096 + 64);
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EFAULT);
	gmp_preempt_regs(&regs, TASK_SIZE_MAX + 4096);
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EFAULT);
	gmp_preempt_regs(&regs, -8UL);
	KUNIT_EXPECT_EQ(test, gmp_preempt_frame(&regs, 0x402000, &sp), -EFAULT);
}

/*
 * A thread with a user shadow stack is refused (CREATE, MSTART). The test
 * thread has none; the flag is set on it only for the check's look.
 */
static void gmp_shstk_refused_test(struct kunit *test)
{
#ifdef CONFIG_X86_USER_SHADOW_STACK
	unsigned long saved = current->thread.features;
	int ret;

	KUNIT_EXPECT_EQ(test, gmp_thread_check(), 0);
	current->thread.features |= ARCH_SHSTK_SHSTK;
	ret = gmp_thread_check();
	current->thread.features = saved;
	KUNIT_EXPECT_EQ(test, ret, -EOPNOTSUPP);
#else
	KUNIT_EXPECT_EQ(test, gmp_thread_check(), 0);
	kunit_skip(test, "no CONFIG_X86_USER_SHADOW_STACK: no thread has one");
#endif
}

static struct kunit_case gmp_create_cases[] = {
	KUNIT_CASE(gmp_create_defaults_test),
	KUNIT_CASE(gmp_create_bad_test),
	KUNIT_CASE(gmp_preempt_frame_test),
	KUNIT_CASE(gmp_shstk_refused_test),
	{}
};

static struct kunit_suite gmp_create_suite = {
	.name = "gmp_create",
	.test_cases = gmp_create_cases,
};

/* --- gmp_runq -------------------------------------------------------- */

#define NG	600	/* more G's than a local queue and a half can hold */
#define MAXG	1024	/* G table pages 0-9 touched, the rest not */
#define FAR_G	(MAXG - 1)	/* a G index on an untouched page */

struct runq_fixture {
	struct gmp_sched s;
	struct gmp_p *p[2];
};

/*
 * An instance's scheduler without a process: two P's with their public
 * halves, a G table of MAXG slots with indices 1..NG on touched pages.
 */
static int runq_fixture_setup(struct kunit *test, struct runq_fixture *fx)
{
	struct gmp_sched *s = &fx->s;
	unsigned int pg;
	int ret;

	ret = gmp_sched_init(s, 2, 2, 2);
	if (!ret)
		ret = gmp_gtab_init(s, 2, MAXG);
	if (ret)
		return ret;
	/* The state page, where the global queue's length is published. */
	s->state = kunit_kzalloc(test, sizeof(*s->state), GFP_KERNEL);
	if (!s->state)
		return -ENOMEM;
	fx->p[0] = s->allp[0];
	fx->p[1] = s->allp[1];
	fx->p[0]->sh = (struct gmp_pshared *)s->sched_region.vaddr;
	fx->p[1]->sh = fx->p[0]->sh + 1;
	for (pg = 0; pg <= NG / GMP_GSLOTS_PER_PAGE; pg++)
		if (!gmp_gtab_populate(s, s->gtab_pgoff + pg, GMP_GFP))
			return -ENOMEM;
	return 0;
}

static void runq_fixture_teardown(struct runq_fixture *fx)
{
	gmp_sched_destroy(&fx->s);
	gmp_gtab_destroy(&fx->s);
}

static int gmp_runq_init(struct kunit *test)
{
	struct runq_fixture *fx = kunit_kzalloc(test, sizeof(*fx), GFP_KERNEL);

	if (!fx)
		return -ENOMEM;
	test->priv = fx;
	return runq_fixture_setup(test, fx);
}

static void gmp_runq_exit(struct kunit *test)
{
	runq_fixture_teardown(test->priv);
}

/* Pop the global queue in order, under its lock. */
static u32 globrunq_pop(struct runq_fixture *fx)
{
	struct gmp_sched *s = &fx->s;
	u32 gidx;

	spin_lock(&s->lock);
	gidx = s->runqsize ? gmp_globrunqget(s, fx->p[1], 1) : 0;
	spin_unlock(&s->lock);
	return gidx;
}

static void gmp_gtab_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->s;
	struct gmp_gslot *gs;
	struct gmp_gk *gk = NULL;

	KUNIT_EXPECT_NULL(test, gmp_gslot(s, 0, NULL));
	KUNIT_EXPECT_NULL(test, gmp_gslot(s, MAXG, NULL));
	KUNIT_EXPECT_NULL(test, gmp_gslot(s, U32_MAX, NULL));
	KUNIT_EXPECT_NULL(test, gmp_gslot(s, FAR_G, NULL));
	gs = gmp_gslot(s, 65, &gk);
	KUNIT_ASSERT_NOT_NULL(test, gs);
	KUNIT_ASSERT_NOT_NULL(test, gk);
	KUNIT_EXPECT_EQ(test, gk->gidx, 65U);
	KUNIT_EXPECT_EQ(test, atomic_read(&gk->kstate), GMP_GK_NONE);
	KUNIT_EXPECT_PTR_EQ(test, gs + 1, gmp_gslot(s, 66, NULL));
	/* A populated page stays; beyond the area there are no pages. */
	KUNIT_EXPECT_NOT_NULL(test, gmp_gtab_populate(s, s->gtab_pgoff, GMP_GFP));
	KUNIT_EXPECT_NULL(test, gmp_gtab_populate(s, s->sched_region.npages, GMP_GFP));
	/* Touching the far page makes its indices goroutines. */
	KUNIT_ASSERT_NOT_NULL(test, gmp_gtab_populate(s, s->gtab_pgoff +
						      FAR_G / GMP_GSLOTS_PER_PAGE,
						      GMP_GFP));
	KUNIT_EXPECT_NOT_NULL(test, gmp_gslot(s, FAR_G, NULL));
}

static void gmp_runq_fifo_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = fx->p[0];
	bool inherit;
	u32 i;

	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
	KUNIT_EXPECT_TRUE(test, gmp_runqempty_hint(pp));
	KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), 0U);
	for (i = 1; i <= 10; i++)
		gmp_runqput(&fx->s, pp, i, false);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 10U);
	KUNIT_EXPECT_FALSE(test, gmp_runqempty_hint(pp));
	for (i = 1; i <= 10; i++) {
		KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), i);
		KUNIT_EXPECT_FALSE(test, inherit);
	}
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
}

/* runnext: the newest G runs first and inherits; the old one is queued. */
static void gmp_runq_runnext_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = fx->p[0];
	bool inherit;

	gmp_runqput(&fx->s, pp, 1, false);
	gmp_runqput(&fx->s, pp, 2, true);
	gmp_runqput(&fx->s, pp, 3, true);
	KUNIT_EXPECT_EQ(test, pp->sh->runnext, 3U);
	KUNIT_EXPECT_FALSE(test, gmp_runqempty(pp));
	KUNIT_EXPECT_FALSE(test, gmp_runqempty_hint(pp));

	KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), 3U);
	KUNIT_EXPECT_TRUE(test, inherit);
	KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), 1U);
	KUNIT_EXPECT_FALSE(test, inherit);
	KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), 2U);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
}

/*
 * The 257th put spills half the queue plus the new G to the global queue
 * (runqputslow), in order; with head and tail about to wrap around.
 */
static void gmp_runq_overflow_wrap_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = fx->p[0];
	bool inherit;
	u32 i, bad = 0;

	pp->sh->runqhead = U32_MAX - 100;
	pp->sh->runqtail = U32_MAX - 100;
	for (i = 1; i <= GMP_RUNQ_SIZE; i++)
		gmp_runqput(&fx->s, pp, i, false);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), (u32)GMP_RUNQ_SIZE);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 0U);

	gmp_runqput(&fx->s, pp, GMP_RUNQ_SIZE + 1, false);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), (u32)GMP_RUNQ_SIZE / 2);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, (u32)GMP_RUNQ_SIZE / 2 + 1);
	KUNIT_EXPECT_EQ(test, fx->s.state->runqsize, fx->s.runqsize);
	/* Global: 1..128 then 257; local: 129..256. Count, then assert. */
	for (i = 1; i <= GMP_RUNQ_SIZE / 2; i++)
		bad += globrunq_pop(fx) != i;
	KUNIT_EXPECT_EQ(test, bad, 0U);
	KUNIT_EXPECT_EQ(test, globrunq_pop(fx), (u32)GMP_RUNQ_SIZE + 1);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 0U);
	KUNIT_EXPECT_EQ(test, fx->s.state->runqsize, 0U);
	for (i = GMP_RUNQ_SIZE / 2 + 1; i <= GMP_RUNQ_SIZE; i++)
		bad += gmp_runqget(&fx->s, pp, &inherit) != i;
	KUNIT_EXPECT_EQ(test, bad, 0U);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
	KUNIT_EXPECT_EQ(test, atomic64_read(&fx->s.nbadg), 0LL);
}

/* A thief takes half (rounded up), oldest first, and runs the last. */
static void gmp_runq_steal_half_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *victim = fx->p[0], *thief = fx->p[1];
	bool inherit;
	u32 i;

	victim->sh->runqhead = U32_MAX - 2;	/* wraps */
	victim->sh->runqtail = U32_MAX - 2;
	for (i = 1; i <= 9; i++)
		gmp_runqput(&fx->s, victim, i, false);
	KUNIT_EXPECT_EQ(test, gmp_runqsteal(thief, victim, false), 5U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(victim), 4U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(thief), 4U);
	for (i = 1; i <= 4; i++)
		KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, thief, &inherit), i);
	for (i = 6; i <= 9; i++)
		KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, victim, &inherit), i);
}

/* runnext is stolen only when asked and when the queue is empty. */
static void gmp_runq_steal_runnext_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *victim = fx->p[0], *thief = fx->p[1];

	gmp_runqput(&fx->s, victim, 7, true);
	KUNIT_EXPECT_EQ(test, gmp_runqsteal(thief, victim, false), 0U);
	KUNIT_EXPECT_EQ(test, victim->sh->runnext, 7U);
	KUNIT_EXPECT_EQ(test, gmp_runqsteal(thief, victim, true), 7U);
	KUNIT_EXPECT_EQ(test, victim->sh->runnext, 0U);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(victim));
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(thief));
}

/* globrunqget takes a fair share (size/nprocs + 1) and bounds by max. */
static void gmp_globrunq_share_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->s;
	struct gmp_p *pp = fx->p[0];
	u32 i;

	spin_lock(&s->lock);
	KUNIT_EXPECT_EQ(test, gmp_globrunqget(s, pp, 0), 0U);
	for (i = 1; i <= 10; i++)
		gmp_globrunqput_locked(s, i);
	KUNIT_EXPECT_EQ(test, gmp_globrunqget(s, pp, 1), 1U);
	KUNIT_EXPECT_EQ(test, s->runqsize, 9U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 0U);

	KUNIT_EXPECT_EQ(test, gmp_globrunqget(s, pp, 0), 2U);	/* 9 / 2 + 1 */
	KUNIT_EXPECT_EQ(test, s->runqsize, 4U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 4U);
	spin_unlock(&s->lock);
	/* Taken off the global queue: free to be linked again. */
	KUNIT_EXPECT_TRUE(test, gmp_globrunqput(s, 1));
	KUNIT_EXPECT_EQ(test, s->runqsize, 5U);
}

/* Never more than the local queue has room for. */
static void gmp_globrunq_room_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->s;
	struct gmp_p *pp = fx->p[0];
	u32 i;

	for (i = 1; i <= GMP_RUNQ_SIZE - 2; i++)
		gmp_runqput(s, pp, i, false);
	spin_lock(&s->lock);
	for (i = 300; i < 500; i++)
		gmp_globrunqput_locked(s, i);
	KUNIT_EXPECT_EQ(test, gmp_globrunqget(s, pp, 0), 300U);
	spin_unlock(&s->lock);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), (u32)GMP_RUNQ_SIZE);
	KUNIT_EXPECT_EQ(test, s->runqsize, 200U - 3);
}

/* Indices that are no goroutine, or already linked, are never linked. */
static void gmp_globrunq_forged_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->s;
	bool put[4];

	KUNIT_EXPECT_FALSE(test, gmp_globrunqput(s, 0));
	KUNIT_EXPECT_FALSE(test, gmp_globrunqput(s, MAXG));
	KUNIT_EXPECT_FALSE(test, gmp_globrunqput(s, U32_MAX));
	KUNIT_EXPECT_FALSE(test, gmp_globrunqput(s, FAR_G));
	KUNIT_EXPECT_EQ(test, s->runqsize, 0U);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s->nbadg), 4LL);

	KUNIT_EXPECT_TRUE(test, gmp_globrunqput(s, 9));
	KUNIT_EXPECT_FALSE(test, gmp_globrunqput(s, 9));
	KUNIT_EXPECT_EQ(test, s->runqsize, 1U);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s->nbadg), 5LL);
	KUNIT_EXPECT_EQ(test, globrunq_pop(fx), 9U);
	KUNIT_EXPECT_EQ(test, globrunq_pop(fx), 0U);

	/*
	 * Each put answers for itself, not from the shared drop count. The
	 * answers are checked after the unlock: a failing expectation
	 * allocates, which sched.lock does not allow.
	 */
	spin_lock(&s->lock);
	put[0] = gmp_globrunqput_locked(s, 9);
	put[1] = gmp_globrunqput_locked(s, 9);
	put[2] = gmp_globrunqput_locked(s, FAR_G);
	put[3] = gmp_globrunqput_locked(s, 10);
	spin_unlock(&s->lock);
	KUNIT_EXPECT_TRUE(test, put[0]);
	KUNIT_EXPECT_FALSE(test, put[1]);
	KUNIT_EXPECT_FALSE(test, put[2]);
	KUNIT_EXPECT_TRUE(test, put[3]);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s->nbadg), 7LL);
	KUNIT_EXPECT_EQ(test, globrunq_pop(fx), 9U);
	KUNIT_EXPECT_EQ(test, globrunq_pop(fx), 10U);
}

/*
 * A head/tail pair no queue can have: empty to every reader, emptied by
 * the owner (counted), and usable again afterwards.
 */
static void gmp_runq_corrupt_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = fx->p[0];
	bool inherit;

	pp->sh->runqhead = 10;
	pp->sh->runqtail = 10 + 1000;
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 0U);
	KUNIT_EXPECT_EQ(test, gmp_runqsteal(fx->p[1], pp, true), 0U);
	KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), 0U);
	KUNIT_EXPECT_EQ(test, atomic64_read(&fx->s.nbadg), 1LL);
	KUNIT_EXPECT_EQ(test, pp->sh->runqhead, pp->sh->runqtail);

	gmp_runqput(&fx->s, pp, 5, false);
	KUNIT_EXPECT_EQ(test, gmp_runqget(&fx->s, pp, &inherit), 5U);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
}

/* A put on a queue whose tail is forged goes to the global queue. */
static void gmp_runq_corrupt_put_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = fx->p[0];

	pp->sh->runqhead = 0;
	pp->sh->runqtail = 5000;
	gmp_runqput(&fx->s, pp, 6, false);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 1U);
	KUNIT_EXPECT_EQ(test, globrunq_pop(fx), 6U);
}

static struct kunit_case gmp_runq_cases[] = {
	KUNIT_CASE(gmp_gtab_test),
	KUNIT_CASE(gmp_runq_fifo_test),
	KUNIT_CASE(gmp_runq_runnext_test),
	KUNIT_CASE(gmp_runq_overflow_wrap_test),
	KUNIT_CASE(gmp_runq_steal_half_test),
	KUNIT_CASE(gmp_runq_steal_runnext_test),
	KUNIT_CASE(gmp_globrunq_share_test),
	KUNIT_CASE(gmp_globrunq_room_test),
	KUNIT_CASE(gmp_globrunq_forged_test),
	KUNIT_CASE(gmp_runq_corrupt_test),
	KUNIT_CASE(gmp_runq_corrupt_put_test),
	{}
};

static struct kunit_suite gmp_runq_suite = {
	.name = "gmp_runq",
	.init = gmp_runq_init,
	.exit = gmp_runq_exit,
	.test_cases = gmp_runq_cases,
};

/* --- gmp_findrunnable -------------------------------------------------- */

struct sched_fixture {
	struct runq_fixture rq;
	struct gmp_m m;
};

static int gmp_sched_suite_init(struct kunit *test)
{
	struct sched_fixture *fx = kunit_kzalloc(test, sizeof(*fx), GFP_KERNEL);
	struct gmp_sched *s;
	int ret;

	if (!fx)
		return -ENOMEM;
	test->priv = fx;
	ret = runq_fixture_setup(test, &fx->rq);
	if (ret)
		return ret;
	s = &fx->rq.s;
	ret = gmp_region_alloc(&s->ring_region, PAGE_SIZE, PAGE_SIZE);
	if (ret)
		return ret;
	s->ring = s->ring_region.vaddr;
	s->ring->entries = 8;
	s->ring->mask = 7;
	s->spawn = s->ring_region.vaddr + GMP_RING_SPAWN_OFF;
	s->ring_entries = 8;
	fx->m.p = fx->rq.p[0];
	return 0;
}

static void gmp_sched_suite_exit(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;

	gmp_region_free(&fx->rq.s.ring_region);
	runq_fixture_teardown(&fx->rq);
}

/* Every 61st schedtick the global queue goes before the local one. */
static void gmp_findrunnable_global_tick_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_p *pp = fx->rq.p[0];
	bool inherit;

	gmp_runqput(s, pp, 1, false);
	gmp_globrunqput(s, 2);

	pp->sh->schedtick = 62;
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 1U);
	gmp_runqput(s, pp, 1, false);
	pp->sh->schedtick = 61;
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 2U);
	KUNIT_EXPECT_FALSE(test, inherit);
	pp->sh->schedtick = 122;
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 1U);
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 0U);
}

/* runnext, local, global, then stealing from the other P. */
static void gmp_findrunnable_order_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_p *pp = fx->rq.p[0], *other = fx->rq.p[1];
	bool inherit;

	gmp_runqput(s, pp, 1, false);
	gmp_runqput(s, pp, 2, true);
	gmp_globrunqput(s, 3);
	gmp_runqput(s, other, 4, false);
	gmp_runqput(s, other, 5, false);
	pp->sh->schedtick = 1;

	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 2U);
	KUNIT_EXPECT_TRUE(test, inherit);
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 1U);
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 3U);
	/* Steals one of two: half, rounded up. */
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 4U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(other), 1U);
}

/*
 * The last stealing pass looks at every other P's runnext: one G there
 * and nowhere else is found every time, whatever the random start.
 */
static void gmp_findrunnable_steal_runnext_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_p *pp = fx->rq.p[0], *other = fx->rq.p[1];
	unsigned int round, found = 0;
	bool inherit;

	pp->sh->schedtick = 1;
	for (round = 0; round < 32; round++) {
		gmp_runqput(s, other, 6, true);
		found += gmp_findrunnable(s, &fx->m, &inherit) == 6;
		WRITE_ONCE(other->sh->runnext, 0);
	}
	KUNIT_EXPECT_EQ(test, found, 32U);
}

/* Ring entries make their G's runnable in runnext, newest first. */
static void gmp_findrunnable_ring_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	bool inherit;

	s->spawn[0] = (struct gmp_spawn){ .gidx = 11 };
	s->spawn[1] = (struct gmp_spawn){ .gidx = 12 };
	s->ring->tail = 2;
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 12U);
	KUNIT_EXPECT_EQ(test, gmp_gslot(s, 11, NULL)->status,
			(u32)GMP_GRUNNABLE);
	KUNIT_EXPECT_EQ(test, s->ring_head, 2U);
	KUNIT_EXPECT_EQ(test, s->ring->head, 2U);
	KUNIT_EXPECT_EQ(test, s->nspawned, 2ULL);
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 11U);

	/* Junk is dropped and counted, never queued. */
	s->spawn[2] = (struct gmp_spawn){ .gidx = FAR_G };
	s->spawn[3] = (struct gmp_spawn){ .gidx = 13, .resv = 1 };
	s->ring->tail = 4;
	KUNIT_EXPECT_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), 0U);
	KUNIT_EXPECT_EQ(test, s->nbadspawn, 2ULL);
	KUNIT_EXPECT_EQ(test, s->ring->head, 4U);
}

/*
 * sysmon read P0's M, then that M's state word, without the lock; in
 * between, the M gave P0 up, took P1 and blocked again. The claim must
 * not take P0 (nor P1 under P0's name) on the strength of that word.
 */
static void gmp_handoffp_wrong_p_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_p *p0 = fx->rq.p[0], *p1 = fx->rq.p[1];
	int v = GMP_MSTATE_SEQ | GMP_MSYSCALL;

	fx->m.p = p1;
	atomic_set(&fx->m.sysstate, v);
	p0->sh->curg = 7;
	KUNIT_EXPECT_FALSE(test, gmp_handoffp(s, &fx->m, p0, v));
	KUNIT_EXPECT_EQ(test, atomic_read(&fx->m.sysstate), v);
	KUNIT_EXPECT_PTR_EQ(test, fx->m.p, p1);
	KUNIT_EXPECT_EQ(test, p0->sh->curg, 7U);
	KUNIT_EXPECT_EQ(test, fx->m.syscallg, 0U);
	KUNIT_EXPECT_EQ(test, atomic64_read(&s->nhandoff), 0LL);
}

/*
 * sysmon gives an idle P to a wired M whose goroutine waits on the global
 * queue: the goroutine leaves the queue with it, from wherever it is in
 * it; an M whose goroutine is not queued (any more) is dropped from the
 * list and given nothing.
 */
static void gmp_startlockedm_idle_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_m *m = &fx->m;
	struct gmp_gk *gk;

	INIT_LIST_HEAD(&m->lockedwait);
	init_waitqueue_head(&m->park);
	m->p = NULL;
	KUNIT_ASSERT_EQ(test, s->npidle, 2U);
	KUNIT_ASSERT_NOT_NULL(test, gmp_gslot(s, 3, &gk));

	/* Not queued: dropped, nothing handed. */
	m->lockedg = 3;
	WRITE_ONCE(gk->lockedm, m);
	list_add_tail(&m->lockedwait, &s->lockedwait);
	KUNIT_EXPECT_FALSE(test, gmp_startlockedm_idle(s));
	KUNIT_EXPECT_TRUE(test, list_empty(&m->lockedwait));
	KUNIT_EXPECT_NULL(test, m->nextp);

	gmp_globrunqput(s, 4);
	gmp_globrunqput(s, 3);
	gmp_globrunqput(s, 5);
	list_add_tail(&m->lockedwait, &s->lockedwait);
	KUNIT_EXPECT_TRUE(test, gmp_startlockedm_idle(s));
	KUNIT_EXPECT_NOT_NULL(test, m->nextp);
	KUNIT_EXPECT_EQ(test, m->nextg, 3U);
	KUNIT_EXPECT_TRUE(test, list_empty(&m->lockedwait));
	KUNIT_EXPECT_EQ(test, s->npidle, 1U);
	KUNIT_EXPECT_EQ(test, s->runqsize, 2U);
	KUNIT_EXPECT_EQ(test, atomic_read(&gk->kstate), (int)GMP_GK_NONE);
	KUNIT_EXPECT_EQ(test, globrunq_pop(&fx->rq), 4U);
	KUNIT_EXPECT_EQ(test, globrunq_pop(&fx->rq), 5U);
	/* Nobody waits now: nothing more to hand. */
	KUNIT_EXPECT_FALSE(test, gmp_startlockedm_idle(s));
	WRITE_ONCE(gk->lockedm, NULL);
}

static struct kunit_case gmp_sched_cases[] = {
	KUNIT_CASE(gmp_handoffp_wrong_p_test),
	KUNIT_CASE(gmp_startlockedm_idle_test),
	KUNIT_CASE(gmp_findrunnable_global_tick_test),
	KUNIT_CASE(gmp_findrunnable_order_test),
	KUNIT_CASE(gmp_findrunnable_steal_runnext_test),
	KUNIT_CASE(gmp_findrunnable_ring_test),
	{}
};

static struct kunit_suite gmp_sched_suite = {
	.name = "gmp_sched",
	.init = gmp_sched_suite_init,
	.exit = gmp_sched_suite_exit,
	.test_cases = gmp_sched_cases,
};

kunit_test_suites(&gmp_frame_suite, &gmp_spawn_suite, &gmp_create_suite,
		  &gmp_runq_suite, &gmp_sched_suite);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for gmp");
