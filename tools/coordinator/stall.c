/* Finding hung callers (see stall.h; a member's side: lib/membership/stall.c).
 *
 * A member that has waited on collective `seq` of a communicator for the stall timeout sends
 * STALL. That opens a probe: every other member of the communicator is asked how far it got
 * (PROGRESS_QUERY) and each answer settles it one way:
 *   entered     it entered `seq` (or later): not the one holding the others up;
 *   in a call   it has not, but one of its threads is inside weft -- blocked on another
 *               communicator, forming one, recovering: not a hung caller; asked again after
 *               another stall timeout;
 *   idle        it has not, and none of its threads has been inside weft for idle seconds: when
 *               idle reaches the stall timeout it is a *laggard*; until then it may be slow but
 *               progressing (it only just came back from its last call) and is asked again when
 *               it would reach it.
 * Once no answer is outstanding and some member is a laggard, every laggard is evicted together
 * (STALLED, the verdict naming the collective it did not enter and the last one it did); the
 * epoch is revoked, the others recover without them. Evicting them together matters: a second
 * laggard left in the epoch would be waited for by that recover.
 *
 * A probe ends when it decides, when every member entered (then the stall is the data network's:
 * a reachability round among the members, reach.c, finds a cut link; a link that is only slow is
 * left to the operation's timeout), or when its epoch is revoked or over. A collective is probed
 * once: repeated STALLs for it are ignored. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/schedule.h"
#include "stall.h"

#define MAX_PROBES 64     /* open at once; a STALL beyond that waits for its sender's next one */
#define DONE_KEEP 64      /* closed probes remembered, so a late repeat of their STALL is ignored */
#define RECHECK_SLACK_S 0.05

typedef enum { P_ASK, P_ASKED, P_SETTLED, P_LAGGARD } pm_state_t;

typedef struct {
  uint64_t id;
  void *peer;
  int32_t rank;
  pm_state_t state;
  double ask_at;        /* P_ASK: when to send the query */
  char where[96];       /* P_LAGGARD: what it last entered */
} probe_member_t;

typedef struct {
  uint64_t epoch, comm_id, seq;
} probe_key_t;

typedef struct {
  probe_key_t key;
  uint32_t coll;
  double stall_s, waiting_since;
  int32_t reporter;
  probe_member_t *v;
  uint32_t n;
} probe_t;

struct weft__stall {
  weft__mship_t *m;
  weft__reach_t *reach;
  probe_t probes[MAX_PROBES];
  size_t n;
  probe_key_t done[DONE_KEEP];
  size_t done_next;
};

#define logf_(x, ...) weft__mship_logf((x)->m, __VA_ARGS__)

static bool same_key(const probe_key_t *a, const probe_key_t *b) {
  return a->epoch == b->epoch && a->comm_id == b->comm_id && a->seq == b->seq;
}

/* "allreduce seq 812" or "allreduce seq 812 of communicator 0123..." (the root's id is 0). */
static void name_coll(char *buf, size_t len, uint32_t coll, uint64_t seq, uint64_t comm_id) {
  const char *name = coll <= WEFT__COLL_SCATTER ? weft__coll_name((weft__coll_t)coll) : "collective";
  if (comm_id == 0) snprintf(buf, len, "%s seq %" PRIu64, name, seq);
  else snprintf(buf, len, "%s seq %" PRIu64 " of communicator %016" PRIx64, name, seq, comm_id);
}

static probe_t *find_probe(weft__stall_t *st, const probe_key_t *k) {
  for (size_t i = 0; i < st->n; i++)
    if (same_key(&st->probes[i].key, k)) return &st->probes[i];
  return NULL;
}

static bool was_done(const weft__stall_t *st, const probe_key_t *k) {
  for (size_t i = 0; i < DONE_KEEP; i++)
    if (same_key(&st->done[i], k)) return true;
  return false;
}

static void close_probe(weft__stall_t *st, probe_t *p) {
  st->done[st->done_next] = p->key;
  st->done_next = (st->done_next + 1) % DONE_KEEP;
  free(p->v);
  *p = st->probes[--st->n];
}

