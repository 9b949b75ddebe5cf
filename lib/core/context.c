/* One context, many communicators: what a failure, a timer or an exclusive section does to
 * every communicator of a context (comm.h explains context and views).
 *
 * The rule that makes groups safe to mix with failures: the epoch belongs to the context, not
 * to a communicator. A member lost on any communicator's lanes, a coordinator REVOKE, or the
 * coordinator itself lost revokes the epoch once, and every running operation of every
 * communicator fails with that one cause; each communicator tells its own peers why (ABORT on
 * its own lanes), so a peer blocked in a group this rank was not even calling learns it too.
 *
 * Callers hold the engine (every function here but revoke/is_revoked touches transports or
 * operation lists). */
#include <stdio.h>

#include "core/comm.h"
#include "membership/epoch.h"

bool weft__ctx_revoke(weft_comm_t *ctx, weft_result_t code, const char *msg) {
  pthread_mutex_lock(&ctx->mu);
  bool first = !ctx->revoked;
  if (first) {
    ctx->revoked = true;
    ctx->revoke_code = code;
    snprintf(ctx->revoke_msg, sizeof ctx->revoke_msg, "%s", msg);
  }
  pthread_mutex_unlock(&ctx->mu);
  return first;
}

bool weft__ctx_is_revoked(weft_comm_t *ctx) {
  pthread_mutex_lock(&ctx->mu);
  bool r = ctx->revoked;
  pthread_mutex_unlock(&ctx->mu);
  return r;
}

/* Children of the current epoch; stale ones have no lanes and nothing running. */
#define FOR_EACH_COMM(ctx, c) \
  for (weft_comm_t *c = (ctx); c; c = c == (ctx) ? (ctx)->children : c->next_child)

void weft__ctx_fail_all(weft_comm_t *ctx, weft_result_t code, const char *msg, bool epoch_over) {
  FOR_EACH_COMM(ctx, c) {
    if (c == ctx && ctx->root_closed) continue;
    if (!weft__comm_stale(c)) weft__executor_fail_all(c, code, msg, epoch_over);
  }
}

void weft__ctx_drop_member(weft_comm_t *ctx, int world_rank) {
  FOR_EACH_COMM(ctx, c) {
    if (!c->net) continue;
    for (int r = 0; r < c->size; r++)
      if (weft__world_rank(c, r) == world_rank && r != c->rank) {
        c->peer_gone[r] = true;
        weft__net_drop_peer(c->net, r);
      }
  }
}

double weft__ctx_next_deadline(weft_comm_t *ctx) {
  double d = 1e300;
  FOR_EACH_COMM(ctx, c) d = WEFT__MIN(d, WEFT__MIN(weft__executor_next_deadline(c), weft__stall_due(c)));
  return WEFT__MIN(d, weft__reach_due(ctx));
}

void weft__ctx_check_deadlines(weft_comm_t *ctx, double now) {
  FOR_EACH_COMM(ctx, c) {
    weft__executor_check_deadlines(c, now);
    weft__stall_check(c, now);
  }
  weft__reach_check(ctx, now);
}

bool weft__ctx_installing(weft_comm_t *ctx) {
  pthread_mutex_lock(&ctx->mu);
  bool installing = ctx->paused || ctx->pause_req;
  pthread_mutex_unlock(&ctx->mu);
  return installing;
}

bool weft__ctx_busy(weft_comm_t *ctx) {
  FOR_EACH_COMM(ctx, c) if (c->coll_head || c->p2p) return true;
  return false;
}

void weft__ctx_exclusive_begin(weft_comm_t *ctx) {
  pthread_mutex_lock(&ctx->excl_mu);
  weft__epoch_pause(ctx, true);
}

void weft__ctx_exclusive_end(weft_comm_t *ctx) {
  weft__epoch_pause(ctx, false);
  pthread_mutex_unlock(&ctx->excl_mu);
}

/* Eviction first: it is terminal for every communicator of the process, stale children too,
 * and the program must hear "exit", not "recover" or "make it again". */
weft_result_t weft__comm_check_evicted(weft_comm_t *c, const char *who) {
  weft_comm_t *ctx = c->ctx;
  if (!weft__ctx_evicted(ctx)) return WEFT_SUCCESS;
  pthread_mutex_lock(&ctx->mu);
  weft__comm_set_error(c, "%s: %s; exit (a launcher with restarts brings the process back as a joiner)", who,
                       ctx->revoke_msg);
  pthread_mutex_unlock(&ctx->mu);
  return WEFT_ERR_EVICTED;
}

weft_result_t weft__comm_check_usable(weft_comm_t *c, const char *who) {
  weft_comm_t *ctx = c->ctx;
  weft_result_t r = weft__comm_check_evicted(c, who);
  if (r != WEFT_SUCCESS) return r;
  if (weft__comm_stale(c)) {
    weft__comm_set_error(c, "%s: this communicator was made in epoch %llu and its context is now in epoch %llu: "
                         "destroy it and make it again from the recovered root communicator", who,
                         (unsigned long long)c->epoch, (unsigned long long)ctx->epoch);
    return WEFT_ERR_REVOKED;
  }
  pthread_mutex_lock(&ctx->mu);
  bool revoked = ctx->revoked;
  if (revoked)
    weft__comm_set_error(c, "%s: epoch %llu is revoked (%s); call weft_comm_recover%s", who,
                         (unsigned long long)ctx->epoch, ctx->revoke_msg,
                         c == ctx ? "" : " on the root communicator, then make this one again");
  pthread_mutex_unlock(&ctx->mu);
  return revoked ? WEFT_ERR_REVOKED : WEFT_SUCCESS;
}

/* Decoded when the epoch was installed, from the blob each member published through the
 * membership store (lib/core/card.h); the member id is the store's. */
weft__card_t weft__member_card(const weft_comm_t *ctx, int world_rank) { return ctx->cards[world_rank]; }
