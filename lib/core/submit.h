/* What the public shims share (lib/core/api.c, lib/core/api_more.c): the description of one
 * call and the one submit path every collective goes through. */
#ifndef WEFT_CORE_SUBMIT_H
#define WEFT_CORE_SUBMIT_H

#include "algo/schedule.h"
#include "core/comm.h"

/* One call as the user made it. `count` is the call's scalar count (sendcount for allgatherv,
 * unused by alltoallv and reduce_scatterv); `root` is the peer of send/recv (WEFT_ANY_SOURCE for a receive from any rank). The arrays are the
 * v-variants' (weft.h names them); they are read only inside the call. */
typedef struct {
  weft__coll_t coll;
  const void *sendbuf;
  void *recvbuf;
  uint64_t count;
  weft_dtype_t dtype;
  weft_redop_t redop;
  int root;
  int tag;          /* send/recv */
  int *source_out;  /* recv: the sender's rank on success */
  const size_t *counts, *displs;   /* alltoallv: send side; allgatherv, reduce_scatterv: recvcounts (, displs) */
  const size_t *rcounts, *rdispls; /* alltoallv: receive side */
} weft__call_t;

/* api.c: validate in the caller's thread, build, submit; blocking waits for the result. */
weft_result_t weft__submit_blocking(weft_comm_t *comm, const weft__call_t *k);
weft_result_t weft__submit_nonblocking(weft_comm_t *comm, const weft__call_t *k, weft_request_t **req);

/* api_more.c: the collectives added after the first six (alltoall, alltoallv, allgatherv,
 * reduce_scatterv, gather, scatter). validate_more checks every argument but the dtype (already
 * checked) and gives the byte sizes of the send and receive buffers on this rank; prepare_more
 * fills what build() cannot derive from `count`: the descriptor count (identical on every rank
 * of a matching call), op->redop and op->avg_count, the schedule's in-place flag, root and
 * arrays, and the message size the algorithm choice is made from (the same on every rank). */
bool weft__call_more(weft__coll_t coll);
weft_result_t weft__validate_more(weft_comm_t *comm, const weft__call_t *k, size_t *send_bytes, size_t *recv_bytes);
void weft__prepare_more(const weft_comm_t *comm, const weft__call_t *k, weft__op_t *op, weft__sched_args_t *a,
                        uint64_t *nbytes);

/* Whether two byte ranges share a byte (empty ranges share none). */
static inline bool weft__overlaps(const void *a, size_t alen, const void *b, size_t blen) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return alen && blen && x < y + blen && y < x + alen;
}

#endif
