/* The membership store over the coordinator protocol (store.h; the wire: lib/bootstrap/
 * coord_proto.h; the service: tools/weft-coordinator.c). One authenticated TCP connection to the
 * coordinator carries everything: HELLO/WELCOME at join, HEARTBEAT both ways, REPORT, STALL and the
 * PROGRESS answers to its queries, RECOVER or SHRINK, and what the coordinator decides (REVOKE,
 * EPOCH, NO_CHANGE, JOINERS, ERROR).
 *
 * Losing the coordinator is not losing the job. Collectives do not need it; only a change of
 * membership does. So when the connection closes (the coordinator died and is being restarted)
 * or the coordinator falls silent for hb_timeout (stopped, or cut off), this store says the
 * service is unavailable (on_availability) and a thread of its own reconnects, again and again,
 * each try bounded; the first connection that completes sends REJOIN -- this member's id, the
 * epoch it holds and that epoch's member list, from which a restarted coordinator rebuilds its
 * state. A silent connection is kept, never replaced: a coordinator that was only stopped reads
 * what waits on it when it resumes, and nobody notices (a second connection would race the first:
 * an EPOCH sent on the old one could be lost with it). One that stays silent because its host
 * or the path to it is gone ends by TCP_USER_TIMEOUT (unacknowledged data; a stopped process's
 * kernel still acknowledges), and a coordinator that closed it meanwhile answers the next
 * heartbeat with a reset: either way the store reconnects then. What must reach the
 * coordinator is sent again on the new connection: a RECOVER/SHRINK still unanswered, and the
 * last REPORT and STALL about the epoch held (the restarted coordinator knows nothing of them).
 *
 * Eviction is final: the coordinator's verdict (ERROR WEFT_ERR_EVICTED), a REJOIN it refuses (a
 * member it failed meanwhile), or the close that follows any other ERROR of its own, is on_lost,
 * once, and nothing after it. Before blaming silence, what is already waiting is read: a process
 * resumed after a SIGSTOP finds the verdict there.
 *
 * Cards: this member's goes out in the HELLO (join) and, replaced, in a CARD (publish_card); every
 * EPOCH carries the card of each of its members (coord_proto.c says why), which the store keeps
 * until the next EPOCH so that fetch_cards answers at once, without asking the coordinator. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap/coord_client.h"
#include "membership/store.h"

/* A send waits at most this long for the socket (a full send buffer means a stuck coordinator,
 * which the heartbeat timeout then reports). */
#define SEND_BOUND_S 2.0
#define LEAVE_BOUND_S 1.0
/* Messages handled per on_readable: liveness must not wait for a burst. */
#define READ_BATCH 64

_Static_assert(WEFT__STORE_CARD_MAX == WEFT__COORD_CARD_MAX, "a stored card is a card the protocol carries");

/* One member's card in the kept table: bytes [off, off + len) of cards_bytes. */
typedef struct {
  uint64_t member_id;
  uint32_t off;
  uint16_t len;
} kept_card_t;

enum { RECONNECT_RUNNING, RECONNECT_DONE, RECONNECT_REFUSED, RECONNECT_STOPPED };

struct weft__store {
  int fd;                 /* -1 while disconnected; written by the engine holder under wmu */
  uint64_t member_id;     /* for log lines */
  weft__store_cb_t cb;
  weft__coord_session_t session; /* tags every message both ways (coord_proto.h); tx under wmu */
  weft__coord_reader_t rd; /* engine holder */
  double last_rx, last_tx; /* engine holder: the heartbeat clocks */
  double hb_interval, hb_timeout;
  atomic_bool lost;        /* set after on_lost returned; read by every thread */
  pthread_mutex_t wmu;     /* serialises sends from the engine and from callers */
  weft__coord_member_t *members; /* EPOCH decode scratch (WEFT__COORD_MAX_MEMBERS, on first use) */
  weft__coord_left_t *left;
  pthread_mutex_t cmu;     /* the cards of the last EPOCH: written by the engine, read by callers */
  kept_card_t *cards;      /* sorted by member id */
  uint32_t ncards;
  uint8_t *cards_bytes;

