// SPDX-License-Identifier: GPL-2.0
/*
 * Soak: several processes, each with its own instance, run goroutines at
 * full rate on all their P's for GMP_SOAK_SECS (default 20 s): spawns and
 * exits, park/ready (timers, a contended mutex, channel hand-offs), CPU
 * hogs sysmon must preempt and blocking system calls whose P's sysmon
 * must hand off. Every goroutine records its run in a slot stamped with
 * its sequence number: a goroutine lost (never run, or its end never
 * seen) or run twice (a stale or second run of one stamp) fails the test,
 * as does a count that does not add up.
 *
 * Every wait is bounded from outside: the parent gives the children until
 * the run's end plus the drain plus WATCHDOG_NS. A child still running
 * then is reported with where each of its goroutines stands (the slots
 * live in memory the parent shares) and the instance's scheddetail, and
 * is killed: a hang is a failure that says where it hung.
 *
 *   GMP_SOAK_SECS=300 GMP_SOAK_PROCS=4 ./gmp_soak_test
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kgo.h"
#include "kselftest_harness.h"
#include "gmp_test_util.h"

#define NSLOTS		2048	/* goroutines in flight per spawner */
#define MAXSPAWNERS	8
#define MAXPROCS	8
#define HOG_NS		(12 * 1000 * 1000)	/* over the 10 ms slice */
#define DRAIN_NS	(60 * 1000000000LL)
#define WATCHDOG_NS	(120 * 1000000000LL)

enum { SLOT_FREE, SLOT_SPAWNED, SLOT_RUNNING, NSTATES };

/* Where a running goroutine is, for the watchdog's report. */
enum step {
	STEP_START, STEP_HOG, STEP_SYSCALL, STEP_SLEEP, STEP_LOCK,
	STEP_LOCKED_YIELD, STEP_PING_SEND, STEP_PING_RECV, STEP_YIELD,
	STEP_FREE_SEND, NSTEPS
};

static const char *const step_names[NSTEPS] = {
	"start", "hog", "nanosleep", "kgo_sleep", "mutex_lock",
	"yield_holding_mutex", "ping_send", "pong_recv", "yield",
	"freec_send",
};

enum phase { PH_INIT, PH_SPAWNING, PH_DRAINING, PH_DONE };

static const char *const phase_names[] = {
	"init", "spawning", "draining", "done",
};

struct slot {
	uint32_t seq;		/* stamp of the goroutine it was given to */
	uint32_t state;
	uint32_t step;		/* enum step, while RUNNING */
	struct kgo_chan *back;	/* its channel round trips come back on */
};

struct spawner {
	struct slot slot[NSLOTS];
	struct kgo_chan *freec;	/* slot indices back from ended goroutines */
	uint64_t spawned;
	uint64_t recvd;		/* indices taken from freec */
};

/* What one process reports to the parent (shared memory). */
struct result {
	uint64_t spawned, ended, bad, mutex_ops, mutex_count;
	uint64_t hogs, syscalls, preempted;
	int status;
	uint32_t phase, nspawners, echo_step;
};

static struct spawner *sp;	/* this process's, shared with the parent */
static int nspawners;
static int64_t deadline;
static struct kgo_mutex mu = KGO_MUTEX_INIT;
static uint64_t mutex_count;	/* under mu */
static uint64_t mutex_ops, hogs, syscalls, bad;
static struct kgo_chan *pingc;	/* to the echo goroutine */

