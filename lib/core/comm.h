/* The communicator and its operations (internal).
 *
 * Context and views. The communicator weft_comm_init makes is the root of a *context*: it owns
 * what one process has once per job — the engine (core/engine.h, progress thread, engine_mu), the
 * coordinator connection, the membership and its epoch, the listener. Communicators made from it
 * by weft_comm_split / weft_comm_create_group (lib/core/group.c) are views on that context:
 * each has its own ranks, its own transport over its own connections (lanes: a parked frame of
 * one group never holds back another's), its own operation queues, sequence numbers and error
 * detail, and `ctx` points at the root for everything shared. Fields marked [ctx] are meaningful
 * in the root only; code reaches them through c->ctx. A failure revokes the context's epoch, and
 * with it every communicator of the context (lib/core/context.c).
 *
 * Ownership is split by thread:
 *   - the caller's thread validates, builds the schedule and submits an operation (api.c);
 *   - the engine — every socket, the executor's operation lists, the transport, heartbeats —
 *     belongs to whichever thread holds `engine_mu`: the communicator's progress thread
 *     (progress.c) when nobody waits, or a caller blocked in a wait, which then runs the engine
 *     itself instead of handing over to the progress thread and back (progress.c explains why);
 *   - `mu` guards what both touch: the inbox of submitted operations, completion flags, the
 *     revoked state and the epoch table handed over by the membership store.
 * The membership store (lib/membership/store.h: the coordinator today) is reached only through
 * lib/membership/service.c: the engine watches its fd and hands readiness and time to it, and
 * what the store decodes arrives as callbacks that fill the hand-over state below.
 * Lock order: engine_mu before mu, never the other way.
 */
#ifndef WEFT_CORE_COMM_H
#define WEFT_CORE_COMM_H

#include <pthread.h>
#include <stdatomic.h>

#include "algo/sched_cache.h"
#include "algo/schedule.h"
#include "bootstrap/auth.h"
#include "bootstrap/coord_proto.h"
#include "core/memops.h"
#include "core/net.h"
#include "core/p2p_match.h"
#include "membership/store.h"

#define WEFT__ERR_LEN 512

typedef struct weft_request weft__op_t;

/* An operation is also its request: weft_wait/weft_test free it. */
struct weft_request {
  weft__op_t *next;
  weft_comm_t *comm;
  /* descriptor: identical on every rank for a matching call (checked on the wire) */
  weft__coll_t coll;
  weft_dtype_t dtype;
  weft_redop_t redop;
  weft__algo_t algo;
  int root; /* collective root, or the peer of a send/recv (a WEFT_ANY_SOURCE receive: its
             * sender, once matched) */
  uint64_t count;
  uint64_t avg_count; /* reduce_scatterv: elements WEFT_AVG divides here (this rank's block) */
  uint64_t seq; /* collective sequence number, or per-pair number of a message (a receive's:
                 * known once matched) */
  /* point to point (p2p_match.h) */
  int32_t tag;
  bool any_source;            /* a receive posted for WEFT_ANY_SOURCE */
  bool matched;               /* a receive: its message is known (seq and root are its) */
  uint64_t post_no;           /* a receive: earlier posted receives match first */
  struct weft__p2p_msg *msg;  /* a receive given a message that arrived before it */
  int *source_out;            /* a receive: where its sender's rank goes on success */
  uint64_t epoch;
  const void *sendbuf;
  void *recvbuf;
  size_t esize;
  const weft__memops_t *mem; /* copies, reductions and scratch for its buffers (memops.h) */
  uint8_t *tmp;              /* TMP scratch from mem, tmp_bytes large (kept when pooled) */
  size_t tmp_bytes;
  weft__sched_t sched;
  double deadline;
  double timeout_s; /* the communicator's timeout when it was issued (deadline's reason) */
  double started_at; /* when it began running here (executor.c check_start) */
  /* execution state (progress thread) */
  bool started, in_setup;
  uint32_t phase, step_begin, step_end;
  int pending;
  weft__xfer_t *xfers;  /* one per step, used by SEND steps */
  uint64_t *got;        /* bytes received per step */
  bool *fin;            /* step complete (a zero-byte step is done when its frame came) */
  uint32_t arrays_cap;
  /* completion (under comm->mu) */
  atomic_bool done;
  weft_result_t result;
  char err[WEFT__ERR_LEN];
};