  /* Where and who, to reconnect. hello.card points at card (under wmu: publish_card replaces it). */
  char host[256];
  int port;
  weft__auth_key_t key;
  weft__coord_hello_t hello;
  uint8_t card[WEFT__COORD_CARD_MAX];
  double try_bound; /* one reconnect try */
  /* The epoch this member holds (the last EPOCH delivered): engine holder. */
  uint64_t epoch;
  int32_t rank;
  uint64_t *ids;
  uint32_t nids;
  uint32_t rounds;     /* NO_CHANGE/JOINERS answers since that EPOCH */
  uint8_t last_answer; /* the kind of the last of them */
  /* Under wmu: what must reach the coordinator, across a reconnect too. */
  bool epoch_revoked;     /* a REVOKE of `epoch` came, or this member reported a failure in it */
  bool req_pending;       /* a RECOVER/SHRINK not answered yet */
  uint64_t req_epoch;
  bool req_admit;
  uint8_t report_msg[256]; /* the last REPORT, encoded, about report_epoch */
  size_t report_len;
  uint64_t report_epoch;
  uint8_t *stall_msg;      /* the last STALL, encoded */
  size_t stall_len;
  uint64_t stall_epoch;
  /* Engine holder: availability and the close that is the coordinator's word. */
  bool said_error;  /* an ERROR came: the close that follows is final, not an outage */
  bool unavailable;
  double unavailable_since;
  /* The reconnect thread: it owns the rth_ fields until rth_state leaves RUNNING. */
  pthread_t rth;
  bool rth_started;
  atomic_int rth_state;
  atomic_bool rth_stop;
  uint8_t *rth_msg;
  size_t rth_len;
  int rth_fd;
  weft__coord_session_t rth_session;
  char rth_err[256];
};

/* One message on the current connection, if there is one. Under wmu. A failed send is the
 * heartbeat's to notice; messages that must survive a reconnect are kept by their callers. */
static weft_result_t send_locked(weft__store_t *s, const uint8_t *msg, size_t len) {
  return s->fd >= 0 && !atomic_load(&s->lost) ? weft__coord_send(&s->session, s->fd, msg, len, weft__now() + SEND_BOUND_S)
                                              : WEFT_ERR_TRANSPORT;
}

static weft_result_t send_msg(weft__store_t *s, const uint8_t *msg, size_t len) {
  pthread_mutex_lock(&s->wmu);
  weft_result_t r = send_locked(s, msg, len);
  pthread_mutex_unlock(&s->wmu);
  return r;
}

/* Published after the callback: it records why before anyone can see the store lost (a caller
 * whose send fails then reads the reason, not an empty one). Only the engine holder calls this. */
static void lose(weft__store_t *s, const char *why) {
  if (atomic_load(&s->lost)) return;
  atomic_store(&s->rth_stop, true);
  s->cb.on_lost(s->cb.ctx, why);
  atomic_store(&s->lost, true);
}

static void set_available(weft__store_t *s, bool available, const char *why) {
  if (s->unavailable == !available) return;
  double now = weft__now();
  if (available)
    WEFT__INFO("member %llu: the coordinator answers again after %.1f s", (unsigned long long)s->member_id,
               now - s->unavailable_since);
  else
    WEFT__WARN("member %llu: the membership service is unavailable: %s; collectives go on, reconnecting",
               (unsigned long long)s->member_id, why);
  s->unavailable = !available;
  s->unavailable_since = now;
  if (s->cb.on_availability) s->cb.on_availability(s->cb.ctx, available, why);
}

static int by_member_id(const void *a, const void *b) {
  uint64_t x = ((const kept_card_t *)a)->member_id, y = ((const kept_card_t *)b)->member_id;
  return x < y ? -1 : x > y;
}

/* Replaces the kept cards with e's (copied: e points into the reader's buffer). */
static bool keep_cards(weft__store_t *s, const weft__coord_epoch_t *e) {
  size_t bytes = 0;
  for (uint32_t i = 0; i < e->size; i++) bytes += e->members[i].card_len;
  kept_card_t *cards = malloc(e->size * sizeof *cards);
  uint8_t *blob = malloc(bytes ? bytes : 1);
  if (!cards || !blob) {
    free(cards);
    free(blob);
    return false;
  }
  uint32_t off = 0;
  for (uint32_t i = 0; i < e->size; i++) {
    const weft__coord_member_t *m = &e->members[i];
    cards[i] = (kept_card_t){.member_id = m->member_id, .off = off, .len = m->card_len};
    memcpy(blob + off, m->card, m->card_len);
    off += m->card_len;
  }
  qsort(cards, e->size, sizeof *cards, by_member_id);
  pthread_mutex_lock(&s->cmu);
  free(s->cards);
  free(s->cards_bytes);
  s->cards = cards;
  s->cards_bytes = blob;
  s->ncards = e->size;
  pthread_mutex_unlock(&s->cmu);
  return true;
}

