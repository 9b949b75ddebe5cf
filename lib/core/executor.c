/* The one executor: runs every schedule (lib/algo/) over the transport, on the progress
 * thread. Collectives run one at a time in issue order; point-to-point operations run as soon
 * as they are submitted (MPI semantics: matched in order per sender/receiver pair).
 *
 * Matching. Every frame names (epoch, seq, phase) and the operation's descriptor. A frame of
 * another epoch or of an already finished operation is dropped and counted; a frame of a later
 * operation or phase parks its connection (TCP flow control holds the sender back); a frame of
 * the running phase whose descriptor differs from ours is a mismatch: the operation fails on
 * this rank and an ABORT frame makes it fail on every other rank too, with the difference
 * named, instead of hanging or mixing data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/coord_proto.h"
#include "core/comm.h"
#include "core/config.h"

static void run_phases(weft_comm_t *c, weft__op_t *op);
static void fail_op(weft_comm_t *c, weft__op_t *op, weft_result_t code, const char *msg, bool tell_peers);

/* Address of element `off` of buffer `buf`, or NULL for an empty range (barrier steps name no
 * buffer, and arithmetic on NULL is undefined). */
static uint8_t *at(weft__op_t *op, uint8_t buf, uint64_t off, uint64_t nbytes);

static uint8_t *buf_ptr(weft__op_t *op, uint8_t buf) {
  switch (buf) {
    case WEFT__BUF_SEND: return (uint8_t *)op->sendbuf;
    case WEFT__BUF_RECV: return (uint8_t *)op->recvbuf;
    case WEFT__BUF_TMP: return op->tmp;
    default: return NULL;
  }
}

static uint8_t *at(weft__op_t *op, uint8_t buf, uint64_t off, uint64_t nbytes) {
  uint8_t *base = buf_ptr(op, buf);
  return base && nbytes ? base + off : NULL;
}

static const char *op_name(const weft__op_t *op) { return weft__coll_name(op->coll); }

/* "rank 2", or in a child communicator "rank 2 (root rank 5)": a detail names peers in the
 * communicator's own ranks, and the root's rank is what the launcher and the logs show. */
typedef struct {
  char s[48];
} peer_label_t;
static peer_label_t who(const weft_comm_t *c, int peer) {
  peer_label_t l;
  if (c == c->ctx || peer < 0 || peer >= c->size) snprintf(l.s, sizeof l.s, "rank %d", peer);
  else snprintf(l.s, sizeof l.s, "rank %d (root rank %d)", peer, weft__world_rank(c, peer));
  return l;
}

static bool is_p2p(const weft__op_t *op) { return op->coll == WEFT__COLL_SEND || op->coll == WEFT__COLL_RECV; }

static void frame_template(weft_comm_t *c, const weft__op_t *op, weft__frame_t *f) {
  memset(f, 0, sizeof *f);
  f->type = is_p2p(op) ? WEFT__FRAME_P2P : WEFT__FRAME_DATA;
  f->coll = (uint8_t)op->coll;
  f->dtype = (uint8_t)op->dtype;
  f->redop = (uint8_t)op->redop;
  f->algo = (uint8_t)op->algo;
  f->src_rank = (uint32_t)c->rank;
  f->epoch = c->epoch;
  f->seq = op->seq;
  f->count = op->count;
  f->root = is_p2p(op) ? op->tag : op->root; /* P2P frames carry the tag there (wire.h) */
  f->phase = op->phase;
  f->comm_id = c->comm_id;
}

/* ---- completion ------------------------------------------------------------------------- */

static void unlink_op(weft_comm_t *c, weft__op_t *op) {
  if (is_p2p(op)) {
    for (weft__op_t **pp = &c->p2p; *pp; pp = &(*pp)->next)
      if (*pp == op) {
        *pp = op->next;
        break;
      }
  } else if (c->coll_head == op) {
    c->coll_head = op->next;
    if (!c->coll_head) c->coll_tail = NULL;
  }
  op->next = NULL;
}

/* Whether op is still running, decided without dereferencing it: once finished, its waiter
 * may have freed it. */
static bool still_running(const weft_comm_t *c, const weft__op_t *op) {
  if (c->coll_head == op) return true;
  for (const weft__op_t *p = c->p2p; p; p = p->next)
    if (p == op) return true;
  return false;
}

static void start_next_coll(weft_comm_t *c) {
  weft__op_t *op = c->coll_head;
  if (op && !op->started) run_phases(c, op);
}

static void record_outcome(weft_comm_t *c, uint64_t seq, bool ok) {
  if (seq > c->recent_base) {
    uint64_t shift = seq - c->recent_base;
    c->recent_ok = shift >= 64 ? 0 : c->recent_ok << shift;
    c->recent_base = seq;
  }
  uint64_t k = c->recent_base - seq;
  if (k < 64) c->recent_ok = ok ? c->recent_ok | (1ull << k) : c->recent_ok & ~(1ull << k);
}

static bool succeeded_here(const weft_comm_t *c, uint64_t seq) {
  uint64_t k = c->recent_base - seq;
  return seq <= c->recent_base && k < 64 && (c->recent_ok >> k & 1);
}

