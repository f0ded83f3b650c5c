// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/gmp uapi, driven raw (no kgo): device open and close, ioctl
 * numbers and argument checks, the extensible create struct, the mmap
 * regions (state page, spawn ring, scheduler area), junk in the spawn ring,
 * contexts the kernel must refuse to load, and the first goroutine's
 * registers as the kernel resumes it from its G table slot. Every bad input
 * must get a clean errno (or be dropped and counted) and leave the
 * instance usable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "gmp_raw.h"
#include "kselftest_harness.h"

#define STACK_SIZE	(64 * 1024)
#define PAGE_SZ		4096UL	/* gmp is x86-64 only */
#define PAGE_UP(x)	(((x) + PAGE_SZ - 1) & ~(PAGE_SZ - 1))

static int gmp_open(struct __test_metadata *_metadata)
{
	int fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		SKIP(return -1, "%s missing: gmp.ko is not loaded", GMP_DEVICE_PATH);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", GMP_DEVICE_PATH, strerror(errno));
	return fd;
}

static long gmp_ioctl(int fd, unsigned long cmd, unsigned long arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static long gmp_ioctl_ret(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

/* --- Device and ioctl dispatch ----------------------------------------- */

TEST(open_close_many)
{
	int i;

	for (i = 0; i < 200; i++) {
		int fd = gmp_open(_metadata);

		if (fd < 0)
			return;
		ASSERT_EQ(0, close(fd));
	}
}

/* The device is no file to seek in or read: each says so cleanly. */
TEST(not_seekable)
{
	char buf[8];
	int fd = gmp_open(_metadata);

	if (fd < 0)
		return;
	EXPECT_EQ(-1, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, lseek(fd, 4096, SEEK_CUR));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), 0));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(bad_ioctl_numbers)
{
	int fd = gmp_open(_metadata);

	if (fd < 0)
		return;
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IO(0xE6, GMP_IOC_NR_MSTART), 0));
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IO(GMP_IOC_MAGIC, GMP_IOC_NR_LAST), 0));
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IO(GMP_IOC_MAGIC, 0xff), 0));
	/* The right number with the wrong direction or size. */
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IO(GMP_IOC_MAGIC, GMP_IOC_NR_CREATE), 0));
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IOWR(GMP_IOC_MAGIC, GMP_IOC_NR_CREATE,
					      struct gmp_spawn), 0));
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IOW(GMP_IOC_MAGIC, GMP_IOC_NR_MSTART, int), 0));
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, _IOW(GMP_IOC_MAGIC, GMP_IOC_NR_SCHEDULE, int), 0));
	EXPECT_EQ(-ENOTTY, gmp_ioctl(fd, TCGETS, 0));
	close(fd);
}