/* The epoch's member ids in rank order and this member's rank, for a REJOIN. */
static bool keep_ids(weft__store_t *s, const weft__coord_epoch_t *e) {
  uint64_t *ids = malloc((e->size ? e->size : 1) * sizeof *ids);
  if (ids == NULL) return false;
  s->rank = -1;
  for (uint32_t i = 0; i < e->size; i++) {
    ids[i] = e->members[i].member_id;
    if (ids[i] == s->member_id) s->rank = (int32_t)i;
  }
  free(s->ids);
  s->ids = ids;
  s->nids = e->size;
  s->epoch = e->epoch;
  s->rounds = 0;
  s->last_answer = 0;
  pthread_mutex_lock(&s->wmu);
  s->epoch_revoked = false;
  pthread_mutex_unlock(&s->wmu);
  return true;
}

/* An answer to the pending request came: nothing to send again. */
static void answered(weft__store_t *s) {
  pthread_mutex_lock(&s->wmu);
  s->req_pending = false;
  pthread_mutex_unlock(&s->wmu);
}

static void deliver_epoch(weft__store_t *s, const uint8_t *p, uint32_t len) {
  if (!s->members) {
    s->members = calloc(WEFT__COORD_MAX_MEMBERS, sizeof *s->members);
    s->left = calloc(WEFT__COORD_MAX_MEMBERS, sizeof *s->left);
  }
  weft__coord_epoch_t e;
  weft__coord_error_t err = {.code = WEFT_ERR_PROTOCOL};
  snprintf(err.text, sizeof err.text, "malformed EPOCH message from the coordinator");
  if (s->members && s->left && weft__coord_decode_epoch(p, len, &e, s->members, s->left, WEFT__COORD_MAX_MEMBERS)) {
    if (keep_cards(s, &e) && keep_ids(s, &e)) {
      answered(s);
      s->cb.on_answer(s->cb.ctx, WEFT__STORE_EPOCH, &e, NULL);
      return;
    }
    err.code = WEFT_ERR_NO_MEMORY;
    snprintf(err.text, sizeof err.text, "out of memory for the cards of epoch %llu", (unsigned long long)e.epoch);
  }
  s->cb.on_answer(s->cb.ctx, WEFT__STORE_ERROR, NULL, &err);
}

/* Answered at once, from the engine's holder: the application's thread may be the stuck one. */
static void answer_progress(weft__store_t *s, const uint8_t *p, uint32_t len) {
  weft__coord_progress_t q, a;
  if (!weft__coord_decode_progress(p, len, WEFT__COORD_PROGRESS_QUERY, &q)) return;
  s->cb.on_progress_query(s->cb.ctx, &q, &a);
  uint8_t msg[WEFT__COORD_HDR_LEN + 64];
  size_t n = weft__coord_encode_progress(msg, sizeof msg, WEFT__COORD_PROGRESS, &a);
  if (n) send_msg(s, msg, n); /* a failed send is the heartbeat's to notice */
}

