/*
 * bin/cilium-cni: the CNI plugin binary a container runtime executes. A tiny native forwarder, so
 * that an invocation costs one small process start instead of a Node start-up:
 *
 *   1. reads the plugin config from stdin and finds its top-level "socket-path" (default
 *      /var/run/cilium/cilium.sock) with a minimal JSON scan;
 *   2. sends `POST /v1/cni` to cilium-agent on that unix socket: the CNI_* variables as x-cni-*
 *      headers, the config bytes as the body; the agent runs the plugin logic (@cilium-ts/cni's
 *      runCni) in-process and answers 200 with the plugin's stdout as the body and its exit code in
 *      `x-cni-exit-code`;
 *   3. prints that body and exits with that code.
 *
 * When the agent cannot take the call (no socket, connection refused, permission, an agent without
 * the route, anything that is not a CNI answer) it execs the standalone Node plugin
 * (`<dir of this binary>/cilium-cni-node`) with the same environment and the same stdin bytes, so
 * every behaviour without an agent (VERSION, spec errors, best-effort DEL, codes 11/50) stays
 * implemented once, in TypeScript. The child gets CILIUM_CNI_FALLBACK=<reason> for its log. The
 * agent also declines calls made from another network namespace than its own (x-cni-caller-netns):
 * a plugin acts in the netns it is run in, so those run standalone, here.
 *
 * The Node binary: $CILIUM_CNI_NODE, else the one that built this file (CILIUM_CNI_NODE_BIN, baked in
 * by scripts/build.mjs), else `node` from PATH. The agent call times out after
 * $CILIUM_CNI_AGENT_TIMEOUT_MS (default 60000) with CNI error 11.
 *
 * libc only; gcc -O2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef CILIUM_CNI_NODE_BIN
#define CILIUM_CNI_NODE_BIN "node"
#endif

#define DEFAULT_SOCKET "/var/run/cilium/cilium.sock"
#define DEFAULT_VERSION "1.1.0"
#define MAX_FORWARD (1 << 20)   /* the agent's API body limit */
#define MAX_RESPONSE (16 << 20)
#define DEFAULT_TIMEOUT_MS 60000
#define CNI_TRY_AGAIN_LATER 11
#define CNI_IO_FAILURE 5

extern char **environ;

struct buf {
  char *p;
  size_t len, cap;
};

static void die_oom(void) {
  static const char m[] = "cilium-cni: out of memory\n";
  (void)!write(2, m, sizeof m - 1);
  _exit(1);
}

static void buf_reserve(struct buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) die_oom();
  b->p = p;
  b->cap = cap;
}

