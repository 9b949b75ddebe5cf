/* Socket helpers with deadlines (lib/core/sock.c).
 *
 * Every socket made here is non-blocking and close-on-exec from its creation, and every wait is
 * a poll() bounded by the caller's absolute deadline on weft__now()'s clock, so no helper can
 * block past it. Reads and writes pass MSG_DONTWAIT (so they stay bounded even on an fd someone
 * made blocking) and MSG_NOSIGNAL (a dead peer is an error code, never SIGPIPE).
 *
 * Error mapping: EOF, reset, broken pipe -> WEFT_ERR_PEER_LOST (the peer went away); deadline
 * -> WEFT_ERR_TIMEOUT; anything else -> WEFT_ERR_TRANSPORT. Connect and listen errors fill err
 * with "connect HOST:PORT: <strerror> (after N.N s)"-style text naming the endpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/sock.h"

#define SOCK_BUF_BYTES (4 << 20)
#define LISTEN_BACKLOG 1024
#define REFUSED_RETRY_S 0.03 /* between attempts while the listener is not up yet */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Milliseconds left until deadline, rounded up so a poll never returns just short of it. */
static int ms_until(double deadline) {
  double left = deadline - weft__now();
  if (left <= 0) return 0;
  double ms = ceil(left * 1000.0);
  return ms > (double)INT_MAX ? INT_MAX : (int)ms;
}

/* Waits for events on fd until deadline. 1: ready (including error/hangup: the next I/O call
 * reports it), 0: deadline passed, -1: poll failed (errno set). EINTR is retried. */
static int wait_fd(int fd, short events, double deadline) {
  for (;;) {
    int ms = ms_until(deadline);
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, ms);
    if (r > 0) return 1;
    if (r == 0) {
      if (ms == 0 || weft__now() >= deadline) return 0;
      continue; /* woke early (clock granularity): wait out the rest */
    }
    if (errno != EINTR) return -1;
  }
}

static void sleep_until(double until) {
  double left = until - weft__now();
  if (left <= 0) return;
  struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static weft_result_t errno_result(int e) {
  switch (e) {
  case ECONNRESET:
  case EPIPE:
  case ECONNABORTED:
  case ETIMEDOUT: /* the kernel gave up on the peer (keepalive / user timeout) */
    return WEFT_ERR_PEER_LOST;
  default:
    return WEFT_ERR_TRANSPORT;
  }
}

/* A mesh holds size x WEFT_TCP_NSOCKS descriptors per communicator; the soft limit is often
 * 1024 while the hard one is much higher. Capped so a huge hard limit does not make
 * close-every-descriptor loops (fork/exec in the application) crawl. */
#define NOFILE_CAP 1048576

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_CAP ? NOFILE_CAP : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) WEFT__WARN("cannot raise RLIMIT_NOFILE to %llu: %s",
                                                       (unsigned long long)want, strerror(errno));
  }
}

void weft__sock_raise_nofile(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, raise_nofile);
}

const char *weft__sock_nofile_text(int e, char *buf, size_t len) {
  struct rlimit rl = {0};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (e == ENFILE)
    snprintf(buf, len, "%s (the system-wide limit, fs.file-max)", strerror(e));
  else
    snprintf(buf, len, "%s: RLIMIT_NOFILE is %llu (hard %llu); raise the hard limit (ulimit -Hn) or lower WEFT_TCP_NSOCKS",
             strerror(e), (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  return buf;
}

void weft__sock_set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL, 0);
  if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void weft__sock_tune(int fd) {
  /* Best effort: an option the socket type lacks (e.g. a Unix socketpair) is simply skipped. */
  int one = 1, bytes = SOCK_BUF_BYTES;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

unsigned weft__addr_to_sockaddr(const weft__addr_t *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a->port);
    memcpy(&sin->sin_addr, a->ip, 4);
    return sizeof *sin;
  }
  if (a->family == 6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);
    memcpy(&sin6->sin6_addr, a->ip, 16);
    return sizeof *sin6;
  }
  return 0;
}

void weft__addr_format(const weft__addr_t *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (buf == NULL || len == 0) return;
  if (a->family == 4 && inet_ntop(AF_INET, a->ip, ip, sizeof ip) != NULL)
    snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
  else if (a->family == 6 && inet_ntop(AF_INET6, a->ip, ip, sizeof ip) != NULL)
    snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
  else
    snprintf(buf, len, "<invalid address family %u>", (unsigned)a->family);
}