TEST(before_create)
{
	int fd = gmp_open(_metadata);

	if (fd < 0)
		return;
	EXPECT_EQ(-EBADFD, gmp_ioctl(fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(-EBADFD, gmp_ioctl(fd, GMP_IOC_GOEXIT, 0));
	EXPECT_EQ(-EBADFD, gmp_ioctl(fd, GMP_IOC_GOSCHED, 0));
	EXPECT_EQ(-EBADFD, gmp_ioctl(fd, GMP_IOC_SCHEDULE, 0));
	EXPECT_EQ(-EBADFD, gmp_ioctl(fd, GMP_IOC_NEWM, 0));
	EXPECT_EQ(-EBADFD, gmp_ioctl(fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd,
				   GMP_OFF_STATE));
	EXPECT_EQ(EBADFD, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, GMP_OFF_SCHED));
	EXPECT_EQ(EBADFD, errno);
	close(fd);
}

/* --- GMP_IOC_CREATE ----------------------------------------------------- */

/*
 * The scheduler area a create reports: maxprocs P's public halves, then the
 * G table on a page boundary, ending where maxg slots (page-rounded) end.
 */
static void check_sched_layout(struct __test_metadata *_metadata,
			       const struct gmp_create *c)
{
	uint64_t pshared = (uint64_t)c->maxprocs * sizeof(struct gmp_pshared);
	uint64_t gtab = PAGE_UP((uint64_t)c->maxg * sizeof(struct gmp_gslot));

	EXPECT_EQ(0, c->gtab_off % PAGE_SZ);
	EXPECT_LE(pshared, c->gtab_off);
	EXPECT_EQ(c->gtab_off + gtab, c->sched_size);
}

struct create_big {
	struct gmp_create c;
	uint64_t tail[4];
};

TEST(create_sizes)
{
	struct create_big big;
	struct gmp_create c;
	int fd = gmp_open(_metadata);

	if (fd < 0)
		return;
	memset(&c, 0, sizeof(c));
	c.size = GMP_CREATE_SIZE_VER0 - 8;
	EXPECT_EQ(-EINVAL, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	c.size = 0;
	EXPECT_EQ(-EINVAL, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	c.size = 4096 + 8;
	EXPECT_EQ(-E2BIG, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	c.size = UINT32_MAX;
	EXPECT_EQ(-E2BIG, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	EXPECT_EQ(-EFAULT, gmp_ioctl(fd, GMP_IOC_CREATE, 0));
	EXPECT_EQ(-EFAULT, gmp_ioctl(fd, GMP_IOC_CREATE, 0xffffffff81000000UL));

	/* Larger than the kernel knows: the unknown tail must be zero. */
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.tail[2] = 1;
	EXPECT_EQ(-E2BIG, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&big));
	big.tail[2] = 0;
	big.c.nprocs = 1;
	/* A G table that does not fill its last page. */
	big.c.maxg = 1000;
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&big));
	EXPECT_EQ(1, big.c.nprocs);
	EXPECT_EQ(1000, big.c.maxg);
	check_sched_layout(_metadata, &big.c);
	EXPECT_EQ(0, big.c.resv0 | big.c.resv);
	EXPECT_EQ(0, big.tail[0] | big.tail[1] | big.tail[2] | big.tail[3]);

	/* Once per file. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	EXPECT_EQ(-EEXIST, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	close(fd);

	/* The largest G table is accepted (its pages come only on touch). */
	fd = gmp_open(_metadata);
	if (fd < 0)
		return;
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.nprocs = 1;
	c.maxg = GMP_MAXG_MAX;
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	EXPECT_EQ(GMP_MAXG_MAX, c.maxg);
	check_sched_layout(_metadata, &c);
	close(fd);
}

TEST(create_fields)
{
	struct gmp_create c;
	int fd = gmp_open(_metadata);

#define EXPECT_CREATE_EINVAL(field_change) do {				\
		memset(&c, 0, sizeof(c));				\
		c.size = sizeof(c);					\
		field_change;						\
		EXPECT_EQ(-EINVAL, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c)) \
			TH_LOG("accepted: %s", #field_change);		\
	} while (0)

	if (fd < 0)
		return;
	EXPECT_CREATE_EINVAL(c.flags = 1);
	EXPECT_CREATE_EINVAL(c.resv0 = 1);
	EXPECT_CREATE_EINVAL(c.resv = 1);
	EXPECT_CREATE_EINVAL(c.nprocs = 2; c.maxprocs = 1);
	EXPECT_CREATE_EINVAL(c.maxprocs = GMP_NPROCS_MAX + 1);
	/* Out fields come in as zero. */
	EXPECT_CREATE_EINVAL(c.features = GMP_FEAT_SPAWN_RING);
	EXPECT_CREATE_EINVAL(c.state_size = 4096);
	EXPECT_CREATE_EINVAL(c.ring_size = 4096);
	EXPECT_CREATE_EINVAL(c.sched_size = 4096);
	EXPECT_CREATE_EINVAL(c.gtab_off = 4096);
	/* Limits. */
	EXPECT_CREATE_EINVAL(c.nprocs = GMP_NPROCS_MAX + 1);
	EXPECT_CREATE_EINVAL(c.maxmcount = GMP_MAXMCOUNT_MAX + 1);
	EXPECT_CREATE_EINVAL(c.ring_entries = 100);
	EXPECT_CREATE_EINVAL(c.ring_entries = GMP_RING_ENTRIES_MAX * 2);
	EXPECT_CREATE_EINVAL(c.maxg = GMP_MAXG_MAX + 1);
	EXPECT_CREATE_EINVAL(c.maxg = UINT32_MAX);
	EXPECT_CREATE_EINVAL(c.maxg = 1);		/* index 0 is no G */
	EXPECT_CREATE_EINVAL(c.resv1 = 1);
	EXPECT_CREATE_EINVAL(c.slice_us = GMP_SLICE_US_MIN - 1);
	EXPECT_CREATE_EINVAL(c.slice_us = GMP_SLICE_US_MAX + 1);
	/* The preemption stub must be a user address. */
	EXPECT_CREATE_EINVAL(c.preempt_pc = 4095);
	EXPECT_CREATE_EINVAL(c.preempt_pc = 0xffffffff81000000ULL);
	EXPECT_CREATE_EINVAL(c.preempt_pc = 1ULL << 63);

	/* After all that, a good request still works: defaults filled in. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	EXPECT_EQ(sysconf(_SC_NPROCESSORS_ONLN), c.nprocs);
	EXPECT_EQ(GMP_MAXMCOUNT_DEFAULT, c.maxmcount);
	EXPECT_EQ(GMP_RING_ENTRIES_DEFAULT, c.ring_entries);
	EXPECT_EQ(GMP_MAXG_DEFAULT, c.maxg);
	/* Debian's kernels have preempt notifiers (KVM selects them). */
	EXPECT_EQ(GMP_FEAT_SPAWN_RING | GMP_FEAT_USER_RUNQ | GMP_FEAT_PREEMPT |
		  GMP_FEAT_HANDOFF | GMP_FEAT_LOCKOSTHREAD | GMP_FEAT_KEEPM |
		  GMP_FEAT_NETPOLL | GMP_FEAT_NETPOLL_PD |
		  GMP_FEAT_NETPOLL_POLL, c.features);
	EXPECT_EQ(GMP_SLICE_US_DEFAULT, c.slice_us);
	EXPECT_EQ(4096, c.state_size);
	EXPECT_LE(GMP_RING_SPAWN_OFF + GMP_RING_ENTRIES_DEFAULT * sizeof(struct gmp_spawn),
		  c.ring_size);
	check_sched_layout(_metadata, &c);
	EXPECT_EQ(0, c.resv0 | c.resv | c.resv1);
	close(fd);

	/* A first-version struct (no preemption fields) is still accepted. */
	fd = gmp_open(_metadata);
	if (fd < 0)
		return;
	memset(&c, 0, sizeof(c));
	c.size = GMP_CREATE_SIZE_VER0;
	c.slice_us = 5;		/* beyond VER0: never read */
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	EXPECT_EQ(5, c.slice_us);	/* nor written */
	close(fd);
#undef EXPECT_CREATE_EINVAL
}

/* --- An instance, mapped ------------------------------------------------ */

FIXTURE(inst) {
	struct raw_inst ri;
	char *stack;
};

/*
 * One P, an 8-entry ring and the default maxg: the G table is 64 MiB of
 * address space, its pages allocated only as the tests touch them.
 */
FIXTURE_SETUP(inst)
{
	struct gmp_create c = { .nprocs = 1, .ring_entries = 8 };
	int fd = gmp_open(_metadata);

	self->ri.fd = fd;
	if (fd < 0)
		return;
	ASSERT_EQ(0, raw_inst_setup(&self->ri, fd, &c));
	self->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->stack);
}

