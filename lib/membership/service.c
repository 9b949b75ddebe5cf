/* The context's side of the membership store (store.h): joining through it, and what the
 * store's events do to the context. The engine (lib/core/progress.c) only calls in here: it
 * watches the store's fd, passes readiness and heartbeat time on, and never sees a message.
 *
 * What the store delivers, and where it goes:
 *   on_answer  the hand-over state under c->mu (c->answer, c->next_epoch, c->coord_error), read
 *              by whoever waits in weft__epoch_wait_answer (init, recover); an answer a
 *              recover stopped waiting for is taken by the next one (request_epoch);
 *   on_revoke  a member of this epoch failed: the context's operations fail naming it; about an
 *              epoch being installed, it is deferred until the install ends (pause_point);
 *   on_lost    the process is fenced: every operation fails, every recover hears it;
 *   on_availability  the coordinator is unreachable for now (collectives go on) or back;
 *   on_fd      the store reconnected: the engine watches its new fd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/card.h"
#include "core/comm.h"

/* WEFT_EXIT_ON_EVICT: the application's thread may be the stuck one (a hung caller is evicted
 * for exactly that), so no error would ever reach it; a launcher restarts a process that exits.
 * write(2) and _exit: stdio's locks may be held by that thread, atexit handlers may wait on it. */
static void exit_evicted(const char *msg) {
  char line[WEFT__ERR_LEN + 64];
  int n = snprintf(line, sizeof line, "weft: %s; exiting with status %d (WEFT_EXIT_ON_EVICT)\n", msg,
                   WEFT_EXIT_EVICTED);
  if (n > 0) (void)!write(STDERR_FILENO, line, WEFT__MIN((size_t)n, sizeof line - 1));
  _exit(WEFT_EXIT_EVICTED);
}

/* Without the coordinator nobody can vouch for membership, and it fences a member it failed by
 * telling it so (an EVICTED verdict) and closing on it; it never takes the connection back.
 * However the loss shows (the verdict, EOF, a failed send, or silence noticed first, as after a
 * SIGSTOP longer than the heartbeat timeout), this process is out of the job for good: it is
 * evicted, and every call of every communicator, recover included, says so from now on. The
 * eviction overrides a revoke already recorded (a peer's close seen first): that cause is moot. */
static void on_lost(void *arg, const char *why) {
  weft_comm_t *c = arg;
  if (atomic_load(&c->coord_lost)) return; /* only the engine's holder gets here: no race */
  /* The member id, not the rank: this runs while an epoch is being installed too, and the
   * installer renumbers c->rank meanwhile (ThreadSanitizer caught the read). */
  WEFT__WARN("member %llu: evicted: %s", (unsigned long long)c->member_id, why);
  weft__io_stop(c->engine, &c->coord_io);
  char msg[WEFT__ERR_LEN];
  /* The last epoch the coordinator announced (this thread writes next_epoch): c->epoch is the
   * installer's, which may be writing it right now (ThreadSanitizer caught that read too). */
  snprintf(msg, sizeof msg, "this process was evicted from the job at epoch %llu: %s",
           (unsigned long long)c->next_epoch.epoch, why);
  pthread_mutex_lock(&c->mu);
  /* The eviction is the answer to any recover, now or later -- unless the coordinator's own
   * ERROR (MIN_SIZE, say, sent before it closed) is waiting: that is its word and stays. */
  if (c->answer != WEFT__STORE_ERROR) {
    c->coord_error.code = WEFT_ERR_EVICTED;
    snprintf(c->coord_error.text, sizeof c->coord_error.text, "%s", msg);
  }
  if (c->answer == WEFT__STORE_PENDING) c->answer = WEFT__STORE_ERROR;
  c->revoked = true;
  c->revoke_code = WEFT_ERR_EVICTED;
  snprintf(c->revoke_msg, sizeof c->revoke_msg, "%s", msg);
  /* Published only now, with the details above under the same lock: a waiter that sees the flag
   * (weft__epoch_wait_answer) must also see why. Published first, a recover once read the flag,
   * then an empty error code, and reported "transport error" instead of the eviction. */
  atomic_store(&c->coord_lost, true);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (!c->paused) weft__ctx_fail_all(c, WEFT_ERR_EVICTED, msg, true);
  if (c->exit_on_evict) exit_evicted(msg);
}

