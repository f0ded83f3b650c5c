// SPDX-License-Identifier: GPL-2.0
/*
 * Signals as values through kgo (Go's signal.Notify and Stop): a signal a
 * channel asks for arrives on it as its number instead of running its
 * default action, on every channel that asks for it and on no other;
 * after Stop the default action (or the program's own handler) is back;
 * signals that cannot be caught are refused; a goroutine waiting for a
 * signal is not a deadlock; a burst neither hangs nor loses the last one;
 * plain threads may use it too.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

#define MS 1000000LL
/* How long a signal may take to arrive before it counts as lost. */
#define SIGNAL_WAIT_MS 10000

static sigset_t set_of(int sig)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	return set;
}

/*
 * A value from @c within @ms: 1 and *@v, 0 after the timeout, or -errno
 * if the timer could not be set. Goroutines and plain threads alike.
 */
static int recv_within(struct kgo_chan *c, int *v, int64_t ms)
{
	struct kgo_timer *t = kgo_timer_start(ms * MS);
	int64_t fired;
	int r;

	if (!t)
		return -errno;
	struct kgo_select_case cs[2] = {
		{ .c = c, .op = KGO_RECV, .elem = v },
		{ .c = kgo_timer_chan(t), .op = KGO_RECV, .elem = &fired },
	};
	r = kgo_select(cs, 2, 0);
	kgo_timer_free(t);
	return r == 0 && cs[0].ok ? 1 : 0;
}

/* The disposition of @sig now: its handler (or SIG_DFL, SIG_IGN). */
static void *handler_of(int sig)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa))
		return (void *)-1L;
	return (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction :
					    (void *)sa.sa_handler;
}

/* --- One signal, one channel ---------------------------------------------- */

static void kill_self(void *arg)
{
	kill(getpid(), (int)(intptr_t)arg);
}

static int one_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1);
	sigset_t set = set_of(SIGUSR1);
	int v = 0, r;

	(void)arg;
	r = kgo_signal_notify(c, &set);
	GCHECK_RET(!r, 1, "kgo_signal_notify(SIGUSR1) returned %d, want 0", r);
	r = kgo_go(kill_self, (void *)(intptr_t)SIGUSR1);
	GCHECK_RET(!r, 1, "kgo_go returned %d, want 0", r);
	r = recv_within(c, &v, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1, 2, "no SIGUSR1 on the channel within %d ms (%d)",
		   SIGNAL_WAIT_MS, r);
	GCHECK_RET(v == SIGUSR1, 3, "the channel gave %d, want SIGUSR1 (%d)",
		   v, SIGUSR1);
	r = kgo_chan_tryrecv(c, &v);
	GCHECK_RET(r == -EAGAIN, 4,
		   "a second value on the channel: tryrecv returned %d (value %d), want -EAGAIN",
		   r, v);
	r = kgo_signal_stop(c);
	GCHECK_RET(!r, 5, "kgo_signal_stop returned %d, want 0", r);
	return 0;
}

TEST(signal_arrives_on_the_channel)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(one_main, NULL, "2"));
}

/* --- Several channels ----------------------------------------------------- */