FIXTURE_TEARDOWN(inst)
{
	if (self->ri.fd >= 0)
		close(self->ri.fd);
}

/* A fresh context in a G table slot: start at @pc, on top of @stack. */
static void set_slot(struct gmp_gslot *gs, uintptr_t pc, char *stack,
		     uint64_t arg)
{
	gs->pc = pc;
	gs->sp = (uintptr_t)stack + STACK_SIZE;
	gs->arg = arg;
}

static void ring_push(struct gmp_ring *ring, struct gmp_spawn *spawn,
		      const struct gmp_spawn *e)
{
	uint32_t tail = ring->tail;

	spawn[tail & ring->mask] = *e;
	__atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
}

/* Make the G in slot @gidx runnable. */
static void push_g(struct gmp_ring *ring, struct gmp_spawn *spawn,
		   uint32_t gidx, uint32_t flags)
{
	struct gmp_spawn e = { .gidx = gidx, .flags = flags };

	ring_push(ring, spawn, &e);
}

TEST_F(inst, state_page)
{
	if (self->ri.fd < 0)
		return;
	EXPECT_EQ(GMP_STATE_MAGIC, self->ri.state->magic);
	EXPECT_EQ(GMP_API_VERSION, self->ri.state->version);
	EXPECT_EQ(1, self->ri.state->nprocs);
	EXPECT_EQ(1, self->ri.state->npidle);
	EXPECT_EQ(0, self->ri.state->mcount);
	EXPECT_EQ(0, self->ri.state->exiting);
	EXPECT_EQ(0, self->ri.state->nbadg);
	EXPECT_EQ(0, self->ri.state->resv0);
	EXPECT_EQ(0, self->ri.state->nspawned);
	EXPECT_EQ(0, self->ri.state->nbadspawn);
	EXPECT_EQ(0, self->ri.state->nkswitch);
	EXPECT_EQ(8, self->ri.ring->entries);
	EXPECT_EQ(7, self->ri.ring->mask);
	/* The scheduler area starts empty: no G queued or running. */
	EXPECT_EQ(0, self->ri.p0->runqhead | self->ri.p0->runqtail |
		     self->ri.p0->runnext | self->ri.p0->curg);
	EXPECT_EQ(0, self->ri.gtab[1].pc | self->ri.gtab[1].sp |
		     self->ri.gtab[1].status);
}

