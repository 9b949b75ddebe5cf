/* Hung callers, a member's side (the coordinator's: tools/coordinator/stall.c).
 *
 * A rank whose application thread blocks in its own code (a deadlock, a stuck data loader, a
 * long kernel) keeps heartbeating from its progress thread, so nothing else notices it; its
 * peers sit in the next collective until WEFT_TIMEOUT. Here:
 *   - a rank whose collective has run for WEFT_STALL_TIMEOUT tells the coordinator once (STALL:
 *     which communicator, which collective, who its members are);
 *   - the coordinator asks those members how far they got (PROGRESS_QUERY), and this process
 *     answers from whichever thread holds the engine, which is the progress thread when the
 *     application's thread is stuck: the last collective it entered on that communicator, and
 *     whether an application thread is inside a weft call now or for how long none has been.
 * A member that has not entered the collective and has been out of weft for the stall timeout
 * is the laggard: the coordinator evicts it, naming it and where it is, and the others recover
 * without it. One inside a weft call (blocked on another communicator, say) is not a hung
 * caller and is not evicted for this.
 *
 * The activity clock counts every application thread in a call of any communicator of the
 * context; a thread that runs a non-blocking collective and computes is outside, as it should
 * be: it is its computation that holds the others. */
#include <stdio.h>
#include <stdlib.h>

#include "core/comm.h"

void weft__activity_init(weft_comm_t *ctx) {
  atomic_init(&ctx->app_calls, 0);
  atomic_init(&ctx->app_left_at, weft__now());
}

void weft__activity_enter(weft_comm_t *comm) { atomic_fetch_add(&comm->ctx->app_calls, 1); }

void weft__activity_leave(weft_comm_t *comm) {
  weft_comm_t *ctx = comm->ctx;
  /* The time first: a reader that sees no call in progress must not see an older time. */
  atomic_store(&ctx->app_left_at, weft__now());
  atomic_fetch_sub(&ctx->app_calls, 1);
}

void weft__stall_entered(weft_comm_t *comm, const weft__op_t *op) {
  atomic_store(&comm->entered_coll, (unsigned)op->coll);
  atomic_store(&comm->entered_seq, op->seq);
}

/* The collective this rank waits on: the head of the communicator's queue, once running. */
static const weft__op_t *waited_on(const weft_comm_t *c) {
  const weft__op_t *op = c->coll_head;
  return op && op->started && op->seq > c->stall_reported_seq ? op : NULL;
}

double weft__stall_due(const weft_comm_t *c) {
  const weft__op_t *op = waited_on(c);
  double stall = c->ctx->stall_timeout;
  return op && stall > 0 && c->ctx->store ? op->started_at + stall : 1e300;
}

/* A stalled collective while the coordinator is unreachable: nobody can find out which rank is
 * at fault (this one may be the one cut off from everything), and waiting for WEFT_TIMEOUT would
 * only hold the caller. The collective fails now, revoking the epoch, as a timeout would; the
 * STALL waits in the store and reaches the coordinator when it is back. */
static void give_up_without_coordinator(weft_comm_t *c, const weft__op_t *op, double waited) {
  weft_comm_t *ctx = c->ctx;
  char why[200];
  if (!weft__ctx_coord_unavailable(ctx, why, sizeof why)) return;
  char msg[WEFT__ERR_LEN];
  snprintf(msg, sizeof msg, "%s seq %llu waited on for %.1f s (WEFT_STALL_TIMEOUT) while the membership service is "
           "unavailable (%.120s): no one can tell which rank is at fault; giving up rather than waiting for "
           "WEFT_TIMEOUT", weft__coll_name(op->coll), (unsigned long long)op->seq, waited, why);
  WEFT__WARN("rank %d: %s", c->rank, msg);
  weft__ctx_fail_all(ctx, WEFT_ERR_TIMEOUT, msg, true);
}

