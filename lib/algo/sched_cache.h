/* A small cache of built schedules (lib/algo/sched_cache.c), one per communicator, so that a
 * repeated call does not run its algorithm's builder again.
 *
 * Key: every input a builder reads for a collective without per-rank arrays — (collective,
 * algorithm, count, root, size, rank, in_place, chunk_elems). Schedules of calls that carry
 * count/displacement arrays (alltoallv, allgatherv, reduce_scatterv) are not cached: their steps
 * depend on whole arrays, and a hash of them would trade a rare wrong schedule for a saving
 * those calls do not need (they still reuse the operation's step array, so a warm call of them
 * allocates no schedule either).
 *
 * Bounds: WEFT__SCHED_CACHE_ENTRIES entries; when full, the least recently used one is replaced
 * (its step storage is reused). A hit copies the cached steps into the caller's schedule, whose
 * storage is reused (weft__sched_build's contract), so the executor owns and may touch its copy
 * while the cache entry can be replaced at any time. Not thread-safe: the communicator's calls
 * are serialised (api.c's in_call guard). */
#ifndef WEFT_ALGO_SCHED_CACHE_H
#define WEFT_ALGO_SCHED_CACHE_H

#include "algo/schedule.h"

#define WEFT__SCHED_CACHE_ENTRIES 32

typedef struct {
  weft__coll_t coll;
  weft__algo_t algo;
  int rank, size, root;
  bool in_place;
  uint64_t count, chunk_elems;
} weft__sched_key_t;

typedef struct {
  weft__sched_key_t key;
  uint64_t used; /* the cache's tick at the last hit or insertion; 0: empty */
  weft__sched_t sched;
} weft__sched_cache_entry_t;

typedef struct {
  uint64_t tick;
  uint64_t hits, misses, evictions; /* for tests and debugging */
  weft__sched_cache_entry_t entries[WEFT__SCHED_CACHE_ENTRIES];
} weft__sched_cache_t;

/* Whether args can be cached (no per-rank arrays). */
bool weft__sched_cacheable(const weft__sched_args_t *args);
/* weft__sched_build through the cache: *out receives a copy of the cached schedule for args, or
 * is built (and then cached). Same results and contract as weft__sched_build; failing to cache
 * (out of memory) is not an error. A zero-initialised cache is empty. */
weft_result_t weft__sched_cache_build(weft__sched_cache_t *cache, const weft__sched_args_t *args, weft__sched_t *out);
/* Frees every entry's steps; the cache is empty (and usable) afterwards. NULL is a no-op. */
void weft__sched_cache_free(weft__sched_cache_t *cache);

#endif
