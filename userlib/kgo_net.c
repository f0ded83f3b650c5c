// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Descriptor I/O that parks the goroutine, not the M: Go's internal/poll
 * and netpoll, over the kernel's netpoller (GMP_IOC_NETPOLL_WAIT).
 *
 * Every call first tries the operation without blocking (MSG_DONTWAIT,
 * RWF_NOWAIT), whatever the descriptor's own O_NONBLOCK says. If it would
 * block, the goroutine parks in the kernel on the file's wait queue, and
 * the file's wake-up makes it runnable; then it tries again. (A read that
 * can tell the last one drained the file waits first: read_guess().) A
 * file the kernel cannot wait for (one with no poll, or more wait queues
 * than gmp hooks) is used as a plain blocking call, which the blocking
 * hand-off covers. A plain thread, not a goroutine, waits in ppoll().
 *
 * Per descriptor number, kgo keeps Go's pollDesc in a table: a generation
 * that kgo_close() advances, the goroutines waiting, the deadlines, and
 * the id of the kernel's registration of the file (its first wait makes
 * one, which stays until kgo_close()). The registration's slot in the
 * poll area counts the file's events: read before a call that would
 * block, and passed to the wait, it lets the kernel park the goroutine
 * without polling the file again, and never past an event that came
 * after the call.
 * The kernel parks a goroutine only while the generation it read is still
 * the descriptor's (its futex-like uaddr/uval check), and kgo_close()
 * wakes those parked after it advanced it, so a wait never outlives a
 * kgo_close(), nor lands on a file that reuses the number.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kgo.h"
#include "kgo_runtime.h"

/* Go's pollDesc, by descriptor number, in chunks allocated on first use. */
struct pollfd_state {
	uint32_t gen;		/* advanced by kgo_close() */
	uint32_t seq;		/* ... and by kgo_set_deadline(): the kernel reads it */
	uint32_t nwait;		/* goroutines arming or parked */
	uint32_t pd;		/* the kernel's registration of its file, 0: none */
	int64_t rdeadline;	/* kgo_now() ns, 0: none */
	int64_t wdeadline;
	uint64_t rguess;	/* a read drained it, if still so (read_guess()) */
	uint16_t rskip;		/* reads after a park not to guess from */
	uint16_t rback;		/* rskip after the next wrong guess */
};

#define FDTAB_CHUNK	1024
#define FDTAB_CHUNKS	1024	/* descriptors below 2^20 have one */

static struct pollfd_state *fdtab[FDTAB_CHUNKS];

/* @fd's pollDesc, made on first use if @make; NULL beyond the table. */
static struct pollfd_state *fdstate(int fd, bool make)
{
	struct pollfd_state *chunk, *fresh = NULL;
	unsigned int i;

