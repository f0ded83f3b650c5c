// SPDX-License-Identifier: GPL-2.0
/*
 * The /dev/gmp uapi, driven raw (no kgo): device open and close, ioctl
 * numbers and argument checks, the extensible create struct, the mmap
 * regions, junk in the spawn ring, and the first goroutine's frame as the
 * kernel loads it from its G table slot. Every bad input must get a clean
 * errno and leave the instance usable. (Forged run queues and contexts:
 * gmp_hostile_test.c.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kselftest_harness.h"

#define STACK_SIZE	(64 * 1024)

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
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&big));
	EXPECT_EQ(1, big.c.nprocs);
	EXPECT_EQ(0, big.tail[0] | big.tail[1] | big.tail[2] | big.tail[3]);

	/* Once per file. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	EXPECT_EQ(-EEXIST, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
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
	EXPECT_CREATE_EINVAL(c.features = GMP_FEAT_SPAWN_RING);
	EXPECT_CREATE_EINVAL(c.state_size = 4096);
	EXPECT_CREATE_EINVAL(c.sched_size = 4096);
	EXPECT_CREATE_EINVAL(c.gtab_off = 4096);
	EXPECT_CREATE_EINVAL(c.maxg = 1);		/* index 0 is no G */
	EXPECT_CREATE_EINVAL(c.maxg = GMP_MAXG_MAX + 1);
	EXPECT_CREATE_EINVAL(c.nprocs = GMP_NPROCS_MAX + 1);
	EXPECT_CREATE_EINVAL(c.maxmcount = GMP_MAXMCOUNT_MAX + 1);
	EXPECT_CREATE_EINVAL(c.ring_entries = 100);
	EXPECT_CREATE_EINVAL(c.ring_entries = GMP_RING_ENTRIES_MAX * 2);

	/* After all that, a good request still works: defaults filled in. */
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	ASSERT_EQ(0, gmp_ioctl(fd, GMP_IOC_CREATE, (uintptr_t)&c));
	EXPECT_EQ(sysconf(_SC_NPROCESSORS_ONLN), c.nprocs);
	EXPECT_EQ(GMP_MAXMCOUNT_DEFAULT, c.maxmcount);
	EXPECT_EQ(GMP_RING_ENTRIES_DEFAULT, c.ring_entries);
	EXPECT_EQ(GMP_FEAT_SPAWN_RING | GMP_FEAT_USER_RUNQ, c.features);
	EXPECT_EQ(4096, c.state_size);
	EXPECT_LE(GMP_RING_SPAWN_OFF + GMP_RING_ENTRIES_DEFAULT * sizeof(struct gmp_spawn),
		  c.ring_size);
	/* The P's public halves, then the G table on a page boundary. */
	EXPECT_EQ(GMP_MAXG_DEFAULT, c.maxg);
	EXPECT_EQ(0, c.gtab_off % 4096);
	EXPECT_LE(c.nprocs * sizeof(struct gmp_pshared), c.gtab_off);
	EXPECT_GT(c.nprocs * sizeof(struct gmp_pshared) + 4096, c.gtab_off);
	EXPECT_EQ(c.gtab_off + (uint64_t)c.maxg * sizeof(struct gmp_gslot),
		  c.sched_size);
	close(fd);
#undef EXPECT_CREATE_EINVAL
}

/* --- An instance, mapped ------------------------------------------------ */

FIXTURE(inst) {
	int fd;
	struct gmp_create c;
	struct gmp_state *state;
	struct gmp_ring *ring;
	struct gmp_spawn *spawn;
	struct gmp_pshared *allp;
	struct gmp_gslot *gtab;
	char *stack;
};

