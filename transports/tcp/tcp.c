/* TCP transport: nsocks non-blocking connections per peer, each a watcher of the context's
 * engine (core/engine.h; no thread per socket). A message is cut into frames of at most `chunk` bytes
 * that are striped round-robin over the peer's connections; each frame is self-describing
 * (wire.h), so frames may arrive in any order across connections. Payloads are written straight
 * from the user's buffer with writev and read straight into the destination (or into a
 * chunk-sized bounce buffer when they must be reduced): a large message streams through the
 * socket, it is never copied whole.
 *
 * Per connection the byte stream is strictly frame after frame. That is why cancel_all finishes
 * a half-written frame from a private copy instead of dropping it: the peer's decoder must never
 * see a frame cut short.
 *
 * With WEFT_ENCRYPT=1 the same stream of frames passes through the connection's record layer
 * (crypt.h) on its way to and from the socket: conn_sendv and conn_take below are the only two
 * places that know, one branch each when encryption is off. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "transports/tcp/tcp.h"

/* Bytes read ahead per connection. A small frame's header and payload then arrive in one recv
 * instead of two (three with the recv that finds the socket empty); a large payload still goes
 * straight into its destination once the read-ahead is used up, so it is never copied whole. */
#define RX_AHEAD 4096

typedef struct {
  weft__xfer_t *x;
  uint32_t next_frame; /* this connection sends frames next_frame, +nsocks, ... */
} send_entry_t;

typedef struct conn {
  weft__io_t io; /* the engine's watcher; io.events is the interest registered */
  struct weft__transport *t;
  int fd, peer, index;
  bool dead, parked, bye_seen;
  /* send side: queue of messages, then the frame being written */
  send_entry_t *q;
  size_t qhead, qlen, qcap;
  bool writing;
  uint8_t out_hdr[WEFT__FRAME_HDR_LEN];
  const uint8_t *out_pay;
  uint32_t out_len;     /* payload bytes of the current frame */
  size_t out_done;      /* bytes of header+payload written */
  weft__xfer_t *out_x;  /* NULL for control frames and cancelled frames */
  uint8_t *tail;        /* private copy of a cancelled frame's unwritten payload */
  uint8_t *ctl;         /* queued control frames (header + payload), written between frames */
  size_t ctl_len, ctl_cap;
  /* receive side */
  uint8_t in_hdr[WEFT__FRAME_HDR_LEN];
  size_t in_hdr_got;
  bool in_payload;
  weft__frame_t in;
  weft__sink_t sink;
  uint32_t in_got;
  uint8_t *bounce;
  uint8_t *rx;          /* read-ahead: rx_len bytes from rx_off are the stream's next bytes */
  uint32_t rx_off, rx_len;
  bool rx_drained;      /* the last recv came back short: the socket was empty */
  bool park_polled;     /* the engine reported input while parked: stop watching for it */
  weft__crypt_t *cr;    /* WEFT_ENCRYPT: the record layer; NULL: plaintext */
} conn_t;

struct weft__transport {
  int rank, size, nsocks;
  weft__engine_t *engine;
  uint32_t chunk;
  weft__transport_cb_t cb;
  conn_t *conns; /* size*nsocks, self entries unused */
};

static conn_t *conn_of(weft__transport_t *t, int peer, int s) { return &t->conns[peer * t->nsocks + s]; }

static void set_events(conn_t *c) {
  if (c->dead) return;
  uint32_t ev = 0;
  /* A parked connection stays armed until the engine reports it once more: the operation its
   * frame waits for usually starts before the next wait, and then no change of interest (a
   * system call) is needed at all (two per operation otherwise, a large part of a small
   * operation's cost). weft__io_modify costs nothing when the interest is unchanged. */
  if (!c->parked || !c->park_polled) ev |= WEFT__IO_READ;
  if (c->writing || c->qlen > 0 || c->ctl_len > 0 || (c->cr && weft__crypt_send_pending(c->cr))) ev |= WEFT__IO_WRITE;
  weft__io_modify(c->t->engine, &c->io, ev);
}

static void conn_close(conn_t *c, bool clean, const char *why) {
  if (c->dead) return;
  c->dead = true;
  weft__io_stop(c->t->engine, &c->io);
  close(c->fd);
  c->fd = -1;
  c->qlen = 0;
  c->writing = false;
  c->ctl_len = 0;
  /* Each connection carries the peer's BYE after its last frame, but a frame for a later phase
   * may still sit on another (parked) connection: a clean departure counts only once every
   * connection of the peer has drained to its end. A failure counts at once. */
  if (clean)
    for (int s = 0; s < c->t->nsocks; s++)
      if (!conn_of(c->t, c->peer, s)->dead) return;
  c->t->cb.on_peer_lost(c->t->cb.ctx, c->peer, clean, why);
}