	if (fd < 0 || fd >= FDTAB_CHUNK * FDTAB_CHUNKS)
		return NULL;
	i = (unsigned int)fd / FDTAB_CHUNK;
	chunk = __atomic_load_n(&fdtab[i], __ATOMIC_ACQUIRE);
	if (!chunk && !make)
		return NULL;
	if (!chunk) {
		fresh = calloc(FDTAB_CHUNK, sizeof(*fresh));
		if (!fresh)
			return NULL;
		if (__atomic_compare_exchange_n(&fdtab[i], &chunk, fresh, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			chunk = fresh;
		else
			free(fresh);	/* another thread's won */
	}
	return &chunk[(unsigned int)fd % FDTAB_CHUNK];
}

/* One call's view of its descriptor: the generation it started in. */
struct pd {
	int fd;
	struct pollfd_state *fs;	/* NULL: beyond the table (no close, no deadlines) */
	uint32_t gen;
	uint32_t reg;			/* fs->pd when seen was read */
	uint64_t seen;			/* its slot then */
	bool poll;			/* no call found it not ready: poll it */
	const uint32_t *cancel;		/* set: wait no more (see fdwatch) */
};

/*
 * Before a call that may find the file not ready: what its registration
 * has counted so far, if it has one. The call that follows is a system
 * call, which orders this load before it.
 */
static void pd_look(struct pd *pd)
{
	pd->reg = pd->fs && rt.pollslots ?
		  __atomic_load_n(&pd->fs->pd, __ATOMIC_RELAXED) : 0;
	if (pd->reg && pd->reg < GMP_POLLSLOTS_MAX)
		pd->seen = __atomic_load_n((const uint64_t *)
					   &rt.pollslots[pd->reg],
					   __ATOMIC_ACQUIRE);
	else
		pd->reg = 0;
}

static void pd_init(struct pd *pd, int fd)
{
	pd->fd = fd;
	pd->fs = fdstate(fd, true);
	pd->gen = pd->fs ? __atomic_load_n(&pd->fs->gen, __ATOMIC_ACQUIRE) : 0;
	pd->reg = 0;
	pd->seen = 0;
	pd->poll = false;
	pd->cancel = NULL;
}

/* kgo_close() came since the call started: never touch the number again. */
static bool pd_closed(const struct pd *pd)
{
	return pd->fs && __atomic_load_n(&pd->fs->gen, __ATOMIC_ACQUIRE) !=
			 pd->gen;
}

/* Which deadline a wait has: the descriptor's read or write one, or its own. */
enum { DL_READ, DL_WRITE, DL_FIXED };

static int64_t pd_deadline(const struct pd *pd, int which)
{
	if (!pd->fs || which == DL_FIXED)
		return 0;
	return __atomic_load_n(which == DL_WRITE ? &pd->fs->wdeadline :
			       &pd->fs->rdeadline, __ATOMIC_RELAXED);
}

/* One wait for readiness: the goroutine parks on g0's side of gopark. */
struct netwait {
	int fd;
	uint32_t events;
	int64_t deadline;
	uint32_t *seq;
	uint32_t seqval;
	uint32_t *pdp;		/* where kgo caches the registration, or NULL */
	uint32_t reg;		/* the registration and its slot, as seen */
	uint64_t seen;
	bool poll;		/* GMP_NETPOLL_POLL: seen stands for no poll */
	int ret;		/* if it did not park: 1 ready, or -errno */
	uint32_t revents;
};

/*
 * gopark's commit, on g0, the goroutine saved: park it in the kernel. On
 * success the kernel owns it and @nw (on its stack) is not ours to touch.
 */
static bool netpoll_commit(struct kgo_g *g, void *arg)
{
	struct netwait *nw = arg;
	struct gmp_netpoll_wait a = {
		.size = sizeof(a),
		.fd = nw->fd,
		.events = nw->events,
		.gidx = g->gidx,
		.deadline_ns = nw->deadline > 0 ? (uint64_t)nw->deadline : 0,
		.uaddr = (uintptr_t)nw->seq,
		.uval = nw->seqval,
		.pd = nw->reg,
		.seen = nw->seen,
	};
	uint32_t *pdp = nw->pdp;
	int r;

	/*
	 * Nothing else for this P in user space: park and schedule in one
	 * system call, not two (Go's findrunnable would poll the network
	 * next; the kernel's does).
	 */
	if (nw->reg && park_schedules())
		a.flags |= GMP_NETPOLL_SCHED;
	if (nw->poll)
		a.flags |= GMP_NETPOLL_POLL;
	r = (int)gmp_ioctl(GMP_IOC_NETPOLL_WAIT, (uintptr_t)&a);

	/* Parked or not: the kernel's registration, for the next wait. */
	if (pdp && a.pd != nw->reg)
		__atomic_store_n(pdp, a.pd, __ATOMIC_RELAXED);
	if (r == 0)
		return true;
	if (r > 0) {
		nw->ret = 1;
		nw->revents = a.revents;
	} else {
		nw->ret = r;
	}
	return false;
}

/*
 * A plain thread's wait, and a goroutine's for a file the kernel cannot
 * wait for: ppoll until @deadline. 1: ready; 0: a signal, look again;
 * -ETIMEDOUT; -EBADF; -errno. (It holds the M: the hand-off covers it.)
 */
static int pollwait(int fd, uint32_t events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = (short)events };
	struct timespec ts, *tsp = NULL;
	int64_t left;
	int r;

	if (deadline > 0) {
		left = deadline - nanotime();
		if (left <= 0)
			return -ETIMEDOUT;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	r = ppoll(&pfd, 1, tsp, NULL);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (pfd.revents & POLLNVAL)
		return -EBADF;
	return 1;
}

/* A watcher's wait in ppoll, which no kick ends, looks again this often. */
#define WATCH_RECHECK_NS	10000000LL

/* The deadline of a wait in ppoll: @deadline, or soon if it can be stopped. */
static int64_t pollwait_deadline(const struct pd *pd, int64_t deadline)
{
	int64_t soon;

	if (!pd->cancel)
		return deadline;
	soon = nanotime() + WATCH_RECHECK_NS;
	return deadline > 0 && deadline < soon ? deadline : soon;
}

/*
 * Wait until @pd's file may be ready for @events (POLLIN, POLLOUT...), or
 * the deadline @which says (DL_FIXED: @fixed, 0 for none). 1: the kernel
 * says it is ready now (what polled in @revents, if given); 0: woken
 * (readiness, a deadline changed, a signal), look again; -ETIMEDOUT;
 * -EBADF: kgo_close() came; another -errno. A file the kernel cannot
 * wait for is waited for in ppoll().
 */
static int netwait(struct pd *pd, uint32_t events, int which, int64_t fixed,
		   uint32_t *revents)
{
	struct pollfd_state *fs = pd->fs;
	struct netwait nw = { .fd = pd->fd, .events = events };
	int r;

	if (fs) {
		/* Counted before the look at seq: pairs with its writers. */
		__atomic_add_fetch(&fs->nwait, 1, __ATOMIC_SEQ_CST);
		nw.seq = &fs->seq;
		nw.seqval = __atomic_load_n(&fs->seq, __ATOMIC_SEQ_CST);
		nw.pdp = &fs->pd;
		nw.reg = pd->reg;
		nw.seen = pd->seen;
		nw.poll = pd->poll;
	}
	pd->reg = 0;	/* used once: a wait after this one looks again */
	pd->poll = false;
	nw.deadline = which == DL_FIXED ? fixed : pd_deadline(pd, which);
	if (pd_closed(pd)) {
		r = -EBADF;
	} else if (pd->cancel &&
		   __atomic_load_n(pd->cancel, __ATOMIC_SEQ_CST)) {
		r = 0;	/* after seq was read: see fdwatch_stop() */
	} else if (!kgo_getg() || !rt.netpoll) {
		r = pollwait(pd->fd, events,
			     pollwait_deadline(pd, nw.deadline));
	} else {
		kgo_acquirem();
		/* Not stuck: the file or its deadline will wake it. */
		gopark(netpoll_commit, &nw, true, "kgo netpoll");
		switch (nw.ret) {
		case -EAGAIN:	/* seq moved: a close or a new deadline */
			r = 0;
			break;
		case -EOPNOTSUPP:
			r = pollwait(pd->fd, events,
				     pollwait_deadline(pd, nw.deadline));
			break;
		case 1:		/* ready, or only an event counted: look again */
			r = nw.revents || !nw.reg ? 1 : 0;
			break;
		default:	/* 0 parked and woken, -errno */
			r = nw.ret;
			break;
		}
	}
	if (fs)
		__atomic_sub_fetch(&fs->nwait, 1, __ATOMIC_RELEASE);
	if (pd_closed(pd))
		return -EBADF;
	if (revents)
		*revents = r == 1 ? nw.revents : 0;
	return r;
}

/*
 * Ready, says poll, yet the call would block (a datagram socket whose
 * receiver is full polls writable; a device without poll is always
 * "ready"): yield, then sleep longer each time, up to a millisecond.
 */
static void backoff(int spins)
{
	int64_t ns;

	if (spins < 4 && kgo_getg()) {
		kgo_yield();
		return;
	}
	ns = spins >= 14 ? 1000000 : 100LL << (spins < 4 ? 0 : spins - 4);
	if (ns > 1000000)
		ns = 1000000;
	kgo_sleep(ns);
}

/* The operations. */
enum ioop { IO_READV, IO_WRITEV, IO_RECVMSG, IO_SENDMSG, IO_ACCEPT };

struct iocall {
	enum ioop op;
	int fd;
	struct iovec *iov;
	int iovcnt;
	struct msghdr *msg;	/* IO_RECVMSG, IO_SENDMSG: name, control */
	int flags;
	struct sockaddr *addr;
	socklen_t *addrlen;
	bool notsock;		/* a call found ENOTSOCK: not a socket */
	bool plain;		/* no non-blocking form: wait, then the call */
	bool v2;		/* the last try was preadv2/pwritev2 */
};

/*
 * The reads and writes io_try() makes. Under TSan they bypass its
 * descriptor tracking, as preadv2 and pwritev2 always do: kgo's reads and
 * writes order goroutines as Go's do (iosync, below), and a descriptor
 * closed after them by another goroutine is no race.
 */
#if KGO_TSAN
#define IO_CALL(name, ...)	syscall(SYS_##name, __VA_ARGS__)
#else
#define IO_CALL(name, ...)	name(__VA_ARGS__)
#endif

/* Try @c once, without blocking unless c->plain. */
static ssize_t io_try(struct iocall *c)
{
	struct msghdr m;
	ssize_t r;

	c->v2 = false;
	switch (c->op) {
	case IO_READV:
		/* Sockets have no RWF_NOWAIT before 6.x: MSG_DONTWAIT. */
		if (!c->notsock) {
			memset(&m, 0, sizeof(m));
			m.msg_iov = c->iov;
			m.msg_iovlen = (size_t)c->iovcnt;
			r = IO_CALL(recvmsg, c->fd, &m, MSG_DONTWAIT);
			if (r >= 0 || errno != ENOTSOCK)
				return r;
			c->notsock = true;
		}
		if (c->plain)
			return IO_CALL(readv, c->fd, c->iov, c->iovcnt);
		c->v2 = true;
		return preadv2(c->fd, c->iov, c->iovcnt, -1, RWF_NOWAIT);
	case IO_WRITEV:
		if (!c->notsock) {
			memset(&m, 0, sizeof(m));
			m.msg_iov = c->iov;
			m.msg_iovlen = (size_t)c->iovcnt;
			r = IO_CALL(sendmsg, c->fd, &m,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r >= 0 || errno != ENOTSOCK)
				return r;
			c->notsock = true;
		}
		if (c->plain)
			return IO_CALL(writev, c->fd, c->iov, c->iovcnt);
		c->v2 = true;
		return pwritev2(c->fd, c->iov, c->iovcnt, -1, RWF_NOWAIT);
	case IO_RECVMSG:
		return IO_CALL(recvmsg, c->fd, c->msg,
			       c->flags | MSG_DONTWAIT);
	case IO_SENDMSG:
		c->msg->msg_iov = c->iov;
		c->msg->msg_iovlen = (size_t)c->iovcnt;
		return IO_CALL(sendmsg, c->fd, c->msg,
			       c->flags | MSG_NOSIGNAL | MSG_DONTWAIT);
	case IO_ACCEPT:
		/* A blocking listener: made once it polled ready (c->plain). */
		return accept4(c->fd, c->addr, c->addrlen, c->flags);
	}
	errno = EINVAL;
	return -1;
}

/*
 * Go's ioSync: under TSan (KGO_TSAN) whatever a goroutine did before a
 * write comes before what follows any read after it, as Go's race
 * detector has it (the calls here bypass the sanitizer's own fd tracking:
 * preadv2 and pwritev2 are not intercepted).
 */
static char iosync;

/*
 * Go's race.ReadRange/WriteRange: the @n bytes the kernel read from (a
 * write) or wrote into (a read) the caller's buffers, which TSan does not
 * see it do.
 */
static void race_io(const struct iocall *c, ssize_t n, bool write)
{
#if KGO_TSAN
	const struct iovec *v = c->msg ? c->msg->msg_iov : c->iov;
	size_t cnt = c->msg ? c->msg->msg_iovlen : (size_t)c->iovcnt;
	size_t i, step;

	for (i = 0; n > 0 && i < cnt; i++) {
		step = v[i].iov_len < (size_t)n ? v[i].iov_len : (size_t)n;
		if (write)
			__tsan_read_range(v[i].iov_base, step);
		else
			__tsan_write_range(v[i].iov_base, step);
		n -= (ssize_t)step;
	}
#else
	(void)c;
	(void)n;
	(void)write;
#endif
}

/*
 * Skipping the read that would block. Go's fd.Read tries the read, and
 * waits when it would block; so does kgo, and a goroutine that reads one
 * request, answers it and reads the next makes two system calls per
 * wait: the read that finds nothing, and the park. kgo skips the first
 * when it can tell the last read took everything there was: that read
 * came right after a park (a wake-up announced what it took), and the
 * registration's count has not moved since just before it (nothing came
 * since). That is a guess, not a proof: a datagram socket may hold more
 * than one read takes, and a read may be shorter than what came. So the
 * wait it skips to has the kernel poll the file (GMP_NETPOLL_POLL) as a
 * first wait does. A wrong guess costs one system call, a wait that
 * returns "ready", and the descriptor's next reads after a park are not
 * guessed from: 8 after one wrong guess, twice as many after each next
 * one, up to 1024; a right one starts again at 8. So a protocol whose
 * reads leave data behind (a header, then its body) pays a call in a
 * thousand at most. KGO_READGUESS=0 turns it off.
 */
#define READGUESS_SKIP		8
#define READGUESS_SKIP_MAX	1024

/* Calls that take what they read (not MSG_PEEK) and may guess. */
static bool read_guessable(const struct iocall *c)
{
	return rt.readguess && !c->plain &&
	       (c->op == IO_READV ||
		(c->op == IO_RECVMSG && !(c->flags & MSG_PEEK)));
}

/* What read_guess() compares: @pd's registration and its rseq as seen. */
static uint64_t read_guess_key(const struct pd *pd)
{
	return (uint64_t)pd->reg << 32 | (uint32_t)pd->seen;
}

/* What a read leaves for the guess: @pd's count before it, if @woke. */
static uint64_t read_guess_mark(const struct pd *pd, bool woke)
{
	struct pollfd_state *fs = pd->fs;
	uint16_t skip;

	if (!woke || !pd->reg)
		return 0;
	skip = __atomic_load_n(&fs->rskip, __ATOMIC_RELAXED);
	if (skip) {
		__atomic_store_n(&fs->rskip, (uint16_t)(skip - 1),
				 __ATOMIC_RELAXED);
		return 0;
	}
	return read_guess_key(pd);
}

/* After @c read from @pd's file: remember whether it may have drained it. */
static void read_guess_note(const struct iocall *c, const struct pd *pd,
			    bool woke)
{
	uint64_t mark;

	if (!pd->fs || !read_guessable(c))
		return;
	mark = read_guess_mark(pd, woke);
	/* Stored only when it changes: readers of one socket share it. */
	if (__atomic_load_n(&pd->fs->rguess, __ATOMIC_RELAXED) != mark)
		__atomic_store_n(&pd->fs->rguess, mark, __ATOMIC_RELAXED);
}

/* Before @c's try, after pd_look(): go straight to the wait? */
static bool read_guess(const struct iocall *c, const struct pd *pd)
{
	int64_t dl;

	if (!pd->reg || !read_guessable(c) || !kgo_getg() ||
	    __atomic_load_n(&pd->fs->rguess, __ATOMIC_RELAXED) !=
	    read_guess_key(pd))
		return false;
	/* A deadline passed fails the wait, where the read might not. */
	dl = pd_deadline(pd, DL_READ);
	return !dl || dl > nanotime();
}

/* How the guessed wait went: @w 1, the file was ready (not drained). */
static void read_guess_result(const struct pd *pd, int w)
{
	struct pollfd_state *fs = pd->fs;
	uint16_t back = __atomic_load_n(&fs->rback, __ATOMIC_RELAXED);

	if (w != 1) {		/* right: the back-off starts again (0: 8) */
		if (back)
			__atomic_store_n(&fs->rback, 0, __ATOMIC_RELAXED);
		return;
	}
	if (!back)
		back = READGUESS_SKIP;
	__atomic_store_n(&fs->rguess, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->rskip, back, __ATOMIC_RELAXED);
	if (back < READGUESS_SKIP_MAX)
		back *= 2;
	__atomic_store_n(&fs->rback, back, __ATOMIC_RELAXED);
}

/*
 * Go's fd.Read loop: try, wait, try again, until it does not block, the
 * deadline passes (ETIMEDOUT) or kgo_close() comes (EBADF). -1 with
 * errno, as the call it wraps. @wait_first: the first try would block
 * the thread (c->plain), so wait for readiness before it.
 */
static ssize_t io_loop(struct iocall *c, struct pd *pd, uint32_t events,
		       bool write, bool wait_first)
{
	bool waited = false, woke = false, guessed = false;
	int w = 0, spins = 0;
	ssize_t r;

	if (write)
		racerelease(&iosync);
	for (;;) {
		if (pd_closed(pd)) {
			errno = EBADF;
			return -1;
		}
		/*
		 * The plain call may block: it is made only right after the
		 * kernel said the file is ready, not after a wake-up that
		 * may have been a deadline, a close or a new deadline.
		 */
		if (c->plain && w != 1)
			wait_first = true;
		/*
		 * Counts seen only before a try that found the file not
		 * ready (not before one that wrote part, in an earlier call).
		 */
		pd->reg = 0;
		if (!wait_first) {
			pd_look(pd);
			guessed = !waited && read_guess(c, pd);
			pd->poll = guessed;
		}
		if (!wait_first && !guessed) {
			r = io_try(c);
			if (r >= 0) {
				if (!write) {
					read_guess_note(c, pd, woke);
					raceacquire(&iosync);
				}
				race_io(c, r, write);
				return r;
			}
			if (errno == EOPNOTSUPP && c->v2) {
				c->plain = true; /* RWF_NOWAIT refused: wait first */
				pd->reg = 0;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				return -1;
			} else if (w == 1 && ++spins > 1) {
				backoff(spins);
			}
		}
		wait_first = false;
		w = netwait(pd, events, write ? DL_WRITE : DL_READ, 0, NULL);
		if (guessed)
			read_guess_result(pd, w);
		guessed = false;
		if (w < 0) {
			errno = -w;
			return -1;
		}
		waited = true;
		woke = w == 0;	/* woken (or told to look again): not ready */
	}
}

/*
 * A blocking write: all of it, as write() and send() on a blocking
 * socket do; on an error after part of it, the count so far. Ancillary
 * data goes with the first part.
 */
static ssize_t write_all(struct iocall *c, const struct iovec *iov,
			 int iovcnt)
{
	struct iovec local[16], *v = local;
	size_t done = 0, total = 0, left;
	struct pd pd;
	ssize_t r = 0;
	int i;

	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (iovcnt > 16) {
		v = malloc(sizeof(*v) * (size_t)iovcnt);
		if (!v)
			return -1;
	}
	for (i = 0; i < iovcnt; i++) {
		v[i] = iov[i];
		total += iov[i].iov_len;
	}
	c->iov = v;
	c->iovcnt = iovcnt;
	pd_init(&pd, c->fd);
	do {
		/* A zero-length write is made once (an empty datagram). */
		while (total && c->iovcnt && !c->iov->iov_len) {
			c->iov++;
			c->iovcnt--;
		}
		r = io_loop(c, &pd, POLLOUT, true, false);
		if (r <= 0)
			break;
		done += (size_t)r;
		for (left = (size_t)r, i = 0; left && i < c->iovcnt; i++) {
			size_t step = left < c->iov[i].iov_len ? left :
				      c->iov[i].iov_len;

			c->iov[i].iov_base = (char *)c->iov[i].iov_base + step;
			c->iov[i].iov_len -= step;
			left -= step;
		}
		if (c->msg) {
			c->msg->msg_control = NULL;
			c->msg->msg_controllen = 0;
		}
	} while (done < total);
	if (v != local) {
		int e = errno;

		free(v);
		errno = e;
	}
	return r < 0 && !done ? -1 : (ssize_t)done;
}

ssize_t kgo_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct iocall c = { .op = IO_READV, .fd = fd,
			    .iov = (struct iovec *)iov, .iovcnt = iovcnt };
	struct pd pd;

	pd_init(&pd, fd);
	return io_loop(&c, &pd, POLLIN, false, false);
}

ssize_t kgo_read(int fd, void *buf, size_t n)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };

	return kgo_readv(fd, &iov, 1);
}

