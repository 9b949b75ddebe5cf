/* Failures only one member saw (see suspect.h).
 *
 * A REPORT is one member's word. The reporter may be the faulty one (its own link cut), so a
 * suspect that is still connected and heartbeating is never evicted on it alone: the report
 * opens a *check*, a reachability round among every member of the epoch (reach.c: fresh dials,
 * the largest fully connected set stays), which may evict the suspect, the reporter, or nobody.
 * When it evicts nobody the data network is whole and the member's failure was its own (an
 * operation that timed out, a connection reset, a mesh that failed on its side): the epoch is
 * *reset* -- revoked for everyone, nobody leaving -- so every member recovers into the same
 * next epoch instead of one member sitting in a revoked view the others never hear of. While
 * the check runs, the membership holds recover rounds (a round in which every member asked is
 * not answered NO_CHANGE: the verdict answers it).
 *
 * A suspect whose connection is closed is gone already (CRASH); one silent for two heartbeat
 * intervals is hung or dead and is evicted at once as before (REPORTED): the fast paths stay.
 * The race of a crash -- the data plane's reset reaching a peer, and its REPORT the coordinator,
 * before the crashed process's own close does -- needs no extra wait: the round lasts up to the
 * dial bound (WEFT__REACH_DIAL_S) plus slack, the close arrives within it (milliseconds after a
 * SIGKILL), fails the suspect as CRASH and revokes the epoch, and the round is dropped. A
 * process on a host that vanished never closes: it does not answer and nobody reaches it, so
 * the round evicts it (PARTITIONED) within the dial bound, before its heartbeats would.
 *
 * While the members form a new epoch's mesh nobody answers a round (each is inside its
 * install); there the members' reports -- a peer not reached for seconds of dialing -- are the
 * links the round decides on (reach.c), the others' and one's own alike: a joiner whose address
 * nobody reaches is named by every member that dials it and is evicted; a member that reaches
 * nobody names everyone and is evicted itself. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suspect.h"

#define SILENT_SLACK_S 0.25

struct weft__suspect {
  weft__mship_t *m;
  weft__reach_t *reach;
  double silent_s;
  bool open; /* a check of `epoch` runs */
  uint64_t epoch;
  char why[WEFT__COORD_TEXT_LEN];
};

#define logf_(x, ...) weft__mship_logf((x)->m, __VA_ARGS__)

/* The suspect's member id (0: none named, or not a member of the epoch). */
static uint64_t suspect_of(const weft__suspect_t *s, const weft__coord_revoke_t *rep) {
  if (rep->member_id != 0) return rep->member_id;
  if (rep->rank < 0 || (uint32_t)rep->rank >= weft__mship_size(s->m)) return 0;
  uint32_t size = weft__mship_size(s->m);
  weft__mship_dest_t *by_rank = calloc(size, sizeof *by_rank);
  uint64_t id = 0;
  if (by_rank != NULL) {
    weft__mship_by_rank(s->m, by_rank);
    id = by_rank[rep->rank].member_id;
  }
  free(by_rank);
  return id;
}

static void start_check(weft__suspect_t *s, const char *why, double now) {
  if (s->open) return; /* one check per epoch: its verdict settles every report about it */
  uint32_t size = weft__mship_size(s->m);
  int32_t *ranks = malloc((size ? size : 1) * sizeof *ranks);
  s->open = true;
  s->epoch = weft__mship_epoch(s->m);
  snprintf(s->why, sizeof s->why, "%s", why);
  weft__mship_hold(s->m, true, now);
  if (ranks != NULL) {
    for (uint32_t i = 0; i < size; i++) ranks[i] = (int32_t)i;
    weft__reach_start(s->reach, ranks, size, why, now); /* ignored if one runs: its end is ours */
  }
  free(ranks);
}

void weft__suspect_report(weft__suspect_t *s, uint64_t reporter, const weft__coord_revoke_t *rep, double now) {
  weft__suspect_tick(s, now); /* a check of an epoch that ended since is closed first */
  int32_t from = weft__mship_rank_of(s->m, reporter);
  if (from < 0) return;
  if (rep->epoch != weft__mship_epoch(s->m) || weft__mship_revoked(s->m)) {
    weft__mship_report(s->m, reporter, rep, now); /* it logs why it ignores the report */
    return;
  }
  uint64_t suspect = suspect_of(s, rep);
  char why[WEFT__COORD_TEXT_LEN];
  if (suspect == 0) {
    snprintf(why, sizeof why, "rank %d failed on its own: %.100s", (int)from, rep->text);
  } else {
    double silent = weft__mship_silent_for(s->m, suspect, now);
    if (silent < 0 || suspect == reporter) return; /* gone already (its close came first), or itself */
    if (silent > s->silent_s) {
      weft__mship_report(s->m, reporter, rep, now); /* hung or dead: evicted as reported */
      return;
    }
    snprintf(why, sizeof why, "rank %d reports live rank %d lost: %.90s", (int)from,
             (int)weft__mship_rank_of(s->m, suspect), rep->text);
  }
  if (!s->open)
    logf_(s, "epoch %" PRIu64 ": %s; checking reachability before anyone is evicted", weft__mship_epoch(s->m), why);
  start_check(s, why, now);
  if (suspect != 0) weft__reach_note(s->reach, reporter, suspect); /* evidence if neither end answers */
}

void weft__suspect_tick(weft__suspect_t *s, double now) {
  if (!s->open) return;
  if (s->epoch != weft__mship_epoch(s->m) || weft__mship_revoked(s->m)) {
    s->open = false; /* decided: someone was evicted (or failed) and the epoch revoked */
    weft__mship_hold(s->m, false, now);
    return;
  }
  if (weft__reach_running(s->reach)) return;
  s->open = false;
  char why[WEFT__COORD_TEXT_LEN];
  snprintf(why, sizeof why, "every member reaches every other; %.120s", s->why);
  weft__mship_reset(s->m, why, now);
}

weft__suspect_t *weft__suspect_create(weft__mship_t *m, weft__reach_t *reach, double heartbeat_interval) {
  weft__suspect_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->m = m;
  s->reach = reach;
  s->silent_s = 2 * heartbeat_interval + SILENT_SLACK_S;
  return s;
}

void weft__suspect_destroy(weft__suspect_t *s) { free(s); }
