/* Gather and scatter: direct exchange between the root and every other rank (any size, any
 * count, both algorithm choices).
 *
 * GATHER (one phase). Every non-root sends its count elements to the root, which receives
 * rank j's block into RECV at j*count and copies its own block SEND -> RECV (not in place).
 * SCATTER (one phase). The root sends SEND block j to rank j and copies its own block
 * SEND -> RECV (not in place); every other rank receives its block into RECV.
 *
 * The root talks to n-1 peers at once, all in one phase: the executor runs the phase's steps
 * concurrently, so the root's link is the bottleneck at (n-1)*count elements, which no
 * algorithm can beat for a rooted gather or scatter of distinct data. A binomial tree would
 * save latency for tiny counts at the price of forwarding copies; it is not done here.
 */
#include "algo/schedule.h"

static void direct_gather(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  uint64_t c = a->count;
  if (r != a->root) {
    weft__emit_send(e, 0, a->root, WEFT__BUF_SEND, 0, c);
    return;
  }
  if (!a->in_place && c > 0) weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, (uint64_t)r * c, c);
  for (int j = 0; j < n; j++)
    if (j != r) weft__emit_recv(e, 0, j, WEFT__BUF_RECV, (uint64_t)j * c, c);
}

static void direct_scatter(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  uint64_t c = a->count;
  if (r != a->root) {
    weft__emit_recv(e, 0, a->root, WEFT__BUF_RECV, 0, c);
    return;
  }
  if (!a->in_place && c > 0) weft__emit_copy(e, 0, WEFT__BUF_SEND, (uint64_t)r * c, WEFT__BUF_RECV, 0, c);
  for (int j = 0; j < n; j++)
    if (j != r) weft__emit_send(e, 0, j, WEFT__BUF_SEND, (uint64_t)j * c, c);
}

weft_result_t weft__sched_rooted(const weft__sched_args_t *args, weft__sched_t *out) {
  weft__emit_t e = {.sched = out, .rc = WEFT_SUCCESS};
  switch (args->coll) {
  case WEFT__COLL_GATHER: direct_gather(&e, args); break;
  case WEFT__COLL_SCATTER: direct_scatter(&e, args); break;
  default: return WEFT_ERR_INVALID_ARGUMENT;
  }
  return e.rc;
}