FIXTURE_SETUP(inst)
{
	self->fd = gmp_open(_metadata);
	if (self->fd < 0)
		return;
	memset(&self->c, 0, sizeof(self->c));
	self->c.size = sizeof(self->c);
	self->c.nprocs = 1;
	self->c.ring_entries = 8;
	self->c.maxg = 1024;
	ASSERT_EQ(0, gmp_ioctl(self->fd, GMP_IOC_CREATE, (uintptr_t)&self->c));
	self->state = mmap(NULL, self->c.state_size, PROT_READ, MAP_SHARED,
			   self->fd, GMP_OFF_STATE);
	ASSERT_NE(MAP_FAILED, self->state);
	self->ring = mmap(NULL, self->c.ring_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED, self->fd, GMP_OFF_RING);
	ASSERT_NE(MAP_FAILED, self->ring);
	self->spawn = (void *)((char *)self->ring + GMP_RING_SPAWN_OFF);
	self->allp = mmap(NULL, self->c.sched_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED, self->fd, GMP_OFF_SCHED);
	ASSERT_NE(MAP_FAILED, self->allp);
	self->gtab = (void *)((char *)self->allp + self->c.gtab_off);
	self->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->stack);
}

FIXTURE_TEARDOWN(inst)
{
	if (self->fd >= 0)
		close(self->fd);
}

/*
 * A goroutine in slot @gidx that starts at @pc at the top of @stack with
 * rdi = 0x1111, and the ring entry that makes it runnable.
 */
static struct gmp_spawn good_entry(struct gmp_gslot *gtab, uint32_t gidx,
				   char *stack, uintptr_t pc)
{
	struct gmp_spawn e = { .gidx = gidx };

	gtab[gidx].pc = pc;
	gtab[gidx].sp = (uintptr_t)stack + STACK_SIZE;
	gtab[gidx].arg = 0x1111;
	return e;
}

static void ring_push(struct gmp_ring *ring, struct gmp_spawn *spawn,
		      const struct gmp_spawn *e)
{
	uint32_t tail = ring->tail;

	spawn[tail & ring->mask] = *e;
	__atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
}

TEST_F(inst, state_page)
{
	if (self->fd < 0)
		return;
	EXPECT_EQ(GMP_STATE_MAGIC, self->state->magic);
	EXPECT_EQ(GMP_API_VERSION, self->state->version);
	EXPECT_EQ(1, self->state->nprocs);
	EXPECT_EQ(1, self->state->npidle);
	EXPECT_EQ(0, self->state->mcount);
	EXPECT_EQ(0, self->state->exiting);
	EXPECT_EQ(0, self->state->nbadg);
	EXPECT_EQ(0, self->state->nparked);
	EXPECT_EQ(8, self->ring->entries);
	EXPECT_EQ(7, self->ring->mask);
	/* An empty P and an empty G table. */
	EXPECT_EQ(0, self->allp[0].runqhead | self->allp[0].runqtail |
		     self->allp[0].runnext | self->allp[0].curg);
	EXPECT_EQ(GMP_GIDLE, self->gtab[1].status);
}

TEST_F(inst, mmap_rules)
{
	void *p;

	if (self->fd < 0)
		return;
	/* The state page is read-only, for good. */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 GMP_OFF_STATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, mprotect(self->state, 4096, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	/* Shared only, known offsets only, no larger than the region. */
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, self->fd, GMP_OFF_STATE);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd, 4096);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, self->c.ring_size + 4096, PROT_READ, MAP_SHARED,
		 self->fd, GMP_OFF_RING);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* The mapping cannot grow. */
	p = mremap(self->ring, self->c.ring_size, self->c.ring_size + 4096, 0);
	EXPECT_EQ(MAP_FAILED, p);

	/* The scheduler area: shared only, no larger than sched_size. */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd,
		 GMP_OFF_SCHED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, self->c.sched_size + 4096, PROT_READ, MAP_SHARED,
		 self->fd, GMP_OFF_SCHED);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mremap(self->allp, self->c.sched_size, self->c.sched_size + 4096, 0);
	EXPECT_EQ(MAP_FAILED, p);
}

