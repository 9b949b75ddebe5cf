/* Full-mesh formation for one epoch (transports/tcp/mesh.c); the wire exchange is in mesh.h.
 *
 * Every connection this rank takes part in is a small state machine, and one poll loop drives
 * all of them at once, dialled and accepted alike:
 *
 *   dial:   WAIT_RETRY -> CONNECTING -> READ_CHALLENGE -> WRITE_RESPONSE -> READ_SERVER_MAC
 *           -> WRITE_HELLO -> READ_ACK -> DONE
 *   accept: WRITE_CHALLENGE -> READ_RESPONSE -> WRITE_MAC -> READ_HELLO -> WRITE_ACK -> DONE
 *
 * Why one loop: with blocking handshakes done one peer at a time, rank i finishing depends on
 * rank i-1 finishing, a chain as long as the job. Here every handshake proceeds as soon as its
 * bytes arrive, so formation takes about one round trip plus the slowest rank's start-up.
 *
 * Failure policy. A dial refused (the peer's listener is not up or is gone) is retried every
 * RETRY_S until the deadline. One attempt -- the TCP connect and the peer's auth challenge, the
 * part a dead address or a dropped link stalls -- is bounded by WEFT_CONNECT_TIMEOUT and then
 * retried, so a SYN lost once costs that bound, not the whole deadline, and a peer that never
 * answers is named with its address and the attempts made. Past the challenge the peer is alive
 * and the handshake is one round trip more: the deadline bounds it (a redial could not take the
 * slot the acceptor may already have reserved for the first one). Anything our own dial learns that cannot get better by waiting (the
 * peer fails auth, rejects our hello, answers with an ACK not signed by the member we dialled,
 * or hangs up mid-handshake) fails the whole mesh at once.
 * On the accept side nothing a connecting party does can fail the mesh: an unauthenticated,
 * malformed, duplicate, wrong-epoch, unsigned or falsely signed (an impostor holding the token)
 * or idle connection is answered (where it got that far),
 * logged, counted and closed, and accepting goes on. An accepted connection that has not answered
 * the challenge within SILENT_ACCEPT_S is dropped (a real peer answers within a round trip; a
 * stray that filled the listen backlog between epochs would otherwise hold its place for the
 * whole handshake limit), one that answered gets ACCEPT_HANDSHAKE_S in all, and at most
 * MAX_PENDING are held: when full, the oldest silent one makes room for the newcomer, so strays
 * can neither exhaust fds nor keep real peers out. A connection still in its handshake when a
 * formation ends waits in the stash for the next one (it may be for a communicator made next),
 * but never longer than WEFT_CONNECT_TIMEOUT from its accept: a dialer that gave up, or a
 * reachability probe, would otherwise hold an fd for as long as the process lives.
 * Everything is bounded by the caller's deadline; at the deadline the error names the lowest
 * rank still missing and what it was waiting for.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transports/tcp/mesh.h"
#include "core/config.h"
#include "core/wire.h"

#define RETRY_S 0.025
#define ACCEPT_HANDSHAKE_S 10.0
#define SILENT_ACCEPT_S 3.0
#define MAX_PENDING 1024
#define ACCEPTS_PER_WAKE 64
#define STASH_S 60.0 /* how long a connection for another communicator is kept */
#define SLOT_RESERVED (-2) /* fds[] entry: hello accepted, our ACK not yet written */

enum state {
  D_WAIT_RETRY,
  D_CONNECTING,
  D_READ_CHALLENGE,
  D_WRITE_RESPONSE,
  D_READ_SERVER_MAC,
  D_WRITE_HELLO,
  D_READ_ACK,
  A_WRITE_CHALLENGE,
  A_READ_RESPONSE,
  A_WRITE_MAC,
  A_READ_HELLO,
  A_WRITE_ACK,
  A_KEPT, /* hello for another communicator of the epoch: waits in the stash, unanswered */
  C_DONE,
  C_DEAD,
};

typedef struct {
  int fd;
  enum state state;
  int peer, sock_index; /* dial: the target; accept: known once the hello validated */
  int slot;             /* accept: reserved fds[] index while writing the ACK, else -1 */
  double until;         /* dial WAIT_RETRY: retry time; accept: handshake expiry */
  int last_errno;       /* dial: why the last connect attempt failed */
  int attempts;         /* dial: connect attempts made */
  double attempt_until; /* dial: the current attempt's bound (WEFT_CONNECT_TIMEOUT) */
  double born;          /* accept: when it was accepted (bounds its time in the stash) */
  bool suspected;       /* dial: reported unreachable (args->unreachable) */
  int io_errno;         /* last failed transfer: errno, 0 for EOF */
  size_t off, want;     /* progress of the transfer the state is doing */
  uint8_t buf[WEFT__PEER_HELLO_LEN]; /* the largest message of the handshake */
  uint8_t nonce_s[WEFT__AUTH_NONCE_LEN];
  uint8_t response[WEFT__AUTH_RESPONSE_LEN]; /* dial: kept to check the server's MAC; both: nonce_c */
  uint8_t sent[WEFT__PEER_HELLO_BODY_LEN];   /* dial: our hello's body, which the ACK signs */
  weft__crypt_kx_t kx;                       /* dial, WEFT_ENCRYPT: our ephemeral pair until the ACK */
  weft__peer_hello_t hello;                  /* A_KEPT: what it asked for */
} conn_t;