static int many_main(void *arg)
{
	struct kgo_chan *c1 = kgo_chan_make(sizeof(int), 1);
	struct kgo_chan *c2 = kgo_chan_make(sizeof(int), 1);
	struct kgo_chan *c3 = kgo_chan_make(sizeof(int), 1);
	sigset_t usr1 = set_of(SIGUSR1), usr2 = set_of(SIGUSR2);
	sigset_t hup = set_of(SIGHUP);
	int v1 = 0, v2 = 0, v3 = 0, r;

	(void)arg;
	r = kgo_signal_notify(c1, &usr2);
	GCHECK_RET(!r, 1, "notify(c1, SIGUSR2) returned %d, want 0", r);
	r = kgo_signal_notify(c2, &usr2);
	GCHECK_RET(!r, 1, "notify(c2, SIGUSR2) returned %d, want 0", r);
	r = kgo_signal_notify(c3, &usr1);
	GCHECK_RET(!r, 1, "notify(c3, SIGUSR1) returned %d, want 0", r);

	kgo_go(kill_self, (void *)(intptr_t)SIGUSR2);
	r = recv_within(c1, &v1, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v1 == SIGUSR2, 2,
		   "c1: recv returned %d with %d, want 1 with SIGUSR2 (%d)",
		   r, v1, SIGUSR2);
	r = recv_within(c2, &v2, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v2 == SIGUSR2, 3,
		   "c2: recv returned %d with %d, want 1 with SIGUSR2 (%d)",
		   r, v2, SIGUSR2);
	/* Sent in the same pass as c1's and c2's, had it been sent. */
	r = kgo_chan_tryrecv(c3, &v3);
	GCHECK_RET(r == -EAGAIN, 4,
		   "c3 (SIGUSR1 only) got something: tryrecv returned %d with %d, want -EAGAIN",
		   r, v3);

	/* Notify again on c1: SIGHUP is added to its SIGUSR2 (Go). */
	r = kgo_signal_notify(c1, &hup);
	GCHECK_RET(!r, 5, "notify(c1, SIGHUP) returned %d, want 0", r);
	kgo_go(kill_self, (void *)(intptr_t)SIGHUP);
	r = recv_within(c1, &v1, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v1 == SIGHUP, 6,
		   "c1: recv returned %d with %d, want 1 with SIGHUP (%d)",
		   r, v1, SIGHUP);
	/* ... and SIGUSR2 still comes to c1, as to c2. */
	kgo_go(kill_self, (void *)(intptr_t)SIGUSR2);
	r = recv_within(c1, &v1, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v1 == SIGUSR2, 6,
		   "c1 after adding SIGHUP: recv returned %d with %d, want 1 with SIGUSR2",
		   r, v1);
	r = recv_within(c2, &v2, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v2 == SIGUSR2, 6,
		   "c2: recv returned %d with %d, want 1 with SIGUSR2", r, v2);

	/* Stop c1: c2 still gets SIGUSR2, c1 no longer. */
	r = kgo_signal_stop(c1);
	GCHECK_RET(!r, 7, "kgo_signal_stop(c1) returned %d, want 0", r);
	kgo_go(kill_self, (void *)(intptr_t)SIGUSR2);
	r = recv_within(c2, &v2, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v2 == SIGUSR2, 8,
		   "c2 after c1's stop: recv returned %d with %d, want 1 with SIGUSR2",
		   r, v2);
	r = kgo_chan_tryrecv(c1, &v1);
	GCHECK_RET(r == -EAGAIN, 9,
		   "c1 got %d after its stop: tryrecv returned %d, want -EAGAIN",
		   v1, r);
	/* SIGHUP is nobody's now: its default action is back. */
	GCHECK_RET(handler_of(SIGHUP) == (void *)SIG_DFL, 10,
		   "SIGHUP's disposition after the stop is %p, want SIG_DFL",
		   handler_of(SIGHUP));
	GCHECK_RET(!kgo_signal_stop(c2) && !kgo_signal_stop(c3), 11,
		   "kgo_signal_stop of c2 or c3 failed");
	return 0;
}

TEST(each_channel_gets_only_its_signals)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(many_main, NULL, "2"));
}

/* --- Default actions ------------------------------------------------------ */

/*
 * Signals whose default is to terminate (SIGTERM, a realtime one) come
 * as values and the program lives on; after the stop the default is
 * back, and the program's own handler comes back where it had one.
 */
static uint32_t own_ran;

static void own_handler(int sig)
{
	(void)sig;
	__atomic_store_n(&own_ran, 1, __ATOMIC_RELEASE);
}