/* What a communicator keeps so that a warm call allocates nothing (request.c): finished
 * operations with their step, transfer and scratch storage, and built schedules. Made by the
 * first call on the communicator, freed with it. */
#define WEFT__OP_POOL_MAX 16
typedef struct {
  pthread_mutex_t mu; /* the pool: an op returns from whichever thread finished with it */
  weft__op_t *pool;   /* under mu, at most WEFT__OP_POOL_MAX; the rest are freed */
  int pooled;
  weft__sched_cache_t sched; /* caller's thread (calls on a communicator are serialised) */
} weft__reuse_t;

/* ABORTs kept per peer for operations that have not started here. More than one: a rank slow to
 * start seq k can receive a peer's ABORT for k and then its ABORT for k+1 (passed on from a third
 * rank), and with one slot the second would overwrite the first, leaving seq k to its timeout. */
#define WEFT__ABORT_SLOTS 4

typedef struct {
  bool valid;
  int peer;
  uint64_t seq;
  uint32_t code;
  char text[WEFT__ABORT_TEXT_MAX + 1];
} weft__pending_abort_t;

typedef struct {
  uint64_t key, count;
} weft__group_key_t;

struct weft_comm {
  /* the context (see the top of this file) */
  weft_comm_t *ctx;        /* the root communicator; itself for the root */
  uint64_t comm_id;        /* 0 for the root; on the wire in every frame and PEER_HELLO */
  int *world_rank;         /* child: the root rank of each of its ranks (root: NULL) */
  weft_comm_t *next_child; /* child: next in ctx->children */
  weft_comm_t *children;   /* [ctx] live children, changed under ctx->mu with the engine paused */
  int refs;                /* [ctx] 1 for the root handle + one per live child, under mu */
  bool root_closed;        /* [ctx] the root handle was destroyed; children keep the context */
  pthread_mutex_t excl_mu; /* [ctx] one exclusive engine section (pause) at a time */
  uint64_t groups_made;    /* weft_comm_split calls on this communicator (ids) */
  weft__group_key_t *group_keys; /* weft_comm_create_group calls per (tag, ranks) key (ids) */
  size_t n_group_keys;
  bool closing;            /* being destroyed: queued operations must not start */
  weft__reuse_t *reuse;    /* pooled operations, cached schedules (NULL before the first call) */

  /* identity of the current epoch (changed only by init/recover, with no operation pending);
   * a child's epoch is the one it was made in: once the context moves on it only fails */
  int rank, size;
  uint64_t epoch, member_id, incarnation;
  bool joined_late;
  weft__coord_member_t *members; /* [ctx] size entries */
  weft__card_t *cards;           /* [ctx] size entries: each member's card, from the store at install */

  /* settings snapshot */
  double timeout, hb_interval, hb_timeout, connect_timeout;
  double recover_timeout; /* the coordinator's recover deadline, as this process was told it */
  double stall_timeout; /* [ctx] WEFT_STALL_TIMEOUT, 0: off */
  bool exit_on_evict;   /* [ctx] WEFT_EXIT_ON_EVICT */
  uint32_t chunk;
  int nsocks, spin_us, min_size;
  weft__algo_t algo;
  uint64_t tree_threshold;
  weft__auth_key_t key;
  weft__identity_t identity; /* [ctx] this process's signing key pair (its card carries the public half) */

  /* sockets and transports */
  weft__endpoints_t endpoints; /* [ctx] every enabled transport's endpoint, and this process's card */
  const weft__store_ops_t *store_ops; /* [ctx] the membership store (service.c) */
  weft__store_t *store;               /* [ctx] NULL before join and after leave */
  int coord_fd;               /* [ctx] the store's fd, watched by the engine; -1 if none */
  weft__io_t coord_io;        /* [ctx] its watcher */
  atomic_bool coord_lost;     /* the store was lost (on_lost): set by the engine, read by callers */
  bool coord_unavailable;     /* under mu: the store is reconnecting (on_availability) */
  char coord_unavailable_why[200];
  weft__engine_t *engine;     /* [ctx] every communicator's sources; whoever holds engine_mu runs it */
  weft__net_t *net; /* this communicator's transports in its epoch (NULL: none yet, or ended) */