static void finish_op(weft_comm_t *c, weft__op_t *op, weft_result_t code, const char *msg) {
  bool coll = !is_p2p(op);
  if (op->msg) { /* the buffered message it was given is consumed, delivered or not */
    weft__p2p_release(&c->p2p_match, op->msg);
    op->msg = NULL;
    if (c->net) weft__net_resume(c->net); /* room under WEFT_P2P_BUFFER: parked frames may fit */
  }
  if (code == WEFT_SUCCESS && op->coll == WEFT__COLL_RECV && op->source_out) *op->source_out = op->root;
  if (coll) record_outcome(c, op->seq, code == WEFT_SUCCESS);
  if (coll && code != WEFT_SUCCESS && op->seq > c->late_reported_seq) {
    /* This failure reaches every rank (ABORT): it stands for any late notice about earlier
     * operations too, so a straggling notice cannot fail a later call on one rank alone. */
    c->late_reported_seq = op->seq - 1;
    c->late_code = WEFT_SUCCESS;
  }
  unlink_op(c, op);
  weft__op_complete(op, code, msg); /* from here on the waiter may free op */
  if (coll) start_next_coll(c);
}

static void fail_op(weft_comm_t *c, weft__op_t *op, weft_result_t code, const char *msg, bool tell_peers) {
  if (tell_peers && c->net && !is_p2p(op)) {
    weft__frame_t f;
    frame_template(c, op, &f);
    f.type = WEFT__FRAME_ABORT;
    f.code = (uint32_t)code;
    f.len = (uint32_t)WEFT__MIN(strlen(msg), (size_t)WEFT__ABORT_TEXT_MAX);
    weft__net_broadcast_control(c->net, &f, msg);
  }
  /* The buffers go back to the user: nothing may still read or write them. Every running
   * operation shares the connections, so all of them end here with the same error. */
  bool cancelled = op->started && c->net;
  if (cancelled) weft__net_cancel_all(c->net);
  weft__op_t *p = c->p2p;
  while (p) {
    weft__op_t *next = p->next;
    if (p != op && p->started) finish_op(c, p, code, msg);
    p = next;
  }
  /* A transport callback above may already have ended it (and its waiter freed it). */
  if (still_running(c, op)) finish_op(c, op, code, msg);
  /* Buffered messages whose payload the transport just forgot can never complete. */
  if (cancelled) weft__p2p_drop_incomplete(&c->p2p_match);
}

/* ---- running phases --------------------------------------------------------------------- */

static weft_result_t ensure_arrays(weft__op_t *op) {
  if (op->arrays_cap >= op->sched.nsteps) return WEFT_SUCCESS;
  uint32_t n = op->sched.nsteps;
  weft__xfer_t *x = realloc(op->xfers, n * sizeof *x);
  if (!x) return WEFT_ERR_NO_MEMORY;
  op->xfers = x;
  uint64_t *g = realloc(op->got, n * sizeof *g);
  if (!g) return WEFT_ERR_NO_MEMORY;
  op->got = g;
  bool *f = realloc(op->fin, n * sizeof *f);
  if (!f) return WEFT_ERR_NO_MEMORY;
  op->fin = f;
  op->arrays_cap = n;
  return WEFT_SUCCESS;
}

/* An operation that needs a peer that left fails (true) naming it. */
static bool fails_for_gone_peer(weft_comm_t *c, weft__op_t *op) {
  for (uint32_t i = 0; i < op->sched.nsteps; i++) {
    int peer = op->sched.steps[i].peer;
    if (peer >= 0 && c->peer_gone[peer]) {
      char msg[WEFT__ERR_LEN];
      snprintf(msg, sizeof msg, "%s seq %llu needs %s, which has left the communicator",
               op_name(op), (unsigned long long)op->seq, who(c, peer).s);
      finish_op(c, op, WEFT_ERR_PEER_LOST, msg);
      return true;
    }
  }
  return false;
}

static bool check_start(weft_comm_t *c, weft__op_t *op) {
  char msg[WEFT__ERR_LEN];
  weft_comm_t *ctx = c->ctx;
  pthread_mutex_lock(&ctx->mu);
  /* Its time runs from now, not from when it was queued behind others (under ctx->mu: its
   * waiter reads it there, request.c). */
  op->started_at = weft__now();
  op->deadline = op->started_at + op->timeout_s;
  bool revoked = ctx->revoked || weft__comm_stale(c) || c->closing;
  if (c->closing)
    snprintf(msg, sizeof msg, "%s seq %llu not started: the communicator was destroyed", op_name(op),
             (unsigned long long)op->seq);
  else if (revoked)
    snprintf(msg, sizeof msg, "%s seq %llu not started: epoch %llu is revoked (%s)", op_name(op),
             (unsigned long long)op->seq, (unsigned long long)c->epoch,
             weft__comm_stale(c) ? "the communicator's context moved to a new epoch" : ctx->revoke_msg);
  pthread_mutex_unlock(&ctx->mu);
  if (revoked) {
    finish_op(c, op, weft__ctx_evicted(ctx) ? WEFT_ERR_EVICTED : WEFT_ERR_REVOKED, msg);
    return false;
  }
  if (c->late_code != WEFT_SUCCESS && !is_p2p(op)) {
    snprintf(msg, sizeof msg, "%s seq %llu not started: %s", op_name(op), (unsigned long long)op->seq, c->late_msg);
    weft_result_t code = c->late_code;
    c->late_code = WEFT_SUCCESS;
    fail_op(c, op, code, msg, true); /* every rank fails this same call, and stays in step */
    return false;
  }
  if (!is_p2p(op)) {
    for (size_t i = 0; i < (size_t)c->size * WEFT__ABORT_SLOTS; i++) {
      weft__pending_abort_t *a = &c->aborts[i];
      if (a->valid && a->seq == op->seq) {
        a->valid = false;
        snprintf(msg, sizeof msg, "%s seq %llu aborted by %s: %s", op_name(op),
                 (unsigned long long)op->seq, who(c, a->peer).s, a->text);
        finish_op(c, op, (weft_result_t)a->code, msg);
        return false;
      }
    }
  }
  /* A receive looks for its message among those buffered first: a peer's message may have come
   * before its goodbye (weft__executor_submit checks the peer after matching). */
  if (op->coll != WEFT__COLL_RECV && fails_for_gone_peer(c, op)) return false;
  if (ensure_arrays(op) != WEFT_SUCCESS) {
    finish_op(c, op, WEFT_ERR_NO_MEMORY, "out of memory for the operation's state");
    return false;
  }
  op->started = true;
  op->phase = 0;
  op->step_begin = op->step_end = 0;
  return true;
}

