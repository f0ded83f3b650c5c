// SPDX-License-Identifier: GPL-2.0
//
// Boost.Fiber's side of the scheduler benchmarks: the workloads of
// gmp_bench.c with the same semantics, on Boost.Fiber's work-stealing
// scheduler with one thread per P (GMPMAXPROCS, as the others use).
// Usage: fiber_bench WORKLOAD N; prints "WORKLOAD NS_PER_OP".
// Workloads: spawn, yield, chan, daisy, pool, parked, fair, sysmix
// (select: Boost.Fiber has none; preempt and handoff: it has neither).
#include <boost/fiber/all.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace fibers = boost::fibers;
using clk = std::chrono::steady_clock;

static double per_op(clk::time_point t, long n)
{
	return std::chrono::duration<double, std::nano>(clk::now() - t).count() / n;
}

// A WaitGroup: fibers count down, one waits (fiber-aware, any thread).
struct latch {
	fibers::mutex mu;
	fibers::condition_variable cv;
	long left;

	explicit latch(long n) : left(n) {}
	void done()
	{
		std::unique_lock<fibers::mutex> lk(mu);
		if (--left == 0)
			cv.notify_all();
	}
	void wait()
	{
		std::unique_lock<fibers::mutex> lk(mu);
		cv.wait(lk, [this] { return left == 0; });
	}
};

/*
 * 64 KiB stacks, as gmp's default, from malloc (below its mmap
 * threshold: the default 128 KiB stacks cost an mmap and a munmap per
 * fiber). Not the pooled allocator: it is not thread-safe, and a stolen
 * fiber's stack is freed on another thread.
 */
static boost::context::fixedsize_stack stack()
{
	return boost::context::fixedsize_stack(64 * 1024);
}

static double spawn(long n)
{
	latch all(n);
	auto t = clk::now();

	for (long i = 0; i < n; i++)
		fibers::fiber(std::allocator_arg, stack(), [&all] { all.done(); })
			.detach();
	all.wait();
	return per_op(t, n);
}

static double yield(long n)
{
	auto t = clk::now();
	fibers::fiber a([n] {
		for (long i = 0; i < n; i++)
			boost::this_fiber::yield();
	});
	fibers::fiber b([n] {
		for (long i = 0; i < n; i++)
			boost::this_fiber::yield();
	});
	a.join();
	b.join();
	return per_op(t, 2 * n);
}

static double chan(long n)
{
	fibers::unbuffered_channel<long> ping, pong;
	fibers::fiber ponger([&] {
		long v;

		for (long i = 0; i < n; i++) {
			ping.pop(v);
			pong.push(v + 1);
		}
	});
	auto t = clk::now();
	long v;

	for (long i = 0; i < n; i++) {
		ping.push(i);
		pong.pop(v);
	}
	double d = per_op(t, n);
	ponger.join();
	return d;
}

static double daisy(long n)
{
	std::vector<std::unique_ptr<fibers::unbuffered_channel<long>>> c;
	auto t = clk::now();

	for (long i = 0; i <= n; i++)
		c.emplace_back(new fibers::unbuffered_channel<long>);
	for (long i = 0; i < n; i++) {
		auto *left = c[i].get(), *right = c[i + 1].get();

		fibers::fiber(std::allocator_arg, stack(), [left, right] {
			long v;

			right->pop(v);
			left->push(v + 1);
		}).detach();
	}
	long v = 1;

	c[n]->push(v);
	c[0]->pop(v);
	return v == n + 1 ? per_op(t, n) : -1;
}

static double pool(long n, unsigned procs)
{
	fibers::buffered_channel<long> jobs(128);
	std::atomic<long> total{0};
	std::vector<fibers::fiber> workers;
	auto t = clk::now();

	for (unsigned w = 0; w < procs; w++)
		workers.emplace_back(std::allocator_arg, stack(), [&] {
			long j, sum = 0;

			while (jobs.pop(j) == fibers::channel_op_status::success)
				sum += j;
			total += sum;
		});
	for (long i = 1; i <= n; i++)
		jobs.push(i);
	jobs.close();
	for (auto &f : workers)
		f.join();
	return total == n * (n + 1) / 2 ? per_op(t, n) : -1;
}

// parked: n fibers waiting on a condition variable; bytes per fiber.
static int parked(long n)
{
	fibers::mutex mu;
	fibers::condition_variable cv;
	bool released = false;
	std::atomic<long> count{0};
	latch all(n);
	struct mem_reading before = mem_read(), after;

	for (long i = 0; i < n; i++)
		fibers::fiber(std::allocator_arg, stack(), [&] {
			std::unique_lock<fibers::mutex> lk(mu);
			count++;
			cv.wait(lk, [&] { return released; });
			lk.unlock();
			all.done();
		}).detach();
	while (count < n)
		boost::this_fiber::sleep_for(std::chrono::milliseconds(1));
	boost::this_fiber::sleep_for(std::chrono::milliseconds(20));
	after = mem_read();
	{
		std::unique_lock<fibers::mutex> lk(mu);
		released = true;
	}
	cv.notify_all();
	all.wait();
	mem_print(before, after, n);
	return 0;
}

