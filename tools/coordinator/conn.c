/* Buffered non-blocking output for one coordinator connection (see conn.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "core/sock.h"

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
  return weft__conn_send2(c, msg, len, NULL, 0, limit);
}

bool weft__conn_send2(weft__conn_t *c, const uint8_t *msg, size_t len, const uint8_t *tail, size_t tail_len,
                      size_t limit) {
  size_t waiting = c->out_len - c->out_off;
  len += tail_len; /* room for both; msg's own length is len - tail_len below */
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
  memcpy(c->out + c->out_len, msg, len - tail_len);
  if (tail_len > 0) memcpy(c->out + c->out_len + len - tail_len, tail, tail_len);
  c->out_len += len;
  return weft__conn_flush(c);
}

void weft__conn_describe_peer(weft__conn_t *c) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  weft__addr_t a;
  snprintf(c->peer, sizeof c->peer, "?");
  if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) != 0) return;
  int port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  if (weft__addr_from_sockaddr((struct sockaddr *)&ss, port, &a)) weft__addr_format(&a, c->peer, sizeof c->peer);
}

void weft__conn_free(weft__conn_t *c) {
  if (c == NULL) return;
  weft__coord_reader_free(&c->reader);
  weft__coord_session_wipe(&c->session);
  free(c->out);
  free(c);
}
