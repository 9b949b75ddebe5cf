/* What makes a warm call allocate nothing: the schedule cache (lib/algo/sched_cache.c), the
 * per-communicator operation pool (lib/core/request.c), and the host memory table
 * (lib/core/memops_host.c) the executor calls instead of reduce.c and memmove directly.
 *
 * The cache must be invisible: for a sweep of (collective, algorithm, count, root, size, rank,
 * in_place) every schedule it hands out, on the miss that fills it and on the hit that copies from
 * it, is step for step the one weft__sched_build makes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "algo/reduce.h"
#include "algo/sched_cache.h"
#include "core/comm.h"
#include "core/memops.h"

static void assert_sched_equal(const weft__sched_t *x, const weft__sched_t *y) {
  assert_int_equal(x->nsteps, y->nsteps);
  assert_int_equal(x->nphases, y->nphases);
  assert_int_equal(x->tmp_count, y->tmp_count);
  for (uint32_t i = 0; i < x->nsteps; i++) {
    const weft__step_t *a = &x->steps[i], *b = &y->steps[i];
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->src_buf, b->src_buf);
    assert_int_equal(a->dst_buf, b->dst_buf);
    assert_int_equal(a->phase, b->phase);
    assert_int_equal(a->peer, b->peer);
    assert_int_equal(a->src_off, b->src_off);
    assert_int_equal(a->dst_off, b->dst_off);
    assert_int_equal(a->count, b->count);
  }
}

static const weft__coll_t cached_colls[] = {WEFT__COLL_ALLREDUCE, WEFT__COLL_ALLGATHER, WEFT__COLL_REDUCE_SCATTER,
                                            WEFT__COLL_BROADCAST, WEFT__COLL_REDUCE,    WEFT__COLL_BARRIER,
                                            WEFT__COLL_ALLTOALL,  WEFT__COLL_GATHER,    WEFT__COLL_SCATTER};

/* Builds args twice through the cache (a miss or hit, then a hit) and once fresh: all equal. */
static void check_case(weft__sched_cache_t *cache, const weft__sched_args_t *a, weft__sched_t *via, weft__sched_t *fresh) {
  weft_result_t rf = weft__sched_build(a, fresh);
  weft_result_t rc = weft__sched_cache_build(cache, a, via);
  assert_int_equal(rc, rf);
  if (rf != WEFT_SUCCESS) return;
  assert_sched_equal(via, fresh);
  uint64_t hits = cache->hits;
  via->nsteps = 0; /* a caller's copy is its own: scribbling on it must not reach the cache */
  if (via->cap) memset(via->steps, 0xa5, via->cap * sizeof *via->steps);
  assert_int_equal(weft__sched_cache_build(cache, a, via), WEFT_SUCCESS);
  assert_int_equal(cache->hits, hits + 1);
  assert_sched_equal(via, fresh);
}

static void test_cache_equals_fresh(void **state) {
  (void)state;
  static const uint64_t counts[] = {0, 1, 7, 64, 1000};
  static weft__sched_cache_t cache; /* zero: empty */
  weft__sched_t via = {0}, fresh = {0};
  int cases = 0;
  for (size_t ci = 0; ci < sizeof cached_colls / sizeof *cached_colls; ci++)
    for (int algo = WEFT__ALGO_RING; algo <= WEFT__ALGO_TREE; algo++)
      for (int size = 1; size <= 9; size++)
        for (int rank = 0; rank < size; rank++)
          for (int root = 0; root < size; root += size > 2 ? size - 1 : 1)
            for (size_t k = 0; k < sizeof counts / sizeof *counts; k++)
              for (int in_place = 0; in_place <= 1; in_place++) {
                weft__sched_args_t a = {.coll = cached_colls[ci], .algo = (weft__algo_t)algo, .rank = rank,
                                        .size = size, .root = root, .count = counts[k],
                                        .in_place = in_place, .chunk_elems = k % 2 ? 16 : 0};
                check_case(&cache, &a, &via, &fresh);
                cases++;
              }
  assert_true(cases > 10000);
  assert_true(cache.evictions > 0); /* the sweep is far larger than the cache */
  weft__sched_cache_free(&cache);
  weft__sched_free(&via);
  weft__sched_free(&fresh);
}

