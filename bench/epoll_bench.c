// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of the network rows: what a C program gets from epoll with one
 * thread per CPU and no scheduler at all, each thread running its own
 * event loop over its own connections (GMPMAXPROCS threads, as the peers
 * get GMPMAXPROCS/GOMAXPROCS P's).
 *
 *   echo N        a 64-byte message over one TCP loopback connection and
 *                 back, N round trips, one thread: ns per round trip
 *   echo100 N     the same over 100 connections, N round trips in all
 *   idle N        N TCP loopback connections that carry nothing, each
 *                 server end in one epoll set: threads, rss and mem per
 *                 connection, as the others' idle
 *   httpserve PORT  answer HTTP/1.1 requests on 127.0.0.1:PORT with the
 *                 same "Hello, World!" as examples/http.c until killed
 *                 (each thread: its own SO_REUSEPORT listener and epoll)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MSG	64

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int nthreads(void)
{
	const char *v = getenv("GMPMAXPROCS");
	long n = v ? strtol(v, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* --- echo ---------------------------------------------------------------- */

struct conn {
	int cfd, sfd;		/* client end, server end */
	long left;		/* round trips still to make */
};

struct loop {
	pthread_t t;
	struct conn *c;
	int n;
	long bad;
};

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * One thread's loop: each connection's client sends, the server end
 * echoes, the client checks and sends again, until its round trips are
 * made. Level-triggered; a 64-byte message arrives whole on loopback.
 */
static void *echo_loop(void *arg)
{
	struct loop *l = arg;
	struct epoll_event ev, evs[64];
	char msg[MSG], buf[MSG];
	int ep = epoll_create1(EPOLL_CLOEXEC), i, live = 0, k;

	memset(msg, 'e', sizeof(msg));
	for (i = 0; i < l->n; i++) {
		struct conn *c = &l->c[i];

		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t)i << 1;		/* server end */
		epoll_ctl(ep, EPOLL_CTL_ADD, c->sfd, &ev);
		ev.data.u64 = (uint64_t)i << 1 | 1;	/* client end */
		epoll_ctl(ep, EPOLL_CTL_ADD, c->cfd, &ev);
		if (c->left > 0 && write(c->cfd, msg, MSG) == MSG)
			live++;
	}
	while (live > 0) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (k = 0; k < n; k++) {
			struct conn *c = &l->c[evs[k].data.u64 >> 1];
			ssize_t r;

			if (!(evs[k].data.u64 & 1)) {
				r = read(c->sfd, buf, sizeof(buf));
				if (r > 0 && write(c->sfd, buf, (size_t)r) != r)
					l->bad++;
				continue;
			}
			r = read(c->cfd, buf, sizeof(buf));
			if (r != MSG || memcmp(buf, msg, MSG))
				l->bad++;
			if (--c->left > 0) {
				if (write(c->cfd, msg, MSG) != MSG)
					l->bad++;
			} else {
				live--;
			}
		}
		if (n < 0 && errno != EINTR) {
			l->bad++;
			break;
		}
	}
	close(ep);
	return NULL;
}

static int echo(long n, int conns)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int nt = conns == 1 ? 1 : nthreads(), i;
	struct conn *c = calloc((size_t)conns, sizeof(*c));
	struct loop *l = calloc((size_t)nt, sizeof(*l));
	long bad = 0;
	long long t;

	if (!c || !l || lfd < 0 || bind(lfd, (struct sockaddr *)&a, alen) ||
	    listen(lfd, 1024) || getsockname(lfd, (struct sockaddr *)&a, &alen))
		return -1;
	for (i = 0; i < conns; i++) {
		c[i].cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c[i].cfd < 0 ||
		    connect(c[i].cfd, (struct sockaddr *)&a, sizeof(a)))
			return -1;
		c[i].sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c[i].sfd < 0)
			return -1;
		nodelay(c[i].cfd);
		nodelay(c[i].sfd);
		c[i].left = n / conns;
	}
	/* Each thread its share of the connections, as P's share goroutines. */
	for (i = 0; i < nt; i++) {
		l[i].c = c + (long)conns * i / nt;
		l[i].n = (int)((long)conns * (i + 1) / nt - (long)conns * i / nt);
	}
	t = now_ns();
	for (i = 0; i < nt; i++)
		if (pthread_create(&l[i].t, NULL, echo_loop, &l[i]))
			return -1;
	for (i = 0; i < nt; i++) {
		pthread_join(l[i].t, NULL);
		bad += l[i].bad;
	}
	t = now_ns() - t;
	if (bad)
		return -1;
	printf("%s %.1f\n", conns == 1 ? "echo" : "echo100",
	       (double)t / (double)(n / conns * conns));
	return 0;
}

