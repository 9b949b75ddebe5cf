/* Reachability rounds (see reach.h; a member's side: lib/membership/reach.c).
 *
 * A round asks every member of the set (REACH_QUERY) to open a fresh TCP connection to each of
 * the others within WEFT__REACH_DIAL_S. A fresh connect needs packets both ways, so a link cut
 * in either direction -- a rank-pair partition, one-way loss -- fails it from both ends, while
 * the stuck data connections (TCP retransmitting for many minutes) say nothing. A link is
 * broken if either end failed to reach the other; a member that never answers says nothing
 * (its heartbeats decide about it). A member waiting inside recover does not answer (its engine
 * is paused) and is not waited for: once every other member answered, the round decides -- the
 * others' answers name its links. Members reporting a peer they could not reach while the
 * round runs (REPORT, through suspect.c) add that link as *reported*: it counts only when
 * neither end answered -- all members inside a mesh formation, say, where nobody answers and a
 * dial that failed for seconds is the only evidence there is; an answer overrides it.
 *
 * The survivors are the largest set whose members all reach each other. Finding it exactly is a
 * maximum-clique problem; the rounds here face a few broken links, so a greedy rule serves and is
 * easy to predict: while broken links remain among the kept, drop the member with the most of
 * them, the highest rank on a tie (the lowest ranks, which training scripts treat as the
 * leaders, stay). A link broken between two hosts thus removes the host with the higher ranks.
 * The dropped members are evicted (PARTITIONED) naming a member they could not reach; every
 * survivor's call fails naming them, and recover forms the epoch without them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reach.h"

struct weft__reach {
  weft__mship_t *m;
  bool running;
  uint64_t epoch;
  uint32_t n;
  int32_t *rank;       /* the set, by index */
  uint64_t *id;
  bool *answered;
  uint8_t *broken;     /* n*n, symmetric */
  uint8_t *reported;   /* n*n, symmetric: a member reported the other end lost */
  double deadline;
};

#define logf_(x, ...) weft__mship_logf((x)->m, __VA_ARGS__)

static void end_round(weft__reach_t *r) {
  free(r->rank);
  free(r->id);
  free(r->answered);
  free(r->broken);
  free(r->reported);
  r->rank = NULL, r->id = NULL, r->answered = NULL, r->broken = NULL, r->reported = NULL;
  r->running = false;
}

bool weft__reach_running(const weft__reach_t *r) { return r->running; }

void weft__reach_note(weft__reach_t *r, uint64_t reporter, uint64_t suspect) {
  if (!r->running || weft__mship_epoch(r->m) != r->epoch) return;
  int a = -1, b = -1;
  for (uint32_t i = 0; i < r->n; i++) {
    if (r->id[i] == reporter) a = (int)i;
    if (r->id[i] == suspect) b = (int)i;
  }
  if (a < 0 || b < 0 || a == b) return;
  r->reported[(size_t)a * r->n + (uint32_t)b] = r->reported[(size_t)b * r->n + (uint32_t)a] = 1;
}

void weft__reach_start(weft__reach_t *r, const int32_t *ranks, uint32_t n, const char *why, double now) {
  if (r->running || n < 2) return;
  uint32_t size = weft__mship_size(r->m);
  weft__mship_dest_t *by_rank = calloc(size ? size : 1, sizeof *by_rank);
  uint32_t *list = calloc(n, sizeof *list);
  r->rank = calloc(n, sizeof *r->rank);
  r->id = calloc(n, sizeof *r->id);
  r->answered = calloc(n, sizeof *r->answered);
  r->broken = calloc((size_t)n * n, 1);
  r->reported = calloc((size_t)n * n, 1);
  if (!by_rank || !list || !r->rank || !r->id || !r->answered || !r->broken || !r->reported) {
    free(by_rank);
    free(list);
    end_round(r);
    return;
  }
  weft__mship_by_rank(r->m, by_rank);
  bool *in = calloc(size ? size : 1, sizeof *in);
  for (uint32_t i = 0; in && i < n; i++)
    if (ranks[i] >= 0 && (uint32_t)ranks[i] < size) in[ranks[i]] = true;
  uint32_t k = 0; /* in rank order, each once: the verdicts list the kept ranks so */
  for (uint32_t rank = 0; in && rank < size; rank++)
    if (in[rank] && by_rank[rank].member_id != 0) {
      r->rank[k] = (int32_t)rank;
      r->id[k] = by_rank[rank].member_id;
      list[k++] = rank;
    }
  free(in);
  r->n = k;
  r->epoch = weft__mship_epoch(r->m);
  r->deadline = now + WEFT__REACH_DIAL_S + WEFT__REACH_SLACK_S;
  r->running = k >= 2;
  if (r->running) {
    logf_(r, "epoch %" PRIu64 ": %s: asking its %u members which of the others they can reach", r->epoch, why,
          (unsigned)k);
    weft__coord_reach_t q = {.epoch = r->epoch, .timeout_ms = (uint32_t)(WEFT__REACH_DIAL_S * 1e3), .n = k,
                             .ranks = list};
    for (uint32_t i = 0; i < k; i++) {
      weft__mship_dest_t d = by_rank[r->rank[i]];
      weft__mship_event_t ev = {.kind = WEFT__MSHIP_REACH_QUERY, .to = &d, .num_to = 1, .u.reach = q};
      weft__mship_emit(r->m, &ev);
    }
  } else {
    end_round(r);
  }
  free(by_rank);
  free(list);
}

