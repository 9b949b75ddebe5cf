/* The coordinator's membership state machine (tools/coordinator/membership.c), driven with fake
 * members and fake time: joins, the first epoch, failures of every kind, recover waits, joiners,
 * min size and its grace period; and its hung-caller probes (tools/coordinator/stall.c). Built
 * from tools/meson.build (it needs the tool's sources). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coordinator/membership.h"
#include "coordinator/reach.h"
#include "coordinator/stall.h"
#include "coordinator/suspect.h"

#define MAX_EVENTS 256
#define MAX_TO 32

/* What the server would have sent, flattened so the tests can look at it after the call. */
typedef struct {
  weft__mship_ev_kind_t kind;
  uint64_t to[MAX_TO];
  size_t num_to;
  weft__coord_welcome_t welcome;
  weft__coord_revoke_t revoke;
  weft__coord_error_t error;
  uint64_t epoch_ref;
  weft__coord_joiners_t joiners;
  weft__coord_progress_t progress;
  uint32_t reach_n;
  uint64_t epoch;
  uint32_t size, num_left;
  weft__coord_member_t members[MAX_TO];
  weft__coord_left_t left[MAX_TO];
} rec_t;

typedef struct {
  rec_t ev[MAX_EVENTS];
  size_t n;
} sink_t;

static void record(void *user, const weft__mship_event_t *ev) {
  sink_t *s = user;
  assert_true(s->n < MAX_EVENTS);
  assert_true(ev->num_to <= MAX_TO);
  rec_t *r = &s->ev[s->n++];
  memset(r, 0, sizeof *r);
  r->kind = ev->kind;
  r->num_to = ev->num_to;
  for (size_t i = 0; i < ev->num_to; i++) {
    r->to[i] = ev->to[i].member_id;
    assert_non_null(ev->to[i].peer); /* the server's handle always travels with the id */
  }
  switch (ev->kind) {
  case WEFT__MSHIP_WELCOME: r->welcome = ev->u.welcome; break;
  case WEFT__MSHIP_REVOKE: r->revoke = ev->u.revoke; break;
  case WEFT__MSHIP_ERROR: r->error = ev->u.error; break;
  case WEFT__MSHIP_NO_CHANGE: r->epoch_ref = ev->u.epoch_ref; break;
  case WEFT__MSHIP_EPOCH:
    r->epoch = ev->u.epoch->epoch;
    r->size = ev->u.epoch->size;
    r->num_left = ev->u.epoch->num_left;
    assert_true(r->size <= MAX_TO && r->num_left <= MAX_TO);
    memcpy(r->members, ev->u.epoch->members, r->size * sizeof *r->members);
    memcpy(r->left, ev->u.epoch->left, r->num_left * sizeof *r->left);
    break;
  case WEFT__MSHIP_CLOSE: r->error = ev->u.error; break; /* the verdict */
  case WEFT__MSHIP_JOINERS: r->joiners = ev->u.joiners; break;
  case WEFT__MSHIP_PROGRESS_QUERY: r->progress = ev->u.progress; break;
  case WEFT__MSHIP_REACH_QUERY: r->reach_n = ev->u.reach.n; break;
  }
}

static int g_peer; /* any non-NULL handle will do */

static double g_recover_timeout; /* 0 (no deadline) unless a test sets it before make() */

static weft__mship_t *make(sink_t *s, uint32_t world, uint32_t min) {
  memset(s, 0, sizeof *s);
  weft__mship_config_t cfg = {.world_size = world, .min_size = min, .heartbeat_timeout = 3.0,
                              .recover_timeout = g_recover_timeout};
  weft__mship_t *m = weft__mship_create(&cfg, record, NULL, s);
  assert_non_null(m);
  return m;
}

static const uint8_t cards[4][6] = {"card0", "card1", "card2", "card3"}; /* rank r's, opaque */

static uint64_t join(weft__mship_t *m, int rank, double now) {
  weft__coord_hello_t h = {.world_size = 0, .rank_hint = rank, .pid = 100u + (uint32_t)rank,
                           .card_len = 5, .card = cards[rank % 4]};
  snprintf(h.host, sizeof h.host, "node%d", rank);
  uint64_t id = 0;
  weft__coord_error_t err;
  assert_int_equal(weft__mship_join(m, &h, &g_peer, now, &id, &err), WEFT_SUCCESS);
  assert_true(id > 0);
  return id;
}

/* The last event of a kind, or NULL. */
static const rec_t *last(const sink_t *s, weft__mship_ev_kind_t kind) {
  for (size_t i = s->n; i-- > 0;)
    if (s->ev[i].kind == kind) return &s->ev[i];
  return NULL;
}

static size_t count(const sink_t *s, weft__mship_ev_kind_t kind) {
  size_t n = 0;
  for (size_t i = 0; i < s->n; i++) n += s->ev[i].kind == kind;
  return n;
}

static bool sent_to(const rec_t *r, uint64_t id) {
  for (size_t i = 0; i < r->num_to; i++)
    if (r->to[i] == id) return true;
  return false;
}

/* World of n formed at t=0; ids[rank] = member id. */
static weft__mship_t *formed(sink_t *s, uint32_t n, uint32_t min, uint64_t *ids) {
  weft__mship_t *m = make(s, n, min);
  for (int r = (int)n - 1; r >= 0; r--) ids[r] = join(m, r, 0.0); /* joins out of order */
  assert_int_equal(weft__mship_epoch(m), 1);
  return m;
}

/* Member ids are random (not guessable from another member's), distinct and never 0; the
 * records stay sorted however they arrive, so every id is found again; members without a
 * launcher rank take their ranks in join order, not in id order. */
static void member_ids_are_random_and_found(void **state) {
  (void)state;
  enum { N = 24 };
  sink_t s;
  weft__mship_t *m = make(&s, N, 1);
  uint64_t ids[N];
  int increasing = 0;
  for (int i = 0; i < N; i++) {
    weft__coord_hello_t h = {.rank_hint = -1, .pid = 500u + (uint32_t)i, .card_len = 5, .card = cards[0]};
    weft__coord_error_t err;
    assert_int_equal(weft__mship_join(m, &h, &g_peer, 0.0, &ids[i], &err), WEFT_SUCCESS);
    assert_true(ids[i] != 0);
    for (int j = 0; j < i; j++) assert_true(ids[i] != ids[j]);
    increasing += i > 0 && ids[i] == ids[i - 1] + 1;
  }
  assert_true(increasing < 3); /* a counter would give N-1; random ids almost never one */
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_non_null(e);
  assert_int_equal(e->size, N);
  for (int i = 0; i < N; i++) assert_true(e->members[i].member_id == ids[i]); /* join order */
  /* Every record is found by its id: each one's failure revokes naming it. */
  for (int i = N - 1; i >= N - 4; i--) {
    weft__mship_fail(m, ids[i], WEFT__FAIL_CRASH, "test", 1.0);
    assert_true(last(&s, WEFT__MSHIP_REVOKE)->revoke.member_id == ids[i]);
    assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.rank, i);
  }
  weft__mship_destroy(m);
}

static void first_epoch_waits_for_world_and_orders_by_rank(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 3, 1);
  uint64_t a = join(m, 2, 0.0), b = join(m, 0, 0.1);
  assert_int_equal(weft__mship_epoch(m), 0);
  assert_null(last(&s, WEFT__MSHIP_EPOCH));
  uint64_t c = join(m, 1, 0.2);
  assert_int_equal(weft__mship_epoch(m), 1);
  /* WELCOME for the last joiner precedes the EPOCH its join completed. */
  assert_int_equal(s.ev[s.n - 2].kind, WEFT__MSHIP_WELCOME);
  assert_int_equal(s.ev[s.n - 2].welcome.member_id, c);
  assert_int_equal(s.ev[s.n - 2].welcome.current_epoch, 0);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 1);
  assert_int_equal(e->size, 3);
  assert_int_equal(e->num_left, 0);
  assert_int_equal(e->members[0].member_id, b);
  assert_int_equal(e->members[1].member_id, c);
  assert_int_equal(e->members[2].member_id, a);
  assert_int_equal(e->members[2].rank_hint, 2);
  assert_int_equal(e->num_to, 3);
  weft__mship_destroy(m);
}

