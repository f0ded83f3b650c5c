// SPDX-License-Identifier: GPL-2.0
/*
 * Life cycle and isolation: a process killed with SIGKILL in the middle
 * of everything gives back all it had (the module's reference count, its
 * sysmon kthread); exec drops the instance; an instance's file passed to
 * another process over a socket serves only its creator; many processes
 * with instances at once each get their own answers.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kselftest_harness.h"
#include "gmp_test_util.h"

#define REFCNT	"/sys/module/gmp/refcnt"

/* The module's reference count: one per open /dev/gmp file and per M. */
static long refcnt(void)
{
	char buf[32];

	if (read_file(REFCNT, buf, sizeof(buf)) < 0)
		return -1;
	return atol(buf);
}

/* How many threads on the machine are called gmp-sysmon/<pid>. */
static int sysmon_threads(void)
{
	char path[64], comm[64];
	struct dirent *d;
	int n = 0;
	DIR *dir = opendir("/proc");

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		snprintf(path, sizeof(path), "/proc/%.16s/comm", d->d_name);
		if (read_file(path, comm, sizeof(comm)) >= 0 &&
		    !strncmp(comm, "gmp-sysmon", 10))
			n++;
	}
	closedir(dir);
	return n;
}

/* Wait up to @secs for the reference count to come back to @want. */
static long refcnt_settles(long want, int secs)
{
	long r = refcnt();
	int i;

	for (i = 0; i < secs * 100 && r != want; i++) {
		usleep(10000);
		r = refcnt();
	}
	return r;
}

#define SKIP_WITHOUT_GMP() do {						\
		if (access(GMP_DEVICE_PATH, F_OK))			\
			SKIP(return, "%s missing: gmp.ko is not loaded",\
			     GMP_DEVICE_PATH);				\
		if (refcnt() < 0)					\
			SKIP(return, REFCNT " missing (no module unload)");\
	} while (0)

/* --- SIGKILL in the middle of everything --------------------------------- */

#define NPARKED		6000
#define NSLEEPERS	3000
#define NREADERS	16	/* M's blocked in read() */
#define NSPINNERS	4	/* never yield: preempted by sysmon */
#define NYIELDERS	(10000 - NPARKED - NSLEEPERS - NREADERS - NSPINNERS)

static int ready_fd;
static int block_pipe[2];
static struct kgo_chan *never;
static long started;

static void mark_started(void)
{
	if (__atomic_add_fetch(&started, 1, __ATOMIC_RELAXED) == 10000)
		if (write(ready_fd, "r", 1) != 1)
			abort();
}

static void parked(void *arg)
{
	long v;

	(void)arg;
	mark_started();
	kgo_chan_recv(never, &v);
}

static void sleeper(void *arg)
{
	(void)arg;
	mark_started();
	kgo_sleep(3600LL * 1000000000);
}

static void reader(void *arg)
{
	char c;

	(void)arg;
	mark_started();
	if (read(block_pipe[0], &c, 1) >= 0)	/* nobody writes */
		abort();
}

static void spinner(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	mark_started();
	for (;;)
		x++;
}

static void yielder(void *arg)
{
	(void)arg;
	mark_started();
	for (;;)
		kgo_yield();
}

static int everything(void *arg)
{
	int i;

	(void)arg;
	never = kgo_chan_make(sizeof(long), 0);
	GCHECK_RET(!pipe(block_pipe), 1, "pipe for the readers failed (errno %d)",
		   errno);
	for (i = 0; i < NREADERS; i++)
		kgo_go(reader, NULL);
	for (i = 0; i < NSPINNERS; i++)
		kgo_go(spinner, NULL);
	for (i = 0; i < NPARKED; i++)
		kgo_go(parked, NULL);
	for (i = 0; i < NSLEEPERS; i++)
		kgo_go(sleeper, NULL);
	for (i = 0; i < NYIELDERS; i++)
		kgo_go(yielder, NULL);
	for (;;)
		kgo_yield();
	return 0;
}

/*
 * 10,000 goroutines starting beside spinners take most of the harness's
 * default 30 s on the debug kernel with kmemleak: give it 180.
 */