static void count(uint64_t *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

static void step(struct slot *sl, enum step st)
{
	__atomic_store_n(&sl->step, st, __ATOMIC_RELAXED);
}

/* The goroutine's body: what it does is picked by its stamp. */
static void work(struct slot *sl, uint32_t seq)
{
	struct timespec ts = { 0, 200 * 1000 };
	uint32_t v;
	int64_t t;
	int i;

	if (seq % 1024 == 0) {	/* a hog: sysmon preempts it */
		count(&hogs);
		step(sl, STEP_HOG);
		for (t = now_ns(); now_ns() - t < HOG_NS;)
			;
		return;
	}
	switch (seq % 64) {
	case 1: case 2:		/* a blocking call: sysmon hands off its P */
		count(&syscalls);
		step(sl, STEP_SYSCALL);
		nanosleep(&ts, NULL);
		break;
	case 3: case 4: case 5: case 6:	/* a timer: park, then ready */
		step(sl, STEP_SLEEP);
		kgo_sleep(50 * 1000);
		break;
	case 7: case 8: case 9: case 10: /* a contended mutex */
		for (i = 0; i < 4; i++) {
			step(sl, STEP_LOCK);
			kgo_mutex_lock(&mu);
			mutex_count++;
			if (i == 1) {
				step(sl, STEP_LOCKED_YIELD);
				kgo_yield();	/* others park on it */
			}
			kgo_mutex_unlock(&mu);
			count(&mutex_ops);
		}
		break;
	case 11: case 12:		/* a round trip through a channel */
		step(sl, STEP_PING_SEND);
		if (kgo_chan_send(pingc, &sl->back)) {
			count(&bad);
			break;
		}
		step(sl, STEP_PING_RECV);
		if (kgo_chan_recv(sl->back, &v) != 1)
			count(&bad);
		break;
	case 13: case 14:
		step(sl, STEP_YIELD);
		kgo_yield();
		break;
	default:		/* spawn and exit */
		break;
	}
}

/* arg: spawner << 48 | slot << 32 | stamp. */
static void soak_g(void *arg)
{
	uintptr_t a = (uintptr_t)arg;
	struct spawner *s = &sp[a >> 48];
	uint32_t idx = (a >> 32) & 0xffff, seq = (uint32_t)a;
	struct slot *sl = &s->slot[idx];
	uint32_t st = SLOT_SPAWNED;

	/* A second or stale run of this stamp finds another seq or state. */
	if (__atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE) != seq ||
	    !__atomic_compare_exchange_n(&sl->state, &st, SLOT_RUNNING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		count(&bad);
		return;
	}
	step(sl, STEP_START);
	work(sl, seq);
	step(sl, STEP_FREE_SEND);
	__atomic_store_n(&sl->state, SLOT_FREE, __ATOMIC_RELEASE);
	if (kgo_chan_send(s->freec, &idx))
		count(&bad);
}

/* Its steps: 1 waits for a ping, 2 sends the pong. */
static void echo(void *arg)
{
	struct result *r = arg;
	struct kgo_chan *back;
	uint32_t v = 0;

	for (;;) {
		__atomic_store_n(&r->echo_step, 1, __ATOMIC_RELAXED);
		if (kgo_chan_recv(pingc, &back) != 1)
			break;
		__atomic_store_n(&r->echo_step, 2, __ATOMIC_RELAXED);
		kgo_chan_send(back, &v);
	}
}

static struct kgo_waitgroup spawners_wg;

static void spawn_loop(void *arg)
{
	uintptr_t n = (uintptr_t)arg;
	struct spawner *s = &sp[n];
	uint32_t idx, seq = 0;

	for (idx = 0; idx < NSLOTS; idx++) {
		s->slot[idx].back = kgo_chan_make(sizeof(uint32_t), 0);
		if (!s->slot[idx].back || kgo_chan_send(s->freec, &idx))
			count(&bad);
	}
	while (now_ns() < deadline) {
		if (kgo_chan_recv(s->freec, &idx) != 1)
			break;
		s->recvd++;
		if (__atomic_load_n(&s->slot[idx].state, __ATOMIC_ACQUIRE) !=
		    SLOT_FREE) {
			count(&bad);
			break;
		}
		seq++;
		__atomic_store_n(&s->slot[idx].seq, seq, __ATOMIC_RELAXED);
		__atomic_store_n(&s->slot[idx].state, SLOT_SPAWNED,
				 __ATOMIC_RELEASE);
		if (kgo_go(soak_g, (void *)(n << 48 | (uintptr_t)idx << 32 |
					    seq))) {
			count(&bad);
			break;
		}
		s->spawned++;
	}
	kgo_waitgroup_done(&spawners_wg);
}

static int soak_main(void *arg)
{
	struct result *r = arg;
	uint64_t taken, deferred;
	uint32_t idx;
	int n, ret;

	nspawners = kgo_nprocs() < MAXSPAWNERS ? kgo_nprocs() : MAXSPAWNERS;
	r->nspawners = nspawners;
	pingc = kgo_chan_make(sizeof(struct kgo_chan *), 0);
	GCHECK_RET(pingc, 1, "kgo_chan_make of the ping channel failed (errno %d)",
		   errno);
	ret = kgo_go(echo, r);
	GCHECK_RET(!ret, 1, "kgo_go(echo) returned %d, want 0", ret);
	__atomic_store_n(&r->phase, PH_SPAWNING, __ATOMIC_RELAXED);
	kgo_waitgroup_add(&spawners_wg, nspawners);
	for (n = 0; n < nspawners; n++) {
		/* Room for every slot, so an ending goroutine never waits. */
		sp[n].freec = kgo_chan_make(sizeof(uint32_t), NSLOTS);
		GCHECK_RET(sp[n].freec, 1,
			   "kgo_chan_make of spawner %d's free list failed (errno %d)",
			   n, errno);
		ret = kgo_go(spawn_loop, (void *)(uintptr_t)n);
		GCHECK_RET(!ret, 1, "kgo_go of spawner %d returned %d, want 0", n,
			   ret);
	}
	kgo_waitgroup_wait(&spawners_wg);
	__atomic_store_n(&r->phase, PH_DRAINING, __ATOMIC_RELAXED);

	/*
	 * Drain: freec gives back its NSLOTS first indices and one per
	 * goroutine that ended. One that never ends stops the count short.
	 */
	for (n = 0; n < nspawners; n++) {
		struct spawner *s = &sp[n];
		int64_t give_up = now_ns() + DRAIN_NS;

		while (s->recvd < NSLOTS + s->spawned && now_ns() < give_up) {
			if (kgo_chan_tryrecv(s->freec, &idx) == 1)
				s->recvd++;
			else
				kgo_sleep(1000 * 1000);
		}
		r->spawned += s->spawned;
		r->ended += s->recvd - NSLOTS;
		for (idx = 0; idx < NSLOTS; idx++)
			if (__atomic_load_n(&s->slot[idx].state,
					    __ATOMIC_ACQUIRE) != SLOT_FREE)
				count(&bad);
	}
	kgo_preempt_stats(&taken, &deferred);
	r->preempted = taken;
	r->bad = bad;
	r->mutex_ops = mutex_ops;
	kgo_mutex_lock(&mu);
	r->mutex_count = mutex_count;
	kgo_mutex_unlock(&mu);
	r->hogs = hogs;
	r->syscalls = syscalls;
	__atomic_store_n(&r->phase, PH_DONE, __ATOMIC_RELAXED);
	return 0;
}

/* Print every file named @name of the instances of process @pid. */
static void dump_debugfs(pid_t pid, const char *name)
{
	char path[300], line[512], pre[32];
	struct dirent *de;
	int lines = 0;
	DIR *d;
	FILE *f;

	d = opendir("/sys/kernel/debug/gmp");
	if (!d) {
		fprintf(stderr, "#   (no /sys/kernel/debug/gmp: %s)\n",
			strerror(errno));
		return;
	}
	snprintf(pre, sizeof(pre), "%d-", pid);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, pre, strlen(pre)))
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/gmp/%s/%s",
			 de->d_name, name);
		f = fopen(path, "r");
		if (!f)
			continue;
		fprintf(stderr, "#   %s:\n", path);
		while (fgets(line, sizeof(line), f) && lines++ < 400)
			fprintf(stderr, "#     %s", line);
		fclose(f);
	}
	closedir(d);
}

