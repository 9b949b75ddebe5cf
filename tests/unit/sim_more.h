/* The simulator's side of alltoall, alltoallv, allgatherv, reduce_scatterv, gather and scatter
 * (lib/algo/{alltoall,gatherv,rooted}.c). Included by test_schedule.c, whose simulator it
 * extends: per-rank count and displacement arrays, each rank's buffers mapped as the executor
 * would map them (in place included), and their expected final contents from a serial
 * computation. Layouts are deliberately awkward: displacements in reverse rank order, holes
 * between blocks (which must keep their garbage), and count patterns with empty blocks. */

/* Block size for pattern vpat: 0 all `count`; 1 uneven, every third block empty; 2 one block
 * only; 3 all empty. b is a rank (allgatherv, reduce_scatterv) or a pair src*n+dst (alltoallv). */
static size_t vcount(const sim_case_t *c, int b) {
  switch (c->vpat) {
  case 0: return (size_t)c->count;
  case 1: return b % 3 == 1 ? 0 : (size_t)c->count + (size_t)(b % 4);
  case 2: return b == c->n / 2 ? (size_t)c->count + 1 : 0;
  default: return 0;
  }
}

static size_t pair_count(const sim_case_t *c, int from, int to) { return vcount(c, from * c->n + to); }

/* Element i of the block rank `from` addresses to rank `to`: keyed by both, so a block
 * delivered to the wrong rank or in the wrong slot shows. */
static uint64_t key(int to, uint64_t i) { return ((uint64_t)to << 32) | i; }

static size_t *sz_array(int n) {
  size_t *p = calloc((size_t)n, sizeof(size_t));
  assert_non_null(p);
  return p;
}

/* Displacements packing blocks in reverse rank order, `gap` elements apart, from `start`. */
static void reverse_displs(const size_t *cnt, size_t *dsp, int n, size_t start, size_t gap) {
  for (int b = n - 1; b >= 0; b--) {
    dsp[b] = start;
    start += cnt[b] + gap;
  }
}

static uint64_t extent_of(const size_t *cnt, const size_t *dsp, int n) {
  uint64_t end = 0;
  for (int b = 0; b < n; b++)
    if (cnt[b]) end = WEFT__MAX(end, (uint64_t)dsp[b] + cnt[b]);
  return end;
}

static void layout_more(sim_t *s, int r) {
  const sim_case_t *c = &s->c;
  sim_rank_t *k = &s->ranks[r];
  int n = c->n;
  if (c->coll == WEFT__COLL_ALLGATHERV || c->coll == WEFT__COLL_REDUCE_SCATTERV) {
    k->cnt = sz_array(n);
    for (int b = 0; b < n; b++) k->cnt[b] = vcount(c, b);
    if (c->coll == WEFT__COLL_ALLGATHERV) {
      k->dsp = sz_array(n);
      reverse_displs(k->cnt, k->dsp, n, 0, 1);
    }
  } else if (c->coll == WEFT__COLL_ALLTOALLV) {
    k->cnt = sz_array(n), k->dsp = sz_array(n), k->rcnt = sz_array(n), k->rdsp = sz_array(n);
    for (int j = 0; j < n; j++) k->cnt[j] = pair_count(c, r, j), k->rcnt[j] = pair_count(c, j, r);
    reverse_displs(k->cnt, k->dsp, n, 0, 1);
    size_t off = 1;
    for (int j = 0; j < n; j++) k->rdsp[j] = off, off += k->rcnt[j] + 2;
  }
}

static void map(sim_rank_t *k, uint64_t *send, uint64_t send_len, uint64_t *recv, uint64_t recv_len) {
  k->buf[WEFT__BUF_SEND] = send, k->len[WEFT__BUF_SEND] = send ? send_len : 0;
  k->buf[WEFT__BUF_RECV] = recv, k->len[WEFT__BUF_RECV] = recv ? recv_len : 0;
}

/* Out of place: `in` becomes SEND (expected unchanged), RECV starts as garbage and `out` is its
 * expected content (either may be NULL: that buffer does not exist on this rank). Takes both. */
static void out_of_place(sim_rank_t *k, uint64_t *in, uint64_t in_len, uint64_t *out, uint64_t out_len) {
  k->mem_a = in, k->len_a = in_len, k->exp_a = in ? dup_of(in, in_len) : NULL;
  if (out) {
    k->mem_b = filled(out_len, GARBAGE), k->len_b = out_len, k->exp_b = out;
  }
  map(k, k->mem_a, in_len, k->mem_b, out_len);
}