static int caught_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 4);
	int sigs[] = { SIGTERM, SIGRTMIN + 3, SIGUSR2 };
	struct sigaction sa = { .sa_handler = own_handler };
	sigset_t set;
	unsigned int i;
	int v, r;

	(void)arg;
	sigemptyset(&sa.sa_mask);
	r = sigaction(SIGUSR2, &sa, NULL);
	GCHECK_RET(!r, 1, "sigaction(SIGUSR2) failed: errno %d", errno);
	sigemptyset(&set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	r = kgo_signal_notify(c, &set);
	GCHECK_RET(!r, 1, "notify(SIGTERM, SIGRTMIN+3, SIGUSR2) returned %d, want 0",
		   r);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		v = 0;
		r = kill(getpid(), sigs[i]);
		GCHECK_RET(!r, 2, "kill(%d) failed: errno %d", sigs[i], errno);
		r = recv_within(c, &v, SIGNAL_WAIT_MS);
		GCHECK_RET(r == 1 && v == sigs[i], 3,
			   "signal %d: recv returned %d with %d, want 1 with %d",
			   sigs[i], r, v, sigs[i]);
	}
	GCHECK_RET(!__atomic_load_n(&own_ran, __ATOMIC_ACQUIRE), 4,
		   "the program's own SIGUSR2 handler ran while kgo had the signal");
	r = kgo_signal_stop(c);
	GCHECK_RET(!r, 5, "kgo_signal_stop returned %d, want 0", r);
	GCHECK_RET(handler_of(SIGUSR2) == (void *)own_handler, 6,
		   "SIGUSR2's handler after the stop is %p, want the program's own %p",
		   handler_of(SIGUSR2), (void *)own_handler);
	GCHECK_RET(handler_of(SIGTERM) == (void *)SIG_DFL, 6,
		   "SIGTERM's disposition after the stop is %p, want SIG_DFL",
		   handler_of(SIGTERM));
	raise(SIGUSR2);
	GCHECK_RET(__atomic_load_n(&own_ran, __ATOMIC_ACQUIRE), 7,
		   "the program's own SIGUSR2 handler did not run after the stop");
	GCHECK_RET(kgo_chan_tryrecv(c, &v) == -EAGAIN, 8,
		   "the channel got %d after its stop", v);
	return 0;
}

TEST(caught_signals_do_not_kill)
{
	char err[512];

	REQUIRE_GMP();
	EXPECT_EQ(0, run_in_child(caught_main, "2", err, sizeof(err)))
		TH_LOG("stderr: %s", err);
}

/* Notify, stop, raise: SIGUSR1's default action ends the process. */
static int stopped_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1);
	sigset_t set = set_of(SIGUSR1);
	int r;

	(void)arg;
	r = kgo_signal_notify(c, &set);
	GCHECK_RET(!r, 1, "kgo_signal_notify(SIGUSR1) returned %d, want 0", r);
	r = kgo_signal_stop(c);
	GCHECK_RET(!r, 1, "kgo_signal_stop returned %d, want 0", r);
	raise(SIGUSR1);
	/* Still here: the signal did not take its default action. */
	GCHECK_FAIL("raise(SIGUSR1) after the stop did not end the process");
	return 3;
}

TEST(stop_restores_the_default_action)
{
	char err[512];

	REQUIRE_GMP();
	EXPECT_EQ(128 + SIGUSR1, run_in_child(stopped_main, "2", err,
					      sizeof(err)))
		TH_LOG("stderr: %s", err);
}

/* --- Validation ----------------------------------------------------------- */

static int invalid_main(void *arg)
{
	static const int bad[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE,
				   SIGILL, SIGTRAP };
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1), *wide;
	sigset_t set;
	unsigned int i;
	int r;

	(void)arg;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set = set_of(bad[i]);
		r = kgo_signal_notify(c, &set);
		GCHECK_RET(r == -EINVAL, 1,
			   "kgo_signal_notify(signal %d) returned %d, want -EINVAL",
			   bad[i], r);
	}
	/* One bad signal refuses the set: SIGUSR1 is left alone. */
	set = set_of(SIGUSR1);
	sigaddset(&set, SIGSEGV);
	r = kgo_signal_notify(c, &set);
	GCHECK_RET(r == -EINVAL, 2,
		   "kgo_signal_notify(SIGUSR1 and SIGSEGV) returned %d, want -EINVAL",
		   r);
	GCHECK_RET(handler_of(SIGUSR1) == (void *)SIG_DFL, 2,
		   "SIGUSR1's disposition after a refused set is %p, want SIG_DFL",
		   handler_of(SIGUSR1));
	sigemptyset(&set);
	r = kgo_signal_notify(c, &set);
	GCHECK_RET(r == -EINVAL, 3,
		   "kgo_signal_notify(empty set) returned %d, want -EINVAL", r);
	set = set_of(SIGUSR1);
	r = kgo_signal_notify(NULL, &set);
	GCHECK_RET(r == -EINVAL, 4,
		   "kgo_signal_notify(NULL channel) returned %d, want -EINVAL", r);
	r = kgo_signal_notify(c, NULL);
	GCHECK_RET(r == -EINVAL, 4,
		   "kgo_signal_notify(NULL set) returned %d, want -EINVAL", r);
	wide = kgo_chan_make(sizeof(long), 1);
	r = kgo_signal_notify(wide, &set);
	GCHECK_RET(r == -EINVAL, 4,
		   "kgo_signal_notify(a channel of longs) returned %d, want -EINVAL",
		   r);
	kgo_chan_free(wide);
	r = kgo_signal_stop(NULL);
	GCHECK_RET(r == -EINVAL, 5,
		   "kgo_signal_stop(NULL) returned %d, want -EINVAL", r);
	/* Go: stopping a channel never notified does nothing. */
	r = kgo_signal_stop(c);
	GCHECK_RET(!r, 6,
		   "kgo_signal_stop of a channel never notified returned %d, want 0",
		   r);
	return 0;
}