ssize_t kgo_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct iocall c = { .op = IO_WRITEV, .fd = fd };

	return write_all(&c, iov, iovcnt);
}

ssize_t kgo_write(int fd, const void *buf, size_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };

	return kgo_writev(fd, &iov, 1);
}

/* Flags with which Linux never blocks, or that ask not to: passed on. */
#define NOWAIT_FLAGS	(MSG_DONTWAIT | MSG_ERRQUEUE | MSG_OOB)

ssize_t kgo_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct iocall c = { .op = IO_RECVMSG, .fd = fd, .msg = msg,
			    .flags = flags };
	struct pd pd;

	if (flags & NOWAIT_FLAGS)
		return recvmsg(fd, msg, flags);
	pd_init(&pd, fd);
	return io_loop(&c, &pd, POLLIN, false, false);
}

ssize_t kgo_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m = *msg;
	struct iocall c = { .op = IO_SENDMSG, .fd = fd, .msg = &m,
			    .flags = flags };

	if (flags & MSG_DONTWAIT)
		return sendmsg(fd, msg, flags | MSG_NOSIGNAL);
	if (msg->msg_iovlen > IOV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return write_all(&c, msg->msg_iov, (int)msg->msg_iovlen);
}

ssize_t kgo_recvfrom(int fd, void *buf, size_t n, int flags,
		     struct sockaddr *from, socklen_t *fromlen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };
	struct msghdr m = { .msg_name = from, .msg_iov = &iov,
			    .msg_iovlen = 1 };
	ssize_t r;

	if (from && fromlen)
		m.msg_namelen = *fromlen;
	else
		m.msg_name = NULL;
	r = kgo_recvmsg(fd, &m, flags);
	if (r >= 0 && from && fromlen)
		*fromlen = m.msg_namelen;
	return r;
}

