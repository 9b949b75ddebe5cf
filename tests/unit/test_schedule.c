/* Schedules (lib/algo/{schedule,ring,tree,select}.c) run on an in-memory simulator of n ranks.
 *
 * The simulator follows the executor contract of lib/algo/schedule.h: each rank runs its phases
 * in order; entering a phase it performs the COPY steps in list order, then its SENDs (the data
 * is captured at that moment into a message keyed by (src, dst, phase)), and it leaves the phase
 * once every RECV / RECV_REDUCE of the phase found its message. Sends never block, so ranks run
 * ahead of each other as far as their receives allow. A round with no progress is a deadlock.
 * Since a rank's behaviour depends only on the messages it receives, one interleaving suffices.
 *
 * Besides exact results against a serial reference, every schedule is checked for the header's
 * invariants (one send / one receive per peer per phase, no send or reduce source overlapping a
 * receive destination within a phase, measured on the real memory so in-place aliasing counts),
 * buffer bounds (TMP within tmp_count), SEND never written, every send matched by one receive of
 * equal count, and causality (who has heard from whom). The simulator reduces with its own code
 * (int64 sum/prod/max, double sum) and does not use lib/algo/reduce.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "algo/schedule.h"

typedef enum { OP_SUM, OP_PROD, OP_MAX, OP_FSUM } sim_op_t;

typedef struct {
  weft__coll_t coll;
  weft__algo_t algo;
  int n, root;
  uint64_t count, chunk;
  bool in_place;
  sim_op_t op;
  int vpat; /* v-variants: which per-rank count pattern (vcount) */
} sim_case_t;

typedef struct {
  int src;
  uint32_t phase;
  uint64_t count;
  uint64_t *data;
  uint64_t heard;
} sim_msg_t;

typedef struct {
  weft__sched_t sched;
  uint64_t *buf[4]; /* indexed by weft__buf_t */
  uint64_t len[4];
  bool recv_forbidden; /* REDUCE off the root: RECV must not be touched */
  uint64_t *mem_a, *mem_b; /* allocations: SEND (or the in-place region) and RECV */
  uint64_t len_a, len_b;
  uint64_t *exp_a, *exp_b; /* expected final contents of mem_a / mem_b */
  uint64_t *tmp;
  bool *done; /* per step: receive completed */
  uint32_t cur, end; /* steps of the current phase: [cur, end) */
  bool started, finished;
  uint64_t heard; /* bit q: this rank's state depends on rank q's entry */
  sim_msg_t *inbox;
  size_t ninbox, capinbox;
  size_t *cnt, *dsp, *rcnt, *rdsp; /* v-variants: this rank's arrays (n entries each) */
} sim_rank_t;

typedef struct {
  sim_case_t c;
  sim_rank_t *ranks;
  uint64_t reduce_ops; /* element-wise reductions performed, all ranks together */
  char ctx[160];
} sim_t;

static void sim_fail(const sim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_fail(const sim_t *s, const char *fmt, ...) {
  char msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fail_msg("%s: %s", s->ctx, msg);
}

/* ---- values and the serial reference ---- */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t dbl_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof(u));
  return u;
}

static double bits_dbl(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof(d));
  return d;
}

/* Contribution of rank r at element i. Sum values put each rank in its own bit, so a lost or
 * doubled contribution cannot cancel out. Doubles carry full random mantissas over a few binades
 * of both signs: summing 3 of them in another order changes the result's bits for a quarter of
 * the elements, 16 of them for three quarters, so a rank that associates differently shows. */
static uint64_t val(sim_op_t op, int r, uint64_t i) {
  switch (op) {
  case OP_SUM: return (uint64_t)((1LL << r) + ((int64_t)i << 20));
  case OP_PROD: return (uint64_t)(int64_t)(1 + (r + (int)(i % 7)) % 3);
  case OP_MAX: return (uint64_t)(int64_t)((r * 7919 + (int64_t)i * 104729) % 1009);
  case OP_FSUM: {
    uint64_t h = mix(((uint64_t)r << 32) ^ i ^ 0x9e3779b97f4a7c15ULL);
    double m = 1.0 + (double)(h >> 12) / 4503599627370496.0; /* full 52-bit mantissa */
    int ex = (int)(mix(h) % 9) - 4;
    return dbl_bits((mix(h ^ 1) & 1 ? -m : m) * ldexp(1.0, ex));
  }
  }
  return 0;
}

static uint64_t apply_op(sim_op_t op, uint64_t a, uint64_t b) {
  int64_t x = (int64_t)a, y = (int64_t)b;
  switch (op) {
  case OP_SUM: return (uint64_t)(x + y);
  case OP_PROD: return (uint64_t)(x * y);
  case OP_MAX: return (uint64_t)(x > y ? x : y);
  case OP_FSUM: return dbl_bits(bits_dbl(a) + bits_dbl(b));
  }
  return 0;
}

static uint64_t reference(sim_op_t op, int n, uint64_t i) {
  uint64_t acc = val(op, 0, i);
  for (int r = 1; r < n; r++) acc = apply_op(op, acc, val(op, r, i));
  return acc;
}

/* ---- setup ---- */

static void *xmalloc(uint64_t elems) {
  void *p = malloc((size_t)(elems ? elems : 1) * sizeof(uint64_t));
  assert_non_null(p);
  return p;
}

static uint64_t *filled(uint64_t elems, int byte) {
  uint64_t *p = xmalloc(elems);
  memset(p, byte, (size_t)elems * sizeof(uint64_t));
  return p;
}

static uint64_t *dup_of(const uint64_t *src, uint64_t elems) {
  uint64_t *p = xmalloc(elems);
  if (elems) memcpy(p, src, (size_t)elems * sizeof(uint64_t));
  return p;
}

static const int GARBAGE = 0x5a, TMP_GARBAGE = 0xa5;

static void setup_rank_more(sim_t *s, int r);
static bool is_more(weft__coll_t coll) { return coll >= WEFT__COLL_ALLTOALL; }

