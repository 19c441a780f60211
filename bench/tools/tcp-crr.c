/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcp-crr: netperf's TCP_CRR (connect / request / response / close) in one small program, since netperf
 * is not packaged here.  One transaction = socket(), connect(), send 1 byte, receive 1 byte, close().
 *
 *   tcp-crr server IP PORT            accept loop: read 1 byte, write 1 byte, close (single process)
 *   tcp-crr client IP PORT SECONDS    runs transactions back to back for SECONDS and prints one JSON line:
 *                                     {"transactions":N,"seconds":S,"rate":N/S,"errors":E,"p50_us":..,"p99_us":..}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static struct sockaddr_in parse_addr(const char *ip, const char *port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		fprintf(stderr, "tcp-crr: bad IPv4 address '%s'\n", ip);
		exit(2);
	}
	return sa;
}

static int server(struct sockaddr_in sa)
{
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0) { perror("tcp-crr: socket"); return 1; }
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0) { perror("tcp-crr: bind"); return 1; }
	if (listen(ls, 4096) < 0) { perror("tcp-crr: listen"); return 1; }
	fprintf(stderr, "tcp-crr: listening\n");
	for (;;) {
		char b;
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			perror("tcp-crr: accept");
			return 1;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (read(c, &b, 1) == 1) (void)!write(c, &b, 1);
		close(c);
	}
}

static int client(struct sockaddr_in sa, double seconds)
{
	size_t cap = 1 << 20, n = 0;
	unsigned long errors = 0;
	double *lat = malloc(cap * sizeof(double));
	double start = now_s(), end = start + seconds, t0, t1 = start;
	int one = 1;
	if (!lat) { perror("tcp-crr: malloc"); return 1; }
	while ((t0 = now_s()) < end) {
		char b = 'x';
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) { perror("tcp-crr: socket"); return 1; }
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(s, &b, 1) != 1 || read(s, &b, 1) != 1) {
			close(s);
			if (++errors > 1000) { fprintf(stderr, "tcp-crr: too many errors, last: %s\n", strerror(errno)); return 1; }
			continue;
		}
		close(s);
		t1 = now_s();
		if (n == cap) {
			cap *= 2;
			lat = realloc(lat, cap * sizeof(double));
			if (!lat) { perror("tcp-crr: realloc"); return 1; }
		}
		lat[n++] = (t1 - t0) * 1e6;
	}
	double elapsed = t1 - start;
	qsort(lat, n, sizeof(double), cmp_double);
	printf("{\"transactions\":%zu,\"seconds\":%.6f,\"rate\":%.3f,\"errors\":%lu,\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
	       n, elapsed, elapsed > 0 ? n / elapsed : 0.0, errors,
	       n ? lat[n / 2] : 0.0, n ? lat[(size_t)(n * 0.99)] : 0.0);
	return n ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "server")) return server(parse_addr(argv[2], argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client")) return client(parse_addr(argv[2], argv[3]), atof(argv[4]));
	fprintf(stderr, "usage: tcp-crr server IP PORT | tcp-crr client IP PORT SECONDS\n");
	return 2;
}