TEST_F(inst, mmap_rules)
{
	struct gmp_gslot *gtab2;
	char *q;
	void *p;

	if (self->ri.fd < 0)
		return;
	/* The state page is read-only, for good. */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->ri.fd,
		 GMP_OFF_STATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, mprotect(self->ri.state, 4096, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	/* No mapping is executable, nor can become so. */
	p = mmap(NULL, self->ri.c.ring_size, PROT_READ | PROT_EXEC, MAP_SHARED,
		 self->ri.fd, GMP_OFF_RING);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED,
		 self->ri.fd, GMP_OFF_SCHED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, mprotect(self->ri.ring, self->ri.c.ring_size,
			       PROT_READ | PROT_WRITE | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, mprotect(self->ri.p0, 4096, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	/* Shared only, known offsets only, no larger than the region. */
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, self->ri.fd, GMP_OFF_STATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->ri.fd, 4096);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, self->ri.c.ring_size + 4096, PROT_READ, MAP_SHARED,
		 self->ri.fd, GMP_OFF_RING);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->ri.fd,
		 GMP_OFF_SCHED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, self->ri.c.sched_size + 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED, self->ri.fd, GMP_OFF_SCHED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* The mappings cannot grow. */
	p = mremap(self->ri.ring, self->ri.c.ring_size, self->ri.c.ring_size + 4096, 0);
	EXPECT_EQ(MAP_FAILED, p);
	p = mremap(self->ri.p0, self->ri.c.sched_size, self->ri.c.sched_size + 4096, 0);
	EXPECT_EQ(MAP_FAILED, p);

	/*
	 * The scheduler area is one object however often it is mapped: a
	 * second, shorter mapping (the P's and the G table's first page)
	 * sees the fixture's writes, and the fixture sees its writes.
	 */
	q = mmap(NULL, self->ri.c.gtab_off + 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED, self->ri.fd, GMP_OFF_SCHED);
	ASSERT_NE(MAP_FAILED, q);
	gtab2 = (void *)(q + self->ri.c.gtab_off);
	self->ri.gtab[1].arg = 0x5eed;
	EXPECT_EQ(0x5eed, gtab2[1].arg);
	gtab2[2].goid = 0xc0ffee;
	EXPECT_EQ(0xc0ffee, self->ri.gtab[2].goid);
	((struct gmp_pshared *)q)->runq[5] = 7;	/* outside head..tail: moot */
	EXPECT_EQ(7, self->ri.p0->runq[5]);
	/* Unmapped and mapped again, the area keeps what was written. */
	ASSERT_EQ(0, munmap(q, self->ri.c.gtab_off + 4096));
	q = mmap(NULL, self->ri.c.sched_size, PROT_READ, MAP_SHARED, self->ri.fd,
		 GMP_OFF_SCHED);
	ASSERT_NE(MAP_FAILED, q);
	gtab2 = (void *)(q + self->ri.c.gtab_off);
	EXPECT_EQ(0x5eed, gtab2[1].arg);
	EXPECT_EQ(0xc0ffee, gtab2[2].goid);
	munmap(q, self->ri.c.sched_size);
}

TEST_F(inst, ioctl_args)
{
	if (self->ri.fd < 0)
		return;
	/* MSTART's locks word: aligned, in user memory. */
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_MSTART, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_MSTART, 4098));
	/* Page zero is no user address (gmp_user_addr_ok), aligned or not. */
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_MSTART, 8));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_MSTART, 4092));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_MSTART, 0xffffffff81000000UL));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_GOSCHED, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_SCHEDULE, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_WAKEP, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_GOEXIT, 1UL << 32));
	/* Not an M running goroutines: no curg to exit, yield or put away. */
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_GOEXIT, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_GOSCHED, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_SCHEDULE, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_LOCKOSTHREAD, 2));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_LOCKOSTHREAD, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_LOCKOSTHREAD, 0));
	EXPECT_EQ(0, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
}

/*
 * 5 and 6 were GOPARK and GOREADY (API version 2): the numbers stay
 * reserved, with an instance or without, whatever the argument, in any
 * direction and size the old commands had.
 */
TEST_F(inst, removed_park_ready_are_reserved)
{
	static const unsigned int nrs[] = { GMP_IOC_NR_RESERVED5,
					    GMP_IOC_NR_RESERVED6 };
	uint32_t word = 0;
	uint64_t old_wait[2] = { (uintptr_t)&word, 0 };
	unsigned int i;

	if (self->ri.fd < 0)
		return;
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(-ENOTTY, gmp_ioctl(self->ri.fd, _IOW(GMP_IOC_MAGIC, nrs[i],
							   uint64_t[2]),
					     (uintptr_t)old_wait));
		EXPECT_EQ(-ENOTTY, gmp_ioctl(self->ri.fd, _IO(GMP_IOC_MAGIC, nrs[i]), 0));
		EXPECT_EQ(-ENOTTY, gmp_ioctl(self->ri.fd, _IOWR(GMP_IOC_MAGIC, nrs[i],
							    uint64_t[2]), 0));
	}
	EXPECT_EQ(0, word);
	EXPECT_EQ(0, self->ri.state->resv0);
}

/* A forked child shares neither the instance nor its mappings. */
TEST_F(inst, fork_child_is_refused)
{
	pid_t pid;
	int status;

	if (self->ri.fd < 0)
		return;
	self->ri.gtab[1].arg = 1;		/* a populated G table page */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char vec;

		if (gmp_ioctl(self->ri.fd, GMP_IOC_WAKEP, 0) != -EPERM)
			_exit(1);
		if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->ri.fd,
			 GMP_OFF_STATE) != MAP_FAILED || errno != EPERM)
			_exit(2);
		/* VM_DONTCOPY: the parent's ring is not mapped here. */
		if (mincore(self->ri.ring, 4096, &vec) == 0 || errno != ENOMEM)
			_exit(3);
		/* Nor its scheduler area, run queues or G table. */
		if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->ri.fd,
			 GMP_OFF_SCHED) != MAP_FAILED || errno != EPERM)
			_exit(4);
		if (mincore(self->ri.p0, 4096, &vec) == 0 || errno != ENOMEM)
			_exit(5);
		if (mincore(self->ri.gtab, 4096, &vec) == 0 || errno != ENOMEM)
			_exit(6);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* The parent's mapping is untouched by the child's exit. */
	EXPECT_EQ(1, self->ri.gtab[1].arg);
}

