/* Tree algorithms: latency-optimal schedules, about log2(n) phases each (any size >= 2).
 *
 * Binomial tree (BROADCAST, REDUCE). Ranks are renumbered relative to the root (v = rank - root
 * mod n). Broadcast: in phase k every v < 2^k that has the data sends it to v + 2^k, so the
 * informed set doubles each phase: ceil(log2 n) phases. Reduce runs the same tree backwards: in
 * phase k the ranks whose lowest set bit is k send their partial result to v - 2^k and stop;
 * the others receive from v + 2^k and reduce. Non-roots accumulate in TMP (RECV need not exist
 * there), the root in RECV; a rank's first reduction reads its contribution straight from SEND.
 *
 * Folding to a power of two (ALLREDUCE, REDUCE_SCATTER). With p the largest power of two <= n
 * and extra = n - p, the first 2*extra ranks pair up: even rank 2i hands its whole contribution
 * to odd rank 2i+1 in a first phase and sits out; the p survivors (virtual rank v = i for the
 * odd ones, rank - extra for the rest) run the power-of-two algorithm; a last phase hands the
 * result back to the even ranks. Pairing neighbours keeps each survivor's share of a
 * reduce-scatter contiguous: virtual rank v owns real blocks [first(v), first(v+1)).
 *
 * ALLREDUCE: recursive doubling among the survivors. In step j virtual ranks v and v^2^j swap
 * their whole partial result and both reduce. Every rank then combines the same two operands
 * (its own partial and the partner's, which by induction are bit-identical on both sides), and
 * sum, prod, min and max are commutative, so all ranks end with bit-identical values even for
 * floats. A phase sends its partial from one buffer and reduces into another (RECV and TMP
 * alternately, arranged so the last step lands in RECV), because a send source may not overlap
 * a receive destination within a phase.
 *
 * REDUCE_SCATTER (n*count SEND, block b for rank b): recursive halving among the survivors. Each
 * survivor starts responsible for all p virtual ranks; in each step it keeps the half of its range
 * that contains itself, sends the other half to the partner on the other side, and reduces the
 * partner's copy of the kept half: log2(p) steps, each element reduced exactly n-1 times in all.
 * Partials live in TMP at the same offsets as in SEND (tmp_count = n*count: trees are for small
 * messages); the last reduction of a lone survivor writes RECV directly.
 *
 * ALLGATHER: recursive doubling for powers of two (in step k exchange the aligned group of 2^k
 * blocks already gathered); otherwise Bruck: TMP holds blocks rank, rank+1, ... in rotated order,
 * and in step k a rank sends its first min(2^k, n-2^k) blocks to rank-2^k and receives as many
 * from rank+2^k right after its own, so every transfer is one contiguous range; a final phase
 * copies TMP back into RECV unrotated. ceil(log2 n) exchange phases.
 *
 * BARRIER: dissemination. In round k rank r signals r+2^k and waits for r-2^k (count 0). After
 * ceil(log2 n) rounds every rank has transitively heard from every other.
 */
#include "algo/schedule.h"

static int tree_mod(int a, int n) { return ((a % n) + n) % n; }

static bool is_pow2(int n) { return (n & (n - 1)) == 0; }

/* Largest power of two <= n, and its log2. */
static int floor_pow2(int n, int *log2_out) {
  int p = 1, l = 0;
  while (p * 2 <= n && p <= (1 << 29)) {
    p *= 2;
    l++;
  }
  if (log2_out) *log2_out = l;
  return p;
}

static int ceil_log2(int n) {
  int l = 0;
  while ((1LL << l) < (long long)n) l++;
  return l;
}

static void tree_barrier(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank, rounds = ceil_log2(n);
  for (int k = 0; k < rounds; k++) {
    weft__emit_send(e, (uint32_t)k, tree_mod(r + (1 << k), n), WEFT__BUF_NONE, 0, 0);
    weft__emit_recv(e, (uint32_t)k, tree_mod(r - (1 << k), n), WEFT__BUF_NONE, 0, 0);
  }
}

static void tree_broadcast(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, v = tree_mod(a->rank - a->root, n);
  int kfirst = 0;
  if (v == 0) {
    if (!a->in_place && a->count > 0)
      weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, 0, a->count);
  } else {
    int k = 0;
    while ((2 << k) <= v) k++; /* k = floor(log2 v): v is informed in phase k */
    weft__emit_recv(e, (uint32_t)k, tree_mod(v - (1 << k) + a->root, n), WEFT__BUF_RECV, 0,
                    a->count);
    kfirst = k + 1;
  }
  for (int k = kfirst; (1 << k) < n && v + (1 << k) < n; k++)
    weft__emit_send(e, (uint32_t)k, tree_mod(v + (1 << k) + a->root, n),
                    v == 0 ? WEFT__BUF_SEND : WEFT__BUF_RECV, 0, a->count);
}