/* Every key field matters: two calls differing in any one get different entries. */
static void test_cache_key_fields(void **state) {
  (void)state;
  static weft__sched_cache_t cache;
  weft__sched_t s = {0};
  weft__sched_args_t base = {.coll = WEFT__COLL_ALLREDUCE, .algo = WEFT__ALGO_RING, .rank = 1, .size = 4,
                             .count = 100, .chunk_elems = 8};
  weft__sched_args_t v[8];
  for (int i = 0; i < 8; i++) v[i] = base;
  v[1].coll = WEFT__COLL_ALLGATHER;
  v[2].algo = WEFT__ALGO_TREE;
  v[3].rank = 2;
  v[4].size = 5;
  v[5].count = 101;
  v[6].in_place = true;
  v[7].chunk_elems = 9;
  for (int i = 0; i < 8; i++) assert_int_equal(weft__sched_cache_build(&cache, &v[i], &s), WEFT_SUCCESS);
  assert_int_equal(cache.misses, 8);
  assert_int_equal(cache.hits, 0);
  weft__sched_args_t r = {.coll = WEFT__COLL_BROADCAST, .algo = WEFT__ALGO_TREE, .size = 4, .count = 10, .root = 1};
  weft__sched_cache_build(&cache, &r, &s);
  r.root = 2;
  weft__sched_cache_build(&cache, &r, &s);
  assert_int_equal(cache.misses, 10);
  for (int i = 0; i < 8; i++) weft__sched_cache_build(&cache, &v[i], &s);
  assert_int_equal(cache.hits, 8);
  weft__sched_cache_free(&cache);
  weft__sched_free(&s);
}

/* Full: the least recently used entry goes; a recently hit one stays. */
static void test_cache_replacement(void **state) {
  (void)state;
  static weft__sched_cache_t cache;
  weft__sched_t s = {0}, fresh = {0};
  weft__sched_args_t a = {.coll = WEFT__COLL_ALLREDUCE, .algo = WEFT__ALGO_TREE, .rank = 0, .size = 4};
  for (uint64_t n = 1; n <= WEFT__SCHED_CACHE_ENTRIES; n++) {
    a.count = n;
    weft__sched_cache_build(&cache, &a, &s);
  }
  assert_int_equal(cache.misses, WEFT__SCHED_CACHE_ENTRIES);
  assert_int_equal(cache.evictions, 0);
  a.count = 1; /* count 1 is now the most recent; count 2 the least */
  weft__sched_cache_build(&cache, &a, &s);
  assert_int_equal(cache.hits, 1);
  a.count = 1000; /* full: evicts count 2 */
  weft__sched_cache_build(&cache, &a, &s);
  assert_int_equal(cache.evictions, 1);
  a.count = 1;
  weft__sched_cache_build(&cache, &a, &s);
  assert_int_equal(cache.hits, 2);
  a.count = 2;
  weft__sched_cache_build(&cache, &a, &s); /* gone: a miss, built again, still right */
  assert_int_equal(cache.hits, 2);
  assert_int_equal(cache.evictions, 2);
  assert_int_equal(weft__sched_build(&a, &fresh), WEFT_SUCCESS);
  assert_sched_equal(&s, &fresh);
  int used = 0;
  for (int i = 0; i < WEFT__SCHED_CACHE_ENTRIES; i++) used += cache.entries[i].used != 0;
  assert_int_equal(used, WEFT__SCHED_CACHE_ENTRIES);
  weft__sched_cache_free(&cache);
  weft__sched_free(&s);
  weft__sched_free(&fresh);
}

/* Calls with per-rank arrays bypass the cache (sched_cache.h says why) and still build right. */
static void test_cache_skips_v(void **state) {
  (void)state;
  static weft__sched_cache_t cache;
  weft__sched_t s = {0}, fresh = {0};
  size_t counts[3] = {1, 2, 3}, displs[3] = {0, 1, 3};
  weft__sched_args_t a = {.coll = WEFT__COLL_ALLGATHERV, .algo = WEFT__ALGO_RING, .rank = 1, .size = 3, .count = 6,
                          .counts = counts, .displs = displs};
  assert_false(weft__sched_cacheable(&a));
  for (int i = 0; i < 2; i++) {
    assert_int_equal(weft__sched_cache_build(&cache, &a, &s), WEFT_SUCCESS);
    assert_int_equal(weft__sched_build(&a, &fresh), WEFT_SUCCESS);
    assert_sched_equal(&s, &fresh);
  }
  assert_int_equal(cache.hits + cache.misses, 0);
  weft__sched_cache_free(&cache);
  weft__sched_free(&s);
  weft__sched_free(&fresh);
}