TEST_TIMEOUT(sigkill_releases_everything, 180)
{
	int fds[2], status, before_sysmon;
	long before;
	char c;
	pid_t pid;

	SKIP_WITHOUT_GMP();
	before = refcnt();
	before_sysmon = sysmon_threads();
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(fds[0]);
		ready_fd = fds[1];
		_exit(run_with_procs(everything, NULL, "2") & 0xff);
	}
	close(fds[1]);
	/* All 10,000 have run; then let the readers' M's block for good. */
	ASSERT_EQ(1, read(fds[0], &c, 1)) TH_LOG("the child never got going");
	usleep(200000);
	/* Its instance (a file and the M's) and a sysmon of its own. */
	EXPECT_LT(before + 1, refcnt());
	EXPECT_EQ(before_sysmon + 1, sysmon_threads());
	ASSERT_EQ(0, kill(pid, SIGKILL));
	alarm(60);		/* a child the kernel cannot kill hangs here */
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	alarm(0);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	EXPECT_EQ(before, refcnt_settles(before, 10));
	EXPECT_EQ(before_sysmon, sysmon_threads());
	close(fds[0]);
}

/* --- exec: the instance goes with the old image ------------------------- */

/*
 * The child after exec: report the reference count once it is back to
 * what it was before the instance (or after 5 s), then leave.
 */
static int exec_child(int fd, long before)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%ld", refcnt_settles(before, 5));

	gcheck_child(2);
	GCHECK_RET(write(fd, line, n) == n, 1,
		   "the exec'd child could not write its count to the parent (errno %d)",
		   errno);
	return 0;
}

static long exec_before;

static int hello_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char self[64], num[16], was[24];

	/* kgo's file is close-on-exec; its mappings go with the image. */
	snprintf(self, sizeof(self), "/proc/%d/exe", getpid());
	snprintf(num, sizeof(num), "%d", fd);
	snprintf(was, sizeof(was), "%ld", exec_before);
	execl(self, self, "--exec-child", num, was, (char *)NULL);
	GCHECK_FAIL("execl(%s) from a goroutine failed (errno %d)", self, errno);
	return 99;
}

TEST(exec_drops_the_instance)
{
	int fds[2], status;
	char line[32] = "";
	long before;
	pid_t pid;

	SKIP_WITHOUT_GMP();
	before = refcnt();
	exec_before = before;
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int st = -1;

		close(fds[0]);
		gcheck_child(2);
		/* exec from inside a goroutine, with M's and sysmon live. */
		_exit(kgo_run(hello_main, (void *)(intptr_t)fds[1], &st) ? 98 : st);
	}
	close(fds[1]);
	ASSERT_LT(0, read(fds[0], line, sizeof(line) - 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* After exec, while the new image ran, the instance was gone. */
	EXPECT_EQ(before, atol(line));
	EXPECT_EQ(before, refcnt_settles(before, 10));
	close(fds[0]);
}

/* --- An instance's file in another process ------------------------------ */

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], b;
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * The receiver: a process that was started before the instance existed,
 * so it is no fork of its creator. Every use of the instance is refused.
 */
static int use_foreign_instance(int sock)
{
	int fd = recv_fd(sock);
	void *p;
	long r;

	gcheck_child(2);
	GCHECK_RET(fd >= 0, 10, "receiving the instance's fd failed (errno %d)",
		   errno);
	r = ioctl(fd, GMP_IOC_WAKEP, 0);
	GCHECK_RET(r == -1 && errno == EPERM, 11,
		   "WAKEP on another process's instance returned %ld (errno %d), want -1 with EPERM",
		   r, errno);
	r = ioctl(fd, GMP_IOC_GOSCHED, 0);
	GCHECK_RET(r == -1 && errno == EPERM, 12,
		   "GOSCHED on another process's instance returned %ld (errno %d), want -1 with EPERM",
		   r, errno);
	r = ioctl(fd, GMP_IOC_MSTART, 0);
	GCHECK_RET(r == -1 && errno == EPERM, 13,
		   "MSTART on another process's instance returned %ld (errno %d), want -1 with EPERM",
		   r, errno);
	r = ioctl(fd, GMP_IOC_PROCRESIZE, 1);
	GCHECK_RET(r == -1 && errno == EPERM, 14,
		   "PROCRESIZE on another process's instance returned %ld (errno %d), want -1 with EPERM",
		   r, errno);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, GMP_OFF_STATE);
	GCHECK_RET(p == MAP_FAILED && errno == EPERM, 15,
		   "mmap of another process's state page returned %p (errno %d), want MAP_FAILED with EPERM",
		   p, errno);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 GMP_OFF_SCHED);
	GCHECK_RET(p == MAP_FAILED && errno == EPERM, 16,
		   "mmap of another process's scheduler area returned %p (errno %d), want MAP_FAILED with EPERM",
		   p, errno);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 GMP_OFF_RING);
	GCHECK_RET(p == MAP_FAILED && errno == EPERM, 17,
		   "mmap of another process's spawn ring returned %p (errno %d), want MAP_FAILED with EPERM",
		   p, errno);
	return 0;
}

