// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Descriptor I/O that parks the goroutine, not the M: Go's internal/poll
 * and netpoll, over the kernel's netpoller (GMP_IOC_NETPOLL_WAIT).
 *
 * Every call first tries the operation without blocking (MSG_DONTWAIT,
 * RWF_NOWAIT), whatever the descriptor's own O_NONBLOCK says. If it would
 * block, the goroutine parks in the kernel on the file's wait queue, and
 * the file's wake-up makes it runnable; then it tries again. A file the
 * kernel cannot wait for (one with no poll, or more wait queues than gmp
 * hooks) is used as a plain blocking call, which the blocking hand-off
 * covers. A plain thread, not a goroutine, waits in ppoll().
 *
 * Per descriptor number, kgo keeps Go's pollDesc in a table: a generation
 * that kgo_close() advances, the goroutines waiting and the deadlines.
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kgo.h"
#include "kgo_runtime.h"

/* Go's pollDesc, by descriptor number, in chunks allocated on first use. */
struct pollfd_state {
	uint32_t gen;		/* advanced by kgo_close(): the kernel reads it */
	uint32_t nwait;		/* goroutines arming or parked */
	int64_t rdeadline;	/* kgo_now() ns, 0: none */
	int64_t wdeadline;
};

#define FDTAB_CHUNK	1024
#define FDTAB_CHUNKS	1024	/* descriptors below 2^20 have one */

static struct pollfd_state *fdtab[FDTAB_CHUNKS];

static struct pollfd_state *fdstate(int fd)
{
	struct pollfd_state *chunk, *fresh = NULL;
	unsigned int i;

	if (fd < 0 || fd >= FDTAB_CHUNK * FDTAB_CHUNKS)
		return NULL;
	i = (unsigned int)fd / FDTAB_CHUNK;
	chunk = __atomic_load_n(&fdtab[i], __ATOMIC_ACQUIRE);
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

/* One wait for readiness: the goroutine parks on g0's side of gopark. */
struct netwait {
	int fd;
	uint32_t events;
	int64_t deadline;
	uint32_t *gen;
	uint32_t genval;
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
		.uaddr = (uintptr_t)nw->gen,
		.uval = nw->genval,
	};

	int r = ioctl(rt.fd, GMP_IOC_NETPOLL_WAIT, &a);

	if (r == 0)
		return true;
	if (r > 0) {
		nw->ret = 1;
		nw->revents = a.revents;
	} else {
		nw->ret = -errno;
	}
	return false;
}

/* A plain thread's wait (and the fallback): ppoll until @deadline. */
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

/*
 * Wait until @fd may be ready for @events (POLLIN, POLLOUT...), or
 * @deadline (0: none). 0: woken, look again; 1: ready now, the kernel
 * says; 2: the kernel cannot wait for this file, so block in the call;
 * -ETIMEDOUT; -EBADF: the descriptor was closed (kgo_close) or is not
 * open; another -errno.
 */
static int netwait(int fd, struct pollfd_state *fs, uint32_t gen,
		   uint32_t events, int64_t deadline, uint32_t *revents)
{
	struct netwait nw = {
		.fd = fd, .events = events, .deadline = deadline,
		.gen = fs ? &fs->gen : NULL, .genval = gen,
	};

	if (!kgo_getg() || !rt.netpoll)
		return pollwait(fd, events, deadline);
	if (fs)
		__atomic_add_fetch(&fs->nwait, 1, __ATOMIC_SEQ_CST);
	kgo_acquirem();
	/* Not stuck: the file or its deadline will wake it (no deadlock). */
	gopark(netpoll_commit, &nw, true, "kgo netpoll");
	if (fs)
		__atomic_sub_fetch(&fs->nwait, 1, __ATOMIC_RELEASE);
	if (fs && __atomic_load_n(&fs->gen, __ATOMIC_ACQUIRE) != gen)
		return -EBADF;
	if (revents)
		*revents = nw.revents;
	switch (nw.ret) {
	case 0:
		return 0;	/* parked, then woken */
	case 1:
		return 1;
	case -EAGAIN:
		return -EBADF;	/* the generation moved: kgo_close() */
	case -EOPNOTSUPP:
		return 2;
	default:
		return nw.ret;
	}
}

/* The operations, each tried without blocking unless @block. */
enum ioop { IO_READV, IO_WRITEV, IO_RECVMSG, IO_SENDMSG, IO_ACCEPT };

struct iocall {
	enum ioop op;
	int fd;
	const struct iovec *iov;
	int iovcnt;
	struct msghdr *msg;
	int flags;
	struct sockaddr *addr;
	socklen_t *addrlen;
	bool notsock;		/* a write found ENOTSOCK: not a socket */
};

