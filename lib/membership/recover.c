/* weft_comm_recover: the survivors' step from a revoked epoch to the next one.
 *
 * Every live member sends RECOVER for its epoch; the coordinator answers all of them at once,
 * when all have asked: NO_CHANGE (nobody failed, nobody waits to join), or the next EPOCH
 * (failed members out, waiting joiners in, ranks renumbered densely in launcher-rank order),
 * or an ERROR (fewer than WEFT_MIN_SIZE would remain). Because the decision is the
 * coordinator's and every member receives the same message, members cannot disagree.
 *
 * The wait is bounded by the coordinator's recover deadline: WEFT_RECOVER_TIMEOUT after the
 * round's first ask, it leaves out the members that have not asked and decides among the rest;
 * below WEFT_MIN_SIZE it then waits one heartbeat timeout for joiners. A member that asked
 * therefore hears within recover timeout + heartbeat timeout + a margin for the coordinator's
 * tick and the network; past that the coordinator is not keeping the promise (started with a
 * longer --recover-timeout, or stuck), and recover says so instead of waiting WEFT_TIMEOUT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membership/epoch.h"

/* What changed between the epoch recover started from and the one it ends in (possibly several
 * epochs later, when a member died while an epoch was forming): compared by member id. */
static void fill_info(const weft_comm_t *c, weft_recover_info_t *info, uint64_t old_epoch, int old_size, int old_rank,
                      const uint64_t *old_ids) {
  memset(info, 0, sizeof *info);
  info->old_epoch = old_epoch;
  info->new_epoch = c->epoch;
  info->old_size = old_size;
  info->new_size = c->size;
  info->old_rank = old_rank;
  info->new_rank = c->rank;
  if (old_epoch == c->epoch) return;
  for (int i = 0; i < old_size; i++) {
    bool stays = false;
    for (int j = 0; j < c->size && !stays; j++) stays = c->members[j].member_id == old_ids[i];
    if (stays) continue;
    if (info->num_left < WEFT_RECOVER_MAX_LISTED) info->left_old_ranks[info->num_left] = i;
    info->num_left++;
  }
  for (int j = 0; j < c->size; j++) {
    bool was = false;
    for (int i = 0; i < old_size && !was; i++) was = c->members[j].member_id == old_ids[i];
    if (was) continue;
    if (info->num_joined < WEFT_RECOVER_MAX_LISTED) info->joined_new_ranks[info->num_joined] = j;
    info->num_joined++;
  }
}

static bool coordinator_revoked(weft_comm_t *c) {
  pthread_mutex_lock(&c->mu);
  bool revoked = c->revoked_upto >= c->epoch;
  pthread_mutex_unlock(&c->mu);
  return revoked;
}

/* How long a failed install waits for the coordinator's verdict on the epoch: its reachability
 * check takes up to its dial bound (2 s) and slack (1 s). */
#define FORMING_VERDICT_S 4.0

/* After a failed install: whether the coordinator revoked the epoch being formed. A peer that
 * abandoned its half of the mesh did so because of that revoke, which is on its way to us too,
 * so wait for it a little (bounded) before calling the failure our own. */
static bool revoked_while_forming(weft_comm_t *c, double deadline) {
  double until = WEFT__MIN(deadline, weft__now() + FORMING_VERDICT_S);
  pthread_mutex_lock(&c->mu);
  while (c->revoked_upto < c->epoch && !atomic_load(&c->coord_lost) && weft__now() < until) {
    pthread_mutex_unlock(&c->mu);
    struct timespec d = {0, 5000000};
    nanosleep(&d, NULL);
    pthread_mutex_lock(&c->mu);
  }
  bool revoked = c->revoked_upto >= c->epoch;
  pthread_mutex_unlock(&c->mu);
  return revoked;
}

/* Beyond the deadline and the min-size grace: the coordinator's tick (0.1 s), a heartbeat
 * interval, and scheduling on a loaded machine. */
#define RECOVER_MARGIN_S 2.0

/* The coordinator still holds this member's request: the next recover takes its answer rather
 * than ask again (weft__membership_request_epoch says why). */
static void abandon_request(weft_comm_t *c) {
  pthread_mutex_lock(&c->mu);
  c->request_abandoned = true;
  pthread_mutex_unlock(&c->mu);
}