/* Each EPOCH entry carries its member's card: the HELLO's, until a CARD replaces it for the
 * epochs formed after. */
static void epochs_carry_cards(void **state) {
  (void)state;
  sink_t s;
  uint64_t ids[3];
  weft__mship_t *m = formed(&s, 3, 1, ids);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  for (int r = 0; r < 3; r++) {
    assert_int_equal(e->members[r].card_len, 5);
    assert_memory_equal(e->members[r].card, cards[r], 5);
  }
  static const uint8_t fresh[] = "rdma:fi_addr=42";
  assert_true(weft__mship_set_card(m, ids[2], fresh, sizeof fresh));
  assert_true(weft__mship_set_card(m, 999, fresh, sizeof fresh)); /* unknown: ignored */
  weft__mship_fail(m, ids[1], WEFT__FAIL_CRASH, "gone", 1);
  weft__mship_recover(m, ids[0], 1, true, 1);
  weft__mship_recover(m, ids[2], 1, true, 1);
  e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 2);
  assert_memory_equal(e->members[0].card, cards[0], 5);
  assert_int_equal(e->members[1].card_len, sizeof fresh);
  assert_memory_equal(e->members[1].card, fresh, sizeof fresh);
  assert_true(weft__mship_set_card(m, ids[0], NULL, 0)); /* an empty card is a card */
  weft__mship_destroy(m);
}

static void bad_joins_are_rejected(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 2, 1);
  weft__coord_error_t err;
  uint64_t id = 0;
  weft__coord_hello_t h = {.world_size = 3, .rank_hint = 0};
  assert_int_equal(weft__mship_join(m, &h, &g_peer, 0, &id, &err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err.text, "world size 3"));
  h.world_size = 2;
  h.rank_hint = 2;
  assert_int_equal(weft__mship_join(m, &h, &g_peer, 0, &id, &err), WEFT_ERR_INVALID_ARGUMENT);
  join(m, 0, 0);
  h.rank_hint = 0;
  assert_int_equal(weft__mship_join(m, &h, &g_peer, 0, &id, &err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err.text, "taken"));
  assert_int_equal(count(&s, WEFT__MSHIP_WELCOME), 1);
  assert_int_equal(weft__mship_count_live(m), 1);
  weft__mship_destroy(m);
}

static void pending_joiner_that_disconnects_is_dropped(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 2, 1);
  uint64_t a = join(m, 0, 0);
  weft__mship_fail(m, a, WEFT__FAIL_CRASH, "connection closed", 1);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  assert_int_equal(weft__mship_count_live(m), 0);
  uint64_t b = join(m, 0, 2), c = join(m, 1, 2);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_non_null(e);
  assert_int_equal(e->members[0].member_id, b);
  assert_int_equal(e->members[1].member_id, c);
  assert_false(weft__mship_done(m));
  weft__mship_destroy(m);
}

static void crash_revokes_and_fences(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__mship_fail(m, id[3], WEFT__FAIL_CRASH, "closed its connection", 5);
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(r);
  assert_int_equal(r->revoke.epoch, 1);
  assert_int_equal(r->revoke.member_id, id[3]);
  assert_int_equal(r->revoke.rank, 3);
  assert_int_equal(r->revoke.reason, WEFT__FAIL_CRASH);
  assert_non_null(strstr(r->revoke.text, "rank 3"));
  assert_int_equal(r->num_to, 3);
  assert_false(sent_to(r, id[3]));
  const rec_t *c = last(&s, WEFT__MSHIP_CLOSE);
  assert_non_null(c);
  assert_int_equal(c->to[0], id[3]);
  /* The fenced member is told it is out, and why. */
  assert_int_equal(c->error.code, WEFT_ERR_EVICTED);
  assert_non_null(strstr(c->error.text, "CRASH: closed its connection (a member of epoch 1)"));
  /* Reporting the same loss again (the server closing that connection) changes nothing. */
  size_t n = s.n;
  weft__mship_fail(m, id[3], WEFT__FAIL_CRASH, "closed", 6);
  assert_int_equal(s.n, n);
  weft__mship_destroy(m);
}

static void silence_is_hung(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  for (double t = 0.5; t <= 4.0; t += 0.5) {
    weft__mship_heard(m, id[0], t);
    weft__mship_heard(m, id[2], t);
    weft__mship_tick(m, t);
  }
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(r);
  assert_int_equal(r->revoke.member_id, id[1]);
  assert_int_equal(r->revoke.reason, WEFT__FAIL_HUNG);
  assert_non_null(strstr(r->revoke.text, "missed heartbeats for 3.5 s"));
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  const rec_t *c = last(&s, WEFT__MSHIP_CLOSE); /* its verdict, read when it resumes */
  assert_int_equal(c->to[0], id[1]);
  assert_int_equal(c->error.code, WEFT_ERR_EVICTED);
  assert_string_equal(c->error.text, "HUNG: missed heartbeats for 3.5 s (a member of epoch 1)");
  weft__mship_destroy(m);
}

static void coordinator_stall_blames_nobody(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[2];
  weft__mship_t *m = formed(&s, 2, 1, id);
  weft__mship_tick(m, 0.5);
  weft__mship_tick(m, 10.0); /* the coordinator itself was stopped for 9.5 s */
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  /* Silence after the stall still counts. */
  for (double t = 11.0; t <= 13.5; t += 0.5) {
    weft__mship_heard(m, id[0], t);
    weft__mship_tick(m, t);
  }
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.member_id, id[1]);
  weft__mship_destroy(m);
}

static void recover_with_restarted_rank_keeps_positions(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__mship_fail(m, id[1], WEFT__FAIL_CRASH, "closed", 1);
  /* A restarted rank 1 may join as soon as the original is gone. */
  uint64_t again = join(m, 1, 1.5);
  assert_int_equal(last(&s, WEFT__MSHIP_WELCOME)->welcome.current_epoch, 1);
  weft__mship_recover(m, id[0], 1, true, 2);
  weft__mship_recover(m, id[3], 1, true, 2);
  assert_int_equal(weft__mship_epoch(m), 1);
  weft__mship_recover(m, id[2], 1, true, 2);
  assert_int_equal(weft__mship_epoch(m), 2);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->size, 4);
  assert_int_equal(e->members[1].member_id, again);
  assert_int_equal(e->members[1].flags, WEFT__MEMBER_JOINED);
  assert_int_equal(e->members[0].flags, 0);
  assert_int_equal(e->num_left, 1);
  assert_int_equal(e->left[0].member_id, id[1]);
  assert_int_equal(e->left[0].old_rank, 1);
  assert_int_equal(e->left[0].reason, WEFT__FAIL_CRASH);
  assert_int_equal(e->num_to, 4);
  assert_true(sent_to(e, again));
  weft__mship_destroy(m);
}

static void failure_during_recover_drops_out_of_the_wait(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__mship_fail(m, id[0], WEFT__FAIL_CRASH, "closed", 1);
  weft__mship_recover(m, id[1], 1, true, 2);
  weft__mship_recover(m, id[2], 1, true, 2);
  weft__mship_fail(m, id[3], WEFT__FAIL_HUNG, "missed heartbeats", 3);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_non_null(e);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 2);
  assert_int_equal(e->num_left, 2);
  weft__mship_destroy(m);
}

static void recover_without_change_is_no_change(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[2];
  weft__mship_t *m = formed(&s, 2, 1, id);
  weft__mship_recover(m, id[0], 1, true, 1);
  assert_null(last(&s, WEFT__MSHIP_NO_CHANGE));
  weft__mship_recover(m, id[1], 1, true, 1);
  const rec_t *r = last(&s, WEFT__MSHIP_NO_CHANGE);
  assert_non_null(r);
  assert_int_equal(r->epoch_ref, 1);
  assert_int_equal(r->num_to, 2);
  /* The wait starts afresh: one member alone is not enough again. */
  weft__mship_recover(m, id[0], 1, true, 2);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 1);
  weft__mship_destroy(m);
}

static void stale_recover_is_an_error(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__mship_recover(m, id[2], 7, true, 1);
  const rec_t *e = last(&s, WEFT__MSHIP_ERROR);
  assert_non_null(e);
  assert_int_equal(e->error.code, WEFT_ERR_EVICTED);
  assert_int_equal(e->to[0], id[2]);
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(r);
  assert_int_equal(r->revoke.member_id, id[2]);
  assert_int_equal(weft__mship_count_live(m), 2);
  weft__mship_destroy(m);
}