ssize_t kgo_recv(int fd, void *buf, size_t n, int flags)
{
	return kgo_recvfrom(fd, buf, n, flags, NULL, NULL);
}

ssize_t kgo_sendto(int fd, const void *buf, size_t n, int flags,
		   const struct sockaddr *to, socklen_t tolen)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen,
			    .msg_iov = &iov, .msg_iovlen = 1 };

	return kgo_sendmsg(fd, &m, flags);
}

ssize_t kgo_send(int fd, const void *buf, size_t n, int flags)
{
	return kgo_sendto(fd, buf, n, flags, NULL, 0);
}

int kgo_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen,
		int flags)
{
	struct iocall c = { .op = IO_ACCEPT, .fd = fd, .addr = addr,
			    .addrlen = addrlen, .flags = flags };
	int fl = fcntl(fd, F_GETFL), listening = 0;
	socklen_t len = sizeof(listening);
	struct pd pd;

	if (fl < 0)
		return -1;
	/*
	 * accept4() has no per-call non-blocking form: on a blocking
	 * listener it is made once the listener polled ready (several
	 * goroutines accepting on one may then hold an M while another
	 * took the connection: make it SOCK_NONBLOCK, as Go's are). What
	 * is no listener fails at once, as accept4() would.
	 */
	if (!(fl & O_NONBLOCK)) {
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
			       &len) || !listening)
			return accept4(fd, addr, addrlen, flags);
		c.plain = true;
	}
	pd_init(&pd, fd);
	/*
	 * Of many accepters parked on one listener, a connection wakes one
	 * (a kernel without registrations does not take EPOLLEXCLUSIVE).
	 */
	return (int)io_loop(&c, &pd, POLLIN | (rt.pollslots ? EPOLLEXCLUSIVE :
						0), false, c.plain);
}

int kgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return kgo_accept4(fd, addr, addrlen, 0);
}

/* Wait for @pd's file to poll @events: 0, or -errno (ETIMEDOUT, EBADF...). */
static int wait_polled(struct pd *pd, short events, int which)
{
	struct pollfd pfd = { .fd = pd->fd, .events = events };
	int w, spins = 0;

	while (ppoll(&pfd, 1, &(struct timespec){ 0 }, NULL) == 0) {
		w = netwait(pd, (uint16_t)events, which, 0, NULL);
		if (w < 0)
			return w;
		if (w == 1 && ++spins > 1)
			backoff(spins);
	}
	return pd_closed(pd) ? -EBADF : 0;
}

int kgo_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int fl = fcntl(fd, F_GETFL), r, soerr, err, spins = 0;
	socklen_t sl = sizeof(soerr);
	struct pd pd;

	if (fl < 0)
		return -1;
	pd_init(&pd, fd);
	/* The connection is started without blocking, then waited for. */
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	for (;;) {
		r = connect(fd, addr, len);
		err = errno;
		/* A UNIX listener's full backlog: no event says it has room. */
		if (r < 0 && err == EAGAIN && !pd_closed(&pd)) {
			if (pd_deadline(&pd, DL_WRITE) &&
			    nanotime() >= pd_deadline(&pd, DL_WRITE)) {
				err = ETIMEDOUT;
				break;
			}
			backoff(++spins + 4);
			continue;
		}
		break;
	}
	if (r < 0 && (err == EINPROGRESS || err == EALREADY)) {
		err = -wait_polled(&pd, POLLOUT, DL_WRITE);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
				       &sl) < 0)
			err = errno;
		else if (!err)
			err = soerr;
		r = err ? -1 : 0;
	}
	/* Not on a number kgo_close() gave back: it may be another file's. */
	if (!(fl & O_NONBLOCK) && !pd_closed(&pd)) {
		fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	errno = err;
	return r;
}