static void ask(weft__stall_t *st, probe_t *p, probe_member_t *pm) {
  weft__mship_dest_t d = {pm->id, pm->peer};
  weft__mship_event_t ev = {.kind = WEFT__MSHIP_PROGRESS_QUERY, .to = &d, .num_to = 1};
  ev.u.progress = (weft__coord_progress_t){.epoch = p->key.epoch, .comm_id = p->key.comm_id, .seq = p->key.seq};
  pm->state = P_ASKED;
  weft__mship_emit(st->m, &ev);
}

/* Sends the queries that are due; a member that failed meanwhile is settled (it holds no one). */
static void ask_due(weft__stall_t *st, probe_t *p, double now) {
  for (uint32_t i = 0; i < p->n; i++) {
    probe_member_t *pm = &p->v[i];
    if (pm->state != P_ASK && pm->state != P_ASKED) continue;
    if (weft__mship_rank_of(st->m, pm->id) != pm->rank) pm->state = P_SETTLED;
    else if (pm->state == P_ASK && now >= pm->ask_at) ask(st, p, pm);
  }
}

/* Decides what the answers so far allow; true if the probe ended (p is then gone). */
static bool decide(weft__stall_t *st, probe_t *p, double now) {
  uint32_t asked = 0, waiting = 0, laggards = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    asked += p->v[i].state == P_ASKED;
    waiting += p->v[i].state == P_ASK;
    laggards += p->v[i].state == P_LAGGARD;
  }
  char coll[128];
  name_coll(coll, sizeof coll, p->coll, p->key.seq, p->key.comm_id);
  if (asked > 0 || (laggards == 0 && waiting > 0)) return false;
  if (laggards == 0) {
    logf_(st, "every member entered %s (epoch %" PRIu64 "): the stall rank %d saw is not a hung caller",
          coll, p->key.epoch, (int)p->reporter);
    int32_t *ranks = malloc(((size_t)p->n + 1) * sizeof *ranks);
    if (ranks != NULL && st->reach != NULL) {
      ranks[0] = p->reporter;
      for (uint32_t i = 0; i < p->n; i++) ranks[i + 1] = p->v[i].rank;
      char why[192];
      snprintf(why, sizeof why, "every member entered %s and it stalls", coll);
      weft__reach_start(st->reach, ranks, p->n + 1, why, now);
    }
    free(ranks);
    close_probe(st, p);
    return true;
  }
  /* Copied first: failing a member revokes the epoch, and the tick would drop this probe. */
  probe_t mine = *p;
  mine.v = malloc(p->n * sizeof *mine.v);
  if (mine.v == NULL) return false;
  memcpy(mine.v, p->v, p->n * sizeof *mine.v);
  close_probe(st, p);
  double waited = now - mine.waiting_since;
  for (uint32_t i = 0; i < mine.n; i++) {
    if (mine.v[i].state != P_LAGGARD) continue;
    char why[WEFT__COORD_TEXT_LEN];
    snprintf(why, sizeof why, "has not entered %s for %.1f s; %s", coll, waited, mine.v[i].where);
    weft__mship_fail(st->m, mine.v[i].id, WEFT__FAIL_STALLED, why, now);
  }
  free(mine.v);
  return true;
}

