/* weft: collective communication that never hangs the job.
 *
 * One public header. Argument order follows NCCL (buffers, count, dtype, op, comm-last in NCCL;
 * here the communicator comes first, as in Gloo and libuv) so ports from NCCL are mechanical.
 *
 * Completion contract
 *   - Every blocking call returns within WEFT_TIMEOUT seconds (default 300); a dead peer is
 *     noticed at once (connection reset) and a hung one within WEFT_HEARTBEAT_TIMEOUT.
 *   - Operations issued on one communicator complete in issue order on every rank.
 *   - When a call fails, weft_comm_last_error(comm) names the peer, the operation and its
 *     sequence number. Output buffers of a failed collective are unspecified; input buffers
 *     are never written unless the call was in place.
 *   - A communicator whose epoch was revoked (a member failed) fails every later operation with
 *     WEFT_ERR_REVOKED until weft_comm_recover() forms the next epoch.
 *   - A process removed from the job (evicted) fails every later call with WEFT_ERR_EVICTED,
 *     recover included: it must exit (see "What a failed call asks of the program" below).
 *
 * Thread safety
 *   - Different communicators may be used from different threads freely.
 *   - One communicator must be driven by one thread at a time (like an MPI communicator). Two
 *     threads issuing on one communicator at once get WEFT_ERR_INVALID_USAGE on the later call.
 *   - weft_test/weft_wait on a request may be called from any thread, one at a time per request.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_BUILDING_LIBRARY)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Version and stability.
 *
 * The release is WEFT_VERSION_MAJOR.MINOR.PATCH, the project version in meson.build (meson setup
 * refuses to configure when these three lines disagree with it). MINOR and PATCH stay below 100.
 *
 * Stable: every weft_ function, type, enum value and WEFT_ macro in this header. Within one
 * major version (one soname, libweft.so.MAJOR) they are only added to, never changed or removed:
 * enum values are appended, weft_config_t grows at its end (its .size says how much the caller
 * knows). An incompatible change bumps the major version and with it the soname. The shared
 * library exports exactly the weft_ functions declared here (abi/libweft.symbols, checked by the
 * test suite); weft__ names, the headers under lib/ and the wire protocol between different
 * releases are internal and change freely.
 *
 * A program built against this header needs a library of the same major version that is at least
 * as new (a newer minor adds functions an older library lacks, found missing only when first
 * called). WEFT_CHECK_VERSION() tests exactly that at run time, comparing the header the program
 * was compiled with against the library it loaded:
 *
 *   if (!WEFT_CHECK_VERSION()) {
 *     fprintf(stderr, "built with weft %s, running %s\n", WEFT_VERSION_STRING, weft_version_string());
 *     exit(1);
 *   }
 */
#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
/* One comparable number, MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 is 100), as zstd does. */
#define WEFT_VERSION_NUMBER (WEFT_VERSION_MAJOR * 10000 + WEFT_VERSION_MINOR * 100 + WEFT_VERSION_PATCH)
#define WEFT__STRINGIFY(x) #x
#define WEFT__VERSION_STR(a, b, c) WEFT__STRINGIFY(a) "." WEFT__STRINGIFY(b) "." WEFT__STRINGIFY(c)
#define WEFT_VERSION_STRING WEFT__VERSION_STR(WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH)
/* 1 when the library loaded at run time can serve a program compiled with this header. */
#define WEFT_CHECK_VERSION()                                                                   \
  (weft_get_version() / 10000 == WEFT_VERSION_MAJOR && weft_get_version() >= WEFT_VERSION_NUMBER)