/*
 * Make every wait on @fs's descriptor @fd look again: those arming see seq
 * move (the kernel's uaddr/uval check), those parked are woken. Waking
 * them ends the file's registration too: the next wait makes one.
 */
static void pd_kick(struct pollfd_state *fs, int fd)
{
	__atomic_add_fetch(&fs->seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&fs->nwait, __ATOMIC_SEQ_CST) && rt.running &&
	    rt.netpoll) {
		__atomic_store_n(&fs->pd, 0, __ATOMIC_RELAXED);
		gmp_ioctl(GMP_IOC_NETPOLL_CLOSE, (unsigned long)fd);
	}
}

/*
 * One wait for @pd's descriptor, for @pfd's events, until @deadline (0:
 * none), as kgo_poll() and a select's watcher make it: what polls now
 * (> 0), 0 if nothing does yet, or -errno (-ETIMEDOUT at the deadline).
 */
static int pollonce(struct pd *pd, struct pollfd *pfd, int64_t deadline)
{
	uint32_t revents = 0;
	int w;

	w = netwait(pd, (uint16_t)pfd->events & GMP_NETPOLL_EVENTS, DL_FIXED,
		    deadline, &revents);
	if (w == 1 && revents)
		return (int)(uint16_t)revents;
	if (w < 0)
		return w;
	/* Woken, or ready with nothing to say: what polls now? */
	w = ppoll(pfd, 1, &(struct timespec){ 0 }, NULL);
	return w < 0 ? -errno : w ? pfd->revents : 0;
}

