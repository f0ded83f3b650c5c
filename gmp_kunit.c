// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for gmp's kernel-internal logic: frame checking and the
 * switch stub, spawn entry validation, instance parameters, run queues
 * and free G lists. Loaded after gmp.ko on a kernel with CONFIG_KUNIT:
 *
 *   insmod gmp.ko && insmod gmp_kunit.ko   # KTAP results in dmesg
 *
 * vm/test.sh does this in the debug test kernel.
 */
#include <kunit/test.h>
#include <linux/limits.h>
#include <linux/module.h>
#include <asm/processor-flags.h>
#include <asm/ptrace.h>
#include <asm/segment.h>

#include "gmp_core.h"
#include "gmp_frame.h"

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

static struct kunit_case gmp_frame_cases[] = {
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

static struct gmp_spawn gmp_good_spawn(void)
{
	return (struct gmp_spawn) {
		.pc = 0x401000,
		.arg = { 0x1234, 0x5678 },
		.stack_lo = 0x7f0000000000UL,
		.stack_size = 65536,
	};
}

static void gmp_spawn_check_good_test(struct kunit *test)
{
	struct gmp_spawn sp = gmp_good_spawn();

	KUNIT_EXPECT_EQ(test, gmp_spawn_check(&sp), 0);
	sp.flags = GMP_SPAWN_MAIN;
	KUNIT_EXPECT_EQ(test, gmp_spawn_check(&sp), 0);
	sp.stack_size = GMP_STACK_MIN;
	KUNIT_EXPECT_EQ(test, gmp_spawn_check(&sp), 0);
}

static void gmp_spawn_check_bad_test(struct kunit *test)
{
	struct gmp_spawn sp;

#define EXPECT_BAD(field_change) do {					\
		sp = gmp_good_spawn();					\
		field_change;						\
		KUNIT_EXPECT_EQ_MSG(test, gmp_spawn_check(&sp), -EINVAL,	\
				    "accepted: " #field_change);	\
	} while (0)

	EXPECT_BAD(sp.flags = 1U << 31);
	EXPECT_BAD(sp.resv0 = 1);
	EXPECT_BAD(sp.resv[1] = 1);
	EXPECT_BAD(sp.pc = 0);
	EXPECT_BAD(sp.pc = 0xffffffff81000000UL);
	EXPECT_BAD(sp.pc = 0x8000000000000000UL);
	EXPECT_BAD(sp.stack_lo = 0);
	EXPECT_BAD(sp.stack_lo += 8);
	EXPECT_BAD(sp.stack_size = 65536 + 8);
	EXPECT_BAD(sp.stack_size = GMP_STACK_MIN - 16);
	EXPECT_BAD(sp.stack_size = GMP_STACK_MAX + 16);
	EXPECT_BAD(sp.stack_lo = TASK_SIZE_MAX - 4096);
	EXPECT_BAD(sp.stack_lo = 0xffff888000000000UL);
	EXPECT_BAD(sp.stack_lo = U64_MAX - 0xfff);
#undef EXPECT_BAD
}

static void gmp_spawn_frame_test(struct kunit *test)
{
	struct gmp_spawn sp = gmp_good_spawn();
	struct gmp_frame f;

	memset(&f, 0xff, sizeof(f));
	gmp_spawn_frame(&sp, 42, &f);
	KUNIT_EXPECT_EQ(test, f.ip, 0x401000UL);
	KUNIT_EXPECT_EQ(test, f.sp, 0x7f0000000000UL + 65536);
	KUNIT_EXPECT_EQ(test, f.di, 0x1234UL);
	KUNIT_EXPECT_EQ(test, f.si, 0x5678UL);
	KUNIT_EXPECT_EQ(test, f.dx, 42UL);
	KUNIT_EXPECT_EQ(test, f.ax | f.bx | f.cx | f.bp | f.r8 | f.r15, 0UL);
	KUNIT_EXPECT_EQ(test, f.flags, (unsigned long)GMP_EFLAGS_ALWAYS);
	KUNIT_EXPECT_EQ(test, gmp_frame_check(&f), 0);
}

static struct kunit_case gmp_spawn_cases[] = {
	KUNIT_CASE(gmp_spawn_check_good_test),
	KUNIT_CASE(gmp_spawn_check_bad_test),
	KUNIT_CASE(gmp_spawn_frame_test),
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