/* Lays out one rank's buffers as the executor would map them, with the expected final state. */
static void setup_rank(sim_t *s, int r) {
  const sim_case_t *c = &s->c;
  sim_rank_t *k = &s->ranks[r];
  if (is_more(c->coll)) {
    setup_rank_more(s, r);
    goto common;
  }
  uint64_t n = (uint64_t)c->n, cnt = c->count;
  sim_op_t op = c->op;
  bool is_root = r == c->root;
  uint64_t send_len = 0, recv_len = 0;
  switch (c->coll) {
  case WEFT__COLL_ALLREDUCE: case WEFT__COLL_BROADCAST: case WEFT__COLL_REDUCE:
    send_len = recv_len = cnt; break;
  case WEFT__COLL_ALLGATHER: send_len = cnt; recv_len = n * cnt; break;
  case WEFT__COLL_REDUCE_SCATTER: send_len = n * cnt; recv_len = cnt; break;
  default: break;
  }

  /* Expected output of this rank (recv_len elements), NULL where RECV must stay as it was. */
  uint64_t *out = NULL;
  if (c->coll == WEFT__COLL_ALLREDUCE || (c->coll == WEFT__COLL_REDUCE && is_root)) {
    out = xmalloc(cnt);
    for (uint64_t i = 0; i < cnt; i++) out[i] = reference(op, c->n, i);
  } else if (c->coll == WEFT__COLL_ALLGATHER) {
    out = xmalloc(n * cnt);
    for (uint64_t b = 0; b < n; b++)
      for (uint64_t i = 0; i < cnt; i++) out[b * cnt + i] = val(op, (int)b, i);
  } else if (c->coll == WEFT__COLL_REDUCE_SCATTER) {
    out = xmalloc(cnt);
    for (uint64_t i = 0; i < cnt; i++) out[i] = reference(op, c->n, (uint64_t)r * cnt + i);
  } else if (c->coll == WEFT__COLL_BROADCAST) {
    out = xmalloc(cnt);
    for (uint64_t i = 0; i < cnt; i++) out[i] = val(op, c->root, i);
  }

  if (c->coll == WEFT__COLL_BARRIER) {
    /* no buffers at all */
  } else if (!c->in_place) {
    if (!(c->coll == WEFT__COLL_BROADCAST && !is_root)) {
      k->len_a = send_len;
      k->mem_a = xmalloc(send_len);
      for (uint64_t i = 0; i < send_len; i++) k->mem_a[i] = val(op, r, i);
      k->exp_a = dup_of(k->mem_a, send_len);
    }
    k->len_b = recv_len;
    k->mem_b = filled(recv_len, GARBAGE);
    k->exp_b = out ? dup_of(out, recv_len) : dup_of(k->mem_b, recv_len);
    k->buf[WEFT__BUF_SEND] = k->mem_a;
    k->len[WEFT__BUF_SEND] = k->len_a;
    k->buf[WEFT__BUF_RECV] = k->mem_b;
    k->len[WEFT__BUF_RECV] = k->len_b;
    k->recv_forbidden = c->coll == WEFT__COLL_REDUCE && !is_root;
  } else if (c->coll == WEFT__COLL_ALLGATHER) {
    k->len_a = n * cnt;
    k->mem_a = filled(k->len_a, GARBAGE);
    for (uint64_t i = 0; i < cnt; i++) k->mem_a[(uint64_t)r * cnt + i] = val(op, r, i);
    k->exp_a = dup_of(out, k->len_a);
    k->buf[WEFT__BUF_SEND] = k->mem_a + (uint64_t)r * cnt;
    k->len[WEFT__BUF_SEND] = cnt;
    k->buf[WEFT__BUF_RECV] = k->mem_a;
    k->len[WEFT__BUF_RECV] = k->len_a;
  } else if (c->coll == WEFT__COLL_REDUCE_SCATTER) {
    k->len_a = n * cnt;
    k->mem_a = xmalloc(k->len_a);
    for (uint64_t i = 0; i < k->len_a; i++) k->mem_a[i] = val(op, r, i);
    k->exp_a = dup_of(k->mem_a, k->len_a); /* only block r is overwritten */
    if (cnt) memcpy(k->exp_a + (uint64_t)r * cnt, out, (size_t)cnt * sizeof(uint64_t));
    k->buf[WEFT__BUF_SEND] = k->mem_a;
    k->len[WEFT__BUF_SEND] = k->len_a;
    k->buf[WEFT__BUF_RECV] = k->mem_a + (uint64_t)r * cnt;
    k->len[WEFT__BUF_RECV] = cnt;
  } else { /* allreduce, broadcast, reduce: one pointer */
    k->len_a = cnt;
    if (c->coll == WEFT__COLL_BROADCAST && !is_root) {
      k->mem_a = filled(cnt, GARBAGE);
    } else {
      k->mem_a = xmalloc(cnt);
      for (uint64_t i = 0; i < cnt; i++) k->mem_a[i] = val(op, r, i);
    }
    k->exp_a = out ? dup_of(out, cnt) : dup_of(k->mem_a, cnt);
    k->buf[WEFT__BUF_SEND] = k->buf[WEFT__BUF_RECV] = k->mem_a;
    k->len[WEFT__BUF_SEND] = k->len[WEFT__BUF_RECV] = cnt;
  }
  free(out);

common:
  k->tmp = filled(k->sched.tmp_count, TMP_GARBAGE);
  k->buf[WEFT__BUF_TMP] = k->tmp;
  k->len[WEFT__BUF_TMP] = k->sched.tmp_count;
  k->done = calloc(k->sched.nsteps ? k->sched.nsteps : 1, sizeof(bool));
  assert_non_null(k->done);
  k->heard = 1ULL << r;
}

#include "sim_more.h"

static sim_t *sim_create(const sim_case_t *c) {
  sim_t *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  s->c = *c;
  snprintf(s->ctx, sizeof(s->ctx), "%s/%s n=%d count=%llu in_place=%d root=%d chunk=%llu op=%d vpat=%d",
           weft__coll_name(c->coll), weft__algo_name(c->algo), c->n, (unsigned long long)c->count,
           c->in_place, c->root, (unsigned long long)c->chunk, (int)c->op, c->vpat);
  s->ranks = calloc((size_t)c->n, sizeof(*s->ranks));
  assert_non_null(s->ranks);
  for (int r = 0; r < c->n; r++) {
    if (is_more(c->coll)) layout_more(s, r);
    sim_rank_t *k = &s->ranks[r];
    weft__sched_args_t a = {.coll = c->coll, .algo = c->algo, .rank = r, .size = c->n,
                            .root = c->root, .count = c->count, .in_place = c->in_place,
                            .chunk_elems = c->chunk, .counts = k->cnt, .displs = k->dsp,
                            .rcounts = k->rcnt, .rdispls = k->rdsp};
    weft_result_t rc = weft__sched_build(&a, &s->ranks[r].sched);
    if (rc != WEFT_SUCCESS) sim_fail(s, "rank %d: build failed (%d)", r, (int)rc);
    setup_rank(s, r);
  }
  return s;
}