static void tree_reduce(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, v = tree_mod(a->rank - a->root, n);
  bool is_root = v == 0;
  weft__buf_t acc = is_root ? WEFT__BUF_RECV : WEFT__BUF_TMP;
  weft__buf_t cur = WEFT__BUF_SEND; /* where this rank's partial result is */
  for (int k = 0; (1 << k) < n; k++) {
    if (v & (1 << k)) {
      weft__emit_send(e, (uint32_t)k, tree_mod(v - (1 << k) + a->root, n), cur, 0, a->count);
      break;
    }
    if (v + (1 << k) < n) {
      weft__emit_recv_reduce(e, (uint32_t)k, tree_mod(v + (1 << k) + a->root, n), cur, 0, acc, 0,
                             a->count);
      cur = acc;
    }
  }
  if (cur == WEFT__BUF_TMP) e->sched->tmp_count = a->count;
}

/* The fold of the header comment. */
typedef struct {
  int p, log2p, extra;
  int vrank; /* -1 for an even rank that sits out */
} fold_t;

static fold_t fold_make(int n, int rank) {
  fold_t f;
  f.p = floor_pow2(n, &f.log2p);
  f.extra = n - f.p;
  if (rank < 2 * f.extra)
    f.vrank = rank % 2 ? rank / 2 : -1;
  else
    f.vrank = rank - f.extra;
  return f;
}

static int fold_real(const fold_t *f, int v) { return v < f->extra ? 2 * v + 1 : v + f->extra; }

/* First real block owned by virtual rank v (v == p gives n). */
static int fold_first_block(const fold_t *f, int v) { return v < f->extra ? 2 * v : v + f->extra; }

/* Destination of recursive-doubling step j: RECV and TMP alternate so that the last is RECV. */
static weft__buf_t doubling_dst(const fold_t *f, int j) {
  return (f->log2p - 1 - j) % 2 == 0 ? WEFT__BUF_RECV : WEFT__BUF_TMP;
}

static void tree_allreduce(weft__emit_t *e, const weft__sched_args_t *a) {
  int r = a->rank;
  uint64_t c = a->count;
  fold_t f = fold_make(a->size, r);
  uint32_t base = f.extra ? 1 : 0; /* first recursive-doubling phase */
  uint32_t back = base + (uint32_t)f.log2p;

  if (f.vrank < 0) {
    weft__emit_send(e, 0, r + 1, WEFT__BUF_SEND, 0, c);
    weft__emit_recv(e, back, r + 1, WEFT__BUF_RECV, 0, c);
    return;
  }

  weft__buf_t cur = a->in_place ? WEFT__BUF_RECV : WEFT__BUF_SEND;
  if (r < 2 * f.extra) {
    /* The fold phase sends nothing, so it may reduce in place; pick the buffer that step 0
     * does not write. */
    weft__buf_t x = doubling_dst(&f, 0) == WEFT__BUF_RECV ? WEFT__BUF_TMP : WEFT__BUF_RECV;
    weft__emit_recv_reduce(e, 0, r - 1, cur, 0, x, 0, c);
    cur = x;
  } else if (cur == doubling_dst(&f, 0)) {
    /* In place with an odd number of steps: step 0 would send from and write RECV at once. */
    weft__emit_copy(e, 0, WEFT__BUF_RECV, 0, WEFT__BUF_TMP, 0, c);
    cur = WEFT__BUF_TMP;
  }
  for (int j = 0; j < f.log2p; j++) {
    int peer = fold_real(&f, f.vrank ^ (1 << j));
    weft__emit_send(e, base + (uint32_t)j, peer, cur, 0, c);
    weft__emit_recv_reduce(e, base + (uint32_t)j, peer, cur, 0, doubling_dst(&f, j), 0, c);
    cur = doubling_dst(&f, j);
  }
  if (r < 2 * f.extra) weft__emit_send(e, back, r - 1, WEFT__BUF_RECV, 0, c);
  e->sched->tmp_count = c;
}

