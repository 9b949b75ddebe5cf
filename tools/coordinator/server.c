/* The coordinator's event loop: one thread, level-triggered epoll, never blocking on a client.
 *
 * A connection walks AUTH -> HELLO -> MEMBER. On accept it gets the auth challenge (role COORD);
 * its 64-byte response is read as it trickles in and verified; then the server MAC goes out and
 * the first message must be HELLO, which the membership state machine accepts (WELCOME) or
 * rejects (ERROR, then close). Until HELLO a connection has a deadline (HANDSHAKE_S) and counts
 * against MAX_PENDING, so idle or hostile sockets cannot pile up; beyond the cap new ones are
 * accepted and closed at once.
 *
 * The membership state machine decides; this file only carries its events to sockets. Because
 * its emit callback must not re-enter it, a connection found broken while sending (write error,
 * outbound backlog over OUT_LIMIT) is put on a list and reported as failed after the call that
 * was sending returns (reap_broken). Closed connections stay allocated, marked dead, until the
 * end of the loop iteration: later events of the same epoll batch may still point at them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clog.h"
#include "conn.h"
#include "membership.h"
#include "reach.h"
#include "server.h"
#include "stall.h"
#include "suspect.h"

#define HANDSHAKE_S 5.0       /* from accept to HELLO */
#define CLOSING_S 5.0         /* to flush a last ERROR before closing regardless */
#define MAX_PENDING 1024      /* connections not past HELLO yet */
/* Outbound backlog per connection: an EPOCH of 16384 members is ~1.5 MiB with TCP-only cards,
 * ~17 MiB if every card is at WEFT__COORD_CARD_MAX; room for two of those. */
#define OUT_LIMIT (40u << 20)
#define TICK_S 0.1            /* longest epoll wait: deadlines are checked this often */
#define MAX_EVENTS 256
#define MSGS_PER_WAKEUP 64    /* fairness: one chatty client cannot starve the others */

typedef struct {
  const weft__server_opts_t *o;
  int epfd, lfd, spare_fd;
  weft__conn_t *conns;
  weft__conn_t *broken;
  weft__conn_t *graveyard;
  size_t n_pending;
  weft__mship_t *m;
  weft__stall_t *stall; /* hung callers: stall.h */
  weft__reach_t *reach; /* cut links: reach.h */
  weft__suspect_t *suspect; /* failures one member saw: suspect.h */
  double now;
} server_t;

/* --- connection lifetime ------------------------------------------------------------------- */

static void update_interest(server_t *s, weft__conn_t *c) {
  bool want = weft__conn_has_output(c);
  if (c->dead || want == c->want_out) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = want;
}

static void close_conn(server_t *s, weft__conn_t *c) {
  if (c->dead) return;
  if (c->state != WEFT__CONN_MEMBER) s->n_pending--;
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->dead = true;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = s->graveyard;
  s->graveyard = c;
}

static void mark_broken(server_t *s, weft__conn_t *c) {
  if (c->broken || c->dead) return;
  c->broken = true;
  c->next_broken = s->broken;
  s->broken = c;
}

/* Connections found broken while sending: fail their members (which may break more) and close. */
static void reap_broken(server_t *s) {
  while (s->broken != NULL) {
    weft__conn_t *c = s->broken;
    s->broken = c->next_broken;
    if (c->dead) continue;
    weft__clog("connection %s (member %llu) dropped: %s", c->peer,
               (unsigned long long)c->member_id, c->why);
    uint64_t id = c->member_id;
    close_conn(s, c);
    if (id != 0)
      weft__mship_fail(s->m, id, c->overflowed ? WEFT__FAIL_HUNG : WEFT__FAIL_CRASH, c->why,
                       s->now);
  }
}

static void send_msg2(server_t *s, weft__conn_t *c, const uint8_t *msg, size_t len, const uint8_t *tail,
                      size_t tail_len) {
  if (c->dead || c->broken) return;
  if (!weft__conn_send2(c, msg, len, tail, tail_len, OUT_LIMIT)) {
    mark_broken(s, c);
    return;
  }
  update_interest(s, c);
}