	KUNIT_ASSERT_EQ(test, gmp_create_check(&c), 0);
	KUNIT_EXPECT_EQ(test, c.nprocs, num_online_cpus());
	KUNIT_EXPECT_EQ(test, c.maxmcount, (u32)GMP_MAXMCOUNT_DEFAULT);
	KUNIT_EXPECT_EQ(test, c.ring_entries, (u32)GMP_RING_ENTRIES_DEFAULT);
	KUNIT_EXPECT_EQ(test, c.state_size, (u64)PAGE_SIZE);
	KUNIT_EXPECT_GE(test, c.ring_size, (u64)(GMP_RING_SPAWN_OFF +
			GMP_RING_ENTRIES_DEFAULT * sizeof(struct gmp_spawn)));
	KUNIT_EXPECT_TRUE(test, c.features & GMP_FEAT_SPAWN_RING);
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
	EXPECT_BAD(c.resv[3] = 1);
	EXPECT_BAD(c.features = 1);
	EXPECT_BAD(c.ring_size = 4096);
	EXPECT_BAD(c.nprocs = GMP_NPROCS_MAX + 1);
	EXPECT_BAD(c.maxmcount = GMP_MAXMCOUNT_MAX + 1);
	EXPECT_BAD(c.ring_entries = 3);
	EXPECT_BAD(c.ring_entries = GMP_RING_ENTRIES_MAX * 2);
#undef EXPECT_BAD
}

static struct kunit_case gmp_create_cases[] = {
	KUNIT_CASE(gmp_create_defaults_test),
	KUNIT_CASE(gmp_create_bad_test),
	{}
};

static struct kunit_suite gmp_create_suite = {
	.name = "gmp_create",
	.test_cases = gmp_create_cases,
};

/* --- gmp_runq -------------------------------------------------------- */

#define NG 600	/* more G's than a local queue and a half can hold */

struct runq_fixture {
	struct gmp_sched s;
	struct gmp_p p[2];
	struct gmp_p *allp[2];
	struct gmp_g g[NG];
};

/* Two P's and NG G's numbered by goid, no instance around them. */
static void runq_fixture_setup(struct runq_fixture *fx)
{
	int i;

	spin_lock_init(&fx->s.lock);
	fx->allp[0] = &fx->p[0];
	fx->allp[1] = &fx->p[1];
	fx->s.allp = fx->allp;
	fx->s.nprocs = 2;
	for (i = 0; i < NG; i++)
		fx->g[i].goid = i;
}

static int gmp_runq_init(struct kunit *test)
{
	struct runq_fixture *fx = kunit_kzalloc(test, sizeof(*fx), GFP_KERNEL);

	if (!fx)
		return -ENOMEM;
	runq_fixture_setup(fx);
	test->priv = fx;
	return 0;
}

/* Drain the global queue into a count, checking FIFO order by goid. */
static u32 globrunq_drain(struct kunit *test, struct runq_fixture *fx)
{
	struct gmp_g *gp;
	u32 n = 0;

	for (gp = fx->s.runqhead; gp; gp = gp->schedlink)
		n++;
	KUNIT_EXPECT_EQ(test, n, fx->s.runqsize);
	return n;
}

static void gmp_runq_fifo_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = &fx->p[0];
	bool inherit;
	int i;

	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
	KUNIT_EXPECT_NULL(test, gmp_runqget(pp, &inherit));
	for (i = 0; i < 10; i++)
		gmp_runqput(&fx->s, pp, &fx->g[i], false);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 10U);
	for (i = 0; i < 10; i++) {
		KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(pp, &inherit), &fx->g[i]);
		KUNIT_EXPECT_FALSE(test, inherit);
	}
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
}

/* runnext: the newest G runs first and inherits; the old one is queued. */
static void gmp_runq_runnext_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = &fx->p[0];
	bool inherit;

	gmp_runqput(&fx->s, pp, &fx->g[1], false);
	gmp_runqput(&fx->s, pp, &fx->g[2], true);
	gmp_runqput(&fx->s, pp, &fx->g[3], true);
	KUNIT_EXPECT_PTR_EQ(test, pp->runnext, &fx->g[3]);
	KUNIT_EXPECT_FALSE(test, gmp_runqempty(pp));

	KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(pp, &inherit), &fx->g[3]);
	KUNIT_EXPECT_TRUE(test, inherit);
	KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(pp, &inherit), &fx->g[1]);
	KUNIT_EXPECT_FALSE(test, inherit);
	KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(pp, &inherit), &fx->g[2]);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
}