void weft__stall_report(weft__stall_t *st, uint64_t reporter, const weft__coord_stall_t *r, double now) {
  probe_key_t key = {r->epoch, r->comm_id, r->seq};
  int32_t from = weft__mship_rank_of(st->m, reporter);
  if (from < 0 || r->epoch != weft__mship_epoch(st->m) || weft__mship_revoked(st->m)) return;
  if (find_probe(st, &key) || was_done(st, &key)) return;
  char coll[128];
  name_coll(coll, sizeof coll, r->coll, r->seq, r->comm_id);
  if (st->n == MAX_PROBES) {
    logf_(st, "rank %d stalls on %s, but %d probes are open already: not probed", (int)from, coll, MAX_PROBES);
    return;
  }
  uint32_t size = weft__mship_size(st->m), n = r->nranks ? r->nranks : size;
  weft__mship_dest_t *by_rank = calloc(size ? size : 1, sizeof *by_rank);
  probe_member_t *v = calloc(n ? n : 1, sizeof *v);
  if (by_rank == NULL || v == NULL) {
    free(by_rank);
    free(v);
    return;
  }
  weft__mship_by_rank(st->m, by_rank);
  probe_t *p = &st->probes[st->n];
  *p = (probe_t){.key = key, .coll = r->coll, .stall_s = r->stall_ms / 1e3,
                 .waiting_since = now - r->waited_ms / 1e3, .reporter = from, .v = v};
  for (uint32_t i = 0; i < n; i++) {
    uint32_t rank = r->nranks ? weft__coord_stall_rank(r, i) : i;
    if (rank >= size) {
      logf_(st, "rank %d stalls on %s naming rank %u, beyond epoch %" PRIu64 "'s %u: not probed", (int)from, coll,
            (unsigned)rank, r->epoch, (unsigned)size);
      free(by_rank);
      free(v);
      return;
    }
    /* The reporter entered it; a member already gone holds no one up. */
    if ((int32_t)rank == from || by_rank[rank].member_id == 0) continue;
    v[p->n++] = (probe_member_t){.id = by_rank[rank].member_id, .peer = by_rank[rank].peer, .rank = (int32_t)rank,
                                 .state = P_ASK, .ask_at = now};
  }
  free(by_rank);
  st->n++;
  logf_(st, "rank %d has waited %.1f s on %s (epoch %" PRIu64 "): asking its %u other members how far they got",
        (int)from, r->waited_ms / 1e3, coll, r->epoch, (unsigned)p->n);
  ask_due(st, p, now);
  decide(st, p, now);
}

/* What the laggard last entered, for its verdict and the survivors' errors. */
static void describe_where(char *buf, size_t len, const weft__coord_progress_t *a) {
  if (!(a->flags & WEFT__PROGRESS_HAS_COMM)) {
    snprintf(buf, len, "it has not made that communicator");
  } else if (a->entered_seq == 0) {
    snprintf(buf, len, "it entered no collective of it in this epoch");
  } else {
    char last[96];
    name_coll(last, sizeof last, a->entered_coll, a->entered_seq, 0);
    snprintf(buf, len, "it last entered %s", last);
  }
}

void weft__stall_answer(weft__stall_t *st, uint64_t member_id, const weft__coord_progress_t *a, double now) {
  probe_key_t key = {a->epoch, a->comm_id, a->seq};
  probe_t *p = find_probe(st, &key);
  /* An answer about an epoch that is revoked or over decides nothing: its members recover, and
   * a verdict now would fail a member of the next epoch (the tick drops the probe). */
  if (p == NULL || a->epoch != weft__mship_epoch(st->m) || weft__mship_revoked(st->m)) return;
  probe_member_t *pm = NULL;
  for (uint32_t i = 0; i < p->n && pm == NULL; i++)
    if (p->v[i].id == member_id && p->v[i].state == P_ASKED) pm = &p->v[i];
  if (pm == NULL) return;
  double idle = a->idle_ms / 1e3;
  if ((a->flags & WEFT__PROGRESS_HAS_COMM) && a->entered_seq >= p->key.seq) {
    pm->state = P_SETTLED;
  } else if (a->flags & WEFT__PROGRESS_IN_CALL) {
    pm->state = P_ASK;
    pm->ask_at = now + p->stall_s;
  } else if (idle >= p->stall_s) {
    pm->state = P_LAGGARD;
    describe_where(pm->where, sizeof pm->where, a);
  } else {
    pm->state = P_ASK;
    pm->ask_at = now + (p->stall_s - idle) + RECHECK_SLACK_S;
  }
  decide(st, p, now);
}

void weft__stall_tick(weft__stall_t *st, double now) {
  uint64_t epoch = weft__mship_epoch(st->m);
  bool revoked = weft__mship_revoked(st->m);
  for (size_t i = 0; i < st->n;) {
    probe_t *p = &st->probes[i];
    if (p->key.epoch != epoch || revoked) { /* its members recover (or did): nothing to decide */
      close_probe(st, p);
      continue;
    }
    ask_due(st, p, now);
    if (!decide(st, p, now)) i++;
  }
}

size_t weft__stall_open(const weft__stall_t *st) { return st->n; }

weft__stall_t *weft__stall_create(weft__mship_t *m, weft__reach_t *reach) {
  weft__stall_t *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->m = m;
  st->reach = reach;
  return st;
}

void weft__stall_destroy(weft__stall_t *st) {
  if (st == NULL) return;
  for (size_t i = 0; i < st->n; i++) free(st->probes[i].v);
  free(st);
}