TEST(uncatchable_signals_are_refused)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(invalid_main, NULL, "2"));
}

/* --- Deadlock detection --------------------------------------------------- */

/*
 * Main waits for SIGUSR1 in a plain receive, no timer: every thread is
 * kgo's and every goroutine waits, yet a signal may come. Another
 * process sends it 100 ms after main said its pid.
 */
static int pid_pipe[2];

static int wait_signal_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1);
	sigset_t set = set_of(SIGUSR1);
	pid_t pid = getpid();
	int v = 0, r;

	(void)arg;
	r = kgo_signal_notify(c, &set);
	GCHECK_RET(!r, 1, "kgo_signal_notify(SIGUSR1) returned %d, want 0", r);
	r = (int)write(pid_pipe[1], &pid, sizeof(pid));
	GCHECK_RET(r == (int)sizeof(pid), 1, "write of the pid returned %d", r);
	r = kgo_chan_recv(c, &v);
	GCHECK_RET(r == 1 && v == SIGUSR1, 3,
		   "recv returned %d with %d, want 1 with SIGUSR1 (%d)", r, v,
		   SIGUSR1);
	r = kgo_signal_stop(c);
	GCHECK_RET(!r, 4, "kgo_signal_stop returned %d, want 0", r);
	return 0;
}

TEST(waiting_for_a_signal_is_not_a_deadlock)
{
	char err[512];
	pid_t helper, pid;
	int status;

	REQUIRE_GMP();
	ASSERT_EQ(0, pipe(pid_pipe));
	helper = fork();
	ASSERT_LE(0, helper);
	if (!helper) {
		close(pid_pipe[1]);
		if (read(pid_pipe[0], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		usleep(100000);
		_exit(kill(pid, SIGUSR1) ? 2 : 0);
	}
	close(pid_pipe[0]);
	status = run_in_child(wait_signal_main, "2", err, sizeof(err));
	close(pid_pipe[1]);
	EXPECT_EQ(0, status) TH_LOG("stderr: %s", err);
	EXPECT_EQ(NULL, strstr(err, "deadlock")) TH_LOG("stderr: %s", err);
	waitpid(helper, &status, 0);
}

/* --- A burst -------------------------------------------------------------- */

/*
 * 1000 SIGUSR1 as fast as kill() goes, then SIGUSR2 as the end marker:
 * no hang, at least one SIGUSR1 arrives (the channel holds one, the rest
 * coalesce or are missed), and after the burst the next SIGUSR1 still
 * comes (the handler and the signal thread did not lose their step).
 */
#define BURST 1000
static int burst_count, burst_failed;

static void burster(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < BURST; i++)
		if (kill(getpid(), SIGUSR1))
			burst_failed++;
	kill(getpid(), SIGUSR2);
}

static int burst_main(void *arg)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1);
	struct kgo_chan *end = kgo_chan_make(sizeof(int), 1);
	sigset_t usr1 = set_of(SIGUSR1), usr2 = set_of(SIGUSR2);
	struct kgo_timer *t;
	int64_t fired;
	int v = 0, e = 0, r;

	(void)arg;
	r = kgo_signal_notify(c, &usr1);
	GCHECK_RET(!r, 1, "notify(SIGUSR1) returned %d, want 0", r);
	r = kgo_signal_notify(end, &usr2);
	GCHECK_RET(!r, 1, "notify(SIGUSR2) returned %d, want 0", r);
	t = kgo_timer_start(2 * SIGNAL_WAIT_MS * MS);
	GCHECK_RET(t, 1, "kgo_timer_start failed: errno %d", errno);
	struct kgo_select_case cs[3] = {
		{ .c = c, .op = KGO_RECV, .elem = &v },
		{ .c = end, .op = KGO_RECV, .elem = &e },
		{ .c = kgo_timer_chan(t), .op = KGO_RECV, .elem = &fired },
	};
	kgo_go(burster, NULL);
	for (;;) {
		r = kgo_select(cs, 3, 0);
		if (r == 0) {
			GCHECK_RET(v == SIGUSR1, 2, "burst: got %d, want SIGUSR1",
				   v);
			burst_count++;
			continue;
		}
		GCHECK_RET(r == 1, 3,
			   "burst: no end marker within %d s (select returned %d, %d SIGUSR1 so far)",
			   2 * SIGNAL_WAIT_MS / 1000, r, burst_count);
		break;
	}
	kgo_timer_free(t);
	GCHECK_RET(e == SIGUSR2, 3, "the end marker was %d, want SIGUSR2", e);
	/* All SIGUSR1 were sent on before SIGUSR2: one may be buffered. */
	while (kgo_chan_tryrecv(c, &v) == 1)
		burst_count++;
	GCHECK_RET(burst_count >= 1, 4, "none of %d SIGUSR1 arrived", BURST);
	GCHECK_RET(!burst_failed, 5, "%d kill() calls failed", burst_failed);
	/* After the burst, the next one still arrives. */
	v = 0;
	kgo_go(kill_self, (void *)(intptr_t)SIGUSR1);
	r = recv_within(c, &v, SIGNAL_WAIT_MS);
	GCHECK_RET(r == 1 && v == SIGUSR1, 6,
		   "after the burst: recv returned %d with %d, want 1 with SIGUSR1",
		   r, v);
	GCHECK_RET(!kgo_signal_stop(c) && !kgo_signal_stop(end), 7,
		   "kgo_signal_stop failed");
	return 0;
}