/* Every member answered, or waits inside recover and will not. */
static bool all_answered(const weft__reach_t *r) {
  for (uint32_t i = 0; i < r->n; i++)
    if (!r->answered[i] && !weft__mship_asked(r->m, r->id[i])) return false;
  return true;
}

static int index_of_rank(const weft__reach_t *r, uint32_t rank) {
  for (uint32_t i = 0; i < r->n; i++)
    if ((uint32_t)r->rank[i] == rank) return (int)i;
  return -1;
}

/* The greedy largest fully connected set, then the verdicts. */
static void decide(weft__reach_t *r, double now) {
  uint32_t n = r->n, nv = 0;
  bool *kept = malloc(n * sizeof *kept);
  /* Each dropped member, as ranks and id: the round is gone before the verdicts go out. */
  int32_t *vrank = malloc(n * sizeof *vrank), *vpeer = malloc(n * sizeof *vpeer); /* vpeer: one it cannot reach */
  uint64_t *vid = malloc(n * sizeof *vid);
  if (!kept || !vrank || !vpeer || !vid) goto out;
  for (uint32_t i = 0; i < n; i++) kept[i] = true;
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < n; j++)
      if (r->reported[(size_t)i * n + j] && !r->answered[i] && !r->answered[j]) r->broken[(size_t)i * n + j] = 1;
  for (;;) {
    int worst = -1;
    uint32_t worst_count = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (!kept[i]) continue;
      uint32_t c = 0;
      for (uint32_t j = 0; j < n; j++) c += kept[j] && r->broken[(size_t)i * n + j];
      if (c > 0 && (c > worst_count || (c == worst_count && r->rank[i] > r->rank[worst]))) worst = (int)i, worst_count = c;
    }
    if (worst < 0) break;
    kept[worst] = false;
    vrank[nv] = r->rank[worst];
    vid[nv] = r->id[worst];
    vpeer[nv] = -1;
    for (uint32_t j = 0; j < n && vpeer[nv] < 0; j++)
      if (kept[j] && r->broken[(size_t)worst * n + j]) vpeer[nv] = r->rank[j];
    nv++;
  }
  if (nv == 0) {
    logf_(r, "epoch %" PRIu64 ": every member reaches every other: the data network is slow, not cut", r->epoch);
    goto out;
  }
  char keep[128];
  size_t w = 0;
  for (uint32_t i = 0; i < n && w < sizeof keep - 16; i++)
    if (kept[i]) w += (size_t)snprintf(keep + w, sizeof keep - w, "%s%d", w ? "," : "", (int)r->rank[i]);
  uint64_t epoch = r->epoch;
  end_round(r); /* failing members revokes the epoch: nothing of the round may be used after */
  for (uint32_t v = 0; v < nv; v++) {
    char why[WEFT__COORD_TEXT_LEN];
    snprintf(why, sizeof why, "cannot reach rank %d over the data network (no connection in %.0f s); kept ranks %s",
             (int)vpeer[v], WEFT__REACH_DIAL_S, keep);
    logf_(r, "epoch %" PRIu64 ": rank %d is cut off from rank %d", epoch, (int)vrank[v], (int)vpeer[v]);
    weft__mship_fail(r->m, vid[v], WEFT__FAIL_PARTITIONED, why, now);
  }
out:
  free(kept);
  free(vrank);
  free(vpeer);
  free(vid);
  if (r->running) end_round(r);
}

void weft__reach_answer(weft__reach_t *r, uint64_t member_id, const weft__coord_reach_t *a, double now) {
  if (!r->running || a->epoch != r->epoch) return;
  int me = -1;
  for (uint32_t i = 0; i < r->n && me < 0; i++)
    if (r->id[i] == member_id) me = (int)i;
  if (me < 0 || r->answered[me]) return;
  r->answered[me] = true;
  for (uint32_t i = 0; i < a->n; i++) {
    uint32_t rank;
    uint8_t status;
    weft__coord_reach_entry(a, WEFT__COORD_REACH, i, &rank, &status);
    int j = index_of_rank(r, rank);
    if (j < 0 || j == me || status == 0) continue;
    r->broken[(size_t)me * r->n + (uint32_t)j] = r->broken[(size_t)j * r->n + (uint32_t)me] = 1;
  }
  if (!all_answered(r)) return;
  /* All answered: decide now (unless the epoch ended meanwhile). */
  if (r->epoch != weft__mship_epoch(r->m) || weft__mship_revoked(r->m)) end_round(r);
  else decide(r, now);
}

void weft__reach_tick(weft__reach_t *r, double now) {
  if (!r->running) return;
  if (r->epoch != weft__mship_epoch(r->m) || weft__mship_revoked(r->m)) {
    end_round(r); /* another failure revoked the epoch: its members recover anyway */
    return;
  }
  if (now >= r->deadline || all_answered(r)) decide(r, now);
}

weft__reach_t *weft__reach_create(weft__mship_t *m) {
  weft__reach_t *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->m = m;
  return r;
}

void weft__reach_destroy(weft__reach_t *r) {
  if (r == NULL) return;
  end_round(r);
  free(r);
}
