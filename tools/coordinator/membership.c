/* The coordinator's membership state machine (see membership.h for the contract).
 *
 * Every process that said HELLO has one record, kept in `v` sorted by member id (a join inserts
 * in place; lookups are a binary search). Member ids are random 64-bit numbers, never 0 and
 * never equal to a live record's (new_id): an id is not something a process can guess, and a
 * restarted coordinator cannot hand out an id it gave before (a counter would start again at 1,
 * and a process of the old run would be taken for a new one). Two draws collide with
 * probability 2^-64. Join order, which ranks without a launcher rank are sorted by, is a
 * separate counter (seq). A record is
 *   WAITING  a joiner not in any epoch yet (before epoch 1, everyone is one),
 *   ACTIVE   alive and a member of the current epoch E (rank = its position in E),
 *   GONE     a member of E that failed or left; kept until the next epoch lists it in `left`.
 * Records of joiners that fail are dropped at once: no epoch knows them.
 *
 * Epoch E+1 forms when every ACTIVE member has sent RECOVER for E (members failing meanwhile
 * drop out of the wait) and something changed (a GONE member or a waiting joiner); otherwise the
 * members hear NO_CHANGE. The wait has a deadline: recover_timeout after the round's first ask,
 * members that have not asked are failed (RECOVER_TIMEOUT) and fenced, and the round is decided
 * among those that did. A member that asked SHRINK instead (a re-run of a failed operation is
 * about to follow, which a joiner could not take part in) keeps waiting joiners out of that
 * decision; they enter at a later RECOVER. When E's members are all gone, waiting joiners form the next epoch on
 * their own. Two grace periods (each one heartbeat timeout) keep a fast restart from turning
 * into a lost job: a membership below min_size waits that long for joiners before it is refused,
 * and joiners without survivors wait that long for the rest of the world before starting with
 * at least min_size of them. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/auth.h"
#include "membership.h"
#include "membership/rules.h"

typedef enum { M_WAITING, M_ACTIVE, M_GONE } member_state_t;

typedef struct {
  uint64_t id;
  uint64_t seq; /* join order: ties between members without a rank hint */
  int32_t rank_hint;
  int32_t rank; /* position in the current epoch; -1 for a joiner */
  member_state_t state;
  uint32_t reason; /* weft__fail_reason_t once GONE */
  bool recovered;  /* sent RECOVER (or SHRINK) for the current epoch */
  bool shrink;     /* ... and it was SHRINK: no joiner may enter */
  double last_heard;
  void *peer;
  uint32_t pid;
  weft__addr_t addr;
  char host[64];
  uint8_t *card; /* its opaque card (NULL when card_len is 0), carried in every EPOCH */
  uint16_t card_len;
  /* A restarted coordinator (rebuild below): the epoch and rank the member said it holds, and
   * the RECOVER/SHRINK it sent before the rebuild ended (1 recover, 2 shrink). */
  uint64_t held_epoch;
  int32_t held_rank;
  uint8_t held_ask;
  bool behind; /* it had not installed the current epoch: its RECOVER names the one before */
  uint32_t rounds_seen; /* recover rounds of the current epoch answered to it */
} member_t;

struct weft__mship {
  weft__mship_config_t cfg;
  weft__mship_emit_fn emit;
  weft__mship_log_fn log;
  void *user;
  member_t *v;
  size_t n, cap;
  size_t n_waiting, n_active, n_gone, n_recovered, n_shrink;
  uint64_t next_seq, epoch;
  double orphan_since; /* joiners wait and no member of E is alive: since when (0: not so) */
  double short_since;  /* all of E recovered but too few for min_size: since when (0: not so) */
  double round_since;  /* the first RECOVER/SHRINK of the open round came then (0: no round) */
  double last_tick;
  /* The job ended on purpose: the last live member of E left with LEAVE (weft_comm_destroy).
   * Then only the whole world may start it again (every rank calling init anew, as a program
   * that creates communicators in a loop does); a lone process that arrives is a late restart of
   * a finished job, and an epoch of its own would run the application a second time, so it is
   * refused after WEFT__RULES_FINISHED_GRACE heartbeat timeouts. When the last member crashed or hung
   * instead, min_size joiners may re-form the job after one grace period (a whole-job restart). */
  bool finished;
  /* A failure one member saw, nobody to blame yet (suspect.c): while `held`, a round in which
   * every member asked is not answered NO_CHANGE (the check may still evict someone); once
   * `reset`, the epoch is revoked for all and the next one forms with the same members. */
  bool held, reset;
  weft__mship_dest_t *dests; /* scratch for event recipients */
  size_t dests_cap;
  bool no_quorum;       /* logged once per episode: too few members heard to evict the silent */
  bool round_no_quorum; /* ... too few asked in time to leave out the others */
  /* Rebuilding after a restart (REJOIN, below): until rebuild_until or until every member of
   * rb_epoch (rb_ids, by rank) is back, nothing is decided. */
  bool rebuilding;
  double rebuild_until;
  uint32_t rounds;      /* recover rounds of the current epoch answered (NO_CHANGE/JOINERS) */
  uint8_t last_answer;  /* the kind of the last: WEFT__MSHIP_NO_CHANGE or WEFT__MSHIP_JOINERS */
  uint32_t last_joiners;
  bool rb_revoked;      /* a member reported rb_epoch revoked (WEFT__REJOIN_REVOKED) */
  uint32_t rb_rounds;   /* the most rounds of rb_epoch a member reported, and their last answer */
  uint8_t rb_last_answer;
  uint64_t rb_epoch;
  uint64_t *rb_ids;
  uint32_t rb_size;
};

void weft__mship_logf(const weft__mship_t *m, const char *fmt, ...) {
  if (m->log == NULL) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  m->log(m->user, line);
}

#define logf_ weft__mship_logf

void weft__mship_emit(weft__mship_t *m, const weft__mship_event_t *ev) { m->emit(m->user, ev); }

static const char *reason_name(uint32_t reason) {
  switch (reason) {
  case WEFT__FAIL_CRASH: return "CRASH";
  case WEFT__FAIL_HUNG: return "HUNG";
  case WEFT__FAIL_REPORTED: return "REPORTED";
  case WEFT__FAIL_LEFT: return "LEFT";
  case WEFT__FAIL_STALLED: return "STALLED";
  case WEFT__FAIL_PARTITIONED: return "PARTITIONED";
  case WEFT__FAIL_RECOVER_TIMEOUT: return "RECOVER_TIMEOUT";
  case WEFT__FAIL_RESET: return "RESET";
  default: return "?";
  }
}

