// SPDX-License-Identifier: GPL-2.0
/*
 * Goroutine stacks fail loudly: a goroutine that runs off its stack (deep
 * recursion, or one frame bigger than the stack, like Go's ordinary
 * make([]byte, 64<<10)) is stopped with a message naming it and its stack
 * size, and the process ends (Go's "stack overflow"); the stacks next to
 * it are untouched. The guards cost no mapping per goroutine.
 *
 *  - recursion_overflow_is_reported, big_frame_overflow_is_reported: in a
 *    child; its SIGABRT handler (kgo aborts after the message) checks the
 *    canaries of 63 parked neighbours and exits 42 if every one is whole.
 *  - guards_cost_no_mapping_per_goroutine: 65,536 parked goroutines add
 *    about one mapping per 64 of them.
 *  - stack_mapping_rules: the module's stack mapping (GMP_OFF_STACKS) is
 *    private, never executable, refuses a layout without guard or stack,
 *    faults on guards only, and a forked child gets its own copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "gmp_test_util.h"
#include "kselftest_harness.h"

#define NNEIGH		63
#define CANARY		4096

static unsigned char *canary[NNEIGH];
static struct latch ready;
static uint32_t never;

static unsigned char canary_byte(unsigned int i, unsigned int k)
{
	return (unsigned char)(0xa5 ^ (i * 13 + k));
}

/* A neighbour: a canary on its stack, then parked for good. */
static void neighbour(void *arg)
{
	unsigned int i = (unsigned int)(uintptr_t)arg, k;
	unsigned char buf[CANARY];

	for (k = 0; k < CANARY; k++)
		buf[k] = canary_byte(i, k);
	canary[i] = buf;
	__asm__ volatile("" : : "r"(buf) : "memory");
	latch_done(&ready);
	for (;;)
		kgo_park(&never, 0);
}

/* kgo aborts after its message: count the canaries still whole. */
static void on_abort(int sig)
{
	unsigned int i, k, broken = 0;

	(void)sig;
	for (i = 0; i < NNEIGH; i++)
		for (k = 0; k < CANARY; k++)
			if (canary[i][k] != canary_byte(i, k)) {
				broken++;
				break;
			}
	_exit(broken ? 43 : 42);
}

static volatile int depth_limit = 1 << 30;

static __attribute__((noinline)) int recurse(int n)
{
	volatile char frame[512];

	if (n > depth_limit)
		return 0;
	frame[0] = (char)n;
	frame[511] = (char)n;
	return recurse(n + 1) + frame[0] + frame[511];
}

static __attribute__((noinline)) void big_frame(void)
{
	char buf[65536];

	memset(buf, 1, sizeof(buf));
	__asm__ volatile("" : : "r"(buf) : "memory");
}

static void overflower(void *arg)
{
	if (arg)
		big_frame();
	else
		recurse(0);
}

static int overflow_main(void *arg)
{
	uintptr_t i;
	int r;

	ready.target = NNEIGH;
	for (i = 0; i < NNEIGH; i++) {
		r = kgo_go(neighbour, (void *)i);
		GCHECK_RET(!r, 10, "kgo_go of neighbour %lu returned %d, want 0",
			   (unsigned long)i, r);
	}
	latch_wait(&ready);
	r = kgo_go(overflower, arg);
	GCHECK_RET(!r, 11, "kgo_go(overflower) returned %d, want 0", r);
	for (;;)
		kgo_park(&never, 0);
	return 0;
}

static int big;

static int overflow_child(void *arg)
{
	(void)arg;
	signal(SIGABRT, on_abort);
	return overflow_main((void *)(uintptr_t)big);
}

static void check_overflow(struct __test_metadata *_metadata, int big_one)
{
	char err[1024];
	int status;

	big = big_one;
	status = run_in_child(overflow_child, "2", err, sizeof(err));
	TH_LOG("exit %d, stderr: %s", status, err);
	/* 42: the message, then every neighbour's canary whole. */
	EXPECT_EQ(42, status);
	EXPECT_NE(NULL, strstr(err, "kgo: fatal error: stack overflow: goroutine"));
	EXPECT_NE(NULL, strstr(err, "ran off its 64 KiB stack"));
}

