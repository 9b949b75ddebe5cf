/* Buffered non-blocking output for one coordinator connection (see conn.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"

bool weft__conn_flush(weft__conn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    snprintf(c->why, sizeof c->why, "connection lost while sending: %s",
             n < 0 ? strerror(errno) : "closed");
    return false;
  }
  c->out_off = c->out_len = 0;
  return true;
}

bool weft__conn_send(weft__conn_t *c, const uint8_t *msg, size_t len, size_t limit) {
  size_t waiting = c->out_len - c->out_off;
  if (waiting + len > limit) {
    c->overflowed = true;
    snprintf(c->why, sizeof c->why, "not reading its messages (%zu bytes waiting)",
             waiting + len);
    return false;
  }
  if (c->out_off > 0 && c->out_len + len > c->out_cap) { /* slide instead of growing */
    memmove(c->out, c->out + c->out_off, waiting);
    c->out_off = 0;
    c->out_len = waiting;
  }
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len) cap *= 2;
    uint8_t *out = realloc(c->out, cap);
    if (out == NULL) {
      snprintf(c->why, sizeof c->why, "coordinator out of memory for its messages");
      return false;
    }
    c->out = out;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, msg, len);
  c->out_len += len;
  return weft__conn_flush(c);
}

void weft__conn_describe_peer(weft__conn_t *c) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  snprintf(c->peer, sizeof c->peer, "?");
  if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) != 0) return;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    port = ntohs(s4->sin_port);
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
  } else if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss; /* IPv4 on the dual-stack listener */
    inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, sizeof ip);
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, ntohs(s6->sin6_port));
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    port = ntohs(s6->sin6_port);
    snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
  }
}

void weft__conn_free(weft__conn_t *c) {
  if (c == NULL) return;
  weft__coord_reader_free(&c->reader);
  free(c->out);
  free(c);
}
