/* The coordinator's membership state machine (tools/coordinator/membership.c), driven with fake
 * members and fake time: joins, the first epoch, failures of every kind, recover waits, joiners,
 * min size and its grace period. Built from tools/meson.build (it needs the tool's sources). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coordinator/membership.h"

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
  }
}

static int g_peer; /* any non-NULL handle will do */

static weft__mship_t *make(sink_t *s, uint32_t world, uint32_t min) {
  memset(s, 0, sizeof *s);
  weft__mship_config_t cfg = {.world_size = world, .min_size = min, .heartbeat_timeout = 3.0};
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
 * with nothing failed a SHRINK is NO_CHANGE even though a joiner waits. */
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

  weft__mship_recover(m, id[0], 2, false, 3); /* nothing failed: SHRINK is NO_CHANGE */
  weft__mship_recover(m, id[1], 2, false, 3);
  assert_int_equal(count(&s, WEFT__MSHIP_NO_CHANGE), 2);
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

static void bad_config_is_refused(void **state) {
  (void)state;
  sink_t s;
  weft__mship_config_t cfg = {.world_size = 2, .min_size = 3, .heartbeat_timeout = 1};
  assert_null(weft__mship_create(&cfg, record, NULL, &s));
  cfg.min_size = 0;
  assert_null(weft__mship_create(&cfg, record, NULL, &s));
  weft__mship_destroy(NULL);
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
      cmocka_unit_test(bad_config_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