TEST(a_burst_neither_hangs_nor_loses_the_last)
{
	REQUIRE_GMP();
	ASSERT_EQ(0, run_with_procs(burst_main, NULL, "2"));
	TH_LOG("%d of %d SIGUSR1 arrived", burst_count, BURST);
}

/* --- Plain threads -------------------------------------------------------- */

/*
 * Notify, kill, receive and stop, all from a thread that is no goroutine.
 * A few rounds, each after a pause: the signal thread is asleep by then
 * and must be woken.
 */
static int plain_signal(int sig)
{
	struct kgo_chan *c = kgo_chan_make(sizeof(int), 1);
	sigset_t set = set_of(sig);
	int i, v, r;

	r = kgo_signal_notify(c, &set);
	GCHECK_RET(!r, 1, "plain thread: notify(%d) returned %d, want 0", sig,
		   r);
	for (i = 0; i < 3; i++) {
		v = 0;
		usleep(20000);
		r = kill(getpid(), sig);
		GCHECK_RET(!r, 2, "plain thread: kill failed: errno %d", errno);
		r = recv_within(c, &v, SIGNAL_WAIT_MS);
		GCHECK_RET(r == 1 && v == sig, 3,
			   "plain thread, round %d: recv returned %d with %d, want 1 with %d",
			   i + 1, r, v, sig);
	}
	r = kgo_signal_stop(c);
	GCHECK_RET(!r, 4, "plain thread: kgo_signal_stop returned %d, want 0",
		   r);
	kgo_chan_free(c);
	return 0;
}

static struct kgo_chan *plain_done;

static void *plain_thread(void *arg)
{
	int r = plain_signal((int)(intptr_t)arg);

	kgo_chan_send(plain_done, &r);
	return NULL;
}

static int plain_main(void *arg)
{
	pthread_t t;
	int v = -1, r;

	(void)arg;
	plain_done = kgo_chan_make(sizeof(int), 0);
	r = pthread_create(&t, NULL, plain_thread, (void *)(intptr_t)SIGUSR2);
	GCHECK_RET(!r, 1, "pthread_create returned %d, want 0", r);
	r = kgo_chan_recv(plain_done, &v);
	pthread_join(t, NULL);
	GCHECK_RET(r == 1, 1, "recv of the thread's result returned %d", r);
	return v;
}

/* A thread the program started beside the goroutines. */
TEST(plain_threads_may_notify)
{
	REQUIRE_GMP();
	EXPECT_EQ(0, run_with_procs(plain_main, NULL, "2"));
}

/* Without kgo_run() at all: the test's own thread (no module needed). */
TEST(plain_thread_without_kgo_run)
{
	EXPECT_EQ(0, gcheck_report(plain_signal(SIGUSR1)));
}

TEST_HARNESS_MAIN