static void buf_add(struct buf *b, const char *d, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, d, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  buf_reserve(b, (size_t)n);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes all of d to fd (EINTR, short writes). 0 or -1 with errno. */
static int write_all(int fd, const char *d, size_t n, int is_socket) {
  while (n > 0) {
    ssize_t w = is_socket ? send(fd, d, n, MSG_NOSIGNAL) : write(fd, d, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        (void)poll(&p, 1, -1);
        continue;
      }
      return -1;
    }
    d += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads fd 0 to EOF. 0 or -1 with errno. A closed fd 0 reads as empty. */
static int read_stdin(struct buf *b) {
  buf_reserve(b, 0);
  for (;;) {
    buf_reserve(b, 65536);
    ssize_t r = read(0, b->p + b->len, b->cap - b->len - 1);
    if (r == 0) return 0;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { /* non-blocking stdin: wait for data or hang-up */
        struct pollfd p = {.fd = 0, .events = POLLIN};
        (void)poll(&p, 1, -1);
        continue;
      }
      if (errno == EBADF) return 0;
      return -1;
    }
    b->len += (size_t)r;
    b->p[b->len] = '\0';
  }
}

/* ---- minimal JSON scan: the string value of a top-level key -------------------------------- */

static size_t skip_ws(const char *s, size_t n, size_t i) {
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * s[*i] is '"'. Moves *i past the closing quote. With out, decodes into out (NUL-terminated; escapes
 * \" \\ \/ \b \f \n \r \t and \u00XX..\u007F). Returns 1 decoded, 0 skipped or not decodable
 * (non-ASCII escape, too long), -1 unterminated.
 */
static int scan_string(const char *s, size_t n, size_t *i, char *out, size_t cap) {
  size_t j = *i + 1, o = 0;
  int ok = out != NULL;
  while (j < n && s[j] != '"') {
    char c = s[j];
    if (c == '\\') {
      if (j + 1 >= n) return -1;
      char e = s[j + 1];
      char d = 0;
      j += 2;
      switch (e) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case '/': d = '/'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u': {
          if (j + 4 > n) return -1;
          int v = 0;
          for (int k = 0; k < 4; k++) {
            int h = hexval(s[j + k]);
            if (h < 0) return -1;
            v = v * 16 + h;
          }
          j += 4;
          if (v >= 0x80 || v == 0) ok = 0;
          d = (char)v;
          break;
        }
        default: return -1;
      }
      if (ok && o + 1 < cap) out[o++] = d;
      else ok = 0;
      continue;
    }
    if (ok && o + 1 < cap) out[o++] = c;
    else ok = 0;
    j++;
  }
  if (j >= n) return -1;
  *i = j + 1;
  if (out && cap > 0) out[ok ? o : 0] = '\0';
  return ok;
}

/*
 * The string value of top-level `key` in the JSON object s (the last one, as JSON.parse keeps).
 * Lenient: a malformed document yields what was found before the damage. Returns 1 found (in out),
 * 0 absent or not a string, -1 present but not decodable here (the caller falls back to Node).
 */
static int json_top_string(const char *s, size_t n, const char *key, char *out, size_t cap) {
  size_t i = skip_ws(s, n, 0);
  int found = 0, depth = 0, expect_key = 0;
  char k[64];
  if (i >= n || s[i] != '{') return 0;
  while (i < n) {
    char c = s[i];
    if (c == '"') {
      if (depth == 1 && expect_key) {
        int kr = scan_string(s, n, &i, k, sizeof k);
        if (kr < 0) return found;
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':') return found;
        i = skip_ws(s, n, i + 1);
        expect_key = 0;
        if (kr == 1 && strcmp(k, key) == 0) {
          if (i < n && s[i] == '"') {
            int vr = scan_string(s, n, &i, out, cap);
            if (vr < 0) return found;
            found = vr == 1 ? 1 : -1;
          } else {
            found = 0; /* not a string: the plugin itself reports it */
          }
        }
        continue;
      }
      if (scan_string(s, n, &i, NULL, 0) < 0) return found;
      continue;
    }
    if (c == '{' || c == '[') {
      depth++;
      expect_key = c == '{' && depth == 1;
    } else if (c == '}' || c == ']') {
      if (--depth <= 0) return found;
    } else if (c == ',' && depth == 1) {
      expect_key = 1;
    }
    i++;
  }
  return found;
}

/* ---- output ---------------------------------------------------------------------------------- */

static void json_escape(struct buf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      buf_add(b, e, 2);
    } else if (c < 0x20) {
      buf_printf(b, "\\u%04x", c);
    } else {
      buf_add(b, (const char *)&c, 1);
    }
  }
}

static char cni_version[64] = DEFAULT_VERSION;

/* Prints a CNI error document on stdout and exits 1. */
static void cni_fail(int code, const char *msg, const char *details) {
  struct buf b = {0};
  buf_printf(&b, "{\"cniVersion\":\"");
  json_escape(&b, cni_version);
  buf_printf(&b, "\",\"code\":%d,\"msg\":\"", code);
  json_escape(&b, msg);
  buf_add(&b, "\"", 1);
  if (details && *details) {
    buf_add(&b, ",\"details\":\"", 12);
    json_escape(&b, details);
    buf_add(&b, "\"", 1);
  }
  buf_add(&b, "}\n", 2);
  (void)write_all(1, b.p, b.len, 0);
  fprintf(stderr, "cilium-cni: %s%s%s\n", msg, details && *details ? ": " : "", details ? details : "");
  exit(1);
}

/* ---- fallback: the standalone Node plugin ------------------------------------------------------ */

