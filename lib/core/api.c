/* The public collectives: thin shims into one submit path (NCCL's shape). Validation happens
 * here, in the caller's thread, so that bad input gets an error naming the argument before
 * anything touches the network. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/schedule.h"
#include "core/comm.h"
#include "core/submit.h"

static const char *const result_text[] = {
#define WEFT__RESULT_TEXT(name, value, text) [value] = text,
    WEFT_RESULT_MAP(WEFT__RESULT_TEXT)
#undef WEFT__RESULT_TEXT
};

WEFT_API const char *weft_strerror(weft_result_t r) {
  if ((int)r < 0 || r >= WEFT_NUM_RESULTS || !result_text[r]) return "unknown weft result";
  return result_text[r];
}

static const char *const dtype_names[WEFT_NUM_DTYPES] = {"int8", "uint8", "int32", "uint32", "int64",
                                                         "uint64", "float16", "bfloat16", "float32", "float64"};
static const size_t dtype_sizes[WEFT_NUM_DTYPES] = {1, 1, 4, 4, 8, 8, 2, 2, 4, 8};
static const char *const redop_names[WEFT_NUM_REDOPS] = {"sum", "prod", "min", "max", "avg"};

WEFT_API const char *weft_dtype_name(weft_dtype_t d) {
  return (unsigned)d < WEFT_NUM_DTYPES ? dtype_names[d] : "invalid-dtype";
}
WEFT_API const char *weft_redop_name(weft_redop_t op) {
  return (unsigned)op < WEFT_NUM_REDOPS ? redop_names[op] : "invalid-op";
}
WEFT_API size_t weft_dtype_size(weft_dtype_t d) { return (unsigned)d < WEFT_NUM_DTYPES ? dtype_sizes[d] : 0; }
/* Compiled from the header's macros, so a library and the weft.h it was built with agree;
 * a program compares its own copy of the macros against these (WEFT_CHECK_VERSION). */
WEFT_API unsigned weft_get_version(void) { return WEFT_VERSION_NUMBER; }
WEFT_API const char *weft_version_string(void) { return "weft " WEFT_VERSION_STRING; }

typedef weft__call_t call_t;

#define FAIL(code, ...)                            \
  do {                                             \
    weft__comm_set_error(comm, __VA_ARGS__);       \
    return code;                                   \
  } while (0)

/* Bytes of the send and receive buffers as this rank sees them (0 where not used). */
static weft_result_t validate(weft_comm_t *comm, const call_t *k, size_t *send_bytes, size_t *recv_bytes) {
  const char *name = weft__coll_name(k->coll);
  size_t es = weft_dtype_size(k->dtype);
  if (es == 0) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: dtype %d is not a weft_dtype_t", name, (int)k->dtype);
  if (weft__call_more(k->coll)) return weft__validate_more(comm, k, send_bytes, recv_bytes);
  bool reduces = k->coll == WEFT__COLL_ALLREDUCE || k->coll == WEFT__COLL_REDUCE_SCATTER || k->coll == WEFT__COLL_REDUCE;
  if (reduces && (unsigned)k->redop >= WEFT_NUM_REDOPS)
    FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: op %d is not a weft_redop_t", name, (int)k->redop);
  bool rooted = k->coll == WEFT__COLL_BROADCAST || k->coll == WEFT__COLL_REDUCE;
  bool p2p = k->coll == WEFT__COLL_SEND || k->coll == WEFT__COLL_RECV;
  bool any = k->coll == WEFT__COLL_RECV && k->root == WEFT_ANY_SOURCE;
  if ((rooted || p2p) && !any && (k->root < 0 || k->root >= comm->size))
    FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: %s %d out of range [0, %d)%s", name, p2p ? "peer" : "root", k->root,
         comm->size, k->coll == WEFT__COLL_RECV ? " (or WEFT_ANY_SOURCE)" : "");
  if (p2p && k->tag < 0) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: tag %d is negative (tags are >= 0)", name, k->tag);
  if (p2p && k->root == comm->rank)
    FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: peer %d is this rank itself", name, k->root);
  size_t n = (size_t)comm->size;
  /* No object is larger than PTRDIFF_MAX bytes: a larger claim is a bad count, not a buffer. */
  if (k->count > (uint64_t)PTRDIFF_MAX / es / n) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: count %llu x %zu-byte %s overflows", name,
                                         (unsigned long long)k->count, es, weft_dtype_name(k->dtype));
  size_t bytes = (size_t)k->count * es, sb = 0, rb = 0;
  bool is_root = rooted && k->root == comm->rank;
  switch (k->coll) {
    case WEFT__COLL_ALLREDUCE: sb = bytes, rb = bytes; break;
    case WEFT__COLL_ALLGATHER: sb = bytes, rb = bytes * n; break;
    case WEFT__COLL_REDUCE_SCATTER: sb = bytes * n, rb = bytes; break;
    case WEFT__COLL_BROADCAST: sb = is_root ? bytes : 0, rb = bytes; break;
    case WEFT__COLL_REDUCE: sb = bytes, rb = is_root ? bytes : 0; break;
    case WEFT__COLL_SEND: sb = bytes; break;
    case WEFT__COLL_RECV: rb = bytes; break;
    default: break;
  }
  if (sb && !k->sendbuf) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendbuf is NULL with count %llu", name, (unsigned long long)k->count);
  if (rb && !k->recvbuf) FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: recvbuf is NULL with count %llu", name, (unsigned long long)k->count);
  if (sb && rb) {
    /* In place is exact aliasing as the API defines it; any other overlap is an error. */
    const uint8_t *s = k->sendbuf, *r = k->recvbuf;
    bool in_place = s == r || (k->coll == WEFT__COLL_ALLGATHER && s == r + (size_t)comm->rank * bytes) ||
                    (k->coll == WEFT__COLL_REDUCE_SCATTER && r == s + (size_t)comm->rank * bytes);
    if (!in_place && weft__overlaps(s, sb, r, rb))
      FAIL(WEFT_ERR_INVALID_ARGUMENT, "%s: sendbuf and recvbuf overlap without being in place", name);
  }
  *send_bytes = sb;
  *recv_bytes = rb;
  return WEFT_SUCCESS;
}