/* One X-macro feeds the enum and weft_strerror (libuv's UV_ERRNO_MAP idea). */
#define WEFT_RESULT_MAP(X)                                                                     \
  X(SUCCESS, 0, "success")                                                                     \
  X(ERR_INVALID_ARGUMENT, 1, "invalid argument")                                               \
  X(ERR_MISMATCH, 2, "ranks called different operations (collective, count, dtype, op or root)") \
  X(ERR_PEER_LOST, 3, "a peer was lost (crashed, hung or unreachable)")                        \
  X(ERR_REVOKED, 4, "the communicator's epoch was revoked; call weft_comm_recover")            \
  X(ERR_TIMEOUT, 5, "operation timed out")                                                     \
  X(ERR_TRANSPORT, 6, "transport error")                                                       \
  X(ERR_UNAUTHORIZED, 7, "peer failed authentication (wrong or missing job token)")            \
  X(ERR_NO_MEMORY, 8, "out of memory")                                                         \
  X(ERR_UNSUPPORTED, 9, "unsupported")                                                         \
  X(ERR_INTERNAL, 10, "internal error")                                                        \
  X(ERR_INVALID_USAGE, 11, "invalid usage of the API (e.g. concurrent calls on one communicator)") \
  X(ERR_IN_PROGRESS, 12, "request not complete yet")                                           \
  X(ERR_MIN_SIZE, 13, "membership fell below WEFT_MIN_SIZE")                                   \
  X(ERR_PROTOCOL, 14, "malformed or unexpected message from a peer or the coordinator")      \
  X(ERR_JOB_FINISHED, 15, "the job has finished (its members left cleanly); only all its ranks together may run it again") \
  X(ERR_EVICTED, 16, "this process was removed from the job: exit (a launcher with restarts brings it back as a joiner)") \
  X(ERR_UNAVAILABLE, 17, "the membership service (coordinator) is unreachable for now; call recover again")

/* What a failed call asks of the program (append-only: codes are never renumbered).
 *
 *   Call weft_comm_recover (on the root communicator; remake children), then go on:
 *     WEFT_ERR_PEER_LOST, WEFT_ERR_REVOKED, WEFT_ERR_TIMEOUT. A member failed or an operation
 *     gave up; the epoch is revoked and recover forms the next one with the survivors.
 *   Exit, and let the launcher restart the process (it comes back as a joiner,
 *   weft_comm_joined_late):
 *     WEFT_ERR_EVICTED. This process is no longer a member: the coordinator removed it (it was
 *     silent past WEFT_HEARTBEAT_TIMEOUT -- stopped, hung, cut off --, reported failed, or its
 *     application did not enter a collective the others waited on for WEFT_STALL_TIMEOUT); it
 *     learns so from the coordinator's verdict, or when it reconnects. Terminal: every later call on
 *     every communicator of the process, recover included, returns it again; the detail
 *     (weft_comm_last_error) says why and when. Retrying recover never helps. With
 *     WEFT_EXIT_ON_EVICT=1 (weftrun --restart sets it) the process exits at once with status
 *     WEFT_EXIT_EVICTED instead, even when its own thread is stuck where it cannot see an error.
 *   The job cannot go on; exit: WEFT_ERR_MIN_SIZE (too few members remain),
 *     WEFT_ERR_JOB_FINISHED (a joiner arrived after the job ended), WEFT_ERR_UNAUTHORIZED.
 *   A bug in the call or the program, the communicator stays usable: WEFT_ERR_INVALID_ARGUMENT,
 *     WEFT_ERR_INVALID_USAGE, WEFT_ERR_MISMATCH, WEFT_ERR_UNSUPPORTED.
 *   The rest (TRANSPORT, NO_MEMORY, PROTOCOL, INTERNAL): try recover; if it fails too, exit.
 * weft_comm_recover itself returns WEFT_SUCCESS (go on), WEFT_ERR_EVICTED or WEFT_ERR_MIN_SIZE
 * (exit). A failure only this rank saw (an operation timeout, a mesh that failed here) is told
 * to the coordinator, which evicts whoever is cut off or ends the epoch for every member, so all
 * members recover into the same next epoch; WEFT_ERR_REVOKED from recover remains only as a
 * safety net for a local revoke the coordinator never heard of: calling it again cannot help.
 * Recover returns WEFT_ERR_UNAVAILABLE when the coordinator could not be reached within its bound
 * (it is being restarted, stopped, or cut off): the request is kept, call recover again.
 * Collectives do not need the coordinator and go on through its outage. */

/* The exit status of a process that WEFT_EXIT_ON_EVICT=1 ended on eviction (EX_TEMPFAIL). */
#define WEFT_EXIT_EVICTED 75

typedef enum {
#define WEFT__RESULT_ENUM(name, value, text) WEFT_##name = value,
  WEFT_RESULT_MAP(WEFT__RESULT_ENUM)
#undef WEFT__RESULT_ENUM
  WEFT_NUM_RESULTS
} weft_result_t;