/* "rank 3 (member 4, host h pid 7)" for a member of E, "joiner member 4 (rank hint 3, ...)"
 * otherwise: what an operator needs to find the process. */
static void describe(const member_t *r, char *buf, size_t len) {
  if (r->rank >= 0)
    snprintf(buf, len, "rank %d (member %" PRIu64 ", host %s pid %u)", (int)r->rank, r->id,
             r->host, (unsigned)r->pid);
  else
    snprintf(buf, len, "joiner member %" PRIu64 " (rank hint %d, host %s pid %u)", r->id,
             (int)r->rank_hint, r->host, (unsigned)r->pid);
}

/* The index of the first record whose id is >= id (m->n if none). */
static size_t lower_bound(const weft__mship_t *m, uint64_t id) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->v[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static member_t *find(const weft__mship_t *m, uint64_t id) {
  size_t i = lower_bound(m, id);
  return i < m->n && m->v[i].id == id ? &m->v[i] : NULL;
}

/* A fresh member id: random, not 0 (which means "none" in REPORT and in cards), not a live one. */
static uint64_t new_id(const weft__mship_t *m) {
  uint64_t id;
  do id = weft__auth_random_u64();
  while (id == 0 || find(m, id) != NULL);
  return id;
}

static void remove_record(weft__mship_t *m, member_t *r) {
  size_t i = (size_t)(r - m->v);
  free(r->card);
  memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
  m->n--;
}

/* Recipients: every record in `state` (or the one record `only`). false: out of memory. */
static bool dests_reserve(weft__mship_t *m, size_t n) {
  if (n <= m->dests_cap) return true;
  weft__mship_dest_t *d = realloc(m->dests, n * sizeof *d);
  if (d == NULL) return false;
  m->dests = d;
  m->dests_cap = n;
  return true;
}

static void emit_to_state(weft__mship_t *m, weft__mship_event_t *ev, member_state_t state) {
  if (!dests_reserve(m, m->n > 0 ? m->n : 1)) return;
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++)
    if (m->v[i].state == state && m->v[i].peer != NULL)
      m->dests[k++] = (weft__mship_dest_t){m->v[i].id, m->v[i].peer};
  if (k == 0) return;
  ev->to = m->dests;
  ev->num_to = k;
  m->emit(m->user, ev);
}

static void emit_to_one(weft__mship_t *m, weft__mship_event_t *ev, const member_t *r) {
  if (r->peer == NULL) return;
  weft__mship_dest_t d = {r->id, r->peer};
  ev->to = &d;
  ev->num_to = 1;
  m->emit(m->user, ev);
}

/* --- forming epochs ------------------------------------------------------------------------ */

static int by_rank_hint(const void *a, const void *b) {
  const member_t *x = *(member_t *const *)a, *y = *(member_t *const *)b;
  weft__rules_candidate_t cx = {x->seq, x->rank_hint}, cy = {y->seq, y->rank_hint};
  return weft__rules_order_cmp(&cx, &cy);
}

static weft__rules_member_state_t rules_state(member_state_t s) {
  return s == M_ACTIVE ? WEFT__RULES_MEMBER_ACTIVE : s == M_WAITING ? WEFT__RULES_MEMBER_WAITING
                                                                   : WEFT__RULES_MEMBER_GONE;
}

/* Epoch E+1 = the live members of E plus (admit) every waiting joiner, in rank-hint order.
 * Joiners left out stay waiting for a later epoch. */
static void form_epoch(weft__mship_t *m, bool admit) {
  size_t size = m->n_active + (admit ? m->n_waiting : 0);
  member_t **order = calloc(size ? size : 1, sizeof *order);
  weft__coord_member_t *members = calloc(size ? size : 1, sizeof *members);
  weft__coord_left_t *left = calloc(m->n_gone ? m->n_gone : 1, sizeof *left);
  if (order == NULL || members == NULL || left == NULL) {
    logf_(m, "out of memory forming epoch %" PRIu64, m->epoch + 1);
    goto out;
  }
  size_t k = 0, nl = 0, joined = 0;
  for (size_t i = 0; i < m->n; i++) {
    member_t *r = &m->v[i];
    weft__rules_fate_t fate = weft__rules_fate(rules_state(r->state), admit);
    if (fate == WEFT__RULES_LEAVES)
      left[nl++] = (weft__coord_left_t){r->id, r->rank, r->reason};
    else if (fate != WEFT__RULES_WAITS)
      order[k++] = r;
  }
  qsort(order, size, sizeof *order, by_rank_hint);
  for (size_t i = 0; i < size; i++) {
    member_t *r = order[i];
    bool is_new = r->state == M_WAITING;
    joined += is_new;
    members[i] = (weft__coord_member_t){.member_id = r->id, .rank_hint = r->rank_hint,
                                        .flags = is_new ? WEFT__MEMBER_JOINED : 0,
                                        .addr = r->addr, .card_len = r->card_len, .card = r->card};
  }
  weft__coord_epoch_t e = {.epoch = m->epoch + 1, .size = (uint32_t)size,
                           .num_left = (uint32_t)nl, .members = members, .left = left};

  /* Commit before emitting so the recipients are the new members. */
  for (size_t i = 0; i < size; i++) {
    order[i]->state = M_ACTIVE;
    order[i]->rank = (int32_t)i;
    order[i]->recovered = order[i]->shrink = false;
    order[i]->behind = false;
    order[i]->rounds_seen = 0;
  }
  m->rounds = 0;
  for (size_t i = m->n; i-- > 0;)
    if (m->v[i].state == M_GONE) remove_record(m, &m->v[i]);
  m->epoch++;
  m->n_active = size;
  if (admit) m->n_waiting = 0;
  m->n_gone = m->n_recovered = m->n_shrink = 0;
  m->orphan_since = m->short_since = 0;
  m->round_since = 0;
  m->held = m->reset = false;

  logf_(m, "epoch %" PRIu64 " formed: %zu members (%zu joined, %zu gone since the last epoch)",
        m->epoch, size, joined, nl);
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_EPOCH, .u.epoch = &e};
  emit_to_state(m, &ev, M_ACTIVE);
out:
  free(order);
  free(members);
  free(left);
}

