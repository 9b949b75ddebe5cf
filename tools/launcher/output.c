/* Line-prefixed forwarding of a rank's output (see output.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "output.h"

void weft__out_init(weft__out_stream_t *s, int fd, int dest, const char *prefix) {
  s->fd = fd;
  s->dest = dest;
  s->midline = false;
  s->len = 0;
  snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
}

/* Our own stdout going away (a closed pipe) must not stop the job: errors are dropped. */
static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* One piece of a line: prefix (unless continuing a line), the bytes, and a newline if asked. */
static void emit(weft__out_stream_t *s, const char *p, size_t n, bool newline) {
  char out[sizeof s->prefix + WEFT__OUT_BUF + 1];
  size_t k = 0;
  if (!s->midline) {
    size_t pl = strlen(s->prefix);
    memcpy(out, s->prefix, pl);
    k = pl;
  }
  memcpy(out + k, p, n);
  k += n;
  if (newline) out[k++] = '\n';
  write_all(s->dest, out, k);
  s->midline = !newline;
}

/* Forwards every complete line in buf; keeps the rest (forced out when the buffer is full). */
static void drain_lines(weft__out_stream_t *s) {
  size_t start = 0;
  for (;;) {
    char *nl = memchr(s->buf + start, '\n', s->len - start);
    if (nl == NULL) break;
    size_t n = (size_t)(nl - (s->buf + start));
    emit(s, s->buf + start, n, true);
    start += n + 1;
  }
  if (start == 0 && s->len == sizeof s->buf) {
    emit(s, s->buf, s->len, false);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

bool weft__out_pump(weft__out_stream_t *s) {
  if (s->fd < 0) return false;
  for (int k = 0; k < 16; k++) { /* bounded: other ranks get their turn */
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;
    s->len += (size_t)n;
    drain_lines(s);
  }
  return true;
}

void weft__out_finish(weft__out_stream_t *s) {
  if (s->fd < 0) return;
  if (s->len > 0 || s->midline) emit(s, s->buf, s->len, true);
  s->len = 0;
  close(s->fd);
  s->fd = -1;
}