/* Each kind of junk entry is dropped with -EINVAL; good ones still go. */
TEST_F(inst, ring_junk)
{
	struct gmp_spawn e;
	uint64_t bad = 0;
	int i, nrunnable = 0;
	uint32_t far;

	if (self->ri.fd < 0)
		return;
	/*
	 * Slots 1..8 hold contexts (never run). The last slot's page is
	 * never touched, not even read: that index is no goroutine.
	 */
	far = self->ri.c.maxg - 1;
	for (i = 1; i <= 8; i++)
		set_slot(&self->ri.gtab[i], 0x401000, self->stack, i);

#define PUSH_BAD(field_change) do {					\
		e = (struct gmp_spawn){ .gidx = 1 };			\
		field_change;						\
		ring_push(self->ri.ring, self->ri.spawn, &e);			\
		EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0)) \
			TH_LOG("accepted: %s", #field_change);		\
		EXPECT_EQ(++bad, self->ri.state->nbadspawn);		\
		EXPECT_EQ(self->ri.ring->tail, self->ri.ring->head);		\
	} while (0)

	PUSH_BAD(e.gidx = 0);				/* never a G */
	PUSH_BAD(e.gidx = self->ri.c.maxg);
	PUSH_BAD(e.gidx = UINT32_MAX);
	PUSH_BAD(e.gidx = far);				/* page never touched */
	PUSH_BAD(e.flags = 1U << 7);
	PUSH_BAD(e.resv = 1);
	PUSH_BAD(e.resv = 1ULL << 63);
#undef PUSH_BAD
	EXPECT_EQ(0, self->ri.state->nspawned);
	EXPECT_EQ(0, self->ri.state->runqsize);

	/* A producer index beyond the ring: refused, nothing consumed. */
	self->ri.ring->tail = self->ri.ring->head + self->ri.ring->entries + 1;
	EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(bad + 1, self->ri.state->nbadspawn);
	self->ri.ring->tail = self->ri.ring->head;

	/* The kernel keeps its own consumer index: scribbling on it is moot. */
	self->ri.ring->head += 3;
	push_g(self->ri.ring, self->ri.spawn, 1, 0);
	self->ri.ring->head -= 3;

	/* Still usable: a full ring's worth of good entries is taken. */
	for (i = 2; i <= 8; i++)
		push_g(self->ri.ring, self->ri.spawn, i, 0);
	EXPECT_EQ(8, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(8, self->ri.state->nspawned);
	EXPECT_EQ(bad + 1, self->ri.state->nbadspawn);
	EXPECT_EQ(0, self->ri.state->nbadg);
	/* Nobody holds a P, so they wait on the global queue. */
	EXPECT_EQ(8, self->ri.state->runqsize);
	for (i = 1; i <= 8; i++)
		nrunnable += self->ri.gtab[i].status == GMP_GRUNNABLE;
	EXPECT_EQ(8, nrunnable);

	/* Made runnable twice: linked once, the second entry refused. */
	push_g(self->ri.ring, self->ri.spawn, 8, 0);
	EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(8, self->ri.state->runqsize);
	EXPECT_EQ(8, self->ri.state->nspawned);
	EXPECT_EQ(1, self->ri.state->nbadg);
}

/*
 * One scheduler area, however often it is mapped: a second mapping sees
 * the first one's writes, in the P's half and in a G table page first
 * touched through either, and the data outlives the second mapping.
 */
TEST_F(inst, sched_area_is_shared)
{
	struct gmp_gslot *gtab2;
	void *again;
	uint32_t far;

	if (self->ri.fd < 0)
		return;
	again = mmap(NULL, self->ri.c.sched_size, PROT_READ | PROT_WRITE,
		     MAP_SHARED, self->ri.fd, GMP_OFF_SCHED);
	ASSERT_NE(MAP_FAILED, again);
	gtab2 = (void *)((char *)again + self->ri.c.gtab_off);
	far = self->ri.c.maxg - 1;

	gtab2[far].sp = 0x5678;			/* first touched here */
	EXPECT_EQ(0x5678, self->ri.gtab[far].sp);
	/* Pages are zero until written. */
	EXPECT_EQ(0, self->ri.gtab[far - 1].pc | self->ri.gtab[far - 1].status);
	munmap(again, self->ri.c.sched_size);
	EXPECT_EQ(0x5678, self->ri.gtab[far].sp);
}