static void sim_destroy(sim_t *s) {
  for (int r = 0; r < s->c.n; r++) {
    sim_rank_t *k = &s->ranks[r];
    weft__sched_free(&k->sched);
    free(k->mem_a);
    free(k->mem_b);
    free(k->exp_a);
    free(k->exp_b);
    free(k->tmp);
    free(k->done);
    free(k->cnt), free(k->dsp), free(k->rcnt), free(k->rdsp);
    for (size_t i = 0; i < k->ninbox; i++) free(k->inbox[i].data);
    free(k->inbox);
  }
  free(s->ranks);
  free(s);
}

/* ---- static checks ---- */

typedef struct {
  uintptr_t lo, hi; /* bytes; empty when lo == hi */
} span_t;

static span_t span_of(const sim_rank_t *k, uint8_t buf, uint64_t off, uint64_t count) {
  span_t sp = {0, 0};
  if (count == 0 || buf == WEFT__BUF_NONE) return sp;
  sp.lo = (uintptr_t)(k->buf[buf] + off);
  sp.hi = sp.lo + (uintptr_t)count * sizeof(uint64_t);
  return sp;
}

static bool overlap(span_t a, span_t b) {
  return a.lo < a.hi && b.lo < b.hi && a.lo < b.hi && b.lo < a.hi;
}

static bool same(span_t a, span_t b) { return a.lo == b.lo && a.hi == b.hi; }

static void check_range(const sim_t *s, int r, uint32_t i, uint8_t buf, uint64_t off,
                        uint64_t count, bool writes) {
  const sim_rank_t *k = &s->ranks[r];
  if (count == 0) return;
  if (buf != WEFT__BUF_SEND && buf != WEFT__BUF_RECV && buf != WEFT__BUF_TMP)
    sim_fail(s, "rank %d step %u: buffer %d with %llu elements", r, i, buf,
             (unsigned long long)count);
  if (writes && buf == WEFT__BUF_SEND) sim_fail(s, "rank %d step %u writes SEND", r, i);
  if (buf == WEFT__BUF_RECV && k->recv_forbidden)
    sim_fail(s, "rank %d step %u touches RECV off the root", r, i);
  if (off > k->len[buf] || count > k->len[buf] - off)
    sim_fail(s, "rank %d step %u: [%llu, +%llu) outside buffer %d of %llu", r, i,
             (unsigned long long)off, (unsigned long long)count, buf,
             (unsigned long long)k->len[buf]);
}

static void check_phase(const sim_t *s, int r, uint32_t b, uint32_t e) {
  const sim_rank_t *k = &s->ranks[r];
  const weft__step_t *st = k->sched.steps;
  for (uint32_t i = b; i < e; i++) {
    bool i_recv = st[i].kind == WEFT__STEP_RECV || st[i].kind == WEFT__STEP_RECV_REDUCE;
    span_t i_src = span_of(k, st[i].src_buf, st[i].src_off, st[i].count);
    span_t i_dst = span_of(k, st[i].dst_buf, st[i].dst_off, st[i].count);
    if (st[i].kind == WEFT__STEP_COPY && overlap(i_src, i_dst))
      sim_fail(s, "rank %d step %u: copy onto itself", r, i);
    if (st[i].kind == WEFT__STEP_RECV_REDUCE && overlap(i_src, i_dst) && !same(i_src, i_dst))
      sim_fail(s, "rank %d step %u: reduce source partially overlaps its destination", r, i);
    for (uint32_t j = b; j < e; j++) {
      if (j == i) continue;
      bool j_recv = st[j].kind == WEFT__STEP_RECV || st[j].kind == WEFT__STEP_RECV_REDUCE;
      if (i_recv && j_recv && st[i].peer == st[j].peer)
        sim_fail(s, "rank %d phase %u: two receives from %d", r, st[i].phase, st[i].peer);
      if (st[i].kind == WEFT__STEP_SEND && st[j].kind == WEFT__STEP_SEND &&
          st[i].peer == st[j].peer)
        sim_fail(s, "rank %d phase %u: two sends to %d", r, st[i].phase, st[i].peer);
      if (!j_recv) continue;
      span_t j_dst = span_of(k, st[j].dst_buf, st[j].dst_off, st[j].count);
      /* Sends and reductions read while receives write; copies read before them (COPY steps
       * run first), but a copy whose result a receive then overwrites is a bug. */
      bool reads_concurrently = st[i].kind != WEFT__STEP_COPY;
      if ((reads_concurrently && overlap(i_src, j_dst)) || overlap(i_dst, j_dst))
        sim_fail(s, "rank %d phase %u: step %u overlaps the destination of receive %u", r,
                 st[i].phase, i, j);
    }
  }
}

static void check_static(const sim_t *s, int r) {
  const sim_rank_t *k = &s->ranks[r];
  const weft__sched_t *sc = &k->sched;
  uint32_t expect_phases = sc->nsteps ? sc->steps[sc->nsteps - 1].phase + 1 : 0;
  if (sc->nphases != expect_phases)
    sim_fail(s, "rank %d: nphases %u, last phase + 1 is %u", r, sc->nphases, expect_phases);
  for (uint32_t i = 0; i < sc->nsteps; i++) {
    const weft__step_t *st = &sc->steps[i];
    if (i > 0 && st->phase < sc->steps[i - 1].phase) sim_fail(s, "rank %d: unsorted steps", r);
    if (s->c.coll == WEFT__COLL_BARRIER && st->count != 0)
      sim_fail(s, "rank %d: barrier step with data", r);
    switch (st->kind) {
    case WEFT__STEP_SEND:
      check_range(s, r, i, st->src_buf, st->src_off, st->count, false);
      break;
    case WEFT__STEP_RECV:
      check_range(s, r, i, st->dst_buf, st->dst_off, st->count, true);
      break;
    case WEFT__STEP_RECV_REDUCE:
    case WEFT__STEP_COPY:
      check_range(s, r, i, st->src_buf, st->src_off, st->count, false);
      check_range(s, r, i, st->dst_buf, st->dst_off, st->count, true);
      break;
    default: sim_fail(s, "rank %d step %u: bad kind %d", r, i, st->kind);
    }
    if (st->kind == WEFT__STEP_COPY ? st->peer != -1
                                    : (st->peer < 0 || st->peer >= s->c.n || st->peer == r))
      sim_fail(s, "rank %d step %u: bad peer %d", r, i, st->peer);
  }
  for (uint32_t b = 0, e; b < sc->nsteps; b = e) {
    for (e = b; e < sc->nsteps && sc->steps[e].phase == sc->steps[b].phase; e++) {}
    check_phase(s, r, b, e);
  }
}