static void send_msg(server_t *s, weft__conn_t *c, const uint8_t *msg, size_t len) {
  send_msg2(s, c, msg, len, NULL, 0);
}

/* A protocol message: the bytes, then their tag (coord_proto.h). Everything after the
 * handshake goes out this way; only the handshake's own bytes use send_msg directly. digest:
 * the payload's (weft__coord_digest), computed once when the message goes to many members. */
static void send_sealed_digest(server_t *s, weft__conn_t *c, const uint8_t *msg, size_t len,
                               const uint8_t digest[WEFT__COORD_DIGEST_LEN]) {
  uint8_t tag[WEFT__COORD_TAG_LEN];
  if (c->dead || c->broken) return;
  weft__coord_seal_digest(&c->session.tx, msg, digest, tag);
  send_msg2(s, c, msg, len, tag, sizeof tag); /* one write: see weft__conn_send2 */
}

static void send_sealed(server_t *s, weft__conn_t *c, const uint8_t *msg, size_t len) {
  uint8_t digest[WEFT__COORD_DIGEST_LEN];
  weft__coord_digest(msg, len, digest);
  send_sealed_digest(s, c, msg, len, digest);
}

/* ERROR, then close once it is out: the peer learns why. */
static void send_error_and_close(server_t *s, weft__conn_t *c, const weft__coord_error_t *e) {
  uint8_t buf[WEFT__COORD_HDR_LEN + 4 + WEFT__COORD_TEXT_LEN + 16];
  size_t len = weft__coord_encode_error(buf, sizeof buf, e);
  c->member_id = 0;
  if (len > 0) send_sealed(s, c, buf, len);
  c->closing = true;
  c->deadline = s->now + CLOSING_S;
  if (!c->dead && !c->broken && !weft__conn_has_output(c)) close_conn(s, c);
}

/* --- membership events to the wire --------------------------------------------------------- */

static void on_event(void *user, const weft__mship_event_t *ev) {
  server_t *s = user;
  uint8_t small[WEFT__COORD_HDR_LEN + 256];
  uint8_t *msg = small;
  size_t len = 0;
  switch (ev->kind) {
  case WEFT__MSHIP_CLOSE: /* the verdict, then the close; its EOF is not reported again */
  case WEFT__MSHIP_ERROR:
    for (size_t i = 0; i < ev->num_to; i++) send_error_and_close(s, ev->to[i].peer, &ev->u.error);
    return;
  case WEFT__MSHIP_WELCOME:
    len = weft__coord_encode_welcome(small, sizeof small, &ev->u.welcome);
    break;
  case WEFT__MSHIP_REVOKE:
    len = weft__coord_encode_revoke(small, sizeof small, WEFT__COORD_REVOKE, &ev->u.revoke);
    break;
  case WEFT__MSHIP_PROGRESS_QUERY:
    len = weft__coord_encode_progress(small, sizeof small, WEFT__COORD_PROGRESS_QUERY, &ev->u.progress);
    break;
  case WEFT__MSHIP_REACH_QUERY: {
    size_t cap = WEFT__COORD_HDR_LEN + 16 + 4 * (size_t)ev->u.reach.n;
    msg = cap > sizeof small ? malloc(cap) : small;
    if (msg != NULL) len = weft__coord_encode_reach(msg, cap, WEFT__COORD_REACH_QUERY, &ev->u.reach);
    break;
  }
  case WEFT__MSHIP_NO_CHANGE:
    len = weft__coord_encode_epoch_ref(small, sizeof small, WEFT__COORD_NO_CHANGE,
                                       ev->u.epoch_ref);
    break;
  case WEFT__MSHIP_JOINERS:
    len = weft__coord_encode_joiners(small, sizeof small, &ev->u.joiners);
    break;
  case WEFT__MSHIP_EPOCH: {
    size_t cap = weft__coord_epoch_wire_len(ev->u.epoch);
    msg = malloc(cap);
    if (msg != NULL) len = weft__coord_encode_epoch(msg, cap, ev->u.epoch);
    break;
  }
  }
  if (len == 0) {
    weft__clog_error("cannot encode a message of kind %d (out of memory?)", (int)ev->kind);
  } else {
    uint8_t digest[WEFT__COORD_DIGEST_LEN];
    weft__coord_digest(msg, len, digest); /* once, however many members it goes to */
    for (size_t i = 0; i < ev->num_to; i++) send_sealed_digest(s, ev->to[i].peer, msg, len, digest);
  }
  if (msg != small) free(msg);
}