typedef struct {
  const weft__auth_key_t *key;
  const weft__identity_t *self;
  uint64_t epoch, comm_id;
  weft__mesh_stash_t *stash;
  const bool *serve;
  bool encrypt;
  weft__crypt_keys_t *keys;
  int rank, size, nsocks;
  const weft__mesh_peer_t *peers;
  int *fds;
  double connect_timeout;
  int dials_done, accepts_done, rejected;
  weft_result_t fatal;
  char *err;
  size_t errlen;
  char why[256]; /* the text of the last refusal that needed formatting */
} mesh_t;

static uint32_t our_flags(const mesh_t *m) { return m->encrypt ? WEFT__PEER_FLAG_ENCRYPT : 0; }

/* A refusal: unsigned (see mesh.h). */
static void encode_ack(const mesh_t *m, uint8_t out[WEFT__PEER_ACK_LEN], uint32_t status) {
  weft__peer_ack_make(NULL, NULL, NULL, NULL, status, our_flags(m), NULL, out);
}

/* Why two ranks' WEFT_ENCRYPT differ, for the error both report. */
static const char *encrypt_mismatch(mesh_t *m, int peer, uint32_t peer_flags) {
  snprintf(m->why, sizeof m->why, "WEFT_ENCRYPT mismatch: peer rank %d has WEFT_ENCRYPT=%d, this rank (%d) has "
           "WEFT_ENCRYPT=%d; every rank of a job must use the same setting (never falls back to plaintext)",
           peer, (peer_flags & WEFT__PEER_FLAG_ENCRYPT) ? 1 : 0, m->rank, m->encrypt ? 1 : 0);
  return m->why;
}

static void begin_io(conn_t *c, enum state s, size_t want) {
  c->state = s;
  c->off = 0;
  c->want = want;
}