static void handle_message(weft__store_t *s, uint8_t type, const uint8_t *p, uint32_t len) {
  switch (type) {
    case WEFT__COORD_HEARTBEAT: break;
    case WEFT__COORD_REVOKE: {
      weft__coord_revoke_t rv;
      if (!weft__coord_decode_revoke(p, len, &rv)) break;
      if (rv.epoch == s->epoch && rv.reason != WEFT__FAIL_LEFT) {
        pthread_mutex_lock(&s->wmu);
        s->epoch_revoked = true;
        pthread_mutex_unlock(&s->wmu);
      }
      s->cb.on_revoke(s->cb.ctx, &rv);
      break;
    }
    case WEFT__COORD_EPOCH: deliver_epoch(s, p, len); break;
    case WEFT__COORD_PROGRESS_QUERY: answer_progress(s, p, len); break;
    case WEFT__COORD_REACH_QUERY: {
      weft__coord_reach_t q;
      if (weft__coord_decode_reach(p, len, WEFT__COORD_REACH_QUERY, &q)) s->cb.on_reach_query(s->cb.ctx, &q);
      break;
    }
    case WEFT__COORD_NO_CHANGE:
      answered(s);
      s->rounds++;
      s->last_answer = WEFT__COORD_NO_CHANGE;
      s->cb.on_answer(s->cb.ctx, WEFT__STORE_NO_CHANGE, NULL, NULL);
      break;
    case WEFT__COORD_JOINERS: {
      weft__coord_joiners_t j;
      if (!weft__coord_decode_joiners(p, len, &j)) break;
      answered(s);
      s->rounds++;
      s->last_answer = WEFT__COORD_JOINERS;
      s->cb.on_answer(s->cb.ctx, WEFT__STORE_JOINERS, NULL, NULL);
      break;
    }
    case WEFT__COORD_ERROR: {
      weft__coord_error_t e;
      if (!weft__coord_decode_error(p, len, &e)) break;
      WEFT__WARN("member %llu: coordinator error %u: %s", (unsigned long long)s->member_id, e.code, e.text);
      s->said_error = true; /* it closes next: that is its word, not an outage */
      answered(s);
      if (e.code == WEFT_ERR_EVICTED) {
        char why[WEFT__COORD_TEXT_LEN + 40];
        snprintf(why, sizeof why, "the coordinator's verdict: %s", e.text);
        lose(s, why);
        break;
      }
      s->cb.on_answer(s->cb.ctx, WEFT__STORE_ERROR, NULL, &e);
      break;
    }
    default:
      WEFT__DEBUG("member %llu: ignoring coordinator message type %u", (unsigned long long)s->member_id, type);
  }
}

/* Unacknowledged data for this long breaks the connection (the coordinator's host or the path to
 * it is gone); well past the heartbeat timeout, after which the coordinator has decided about
 * this member anyway. A stopped coordinator's kernel still acknowledges: that never breaks it. */
