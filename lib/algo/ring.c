/* Ring algorithms: bandwidth-optimal schedules for every collective (any size >= 2, any count).
 *
 * The ranks form a ring: each rank sends only to `next` = rank+1 and receives only from `prev` =
 * rank-1 (mod n), so every link carries the same load and no rank is a hotspot.
 *
 * Blocks. A count-element buffer is cut into n blocks, block b starting at
 * b*(count/n) + min(b, count%n), the first count%n blocks one element longer. With count < n some
 * blocks are empty; their steps still run with count 0 so both sides of every link see the same
 * sequence of phases.
 *
 * Reduce-scatter ring (n-1 phases). In phase s rank r sends block (r-s) to next and receives
 * block (r-s-1) from prev, reducing it with its own contribution. A block b starts at rank b,
 * picks up one contribution per hop, and after n-1 hops is complete at rank b-1: rank r ends
 * with block r+1 fully reduced, each element having been reduced exactly n-1 times.
 *
 * Allgather ring (n-1 phases). In phase s rank r forwards block (r+1-s) (the one it completed or
 * received last) and receives block (r-s).
 *
 * ALLREDUCE = reduce-scatter ring then allgather ring, 2(n-1) phases of count/n elements: each
 * rank sends 2(n-1)/n * count elements, the lower bound. Out of place every first reduction
 * reads the contribution straight from SEND into RECV, so nothing is copied. Every block's final
 * value is computed once, on one rank, and copied to the others, so results are bit-identical.
 *
 * REDUCE_SCATTER (blocks of `count` in an n*count SEND). Arranged so that rank r finishes with
 * block r: in phase s it sends block (r-s-1) and receives block (r-s-2). Partial sums live in two
 * TMP slots used alternately (a phase sends from one slot and receives into the other); the last
 * phase reduces straight into RECV. In place RECV is SEND block r, which is read only by that
 * last reduction (src and dst are then the same memory, which the reduction allows).
 *
 * ALLGATHER. Own block copied SEND -> RECV[rank] (not in place), then the allgather ring.
 *
 * BROADCAST: a pipelined chain root, root+1, ..., root-1. The count is cut into chunks
 * (args->chunk_elems each, at most RING_MAX_CHUNKS of them, one chunk if 0); the rank at chain
 * position k receives chunk c in phase c+k-1 and forwards it in phase c+k, so in one phase a rank
 * receives one chunk while forwarding the previous one. nchunks + n - 2 phases.
 *
 * REDUCE: the reduce-scatter ring of ALLREDUCE, accumulating in RECV on the root and in TMP
 * elsewhere (RECV need not exist off the root), then one gather phase in which every non-root
 * sends its completed block to the root.
 *
 * BARRIER has no data, hence nothing to balance: it is the dissemination barrier of tree.c.
 */
#include "algo/schedule.h"

/* Bounds the schedule length of a pipelined broadcast whatever chunk size is configured. */
#define RING_MAX_CHUNKS 64u

static int ring_mod(int a, int n) { return ((a % n) + n) % n; }

static uint64_t blk_off(uint64_t count, int n, int b) {
  uint64_t q = count / (uint64_t)n, rem = count % (uint64_t)n;
  return (uint64_t)b * q + WEFT__MIN((uint64_t)b, rem);
}

static uint64_t blk_len(uint64_t count, int n, int b) {
  uint64_t q = count / (uint64_t)n, rem = count % (uint64_t)n;
  return q + ((uint64_t)b < rem ? 1 : 0);
}

/* Reduce-scatter ring over a count-element buffer: this rank's contribution is in `in`, partial
 * and final blocks are written to `work` at their own offsets. Phases first .. first+n-2.
 * Afterwards `work` holds block rank+1 fully reduced. */
static void reduce_scatter_ring(weft__emit_t *e, const weft__sched_args_t *a, uint32_t first,
                                weft__buf_t in, weft__buf_t work) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  for (int s = 0; s < n - 1; s++) {
    int sb = ring_mod(r - s, n), rb = ring_mod(r - s - 1, n);
    uint32_t phase = first + (uint32_t)s;
    weft__emit_send(e, phase, next, s == 0 ? in : work, blk_off(a->count, n, sb),
                    blk_len(a->count, n, sb));
    weft__emit_recv_reduce(e, phase, prev, in, blk_off(a->count, n, rb), work,
                           blk_off(a->count, n, rb), blk_len(a->count, n, rb));
  }
}

/* Allgather ring over the blocks of a count-element RECV, starting from rank+1's block complete
 * on this rank. Phases first .. first+n-2. */
static void allgather_blocks_ring(weft__emit_t *e, const weft__sched_args_t *a, uint32_t first) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  for (int s = 0; s < n - 1; s++) {
    int sb = ring_mod(r + 1 - s, n), rb = ring_mod(r - s, n);
    uint32_t phase = first + (uint32_t)s;
    weft__emit_send(e, phase, next, WEFT__BUF_RECV, blk_off(a->count, n, sb),
                    blk_len(a->count, n, sb));
    weft__emit_recv(e, phase, prev, WEFT__BUF_RECV, blk_off(a->count, n, rb),
                    blk_len(a->count, n, rb));
  }
}