static bool call_in_place(const weft_comm_t *comm, const call_t *k, size_t es) {
  const uint8_t *s = k->sendbuf, *r = k->recvbuf;
  size_t bytes = (size_t)k->count * es;
  switch (k->coll) {
    case WEFT__COLL_ALLGATHER: return s == r + (size_t)comm->rank * bytes;
    case WEFT__COLL_REDUCE_SCATTER: return r == s + (size_t)comm->rank * bytes;
    case WEFT__COLL_BROADCAST: return comm->rank == k->root && s == r;
    case WEFT__COLL_REDUCE: return comm->rank == k->root && s == r;
    default: return s == r;
  }
}

static weft_result_t build(weft_comm_t *comm, const call_t *k, weft__op_t *op) {
  op->coll = k->coll;
  op->dtype = k->dtype;
  op->redop = k->coll == WEFT__COLL_ALLREDUCE || k->coll == WEFT__COLL_REDUCE_SCATTER || k->coll == WEFT__COLL_REDUCE
                  ? k->redop
                  : WEFT_SUM;
  op->root = k->root;
  op->count = k->count;
  op->sendbuf = k->sendbuf;
  op->recvbuf = k->recvbuf;
  op->esize = weft_dtype_size(k->dtype);
  weft__op_use_mem(op, &weft__memops_host); /* where a device backend would pick its own (memops.h) */
  op->epoch = comm->epoch;
  op->timeout_s = comm->timeout;
  op->deadline = 1e300; /* timeout_s from when it starts running (executor.c check_start) */
  if (k->coll == WEFT__COLL_SEND || k->coll == WEFT__COLL_RECV) {
    op->algo = WEFT__ALGO_AUTO;
    op->tag = k->tag;
    op->any_source = k->root == WEFT_ANY_SOURCE;
    op->source_out = k->source_out;
    /* A send numbers its message per destination; a receive learns its number when matched. */
    op->seq = k->coll == WEFT__COLL_SEND ? comm->p2p_send_seq[k->root]++ : 0;
    weft__step_t s = {.kind = k->coll == WEFT__COLL_SEND ? WEFT__STEP_SEND : WEFT__STEP_RECV,
                      .src_buf = k->coll == WEFT__COLL_SEND ? WEFT__BUF_SEND : WEFT__BUF_NONE,
                      .dst_buf = k->coll == WEFT__COLL_RECV ? WEFT__BUF_RECV : WEFT__BUF_NONE,
                      .peer = k->root, .count = k->count};
    op->sched.nsteps = 0;
    weft_result_t r = weft__sched_push(&op->sched, s);
    op->sched.nphases = 1;
    return r;
  }
  uint64_t nbytes = k->count * op->esize;
  if (k->coll == WEFT__COLL_ALLGATHER || k->coll == WEFT__COLL_REDUCE_SCATTER) nbytes *= (uint64_t)comm->size;
  weft__sched_args_t a = {
      .coll = k->coll,
      .rank = comm->rank,
      .size = comm->size,
      .root = k->coll == WEFT__COLL_BROADCAST || k->coll == WEFT__COLL_REDUCE ? k->root : 0,
      .count = k->count,
      .in_place = call_in_place(comm, k, op->esize),
      .chunk_elems = comm->chunk / op->esize,
  };
  if (weft__call_more(k->coll)) weft__prepare_more(comm, k, op, &a, &nbytes);
  op->algo = a.algo = weft__algo_select(k->coll, nbytes, comm->size, comm->algo, comm->tree_threshold);
  /* A zero-count collective still synchronises like a barrier, carrying its descriptor, so a
   * rank that passed another count is told of the mismatch instead of waiting forever.
   * (Alltoallv's descriptor count is always 0: its pairwise exchange is barrier-shaped itself.) */
  if (op->count == 0 && k->coll != WEFT__COLL_ALLTOALLV) a.coll = WEFT__COLL_BARRIER, a.algo = WEFT__ALGO_TREE;
  /* A repeated call copies its schedule from the cache into the op's reused step array. */
  weft_result_t r = weft__sched_cache_build(comm->reuse ? &comm->reuse->sched : NULL, &a, &op->sched);
  if (r != WEFT_SUCCESS) return r;
  if (op->sched.tmp_count && (r = weft__op_scratch(op, op->sched.tmp_count * op->esize)) != WEFT_SUCCESS) return r;
  op->seq = ++comm->coll_seq;
  return WEFT_SUCCESS;
}