/* ---- sending ---------------------------------------------------------------------------- */

static uint32_t frame_count(const weft__transport_t *t, uint64_t len) {
  return len == 0 ? 1 : (uint32_t)((len + t->chunk - 1) / t->chunk);
}

/* Takes the next frame from the queue into the "writing" slot. */
static bool start_next_frame(conn_t *c) {
  weft__transport_t *t = c->t;
  if (c->ctl_len > 0) return false; /* control bytes go first, whole */
  if (c->qlen == 0) return false;
  send_entry_t *e = &c->q[c->qhead];
  weft__xfer_t *x = e->x;
  uint32_t nframes = frame_count(t, x->len);
  uint64_t off = (uint64_t)e->next_frame * t->chunk;
  weft__frame_t f = x->hdr;
  f.offset = off;
  f.len = (uint32_t)(x->len == 0 ? 0 : WEFT__MIN((uint64_t)t->chunk, x->len - off));
  weft__frame_encode(c->out_hdr, &f);
  c->out_pay = x->buf + off;
  c->out_len = f.len;
  c->out_done = 0;
  c->out_x = x;
  c->writing = true;
  e->next_frame += (uint32_t)t->nsocks;
  if (e->next_frame >= nframes) {
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
  }
  return true;
}

static void finish_frame(conn_t *c) {
  weft__xfer_t *x = c->out_x;
  c->writing = false;
  c->out_x = NULL;
  free(c->tail);
  c->tail = NULL;
  if (x && --x->frames_left == 0) c->t->cb.on_send_done(c->t->cb.ctx, x);
}

/* sendmsg, or one sealed record's worth when encrypted: bytes of iov taken, or -1 with errno. */
static ssize_t conn_sendv(conn_t *c, struct iovec *iov, int niov) {
  if (c->cr) return weft__crypt_send(c->cr, c->fd, iov, niov);
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
  return sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void conn_write(conn_t *c) {
  for (;;) {
    if (c->dead) return;
    if (!c->writing && c->ctl_len > 0) {
      ssize_t n = conn_sendv(c, &(struct iovec){.iov_base = c->ctl, .iov_len = c->ctl_len}, 1);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        conn_close(c, c->bye_seen, strerror(errno));
        return;
      }
      memmove(c->ctl, c->ctl + n, c->ctl_len - (size_t)n);
      c->ctl_len -= (size_t)n;
      continue;
    }
    if (!c->writing && !start_next_frame(c)) {
      /* Nothing more to seal: what is left of the last record must still go out. */
      if (c->cr && weft__crypt_flush(c->cr, c->fd) < 0) {
        char why[128];
        snprintf(why, sizeof why, "send to rank %d failed: %s", c->peer, strerror(errno));
        conn_close(c, c->bye_seen, why);
        return;
      }
      break;
    }
    struct iovec iov[2];
    int niov = 0;
    if (c->out_done < WEFT__FRAME_HDR_LEN) {
      iov[niov].iov_base = c->out_hdr + c->out_done;
      iov[niov++].iov_len = WEFT__FRAME_HDR_LEN - c->out_done;
    }
    size_t pay_done = c->out_done > WEFT__FRAME_HDR_LEN ? c->out_done - WEFT__FRAME_HDR_LEN : 0;
    if (pay_done < c->out_len) {
      iov[niov].iov_base = (void *)(c->out_pay + pay_done);
      iov[niov++].iov_len = c->out_len - pay_done;
    }
    if (niov == 0) {
      finish_frame(c);
      continue;
    }
    ssize_t n = conn_sendv(c, iov, niov);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      char why[128];
      snprintf(why, sizeof why, "send to rank %d failed: %s", c->peer, strerror(errno));
      conn_close(c, c->bye_seen, why);
      return;
    }
    c->out_done += (size_t)n;
    if (c->out_done == WEFT__FRAME_HDR_LEN + c->out_len) finish_frame(c);
  }
  set_events(c);
}