/* The coordinator fences a member it failed (crashed, hung, reported) with an EVICTED verdict and
 * closes its connection, and it never takes one back: a process that lost that connection has no
 * way back into this job. Say so with the terminal code, never as something to retry. */
static weft_result_t evicted(weft_comm_t *c, const char *who) {
  char why[WEFT__ERR_LEN];
  pthread_mutex_lock(&c->mu);
  const char *known = c->revoke_code == WEFT_ERR_EVICTED ? c->revoke_msg : c->coord_error.text;
  snprintf(why, sizeof why, "%s", known[0] ? known : "this process was evicted: the connection to the coordinator broke");
  pthread_mutex_unlock(&c->mu);
  weft__comm_set_error(c, "%s: %s; exit (a launcher with restarts brings the process back as a joiner)", who, why);
  return WEFT_ERR_EVICTED;
}

weft_result_t weft__comm_recover(weft_comm_t *c, weft_recover_info_t *info, bool admit, const char *who,
                                 bool *joiners_wait) {
  if (joiners_wait) *joiners_wait = false;
  if (!c) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "%s: comm is NULL", who);
  if (atomic_fetch_add(&c->in_call, 1) != 0) {
    atomic_fetch_sub(&c->in_call, 1);
    weft__comm_set_error(c, "%s: another thread is inside a call on this communicator", who);
    return WEFT_ERR_INVALID_USAGE;
  }
  weft_result_t r = WEFT_SUCCESS;
  char err[WEFT__ERR_LEN] = "";
  uint64_t old_epoch = c->epoch;
  int old_size = c->size, old_rank = c->rank;
  uint64_t *old_ids = NULL;
  if (c != c->ctx) {
    atomic_fetch_sub(&c->in_call, 1);
    weft__comm_set_error(c, "%s: this communicator was made by weft_comm_split/weft_comm_create_group: recover "
                         "the root communicator (the one weft_comm_init made), then make this one again", who);
    return WEFT_ERR_INVALID_USAGE;
  }
  if ((r = weft__comm_check_evicted(c, who)) != WEFT_SUCCESS) {
    atomic_fetch_sub(&c->in_call, 1);
    return r;
  }
  weft__ctx_exclusive_begin(c);
  if (weft__ctx_busy(c) || c->inbox) {
    weft__comm_set_error(c, "%s: operations are still pending (on this or a derived communicator); wait for them first", who);
    r = WEFT_ERR_INVALID_USAGE;
    goto out;
  }
  pthread_mutex_lock(&c->mu);
  bool was_revoked = c->revoked;
  bool revoked_here_only = was_revoked && c->revoked_upto < c->epoch;
  char revoke_msg[WEFT__ERR_LEN];
  snprintf(revoke_msg, sizeof revoke_msg, "%s", c->revoke_msg);
  pthread_mutex_unlock(&c->mu);
  /* Revoked here and nowhere else (yet): make sure the coordinator knows before it hears our
   * RECOVER, so it ends the epoch for every member (or evicts whoever is cut off) instead of
   * answering NO_CHANGE to a view only this rank holds. A repeat of the report is harmless. */
  if (revoked_here_only) weft__membership_report(c, -1, revoke_msg);
  old_ids = malloc((size_t)old_size * sizeof *old_ids);
  if (!old_ids) {
    r = WEFT_ERR_NO_MEMORY;
    goto out;
  }
  for (int i = 0; i < old_size; i++) old_ids[i] = c->members[i].member_id;

  char why_unavailable[200];
  double now = weft__now(), deadline = now + c->timeout;
  double promised = c->recover_timeout + c->hb_timeout + RECOVER_MARGIN_S;
  double answer_by = WEFT__MIN(deadline, now + promised);
  for (;;) {
    if (weft__membership_request_epoch(c, admit) != WEFT_SUCCESS) {
      /* The connection is broken whether or not the progress thread has noticed yet (a write
       * can fail before the EOF is read), and the coordinator never takes one back: the same
       * answer as a loss already seen, so a fenced process always hears that it was evicted. */
      r = evicted(c, who);
      goto out;
    }
    weft__store_answer_t a = weft__epoch_wait_answer(c, answer_by);
    /* Evicted (the store's on_lost answered for a connection that dropped); an ERROR the
     * coordinator sent before closing (WEFT_ERR_MIN_SIZE, say) is its word and is reported as such. */
    if (a == WEFT__STORE_ERROR && c->coord_error.code == WEFT_ERR_EVICTED) {
      r = evicted(c, who);
    } else if (a == WEFT__STORE_NO_CHANGE || a == WEFT__STORE_JOINERS) {
      if (joiners_wait) *joiners_wait = a == WEFT__STORE_JOINERS;
      if (was_revoked && c->epoch == old_epoch) {
        /* Nobody else saw a failure (e.g. only this rank timed out): the membership stands but
         * this rank's view of the operation sequence may differ. Say so rather than guess. */
        weft__comm_set_error(c, "%s: the coordinator saw no membership change, but this rank's epoch %llu "
                             "was revoked locally (%s)", who, (unsigned long long)c->epoch, revoke_msg);
        r = WEFT_ERR_REVOKED;
      }
    } else if (a == WEFT__STORE_EPOCH) {
      r = weft__epoch_install(c, deadline, err, sizeof err);
      /* A mesh that failed here, for a reason of its own: the coordinator must hear it, or the
       * others would wait for this rank's connections until their deadline. */
      if (r != WEFT_SUCCESS && r != WEFT_ERR_NO_MEMORY && r != WEFT_ERR_EVICTED && !atomic_load(&c->coord_lost) &&
          !coordinator_revoked(c))
        weft__membership_report(c, -1, err);
      if (r != WEFT_SUCCESS && r != WEFT_ERR_NO_MEMORY && r != WEFT_ERR_EVICTED && revoked_while_forming(c, deadline)) {
        /* A member of the new epoch failed before its mesh was up, and the coordinator revoked
         * the epoch. Every member ends up here, whether or not its own mesh completed first: the
         * epoch exists and is revoked (its operations fail with WEFT_ERR_REVOKED) and the next
         * recover moves everyone on together, so all members see the same epochs. */
        WEFT__INFO("rank %d: epoch %llu revoked while forming (%s)", c->rank, (unsigned long long)c->epoch, err);
        r = WEFT_SUCCESS;
      }
      if (r != WEFT_SUCCESS && atomic_load(&c->coord_lost)) r = evicted(c, who); /* fenced while forming */
      else if (r != WEFT_SUCCESS) weft__comm_set_error(c, "%s: %s", who, err);
    } else if (a == WEFT__STORE_ERROR) {
      r = c->coord_error.code ? (weft_result_t)c->coord_error.code : WEFT_ERR_TRANSPORT;
      weft__comm_set_error(c, "%s: coordinator: %s", who, c->coord_error.text);
    } else if (weft__ctx_coord_unavailable(c, why_unavailable, sizeof why_unavailable)) {
      abandon_request(c); /* the store keeps the request and sends it again once reconnected */
      r = WEFT_ERR_UNAVAILABLE;
      weft__comm_set_error(c, "%s: membership service unavailable: %s; the request stays with it: call recover "
                           "again (collectives need no coordinator and go on meanwhile)", who, why_unavailable);
    } else if (answer_by < deadline) {
      abandon_request(c);
      r = WEFT_ERR_TIMEOUT;
      weft__comm_set_error(c, "%s: no decision from the coordinator about epoch %llu within %.1f s "
                           "(WEFT_RECOVER_TIMEOUT %g s + WEFT_HEARTBEAT_TIMEOUT %g s + %g s): it should have left "
                           "out the members that did not ask by then; is it running with a longer "
                           "--recover-timeout?", who, (unsigned long long)c->epoch, promised, c->recover_timeout,
                           c->hb_timeout, RECOVER_MARGIN_S);
    } else {
      abandon_request(c);
      r = WEFT_ERR_TIMEOUT;
      weft__comm_set_error(c, "%s: no decision from the coordinator about epoch %llu within %.1f s (WEFT_TIMEOUT)",
                           who, (unsigned long long)c->epoch, c->timeout);
    }
    break;
  }
  if (r == WEFT_SUCCESS && info) fill_info(c, info, old_epoch, old_size, old_rank, old_ids);
out:
  free(old_ids);
  weft__ctx_exclusive_end(c);
  atomic_fetch_sub(&c->in_call, 1);
  return r;
}

WEFT_API weft_result_t weft_comm_recover(weft_comm_t *c, weft_recover_info_t *info) {
  return weft__comm_recover(c, info, true, "weft_comm_recover", NULL);
}