static weft_result_t submit(weft_comm_t *comm, const call_t *k, weft_request_t **req) {
  if (!comm) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "weft_%s: comm is NULL", weft__coll_name(k->coll));
  if (atomic_fetch_add(&comm->in_call, 1) != 0) {
    atomic_fetch_sub(&comm->in_call, 1);
    weft__comm_set_error(comm, "%s: another thread is inside a call on this communicator", weft__coll_name(k->coll));
    return WEFT_ERR_INVALID_USAGE;
  }
  weft__activity_enter(comm);
  size_t sb, rb;
  weft_result_t r = validate(comm, k, &sb, &rb);
  weft__op_t *op = NULL;
  if (r != WEFT_SUCCESS) goto out;
  if ((r = weft__comm_check_usable(comm, weft__coll_name(k->coll))) != WEFT_SUCCESS) goto out;
  op = weft__op_new(comm);
  if (!op) {
    r = WEFT_ERR_NO_MEMORY;
    goto out;
  }
  r = build(comm, k, op);
  if (r != WEFT_SUCCESS) {
    weft__comm_set_error(comm, "%s: cannot build the schedule: %s", weft__coll_name(k->coll), weft_strerror(r));
    weft__op_free(op);
    goto out;
  }
  if (k->coll != WEFT__COLL_SEND && k->coll != WEFT__COLL_RECV) weft__stall_entered(comm, op);
  weft__progress_submit(comm->ctx, op, req == NULL);
  if (req) *req = op;
  else r = weft__op_wait(op);
out:
  weft__activity_leave(comm);
  atomic_fetch_sub(&comm->in_call, 1);
  return r;
}

/* The non-blocking forms: submit, but the request pointer is an argument to check first. */
static weft_result_t isubmit(weft_comm_t *comm, const call_t *k, weft_request_t **req) {
  if (req) return submit(comm, k, req);
  if (!comm) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "weft_i%s: comm is NULL", weft__coll_name(k->coll));
  weft__comm_set_error(comm, "weft_i%s: request (output pointer) is NULL", weft__coll_name(k->coll));
  return WEFT_ERR_INVALID_ARGUMENT;
}

weft_result_t weft__submit_blocking(weft_comm_t *comm, const weft__call_t *k) { return submit(comm, k, NULL); }
weft_result_t weft__submit_nonblocking(weft_comm_t *comm, const weft__call_t *k, weft_request_t **req) {
  return isubmit(comm, k, req);
}

#define CALL(c, s, r, n, d, o, rt) \
  ((call_t){.coll = (c), .sendbuf = (s), .recvbuf = (r), .count = (n), .dtype = (d), .redop = (o), .root = (rt)})