  /* progress thread */
  pthread_t thread;
  bool thread_started;
  pthread_mutex_t engine_mu; /* held by whoever runs the engine (see the top of this file) */
  pthread_cond_t engine_cv;  /* the progress thread steps aside on it while callers drive */
  atomic_int drivers;        /* callers running the engine now */
  double last_drive_end;     /* under mu */
  bool progress_wanted;      /* under mu: work was left for the progress thread */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;                   /* under mu */
  weft__op_t *inbox, *inbox_tail; /* under mu */
  weft__op_t *coll_head, *coll_tail; /* progress thread: collectives, head runs */
  weft__op_t *p2p;             /* progress thread: running point-to-point operations */

  /* sequence numbers (caller's thread) */
  uint64_t coll_seq;
  /* What the coordinator asks a member whose peers stall (lib/membership/stall.c): the last
   * collective entered (published by the caller's thread, read by the engine's holder). */
  atomic_uint_least64_t entered_seq;
  atomic_uint entered_coll;
  uint64_t stall_reported_seq; /* engine holder: STALL sent for collectives up to this seq */
  struct reach_round *reach;   /* [ctx] engine holder: a reachability round in progress (membership/reach.c) */
  atomic_int app_calls;        /* [ctx] application threads inside a weft call now */
  _Atomic double app_left_at;  /* [ctx] when the last one returned (weft__now()) */
  uint64_t *p2p_send_seq;
  weft__p2p_match_t p2p_match; /* progress thread: messages matched and buffered (p2p_match.h) */
  uint64_t p2p_posts;          /* progress thread: receives posted so far (their post_no) */

  /* failure state (under mu) */
  bool revoked;
  weft_result_t revoke_code;
  char revoke_msg[WEFT__ERR_LEN];
  bool *peer_gone;
  weft__pending_abort_t *aborts; /* size * WEFT__ABORT_SLOTS; peer p's from p * WEFT__ABORT_SLOTS */
  uint64_t stale_frames;         /* frames of another epoch or finished operation, dropped */
  uint64_t recent_base, recent_ok; /* progress thread: bit k of recent_ok: seq recent_base-k succeeded */
  weft_result_t late_code;       /* progress thread: a finished collective turned out mismatched */
  uint64_t late_reported_seq;    /* progress thread: late reports already made up to this seq */
  char late_msg[WEFT__ERR_LEN];

  /* membership store hand-over (under mu; filled by service.c's callbacks) */
  weft__coord_epoch_t next_epoch;
  weft__coord_member_t *next_members;
  weft__coord_left_t *next_left;
  uint32_t next_cap;
  weft__store_answer_t answer; /* to the last join or request_epoch (an uninstalled EPOCH stays) */
  bool request_abandoned;      /* a recover stopped waiting for its request's answer: the next
                                * request takes that answer (late or still due), asks nothing */
  weft__coord_error_t coord_error;

  /* pausing the progress thread while an epoch is installed (under mu) */
  bool pause_req, paused;
  weft__coord_revoke_t deferred_revoke; /* a REVOKE for an epoch not installed yet */
  bool has_deferred_revoke;
  uint64_t revoked_upto;      /* highest epoch the coordinator revoked (any reason), under mu */
  char revoked_why[WEFT__COORD_TEXT_LEN + 32];

  atomic_int in_call;
  char last_error[WEFT__ERR_LEN];
};

/* executor.c: runs operations on the progress thread. */
weft__transport_cb_t weft__executor_callbacks(weft_comm_t *comm);
void weft__executor_submit(weft_comm_t *comm, weft__op_t *op);
void weft__executor_check_deadlines(weft_comm_t *comm, double now);
double weft__executor_next_deadline(weft_comm_t *comm);
/* Fails every running and queued operation. epoch_over: this rank will run no further collective
 * of the epoch (revoked), so peers are told even between collectives; false on destroy, where
 * the BYE that follows says it all. */
