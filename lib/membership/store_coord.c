/* The membership store over the coordinator protocol (store.h; the wire: lib/bootstrap/
 * coord_proto.h; the service: tools/weft-coordinator.c). One authenticated TCP connection to the
 * coordinator carries everything: HELLO/WELCOME at join, HEARTBEAT both ways, REPORT, STALL and the
 * PROGRESS answers to its queries, RECOVER or SHRINK, and what the coordinator decides (REVOKE,
 * EPOCH, NO_CHANGE, JOINERS, ERROR).
 *
 * Liveness: every hb_interval this process tells the coordinator it is alive; the coordinator's
 * silence for hb_timeout means it is lost. The coordinator fences a member it failed with an
 * ERROR WEFT_ERR_EVICTED (its verdict: why and at which epoch), closes its connection and never
 * takes one back, so the verdict or losing the connection (EOF, a failed send, or silence) is
 * final: on_lost, once, and nothing after it. Before blaming silence or a failed send, what is
 * already waiting is read: a process resumed after a SIGSTOP finds the verdict there.
 *
 * Cards: this member's goes out in the HELLO (join) and, replaced, in a CARD (publish_card); every
 * EPOCH carries the card of each of its members (coord_proto.c says why), which the store keeps
 * until the next EPOCH so that fetch_cards answers at once, without asking the coordinator. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct weft__store {
  int fd;
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
};

static weft_result_t send_msg(weft__store_t *s, const uint8_t *msg, size_t len) {
  pthread_mutex_lock(&s->wmu);
  weft_result_t r = s->fd >= 0 && !atomic_load(&s->lost) ? weft__coord_send(&s->session, s->fd, msg, len, weft__now() + SEND_BOUND_S)
                                                          : WEFT_ERR_TRANSPORT;
  pthread_mutex_unlock(&s->wmu);
  return r;
}

/* Published after the callback: it records why before anyone can see the store lost (a caller
 * whose send fails then reads the reason, not an empty one). Only the engine holder calls this. */
