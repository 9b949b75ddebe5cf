/* What weft-bench knows about each collective: its name, its nccl-tests geometry and bus
 * bandwidth factor, how to call it, and what its output must be for the known inputs.
 *
 * Known inputs. Every element is a small positive integer (at most 97, products at most
 * 2^ceil(n/4)), so sums, products, minima and maxima over a few dozen ranks are exact in every
 * dtype, float16 and bfloat16 included, and the check can demand bit-exact results. Each value
 * depends on the element's global index j only through j mod 4, 7 and 97, so one period of
 * PERIOD = 4*7*97 elements is computed once per check and tiled: filling and checking 256 MiB
 * costs a memcpy/memcmp pass, not a per-element conversion. For avg, rank s contributes
 * base(j) + 2s, so the sum is n*(base(j) + n - 1) and the mean is an exact integer too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define PERIOD 2716u
#define MAX_ESIZE 8u

static const char *const coll_names[BENCH_NUM_COLLS] = {
    [BENCH_ALLREDUCE] = "allreduce", [BENCH_ALLGATHER] = "allgather",
    [BENCH_REDUCE_SCATTER] = "reduce_scatter", [BENCH_BROADCAST] = "broadcast",
    [BENCH_REDUCE] = "reduce", [BENCH_SENDRECV] = "sendrecv", [BENCH_BARRIER] = "barrier",
};

const char *bench_coll_name(bench_coll_t c) {
  return (unsigned)c < BENCH_NUM_COLLS ? coll_names[c] : "invalid";
}

bool bench_coll_from_name(const char *name, bench_coll_t *c) {
  for (int i = 0; i < BENCH_NUM_COLLS; i++)
    if (!strcmp(name, coll_names[i])) return *c = (bench_coll_t)i, true;
  return false;
}

bool bench_coll_reduces(bench_coll_t c) {
  return c == BENCH_ALLREDUCE || c == BENCH_REDUCE_SCATTER || c == BENCH_REDUCE;
}

bool bench_coll_rooted(bench_coll_t c) { return c == BENCH_BROADCAST || c == BENCH_REDUCE; }

double bench_busbw_factor(bench_coll_t c, int nranks) {
  double n = nranks;
  switch (c) {
    case BENCH_ALLREDUCE: return 2.0 * (n - 1) / n;
    case BENCH_ALLGATHER:
    case BENCH_REDUCE_SCATTER: return (n - 1) / n;
    case BENCH_BARRIER: return 0;
    default: return 1; /* broadcast, reduce, sendrecv */
  }
}

bench_shape_t bench_shape(bench_coll_t c, size_t bytes, size_t esize, int nranks) {
  size_t count = bytes / esize, n = (size_t)nranks;
  switch (c) {
    case BENCH_ALLGATHER:
    case BENCH_REDUCE_SCATTER: return (bench_shape_t){count / n, count / n * n * esize};
    case BENCH_BARRIER: return (bench_shape_t){0, 0};
    default: return (bench_shape_t){count, count * esize};
  }
}

/* ---- calls ------------------------------------------------------------------------------ */

static weft_result_t call_blocking(bench_ctx_t *x, bench_coll_t c, size_t count) {
  const bench_opts_t *o = x->o;
  switch (c) {
    case BENCH_ALLREDUCE: return weft_allreduce(x->comm, x->send, x->recv, count, o->dtype, o->op);
    case BENCH_ALLGATHER: return weft_allgather(x->comm, x->send, x->recv, count, o->dtype);
    case BENCH_REDUCE_SCATTER:
      return weft_reduce_scatter(x->comm, x->send, x->recv, count, o->dtype, o->op);
    case BENCH_BROADCAST: return weft_broadcast(x->comm, x->send, x->recv, count, o->dtype, o->root);
    case BENCH_REDUCE: return weft_reduce(x->comm, x->send, x->recv, count, o->dtype, o->op, o->root);
    case BENCH_BARRIER: return weft_barrier(x->comm);
    default: return WEFT_ERR_INVALID_ARGUMENT;
  }
}

static weft_result_t call_start(bench_ctx_t *x, bench_coll_t c, size_t count, weft_request_t **req) {
  const bench_opts_t *o = x->o;
  switch (c) {
    case BENCH_ALLREDUCE:
      return weft_iallreduce(x->comm, x->send, x->recv, count, o->dtype, o->op, req);
    case BENCH_ALLGATHER: return weft_iallgather(x->comm, x->send, x->recv, count, o->dtype, req);
    case BENCH_REDUCE_SCATTER:
      return weft_ireduce_scatter(x->comm, x->send, x->recv, count, o->dtype, o->op, req);
    case BENCH_BROADCAST:
      return weft_ibroadcast(x->comm, x->send, x->recv, count, o->dtype, o->root, req);
    case BENCH_REDUCE:
      return weft_ireduce(x->comm, x->send, x->recv, count, o->dtype, o->op, o->root, req);
    case BENCH_BARRIER: return weft_ibarrier(x->comm, req);
    default: return WEFT_ERR_INVALID_ARGUMENT;
  }
}