void weft__executor_fail_all(weft_comm_t *comm, weft_result_t code, const char *msg, bool epoch_over);
void weft__executor_peer_lost(weft_comm_t *comm, int peer, bool clean, const char *why);
/* The per-peer state (point-to-point sequence numbers, lost peers, pending ABORTs) for size
 * peers, zeroed (the old state freed); NO_MEMORY leaves some of it NULL, freed by _free. */
weft_result_t weft__executor_peers_reset(weft_comm_t *comm, int size);
void weft__executor_peers_free(weft_comm_t *comm);

/* context.c: what a failure or a timer does to every communicator of a context */
/* Marks the context's epoch revoked (first cause kept); true if this call revoked it. */
bool weft__ctx_revoke(weft_comm_t *ctx, weft_result_t code, const char *msg);
bool weft__ctx_is_revoked(weft_comm_t *ctx);
/* The process was evicted (membership/service.c): terminal, WEFT_ERR_EVICTED from every call. */
bool weft__ctx_evicted(const weft_comm_t *c);
/* Whether the context's coordinator is unreachable right now (lib/membership/service.c); if so,
 * why, into why[len]. */
bool weft__ctx_coord_unavailable(weft_comm_t *ctx, char *why, size_t len);
void weft__ctx_fail_all(weft_comm_t *ctx, weft_result_t code, const char *msg, bool epoch_over);
/* Closes, in every communicator of the context, the lanes to the member with root rank r. */
void weft__ctx_drop_member(weft_comm_t *ctx, int world_rank);
double weft__ctx_next_deadline(weft_comm_t *ctx);
void weft__ctx_check_deadlines(weft_comm_t *ctx, double now);
bool weft__ctx_busy(weft_comm_t *ctx); /* any operation running or queued on any communicator */
/* An exclusive section (recover's epoch install, group formation) holds the progress thread or is
 * about to: the communicators are the installer's. For the engine's holder, which the installer
 * waits for, the answer stays true until it returns. */
bool weft__ctx_installing(weft_comm_t *ctx);
/* Exclusive use of the engine (transports, children list): the progress thread paused, callers
 * not driving. One section at a time per context; recover and init hold one too. */
void weft__ctx_exclusive_begin(weft_comm_t *ctx);
void weft__ctx_exclusive_end(weft_comm_t *ctx);
/* The card of the member with root rank world_rank in the current epoch. */
weft__card_t weft__member_card(const weft_comm_t *ctx, int world_rank);
/* The root rank of rank r of c. */
static inline int weft__world_rank(const weft_comm_t *c, int r) { return c->world_rank ? c->world_rank[r] : r; }
/* A child made in an epoch the context has left: it only fails (re-create it). */
static inline bool weft__comm_stale(const weft_comm_t *c) { return c != c->ctx && c->epoch != c->ctx->epoch; }
/* Refuses a call on a communicator whose epoch is revoked or over, with the detail set. */
weft_result_t weft__comm_check_usable(weft_comm_t *c, const char *who);
/* WEFT_ERR_EVICTED (and the detail) once the process is evicted, else WEFT_SUCCESS. */
weft_result_t weft__comm_check_evicted(weft_comm_t *c, const char *who);
/* group.c: epoch install ends the children's lanes (they belong to the old epoch). */
void weft__groups_epoch_over(weft_comm_t *ctx);
weft_result_t weft__group_destroy(weft_comm_t *child);
/* comm.c: a reference on the context was dropped; the last one tears it down. */
void weft__ctx_unref(weft_comm_t *ctx);

/* progress.c */
weft_result_t weft__progress_start(weft_comm_t *comm);
void weft__progress_stop(weft_comm_t *comm);
void weft__progress_wake(weft_comm_t *comm);
/* Hands a new operation to the engine: directly when the engine is free (its sends start at
 * once), else through the inbox and a wake-up of the progress thread. */
void weft__progress_submit(weft_comm_t *comm, weft__op_t *op, bool caller_waits);
/* A caller waiting for op runs the engine itself while it can (the engine is free and no pause
 * or stop is requested), until op completes or `limit`. Returns at once when it cannot. */