/* The watchdog's report on a child that did not end in time. */
static void report_hang(int i, pid_t pid, struct result *r,
			struct spawner *s)
{
	uint32_t n, idx, phase = __atomic_load_n(&r->phase, __ATOMIC_RELAXED);

	fprintf(stderr, "# process %d (pid %d) hangs in phase %s; echo step %u\n",
		i, pid, phase < PH_DONE + 1 ? phase_names[phase] : "?",
		__atomic_load_n(&r->echo_step, __ATOMIC_RELAXED));
	for (n = 0; n < r->nspawners && n < MAXSPAWNERS; n++) {
		uint64_t by[NSTATES][NSTEPS] = { { 0 } };
		int shown = 0, st, k;

		fprintf(stderr, "#  spawner %u: %llu spawned, %llu indices back\n",
			n, (unsigned long long)s[n].spawned,
			(unsigned long long)s[n].recvd);
		for (idx = 0; idx < NSLOTS; idx++) {
			struct slot *sl = &s[n].slot[idx];
			uint32_t state = __atomic_load_n(&sl->state,
							 __ATOMIC_RELAXED);
			uint32_t at = __atomic_load_n(&sl->step,
						      __ATOMIC_RELAXED);

			if (state == SLOT_FREE || state >= NSTATES ||
			    at >= NSTEPS)
				continue;
			by[state][state == SLOT_RUNNING ? at : 0]++;
			if (shown++ < 8)
				fprintf(stderr, "#   slot %u: seq %u %s%s\n",
					idx, sl->seq,
					state == SLOT_SPAWNED ? "never ran" :
					"running at ",
					state == SLOT_RUNNING ? step_names[at] : "");
		}
		for (st = SLOT_SPAWNED; st < NSTATES; st++)
			for (k = 0; k < NSTEPS; k++)
				if (by[st][k])
					fprintf(stderr, "#   %llu %s%s\n",
						(unsigned long long)by[st][k],
						st == SLOT_SPAWNED ?
						"never ran" : "running at ",
						st == SLOT_RUNNING ?
						step_names[k] : "");
	}
	dump_debugfs(pid, "schedtrace");
	dump_debugfs(pid, "scheddetail");
}