int kgo_poll(int fd, short events, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec ts, *tsp = NULL;
	int64_t now, left;
	struct pd pd;
	int w;

	pd_init(&pd, fd);
	now = nanotime();
	while (kgo_getg() && rt.netpoll && timeout_ns != 0) {
		/* Its own timeout, not the descriptor's deadlines. */
		w = pollonce(&pd, &pfd, timeout_ns < 0 ? 0 :
			     timeout_ns > INT64_MAX - now ? INT64_MAX :
			     now + timeout_ns);
		if (w > 0)
			return w;
		if (w == -ETIMEDOUT)
			return 0;
		if (w < 0) {
			errno = -w;
			return -1;
		}
		if (timeout_ns > 0 && nanotime() - now >= timeout_ns)
			return 0;
	}
	/* A plain thread, or just a look. */
	if (timeout_ns >= 0) {
		left = timeout_ns - (nanotime() - now);
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	w = ppoll(&pfd, 1, tsp, NULL);
	return w < 0 ? -1 : w ? pfd.revents : 0;
}

int kgo_set_deadline(int fd, int64_t rdeadline, int64_t wdeadline)
{
	struct pollfd_state *fs = fdstate(fd, true);

	if (!fs) {
		errno = fd < 0 ? EBADF : ENOMEM;
		return -1;
	}
	__atomic_store_n(&fs->rdeadline, rdeadline, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->wdeadline, wdeadline, __ATOMIC_RELAXED);
	pd_kick(fs, fd);	/* waits already parked start again with it */
	return 0;
}

/* glibc's close() under its own name (libc.a's close is a weak alias). */
extern int __close(int fd);

/*
 * Go's pollDesc close: every goroutine waiting on @fd wakes with EBADF
 * (Go's ErrNetClosing) and the kernel's registration of the file ends,
 * so that the close that follows is the file's last, as the program
 * expects. Looks up, never makes, the descriptor's state: it runs from
 * close(), which may be called anywhere, a signal handler included.
 */
static void pd_evict(int fd)
{
	struct pollfd_state *fs = fdstate(fd, false);

	if (!fs)
		return;
	/*
	 * A vfork()ed child shares this memory and the instance's address
	 * space, not its descriptors: its closes are none of kgo's.
	 */
	if (rt.running && syscall(SYS_getpid) != rt.pid)
		return;
	__atomic_store_n(&fs->rdeadline, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->wdeadline, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->rguess, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->rskip, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->rback, 0, __ATOMIC_RELAXED);
	/* The generation first, then the look at waiters: see netwait. */
	__atomic_add_fetch(&fs->gen, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&fs->seq, 1, __ATOMIC_SEQ_CST);
	if ((__atomic_exchange_n(&fs->pd, 0, __ATOMIC_SEQ_CST) ||
	     __atomic_load_n(&fs->nwait, __ATOMIC_SEQ_CST)) &&
	    rt.running && rt.netpoll)
		gmp_ioctl(GMP_IOC_NETPOLL_CLOSE, (unsigned long)fd);
}

int kgo_close(int fd)
{
	pd_evict(fd);
	return __close(fd);
}

/*
 * close() itself is kgo_close(): a program that waited on a descriptor
 * with kgo_read() and the like, then closes it as C programs do, closes
 * the file (a socket's peer sees the end) and wakes its waiters. Other
 * ways to drop a descriptor (dup2() over it, fclose(), exit of a child
 * holding it) leave the file to the kernel's reaper.
 */
int close(int fd)
{
	return kgo_close(fd);
}

/*
 * A new instance (or a forked child's no instance): the registrations
 * kgo cached are not its.
 */
void net_reset(void)
{
	unsigned int i, j;

	for (i = 0; i < FDTAB_CHUNKS; i++)
		if (fdtab[i])
			for (j = 0; j < FDTAB_CHUNK; j++)
				fdtab[i][j].pd = 0;
}

/* --- Descriptors in kgo_select ------------------------------------------- */

/*
 * One KGO_POLL case of a select that blocks: a goroutine waits for the
 * descriptor and sends what polled on a channel with room for one, which
 * the select receives from in the case's place (what a Go program does
 * by hand). The select and the watcher share it; the last to let go
 * frees it.
 */
struct fdwatch {
	struct kgo_chan *ch;
	struct pd pd;		/* the generation the select started in */
	short events;
	uint32_t cancel;	/* the select is done with it */
	uint32_t refs;
};

static void fdwatch_put(struct fdwatch *w)
{
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL))
		return;
	kgo_chan_free(w->ch);
	free(w);
}

static void fdwatch_run(void *arg)
{
	struct fdwatch *w = arg;
	struct pollfd pfd = { .fd = w->pd.fd, .events = w->events };
	struct pd pd = w->pd;
	short revents = 0;
	int r;

	/*
	 * The select has just looked: the first wait parks unless the file
	 * became ready since (the kernel polls it), as kgo_poll()'s does.
	 */
	pd.cancel = &w->cancel;
	while (!revents && !__atomic_load_n(&w->cancel, __ATOMIC_ACQUIRE)) {
		r = pollonce(&pd, &pfd, 0);
		if (r > 0)
			revents = (short)r;
		else if (r == -EBADF)
			revents = POLLNVAL;	/* kgo_close() came */
		else if (r == -ENOMEM)
			kgo_sleep(1000000);	/* then look again */
		else if (r < 0 && r != -ETIMEDOUT && r != -EINTR)
			revents = POLLERR;
	}
	if (revents)
		kgo_chan_trysend(w->ch, &revents);
	fdwatch_put(w);
}

/* The select chose another case: its watcher stops waiting. */
static void fdwatch_stop(struct fdwatch *w)
{
	/* Before the kick: a watcher that reads seq after it sees this. */
	__atomic_store_n(&w->cancel, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->refs, __ATOMIC_ACQUIRE) > 1)
		pd_kick(w->pd.fs, w->pd.fd);
	fdwatch_put(w);
}