int weft__sock_connect_start(const weft__addr_t *addr, int *fd) {
  struct sockaddr_storage ss;
  socklen_t sl = weft__addr_to_sockaddr(addr, &ss);
  *fd = -1;
  if (sl == 0) return EAFNOSUPPORT;
  int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int r;
  do {
    r = connect(s, (struct sockaddr *)&ss, sl);
  } while (r != 0 && errno == EINTR);
  if (r != 0 && errno != EINPROGRESS) {
    int e = errno;
    close(s);
    return e;
  }
  *fd = s;
  return 0;
}

int weft__sock_connect_result(int fd) {
  int so_error = 0;
  socklen_t sl = sizeof so_error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) != 0) return errno;
  if (so_error != 0) return so_error;
  /* SO_ERROR is 0 both when connected and while still in progress: ask for the peer. */
  struct sockaddr_storage ss;
  socklen_t pl = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &pl) == 0) return 0;
  return errno == ENOTCONN ? EINPROGRESS : errno;
}

/* One connect attempt to one address, bounded by deadline. 0 and *fd on success, else an errno
 * (ETIMEDOUT when the deadline passed first). */
static int connect_once(const weft__addr_t *addr, double deadline, int *fd) {
  int s = -1;
  int e = weft__sock_connect_start(addr, &s);
  if (e != 0) return e;
  for (;;) {
    e = weft__sock_connect_result(s);
    if (e != EINPROGRESS) break;
    int w = wait_fd(s, POLLOUT, deadline);
    if (w == 0) {
      e = ETIMEDOUT;
      break;
    }
    if (w < 0) {
      e = errno;
      break;
    }
  }
  if (e != 0) {
    close(s);
    return e;
  }
  weft__sock_tune(s);
  *fd = s;
  return 0;
}

bool weft__addr_from_sockaddr(const struct sockaddr *sa, int port, weft__addr_t *out) {
  memset(out, 0, sizeof *out);
  out->port = (uint16_t)port;
  if (sa->sa_family == AF_INET) {
    out->family = 4;
    memcpy(out->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) { /* IPv4 on a dual-stack socket: say it as IPv4 */
      out->family = 4;
      memcpy(out->ip, &a6->s6_addr[12], 4);
      return true;
    }
    out->family = 6;
    memcpy(out->ip, a6, 16);
    return true;
  }
  return false;
}

/* WEFT_CONNECT_TIMEOUT bounds one attempt to one address and one name lookup, so an address
 * that drops our SYNs (or a name service that does not answer) costs that much, not the whole
 * deadline, and the next address still gets its turn. */
static double attempt_until(double deadline) {
  return WEFT__MIN(deadline, weft__now() + weft__cfg_get(WEFT__CFG_CONNECT_TIMEOUT));
}

/* Tries every address in turn; with retry_refused, starts over every REFUSED_RETRY_S while any
 * address refused, until the deadline. */
static weft_result_t connect_addrs(const weft__addr_t *addrs, size_t n, const char *what,
                                   double deadline, bool retry_refused, int *fd, char *err,
                                   size_t errlen) {
  double start = weft__now();
  int last = 0;
  for (;;) {
    bool refused = false;
    for (size_t i = 0; i < n; i++) {
      int e = connect_once(&addrs[i], attempt_until(deadline), fd);
      if (e == 0) return WEFT_SUCCESS;
      last = e;
      refused = refused || e == ECONNREFUSED;
      if (e == ETIMEDOUT && weft__now() >= deadline) goto timeout;
    }
    if (!retry_refused || !refused) break;
    if (weft__now() + REFUSED_RETRY_S >= deadline) {
      sleep_until(deadline);
      goto timeout;
    }
    sleep_until(weft__now() + REFUSED_RETRY_S);
  }
  *fd = -1;
  set_err(err, errlen, "connect %s: %s (after %.1f s)", what, strerror(last), weft__now() - start);
  return errno_result(last) == WEFT_ERR_PEER_LOST ? WEFT_ERR_PEER_LOST : WEFT_ERR_TRANSPORT;

timeout:
  *fd = -1;
  set_err(err, errlen, "connect %s: %s (after %.1f s)", what,
          last == ECONNREFUSED ? strerror(last) : "timed out", weft__now() - start);
  return WEFT_ERR_TIMEOUT;
}

