/* Alltoall and alltoallv: pairwise exchange (any size, any counts, both algorithm choices).
 *
 * In phase k-1 (k = 1 .. n-1) rank r sends its block for `to` = r+k to that rank and receives
 * the block of `from` = r-k (mod n). Every ordered pair of ranks meets exactly once, each rank
 * sends one message and receives one per phase, and every rank sends (n-1)/n of its buffer,
 * the lower bound: n-1 phases. A block of 0 elements still travels as a header-only frame, so
 * every rank hears from every peer even when some or all counts are 0: the exchange then works
 * as a barrier that carries the descriptor (mismatches are caught, nothing waits forever).
 *
 * The own block is a local copy SEND -> RECV in phase 0 (COPY steps run before the phase's
 * receives, and no receive targets the own block).
 *
 * In place (SEND and RECV the same memory): a block received early would overwrite data still
 * to be sent in a later phase, so phase 0 first copies the send extent [0, max displs+counts)
 * into TMP, and every send (and the own block of alltoallv, whose send and receive offsets may
 * differ) reads from TMP. The price is one buffer of scratch, the usual cost of in-place
 * alltoall; alltoall's own block already sits where it belongs and is not copied.
 *
 * Alltoall is alltoallv with counts[j] = count and displs[j] = j*count on both sides.
 */
#include "algo/schedule.h"

typedef struct {
  const size_t *counts, *displs; /* NULL: uniform blocks of `count` */
  uint64_t count;
} layout_t;

static uint64_t lay_len(const layout_t *l, int j) { return l->counts ? l->counts[j] : l->count; }
static uint64_t lay_off(const layout_t *l, int j) {
  return l->displs ? l->displs[j] : (uint64_t)j * l->count;
}

/* One past the last element any block uses; false if an end is not representable. */
static bool lay_extent(const layout_t *l, int n, uint64_t *extent) {
  uint64_t end = 0;
  for (int j = 0; j < n; j++) {
    uint64_t len = lay_len(l, j), off = lay_off(l, j);
    if (len == 0) continue;
    if (off > UINT64_MAX - len) return false;
    end = WEFT__MAX(end, off + len);
  }
  *extent = end;
  return true;
}

weft_result_t weft__sched_alltoall(const weft__sched_args_t *a, weft__sched_t *out) {
  weft__emit_t e = {.sched = out, .rc = WEFT_SUCCESS};
  int n = a->size, r = a->rank;
  bool v = a->coll == WEFT__COLL_ALLTOALLV;
  if (v && (!a->counts || !a->displs || !a->rcounts || !a->rdispls)) return WEFT_ERR_INVALID_ARGUMENT;
  layout_t snd = {v ? a->counts : NULL, v ? a->displs : NULL, a->count};
  layout_t rcv = {v ? a->rcounts : NULL, v ? a->rdispls : NULL, a->count};
  uint64_t send_extent, recv_extent;
  if (!lay_extent(&snd, n, &send_extent) || !lay_extent(&rcv, n, &recv_extent))
    return WEFT_ERR_INVALID_ARGUMENT;
  /* The own block goes from this rank to itself: both sides must agree on its size. */
  if (lay_len(&snd, r) != lay_len(&rcv, r)) return WEFT_ERR_INVALID_ARGUMENT;

  weft__buf_t src = WEFT__BUF_SEND;
  if (a->in_place) {
    src = WEFT__BUF_TMP;
    if (send_extent > 0) weft__emit_copy(&e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_TMP, 0, send_extent);
    out->tmp_count = send_extent;
  }
  uint64_t own = lay_len(&snd, r);
  bool own_in_place = a->in_place && lay_off(&snd, r) == lay_off(&rcv, r);
  if (own > 0 && !own_in_place)
    weft__emit_copy(&e, 0, src, lay_off(&snd, r), WEFT__BUF_RECV, lay_off(&rcv, r), own);

  for (int k = 1; k < n; k++) {
    int to = (r + k) % n, from = (r - k + n) % n;
    uint32_t phase = (uint32_t)(k - 1);
    weft__emit_send(&e, phase, to, src, lay_off(&snd, to), lay_len(&snd, to));
    weft__emit_recv(&e, phase, from, WEFT__BUF_RECV, lay_off(&rcv, from), lay_len(&rcv, from));
  }
  return e.rc;
}
