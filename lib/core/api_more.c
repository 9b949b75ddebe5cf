/* The personalised, uneven and rooted collectives (alltoall, alltoallv, allgatherv,
 * reduce_scatterv, gather, scatter): argument checks and the public shims. They share api.c's
 * submit path (lib/core/submit.h); only what differs from the first six lives here.
 *
 * Why the checks are this thorough: a count or displacement array is a list of user promises
 * about memory. A displacement that overflows or two receive blocks that overlap would make the
 * library write where the caller did not mean, or make the result depend on arrival order, so
 * both are refused here, in the caller's thread, with the argument named. Send blocks may
 * overlap (they are only read). Arrays that differ between ranks (allgatherv, reduce_scatterv)
 * cannot be seen from one rank: the descriptor carries their sum, and per-message sizes are
 * checked when the messages arrive. */
#include <stdlib.h>

#include "core/submit.h"

#define FAIL(code, ...)                      \
  do {                                       \
    weft__comm_set_error(comm, __VA_ARGS__); \
    return code;                             \
  } while (0)

bool weft__call_more(weft__coll_t coll) {
  return coll == WEFT__COLL_ALLTOALL || coll == WEFT__COLL_ALLTOALLV || coll == WEFT__COLL_ALLGATHERV ||
         coll == WEFT__COLL_REDUCE_SCATTERV || coll == WEFT__COLL_GATHER || coll == WEFT__COLL_SCATTER;
}

typedef struct {
  uint64_t off, len;
  int rank;
} block_t;

static int block_cmp(const void *x, const void *y) {
  const block_t *a = x, *b = y;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* Checks counts/displs (n entries) of one buffer: every block's end fits in an object, and,
 * when `disjoint`, no two non-empty blocks share an element. Gives the buffer's extent in
 * elements. `cname`/`dname` name the arrays in the error. */
static weft_result_t check_blocks(weft_comm_t *comm, const char *name, const size_t *counts, const size_t *displs,
                                  const char *cname, const char *dname, size_t es, bool disjoint,
                                  uint64_t *extent) {
  int n = comm->size;
  uint64_t max_elems = (uint64_t)PTRDIFF_MAX / es, end = 0;
  for (int j = 0; j < n; j++) {
    if (counts[j] > max_elems || displs[j] > max_elems - counts[j])
      FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: %s[%d] %zu + %s[%d] %zu elements of %zu bytes overflows", name, dname, j,
           displs[j], cname, j, counts[j], es);
    if (counts[j]) end = WEFT__MAX(end, (uint64_t)displs[j] + counts[j]);
  }
  *extent = end;
  if (!disjoint) return WEFT_SUCCESS;
  block_t *b = malloc((size_t)n * sizeof *b);
  if (!b) FAIL(WEFT_ERR_NO_MEMORY, "%s: out of memory checking %s", name, dname);
  int m = 0;
  for (int j = 0; j < n; j++)
    if (counts[j]) b[m++] = (block_t){.off = displs[j], .len = counts[j], .rank = j};
  qsort(b, (size_t)m, sizeof *b, block_cmp);
  for (int i = 1; i < m; i++)
    if (b[i - 1].off + b[i - 1].len > b[i].off) {
      int x = b[i - 1].rank, y = b[i].rank;
      free(b);
      FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: blocks %d and %d overlap in recvbuf (%s/%s)", name, x, y, dname, cname);
    }
  free(b);
  return WEFT_SUCCESS;
}

static uint64_t prefix(const size_t *counts, int upto) {
  uint64_t s = 0;
  for (int j = 0; j < upto; j++) s += counts[j];
  return s;
}

/* Whether the call is in place as weft.h defines it for this collective (on this rank). */
static bool in_place_more(const weft_comm_t *comm, const weft__call_t *k) {
  const uint8_t *s = k->sendbuf, *r = k->recvbuf;
  size_t es = weft_dtype_size(k->dtype), rank = (size_t)comm->rank;
  bool is_root = k->root == comm->rank;
  switch (k->coll) {
    case WEFT__COLL_ALLGATHERV: return s && r && s == r + k->displs[rank] * es;
    case WEFT__COLL_REDUCE_SCATTERV: return s && r && r == s + prefix(k->counts, comm->rank) * es;
    case WEFT__COLL_GATHER: return is_root && s && r && s == r + rank * k->count * es;
    case WEFT__COLL_SCATTER: return is_root && s && r && r == s + rank * k->count * es;
    default: return s && s == r;
  }
}