static void finish_success(weft_comm_t *c, weft__op_t *op) {
  const weft__memops_t *m = op->mem;
  if (op->redop == WEFT_AVG && op->recvbuf) {
    if (op->coll == WEFT__COLL_ALLREDUCE || op->coll == WEFT__COLL_REDUCE_SCATTER ||
        (op->coll == WEFT__COLL_REDUCE && op->root == c->rank))
      m->finish_avg(m, op->recvbuf, op->count, op->dtype, c->size);
    else if (op->coll == WEFT__COLL_REDUCE_SCATTERV) /* op->count sums every rank's block */
      m->finish_avg(m, op->recvbuf, op->avg_count, op->dtype, c->size);
  }
  if (m->fence) m->fence(m); /* the buffers go back to the caller */
  finish_op(c, op, WEFT_SUCCESS, NULL);
}

static void run_phases(weft_comm_t *c, weft__op_t *op) {
  if (!op->started && !check_start(c, op)) return;
  while (op->step_end < op->sched.nsteps || op->step_begin == op->step_end) {
    if (op->step_end >= op->sched.nsteps) break;
    op->step_begin = op->step_end;
    op->phase = op->sched.steps[op->step_begin].phase;
    uint32_t e = op->step_begin;
    while (e < op->sched.nsteps && op->sched.steps[e].phase == op->phase) e++;
    op->step_end = e;
    int pending = 0;
    for (uint32_t i = op->step_begin; i < e; i++) {
      const weft__step_t *s = &op->sched.steps[i];
      if (s->kind == WEFT__STEP_COPY) {
        if (s->count)
          op->mem->copy(op->mem, buf_ptr(op, s->dst_buf) + s->dst_off * op->esize,
                        buf_ptr(op, s->src_buf) + s->src_off * op->esize, s->count * op->esize);
      } else {
        pending++;
      }
    }
    op->pending = pending;
    if (pending == 0) continue;
    if (op->mem->fence) op->mem->fence(op->mem); /* sends read what copies and reductions wrote */
    op->in_setup = true;
    for (uint32_t i = op->step_begin; i < e; i++) {
      const weft__step_t *s = &op->sched.steps[i];
      op->got[i] = 0;
      op->fin[i] = false;
      if (s->kind != WEFT__STEP_SEND) continue;
      weft__xfer_t *x = &op->xfers[i];
      frame_template(c, op, &x->hdr);
      x->hdr.msg_count = s->count;
      x->len = s->count * op->esize;
      x->buf = at(op, s->src_buf, s->src_off * op->esize, x->len);
      x->user = op;
      x->mem = WEFT__MEM_HOST;
      weft_result_t r = weft__net_post_send(c->net, s->peer, x);
      if (r != WEFT_SUCCESS) {
        char msg[WEFT__ERR_LEN];
        snprintf(msg, sizeof msg, "%s seq %llu: cannot send to rank %d: %s", op_name(op),
                 (unsigned long long)op->seq, s->peer, weft_strerror(r));
        op->in_setup = false;
        fail_op(c, op, r, msg, true);
        return;
      }
      if (!still_running(c, op)) return; /* failed inside a callback */
    }
    op->in_setup = false;
    /* Receives of this phase are now posted: frames parked earlier may match. */
    weft__net_resume(c->net);
    if (!still_running(c, op)) return;
    if (op->pending > 0) return;
  }
  finish_success(c, op);
}

static void step_done(weft_comm_t *c, weft__op_t *op) {
  if (--op->pending == 0 && !op->in_setup) {
    if (op->step_end >= op->sched.nsteps) finish_success(c, op);
    else run_phases(c, op);
  }
}

/* ---- transport callbacks ---------------------------------------------------------------- */

static void on_send_done(void *ctx, weft__xfer_t *x) {
  weft__op_t *op = x->user;
  op->fin[x - op->xfers] = true;
  step_done(ctx, op);
}