/* One message each way between ranks 0 and 1: rank 0 sends first, rank 1 answers. */
static weft_result_t pingpong(bench_ctx_t *x, size_t count, int iters) {
  if (x->rank > 1) return WEFT_SUCCESS;
  int peer = 1 - x->rank;
  weft_dtype_t d = x->o->dtype;
  for (int i = 0; i < iters; i++) {
    weft_result_t r = WEFT_SUCCESS;
    for (int leg = 0; leg < 2 && r == WEFT_SUCCESS; leg++) {
      bool sending = (leg == 0) == (x->rank == 0);
      if (!x->o->nonblocking) {
        r = sending ? weft_send(x->comm, x->send, count, d, peer)
                    : weft_recv(x->comm, x->recv, count, d, peer);
      } else {
        weft_request_t *req;
        r = sending ? weft_isend(x->comm, x->send, count, d, peer, &req)
                    : weft_irecv(x->comm, x->recv, count, d, peer, &req);
        if (r == WEFT_SUCCESS) r = weft_wait(req);
      }
    }
    if (r != WEFT_SUCCESS) return r;
  }
  return WEFT_SUCCESS;
}

weft_result_t bench_run(bench_ctx_t *x, bench_coll_t c, size_t count, int iters) {
  if (c == BENCH_SENDRECV) return pingpong(x, count, iters);
  if (!x->o->nonblocking) {
    for (int i = 0; i < iters; i++) {
      weft_result_t r = call_blocking(x, c, count);
      if (r != WEFT_SUCCESS) return r;
    }
    return WEFT_SUCCESS;
  }
  /* Issue everything, then wait for everything: the caller sees how well weft pipelines
   * back-to-back collectives. A failed issue still waits for the requests already issued. */
  weft_result_t first = WEFT_SUCCESS;
  int issued = 0;
  for (; issued < iters; issued++) {
    first = call_start(x, c, count, &x->reqs[issued]);
    if (first != WEFT_SUCCESS) break;
  }
  for (int i = 0; i < issued; i++) {
    weft_result_t r = weft_wait(x->reqs[i]);
    if (first == WEFT_SUCCESS) first = r;
  }
  return first;
}

/* ---- known inputs and expected outputs ------------------------------------------------------ */

/* Value that rank `rank` contributes at global index j to a reduction with op. */
static double reduce_input(weft_redop_t op, int rank, size_t j) {
  size_t r = (size_t)rank;
  switch (op) {
    case WEFT_PROD: return (j + r) % 4 == 0 ? 2 : 1;
    case WEFT_MIN:
    case WEFT_MAX: return (double)(1 + (j * 7 + r * 13) % 97);
    case WEFT_AVG: return (double)(1 + j % 7 + 2 * r);
    default: return (double)(1 + (j + 3 * r) % 7);
  }
}

/* Value that rank `rank` contributes at index j to a data-movement collective. */
static double plain_input(int rank, size_t j) { return (double)(1 + (j * 7 + (size_t)rank * 13) % 97); }

static double reduced(weft_redop_t op, int nranks, size_t j) {
  double acc = reduce_input(op, 0, j);
  for (int s = 1; s < nranks; s++) {
    double v = reduce_input(op, s, j);
    switch (op) {
      case WEFT_PROD: acc *= v; break;
      case WEFT_MIN: acc = v < acc ? v : acc; break;
      case WEFT_MAX: acc = v > acc ? v : acc; break;
      default: acc += v; break;
    }
  }
  return op == WEFT_AVG ? acc / nranks : acc;
}

/* Exact for the small integers used here (all are normal float16 values). */
static uint16_t to_half(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u == 0) return (uint16_t)sign;
  uint32_t exp = (u >> 23) - 127 + 15, mant = (u >> 13) & 0x3ffu;
  return (uint16_t)(sign | exp << 10 | mant);
}