static void leave_is_informational_and_ends_the_job(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[2];
  weft__mship_t *m = formed(&s, 2, 1, id);
  weft__mship_fail(m, id[0], WEFT__FAIL_LEFT, NULL, 1);
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(r);
  assert_int_equal(r->revoke.reason, WEFT__FAIL_LEFT);
  assert_int_equal(r->to[0], id[1]);
  assert_null(last(&s, WEFT__MSHIP_CLOSE));
  assert_false(weft__mship_done(m));
  weft__mship_fail(m, id[1], WEFT__FAIL_LEFT, NULL, 2);
  assert_true(weft__mship_done(m));
  weft__mship_destroy(m);
}

static void report_fails_the_suspect(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__coord_revoke_t rep = {.epoch = 0, .member_id = id[2]};
  weft__mship_report(m, id[0], &rep, 1); /* stale epoch: ignored */
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  rep = (weft__coord_revoke_t){.epoch = 1, .member_id = 0, .rank = 2};
  snprintf(rep.text, sizeof rep.text, "recv from rank 2: connection reset");
  weft__mship_report(m, id[0], &rep, 1);
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(r);
  assert_int_equal(r->revoke.member_id, id[2]);
  assert_int_equal(r->revoke.reason, WEFT__FAIL_REPORTED);
  assert_non_null(strstr(r->revoke.text, "reported by rank 0"));
  assert_int_equal(last(&s, WEFT__MSHIP_CLOSE)->to[0], id[2]);
  weft__mship_destroy(m);
}

static void below_min_size_waits_for_joiners_then_refuses(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 3, id);
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "closed", 1);
  weft__mship_recover(m, id[0], 1, true, 1);
  weft__mship_recover(m, id[1], 1, true, 1);
  weft__mship_heard(m, id[0], 3.5);
  weft__mship_heard(m, id[1], 3.5);
  weft__mship_tick(m, 2.0);
  weft__mship_tick(m, 3.5);
  assert_null(last(&s, WEFT__MSHIP_ERROR));
  weft__mship_tick(m, 4.1);
  const rec_t *e = last(&s, WEFT__MSHIP_ERROR);
  assert_non_null(e);
  assert_int_equal(e->error.code, WEFT_ERR_MIN_SIZE);
  assert_int_equal(e->num_to, 2);
  assert_true(weft__mship_done(m));
  weft__mship_destroy(m);
}

static void below_min_size_then_a_joiner_arrives(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 3, id);
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "closed", 1);
  weft__mship_recover(m, id[0], 1, true, 1);
  weft__mship_recover(m, id[1], 1, true, 1);
  weft__mship_tick(m, 1.5);
  join(m, 2, 2.0);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 3);
  assert_null(last(&s, WEFT__MSHIP_ERROR));
  weft__mship_destroy(m);
}

static void joiners_restart_a_dead_job(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 2, id);
  for (int r = 0; r < 3; r++) weft__mship_fail(m, id[r], WEFT__FAIL_CRASH, "closed", 1);
  assert_true(weft__mship_done(m));
  uint64_t a = join(m, 0, 2), b = join(m, 2, 2.5);
  weft__mship_heard(m, a, 4.5);
  weft__mship_heard(m, b, 4.5);
  weft__mship_tick(m, 4.5);
  assert_int_equal(weft__mship_epoch(m), 1);
  weft__mship_tick(m, 5.1); /* grace (3 s since the first joiner) passed, 2 >= min size */
  assert_int_equal(weft__mship_epoch(m), 2);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->size, 2);
  assert_int_equal(e->num_left, 3);
  assert_int_equal(e->members[0].member_id, a);
  assert_int_equal(e->members[1].member_id, b);
  assert_int_equal(e->members[1].flags, WEFT__MEMBER_JOINED);
  weft__mship_destroy(m);
}

/* The last member left cleanly: the job is over, and a restarted rank arriving late must not
 * run the application again in an epoch of its own: it is refused after two grace periods. */
static void joiner_after_a_clean_end_is_refused(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "closed", 1); /* a crash first ... */
  weft__mship_fail(m, id[0], WEFT__FAIL_LEFT, NULL, 2);       /* ... then the survivors quit */
  weft__mship_fail(m, id[1], WEFT__FAIL_LEFT, NULL, 2);
  assert_true(weft__mship_done(m));
  uint64_t late = join(m, 2, 3);
  weft__mship_heard(m, late, 8.9);
  weft__mship_tick(m, 8.9); /* 5.9 s: past one grace (min size 1 would have formed), not two */
  assert_int_equal(weft__mship_epoch(m), 1);
  assert_null(last(&s, WEFT__MSHIP_ERROR));
  weft__mship_tick(m, 9.1);
  const rec_t *e = last(&s, WEFT__MSHIP_ERROR);
  assert_non_null(e);
  assert_int_equal(e->error.code, WEFT_ERR_JOB_FINISHED);
  assert_true(sent_to(e, late));
  assert_non_null(strstr(e->error.text, "finished at epoch 1"));
  assert_int_equal(weft__mship_epoch(m), 1);
  assert_true(weft__mship_done(m));
  weft__mship_destroy(m);
}

/* A program that destroys its communicator and creates a new one (every rank) starts a new run
 * of the finished job at once. */
static void whole_world_restarts_a_finished_job(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[2];
  weft__mship_t *m = formed(&s, 2, 2, id);
  weft__mship_fail(m, id[0], WEFT__FAIL_LEFT, NULL, 1);
  weft__mship_fail(m, id[1], WEFT__FAIL_LEFT, NULL, 1);
  join(m, 1, 1.1);
  join(m, 0, 1.2);
  assert_int_equal(weft__mship_epoch(m), 2);
  assert_int_equal(last(&s, WEFT__MSHIP_EPOCH)->size, 2);
  assert_null(last(&s, WEFT__MSHIP_ERROR));
  weft__mship_destroy(m);
}

/* SHRINK: the survivors move on without the waiting joiner, which enters at the next RECOVER;
 * with nothing failed a SHRINK round changes nothing either, but its answer says that a joiner
 * waits (JOINERS, to every member alike), so that the members recover next and admit it. */
static void shrink_keeps_joiners_waiting(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__mship_recover(m, id[0], 1, false, 1);
  weft__mship_recover(m, id[1], 1, false, 1);
  weft__mship_recover(m, id[2], 1, true, 1);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 1);

  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "closed", 2);
  uint64_t joiner = join(m, 2, 2.1);
  weft__mship_recover(m, id[0], 1, true, 2.2); /* one asks RECOVER, one SHRINK: a shrink */
  weft__mship_recover(m, id[1], 1, false, 2.2);
  assert_int_equal(weft__mship_epoch(m), 2);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->size, 2);
  assert_false(sent_to(e, joiner));
  assert_int_equal(weft__mship_count_live(m), 3); /* the joiner still waits */

  weft__mship_recover(m, id[0], 2, false, 3); /* nothing failed: no change, but JOINERS */
  assert_int_equal(count(&s, WEFT__MSHIP_JOINERS), 0);
  weft__mship_recover(m, id[1], 2, false, 3);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 1);
  const rec_t *j = last(&s, WEFT__MSHIP_JOINERS);
  assert_non_null(j);
  assert_int_equal(j->joiners.epoch, 2);
  assert_int_equal(j->joiners.waiting, 1);
  assert_int_equal(j->num_to, 2);
  assert_true(sent_to(j, id[0]) && sent_to(j, id[1]));
  assert_false(sent_to(j, joiner));
  assert_int_equal(weft__mship_epoch(m), 2);

  weft__mship_recover(m, id[0], 2, true, 4); /* a plain RECOVER admits it */
  weft__mship_recover(m, id[1], 2, true, 4);
  assert_int_equal(weft__mship_epoch(m), 3);
  e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->size, 3);
  assert_int_equal(e->members[2].member_id, joiner);
  assert_int_equal(e->members[2].flags, WEFT__MEMBER_JOINED);
  weft__mship_destroy(m);
}

/* --- the recover deadline (WEFT_RECOVER_TIMEOUT) ------------------------------------------- */

