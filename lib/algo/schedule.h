/* Collective algorithms as pure schedules (lib/algo/ring.c, lib/algo/tree.c, lib/algo/select.c).
 *
 * An algorithm never touches a socket. For one rank it produces a list of steps: send a range of
 * a buffer to a peer, receive a range from a peer (optionally reducing it into local data), or
 * copy locally. The one executor (lib/core/executor.c) runs any schedule over any transport, and
 * the unit tests run every schedule over an in-memory simulator (tests/unit/test_schedule.c).
 *
 * Phases. Steps carry a phase number; the executor runs phase p only after every step of phase
 * p-1 completed on this rank. Within a phase it first performs the COPY steps (in list order),
 * then runs all SEND and RECV steps concurrently. Hence a schedule must satisfy, per rank:
 *   - at most one SEND to a given peer and at most one RECV/RECV_REDUCE from a given peer per
 *     phase (the pair (peer, phase) is the wire tag that matches a send with its receive);
 *   - within a phase no SEND/RECV source range overlaps a RECV destination range;
 *   - for every SEND rank a->b in a's phase p there is exactly one receive b<-a in b's phase p,
 *     with the same element count (phases are global: a send of phase p matches the receive of
 *     phase p on the other side);
 *   - a receive may be posted before its data is sent: the executor only delivers data into a
 *     receive of the phase it is running, so a rank may run ahead of its neighbours.
 *
 * Units. Offsets and counts are in elements of the operation's dtype; the executor multiplies by
 * the element size. A step with count 0 is legal (it still exchanges a header-only frame, which
 * is how barriers and mismatch detection work).
 *
 * Buffers (what WEFT__BUF_SEND and WEFT__BUF_RECV mean per collective, with n ranks):
 *   ALLREDUCE       SEND: count elems (read only)      RECV: count elems
 *   ALLGATHER       SEND: count elems (read only)      RECV: n*count elems (block r = rank r)
 *   REDUCE_SCATTER  SEND: n*count elems (read only)    RECV: count elems (= block `rank`)
 *   BROADCAST       SEND: count elems, root only       RECV: count elems on every rank
 *   REDUCE          SEND: count elems (read only)      RECV: count elems, root only
 *   BARRIER         no data; steps have count 0
 *   ALLTOALL        SEND: n*count elems (block j goes to rank j)   RECV: n*count (block j from j)
 *   ALLTOALLV       SEND: block j = [displs[j], +counts[j])   RECV: block j = [rdispls[j], +rcounts[j])
 *   ALLGATHERV      SEND: counts[rank] elems   RECV: block r = [displs[r], +counts[r]) for every r
 *   REDUCE_SCATTERV SEND: blocks of counts[r] elems back to back   RECV: counts[rank] elems
 *   GATHER          SEND: count elems (read only)      RECV: n*count elems, root only
 *   SCATTER         SEND: n*count elems, root only     RECV: count elems (= block `rank`)
 * TMP is scratch owned by the executor, `tmp_count` elements, contents undefined at start.
 * SEND is never written. When args.in_place is set the executor maps SEND and RECV onto the same
 * memory as the API defines in place (allreduce/broadcast/reduce: same pointer; allgather: SEND is
 * RECV block `rank`; reduce_scatter: RECV is SEND block `rank`; alltoall, alltoallv: same pointer;
 * allgatherv: SEND is RECV block `rank`; reduce_scatterv: RECV is SEND block `rank`; gather, at
 * the root: SEND is RECV block `rank`; scatter, at the root: RECV is SEND block `rank`), and a schedule must stay correct
 * under that aliasing (in particular, never write SEND's memory through RECV before reading it,
 * unless it is this rank's own block that the operation defines to be overwritten).
 *
 * WEFT_AVG: schedules reduce with the op as given; the executor divides the final result once.
 */
#ifndef WEFT_ALGO_SCHEDULE_H
#define WEFT_ALGO_SCHEDULE_H

#include "core/common.h"

typedef enum {
  WEFT__COLL_ALLREDUCE = 0,
  WEFT__COLL_ALLGATHER = 1,
  WEFT__COLL_REDUCE_SCATTER = 2,
  WEFT__COLL_BROADCAST = 3,
  WEFT__COLL_REDUCE = 4,
  WEFT__COLL_BARRIER = 5,
  WEFT__COLL_SEND = 6, /* point to point, not scheduled by algorithms */
  WEFT__COLL_RECV = 7,
  /* Appended after RECV: the value travels on the wire as a byte, so existing ones never move. */
  WEFT__COLL_ALLTOALL = 8,
  WEFT__COLL_ALLTOALLV = 9,
  WEFT__COLL_ALLGATHERV = 10,
  WEFT__COLL_REDUCE_SCATTERV = 11,
  WEFT__COLL_GATHER = 12,
  WEFT__COLL_SCATTER = 13,
  WEFT__NUM_COLLS
} weft__coll_t;

typedef enum {
  WEFT__ALGO_AUTO = 0,
  WEFT__ALGO_RING = 1,
  WEFT__ALGO_TREE = 2,
  WEFT__NUM_ALGOS
} weft__algo_t;