/* Refuses the job's continuation: too few processes for min_size. Every live member and joiner
 * hears ERROR and is forgotten; GONE records stay for a later epoch of joiners to list. */
static void refuse_min_size(weft__mship_t *m) {
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_ERROR};
  ev.u.error.code = WEFT_ERR_MIN_SIZE;
  snprintf(ev.u.error.text, sizeof ev.u.error.text,
           "only %zu of epoch %" PRIu64 "'s members and joiners remain, below min size %u",
           m->n_active + m->n_waiting, m->epoch, (unsigned)m->cfg.min_size);
  logf_(m, "epoch %" PRIu64 " cannot continue: %s", m->epoch, ev.u.error.text);
  emit_to_state(m, &ev, M_ACTIVE);
  emit_to_state(m, &ev, M_WAITING);
  for (size_t i = m->n; i-- > 0;)
    if (m->v[i].state != M_GONE) remove_record(m, &m->v[i]);
  m->n_active = m->n_waiting = m->n_recovered = m->n_shrink = 0;
  m->short_since = m->orphan_since = 0;
  m->round_since = 0;
  m->held = m->reset = false;
}

/* Tells waiting joiners the job is over and forgets them. */
static void refuse_joiners_finished(weft__mship_t *m) {
  if (m->n_waiting == 0) return;
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_ERROR};
  ev.u.error.code = WEFT_ERR_JOB_FINISHED;
  snprintf(ev.u.error.text, sizeof ev.u.error.text,
           "the job finished at epoch %" PRIu64 " (its members left cleanly); running it again "
           "needs all %u ranks, %zu came", m->epoch, (unsigned)m->cfg.world_size, m->n_waiting);
  logf_(m, "refusing %zu joiners: %s", m->n_waiting, ev.u.error.text);
  emit_to_state(m, &ev, M_WAITING);
  for (size_t i = m->n; i-- > 0;)
    if (m->v[i].state == M_WAITING) remove_record(m, &m->v[i]);
  m->n_waiting = 0;
  m->orphan_since = 0;
}

/* Decides whatever the current state allows (the rules: lib/membership/rules.h), and carries it
 * out: called after every change and every tick. */
static void progress(weft__mship_t *m, double now) {
  if (m->rebuilding) return; /* decided once the members are back (finish_rebuild) */
  weft__rules_config_t rc = {.world_size = m->cfg.world_size, .min_size = m->cfg.min_size,
                             .grace = m->cfg.heartbeat_timeout};
  weft__rules_view_t view = {.epoch = m->epoch, .n_active = m->n_active, .n_waiting = m->n_waiting,
                             .n_gone = m->n_gone, .n_recovered = m->n_recovered,
                             .n_shrink = m->n_shrink, .finished = m->finished,
                             .orphan_since = m->orphan_since, .short_since = m->short_since};
  weft__rules_decision_t d = weft__rules_decide(&rc, &view, now);
  m->orphan_since = d.orphan_since;
  m->short_since = d.short_since;
  if (d.orphan_began)
    logf_(m, "no member of epoch %" PRIu64 " is alive; %zu joiners wait for the world (%u)",
          m->epoch, m->n_waiting, (unsigned)m->cfg.world_size);
  if (d.short_began)
    logf_(m, "recover of epoch %" PRIu64 ": %zu processes, below min size %u; waiting %.1f s "
          "for joiners", m->epoch, d.size, (unsigned)m->cfg.min_size, rc.grace);
  switch (d.verdict) {
  case WEFT__RULES_WAIT: break;
  case WEFT__RULES_NO_CHANGE: {
    if (m->held) break; /* suspect.c is still checking: its verdict answers this round */
    if (m->reset) {     /* nothing changed but the epoch ended for all: the same members go on */
      form_epoch(m, m->n_shrink == 0);
      break;
    }
    weft__mship_event_t ev = {.kind = WEFT__MSHIP_NO_CHANGE, .u.epoch_ref = m->epoch};
    if (d.joiners > 0) /* a SHRINK round kept them out: every member hears it in this round */
      ev = (weft__mship_event_t){.kind = WEFT__MSHIP_JOINERS,
                                 .u.joiners = {.epoch = m->epoch, .waiting = (uint32_t)d.joiners}};
    m->rounds++;
    m->last_answer = (uint8_t)ev.kind;
    m->last_joiners = (uint32_t)d.joiners;
    for (size_t i = 0; i < m->n; i++) {
      m->v[i].recovered = m->v[i].shrink = false;
      if (m->v[i].state == M_ACTIVE) m->v[i].rounds_seen = m->rounds;
    }
    m->n_recovered = m->n_shrink = 0;
    m->round_since = 0;
    if (d.joiners > 0)
      logf_(m, "shrink of epoch %" PRIu64 ": no change; %zu joiners wait: the members will recover to "
            "admit them", m->epoch, d.joiners);
    else
      logf_(m, "recover of epoch %" PRIu64 ": no change", m->epoch);
    emit_to_state(m, &ev, M_ACTIVE);
    break;
  }
  case WEFT__RULES_FORM:
    if (d.restart) m->finished = false; /* the whole world is back: a new run of the job */
    form_epoch(m, d.admit);
    break;
  case WEFT__RULES_REFUSE_MIN_SIZE: refuse_min_size(m); break;
  case WEFT__RULES_REFUSE_FINISHED: refuse_joiners_finished(m); break;
  }
}

/* --- failures ------------------------------------------------------------------------------ */

/* REVOKE of E naming r, to E's live members. Truncated to fit the wire field: who first, it names
 * the process -- by host and pid, which an operator can use; the member id (20 random digits)
 * stays in the coordinator's log. */
static void emit_revoke_of(weft__mship_t *m, const member_t *r, uint32_t reason, const char *why) {
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_REVOKE};
  ev.u.revoke = (weft__coord_revoke_t){.epoch = m->epoch, .member_id = r->id, .rank = r->rank, .reason = reason};
  snprintf(ev.u.revoke.text, sizeof ev.u.revoke.text, "rank %d (host %.48s pid %u) %s", (int)r->rank, r->host,
           (unsigned)r->pid, why);
  emit_to_state(m, &ev, M_ACTIVE);
}

/* The one place a live record dies. fence: also drop its connection (everything but LEFT, and
 * but an ERROR already sent, which closes it after flushing). */