/* Every listed member heartbeats at t, then time passes to t. */
static void alive_at(weft__mship_t *m, const uint64_t *ids, size_t n, double t) {
  for (size_t i = 0; i < n; i++) weft__mship_heard(m, ids[i], t);
  weft__mship_tick(m, t);
}

static int deadline_setup(void **state) {
  (void)state;
  g_recover_timeout = 5.0;
  return 0;
}

static int deadline_teardown(void **state) {
  (void)state;
  g_recover_timeout = 0;
  return 0;
}

/* Three of four recover; the fourth keeps heartbeating (its progress thread runs) but never asks:
 * it is left out when the deadline passes, counted from the first ask, fenced with a verdict
 * naming why, and the three form the next epoch without it. Not a moment before. */
static void recover_deadline_leaves_out_the_silent_member(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  for (double t = 0.5; t <= 10.0; t += 0.5) alive_at(m, id, 4, t); /* ticks closer than a stall */
  weft__mship_recover(m, id[0], 1, true, 10.0); /* the round opens: the deadline is 15.0 */
  for (double t = 10.5; t <= 12.0; t += 0.5) alive_at(m, id, 4, t);
  weft__mship_recover(m, id[1], 1, true, 12.0);
  weft__mship_recover(m, id[2], 1, true, 14.0);
  for (double t = 12.5; t < 15.0; t += 0.5) alive_at(m, id, 4, t);
  alive_at(m, id, 4, 14.95);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  assert_int_equal(weft__mship_epoch(m), 1);

  alive_at(m, id, 4, 15.0);
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(r);
  assert_int_equal(r->revoke.member_id, id[3]);
  assert_int_equal(r->revoke.reason, WEFT__FAIL_RECOVER_TIMEOUT);
  char want[160];
  snprintf(want, sizeof want, "rank 3 (host node3 pid 103) did not call recover within WEFT_RECOVER_TIMEOUT 5 s");
  assert_string_equal(r->revoke.text, want);
  const rec_t *c = last(&s, WEFT__MSHIP_CLOSE);
  assert_non_null(c);
  assert_int_equal(c->num_to, 1);
  assert_int_equal(c->to[0], id[3]);
  assert_int_equal(c->error.code, WEFT_ERR_EVICTED);
  assert_string_equal(c->error.text, "RECOVER_TIMEOUT: did not call recover within WEFT_RECOVER_TIMEOUT 5 s "
                      "(a member of epoch 1)");
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 3);
  assert_int_equal(e->num_to, 3);
  assert_false(sent_to(e, id[3]));
  assert_int_equal(e->num_left, 1);
  assert_int_equal(e->left[0].member_id, id[3]);
  assert_int_equal(e->left[0].old_rank, 3);
  assert_int_equal(e->left[0].reason, WEFT__FAIL_RECOVER_TIMEOUT);
  /* Its late RECOVER changes nothing: the record is gone (the server closed the connection). */
  size_t n = s.n;
  weft__mship_recover(m, id[3], 1, true, 15.5);
  assert_int_equal(s.n, n);
  assert_int_equal(weft__mship_count_live(m), 3);
  weft__mship_destroy(m);
}

/* The deadline belongs to one round: a round answered (NO_CHANGE, an epoch) closes it, the next
 * round's clock starts at its own first ask, and with no round open nobody is ever left out. */
static void recover_deadline_is_per_round(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__mship_recover(m, id[0], 1, true, 1.0);
  weft__mship_recover(m, id[1], 1, true, 5.0);
  weft__mship_recover(m, id[2], 1, true, 5.9); /* in time: NO_CHANGE closes the round */
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 1);
  for (double t = 6.0; t <= 40.0; t += 0.5) alive_at(m, id, 3, t); /* computing: no round */
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  weft__mship_recover(m, id[2], 1, false, 40.0); /* a SHRINK round has the same deadline */
  weft__mship_recover(m, id[0], 1, false, 44.0);
  for (double t = 40.5; t < 45.0; t += 0.5) alive_at(m, id, 3, t);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  alive_at(m, id, 3, 45.0);
  assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.member_id, id[1]);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 2);
  /* Epoch 2 starts with no round open. */
  uint64_t left2[2] = {id[0], id[2]};
  for (double t = 45.5; t <= 80.0; t += 0.5) alive_at(m, left2, 2, t);
  assert_int_equal(weft__mship_epoch(m), 2);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  weft__mship_destroy(m);
}

/* The only member that asked failed: nobody is waiting on the deadline any more, so the others
 * (which have not asked yet: they will, once they see the revoke) are not left out for it. */
static void recover_deadline_closes_when_the_askers_fail(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__mship_recover(m, id[0], 1, true, 1.0);
  weft__mship_fail(m, id[0], WEFT__FAIL_CRASH, "closed", 2.0);
  for (double t = 2.0; t <= 20.0; t += 0.5) alive_at(m, &id[1], 2, t);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  weft__mship_recover(m, id[1], 1, true, 20.0); /* a new round: its own deadline, 25.0 */
  for (double t = 20.5; t < 25.0; t += 0.5) alive_at(m, &id[1], 2, t);
  assert_int_equal(weft__mship_epoch(m), 1);
  alive_at(m, &id[1], 2, 25.0);
  assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.member_id, id[2]);
  assert_int_equal(last(&s, WEFT__MSHIP_EPOCH)->size, 1);
  weft__mship_destroy(m);
}

/* Leaving the late members out can go below min size: then the usual grace for joiners, then
 * WEFT_ERR_MIN_SIZE to those that asked. */
static void recover_deadline_below_min_size(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 3, id);
  weft__mship_recover(m, id[0], 1, true, 1.0);
  weft__mship_recover(m, id[1], 1, true, 1.0);
  alive_at(m, id, 3, 6.0);
  assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.member_id, id[2]);
  assert_null(last(&s, WEFT__MSHIP_ERROR));
  alive_at(m, id, 2, 8.9); /* grace: one heartbeat timeout (3 s) */
  assert_null(last(&s, WEFT__MSHIP_ERROR));
  alive_at(m, id, 2, 9.1);
  const rec_t *e = last(&s, WEFT__MSHIP_ERROR);
  assert_non_null(e);
  assert_int_equal(e->error.code, WEFT_ERR_MIN_SIZE);
  assert_int_equal(e->num_to, 2);
  weft__mship_destroy(m);
}

/* A coordinator that was stopped itself does not blame the members that have not asked: the
 * RECOVERs may be sitting unread in its sockets. The deadline starts afresh. */
static void recover_deadline_forgives_a_coordinator_stall(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[2];
  weft__mship_t *m = formed(&s, 2, 1, id);
  alive_at(m, id, 2, 0.5);
  weft__mship_recover(m, id[0], 1, true, 1.0);
  alive_at(m, id, 2, 1.5);
  alive_at(m, id, 2, 30.0); /* stalled for 28.5 s */
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  for (double t = 30.5; t < 35.0; t += 0.5) alive_at(m, id, 2, t);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  alive_at(m, id, 2, 35.0);
  assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.member_id, id[1]);
  weft__mship_destroy(m);
}

/* recover_timeout 0: the coordinator waits for every member, however long (the old behaviour). */
static void no_recover_deadline_waits_for_everyone(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[2];
  weft__mship_t *m = formed(&s, 2, 1, id); /* g_recover_timeout is 0 here */
  weft__mship_recover(m, id[0], 1, true, 1.0);
  for (double t = 1.5; t <= 1000.0; t += 0.5) alive_at(m, id, 2, t);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  weft__mship_recover(m, id[1], 1, true, 1000.0);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 1);
  weft__mship_destroy(m);
}

static void bad_config_is_refused(void **state) {
  (void)state;
  sink_t s;
  weft__mship_config_t cfg = {.world_size = 2, .min_size = 3, .heartbeat_timeout = 1};
  assert_null(weft__mship_create(&cfg, record, NULL, &s));
  cfg.min_size = 0;
  assert_null(weft__mship_create(&cfg, record, NULL, &s));
  cfg.min_size = 1;
  cfg.recover_timeout = -1;
  assert_null(weft__mship_create(&cfg, record, NULL, &s));
  weft__mship_destroy(NULL);
}

/* ---- hung callers (stall.c) ---------------------------------------------------------------- */