static void bound_unacked(int fd, double hb_timeout) {
  unsigned ms = (unsigned)(1000 * WEFT__MAX(10.0, 3 * hb_timeout));
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

static weft_result_t coord_join(const weft__store_join_args_t *a, weft__store_t **out, uint64_t *member_id, char *err,
                                size_t errlen) {
  *out = NULL;
  weft__store_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return WEFT_ERR_NO_MEMORY;
  }
  if (a->hello->card_len > sizeof s->card || strlen(a->host) >= sizeof s->host) {
    free(s);
    snprintf(err, errlen, "coordinator address or card too long");
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  weft__coord_welcome_t welcome;
  weft_result_t r = weft__coord_connect(a->host, a->port, a->key, a->hello, a->deadline, &s->fd, &s->session, &welcome, err, errlen);
  s->rd.session = &s->session;
  if (r != WEFT_SUCCESS) {
    free(s);
    return r;
  }
  s->member_id = *member_id = welcome.member_id;
  s->cb = a->cb;
  s->hb_interval = a->hb_interval;
  s->hb_timeout = a->hb_timeout;
  /* Short: a try that cannot finish soon will not (the coordinator is down or still starting),
   * and leave waits for the one running. */
  s->try_bound = WEFT__MAX(0.5, WEFT__MIN(WEFT__MIN(a->hb_timeout / 2, 2.0), a->connect_timeout > 0 ? a->connect_timeout : 2.0));
  snprintf(s->host, sizeof s->host, "%s", a->host);
  s->port = a->port;
  s->key = *a->key;
  s->hello = *a->hello;
  if (s->hello.card_len) memcpy(s->card, a->hello->card, s->hello.card_len);
  s->hello.card = s->card;
  s->rank = -1;
  bound_unacked(s->fd, s->hb_timeout);
  s->last_rx = s->last_tx = weft__now();
  atomic_init(&s->lost, false);
  atomic_init(&s->rth_state, RECONNECT_STOPPED);
  atomic_init(&s->rth_stop, false);
  pthread_mutex_init(&s->wmu, NULL);
  pthread_mutex_init(&s->cmu, NULL);
  *out = s;
  return WEFT_SUCCESS;
}

static int coord_fd(const weft__store_t *s) { return s->fd; }


/* --- reconnecting ------------------------------------------------------------------------- */

/* Answers that end the tries: the coordinator refused this member (EVICTED: it failed it; the
 * job is over; a wrong token). Everything else (refused or timed-out connections, a coordinator
 * still starting) is tried again. */
static bool refusal(weft_result_t r) {
  return r != WEFT_ERR_TIMEOUT && r != WEFT_ERR_PEER_LOST && r != WEFT_ERR_TRANSPORT && r != WEFT_ERR_NO_MEMORY;
}

static void *reconnect_main(void *arg) {
  weft__store_t *s = arg;
  double pause_s = 0.05;
  while (!atomic_load(&s->rth_stop)) {
    weft__coord_welcome_t w;
    char err[sizeof s->rth_err];
    weft_result_t r = weft__coord_connect_with(s->host, s->port, &s->key, s->rth_msg, s->rth_len,
                                               weft__now() + s->try_bound, &s->rth_fd, &s->rth_session, &w, err,
                                               sizeof err);
    memcpy(s->rth_err, err, sizeof err);
    if (r == WEFT_SUCCESS) {
      atomic_store(&s->rth_state, RECONNECT_DONE);
      return NULL;
    }
    if (refusal(r)) {
      atomic_store(&s->rth_state, RECONNECT_REFUSED);
      return NULL;
    }
    /* Pause a little between tries (a dead coordinator refuses at once), in slices so that a
     * stop request is seen promptly. */
    for (double until = weft__now() + pause_s; weft__now() < until && !atomic_load(&s->rth_stop);) {
      struct timespec d = {0, 10 * 1000 * 1000};
      nanosleep(&d, NULL);
    }
    pause_s = WEFT__MIN(pause_s * 2, 0.5);
  }
  atomic_store(&s->rth_state, RECONNECT_STOPPED);
  return NULL;
}

/* Engine holder: starts the reconnect thread (once at a time) with the REJOIN it will send. */
static void start_reconnect(weft__store_t *s) {
  if (s->rth_started || atomic_load(&s->lost)) return;
  weft__coord_rejoin_t rj = {.member_id = s->member_id, .epoch = s->rank >= 0 ? s->epoch : 0,
                             .rank = s->rank >= 0 ? s->rank : -1, .size = s->rank >= 0 ? s->nids : 0, .ids = s->ids,
                             .rounds = s->rank >= 0 ? s->rounds : 0, .last_answer = s->rank >= 0 ? s->last_answer : 0};
  pthread_mutex_lock(&s->wmu);
  rj.flags = s->epoch_revoked ? WEFT__REJOIN_REVOKED : 0;
  rj.hello = s->hello;
  size_t cap = WEFT__COORD_HDR_LEN + weft__coord_rejoin_max_payload();
  free(s->rth_msg);
  s->rth_msg = malloc(cap);
  s->rth_len = s->rth_msg ? weft__coord_encode_rejoin(s->rth_msg, cap, &rj) : 0;
  pthread_mutex_unlock(&s->wmu);
  if (s->rth_len == 0) {
    lose(s, "cannot reconnect to the coordinator: out of memory for REJOIN");
    return;
  }
  atomic_store(&s->rth_stop, false);
  atomic_store(&s->rth_state, RECONNECT_RUNNING);
  if (pthread_create(&s->rth, NULL, reconnect_main, s) != 0) {
    lose(s, "cannot reconnect to the coordinator: no thread for it");
    return;
  }
  s->rth_started = true;
}

static void stop_reconnect(weft__store_t *s) {
  if (!s->rth_started) return;
  atomic_store(&s->rth_stop, true);
  pthread_join(s->rth, NULL);
  s->rth_started = false;
  if (atomic_load(&s->rth_state) == RECONNECT_DONE) close(s->rth_fd); /* finished as we stopped it */
  weft__coord_session_wipe(&s->rth_session);
}

static void poll_reconnect(weft__store_t *s, double now);

/* Engine holder: the connection closed or broke. */
static void disconnect(weft__store_t *s, const char *why) {
  if (s->said_error) {
    char final[240];
    snprintf(final, sizeof final, "the coordinator closed its connection after its error (%s)", why);
    lose(s, final);
    return;
  }
  if (s->fd >= 0) {
    if (s->cb.on_fd) s->cb.on_fd(s->cb.ctx, -1);
    pthread_mutex_lock(&s->wmu);
    close(s->fd);
    s->fd = -1;
    pthread_mutex_unlock(&s->wmu);
  }
  weft__coord_reader_free(&s->rd);
  memset(&s->rd, 0, sizeof s->rd);
  s->rd.session = &s->session;
  if (s->rth_started && atomic_load(&s->rth_state) == RECONNECT_DONE) {
    poll_reconnect(s, weft__now()); /* the coordinator closed the old one for the new: no outage */
    return;
  }
  set_available(s, false, why);
  atomic_store(&s->rth_stop, false); /* a running thread told to stop is needed after all */
  start_reconnect(s);
}

/* Engine holder: the reconnect thread made a new connection; it replaces the old one (closed,
 * or silent but open), and what the coordinator must hear goes out again on it. */
static void adopt(weft__store_t *s, double now) {
  if (s->fd >= 0 && s->cb.on_fd) s->cb.on_fd(s->cb.ctx, -1);
  pthread_mutex_lock(&s->wmu);
  if (s->fd >= 0) close(s->fd);
  s->fd = s->rth_fd;
  bound_unacked(s->fd, s->hb_timeout);
  s->session = s->rth_session;
  weft__coord_session_wipe(&s->rth_session);
  weft__coord_reader_free(&s->rd);
  memset(&s->rd, 0, sizeof s->rd);
  s->rd.session = &s->session;
  weft_result_t r = WEFT_SUCCESS;
  if (s->req_pending) {
    uint8_t msg[64];
    size_t n = weft__coord_encode_epoch_ref(msg, sizeof msg, s->req_admit ? WEFT__COORD_RECOVER : WEFT__COORD_SHRINK,
                                            s->req_epoch);
    if (n) r = send_locked(s, msg, n);
  }
  if (r == WEFT_SUCCESS && s->report_len > 0 && s->report_epoch == s->epoch)
    r = send_locked(s, s->report_msg, s->report_len);
  if (r == WEFT_SUCCESS && s->stall_len > 0 && s->stall_epoch == s->epoch)
    r = send_locked(s, s->stall_msg, s->stall_len);
  pthread_mutex_unlock(&s->wmu);
  s->said_error = false;
  s->last_rx = s->last_tx = now;
  if (s->cb.on_fd) s->cb.on_fd(s->cb.ctx, s->fd);
  WEFT__INFO("member %llu: reconnected to the coordinator %s:%d", (unsigned long long)s->member_id, s->host, s->port);
  set_available(s, true, NULL);
  if (r != WEFT_SUCCESS) disconnect(s, "the new coordinator connection broke at once");
}

/* Engine holder: how the reconnect thread ended, if it did. */
static void poll_reconnect(weft__store_t *s, double now) {
  if (!s->rth_started || atomic_load(&s->rth_state) == RECONNECT_RUNNING) return;
  pthread_join(s->rth, NULL);
  s->rth_started = false;
  int st = atomic_load(&s->rth_state);
  if (st == RECONNECT_DONE) {
    adopt(s, now);
  } else if (st == RECONNECT_REFUSED) {
    char why[sizeof s->rth_err + 40];
    snprintf(why, sizeof why, "reconnecting: %s", s->rth_err);
    lose(s, why);
  } else if (s->fd < 0) {
    start_reconnect(s); /* stopped because the old connection came back, which then closed */
  }
}

/* --- reading and liveness ----------------------------------------------------------------- */

/* Reads and delivers up to READ_BATCH messages. 1: all that was waiting was read and the
 * connection is open; 0: the store is lost or disconnected (when report_eof; else a broken
 * connection is left for the caller to handle). */
static int read_waiting(weft__store_t *s, bool report_eof) {
  for (int i = 0; i < READ_BATCH && !atomic_load(&s->lost) && s->fd >= 0; i++) {
    char err[160];
    int r = weft__coord_reader_step(&s->rd, s->fd, err, sizeof err);
    if (r == 0) return 1;
    if (r < 0) {
      char why[200];
      snprintf(why, sizeof why, "its coordinator connection was lost (%s)", err);
      if (report_eof) disconnect(s, why);
      return 0;
    }
    s->last_rx = weft__now();
    if (s->unavailable) set_available(s, true, NULL); /* the silent coordinator resumed */
    handle_message(s, s->rd.h.type, s->rd.payload, s->rd.h.length);
  }
  return !atomic_load(&s->lost) && s->fd >= 0;
}

static void coord_on_readable(weft__store_t *s) { read_waiting(s, true); }

static void coord_heartbeat(weft__store_t *s, double now) {
  if (atomic_load(&s->lost)) return;
  poll_reconnect(s, now);
  if (s->fd < 0 || atomic_load(&s->lost)) return;
  if (now - s->last_rx > s->hb_timeout && !s->unavailable) {
    /* Messages that were waiting unread mean this process, not the coordinator, was silent;
     * the coordinator's verdict among them says whether it evicted us meanwhile. */
    double silent = now - s->last_rx;
    if (read_waiting(s, true) && s->last_rx < now - s->hb_timeout) {
      char why[200];
      snprintf(why, sizeof why, "no message from the coordinator for %.1f s (WEFT_HEARTBEAT_TIMEOUT %.1f s: it is "
               "stopped or cut off, or this process was)", silent, s->hb_timeout);
      set_available(s, false, why); /* the connection stays: a stopped coordinator reads it later */
    }
    if (s->fd < 0 || atomic_load(&s->lost)) return;
  }
  if (now - s->last_tx >= s->hb_interval) {
    uint8_t msg[WEFT__COORD_HDR_LEN];
    size_t n = weft__coord_encode_empty(msg, sizeof msg, WEFT__COORD_HEARTBEAT);
    if (send_msg(s, msg, n) == WEFT_SUCCESS) {
      s->last_tx = now;
    } else if (read_waiting(s, true)) { /* a verdict or the close waiting there says why */
      disconnect(s, "it cannot send heartbeats to the coordinator");
    }
  }
}

static double coord_next_due(const weft__store_t *s) {
  /* Reconnecting: look at the thread often (its connection is adopted on this thread). */
  if (s->rth_started || s->fd < 0) return weft__now() + 0.05;
  double silence = s->unavailable ? s->last_tx + s->hb_interval : s->last_rx + s->hb_timeout;
  return WEFT__MIN(s->last_tx + s->hb_interval, silence);
}

static weft_result_t coord_report(weft__store_t *s, const weft__coord_revoke_t *rep) {
  uint8_t buf[sizeof s->report_msg];
  size_t n = weft__coord_encode_revoke(buf, sizeof buf, WEFT__COORD_REPORT, rep);
  if (n == 0) return WEFT_ERR_INTERNAL;
  if (atomic_load(&s->lost)) return WEFT_ERR_TRANSPORT;
  pthread_mutex_lock(&s->wmu);
  memcpy(s->report_msg, buf, n);
  s->report_len = n;
  s->report_epoch = rep->epoch;
  if (rep->epoch == s->epoch) s->epoch_revoked = true;
  (void)send_locked(s, buf, n);
  pthread_mutex_unlock(&s->wmu);
  return WEFT_SUCCESS;
}

static weft_result_t coord_report_stall(weft__store_t *s, const weft__coord_stall_t *st) {
  size_t cap = WEFT__COORD_HDR_LEN + 40 + 4 * (size_t)st->nranks;
  uint8_t *msg = malloc(cap);
  size_t n = msg ? weft__coord_encode_stall(msg, cap, st) : 0;
  if (n == 0) {
    free(msg);
    return msg ? WEFT_ERR_INTERNAL : WEFT_ERR_NO_MEMORY;
  }
  if (atomic_load(&s->lost)) {
    free(msg);
    return WEFT_ERR_TRANSPORT;
  }
  pthread_mutex_lock(&s->wmu);
  free(s->stall_msg);
  s->stall_msg = msg;
  s->stall_len = n;
  s->stall_epoch = st->epoch;
  (void)send_locked(s, msg, n);
  pthread_mutex_unlock(&s->wmu);
  return WEFT_SUCCESS;
}

static weft_result_t coord_report_reach(weft__store_t *s, const weft__coord_reach_t *a) {
  size_t cap = WEFT__COORD_HDR_LEN + 16 + 8 * (size_t)a->n;
  uint8_t *msg = malloc(cap);
  size_t n = msg ? weft__coord_encode_reach(msg, cap, WEFT__COORD_REACH, a) : 0;
  weft_result_t r = n ? send_msg(s, msg, n) : msg ? WEFT_ERR_INTERNAL : WEFT_ERR_NO_MEMORY;
  free(msg);
  return r;
}

/* Kept until answered: a coordinator restarted meanwhile gets it again (adopt). */
static weft_result_t coord_request_epoch(weft__store_t *s, uint64_t epoch, bool admit) {
  uint8_t msg[64];
  size_t n = weft__coord_encode_epoch_ref(msg, sizeof msg, admit ? WEFT__COORD_RECOVER : WEFT__COORD_SHRINK, epoch);
  if (n == 0) return WEFT_ERR_INTERNAL;
  if (atomic_load(&s->lost)) return WEFT_ERR_TRANSPORT;
  pthread_mutex_lock(&s->wmu);
  s->req_pending = true;
  s->req_epoch = epoch;
  s->req_admit = admit;
  (void)send_locked(s, msg, n);
  pthread_mutex_unlock(&s->wmu);
  return WEFT_SUCCESS;
}

static void coord_leave(weft__store_t *s) {
  if (!s) return;
  stop_reconnect(s);
  if (s->fd >= 0) {
    if (!atomic_load(&s->lost)) {
      uint8_t msg[WEFT__COORD_HDR_LEN];
      size_t n = weft__coord_encode_empty(msg, sizeof msg, WEFT__COORD_LEAVE);
      pthread_mutex_lock(&s->wmu);
      weft__coord_send(&s->session, s->fd, msg, n, weft__now() + LEAVE_BOUND_S);
      pthread_mutex_unlock(&s->wmu);
    }
    close(s->fd);
  }
  weft__coord_reader_free(&s->rd);
  weft__coord_session_wipe(&s->session);
  pthread_mutex_destroy(&s->wmu);
  pthread_mutex_destroy(&s->cmu);
  free(s->members);
  free(s->left);
  free(s->cards);
  free(s->cards_bytes);
  free(s->ids);
  free(s->stall_msg);
  free(s->rth_msg);
  free(s);
}

static weft_result_t coord_publish_card(weft__store_t *s, const void *card, size_t len) {
  if (!s || (!card && len) || len > WEFT__STORE_CARD_MAX) return WEFT_ERR_INVALID_ARGUMENT;
  uint8_t msg[WEFT__COORD_HDR_LEN + 4 + WEFT__STORE_CARD_MAX];
  size_t n = weft__coord_encode_card(msg, sizeof msg, card, (uint16_t)len);
  if (n == 0) return WEFT_ERR_INTERNAL;
  if (atomic_load(&s->lost)) return WEFT_ERR_TRANSPORT;
  pthread_mutex_lock(&s->wmu);
  if (len) memcpy(s->card, card, len); /* a REJOIN carries it from now on */
  s->hello.card_len = (uint16_t)len;
  (void)send_locked(s, msg, n);
  pthread_mutex_unlock(&s->wmu);
  return WEFT_SUCCESS;
}

/* The cards came with the EPOCH: nothing to wait for, so the deadline is not needed here. */
static weft_result_t coord_fetch_cards(weft__store_t *s, const uint64_t *ids, size_t n, weft__store_card_t *cards,
                                       double deadline) {
  (void)deadline;
  if (!s || !ids || !cards || n == 0) return WEFT_ERR_INVALID_ARGUMENT;
  weft_result_t r = WEFT_SUCCESS;
  pthread_mutex_lock(&s->cmu);
  for (size_t i = 0; i < n && r == WEFT_SUCCESS; i++) {
    kept_card_t key = {.member_id = ids[i]};
    const kept_card_t *k = s->cards ? bsearch(&key, s->cards, s->ncards, sizeof key, by_member_id) : NULL;
    if (!k) {
      r = WEFT_ERR_INVALID_ARGUMENT;
      break;
    }
    cards[i].member_id = k->member_id;
    cards[i].len = k->len;
    memcpy(cards[i].data, s->cards_bytes + k->off, k->len);
  }
  pthread_mutex_unlock(&s->cmu);
  return r;
}

const weft__store_ops_t weft__store_coord_ops = {
    .size = sizeof(weft__store_ops_t),
    .name = "coordinator",
    .join = coord_join,
    .fd = coord_fd,
    .on_readable = coord_on_readable,
    .heartbeat = coord_heartbeat,
    .next_due = coord_next_due,
    .report = coord_report,
    .report_stall = coord_report_stall,
    .report_reach = coord_report_reach,
    .request_epoch = coord_request_epoch,
    .leave = coord_leave,
    .publish_card = coord_publish_card,
    .fetch_cards = coord_fetch_cards,
};