static void store(weft_dtype_t d, uint8_t *dst, double v) {
  union { int8_t i8; uint8_t u8; int32_t i32; uint32_t u32; int64_t i64; uint64_t u64;
          uint16_t h; float f; double g; } u;
  float f = (float)v;
  uint32_t fb;
  switch (d) {
    case WEFT_INT8: u.i8 = (int8_t)v; break;
    case WEFT_UINT8: u.u8 = (uint8_t)v; break;
    case WEFT_INT32: u.i32 = (int32_t)v; break;
    case WEFT_UINT32: u.u32 = (uint32_t)v; break;
    case WEFT_INT64: u.i64 = (int64_t)v; break;
    case WEFT_UINT64: u.u64 = (uint64_t)v; break;
    case WEFT_FLOAT16: u.h = to_half(f); break;
    case WEFT_BFLOAT16: memcpy(&fb, &f, sizeof fb), u.h = (uint16_t)(fb >> 16); break;
    case WEFT_FLOAT32: u.f = f; break;
    default: u.g = v; break;
  }
  memcpy(dst, &u, weft_dtype_size(d));
}

typedef enum { PAT_REDUCE_INPUT, PAT_REDUCED, PAT_PLAIN } pattern_t;

/* One period of a pattern, in the benchmark's dtype. */
static void make_table(bench_ctx_t *x, pattern_t p, int rank, uint8_t *tab) {
  weft_dtype_t d = x->o->dtype;
  size_t es = weft_dtype_size(d);
  for (size_t j = 0; j < PERIOD; j++) {
    double v = p == PAT_REDUCE_INPUT ? reduce_input(x->o->op, rank, j)
             : p == PAT_REDUCED      ? reduced(x->o->op, x->size, j)
                                     : plain_input(rank, j);
    store(d, tab + j * es, v);
  }
}

/* dst[i] = pattern at global index j0 + i, for i < count. */
static void tile(uint8_t *dst, const uint8_t *tab, size_t es, size_t j0, size_t count) {
  for (size_t p = j0 % PERIOD; count; p = 0) {
    size_t m = count < PERIOD - p ? count : PERIOD - p;
    memcpy(dst, tab + p * es, m * es);
    dst += m * es, count -= m;
  }
}

static int64_t count_mismatch(const uint8_t *got, const uint8_t *tab, size_t es, size_t j0, size_t count) {
  int64_t wrong = 0;
  for (size_t p = j0 % PERIOD; count; p = 0) {
    size_t m = count < PERIOD - p ? count : PERIOD - p;
    if (memcmp(got, tab + p * es, m * es))
      for (size_t i = 0; i < m; i++) wrong += memcmp(got + i * es, tab + (p + i) * es, es) != 0;
    got += m * es, count -= m;
  }
  return wrong;
}

void bench_fill(bench_ctx_t *x, bench_coll_t c, size_t count) {
  static uint8_t tab[PERIOD * MAX_ESIZE];
  size_t es = weft_dtype_size(x->o->dtype);
  if (c == BENCH_BARRIER) return;
  if (bench_coll_reduces(c)) {
    make_table(x, PAT_REDUCE_INPUT, x->rank, tab);
    tile(x->send, tab, es, 0, c == BENCH_REDUCE_SCATTER ? count * (size_t)x->size : count);
  } else {
    make_table(x, PAT_PLAIN, x->rank, tab);
    tile(x->send, tab, es, 0, count);
  }
}

void bench_poison(bench_ctx_t *x, bench_coll_t c, size_t count) {
  size_t es = weft_dtype_size(x->o->dtype);
  size_t n = c == BENCH_ALLGATHER ? count * (size_t)x->size : c == BENCH_BARRIER ? 0 : count;
  memset(x->recv, 0xff, n * es);
}

int64_t bench_count_wrong(bench_ctx_t *x, bench_coll_t c, size_t count) {
  static uint8_t tab[PERIOD * MAX_ESIZE];
  size_t es = weft_dtype_size(x->o->dtype);
  switch (c) {
    case BENCH_ALLREDUCE:
    case BENCH_REDUCE:
      if (c == BENCH_REDUCE && x->rank != x->o->root) return 0;
      make_table(x, PAT_REDUCED, 0, tab);
      return count_mismatch(x->recv, tab, es, 0, count);
    case BENCH_REDUCE_SCATTER:
      make_table(x, PAT_REDUCED, 0, tab);
      return count_mismatch(x->recv, tab, es, (size_t)x->rank * count, count);
    case BENCH_ALLGATHER: {
      int64_t wrong = 0;
      for (int r = 0; r < x->size; r++) {
        make_table(x, PAT_PLAIN, r, tab);
        wrong += count_mismatch(x->recv + (size_t)r * count * es, tab, es, 0, count);
      }
      return wrong;
    }
    case BENCH_BROADCAST:
      make_table(x, PAT_PLAIN, x->o->root, tab);
      return count_mismatch(x->recv, tab, es, 0, count);
    case BENCH_SENDRECV:
      if (x->rank > 1) return 0;
      make_table(x, PAT_PLAIN, 1 - x->rank, tab);
      return count_mismatch(x->recv, tab, es, 0, count);
    default: return 0;
  }
}