TEST(recursion_overflow_is_reported)
{
	REQUIRE_GMP();
	check_overflow(_metadata, 0);
}

TEST(big_frame_overflow_is_reported)
{
	REQUIRE_GMP();
	check_overflow(_metadata, 1);
}

/* --- Mappings ------------------------------------------------------------ */

#define NPARK	65536

static struct latch parked;

static void parker(void *arg)
{
	(void)arg;
	latch_done(&parked);
	kgo_park(&never, 0);
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int maps_before, maps_after;

static int maps_main(void *arg)
{
	uint32_t i;
	int r;

	(void)arg;
	maps_before = count_maps();
	parked.target = NPARK;
	for (i = 0; i < NPARK; i++) {
		r = kgo_go(parker, NULL);
		GCHECK_RET(!r, 10, "kgo_go of parker %u of %d returned %d, want 0",
			   i + 1, NPARK, r);
	}
	latch_wait(&parked);
	maps_after = count_maps();
	return 0;
}

TEST(guards_cost_no_mapping_per_goroutine)
{
	int status = -1;

	REQUIRE_GMP();
	setenv("GMPMAXPROCS", "2", 1);
	ASSERT_EQ(0, kgo_run(maps_main, NULL, &status));
	ASSERT_EQ(0, gcheck_report(status));
	TH_LOG("%d parked goroutines: %d mappings before, %d after", NPARK,
	       maps_before, maps_after);
	/* A chunk of 64 stacks is one mapping; a little room for the rest. */
	EXPECT_LT(maps_after - maps_before, NPARK / 64 + 64);
}

/* --- The mapping itself ------------------------------------------------ */

/* Does touching @p (write or read) kill a child with SIGSEGV? */
static int touch_in_child(volatile char *p, bool write)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		if (write)
			*p = 1;
		else
			(void)*p;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

TEST(stack_mapping_rules)
{
	const size_t slot = 8 * 4096, len = 4 * slot;	/* 2 guard, 6 stack */
	off_t off = (off_t)GMP_OFF_STACKS_LAYOUT(6, 2);
	int fd, status, i;
	char *p;
	pid_t pid;

	REQUIRE_GMP();
	fd = open("/dev/gmp", O_RDWR);	/* no instance needed */
	ASSERT_LE(0, fd);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, off));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ | PROT_EXEC,
				   MAP_PRIVATE, fd, off));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd,
				   (off_t)GMP_OFF_STACKS_LAYOUT(6, 0)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd,
				   (off_t)GMP_OFF_STACKS_LAYOUT(0, 2)));
	EXPECT_EQ(EINVAL, errno);

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, off);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_NE(0, mprotect(p, len, PROT_READ | PROT_EXEC));
	for (i = 0; i < 4; i++) {
		/* Stack pages: zero, then private memory of this process. */
		EXPECT_EQ(0, p[i * slot + 2 * 4096]);
		p[i * slot + 2 * 4096] = (char)(i + 1);
		p[i * slot + slot - 1] = (char)(i + 1);
		EXPECT_EQ(SIGSEGV, touch_in_child(p + i * slot, true));
		EXPECT_EQ(SIGSEGV, touch_in_child(p + i * slot + 8191, false));
	}
	/* A child's copy is its own: its writes stay there. */
	pid = fork();
	if (!pid) {
		p[2 * 4096] = 99;
		_exit(p[slot - 1] == 1 && p[3 * slot + 2 * 4096] == 4 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(1, p[2 * 4096]);
	/* MADV_DONTNEED gives the pages back: zero again. */
	EXPECT_EQ(0, madvise(p, len, MADV_DONTNEED));
	EXPECT_EQ(0, p[slot - 1]);
	munmap(p, len);
	close(fd);
}

TEST_HARNESS_MAIN