#define MAX_RESOLVED 8

weft_result_t weft__sock_connect(const char *host, int port, double deadline, bool retry_refused,
                                 int *fd, char *err, size_t errlen) {
  *fd = -1;
  if (host == NULL || *host == '\0' || port <= 0 || port > 65535) {
    set_err(err, errlen, "connect %s:%d: invalid host or port", host ? host : "(null)", port);
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  char what[300], why[400];
  snprintf(what, sizeof what, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
  weft__addr_t addrs[MAX_RESOLVED];
  size_t n = 0;
  weft_result_t r = weft__sock_resolve(host, port, false, attempt_until(deadline) - weft__now(), addrs,
                                       MAX_RESOLVED, &n, why, sizeof why);
  if (r != WEFT_SUCCESS) {
    set_err(err, errlen, "connect %s: %s", what, why);
    return r;
  }
  return connect_addrs(addrs, n, what, deadline, retry_refused, fd, err, errlen);
}

weft_result_t weft__sock_connect_addr(const weft__addr_t *addr, double deadline, int *fd,
                                      char *err, size_t errlen) {
  char what[64];
  weft__addr_format(addr, what, sizeof what);
  *fd = -1;
  if (addr->family != 4 && addr->family != 6) {
    set_err(err, errlen, "connect %s: invalid address", what);
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  return connect_addrs(addr, 1, what, deadline, false, fd, err, errlen);
}

/* A listening socket on one address; 0 or an errno value. */
static int listen_on(const weft__addr_t *a, bool dual_stack, int *fd) {
  struct sockaddr_storage ss;
  socklen_t sl = weft__addr_to_sockaddr(a, &ss);
  int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int one = 1, zero = 0;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* IPv6's any address also takes IPv4 (as ::ffff:a.b.c.d) unless the system says otherwise:
   * then a name that resolves to both ::1 and 127.0.0.1 reaches us on either. */
  if (dual_stack && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) {
    close(s);
    return errno;
  }
  if (bind(s, (struct sockaddr *)&ss, sl) == 0 && listen(s, LISTEN_BACKLOG) == 0) {
    *fd = s;
    return 0;
  }
  int e = errno;
  close(s);
  return e;
}

weft_result_t weft__sock_listen(const char *host, int port, int *fd, int *bound_port, char *err,
                                size_t errlen) {
  weft__addr_t addrs[MAX_RESOLVED];
  size_t n = 0;
  int s = -1, last = EADDRNOTAVAIL;
  bool any = host == NULL || *host == '\0';
  *fd = -1;
  if (port < 0 || port > 65535) {
    set_err(err, errlen, "listen %s:%d: invalid port", any ? "*" : host, port);
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  if (any) { /* [::] dual-stack first, 0.0.0.0 where the kernel has no IPv6 */
    addrs[0] = (weft__addr_t){.family = 6, .port = (uint16_t)port};
    addrs[1] = (weft__addr_t){.family = 4, .port = (uint16_t)port};
    n = 2;
  } else {
    char why[400];
    weft_result_t r = weft__sock_resolve(host, port, true, weft__cfg_get(WEFT__CFG_CONNECT_TIMEOUT), addrs,
                                         MAX_RESOLVED, &n, why, sizeof why);
    if (r != WEFT_SUCCESS) {
      set_err(err, errlen, "listen %s:%d: %s", host, port, why);
      return r;
    }
  }
  for (size_t i = 0; i < n && s < 0; i++) {
    int e = listen_on(&addrs[i], any && addrs[i].family == 6, &s);
    if (e != 0) last = e;
  }
  if (s < 0) {
    set_err(err, errlen, "listen %s:%d: %s", any ? "*" : host, port, strerror(last));
    return WEFT_ERR_TRANSPORT;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(s, (struct sockaddr *)&ss, &sl) != 0) {
    set_err(err, errlen, "listen %s:%d: getsockname: %s", any ? "*" : host, port, strerror(errno));
    close(s);
    return WEFT_ERR_TRANSPORT;
  }
  if (bound_port != NULL)
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
  *fd = s;
  return WEFT_SUCCESS;
}

weft_result_t weft__sock_accept(int listen_fd, double deadline, int *fd, char *err, size_t errlen) {
  *fd = -1;
  for (;;) {
    int s = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s >= 0) {
      weft__sock_tune(s);
      *fd = s;
      return WEFT_SUCCESS;
    }
    switch (errno) {
    case EINTR:
    case ECONNABORTED: /* the client gave up before we took it: take the next one */
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case ENETUNREACH:
      continue;
    case EAGAIN: {
      int w = wait_fd(listen_fd, POLLIN, deadline);
      if (w > 0) continue;
      if (w == 0) {
        set_err(err, errlen, "accept: timed out");
        return WEFT_ERR_TIMEOUT;
      }
      break;
    }
    default:
      break;
    }
    set_err(err, errlen, "accept: %s", strerror(errno));
    return WEFT_ERR_TRANSPORT;
  }
}

weft_result_t weft__sock_write_all(int fd, const void *buf, size_t len, double deadline) {
  const uint8_t *p = buf;
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int w = wait_fd(fd, POLLOUT, deadline);
      if (w == 0) return WEFT_ERR_TIMEOUT;
      if (w < 0) return WEFT_ERR_TRANSPORT;
      continue;
    }
    return n == 0 ? WEFT_ERR_PEER_LOST : errno_result(errno);
  }
  return WEFT_SUCCESS;
}

weft_result_t weft__sock_read_all(int fd, void *buf, size_t len, double deadline) {
  uint8_t *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = recv(fd, p + got, len - got, MSG_DONTWAIT);
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    if (n == 0) return WEFT_ERR_PEER_LOST;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int w = wait_fd(fd, POLLIN, deadline);
      if (w == 0) return WEFT_ERR_TIMEOUT;
      if (w < 0) return WEFT_ERR_TRANSPORT;
      continue;
    }
    return errno_result(errno);
  }
  return WEFT_SUCCESS;
}