typedef enum {
  WEFT__STEP_SEND = 0,        /* send src[src_off .. +count) to peer */
  WEFT__STEP_RECV = 1,        /* receive count elems from peer into dst[dst_off ..) */
  WEFT__STEP_RECV_REDUCE = 2, /* receive; dst[dst_off+i] = src[src_off+i] (op) incoming[i] */
  WEFT__STEP_COPY = 3,        /* local: dst[dst_off ..) = src[src_off .. +count) */
} weft__step_kind_t;

typedef enum { WEFT__BUF_NONE = 0, WEFT__BUF_SEND = 1, WEFT__BUF_RECV = 2, WEFT__BUF_TMP = 3 } weft__buf_t;

typedef struct {
  uint8_t kind;    /* weft__step_kind_t */
  uint8_t src_buf; /* weft__buf_t; NONE for RECV */
  uint8_t dst_buf; /* weft__buf_t; NONE for SEND */
  uint8_t reserved;
  uint32_t phase;
  int32_t peer; /* rank in the communicator; -1 for COPY */
  uint32_t reserved2;
  uint64_t src_off, dst_off, count; /* elements */
} weft__step_t;

typedef struct {
  weft__step_t *steps; /* sorted by phase, owned by the schedule */
  uint32_t nsteps, cap;
  uint32_t nphases;   /* max phase + 1 (0 for an empty schedule) */
  uint64_t tmp_count; /* elements of TMP scratch the schedule needs */
} weft__sched_t;

typedef struct {
  weft__coll_t coll;
  weft__algo_t algo;   /* RING or TREE (AUTO is resolved by weft__algo_select first) */
  int rank, size, root;
  uint64_t count;      /* per the table above: allgather sendcount, reduce_scatter recvcount */
  bool in_place;
  uint64_t chunk_elems; /* >0: pipeline unit for chained/ring algorithms (executor passes
                           WEFT_CHUNK_SIZE / elem size); schedules may ignore it */
  /* Per-rank blocks of the v-variants, n entries each, elements (NULL elsewhere). Valid only
   * during the build: schedules copy what they need into step offsets.
   *   ALLGATHERV:      counts, displs (every rank's block in RECV; the same on every rank)
   *   REDUCE_SCATTERV: counts (the same on every rank; SEND block r starts at sum(counts[<r]))
   *   ALLTOALLV:       counts, displs for SEND (this rank's), rcounts, rdispls for RECV */
  const size_t *counts, *displs, *rcounts, *rdispls;
} weft__sched_args_t;

/* Builds the schedule for one rank. Returns WEFT_SUCCESS, WEFT_ERR_INVALID_ARGUMENT (bad args)
 * or WEFT_ERR_NO_MEMORY. `out` must be zero-initialised or previously built (it is reset and its
 * memory reused, so the hot path does not allocate once warmed up). */
weft_result_t weft__sched_build(const weft__sched_args_t *args, weft__sched_t *out);
void weft__sched_free(weft__sched_t *sched);

/* Algorithm choice for AUTO: tree below `tree_threshold_bytes` of message, ring above; forced
 * choice honoured for every collective. Deterministic: equal inputs give equal choices on every
 * rank (mismatched WEFT_ALGO between ranks is detected as a mismatch by the executor). */
weft__algo_t weft__algo_select(weft__coll_t coll, uint64_t nbytes, int size, weft__algo_t forced,
                               uint64_t tree_threshold_bytes);

const char *weft__coll_name(weft__coll_t coll);
const char *weft__algo_name(weft__algo_t algo);

/* Builders used by weft__sched_build (one file each); append steps to `out`. */
weft_result_t weft__sched_ring(const weft__sched_args_t *args, weft__sched_t *out);
weft_result_t weft__sched_tree(const weft__sched_args_t *args, weft__sched_t *out);
weft_result_t weft__sched_alltoall(const weft__sched_args_t *args, weft__sched_t *out); /* and V */
weft_result_t weft__sched_gatherv(const weft__sched_args_t *args, weft__sched_t *out); /* ALLGATHERV, REDUCE_SCATTERV */
weft_result_t weft__sched_rooted(const weft__sched_args_t *args, weft__sched_t *out); /* GATHER, SCATTER */
weft_result_t weft__sched_push(weft__sched_t *s, weft__step_t step);

/* Step emitters for the builders (lib/algo/schedule.c). Each appends one step to `sched`; after
 * the first failure every later call does nothing and `rc` keeps that failure, so a builder
 * emits its whole algorithm and checks `rc` once at the end. */
typedef struct {
  weft__sched_t *sched;
  weft_result_t rc; /* WEFT_SUCCESS until a push fails */
} weft__emit_t;

void weft__emit_send(weft__emit_t *e, uint32_t phase, int peer, weft__buf_t src, uint64_t src_off,
                     uint64_t count);
void weft__emit_recv(weft__emit_t *e, uint32_t phase, int peer, weft__buf_t dst, uint64_t dst_off,
                     uint64_t count);
void weft__emit_recv_reduce(weft__emit_t *e, uint32_t phase, int peer, weft__buf_t src,
                            uint64_t src_off, weft__buf_t dst, uint64_t dst_off, uint64_t count);
void weft__emit_copy(weft__emit_t *e, uint32_t phase, weft__buf_t src, uint64_t src_off,
                     weft__buf_t dst, uint64_t dst_off, uint64_t count);

#endif