static void fallback(const struct buf *in, const char *reason) {
  char self[PATH_MAX], script[PATH_MAX + 32];
  ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
  if (l <= 0) cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: cannot find its own path (/proc/self/exe) to start the standalone plugin", reason);
  self[l] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  snprintf(script, sizeof script, "%s/cilium-cni-node", self);

  /* The same stdin bytes for the child: a memfd (or a pipe when it fits) on fd 0. */
  int fd = memfd_create("cilium-cni-stdin", MFD_CLOEXEC);
  if (fd >= 0) {
    if (write_all(fd, in->p ? in->p : "", in->len, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
      cni_fail(CNI_IO_FAILURE, "cilium-cni: cannot buffer stdin for the standalone plugin", strerror(errno));
    }
  } else {
    int p[2];
    if (in->len > 65536 || pipe(p) != 0) cni_fail(CNI_IO_FAILURE, "cilium-cni: cannot buffer stdin for the standalone plugin (memfd_create)", strerror(errno));
    if (write_all(p[1], in->p ? in->p : "", in->len, 0) != 0) cni_fail(CNI_IO_FAILURE, "cilium-cni: cannot buffer stdin for the standalone plugin", strerror(errno));
    close(p[1]);
    fd = p[0];
  }
  if (fd != 0) {
    if (dup2(fd, 0) != 0) cni_fail(CNI_IO_FAILURE, "cilium-cni: dup2 onto stdin failed", strerror(errno));
    close(fd);
  }
  setenv("CILIUM_CNI_FALLBACK", reason, 1);

  const char *node = getenv("CILIUM_CNI_NODE");
  if (!node || !*node) node = access(CILIUM_CNI_NODE_BIN, X_OK) == 0 ? CILIUM_CNI_NODE_BIN : "node";
  char *argv[] = {(char *)node, script, NULL};
  if (strchr(node, '/')) execv(node, argv);
  else execvp(node, argv);
  char details[PATH_MAX * 2 + 512];
  snprintf(details, sizeof details, "%s; exec %s %s: %s", reason, node, script, strerror(errno));
  cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: cilium-agent did not take the call and the standalone plugin cannot start", details);
}

/* ---- the agent call ------------------------------------------------------------------------ */

static const struct {
  const char *env, *header;
} FORWARDED[] = {
    {"CNI_COMMAND", "x-cni-command"}, {"CNI_CONTAINERID", "x-cni-containerid"}, {"CNI_NETNS", "x-cni-netns"},
    {"CNI_IFNAME", "x-cni-ifname"},   {"CNI_ARGS", "x-cni-args"},               {"CNI_PATH", "x-cni-path"},
};

/* A header value must be printable ASCII (anything else goes the Node way, which reads env as is). */
static int header_safe(const char *v) {
  for (; *v; v++) {
    unsigned char c = (unsigned char)*v;
    if ((c < 0x20 && c != '\t') || c >= 0x7f) return 0;
  }
  return 1;
}

static int timeout_ms(void) {
  const char *t = getenv("CILIUM_CNI_AGENT_TIMEOUT_MS");
  if (t && *t) {
    char *end;
    long v = strtol(t, &end, 10);
    if (*end == '\0' && v > 0 && v < INT_MAX) return (int)v;
  }
  return DEFAULT_TIMEOUT_MS;
}

/* Finds header `name` (case-insensitive) in [h, end); its trimmed value in *v, *vl. */
static int find_header(const char *h, const char *end, const char *name, const char **v, size_t *vl) {
  size_t nl = strlen(name);
  while (h < end) {
    const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
    if (!eol) eol = end;
    if ((size_t)(eol - h) > nl && h[nl] == ':' && strncasecmp(h, name, nl) == 0) {
      const char *a = h + nl + 1, *b = eol;
      while (a < b && (*a == ' ' || *a == '\t')) a++;
      while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
      *v = a;
      *vl = (size_t)(b - a);
      return 1;
    }
    h = eol + 2;
  }
  return 0;
}

static int parse_uint(const char *v, size_t vl, long max, long *out) {
  if (vl == 0 || vl > 12) return 0;
  long x = 0;
  for (size_t i = 0; i < vl; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    x = x * 10 + (v[i] - '0');
  }
  if (x > max) return 0;
  *out = x;
  return 1;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  struct buf in = {0};
  if (read_stdin(&in) != 0) cni_fail(CNI_IO_FAILURE, "failed to read the network configuration from stdin", strerror(errno));

  char v[sizeof cni_version];
  if (json_top_string(in.p, in.len, "cniVersion", v, sizeof v) == 1 && v[0]) memcpy(cni_version, v, sizeof v);

  char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int sr = json_top_string(in.p, in.len, "socket-path", sock, sizeof sock);
  if (sr < 0) fallback(&in, "\"socket-path\" is not a plain ASCII path shorter than 108 bytes");
  if (sr == 0 || sock[0] == '\0') snprintf(sock, sizeof sock, "%s", DEFAULT_SOCKET);
  if (in.len > MAX_FORWARD) fallback(&in, "the network configuration is larger than 1 MiB");

  /* The request. */
  struct buf req = {0};
  buf_printf(&req, "POST /v1/cni HTTP/1.1\r\nHost: cilium-agent\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n", in.len);
  for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) {
    const char *val = getenv(FORWARDED[i].env);
    if (!val) continue;
    if (!header_safe(val)) {
      char why[96];
      snprintf(why, sizeof why, "%s has characters that do not fit an HTTP header", FORWARDED[i].env);
      fallback(&in, why);
    }
    buf_printf(&req, "%s: %s\r\n", FORWARDED[i].header, val);
  }
  /* Our network namespace: the agent only runs calls made from its own (a plugin works in the netns
   * it is run in); from elsewhere it declines and the standalone plugin runs here. */
  struct stat ns;
  if (stat("/proc/self/ns/net", &ns) == 0) buf_printf(&req, "x-cni-caller-netns: %llu:%llu\r\n", (unsigned long long)ns.st_dev, (unsigned long long)ns.st_ino);
  buf_add(&req, "\r\n", 2);

  int tmo = timeout_ms();
  long long deadline = now_ms() + tmo;
  char reason[512];

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    snprintf(reason, sizeof reason, "socket(AF_UNIX): %s", strerror(errno));
    fallback(&in, reason);
  }
  struct timeval tv = {.tv_sec = tmo / 1000, .tv_usec = (tmo % 1000) * 1000};
  (void)setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds a blocking connect on a full backlog */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock, strlen(sock));
  int cr;
  do cr = connect(s, (struct sockaddr *)&sa, sizeof sa);
  while (cr != 0 && errno == EINTR);
  if (cr != 0) {
    snprintf(reason, sizeof reason, "connect unix://%s: %s", sock, strerror(errno));
    fallback(&in, reason);
  }
  if (write_all(s, req.p, req.len, 1) != 0 || write_all(s, in.p ? in.p : "", in.len, 1) != 0) {
    /* The agent cannot have acted on an incomplete request. */
    snprintf(reason, sizeof reason, "send to unix://%s: %s", sock, strerror(errno));
    fallback(&in, reason);
  }

  /* The whole answer (the agent closes the connection). */
  struct buf res = {0};
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) {
      char d[256];
      snprintf(d, sizeof d, "no answer from unix://%s within %d ms (CILIUM_CNI_AGENT_TIMEOUT_MS)", sock, tmo);
      cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: cilium-agent did not answer in time", d);
    }
    struct pollfd p = {.fd = s, .events = POLLIN};
    int pr = poll(&p, 1, (int)left);
    if (pr < 0 && errno != EINTR) {
      snprintf(reason, sizeof reason, "poll unix://%s: %s", sock, strerror(errno));
      cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: lost the connection to cilium-agent", reason);
    }
    if (pr <= 0) continue;
    buf_reserve(&res, 65536);
    ssize_t r = recv(s, res.p + res.len, res.cap - res.len - 1, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      snprintf(reason, sizeof reason, "recv from unix://%s: %s", sock, strerror(errno));
      cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: lost the connection to cilium-agent", reason);
    }
    if (r == 0) break;
    res.len += (size_t)r;
    res.p[res.len] = '\0';
    if (res.len > MAX_RESPONSE) break;
  }
  close(s);

  /* A CNI answer: 200, x-cni-exit-code, the body. Anything else is not one (e.g. an older agent's 404). */
  const char *hend = res.p ? memmem(res.p, res.len, "\r\n\r\n", 4) : NULL;
  const char *fl_end = res.p ? memmem(res.p, res.len, "\r\n", 2) : NULL;
  const char *hv;
  size_t hvl;
  long code = -1, clen = -1;
  if (!hend || !fl_end || res.len < 13 || strncmp(res.p, "HTTP/1.", 7) != 0 || strncmp(res.p + 8, " 200", 4) != 0 || (res.p[12] != ' ' && res.p[12] != '\r') ||
      !find_header(fl_end + 2, hend + 2, "x-cni-exit-code", &hv, &hvl) || !parse_uint(hv, hvl, 255, &code)) {
    char first[128] = "";
    if (res.len > 0) {
      size_t fl = fl_end ? (size_t)(fl_end - res.p) : res.len;
      if (fl > sizeof first - 1) fl = sizeof first - 1;
      memcpy(first, res.p, fl);
      first[fl] = '\0';
      for (char *c = first; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    }
    snprintf(reason, sizeof reason, "unix://%s did not answer POST /v1/cni with a CNI result (%s)", sock, res.len ? first : "connection closed without an answer");
    fallback(&in, reason);
  }
  const char *body = hend + 4;
  size_t have = res.len - (size_t)(body - res.p);
  if (find_header(fl_end + 2, hend + 2, "content-length", &hv, &hvl)) {
    if (!parse_uint(hv, hvl, MAX_RESPONSE, &clen)) cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: cilium-agent sent a malformed Content-Length", NULL);
    if ((size_t)clen > have) cni_fail(CNI_TRY_AGAIN_LATER, "cilium-cni: the answer of cilium-agent was cut short", "run the command again; see the agent log");
    have = (size_t)clen;
  }
  int rc = write_all(1, body, have, 0) != 0 ? 1 : (int)code;
  free(res.p);
  free(req.p);
  free(in.p);
  return rc;
}