/*
 * One scheduler area, however often it is mapped: a second mapping sees
 * the first one's writes, in the P's half and in a G table page touched
 * through either.
 */
TEST_F(inst, sched_area_is_shared)
{
	struct gmp_pshared *again;
	struct gmp_gslot *gtab2;
	uint32_t far;

	if (self->fd < 0)
		return;
	again = mmap(NULL, self->c.sched_size, PROT_READ | PROT_WRITE,
		     MAP_SHARED, self->fd, GMP_OFF_SCHED);
	ASSERT_NE(MAP_FAILED, again);
	gtab2 = (void *)((char *)again + self->c.gtab_off);
	far = self->c.maxg - 1;

	self->allp[0].runq[17] = 0xabcd;
	EXPECT_EQ(0xabcd, again[0].runq[17]);
	self->gtab[5].pc = 0x1234;
	EXPECT_EQ(0x1234, gtab2[5].pc);
	gtab2[far].sp = 0x5678;			/* first touched here */
	EXPECT_EQ(0x5678, self->gtab[far].sp);
	/* Pages are zero until written. */
	EXPECT_EQ(0, self->gtab[far - 1].pc | self->gtab[far - 1].status);
	munmap(again, self->c.sched_size);
	EXPECT_EQ(0x5678, self->gtab[far].sp);
}

TEST_F(inst, ioctl_args)
{
	if (self->fd < 0)
		return;
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_MSTART, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOSCHED, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_SCHEDULE, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_WAKEP, 1));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOEXIT, 1UL << 32));
	/* Not running a goroutine: nothing to exit, yield or park. */
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOEXIT, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOSCHED, 0));
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_SCHEDULE, 0));
	EXPECT_EQ(0, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0));
}

TEST_F(inst, park_ready_args)
{
	uint32_t word = 0;
	struct gmp_wait w = { .uaddr = (uintptr_t)&word };

	if (self->fd < 0)
		return;
	/* Well-formed, but this thread runs no goroutine. */
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOPARK, (uintptr_t)&w));
	EXPECT_EQ(0, gmp_ioctl_ret(self->fd, GMP_IOC_GOREADY, (uintptr_t)&w));
	EXPECT_EQ(-EFAULT, gmp_ioctl(self->fd, GMP_IOC_GOREADY, 0));
	EXPECT_EQ(-EFAULT, gmp_ioctl(self->fd, GMP_IOC_GOPARK, 0xffffffff81000000UL));
	w.flags = 1;
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOREADY, (uintptr_t)&w));
	w.flags = 0;
	w.uaddr = (uintptr_t)&word + 2;
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOREADY, (uintptr_t)&w));
	w.uaddr = 0xffff888000000000UL;
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOPARK, (uintptr_t)&w));
	w.uaddr = 0;
	EXPECT_EQ(-EINVAL, gmp_ioctl(self->fd, GMP_IOC_GOREADY, (uintptr_t)&w));
}

/* A forked child shares neither the instance nor its mappings. */
TEST_F(inst, fork_child_is_refused)
{
	pid_t pid;
	int status;

	if (self->fd < 0)
		return;
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char vec;

		if (gmp_ioctl(self->fd, GMP_IOC_WAKEP, 0) != -EPERM)
			_exit(1);
		if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd,
			 GMP_OFF_STATE) != MAP_FAILED || errno != EPERM)
			_exit(2);
		/* VM_DONTCOPY: the parent's ring is not mapped here. */
		if (mincore(self->ring, 4096, &vec) == 0 || errno != ENOMEM)
			_exit(3);
		/* Nor its run queues and G table. */
		if (mincore(self->allp, 4096, &vec) == 0 || errno != ENOMEM)
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Each kind of junk entry is dropped with -EINVAL; good ones still go. */
TEST_F(inst, ring_junk)
{
	struct gmp_spawn e;
	uint64_t bad = 0;
	int i;

	if (self->fd < 0)
		return;
#define PUSH_BAD(field_change) do {					\
		e = good_entry(self->gtab, 1, self->stack, 0x401000);	\
		field_change;						\
		ring_push(self->ring, self->spawn, &e);			\
		EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0)) \
			TH_LOG("accepted: %s", #field_change);		\
		EXPECT_EQ(++bad, self->state->nbadspawn);		\
		EXPECT_EQ(self->ring->tail, self->ring->head);		\
	} while (0)

	PUSH_BAD(e.gidx = 0);				/* no goroutine */
	PUSH_BAD(e.gidx = self->c.maxg);		/* out of range */
	PUSH_BAD(e.gidx = UINT32_MAX);
	PUSH_BAD(e.gidx = self->c.maxg - 1);		/* page never touched */
	PUSH_BAD(e.flags = 1U << 7);
	PUSH_BAD(e.resv = 1);