static int find_recv_step(weft__op_t *op, int peer) {
  for (uint32_t i = op->step_begin; i < op->step_end; i++) {
    const weft__step_t *s = &op->sched.steps[i];
    if (s->peer == peer && (s->kind == WEFT__STEP_RECV || s->kind == WEFT__STEP_RECV_REDUCE)) return (int)i;
  }
  return -1;
}

/* Compares the peer's descriptor with ours; on a difference writes what differs. */
static bool same_call(const weft__op_t *op, const weft__frame_t *f, char *diff, size_t len) {
  if (f->coll != op->coll)
    snprintf(diff, len, "called %s, this rank called %s", weft__coll_name((weft__coll_t)f->coll), op_name(op));
  else if (f->count != op->count)
    snprintf(diff, len, "count %llu, this rank %llu", (unsigned long long)f->count, (unsigned long long)op->count);
  else if (f->dtype != op->dtype)
    snprintf(diff, len, "dtype %s, this rank %s", weft_dtype_name((weft_dtype_t)f->dtype), weft_dtype_name(op->dtype));
  else if (f->redop != op->redop)
    snprintf(diff, len, "op %s, this rank %s", weft_redop_name((weft_redop_t)f->redop), weft_redop_name(op->redop));
  else if (f->root != op->root && op->coll != WEFT__COLL_SEND && op->coll != WEFT__COLL_RECV)
    snprintf(diff, len, "root %d, this rank root %d", f->root, op->root);
  else if (f->algo != op->algo)
    snprintf(diff, len, "algorithm %s, this rank %s (is WEFT_ALGO the same everywhere?)",
             weft__algo_name((weft__algo_t)f->algo), weft__algo_name(op->algo));
  else
    return true;
  return false;
}

static weft__sink_t sink_for_step(weft__op_t *op, int idx, const weft__frame_t *f, int peer, weft_comm_t *c) {
  const weft__step_t *s = &op->sched.steps[idx];
  uint64_t expected = s->count * op->esize;
  if (f->msg_count != s->count) {
    char msg[WEFT__ERR_LEN];
    snprintf(msg, sizeof msg, "%s seq %llu phase %u: rank %d sends a message of %llu elements where this rank "
             "receives %llu (were the counts the same on every rank?)", op_name(op), (unsigned long long)op->seq,
             op->phase, peer, (unsigned long long)f->msg_count, (unsigned long long)s->count);
    fail_op(c, op, WEFT_ERR_MISMATCH, msg, !is_p2p(op));
    return (weft__sink_t){.kind = WEFT__SINK_DISCARD};
  }
  if (f->offset > expected || f->len > expected - f->offset || (f->len % op->esize) != 0) {
    char msg[WEFT__ERR_LEN];
    snprintf(msg, sizeof msg, "%s seq %llu phase %u: rank %d sent bytes [%llu, +%u) but %llu were expected",
             op_name(op), (unsigned long long)op->seq, op->phase, peer, (unsigned long long)f->offset,
             f->len, (unsigned long long)expected);
    fail_op(c, op, WEFT_ERR_MISMATCH, msg, true);
    return (weft__sink_t){.kind = WEFT__SINK_DISCARD};
  }
  if (s->kind == WEFT__STEP_RECV)
    return (weft__sink_t){.kind = WEFT__SINK_COPY,
                          .dst = at(op, s->dst_buf, s->dst_off * op->esize + f->offset, f->len),
                          .target = &op->sched.steps[idx]};
  return (weft__sink_t){.kind = WEFT__SINK_REDUCE, .target = &op->sched.steps[idx]};
}

/* The operation owning a step pointer handed to the transport. */
static weft__op_t *op_of_step(weft_comm_t *c, void *target, int *idx) {
  weft__op_t *op = c->coll_head;
  for (;;) {
    if (op && op->started && (weft__step_t *)target >= op->sched.steps &&
        (weft__step_t *)target < op->sched.steps + op->sched.nsteps) {
      *idx = (int)((weft__step_t *)target - op->sched.steps);
      return op;
    }
    op = op == c->coll_head ? c->p2p : op ? op->next : NULL;
    if (!op) return NULL;
  }
}

/* A rank that only sends in a collective (a broadcast root, say) finishes it without seeing
 * anyone's descriptor. If a frame or an ABORT for that operation arrives afterwards, the
 * operation was not what every rank called: it already returned success here, so the next
 * collective fails with the reason instead (the caller learns before using more results). */
static void late_mismatch(weft_comm_t *c, int peer, uint64_t seq, const char *what) {
  if (!succeeded_here(c, seq) || c->late_code != WEFT_SUCCESS || seq <= c->late_reported_seq) return;
  c->late_code = WEFT_ERR_MISMATCH;
  c->late_reported_seq = seq; /* several frames may tell of it: report it once */
  snprintf(c->late_msg, sizeof c->late_msg,
           "collective seq %llu completed on this rank, but rank %d %s: the ranks did not call the same "
           "collective and its result here may be wrong", (unsigned long long)seq, peer, what);
}

/* Where a new ABORT from peer goes: a free slot, else one about an operation that already ended
 * here, else the one furthest in the future (the least urgent to lose). */