static void fail_record(weft__mship_t *m, member_t *r, uint32_t reason, const char *why,
                        bool fence, double now) {
  char who[160];
  describe(r, who, sizeof who);
  void *peer = r->peer;
  uint64_t id = r->id;
  bool joiner = r->state == M_WAITING; /* r is gone below */
  r->peer = NULL;
  if (r->state == M_WAITING) {
    logf_(m, "%s dropped before joining an epoch (%s): %s", who, reason_name(reason), why);
    remove_record(m, r);
    m->n_waiting--;
  } else {
    if (r->recovered) m->n_recovered--;
    if (r->shrink) m->n_shrink--;
    if (m->n_recovered == 0) m->round_since = 0; /* nobody is waiting on the deadline any more */
    r->state = M_GONE;
    r->reason = reason;
    m->n_active--;
    m->n_gone++;
    if (reason == WEFT__FAIL_LEFT && m->n_active == 0) {
      m->finished = true;
      logf_(m, "epoch %" PRIu64 ": %s left, the last member: the job has finished (only all %u "
            "ranks together may start it again)", m->epoch, who, (unsigned)m->cfg.world_size);
    } else if (reason == WEFT__FAIL_LEFT)
      logf_(m, "epoch %" PRIu64 ": %s left", m->epoch, who);
    else
      logf_(m, "epoch %" PRIu64 " revoked: %s failed (%s): %s [last heard %.2f s before]",
            m->epoch, who, reason_name(reason), why, now - r->last_heard);
    emit_revoke_of(m, r, reason, why);
  }
  if (fence && peer != NULL) {
    /* The verdict travels with the close: a member that was only stopped or cut off reads it
     * when it resumes and knows for sure that it is out (WEFT_ERR_EVICTED), and why. */
    weft__mship_dest_t d = {id, peer};
    weft__mship_event_t ev = {.kind = WEFT__MSHIP_CLOSE, .to = &d, .num_to = 1};
    ev.u.error.code = WEFT_ERR_EVICTED;
    snprintf(ev.u.error.text, sizeof ev.u.error.text, "%s: %.115s (%s epoch %" PRIu64 ")", reason_name(reason), why,
             joiner ? "waiting to join after" : "a member of", m->epoch);
    m->emit(m->user, &ev);
  }
}

void weft__mship_fail(weft__mship_t *m, uint64_t member_id, weft__fail_reason_t reason,
                      const char *why, double now) {
  member_t *r = find(m, member_id);
  if (r == NULL || r->state == M_GONE) return;
  bool fence = reason != WEFT__FAIL_LEFT;
  fail_record(m, r, reason, why != NULL ? why : reason_name(reason), fence, now);
  progress(m, now);
}

/* Gone records are dropped when the next epoch forms, so any that remain belong to this one. */
static bool epoch_revoked(const weft__mship_t *m) {
  if (m->reset) return true;
  for (size_t i = 0; i < m->n; i++)
    if (m->v[i].state == M_GONE && m->v[i].reason != WEFT__FAIL_LEFT) return true;
  return false;
}

bool weft__mship_revoked(const weft__mship_t *m) { return epoch_revoked(m); }

void weft__mship_report(weft__mship_t *m, uint64_t reporter, const weft__coord_revoke_t *rep,
                        double now) {
  member_t *from = find(m, reporter);
  if (from == NULL || from->state != M_ACTIVE) return;
  /* A stale report (the reporter has not caught up) or one about a revoked epoch is ignored
   * (rules.h: once revoked, connections close because members recover, not because they died;
   * a member that really died is still caught by its own connection and heartbeats). */
  if (!weft__rules_report_counts(rep->epoch, m->epoch, epoch_revoked(m))) {
    if (rep->epoch != m->epoch)
      logf_(m, "ignored a report from rank %d about epoch %" PRIu64 " (current %" PRIu64 ")",
            (int)from->rank, rep->epoch, m->epoch);
    else
      logf_(m, "ignored a report from rank %d: epoch %" PRIu64 " is already revoked", (int)from->rank, m->epoch);
    return;
  }
  member_t *suspect = NULL;
  if (rep->member_id != 0) {
    suspect = find(m, rep->member_id);
  } else {
    for (size_t i = 0; i < m->n && suspect == NULL; i++)
      if (m->v[i].state != M_WAITING && m->v[i].rank == rep->rank) suspect = &m->v[i];
  }
  if (suspect == NULL || suspect->state == M_GONE || suspect == from) return;
  char why[WEFT__COORD_TEXT_LEN];
  snprintf(why, sizeof why, "reported by rank %d (member %" PRIu64 "): %.80s", (int)from->rank,
           from->id, rep->text);
  fail_record(m, suspect, WEFT__FAIL_REPORTED, why, true, now);
  progress(m, now);
}

double weft__mship_silent_for(const weft__mship_t *m, uint64_t member_id, double now) {
  const member_t *r = find(m, member_id);
  return r != NULL && r->state == M_ACTIVE ? now - r->last_heard : -1;
}

bool weft__mship_asked(const weft__mship_t *m, uint64_t member_id) {
  const member_t *r = find(m, member_id);
  return r != NULL && r->state == M_ACTIVE && r->recovered;
}

void weft__mship_hold(weft__mship_t *m, bool held, double now) {
  if (m->held == held) return;
  m->held = held;
  if (!held) progress(m, now); /* a round that waited on the check is decided now */
}

void weft__mship_reset(weft__mship_t *m, const char *why, double now) {
  m->held = false;
  if (m->epoch == 0 || epoch_revoked(m)) { /* revoked meanwhile: the members recover anyway */
    progress(m, now);
    return;
  }
  m->reset = true;
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_REVOKE};
  ev.u.revoke = (weft__coord_revoke_t){.epoch = m->epoch, .member_id = 0, .rank = -1, .reason = WEFT__FAIL_RESET};
  snprintf(ev.u.revoke.text, sizeof ev.u.revoke.text, "%s", why);
  logf_(m, "epoch %" PRIu64 " revoked for every member (RESET): %s; the next epoch keeps all %zu", m->epoch, why,
        m->n_active);
  emit_to_state(m, &ev, M_ACTIVE);
  progress(m, now);
}

/* The recover deadline passed: the members of E that have not asked are failed and fenced like a
 * hung member (a process stuck in user code would otherwise hold every survivor in recover
 * without bound), and the round is decided among those that asked. */