typedef enum {
  WEFT_INT8 = 0,
  WEFT_UINT8 = 1,
  WEFT_INT32 = 2,
  WEFT_UINT32 = 3,
  WEFT_INT64 = 4,
  WEFT_UINT64 = 5,
  WEFT_FLOAT16 = 6,
  WEFT_BFLOAT16 = 7,
  WEFT_FLOAT32 = 8,
  WEFT_FLOAT64 = 9,
  WEFT_NUM_DTYPES
} weft_dtype_t;

typedef enum {
  WEFT_SUM = 0,
  WEFT_PROD = 1,
  WEFT_MIN = 2,
  WEFT_MAX = 3,
  WEFT_AVG = 4, /* sum, then divided by the number of contributors */
  WEFT_NUM_REDOPS
} weft_redop_t;

typedef struct weft_comm weft_comm_t;
typedef struct weft_request weft_request_t;

/* Configuration for weft_comm_init. Zero/NULL fields fall back to the environment, then to
 * defaults (see weft_config_print). Strings are copied. */
typedef struct {
  size_t size;              /* sizeof(weft_config_t): lets the struct grow compatibly */
  int rank;                 /* -1: from the environment */
  int world_size;           /* 0: from the environment */
  const char *coordinator;  /* "host:port"; NULL: from the environment */
  const char *job_token;    /* shared secret; NULL: WEFT_JOB_TOKEN */
  double timeout_s;         /* 0: WEFT_TIMEOUT */
} weft_config_t;

WEFT_API const char *weft_strerror(weft_result_t result);
WEFT_API const char *weft_dtype_name(weft_dtype_t dtype);
WEFT_API const char *weft_redop_name(weft_redop_t op);
WEFT_API size_t weft_dtype_size(weft_dtype_t dtype); /* 0 for an invalid dtype */
/* The library's own version (not the header's): WEFT_VERSION_NUMBER as the library was built. */
WEFT_API unsigned weft_get_version(void);
WEFT_API const char *weft_version_string(void); /* "weft MAJOR.MINOR.PATCH" */

/* Detail of the last failure on this communicator: which argument, peer, operation, sequence
 * number. One buffer per communicator (drive each communicator from one thread at a time, see
 * above). weft_comm_last_error(NULL): the calling thread's last failure that had no
 * communicator to hold it (a failed init, a call given a NULL comm or request). Never NULL. */
WEFT_API const char *weft_comm_last_error(const weft_comm_t *comm);

/* Communicators. init discovers rank, size and coordinator from weft's, torchrun's, Slurm's or
 * an MPI launcher's environment (docs/DESIGN.md lists the variables). */
WEFT_API void weft_config_init(weft_config_t *config);
WEFT_API weft_result_t weft_comm_init_env(weft_comm_t **comm);
WEFT_API weft_result_t weft_comm_init(weft_comm_t **comm, const weft_config_t *config);
WEFT_API weft_result_t weft_comm_destroy(weft_comm_t *comm); /* NULL is a no-op */
WEFT_API int weft_comm_rank(const weft_comm_t *comm);
WEFT_API int weft_comm_size(const weft_comm_t *comm);
WEFT_API uint64_t weft_comm_epoch(const weft_comm_t *comm);
/* 0 for a communicator weft_comm_init made; a child's id, the same on all its members, names it
 * in error details and on the wire. */
WEFT_API uint64_t weft_comm_id(const weft_comm_t *comm);
/* The bound on each later call and operation on this communicator, in seconds (> 0): a
 * collective or receive not complete by then fails with WEFT_ERR_TIMEOUT and revokes the epoch.
 * It starts as weft_config_t.timeout_s or WEFT_TIMEOUT; a child starts with its parent's.
 * Operations already issued keep theirs. Not while another thread is inside a call on comm. */
WEFT_API weft_result_t weft_comm_set_timeout(weft_comm_t *comm, double seconds);
WEFT_API double weft_comm_timeout(const weft_comm_t *comm);