/*
 * The 257th put spills half the queue plus the new G to the global queue
 * (runqputslow), in order; with head and tail about to wrap around.
 */
static void gmp_runq_overflow_wrap_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = &fx->p[0];
	struct gmp_g *gp;
	bool inherit;
	u32 i;

	pp->runqhead = U32_MAX - 100;
	pp->runqtail = U32_MAX - 100;
	for (i = 0; i < GMP_RUNQ_SIZE; i++)
		gmp_runqput(&fx->s, pp, &fx->g[i], false);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), (u32)GMP_RUNQ_SIZE);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 0U);

	gmp_runqput(&fx->s, pp, &fx->g[GMP_RUNQ_SIZE], false);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), (u32)GMP_RUNQ_SIZE / 2);
	KUNIT_EXPECT_EQ(test, globrunq_drain(test, fx), GMP_RUNQ_SIZE / 2 + 1);
	/* Global: g[0..127] then g[256]; local: g[128..255]. */
	for (i = 0, gp = fx->s.runqhead; i < GMP_RUNQ_SIZE / 2; i++, gp = gp->schedlink)
		KUNIT_EXPECT_PTR_EQ(test, gp, &fx->g[i]);
	KUNIT_EXPECT_PTR_EQ(test, gp, &fx->g[GMP_RUNQ_SIZE]);
	KUNIT_EXPECT_PTR_EQ(test, fx->s.runqtail, &fx->g[GMP_RUNQ_SIZE]);
	KUNIT_EXPECT_LT(test, pp->runqtail, pp->runqhead + GMP_RUNQ_SIZE);
	for (i = GMP_RUNQ_SIZE / 2; i < GMP_RUNQ_SIZE; i++)
		KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(pp, &inherit), &fx->g[i]);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(pp));
}

/* A thief takes half (rounded up), oldest first, and runs the last. */
static void gmp_runq_steal_half_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *victim = &fx->p[0], *thief = &fx->p[1];
	bool inherit;
	int i;

	victim->runqhead = U32_MAX - 2;	/* wraps */
	victim->runqtail = U32_MAX - 2;
	for (i = 0; i < 9; i++)
		gmp_runqput(&fx->s, victim, &fx->g[i], false);
	KUNIT_EXPECT_PTR_EQ(test, gmp_runqsteal(thief, victim, false), &fx->g[4]);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(victim), 4U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(thief), 4U);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(thief, &inherit), &fx->g[i]);
	for (i = 5; i < 9; i++)
		KUNIT_EXPECT_PTR_EQ(test, gmp_runqget(victim, &inherit), &fx->g[i]);
}

/* runnext is stolen only when asked and when the queue is empty. */
static void gmp_runq_steal_runnext_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *victim = &fx->p[0], *thief = &fx->p[1];

	gmp_runqput(&fx->s, victim, &fx->g[7], true);
	KUNIT_EXPECT_NULL(test, gmp_runqsteal(thief, victim, false));
	KUNIT_EXPECT_PTR_EQ(test, victim->runnext, &fx->g[7]);
	KUNIT_EXPECT_PTR_EQ(test, gmp_runqsteal(thief, victim, true), &fx->g[7]);
	KUNIT_EXPECT_NULL(test, victim->runnext);
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(victim));
	KUNIT_EXPECT_TRUE(test, gmp_runqempty(thief));
}

/* globrunqget takes a fair share (size/nprocs + 1) and bounds by max. */
static void gmp_globrunq_share_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = &fx->p[0];
	struct gmp_g *gp;
	int i;

	spin_lock(&fx->s.lock);
	KUNIT_EXPECT_NULL(test, gmp_globrunqget(&fx->s, pp, 0));
	for (i = 0; i < 10; i++)
		gmp_globrunqput(&fx->s, &fx->g[i]);
	gp = gmp_globrunqget(&fx->s, pp, 1);
	KUNIT_EXPECT_PTR_EQ(test, gp, &fx->g[0]);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 9U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 0U);

	gp = gmp_globrunqget(&fx->s, pp, 0);	/* 9 / 2 + 1 = 5 */
	KUNIT_EXPECT_PTR_EQ(test, gp, &fx->g[1]);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 4U);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), 4U);
	spin_unlock(&fx->s.lock);
	KUNIT_EXPECT_EQ(test, globrunq_drain(test, fx), 4U);
}