/* Moves the current transfer forward: 1 complete, 0 would block, -1 failed (io_errno set). */
static int io_step(conn_t *c, bool writing) {
  while (c->off < c->want) {
    ssize_t n = writing ? send(c->fd, c->buf + c->off, c->want - c->off, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : recv(c->fd, c->buf + c->off, c->want - c->off, MSG_DONTWAIT);
    if (n > 0) {
      c->off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    c->io_errno = n == 0 ? 0 : errno;
    return -1;
  }
  return 1;
}

static const char *io_text(const conn_t *c) {
  return c->io_errno == 0 ? "connection closed" : strerror(c->io_errno);
}

static void close_conn(conn_t *c, enum state s) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->state = s;
}

/* ---- dial side ---------------------------------------------------------------------------- */

static void dial_fail(mesh_t *m, conn_t *c, weft_result_t rc, const char *fmt, const char *what) {
  char addr[64], why[256];
  weft__addr_format(&m->peers[c->peer].addr, addr, sizeof addr);
  snprintf(why, sizeof why, fmt, what);
  close_conn(c, C_DEAD);
  if (m->fatal != WEFT_SUCCESS) return; /* the first failure is the one reported */
  m->fatal = rc;
  snprintf(m->err, m->errlen, "mesh epoch %" PRIu64 " rank %d: peer rank %d (%s) sock %d: %s",
           m->epoch, m->rank, c->peer, addr, c->sock_index, why);
}

static void dial_retry(conn_t *c, int e) {
  close_conn(c, D_WAIT_RETRY);
  c->last_errno = e;
  c->until = weft__now() + RETRY_S;
}

static void dial_start(mesh_t *m, conn_t *c) {
  int e = weft__sock_connect_start(&m->peers[c->peer].addr, &c->fd);
  if (e == EMFILE || e == ENFILE) { /* waiting will not free descriptors: say which limit */
    char why[128];
    dial_fail(m, c, WEFT_ERR_TRANSPORT, "%s", weft__sock_nofile_text(e, why, sizeof why));
    return;
  }
  if (e != 0) {
    dial_retry(c, e);
    return;
  }
  c->state = D_CONNECTING;
  c->attempts++;
  c->attempt_until = weft__now() + m->connect_timeout;
}

static void dial_advance(mesh_t *m, conn_t *c) {
  weft__peer_hello_t hello;
  int r;
  for (;;) {
    switch (c->state) {
    case D_CONNECTING:
      r = weft__sock_connect_result(c->fd);
      if (r == EINPROGRESS) return;
      if (r != 0) {
        dial_retry(c, r);
        return;
      }
      weft__sock_tune(c->fd);
      begin_io(c, D_READ_CHALLENGE, WEFT__AUTH_CHALLENGE_LEN);
      break;
    case D_READ_CHALLENGE:
      if ((r = io_step(c, false)) == 0) return;
      if (r < 0) { /* nothing exchanged yet: as good as refused (e.g. the peer shed load) */
        dial_retry(c, c->io_errno ? c->io_errno : ECONNRESET);
        return;
      }
      if (!weft__auth_parse_challenge(c->buf, WEFT__AUTH_CHALLENGE_LEN, WEFT__AUTH_ROLE_PEER,
                                      c->nonce_s)) {
        dial_fail(m, c, WEFT_ERR_UNAUTHORIZED, "%s",
                  "not a weft peer endpoint (bad auth challenge or role)");
        return;
      }
      weft__auth_make_response(m->key, WEFT__AUTH_ROLE_PEER, c->nonce_s, c->response);
      memcpy(c->buf, c->response, WEFT__AUTH_RESPONSE_LEN);
      begin_io(c, D_WRITE_RESPONSE, WEFT__AUTH_RESPONSE_LEN);
      break;
    case D_WRITE_RESPONSE:
      if ((r = io_step(c, true)) == 0) return;
      if (r < 0) {
        dial_fail(m, c, WEFT_ERR_PEER_LOST, "sending auth response: %s", io_text(c));
        return;
      }
      begin_io(c, D_READ_SERVER_MAC, WEFT__AUTH_MAC_LEN);
      break;
    case D_READ_SERVER_MAC:
      if ((r = io_step(c, false)) == 0) return;
      if (r < 0) { /* gone before its verdict: it failed or gave up forming this epoch */
        dial_fail(m, c, WEFT_ERR_PEER_LOST, "closed during the auth handshake (%s)", io_text(c));
        return;
      }
      if (weft__auth_is_reject(c->buf, WEFT__AUTH_MAC_LEN)) {
        dial_fail(m, c, WEFT_ERR_UNAUTHORIZED, "%s", "it rejected our auth response: wrong job token");
        return;
      }
      if (!weft__auth_check_server_mac(m->key, WEFT__AUTH_ROLE_PEER, c->response, c->nonce_s,
                                       c->buf, WEFT__AUTH_MAC_LEN)) {
        dial_fail(m, c, WEFT_ERR_UNAUTHORIZED, "%s", "it does not know the job token (bad MAC)");
        return;
      }
      hello = (weft__peer_hello_t){.epoch = m->epoch,
                                   .member_id = m->peers[m->rank].member_id,
                                   .rank = (uint32_t)m->rank,
                                   .sock_index = (uint32_t)c->sock_index,
                                   .size = (uint32_t)m->size,
                                   .comm_id = m->comm_id,
                                   .to_member_id = m->peers[c->peer].member_id,
                                   .to_rank = (uint32_t)c->peer,
                                   .flags = (uint8_t)our_flags(m)};
      if (m->encrypt) {
        weft__crypt_kx_new(&c->kx);
        memcpy(hello.kx_pk, c->kx.pk, sizeof hello.kx_pk);
      }
      weft__peer_hello_encode(c->buf, &hello);
      memcpy(c->sent, c->buf, sizeof c->sent);
      if (!weft__peer_hello_sign(m->self, c->nonce_s, c->response, c->buf)) {
        dial_fail(m, c, WEFT_ERR_INTERNAL, "%s", "cannot sign our PEER_HELLO (libsodium)");
        return;
      }
      begin_io(c, D_WRITE_HELLO, WEFT__PEER_HELLO_LEN);
      break;
    case D_WRITE_HELLO:
      if ((r = io_step(c, true)) == 0) return;
      if (r < 0) {
        dial_fail(m, c, WEFT_ERR_PEER_LOST, "sending PEER_HELLO: %s", io_text(c));
        return;
      }
      begin_io(c, D_READ_ACK, WEFT__PEER_ACK_LEN);
      break;
    case D_READ_ACK: {
      if ((r = io_step(c, false)) == 0) return;
      if (r < 0) {
        dial_fail(m, c, WEFT_ERR_PEER_LOST, "waiting for PEER_ACK: %s", io_text(c));
        return;
      }
      uint32_t status, flags;
      uint8_t kx_pk[WEFT__CRYPT_PK_LEN];
      if (!weft__peer_ack_decode(c->buf, &status, &flags, kx_pk)) {
        dial_fail(m, c, WEFT_ERR_PROTOCOL, "%s", "malformed PEER_ACK");
        return;
      }
      if (flags != our_flags(m)) {
        dial_fail(m, c, WEFT_ERR_MISMATCH, "%s", encrypt_mismatch(m, c->peer, flags));
        return;
      }
      if (status != WEFT_SUCCESS) {
        dial_fail(m, c, (weft_result_t)status, "it rejected our PEER_HELLO: %s",
                  weft_strerror((weft_result_t)status));
        return;
      }
      if (!weft__peer_ack_verify(m->peers[c->peer].identity, c->nonce_s, c->response, c->sent, c->buf)) {
        /* Whoever answers at that address knows the job token but is not the member we dialled. */
        snprintf(m->why, sizeof m->why, "its PEER_ACK is not signed by member %" PRIu64 "'s identity "
                 "key: not the rank we dialled (an impostor holding the job token at its address?)",
                 m->peers[c->peer].member_id);
        dial_fail(m, c, WEFT_ERR_UNAUTHORIZED, "%s", m->why);
        return;
      }
      if (m->encrypt && !weft__crypt_kx_keys(&c->kx, true, kx_pk, &m->keys[c->peer * m->nsocks + c->sock_index])) {
        dial_fail(m, c, WEFT_ERR_PROTOCOL, "%s", "its PEER_ACK carries an unusable key exchange key");
        return;
      }
      m->fds[c->peer * m->nsocks + c->sock_index] = c->fd;
      c->fd = -1;
      c->state = C_DONE;
      m->dials_done++;
      return;
    }
    default:
      return;
    }
  }
}

/* ---- accept side -------------------------------------------------------------------------- */

static void reject(mesh_t *m, conn_t *c, uint32_t ack_status, const char *why) {
  if (ack_status != WEFT_SUCCESS && c->fd >= 0) {
    /* Best effort, never waited for: the dialer learns why instead of seeing a bare close. */
    uint8_t ack[WEFT__PEER_ACK_LEN];
    encode_ack(m, ack, ack_status);
    (void)!send(c->fd, ack, sizeof ack, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (c->slot >= 0) m->fds[c->slot] = -1;
  c->slot = -1;
  close_conn(c, C_DEAD);
  m->rejected++;
  WEFT__WARN("mesh epoch %" PRIu64 " rank %d: rejected an incoming connection: %s", m->epoch,
             m->rank, why);
}

/* Why the hello c received (in c->buf, decoded into h) cannot take a slot (NULL: it can);
 * *status is the ACK to send. The signature is checked once the claims are known to name a
 * member of this mesh, and before the slot: an impostor is named as one even when the real
 * member already holds the slot. */
static const char *hello_problem(mesh_t *m, const conn_t *c, const weft__peer_hello_t *h, uint32_t *status) {
  *status = WEFT_ERR_MISMATCH;
  if (h->epoch != m->epoch) return "PEER_HELLO for another epoch";
  if (h->comm_id != m->comm_id) return "PEER_HELLO for another communicator";
  if (h->size != (uint32_t)m->size) return "PEER_HELLO with another epoch size";
  if (h->rank >= (uint32_t)m->rank) return "PEER_HELLO from a rank that should not dial us";
  if (m->serve && !m->serve[h->rank]) return "PEER_HELLO from a rank another transport serves";
  if (h->member_id != m->peers[h->rank].member_id) return "PEER_HELLO member id does not match";
  if (h->to_member_id != m->peers[m->rank].member_id || h->to_rank != (uint32_t)m->rank)
    return "PEER_HELLO meant for another member (its to_member_id/to_rank are not ours)";
  *status = WEFT_ERR_UNAUTHORIZED;
  if (!m->peers[h->rank].has_identity) {
    snprintf(m->why, sizeof m->why, "PEER_HELLO from rank %u (member %" PRIu64 "), whose card "
             "carries no identity key to check it with", h->rank, h->member_id);
    return m->why;
  }
  if (!weft__peer_hello_verify(m->peers[h->rank].identity, c->nonce_s, c->response, c->buf)) {
    snprintf(m->why, sizeof m->why, "PEER_HELLO claims rank %u (member %" PRIu64 ") but is not "
             "signed by that member's identity key: an impostor holding the job token, refused",
             h->rank, h->member_id);
    return m->why;
  }
  *status = WEFT_ERR_MISMATCH;
  if (h->flags != our_flags(m)) { /* signed by the member itself: a setting, not a stray; fail now */
    encrypt_mismatch(m, (int)h->rank, h->flags);
    if (m->fatal == WEFT_SUCCESS) {
      m->fatal = WEFT_ERR_MISMATCH;
      snprintf(m->err, m->errlen, "mesh epoch %" PRIu64 " rank %d: %s", m->epoch, m->rank, m->why);
    }
    return m->why;
  }
  if (h->sock_index >= (uint32_t)m->nsocks) return "PEER_HELLO socket index out of range";
  if (m->fds[h->rank * (uint32_t)m->nsocks + h->sock_index] != -1) {
    *status = WEFT_ERR_PROTOCOL;
    return "duplicate PEER_HELLO for a connected slot";
  }
  return NULL;
}

/* The hello is valid: the connection takes its slot and our ACK, signed over the hello that is
 * still in c->buf, goes out. */
static void take_slot(mesh_t *m, conn_t *c, const weft__peer_hello_t *h) {
  uint8_t hello_body[WEFT__PEER_HELLO_BODY_LEN];
  c->peer = (int)h->rank;
  c->sock_index = (int)h->sock_index;
  c->slot = c->peer * m->nsocks + c->sock_index;
  m->fds[c->slot] = SLOT_RESERVED;
  memcpy(hello_body, c->buf, sizeof hello_body);
  weft__crypt_kx_t kx = {0};
  if (m->encrypt) weft__crypt_kx_new(&kx);
  weft__peer_ack_make(m->self, c->nonce_s, c->response, hello_body, WEFT_SUCCESS, our_flags(m),
                      m->encrypt ? kx.pk : NULL, c->buf);
  if (m->encrypt && !weft__crypt_kx_keys(&kx, false, h->kx_pk, &m->keys[c->slot])) {
    reject(m, c, WEFT_ERR_PROTOCOL, "PEER_HELLO carries an unusable key exchange key");
    return;
  }
  begin_io(c, A_WRITE_ACK, WEFT__PEER_ACK_LEN);
}

/* ---- the stash: connections kept for a later formation ------------------------------------ */

struct weft__mesh_stash {
  conn_t *conns;
  size_t n;
};

weft__mesh_stash_t *weft__mesh_stash_new(void) { return calloc(1, sizeof(weft__mesh_stash_t)); }

void weft__mesh_stash_free(weft__mesh_stash_t *st) {
  if (!st) return;
  for (size_t i = 0; i < st->n; i++) close_conn(&st->conns[i], C_DEAD);
  free(st->conns);
  free(st);
}

/* An authenticated connection whose hello named another communicator of this epoch: it waits,
 * unanswered (its dialer waits for our ACK), for the formation of that communicator. */
static void keep_for_later(mesh_t *m, conn_t *c, const weft__peer_hello_t *h) {
  c->hello = *h;
  c->state = A_KEPT;
  c->until = weft__now() + STASH_S;
  WEFT__DEBUG("mesh epoch %" PRIu64 " rank %d: kept a connection for communicator %016" PRIx64 " (its rank %u)",
              m->epoch, m->rank, h->comm_id, h->rank);
}

/* Start of a formation: the kept connections join this formation's accepted ones. Those for this
 * communicator take their slot (or are rejected), those of another epoch are closed, those in
 * their handshake go on with a fresh time limit (nobody read them since the last formation). */
static bool stash_take(mesh_t *m, conn_t **acc, size_t *nacc, size_t *cap) {
  weft__mesh_stash_t *st = m->stash;
  double now = weft__now();
  for (size_t i = 0; i < st->n; i++) {
    conn_t *src = &st->conns[i];
    if (src->state == A_KEPT && src->hello.epoch != m->epoch) {
      close_conn(src, C_DEAD);
      continue;
    }
    if (*nacc == *cap) {
      size_t ncap = *cap ? *cap * 2 : 16;
      conn_t *grown = realloc(*acc, ncap * sizeof *grown);
      if (!grown) {
        for (size_t j = i; j < st->n; j++) close_conn(&st->conns[j], C_DEAD);
        st->n = 0;
        return false;
      }
      *acc = grown;
      *cap = ncap;
    }
    conn_t *c = &(*acc)[(*nacc)++];
    *c = *src;
    if (c->state != A_KEPT && now - c->born >= m->connect_timeout) {
      reject(m, c, 0, "its handshake did not complete within WEFT_CONNECT_TIMEOUT (kept from an earlier formation)");
    } else if (c->state != A_KEPT) {
      c->until = WEFT__MIN(now + ACCEPT_HANDSHAKE_S, c->born + m->connect_timeout);
    } else if (c->hello.comm_id == m->comm_id) {
      uint32_t status;
      const char *why = hello_problem(m, c, &c->hello, &status);
      if (why) reject(m, c, status, why);
      else take_slot(m, c, &c->hello);
    }
  }
  st->n = 0;
  return true;
}

/* End of a formation: what is still open is kept for the next one (closed when there is no
 * stash or no memory). */
static void stash_keep(mesh_t *m, conn_t *acc, size_t nacc) {
  weft__mesh_stash_t *st = m->stash;
  size_t live = 0;
  for (size_t i = 0; i < nacc; i++) live += acc[i].state != C_DONE && acc[i].state != C_DEAD;
  conn_t *room = st && live ? realloc(st->conns, (st->n + live) * sizeof *room) : NULL;
  if (room) st->conns = room;
  for (size_t i = 0; i < nacc; i++) {
    conn_t *c = &acc[i];
    if (c->state == C_DONE || c->state == C_DEAD) continue;
    if (room && c->slot < 0) st->conns[st->n++] = *c;
    else close_conn(c, C_DEAD);
  }
}

static void accept_advance(mesh_t *m, conn_t *c) {
  weft__peer_hello_t h;
  uint8_t mac_s[WEFT__AUTH_MAC_LEN];
  uint32_t status;
  const char *why;
  int r;
  for (;;) {
    switch (c->state) {
    case A_WRITE_CHALLENGE:
      if ((r = io_step(c, true)) == 0) return;
      if (r < 0) {
        reject(m, c, 0, "closed before our auth challenge went out");
        return;
      }
      begin_io(c, A_READ_RESPONSE, WEFT__AUTH_RESPONSE_LEN);
      break;
    case A_READ_RESPONSE:
      if ((r = io_step(c, false)) == 0) return;
      if (r < 0) {
        reject(m, c, 0, "closed without answering the auth challenge");
        return;
      }
      if (!weft__auth_check_response(m->key, WEFT__AUTH_ROLE_PEER, c->nonce_s, c->buf,
                                     WEFT__AUTH_RESPONSE_LEN, mac_s)) {
        weft__auth_send_reject(c->fd);
        reject(m, c, 0, "bad auth response (wrong job token or not a weft peer)");
        return;
      }
      memcpy(c->response, c->buf, WEFT__AUTH_RESPONSE_LEN); /* nonce_c: both signatures cover it */
      memcpy(c->buf, mac_s, sizeof mac_s);
      c->until += ACCEPT_HANDSHAKE_S - SILENT_ACCEPT_S; /* it answered: the full handshake limit */
      begin_io(c, A_WRITE_MAC, WEFT__AUTH_MAC_LEN);
      break;
    case A_WRITE_MAC:
      if ((r = io_step(c, true)) == 0) return;
      if (r < 0) {
        reject(m, c, 0, "closed during auth");
        return;
      }
      begin_io(c, A_READ_HELLO, WEFT__PEER_HELLO_LEN);
      break;
    case A_READ_HELLO:
      if ((r = io_step(c, false)) == 0) return;
      if (r < 0) {
        reject(m, c, 0, "closed before PEER_HELLO");
        return;
      }
      if (!weft__peer_hello_decode(c->buf, WEFT__PEER_HELLO_BODY_LEN, &h)) {
        reject(m, c, WEFT_ERR_PROTOCOL, "malformed PEER_HELLO");
        return;
      }
      if (h.epoch == m->epoch && h.comm_id != m->comm_id && m->stash) {
        keep_for_later(m, c, &h);
        return;
      }
      if ((why = hello_problem(m, c, &h, &status)) != NULL) {
        reject(m, c, status, why);
        return;
      }
      take_slot(m, c, &h);
      break;
    case A_WRITE_ACK:
      if ((r = io_step(c, true)) == 0) return;
      if (r < 0) {
        reject(m, c, 0, "closed before our PEER_ACK");
        return;
      }
      m->fds[c->slot] = c->fd;
      c->fd = -1;
      c->slot = -1;
      c->state = C_DONE;
      m->accepts_done++;
      return;
    default:
      return;
    }
  }
}

/* Drops the oldest accepted connection that has said nothing yet; false if there is none. */
static bool evict_oldest_silent(mesh_t *m, conn_t *acc, size_t nacc) {
  conn_t *oldest = NULL;
  for (size_t k = 0; k < nacc; k++) {
    conn_t *c = &acc[k];
    bool silent = c->state == A_WRITE_CHALLENGE || (c->state == A_READ_RESPONSE && c->off == 0);
    if (silent && (oldest == NULL || c->until < oldest->until)) oldest = c;
  }
  if (oldest == NULL) return false;
  reject(m, oldest, 0, "silent, and the pending connections are full: making room");
  return true;
}

/* Takes what the listener has queued, up to the pending limit; returns false on a fatal error. */
static bool accept_new(mesh_t *m, int listen_fd, conn_t **acc, size_t *nacc, size_t *cap) {
  for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE) return true; /* strays may be expiring; retry */
      snprintf(m->err, m->errlen, "mesh epoch %" PRIu64 " rank %d: accept: %s", m->epoch,
               m->rank, strerror(errno));
      m->fatal = WEFT_ERR_TRANSPORT;
      return false;
    }
    if (*nacc >= MAX_PENDING && !evict_oldest_silent(m, *acc, *nacc)) {
      close(fd);
      m->rejected++;
      continue;
    }
    if (*nacc >= MAX_PENDING) { /* reuse the evicted entry's place: compaction happens later */
      for (size_t k = 0; k < *nacc; k++)
        if ((*acc)[k].state == C_DEAD) {
          (*acc)[k] = (*acc)[--(*nacc)];
          break;
        }
    }
    if (*nacc == *cap) {
      size_t ncap = *cap ? *cap * 2 : 16;
      conn_t *grown = realloc(*acc, ncap * sizeof *grown);
      if (grown == NULL) {
        close(fd);
        continue;
      }
      *acc = grown;
      *cap = ncap;
    }
    conn_t *c = &(*acc)[(*nacc)++];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->peer = c->slot = -1;
    c->born = weft__now();
    c->until = c->born + SILENT_ACCEPT_S; /* extended once it answers (accept_advance) */
    weft__sock_tune(fd);
    weft__auth_make_challenge(WEFT__AUTH_ROLE_PEER, c->nonce_s, c->buf);
    begin_io(c, A_WRITE_CHALLENGE, WEFT__AUTH_CHALLENGE_LEN);
    accept_advance(m, c);
  }
  return true;
}