static void leave_out_late_members(weft__mship_t *m, double now) {
  if (!weft__rules_recover_overdue(m->round_since, m->cfg.recover_timeout, now)) {
    m->round_no_quorum = false;
    return;
  }
  if (2 * m->n_recovered < m->n_active) { /* the quorum rule again: the askers may be the cut-off side */
    if (!m->round_no_quorum)
      logf_(m, "recover of epoch %" PRIu64 ": only %zu of %zu members asked within %g s: no quorum, leaving out "
            "none of the others", m->epoch, m->n_recovered, m->n_active, m->cfg.recover_timeout);
    m->round_no_quorum = true;
    return;
  }
  char why[96];
  snprintf(why, sizeof why, "did not call recover within WEFT_RECOVER_TIMEOUT %g s", m->cfg.recover_timeout);
  logf_(m, "recover of epoch %" PRIu64 ": %zu of %zu members asked within %g s; leaving out the others", m->epoch,
        m->n_recovered, m->n_active, m->cfg.recover_timeout);
  for (size_t i = 0; i < m->n; i++)
    if (m->v[i].state == M_ACTIVE && !m->v[i].recovered)
      fail_record(m, &m->v[i], WEFT__FAIL_RECOVER_TIMEOUT, why, true, now);
}

/* Quorum: silence evicts only when the members this coordinator still hears are at least half
 * of the epoch's live members. A coordinator on the minority side of a partition would otherwise
 * evict the majority -- the side that can go on -- and shrink the job to the few it can reach.
 * Members known dead (their connection closed: CRASH; LEFT) are GONE, not counted, so a crash of
 * most of the job is still handled at once; a tie goes to the coordinator's side, so one of two
 * ranks stopped is still evicted. */
static bool heard_quorum(weft__mship_t *m, double now) {
  size_t heard = 0;
  for (size_t i = 0; i < m->n; i++)
    heard += m->v[i].state == M_ACTIVE && now - m->v[i].last_heard <= m->cfg.heartbeat_timeout;
  bool ok = 2 * heard >= m->n_active;
  if (!ok && !m->no_quorum)
    logf_(m, "epoch %" PRIu64 ": only %zu of %zu members heard within %.1f s: no quorum, evicting none of the "
          "silent ones (this coordinator may be on the minority side of a partition)", m->epoch, heard,
          m->n_active, m->cfg.heartbeat_timeout);
  else if (ok && m->no_quorum) {
    /* The partition healed. The ones still silent may be reconnecting right now (their side gave
     * up on the old connection): they get a full heartbeat timeout, as after this coordinator's
     * own stall, before silence counts again. */
    logf_(m, "epoch %" PRIu64 ": quorum back (%zu of %zu members heard); the others get %.1f s to be heard",
          m->epoch, heard, m->n_active, m->cfg.heartbeat_timeout);
    for (size_t i = 0; i < m->n; i++)
      if (m->v[i].state == M_ACTIVE) m->v[i].last_heard = WEFT__MAX(m->v[i].last_heard, now);
  }
  m->no_quorum = !ok;
  return ok;
}

static void finish_rebuild(weft__mship_t *m, double now);

void weft__mship_tick(weft__mship_t *m, double now) {
  double timeout = m->cfg.heartbeat_timeout;
  /* A coordinator that was itself stopped (SIGSTOP, swapped out) must not blame everybody for
   * its own silence: forgive the gap and start counting afresh. */
  if (m->last_tick > 0 && now - m->last_tick > timeout / 2) {
    logf_(m, "coordinator stalled for %.1f s; restarting heartbeat clocks", now - m->last_tick);
    for (size_t i = 0; i < m->n; i++) m->v[i].last_heard = now;
    if (m->round_since > 0) m->round_since = now; /* the RECOVERs may be queued unread */
  }
  m->last_tick = now;
  if (m->rebuilding) {
    if (now >= m->rebuild_until) finish_rebuild(m, now);
    return;
  }
  bool quorum = heard_quorum(m, now);
  for (size_t i = 0; i < m->n;) {
    member_t *r = &m->v[i];
    if (r->state == M_ACTIVE && !quorum) {
      i++; /* maybe this coordinator is the one cut off: wait for the members or their closes */
      continue;
    }
    if (r->state != M_GONE && now - r->last_heard > timeout) {
      char why[96];
      snprintf(why, sizeof why, "missed heartbeats for %.1f s", now - r->last_heard);
      bool drops = r->state == M_WAITING; /* a waiting record is removed: i stays */
      fail_record(m, r, WEFT__FAIL_HUNG, why, true, now);
      if (drops) continue;
    }
    i++;
  }
  leave_out_late_members(m, now);
  progress(m, now);
}

/* --- joins and recovery -------------------------------------------------------------------- */

static uint8_t *copy_card(const uint8_t *card, uint16_t len) {
  uint8_t *copy = malloc(len);
  if (copy != NULL) memcpy(copy, card, len);
  return copy;
}