/* ---- execution ---- */

static void post(sim_t *s, int from, const weft__step_t *st) {
  sim_rank_t *src = &s->ranks[from], *dst = &s->ranks[st->peer];
  for (size_t i = 0; i < dst->ninbox; i++)
    if (dst->inbox[i].src == from && dst->inbox[i].phase == st->phase)
      sim_fail(s, "duplicate message %d->%d phase %u", from, st->peer, st->phase);
  if (dst->ninbox == dst->capinbox) {
    dst->capinbox = dst->capinbox ? 2 * dst->capinbox : 8;
    dst->inbox = realloc(dst->inbox, dst->capinbox * sizeof(*dst->inbox));
    assert_non_null(dst->inbox);
  }
  sim_msg_t *m = &dst->inbox[dst->ninbox++];
  m->src = from;
  m->phase = st->phase;
  m->count = st->count;
  m->heard = src->heard;
  m->data = xmalloc(st->count);
  if (st->count) memcpy(m->data, src->buf[st->src_buf] + st->src_off, st->count * sizeof(uint64_t));
}

/* Runs as far as the rank can go without new messages; returns whether anything happened. */
static bool advance(sim_t *s, int r) {
  sim_rank_t *k = &s->ranks[r];
  const weft__step_t *st = k->sched.steps;
  bool progressed = false;
  while (!k->finished) {
    if (k->cur == k->sched.nsteps) {
      k->finished = true;
      return true;
    }
    if (!k->started) {
      for (k->end = k->cur; k->end < k->sched.nsteps && st[k->end].phase == st[k->cur].phase;)
        k->end++;
      for (uint32_t i = k->cur; i < k->end; i++)
        if (st[i].kind == WEFT__STEP_COPY && st[i].count)
          memcpy(k->buf[st[i].dst_buf] + st[i].dst_off, k->buf[st[i].src_buf] + st[i].src_off,
                 st[i].count * sizeof(uint64_t));
      for (uint32_t i = k->cur; i < k->end; i++)
        if (st[i].kind == WEFT__STEP_SEND) post(s, r, &st[i]);
      k->started = progressed = true;
    }
    bool pending = false;
    for (uint32_t i = k->cur; i < k->end; i++) {
      if ((st[i].kind != WEFT__STEP_RECV && st[i].kind != WEFT__STEP_RECV_REDUCE) || k->done[i])
        continue;
      size_t m;
      for (m = 0; m < k->ninbox; m++)
        if (k->inbox[m].src == st[i].peer && k->inbox[m].phase == st[i].phase) break;
      if (m == k->ninbox) {
        pending = true;
        continue;
      }
      sim_msg_t msg = k->inbox[m];
      k->inbox[m] = k->inbox[--k->ninbox];
      if (msg.count != st[i].count)
        sim_fail(s, "%d->%d phase %u: sent %llu elements, receive expects %llu", msg.src, r,
                 msg.phase, (unsigned long long)msg.count, (unsigned long long)st[i].count);
      uint64_t *dst = k->buf[st[i].dst_buf] + st[i].dst_off;
      if (st[i].kind == WEFT__STEP_RECV) {
        if (msg.count) memcpy(dst, msg.data, msg.count * sizeof(uint64_t));
      } else {
        const uint64_t *src = k->buf[st[i].src_buf] + st[i].src_off;
        for (uint64_t j = 0; j < msg.count; j++) dst[j] = apply_op(s->c.op, src[j], msg.data[j]);
        s->reduce_ops += msg.count;
      }
      free(msg.data);
      k->heard |= msg.heard;
      k->done[i] = true;
      progressed = true;
    }
    if (pending) return progressed;
    k->cur = k->end;
    k->started = false;
  }
  return progressed;
}

static void sim_run(sim_t *s) {
  for (int r = 0; r < s->c.n; r++) check_static(s, r);
  for (;;) {
    bool progressed = false, all_done = true;
    for (int r = 0; r < s->c.n; r++) {
      progressed |= advance(s, r);
      all_done &= s->ranks[r].finished;
    }
    if (all_done) break;
    if (!progressed) {
      for (int r = 0; r < s->c.n; r++)
        if (!s->ranks[r].finished)
          sim_fail(s, "deadlock: rank %d stuck in phase %u", r,
                   s->ranks[r].sched.steps[s->ranks[r].cur].phase);
    }
  }
  for (int r = 0; r < s->c.n; r++)
    if (s->ranks[r].ninbox)
      sim_fail(s, "unmatched message %d->%d phase %u", s->ranks[r].inbox[0].src, r,
               s->ranks[r].inbox[0].phase);
}

static void check_mem(const sim_t *s, int r, const char *what, const uint64_t *got,
                      const uint64_t *want, uint64_t len) {
  for (uint64_t i = 0; i < len; i++)
    if (got[i] != want[i])
      sim_fail(s, "rank %d %s[%llu] = %lld, expected %lld", r, what, (unsigned long long)i,
               (long long)got[i], (long long)want[i]);
}

static void sim_verify(const sim_t *s) {
  const sim_case_t *c = &s->c;
  uint64_t all = c->n >= 64 ? ~0ULL : (1ULL << c->n) - 1;
  for (int r = 0; r < c->n; r++) {
    const sim_rank_t *k = &s->ranks[r];
    check_mem(s, r, c->in_place ? "inplace" : "send", k->mem_a, k->exp_a, k->mem_a ? k->len_a : 0);
    check_mem(s, r, "recv", k->mem_b, k->exp_b, k->mem_b ? k->len_b : 0);
    uint64_t need = 0;
    switch (c->coll) {
    case WEFT__COLL_BROADCAST: case WEFT__COLL_SCATTER: need = 1ULL << c->root; break;
    case WEFT__COLL_REDUCE: case WEFT__COLL_GATHER: need = r == c->root ? all : 0; break;
    default: need = all; break;
    }
    if ((k->heard & need) != need)
      sim_fail(s, "rank %d finished without hearing from ranks %#llx", r,
               (unsigned long long)(need & ~k->heard));
  }
}

/* Runs and checks one case; returns the number of element reductions performed. */
static uint64_t run_case(const sim_case_t *c) {
  sim_t *s = sim_create(c);
  sim_run(s);
  sim_verify(s);
  uint64_t ops = s->reduce_ops;
  sim_destroy(s);
  return ops;
}

/* ---- tests ---- */