static void stall_from(weft__stall_t *st, uint64_t reporter, uint64_t seq, const uint32_t *ranks, uint32_t n,
                       double now) {
  weft__coord_stall_t r = {.epoch = 1, .comm_id = n ? 0x77 : 0, .seq = seq, .coll = 0 /* allreduce */,
                           .waited_ms = 2000, .stall_ms = 2000, .nranks = n, .ranks = ranks};
  /* The codec is the wire's: what the coordinator decodes points into the payload. */
  uint8_t msg[WEFT__COORD_HDR_LEN + 64];
  size_t len = weft__coord_encode_stall(msg, sizeof msg, &r);
  assert_true(len > 0);
  assert_true(weft__coord_decode_stall(msg + WEFT__COORD_HDR_LEN, len - WEFT__COORD_HDR_LEN, &r));
  weft__stall_report(st, reporter, &r, now);
}

static void answer(weft__stall_t *st, uint64_t id, uint64_t seq, uint64_t comm, uint32_t flags, uint64_t entered,
                   uint32_t entered_coll, uint32_t idle_ms, double now) {
  weft__coord_progress_t a = {.epoch = 1, .comm_id = comm, .seq = seq, .entered_seq = entered,
                              .entered_coll = entered_coll, .flags = flags, .idle_ms = idle_ms};
  weft__stall_answer(st, id, &a, now);
}

/* Queries sent to member id since event index `from`. */
static size_t queries_to(const sink_t *s, size_t from, uint64_t id) {
  size_t n = 0;
  for (size_t i = from; i < s->n; i++) n += s->ev[i].kind == WEFT__MSHIP_PROGRESS_QUERY && sent_to(&s->ev[i], id);
  return n;
}

#define HAS WEFT__PROGRESS_HAS_COMM

static void stall_evicts_the_idle_laggard_naming_it(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__stall_t *st = weft__stall_create(m, NULL);
  size_t mark = s.n;
  stall_from(st, id[0], 5, NULL, 0, 10.0);
  /* The reporter is not asked; everyone else is, once. */
  assert_int_equal(queries_to(&s, mark, id[0]), 0);
  for (int r = 1; r < 4; r++) assert_int_equal(queries_to(&s, mark, id[r]), 1);
  stall_from(st, id[1], 5, NULL, 0, 10.1); /* the same collective: one probe */
  for (int r = 1; r < 4; r++) assert_int_equal(queries_to(&s, mark, id[r]), 1);
  answer(st, id[1], 5, 0, HAS, 5, 0, 0, 10.2);
  answer(st, id[3], 5, 0, HAS, 4, 5 /* barrier */, 2500, 10.2);
  assert_null(last(&s, WEFT__MSHIP_REVOKE)); /* rank 2 has not answered yet */
  answer(st, id[2], 5, 0, HAS, 6, 0, 0, 10.3);
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_STALLED);
  assert_int_equal(rv->revoke.rank, 3);
  assert_non_null(strstr(rv->revoke.text, "rank 3 (host node3 pid 103) has not entered"));
  assert_non_null(strstr(rv->revoke.text, "has not entered allreduce seq 5 for 2.3 s; it last entered barrier seq 4"));
  const rec_t *v = last(&s, WEFT__MSHIP_CLOSE);
  assert_non_null(v);
  assert_true(sent_to(v, id[3]));
  assert_int_equal(v->error.code, WEFT_ERR_EVICTED);
  assert_non_null(strstr(v->error.text, "STALLED"));
  assert_int_equal(weft__stall_open(st), 0);
  weft__stall_destroy(st);
  weft__mship_destroy(m);
}

static void stall_spares_a_rank_in_a_call_or_progressing(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__stall_t *st = weft__stall_create(m, NULL);
  stall_from(st, id[0], 9, NULL, 0, 10.0);
  answer(st, id[1], 9, 0, HAS, 9, 0, 0, 10.0);
  size_t mark = s.n;
  /* Inside weft (blocked on another communicator, say): asked again one stall timeout later. */
  answer(st, id[2], 9, 0, HAS | WEFT__PROGRESS_IN_CALL, 8, 0, 0, 10.0);
  weft__stall_tick(st, 11.0);
  assert_int_equal(queries_to(&s, mark, id[2]), 0);
  weft__stall_tick(st, 12.1);
  assert_int_equal(queries_to(&s, mark, id[2]), 1);
  /* Out of weft for less than the stall timeout: slow, maybe progressing; asked when it would
   * reach it. */
  answer(st, id[2], 9, 0, HAS, 8, 0, 500, 12.1);
  weft__stall_tick(st, 13.0);
  assert_int_equal(queries_to(&s, mark, id[2]), 1);
  weft__stall_tick(st, 13.7);
  assert_int_equal(queries_to(&s, mark, id[2]), 2);
  answer(st, id[2], 9, 0, HAS, 9, 0, 0, 13.7); /* it entered: nobody is evicted */
  assert_int_equal(weft__stall_open(st), 0);
  assert_null(last(&s, WEFT__MSHIP_REVOKE));
  assert_int_equal(count(&s, WEFT__MSHIP_CLOSE), 0);
  /* A repeat of a decided collective's STALL opens nothing. */
  mark = s.n;
  stall_from(st, id[1], 9, NULL, 0, 14.0);
  assert_int_equal(s.n, mark);
  weft__stall_destroy(st);
  weft__mship_destroy(m);
}

static void stall_of_a_group_asks_its_members_only(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__stall_t *st = weft__stall_create(m, NULL);
  size_t mark = s.n;
  const uint32_t group[2] = {2, 0};
  stall_from(st, id[0], 3, group, 2, 5.0);
  assert_int_equal(queries_to(&s, mark, id[2]), 1);
  assert_int_equal(queries_to(&s, mark, id[1]) + queries_to(&s, mark, id[3]), 0);
  assert_int_equal(last(&s, WEFT__MSHIP_PROGRESS_QUERY)->progress.comm_id, 0x77);
  answer(st, id[2], 3, 0x77, 0 /* it never made the group */, 0, 0, 4000, 5.1);
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.rank, 2);
  assert_non_null(strstr(rv->revoke.text, "of communicator 0000000000000077"));
  assert_non_null(strstr(rv->revoke.text, "it has not made that communicator"));
  /* A list naming a rank beyond the epoch is refused, and nobody is asked. */
  mark = s.n;
  const uint32_t bad[2] = {1, 9};
  stall_from(st, id[1], 4, bad, 2, 6.0);
  assert_int_equal(s.n, mark);
  weft__stall_destroy(st);
  weft__mship_destroy(m);
}

static void stall_evicts_every_laggard_at_once(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__stall_t *st = weft__stall_create(m, NULL);
  stall_from(st, id[1], 7, NULL, 0, 10.0);
  answer(st, id[0], 7, 0, HAS, 6, 0, 3000, 10.1);
  answer(st, id[2], 7, 0, HAS, 7, 0, 0, 10.1);
  assert_null(last(&s, WEFT__MSHIP_REVOKE));
  answer(st, id[3], 7, 0, HAS, 6, 0, 2000, 10.1);
  assert_int_equal(count(&s, WEFT__MSHIP_CLOSE), 2);
  /* A second laggard left in the revoked epoch would be waited for by the survivors' recover. */
  weft__mship_recover(m, id[1], 1, true, 10.2);
  weft__mship_recover(m, id[2], 1, true, 10.2);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 2);
  weft__stall_destroy(st);
  weft__mship_destroy(m);
}

static void stall_of_a_past_or_revoked_epoch_is_dropped(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__stall_t *st = weft__stall_create(m, NULL);
  size_t mark = s.n;
  weft__coord_stall_t old = {.epoch = 7, .seq = 1, .stall_ms = 1000};
  weft__stall_report(st, id[0], &old, 1.0);
  assert_int_equal(s.n, mark);
  stall_from(st, id[0], 2, NULL, 0, 1.0);
  assert_int_equal(weft__stall_open(st), 1);
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "gone", 1.1); /* the epoch is revoked: they recover */
  answer(st, id[1], 2, 0, HAS, 1, 0, 5000, 1.15);            /* a laggard's answer decides nothing now */
  weft__stall_tick(st, 1.2);
  assert_int_equal(weft__stall_open(st), 0);
  assert_int_equal(count(&s, WEFT__MSHIP_CLOSE), 1); /* the crash's fencing, nothing more */
  weft__stall_destroy(st);
  weft__mship_destroy(m);
}