static void setup_rank_more(sim_t *s, int r) {
  const sim_case_t *c = &s->c;
  sim_rank_t *k = &s->ranks[r];
  int n = c->n;
  uint64_t cnt = c->count, un = (uint64_t)n;
  sim_op_t op = c->op;
  bool is_root = r == c->root;
  switch (c->coll) {
  case WEFT__COLL_ALLTOALL: {
    uint64_t *in = xmalloc(un * cnt), *out = xmalloc(un * cnt);
    for (int j = 0; j < n; j++)
      for (uint64_t i = 0; i < cnt; i++) {
        in[(uint64_t)j * cnt + i] = val(op, r, key(j, i));
        out[(uint64_t)j * cnt + i] = val(op, j, key(r, i));
      }
    if (!c->in_place) {
      out_of_place(k, in, un * cnt, out, un * cnt);
    } else {
      k->mem_a = in, k->len_a = un * cnt, k->exp_a = out;
      map(k, in, un * cnt, in, un * cnt);
    }
    break;
  }
  case WEFT__COLL_ALLTOALLV: {
    uint64_t sext = extent_of(k->cnt, k->dsp, n), rext = extent_of(k->rcnt, k->rdsp, n);
    uint64_t len = c->in_place ? WEFT__MAX(sext, rext) : sext;
    uint64_t *in = filled(len, GARBAGE);
    for (int j = 0; j < n; j++)
      for (uint64_t i = 0; i < k->cnt[j]; i++) in[k->dsp[j] + i] = val(op, r, key(j, i));
    uint64_t *out = c->in_place ? dup_of(in, len) : filled(rext, GARBAGE);
    for (int j = 0; j < n; j++)
      for (uint64_t i = 0; i < k->rcnt[j]; i++) out[k->rdsp[j] + i] = val(op, j, key(r, i));
    if (!c->in_place) {
      out_of_place(k, in, sext, out, rext);
    } else {
      k->mem_a = in, k->len_a = len, k->exp_a = out;
      map(k, in, len, in, len);
    }
    break;
  }
  case WEFT__COLL_ALLGATHERV: {
    uint64_t rext = extent_of(k->cnt, k->dsp, n), own = k->cnt[r];
    uint64_t *out = filled(rext, GARBAGE);
    for (int b = 0; b < n; b++)
      for (uint64_t i = 0; i < k->cnt[b]; i++) out[k->dsp[b] + i] = val(op, b, i);
    if (!c->in_place) {
      uint64_t *in = xmalloc(own);
      for (uint64_t i = 0; i < own; i++) in[i] = val(op, r, i);
      out_of_place(k, in, own, out, rext);
    } else {
      k->mem_a = filled(rext, GARBAGE), k->len_a = rext, k->exp_a = out;
      for (uint64_t i = 0; i < own; i++) k->mem_a[k->dsp[r] + i] = val(op, r, i);
      map(k, k->mem_a + (own ? k->dsp[r] : 0), own, k->mem_a, rext);
    }
    break;
  }
  case WEFT__COLL_REDUCE_SCATTERV: {
    uint64_t total = 0, pre = 0, own = k->cnt[r];
    for (int b = 0; b < n; b++) total += k->cnt[b], pre += b < r ? k->cnt[b] : 0;
    uint64_t *in = xmalloc(total), *out = xmalloc(own);
    for (uint64_t i = 0; i < total; i++) in[i] = val(op, r, i);
    for (uint64_t i = 0; i < own; i++) out[i] = reference(op, n, pre + i);
    if (!c->in_place) {
      out_of_place(k, in, total, out, own);
    } else {
      k->mem_a = in, k->len_a = total, k->exp_a = dup_of(in, total);
      if (own) memcpy(k->exp_a + pre, out, (size_t)own * sizeof(uint64_t));
      free(out);
      map(k, in, total, in + pre, own);
    }
    break;
  }
  case WEFT__COLL_GATHER: {
    uint64_t *in = xmalloc(cnt);
    for (uint64_t i = 0; i < cnt; i++) in[i] = val(op, r, i);
    if (!is_root) {
      out_of_place(k, in, cnt, NULL, 0);
      k->recv_forbidden = true;
      break;
    }
    uint64_t *out = xmalloc(un * cnt);
    for (int j = 0; j < n; j++)
      for (uint64_t i = 0; i < cnt; i++) out[(uint64_t)j * cnt + i] = val(op, j, i);
    if (!c->in_place) {
      out_of_place(k, in, cnt, out, un * cnt);
    } else {
      k->mem_a = filled(un * cnt, GARBAGE), k->len_a = un * cnt, k->exp_a = out;
      if (cnt) memcpy(k->mem_a + (uint64_t)r * cnt, in, (size_t)cnt * sizeof(uint64_t));
      free(in);
      map(k, k->mem_a + (uint64_t)r * cnt, cnt, k->mem_a, un * cnt);
    }
    break;
  }
  case WEFT__COLL_SCATTER: {
    uint64_t *out = xmalloc(cnt);
    for (uint64_t i = 0; i < cnt; i++) out[i] = val(op, c->root, key(r, i));
    if (!is_root) {
      out_of_place(k, NULL, 0, out, cnt);
      break;
    }
    uint64_t *in = xmalloc(un * cnt);
    for (int j = 0; j < n; j++)
      for (uint64_t i = 0; i < cnt; i++) in[(uint64_t)j * cnt + i] = val(op, r, key(j, i));
    if (!c->in_place) {
      out_of_place(k, in, un * cnt, out, cnt);
    } else { /* RECV is SEND block r, which already holds the expected values */
      free(out);
      k->mem_a = in, k->len_a = un * cnt, k->exp_a = dup_of(in, un * cnt);
      map(k, in, un * cnt, in + (uint64_t)r * cnt, cnt);
    }
    break;
  }
  default: sim_fail(s, "not a collective of sim_more.h");
  }
}