static const unsigned per_p = 4;	// fair's and sysmix's fibers per P
static unsigned long long sink;

// fair: four CPU-bound fibers per P for n ms; Jain's index. Fibers are
// never preempted, so a plain thread ends the run: a fiber's own sleep
// would wait for a spinner to yield, which it never does.
static int fair(long n, unsigned procs)
{
	unsigned g = per_p * procs;
	std::vector<long> shares(g);
	volatile int stop = 0;
	latch all(g);

	for (unsigned k = 0; k < g; k++)
		fibers::fiber(std::allocator_arg, stack(), [&, k] {
			fair_spin(&stop, shares.data(), (int)k, &sink);
			all.done();
		}).detach();
	std::thread stopper([&] {
		std::this_thread::sleep_for(std::chrono::milliseconds(n));
		stop = 1;
	});
	all.wait();
	stopper.join();
	std::printf("fair %.3f\n", jain(shares.data(), (int)g));
	return 0;
}

// sysmix: the computers' time for n units each, with as many fibers
// blocked in read(2) beside them (which blocks their thread: Boost.Fiber
// has no hand-off) that a plain thread feeds a byte every 50 us; over
// the time alone.
static int mix_pipe[256][2];

static double mix_phase(long n, unsigned procs, unsigned readers,
			std::atomic<long> &reads)
{
	unsigned g = per_p * procs;
	volatile int stop = 0;
	latch rdone(readers), cdone(g);
	std::thread writer;

	if (g > 256 || readers > 256)
		std::abort();
	for (unsigned k = 0; k < readers; k++) {
		if (pipe(mix_pipe[k]))
			std::abort();
		fibers::fiber(std::allocator_arg, stack(), [&, k] {
			char c;

			// A yield after each read: with no preemption, a
			// reader that loops on read() keeps its thread
			// until the run ends, and the run never ends.
			while (read(mix_pipe[k][0], &c, 1) == 1 && c != 'q') {
				reads++;
				boost::this_fiber::yield();
			}
			rdone.done();
		}).detach();
	}
	if (readers)
		writer = std::thread([&] {
			mix_write(mix_pipe, (int)readers, &stop);
		});
	auto t = clk::now();
	for (unsigned k = 0; k < g; k++)
		fibers::fiber(std::allocator_arg, stack(), [&, k] {
			mix_compute(n, (int)k, &sink);
			cdone.done();
		}).detach();
	cdone.wait();
	double d = std::chrono::duration<double, std::nano>(clk::now() - t).count();

	stop = 1;
	if (readers) {
		writer.join();
		rdone.wait();
	}
	for (unsigned k = 0; k < readers; k++) {
		close(mix_pipe[k][0]);
		close(mix_pipe[k][1]);
	}
	return d;
}

static int sysmix(long n, unsigned procs)
{
	std::atomic<long> reads{0};
	double alone = mix_phase(n, procs, 0, reads);
	double mixed = mix_phase(n, procs, per_p * procs, reads);

	if (!reads)
		return -1;
	std::printf("sysmix %.3f\n", mixed / alone);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		std::fprintf(stderr, "usage: fiber_bench spawn|yield|chan|daisy|pool|parked|fair|sysmix N\n");
		return 2;
	}
	const char *w = argv[1];
	long n = std::atol(argv[2]);
	const char *env = std::getenv("GMPMAXPROCS");
	unsigned procs = env ? (unsigned)std::atoi(env) : 1;

	if (n <= 0 || procs < 1)
		return 2;
	// One thread per P, all in one work-stealing pool; the helpers
	// serve fibers until main is done.
	std::atomic<bool> finished{false};
	fibers::mutex mu;
	fibers::condition_variable_any cv;
	std::vector<std::thread> helpers;

	// work_stealing's constructor waits for all procs threads: start
	// the helpers before main joins them.
	for (unsigned i = 1; i < procs; i++)
		helpers.emplace_back([&, procs] {
			fibers::use_scheduling_algorithm<
				fibers::algo::work_stealing>(procs);
			std::unique_lock<fibers::mutex> lk(mu);
			cv.wait(lk, [&] { return finished.load(); });
		});
	fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(procs);
	double d = -1;
	int printed = -1;

	if (!std::strcmp(w, "spawn"))
		d = spawn(n);
	else if (!std::strcmp(w, "yield"))
		d = yield(n);
	else if (!std::strcmp(w, "chan"))
		d = chan(n);
	else if (!std::strcmp(w, "daisy"))
		d = daisy(n);
	else if (!std::strcmp(w, "pool"))
		d = pool(n, procs);
	else if (!std::strcmp(w, "parked"))
		printed = parked(n);
	else if (!std::strcmp(w, "fair"))
		printed = fair(n, procs);
	else if (!std::strcmp(w, "sysmix"))
		printed = sysmix(n, procs);
	{
		std::unique_lock<fibers::mutex> lk(mu);
		finished = true;
	}
	cv.notify_all();
	for (auto &h : helpers)
		h.join();
	if (printed == 0)
		return 0;
	if (d < 0)
		return 3;	/* unknown workload or a wrong answer */
	std::printf("%s %.1f\n", w, d);
	return 0;
}
