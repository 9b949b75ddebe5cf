/* Schedule construction: argument checks, the size-1 shortcut, dispatch to the ring and tree
 * builders (and to the builders of alltoall.c, gatherv.c and rooted.c, which serve both
 * algorithm choices and handle one rank themselves), and the growable step list they append to (contract in lib/algo/schedule.h).
 *
 * A built schedule is sorted by phase (stably, so steps of one phase keep the order the builder
 * gave them: the executor performs COPY steps in list order) and its nphases is max phase + 1.
 * The step array is reused across builds, so once a communicator has built its largest schedule
 * later builds do not allocate. */
#include "algo/schedule.h"

#include <stdlib.h>

/* Initial capacity: enough for every schedule of a small communicator without a regrowth. */
#define SCHED_INITIAL_CAP 16u
/* Builders compute 1 << k for k up to ceil(log2 size) in int. */
#define SCHED_MAX_SIZE (1 << 30)

weft_result_t weft__sched_push(weft__sched_t *s, weft__step_t step) {
  if (s->nsteps == s->cap) {
    uint32_t cap = s->cap ? s->cap : SCHED_INITIAL_CAP / 2;
    if (cap > UINT32_MAX / 2) return WEFT_ERR_NO_MEMORY;
    cap *= 2;
    weft__step_t *steps = realloc(s->steps, (size_t)cap * sizeof(*steps));
    if (!steps) return WEFT_ERR_NO_MEMORY;
    s->steps = steps;
    s->cap = cap;
  }
  s->steps[s->nsteps++] = step;
  return WEFT_SUCCESS;
}

void weft__sched_free(weft__sched_t *sched) {
  if (!sched) return;
  free(sched->steps);
  sched->steps = NULL;
  sched->nsteps = sched->cap = sched->nphases = 0;
  sched->tmp_count = 0;
}

static void emit(weft__emit_t *e, weft__step_kind_t kind, uint32_t phase, int peer, weft__buf_t src,
                 uint64_t src_off, weft__buf_t dst, uint64_t dst_off, uint64_t count) {
  if (e->rc != WEFT_SUCCESS) return;
  weft__step_t step = {
      .kind = (uint8_t)kind,
      .src_buf = (uint8_t)src,
      .dst_buf = (uint8_t)dst,
      .phase = phase,
      .peer = peer,
      .src_off = src_off,
      .dst_off = dst_off,
      .count = count,
  };
  e->rc = weft__sched_push(e->sched, step);
}

void weft__emit_send(weft__emit_t *e, uint32_t phase, int peer, weft__buf_t src, uint64_t src_off,
                     uint64_t count) {
  emit(e, WEFT__STEP_SEND, phase, peer, src, src_off, WEFT__BUF_NONE, 0, count);
}

void weft__emit_recv(weft__emit_t *e, uint32_t phase, int peer, weft__buf_t dst, uint64_t dst_off,
                     uint64_t count) {
  emit(e, WEFT__STEP_RECV, phase, peer, WEFT__BUF_NONE, 0, dst, dst_off, count);
}

void weft__emit_recv_reduce(weft__emit_t *e, uint32_t phase, int peer, weft__buf_t src,
                            uint64_t src_off, weft__buf_t dst, uint64_t dst_off, uint64_t count) {
  emit(e, WEFT__STEP_RECV_REDUCE, phase, peer, src, src_off, dst, dst_off, count);
}

void weft__emit_copy(weft__emit_t *e, uint32_t phase, weft__buf_t src, uint64_t src_off,
                     weft__buf_t dst, uint64_t dst_off, uint64_t count) {
  emit(e, WEFT__STEP_COPY, phase, -1, src, src_off, dst, dst_off, count);
}

static bool args_valid(const weft__sched_args_t *a) {
  if (a->size < 1 || a->size > SCHED_MAX_SIZE || a->rank < 0 || a->rank >= a->size) return false;
  if ((unsigned)a->coll >= WEFT__NUM_COLLS || a->coll == WEFT__COLL_SEND || a->coll == WEFT__COLL_RECV)
    return false;
  if (a->algo != WEFT__ALGO_RING && a->algo != WEFT__ALGO_TREE) return false;
  bool rooted = a->coll == WEFT__COLL_BROADCAST || a->coll == WEFT__COLL_REDUCE ||
                a->coll == WEFT__COLL_GATHER || a->coll == WEFT__COLL_SCATTER;
  if (rooted && (a->root < 0 || a->root >= a->size))
    return false;
  /* Offsets of n*count buffers must be representable. */
  if (a->count > UINT64_MAX / (uint64_t)a->size) return false;
  return true;
}

