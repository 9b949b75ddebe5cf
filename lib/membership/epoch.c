/* Installing an epoch decided by the coordinator. Every member receives the same EPOCH message
 * (same members in the same order), so every member derives the same ranks: there is no
 * decision taken by a rank alone, hence no split brain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membership/epoch.h"

static void timed_wait(weft_comm_t *c, double until) {
  double wait_s = WEFT__MIN(until - weft__now(), 0.2);
  if (wait_s <= 0) return;
  weft__cond_wait_until(&c->cv, &c->mu, weft__now() + wait_s);
}

void weft__epoch_pause(weft_comm_t *c, bool pause) {
  pthread_mutex_lock(&c->mu);
  c->pause_req = pause;
  pthread_cond_signal(&c->engine_cv); /* a progress thread stepping aside answers at once */
  pthread_mutex_unlock(&c->mu);
  if (!c->thread_started) {
    c->paused = pause;
    return;
  }
  weft__progress_wake(c);
  pthread_mutex_lock(&c->mu);
  /* The progress thread answers within one loop turn (it waits at most 1 s per turn). */
  double until = weft__now() + 10.0;
  while (c->paused != pause && weft__now() < until) timed_wait(c, until);
  pthread_mutex_unlock(&c->mu);
}

weft__store_answer_t weft__epoch_wait_answer(weft_comm_t *c, double deadline) {
  pthread_mutex_lock(&c->mu);
  while (c->answer == WEFT__STORE_PENDING && !atomic_load(&c->coord_lost) && weft__now() < deadline)
    timed_wait(c, deadline);
  weft__store_answer_t a = c->answer;
  if (a == WEFT__STORE_PENDING && atomic_load(&c->coord_lost)) a = WEFT__STORE_ERROR;
  pthread_mutex_unlock(&c->mu);
  return a;
}

static weft_result_t resize_state(weft_comm_t *c, int size) {
  weft__coord_member_t *m = realloc(c->members, (size_t)size * sizeof *m);
  if (!m) return WEFT_ERR_NO_MEMORY;
  c->members = m;
  return weft__executor_peers_reset(c, size);
}

/* While the mesh forms: give up as soon as the coordinator revokes the epoch being installed
 * (a member died meanwhile) or is lost, rather than dialing a dead peer until the deadline. */
static bool install_cancelled(void *ctx, char *why, size_t whylen) {
  weft_comm_t *c = ctx;
  bool stop = false;
  pthread_mutex_lock(&c->mu);
  if (c->revoked_upto >= c->next_epoch.epoch) {
    snprintf(why, whylen, "epoch %llu was revoked while forming: %s", (unsigned long long)c->next_epoch.epoch,
             c->revoked_why);
    stop = true;
  }
  pthread_mutex_unlock(&c->mu);
  if (!stop && atomic_load(&c->coord_lost)) {
    snprintf(why, whylen, "lost the coordinator while forming epoch %llu", (unsigned long long)c->next_epoch.epoch);
    stop = true;
  }
  return stop;
}

/* A member of the epoch being formed that this rank cannot reach (mesh.c, after
 * UNREACHABLE_AFTER_S): the coordinator hears it while the formation goes on. Every member is
 * inside its install and cannot answer a reachability round, so these reports are what the
 * coordinator decides on (tools/coordinator/suspect.c): a joiner whose address nobody reaches
 * is evicted, and the others' formation is cancelled by that revoke instead of running to the
 * deadline -- and the next recover forms the epoch without it. Called on the installer's thread,
 * which wrote c->epoch and c->members. */
#define UNREACHABLE_AFTER_S 2.0
static void install_unreachable(void *ctx, int peer, const char *why) {
  weft_comm_t *c = ctx;
  WEFT__WARN("member %llu: epoch %llu: %s: telling the coordinator", (unsigned long long)c->member_id,
             (unsigned long long)c->epoch, why);
  weft__membership_report(c, peer, why);
}

