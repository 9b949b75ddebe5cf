/* Reachability rounds, a member's side (the coordinator's: tools/coordinator/reach.c).
 *
 * The coordinator asks (REACH_QUERY) which of some members of the epoch this process can reach
 * now. Each is dialled afresh at the address its card gives, non-blocking, all at once, on the
 * engine (fd watchers: no thread, nothing blocks the heartbeats); a connection that completes
 * within the time the query gives counts as reached and is closed at once. Its only trace on the
 * other side is an unauthenticated connection in its listener's backlog, dropped at its next
 * mesh formation. When every dial ended, or the time is up, the answer (REACH) goes back. One
 * round at a time; the state lives in the context (ctx->reach). It is freed by the next deadline
 * check, after the engine's turn: a dial's watcher may still be named by an event later in the
 * batch whose callback finished the round (the engine skips stopped watchers, but reads them). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/comm.h"

typedef struct reach_round reach_round_t;

typedef struct {
  weft__io_t io; /* first: the watcher's callback finds the dial from it */
  reach_round_t *round;
  uint32_t rank;
  uint8_t status; /* 0 reached, 1 not, 2 in progress */
} reach_dial_t;

struct reach_round {
  weft_comm_t *ctx;
  uint64_t epoch;
  double deadline;
  uint32_t n, pending;
  bool answered; /* the answer went out: only the memory is left, freed by weft__reach_check */
  reach_dial_t *d;
};

static void end_dial(reach_round_t *r, reach_dial_t *d, uint8_t status) {
  if (d->status != 2) return;
  d->status = status;
  if (d->io.fd >= 0) {
    int fd = d->io.fd;
    weft__io_stop(r->ctx->engine, &d->io);
    close(fd);
  }
  r->pending--;
}

static void finish(weft_comm_t *ctx) {
  reach_round_t *r = ctx->reach;
  for (uint32_t i = 0; i < r->n; i++) end_dial(r, &r->d[i], 1);
  uint32_t *ranks = malloc((r->n ? r->n : 1) * sizeof *ranks);
  uint8_t *status = malloc(r->n ? r->n : 1);
  if (ranks && status && ctx->store) {
    for (uint32_t i = 0; i < r->n; i++) ranks[i] = r->d[i].rank, status[i] = r->d[i].status;
    weft__coord_reach_t a = {.epoch = r->epoch, .n = r->n, .ranks = ranks, .status = status};
    if (ctx->store_ops->report_reach(ctx->store, &a) != WEFT_SUCCESS)
      WEFT__WARN("member %llu: cannot send the reachability answer", (unsigned long long)ctx->member_id);
  }
  free(ranks);
  free(status);
  r->answered = true;
}

static void free_round(weft_comm_t *ctx) {
  free(ctx->reach->d);
  free(ctx->reach);
  ctx->reach = NULL;
}

static void on_dial(weft__io_t *w, uint32_t events) {
  (void)events;
  reach_dial_t *d = (reach_dial_t *)w;
  int e = weft__sock_connect_result(w->fd);
  if (e == EINPROGRESS) return;
  end_dial(d->round, d, e == 0 ? 0 : 1);
  weft_comm_t *ctx = d->round->ctx;
  if (ctx->reach->pending == 0 && !ctx->reach->answered) finish(ctx);
}

void weft__reach_begin(weft_comm_t *ctx, const weft__coord_reach_t *q) {
  /* During an install the epoch asked about is over (and the cards are being replaced). */
  if (ctx->reach || weft__ctx_installing(ctx) || q->epoch != ctx->epoch || !ctx->cards) return;
  reach_round_t *r = calloc(1, sizeof *r);
  if (r) r->d = calloc(q->n ? q->n : 1, sizeof *r->d);
  if (!r || !r->d) {
    free(r);
    return;
  }
  *r = (reach_round_t){.ctx = ctx, .epoch = q->epoch, .deadline = weft__now() + q->timeout_ms / 1e3, .n = q->n,
                       .pending = q->n, .d = r->d};
  ctx->reach = r;
  for (uint32_t i = 0; i < q->n; i++) {
    reach_dial_t *d = &r->d[i];
    uint8_t unused;
    weft__coord_reach_entry(q, WEFT__COORD_REACH_QUERY, i, &d->rank, &unused);
    d->round = r;
    d->status = 2;
    weft__io_init(&d->io, on_dial);
    if (d->rank == (uint32_t)ctx->rank || d->rank >= (uint32_t)ctx->size) {
      r->pending--, d->status = 0; /* itself, or not a member: nothing to learn */
      continue;
    }
    const weft__addr_t *addr = &ctx->cards[d->rank].addr;
    int fd = -1;
    if (addr->family == 0 || weft__sock_connect_start(addr, &fd) != 0 ||
        weft__io_start(ctx->engine, &d->io, fd, WEFT__IO_WRITE) < 0) {
      if (fd >= 0) close(fd); /* a failed io_start leaves the watcher stopped (fd -1) */
      end_dial(r, d, 1);
    }
  }
  if (r->pending == 0) finish(ctx); /* no watcher started: nothing names the dials */
}

double weft__reach_due(const weft_comm_t *ctx) {
  return !ctx->reach ? 1e300 : ctx->reach->answered ? 0 : ctx->reach->deadline;
}

void weft__reach_check(weft_comm_t *ctx, double now) {
  if (ctx->reach && !ctx->reach->answered && now >= ctx->reach->deadline) finish(ctx);
  if (ctx->reach && ctx->reach->answered) free_round(ctx);
}

void weft__reach_abandon(weft_comm_t *ctx) {
  reach_round_t *r = ctx->reach;
  if (!r) return;
  for (uint32_t i = 0; i < r->n; i++) end_dial(r, &r->d[i], 1);
  free_round(ctx);
}