/* ---- cut links (reach.c) ------------------------------------------------------------------- */

/* REACH from member `id`: for each listed rank, 0 reached or 1 not. */
static void reach_answer(weft__reach_t *r, uint64_t id, const uint32_t *ranks, const uint8_t *status, uint32_t n,
                         double now) {
  weft__coord_reach_t a = {.epoch = 1, .n = n, .ranks = ranks, .status = status};
  uint8_t msg[WEFT__COORD_HDR_LEN + 16 + 8 * 8];
  size_t len = weft__coord_encode_reach(msg, sizeof msg, WEFT__COORD_REACH, &a);
  assert_true(len > 0);
  assert_true(weft__coord_decode_reach(msg + WEFT__COORD_HDR_LEN, len - WEFT__COORD_HDR_LEN, WEFT__COORD_REACH, &a));
  weft__reach_answer(r, id, &a, now);
}

static void reach_keeps_the_largest_connected_set(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  const int32_t set[4] = {3, 0, 2, 1};
  size_t mark = s.n;
  weft__reach_start(r, set, 4, "test", 1.0);
  assert_int_equal(count(&s, WEFT__MSHIP_REACH_QUERY), 4);
  assert_int_equal(last(&s, WEFT__MSHIP_REACH_QUERY)->reach_n, 4);
  (void)mark;
  /* The link 1-3 is cut: both ends say so, the others reach everyone. Rank 3 (the higher of
   * the tie) goes; 0, 1, 2 stay. */
  const uint32_t all[4] = {0, 1, 2, 3};
  const uint8_t ok[4] = {0, 0, 0, 0}, no3[4] = {0, 0, 0, 1}, no1[4] = {0, 1, 0, 0};
  reach_answer(r, id[0], all, ok, 4, 1.5);
  reach_answer(r, id[1], all, no3, 4, 1.5);
  reach_answer(r, id[2], all, ok, 4, 1.5);
  assert_null(last(&s, WEFT__MSHIP_REVOKE));
  reach_answer(r, id[3], all, no1, 4, 1.6);
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_PARTITIONED);
  assert_int_equal(rv->revoke.rank, 3);
  assert_non_null(strstr(rv->revoke.text, "cannot reach rank 1 over the data network"));
  assert_non_null(strstr(rv->revoke.text, "kept ranks 0,1,2"));
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  assert_false(weft__reach_running(r));
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}

static void reach_decides_at_its_deadline_with_what_came(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  const int32_t set[4] = {0, 1, 2, 3};
  weft__reach_start(r, set, 4, "test", 1.0);
  /* One link from one end only (one-way loss looks like this when the other end is silent);
   * rank 2 never answers (inside recover). Ranks 2 and 3 cannot both stay with 0: 3 is cut from
   * 0 and 1 both, so it goes alone. */
  const uint32_t all[4] = {0, 1, 2, 3};
  const uint8_t no3[4] = {0, 0, 0, 1};
  reach_answer(r, id[0], all, no3, 4, 1.2);
  reach_answer(r, id[1], all, no3, 4, 1.2);
  reach_answer(r, id[3], all, (const uint8_t[4]){1, 1, 0, 0}, 4, 1.2);
  weft__reach_tick(r, 1.0 + WEFT__REACH_DIAL_S);
  assert_null(last(&s, WEFT__MSHIP_REVOKE));
  weft__reach_tick(r, 1.0 + WEFT__REACH_DIAL_S + WEFT__REACH_SLACK_S);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  assert_int_equal(last(&s, WEFT__MSHIP_REVOKE)->revoke.rank, 3);
  /* Every link fine: nobody is evicted; a second round cannot start while one runs. */
  weft__mship_t *m2 = formed(&s, 3, 1, id);
  weft__reach_t *r2 = weft__reach_create(m2);
  weft__reach_start(r2, set, 3, "test", 1.0);
  size_t queries = count(&s, WEFT__MSHIP_REACH_QUERY);
  weft__reach_start(r2, set, 3, "again", 1.1);
  assert_int_equal(count(&s, WEFT__MSHIP_REACH_QUERY), queries);
  for (int i = 0; i < 3; i++) reach_answer(r2, id[i], all, (const uint8_t[3]){0, 0, 0}, 3, 1.2);
  assert_false(weft__reach_running(r2));
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  weft__reach_destroy(r2);
  weft__mship_destroy(m2);
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}

static void reach_round_of_a_revoked_epoch_is_dropped(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  const int32_t set[3] = {0, 1, 2};
  weft__reach_start(r, set, 3, "test", 1.0);
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "gone", 1.1);
  const uint32_t all[3] = {0, 1, 2};
  reach_answer(r, id[0], all, (const uint8_t[3]){0, 1, 0}, 3, 1.2);
  reach_answer(r, id[1], all, (const uint8_t[3]){1, 0, 0}, 3, 1.2);
  weft__reach_tick(r, 10.0);
  assert_false(weft__reach_running(r));
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1); /* the crash's */
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}


/* --- a restarted coordinator (REJOIN) and the quorum ------------------------------------------ */

static int g_peer2; /* a second connection handle */

static uint32_t g_rounds; /* the rounds the next rejoin reports */

static weft_result_t rejoin(weft__mship_t *m, uint64_t id, uint64_t epoch, int rank, const uint64_t *ids,
                            uint32_t size, void *peer, double now, void **old_peer, weft__coord_error_t *err) {
  weft__coord_rejoin_t rj = {.member_id = id, .epoch = epoch, .rank = rank, .size = size, .ids = ids,
                             .rounds = g_rounds, .last_answer = g_rounds ? WEFT__COORD_NO_CHANGE : 0};
  rj.hello = (weft__coord_hello_t){.rank_hint = rank, .pid = 200u + (uint32_t)(rank < 0 ? 9 : rank),
                                   .card_len = 5, .card = cards[(rank < 0 ? 0 : rank) % 4]};
  snprintf(rj.hello.host, sizeof rj.hello.host, "node%d", rank);
  void *old = NULL;
  weft__coord_error_t e;
  weft_result_t r = weft__mship_rejoin(m, &rj, peer, now, old_peer ? old_peer : &old, err ? err : &e);
  return r;
}

/* All members of epoch 3 come back: the same epoch, the same ranks, nothing revoked; a recover
 * round then answers NO_CHANGE as if nothing happened. */