/* Requires the progress thread paused and an EPOCH in c->next_epoch. */
weft_result_t weft__epoch_install(weft_comm_t *c, double deadline, char *err, size_t errlen) {
  const weft__coord_epoch_t *e = &c->next_epoch;
  int me = -1;
  for (uint32_t i = 0; i < e->size; i++)
    if (e->members[i].member_id == c->member_id) me = (int)i;
  /* Whatever happens next, the old epoch's connections are finished: the root's and every
   * child's (children made in the old epoch only fail from now on: group.c). */
  weft__net_t *old = c->net;
  __atomic_store_n(&c->net, NULL, __ATOMIC_RELEASE);
  weft__net_destroy(old);
  weft__groups_epoch_over(c);
  if (me < 0) {
    snprintf(err, errlen, "this process (member %llu) is not part of epoch %llu: it was evicted",
             (unsigned long long)c->member_id, (unsigned long long)e->epoch);
    return WEFT_ERR_EVICTED;
  }
  /* The cards first: a member whose card is missing or malformed fails the install before any
   * state of the old epoch is replaced. */
  weft__card_t *cards = malloc(e->size * sizeof *cards);
  if (!cards) {
    snprintf(err, errlen, "out of memory for epoch %llu", (unsigned long long)e->epoch);
    return WEFT_ERR_NO_MEMORY;
  }
  weft_result_t r = weft__membership_cards(c, e, cards, deadline, err, errlen);
  if (r == WEFT_SUCCESS && (r = resize_state(c, (int)e->size)) != WEFT_SUCCESS)
    snprintf(err, errlen, "out of memory for epoch %llu", (unsigned long long)e->epoch);
  if (r != WEFT_SUCCESS) {
    free(cards);
    return r;
  }
  free(c->cards);
  c->cards = cards;
  memcpy(c->members, e->members, e->size * sizeof *c->members);
  c->epoch = e->epoch;
  c->rank = me;
  c->size = (int)e->size;
  c->coll_seq = 0;
  atomic_store(&c->entered_seq, 0);
  c->stall_reported_seq = 0;
  c->stale_frames = 0;
  c->recent_base = c->recent_ok = 0;
  c->late_code = WEFT_SUCCESS;
  c->late_reported_seq = 0;
  pthread_mutex_lock(&c->mu);
  c->revoked = false;
  c->revoke_msg[0] = 0;
  pthread_mutex_unlock(&c->mu);

  weft__connect_args_t a = {.epoch = c->epoch, .comm_id = 0, .rank = c->rank, .size = c->size, .cards = c->cards,
                            .nsocks = c->nsocks, .chunk = c->chunk, .deadline = deadline,
                            .cancelled = install_cancelled, .cancel_ctx = c, .engine = c->engine,
                            .cb = weft__executor_callbacks(c), .unreachable = install_unreachable,
                            .unreachable_after = UNREACHABLE_AFTER_S};
  weft__net_t *net = NULL;
  r = weft__net_connect(&c->endpoints, &a, &net, err, errlen);
  if (r == WEFT_SUCCESS) {
    __atomic_store_n(&c->net, net, __ATOMIC_RELEASE);
    weft__net_start(net); /* the caller holds the engine paused */
  }
  if (r != WEFT_SUCCESS) {
    pthread_mutex_lock(&c->mu);
    c->revoked = true;
    c->revoke_code = r;
    snprintf(c->revoke_msg, sizeof c->revoke_msg, "forming epoch %llu failed: %s", (unsigned long long)c->epoch, err);
    pthread_mutex_unlock(&c->mu);
  }
  return r;
}

weft_result_t weft__epoch_wait_and_join(weft_comm_t *c, double deadline, char *err, size_t errlen) {
  weft__epoch_pause(c, true);
  weft__store_answer_t a = weft__epoch_wait_answer(c, deadline);
  weft_result_t r;
  if (a == WEFT__STORE_EPOCH) {
    /* Every member of epoch 1 carries the JOINED flag (all were waiting joiners), so the flag
     * alone does not say "late": a process admitted by init is late exactly when the job
     * already had an epoch. */
    c->joined_late = c->next_epoch.epoch > 1;
    r = weft__epoch_install(c, deadline, err, errlen);
  } else if (a == WEFT__STORE_ERROR) {
    r = c->coord_error.code ? (weft_result_t)c->coord_error.code : WEFT_ERR_TRANSPORT;
    snprintf(err, errlen, "coordinator: %s", c->coord_error.text);
  } else {
    r = WEFT_ERR_TIMEOUT;
    snprintf(err, errlen, "no epoch formed before the init deadline (WEFT_INIT_TIMEOUT): are all %d ranks started "
             "and pointed at the same coordinator and WEFT_JOB_TOKEN?", c->size);
  }
  weft__epoch_pause(c, false);
  return r;
}

WEFT_API int weft_comm_joined_late(const weft_comm_t *comm) { return comm && comm->joined_late; }