static weft__pending_abort_t *abort_slot(weft_comm_t *c, int peer) {
  weft__pending_abort_t *s = &c->aborts[(size_t)peer * WEFT__ABORT_SLOTS];
  for (int i = 0; i < WEFT__ABORT_SLOTS; i++)
    if (!s[i].valid) return &s[i];
  for (int i = 0; i < WEFT__ABORT_SLOTS; i++)
    if (s[i].seq <= c->recent_base) return &s[i];
  weft__pending_abort_t *last = &s[0];
  for (int i = 1; i < WEFT__ABORT_SLOTS; i++)
    if (s[i].seq > last->seq) last = &s[i];
  return last;
}

/* ---- point to point: matching (p2p_match.h) ----------------------------------------------- */

static bool recv_takes(const weft__op_t *op, int peer, int32_t tag) {
  return op->coll == WEFT__COLL_RECV && op->started && !op->matched && op->tag == tag &&
         (op->any_source || op->root == peer);
}

/* The earliest posted receive still waiting for a message that one from peer with tag matches. */
static weft__op_t *earliest_recv(weft_comm_t *c, int peer, int32_t tag) {
  weft__op_t *best = NULL;
  for (weft__op_t *op = c->p2p; op; op = op->next)
    if (recv_takes(op, peer, tag) && (!best || op->post_no < best->post_no)) best = op;
  return best;
}

static void bind_message(weft__op_t *op, int peer, uint64_t seq) {
  op->matched = true;
  op->seq = seq;
  op->root = peer;
  op->sched.steps[0].peer = peer;
}

/* Whether a message of count x dtype from peer fits receive op; if not, fails op. */
static bool message_fits(weft_comm_t *c, weft__op_t *op, int peer, uint64_t count, uint8_t dtype) {
  if (count == op->count && dtype == op->dtype) return true;
  char msg[WEFT__ERR_LEN];
  snprintf(msg, sizeof msg, "recv (tag %d) message %llu from %s: it sent %llu x %s, this rank receives %llu x %s",
           op->tag, (unsigned long long)op->seq, who(c, peer).s, (unsigned long long)count,
           weft_dtype_name((weft_dtype_t)dtype), (unsigned long long)op->count, weft_dtype_name(op->dtype));
  finish_op(c, op, WEFT_ERR_MISMATCH, msg);
  return false;
}

/* A buffered message is complete (or broken) and has its receive: copy it there and finish. */
static void deliver_buffered(weft_comm_t *c, weft__p2p_msg_t *x) {
  weft__op_t *op = x->recv;
  if (x->bad) {
    char msg[WEFT__ERR_LEN];
    snprintf(msg, sizeof msg, "recv (tag %d) message %llu from %s: its frames disagree on the message's size",
             op->tag, (unsigned long long)x->seq, who(c, x->peer).s);
    finish_op(c, op, WEFT_ERR_MISMATCH, msg);
    return;
  }
  if (x->bytes) op->mem->copy(op->mem, op->recvbuf, x->buf, x->bytes);
  op->got[0] = x->bytes;
  op->fin[0] = true;
  step_done(c, op); /* finish_op releases x */
}

/* Gives a new (started) receive the first buffered message it matches, if any — before any
 * frame still parked, which belongs to a later message. Whether it took one (op may have
 * finished then). */
static bool match_buffered(weft_comm_t *c, weft__op_t *op) {
  weft__p2p_msg_t *x = weft__p2p_find(&c->p2p_match, op->any_source ? WEFT_ANY_SOURCE : op->root, op->tag);
  if (!x) return false;
  bind_message(op, x->peer, x->seq);
  if (!message_fits(c, op, x->peer, x->count, x->dtype)) {
    weft__p2p_release(&c->p2p_match, x); /* the message went to this receive, which failed */
    return true;
  }
  x->recv = op;
  op->msg = x;
  /* Its one step runs as run_phases would have set it up; the buffer completes it. */
  op->step_end = 1;
  op->pending = 1;
  op->got[0] = 0;
  op->fin[0] = false;
  if (x->complete || x->bad) deliver_buffered(c, x);
  return true;
}

static weft__sink_t buffered_sink(weft_comm_t *c, weft__p2p_msg_t *x, const weft__frame_t *f) {
  if (f->msg_count != x->count || f->dtype != x->dtype || f->offset > x->bytes || f->len > x->bytes - f->offset) {
    x->bad = true;
    if (x->recv) deliver_buffered(c, x);
    c->stale_frames++;
    return (weft__sink_t){.kind = WEFT__SINK_DISCARD};
  }
  return (weft__sink_t){.kind = WEFT__SINK_COPY, .dst = x->buf ? x->buf + f->offset : NULL, .target = x};
}

static void buffered_frame_done(weft_comm_t *c, weft__p2p_msg_t *x, const weft__frame_t *f) {
  x->got += f->len;
  if (x->got < x->bytes) return;
  x->complete = true;
  if (x->recv) deliver_buffered(c, x);
}

