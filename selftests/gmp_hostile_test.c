// SPDX-License-Identifier: GPL-2.0
/*
 * The scheduler area is user memory the kernel schedules from: every run
 * queue word, G index and context in it may be forged. Driven raw (no
 * kgo), these tests forge them and check the kernel drops what is bad,
 * counts it in nbadg, and goes on scheduling what is good: the instance
 * still runs its main goroutine to the end and MSTART returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "gmp_raw.h"
#include "kselftest_harness.h"

#define STACK_SIZE	(64 * 1024)
#define NSTACKS		4

static long gmp_ioctl(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

FIXTURE(hostile) {
	struct raw_inst ri;
	char *stacks;
};

FIXTURE_SETUP(hostile)
{
	struct gmp_create c = { .nprocs = 1, .maxg = 4096 };
	int fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	self->ri.fd = fd;
	if (fd < 0 && errno == ENOENT)
		SKIP(return, "%s missing: gmp.ko is not loaded", GMP_DEVICE_PATH);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, raw_inst_setup(&self->ri, fd, &c));
	self->stacks = mmap(NULL, NSTACKS * STACK_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->stacks);
}

FIXTURE_TEARDOWN(hostile)
{
	if (self->ri.fd >= 0)
		close(self->ri.fd);
}

static void push(struct gmp_ring *ring, struct gmp_spawn *spawn, uint32_t gidx,
		 uint32_t flags)
{
	uint32_t tail = ring->tail;

	spawn[tail & ring->mask] = (struct gmp_spawn){ .gidx = gidx,
						       .flags = flags };
	__atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
}

/*
 * The main goroutine. Its slot always resumes it from the top, so it runs
 * in phases: in the first it calls @hostile_fn (which forges whatever the
 * test wants, from inside the scheduler) and yields through the kernel
 * with GOSCHED, so the kernel schedules from the forged state; when it
 * comes back it ends the instance with GOEXIT(77).
 */
static int hostile_fd;
static struct gmp_pshared *hostile_p0;
static uint32_t hostile_maxg;
static int hostile_phase;
static struct gmp_gslot *hostile_gtab;
static char *hostile_stacks;
static struct gmp_ring *hostile_ring;
static struct gmp_spawn *hostile_spawn;
static void (*hostile_fn)(uint32_t gidx);
void hostile_entry(void);
void hostile_main(void *arg, uint32_t pid, uint32_t gidx)
	__attribute__((noreturn));

__asm__(".text\n"
	".globl hostile_entry\n"
	"hostile_entry:\n"
	"	call hostile_main\n"
	"	ud2\n");

void hostile_main(void *arg, uint32_t pid, uint32_t gidx)
{
	(void)arg;
	(void)pid;
	if (hostile_phase++ == 0 && hostile_fn) {
		/* Not a 61st tick: the kernel looks at this P's queue first. */
		hostile_p0->schedtick = 1;
		hostile_fn(gidx);
		ioctl(hostile_fd, GMP_IOC_GOSCHED, 0);
		__builtin_trap();	/* GOSCHED does not return */
	}
	ioctl(hostile_fd, GMP_IOC_GOEXIT, 77);
	__builtin_trap();
}

static void set_slot(struct gmp_gslot *gs, uintptr_t pc, char *stack)
{
	gs->pc = pc;
	gs->sp = (uintptr_t)stack + STACK_SIZE;
	gs->arg = 0;
}