static void on_log(void *user, const char *line) {
  (void)user;
  weft__clog("%s", line);
}

/* --- reading ------------------------------------------------------------------------------- */

/* The connection ended or misbehaved: its member (if any) crashed. */
static void lost(server_t *s, weft__conn_t *c, const char *why) {
  uint64_t id = c->member_id;
  if (id == 0 && c->state == WEFT__CONN_AUTH)
    weft__clog("connection %s closed during authentication: %s", c->peer, why);
  else if (id == 0 && c->state == WEFT__CONN_HELLO) /* authenticated, broke the protocol before HELLO */
    weft__clog_error("connection %s closed before HELLO: %s", c->peer, why);
  close_conn(s, c);
  if (id != 0) weft__mship_fail(s->m, id, WEFT__FAIL_CRASH, why, s->now);
}

/* AUTH: collect the response; verify; answer with the server MAC. false: connection closed. */
static bool read_auth(server_t *s, weft__conn_t *c) {
  while (c->resp_got < sizeof c->resp) {
    ssize_t n = recv(c->fd, c->resp + c->resp_got, sizeof c->resp - c->resp_got, MSG_DONTWAIT);
    if (n > 0) {
      c->resp_got += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    lost(s, c, n == 0 ? "closed" : strerror(errno));
    return false;
  }
  uint8_t mac[WEFT__AUTH_MAC_LEN];
  if (!weft__auth_check_response(&s->o->key, WEFT__AUTH_ROLE_COORD, c->nonce_s, c->resp,
                                 sizeof c->resp, mac)) {
    weft__clog_error("authentication failed from %s (wrong or missing job token)", c->peer);
    weft__auth_send_reject(c->fd);
    close_conn(s, c);
    return false;
  }
  weft__auth_nonces_t nonces;
  memcpy(nonces.nonce_s, c->nonce_s, sizeof nonces.nonce_s);
  memcpy(nonces.nonce_c, c->resp, sizeof nonces.nonce_c);
  weft__coord_session_init(&c->session, &s->o->key, &nonces, true);
  c->reader.session = &c->session;
  c->state = WEFT__CONN_HELLO;
  send_msg(s, c, mac, sizeof mac);
  return !c->dead && !c->broken;
}

/* The first message after authentication decoded (ok) or not. false: refused as malformed (the
 * connection is closing). Otherwise the connection counts as a member's from now on: the state
 * machine may send WELCOME and EPOCH to it during the call that follows. */
static bool first_message(server_t *s, weft__conn_t *c, bool ok, const char *what) {
  if (!ok) {
    weft__coord_error_t err = {.code = WEFT_ERR_PROTOCOL};
    snprintf(err.text, sizeof err.text, "malformed %s", what);
    weft__clog_error("malformed %s from %s", what, c->peer);
    send_error_and_close(s, c, &err);
    return false;
  }
  c->state = WEFT__CONN_MEMBER;
  c->deadline = 0;
  s->n_pending--;
  return true;
}

static void on_hello(server_t *s, weft__conn_t *c, const uint8_t *p, size_t len) {
  weft__coord_hello_t h;
  weft__coord_error_t err = {0};
  if (!first_message(s, c, weft__coord_decode_hello(p, len, &h), "HELLO")) return;
  uint64_t id = 0;
  if (weft__mship_join(s->m, &h, c, s->now, &id, &err) != WEFT_SUCCESS) {
    weft__clog_error("rejected HELLO from %s (rank %d, host %s pid %u): %s", c->peer,
                     (int)h.rank_hint, h.host, (unsigned)h.pid, err.text);
    send_error_and_close(s, c, &err);
    return;
  }
  c->member_id = id;
}

/* REJOIN: a member back on a new connection (membership.h). Its old connection, if this
 * coordinator still has one, is forgotten without failing the member: its close is not news. */
static void on_rejoin(server_t *s, weft__conn_t *c, const uint8_t *p, size_t len) {
  weft__coord_rejoin_t rj;
  weft__coord_error_t err = {0};
  if (!first_message(s, c, weft__coord_decode_rejoin(p, len, &rj), "REJOIN")) return;
  void *old = NULL;
  if (weft__mship_rejoin(s->m, &rj, c, s->now, &old, &err) != WEFT_SUCCESS) {
    weft__clog("refused REJOIN from %s (member %llu, epoch %llu, host %s pid %u): %s", c->peer,
               (unsigned long long)rj.member_id, (unsigned long long)rj.epoch, rj.hello.host,
               (unsigned)rj.hello.pid, err.text);
    send_error_and_close(s, c, &err);
    return;
  }
  c->member_id = rj.member_id;
  if (old != NULL && old != c) {
    weft__conn_t *o = old;
    o->member_id = 0;
    close_conn(s, o);
  }
}

/* One message from an authenticated connection. */
static void on_message(server_t *s, weft__conn_t *c, uint8_t type, const uint8_t *p, size_t len) {
  if (c->state == WEFT__CONN_HELLO) {
    if (type == WEFT__COORD_HELLO) {
      on_hello(s, c, p, len);
      return;
    }
    if (type == WEFT__COORD_REJOIN) {
      on_rejoin(s, c, p, len);
      return;
    }
    if (type == WEFT__COORD_HEARTBEAT) return; /* harmless, whatever the client's order */
    weft__clog_error("connection %s sent message type %u before HELLO", c->peer, type);
    close_conn(s, c);
    return;
  }
  if (c->member_id == 0) return; /* after LEAVE or an ERROR: only the close is left */
  weft__mship_heard(s->m, c->member_id, s->now);
  char why[96];
  switch (type) {
  case WEFT__COORD_HEARTBEAT:
    return;
  case WEFT__COORD_RECOVER:
  case WEFT__COORD_SHRINK: {
    uint64_t epoch;
    if (!weft__coord_decode_epoch_ref(p, len, &epoch)) break;
    weft__mship_recover(s->m, c->member_id, epoch, type == WEFT__COORD_RECOVER, s->now);
    return;
  }
  case WEFT__COORD_REPORT: {
    weft__coord_revoke_t r;
    if (!weft__coord_decode_revoke(p, len, &r)) break;
    weft__suspect_report(s->suspect, c->member_id, &r, s->now);
    return;
  }
  case WEFT__COORD_STALL: {
    weft__coord_stall_t st;
    if (!weft__coord_decode_stall(p, len, &st)) break;
    weft__stall_report(s->stall, c->member_id, &st, s->now);
    return;
  }
  case WEFT__COORD_PROGRESS: {
    weft__coord_progress_t a;
    if (!weft__coord_decode_progress(p, len, WEFT__COORD_PROGRESS, &a)) break;
    weft__stall_answer(s->stall, c->member_id, &a, s->now);
    return;
  }
  case WEFT__COORD_REACH: {
    weft__coord_reach_t a;
    if (!weft__coord_decode_reach(p, len, WEFT__COORD_REACH, &a)) break;
    weft__reach_answer(s->reach, c->member_id, &a, s->now);
    return;
  }
  case WEFT__COORD_CARD: {
    const uint8_t *card;
    uint16_t card_len;
    if (!weft__coord_decode_card(p, len, &card, &card_len)) break;
    if (!weft__mship_set_card(s->m, c->member_id, card, card_len)) {
      lost(s, c, "coordinator out of memory for its card");
      return;
    }
    return;
  }
  case WEFT__COORD_LEAVE: {
    uint64_t id = c->member_id;
    c->member_id = 0;
    c->closing = true;
    c->deadline = s->now + CLOSING_S;
    weft__mship_fail(s->m, id, WEFT__FAIL_LEFT, "left cleanly", s->now);
    return;
  }
  default:
    break;
  }
  snprintf(why, sizeof why, "protocol violation: unexpected or malformed message type %u", type);
  weft__clog_error("connection %s (member %llu): %s", c->peer,
                   (unsigned long long)c->member_id, why);
  lost(s, c, why);
}

static void on_readable(server_t *s, weft__conn_t *c) {
  if (c->state == WEFT__CONN_AUTH && !read_auth(s, c)) return;
  if (c->state == WEFT__CONN_AUTH) return; /* response incomplete */
  for (int k = 0; k < MSGS_PER_WAKEUP && !c->dead && !c->broken; k++) {
    char err[128];
    int r = weft__coord_reader_step(&c->reader, c->fd, err, sizeof err);
    if (r == 0) return;
    if (r < 0) {
      char why[160];
      if (strstr(err, "closed") != NULL)
        snprintf(why, sizeof why, "closed its connection without LEAVE (crashed?)");
      else
        snprintf(why, sizeof why, "lost its connection: %s", err);
      lost(s, c, why);
      return;
    }
    on_message(s, c, c->reader.h.type, c->reader.payload, c->reader.h.length);
    reap_broken(s);
  }
}

/* --- accepting ----------------------------------------------------------------------------- */

/* Out of file descriptors: the listener stays readable, so take the connection with the spare
 * descriptor and drop it rather than spin. */
static void shed_one(server_t *s) {
  if (s->spare_fd >= 0) close(s->spare_fd);
  int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  weft__clog_error("out of file descriptors: dropped a new connection");
}

static void on_accept(server_t *s) {
  for (int k = 0; k < MAX_EVENTS; k++) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) shed_one(s);
      return; /* EAGAIN, or a transient error: the next wakeup retries */
    }
    if (s->n_pending >= MAX_PENDING) {
      close(fd);
      weft__clog("too many unauthenticated connections (%d): dropped one", MAX_PENDING);
      continue;
    }
    weft__conn_t *c = calloc(1, sizeof *c);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (c == NULL || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      free(c);
      close(fd);
      continue;
    }
    weft__sock_tune(fd);
    c->fd = fd;
    c->state = WEFT__CONN_AUTH;
    c->deadline = s->now + HANDSHAKE_S;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_pending++;
    weft__conn_describe_peer(c);
    uint8_t challenge[WEFT__AUTH_CHALLENGE_LEN];
    weft__auth_make_challenge(WEFT__AUTH_ROLE_COORD, c->nonce_s, challenge);
    send_msg(s, c, challenge, sizeof challenge);
    reap_broken(s);
  }
}