WEFT_API weft_result_t weft_iallreduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                       weft_dtype_t dtype, weft_redop_t op, weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_ALLREDUCE, sendbuf, recvbuf, count, dtype, op, 0), request);
}
WEFT_API weft_result_t weft_allreduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                      weft_dtype_t dtype, weft_redop_t op) {
  return submit(comm, &CALL(WEFT__COLL_ALLREDUCE, sendbuf, recvbuf, count, dtype, op, 0), NULL);
}
WEFT_API weft_result_t weft_iallgather(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t sendcount,
                                       weft_dtype_t dtype, weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_ALLGATHER, sendbuf, recvbuf, sendcount, dtype, WEFT_SUM, 0), request);
}
WEFT_API weft_result_t weft_allgather(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t sendcount,
                                      weft_dtype_t dtype) {
  return submit(comm, &CALL(WEFT__COLL_ALLGATHER, sendbuf, recvbuf, sendcount, dtype, WEFT_SUM, 0), NULL);
}
WEFT_API weft_result_t weft_ireduce_scatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t recvcount,
                                            weft_dtype_t dtype, weft_redop_t op, weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_REDUCE_SCATTER, sendbuf, recvbuf, recvcount, dtype, op, 0), request);
}
WEFT_API weft_result_t weft_reduce_scatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t recvcount,
                                           weft_dtype_t dtype, weft_redop_t op) {
  return submit(comm, &CALL(WEFT__COLL_REDUCE_SCATTER, sendbuf, recvbuf, recvcount, dtype, op, 0), NULL);
}
WEFT_API weft_result_t weft_ibroadcast(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                       weft_dtype_t dtype, int root, weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_BROADCAST, sendbuf, recvbuf, count, dtype, WEFT_SUM, root), request);
}
WEFT_API weft_result_t weft_broadcast(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                      weft_dtype_t dtype, int root) {
  return submit(comm, &CALL(WEFT__COLL_BROADCAST, sendbuf, recvbuf, count, dtype, WEFT_SUM, root), NULL);
}
WEFT_API weft_result_t weft_ireduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                    weft_dtype_t dtype, weft_redop_t op, int root, weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_REDUCE, sendbuf, recvbuf, count, dtype, op, root), request);
}
WEFT_API weft_result_t weft_reduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf, size_t count,
                                   weft_dtype_t dtype, weft_redop_t op, int root) {
  return submit(comm, &CALL(WEFT__COLL_REDUCE, sendbuf, recvbuf, count, dtype, op, root), NULL);
}
WEFT_API weft_result_t weft_ibarrier(weft_comm_t *comm, weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_BARRIER, NULL, NULL, 0, WEFT_UINT8, WEFT_SUM, 0), request);
}
WEFT_API weft_result_t weft_barrier(weft_comm_t *comm) {
  return submit(comm, &CALL(WEFT__COLL_BARRIER, NULL, NULL, 0, WEFT_UINT8, WEFT_SUM, 0), NULL);
}
WEFT_API weft_result_t weft_isend(weft_comm_t *comm, const void *buf, size_t count, weft_dtype_t dtype, int peer,
                                  weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_SEND, buf, NULL, count, dtype, WEFT_SUM, peer), request);
}
WEFT_API weft_result_t weft_send(weft_comm_t *comm, const void *buf, size_t count, weft_dtype_t dtype, int peer) {
  return submit(comm, &CALL(WEFT__COLL_SEND, buf, NULL, count, dtype, WEFT_SUM, peer), NULL);
}
WEFT_API weft_result_t weft_irecv(weft_comm_t *comm, void *buf, size_t count, weft_dtype_t dtype, int peer,
                                  weft_request_t **request) {
  return isubmit(comm, &CALL(WEFT__COLL_RECV, NULL, buf, count, dtype, WEFT_SUM, peer), request);
}
WEFT_API weft_result_t weft_recv(weft_comm_t *comm, void *buf, size_t count, weft_dtype_t dtype, int peer) {
  return submit(comm, &CALL(WEFT__COLL_RECV, NULL, buf, count, dtype, WEFT_SUM, peer), NULL);
}

#define P2P_CALL(c, s, r, n, d, peer, t, src)                                                         \
  ((call_t){.coll = (c), .sendbuf = (s), .recvbuf = (r), .count = (n), .dtype = (d), .redop = WEFT_SUM, \
            .root = (peer), .tag = (t), .source_out = (src)})
WEFT_API weft_result_t weft_isend_tagged(weft_comm_t *comm, const void *buf, size_t count, weft_dtype_t dtype,
                                         int peer, int tag, weft_request_t **request) {
  return isubmit(comm, &P2P_CALL(WEFT__COLL_SEND, buf, NULL, count, dtype, peer, tag, NULL), request);
}
WEFT_API weft_result_t weft_send_tagged(weft_comm_t *comm, const void *buf, size_t count, weft_dtype_t dtype,
                                        int peer, int tag) {
  return submit(comm, &P2P_CALL(WEFT__COLL_SEND, buf, NULL, count, dtype, peer, tag, NULL), NULL);
}
WEFT_API weft_result_t weft_irecv_tagged(weft_comm_t *comm, void *buf, size_t count, weft_dtype_t dtype, int peer,
                                         int tag, int *source, weft_request_t **request) {
  return isubmit(comm, &P2P_CALL(WEFT__COLL_RECV, NULL, buf, count, dtype, peer, tag, source), request);
}
WEFT_API weft_result_t weft_recv_tagged(weft_comm_t *comm, void *buf, size_t count, weft_dtype_t dtype, int peer,
                                        int tag, int *source) {
  return submit(comm, &P2P_CALL(WEFT__COLL_RECV, NULL, buf, count, dtype, peer, tag, source), NULL);
}
