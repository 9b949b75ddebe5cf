/* Socket helpers with deadlines (lib/core/sock.c). Every blocking helper takes an absolute
 * deadline on weft__now()'s clock and returns WEFT_ERR_TIMEOUT past it: no unbounded wait. */
#ifndef WEFT_CORE_SOCK_H
#define WEFT_CORE_SOCK_H

#include "core/common.h"

/* A socket address as it travels in coordinator messages: fixed width. */
typedef struct {
  uint16_t family; /* 4 or 6 */
  uint16_t port;   /* host byte order in memory; encoded little-endian on the wire */
  uint8_t ip[16];  /* IPv4 in the first 4 bytes */
} weft__addr_t;

/* "1.2.3.4" / "::1" / hostname -> fd connected (blocking connect with deadline, retried on
 * ECONNREFUSED until the deadline so ranks may start before the listener). fd is left
 * non-blocking, TCP_NODELAY, close-on-exec. err names host:port and the errno text. */
weft_result_t weft__sock_connect(const char *host, int port, double deadline, bool retry_refused,
                                 int *fd, char *err, size_t errlen);
weft_result_t weft__sock_connect_addr(const weft__addr_t *addr, double deadline, int *fd,
                                      char *err, size_t errlen);
/* Every IPv4 and IPv6 address of host (at most max, duplicates dropped), with port; numeric
 * addresses parse at once, names go to the name service bounded by bound_s (lib/core/resolve.c:
 * WEFT_ERR_TIMEOUT with err naming the host and the bound). passive with host NULL: the
 * wildcard addresses. */
weft_result_t weft__sock_resolve(const char *host, int port, bool passive, double bound_s, weft__addr_t *out,
                                 size_t max, size_t *n, char *err, size_t errlen);
/* Listening socket on host and port (0: ephemeral). Non-blocking. "" or NULL: every address,
 * IPv6 and IPv4 on one dual-stack socket where the kernel has IPv6, else IPv4's any address. */
weft_result_t weft__sock_listen(const char *host, int port, int *fd, int *bound_port, char *err,
                                size_t errlen);
/* Accept with deadline; the new fd is non-blocking, TCP_NODELAY, close-on-exec. */
weft_result_t weft__sock_accept(int listen_fd, double deadline, int *fd, char *err, size_t errlen);
/* Exactly len bytes, or an error (EOF is WEFT_ERR_PEER_LOST) or WEFT_ERR_TIMEOUT. Works on
 * non-blocking fds (poll until the deadline). */
weft_result_t weft__sock_write_all(int fd, const void *buf, size_t len, double deadline);
weft_result_t weft__sock_read_all(int fd, void *buf, size_t len, double deadline);
/* Local address of a connected socket, with port replaced: what peers should dial. */
weft_result_t weft__sock_local_addr(int fd, int port, weft__addr_t *out);
struct sockaddr;
struct sockaddr_storage;
unsigned weft__addr_to_sockaddr(const weft__addr_t *a, struct sockaddr_storage *ss); /* 0: bad family */
/* The other way (port given in host order); IPv4 on a dual-stack socket comes out as IPv4.
 * false for a family that is neither. */
bool weft__addr_from_sockaddr(const struct sockaddr *sa, int port, weft__addr_t *out);
void weft__addr_format(const weft__addr_t *a, char *buf, size_t len); /* "1.2.3.4:5" */
/* The address of network interface `ifname` (its first IPv4 address, else its first IPv6 one)
 * as a numeric string for weft__sock_listen. err says why not (no such interface, down, no
 * address) and lists the interfaces there are. */
weft_result_t weft__sock_ifname_addr(const char *ifname, char *host, size_t hostlen, char *err,
                                     size_t errlen);
/* The two halves of a non-blocking connect, for callers that multiplex many in one poll loop
 * (mesh formation). start returns 0 with *fd a new non-blocking close-on-exec socket whose
 * connect completed or is in progress, or an errno value with *fd = -1. result, called once
 * poll reports POLLOUT/POLLERR/POLLHUP on fd, returns 0 (connected), EINPROGRESS (not yet) or
 * the errno the connect failed with. Neither tunes the socket. */
int weft__sock_connect_start(const weft__addr_t *addr, int *fd);
int weft__sock_connect_result(int fd);
void weft__sock_set_nonblock(int fd);
/* RLIMIT_NOFILE's soft limit raised to its hard one (at most 2^20), once per process, at init. */
void weft__sock_raise_nofile(void);
/* Text for EMFILE/ENFILE naming the limit that was hit and how to raise it. */
const char *weft__sock_nofile_text(int e, char *buf, size_t len);
void weft__sock_tune(int fd); /* TCP_NODELAY, larger buffers */

#endif