#undef PUSH_BAD

	/* A producer index beyond the ring: refused, nothing consumed. */
	self->ring->tail = self->ring->head + self->ring->entries + 1;
	EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(bad + 1, self->state->nbadspawn);
	self->ring->tail = self->ring->head;

	/* The kernel keeps its own consumer index: scribbling on it is moot. */
	self->ring->head += 3;
	e = good_entry(self->gtab, 1, self->stack, 0x401000);
	ring_push(self->ring, self->spawn, &e);
	self->ring->head -= 3;

	/* Still usable: a full ring's worth of good entries is taken. */
	for (i = 2; i <= 8; i++) {
		e = good_entry(self->gtab, i, self->stack, 0x401000);
		ring_push(self->ring, self->spawn, &e);
	}
	EXPECT_EQ(8, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(8, self->state->nspawned);
	EXPECT_EQ(GMP_GRUNNABLE, self->gtab[8].status);
	/* Nobody holds a P, so they wait on the global queue. */
	EXPECT_EQ(8, self->state->runqsize);
	/* Made runnable twice: linked once, the second one dropped. */
	e = good_entry(self->gtab, 8, self->stack, 0x401000);
	ring_push(self->ring, self->spawn, &e);
	EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(8, self->state->runqsize);
	EXPECT_EQ(1, self->state->nbadg);
}

TEST_F(inst, one_main_goroutine)
{
	struct gmp_spawn e;

	if (self->fd < 0)
		return;
	e = good_entry(self->gtab, 1, self->stack, 0x401000);
	e.flags = GMP_SPAWN_MAIN;
	ring_push(self->ring, self->spawn, &e);
	EXPECT_EQ(1, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0));
	e = good_entry(self->gtab, 2, self->stack, 0x401000);
	e.flags = GMP_SPAWN_MAIN;
	ring_push(self->ring, self->spawn, &e);
	EXPECT_EQ(-EINVAL, gmp_ioctl_ret(self->fd, GMP_IOC_WAKEP, 0));
	EXPECT_EQ(1, self->state->nbadspawn);
}

/*
 * The first goroutine, by hand: an M enters with MSTART, the kernel loads
 * the G's context from its slot, raw_entry records the registers it was
 * started with and ends the main goroutine with GOEXIT(77), which returns
 * the M to its MSTART call with 0.
 */
struct regs_seen {
	uint64_t rdi, rsi, rdx, rsp, rax, rbx, rcx, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rflags;
};

struct regs_seen raw_seen;
int raw_fd;
unsigned long raw_goexit_cmd = GMP_IOC_GOEXIT;
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
	"	movl $16, %eax\n"		/* SYS_ioctl */
	"	movl raw_fd(%rip), %edi\n"
	"	movq raw_goexit_cmd(%rip), %rsi\n"
	"	movl $77, %edx\n"
	"	syscall\n"
	"	ud2\n");