static void rebuild_restores_the_epoch(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 4, 1);
  uint64_t ids[4] = {11, 22, 33, 44};
  for (int r = 3; r >= 0; r--) assert_int_equal(rejoin(m, ids[r], 3, r, ids, 4, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  assert_false(weft__mship_rebuilding(m)); /* everyone back: no need to wait out the window */
  assert_int_equal(weft__mship_epoch(m), 3);
  for (int r = 0; r < 4; r++) assert_int_equal(weft__mship_rank_of(m, ids[r]), r);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  assert_int_equal(count(&s, WEFT__MSHIP_WELCOME), 4);
  for (int r = 0; r < 4; r++) weft__mship_recover(m, ids[r], 3, true, 1.1);
  assert_int_equal(last(&s, WEFT__MSHIP_NO_CHANGE)->epoch_ref, 3);
  weft__mship_destroy(m);
}

/* One member of four never comes back: when the window (one heartbeat timeout) ends it has failed,
 * the others hear REVOKE naming it, and a RECOVER sent during the rebuild still counts. */
static void rebuild_fails_the_missing_and_keeps_asks(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 4, 1);
  uint64_t ids[4] = {11, 22, 33, 44};
  for (int r = 0; r < 4; r++)
    if (r != 2) assert_int_equal(rejoin(m, ids[r], 3, r, ids, 4, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  weft__mship_recover(m, ids[0], 3, true, 1.2); /* re-sent on the new connection */
  weft__mship_tick(m, 2.0);
  assert_true(weft__mship_rebuilding(m));
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  weft__mship_tick(m, 4.1);
  assert_false(weft__mship_rebuilding(m));
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.member_id, ids[2]);
  assert_int_equal(rv->revoke.rank, 2);
  assert_non_null(strstr(rv->revoke.text, "did not reconnect to the restarted coordinator"));
  weft__mship_recover(m, ids[1], 3, true, 4.2);
  weft__mship_recover(m, ids[3], 3, true, 4.2);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_non_null(e);
  assert_int_equal(e->epoch, 4);
  assert_int_equal(e->size, 3);
  assert_int_equal(e->num_left, 1);
  assert_int_equal(e->left[0].member_id, ids[2]);
  weft__mship_destroy(m);
}

/* The members disagree: three hold epoch 5, one still holds epoch 4, which listed it and which
 * the others left without it. Epoch 5 is the one kept; the straggler is evicted, with its
 * verdict. One that holds epoch 4 and is listed in 5 (it missed 5's announcement) stays in, and
 * the next round forms epoch 6 even though nobody is gone. */
static void rebuild_keeps_the_highest_epoch(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 5, 1);
  uint64_t e4[4] = {11, 22, 33, 44}, e5[3] = {11, 22, 55};
  assert_int_equal(rejoin(m, 44, 4, 3, e4, 4, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS); /* left out of 5 */
  assert_int_equal(rejoin(m, 22, 4, 1, e4, 4, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS); /* in 5, missed it */
  assert_int_equal(rejoin(m, 11, 5, 0, e5, 3, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  assert_int_equal(rejoin(m, 55, 5, 2, e5, 3, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  assert_false(weft__mship_rebuilding(m)); /* all of epoch 5 is back */
  assert_int_equal(weft__mship_epoch(m), 5);
  const rec_t *c = last(&s, WEFT__MSHIP_CLOSE);
  assert_non_null(c);
  assert_int_equal(c->to[0], 44);
  assert_int_equal(c->error.code, WEFT_ERR_EVICTED);
  assert_int_equal(weft__mship_rank_of(m, 44), -1);
  assert_int_equal(weft__mship_rank_of(m, 22), 1);
  weft__mship_recover(m, 11, 5, true, 1.1);
  weft__mship_recover(m, 22, 4, true, 1.1); /* asks to leave the epoch it holds */
  weft__mship_recover(m, 55, 5, true, 1.1);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 0);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_non_null(e);
  assert_int_equal(e->epoch, 6);
  assert_int_equal(e->size, 3);
  weft__mship_destroy(m);
}

/* A live member whose connection broke comes back on a new one: it keeps its place (the old
 * connection is handed back to be forgotten, not failed). A member the coordinator no longer has
 * is refused with WEFT_ERR_EVICTED. */
static void rejoin_of_a_live_member_moves_it(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  void *old = NULL;
  assert_int_equal(rejoin(m, id[1], 1, 1, id, 3, &g_peer2, 2.0, &old, NULL), WEFT_SUCCESS);
  assert_ptr_equal(old, &g_peer);
  assert_int_equal(weft__mship_rank_of(m, id[1]), 1);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "closed", 3.0);
  weft__coord_error_t err;
  assert_int_equal(rejoin(m, id[2], 1, 2, id, 3, &g_peer2, 4.0, NULL, &err), WEFT_ERR_EVICTED);
  assert_int_equal(rejoin(m, 999, 1, 0, (uint64_t[]){999}, 1, &g_peer2, 4.0, NULL, &err), WEFT_ERR_EVICTED);
  weft__mship_destroy(m);
}

/* The old coordinator answered round 5 to two members and died before the third got it: the
 * third asks round 5 again on the new one and gets its NO_CHANGE alone (the others have gone on
 * computing and would never join that round); round 6 is then an ordinary round of all three. */
static void rebuild_answers_a_round_lost_with_the_coordinator(void **state) {
  (void)state;
  sink_t s;
  weft__mship_t *m = make(&s, 3, 1);
  uint64_t ids[3] = {11, 22, 33};
  g_rounds = 5;
  assert_int_equal(rejoin(m, 11, 2, 0, ids, 3, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  assert_int_equal(rejoin(m, 22, 2, 1, ids, 3, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  g_rounds = 4;
  assert_int_equal(rejoin(m, 33, 2, 2, ids, 3, &g_peer, 1.0, NULL, NULL), WEFT_SUCCESS);
  g_rounds = 0;
  assert_false(weft__mship_rebuilding(m));
  weft__mship_recover(m, 33, 2, true, 1.1); /* its round-5 RECOVER, sent again */
  const rec_t *nc = last(&s, WEFT__MSHIP_NO_CHANGE);
  assert_non_null(nc);
  assert_int_equal(nc->num_to, 1);
  assert_int_equal(nc->to[0], 33);
  for (int r = 0; r < 3; r++) weft__mship_recover(m, ids[r], 2, true, 1.2);
  nc = last(&s, WEFT__MSHIP_NO_CHANGE);
  assert_int_equal(nc->num_to, 3);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 2);
  weft__mship_destroy(m);
}

/* Silence evicts only with a quorum: with one of four members heard the coordinator may be the
 * one cut off, so it evicts nobody; with two of four heard (a tie goes to its side) it evicts the
 * silent two. Members known dead (closed connections) do not count against it; when the quorum
 * comes back the silent get one more heartbeat timeout. */
static void silence_evicts_only_with_a_quorum(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  for (double t = 0.5; t <= 5.0; t += 0.5) {
    weft__mship_heard(m, id[0], t);
    weft__mship_tick(m, t);
  }
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 0);
  weft__mship_fail(m, id[3], WEFT__FAIL_CRASH, "closed", 5.2); /* dead for sure */
  weft__mship_fail(m, id[2], WEFT__FAIL_CRASH, "closed", 5.2);
  /* One of the two left is heard: a tie, the quorum is back. The silent one gets a heartbeat
   * timeout to be heard (it may be reconnecting after a partition), then is evicted. */
  for (double t = 5.5; t <= 8.0; t += 0.5) {
    weft__mship_heard(m, id[0], t);
    weft__mship_tick(m, t);
  }
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 2); /* the two crashes only */
  weft__mship_heard(m, id[0], 9.0);
  weft__mship_tick(m, 9.0);
  const rec_t *r = last(&s, WEFT__MSHIP_REVOKE);
  assert_int_equal(r->revoke.member_id, id[1]);
  assert_int_equal(r->revoke.reason, WEFT__FAIL_HUNG);
  weft__mship_destroy(m);

  m = formed(&s, 4, 1, id);
  for (double t = 0.5; t <= 4.0; t += 0.5) {
    weft__mship_heard(m, id[0], t);
    weft__mship_heard(m, id[1], t);
    weft__mship_tick(m, t);
  }
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 2);
  weft__mship_destroy(m);
}

/* ---- one member's word (suspect.c) -------------------------------------------------------- */

static void report_from(weft__suspect_t *sp, uint64_t reporter, uint64_t suspect, int32_t rank, double now) {
  weft__coord_revoke_t rep = {.epoch = 1, .member_id = suspect, .rank = rank, .reason = WEFT__FAIL_REPORTED};
  snprintf(rep.text, sizeof rep.text, "connection reset");
  weft__suspect_report(sp, reporter, &rep, now);
}

/* A report about a live member evicts nobody by itself; the round's answers name the reporter
 * as the one cut off (it reaches nobody), the reported member stays. Meanwhile every member asked
 * RECOVER: the round is held, not answered NO_CHANGE. */
static void report_of_a_live_member_checks_reachability(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  weft__suspect_t *sp = weft__suspect_create(m, r, 0.5);
  for (int i = 0; i < 4; i++) weft__mship_heard(m, id[i], 1.0);
  report_from(sp, id[1], id[2], 2, 1.1);
  assert_null(last(&s, WEFT__MSHIP_REVOKE));
  assert_int_equal(count(&s, WEFT__MSHIP_REACH_QUERY), 4);
  weft__mship_recover(m, id[1], 1, true, 1.1); /* the reporter gave up on its call */
  const uint32_t all[4] = {0, 1, 2, 3};
  const uint8_t ok_but1[4] = {0, 1, 0, 0};
  reach_answer(r, id[0], all, ok_but1, 4, 1.2);
  reach_answer(r, id[2], all, ok_but1, 4, 1.2);
  for (int i = 0; i < 4; i++)
    if (i != 1) weft__mship_recover(m, id[i], 1, true, 1.3);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 0); /* held while the check runs */
  reach_answer(r, id[3], all, ok_but1, 4, 1.4); /* rank 1 is inside recover: not waited for */
  weft__suspect_tick(sp, 1.4);
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_PARTITIONED);
  assert_int_equal(rv->revoke.rank, 1);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_non_null(e);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 3);
  weft__suspect_destroy(sp);
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}

/* A suspect silent for two heartbeat intervals is hung or dead: evicted at once, as reported. */
static void report_of_a_silent_member_evicts_it(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  weft__suspect_t *sp = weft__suspect_create(m, r, 0.5);
  weft__mship_heard(m, id[0], 2.0);
  report_from(sp, id[0], 0, 2, 2.0); /* by rank: member id 0 */
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_REPORTED);
  assert_int_equal(rv->revoke.member_id, id[2]);
  assert_int_equal(count(&s, WEFT__MSHIP_REACH_QUERY), 0);
  weft__suspect_destroy(sp);
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}