/* ---- the loop ----------------------------------------------------------------------------- */

static const char *dial_waiting_for(const conn_t *c, char *buf, size_t len) {
  switch (c->state) {
  case D_WAIT_RETRY:
    snprintf(buf, len, "connect: %s (%d attempts, each bounded by WEFT_CONNECT_TIMEOUT)", strerror(c->last_errno),
             c->attempts);
    break;
  case D_CONNECTING: snprintf(buf, len, "connect: no answer (attempt %d)", c->attempts); break;
  case D_READ_CHALLENGE: snprintf(buf, len, "connected, but no auth challenge from it"); break;
  case D_READ_SERVER_MAC: snprintf(buf, len, "no answer to our auth response"); break;
  case D_READ_ACK: snprintf(buf, len, "no PEER_ACK from it"); break;
  default: snprintf(buf, len, "handshake stalled"); break;
  }
  return buf;
}

static void timeout_error(mesh_t *m, const conn_t *dials, int ndial, double waited) {
  char addr[64], why[160] = "";
  int peer = -1;
  for (int j = 0; j < m->size && peer < 0; j++) {
    if (j == m->rank || (m->serve && !m->serve[j])) continue;
    for (int s = 0; s < m->nsocks && peer < 0; s++) {
      if (m->fds[j * m->nsocks + s] >= 0) continue;
      peer = j;
      if (j < m->rank) snprintf(why, sizeof why, "it never connected to us (sock %d)", s);
      for (int d = 0; d < ndial && j > m->rank; d++)
        if (dials[d].peer == j && dials[d].sock_index == s) dial_waiting_for(&dials[d], why, sizeof why);
    }
  }
  if (peer < 0) return; /* complete after all */
  weft__addr_format(&m->peers[peer].addr, addr, sizeof addr);
  m->fatal = WEFT_ERR_TIMEOUT;
  snprintf(m->err, m->errlen,
           "mesh epoch %" PRIu64 " rank %d: timed out after %.1f s waiting for peer rank %d "
           "(%s): %s", m->epoch, m->rank, waited, peer, addr, why);
}