static long env_or(const char *name, long def, long max)
{
	const char *v = getenv(name);
	long n = v ? atol(v) : def;

	return n < 1 ? 1 : n > max ? max : n;
}

/* GMP_SOAK_SECS bounds the run; the harness's own limit is a day. */
TEST_TIMEOUT(soak, 24 * 3600 + 600)
{
	long secs = env_or("GMP_SOAK_SECS", 20, 24 * 3600);
	int nproc = (int)env_or("GMP_SOAK_PROCS", 3, MAXPROCS), i, st;
	size_t spsize = sizeof(struct spawner) * MAXSPAWNERS * MAXPROCS;
	struct result *res, tot = { 0 };
	struct spawner *spawners;
	pid_t pid[MAXPROCS], got;
	int64_t give_up;
	int left;

	REQUIRE_GMP();
	res = mmap(NULL, sizeof(*res) * MAXPROCS, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	spawners = mmap(NULL, spsize, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, spawners);
	memset(res, 0, sizeof(*res) * MAXPROCS);
	deadline = now_ns() + secs * 1000000000LL;
	for (i = 0; i < nproc; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (pid[i] == 0) {
			int ret;

			gcheck_child(2);
			sp = &spawners[i * MAXSPAWNERS];
			ret = kgo_run(soak_main, &res[i], &st);
			_exit(ret ? 90 : st);
		}
	}

	/* The watchdog: every child ends by give_up, or is reported. */
	give_up = deadline + DRAIN_NS + WATCHDOG_NS;
	for (left = nproc; left && now_ns() < give_up;) {
		got = waitpid(-1, &st, WNOHANG);
		if (got <= 0) {
			usleep(100 * 1000);
			continue;
		}
		for (i = 0; i < nproc; i++)
			if (pid[i] == got) {
				res[i].status = WIFEXITED(st) ?
					WEXITSTATUS(st) : 128 + WTERMSIG(st);
				pid[i] = 0;
				left--;
			}
	}
	for (i = 0; i < nproc; i++) {
		if (!pid[i])
			continue;
		report_hang(i, pid[i], &res[i], &spawners[i * MAXSPAWNERS]);
		kill(pid[i], SIGKILL);
		waitpid(pid[i], &st, 0);
		res[i].status = 255;	/* hung */
	}
	for (i = 0; i < nproc; i++) {
		EXPECT_EQ(0, res[i].status);
		/* No goroutine lost, none run twice. */
		EXPECT_EQ(0, res[i].bad);
		EXPECT_EQ(res[i].spawned, res[i].ended);
		/* The mutex lost no update. */
		EXPECT_EQ(res[i].mutex_ops, res[i].mutex_count);
		tot.spawned += res[i].spawned;
		tot.ended += res[i].ended;
		tot.bad += res[i].bad;
		tot.mutex_ops += res[i].mutex_ops;
		tot.hogs += res[i].hogs;
		tot.syscalls += res[i].syscalls;
		tot.preempted += res[i].preempted;
	}
	TH_LOG("%d processes, %ld s: %llu goroutines spawned, %llu ended, %llu bad; %llu mutex ops, %llu hogs, %llu blocking calls, %llu preemptions taken",
	       nproc, secs, (unsigned long long)tot.spawned,
	       (unsigned long long)tot.ended, (unsigned long long)tot.bad,
	       (unsigned long long)tot.mutex_ops,
	       (unsigned long long)tot.hogs,
	       (unsigned long long)tot.syscalls,
	       (unsigned long long)tot.preempted);
	/* Every kind of work happened, sysmon included. */
	EXPECT_LT(0, tot.hogs);
	EXPECT_LT(0, tot.syscalls);
	EXPECT_LT(0, tot.preempted);
	munmap(spawners, spsize);
	munmap(res, sizeof(*res) * MAXPROCS);
}

TEST_HARNESS_MAIN