static void tree_reduce_scatter(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  uint64_t c = a->count;
  fold_t f = fold_make(n, r);
  uint32_t base = f.extra ? 1 : 0;
  uint32_t back = base + (uint32_t)f.log2p;
  bool paired = r < 2 * f.extra;

  if (f.vrank < 0) {
    weft__emit_send(e, 0, r + 1, WEFT__BUF_SEND, 0, (uint64_t)n * c);
    weft__emit_recv(e, back, r + 1, WEFT__BUF_RECV, 0, c);
    return;
  }
  e->sched->tmp_count = (uint64_t)n * c;
  weft__buf_t cur = WEFT__BUF_SEND;
  if (paired) {
    weft__emit_recv_reduce(e, 0, r - 1, WEFT__BUF_SEND, 0, WEFT__BUF_TMP, 0, (uint64_t)n * c);
    cur = WEFT__BUF_TMP;
  }
  int lo = 0, m = f.p, v = f.vrank; /* responsible for virtual ranks [lo, lo+m) */
  for (int j = 0; j < f.log2p; j++) {
    int half = m / 2;
    bool lower = v < lo + half;
    int keep_lo = lower ? lo : lo + half, give_lo = lower ? lo + half : lo;
    int peer = fold_real(&f, lower ? v + half : v - half);
    uint64_t give_off = (uint64_t)fold_first_block(&f, give_lo) * c;
    uint64_t give_len = (uint64_t)(fold_first_block(&f, give_lo + half) -
                                   fold_first_block(&f, give_lo)) * c;
    uint64_t keep_off = (uint64_t)fold_first_block(&f, keep_lo) * c;
    uint64_t keep_len = (uint64_t)(fold_first_block(&f, keep_lo + half) -
                                   fold_first_block(&f, keep_lo)) * c;
    uint32_t phase = base + (uint32_t)j;
    weft__emit_send(e, phase, peer, cur, give_off, give_len);
    if (j == f.log2p - 1 && !paired) /* kept range is block r alone */
      weft__emit_recv_reduce(e, phase, peer, cur, keep_off, WEFT__BUF_RECV, 0, c);
    else
      weft__emit_recv_reduce(e, phase, peer, cur, keep_off, WEFT__BUF_TMP, keep_off, keep_len);
    cur = WEFT__BUF_TMP;
    lo = keep_lo;
    m = half;
  }
  if (paired) {
    /* TMP now holds blocks r-1 and r complete. */
    weft__emit_copy(e, back, WEFT__BUF_TMP, (uint64_t)r * c, WEFT__BUF_RECV, 0, c);
    weft__emit_send(e, back, r - 1, WEFT__BUF_TMP, (uint64_t)(r - 1) * c, c);
  }
}

static void allgather_doubling(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank;
  uint64_t c = a->count;
  if (!a->in_place && c > 0)
    weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, (uint64_t)r * c, c);
  for (int k = 0; (1 << k) < n; k++) {
    int peer = r ^ (1 << k);
    uint64_t mine = (uint64_t)((r >> k) << k) * c, theirs = (uint64_t)((peer >> k) << k) * c;
    uint64_t len = ((uint64_t)1 << k) * c;
    weft__emit_send(e, (uint32_t)k, peer, WEFT__BUF_RECV, mine, len);
    weft__emit_recv(e, (uint32_t)k, peer, WEFT__BUF_RECV, theirs, len);
  }
}

static void allgather_bruck(weft__emit_t *e, const weft__sched_args_t *a) {
  int n = a->size, r = a->rank, steps = ceil_log2(n);
  uint64_t c = a->count;
  e->sched->tmp_count = (uint64_t)n * c;
  if (c > 0) weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_TMP, 0, c);
  if (!a->in_place && c > 0)
    weft__emit_copy(e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, (uint64_t)r * c, c);
  for (int k = 0; k < steps; k++) {
    int d = 1 << k;
    uint64_t len = (uint64_t)WEFT__MIN(d, n - d) * c;
    weft__emit_send(e, (uint32_t)k, tree_mod(r - d, n), WEFT__BUF_TMP, 0, len);
    weft__emit_recv(e, (uint32_t)k, tree_mod(r + d, n), WEFT__BUF_TMP, (uint64_t)d * c, len);
  }
  /* TMP block j is real block r+j; block r itself is already in place in RECV. */
  uint64_t upper = (uint64_t)(n - r - 1) * c, lower = (uint64_t)r * c;
  if (upper > 0)
    weft__emit_copy(e, (uint32_t)steps, WEFT__BUF_TMP, c, WEFT__BUF_RECV, (uint64_t)(r + 1) * c,
                    upper);
  if (lower > 0)
    weft__emit_copy(e, (uint32_t)steps, WEFT__BUF_TMP, (uint64_t)(n - r) * c, WEFT__BUF_RECV, 0,
                    lower);
}

weft_result_t weft__sched_tree(const weft__sched_args_t *args, weft__sched_t *out) {
  weft__emit_t e = {.sched = out, .rc = WEFT_SUCCESS};
  switch (args->coll) {
  case WEFT__COLL_ALLREDUCE: tree_allreduce(&e, args); break;
  case WEFT__COLL_REDUCE_SCATTER: tree_reduce_scatter(&e, args); break;
  case WEFT__COLL_ALLGATHER:
    if (is_pow2(args->size))
      allgather_doubling(&e, args);
    else
      allgather_bruck(&e, args);
    break;
  case WEFT__COLL_BROADCAST: tree_broadcast(&e, args); break;
  case WEFT__COLL_REDUCE: tree_reduce(&e, args); break;
  case WEFT__COLL_BARRIER: tree_barrier(&e, args); break;
  default: return WEFT_ERR_INVALID_ARGUMENT;
  }
  return e.rc;
}