static short events_for(enum state s) {
  switch (s) {
  case D_CONNECTING:
  case D_WRITE_RESPONSE:
  case D_WRITE_HELLO:
  case A_WRITE_CHALLENGE:
  case A_WRITE_MAC:
  case A_WRITE_ACK:
    return POLLOUT;
  default:
    return POLLIN;
  }
}

weft_result_t weft__mesh_connect(int listen_fd, const weft__auth_key_t *key, const weft__identity_t *self,
                                 uint64_t epoch, int rank, int size, const weft__mesh_peer_t *peers, int nsocks,
                                 double deadline, int *fds, char *err, size_t errlen) {
  weft__mesh_args_t a = {.listen_fd = listen_fd, .key = key, .self = self, .epoch = epoch, .rank = rank, .size = size,
                         .nsocks = nsocks, .peers = peers, .deadline = deadline};
  return weft__mesh_form(&a, fds, err, errlen);
}

weft_result_t weft__mesh_form(const weft__mesh_args_t *args, int *fds, char *err, size_t errlen) {
  int listen_fd = args->listen_fd, rank = args->rank, size = args->size, nsocks = args->nsocks;
  const weft__auth_key_t *key = args->key;
  const weft__mesh_peer_t *peers = args->peers;
  uint64_t epoch = args->epoch;
  double deadline = args->deadline;
  weft__mesh_cancel_fn cancelled = args->cancelled;
  void *ctx = args->cancel_ctx;
  mesh_t m = {.key = key, .self = args->self, .epoch = epoch, .comm_id = args->comm_id, .stash = args->stash, .serve = args->serve,
              .encrypt = args->encrypt, .keys = args->keys,
              .connect_timeout = args->connect_timeout > 0 ? args->connect_timeout : weft__cfg_get(WEFT__CFG_CONNECT_TIMEOUT),
              .rank = rank,
              .size = size, .nsocks = nsocks, .peers = peers, .fds = fds, .fatal = WEFT_SUCCESS, .err = err, .errlen = errlen};
  conn_t *dials = NULL, *acc = NULL;
  size_t nacc = 0, acc_cap = 0, pfd_cap = 0;
  struct pollfd *pfds = NULL;
  conn_t **pfd_conn = NULL; /* pfd_conn[i] owns pfds[i] (the listener's entry has none) */
  double start = weft__now();
  int ndial = 0, expected_accepts = 0;

  if (key == NULL || args->self == NULL || peers == NULL || fds == NULL || size < 1 || nsocks < 1 || rank < 0 ||
      rank >= size || (size_t)size > SIZE_MAX / sizeof(int) / (size_t)nsocks || (args->encrypt && !args->keys)) {
    snprintf(err, errlen, "mesh: invalid arguments (rank %d, size %d, nsocks %d)", rank, size,
             nsocks);
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  for (int i = 0; i < size * nsocks; i++) fds[i] = -1;
  /* A peer without a published key can never prove who it is: say so now, not at the deadline. */
  for (int j = 0; j < size; j++)
    if (j != rank && (!args->serve || args->serve[j]) && !peers[j].has_identity) {
      snprintf(err, errlen, "mesh epoch %" PRIu64 " rank %d: peer rank %d (member %" PRIu64 ") published "
               "no identity key in its card (a weft older than this one?)", epoch, rank, j, peers[j].member_id);
      WEFT__WARN("%s", err);
      return WEFT_ERR_UNAUTHORIZED; /* it cannot prove who it is */
    }

  /* Rank i dials every served j > i and accepts from every served j < i. */
  for (int j = 0; j < size; j++)
    if (j != rank && (!args->serve || args->serve[j])) {
      if (j > rank) ndial += nsocks;
      else expected_accepts += nsocks;
    }
  if (ndial > 0 && (dials = calloc((size_t)ndial, sizeof *dials)) == NULL) {
    m.fatal = WEFT_ERR_NO_MEMORY;
    snprintf(err, errlen, "mesh: out of memory");
    goto fail;
  }
  weft__sock_set_nonblock(listen_fd); /* a stray's RST between poll and accept must not block */
  for (int i = 0, peer = rank; i < ndial; i++) {
    conn_t *c = &dials[i];
    if (i % nsocks == 0)
      do peer++; while (args->serve && !args->serve[peer]);
    c->fd = -1;
    c->slot = -1;
    c->peer = peer;
    c->sock_index = i % nsocks;
    dial_start(&m, c);
    dial_advance(&m, c);
  }
  if (m.stash && !stash_take(&m, &acc, &nacc, &acc_cap)) {
    m.fatal = WEFT_ERR_NO_MEMORY;
    snprintf(err, errlen, "mesh: out of memory");
    goto fail;
  }

  for (;;) {
    double now = weft__now();
    if (m.fatal != WEFT_SUCCESS) goto fail;
    if (m.dials_done == ndial && m.accepts_done == expected_accepts) break;
    if (cancelled && cancelled(ctx, err, errlen)) {
      m.fatal = WEFT_ERR_PEER_LOST;
      goto fail;
    }

    /* Timers: dial retries due, accepted handshakes expired. */
    double next = cancelled ? WEFT__MIN(deadline, now + 0.05) : deadline;
    for (int i = 0; i < ndial; i++) {
      conn_t *c = &dials[i];
      /* An attempt that got no connection or no challenge within WEFT_CONNECT_TIMEOUT: again. */
      if ((c->state == D_CONNECTING || c->state == D_READ_CHALLENGE) && c->attempt_until <= now) {
        WEFT__DEBUG("mesh epoch %" PRIu64 " rank %d: dial %d to rank %d: no %s within WEFT_CONNECT_TIMEOUT "
                    "%.1f s: retrying", epoch, rank, c->attempts, c->peer,
                    c->state == D_CONNECTING ? "connection" : "auth challenge", m.connect_timeout);
        dial_retry(c, ETIMEDOUT);
      }
      if (c->state == D_CONNECTING || c->state == D_READ_CHALLENGE) next = WEFT__MIN(next, c->attempt_until);
      if (c->state != D_WAIT_RETRY) continue;
      if (c->until <= now && now < deadline) {
        dial_start(&m, c);
        dial_advance(&m, c);
      }
      if (c->state == D_WAIT_RETRY) next = WEFT__MIN(next, c->until);
    }
    /* A peer still not reached well into the formation: the membership service hears it now
     * (it may evict it, or this rank) rather than at the deadline; the dials go on. */
    for (int i = 0; i < ndial && args->unreachable && now - start >= args->unreachable_after; i++) {
      conn_t *c = &dials[i];
      if (c->suspected || c->sock_index != 0 || c->state > D_READ_CHALLENGE) continue;
      char addr[64], why[160], waiting[160];
      weft__addr_format(&peers[c->peer].addr, addr, sizeof addr);
      snprintf(why, sizeof why, "mesh: cannot reach rank %d (%s) in %.1f s: %s", c->peer, addr, now - start,
               dial_waiting_for(c, waiting, sizeof waiting));
      c->suspected = true;
      args->unreachable(ctx, c->peer, why);
    }
    if (args->unreachable && now < start + args->unreachable_after) next = WEFT__MIN(next, start + args->unreachable_after);
    size_t live = 0;
    for (size_t i = 0; i < nacc; i++) {
      conn_t *c = &acc[i];
      if (c->state != C_DONE && c->state != C_DEAD && c->until <= now)
        reject(&m, c, 0, "handshake did not finish in time");
      if (c->state != C_DONE && c->state != C_DEAD) {
        next = WEFT__MIN(next, c->until);
        acc[live++] = *c; /* compact: finished connections have handed their fd on */
      }
    }
    nacc = live;
    if (m.fatal != WEFT_SUCCESS) goto fail;
    if (now >= deadline) {
      timeout_error(&m, dials, ndial, now - start);
      if (m.fatal != WEFT_SUCCESS) goto fail;
      break;
    }

    size_t need = 1 + (size_t)ndial + nacc;
    if (need > pfd_cap) {
      struct pollfd *p = realloc(pfds, need * sizeof *p);
      conn_t **o = p ? realloc(pfd_conn, need * sizeof *o) : NULL;
      if (p) pfds = p;
      if (o) pfd_conn = o;
      if (p == NULL || o == NULL) {
        m.fatal = WEFT_ERR_NO_MEMORY;
        snprintf(err, errlen, "mesh: out of memory");
        goto fail;
      }
      pfd_cap = need;
    }
    nfds_t np = 0;
    bool listening = m.accepts_done < expected_accepts;
    if (listening) pfds[np++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
    for (int i = 0; i < ndial; i++) {
      if (dials[i].fd < 0 || dials[i].state == C_DONE) continue;
      pfd_conn[np] = &dials[i];
      pfds[np++] = (struct pollfd){.fd = dials[i].fd, .events = events_for(dials[i].state)};
    }
    for (size_t i = 0; i < nacc; i++) {
      if (acc[i].state == A_KEPT) continue; /* nothing to do with it in this formation */
      pfd_conn[np] = &acc[i];
      pfds[np++] = (struct pollfd){.fd = acc[i].fd, .events = events_for(acc[i].state)};
    }

    double wait_s = next - weft__now();
    int ms = wait_s <= 0 ? 0 : (int)WEFT__MIN(ceil(wait_s * 1000.0), 60000.0);
    int pr = poll(pfds, np, ms);
    if (pr < 0 && errno != EINTR) {
      m.fatal = WEFT_ERR_TRANSPORT;
      snprintf(err, errlen, "mesh epoch %" PRIu64 " rank %d: poll: %s", epoch, rank,
               strerror(errno));
      goto fail;
    }
    if (pr <= 0) continue;

    /* Advance what is ready first: accepting may realloc acc, moving the conns. */
    for (nfds_t i = listening ? 1 : 0; i < np; i++) {
      if (pfds[i].revents == 0) continue;
      conn_t *c = pfd_conn[i];
      if (c->state <= D_READ_ACK)
        dial_advance(&m, c);
      else
        accept_advance(&m, c);
    }
    if (listening && pfds[0].revents != 0 && !accept_new(&m, listen_fd, &acc, &nacc, &acc_cap))
      goto fail;
  }

  stash_keep(&m, acc, nacc); /* connections still talking may be for the next communicator */
  if (m.rejected > 0)
    WEFT__INFO("mesh epoch %" PRIu64 " rank %d: formed; rejected %d stray connection(s)", epoch,
               rank, m.rejected);
  else
    WEFT__DEBUG("mesh epoch %" PRIu64 " rank %d: formed (%d peers x %d sockets%s)", epoch, rank,
                size - 1, nsocks, m.encrypt ? ", encrypted" : "");
  free(dials);
  free(acc);
  free(pfds);
  free(pfd_conn);
  return WEFT_SUCCESS;

fail:
  for (int i = 0; i < ndial; i++) close_conn(&dials[i], C_DEAD);
  stash_keep(&m, acc, nacc);
  /* Connections that completed are already live on the peer's side (its mesh may be done):
   * say goodbye on them, so the peer sees this rank leave the epoch rather than crash. */
  uint8_t bye[WEFT__FRAME_HDR_LEN];
  weft__frame_encode(bye, &(weft__frame_t){.type = WEFT__FRAME_BYE, .epoch = epoch, .src_rank = (uint32_t)rank,
                                           .comm_id = args->comm_id});
  for (int i = 0; i < size * nsocks; i++) {
    if (fds[i] >= 0) {
      uint8_t rec[sizeof bye + WEFT__CRYPT_LEN_LEN + WEFT__CRYPT_TAG_LEN]; /* encrypted: the stream's first record */
      size_t n = args->encrypt ? weft__crypt_seal(args->keys[i].tx, 0, bye, sizeof bye, rec) : sizeof bye;
      (void)!send(fds[i], args->encrypt ? rec : bye, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      shutdown(fds[i], SHUT_WR);
      close(fds[i]);
    }
    fds[i] = -1;
  }
  WEFT__WARN("%s", err);
  free(dials);
  free(acc);
  free(pfds);
  free(pfd_conn);
  return m.fatal;
}