static ssize_t io_try(struct iocall *c, bool block)
{
	struct msghdr m;
	ssize_t r;

	switch (c->op) {
	case IO_READV:
		if (block)
			return readv(c->fd, c->iov, c->iovcnt);
		return preadv2(c->fd, c->iov, c->iovcnt, -1, RWF_NOWAIT);
	case IO_WRITEV:
		if (!c->notsock) {
			memset(&m, 0, sizeof(m));
			m.msg_iov = (struct iovec *)c->iov;
			m.msg_iovlen = (size_t)c->iovcnt;
			r = sendmsg(c->fd, &m, MSG_NOSIGNAL |
				    (block ? 0 : MSG_DONTWAIT));
			if (r >= 0 || errno != ENOTSOCK)
				return r;
			c->notsock = true;
		}
		if (block)
			return writev(c->fd, c->iov, c->iovcnt);
		return pwritev2(c->fd, c->iov, c->iovcnt, -1, RWF_NOWAIT);
	case IO_RECVMSG:
		return recvmsg(c->fd, c->msg, c->flags |
			       (block ? 0 : MSG_DONTWAIT));
	case IO_SENDMSG:
		return sendmsg(c->fd, c->msg, c->flags | MSG_NOSIGNAL |
			       (block ? 0 : MSG_DONTWAIT));
	case IO_ACCEPT:
		/* No per-call flag: tried after the listener polled ready. */
		if (!block)
			return -2;
		return accept4(c->fd, c->addr, c->addrlen, c->flags);
	}
	errno = EINVAL;
	return -1;
}

/*
 * Go's fd.Read loop: try, wait, try again, until it does not block, the
 * deadline passes (ETIMEDOUT) or kgo_close() (EBADF). -1 with errno, as
 * the call it wraps.
 */
static ssize_t io_do(struct iocall *c, uint32_t events, bool write)
{
	struct pollfd_state *fs = fdstate(c->fd);
	uint32_t gen = fs ? __atomic_load_n(&fs->gen, __ATOMIC_ACQUIRE) : 0;
	bool block = false;
	int64_t deadline;
	ssize_t r;
	int w;

	for (;;) {
		r = io_try(c, block);
		if (r == -2) {
			r = -1;
			errno = EAGAIN;
		}
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
			       errno != EOPNOTSUPP))
			return r;
		if (errno == EOPNOTSUPP && c->op != IO_READV &&
		    c->op != IO_WRITEV)
			return r;	/* the socket's own answer */
		/* RWF_NOWAIT refused, or it would block: wait, then again. */
		deadline = fs ? __atomic_load_n(write ? &fs->wdeadline :
						&fs->rdeadline,
						__ATOMIC_RELAXED) : 0;
		w = netwait(c->fd, fs, gen, events, deadline, NULL);
		if (w < 0) {
			errno = -w;
			return -1;
		}
		/*
		 * Ready now, or a file the kernel cannot wait for: the call
		 * blocks at most briefly (or holds the M: the hand-off).
		 * accept4 has no non-blocking form: it is made once the
		 * listener polled ready.
		 */
		block = w >= 1 || c->op == IO_ACCEPT;
	}
}

ssize_t kgo_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct iocall c = { .op = IO_READV, .fd = fd, .iov = iov,
			    .iovcnt = iovcnt };

	return io_do(&c, POLLIN, false);
}

ssize_t kgo_read(int fd, void *buf, size_t n)
{
	struct iovec iov = { .iov_base = buf, .iov_len = n };

	return kgo_readv(fd, &iov, 1);
}

/* A blocking write: all of it, as write() on a blocking socket does. */
ssize_t kgo_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec local[16], *v = local;
	struct iocall c = { .op = IO_WRITEV, .fd = fd };
	size_t done = 0, left;
	ssize_t r;
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
	memcpy(v, iov, sizeof(*v) * (size_t)iovcnt);
	c.iov = v;
	c.iovcnt = iovcnt;
	for (;;) {
		while (c.iovcnt && !c.iov->iov_len) {
			c.iov++;
			c.iovcnt--;
		}
		if (!c.iovcnt)
			break;
		r = io_do(&c, POLLOUT, true);
		if (r < 0) {
			if (!done)
				done = (size_t)-1;
			break;
		}
		done += (size_t)r;
		/* Step over what went: the rest of a partial vector stays. */
		for (left = (size_t)r, i = 0; left && i < c.iovcnt; i++) {
			struct iovec *e = (struct iovec *)&c.iov[i];
			size_t step = left < e->iov_len ? left : e->iov_len;

			e->iov_base = (char *)e->iov_base + step;
			e->iov_len -= step;
			left -= step;
		}
	}
	if (v != local)
		free(v);
	return (ssize_t)done;
}

