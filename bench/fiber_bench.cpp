// SPDX-License-Identifier: GPL-2.0
//
// Boost.Fiber's side of the scheduler benchmarks: the workloads of
// gmp_bench.c with the same semantics, on Boost.Fiber's work-stealing
// scheduler with one thread per P (GMPMAXPROCS, as the others use).
// Usage: fiber_bench WORKLOAD N; prints "WORKLOAD NS_PER_OP".
// Workloads: spawn, yield, chan, daisy, pool (select: Boost.Fiber has
// none).
#include <boost/fiber/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

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

int main(int argc, char **argv)
{
	if (argc != 3) {
		std::fprintf(stderr, "usage: fiber_bench spawn|yield|chan|daisy|pool N\n");
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
	{
		std::unique_lock<fibers::mutex> lk(mu);
		finished = true;
	}
	cv.notify_all();
	for (auto &h : helpers)
		h.join();
	if (d < 0)
		return 3;	/* unknown workload or a wrong answer */
	std::printf("%s %.1f\n", w, d);
	return 0;
}