TEST_F(inst, first_goroutine_frame)
{
	struct gmp_spawn e;

	if (self->fd < 0)
		return;
	raw_fd = self->fd;
	e = good_entry(self->gtab, 5, self->stack, (uintptr_t)raw_entry);
	e.flags = GMP_SPAWN_MAIN;
	ring_push(self->ring, self->spawn, &e);

	ASSERT_EQ(0, gmp_ioctl_ret(self->fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(1, self->state->exiting);
	EXPECT_EQ(77, self->state->exit_code);
	EXPECT_EQ(1, self->state->mcount);
	EXPECT_EQ(0, self->state->nbadg);
	EXPECT_EQ(1, self->state->nkswitch);
	/* The kernel's view of it, in the shared area. */
	EXPECT_EQ(GMP_GDEAD, self->gtab[5].status);
	EXPECT_EQ(0, self->gtab[5].p);

	EXPECT_EQ(0x1111, raw_seen.rdi);		/* slot's arg */
	EXPECT_EQ(0, raw_seen.rsi);			/* P id */
	EXPECT_EQ(5, raw_seen.rdx);			/* G index */
	EXPECT_EQ((uintptr_t)self->stack + STACK_SIZE, raw_seen.rsp);
	/* Nothing of the M's own registers leaks into the goroutine. */
	EXPECT_EQ(0, raw_seen.rax | raw_seen.rbx | raw_seen.rcx | raw_seen.rbp);
	EXPECT_EQ(0, raw_seen.r8 | raw_seen.r9 | raw_seen.r10 | raw_seen.r11);
	EXPECT_EQ(0, raw_seen.r12 | raw_seen.r13 | raw_seen.r14 | raw_seen.r15);
	EXPECT_EQ(0x202, raw_seen.rflags & 0xfffff);

	/* Exited: a late M leaves at once. */
	EXPECT_EQ(0, gmp_ioctl_ret(self->fd, GMP_IOC_MSTART, 0));
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Interrupt whatever blocks next in about 50 ms, without SA_RESTART. */
static void arm_alarm(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };

	sigaction(SIGALRM, &sa, NULL);
	ualarm(50000, 0);
}

/*
 * An idle M sleeps in the kernel; a signal is delivered on its g0 frame
 * and MSTART returns -EINTR. The M stays registered and can come back.
 */
TEST_F(inst, signal_wakes_idle_m)
{
	struct gmp_spawn e;

	if (self->fd < 0)
		return;
	arm_alarm();
	EXPECT_EQ(-EINTR, gmp_ioctl_ret(self->fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(1, alarms);
	EXPECT_EQ(1, self->state->mcount);
	EXPECT_EQ(0, self->state->nmidle);
	EXPECT_EQ(1, self->state->npidle);

	/* Back in: runs the main goroutine and leaves with its status. */
	raw_fd = self->fd;
	e = good_entry(self->gtab, 1, self->stack, (uintptr_t)raw_entry);
	e.flags = GMP_SPAWN_MAIN;
	ring_push(self->ring, self->spawn, &e);
	EXPECT_EQ(0, gmp_ioctl_ret(self->fd, GMP_IOC_MSTART, 0));
	EXPECT_EQ(77, self->state->exit_code);
	EXPECT_EQ(1, self->state->mcount);
}

/*
 * Regression: a producer index no producer could write used to count as
 * pending work the drain refused, so the M looped in the kernel for good,
 * deaf to signals. It must park like an idle M and take its signal.
 */
TEST_F(inst, bogus_tail_does_not_wedge_m)
{
	if (self->fd < 0)
		return;
	self->ring->tail = self->ring->head + self->ring->entries + 1;
	arm_alarm();
	EXPECT_EQ(-EINTR, gmp_ioctl_ret(self->fd, GMP_IOC_MSTART, 0));
	EXPECT_LE(1, self->state->nbadspawn);
	EXPECT_EQ(1, self->state->npidle);
}

static void *mstart_thread(void *arg)
{
	long fd = (long)arg;

	return (void *)gmp_ioctl_ret((int)fd, GMP_IOC_MSTART, 0);
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

TEST_HARNESS_MAIN