static weft_result_t reject(weft__coord_error_t *err, weft_result_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static weft_result_t reject(weft__coord_error_t *err, weft_result_t code, const char *fmt, ...) {
  va_list ap;
  memset(err, 0, sizeof *err);
  err->code = (uint32_t)code;
  va_start(ap, fmt);
  vsnprintf(err->text, sizeof err->text, fmt, ap);
  va_end(ap);
  return code;
}

weft_result_t weft__mship_join(weft__mship_t *m, const weft__coord_hello_t *h, void *peer,
                               double now, uint64_t *member_id, weft__coord_error_t *err) {
  if (h->world_size != 0 && h->world_size != m->cfg.world_size)
    return reject(err, WEFT_ERR_INVALID_ARGUMENT,
                  "world size %u differs from the coordinator's --world-size %u",
                  (unsigned)h->world_size, (unsigned)m->cfg.world_size);
  if (h->rank_hint < -1 || (h->rank_hint >= 0 && (uint32_t)h->rank_hint >= m->cfg.world_size))
    return reject(err, WEFT_ERR_INVALID_ARGUMENT, "rank %d is outside the world of %u",
                  (int)h->rank_hint, (unsigned)m->cfg.world_size);
  for (size_t i = 0; i < m->n && h->rank_hint >= 0; i++) {
    const member_t *r = &m->v[i];
    if (r->state != M_GONE && r->rank_hint == h->rank_hint)
      return reject(err, WEFT_ERR_INVALID_ARGUMENT,
                    "rank %d is taken by live member %" PRIu64 " (host %s pid %u)",
                    (int)h->rank_hint, r->id, r->host, (unsigned)r->pid);
  }
  if (m->n >= WEFT__COORD_MAX_MEMBERS)
    return reject(err, WEFT_ERR_NO_MEMORY, "the coordinator holds %d members already",
                  WEFT__COORD_MAX_MEMBERS);
  uint8_t *card = NULL;
  if (h->card_len > 0 && !(card = copy_card(h->card, h->card_len)))
    return reject(err, WEFT_ERR_NO_MEMORY, "coordinator out of memory");
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    member_t *v = realloc(m->v, cap * sizeof *v);
    if (v == NULL) {
      free(card);
      return reject(err, WEFT_ERR_NO_MEMORY, "coordinator out of memory");
    }
    m->v = v;
    m->cap = cap;
  }
  uint64_t id = new_id(m);
  size_t at = lower_bound(m, id); /* sorted insert: find() is a binary search */
  memmove(&m->v[at + 1], &m->v[at], (m->n - at) * sizeof *m->v);
  m->n++;
  member_t *r = &m->v[at];
  *r = (member_t){.id = id, .seq = m->next_seq++, .rank_hint = h->rank_hint, .rank = -1, .state = M_WAITING,
                  .last_heard = now, .peer = peer, .pid = h->pid, .addr = h->listen_addr,
                  .card = card, .card_len = h->card_len};
  snprintf(r->host, sizeof r->host, "%s", h->host);
  m->n_waiting++;
  *member_id = r->id;

  char addr[64];
  weft__addr_format(&r->addr, addr, sizeof addr);
  logf_(m, "member %" PRIu64 " joined: rank hint %d, host %s pid %u, listens on %s%s", r->id,
        (int)r->rank_hint, r->host, (unsigned)r->pid, addr,
        m->epoch == 0 ? "" : " (waits for the next epoch)");
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_WELCOME,
                            .u.welcome = {.member_id = r->id, .current_epoch = m->epoch}};
  emit_to_one(m, &ev, r);
  progress(m, now);
  return WEFT_SUCCESS;
}

bool weft__mship_set_card(weft__mship_t *m, uint64_t member_id, const uint8_t *card, uint16_t len) {
  member_t *r = find(m, member_id);
  if (r == NULL) return true;
  uint8_t *copy = NULL;
  if (len > 0 && !(copy = copy_card(card, len))) return false;
  free(r->card);
  r->card = copy;
  r->card_len = len;
  logf_(m, "member %" PRIu64 " published a new card (%u bytes), for the epochs after %" PRIu64, member_id,
        (unsigned)len, m->epoch);
  return true;
}

void weft__mship_heard(weft__mship_t *m, uint64_t member_id, double now) {
  member_t *r = find(m, member_id);
  if (r != NULL) r->last_heard = now;
}

/* A round answered to the others before this coordinator restarted, whose answer never reached
 * r (the old one died while sending it): r gets the same answer now, alone, instead of opening a
 * round the others -- gone on computing -- would never join. */
static void answer_late(weft__mship_t *m, member_t *r) {
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_NO_CHANGE, .u.epoch_ref = m->epoch};
  if (m->last_answer == WEFT__MSHIP_JOINERS)
    ev = (weft__mship_event_t){.kind = WEFT__MSHIP_JOINERS,
                               .u.joiners = {.epoch = m->epoch, .waiting = WEFT__MAX(m->last_joiners, 1u)}};
  r->rounds_seen = m->rounds;
  logf_(m, "recover of epoch %" PRIu64 ": rank %d missed the answer to round %u (the coordinator restarted): "
        "sent again", m->epoch, (int)r->rank, (unsigned)m->rounds);
  emit_to_one(m, &ev, r);
}

void weft__mship_recover(weft__mship_t *m, uint64_t member_id, uint64_t epoch, bool admit,
                         double now) {
  member_t *r = find(m, member_id);
  if (r != NULL && m->rebuilding && r->held_epoch > 0) { /* counted when the rebuild ends */
    if (epoch == r->held_epoch) r->held_ask = admit ? 1 : 2;
    return;
  }
  if (r == NULL || r->state != M_ACTIVE) return; /* joiners wait for EPOCH; GONE are fenced */
  if (r->behind && epoch < m->epoch) epoch = m->epoch; /* it asks to leave the epoch it still holds */
  if (epoch == m->epoch && r->rounds_seen < m->rounds) {
    answer_late(m, r);
    return;
  }
  if (epoch != m->epoch) {
    weft__mship_event_t ev = {.kind = WEFT__MSHIP_ERROR};
    ev.u.error.code = WEFT_ERR_EVICTED; /* fail_record below removes it */
    snprintf(ev.u.error.text, sizeof ev.u.error.text,
             "RECOVER for epoch %" PRIu64 " but the current epoch is %" PRIu64, epoch, m->epoch);
    emit_to_one(m, &ev, r);
    fail_record(m, r, WEFT__FAIL_CRASH, ev.u.error.text, false, now);
    progress(m, now);
    return;
  }
  if (!r->recovered) {
    if (m->n_recovered == 0) m->round_since = now; /* the round opens: the deadline runs */
    r->recovered = true;
    m->n_recovered++;
    if (!admit) {
      r->shrink = true;
      m->n_shrink++;
    }
    logf_(m, "%s of epoch %" PRIu64 ": rank %d ready (%zu/%zu)", admit ? "recover" : "shrink",
          m->epoch, (int)r->rank, m->n_recovered, m->n_active);
  }
  progress(m, now);
}

/* --- a restarted coordinator ---------------------------------------------------------------
 *
 * Members reconnect to a coordinator that lost their connections (REJOIN). One that still has
 * the member (a network blip reset the connection) just moves it to the new connection. One that
 * has never formed an epoch but hears a member of epoch E (it was restarted: weftrun does that
 * when the coordinator dies) rebuilds the state from the members themselves: for one heartbeat
 * timeout, or until every member of the highest epoch reported is back, it records who comes
 * and which epoch each holds and decides nothing. Then that epoch is the current one again,
 * with the same ranks; its members that did not come back failed (as if their connection had
 * closed); a member that had not installed it yet (the old coordinator died while sending it)
 * stays in and makes the next recover form a new epoch, so nothing decided before the restart
 * is decided again differently; a process holding an epoch the others left is evicted. Joiners
 * (epoch 0) keep waiting, under their old ids. */

