/* Allgatherv and reduce_scatterv: the ring algorithms of ring.c with blocks of uneven size.
 *
 * Both use one ring (rank r sends only to r+1 and receives only from r-1) for both algorithm
 * choices: with uneven blocks a tree would move whole subtrees of arbitrary size per phase, and
 * the ring keeps every link busy with exactly the blocks that must cross it. Block b is rank b's
 * part: counts[b] elements (0 allowed: its steps still run as header-only frames, so both sides
 * of each link see the same phases and every rank hears, through the ring, from every other).
 *
 * ALLGATHERV (n-1 phases). Block b lives in RECV at displs[b]. Own block copied SEND -> RECV
 * (not in place), then in phase s rank r forwards block r-s (phase 0: straight from SEND) and
 * receives block r-s-1. After n-1 phases every block went once around the ring.
 *
 * REDUCE_SCATTERV (n-1 phases). Block b is counts[b] elements of SEND starting at
 * sum(counts[<b]). As ring.c's reduce-scatter: in phase s rank r sends block r-s-1 (its own
 * contribution in phase 0, a partial sum after) and receives block r-s-2, reducing it with its
 * own contribution; after n-1 hops block b is complete on rank b, each element reduced exactly
 * n-1 times. Partial sums alternate between two TMP slots of the largest block's size (a phase
 * sends from one and receives into the other); the last phase reduces straight into RECV. In
 * place RECV is SEND block r, read only by that last reduction (src and dst then coincide).
 */
#include "algo/schedule.h"

static int ring_mod(int a, int n) { return ((a % n) + n) % n; }

static weft_result_t ring_allgatherv(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  const size_t *cnt = a->counts, *dsp = a->displs;
  if (!cnt || !dsp) return WEFT_ERR_INVALID_ARGUMENT;
  for (int b = 0; b < n; b++)
    if (dsp[b] > UINT64_MAX - cnt[b]) return WEFT_ERR_INVALID_ARGUMENT;
  if (!a->in_place && cnt[r] > 0) weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, dsp[r], cnt[r]);
  for (int s = 0; s < n - 1; s++) {
    int sb = ring_mod(r - s, n), rb = ring_mod(r - s - 1, n);
    uint32_t phase = (uint32_t)s;
    if (s == 0)
      weft__emit_send(e, phase, next, WEFT__BUF_SEND, 0, cnt[r]);
    else
      weft__emit_send(e, phase, next, WEFT__BUF_RECV, dsp[sb], cnt[sb]);
    weft__emit_recv(e, phase, prev, WEFT__BUF_RECV, dsp[rb], cnt[rb]);
  }
  return e->rc;
}

static weft_result_t ring_reduce_scatterv(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  const size_t *cnt = a->counts;
  if (!cnt) return WEFT_ERR_INVALID_ARGUMENT;
  uint64_t total = 0, maxc = 0;
  for (int b = 0; b < n; b++) {
    if (cnt[b] > UINT64_MAX - total) return WEFT_ERR_INVALID_ARGUMENT;
    total += cnt[b];
    maxc = WEFT__MAX(maxc, (uint64_t)cnt[b]);
  }
  if (n == 1) {
    if (!a->in_place && cnt[0] > 0) weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, 0, cnt[0]);
    return e->rc;
  }
  /* Blocks are visited in decreasing order (mod n): walk their offsets down from block r-1's. */
  int sb = ring_mod(r - 1, n);
  uint64_t sb_off = 0;
  for (int b = 0; b < sb; b++) sb_off += cnt[b];
  for (int s = 0; s < n - 1; s++) {
    int rb = ring_mod(sb - 1, n);
    uint64_t rb_off = sb == 0 ? total - cnt[n - 1] : sb_off - cnt[rb];
    uint32_t phase = (uint32_t)s;
    if (s == 0)
      weft__emit_send(e, phase, next, WEFT__BUF_SEND, sb_off, cnt[sb]);
    else
      weft__emit_send(e, phase, next, WEFT__BUF_TMP, (uint64_t)((s - 1) % 2) * maxc, cnt[sb]);
    if (s == n - 2)
      weft__emit_recv_reduce(e, phase, prev, WEFT__BUF_SEND, rb_off, WEFT__BUF_RECV, 0, cnt[rb]);
    else
      weft__emit_recv_reduce(e, phase, prev, WEFT__BUF_SEND, rb_off, WEFT__BUF_TMP,
                             (uint64_t)(s % 2) * maxc, cnt[rb]);
    sb = rb, sb_off = rb_off;
  }
  e->sched->tmp_count = (uint64_t)WEFT__MIN(2, n - 2) * maxc;
  return e->rc;
}

weft_result_t weft__sched_gatherv(const weft__sched_args_t *args, weft__sched_t *out) {
  weft__emit_t e = {.sched = out, .rc = WEFT_SUCCESS};
  switch (args->coll) {
  case WEFT__COLL_ALLGATHERV: return ring_allgatherv(&e, args);
  case WEFT__COLL_REDUCE_SCATTERV: return ring_reduce_scatterv(&e, args);
  default: return WEFT_ERR_INVALID_ARGUMENT;
  }
}