void weft__progress_drive(weft_comm_t *comm, weft__op_t *op, double limit);

/* membership/service.c: the context's side of the membership store (store.h). The engine calls
 * read (the store's fd is readable), heartbeat and next_due; the rest is init, recover and the
 * executor. Every function takes the root communicator. */
weft_result_t weft__membership_join(weft_comm_t *ctx, weft__store_join_args_t *args, char *err, size_t errlen);
void weft__membership_leave(weft_comm_t *ctx); /* LEAVE (unless lost) and close */
void weft__membership_read(weft_comm_t *ctx);
void weft__membership_heartbeat(weft_comm_t *ctx, double now);
double weft__membership_next_due(const weft_comm_t *ctx);
/* A peer (root rank world_rank) failed on the data plane: tell the store. */
void weft__membership_report(weft_comm_t *ctx, int world_rank, const char *why);
/* RECOVER (admit) or SHRINK for the current epoch; the answer becomes ctx->answer. */
weft_result_t weft__membership_request_epoch(weft_comm_t *ctx, bool admit);
/* The cards of e's members (out: e->size entries, in rank order), fetched from the store and
 * decoded; err names the member whose card is missing or malformed. */
weft_result_t weft__membership_cards(weft_comm_t *ctx, const weft__coord_epoch_t *e, weft__card_t *out,
                                     double deadline, char *err, size_t errlen);
/* A REVOKE: fail the epoch's operations naming the member, or defer it past an install. */
void weft__membership_apply_revoke(weft_comm_t *ctx, const weft__coord_revoke_t *rv);

/* membership/stall.c: hung callers, a member's side. The application's activity (any thread
 * inside a weft call, or since when none is) and the last collective entered per communicator
 * are what the coordinator asks for; the engine's holder sends STALL once a collective has been
 * waited on for WEFT_STALL_TIMEOUT. */
void weft__activity_init(weft_comm_t *ctx);
void weft__activity_enter(weft_comm_t *comm); /* an application thread enters a call ... */
void weft__activity_leave(weft_comm_t *comm); /* ... and returns */
void weft__stall_entered(weft_comm_t *comm, const weft__op_t *op); /* caller's thread, a collective issued */
double weft__stall_due(const weft_comm_t *comm); /* when weft__stall_check has work (1e300: never) */
void weft__stall_check(weft_comm_t *comm, double now);
/* The answer to the coordinator's PROGRESS_QUERY q (engine holder). */
void weft__stall_progress(weft_comm_t *ctx, const weft__coord_progress_t *q, weft__coord_progress_t *answer);

/* membership/reach.c: the coordinator's reachability round, a member's side (engine holder). */
void weft__reach_begin(weft_comm_t *ctx, const weft__coord_reach_t *q);
double weft__reach_due(const weft_comm_t *ctx);
void weft__reach_check(weft_comm_t *ctx, double now);
void weft__reach_abandon(weft_comm_t *ctx); /* teardown, with the engine stopped */

/* request.c. weft__op_new takes an operation from the communicator's pool (caller's thread, in a
 * call); weft__op_free gives it back, from any thread, once nothing references it. */
weft__op_t *weft__op_new(weft_comm_t *comm);
void weft__op_free(weft__op_t *op);
/* Frees the pool and the schedule cache (communicator teardown). NULL is a no-op. */
void weft__reuse_free(weft__reuse_t *reuse);
/* Makes mem op's memory table (a pooled op's scratch from another table is freed first). */
void weft__op_use_mem(weft__op_t *op, const weft__memops_t *mem);
/* Gives op a TMP buffer of at least `bytes` from op->mem, reusing the one it has when large
 * enough. */
weft_result_t weft__op_scratch(weft__op_t *op, size_t bytes);
void weft__op_complete(weft__op_t *op, weft_result_t result, const char *err);
weft_result_t weft__op_wait(weft__op_t *op);
void weft__comm_set_error(weft_comm_t *comm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A call without a communicator to hold its detail: the detail goes where
 * weft_comm_last_error(NULL) reads (thread-local, shared with failed inits). Returns code. */
weft_result_t weft__null_error(weft_result_t code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