/* Sub-communicators (docs/DESIGN.md, "Groups"). A child shares its parent's context — engine,
 * threads, coordinator and epoch — and has its own ranks, connections and operation order, so
 * groups progress independently of each other. A failure on any communicator revokes the epoch
 * for every communicator of the context. After weft_comm_recover (on the root, the communicator
 * weft_comm_init made) a child of the old epoch fails every call with WEFT_ERR_REVOKED until it
 * is destroyed and made again. Children may be destroyed before or after their parent.
 *
 * weft_comm_split: collective over every rank of parent (MPI_Comm_split / ncclCommSplit). Ranks
 * passing the same color form one child, ordered by key, then by rank in parent; a rank passing
 * WEFT_SPLIT_NOCOLOR takes part but gets *child = NULL.
 * weft_comm_create_group: collective over the listed members only (MPI_Comm_create_group): every
 * member passes the same ranks (of parent, in the child's rank order) and tag; ranks not listed
 * do not call it. Members must make groups with the same members in the same order. */
#define WEFT_SPLIT_NOCOLOR (-1)
WEFT_API weft_result_t weft_comm_split(weft_comm_t *parent, int color, int key, weft_comm_t **child);
WEFT_API weft_result_t weft_comm_create_group(weft_comm_t *parent, int nranks, const int *ranks, uint64_t tag,
                                              weft_comm_t **child);

/* Membership (docs/FAULT_TOLERANCE.md). */
#define WEFT_RECOVER_MAX_LISTED 64
typedef struct {
  uint64_t old_epoch, new_epoch;
  int old_size, new_size;
  int old_rank, new_rank;      /* this process; old_rank is -1 for a process that just joined */
  int is_new_member;           /* 1 if this process joined in new_epoch */
  int num_left, num_joined;    /* totals; the lists below hold the first WEFT_RECOVER_MAX_LISTED */
  int left_old_ranks[WEFT_RECOVER_MAX_LISTED];   /* ranks (in old_epoch) that left */
  int joined_new_ranks[WEFT_RECOVER_MAX_LISTED]; /* ranks (in new_epoch) that joined */
} weft_recover_info_t;
/* Every live member calls it at a step boundary; one that has not called it within
 * WEFT_RECOVER_TIMEOUT of the first is left out of the next epoch and evicted. */
WEFT_API weft_result_t weft_comm_recover(weft_comm_t *comm, weft_recover_info_t *info);
/* An allreduce that survives failures (docs/FAULT_TOLERANCE.md): when members are lost during
 * the call, the survivors agree on a smaller epoch (waiting joiners stay out of that re-run) and
 * run it again with the caller's input, kept intact even in place. When joiners wait and nothing
 * failed, every member admits them at the end of the same call (the coordinator tells all of
 * them in that call's agreement): the result is over the members before them, and info lists
 * them (num_joined), who then need the application's state (e.g. a broadcast).
 * Returns the result over the members of the final epoch; *contributors (may be NULL) is their
 * number, e.g. to turn a SUM of gradients into the right average; info (may be NULL) says what
 * changed. Costs one coordinator round trip per call (the agreement that makes every member re-run
 * or none) and, in place, a copy of the input. Errors other than a lost member (bad argument,
 * mismatch, timeout, WEFT_ERR_MIN_SIZE, WEFT_ERR_EVICTED) are returned as they are. */
WEFT_API weft_result_t weft_allreduce_elastic(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                              size_t count, weft_dtype_t dtype, weft_redop_t op,
                                              int *contributors, weft_recover_info_t *info);
/* 1 when this process was admitted into an already running job (a restarted rank): the
 * application should receive its state, e.g. by weft_broadcast from rank 0. */
WEFT_API int weft_comm_joined_late(const weft_comm_t *comm);

/* Blocking collectives. In place when sendbuf == recvbuf; for allgather in place means
 * sendbuf == recvbuf + rank * sendcount * dtype size, and for reduce_scatter
 * recvbuf == sendbuf + rank * recvcount * dtype size (as NCCL). */