void weft__stall_check(weft_comm_t *c, double now) {
  weft_comm_t *ctx = c->ctx;
  const weft__op_t *op = c->coll_head;
  if (!op || !op->started || !(ctx->stall_timeout > 0) || now < op->started_at + ctx->stall_timeout || !ctx->store)
    return;
  if (op->seq <= c->stall_reported_seq) { /* reported: only the coordinator's absence is news */
    give_up_without_coordinator(c, op, now - op->started_at);
    return;
  }
  c->stall_reported_seq = op->seq; /* once per collective, whatever the coordinator decides */
  uint32_t *ranks = NULL;
  uint32_t n = 0;
  if (c != ctx) { /* a sub-communicator: the coordinator knows epochs, not groups */
    ranks = malloc((size_t)c->size * sizeof *ranks);
    if (!ranks) return;
    for (int i = 0; i < c->size; i++) ranks[i] = (uint32_t)weft__world_rank(c, i);
    n = (uint32_t)c->size;
  }
  double waited = now - op->started_at;
  weft__coord_stall_t st = {.epoch = c->epoch, .comm_id = c->comm_id, .seq = op->seq, .coll = (uint32_t)op->coll,
                            .waited_ms = (uint32_t)WEFT__MIN(waited * 1e3, 4e9),
                            .stall_ms = (uint32_t)WEFT__MIN(ctx->stall_timeout * 1e3, 4e9), .nranks = n,
                            .ranks = ranks};
  WEFT__WARN("rank %d: %s seq %llu of communicator %llu waited on for %.1f s (WEFT_STALL_TIMEOUT): asking the "
             "coordinator which rank has not entered it", c->rank, weft__coll_name(op->coll),
             (unsigned long long)op->seq, (unsigned long long)c->comm_id, waited);
  weft_result_t r = ctx->store_ops->report_stall(ctx->store, &st);
  if (r != WEFT_SUCCESS) WEFT__WARN("rank %d: cannot tell the coordinator: %s", c->rank, weft_strerror(r));
  free(ranks);
  give_up_without_coordinator(c, op, waited);
}

static weft_comm_t *comm_by_id(weft_comm_t *ctx, uint64_t comm_id) {
  if (comm_id == 0) return ctx->root_closed ? NULL : ctx;
  for (weft_comm_t *c = ctx->children; c; c = c->next_child)
    if (c->comm_id == comm_id) return c;
  return NULL;
}

void weft__stall_progress(weft_comm_t *ctx, const weft__coord_progress_t *q, weft__coord_progress_t *a) {
  *a = (weft__coord_progress_t){.epoch = q->epoch, .comm_id = q->comm_id, .seq = q->seq};
  /* This runs on the engine's holder, which keeps the children's list stable -- except while
   * recover runs (paused), when the installer relinks children and renumbers the root and only
   * the coordinator's conversation goes on. This member is inside a call then; of its
   * communicators only the root's atomics can be read (a recover that installed a new epoch
   * reset them, and the coordinator ignores answers about an epoch that is over). */
  if (weft__ctx_installing(ctx)) {
    a->flags = WEFT__PROGRESS_IN_CALL;
    if (q->comm_id == 0) {
      a->flags |= WEFT__PROGRESS_HAS_COMM;
      a->entered_seq = atomic_load(&ctx->entered_seq);
      a->entered_coll = atomic_load(&ctx->entered_coll);
    }
    return;
  }
  weft_comm_t *c = comm_by_id(ctx, q->comm_id);
  if (c && c->epoch == q->epoch) {
    a->flags |= WEFT__PROGRESS_HAS_COMM;
    a->entered_seq = atomic_load(&c->entered_seq);
    a->entered_coll = atomic_load(&c->entered_coll);
  }
  if (atomic_load(&ctx->app_calls) > 0) {
    a->flags |= WEFT__PROGRESS_IN_CALL;
  } else {
    double idle = weft__now() - atomic_load(&ctx->app_left_at);
    a->idle_ms = (uint32_t)WEFT__MIN(WEFT__MAX(idle, 0) * 1e3, 4e9);
  }
}