static member_t *insert_record(weft__mship_t *m, uint64_t id, const weft__coord_hello_t *h, void *peer, double now,
                               weft__coord_error_t *err) {
  if (m->n >= WEFT__COORD_MAX_MEMBERS) {
    reject(err, WEFT_ERR_NO_MEMORY, "the coordinator holds %d members already", WEFT__COORD_MAX_MEMBERS);
    return NULL;
  }
  uint8_t *card = NULL;
  if (h != NULL && h->card_len > 0 && !(card = copy_card(h->card, h->card_len))) {
    reject(err, WEFT_ERR_NO_MEMORY, "coordinator out of memory");
    return NULL;
  }
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    member_t *v = realloc(m->v, cap * sizeof *v);
    if (v == NULL) {
      free(card);
      reject(err, WEFT_ERR_NO_MEMORY, "coordinator out of memory");
      return NULL;
    }
    m->v = v;
    m->cap = cap;
  }
  size_t at = lower_bound(m, id); /* sorted insert: find() is a binary search */
  memmove(&m->v[at + 1], &m->v[at], (m->n - at) * sizeof *m->v);
  m->n++;
  member_t *r = &m->v[at];
  *r = (member_t){.id = id, .seq = m->next_seq++, .rank_hint = h ? h->rank_hint : -1, .rank = -1,
                  .state = M_WAITING, .last_heard = now, .peer = peer, .card = card};
  if (h != NULL) {
    r->pid = h->pid;
    r->addr = h->listen_addr;
    r->card_len = h->card_len;
    snprintf(r->host, sizeof r->host, "%s", h->host);
  } else {
    snprintf(r->host, sizeof r->host, "?");
  }
  return r;
}

/* The highest epoch reported so far, and its member list. false: out of memory. */
static bool rebuild_learn(weft__mship_t *m, const weft__coord_rejoin_t *rj) {
  if (rj->epoch > m->rb_epoch) m->rb_revoked = false;
  if (rj->epoch >= m->rb_epoch && (rj->flags & WEFT__REJOIN_REVOKED)) m->rb_revoked = true;
  if (rj->epoch == m->rb_epoch && rj->rounds > m->rb_rounds) {
    m->rb_rounds = rj->rounds;
    m->rb_last_answer = rj->last_answer == WEFT__COORD_JOINERS ? WEFT__MSHIP_JOINERS : WEFT__MSHIP_NO_CHANGE;
  }
  if (rj->epoch <= m->rb_epoch) return true;
  uint64_t *ids = malloc((rj->size ? rj->size : 1) * sizeof *ids);
  if (ids == NULL) return false;
  for (uint32_t i = 0; i < rj->size; i++) ids[i] = weft__coord_rejoin_id(rj, i);
  free(m->rb_ids);
  m->rb_ids = ids;
  m->rb_size = rj->size;
  m->rb_epoch = rj->epoch;
  m->rb_rounds = rj->rounds;
  m->rb_last_answer = rj->last_answer == WEFT__COORD_JOINERS ? WEFT__MSHIP_JOINERS : WEFT__MSHIP_NO_CHANGE;
  return true;
}

static int32_t rebuild_rank_of(const weft__mship_t *m, uint64_t id) {
  for (uint32_t i = 0; i < m->rb_size; i++)
    if (m->rb_ids[i] == id) return (int32_t)i;
  return -1;
}

/* Every member of the epoch being rebuilt is back. */
static bool rebuild_complete(const weft__mship_t *m) {
  for (uint32_t i = 0; i < m->rb_size; i++) {
    const member_t *r = find(m, m->rb_ids[i]);
    if (r == NULL || r->held_epoch == 0) return false;
  }
  return true;
}

static void finish_rebuild(weft__mship_t *m, double now) {
  m->rebuilding = false;
  m->epoch = m->rb_epoch;
  m->rounds = m->rb_rounds;
  m->last_answer = m->rb_last_answer;
  m->last_joiners = 1;
  m->last_tick = now;
  size_t back = 0, missing = 0, behind = 0, evicted = 0;
  /* Members that hold the epoch, or one before it and are listed in it, take their ranks. */
  for (size_t i = 0; i < m->n;) {
    member_t *r = &m->v[i];
    if (r->held_epoch == 0) { /* a joiner */
      i++;
      continue;
    }
    int32_t rank = rebuild_rank_of(m, r->id);
    if (rank < 0) {
      char why[128];
      snprintf(why, sizeof why, "holds epoch %" PRIu64 ", which the others left for epoch %" PRIu64
               " without it", r->held_epoch, m->epoch);
      r->rank = r->held_rank;
      fail_record(m, r, WEFT__FAIL_CRASH, why, true, now); /* a joiner's record: removed */
      evicted++;
      continue;
    }
    m->n_waiting--;
    r->state = M_ACTIVE;
    r->rank = rank;
    r->last_heard = now;
    r->behind = r->held_epoch < m->epoch;
    behind += r->behind;
    m->n_active++;
    back++;
    if (r->behind) r->rounds_seen = m->rounds; /* its rounds were of an older epoch */
    if (r->held_ask != 0 && r->rounds_seen < m->rounds) {
      answer_late(m, r);
    } else if (r->held_ask != 0) {
      r->recovered = true;
      m->n_recovered++;
      if (r->held_ask == 2) {
        r->shrink = true;
        m->n_shrink++;
      }
      if (m->round_since == 0) m->round_since = now;
    }
    r->held_epoch = 0;
    r->held_ask = 0;
    i++;
  }
  /* The members that did not come back: failed, as if their connections had closed. */
  for (uint32_t k = 0; k < m->rb_size; k++) {
    if (find(m, m->rb_ids[k]) != NULL) continue;
    weft__coord_error_t err;
    member_t *r = insert_record(m, m->rb_ids[k], NULL, NULL, now, &err);
    if (r == NULL) continue;
    r->state = M_GONE;
    r->rank = (int32_t)k;
    r->reason = WEFT__FAIL_CRASH;
    m->n_gone++;
    missing++;
  }
  logf_(m, "rebuilt epoch %" PRIu64 " after a restart: %zu of %u members back (%zu had not installed it), %zu "
        "missing, %zu evicted, %zu joiners waiting", m->epoch, back, (unsigned)m->rb_size, behind, missing,
        evicted, m->n_waiting);
  char why[128];
  snprintf(why, sizeof why, "did not reconnect to the restarted coordinator within %.1f s",
           m->cfg.heartbeat_timeout);
  for (size_t i = 0; i < m->n; i++)
    if (m->v[i].state == M_GONE) emit_revoke_of(m, &m->v[i], WEFT__FAIL_CRASH, why);
  bool revoked = m->rb_revoked;
  free(m->rb_ids);
  m->rb_ids = NULL;
  m->rb_size = 0;
  m->rb_revoked = false;
  /* Nobody is gone, yet the epoch must end for everyone: a member never installed it, or saw it
   * revoked before the restart (the old coordinator died while telling the others). */
  if (missing == 0 && behind > 0)
    weft__mship_reset(m, "a member had not installed this epoch when the coordinator restarted", now);
  else if (missing == 0 && revoked)
    weft__mship_reset(m, "a member saw this epoch revoked before the coordinator restarted", now);
  else
    progress(m, now);
}