bool weft__ctx_evicted(const weft_comm_t *c) { return atomic_load(&c->ctx->coord_lost); }

bool weft__ctx_coord_unavailable(weft_comm_t *ctx, char *why, size_t len) {
  pthread_mutex_lock(&ctx->mu);
  bool u = ctx->coord_unavailable;
  if (u) snprintf(why, len, "%s", ctx->coord_unavailable_why);
  pthread_mutex_unlock(&ctx->mu);
  return u;
}

void weft__membership_apply_revoke(weft_comm_t *c, const weft__coord_revoke_t *rv) {
  /* Remember that this epoch is revoked, whatever else arrives later: an epoch being installed
   * must stop forming its mesh (a member that failed or left cannot join it). */
  pthread_mutex_lock(&c->mu);
  if (rv->epoch > c->revoked_upto) {
    c->revoked_upto = rv->epoch;
    snprintf(c->revoked_why, sizeof c->revoked_why, "rank %d %s: %s", rv->rank,
             rv->reason == WEFT__FAIL_LEFT ? "left" : "failed", rv->text);
  }
  pthread_mutex_unlock(&c->mu);
  if (c->paused || rv->epoch > c->epoch) {
    /* About an epoch being installed right now: apply it once installed. */
    pthread_mutex_lock(&c->mu);
    /* A later LEFT notice must not erase an earlier failure. */
    if (!c->has_deferred_revoke || c->deferred_revoke.epoch < rv->epoch || rv->reason != WEFT__FAIL_LEFT) {
      c->deferred_revoke = *rv;
      c->has_deferred_revoke = true;
    }
    pthread_mutex_unlock(&c->mu);
    return;
  }
  if (rv->epoch != c->epoch) return;
  if (rv->reason == WEFT__FAIL_RESET) {
    /* A failure one member saw and nobody is to blame for: every member's operations fail, all
     * recover into the same next epoch (with the same members). */
    char why[WEFT__ERR_LEN];
    snprintf(why, sizeof why, "coordinator: epoch %llu ended for every member: %s", (unsigned long long)rv->epoch,
             rv->text);
    weft__ctx_revoke(c, WEFT_ERR_REVOKED, why);
    weft__ctx_fail_all(c, WEFT_ERR_REVOKED, why, true);
    return;
  }
  if (rv->rank < 0 || rv->rank >= c->size) return;
  /* A clean departure is the data plane's to report: the transport says so only once the
   * peer's every connection has drained, so frames it sent before leaving are still used. */
  if (rv->reason == WEFT__FAIL_LEFT) return;
  if (rv->rank == c->rank) return; /* about us: the coordinator fences us by closing */
  char why[WEFT__ERR_LEN];
  snprintf(why, sizeof why, "coordinator: %s", rv->text);
  weft__executor_peer_lost(c, rv->rank, false, why);
}

static void on_revoke(void *arg, const weft__coord_revoke_t *rv) { weft__membership_apply_revoke(arg, rv); }

static void on_progress_query(void *arg, const weft__coord_progress_t *q, weft__coord_progress_t *a) {
  weft__stall_progress(arg, q, a);
}

static void on_reach_query(void *arg, const weft__coord_reach_t *q) { weft__reach_begin(arg, q); }

/* The store reconnected (or is reconnecting): watch its new fd. The engine's holder calls this. */
static void on_fd(void *arg, int fd) {
  weft_comm_t *c = arg;
  weft__io_stop(c->engine, &c->coord_io);
  c->coord_fd = fd;
  if (fd >= 0 && weft__io_start(c->engine, &c->coord_io, fd, WEFT__IO_READ) < 0)
    WEFT__ERROR("member %llu: cannot watch the new coordinator connection", (unsigned long long)c->member_id);
}