/* ---- memory ops --------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (uint8_t)(seed >> 16);
  }
}

static void test_memops_host_reduce(void **state) {
  (void)state;
  const weft__memops_t *m = &weft__memops_host;
  assert_int_equal(m->size, sizeof(weft__memops_t));
  assert_string_equal(m->name, "host");
  assert_int_equal(m->kind, WEFT__MEM_HOST);
  enum { N = 1031 };
  static uint8_t a[N * 8], b[N * 8], want[N * 8], got[N * 8];
  for (int t = 0; t < WEFT_NUM_DTYPES; t++)
    for (int op = 0; op < WEFT_NUM_REDOPS; op++) {
      size_t bytes = N * weft_dtype_size((weft_dtype_t)t);
      fill(a, bytes, (uint32_t)(t * 31 + op));
      fill(b, bytes, (uint32_t)(t * 17 + op + 1000));
      weft__reduce(want, a, b, N, (weft_dtype_t)t, (weft_redop_t)op);
      m->reduce(m, got, a, b, N, (weft_dtype_t)t, (weft_redop_t)op);
      assert_memory_equal(got, want, bytes);
      memcpy(got, a, bytes); /* in place, as RECV_REDUCE does into the receive buffer */
      m->reduce(m, got, got, b, N, (weft_dtype_t)t, (weft_redop_t)op);
      assert_memory_equal(got, want, bytes);
      memcpy(want, a, bytes);
      memcpy(got, a, bytes);
      weft__reduce_finish_avg(want, N, (weft_dtype_t)t, 3);
      m->finish_avg(m, got, N, (weft_dtype_t)t, 3);
      assert_memory_equal(got, want, bytes);
    }
}

static void test_memops_host_copy_scratch(void **state) {
  (void)state;
  const weft__memops_t *m = &weft__memops_host;
  uint8_t buf[64], want[64];
  fill(buf, sizeof buf, 7);
  memcpy(want, buf, sizeof want);
  memmove(want + 5, want, 40);
  m->copy(m, buf + 5, buf, 40); /* overlapping: memmove semantics */
  assert_memory_equal(buf, want, sizeof buf);
  void *p = m->scratch_alloc(m, 4096);
  assert_non_null(p);
  memset(p, 1, 4096);
  m->scratch_free(m, p, 4096);
  assert_null(m->fence);
}

/* ---- the operation pool ------------------------------------------------------------------- */

static void test_op_pool(void **state) {
  (void)state;
  weft_comm_t *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->ctx = c;
  weft__op_t *op = weft__op_new(c);
  assert_non_null(op);
  assert_non_null(c->reuse);
  assert_ptr_equal(op->mem, &weft__memops_host);
  op->sched.nsteps = 0;
  assert_int_equal(weft__sched_push(&op->sched, (weft__step_t){.kind = WEFT__STEP_COPY, .count = 3}), WEFT_SUCCESS);
  assert_int_equal(weft__op_scratch(op, 256), WEFT_SUCCESS);
  weft__step_t *steps = op->sched.steps;
  uint8_t *tmp = op->tmp;
  op->seq = 42;
  op->result = WEFT_ERR_TIMEOUT;
  atomic_store(&op->done, true);
  weft__op_free(op);
  assert_int_equal(c->reuse->pooled, 1);

  weft__op_t *again = weft__op_new(c); /* the same op: storage kept, the call forgotten */
  assert_ptr_equal(again, op);
  assert_ptr_equal(again->sched.steps, steps);
  assert_ptr_equal(again->tmp, tmp);
  assert_int_equal(again->seq, 0);
  assert_int_equal(again->result, WEFT_SUCCESS);
  assert_false(atomic_load(&again->done));
  assert_ptr_equal(again->comm, c);
  assert_int_equal(weft__op_scratch(again, 128), WEFT_SUCCESS); /* large enough: kept */
  assert_ptr_equal(again->tmp, tmp);
  weft__op_free(again);

  /* Bounded: beyond WEFT__OP_POOL_MAX, freed operations are released. */
  enum { M = WEFT__OP_POOL_MAX + 5 };
  weft__op_t *ops[M];
  for (int i = 0; i < M; i++) assert_non_null(ops[i] = weft__op_new(c));
  assert_int_equal(c->reuse->pooled, 0);
  for (int i = 0; i < M; i++) weft__op_free(ops[i]);
  assert_int_equal(c->reuse->pooled, WEFT__OP_POOL_MAX);
  weft__reuse_free(c->reuse); /* frees the pooled ops with their storage (ASan checks) */
  weft__reuse_free(NULL);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_equals_fresh),
      cmocka_unit_test(test_cache_key_fields),
      cmocka_unit_test(test_cache_replacement),
      cmocka_unit_test(test_cache_skips_v),
      cmocka_unit_test(test_memops_host_reduce),
      cmocka_unit_test(test_memops_host_copy_scratch),
      cmocka_unit_test(test_op_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