static weft__sink_t p2p_header(weft_comm_t *c, int peer, const weft__frame_t *f) {
  weft__p2p_match_t *m = &c->p2p_match;
  uint64_t next = m->next_seq[peer];
  /* Messages from a peer are matched in its order: a later one waits for the earlier ones
   * (their frames may be on another connection). */
  if (f->seq > next) return (weft__sink_t){.kind = WEFT__SINK_PARK};
  if (f->seq < next) { /* a message matched already: its receive, its buffer, or gone */
    for (weft__op_t *op = c->p2p; op; op = op->next)
      if (op->coll == WEFT__COLL_RECV && op->matched && !op->msg && op->root == peer && op->seq == f->seq)
        return sink_for_step(op, 0, f, peer, c);
    weft__p2p_msg_t *x = weft__p2p_lookup(m, peer, f->seq);
    if (x) return buffered_sink(c, x, f);
    c->stale_frames++; /* its receive failed: the rest of it is dropped */
    return (weft__sink_t){.kind = WEFT__SINK_DISCARD};
  }
  size_t esize = weft_dtype_size((weft_dtype_t)f->dtype);
  if (esize == 0) return (weft__sink_t){.kind = WEFT__SINK_CLOSE}; /* not a weft peer's frame */
  weft__op_t *op = earliest_recv(c, peer, f->root);
  if (op) {
    m->next_seq[peer]++;
    bind_message(op, peer, f->seq);
    if (!message_fits(c, op, peer, f->msg_count, f->dtype)) return (weft__sink_t){.kind = WEFT__SINK_DISCARD};
    return sink_for_step(op, 0, f, peer, c);
  }
  /* Nobody receives it yet: buffer it, or wait for receives when the buffer is full. */
  weft__p2p_msg_t *x = weft__p2p_buffer(m, peer, f, esize);
  if (!x) return (weft__sink_t){.kind = WEFT__SINK_PARK};
  m->next_seq[peer]++;
  return buffered_sink(c, x, f);
}

static weft__sink_t on_header(void *ctx, int peer, const weft__frame_t *f) {
  weft_comm_t *c = ctx;
  const weft__sink_t discard = {.kind = WEFT__SINK_DISCARD};
  if (f->epoch != c->epoch || f->src_rank != (uint32_t)peer || f->comm_id != c->comm_id) {
    c->stale_frames++;
    WEFT__DEBUG("dropped a frame from rank %d of epoch %llu (ours %llu)", peer,
                (unsigned long long)f->epoch, (unsigned long long)c->epoch);
    return discard;
  }
  if (f->type == WEFT__FRAME_ABORT) {
    weft__pending_abort_t *a = abort_slot(c, peer);
    a->valid = true;
    a->peer = peer;
    a->seq = f->seq;
    a->code = f->code;
    memset(a->text, 0, sizeof a->text);
    return (weft__sink_t){.kind = WEFT__SINK_COPY, .dst = (uint8_t *)a->text, .target = a};
  }
  if (f->type == WEFT__FRAME_P2P) return p2p_header(c, peer, f);
  /* Collective data. */
  weft__op_t *op = c->coll_head;
  if (f->seq <= c->recent_base) { /* an operation that already ended here */
    char what[200];
    weft__op_t probe = {.coll = (weft__coll_t)f->coll};
    snprintf(what, sizeof what, "sent data for it as %s (count %llu, root %d)", op_name(&probe),
             (unsigned long long)f->count, f->root);
    late_mismatch(c, peer, f->seq, what);
    c->stale_frames++;
    return discard;
  }
  if (!op || !op->started || f->seq > op->seq) return (weft__sink_t){.kind = WEFT__SINK_PARK};
  if (f->seq < op->seq) {
    c->stale_frames++;
    return discard;
  }
  char diff[200];
  if (!same_call(op, f, diff, sizeof diff)) {
    char msg[WEFT__ERR_LEN];
    snprintf(msg, sizeof msg, "mismatch in collective seq %llu: %s %s", (unsigned long long)op->seq, who(c, peer).s, diff);
    fail_op(c, op, WEFT_ERR_MISMATCH, msg, true);
    return discard;
  }
  if (f->phase > op->phase) return (weft__sink_t){.kind = WEFT__SINK_PARK};
  int idx = f->phase == op->phase ? find_recv_step(op, peer) : -1;
  if (idx < 0) {
    char msg[WEFT__ERR_LEN];
    snprintf(msg, sizeof msg, "%s seq %llu: unexpected data from rank %d for phase %u (this rank is in phase %u)",
             op_name(op), (unsigned long long)op->seq, peer, f->phase, op->phase);
    fail_op(c, op, WEFT_ERR_MISMATCH, msg, true);
    return discard;
  }
  return sink_for_step(op, idx, f, peer, c);
}

static void on_reduce(void *ctx, void *target, const weft__frame_t *f, const uint8_t *data) {
  weft_comm_t *c = ctx;
  int idx;
  weft__op_t *op = op_of_step(c, target, &idx);
  if (!op) return;
  if (f->len == 0) return;
  const weft__step_t *s = &op->sched.steps[idx];
  uint8_t *dst = buf_ptr(op, s->dst_buf) + s->dst_off * op->esize + f->offset;
  const uint8_t *src = buf_ptr(op, s->src_buf) + s->src_off * op->esize + f->offset;
  op->mem->reduce(op->mem, dst, src, data, f->len / op->esize, op->dtype, op->redop);
}