weft_result_t weft__sock_local_addr(int fd, int port, weft__addr_t *out) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return WEFT_ERR_TRANSPORT;
  if (port < 0 || port > 65535) return WEFT_ERR_INVALID_ARGUMENT;
  return weft__addr_from_sockaddr((struct sockaddr *)&ss, port, out) ? WEFT_SUCCESS
                                                                : WEFT_ERR_UNSUPPORTED;
}

weft_result_t weft__sock_ifname_addr(const char *ifname, char *host, size_t hostlen, char *err,
                                     size_t errlen) {
  struct ifaddrs *all = NULL;
  if (getifaddrs(&all) != 0) {
    set_err(err, errlen, "cannot list network interfaces: %s", strerror(errno));
    return WEFT_ERR_TRANSPORT;
  }
  const struct ifaddrs *v4 = NULL, *v6 = NULL;
  bool exists = false, up = false;
  char names[256] = "";
  for (const struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
    if (i->ifa_name && !strstr(names, i->ifa_name) && strlen(names) + strlen(i->ifa_name) + 3 < sizeof names) {
      if (names[0]) strcat(names, ", ");
      strcat(names, i->ifa_name);
    }
    if (!i->ifa_name || strcmp(i->ifa_name, ifname) != 0) continue;
    exists = true;
    up |= (i->ifa_flags & IFF_UP) != 0;
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    if (i->ifa_addr->sa_family == AF_INET && !v4) v4 = i;
    if (i->ifa_addr->sa_family == AF_INET6 && !v6) v6 = i;
  }
  const struct ifaddrs *pick = v4 ? v4 : v6;
  weft_result_t rc = WEFT_SUCCESS;
  if (!pick) {
    set_err(err, errlen, "interface \"%s\" %s (interfaces here: %s)", ifname,
            !exists ? "does not exist" : !up ? "is down" : "has no IP address", names);
    rc = WEFT_ERR_INVALID_ARGUMENT;
  } else {
    socklen_t sl = pick->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int g = getnameinfo(pick->ifa_addr, sl, host, (socklen_t)hostlen, NULL, 0, NI_NUMERICHOST);
    if (g != 0) {
      set_err(err, errlen, "interface \"%s\": %s", ifname, gai_strerror(g));
      rc = WEFT_ERR_TRANSPORT;
    }
  }
  freeifaddrs(all);
  return rc;
}
