// SPDX-License-Identifier: GPL-2.0
/*
 * C++ exceptions in goroutines: the C++ runtime keeps the exceptions a
 * thread has caught (what "throw;" and std::current_exception() read)
 * and the count in flight (std::uncaught_exceptions()) per thread. A
 * goroutine that parks, yields or is preempted inside a catch block may
 * resume on another M, and others throw and catch on its M meanwhile:
 * every one of them must still see its own exception.
 *
 * 8 goroutines (2 P's, 1 ms slices) throw, catch, park, yield or spin
 * inside the catch (and inside a nested one), then check the exception
 * they hold by address and value, through std::current_exception() and
 * a "throw;", for GMP_CSAFE_SECONDS (default 30). Before the exception
 * globals followed the goroutine, 870-1190 of 2000 rethrows were another
 * goroutine's exception. Built statically and dynamically (gmp_cxx_test,
 * gmp_cxx_dyn_test). Plain TAP: one process, one test.
 */
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "../userlib/kgo.h"

#ifdef GMP_CXX_DYNAMIC
#define LINKED "dynamic"
#else
#define LINKED "static"
#endif

#define NG 8

struct Boom {
	unsigned int g;
	uint64_t i;
	std::string what;	/* heap-allocated: a destroyed one shows */
};

static std::atomic<int> stop;
static std::atomic<uint64_t> rounds, wrong, nested;
static std::atomic<int> left;
static uint32_t all_done;

static void report_wrong(const char *where, unsigned int g, uint64_t i)
{
	if (wrong.fetch_add(1) < 5)
		fprintf(stderr, "# goroutine %u round %llu: wrong exception %s\n",
			g, (unsigned long long)i, where);
}

/* Give up the M for a while, one of several ways, then burn some CPU. */
static void pause_here(unsigned int g, uint64_t i)
{
	volatile uint64_t x = 0;
	unsigned int k;

	switch ((g + i) % 3) {
	case 0:
		kgo_yield();
		break;
	case 1:
		kgo_sleep(100 * 1000);	/* park: others run on this M */
		break;
	default:
		break;
	}
	/* In the program's own code: preempted here, it may move. */
	for (k = 0; k < 20000; k++)
		x += k;
}

static bool same(const Boom &b, unsigned int g, uint64_t i)
{
	return b.g == g && b.i == i && b.what == "boom " + std::to_string(g) +
						  "/" + std::to_string(i);
}

static void thrower(void *arg)
{
	unsigned int g = (unsigned int)(uintptr_t)arg;
	uint64_t i;

	for (i = 0; !stop.load(std::memory_order_relaxed); i++) {
		try {
			throw Boom{g, i, "boom " + std::to_string(g) + "/" +
					 std::to_string(i)};
		} catch (const Boom &b) {
			const Boom *held = &b;

			if (std::uncaught_exceptions() != 0)
				report_wrong("(uncaught_exceptions)", g, i);
			pause_here(g, i);
			if (!same(b, g, i))
				report_wrong("(value)", g, i);
			/* The one held now is still this goroutine's. */
			try {
				std::rethrow_exception(std::current_exception());
			} catch (const Boom &c) {
				if (&c != held)
					report_wrong("(current_exception)", g, i);
			}
			/* A nested throw and catch inside the catch. */
			try {
				throw std::runtime_error("inner");
			} catch (const std::runtime_error &e) {
				pause_here(g, i + 1);
				if (strcmp(e.what(), "inner"))
					report_wrong("(inner)", g, i);
				nested++;
			}
			pause_here(g, i + 2);
			/* "throw;" rethrows the one being handled: ours. */
			try {
				throw;
			} catch (const Boom &c) {
				if (&c != held || !same(c, g, i))
					report_wrong("(throw;)", g, i);
			}
		}
		rounds++;
	}
	if (--left == 0) {
		__atomic_store_n(&all_done, 1, __ATOMIC_RELEASE);
		kgo_ready(&all_done, 1);
	}
}

static struct kgo_stats stats;

static int main_goroutine(void *arg)
{
	long secs = (long)(intptr_t)arg;
	unsigned int g;

	left = NG;
	for (g = 0; g < NG; g++)
		if (kgo_go(thrower, (void *)(uintptr_t)g))
			return 10;
	kgo_sleep(secs * 1000000000LL);
	stop = 1;
	while (!__atomic_load_n(&all_done, __ATOMIC_ACQUIRE))
		kgo_park(&all_done, 0);
	stats.size = sizeof(stats);
	kgo_stats(&stats);
	return 0;
}

int main(void)
{
	const char *v = getenv("GMP_CSAFE_SECONDS");
	long secs = v ? strtol(v, nullptr, 10) : 30;
	int status = -1, r;

	printf("TAP version 13\n1..1\n");
	fflush(stdout);
	if (access("/dev/gmp", F_OK)) {
		printf("ok 1 exceptions_follow_the_goroutine # SKIP /dev/gmp missing: gmp.ko is not loaded\n");
		return 0;
	}
	if (secs <= 0)
		secs = 30;
	setenv("KGO_SLICE_US", "1000", 1);
	setenv("GMPMAXPROCS", "2", 1);
	r = kgo_run(main_goroutine, (void *)(intptr_t)secs, &status);
	printf("# %s, %ld s: %llu rounds (%llu nested), %llu wrong; %llu preemptions, %llu kept their M\n",
	       LINKED, secs, (unsigned long long)rounds.load(),
	       (unsigned long long)nested.load(),
	       (unsigned long long)wrong.load(),
	       (unsigned long long)stats.npreempted,
	       (unsigned long long)stats.npreemptkeepm);
	if (r || status || wrong || rounds < NG) {
		printf("not ok 1 exceptions_follow_the_goroutine (kgo_run %d, status %d)\n",
		       r, status);
		return 1;
	}
	printf("ok 1 exceptions_follow_the_goroutine\n");
	return 0;
}