/* Never more than the local queue has room for. */
static void gmp_globrunq_room_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = &fx->p[0];
	int i;

	for (i = 0; i < GMP_RUNQ_SIZE - 2; i++)
		gmp_runqput(&fx->s, pp, &fx->g[i], false);
	spin_lock(&fx->s.lock);
	for (i = 300; i < 500; i++)
		gmp_globrunqput(&fx->s, &fx->g[i]);
	KUNIT_EXPECT_PTR_EQ(test, gmp_globrunqget(&fx->s, pp, 0), &fx->g[300]);
	spin_unlock(&fx->s.lock);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(pp), (u32)GMP_RUNQ_SIZE);
	KUNIT_EXPECT_EQ(test, fx->s.runqsize, 200U - 3);
}

/* gfput keeps up to GMP_GFREE_MAX locally, then spills a batch. */
static void gmp_gfree_test(struct kunit *test)
{
	struct runq_fixture *fx = test->priv;
	struct gmp_p *pp = &fx->p[0], *other = &fx->p[1];
	struct gmp_g *gp;
	int i;

	KUNIT_EXPECT_NULL(test, gmp_gfget(&fx->s, pp));
	for (i = 0; i < GMP_GFREE_MAX - 1; i++)
		gmp_gfput(&fx->s, pp, &fx->g[i]);
	KUNIT_EXPECT_EQ(test, pp->gfreecnt, (u32)GMP_GFREE_MAX - 1);
	KUNIT_EXPECT_EQ(test, fx->s.ngfree, 0U);
	gmp_gfput(&fx->s, pp, &fx->g[GMP_GFREE_MAX - 1]);
	KUNIT_EXPECT_EQ(test, pp->gfreecnt, (u32)GMP_GFREE_BATCH - 1);
	KUNIT_EXPECT_EQ(test, fx->s.ngfree, (u32)(GMP_GFREE_MAX - GMP_GFREE_BATCH + 1));
	KUNIT_EXPECT_EQ(test, fx->g[0].status, GMP_GDEAD);

	/* LIFO locally: the last one put is the first one reused. */
	gp = gmp_gfget(&fx->s, pp);
	KUNIT_EXPECT_PTR_EQ(test, gp, &fx->g[GMP_GFREE_BATCH - 2]);
	/* Another P refills a batch from the global list. */
	gp = gmp_gfget(&fx->s, other);
	KUNIT_EXPECT_NOT_NULL(test, gp);
	KUNIT_EXPECT_EQ(test, other->gfreecnt, (u32)GMP_GFREE_BATCH - 1);
	KUNIT_EXPECT_EQ(test, fx->s.ngfree, 1U);
}

static struct kunit_case gmp_runq_cases[] = {
	KUNIT_CASE(gmp_runq_fifo_test),
	KUNIT_CASE(gmp_runq_runnext_test),
	KUNIT_CASE(gmp_runq_overflow_wrap_test),
	KUNIT_CASE(gmp_runq_steal_half_test),
	KUNIT_CASE(gmp_runq_steal_runnext_test),
	KUNIT_CASE(gmp_globrunq_share_test),
	KUNIT_CASE(gmp_globrunq_room_test),
	KUNIT_CASE(gmp_gfree_test),
	{}
};

static struct kunit_suite gmp_runq_suite = {
	.name = "gmp_runq",
	.init = gmp_runq_init,
	.test_cases = gmp_runq_cases,
};

/* --- gmp_findrunnable -------------------------------------------------- */

struct sched_fixture {
	struct runq_fixture rq;
	struct gmp_m m;
	struct gmp_ring *ring;
};

static int gmp_sched_suite_init(struct kunit *test)
{
	struct sched_fixture *fx = kunit_kzalloc(test, sizeof(*fx), GFP_KERNEL);
	struct gmp_sched *s;

	if (!fx)
		return -ENOMEM;
	runq_fixture_setup(&fx->rq);
	s = &fx->rq.s;
	fx->ring = kunit_kzalloc(test, GMP_RING_SPAWN_OFF + 8 * sizeof(struct gmp_spawn),
				 GFP_KERNEL);
	if (!fx->ring)
		return -ENOMEM;
	fx->ring->entries = 8;
	fx->ring->mask = 7;
	s->ring = fx->ring;
	s->spawn = (void *)fx->ring + GMP_RING_SPAWN_OFF;
	s->ring_entries = 8;
	mutex_init(&s->ring_lock);
	INIT_LIST_HEAD(&s->allgs);
	fx->m.p = &fx->rq.p[0];
	test->priv = fx;
	return 0;
}