static const int SIZES[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16};
static const weft__coll_t COLLS[] = {WEFT__COLL_ALLREDUCE, WEFT__COLL_ALLGATHER,
                                     WEFT__COLL_REDUCE_SCATTER, WEFT__COLL_BROADCAST,
                                     WEFT__COLL_REDUCE, WEFT__COLL_BARRIER};
static const weft__algo_t ALGOS[] = {WEFT__ALGO_RING, WEFT__ALGO_TREE};

static int counts_for(int n, uint64_t *out) {
  const uint64_t base[] = {0, 1, 2, 3, 7, (uint64_t)n - 1, (uint64_t)n, (uint64_t)n + 1, 17, 1000};
  int m = 0;
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(base); i++) {
    bool seen = false;
    for (int j = 0; j < m; j++) seen |= out[j] == base[i];
    if (!seen) out[m++] = base[i];
  }
  return m;
}

static int roots_for(weft__coll_t coll, int n, int *out) {
  if (coll != WEFT__COLL_BROADCAST && coll != WEFT__COLL_REDUCE) {
    out[0] = 0;
    return 1;
  }
  const int base[] = {0, n - 1, n / 2};
  int m = 0;
  for (int i = 0; i < 3; i++) {
    bool seen = false;
    for (int j = 0; j < m; j++) seen |= out[j] == base[i];
    if (!seen) out[m++] = base[i];
  }
  return m;
}

/* Whether every output element must be reduced exactly n-1 times over all ranks together. */
static bool reduces_n_minus_1(weft__coll_t coll, weft__algo_t algo) {
  if (coll == WEFT__COLL_REDUCE_SCATTER || coll == WEFT__COLL_REDUCE) return true;
  return coll == WEFT__COLL_ALLREDUCE && algo == WEFT__ALGO_RING;
}

static void sweep(sim_op_t op, bool reducing_only, const uint64_t *fixed_counts, int nfixed) {
  for (size_t ci = 0; ci < WEFT__ARRAY_SIZE(COLLS); ci++) {
    weft__coll_t coll = COLLS[ci];
    bool reducing = coll == WEFT__COLL_ALLREDUCE || coll == WEFT__COLL_REDUCE_SCATTER ||
                    coll == WEFT__COLL_REDUCE;
    if (reducing_only && !reducing) continue;
    for (size_t ai = 0; ai < WEFT__ARRAY_SIZE(ALGOS); ai++)
      for (size_t ni = 0; ni < WEFT__ARRAY_SIZE(SIZES); ni++) {
        int n = SIZES[ni];
        uint64_t counts[16];
        int ncounts = fixed_counts ? nfixed : counts_for(n, counts);
        if (fixed_counts) memcpy(counts, fixed_counts, (size_t)nfixed * sizeof(*counts));
        if (coll == WEFT__COLL_BARRIER) ncounts = 1, counts[0] = 0;
        int roots[3], nroots = roots_for(coll, n, roots);
        const uint64_t chunks_bcast[] = {0, 1, 4, 333};
        const uint64_t chunks_other[] = {0, 5};
        const uint64_t *chunks = coll == WEFT__COLL_BROADCAST ? chunks_bcast : chunks_other;
        int nchunks = coll == WEFT__COLL_BROADCAST ? 4 : 2;
        for (int cc = 0; cc < ncounts; cc++)
          for (int ip = 0; ip < 2; ip++)
            for (int ri = 0; ri < nroots; ri++)
              for (int hi = 0; hi < nchunks; hi++) {
                sim_case_t c = {.coll = coll, .algo = ALGOS[ai], .n = n, .root = roots[ri],
                                .count = counts[cc], .chunk = chunks[hi], .in_place = ip,
                                .op = op};
                uint64_t ops = run_case(&c);
                if (reduces_n_minus_1(coll, c.algo)) {
                  uint64_t outputs = coll == WEFT__COLL_REDUCE_SCATTER ? (uint64_t)n * c.count
                                                                       : c.count;
                  if (ops != (uint64_t)(n - 1) * outputs)
                    fail_msg("%s/%s n=%d count=%llu: %llu reductions, expected %llu",
                             weft__coll_name(coll), weft__algo_name(c.algo), n,
                             (unsigned long long)c.count, (unsigned long long)ops,
                             (unsigned long long)((uint64_t)(n - 1) * outputs));
                }
              }
      }
  }
}

static void test_sweep_sum(void **state) {
  (void)state;
  sweep(OP_SUM, false, NULL, 0);
}

/* The collectives of alltoall.c, gatherv.c and rooted.c (layouts in sim_more.h): every size
 * 1..16, both algorithm choices, counts from 0 up, in and out of place, every count pattern
 * (uniform, uneven with empty blocks, one block, all empty) and three roots. */
static void sweep_more(weft__coll_t coll, sim_op_t op, const uint64_t *counts, int ncounts) {
  bool v = coll == WEFT__COLL_ALLTOALLV || coll == WEFT__COLL_ALLGATHERV ||
           coll == WEFT__COLL_REDUCE_SCATTERV;
  bool rooted = coll == WEFT__COLL_GATHER || coll == WEFT__COLL_SCATTER;
  for (size_t ai = 0; ai < WEFT__ARRAY_SIZE(ALGOS); ai++)
    for (int n = 1; n <= 16; n++)
      for (int cc = 0; cc < ncounts; cc++)
        for (int ip = 0; ip < 2; ip++)
          for (int vp = 0; vp < (v ? 4 : 1); vp++)
            for (int ri = 0; ri < (rooted ? 3 : 1); ri++) {
              const int roots[3] = {0, n - 1, n / 2};
              sim_case_t c = {.coll = coll, .algo = ALGOS[ai], .n = n, .root = roots[ri],
                              .count = counts[cc], .in_place = ip, .op = op, .vpat = vp};
              uint64_t ops = run_case(&c);
              uint64_t expect = 0;
              if (coll == WEFT__COLL_REDUCE_SCATTERV)
                for (int b = 0; b < n; b++) expect += (uint64_t)(n - 1) * vcount(&c, b);
              if (ops != expect)
                fail_msg("%s/%s n=%d count=%llu vpat=%d: %llu reductions, expected %llu",
                         weft__coll_name(coll), weft__algo_name(c.algo), n,
                         (unsigned long long)c.count, vp, (unsigned long long)ops,
                         (unsigned long long)expect);
            }
}

static const uint64_t MORE_COUNTS[] = {0, 1, 2, 3, 7, 17};

