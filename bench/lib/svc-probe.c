/* SPDX-License-Identifier: Apache-2.0 */
/*
 * svc-probe: the client and the backend servers of the services benchmark (bench/services.mjs).
 *
 *   svc-probe server IP PORT
 *       accept loop; closes each connection at once (the server closes first, so TIME_WAIT stays on the
 *       server side and the client's ephemeral ports are not used up by a high connection rate).
 *   svc-probe rate IP PORT SECONDS
 *       B2: connect + close, back to back, for SECONDS: socket(), connect() (timed), read() until the
 *       server's FIN, close(). Prints one JSON line:
 *       {"connections":N,"seconds":S,"rate":N/S,"errors":E,"connect_p50_us":..,"connect_p99_us":..,
 *        "cycle_p50_us":..,"cycle_p99_us":..,"last_error":".."}
 *   svc-probe wait IP PORT up|down TIMEOUT_MS INTERVAL_US [ANSWER_MS]
 *       B3: polls IP:PORT with one connect attempt every INTERVAL_US (non-blocking connect, ANSWER_MS, default
 *       20, to answer; a successful attempt is reset with SO_LINGER 0, no TIME_WAIT). "up" = a connect
 *       succeeds; "down" = a connect is refused, unreachable or unanswered (kube-proxy's nftables mode drops
 *       SYNs to unallocated ClusterIPs). Prints on stdout
 *         ready STATE                  after the first attempt (STATE = up | down | timeout)
 *         {"t_ns":..,"attempts":..}    when the target state is first seen (t_ns: CLOCK_MONOTONIC at the start
 *                                      of that attempt, i.e. when its SYN was sent: the clock of Node's
 *                                      process.hrtime), exit 0
 *       or {"timeout":true,"attempts":..} after TIMEOUT_MS (exit 1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
		fprintf(stderr, "svc-probe: bad IPv4 address '%s'\n", ip);
		exit(2);
	}
	return sa;
}

static int server(struct sockaddr_in sa)
{
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0) { perror("svc-probe: socket"); return 1; }
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0) { perror("svc-probe: bind"); return 1; }
	if (listen(ls, 4096) < 0) { perror("svc-probe: listen"); return 1; }
	fprintf(stderr, "svc-probe: listening\n");
	for (;;) {
		int c = accept(ls, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			perror("svc-probe: accept");
			return 1;
		}
		close(c);
	}
}

static double pct(const double *s, size_t n, double p)
{
	if (!n) return 0.0;
	size_t i = (size_t)(n * p);
	return s[i < n ? i : n - 1];
}

static int rate(struct sockaddr_in sa, double seconds)
{
	size_t cap = 1 << 20, n = 0;
	unsigned long errors = 0;
	int last_errno = 0;
	double *conn = malloc(cap * sizeof(double)), *cyc = malloc(cap * sizeof(double));
	uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), t0, t1, t2 = start;
	if (!conn || !cyc) { perror("svc-probe: malloc"); return 1; }
	while ((t0 = now_ns()) < end) {
		char b[16];
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) { perror("svc-probe: socket"); return 1; }
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			last_errno = errno;
			close(s);
			if (++errors > 1000) break;
			continue;
		}
		t1 = now_ns();
		while (read(s, b, sizeof(b)) > 0) {}
		close(s);
		t2 = now_ns();
		if (n == cap) {
			cap *= 2;
			conn = realloc(conn, cap * sizeof(double));
			cyc = realloc(cyc, cap * sizeof(double));
			if (!conn || !cyc) { perror("svc-probe: realloc"); return 1; }
		}
		conn[n] = (t1 - t0) / 1e3;
		cyc[n] = (t2 - t0) / 1e3;
		n++;
	}
	double elapsed = (t2 - start) / 1e9;
	qsort(conn, n, sizeof(double), cmp_double);
	qsort(cyc, n, sizeof(double), cmp_double);
	printf("{\"connections\":%zu,\"seconds\":%.6f,\"rate\":%.3f,\"errors\":%lu,\"connect_p50_us\":%.3f,"
	       "\"connect_p99_us\":%.3f,\"cycle_p50_us\":%.3f,\"cycle_p99_us\":%.3f,\"last_error\":\"%s\"}\n",
	       n, elapsed, elapsed > 0 ? n / elapsed : 0.0, errors, pct(conn, n, 0.5), pct(conn, n, 0.99),
	       pct(cyc, n, 0.5), pct(cyc, n, 0.99), last_errno ? strerror(last_errno) : "");
	return n ? 0 : 1;
}

enum state { UP, DOWN, TIMEOUT };
static const char *state_name[] = { "up", "down", "timeout" };

static enum state attempt(struct sockaddr_in sa, int wait_ms)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t len = sizeof(err);
	enum state st;
	if (s < 0) { perror("svc-probe: socket"); exit(1); }
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		st = UP;
	} else if (errno != EINPROGRESS) {
		st = DOWN;
	} else {
		struct pollfd p = { .fd = s, .events = POLLOUT };
		if (poll(&p, 1, wait_ms) <= 0) st = TIMEOUT;
		else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) st = (err == ETIMEDOUT) ? TIMEOUT : DOWN;
		else st = UP;
	}
	if (st == UP) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(s);
	return st;
}

static int wait_for(struct sockaddr_in sa, const char *target_s, long timeout_ms, long interval_us, int wait_ms)
{
	enum state target = !strcmp(target_s, "up") ? UP : DOWN;
	uint64_t start = now_ns(), deadline = start + (uint64_t)timeout_ms * 1000000ull;
	unsigned long attempts = 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	for (;;) {
		uint64_t t = now_ns();
		enum state st = attempt(sa, wait_ms);
		attempts++;
		if (attempts == 1) printf("ready %s\n", state_name[st]);
		if (st == target || (target == DOWN && st == TIMEOUT)) {
			printf("{\"t_ns\":%llu,\"attempts\":%lu}\n", (unsigned long long)t, attempts);
			return 0;
		}
		if (t > deadline) {
			printf("{\"timeout\":true,\"attempts\":%lu}\n", attempts);
			return 1;
		}
		if (interval_us > 0) {
			struct timespec ts = { .tv_sec = interval_us / 1000000, .tv_nsec = (interval_us % 1000000) * 1000 };
			nanosleep(&ts, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && !strcmp(argv[1], "server")) return server(parse_addr(argv[2], argv[3]));
	if (argc == 5 && !strcmp(argv[1], "rate")) return rate(parse_addr(argv[2], argv[3]), atof(argv[4]));
	if ((argc == 7 || argc == 8) && !strcmp(argv[1], "wait") && (!strcmp(argv[4], "up") || !strcmp(argv[4], "down")))
		return wait_for(parse_addr(argv[2], argv[3]), argv[4], atol(argv[5]), atol(argv[6]), argc == 8 ? atoi(argv[7]) : 20);
	fprintf(stderr, "usage: svc-probe server IP PORT | rate IP PORT SECONDS | wait IP PORT up|down TIMEOUT_MS INTERVAL_US [ANSWER_MS]\n");
	return 2;
}