TEST_F(inst, one_main_goroutine)
{
	if (self->ri.fd < 0)
		return;
	set_slot(&self->ri.gtab[1], 0x401000, self->stack, 0);
	set_slot(&self->ri.gtab[2], 0x401000, self->stack, 0);
	push_g(self->ri.ring, self->ri.spawn, 1, GMP_SPAWN_MAIN);
	EXPECT_EQ(1, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	push_g(self->ri.ring, self->ri.spawn, 2, GMP_SPAWN_MAIN);
	EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(1, self->ri.state->nbadspawn);
	/* The refused entry left its G alone: as a plain G it is taken. */
	push_g(self->ri.ring, self->ri.spawn, 2, 0);
	EXPECT_EQ(1, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(2, self->ri.state->nspawned);
	EXPECT_EQ(1, self->ri.state->nbadspawn);
}

/*
 * The first goroutine, by hand: an M enters with MSTART, the kernel
 * resumes the spawned G from its slot, raw_entry records the registers it
 * was started with (and the P's curg and the slot's status as it finds
 * them) and ends the main goroutine with GOEXIT(77), which returns the M
 * to its MSTART call with 0.
 */
struct regs_seen {
	uint64_t rdi, rsi, rdx, rsp, rax, rbx, rcx, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rflags;
	uint64_t curg, status;
};

_Static_assert(offsetof(struct regs_seen, rflags) == 128 &&
	       offsetof(struct regs_seen, status) == 144,
	       "raw_entry stores at these offsets");

struct regs_seen raw_seen;
int raw_fd;
unsigned long raw_goexit_cmd = GMP_IOC_GOEXIT;
uint32_t *raw_curg;		/* the P's curg */
uint32_t *raw_status;		/* the G's slot status */
void raw_entry(void);

__asm__(
	".text\n"
	".globl raw_entry\n"
	"raw_entry:\n"
	"	movq %rdi, raw_seen+0(%rip)\n"
	"	movq %rsi, raw_seen+8(%rip)\n"
	"	movq %rdx, raw_seen+16(%rip)\n"
	"	movq %rsp, raw_seen+24(%rip)\n"
	"	movq %rax, raw_seen+32(%rip)\n"
	"	movq %rbx, raw_seen+40(%rip)\n"
	"	movq %rcx, raw_seen+48(%rip)\n"
	"	movq %rbp, raw_seen+56(%rip)\n"
	"	movq %r8, raw_seen+64(%rip)\n"
	"	movq %r9, raw_seen+72(%rip)\n"
	"	movq %r10, raw_seen+80(%rip)\n"
	"	movq %r11, raw_seen+88(%rip)\n"
	"	movq %r12, raw_seen+96(%rip)\n"
	"	movq %r13, raw_seen+104(%rip)\n"
	"	movq %r14, raw_seen+112(%rip)\n"
	"	movq %r15, raw_seen+120(%rip)\n"
	"	pushfq\n"
	"	popq raw_seen+128(%rip)\n"
	"	movq raw_curg(%rip), %rax\n"
	"	movl (%rax), %eax\n"
	"	movq %rax, raw_seen+136(%rip)\n"
	"	movq raw_status(%rip), %rax\n"
	"	movl (%rax), %eax\n"
	"	movq %rax, raw_seen+144(%rip)\n"
	"	movl $16, %eax\n"		/* SYS_ioctl */
	"	movl raw_fd(%rip), %edi\n"
	"	movq raw_goexit_cmd(%rip), %rsi\n"
	"	movl $77, %edx\n"
	"	syscall\n"
	"	ud2\n");

#define RAW_ARG		0x1111deadbeefULL

/* Slot @gidx becomes the main goroutine, starting at raw_entry. */
static void raw_main(FIXTURE_DATA(inst) *self, uint32_t gidx)
{
	raw_fd = self->ri.fd;
	raw_curg = &self->ri.p0->curg;
	raw_status = &self->ri.gtab[gidx].status;
	set_slot(&self->ri.gtab[gidx], (uintptr_t)raw_entry, self->stack, RAW_ARG);
	push_g(self->ri.ring, self->ri.spawn, gidx, GMP_SPAWN_MAIN);
}

TEST_F(inst, first_goroutine_frame)
{
	/* Not 1: rdx must be the index, whatever it is. */
	const uint32_t gidx = 5;

	if (self->ri.fd < 0)
		return;
	raw_main(self, gidx);

	ASSERT_EQ(0, gmp_ioctl_ret(self->ri.fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(1, self->ri.state->exiting);
	EXPECT_EQ(77, self->ri.state->exit_code);
	EXPECT_EQ(1, self->ri.state->mcount);
	EXPECT_EQ(1, self->ri.state->nspawned);
	EXPECT_EQ(0, self->ri.state->nbadg);
	EXPECT_LE(1, self->ri.state->nkswitch);

	/* The resume convention: rsp = sp, rdi = arg, rsi = P, rdx = G. */
	EXPECT_EQ(RAW_ARG, raw_seen.rdi);
	EXPECT_EQ(0, raw_seen.rsi);			/* P 0 of 1 */
	EXPECT_EQ(gidx, raw_seen.rdx);
	EXPECT_EQ((uintptr_t)self->stack + STACK_SIZE, raw_seen.rsp);
	/* Nothing of the M's own registers leaks into the goroutine. */
	EXPECT_EQ(0, raw_seen.rax | raw_seen.rbx | raw_seen.rcx | raw_seen.rbp);
	EXPECT_EQ(0, raw_seen.r8 | raw_seen.r9 | raw_seen.r10 | raw_seen.r11);
	EXPECT_EQ(0, raw_seen.r12 | raw_seen.r13 | raw_seen.r14 | raw_seen.r15);
	EXPECT_EQ(0x202, raw_seen.rflags & 0xfffff);
	/* While it ran it was its P's curg, and running. */
	EXPECT_EQ(gidx, raw_seen.curg);
	EXPECT_EQ(GMP_GRUNNING, raw_seen.status);
	/* Then dead, on P 0, and the P runs nothing. */
	EXPECT_EQ(GMP_GDEAD, self->ri.gtab[gidx].status);
	EXPECT_EQ(0, self->ri.gtab[gidx].p);
	EXPECT_EQ(0, self->ri.p0->curg);

	/* Exited: a late M leaves at once. */
	EXPECT_EQ(0, gmp_ioctl_ret(self->ri.fd, GMP_IOC_MSTART, 0));
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void set_alarm_handler(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };

	sigaction(SIGALRM, &sa, NULL);
}

/* Interrupt whatever blocks next in about 50 ms, without SA_RESTART. */
static void arm_alarm(void)
{
	set_alarm_handler();
	ualarm(50000, 0);
}

static void *mstart_thread(void *arg)
{
	long fd = (long)arg;

	return (void *)gmp_ioctl_ret((int)fd, GMP_IOC_MSTART, 0);
}

/*
 * A valid entry whose slot holds a context that is no user address is
 * accepted by the ring (the kernel does not read the context then) but
 * dropped when an M would run it: counted in nbadg, never jumped to, and
 * the M goes on to the next G. The main goroutine waits, yielding through
 * the kernel, until the drops are published (whatever order the M takes
 * the G's in), then ends the instance so MSTART returns.
 */
static struct gmp_state *drop_state;
static int drop_fd;
static int drop_yields;
void drop_entry(void);
void drop_main(uint64_t arg, uint32_t pid, uint32_t gidx)
	__attribute__((noreturn));

__asm__(".text\n"
	".globl drop_entry\n"
	"drop_entry:\n"
	"	call drop_main\n"
	"	ud2\n");

void drop_main(uint64_t arg, uint32_t pid, uint32_t gidx)
{
	(void)pid;
	(void)gidx;
	/* The slot still starts it from the top: GOSCHED comes back here. */
	if (__atomic_load_n(&drop_state->nbadg, __ATOMIC_RELAXED) < arg &&
	    drop_yields++ < 1000) {
		ioctl(drop_fd, GMP_IOC_GOSCHED, 0);
		__builtin_trap();	/* GOSCHED does not return */
	}
	ioctl(drop_fd, GMP_IOC_GOEXIT, 77);
	__builtin_trap();
}

TEST_F(inst, bad_context_dropped_when_run)
{
	struct timespec deadline;
	pthread_t t;
	void *ret;
	int err;

	if (self->ri.fd < 0)
		return;
	drop_state = self->ri.state;
	drop_fd = self->ri.fd;
	/* Kernel text; a non-canonical stack; a pc in the NULL page. */
	set_slot(&self->ri.gtab[1], 0xffffffff81000000UL, self->stack, 0);
	set_slot(&self->ri.gtab[2], 0x401000, self->stack, 0);
	self->ri.gtab[2].sp = 0x8000000000000000UL;
	set_slot(&self->ri.gtab[3], 0x10, self->stack, 0);
	/* Main, in slot 4, waits for 3 drops. */
	set_slot(&self->ri.gtab[4], (uintptr_t)drop_entry, self->stack, 3);
	push_g(self->ri.ring, self->ri.spawn, 1, 0);
	push_g(self->ri.ring, self->ri.spawn, 2, 0);
	push_g(self->ri.ring, self->ri.spawn, 3, 0);
	push_g(self->ri.ring, self->ri.spawn, 4, GMP_SPAWN_MAIN);
	/* All four are taken: contexts are checked when they are loaded. */
	EXPECT_EQ(4, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(4, self->ri.state->nspawned);
	EXPECT_EQ(0, self->ri.state->nbadspawn);
	EXPECT_EQ(0, self->ri.state->nbadg);

	/* An M in a thread; if it never gets out, a signal fetches it. */
	ASSERT_EQ(0, pthread_create(&t, NULL, mstart_thread,
				    (void *)(long)self->ri.fd));
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	err = pthread_timedjoin_np(t, &ret, &deadline);
	if (err == ETIMEDOUT) {
		set_alarm_handler();
		pthread_kill(t, SIGALRM);
		pthread_join(t, &ret);
	}
	ASSERT_EQ(0, err) TH_LOG("MSTART still in the scheduler after 10 s");
	EXPECT_EQ(0, (long)ret);
	EXPECT_EQ(1, self->ri.state->exiting);
	EXPECT_EQ(77, self->ri.state->exit_code);
	EXPECT_EQ(3, self->ri.state->nbadg);
	EXPECT_EQ(GMP_GDEAD, self->ri.gtab[4].status);
}

/*
 * An idle M sleeps in the kernel; a signal is delivered on its g0 frame
 * and MSTART returns -EINTR. The M stays registered and can come back;
 * back on its g0 frame it runs no goroutine, so the calls about curg are
 * refused there too.
 */
TEST_F(inst, signal_wakes_idle_m)
{
	if (self->ri.fd < 0)
		return;
	arm_alarm();
	EXPECT_EQ(-EINTR, gmp_ioctl_ret(self->ri.fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(1, alarms);
	EXPECT_EQ(1, self->ri.state->mcount);
	EXPECT_EQ(0, self->ri.state->nmidle);
	EXPECT_EQ(1, self->ri.state->npidle);
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_GOSCHED, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_SCHEDULE, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_GOEXIT, 0));

	/* Back in: runs the main goroutine and leaves with its status. */
	raw_main(self, 1);
	EXPECT_EQ(0, gmp_ioctl_ret(self->ri.fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(77, self->ri.state->exit_code);
	EXPECT_EQ(1, self->ri.state->mcount);
	EXPECT_EQ(1, raw_seen.rdx);
}

/*
 * Regression: a producer index no producer could write used to count as
 * pending work the drain refused, so the M looped in the kernel for good,
 * deaf to signals. It must park like an idle M and take its signal.
 */
TEST_F(inst, bogus_tail_does_not_wedge_m)
{
	if (self->ri.fd < 0)
		return;
	self->ri.ring->tail = self->ri.ring->head + self->ri.ring->entries + 1;
	arm_alarm();
	EXPECT_EQ(-EINTR, gmp_ioctl_ret(self->ri.fd, GMP_IOC_MSTART, 0));
	EXPECT_LE(1, self->ri.state->nbadspawn);
	EXPECT_EQ(1, self->ri.state->npidle);
}

/* No more than maxmcount M's: the next thread gets -EAGAIN at once. */
TEST(maxmcount_limit)
{
	struct gmp_create c = { .size = sizeof(c), .nprocs = 1, .maxmcount = 1 };
	pthread_t t;
	void *ret;
	int fd = gmp_open(_metadata);

	if (fd < 0)
		return;
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	EXPECT_EQ(1, c.maxmcount);
	arm_alarm();
	EXPECT_EQ(-EINTR, gmp_ioctl_ret(fd, GMP_IOC_MSTART, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, mstart_thread, (void *)(long)fd));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(-EAGAIN, (long)ret);
	close(fd);
}

/*
 * The template thread's call: work with an idle P and no parked M makes
 * the kernel ask for one M (never more than idle P's), NEWM hands the
 * request out once, a thread that could not be started is given back,
 * and with nothing asked NEWM sleeps until a signal.
 */
TEST_F(inst, newm_requests)
{
	if (self->ri.fd < 0)
		return;
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_NEWM, 1UL << 32));
	set_slot(&self->ri.gtab[1], 0x401000, self->stack, 0);
	set_slot(&self->ri.gtab[2], 0x401000, self->stack, 0);
	push_g(self->ri.ring, self->ri.spawn, 1, 0);
	push_g(self->ri.ring, self->ri.spawn, 2, 0);
	EXPECT_EQ(2, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(1, self->ri.state->nmstarting);	/* one idle P: one M */
	EXPECT_EQ(0, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(1, self->ri.state->nmstarting);
	EXPECT_EQ(1, gmp_ioctl_ret(self->ri.fd, GMP_IOC_NEWM, 0));
	EXPECT_EQ(1, self->ri.state->nmstarting);

	/* It could not be started: the kernel stops waiting for it. */
	arm_alarm();
	EXPECT_EQ(-EINTR, gmp_ioctl_ret(self->ri.fd, GMP_IOC_NEWM, 1));
	EXPECT_EQ(0, self->ri.state->nmstarting);
	/* The next wakep asks again. */
	EXPECT_EQ(0, gmp_ioctl_ret(self->ri.fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(1, self->ri.state->nmstarting);
	EXPECT_EQ(1, gmp_ioctl_ret(self->ri.fd, GMP_IOC_NEWM, 0));
}

/*
 * PROCRESIZE: 1 .. maxprocs (by default at least the possible CPUs);
 * it returns the old count and the state page follows. An idle P taken
 * away hands the goroutines in its queue to the global queue at once.
 */
TEST_F(inst, procresize)
{
	struct gmp_pshared *p1 = &self->ri.p0[1];
	int i;

	if (self->ri.fd < 0)
		return;
	ASSERT_LE(2, self->ri.c.maxprocs);
	EXPECT_LE(sysconf(_SC_NPROCESSORS_CONF), self->ri.c.maxprocs);
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_PROCRESIZE, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_PROCRESIZE,
				     self->ri.c.maxprocs + 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->ri.fd, GMP_IOC_PROCRESIZE, 1UL << 32));

	EXPECT_EQ(1, gmp_ioctl_ret(self->ri.fd, GMP_IOC_PROCRESIZE, 2));
	EXPECT_EQ(2, self->ri.state->nprocs);
	EXPECT_EQ(2, self->ri.state->npidle);

	/* Two goroutines in the new P's queue (nobody holds it). */
	for (i = 1; i <= 2; i++) {
		set_slot(&self->ri.gtab[i], 0x401000, self->stack, 0);
		self->ri.gtab[i].status = GMP_GRUNNABLE;
		p1->runq[i - 1] = i;
	}
	__atomic_store_n(&p1->runqtail, p1->runqhead + 2, __ATOMIC_RELEASE);

	EXPECT_EQ(2, gmp_ioctl_ret(self->ri.fd, GMP_IOC_PROCRESIZE, 1));
	EXPECT_EQ(1, self->ri.state->nprocs);
	EXPECT_EQ(1, self->ri.state->npidle);
	EXPECT_EQ(2, self->ri.state->runqsize);
	EXPECT_EQ(p1->runqtail, p1->runqhead);
	EXPECT_EQ(0, self->ri.state->nbadg);
	EXPECT_EQ(1, gmp_ioctl_ret(self->ri.fd, GMP_IOC_PROCRESIZE, 1));
}

TEST_HARNESS_MAIN