/* --- timers -------------------------------------------------------------------------------- */

static void check_deadlines(server_t *s) {
  for (weft__conn_t *c = s->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->deadline == 0 || s->now < c->deadline) continue;
    if (!c->closing)
      weft__clog_error("connection %s did not complete the handshake in %.0f s", c->peer,
                       HANDSHAKE_S);
    close_conn(s, c);
  }
}

static void send_heartbeats(server_t *s) {
  uint8_t hb[WEFT__COORD_HDR_LEN];
  size_t len = weft__coord_encode_empty(hb, sizeof hb, WEFT__COORD_HEARTBEAT);
  for (weft__conn_t *c = s->conns; c != NULL; c = c->next)
    /* Only to members: a rank waiting for WELCOME must see WELCOME (or ERROR) first. */
    if (c->state == WEFT__CONN_MEMBER && !c->closing) send_sealed(s, c, hb, len);
  reap_broken(s);
}

/* --- the loop ------------------------------------------------------------------------------ */

static void handle(server_t *s, struct epoll_event *ev) {
  weft__conn_t *c = ev->data.ptr;
  if (c == NULL) {
    on_accept(s);
    return;
  }
  if (c->dead) return;
  if (ev->events & EPOLLOUT) {
    if (!weft__conn_flush(c)) mark_broken(s, c);
    else update_interest(s, c);
    if (c->closing && !c->broken && !weft__conn_has_output(c)) {
      close_conn(s, c);
      return;
    }
  }
  if (!c->dead && !c->broken && (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
    if (c->closing) { /* after LEAVE or ERROR: drain and wait for the peer's close */
      char sink[4096];
      ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) close_conn(s, c);
    } else {
      on_readable(s, c);
    }
  }
  reap_broken(s);
}