static void test_alltoall(void **state) {
  (void)state;
  sweep_more(WEFT__COLL_ALLTOALL, OP_SUM, MORE_COUNTS, (int)WEFT__ARRAY_SIZE(MORE_COUNTS));
  sweep_more(WEFT__COLL_ALLTOALLV, OP_SUM, MORE_COUNTS, (int)WEFT__ARRAY_SIZE(MORE_COUNTS));
}

static void test_allgatherv(void **state) {
  (void)state;
  sweep_more(WEFT__COLL_ALLGATHERV, OP_SUM, MORE_COUNTS, (int)WEFT__ARRAY_SIZE(MORE_COUNTS));
}

static void test_reduce_scatterv(void **state) {
  (void)state;
  const uint64_t few[] = {1, 5};
  sweep_more(WEFT__COLL_REDUCE_SCATTERV, OP_SUM, MORE_COUNTS, (int)WEFT__ARRAY_SIZE(MORE_COUNTS));
  sweep_more(WEFT__COLL_REDUCE_SCATTERV, OP_PROD, few, 2);
  sweep_more(WEFT__COLL_REDUCE_SCATTERV, OP_MAX, few, 2);
}

static void test_gather_scatter(void **state) {
  (void)state;
  sweep_more(WEFT__COLL_GATHER, OP_SUM, MORE_COUNTS, (int)WEFT__ARRAY_SIZE(MORE_COUNTS));
  sweep_more(WEFT__COLL_SCATTER, OP_SUM, MORE_COUNTS, (int)WEFT__ARRAY_SIZE(MORE_COUNTS));
}

/* Pairwise exchange: n-1 phases, one send and one receive per phase, every peer once. */
static void test_alltoall_shape(void **state) {
  (void)state;
  for (int n = 2; n <= 17; n++)
    for (int r = 0; r < n; r++) {
      weft__sched_args_t a = {.coll = WEFT__COLL_ALLTOALL, .algo = WEFT__ALGO_RING, .rank = r,
                              .size = n, .count = 4};
      weft__sched_t sc = {0};
      assert_int_equal(weft__sched_build(&a, &sc), WEFT_SUCCESS);
      assert_int_equal(sc.nphases, n - 1);
      uint64_t to = 0, from = 0;
      for (uint32_t i = 0; i < sc.nsteps; i++) {
        const weft__step_t *st = &sc.steps[i];
        if (st->kind == WEFT__STEP_SEND) to |= 1ull << st->peer;
        if (st->kind == WEFT__STEP_RECV) from |= 1ull << st->peer;
      }
      uint64_t others = ((1ull << n) - 1) & ~(1ull << r);
      assert_int_equal(to, others);
      assert_int_equal(from, others);
      weft__sched_free(&sc);
    }
}

/* Bad arrays reach the builders only through a bug in api_more.c: refused, never followed. */
static void test_invalid_args_more(void **state) {
  (void)state;
  weft__sched_t sc = {0};
  size_t cnt[3] = {1, 2, 3}, dsp[3] = {0, 1, 3}, huge[3] = {0, SIZE_MAX, 3};
  weft__sched_args_t a = {.coll = WEFT__COLL_ALLGATHERV, .algo = WEFT__ALGO_RING, .rank = 1,
                          .size = 3, .counts = cnt, .displs = dsp};
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_SUCCESS);
  a.displs = NULL;
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  a.displs = huge;
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  a = (weft__sched_args_t){.coll = WEFT__COLL_REDUCE_SCATTERV, .algo = WEFT__ALGO_TREE, .rank = 0,
                           .size = 3, .counts = NULL};
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  a = (weft__sched_args_t){.coll = WEFT__COLL_ALLTOALLV, .algo = WEFT__ALGO_RING, .rank = 0,
                           .size = 3, .counts = cnt, .displs = dsp, .rcounts = cnt};
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT); /* rdispls NULL */
  a.rdispls = dsp, a.rank = 1, a.rcounts = huge; /* own block: sends 2, receives SIZE_MAX */
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  a = (weft__sched_args_t){.coll = WEFT__COLL_GATHER, .algo = WEFT__ALGO_RING, .rank = 0,
                           .size = 3, .root = 3, .count = 1};
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  a.coll = WEFT__COLL_SCATTER, a.root = -1;
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  a.coll = WEFT__COLL_ALLTOALL, a.count = UINT64_MAX / 2;
  assert_int_equal(weft__sched_build(&a, &sc), WEFT_ERR_INVALID_ARGUMENT);
  weft__sched_free(&sc);
}

static void test_sweep_prod_max(void **state) {
  (void)state;
  const uint64_t counts[] = {1, 5, 17};
  sweep(OP_PROD, true, counts, 3);
  sweep(OP_MAX, true, counts, 3);
}

/* Every rank must end with the same bits; the values make association order visible. */
static void test_float_allreduce_bit_identical(void **state) {
  (void)state;
  const uint64_t counts[] = {1, 3, 64, 257};
  for (size_t ai = 0; ai < WEFT__ARRAY_SIZE(ALGOS); ai++)
    for (int n = 1; n <= 16; n++)
      for (size_t ci = 0; ci < WEFT__ARRAY_SIZE(counts); ci++)
        for (int ip = 0; ip < 2; ip++) {
          sim_case_t c = {.coll = WEFT__COLL_ALLREDUCE, .algo = ALGOS[ai], .n = n,
                          .count = counts[ci], .in_place = ip, .op = OP_FSUM};
          sim_t *s = sim_create(&c);
          for (int r = 0; r < n; r++) { /* float results are compared below, not exactly */
            sim_rank_t *k = &s->ranks[r];
            free(k->exp_a);
            k->exp_a = NULL;
            free(k->exp_b);
            k->exp_b = NULL;
          }
          sim_run(s);
          for (int r = 0; r < n; r++) {
            const uint64_t *out = s->ranks[r].buf[WEFT__BUF_RECV];
            const uint64_t *first = s->ranks[0].buf[WEFT__BUF_RECV];
            for (uint64_t i = 0; i < c.count; i++) {
              if (out[i] != first[i])
                sim_fail(s, "element %llu: rank %d has %.17g, rank 0 has %.17g",
                         (unsigned long long)i, r, bits_dbl(out[i]), bits_dbl(first[i]));
              double ref = 0, mag = 0;
              for (int q = 0; q < n; q++) {
                ref += bits_dbl(val(OP_FSUM, q, i));
                mag += fabs(bits_dbl(val(OP_FSUM, q, i)));
              }
              if (fabs(bits_dbl(out[i]) - ref) > 1e-12 * mag)
                sim_fail(s, "element %llu: %.17g, reference %.17g", (unsigned long long)i,
                         bits_dbl(out[i]), ref);
            }
            if (!c.in_place) /* SEND untouched */
              for (uint64_t i = 0; i < c.count; i++)
                if (s->ranks[r].mem_a[i] != val(OP_FSUM, r, i)) sim_fail(s, "SEND written");
          }
          sim_destroy(s);
        }
}