weft_result_t weft__mship_rejoin(weft__mship_t *m, const weft__coord_rejoin_t *rj, void *peer, double now,
                                 void **old_peer, weft__coord_error_t *err) {
  *old_peer = NULL;
  member_t *r = find(m, rj->member_id);
  if (r != NULL && r->state != M_GONE) {
    /* Still ours: the connection broke, not the coordinator. The new one replaces it. */
    *old_peer = r->peer;
    r->peer = peer;
    r->last_heard = now;
    logf_(m, "member %" PRIu64 " reconnected (it holds epoch %" PRIu64 ", current %" PRIu64 ")", r->id, rj->epoch,
          m->epoch);
    weft__mship_event_t ev = {.kind = WEFT__MSHIP_WELCOME,
                              .u.welcome = {.member_id = r->id, .current_epoch = m->epoch}};
    emit_to_one(m, &ev, r);
    if (r->state == M_ACTIVE && rj->epoch < m->epoch && !r->behind) {
      /* It missed this epoch's EPOCH with the old connection: the others cannot form it with
       * it, so they move on together to the next one (it asks with the epoch it holds). */
      r->behind = true;
      char why[96];
      snprintf(why, sizeof why, "rank %d missed this epoch's announcement (its coordinator connection broke)",
               (int)r->rank);
      weft__mship_reset(m, why, now);
      return WEFT_SUCCESS;
    }
    progress(m, now);
    return WEFT_SUCCESS;
  }
  if (r != NULL || (m->epoch > 0 && !m->rebuilding && rj->epoch > 0))
    return reject(err, WEFT_ERR_EVICTED, "%s: not a member of the job any more (current epoch %" PRIu64 ")",
                  r != NULL ? reason_name(r->reason) : "unknown member", m->epoch);
  if (rj->epoch > 0 && !m->rebuilding) {
    m->rebuilding = true;
    m->rebuild_until = now + m->cfg.heartbeat_timeout;
    logf_(m, "a member of epoch %" PRIu64 " reconnected to this fresh coordinator: rebuilding the membership from "
          "the members for up to %.1f s", rj->epoch, m->cfg.heartbeat_timeout);
  }
  if (!rebuild_learn(m, rj)) return reject(err, WEFT_ERR_NO_MEMORY, "coordinator out of memory");
  if (!(r = insert_record(m, rj->member_id, &rj->hello, peer, now, err))) return (weft_result_t)err->code;
  r->held_epoch = rj->epoch;
  r->held_rank = rj->rank;
  r->rounds_seen = rj->rounds;
  m->n_waiting++;
  logf_(m, "member %" PRIu64 " rejoined: rank %d of epoch %" PRIu64 ", host %s pid %u", r->id, (int)rj->rank,
        rj->epoch, r->host, (unsigned)r->pid);
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_WELCOME,
                            .u.welcome = {.member_id = r->id, .current_epoch = rj->epoch}};
  emit_to_one(m, &ev, r);
  if (m->rebuilding && rebuild_complete(m)) finish_rebuild(m, now);
  else progress(m, now);
  return WEFT_SUCCESS;
}

bool weft__mship_rebuilding(const weft__mship_t *m) { return m->rebuilding; }

/* --- lifecycle ----------------------------------------------------------------------------- */

weft__mship_t *weft__mship_create(const weft__mship_config_t *cfg, weft__mship_emit_fn emit,
                                  weft__mship_log_fn log, void *user) {
  if (cfg->world_size == 0 || cfg->world_size > WEFT__COORD_MAX_MEMBERS || cfg->min_size == 0 ||
      cfg->min_size > cfg->world_size || !(cfg->heartbeat_timeout > 0) || !(cfg->recover_timeout >= 0) ||
      emit == NULL)
    return NULL;
  weft__mship_t *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->cfg = *cfg;
  m->emit = emit;
  m->log = log;
  m->user = user;
  m->next_seq = 1;
  return m;
}

void weft__mship_destroy(weft__mship_t *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->n; i++) free(m->v[i].card);
  free(m->rb_ids);
  free(m->v);
  free(m->dests);
  free(m);
}

uint64_t weft__mship_epoch(const weft__mship_t *m) { return m->epoch; }

void weft__mship_by_rank(const weft__mship_t *m, weft__mship_dest_t *out) {
  uint32_t size = weft__mship_size(m);
  for (uint32_t i = 0; i < size; i++) out[i] = (weft__mship_dest_t){0, NULL};
  for (size_t i = 0; i < m->n; i++) {
    const member_t *r = &m->v[i];
    if (r->state == M_ACTIVE && r->rank >= 0 && (uint32_t)r->rank < size && r->peer != NULL)
      out[r->rank] = (weft__mship_dest_t){r->id, r->peer};
  }
}

int32_t weft__mship_rank_of(const weft__mship_t *m, uint64_t member_id) {
  const member_t *r = find(m, member_id);
  return r != NULL && r->state == M_ACTIVE ? r->rank : -1;
}

void weft__mship_describe(const weft__mship_t *m, uint64_t member_id, char *buf, size_t len) {
  const member_t *r = find(m, member_id);
  if (r != NULL) describe(r, buf, len);
  else snprintf(buf, len, "member %" PRIu64, member_id);
}

uint32_t weft__mship_size(const weft__mship_t *m) { return (uint32_t)(m->n_active + m->n_gone); }

bool weft__mship_done(const weft__mship_t *m) {
  return m->epoch > 0 && m->n_active == 0 && m->n_waiting == 0;
}

size_t weft__mship_count_live(const weft__mship_t *m) { return m->n_active + m->n_waiting; }
