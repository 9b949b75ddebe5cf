/* The schedule cache (contract and key in lib/algo/sched_cache.h): a linear scan of a few dozen
 * keys is cheaper than any builder and needs no hashing or allocation. */
#include "algo/sched_cache.h"

#include <stdlib.h>
#include <string.h>

bool weft__sched_cacheable(const weft__sched_args_t *a) {
  return !a->counts && !a->displs && !a->rcounts && !a->rdispls;
}

static weft__sched_key_t key_of(const weft__sched_args_t *a) {
  return (weft__sched_key_t){.coll = a->coll, .algo = a->algo, .rank = a->rank, .size = a->size, .root = a->root,
                             .in_place = a->in_place, .count = a->count, .chunk_elems = a->chunk_elems};
}

static bool key_eq(const weft__sched_key_t *x, const weft__sched_key_t *y) {
  return x->count == y->count && x->coll == y->coll && x->algo == y->algo && x->rank == y->rank &&
         x->size == y->size && x->root == y->root && x->in_place == y->in_place && x->chunk_elems == y->chunk_elems;
}

/* dst = src, reusing dst's step storage when it is large enough. */
static weft_result_t sched_copy(weft__sched_t *dst, const weft__sched_t *src) {
  if (dst->cap < src->nsteps) {
    weft__step_t *steps = realloc(dst->steps, (size_t)src->nsteps * sizeof *steps);
    if (!steps) return WEFT_ERR_NO_MEMORY;
    dst->steps = steps;
    dst->cap = src->nsteps;
  }
  if (src->nsteps) memcpy(dst->steps, src->steps, (size_t)src->nsteps * sizeof *src->steps);
  dst->nsteps = src->nsteps;
  dst->nphases = src->nphases;
  dst->tmp_count = src->tmp_count;
  return WEFT_SUCCESS;
}

weft_result_t weft__sched_cache_build(weft__sched_cache_t *cache, const weft__sched_args_t *args, weft__sched_t *out) {
  if (!cache || !args || !out || !weft__sched_cacheable(args)) return weft__sched_build(args, out);
  weft__sched_key_t k = key_of(args);
  weft__sched_cache_entry_t *victim = &cache->entries[0];
  for (int i = 0; i < WEFT__SCHED_CACHE_ENTRIES; i++) {
    weft__sched_cache_entry_t *e = &cache->entries[i];
    if (e->used && key_eq(&e->key, &k)) {
      weft_result_t r = sched_copy(out, &e->sched);
      if (r != WEFT_SUCCESS) return r;
      e->used = ++cache->tick;
      cache->hits++;
      return WEFT_SUCCESS;
    }
    if (e->used < victim->used) victim = e; /* an empty one (0) first, else the least recent */
  }
  weft_result_t r = weft__sched_build(args, out);
  if (r != WEFT_SUCCESS) return r;
  cache->misses++;
  if (victim->used) cache->evictions++;
  victim->used = 0;
  if (sched_copy(&victim->sched, out) != WEFT_SUCCESS) return WEFT_SUCCESS; /* stays empty */
  victim->key = k;
  victim->used = ++cache->tick;
  return WEFT_SUCCESS;
}

void weft__sched_cache_free(weft__sched_cache_t *cache) {
  if (!cache) return;
  for (int i = 0; i < WEFT__SCHED_CACHE_ENTRIES; i++) weft__sched_free(&cache->entries[i].sched);
  memset(cache, 0, sizeof *cache);
}