weft_result_t weft__validate_more(weft_comm_t *comm, const weft__call_t *k, size_t *send_bytes, size_t *recv_bytes) {
  const char *name = weft__coll_name(k->coll);
  size_t es = weft_dtype_size(k->dtype), n = (size_t)comm->size, rank = (size_t)comm->rank;
  uint64_t max_elems = (uint64_t)PTRDIFF_MAX / es;
  if (k->coll == WEFT__COLL_REDUCE_SCATTERV && (unsigned)k->redop >= WEFT_NUM_REDOPS)
    FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: op %d is not a weft_redop_t", name, (int)k->redop);
  bool rooted = k->coll == WEFT__COLL_GATHER || k->coll == WEFT__COLL_SCATTER;
  if (rooted && (k->root < 0 || k->root >= comm->size))
    FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: root %d out of range [0, %d)", name, k->root, comm->size);
  bool is_root = rooted && k->root == comm->rank;
  uint64_t sn = 0, rn = 0; /* elements of sendbuf and recvbuf this rank uses */
  weft_result_t r;
  switch (k->coll) {
    case WEFT__COLL_ALLTOALL: case WEFT__COLL_GATHER: case WEFT__COLL_SCATTER:
      if (k->count > max_elems / n)
        FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: count %llu x %zu ranks x %zu-byte %s overflows", name,
             (unsigned long long)k->count, n, es, weft_dtype_name(k->dtype));
      sn = k->coll == WEFT__COLL_GATHER ? k->count : k->coll == WEFT__COLL_SCATTER && !is_root ? 0 : n * k->count;
      rn = k->coll == WEFT__COLL_SCATTER ? k->count : k->coll == WEFT__COLL_GATHER && !is_root ? 0 : n * k->count;
      break;
    case WEFT__COLL_ALLTOALLV:
      if (!k->counts) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendcounts is NULL", name);
      if (!k->displs) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sdispls is NULL", name);
      if (!k->rcounts) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: recvcounts is NULL", name);
      if (!k->rdispls) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: rdispls is NULL", name);
      if ((r = check_blocks(comm, name, k->counts, k->displs, "sendcounts", "sdispls", es, false, &sn))) return r;
      if ((r = check_blocks(comm, name, k->rcounts, k->rdispls, "recvcounts", "rdispls", es, true, &rn))) return r;
      if (k->counts[rank] != k->rcounts[rank])
        FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendcounts[%zu] %zu differs from recvcounts[%zu] %zu (this rank's block to itself)",
             name, rank, k->counts[rank], rank, k->rcounts[rank]);
      break;
    case WEFT__COLL_ALLGATHERV:
      if (!k->counts) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: recvcounts is NULL", name);
      if (!k->displs) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: displs is NULL", name);
      if (k->count != k->counts[rank])
        FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendcount %llu differs from recvcounts[%zu] %zu", name,
             (unsigned long long)k->count, rank, k->counts[rank]);
      if ((r = check_blocks(comm, name, k->counts, k->displs, "recvcounts", "displs", es, true, &rn))) return r;
      sn = k->count;
      break;
    case WEFT__COLL_REDUCE_SCATTERV:
      if (!k->counts) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: recvcounts is NULL", name);
      for (size_t j = 0; j < n; j++) {
        if (k->counts[j] > max_elems - sn)
          FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: recvcounts overflow (the sum up to recvcounts[%zu] %zu exceeds any buffer)",
               name, j, k->counts[j]);
        sn += k->counts[j];
      }
      rn = k->counts[rank];
      break;
    default: FAIL(WEFT_ERR_INTERNAL, "%s: not a collective of api_more.c", name);
  }
  size_t sb = (size_t)sn * es, rb = (size_t)rn * es;
  if (sb && !k->sendbuf) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendbuf is NULL with %llu elements to send", name, (unsigned long long)sn);
  if (rb && !k->recvbuf) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: recvbuf is NULL with %llu elements to receive", name, (unsigned long long)rn);
  if (sb && rb && !in_place_more(comm, k) && weft__overlaps(k->sendbuf, sb, k->recvbuf, rb))
    FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendbuf and recvbuf overlap without being in place", name);
  *send_bytes = sb;
  *recv_bytes = rb;
  return WEFT_SUCCESS;
}

void weft__prepare_more(const weft_comm_t *comm, const weft__call_t *k, weft__op_t *op, weft__sched_args_t *a,
                        uint64_t *nbytes) {
  uint64_t n = (uint64_t)comm->size;
  a->in_place = in_place_more(comm, k);
  a->count = k->count;
  op->count = k->count;
  *nbytes = k->count * n * op->esize;
  switch (k->coll) {
    case WEFT__COLL_ALLTOALLV:
      a->counts = k->counts, a->displs = k->displs, a->rcounts = k->rcounts, a->rdispls = k->rdispls;
      /* Per-pair sizes differ between ranks: nothing of them may steer a choice made on each rank. */
      op->count = a->count = 0;
      *nbytes = 0;
      break;
    case WEFT__COLL_ALLGATHERV: case WEFT__COLL_REDUCE_SCATTERV:
      a->counts = k->counts, a->displs = k->displs;
      op->count = a->count = prefix(k->counts, comm->size);
      *nbytes = op->count * op->esize;
      if (k->coll == WEFT__COLL_REDUCE_SCATTERV) {
        op->redop = k->redop;
        op->avg_count = k->counts[comm->rank];
      }
      break;
    case WEFT__COLL_GATHER: case WEFT__COLL_SCATTER: a->root = k->root; break;
    default: break;
  }
}

/* ---- the public shims -------------------------------------------------------------------------- */

