// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * http: a small HTTP/1.1 server with a goroutine per connection, as Go's
 * net/http runs one, and its own clients to check it. It answers GET and
 * HEAD of / with "Hello, World!", anything else with 404, keeps
 * connections alive (HTTP/1.1's default; HTTP/1.0's with "Connection:
 * keep-alive"), answers pipelined requests in order, skips a request's
 * body by its Content-Length, and closes on "Connection: close", on a
 * malformed request (400) or on headers over 8 KiB (431). Each
 * connection's goroutine parks in the kernel while its socket is idle:
 * connections cost goroutines, not threads.
 *
 *	./http [connections [port]]
 *
 * Without a port it picks a free one, runs that many checking clients
 * (keep-alive, pipelining, 404, HEAD, close) and exits 0 if every answer
 * was right. With a port it serves until killed, for curl or wrk:
 *
 *	./http 0 8080 & wrk -c 100 -d 5s http://127.0.0.1:8080/
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <kgo.h>

#define REQ_MAX		8192	/* request line and headers */
#define OUT_MAX		16384	/* answers to pipelined requests, batched */

static const char hello[] = "Hello, World!\n";

static int nconn, lfd, serve_forever;
static uint16_t port;
static uint32_t nok;
static struct kgo_waitgroup clients;

/* Find header @name (with its colon) in @h, a NUL-terminated header block. */
static const char *header(const char *h, const char *name)
{
	size_t n = strlen(name);

	for (h = strstr(h, "\r\n"); h && h[2]; h = strstr(h + 2, "\r\n")) {
		if (!strncasecmp(h + 2, name, n)) {
			h += 2 + n;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

/* Append an answer to @out; returns the new length (0 if it cannot fit). */
static size_t answer(char *out, size_t len, int status, int head, int close)
{
	const char *reason = status == 200 ? "OK" :
			     status == 404 ? "Not Found" :
			     status == 431 ? "Request Header Fields Too Large" :
			     "Bad Request";
	const char *body = status == 200 ? hello : "";
	int n;

	n = snprintf(out + len, OUT_MAX - len,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s\r\n%s",
		     status, reason, strlen(body),
		     close ? "Connection: close\r\n" : "",
		     head ? "" : body);
	if (n < 0 || (size_t)n >= OUT_MAX - len)
		return 0;
	return len + (size_t)n;
}

/*
 * One request at @req (headers NUL-terminated at @end): append its answer.
 * Returns 1 to keep the connection, 0 to close it after the answer, and
 * sets *@body to the Content-Length to skip.
 */
static int handle(char *req, char *out, size_t *olen, long *body)
{
	char method[16], path[1024], version[16];
	const char *v;
	int keep, head, status;

	*body = 0;
	if (sscanf(req, "%15s %1023s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		*olen = answer(out, *olen, 400, 0, 1);
		return 0;
	}
	keep = strcmp(version, "HTTP/1.0") != 0;
	v = header(req, "Connection:");
	if (v && !strncasecmp(v, "close", 5))
		keep = 0;
	else if (v && !strncasecmp(v, "keep-alive", 10))
		keep = 1;
	v = header(req, "Content-Length:");
	if (v) {
		char *e;

		*body = strtol(v, &e, 10);
		if (e == v || *body < 0) {
			*olen = answer(out, *olen, 400, 0, 1);
			return 0;
		}
	}
	head = !strcmp(method, "HEAD");
	status = (head || !strcmp(method, "GET")) && !strcmp(path, "/") ?
		 200 : 404;
	*olen = answer(out, *olen, status, head, !keep);
	return keep;
}

/*
 * Answer every whole request in @in (@have bytes) into @out, sending when
 * it fills; consumes them. Returns 1 to keep the connection, 0 to close
 * it, -1 if a send failed.
 */
static int answer_all(int fd, char *in, size_t *have, long *skip, char *out)
{
	size_t olen = 0;
	int keep = 1;

	while (keep) {
		char *end;

		if (*skip) {	/* the previous request's body */
			size_t k = (size_t)*skip < *have ? (size_t)*skip : *have;

			memmove(in, in + k, *have - k);
			*have -= k;
			*skip -= (long)k;
			if (*skip)
				break;
		}
		in[*have] = 0;
		end = strstr(in, "\r\n\r\n");
		if (!end) {
			if (*have == REQ_MAX) {
				olen = answer(out, olen, 431, 0, 1);
				keep = 0;
			}
			break;
		}
		end[2] = 0;	/* the header block ends with its CRLF */
		keep = handle(in, out, &olen, skip);
		*have -= (size_t)(end + 4 - in);
		memmove(in, end + 4, *have);
		if (OUT_MAX - olen < 512) {	/* room for one more answer */
			if (kgo_write(fd, out, olen) != (ssize_t)olen)
				return -1;
			olen = 0;
		}
	}
	if (olen && kgo_write(fd, out, olen) != (ssize_t)olen)
		return -1;
	return keep;
}

/* The connection's goroutine: answer what came, read more, repeat. */
static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	char *in = malloc(REQ_MAX + 1), *out = malloc(OUT_MAX);
	size_t have = 0;
	long skip = 0;
	ssize_t n;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (in && out) {
		n = kgo_read(fd, in + have, REQ_MAX - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		if (answer_all(fd, in, &have, &skip, out) <= 0)
			break;
	}
	free(in);
	free(out);
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
			perror("http: accept");
			return;
		}
		kgo_go(serve, (void *)(intptr_t)fd);
	}
}

/* --- The checking clients ---------------------------------------------- */

/* Read one answer: its status, and its body into @body (NUL-terminated). */
static int read_answer(int fd, char *buf, size_t size, size_t *have,
		       int head, char *body, size_t bsize)
{
	char *end;
	const char *v;
	long len = 0;
	int status;
	ssize_t n;
	size_t hl;

	for (;;) {
		buf[*have] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (*have == size - 1)
			return -1;
		n = kgo_read(fd, buf + *have, size - 1 - *have);
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
	end[2] = 0;
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		return -1;
	v = header(buf, "Content-Length:");
	if (v)
		len = strtol(v, NULL, 10);
	if (head)
		len = 0;
	hl = (size_t)(end + 4 - buf);
	if (len < 0 || (size_t)len >= bsize)
		return -1;
	while (*have - hl < (size_t)len) {
		n = kgo_read(fd, buf + *have, size - 1 - *have);
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
	memcpy(body, buf + hl, (size_t)len);
	body[len] = 0;
	*have -= hl + (size_t)len;
	memmove(buf, buf + hl + (size_t)len, *have);
	return status;
}

static int send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	return kgo_write(fd, s, n) == (ssize_t)n ? 0 : -1;
}

static void client(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int id = (int)(intptr_t)arg, fd, good = 1;
	char buf[4096], body[64], probe;
	size_t have = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || kgo_connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		fprintf(stderr, "http: client %d: connect: %s\n", id,
			strerror(errno));
		good = 0;
	}
	/* Keep-alive: one request, then two pipelined, one with a body. */
	good = good && !send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") &&
	       read_answer(fd, buf, sizeof(buf), &have, 0, body, sizeof(body)) == 200 &&
	       !strcmp(body, hello);
	good = good && !send_all(fd, "POST /nothing HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				 "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n") &&
	       read_answer(fd, buf, sizeof(buf), &have, 0, body, sizeof(body)) == 404 &&
	       read_answer(fd, buf, sizeof(buf), &have, 1, body, sizeof(body)) == 200;
	/* Last: Connection: close, after which the server hangs up. */
	good = good && !send_all(fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") &&
	       read_answer(fd, buf, sizeof(buf), &have, 0, body, sizeof(body)) == 200 &&
	       !strcmp(body, hello) && have == 0 &&
	       kgo_read(fd, &probe, 1) == 0;
	if (good)
		__atomic_add_fetch(&nok, 1, __ATOMIC_RELAXED);
	else
		fprintf(stderr, "http: client %d: a wrong answer\n", id);
	if (fd >= 0)
		kgo_close(fd);
	kgo_waitgroup_done(&clients);
}

static int http_main(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int i, one = 1;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("http: listen");
		return 1;
	}
	port = ntohs(a.sin_port);
	printf("http: listening on 127.0.0.1:%u\n", port);
	fflush(stdout);
	kgo_go(acceptor, NULL);
	if (serve_forever) {
		for (;;)
			kgo_sleep(1000000000);
	}
	kgo_waitgroup_add(&clients, nconn);
	for (i = 0; i < nconn; i++)
		kgo_go(client, (void *)(intptr_t)i);
	kgo_waitgroup_wait(&clients);
	printf("http: %u of %d clients got every answer right (GOMAXPROCS %d)\n",
	       nok, nconn, kgo_nprocs());
	return nok == (uint32_t)nconn ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct rlimit r;
	int status = 1;

	/* As Go 1.19 does: the hard limit on descriptors. */
	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
	nconn = argc > 1 ? atoi(argv[1]) : 100;
	if (argc > 2) {
		port = (uint16_t)atoi(argv[2]);
		serve_forever = 1;
	}
	if (kgo_run(http_main, NULL, &status)) {
		fprintf(stderr, "http: kgo_run failed (is gmp.ko loaded?)\n");
		return 1;
	}
	return status;
}