ssize_t kgo_write(int fd, const void *buf, size_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };

	return kgo_writev(fd, &iov, 1);
}

ssize_t kgo_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct iocall c = { .op = IO_RECVMSG, .fd = fd, .msg = msg,
			    .flags = flags };

	if (flags & MSG_DONTWAIT)
		return recvmsg(fd, msg, flags);
	return io_do(&c, POLLIN, false);
}

ssize_t kgo_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct iocall c = { .op = IO_SENDMSG, .fd = fd,
			    .msg = (struct msghdr *)msg, .flags = flags };

	if (flags & MSG_DONTWAIT)
		return sendmsg(fd, msg, flags | MSG_NOSIGNAL);
	return io_do(&c, POLLOUT, true);
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

	return (int)io_do(&c, POLLIN, false);
}

int kgo_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return kgo_accept4(fd, addr, addrlen, 0);
}

/* Wait for @fd to poll @events: 0, or -errno (ETIMEDOUT, EBADF...). */
static int wait_polled(int fd, struct pollfd_state *fs, uint32_t gen,
		       short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int w;

	while (ppoll(&pfd, 1, &(struct timespec){ 0 }, NULL) == 0) {
		w = netwait(fd, fs, gen, (uint16_t)events, deadline, NULL);
		if (w == 2)
			w = pollwait(fd, (uint16_t)events, deadline);
		if (w < 0)
			return w;
	}
	return 0;
}

int kgo_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pollfd_state *fs = fdstate(fd);
	uint32_t gen = fs ? __atomic_load_n(&fs->gen, __ATOMIC_ACQUIRE) : 0;
	int fl = fcntl(fd, F_GETFL), r, soerr, err;
	socklen_t sl = sizeof(soerr);

	if (fl < 0)
		return -1;
	/* The connection is started without blocking, then waited for. */
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	r = connect(fd, addr, len);
	err = errno;
	if (r < 0 && err == EINPROGRESS) {
		err = -wait_polled(fd, fs, gen, POLLOUT,
				   fs ? fs->wdeadline : 0);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
				       &sl) < 0)
			err = errno;
		else if (!err)
			err = soerr;
		r = err ? -1 : 0;
	}
	if (!(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl);
	errno = err;
	return r;
}

int kgo_poll(int fd, short events, int64_t timeout_ns)
{
	struct pollfd_state *fs = fdstate(fd);
	uint32_t gen = fs ? __atomic_load_n(&fs->gen, __ATOMIC_ACQUIRE) : 0;
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t deadline = timeout_ns > 0 ? nanotime() + timeout_ns : 0;
	struct timespec ts, *tsp = NULL;
	uint32_t revents = 0;
	int w;

	while (kgo_getg() && rt.netpoll && timeout_ns != 0) {
		w = netwait(fd, fs, gen, (uint16_t)events, deadline,
			    &revents);
		if (w == 1)
			return (int)(uint16_t)revents;
		if (w == -ETIMEDOUT)
			return 0;
		if (w < 0) {
			errno = -w;
			return -1;
		}
		if (w == 2)
			break;	/* the kernel cannot wait for it: ppoll */
		/* Woken: what does it poll now? (A wake-up may say nothing.) */
		w = ppoll(&pfd, 1, &(struct timespec){ 0 }, NULL);
		if (w)
			return w < 0 ? -1 : pfd.revents;
	}
	/* A plain thread, a file the kernel cannot wait for, or a look. */
	if (timeout_ns >= 0) {
		int64_t left = deadline ? deadline - nanotime() : 0;

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
	struct pollfd_state *fs = fdstate(fd);

	if (!fs) {
		errno = fd < 0 ? EBADF : ENOMEM;
		return -1;
	}
	__atomic_store_n(&fs->rdeadline, rdeadline, __ATOMIC_RELAXED);
	__atomic_store_n(&fs->wdeadline, wdeadline, __ATOMIC_RELAXED);
	return 0;
}

int kgo_close(int fd)
{
	struct pollfd_state *fs = fdstate(fd);

	if (fs) {
		__atomic_store_n(&fs->rdeadline, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&fs->wdeadline, 0, __ATOMIC_RELAXED);
		/* The generation first, then the look at waiters: see netwait. */
		__atomic_add_fetch(&fs->gen, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&fs->nwait, __ATOMIC_SEQ_CST) &&
		    rt.running && rt.netpoll)
			ioctl(rt.fd, GMP_IOC_NETPOLL_CLOSE, fd);
	}
	return close(fd);
}