/* CALL: the scalar part of a call; CALLV adds the arrays (weft__call_t says which is which). */
#define CALL(c, s, r, n, d, o, rt) \
  (&(weft__call_t){.coll = (c), .sendbuf = (s), .recvbuf = (r), .count = (n), .dtype = (d), .redop = (o), .root = (rt)})
#define CALLV(c, s, r, n, d, o, cnt, dsp, rcnt, rdsp)                                                          \
  (&(weft__call_t){.coll = (c), .sendbuf = (s), .recvbuf = (r), .count = (n), .dtype = (d), .redop = (o), \
                   .counts = (cnt), .displs = (dsp), .rcounts = (rcnt), .rdispls = (rdsp)})

WEFT_API weft_result_t weft_alltoall(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                     weft_dtype_t dtype) {
  return weft__submit_blocking(comm, CALL(WEFT__COLL_ALLTOALL, sendbuf, recvbuf, count, dtype, WEFT_SUM, 0));
}
WEFT_API weft_result_t weft_ialltoall(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                      weft_dtype_t dtype, weft_request_t **request) {
  return weft__submit_nonblocking(comm, CALL(WEFT__COLL_ALLTOALL, sendbuf, recvbuf, count, dtype, WEFT_SUM, 0),
                                  request);
}
WEFT_API weft_result_t weft_alltoallv(weft_comm_t *comm, const void *sendbuf, const size_t *sendcounts,
                                      const size_t *sdispls, void *recvbuf, const size_t *recvcounts,
                                      const size_t *rdispls, weft_dtype_t dtype) {
  return weft__submit_blocking(comm, CALLV(WEFT__COLL_ALLTOALLV, sendbuf, recvbuf, 0, dtype, WEFT_SUM,
                                          sendcounts, sdispls, recvcounts, rdispls));
}
WEFT_API weft_result_t weft_ialltoallv(weft_comm_t *comm, const void *sendbuf, const size_t *sendcounts,
                                       const size_t *sdispls, void *recvbuf, const size_t *recvcounts,
                                       const size_t *rdispls, weft_dtype_t dtype, weft_request_t **request) {
  return weft__submit_nonblocking(comm, CALLV(WEFT__COLL_ALLTOALLV, sendbuf, recvbuf, 0, dtype, WEFT_SUM,
                                             sendcounts, sdispls, recvcounts, rdispls), request);
}
WEFT_API weft_result_t weft_allgatherv(weft_comm_t *comm, const void *sendbuf, size_t sendcount, void *recvbuf,
                                       const size_t *recvcounts, const size_t *displs, weft_dtype_t dtype) {
  return weft__submit_blocking(comm, CALLV(WEFT__COLL_ALLGATHERV, sendbuf, recvbuf, sendcount, dtype, WEFT_SUM,
                                           recvcounts, displs, NULL, NULL));
}
WEFT_API weft_result_t weft_iallgatherv(weft_comm_t *comm, const void *sendbuf, size_t sendcount, void *recvbuf,
                                        const size_t *recvcounts, const size_t *displs, weft_dtype_t dtype,
                                        weft_request_t **request) {
  return weft__submit_nonblocking(comm, CALLV(WEFT__COLL_ALLGATHERV, sendbuf, recvbuf, sendcount, dtype, WEFT_SUM,
                                              recvcounts, displs, NULL, NULL), request);
}
WEFT_API weft_result_t weft_reduce_scatterv(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                            const size_t *recvcounts, weft_dtype_t dtype, weft_redop_t op) {
  return weft__submit_blocking(comm, CALLV(WEFT__COLL_REDUCE_SCATTERV, sendbuf, recvbuf, 0, dtype, op,
                                           recvcounts, NULL, NULL, NULL));
}
WEFT_API weft_result_t weft_ireduce_scatterv(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                             const size_t *recvcounts, weft_dtype_t dtype, weft_redop_t op,
                                             weft_request_t **request) {
  return weft__submit_nonblocking(comm, CALLV(WEFT__COLL_REDUCE_SCATTERV, sendbuf, recvbuf, 0, dtype, op,
                                              recvcounts, NULL, NULL, NULL), request);
}
WEFT_API weft_result_t weft_gather(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                   weft_dtype_t dtype, int root) {
  return weft__submit_blocking(comm, CALL(WEFT__COLL_GATHER, sendbuf, recvbuf, count, dtype, WEFT_SUM, root));
}
WEFT_API weft_result_t weft_igather(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                    weft_dtype_t dtype, int root, weft_request_t **request) {
  return weft__submit_nonblocking(comm, CALL(WEFT__COLL_GATHER, sendbuf, recvbuf, count, dtype, WEFT_SUM, root),
                                  request);
}
WEFT_API weft_result_t weft_scatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                    weft_dtype_t dtype, int root) {
  return weft__submit_blocking(comm, CALL(WEFT__COLL_SCATTER, sendbuf, recvbuf, count, dtype, WEFT_SUM, root));
}
WEFT_API weft_result_t weft_iscatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                     weft_dtype_t dtype, int root, weft_request_t **request) {
  return weft__submit_nonblocking(comm, CALL(WEFT__COLL_SCATTER, sendbuf, recvbuf, count, dtype, WEFT_SUM, root),
                                  request);
}