/* Start main in slot 1 with @fn, run the M to the instance's end. */
static void run_main(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hostile) *self, void (*fn)(uint32_t gidx))
{
	hostile_fd = self->ri.fd;
	hostile_p0 = self->ri.p0;
	hostile_gtab = self->ri.gtab;
	hostile_stacks = self->stacks;
	hostile_ring = self->ri.ring;
	hostile_spawn = self->ri.spawn;
	hostile_maxg = self->ri.c.maxg;
	hostile_fn = fn;
	set_slot(&self->ri.gtab[1], (uintptr_t)hostile_entry, self->stacks);
	push(self->ri.ring, self->ri.spawn, 1, GMP_SPAWN_MAIN);
	ASSERT_EQ(0, gmp_ioctl(self->ri.fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(fn ? 2 : 1, hostile_phase);
	EXPECT_EQ(1, self->ri.state->exiting);
	EXPECT_EQ(77, self->ri.state->exit_code);
}

/* A queue no queue can be, and a runnext that is no goroutine. */
TEST_F(hostile, corrupt_runq_before_start)
{
	uint32_t i;

	if (self->ri.fd < 0)
		return;
	self->ri.p0->runqhead = 5;
	self->ri.p0->runqtail = 5 + 1000;
	self->ri.p0->runnext = 0xdeadbeef;
	for (i = 0; i < GMP_RUNQ_SIZE; i++)
		self->ri.p0->runq[i] = i * 7919;
	run_main(_metadata, self, NULL);
	EXPECT_LE(1, self->ri.state->nbadg);
}

/* Forged indices: out of range, never touched, not runnable, zero. */
static void forge_queue(uint32_t gidx)
{
	struct gmp_pshared *p0 = hostile_p0;
	uint32_t tail = p0->runqtail;

	(void)gidx;
	p0->runq[tail % GMP_RUNQ_SIZE] = hostile_maxg + 7;
	p0->runq[(tail + 1) % GMP_RUNQ_SIZE] = hostile_maxg - 1;
	p0->runq[(tail + 2) % GMP_RUNQ_SIZE] = 3;	/* idle */
	p0->runq[(tail + 3) % GMP_RUNQ_SIZE] = 0;
	__atomic_store_n(&p0->runqtail, tail + 4, __ATOMIC_RELEASE);
}

TEST_F(hostile, forged_indices_dropped)
{
	if (self->ri.fd < 0)
		return;
	self->ri.gtab[3].status = GMP_GIDLE;	/* touched, but not runnable */
	run_main(_metadata, self, forge_queue);
	EXPECT_EQ(3, self->ri.state->nbadg);
	EXPECT_EQ(0, self->ri.state->nbadspawn);
}

/* Contexts that are no user addresses: dropped when run. */

static void forge_contexts(uint32_t gidx)
{
	struct gmp_ring *ring = hostile_ring;

	(void)gidx;
	set_slot(&hostile_gtab[2], 0xffffffff81000000UL,
		 hostile_stacks + STACK_SIZE);
	set_slot(&hostile_gtab[3], (uintptr_t)hostile_entry,
		 hostile_stacks + 2 * STACK_SIZE);
	hostile_gtab[3].sp = 0x8000000000000000UL;	/* non-canonical */
	push(ring, hostile_spawn, 2, 0);
	push(ring, hostile_spawn, 3, 0);
	/* Into this P now: runnext 3, then 2 at the tail. */
	gmp_ioctl(hostile_fd, GMP_IOC_WAKEP, 0);
}

TEST_F(hostile, bad_context_dropped)
{
	if (self->ri.fd < 0)
		return;
	run_main(_metadata, self, forge_contexts);
	EXPECT_EQ(3, self->ri.state->nspawned);
	EXPECT_EQ(2, self->ri.state->nbadg);
}

/*
 * curg forged from inside: GOSCHED (plain and KEEPM) and GOEXIT about a
 * G that is not one get -EINVAL and return to the caller, which goes on; so does a
 * GOSCHED of the caller itself once its slot says it is not running, and
 * first, a GOSCHED with an argument bit no version defines.
 */
static long forged[6];

static void forge_curg(uint32_t gidx)
{
	forged[4] = gmp_ioctl(hostile_fd, GMP_IOC_GOSCHED, GMP_GOSCHED_KEEPM << 1);
	forged[5] = gmp_ioctl(hostile_fd, GMP_IOC_GOSCHED, ~0UL);
	hostile_p0->curg = 0;
	forged[0] = gmp_ioctl(hostile_fd, GMP_IOC_GOSCHED, 0);
	hostile_p0->curg = 1U << 30;
	forged[1] = gmp_ioctl(hostile_fd, GMP_IOC_GOSCHED, GMP_GOSCHED_KEEPM);
	hostile_p0->curg = hostile_maxg - 1;		/* untouched page */
	forged[2] = gmp_ioctl(hostile_fd, GMP_IOC_GOEXIT, 5);
	hostile_p0->curg = gidx;
	hostile_gtab[gidx].status = GMP_GWAITING;
	forged[3] = gmp_ioctl(hostile_fd, GMP_IOC_GOSCHED, 0);
	hostile_gtab[gidx].status = GMP_GRUNNING;
}

TEST_F(hostile, forged_curg_refused)
{
	if (self->ri.fd < 0)
		return;
	run_main(_metadata, self, forge_curg);
	EXPECT_EQ(-EINVAL, forged[0]);
	EXPECT_EQ(-EINVAL, forged[1]);
	EXPECT_EQ(-EINVAL, forged[2]);
	EXPECT_EQ(-EINVAL, forged[3]);
	EXPECT_EQ(-EINVAL, forged[4]);
	EXPECT_EQ(-EINVAL, forged[5]);
}

/*
 * The same G index made runnable twice: it is queued twice, but claimed
 * (runnable to running) once, so it runs once.
 */
static int twice_runs;
void twice_entry(void);

__asm__(".text\n"
	".globl twice_entry\n"
	"twice_entry:\n"
	"	call twice_main\n"
	"	ud2\n");

void twice_main(void) __attribute__((noreturn));
void twice_main(void)
{
	__atomic_add_fetch(&twice_runs, 1, __ATOMIC_RELAXED);
	ioctl(hostile_fd, GMP_IOC_GOEXIT, 0);
	__builtin_trap();
}

static void forge_twice(uint32_t gidx)
{
	(void)gidx;
	set_slot(&hostile_gtab[2], (uintptr_t)twice_entry,
		 hostile_stacks + STACK_SIZE);
	push(hostile_ring, hostile_spawn, 2, 0);
	push(hostile_ring, hostile_spawn, 2, 0);
	gmp_ioctl(hostile_fd, GMP_IOC_WAKEP, 0);
}

TEST_F(hostile, same_g_twice_runs_once)
{
	if (self->ri.fd < 0)
		return;
	run_main(_metadata, self, forge_twice);
	EXPECT_EQ(1, twice_runs);
	EXPECT_EQ(1, self->ri.state->nbadg);
}

TEST_HARNESS_MAIN