TEST(passed_fd_serves_only_its_creator)
{
	struct gmp_create c = { .size = sizeof(c), .nprocs = 1 };
	struct gmp_state *state;
	int sv[2], fd, status;
	pid_t pid;

	SKIP_WITHOUT_GMP();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		/* The debug kernel's tinyconfig has no sockets at all. */
		if (errno == ENOSYS || errno == EAFNOSUPPORT)
			SKIP(return, "no AF_UNIX sockets in this kernel (errno %d)", errno);
		ASSERT_EQ(0, -errno);
	}
	pid = fork();			/* before the instance exists */
	ASSERT_LE(0, pid);
	if (!pid) {
		close(sv[0]);
		_exit(use_foreign_instance(sv[1]));
	}
	close(sv[1]);
	fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, GMP_IOC_CREATE, &c));
	ASSERT_EQ(0, send_fd(sv[0], fd));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* Nothing the other process tried reached the instance. */
	state = mmap(NULL, c.state_size, PROT_READ, MAP_SHARED, fd,
		     GMP_OFF_STATE);
	ASSERT_NE(MAP_FAILED, state);
	EXPECT_EQ(0, state->mcount);
	EXPECT_EQ(c.nprocs, state->nprocs);
	EXPECT_EQ(0, state->nspawned);
	munmap(state, c.state_size);
	close(fd);
	close(sv[0]);
}

/* --- Many processes at once ---------------------------------------------- */

#define NPROC		6
#define NWORKERS	200
#define NITEMS		50

static struct kgo_chan *items;
static struct kgo_waitgroup done_wg;

static void producer(void *arg)
{
	long base = (long)(intptr_t)arg, i, v;

	for (i = 0; i < NITEMS; i++) {
		v = base * 1000 + i;
		kgo_chan_send(items, &v);
		if (i % 7 == 0)
			kgo_yield();
	}
	kgo_waitgroup_done(&done_wg);
}

/* Each process's own sum: its number is in every item it sends. */
static int one_process(void *arg)
{
	long mine = (long)(intptr_t)arg, i, v, sum = 0, want = 0;

	items = kgo_chan_make(sizeof(long), 16);
	kgo_waitgroup_add(&done_wg, NWORKERS);
	for (i = 0; i < NWORKERS; i++)
		kgo_go(producer, (void *)(intptr_t)(mine * NWORKERS + i));
	for (i = 0; i < NWORKERS * NITEMS; i++) {
		kgo_chan_recv(items, &v);
		sum += v;
		want += (mine * NWORKERS + i / NITEMS) * 1000 + i % NITEMS;
	}
	kgo_waitgroup_wait(&done_wg);
	GCHECK_RET(sum == want, 1,
		   "process %ld: the items received sum to %ld, want %ld", mine,
		   sum, want);
	return 0;
}

TEST(many_processes_isolated)
{
	pid_t pid[NPROC];
	int i, status;
	long before;

	SKIP_WITHOUT_GMP();
	before = refcnt();
	for (i = 0; i < NPROC; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (!pid[i]) {
			int st = -1;

			gcheck_child(2);
			setenv("GMPMAXPROCS", "2", 1);
			_exit(kgo_run(one_process, (void *)(intptr_t)(i + 1), &st) ?
			      2 : st);
		}
	}
	for (i = 0; i < NPROC; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("process %d's sum was wrong", i);
	}
	EXPECT_EQ(before, refcnt_settles(before, 10));
}

/* TEST_HARNESS_MAIN, with a way in for exec_drops_the_instance's image. */
static void __attribute__((constructor)) __constructor_order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--exec-child"))
		return exec_child(atoi(argv[2]), atol(argv[3]));
	return test_harness_run(argc, argv);
}