static void on_recv_done(void *ctx, void *target, const weft__frame_t *f) {
  weft_comm_t *c = ctx;
  if (f->type == WEFT__FRAME_ABORT) {
    weft__pending_abort_t *a = target;
    weft__op_t *op = c->coll_head;
    if (op && op->started && op->seq == a->seq) {
      char msg[WEFT__ERR_LEN];
      snprintf(msg, sizeof msg, "%s seq %llu aborted by %s: %s", op_name(op),
               (unsigned long long)op->seq, who(c, a->peer).s, a->text);
      a->valid = false;
      /* Pass it on: our peers' copies of the first ABORT may sit behind a parked frame. */
      fail_op(c, op, (weft_result_t)a->code, msg, true);
    } else if (a->seq <= c->recent_base) {
      char what[WEFT__ABORT_TEXT_MAX + 32];
      snprintf(what, sizeof what, "failed it: %s", a->text);
      a->valid = false;
      if (a->code == WEFT_ERR_MISMATCH) late_mismatch(c, a->peer, a->seq, what);
    }
    return;
  }
  if (f->type == WEFT__FRAME_P2P && weft__p2p_owns(&c->p2p_match, target)) {
    buffered_frame_done(c, target, f);
    return;
  }
  int idx;
  weft__op_t *op = op_of_step(c, target, &idx);
  if (!op) return;
  op->got[idx] += f->len;
  const weft__step_t *s = &op->sched.steps[idx];
  /* A zero-length message is one header-only frame; otherwise all bytes must have arrived. */
  if (op->got[idx] == s->count * op->esize) {
    op->fin[idx] = true;
    step_done(c, op);
  }
}

static void on_peer_lost(void *ctx, int peer, bool clean, const char *why) {
  weft__executor_peer_lost(ctx, peer, clean, why);
}

weft__transport_cb_t weft__executor_callbacks(weft_comm_t *comm) {
  return (weft__transport_cb_t){
      .ctx = comm,
      .on_header = on_header,
      .on_reduce = on_reduce,
      .on_recv_done = on_recv_done,
      .on_send_done = on_send_done,
      .on_peer_lost = on_peer_lost,
  };
}

/* ---- per-peer state ---------------------------------------------------------------------- */

void weft__executor_peers_free(weft_comm_t *c) {
  free(c->p2p_send_seq);
  weft__p2p_match_free(&c->p2p_match);
  free(c->peer_gone);
  free(c->aborts);
  c->p2p_send_seq = NULL;
  c->peer_gone = NULL;
  c->aborts = NULL;
}

weft_result_t weft__executor_peers_reset(weft_comm_t *c, int size) {
  weft__executor_peers_free(c);
  c->p2p_send_seq = calloc((size_t)size, sizeof *c->p2p_send_seq);
  weft_result_t mr = weft__p2p_match_init(&c->p2p_match, size, (uint64_t)weft__cfg_get(WEFT__CFG_P2P_BUFFER));
  c->peer_gone = calloc((size_t)size, sizeof *c->peer_gone);
  c->aborts = calloc((size_t)size * WEFT__ABORT_SLOTS, sizeof *c->aborts);
  bool ok = c->p2p_send_seq && mr == WEFT_SUCCESS && c->peer_gone && c->aborts;
  return ok ? WEFT_SUCCESS : WEFT_ERR_NO_MEMORY;
}

/* ---- entry points from the progress loop ------------------------------------------------ */

void weft__executor_submit(weft_comm_t *c, weft__op_t *op) {
  op->next = NULL;
  if (is_p2p(op)) {
    op->next = c->p2p;
    c->p2p = op;
    if (op->coll == WEFT__COLL_RECV) {
      op->post_no = c->p2p_posts++;
      if (!check_start(c, op) || match_buffered(c, op) || fails_for_gone_peer(c, op)) return;
    }
    run_phases(c, op);
    return;
  }
  if (c->coll_tail) c->coll_tail->next = op;
  else c->coll_head = op;
  c->coll_tail = op;
  start_next_coll(c);
}

/* Whether an unfinished step of op still needs peer. */
static bool op_uses_peer(const weft__op_t *op, int peer) {
  for (uint32_t i = op->step_begin; i < op->sched.nsteps; i++)
    if (op->sched.steps[i].peer == peer && !(i < op->step_end && op->fin[i])) return true;
  return false;
}

void weft__executor_peer_lost(weft_comm_t *c, int peer, bool clean, const char *why) {
  if (c->peer_gone[peer]) return;
  c->peer_gone[peer] = true;
  char msg[WEFT__ERR_LEN];
  weft_comm_t *ctx = c->ctx;
  if (!clean) {
    int world = weft__world_rank(c, peer);
    if (c == ctx)
      snprintf(msg, sizeof msg, "lost rank %d (epoch %llu): %s", peer, (unsigned long long)c->epoch, why);
    else
      snprintf(msg, sizeof msg, "lost rank %d of communicator %016llx (rank %d of the root, epoch %llu): %s", peer,
               (unsigned long long)c->comm_id, world, (unsigned long long)c->epoch, why);
    bool first = weft__ctx_revoke(ctx, WEFT_ERR_PEER_LOST, msg);
    /* Tell the coordinator, so ranks that do not talk to `peer` learn it too; not when the epoch
     * was already revoked (peers then close connections because of that, not because they died). */
    if (first && strncmp(why, "coordinator:", 12) != 0) weft__membership_report(ctx, world, why);
    /* The epoch is the context's: every communicator of it fails, and none reads from the lost
     * member again (data-plane fencing). */
    weft__ctx_fail_all(ctx, WEFT_ERR_PEER_LOST, msg, true);
    weft__ctx_drop_member(ctx, world);
    return;
  }
  snprintf(msg, sizeof msg, "%s left the communicator (weft_comm_destroy) while this rank still needed it", who(c, peer).s);
  weft__op_t *op = c->coll_head;
  if (op && op->started && op_uses_peer(op, peer)) fail_op(c, op, WEFT_ERR_PEER_LOST, msg, false);
  for (op = c->p2p; op;) {
    weft__op_t *next = op->next;
    if (op->root == peer) finish_op(c, op, WEFT_ERR_PEER_LOST, msg);
    op = next;
  }
}