WEFT_API weft_result_t weft_allreduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                      size_t count, weft_dtype_t dtype, weft_redop_t op);
WEFT_API weft_result_t weft_allgather(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                      size_t sendcount, weft_dtype_t dtype);
WEFT_API weft_result_t weft_reduce_scatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                           size_t recvcount, weft_dtype_t dtype, weft_redop_t op);
WEFT_API weft_result_t weft_broadcast(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                      size_t count, weft_dtype_t dtype, int root);
/* recvbuf is only written (and only needs to be valid) at root. */
WEFT_API weft_result_t weft_reduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                   size_t count, weft_dtype_t dtype, weft_redop_t op, int root);
WEFT_API weft_result_t weft_barrier(weft_comm_t *comm);
/* Uneven, personalised and rooted collectives (MPI argument order; counts and displacements in
 * elements, every array has weft_comm_size entries). Blocks of one buffer must not overlap.
 *   alltoall:   block j (count elements at j*count) of sendbuf goes to rank j, and rank j's
 *               block for this rank lands at j*count in recvbuf. In place when sendbuf ==
 *               recvbuf (the input is read as it was before the call).
 *   alltoallv:  block j of sendbuf (sendcounts[j] at sdispls[j]) goes to rank j, rank j's block
 *               lands at rdispls[j] (recvcounts[j] elements); recvcounts[j] on this rank must
 *               equal sendcounts[this rank] on rank j. In place when sendbuf == recvbuf (the
 *               input is read as it was before the call; costs a copy of the send extent).
 *   allgatherv: rank r's sendcount (== recvcounts[r]) elements land at displs[r] in every
 *               recvbuf; recvcounts and displs the same on every rank. In place when
 *               sendbuf == recvbuf + displs[rank] * dtype size.
 *   reduce_scatterv: sendbuf holds sum(recvcounts) elements, block r starting at
 *               sum(recvcounts[<r]); rank r receives block r reduced over all ranks
 *               (recvcounts[r] elements; WEFT_AVG divides them). recvcounts the same on every
 *               rank. In place when recvbuf == sendbuf + sum(recvcounts[<rank]) * dtype size.
 *   gather:     every rank's count elements land at rank*count in the root's recvbuf (size*count
 *               elements, written and needed at root only). In place at the root when sendbuf ==
 *               recvbuf + rank*count * dtype size.
 *   scatter:    block r (count elements at r*count) of the root's sendbuf (needed at root only)
 *               lands in rank r's recvbuf. In place at the root when recvbuf == sendbuf +
 *               rank*count * dtype size. */
WEFT_API weft_result_t weft_alltoall(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                     size_t count, weft_dtype_t dtype);
WEFT_API weft_result_t weft_alltoallv(weft_comm_t *comm, const void *sendbuf,
                                      const size_t *sendcounts, const size_t *sdispls,
                                      void *recvbuf, const size_t *recvcounts,
                                      const size_t *rdispls, weft_dtype_t dtype);
WEFT_API weft_result_t weft_allgatherv(weft_comm_t *comm, const void *sendbuf, size_t sendcount,
                                       void *recvbuf, const size_t *recvcounts,
                                       const size_t *displs, weft_dtype_t dtype);
WEFT_API weft_result_t weft_reduce_scatterv(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                            const size_t *recvcounts, weft_dtype_t dtype,
                                            weft_redop_t op);
WEFT_API weft_result_t weft_gather(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                   size_t count, weft_dtype_t dtype, int root);
WEFT_API weft_result_t weft_scatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                    size_t count, weft_dtype_t dtype, int root);
/* Point to point, with MPI's matching rules: a receive takes the earliest message not yet
 * received from its source (or, with WEFT_ANY_SOURCE, from any rank) that carries its tag
 * (>= 0); messages from one rank to another are matched in the order they were sent, so two with
 * the same tag never overtake each other, and receives posted earlier match first. Counts and
 * dtypes must agree (WEFT_ERR_MISMATCH otherwise). weft_send/weft_recv use tag 0.
 * A message that arrives before its receive is posted is held by the library (WEFT_P2P_BUFFER
 * bytes per communicator; past that its sender waits until receives are posted).
 * source: where the sender's rank is written when the receive succeeds (may be NULL). */
#define WEFT_ANY_SOURCE (-1)
WEFT_API weft_result_t weft_send(weft_comm_t *comm, const void *buf, size_t count,
                                 weft_dtype_t dtype, int peer);
WEFT_API weft_result_t weft_recv(weft_comm_t *comm, void *buf, size_t count, weft_dtype_t dtype,
                                 int peer);
WEFT_API weft_result_t weft_send_tagged(weft_comm_t *comm, const void *buf, size_t count,
                                        weft_dtype_t dtype, int peer, int tag);
WEFT_API weft_result_t weft_recv_tagged(weft_comm_t *comm, void *buf, size_t count,
                                        weft_dtype_t dtype, int peer, int tag, int *source);