static void lose(weft__store_t *s, const char *why) {
  if (atomic_load(&s->lost)) return;
  s->cb.on_lost(s->cb.ctx, why);
  atomic_store(&s->lost, true);
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

static void deliver_epoch(weft__store_t *s, const uint8_t *p, uint32_t len) {
  if (!s->members) {
    s->members = calloc(WEFT__COORD_MAX_MEMBERS, sizeof *s->members);
    s->left = calloc(WEFT__COORD_MAX_MEMBERS, sizeof *s->left);
  }
  weft__coord_epoch_t e;
  weft__coord_error_t err = {.code = WEFT_ERR_PROTOCOL};
  snprintf(err.text, sizeof err.text, "malformed EPOCH message from the coordinator");
  if (s->members && s->left && weft__coord_decode_epoch(p, len, &e, s->members, s->left, WEFT__COORD_MAX_MEMBERS)) {
    if (keep_cards(s, &e)) {
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
      if (weft__coord_decode_revoke(p, len, &rv)) s->cb.on_revoke(s->cb.ctx, &rv);
      break;
    }
    case WEFT__COORD_EPOCH: deliver_epoch(s, p, len); break;
    case WEFT__COORD_PROGRESS_QUERY: answer_progress(s, p, len); break;
    case WEFT__COORD_REACH_QUERY: {
      weft__coord_reach_t q;
      if (weft__coord_decode_reach(p, len, WEFT__COORD_REACH_QUERY, &q)) s->cb.on_reach_query(s->cb.ctx, &q);
      break;
    }
    case WEFT__COORD_NO_CHANGE: s->cb.on_answer(s->cb.ctx, WEFT__STORE_NO_CHANGE, NULL, NULL); break;
    case WEFT__COORD_JOINERS: {
      weft__coord_joiners_t j;
      if (weft__coord_decode_joiners(p, len, &j))
        s->cb.on_answer(s->cb.ctx, WEFT__STORE_JOINERS, NULL, NULL);
      break;
    }
    case WEFT__COORD_ERROR: {
      weft__coord_error_t e;
      if (!weft__coord_decode_error(p, len, &e)) break;
      WEFT__WARN("member %llu: coordinator error %u: %s", (unsigned long long)s->member_id, e.code, e.text);
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

static weft_result_t coord_join(const weft__store_join_args_t *a, weft__store_t **out, uint64_t *member_id, char *err,
                                size_t errlen) {
  *out = NULL;
  weft__store_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return WEFT_ERR_NO_MEMORY;
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
  s->last_rx = s->last_tx = weft__now();
  atomic_init(&s->lost, false);
  pthread_mutex_init(&s->wmu, NULL);
  pthread_mutex_init(&s->cmu, NULL);
  *out = s;
  return WEFT_SUCCESS;
}

static int coord_fd(const weft__store_t *s) { return s->fd; }

/* Reads and delivers up to READ_BATCH messages. 1: all that was waiting was read and the
 * connection is open; 0: the store is lost, or a broken connection was left for the caller to
 * report (lose_on_eof false). */
static int read_waiting(weft__store_t *s, bool lose_on_eof) {
  for (int i = 0; i < READ_BATCH && !atomic_load(&s->lost); i++) {
    char err[160];
    int r = weft__coord_reader_step(&s->rd, s->fd, err, sizeof err);
    if (r == 0) return 1;
    if (r < 0) {
      char why[200];
      snprintf(why, sizeof why, "its coordinator connection was lost (%s)", err);
      if (lose_on_eof) lose(s, why);
      return 0;
    }
    s->last_rx = weft__now();
    handle_message(s, s->rd.h.type, s->rd.payload, s->rd.h.length);
  }
  return !atomic_load(&s->lost);
}

static void coord_on_readable(weft__store_t *s) { read_waiting(s, true); }

static void coord_heartbeat(weft__store_t *s, double now) {
  if (s->fd < 0 || atomic_load(&s->lost)) return;
  char why[200] = "";
  if (now - s->last_rx > s->hb_timeout) {
    /* Messages that were waiting unread mean this process, not the coordinator, was silent;
     * the coordinator's verdict among them says whether it evicted us meanwhile. */
    double silent = now - s->last_rx;
    if (!read_waiting(s, false) || s->last_rx < now)
      snprintf(why, sizeof why, "no message from the coordinator for %.1f s (this process was stopped, hung or cut "
               "off for longer than WEFT_HEARTBEAT_TIMEOUT %.1f s, or the coordinator was)", silent, s->hb_timeout);
  }
  if (!why[0] && now - s->last_tx >= s->hb_interval) {
    uint8_t msg[WEFT__COORD_HDR_LEN];
    size_t n = weft__coord_encode_empty(msg, sizeof msg, WEFT__COORD_HEARTBEAT);
    if (send_msg(s, msg, n) == WEFT_SUCCESS) {
      s->last_tx = now;
    } else {
      read_waiting(s, false); /* a verdict waiting there says why */
      snprintf(why, sizeof why, "it cannot send heartbeats to the coordinator");
    }
  }
  if (why[0]) lose(s, why); /* a no-op after a verdict */
}

static double coord_next_due(const weft__store_t *s) {
  return WEFT__MIN(s->last_tx + s->hb_interval, s->last_rx + s->hb_timeout);
}

static weft_result_t coord_report(weft__store_t *s, const weft__coord_revoke_t *rep) {
  uint8_t buf[256];
  size_t n = weft__coord_encode_revoke(buf, sizeof buf, WEFT__COORD_REPORT, rep);
  return n ? send_msg(s, buf, n) : WEFT_ERR_INTERNAL;
}

static weft_result_t coord_report_stall(weft__store_t *s, const weft__coord_stall_t *st) {
  size_t cap = WEFT__COORD_HDR_LEN + 40 + 4 * (size_t)st->nranks;
  uint8_t *msg = malloc(cap);
  size_t n = msg ? weft__coord_encode_stall(msg, cap, st) : 0;
  weft_result_t r = n ? send_msg(s, msg, n) : msg ? WEFT_ERR_INTERNAL : WEFT_ERR_NO_MEMORY;
  free(msg);
  return r;
}

static weft_result_t coord_report_reach(weft__store_t *s, const weft__coord_reach_t *a) {
  size_t cap = WEFT__COORD_HDR_LEN + 16 + 8 * (size_t)a->n;
  uint8_t *msg = malloc(cap);
  size_t n = msg ? weft__coord_encode_reach(msg, cap, WEFT__COORD_REACH, a) : 0;
  weft_result_t r = n ? send_msg(s, msg, n) : msg ? WEFT_ERR_INTERNAL : WEFT_ERR_NO_MEMORY;
  free(msg);
  return r;
}

static weft_result_t coord_request_epoch(weft__store_t *s, uint64_t epoch, bool admit) {
  uint8_t msg[64];
  size_t n = weft__coord_encode_epoch_ref(msg, sizeof msg, admit ? WEFT__COORD_RECOVER : WEFT__COORD_SHRINK, epoch);
  return n ? send_msg(s, msg, n) : WEFT_ERR_INTERNAL;
}

static void coord_leave(weft__store_t *s) {
  if (!s) return;
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
  free(s);
}

static weft_result_t coord_publish_card(weft__store_t *s, const void *card, size_t len) {
  if (!s || (!card && len) || len > WEFT__STORE_CARD_MAX) return WEFT_ERR_INVALID_ARGUMENT;
  uint8_t msg[WEFT__COORD_HDR_LEN + 4 + WEFT__STORE_CARD_MAX];
  size_t n = weft__coord_encode_card(msg, sizeof msg, card, (uint16_t)len);
  return n ? send_msg(s, msg, n) : WEFT_ERR_INTERNAL;
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