static weft__sched_t build_ok(weft__coll_t coll, weft__algo_t algo, int rank, int size, int root,
                              uint64_t count, bool in_place, uint64_t chunk) {
  weft__sched_args_t a = {.coll = coll, .algo = algo, .rank = rank, .size = size, .root = root,
                          .count = count, .in_place = in_place, .chunk_elems = chunk};
  weft__sched_t s = {0};
  assert_int_equal(weft__sched_build(&a, &s), WEFT_SUCCESS);
  return s;
}

static uint32_t max_phases(weft__coll_t coll, weft__algo_t algo, int n, uint64_t count,
                           uint64_t chunk) {
  uint32_t m = 0;
  for (int r = 0; r < n; r++) {
    weft__sched_t s = build_ok(coll, algo, r, n, 0, count, false, chunk);
    m = WEFT__MAX(m, s.nphases);
    weft__sched_free(&s);
  }
  return m;
}

static void test_phase_counts(void **state) {
  (void)state;
  for (int n = 2; n <= 33; n++) {
    uint32_t log2n = 0;
    while ((1u << log2n) < (unsigned)n) log2n++;
    assert_int_equal(max_phases(WEFT__COLL_ALLREDUCE, WEFT__ALGO_RING, n, 100, 0), 2 * (n - 1));
    assert_int_equal(max_phases(WEFT__COLL_ALLGATHER, WEFT__ALGO_RING, n, 10, 0), n - 1);
    assert_int_equal(max_phases(WEFT__COLL_REDUCE_SCATTER, WEFT__ALGO_RING, n, 10, 0), n - 1);
    assert_int_equal(max_phases(WEFT__COLL_BROADCAST, WEFT__ALGO_TREE, n, 10, 0), log2n);
    assert_int_equal(max_phases(WEFT__COLL_REDUCE, WEFT__ALGO_TREE, n, 10, 0), log2n);
    assert_int_equal(max_phases(WEFT__COLL_BARRIER, WEFT__ALGO_TREE, n, 0, 0), log2n);
    assert_int_equal(max_phases(WEFT__COLL_BARRIER, WEFT__ALGO_RING, n, 0, 0), log2n);
    /* Pipelined broadcast: nchunks + n - 2 phases, chunks capped at 64. */
    assert_int_equal(max_phases(WEFT__COLL_BROADCAST, WEFT__ALGO_RING, n, 100, 10), 10 + n - 2);
    assert_int_equal(max_phases(WEFT__COLL_BROADCAST, WEFT__ALGO_RING, n, 100000, 1), 64 + n - 2);
    assert_int_equal(max_phases(WEFT__COLL_BROADCAST, WEFT__ALGO_RING, n, 100, 0), n - 1);
  }
}

/* The root of a pipelined broadcast sends each chunk once, chunks tile the buffer in order. */
static void test_broadcast_chunks(void **state) {
  (void)state;
  weft__sched_t s = build_ok(WEFT__COLL_BROADCAST, WEFT__ALGO_RING, 2, 5, 2, 10, false, 3);
  uint64_t next_off = 0;
  int sends = 0;
  for (uint32_t i = 0; i < s.nsteps; i++) {
    if (s.steps[i].kind != WEFT__STEP_SEND) continue;
    assert_int_equal(s.steps[i].peer, 3);
    assert_int_equal(s.steps[i].src_off, next_off);
    assert_true(s.steps[i].count >= 1 && s.steps[i].count <= 3);
    next_off += s.steps[i].count;
    sends++;
  }
  assert_int_equal(next_off, 10);
  assert_int_equal(sends, 4);
  weft__sched_free(&s);
}

static void test_size_one(void **state) {
  (void)state;
  for (size_t ci = 0; ci < WEFT__ARRAY_SIZE(COLLS); ci++)
    for (size_t ai = 0; ai < WEFT__ARRAY_SIZE(ALGOS); ai++)
      for (int ip = 0; ip < 2; ip++) {
        weft__sched_t s = build_ok(COLLS[ci], ALGOS[ai], 0, 1, 0, 9, ip, 0);
        if (ip || COLLS[ci] == WEFT__COLL_BARRIER) {
          assert_int_equal(s.nsteps, 0);
          assert_int_equal(s.nphases, 0);
        } else {
          assert_int_equal(s.nsteps, 1);
          assert_int_equal(s.steps[0].kind, WEFT__STEP_COPY);
          assert_int_equal(s.steps[0].count, 9);
          assert_int_equal(s.nphases, 1);
        }
        weft__sched_free(&s);
      }
}