static void ring_allreduce(weft__emit_t *e, const weft__sched_args_t *a) {
  /* In place the contribution already sits in RECV; naming it RECV keeps every range in one
   * buffer so src == dst reductions are visibly exact aliases. */
  weft__buf_t in = a->in_place ? WEFT__BUF_RECV : WEFT__BUF_SEND;
  reduce_scatter_ring(e, a, 0, in, WEFT__BUF_RECV);
  allgather_blocks_ring(e, a, (uint32_t)(a->size - 1));
}

static void ring_reduce_scatter(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  uint64_t c = a->count;
  for (int s = 0; s < n - 1; s++) {
    int sb = ring_mod(r - s - 1, n), rb = ring_mod(r - s - 2, n);
    bool last = s == n - 2;
    uint32_t phase = (uint32_t)s;
    if (s == 0)
      weft__emit_send(e, phase, next, WEFT__BUF_SEND, (uint64_t)sb * c, c);
    else
      weft__emit_send(e, phase, next, WEFT__BUF_TMP, (uint64_t)((s - 1) % 2) * c, c);
    if (last)
      weft__emit_recv_reduce(e, phase, prev, WEFT__BUF_SEND, (uint64_t)rb * c, WEFT__BUF_RECV, 0,
                             c);
    else
      weft__emit_recv_reduce(e, phase, prev, WEFT__BUF_SEND, (uint64_t)rb * c, WEFT__BUF_TMP,
                             (uint64_t)(s % 2) * c, c);
  }
  e->sched->tmp_count = (uint64_t)WEFT__MIN(2, n - 2) * c;
}

static void ring_allgather(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  uint64_t c = a->count;
  if (!a->in_place && c > 0)
    weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, (uint64_t)r * c, c);
  for (int s = 0; s < n - 1; s++) {
    int sb = ring_mod(r - s, n), rb = ring_mod(r - s - 1, n);
    uint32_t phase = (uint32_t)s;
    /* Phase 0 forwards our own block from SEND (in place that is RECV[rank] anyway). */
    if (s == 0)
      weft__emit_send(e, phase, next, WEFT__BUF_SEND, 0, c);
    else
      weft__emit_send(e, phase, next, WEFT__BUF_RECV, (uint64_t)sb * c, c);
    weft__emit_recv(e, phase, prev, WEFT__BUF_RECV, (uint64_t)rb * c, c);
  }
}

static uint32_t broadcast_chunks(const weft__sched_args_t *a) {
  if (a->chunk_elems == 0 || a->count <= a->chunk_elems) return 1;
  uint64_t nchunks = a->count / a->chunk_elems + (a->count % a->chunk_elems ? 1 : 0);
  /* nchunks <= count here, so every chunk holds at least one element. */
  return (uint32_t)WEFT__MIN(nchunks, (uint64_t)RING_MAX_CHUNKS);
}

static void ring_broadcast(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  int next = ring_mod(r + 1, n), prev = ring_mod(r - 1, n);
  int k = ring_mod(r - a->root, n); /* position in the chain */
  int nchunks = (int)broadcast_chunks(a);
  if (k == 0 && !a->in_place && a->count > 0)
    weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, 0, a->count);
  for (int ch = 0; ch < nchunks; ch++) {
    uint64_t off = blk_off(a->count, nchunks, ch), len = blk_len(a->count, nchunks, ch);
    if (k > 0) weft__emit_recv(e, (uint32_t)(ch + k - 1), prev, WEFT__BUF_RECV, off, len);
    if (k < n - 1)
      weft__emit_send(e, (uint32_t)(ch + k), next, k == 0 ? WEFT__BUF_SEND : WEFT__BUF_RECV, off,
                      len);
  }
}

static void ring_reduce(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  bool is_root = r == a->root;
  weft__buf_t in = is_root && a->in_place ? WEFT__BUF_RECV : WEFT__BUF_SEND;
  weft__buf_t work = is_root ? WEFT__BUF_RECV : WEFT__BUF_TMP;
  reduce_scatter_ring(e, a, 0, in, work);
  uint32_t gather = (uint32_t)(n - 1);
  if (!is_root) {
    int b = ring_mod(r + 1, n);
    weft__emit_send(e, gather, a->root, work, blk_off(a->count, n, b), blk_len(a->count, n, b));
    e->sched->tmp_count = a->count;
    return;
  }
  /* Rank j completed block j+1; the root already holds block root+1. */
  for (int j = 0; j < n; j++) {
    if (j == r) continue;
    int b = ring_mod(j + 1, n);
    weft__emit_recv(e, gather, j, WEFT__BUF_RECV, blk_off(a->count, n, b),
                    blk_len(a->count, n, b));
  }
}

weft_result_t weft__sched_ring(const weft__sched_args_t *args, weft__sched_t *out) {
  weft__emit_t e = {.sched = out, .rc = WEFT_SUCCESS};
  switch (args->coll) {
  case WEFT__COLL_ALLREDUCE: ring_allreduce(&e, args); break;
  case WEFT__COLL_REDUCE_SCATTER: ring_reduce_scatter(&e, args); break;
  case WEFT__COLL_ALLGATHER: ring_allgather(&e, args); break;
  case WEFT__COLL_BROADCAST: ring_broadcast(&e, args); break;
  case WEFT__COLL_REDUCE: ring_reduce(&e, args); break;
  case WEFT__COLL_BARRIER: return weft__sched_tree(args, out);
  default: return WEFT_ERR_INVALID_ARGUMENT;
  }
  return e.rc;
}