static void gmp_sched_suite_exit(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_g *gp, *tmp;

	list_for_each_entry_safe(gp, tmp, &fx->rq.s.allgs, allg)
		kfree(gp);
	mutex_destroy(&fx->rq.s.ring_lock);
}

/* Every 61st schedtick the global queue goes before the local one. */
static void gmp_findrunnable_global_tick_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_p *pp = &fx->rq.p[0];
	struct gmp_g *local = &fx->rq.g[1], *global = &fx->rq.g[2];
	bool inherit;

	gmp_runqput(s, pp, local, false);
	spin_lock(&s->lock);
	gmp_globrunqput(s, global);
	spin_unlock(&s->lock);

	pp->schedtick = 62;
	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), local);
	gmp_runqput(s, pp, local, false);
	pp->schedtick = 61;
	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), global);
	KUNIT_EXPECT_FALSE(test, inherit);
	pp->schedtick = 122;
	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), local);
	KUNIT_EXPECT_NULL(test, gmp_findrunnable(s, &fx->m, &inherit));
}

/* runnext, local, global, then stealing from the other P. */
static void gmp_findrunnable_order_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_p *pp = &fx->rq.p[0], *other = &fx->rq.p[1];
	struct gmp_g *g = fx->rq.g;
	bool inherit;

	gmp_runqput(s, pp, &g[1], false);
	gmp_runqput(s, pp, &g[2], true);
	spin_lock(&s->lock);
	gmp_globrunqput(s, &g[3]);
	spin_unlock(&s->lock);
	gmp_runqput(s, other, &g[4], false);
	gmp_runqput(s, other, &g[5], false);
	pp->schedtick = 1;

	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), &g[2]);
	KUNIT_EXPECT_TRUE(test, inherit);
	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), &g[1]);
	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), &g[3]);
	/* Steals one of two: half, rounded up. */
	KUNIT_EXPECT_PTR_EQ(test, gmp_findrunnable(s, &fx->m, &inherit), &g[4]);
	KUNIT_EXPECT_EQ(test, gmp_runqlen(other), 1U);
}

/* New goroutines come from the ring into runnext, newest first. */
static void gmp_findrunnable_ring_test(struct kunit *test)
{
	struct sched_fixture *fx = test->priv;
	struct gmp_sched *s = &fx->rq.s;
	struct gmp_spawn sp = gmp_good_spawn();
	struct gmp_g *gp;
	bool inherit;

	s->spawn[0] = sp;
	sp.arg[0] = 2;
	s->spawn[1] = sp;
	fx->ring->tail = 2;
	gp = gmp_findrunnable(s, &fx->m, &inherit);
	KUNIT_ASSERT_NOT_NULL(test, gp);
	KUNIT_EXPECT_EQ(test, gp->frame.di, 2UL);
	KUNIT_EXPECT_EQ(test, gp->goid, 2ULL);
	KUNIT_EXPECT_EQ(test, gp->status, GMP_GRUNNABLE);
	KUNIT_EXPECT_EQ(test, s->ring_head, 2U);
	KUNIT_EXPECT_EQ(test, fx->ring->head, 2U);
	gp = gmp_findrunnable(s, &fx->m, &inherit);
	KUNIT_ASSERT_NOT_NULL(test, gp);
	KUNIT_EXPECT_EQ(test, gp->goid, 1ULL);

	/* Junk is dropped and counted, never run. */
	fx->ring->tail = 3;
	s->spawn[2].pc = 0;
	KUNIT_EXPECT_NULL(test, gmp_findrunnable(s, &fx->m, &inherit));
	KUNIT_EXPECT_EQ(test, s->nbadspawn, 1ULL);
}

static struct kunit_case gmp_sched_cases[] = {
	KUNIT_CASE(gmp_findrunnable_global_tick_test),
	KUNIT_CASE(gmp_findrunnable_order_test),
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
