// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * echo: a TCP echo server with a goroutine per connection, the way a Go
 * server is written, and its own clients to check it. The server accepts
 * in one goroutine and starts one per connection, which echoes until the
 * client hangs up. Each client connects, sends a few lines, reads each
 * one back and compares. A goroutine waiting for its socket parks in the
 * kernel and holds no thread, so the connections cost goroutines, not
 * threads: the last line says how many threads the process had with
 * every connection open.
 *
 *	./echo [connections [port]]
 *
 * With a port, the server stays up after the check (try nc localhost
 * port); without one it picks a free port and exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <kgo.h>

#define LINES 3

static int nconn, lfd, serve_forever;
static uint16_t port;
static uint32_t nok, nup, release;
static struct kgo_waitgroup clients;

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = kgo_read(fd, buf, sizeof(buf))) > 0)
		if (kgo_write(fd, buf, (size_t)n) != n)
			break;
	kgo_close(fd);
}

static void acceptor(void *arg)
{
	int fd;

	(void)arg;
	for (;;) {
		fd = kgo_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				kgo_sleep(1000000);	/* as Go's server backs off */
				continue;
			}
			perror("echo: accept");
			return;
		}
		kgo_go(serve, (void *)(intptr_t)fd);
	}
}

static int readline(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1) {
		n = kgo_read(fd, buf + got, 1);
		if (n <= 0)
			return -1;
		if (buf[got++] == '\n')
			break;
	}
	buf[got] = 0;
	return (int)got;
}

static void client(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int id = (int)(intptr_t)arg, fd, i, len, good = 1;
	char line[128], back[128];

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || kgo_connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		fprintf(stderr, "echo: client %d: connect: %s\n", id,
			strerror(errno));
		good = 0;
	}
	for (i = 0; good && i < LINES; i++) {
		len = snprintf(line, sizeof(line), "line %d of client %d\n",
			       i, id);
		if (kgo_write(fd, line, (size_t)len) != len ||
		    readline(fd, back, sizeof(back)) != len ||
		    strcmp(line, back))
			good = 0;
	}
	if (good)
		__atomic_add_fetch(&nok, 1, __ATOMIC_RELAXED);
	/* Hold the connection until every client is up. */
	__atomic_add_fetch(&nup, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE))
		kgo_park(&release, 0);
	if (fd >= 0)
		kgo_close(fd);
	kgo_waitgroup_done(&clients);
}

static int threads(void)
{
	char buf[2048], *p;
	FILE *f = fopen("/proc/self/status", "r");
	int n = -1;

	while (f && fgets(buf, sizeof(buf), f))
		if ((p = strstr(buf, "Threads:")))
			n = atoi(p + 8);
	if (f)
		fclose(f);
	return n;
}

static int echo_main(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int i, one = 1, peak;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("echo: listen");
		return 1;
	}
	port = ntohs(a.sin_port);
	printf("echo: listening on 127.0.0.1:%u\n", port);
	kgo_go(acceptor, NULL);
	kgo_waitgroup_add(&clients, nconn);
	for (i = 0; i < nconn; i++)
		kgo_go(client, (void *)(intptr_t)i);
	while (__atomic_load_n(&nup, __ATOMIC_ACQUIRE) < (uint32_t)nconn)
		kgo_sleep(10000000);
	peak = threads();
	__atomic_store_n(&release, 1, __ATOMIC_RELEASE);
	kgo_ready(&release, UINT32_MAX);
	kgo_waitgroup_wait(&clients);
	printf("echo: %u of %d connections echoed %d lines each; %d threads with all of them open (GOMAXPROCS %d)\n",
	       nok, nconn, LINES, peak, kgo_nprocs());
	if (nok != (uint32_t)nconn)
		return 1;
	while (serve_forever)
		kgo_sleep(1000000000);
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit r;
	int status = 1;

	/* Two descriptors a connection: as Go 1.19 does, use the hard limit. */
	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}

	nconn = argc > 1 ? atoi(argv[1]) : 100;
	if (argc > 2) {
		port = (uint16_t)atoi(argv[2]);
		serve_forever = 1;
	}
	if (kgo_run(echo_main, NULL, &status)) {
		fprintf(stderr, "echo: kgo_run failed (is gmp.ko loaded?)\n");
		return 1;
	}
	return status;
}