/* The coordinator is unreachable for now (dead and being restarted, stopped, cut off), or back.
 * Nothing fails for it: collectives do not need it. A recover that cannot get its answer within
 * its bound says so (WEFT_ERR_UNAVAILABLE) rather than WEFT_ERR_TIMEOUT. */
static void on_availability(void *arg, bool available, const char *why) {
  weft_comm_t *c = arg;
  pthread_mutex_lock(&c->mu);
  c->coord_unavailable = !available;
  if (!available) snprintf(c->coord_unavailable_why, sizeof c->coord_unavailable_why, "%s", why);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

/* Copies an EPOCH into the hand-over state; false: out of memory. Under c->mu. */
static bool keep_epoch(weft_comm_t *c, const weft__coord_epoch_t *e) {
  uint32_t need = e->size > e->num_left ? e->size : e->num_left;
  if (need == 0) need = 1;
  if (c->next_cap < need) {
    free(c->next_members);
    free(c->next_left);
    c->next_members = calloc(need, sizeof *c->next_members);
    c->next_left = calloc(need, sizeof *c->next_left);
    c->next_cap = c->next_members && c->next_left ? need : 0;
    if (!c->next_cap) return false;
  }
  memcpy(c->next_members, e->members, e->size * sizeof *c->next_members);
  /* The cards stay with the store (fetch_cards); these pointed into its read buffer. */
  for (uint32_t i = 0; i < e->size; i++) c->next_members[i].card = NULL;
  memcpy(c->next_left, e->left, e->num_left * sizeof *c->next_left);
  c->next_epoch = *e;
  c->next_epoch.members = c->next_members;
  c->next_epoch.left = c->next_left;
  return true;
}

static void on_answer(void *arg, weft__store_answer_t answer, const weft__coord_epoch_t *e,
                      const weft__coord_error_t *err) {
  weft_comm_t *c = arg;
  pthread_mutex_lock(&c->mu);
  if (answer == WEFT__STORE_EPOCH && !keep_epoch(c, e)) {
    answer = WEFT__STORE_ERROR;
    c->coord_error = (weft__coord_error_t){.code = WEFT_ERR_NO_MEMORY};
    snprintf(c->coord_error.text, sizeof c->coord_error.text, "out of memory for the coordinator's EPOCH");
  } else if (answer == WEFT__STORE_ERROR) {
    c->coord_error = *err;
  }
  c->answer = answer;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

weft_result_t weft__membership_join(weft_comm_t *c, weft__store_join_args_t *a, char *err, size_t errlen) {
  a->hb_interval = c->hb_interval;
  a->hb_timeout = c->hb_timeout;
  a->connect_timeout = c->connect_timeout;
  a->cb = (weft__store_cb_t){.ctx = c, .on_revoke = on_revoke, .on_answer = on_answer, .on_lost = on_lost,
                           .on_progress_query = on_progress_query, .on_reach_query = on_reach_query,
                           .on_fd = on_fd, .on_availability = on_availability};
  weft_result_t r = c->store_ops->join(a, &c->store, &c->member_id, err, errlen);
  if (r == WEFT_SUCCESS) c->coord_fd = c->store_ops->fd(c->store);
  return r;
}

void weft__membership_leave(weft_comm_t *c) {
  if (!c->store) return;
  c->store_ops->leave(c->store);
  c->store = NULL;
  c->coord_fd = -1;
}

void weft__membership_read(weft_comm_t *c) {
  if (c->store) c->store_ops->on_readable(c->store);
}

void weft__membership_heartbeat(weft_comm_t *c, double now) {
  if (c->store) c->store_ops->heartbeat(c->store, now);
}

double weft__membership_next_due(const weft_comm_t *c) {
  return c->store ? c->store_ops->next_due(c->store) : weft__now() + 1.0;
}

/* world_rank -1: no suspect (an operation timed out, a mesh failed to form here). Either way
 * the coordinator checks reachability before it evicts a live member (tools/coordinator/suspect.c). */
void weft__membership_report(weft_comm_t *ctx, int world_rank, const char *why) {
  if (!ctx->store || !ctx->members || world_rank >= ctx->size) return;
  weft__coord_revoke_t rep = {.epoch = ctx->epoch, .member_id = world_rank >= 0 ? ctx->members[world_rank].member_id : 0,
                              .rank = world_rank >= 0 ? world_rank : -1, .reason = WEFT__FAIL_REPORTED};
  snprintf(rep.text, sizeof rep.text, "%s", why);
  ctx->store_ops->report(ctx->store, &rep);
}

/* Store cards per fetch_cards call: bounds the scratch (~66 KB) whatever the epoch's size. */
#define CARD_BATCH 64

weft_result_t weft__membership_cards(weft_comm_t *c, const weft__coord_epoch_t *e, weft__card_t *out, double deadline,
                                     char *err, size_t errlen) {
  weft__store_card_t *got = malloc(CARD_BATCH * sizeof *got);
  uint64_t ids[CARD_BATCH];
  weft_result_t r = got && c->store ? WEFT_SUCCESS : got ? WEFT_ERR_TRANSPORT : WEFT_ERR_NO_MEMORY;
  if (r != WEFT_SUCCESS) snprintf(err, errlen, "cannot fetch the cards of epoch %llu: %s", (unsigned long long)e->epoch,
                                  got ? "no membership store" : "out of memory");
  for (uint32_t base = 0; base < e->size && r == WEFT_SUCCESS; base += CARD_BATCH) {
    uint32_t n = WEFT__MIN((uint32_t)CARD_BATCH, e->size - base);
    for (uint32_t i = 0; i < n; i++) ids[i] = e->members[base + i].member_id;
    if ((r = c->store_ops->fetch_cards(c->store, ids, n, got, deadline)) != WEFT_SUCCESS) {
      snprintf(err, errlen, "the membership store (%s) has no cards for epoch %llu: %s", c->store_ops->name,
               (unsigned long long)e->epoch, weft_strerror(r));
      break;
    }
    for (uint32_t i = 0; i < n && r == WEFT_SUCCESS; i++) {
      char why[160];
      if (!weft__card_decode(got[i].data, got[i].len, ids[i], &out[base + i], why, sizeof why)) {
        r = WEFT_ERR_PROTOCOL;
        snprintf(err, errlen, "epoch %llu: rank %u (member %llu): %s", (unsigned long long)e->epoch, base + i,
                 (unsigned long long)ids[i], why);
      }
    }
  }
  free(got);
  return r;
}

weft_result_t weft__membership_request_epoch(weft_comm_t *c, bool admit) {
  pthread_mutex_lock(&c->mu);
  /* A recover that stopped waiting (its bound expired) left its request with the coordinator,
   * whose answer -- already here or still due -- answers this call too: the round it belongs to
   * is this step's. Asking again would lose that answer: after an EPOCH the coordinator, which
   * has moved on, takes a RECOVER about the old epoch for a member gone astray and evicts it;
   * after a NO_CHANGE a second RECOVER opens a round the others (gone on computing) never join,
   * and the recover deadline would leave them out. An EPOCH not installed yet is kept for the
   * same reason whatever the flag says: this member is in it. */
  bool held = c->request_abandoned || (c->answer == WEFT__STORE_EPOCH && c->next_epoch.epoch > c->epoch);
  /* ... except JOINERS for a RECOVER: the others are asking RECOVER to admit them right now. */
  if (held && admit && c->answer == WEFT__STORE_JOINERS) held = false;
  c->request_abandoned = false;
  if (!held) c->answer = WEFT__STORE_PENDING;
  weft__store_answer_t answer = c->answer;
  pthread_mutex_unlock(&c->mu);
  if (held) {
    WEFT__INFO("member %llu: taking the answer to the request an earlier recover gave up on (%s)",
               (unsigned long long)c->member_id, answer == WEFT__STORE_PENDING ? "still due" : "arrived");
    return WEFT_SUCCESS;
  }
  return c->store ? c->store_ops->request_epoch(c->store, c->epoch, admit) : WEFT_ERR_TRANSPORT;
}