/* Non-blocking forms. On success *request is set and must be completed by weft_wait (which frees
 * it) or by weft_test returning anything but WEFT_ERR_IN_PROGRESS (which also frees it). */
WEFT_API weft_result_t weft_iallreduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                       size_t count, weft_dtype_t dtype, weft_redop_t op,
                                       weft_request_t **request);
WEFT_API weft_result_t weft_iallgather(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                       size_t sendcount, weft_dtype_t dtype,
                                       weft_request_t **request);
WEFT_API weft_result_t weft_ireduce_scatter(weft_comm_t *comm, const void *sendbuf,
                                            void *recvbuf, size_t recvcount, weft_dtype_t dtype,
                                            weft_redop_t op, weft_request_t **request);
WEFT_API weft_result_t weft_ibroadcast(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                       size_t count, weft_dtype_t dtype, int root,
                                       weft_request_t **request);
WEFT_API weft_result_t weft_ireduce(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                    size_t count, weft_dtype_t dtype, weft_redop_t op, int root,
                                    weft_request_t **request);
WEFT_API weft_result_t weft_ibarrier(weft_comm_t *comm, weft_request_t **request);
WEFT_API weft_result_t weft_ialltoall(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                      size_t count, weft_dtype_t dtype, weft_request_t **request);
WEFT_API weft_result_t weft_ialltoallv(weft_comm_t *comm, const void *sendbuf,
                                       const size_t *sendcounts, const size_t *sdispls,
                                       void *recvbuf, const size_t *recvcounts,
                                       const size_t *rdispls, weft_dtype_t dtype,
                                       weft_request_t **request);
WEFT_API weft_result_t weft_iallgatherv(weft_comm_t *comm, const void *sendbuf, size_t sendcount,
                                        void *recvbuf, const size_t *recvcounts,
                                        const size_t *displs, weft_dtype_t dtype,
                                        weft_request_t **request);
WEFT_API weft_result_t weft_ireduce_scatterv(weft_comm_t *comm, const void *sendbuf,
                                             void *recvbuf, const size_t *recvcounts,
                                             weft_dtype_t dtype, weft_redop_t op,
                                             weft_request_t **request);
WEFT_API weft_result_t weft_igather(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                    size_t count, weft_dtype_t dtype, int root,
                                    weft_request_t **request);
WEFT_API weft_result_t weft_iscatter(weft_comm_t *comm, const void *sendbuf, void *recvbuf,
                                     size_t count, weft_dtype_t dtype, int root,
                                     weft_request_t **request);
WEFT_API weft_result_t weft_isend(weft_comm_t *comm, const void *buf, size_t count,
                                  weft_dtype_t dtype, int peer, weft_request_t **request);
WEFT_API weft_result_t weft_irecv(weft_comm_t *comm, void *buf, size_t count, weft_dtype_t dtype,
                                  int peer, weft_request_t **request);
WEFT_API weft_result_t weft_isend_tagged(weft_comm_t *comm, const void *buf, size_t count,
                                         weft_dtype_t dtype, int peer, int tag,
                                         weft_request_t **request);
/* *source is written before the request completes successfully: read it after weft_wait/weft_test. */
WEFT_API weft_result_t weft_irecv_tagged(weft_comm_t *comm, void *buf, size_t count,
                                         weft_dtype_t dtype, int peer, int tag, int *source,
                                         weft_request_t **request);

/* Returns WEFT_ERR_IN_PROGRESS while the request runs; otherwise its result (request freed). */
WEFT_API weft_result_t weft_test(weft_request_t *request);
/* Blocks (bounded by the communicator's timeout) until the request completes; frees it. */
WEFT_API weft_result_t weft_wait(weft_request_t *request);

/* Logging: the library never prints on its own unless WEFT_LOG_LEVEL is set (then to stderr). */
typedef enum { WEFT_LOG_ERROR = 0, WEFT_LOG_WARN = 1, WEFT_LOG_INFO = 2, WEFT_LOG_DEBUG = 3 } weft_log_level_t;
typedef void (*weft_log_fn)(weft_log_level_t level, const char *message, void *user);
WEFT_API void weft_set_log_callback(weft_log_fn fn, void *user, weft_log_level_t max_level);

/* Prints the effective settings table (name, value, default, bounds, help) to stream (a FILE*). */
WEFT_API void weft_config_print(void *stream);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_H */