static void free_graveyard(server_t *s) {
  while (s->graveyard != NULL) {
    weft__conn_t *c = s->graveyard;
    s->graveyard = c->next;
    weft__conn_free(c);
  }
}

int weft__server_run(const weft__server_opts_t *o, int listen_fd, volatile sig_atomic_t *stop) {
  int rc = 1;
  server_t s = {.o = o, .lfd = listen_fd, .spare_fd = -1};
  weft__mship_config_t mc = {.world_size = o->world_size, .min_size = o->min_size,
                             .heartbeat_timeout = o->heartbeat_timeout};
  mc.recover_timeout = o->recover_timeout;
  s.m = weft__mship_create(&mc, on_event, on_log, &s);
  s.reach = s.m ? weft__reach_create(s.m) : NULL;
  s.stall = s.reach ? weft__stall_create(s.m, s.reach) : NULL;
  s.suspect = s.reach ? weft__suspect_create(s.m, s.reach, o->heartbeat_interval) : NULL;
  s.epfd = epoll_create1(EPOLL_CLOEXEC);
  s.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (s.m == NULL || s.stall == NULL || s.suspect == NULL || s.epfd < 0 || epoll_ctl(s.epfd, EPOLL_CTL_ADD, listen_fd, &lev) != 0) {
    weft__clog_error("cannot start the event loop: %s",
                     s.m == NULL ? "bad membership settings or out of memory" : strerror(errno));
    goto out;
  }
  s.now = weft__now();
  double next_heartbeat = s.now + o->heartbeat_interval, done_since = 0;
  while (!*stop) {
    double wait = WEFT__MIN(TICK_S, next_heartbeat - s.now);
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(s.epfd, evs, MAX_EVENTS, wait > 0 ? (int)(wait * 1000) + 1 : 0);
    if (n < 0 && errno != EINTR) {
      weft__clog_error("epoll_wait: %s", strerror(errno));
      goto out;
    }
    s.now = weft__now();
    for (int i = 0; i < n; i++) handle(&s, &evs[i]);
    check_deadlines(&s);
    if (s.now >= next_heartbeat) {
      send_heartbeats(&s);
      next_heartbeat = s.now + o->heartbeat_interval;
    }
    weft__mship_tick(s.m, s.now);
    weft__stall_tick(s.stall, s.now);
    weft__reach_tick(s.reach, s.now);
    weft__suspect_tick(s.suspect, s.now);
    reap_broken(&s);
    free_graveyard(&s);
    if (o->exit_when_done && weft__mship_done(s.m)) {
      if (done_since == 0) done_since = s.now;
      if (s.now - done_since >= o->linger) {
        weft__clog("every member left or failed and nobody is joining: exiting");
        rc = 0;
        goto out;
      }
    } else {
      done_since = 0;
    }
  }
  weft__clog("stopping on a signal");
  rc = 0;
out:
  while (s.conns != NULL) close_conn(&s, s.conns);
  free_graveyard(&s);
  if (s.epfd >= 0) close(s.epfd);
  if (s.spare_fd >= 0) close(s.spare_fd);
  weft__stall_destroy(s.stall);
  weft__suspect_destroy(s.suspect);
  weft__reach_destroy(s.reach);
  weft__mship_destroy(s.m);
  return rc;
}