/* A watcher for @pfd, or NULL and -errno in *@err. */
static struct fdwatch *fdwatch_start(const struct pollfd *pfd, int *err)
{
	struct fdwatch *w = calloc(1, sizeof(*w));

	*err = -ENOMEM;
	if (!w)
		return NULL;
	w->ch = kgo_chan_make(sizeof(short), 1);
	pd_init(&w->pd, pfd->fd);
	w->events = pfd->events;
	w->refs = 2;
	if (w->ch && w->pd.fs)
		*err = kgo_go(fdwatch_run, w);
	if (*err) {
		kgo_chan_free(w->ch);	/* NULL: nothing */
		free(w);
		return NULL;
	}
	return w;
}

/* select_poll()'s arrays: off the goroutine's stack. */
struct selpoll {
	struct kgo_select_case all[KGO_SELECT_MAX];
	struct fdwatch *w[KGO_SELECT_MAX];
	struct pollfd pf[KGO_SELECT_MAX];
	int pi[KGO_SELECT_MAX];		/* case -> its pf[], or -1 */
	int order[KGO_SELECT_MAX];
	short got[KGO_SELECT_MAX];
};

/*
 * One pass in a random order (Go's pollorder) over @n cases, the
 * descriptors' readiness already in sp->pf: the index of the first
 * ready case, done, or -EAGAIN.
 */
static int select_try(struct kgo_select_case *cases, int n,
		      struct selpoll *sp)
{
	struct kgo_select_case *cs;
	int i, j, r;

	for (i = 0; i < n; i++) {
		j = (int)(fastrand() % (uint32_t)(i + 1));
		sp->order[i] = sp->order[j];
		sp->order[j] = i;
	}
	for (i = 0; i < n; i++) {
		cs = &cases[sp->order[i]];
		if (cs->op == KGO_POLL) {
			j = sp->pi[sp->order[i]];
			if (!sp->pf[j].revents)
				continue;
			((struct pollfd *)cs->elem)->revents = sp->pf[j].revents;
			return sp->order[i];
		}
		if (!cs->c)
			continue;
		r = cs->op == KGO_SEND ? kgo_chan_trysend(cs->c, cs->elem) :
					 kgo_chan_tryrecv(cs->c, cs->elem);
		if (r == -EAGAIN)
			continue;
		if (cs->op == KGO_RECV)
			cs->ok = r;
		return r < 0 ? r : sp->order[i];
	}
	return -EAGAIN;
}

static int select_block(struct kgo_select_case *cases, int n,
			unsigned int flags, struct selpoll *sp)
{
	int i, r = 0;

	for (i = 0; i < n; i++) {
		sp->all[i] = cases[i];
		sp->w[i] = NULL;
		if (cases[i].op != KGO_POLL)
			continue;
		sp->all[i] = (struct kgo_select_case){ .op = KGO_RECV };
		if (sp->pf[sp->pi[i]].fd < 0)
			continue;	/* never ready: a nil channel there */
		sp->w[i] = fdwatch_start(&sp->pf[sp->pi[i]], &r);
		if (!sp->w[i])
			break;
		sp->all[i].c = sp->w[i]->ch;
		sp->all[i].elem = &sp->got[i];
	}
	if (!r)
		r = kgo_select(sp->all, n, flags);
	while (i--) {
		if (!sp->w[i])
			continue;
		if (i == r)
			((struct pollfd *)cases[r].elem)->revents = sp->got[i];
		fdwatch_stop(sp->w[i]);
	}
	if (r >= 0 && cases[r].op == KGO_RECV)
		cases[r].ok = sp->all[r].ok;
	return r;
}

/*
 * kgo_select() with KGO_POLL cases: one look at every descriptor (one
 * ppoll), then the cases in a random order, as Go's select visits them;
 * else, unless KGO_SELECT_NONBLOCK, a watcher per descriptor and a
 * select on the channels and theirs.
 */
int select_poll(struct kgo_select_case *cases, int n, unsigned int flags)
{
	struct selpoll *sp;
	struct pollfd *p;
	int i, r, npoll = 0;

	sp = malloc(sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	r = 0;
	for (i = 0; i < n && !r; i++) {
		sp->pi[i] = -1;
		if (cases[i].op != KGO_POLL) {
			r = select_case_check(&cases[i]);
			continue;
		}
		p = cases[i].elem;
		/* A watcher needs the descriptor's state to be stopped. */
		if (!p || p->fd >= FDTAB_CHUNK * FDTAB_CHUNKS) {
			r = -EINVAL;
			continue;
		}
		if (p->fd >= 0 && !fdstate(p->fd, true))
			r = -ENOMEM;
		sp->pf[npoll] = *p;
		sp->pf[npoll].revents = 0;
		sp->pi[i] = npoll++;
	}
	if (r)
		goto out;
	/* EINTR or ENOMEM: as if none were ready; the watchers look again. */
	if (ppoll(sp->pf, (nfds_t)npoll, &(struct timespec){ 0 }, NULL) <= 0)
		for (i = 0; i < npoll; i++)
			sp->pf[i].revents = 0;
	r = select_try(cases, n, sp);
	if (r == -EAGAIN && !(flags & KGO_SELECT_NONBLOCK))
		r = select_block(cases, n, flags, sp);
out:
	free(sp);
	return r;
}