static weft_result_t tcp_post_send(weft__transport_t *t, int peer, weft__xfer_t *x) {
  if (x->mem != WEFT__MEM_HOST) return WEFT_ERR_UNSUPPORTED; /* caps: host memory only */
  uint32_t nframes = frame_count(t, x->len);
  x->frames_left = nframes;
  int used = (int)WEFT__MIN((uint32_t)t->nsocks, nframes);
  for (int s = 0; s < used; s++) {
    conn_t *c = conn_of(t, peer, s);
    if (c->dead) return WEFT_ERR_PEER_LOST;
  }
  for (int s = 0; s < used; s++) {
    conn_t *c = conn_of(t, peer, s);
    if (c->qlen == c->qcap) {
      size_t ncap = c->qcap ? c->qcap * 2 : 8;
      send_entry_t *nq = malloc(ncap * sizeof *nq);
      if (!nq) return WEFT_ERR_NO_MEMORY;
      for (size_t i = 0; i < c->qlen; i++) nq[i] = c->q[(c->qhead + i) % c->qcap];
      free(c->q);
      c->q = nq;
      c->qcap = ncap;
      c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = (send_entry_t){.x = x, .next_frame = (uint32_t)s};
    c->qlen++;
    conn_write(c); /* write now: the common small message leaves without a round of the engine */
  }
  return WEFT_SUCCESS;
}

static void queue_control(conn_t *c, const weft__frame_t *f, const void *payload) {
  size_t need = c->ctl_len + WEFT__FRAME_HDR_LEN + f->len;
  if (need > c->ctl_cap) {
    uint8_t *n = realloc(c->ctl, need);
    if (!n) return; /* best effort */
    c->ctl = n;
    c->ctl_cap = need;
  }
  weft__frame_encode(c->ctl + c->ctl_len, f);
  if (f->len) memcpy(c->ctl + c->ctl_len + WEFT__FRAME_HDR_LEN, payload, f->len);
  c->ctl_len = need;
  /* Written by the event loop, not now: a write can find the peer dead, and the callbacks that
   * follow must not run inside the caller (which is in the middle of failing an operation). */
  set_events(c);
}

static void tcp_broadcast_control(weft__transport_t *t, const weft__frame_t *f, const void *payload) {
  for (int p = 0; p < t->size; p++)
    if (p != t->rank && !conn_of(t, p, 0)->dead) queue_control(conn_of(t, p, 0), f, payload);
}

static void tcp_cancel_all(weft__transport_t *t) {
  for (int i = 0; i < t->size * t->nsocks; i++) {
    conn_t *c = &t->conns[i];
    if (c->peer == t->rank || c->dead) continue;
    c->qlen = 0;
    if (c->writing && c->out_x) {
      size_t pay_done = c->out_done > WEFT__FRAME_HDR_LEN ? c->out_done - WEFT__FRAME_HDR_LEN : 0;
      size_t rest = c->out_len - pay_done;
      c->tail = malloc(rest ? rest : 1);
      if (!c->tail) {
        conn_close(c, false, "out of memory while cancelling a frame");
        continue;
      }
      memcpy(c->tail, c->out_pay + pay_done, rest);
      /* Rebase so that out_pay + pay_done points at the copy. */
      c->out_pay = c->tail - pay_done;
      c->out_x = NULL;
    }
    if (c->in_payload && c->sink.kind != WEFT__SINK_DISCARD) {
      if (!c->bounce && !(c->bounce = malloc(t->chunk))) {
        conn_close(c, false, "out of memory while cancelling a receive");
        continue;
      }
      c->sink.kind = WEFT__SINK_DISCARD;
    }
  }
}

/* ---- receiving -------------------------------------------------------------------------- */

/* recv(2) through the read-ahead: returns bytes taken (> 0), 0 at end of stream, or -1 with
 * errno. Small requests read up to RX_AHEAD bytes and keep the rest for the next call. */
static ssize_t conn_take(conn_t *c, uint8_t *dst, size_t want) {
  if (c->cr) return weft__crypt_recv(c->cr, c->fd, dst, want, &c->rx_drained); /* its own read-ahead */
  if (c->rx_len > 0) {
    size_t n = WEFT__MIN(want, (size_t)c->rx_len);
    memcpy(dst, c->rx + c->rx_off, n);
    c->rx_off += (uint32_t)n;
    c->rx_len -= (uint32_t)n;
    return (ssize_t)n;
  }
  bool direct = want >= RX_AHEAD || !c->rx;
  ssize_t n = direct ? recv(c->fd, dst, want, MSG_DONTWAIT) : recv(c->fd, c->rx, RX_AHEAD, MSG_DONTWAIT);
  if (n <= 0) return n;
  c->rx_drained = (size_t)n < (direct ? want : RX_AHEAD);
  if (direct) return n;
  size_t k = WEFT__MIN(want, (size_t)n);
  memcpy(dst, c->rx, k);
  c->rx_off = (uint32_t)k;
  c->rx_len = (uint32_t)((size_t)n - k);
  return (ssize_t)k;
}

/* A read from c failed (errno): drop the connection, saying why. A record that fails its check
 * is never a clean end, whatever came before it. */
static void read_failed(conn_t *c, bool clean) {
  char why[192];
  if (c->cr && errno == EBADMSG)
    snprintf(why, sizeof why, "encrypted record from rank %d failed authentication (tampered with, replayed "
             "or corrupted in transit): connection dropped", c->peer);
  else if (c->cr && errno == EPROTO)
    snprintf(why, sizeof why, "encrypted record from rank %d has an impossible length (not an encrypted weft "
             "stream): connection dropped", c->peer);
  else
    snprintf(why, sizeof why, "connection to rank %d failed: %s", c->peer, strerror(errno));
  conn_close(c, clean && errno != EBADMSG && errno != EPROTO, why);
}

/* Returns false when the connection must stop reading now (parked, closed, would block). */
static bool conn_read_once(conn_t *c) {
  weft__transport_t *t = c->t;
  if (!c->in_payload) {
    if (c->in_hdr_got < WEFT__FRAME_HDR_LEN) {
      ssize_t n = conn_take(c, c->in_hdr + c->in_hdr_got, WEFT__FRAME_HDR_LEN - c->in_hdr_got);
      if (n == 0) {
        char why[96];
        snprintf(why, sizeof why, "rank %d closed the connection%s", c->peer,
                 c->bye_seen ? " (clean shutdown)" : " without saying goodbye (crashed?)");
        conn_close(c, c->bye_seen, why);
        return false;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
        read_failed(c, c->bye_seen);
        return false;
      }
      c->in_hdr_got += (size_t)n;
      if (c->in_hdr_got < WEFT__FRAME_HDR_LEN) return true;
      char why[160];
      if (!weft__frame_decode(c->in_hdr, t->chunk, &c->in, why, sizeof why)) {
        char msg[224];
        snprintf(msg, sizeof msg, "malformed frame from rank %d: %s", c->peer, why);
        conn_close(c, false, msg);
        return false;
      }
      if (c->in.type == WEFT__FRAME_BYE) {
        c->bye_seen = true;
        c->in_hdr_got = 0;
        return true;
      }
    }
    /* A header is complete: ask the core where its payload goes. */
    c->sink = t->cb.on_header(t->cb.ctx, c->peer, &c->in);
    if (c->sink.kind == WEFT__SINK_PARK) {
      c->parked = true;
      c->park_polled = false;
      return false;
    }
    if (c->sink.kind == WEFT__SINK_CLOSE) {
      char msg[96];
      snprintf(msg, sizeof msg, "unexpected frame from rank %d", c->peer);
      conn_close(c, false, msg);
      return false;
    }
    c->parked = false;
    c->in_payload = true;
    c->in_got = 0;
    if (c->sink.kind != WEFT__SINK_COPY && !c->bounce) {
      c->bounce = malloc(t->chunk);
      if (!c->bounce) {
        conn_close(c, false, "out of memory for the receive bounce buffer");
        return false;
      }
    }
  }
  if (c->in_got < c->in.len) {
    uint8_t *dst;
    size_t want = c->in.len - c->in_got;
    switch (c->sink.kind) {
      case WEFT__SINK_COPY: dst = c->sink.dst + c->in_got; break;
      case WEFT__SINK_REDUCE: dst = c->bounce + c->in_got; break;
      default: dst = c->bounce; break; /* discard: reuse the bounce buffer */
    }
    ssize_t n = conn_take(c, dst, want);
    if (n == 0) {
      char why[96];
      snprintf(why, sizeof why, "rank %d closed the connection in the middle of a frame", c->peer);
      conn_close(c, false, why);
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      read_failed(c, false);
      return false;
    }
    c->in_got += (uint32_t)n;
    if (c->in_got < c->in.len) return true;
  }
  /* Payload complete. */
  weft__sink_t sink = c->sink;
  weft__frame_t f = c->in;
  c->in_payload = false;
  c->in_hdr_got = 0;
  if (sink.kind == WEFT__SINK_REDUCE) t->cb.on_reduce(t->cb.ctx, sink.target, &f, c->bounce);
  if (sink.kind == WEFT__SINK_COPY || sink.kind == WEFT__SINK_REDUCE)
    t->cb.on_recv_done(t->cb.ctx, sink.target, &f);
  return true;
}

static void conn_read(conn_t *c) {
  /* Bounded work per wake-up so one busy connection cannot starve the others; the engine reports
   * what is left in the socket, but not what is left in the read-ahead, so that is always
   * used up (at most RX_AHEAD bytes). A short recv means the socket is empty: stop without
   * the recv that would only say EAGAIN. */
  for (int i = 0; !c->dead && !c->parked; i++) {
    c->rx_drained = false;
    if (!conn_read_once(c)) break;
    if (c->rx_len == 0 && (c->rx_drained || i >= 255) && !(c->cr && weft__crypt_recv_buffered(c->cr))) break;
  }
}

static void tcp_resume(weft__transport_t *t) {
  for (int i = 0; i < t->size * t->nsocks; i++) {
    conn_t *c = &t->conns[i];
    if (c->peer == t->rank || c->dead || !c->parked) continue;
    c->parked = false;
    conn_read(c);
    set_events(c);
  }
}

/* The engine's callback (ERROR comes with READ: reading finds out what happened). */
static void conn_ready(weft__io_t *w, uint32_t events) {
  conn_t *c = (conn_t *)w; /* io is the first member */
  if (c->dead) return;
  if (c->parked && (events & WEFT__IO_READ)) c->park_polled = true; /* set_events disarms it below */
  if (events & WEFT__IO_READ) conn_read(c);
  if (!c->dead && (events & (WEFT__IO_WRITE | WEFT__IO_ERROR))) conn_write(c);
  if (!c->dead) set_events(c);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

weft_result_t weft__tcp_instance_create(const weft__connect_args_t *a, const int *fds, const weft__crypt_keys_t *keys,
                                        weft__transport_t **out) {
  weft__transport_t *t = calloc(1, sizeof *t);
  if (!t) goto fail_fds;
  t->rank = a->rank;
  t->size = a->size;
  t->nsocks = a->nsocks;
  t->engine = a->engine;
  t->chunk = a->chunk;
  t->cb = a->cb;
  t->conns = calloc((size_t)a->size * (size_t)a->nsocks, sizeof *t->conns);
  if (!t->conns) goto fail_fds;
  for (int p = 0; p < a->size; p++) {
    for (int s = 0; s < a->nsocks; s++) {
      conn_t *c = conn_of(t, p, s);
      weft__io_init(&c->io, conn_ready);
      c->t = t;
      c->peer = p;
      c->index = s;
      c->fd = fds[p * a->nsocks + s];
      if (p == a->rank || c->fd < 0) { /* self, or a peer another transport serves */
        c->dead = true;
        c->fd = -1;
        continue;
      }
      if (keys && !(c->cr = weft__crypt_new(&keys[p * a->nsocks + s]))) goto fail_instance;
      if (!keys) c->rx = malloc(RX_AHEAD); /* without it (out of memory) reads go direct: slower, correct */
    }
  }
  *out = t;
  return WEFT_SUCCESS;
fail_instance: /* out of memory: the peers see these connections close without a BYE */
  for (int i = 0; i < a->size * a->nsocks; i++) {
    weft__crypt_free(t->conns[i].cr);
    free(t->conns[i].rx);
  }
  free(t->conns);
fail_fds:
  free(t);
  for (int i = 0; i < a->size * a->nsocks; i++)
    if (fds[i] >= 0) close(fds[i]);
  return WEFT_ERR_NO_MEMORY;
}

/* Closing a socket with unread input makes the kernel send a reset, which the peer could only
 * read as a crash of this rank. So: BYE, half-close, then read and drop what is still coming
 * until the peer closes too or a short bound passes. */
static void close_gracefully(weft__transport_t *t) {
  weft__frame_t bye = {.type = WEFT__FRAME_BYE, .src_rank = (uint32_t)t->rank};
  uint8_t hdr[WEFT__FRAME_HDR_LEN], sink[4096];
  weft__frame_encode(hdr, &bye);
  int open_count = 0;
  for (int i = 0; i < t->size * t->nsocks; i++) {
    conn_t *c = &t->conns[i];
    if (c->peer == t->rank || c->dead) continue;
    bool bye_fits = true;
    weft__io_stop(t->engine, &c->io);
    /* Queued control frames (an ABORT saying why we stop) go out before the BYE. */
    if (!c->writing && c->ctl_len > 0) {
      ssize_t n = conn_sendv(c, &(struct iovec){.iov_base = c->ctl, .iov_len = c->ctl_len}, 1);
      if (n > 0) {
        memmove(c->ctl, c->ctl + n, c->ctl_len - (size_t)n);
        c->ctl_len -= (size_t)n;
      }
    }
    /* Only between frames (and records): a BYE inside a half-written one would corrupt the stream. */
    if (c->cr && weft__crypt_flush(c->cr, c->fd) != 1) bye_fits = false;
    if (!c->writing && c->ctl_len == 0 && bye_fits)
      (void)!conn_sendv(c, &(struct iovec){.iov_base = hdr, .iov_len = sizeof hdr}, 1);
    shutdown(c->fd, SHUT_WR);
    open_count++;
  }
  double until = weft__now() + 0.2;
  while (open_count > 0 && weft__now() < until) {
    open_count = 0;
    for (int i = 0; i < t->size * t->nsocks; i++) {
      conn_t *c = &t->conns[i];
      if (c->peer == t->rank || c->dead || c->fd < 0) continue;
      ssize_t n;
      while ((n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0) {
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close(c->fd);
        c->fd = -1;
      } else {
        open_count++;
      }
    }
    if (open_count > 0) {
      struct timespec d = {0, 2000000};
      nanosleep(&d, NULL);
    }
  }
  for (int i = 0; i < t->size * t->nsocks; i++) {
    conn_t *c = &t->conns[i];
    if (c->peer != t->rank && !c->dead && c->fd >= 0) close(c->fd);
  }
}

/* The connections join the engine only now: the owner calls this with the engine paused, once
 * the callbacks' target is reachable from the engine, so no event is dispatched to an instance
 * still being linked in on another thread. */
static void tcp_start(weft__transport_t *t) {
  for (int i = 0; i < t->size * t->nsocks; i++) {
    conn_t *c = &t->conns[i];
    if (!c->dead && c->fd >= 0 && c->io.fd < 0) weft__io_start(t->engine, &c->io, c->fd, WEFT__IO_READ);
  }
}

static void tcp_destroy(weft__transport_t *t) {
  if (!t) return;
  close_gracefully(t);
  for (int i = 0; i < t->size * t->nsocks; i++) {
    conn_t *c = &t->conns[i];
    free(c->q);
    free(c->tail);
    free(c->ctl);
    free(c->bounce);
    free(c->rx);
    weft__crypt_free(c->cr);
  }
  free(t->conns);
  free(t);
}

static void tcp_drop_peer(weft__transport_t *t, int peer) {
  if (peer < 0 || peer >= t->size || peer == t->rank) return;
  for (int s = 0; s < t->nsocks; s++) {
    conn_t *c = conn_of(t, peer, s);
    if (c->dead) continue;
    c->dead = true;
    weft__io_stop(t->engine, &c->io);
    close(c->fd);
    c->fd = -1;
    c->qlen = 0;
    c->writing = false;
    c->ctl_len = 0;
  }
}

static weft_result_t tcp_mem_register(weft__transport_t *t, void *buf, size_t len,
                                      weft__mem_type_t type, void **handle) {
  (void)t, (void)buf, (void)len;
  *handle = NULL;
  return type == WEFT__MEM_HOST ? WEFT_SUCCESS : WEFT_ERR_UNSUPPORTED;
}

static void tcp_mem_deregister(weft__transport_t *t, void *handle) { (void)t, (void)handle; }

const weft__transport_ops_t weft__tcp_ops = {
    .size = sizeof(weft__transport_ops_t),
    .name = "tcp",
    .caps = WEFT__CAP_MEM_HOST,
    .open = weft__tcp_open,
    .close = weft__tcp_close,
    .reachable = weft__tcp_reachable,
    .connect = weft__tcp_connect,
    .start = tcp_start,
    .destroy = tcp_destroy,
    .post_send = tcp_post_send,
    .resume = tcp_resume,
    .cancel_all = tcp_cancel_all,
    .broadcast_control = tcp_broadcast_control,
    .drop_peer = tcp_drop_peer,
    .mem_register = tcp_mem_register,
    .mem_deregister = tcp_mem_deregister,
};