void weft__executor_fail_all(weft_comm_t *c, weft_result_t code, const char *msg, bool epoch_over) {
  /* Peers learn the reason from us (an ABORT for the running collective) rather than only
   * seeing us give up and leave, which they could not tell from a crash of ours. */
  weft__op_t *cur = c->coll_head;
  bool running = cur && cur->started;
  if (c->net && (running || epoch_over)) {
    weft__frame_t f;
    if (running) {
      frame_template(c, cur, &f);
    } else {
      /* Between collectives, the epoch revoked here: this rank will never run the next
       * collective of this epoch, which its peers may already be running. Without this ABORT
       * they would learn only that we left (our BYE), not why -- e.g. that we lost the
       * coordinator. */
      memset(&f, 0, sizeof f);
      f.src_rank = (uint32_t)c->rank;
      f.epoch = c->epoch;
      f.seq = c->recent_base + 1;
    }
    f.type = WEFT__FRAME_ABORT;
    f.code = (uint32_t)code;
    f.len = (uint32_t)WEFT__MIN(strlen(msg), (size_t)WEFT__ABORT_TEXT_MAX);
    weft__net_broadcast_control(c->net, &f, msg);
  }
  if (c->net) weft__net_cancel_all(c->net);
  while (c->p2p) finish_op(c, c->p2p, code, msg);
  weft__op_t *op = c->coll_head;
  if (op && op->started) {
    char m[WEFT__ERR_LEN];
    snprintf(m, sizeof m, "%s seq %llu (phase %u): %s", op_name(op), (unsigned long long)op->seq, op->phase, msg);
    finish_op(c, op, code, m); /* starts the next one, which sees the revoked state */
  }
}

double weft__executor_next_deadline(weft_comm_t *c) {
  double d = 1e300;
  if (c->coll_head && c->coll_head->started) d = c->coll_head->deadline;
  for (weft__op_t *op = c->p2p; op; op = op->next) d = WEFT__MIN(d, op->deadline);
  return d;
}

static void timeout_op(weft_comm_t *c, weft__op_t *op) {
  char waiting[256] = "";
  size_t w = 0;
  for (uint32_t i = op->step_begin; i < op->step_end && w < sizeof waiting - 48; i++) {
    const weft__step_t *s = &op->sched.steps[i];
    if (s->kind == WEFT__STEP_COPY) continue;
    if (op->fin[i]) continue;
    w += (size_t)snprintf(waiting + w, sizeof waiting - w, "%s rank %d (%s %llu/%llu bytes)", w ? "," : "", s->peer,
                          s->kind == WEFT__STEP_SEND ? "send" : "recv",
                          (unsigned long long)(s->kind == WEFT__STEP_SEND ? 0 : op->got[i]),
                          (unsigned long long)(s->count * op->esize));
  }
  char msg[WEFT__ERR_LEN];
  if (op->coll == WEFT__COLL_RECV && !op->matched)
    snprintf(msg, sizeof msg, "recv (tag %d) from %s timed out after %.1f s: no message with that tag came "
             "(%llu bytes of others are held for receives not posted)", op->tag,
             op->any_source ? "any rank" : who(c, op->root).s, op->timeout_s, (unsigned long long)c->p2p_match.buffered);
  else
    snprintf(msg, sizeof msg, "%s seq %llu timed out after %.1f s in phase %u waiting for%s", op_name(op),
             (unsigned long long)op->seq, op->timeout_s, op->phase, w ? waiting : " nothing (internal)");
  /* The peers' state is unknown: the epoch cannot be trusted any more, here -- and so nowhere:
   * the coordinator hears it (no suspect), checks reachability, and evicts someone or ends the
   * epoch for every member, so no rank stays alone in a revoked view. */
  if (weft__ctx_revoke(c->ctx, WEFT_ERR_TIMEOUT, msg)) weft__membership_report(c->ctx, -1, msg);
  fail_op(c, op, WEFT_ERR_TIMEOUT, msg, true);
}

void weft__executor_check_deadlines(weft_comm_t *c, double now) {
  if (c->coll_head && c->coll_head->started && now >= c->coll_head->deadline) timeout_op(c, c->coll_head);
  /* A timeout ends every running operation (they share the connections): rescan after one. */
  for (weft__op_t *op = c->p2p; op; op = op->next)
    if (now >= op->deadline) {
      timeout_op(c, op);
      break;
    }
}