/* --- httpserve ------------------------------------------------------------ */

static const char answer200[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
	"Content-Length: 14\r\n\r\nHello, World!\n";

#define IN_MAX	8192

struct hconn {
	int fd;
	size_t have;
	char in[IN_MAX + 1];
};

/* Answer every whole request in @h; 0, or -1 to close. */
static int http_answer(struct hconn *h)
{
	char out[8192];
	size_t olen = 0;
	char *end;

	for (;;) {
		h->in[h->have] = 0;
		end = strstr(h->in, "\r\n\r\n");
		if (!end)
			break;
		if (olen + sizeof(answer200) > sizeof(out)) {
			if (write(h->fd, out, olen) != (ssize_t)olen)
				return -1;
			olen = 0;
		}
		memcpy(out + olen, answer200, sizeof(answer200) - 1);
		olen += sizeof(answer200) - 1;
		h->have -= (size_t)(end + 4 - h->in);
		memmove(h->in, end + 4, h->have);
	}
	if (h->have == IN_MAX)
		return -1;
	/* Small answers on loopback: the socket buffer takes them whole. */
	if (olen && write(h->fd, out, olen) != (ssize_t)olen)
		return -1;
	return 0;
}

static void *http_loop(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)(intptr_t)arg),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev, evs[256];
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC), one = 1, n, k;

	if (lfd < 0 || ep < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096)) {
		perror("epoll_bench: listen");
		exit(1);
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (k = 0; k < n; k++) {
			struct hconn *h = evs[k].data.ptr;
			ssize_t r;

			if (!h) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					h = malloc(sizeof(*h));
					if (!h) {
						close(fd);
						continue;
					}
					h->fd = fd;
					h->have = 0;
					nodelay(fd);
					ev.events = EPOLLIN;
					ev.data.ptr = h;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(h->fd, h->in + h->have, IN_MAX - h->have);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 0) {
				h->have += (size_t)r;
				if (!http_answer(h))
					continue;
			}
			close(h->fd);	/* leaves the epoll set with it */
			free(h);
		}
	}
	return NULL;
}

static void httpserve(int port)
{
	int nt = nthreads(), i;
	pthread_t t;

	for (i = 1; i < nt; i++)
		if (!pthread_create(&t, NULL, http_loop, (void *)(intptr_t)port))
			pthread_detach(t);
	http_loop((void *)(intptr_t)port);
}

/* --- idle ----------------------------------------------------------------- */

/*
 * N connections that carry nothing, each server end registered with one
 * epoll instance (the floor: no reader at all), the client ends held.
 * Threads and bytes per connection (bench_util.h's idle).
 */
static int idle(long n)
{
	struct mem_reading before;
	struct sockaddr_in a[IDLE_PORTS];
	struct epoll_event ev[64];
	int lfd[IDLE_PORTS], *fds, ep, fd, k;
	long i;

	fds = calloc((size_t)n, sizeof(*fds));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!fds || ep < 0 || bench_loopback_up() ||
	    bench_raise_nofile(2 * n + 64) || idle_listen(lfd, a))
		return -1;
	before = mem_read();
	for (i = 0; i < n; i++) {
		k = (int)(i % IDLE_PORTS);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (struct sockaddr *)&a[k], sizeof(a[k])))
			return -1;
		fd = accept4(lfd[k], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		ev[0].events = EPOLLIN;
		ev[0].data.fd = fd;
		if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev[0]))
			return -1;
	}
	/* Nothing was sent: no server end may be readable. */
	if (epoll_wait(ep, ev, 64, 0) != 0)
		return -1;
	idle_report(before, n);
}

int main(int argc, char **argv)
{
	long n = argc == 3 ? strtol(argv[2], NULL, 10) : 0;

	if (n <= 0) {
		fprintf(stderr, "usage: epoll_bench echo|echo100|idle N | httpserve PORT\n");
		return 2;
	}
	if (!strcmp(argv[1], "httpserve"))
		httpserve((int)n);
	else if (!strcmp(argv[1], "idle"))
		return idle(n) ? 3 : 0;
	else if (!strcmp(argv[1], "echo") || !strcmp(argv[1], "echo100"))
		return echo(n, strcmp(argv[1], "echo") ? 100 : 1) ? 3 : 0;
	return 2;
}