/* Nobody to blame: a report without a suspect, every link whole -> the epoch ends for all
 * (RESET, rank -1) and the round forms the next one with the same members. */
static void report_without_a_suspect_resets_the_epoch(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[3];
  weft__mship_t *m = formed(&s, 3, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  weft__suspect_t *sp = weft__suspect_create(m, r, 0.5);
  report_from(sp, id[0], 0, -1, 0.1);
  const uint32_t all[3] = {0, 1, 2};
  const uint8_t ok[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) reach_answer(r, id[i], all, ok, 3, 0.2);
  weft__suspect_tick(sp, 0.2);
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_RESET);
  assert_int_equal(rv->revoke.rank, -1);
  assert_int_equal(rv->revoke.member_id, 0);
  assert_int_equal(rv->num_to, 3);
  assert_true(weft__mship_revoked(m));
  for (int i = 0; i < 3; i++) weft__mship_recover(m, id[i], 1, true, 0.3);
  const rec_t *e = last(&s, WEFT__MSHIP_EPOCH);
  assert_int_equal(e->epoch, 2);
  assert_int_equal(e->size, 3);
  assert_int_equal(e->num_left, 0);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 0);
  weft__suspect_destroy(sp);
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}

/* Inside a mesh formation nobody answers a round: the members' reports are the links. A joiner
 * (rank 3) that ranks 0-2 all report is evicted at the round's deadline; an answer overrides a
 * reported link. */
static void reports_decide_when_nobody_answers(void **state) {
  (void)state;
  sink_t s;
  uint64_t id[4];
  weft__mship_t *m = formed(&s, 4, 1, id);
  weft__reach_t *r = weft__reach_create(m);
  weft__suspect_t *sp = weft__suspect_create(m, r, 0.5);
  for (int i = 0; i < 3; i++) report_from(sp, id[i], id[3], 3, 0.1);
  assert_int_equal(count(&s, WEFT__MSHIP_REACH_QUERY), 4); /* one round for all three reports */
  weft__reach_tick(r, 1.0);
  weft__suspect_tick(sp, 1.0);
  assert_null(last(&s, WEFT__MSHIP_REVOKE));
  weft__reach_tick(r, 0.1 + WEFT__REACH_DIAL_S + WEFT__REACH_SLACK_S);
  weft__suspect_tick(sp, 0.1 + WEFT__REACH_DIAL_S + WEFT__REACH_SLACK_S);
  const rec_t *rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_PARTITIONED);
  assert_int_equal(rv->revoke.rank, 3);
  assert_int_equal(count(&s, WEFT__MSHIP_REVOKE), 1);
  weft__suspect_destroy(sp);
  weft__reach_destroy(r);
  weft__mship_destroy(m);

  /* The same reports, but ranks 0 and 3 answer that they reach everyone: an answer from either
   * end overrides a reported link, so all three links are whole and nobody is evicted. */
  m = formed(&s, 4, 1, id);
  r = weft__reach_create(m);
  sp = weft__suspect_create(m, r, 0.5);
  for (int i = 0; i < 3; i++) report_from(sp, id[i], id[3], 3, 0.1);
  const uint32_t all[4] = {0, 1, 2, 3};
  const uint8_t ok[4] = {0, 0, 0, 0};
  reach_answer(r, id[3], all, ok, 4, 0.2);
  reach_answer(r, id[0], all, ok, 4, 0.2);
  weft__reach_tick(r, 0.1 + WEFT__REACH_DIAL_S + WEFT__REACH_SLACK_S);
  weft__suspect_tick(sp, 0.1 + WEFT__REACH_DIAL_S + WEFT__REACH_SLACK_S);
  rv = last(&s, WEFT__MSHIP_REVOKE);
  assert_non_null(rv);
  assert_int_equal(rv->revoke.reason, WEFT__FAIL_RESET); /* nobody evicted: the epoch ends for all */
  weft__suspect_destroy(sp);
  weft__reach_destroy(r);
  weft__mship_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(member_ids_are_random_and_found),
      cmocka_unit_test(first_epoch_waits_for_world_and_orders_by_rank),
      cmocka_unit_test(bad_joins_are_rejected),
      cmocka_unit_test(epochs_carry_cards),
      cmocka_unit_test(pending_joiner_that_disconnects_is_dropped),
      cmocka_unit_test(crash_revokes_and_fences),
      cmocka_unit_test(silence_is_hung),
      cmocka_unit_test(coordinator_stall_blames_nobody),
      cmocka_unit_test(recover_with_restarted_rank_keeps_positions),
      cmocka_unit_test(failure_during_recover_drops_out_of_the_wait),
      cmocka_unit_test(recover_without_change_is_no_change),
      cmocka_unit_test(stale_recover_is_an_error),
      cmocka_unit_test(leave_is_informational_and_ends_the_job),
      cmocka_unit_test(report_fails_the_suspect),
      cmocka_unit_test(below_min_size_waits_for_joiners_then_refuses),
      cmocka_unit_test(below_min_size_then_a_joiner_arrives),
      cmocka_unit_test(joiners_restart_a_dead_job),
      cmocka_unit_test(joiner_after_a_clean_end_is_refused),
      cmocka_unit_test(whole_world_restarts_a_finished_job),
      cmocka_unit_test(shrink_keeps_joiners_waiting),
      cmocka_unit_test_setup_teardown(recover_deadline_leaves_out_the_silent_member, deadline_setup,
                                      deadline_teardown),
      cmocka_unit_test_setup_teardown(recover_deadline_is_per_round, deadline_setup, deadline_teardown),
      cmocka_unit_test_setup_teardown(recover_deadline_closes_when_the_askers_fail, deadline_setup,
                                      deadline_teardown),
      cmocka_unit_test_setup_teardown(recover_deadline_below_min_size, deadline_setup, deadline_teardown),
      cmocka_unit_test_setup_teardown(recover_deadline_forgives_a_coordinator_stall, deadline_setup,
                                      deadline_teardown),
      cmocka_unit_test(no_recover_deadline_waits_for_everyone),
      cmocka_unit_test(bad_config_is_refused),
      cmocka_unit_test(stall_evicts_the_idle_laggard_naming_it),
      cmocka_unit_test(stall_spares_a_rank_in_a_call_or_progressing),
      cmocka_unit_test(stall_of_a_group_asks_its_members_only),
      cmocka_unit_test(stall_evicts_every_laggard_at_once),
      cmocka_unit_test(stall_of_a_past_or_revoked_epoch_is_dropped),
      cmocka_unit_test(reach_keeps_the_largest_connected_set),
      cmocka_unit_test(reach_decides_at_its_deadline_with_what_came),
      cmocka_unit_test(reach_round_of_a_revoked_epoch_is_dropped),
      cmocka_unit_test(rebuild_restores_the_epoch),
      cmocka_unit_test(rebuild_fails_the_missing_and_keeps_asks),
      cmocka_unit_test(rebuild_keeps_the_highest_epoch),
      cmocka_unit_test(rejoin_of_a_live_member_moves_it),
      cmocka_unit_test(silence_evicts_only_with_a_quorum),
      cmocka_unit_test(rebuild_answers_a_round_lost_with_the_coordinator),
      cmocka_unit_test(report_of_a_live_member_checks_reachability),
      cmocka_unit_test(report_of_a_silent_member_evicts_it),
      cmocka_unit_test(report_without_a_suspect_resets_the_epoch),
      cmocka_unit_test(reports_decide_when_nobody_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