static void test_invalid_args(void **state) {
  (void)state;
  weft__sched_t s = {0};
  const weft__sched_args_t good = {.coll = WEFT__COLL_BROADCAST, .algo = WEFT__ALGO_RING,
                                   .rank = 1, .size = 4, .root = 3, .count = 8};
  assert_int_equal(weft__sched_build(&good, &s), WEFT_SUCCESS);
  assert_true(s.nsteps > 0);
  weft__sched_args_t a;
  a = good, a.size = 0, a.rank = 0;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(s.nsteps, 0); /* reset even on failure */
  a = good, a.rank = -1;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.rank = 4;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.root = 4;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.root = -1, a.coll = WEFT__COLL_REDUCE;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.root = 7, a.coll = WEFT__COLL_ALLREDUCE; /* root ignored where it has no meaning */
  assert_int_equal(weft__sched_build(&a, &s), WEFT_SUCCESS);
  a = good, a.algo = WEFT__ALGO_AUTO;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.algo = WEFT__NUM_ALGOS;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.coll = WEFT__COLL_SEND;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.coll = WEFT__COLL_RECV;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  a = good, a.coll = WEFT__COLL_ALLGATHER, a.count = UINT64_MAX / 2;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(weft__sched_build(NULL, &s), WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(weft__sched_build(&good, NULL), WEFT_ERR_INVALID_ARGUMENT);
  weft__sched_free(&s);
  weft__sched_free(NULL);
}

/* A rebuilt schedule reuses the step array: no allocation once warmed up. */
static void test_memory_reused(void **state) {
  (void)state;
  weft__sched_t s = {0};
  weft__sched_args_t a = {.coll = WEFT__COLL_ALLREDUCE, .algo = WEFT__ALGO_RING, .rank = 3,
                          .size = 16, .count = 1000};
  assert_int_equal(weft__sched_build(&a, &s), WEFT_SUCCESS);
  weft__step_t *steps = s.steps;
  uint32_t cap = s.cap;
  assert_int_equal(s.nsteps, 4 * 15);
  a.algo = WEFT__ALGO_TREE;
  assert_int_equal(weft__sched_build(&a, &s), WEFT_SUCCESS);
  assert_ptr_equal(s.steps, steps);
  assert_int_equal(s.cap, cap);
  assert_int_equal(s.nphases, 4);
  for (int i = 0; i < 200; i++) {
    weft__step_t st = {.kind = WEFT__STEP_COPY, .phase = (uint32_t)i, .peer = -1};
    assert_int_equal(weft__sched_push(&s, st), WEFT_SUCCESS);
  }
  assert_true(s.cap >= s.nsteps);
  assert_int_equal(s.steps[s.nsteps - 1].phase, 199);
  weft__sched_free(&s);
  assert_null(s.steps);
  assert_int_equal(s.nsteps, 0);
}

static void test_select(void **state) {
  (void)state;
  const uint64_t thr = 65536;
  for (size_t ci = 0; ci < WEFT__ARRAY_SIZE(COLLS); ci++) {
    weft__coll_t coll = COLLS[ci];
    /* forced choice wins everywhere */
    assert_int_equal(weft__algo_select(coll, 1, 8, WEFT__ALGO_RING, thr), WEFT__ALGO_RING);
    assert_int_equal(weft__algo_select(coll, 1u << 30, 8, WEFT__ALGO_TREE, thr), WEFT__ALGO_TREE);
    assert_int_equal(weft__algo_select(coll, 1u << 30, 2, WEFT__ALGO_RING, thr), WEFT__ALGO_RING);
    /* tiny communicators and barriers: tree */
    assert_int_equal(weft__algo_select(coll, 1u << 30, 1, WEFT__ALGO_AUTO, thr), WEFT__ALGO_TREE);
    assert_int_equal(weft__algo_select(coll, 1u << 30, 2, WEFT__ALGO_AUTO, thr), WEFT__ALGO_TREE);
  }
  assert_int_equal(weft__algo_select(WEFT__COLL_BARRIER, 1u << 30, 64, WEFT__ALGO_AUTO, thr),
                   WEFT__ALGO_TREE);
  /* the threshold splits small (tree) from large (ring) */
  assert_int_equal(weft__algo_select(WEFT__COLL_ALLREDUCE, thr - 1, 8, WEFT__ALGO_AUTO, thr),
                   WEFT__ALGO_TREE);
  assert_int_equal(weft__algo_select(WEFT__COLL_ALLREDUCE, thr, 8, WEFT__ALGO_AUTO, thr),
                   WEFT__ALGO_RING);
  assert_int_equal(weft__algo_select(WEFT__COLL_BROADCAST, 0, 3, WEFT__ALGO_AUTO, thr),
                   WEFT__ALGO_TREE);
  assert_int_equal(weft__algo_select(WEFT__COLL_REDUCE_SCATTER, 1u << 20, 3, WEFT__ALGO_AUTO, thr),
                   WEFT__ALGO_RING);
  assert_int_equal(weft__algo_select(WEFT__COLL_ALLGATHER, 1u << 20, 9, WEFT__ALGO_AUTO, 0),
                   WEFT__ALGO_RING);
  /* an out-of-range forced value is treated as AUTO */
  assert_int_equal(weft__algo_select(WEFT__COLL_ALLREDUCE, 1, 8, WEFT__NUM_ALGOS, thr),
                   WEFT__ALGO_TREE);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(weft__coll_name(WEFT__COLL_ALLREDUCE), "allreduce");
  assert_string_equal(weft__coll_name(WEFT__COLL_ALLGATHER), "allgather");
  assert_string_equal(weft__coll_name(WEFT__COLL_REDUCE_SCATTER), "reduce_scatter");
  assert_string_equal(weft__coll_name(WEFT__COLL_BROADCAST), "broadcast");
  assert_string_equal(weft__coll_name(WEFT__COLL_REDUCE), "reduce");
  assert_string_equal(weft__coll_name(WEFT__COLL_BARRIER), "barrier");
  assert_string_equal(weft__coll_name(WEFT__COLL_SEND), "send");
  assert_string_equal(weft__coll_name(WEFT__COLL_RECV), "recv");
  assert_string_equal(weft__coll_name(WEFT__COLL_ALLTOALL), "alltoall");
  assert_string_equal(weft__coll_name(WEFT__COLL_ALLTOALLV), "alltoallv");
  assert_string_equal(weft__coll_name(WEFT__COLL_ALLGATHERV), "allgatherv");
  assert_string_equal(weft__coll_name(WEFT__COLL_REDUCE_SCATTERV), "reduce_scatterv");
  assert_string_equal(weft__coll_name(WEFT__COLL_GATHER), "gather");
  assert_string_equal(weft__coll_name(WEFT__COLL_SCATTER), "scatter");
  /* Wire values: appended after RECV, never renumbered. */
  assert_int_equal(WEFT__COLL_RECV, 7);
  assert_int_equal(WEFT__COLL_ALLTOALL, 8);
  assert_int_equal(WEFT__COLL_SCATTER, 13);
  assert_string_equal(weft__coll_name(WEFT__NUM_COLLS), "unknown");
  assert_string_equal(weft__algo_name(WEFT__ALGO_AUTO), "auto");
  assert_string_equal(weft__algo_name(WEFT__ALGO_RING), "ring");
  assert_string_equal(weft__algo_name(WEFT__ALGO_TREE), "tree");
  assert_string_equal(weft__algo_name(WEFT__NUM_ALGOS), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sweep_sum),
      cmocka_unit_test(test_sweep_prod_max),
      cmocka_unit_test(test_alltoall),
      cmocka_unit_test(test_allgatherv),
      cmocka_unit_test(test_reduce_scatterv),
      cmocka_unit_test(test_gather_scatter),
      cmocka_unit_test(test_alltoall_shape),
      cmocka_unit_test(test_invalid_args_more),
      cmocka_unit_test(test_float_allreduce_bit_identical),
      cmocka_unit_test(test_phase_counts),
      cmocka_unit_test(test_broadcast_chunks),
      cmocka_unit_test(test_size_one),
      cmocka_unit_test(test_invalid_args),
      cmocka_unit_test(test_memory_reused),
      cmocka_unit_test(test_select),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