/* One rank: nothing travels, the result is the input (when it is not already in place). */
static weft_result_t build_single(const weft__sched_args_t *a, weft__sched_t *out) {
  weft__emit_t e = {.sched = out, .rc = WEFT_SUCCESS};
  if (a->coll != WEFT__COLL_BARRIER && !a->in_place && a->count > 0)
    weft__emit_copy(&e, 0, WEFT__BUF_SEND, 0, WEFT__BUF_RECV, 0, a->count);
  return e.rc;
}

/* Stable insertion sort by phase: builders emit nearly sorted lists, so this is close to linear
 * and needs no scratch memory. */
static void sort_by_phase(weft__sched_t *s) {
  for (uint32_t i = 1; i < s->nsteps; i++) {
    weft__step_t step = s->steps[i];
    uint32_t j = i;
    while (j > 0 && s->steps[j - 1].phase > step.phase) {
      s->steps[j] = s->steps[j - 1];
      j--;
    }
    s->steps[j] = step;
  }
}

weft_result_t weft__sched_build(const weft__sched_args_t *args, weft__sched_t *out) {
  if (!args || !out) return WEFT_ERR_INVALID_ARGUMENT;
  out->nsteps = 0;
  out->nphases = 0;
  out->tmp_count = 0;
  if (!args_valid(args)) return WEFT_ERR_INVALID_ARGUMENT;

  weft_result_t rc;
  if (args->coll == WEFT__COLL_ALLTOALL || args->coll == WEFT__COLL_ALLTOALLV)
    rc = weft__sched_alltoall(args, out);
  else if (args->coll == WEFT__COLL_ALLGATHERV || args->coll == WEFT__COLL_REDUCE_SCATTERV)
    rc = weft__sched_gatherv(args, out);
  else if (args->coll == WEFT__COLL_GATHER || args->coll == WEFT__COLL_SCATTER)
    rc = weft__sched_rooted(args, out);
  else if (args->size == 1)
    rc = build_single(args, out);
  else if (args->algo == WEFT__ALGO_RING)
    rc = weft__sched_ring(args, out);
  else
    rc = weft__sched_tree(args, out);
  if (rc != WEFT_SUCCESS) {
    out->nsteps = 0;
    out->tmp_count = 0;
    return rc;
  }

  sort_by_phase(out);
  out->nphases = out->nsteps ? out->steps[out->nsteps - 1].phase + 1 : 0;
  return WEFT_SUCCESS;
}

const char *weft__coll_name(weft__coll_t coll) {
  static const char *const names[WEFT__NUM_COLLS] = {
      [WEFT__COLL_ALLREDUCE] = "allreduce", [WEFT__COLL_ALLGATHER] = "allgather",
      [WEFT__COLL_REDUCE_SCATTER] = "reduce_scatter", [WEFT__COLL_BROADCAST] = "broadcast",
      [WEFT__COLL_REDUCE] = "reduce",       [WEFT__COLL_BARRIER] = "barrier",
      [WEFT__COLL_SEND] = "send",           [WEFT__COLL_RECV] = "recv",
      [WEFT__COLL_ALLTOALL] = "alltoall",   [WEFT__COLL_ALLTOALLV] = "alltoallv",
      [WEFT__COLL_ALLGATHERV] = "allgatherv", [WEFT__COLL_REDUCE_SCATTERV] = "reduce_scatterv",
      [WEFT__COLL_GATHER] = "gather",       [WEFT__COLL_SCATTER] = "scatter",
  };
  return (unsigned)coll < WEFT__NUM_COLLS ? names[coll] : "unknown";
}

const char *weft__algo_name(weft__algo_t algo) {
  static const char *const names[WEFT__NUM_ALGOS] = {
      [WEFT__ALGO_AUTO] = "auto", [WEFT__ALGO_RING] = "ring", [WEFT__ALGO_TREE] = "tree"};
  return (unsigned)algo < WEFT__NUM_ALGOS ? names[algo] : "unknown";
}
