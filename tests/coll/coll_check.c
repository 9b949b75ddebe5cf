/* One rank of the multi-rank correctness sweep: every collective x dtype x op x count, in place
 * and out of place, blocking and non-blocking, each output checked element by element against
 * the serial reference (tests/common/reference.h). Run under weftrun or mpiexec:
 *   weftrun -n 5 coll_check [--quick] [--big]
 * WEFT_ALGO=ring|tree selects the algorithm. Exit status 0 only if every element was right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/reference.h"

static int rank, size;
static long checked, wrong;

static void report(const char *what, weft_dtype_t d, weft_redop_t op, size_t count, bool inplace, size_t bad_i, long bad) {
  if (bad)
    fprintf(stderr, "rank %d: WRONG %s %s %s count=%zu %s: %ld bad elements (first at %zu)\n", rank, what,
            weft_dtype_name(d), weft_redop_name(op), count, inplace ? "in-place" : "out-of-place", bad, bad_i);
  checked++;
  wrong += bad ? 1 : 0;
}

static bool call_ok(weft_comm_t *comm, weft_result_t r, const char *what) {
  if (r == WEFT_SUCCESS) return true;
  fprintf(stderr, "rank %d: %s failed: %s: %s\n", rank, what, weft_strerror(r), weft_comm_last_error(comm));
  exit(2);
}

static void check_allreduce(weft_comm_t *comm, weft_dtype_t d, weft_redop_t op, size_t count, bool inplace, bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d);
  uint8_t *send = malloc(count * es + 1), *recv = malloc(count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, count, 0, d, op, rank, salt);
  if (inplace) memcpy(recv, send, count * es);
  weft_result_t r;
  if (nonblock) {
    weft_request_t *req;
    r = weft_iallreduce(comm, inplace ? recv : send, recv, count, d, op, &req);
    if (r == WEFT_SUCCESS) r = weft_wait(req);
  } else {
    r = weft_allreduce(comm, inplace ? recv : send, recv, count, d, op);
  }
  call_ok(comm, r, "allreduce");
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < count; i++) {
    ref_reduced(exp, i, i, d, op, size, salt);
    if (!ref_equal(recv, exp, i, d) && bad++ == 0) first = i;
  }
  report("allreduce", d, op, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

static void check_reduce_scatter(weft_comm_t *comm, weft_dtype_t d, weft_redop_t op, size_t count, bool inplace, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  uint8_t *send = malloc(n * count * es + 1), *recv = malloc(count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, n * count, 0, d, op, rank, salt);
  uint8_t *out = inplace ? send + (size_t)rank * count * es : recv;
  call_ok(comm, weft_reduce_scatter(comm, send, out, count, d, op), "reduce_scatter");
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < count; i++) {
    ref_reduced(exp, i, (size_t)rank * count + i, d, op, size, salt);
    if (!ref_equal(out, exp, i, d) && bad++ == 0) first = i;
  }
  report("reduce_scatter", d, op, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

static void check_reduce(weft_comm_t *comm, weft_dtype_t d, weft_redop_t op, size_t count, int root, uint64_t salt) {
  size_t es = weft_dtype_size(d);
  uint8_t *send = malloc(count * es + 1), *recv = malloc(count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, count, 0, d, op, rank, salt);
  memset(recv, 0x5a, count * es);
  call_ok(comm, weft_reduce(comm, send, rank == root ? recv : NULL, count, d, op, root), "reduce");
  long bad = 0;
  size_t first = 0;
  if (rank == root)
    for (size_t i = 0; i < count; i++) {
      ref_reduced(exp, i, i, d, op, size, salt);
      if (!ref_equal(recv, exp, i, d) && bad++ == 0) first = i;
    }
  report("reduce", d, op, count, false, first, bad);
  free(send), free(recv), free(exp);
}

static void check_allgather(weft_comm_t *comm, weft_dtype_t d, size_t count, bool inplace, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  uint8_t *send = malloc(count * es + 1), *recv = malloc(n * count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, count, 0, d, WEFT_SUM, rank, salt);
  const void *src = send;
  if (inplace) {
    memcpy(recv + (size_t)rank * count * es, send, count * es);
    src = recv + (size_t)rank * count * es;
  }
  call_ok(comm, weft_allgather(comm, src, recv, count, d), "allgather");
  long bad = 0;
  size_t first = 0;
  for (int r = 0; r < size; r++) {
    ref_fill(exp, count, 0, d, WEFT_SUM, r, salt);
    for (size_t i = 0; i < count; i++)
      if (!ref_equal(recv + (size_t)r * count * es, exp, i, d) && bad++ == 0) first = (size_t)r * count + i;
  }
  report("allgather", d, WEFT_SUM, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

static void check_broadcast(weft_comm_t *comm, weft_dtype_t d, size_t count, int root, bool inplace, uint64_t salt) {
  size_t es = weft_dtype_size(d);
  uint8_t *send = malloc(count * es + 1), *recv = malloc(count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, count, 0, d, WEFT_SUM, root, salt);
  memset(recv, 0x5a, count * es);
  if (inplace && rank == root) memcpy(recv, send, count * es);
  call_ok(comm, weft_broadcast(comm, inplace && rank == root ? recv : send, recv, count, d, root), "broadcast");
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < count; i++)
    if (!ref_equal(recv, send, i, d) && bad++ == 0) first = i;
  if (rank != root) { /* send on non-roots holds the root's data too (same fill) */ }
  report("broadcast", d, WEFT_SUM, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

/* ---- alltoall, alltoallv, allgatherv, reduce_scatterv, gather, scatter ----------------------- */

/* Either form of one call: the blocking one, or the non-blocking one and a wait. */
#define RUN(nonblock, blocking_call, nonblocking_call)        \
  ({                                                          \
    weft_request_t *req_;                                     \
    weft_result_t r_ = (nonblock) ? (nonblocking_call) : (blocking_call); \
    if ((nonblock) && r_ == WEFT_SUCCESS) r_ = weft_wait(req_); \
    r_;                                                       \
  })

/* Uneven block sizes around `count`: every third block empty, the others differing. */
static size_t uneven(size_t count, int b) { return b % 3 == 1 ? 0 : count + (size_t)(b % 4); }

/* Elements rank `from` sends rank `to` in the alltoallv checks (some pairs empty). */
static size_t pair_count(size_t count, int from, int to, uint64_t salt) {
  return (from * 7 + to * 3 + (int)(salt % 5)) % 5 == 0 ? 0 : count + (size_t)((from + to) % 3);
}

/* Displacements packing the blocks in reverse rank order with a one-element hole after each:
 * holes must keep their contents. Returns the extent in elements. */
static size_t reverse_displs(const size_t *cnt, size_t *dsp, int n) {
  size_t off = 0;
  for (int b = n - 1; b >= 0; b--) dsp[b] = off, off += cnt[b] + 1;
  return off;
}

/* Compares n blocks of recv (block b: cnt[b] elements at dsp[b]) with what `expect` fills in,
 * and that the elements outside every block still hold the 0x5a fill. */
static void check_blocks(const char *what, weft_dtype_t d, weft_redop_t op, size_t count, bool inplace, const uint8_t *recv,
                         size_t extent, const size_t *cnt, const size_t *dsp, int n,
                         void (*expect)(uint8_t *exp, int b, size_t len, weft_dtype_t d, uint64_t salt), uint64_t salt) {
  size_t es = weft_dtype_size(d);
  uint8_t *exp = malloc(extent * es + 1);
  memset(exp, 0x5a, extent * es);
  for (int b = 0; b < n; b++) expect(exp + dsp[b] * es, b, cnt[b], d, salt);
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < extent; i++)
    if (!ref_equal(recv, exp, i, d) && bad++ == 0) first = i;
  report(what, d, op, count, inplace, first, bad);
  free(exp);
}

static void expect_rank_block(uint8_t *exp, int b, size_t len, weft_dtype_t d, uint64_t salt) {
  ref_fill(exp, len, 0, d, WEFT_SUM, b, salt);
}

static void check_allgatherv(weft_comm_t *comm, weft_dtype_t d, size_t count, bool inplace, bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  size_t *cnt = malloc(n * sizeof *cnt), *dsp = malloc(n * sizeof *dsp);
  for (int b = 0; b < size; b++) cnt[b] = uneven(count, b);
  size_t extent = reverse_displs(cnt, dsp, size);
  uint8_t *send = malloc(cnt[rank] * es + 1), *recv = malloc(extent * es + 1);
  ref_fill(send, cnt[rank], 0, d, WEFT_SUM, rank, salt);
  memset(recv, 0x5a, extent * es);
  const void *src = send;
  if (inplace) {
    memcpy(recv + dsp[rank] * es, send, cnt[rank] * es);
    src = recv + dsp[rank] * es;
  }
  call_ok(comm, RUN(nonblock, weft_allgatherv(comm, src, cnt[rank], recv, cnt, dsp, d),
                    weft_iallgatherv(comm, src, cnt[rank], recv, cnt, dsp, d, &req_)), "allgatherv");
  check_blocks("allgatherv", d, WEFT_SUM, count, inplace, recv, extent, cnt, dsp, size, expect_rank_block, salt);
  free(cnt), free(dsp), free(send), free(recv);
}

static void check_reduce_scatterv(weft_comm_t *comm, weft_dtype_t d, weft_redop_t op, size_t count, bool inplace,
                                  bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size, total = 0, pre = 0;
  size_t *cnt = malloc(n * sizeof *cnt);
  for (int b = 0; b < size; b++) cnt[b] = uneven(count, b), total += cnt[b], pre += b < rank ? cnt[b] : 0;
  uint8_t *send = malloc(total * es + 1), *recv = malloc(cnt[rank] * es + 1), *exp = malloc(cnt[rank] * es + 1);
  ref_fill(send, total, 0, d, op, rank, salt);
  uint8_t *out = inplace ? send + pre * es : recv;
  call_ok(comm, RUN(nonblock, weft_reduce_scatterv(comm, send, out, cnt, d, op),
                    weft_ireduce_scatterv(comm, send, out, cnt, d, op, &req_)), "reduce_scatterv");
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < cnt[rank]; i++) {
    ref_reduced(exp, i, pre + i, d, op, size, salt);
    if (!ref_equal(out, exp, i, d) && bad++ == 0) first = i;
  }
  report("reduce_scatterv", d, op, count, inplace, first, bad);
  free(cnt), free(send), free(recv), free(exp);
}

static void check_alltoall(weft_comm_t *comm, weft_dtype_t d, size_t count, bool inplace, bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  uint8_t *send = malloc(n * count * es + 1), *recv = malloc(n * count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, n * count, 0, d, WEFT_SUM, rank, salt); /* block j: elements j*count.. of our input */
  if (inplace) memcpy(recv, send, n * count * es);
  const void *src = inplace ? (const void *)recv : send;
  call_ok(comm, RUN(nonblock, weft_alltoall(comm, src, recv, count, d),
                    weft_ialltoall(comm, src, recv, count, d, &req_)), "alltoall");
  long bad = 0;
  size_t first = 0;
  for (int j = 0; j < size; j++) {
    ref_fill(exp, count, (size_t)rank * count, d, WEFT_SUM, j, salt);
    for (size_t i = 0; i < count; i++)
      if (!ref_equal(recv + (size_t)j * count * es, exp, i, d) && bad++ == 0) first = (size_t)j * count + i;
  }
  report("alltoall", d, WEFT_SUM, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

static void expect_a2av(uint8_t *exp, int from, size_t len, weft_dtype_t d, uint64_t salt) {
  ref_fill(exp, len, (size_t)rank << 24, d, WEFT_SUM, from, salt); /* from's block for this rank */
}

static void check_alltoallv(weft_comm_t *comm, weft_dtype_t d, size_t count, bool inplace, bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  size_t *sc = malloc(n * sizeof *sc), *sd = malloc(n * sizeof *sd), *rc = malloc(n * sizeof *rc), *rd = malloc(n * sizeof *rd);
  for (int j = 0; j < size; j++) sc[j] = pair_count(count, rank, j, salt), rc[j] = pair_count(count, j, rank, salt);
  size_t sext = reverse_displs(sc, sd, size), rext = 0;
  for (int j = 0; j < size; j++) rd[j] = rext + 2, rext += rc[j] + 2; /* forward order, two-element holes */
  size_t len = inplace && sext > rext ? sext : rext;
  uint8_t *send = malloc(sext * es + 1), *recv = malloc(len * es + 1);
  memset(send, 0x5a, sext * es);
  for (int j = 0; j < size; j++) ref_fill(send + sd[j] * es, sc[j], (size_t)j << 24, d, WEFT_SUM, rank, salt);
  memset(recv, 0x5a, len * es);
  if (inplace) memcpy(recv, send, sext * es);
  const void *src = inplace ? (const void *)recv : send;
  call_ok(comm, RUN(nonblock, weft_alltoallv(comm, src, sc, sd, recv, rc, rd, d),
                    weft_ialltoallv(comm, src, sc, sd, recv, rc, rd, d, &req_)), "alltoallv");
  if (!inplace) { /* in place the holes hold whatever the send layout left there */
    check_blocks("alltoallv", d, WEFT_SUM, count, inplace, recv, rext, rc, rd, size, expect_a2av, salt);
  } else {
    long bad = 0;
    size_t first = 0;
    uint8_t *exp = malloc(rext * es + 1);
    for (int j = 0; j < size; j++) {
      expect_a2av(exp, j, rc[j], d, salt);
      for (size_t i = 0; i < rc[j]; i++)
        if (!ref_equal(recv + rd[j] * es, exp, i, d) && bad++ == 0) first = rd[j] + i;
    }
    report("alltoallv", d, WEFT_SUM, count, inplace, first, bad);
    free(exp);
  }
  free(sc), free(sd), free(rc), free(rd), free(send), free(recv);
}

static void check_gather(weft_comm_t *comm, weft_dtype_t d, size_t count, int root, bool inplace, bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  uint8_t *send = malloc(count * es + 1), *recv = malloc(n * count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, count, 0, d, WEFT_SUM, rank, salt);
  memset(recv, 0x5a, n * count * es);
  const void *src = send;
  if (inplace && rank == root) {
    memcpy(recv + (size_t)rank * count * es, send, count * es);
    src = recv + (size_t)rank * count * es;
  }
  void *dst = rank == root ? recv : NULL; /* recvbuf matters at the root only */
  call_ok(comm, RUN(nonblock, weft_gather(comm, src, dst, count, d, root),
                    weft_igather(comm, src, dst, count, d, root, &req_)), "gather");
  long bad = 0;
  size_t first = 0;
  if (rank == root)
    for (int j = 0; j < size; j++) {
      ref_fill(exp, count, 0, d, WEFT_SUM, j, salt);
      for (size_t i = 0; i < count; i++)
        if (!ref_equal(recv + (size_t)j * count * es, exp, i, d) && bad++ == 0) first = (size_t)j * count + i;
    }
  report("gather", d, WEFT_SUM, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

static void check_scatter(weft_comm_t *comm, weft_dtype_t d, size_t count, int root, bool inplace, bool nonblock, uint64_t salt) {
  size_t es = weft_dtype_size(d), n = (size_t)size;
  uint8_t *send = malloc(n * count * es + 1), *recv = malloc(count * es + 1), *exp = malloc(count * es + 1);
  ref_fill(send, n * count, 0, d, WEFT_SUM, root, salt); /* every rank knows the root's input */
  memset(recv, 0x5a, count * es);
  void *dst = inplace && rank == root ? send + (size_t)rank * count * es : recv;
  const void *src = rank == root ? send : NULL; /* sendbuf matters at the root only */
  call_ok(comm, RUN(nonblock, weft_scatter(comm, src, dst, count, d, root),
                    weft_iscatter(comm, src, dst, count, d, root, &req_)), "scatter");
  ref_fill(exp, count, (size_t)rank * count, d, WEFT_SUM, root, salt);
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < count; i++)
    if (!ref_equal(dst, exp, i, d) && bad++ == 0) first = i;
  report("scatter", d, WEFT_SUM, count, inplace, first, bad);
  free(send), free(recv), free(exp);
}

/* The six above for one dtype and count: fewer combinations than the first six collectives get
 * (the sweep runs for 1..8 ranks on 2 cores in CI), every root where every_root. */
static void check_more(weft_comm_t *comm, weft_dtype_t d, size_t count, bool quick, bool every_root, uint64_t *salt) {
  const weft_redop_t ops[] = {WEFT_SUM, WEFT_AVG, WEFT_MAX, WEFT_PROD};
  for (int inplace = 0; inplace < 2; inplace++) {
    bool nb = (*salt & 1) != 0;
    check_alltoall(comm, d, count, inplace, nb, (*salt)++);
    check_alltoallv(comm, d, count, inplace, !nb, (*salt)++);
    check_allgatherv(comm, d, count, inplace, nb, (*salt)++);
    for (int o = 0; o < (quick ? 2 : 4); o++) check_reduce_scatterv(comm, d, ops[o], count, inplace, (o + inplace) & 1, (*salt)++);
    for (int root = 0; root < size; root++) {
      if (!every_root && root != (int)(*salt % (uint64_t)size)) continue;
      check_gather(comm, d, count, root, inplace, (root & 1) != 0, *salt);
      check_scatter(comm, d, count, root, inplace, (root & 1) == 0, *salt);
    }
    (*salt)++;
  }
}

static void check_p2p(weft_comm_t *comm, size_t count, uint64_t salt) {
  if (size < 2) return;
  /* A ring of isend/irecv pairs: everyone sends to the right and receives from the left. */
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  float *out = malloc(count * 4 + 4), *in = malloc(count * 4 + 4), *exp = malloc(count * 4 + 4);
  ref_fill(out, count, 0, WEFT_FLOAT32, WEFT_SUM, rank, salt);
  ref_fill(exp, count, 0, WEFT_FLOAT32, WEFT_SUM, left, salt);
  weft_request_t *rs, *rr;
  call_ok(comm, weft_irecv(comm, in, count, WEFT_FLOAT32, left, &rr), "irecv");
  call_ok(comm, weft_isend(comm, out, count, WEFT_FLOAT32, right, &rs), "isend");
  call_ok(comm, weft_wait(rs), "wait(isend)");
  call_ok(comm, weft_wait(rr), "wait(irecv)");
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < count; i++)
    if (!ref_equal(in, exp, i, WEFT_FLOAT32) && bad++ == 0) first = i;
  report("sendrecv", WEFT_FLOAT32, WEFT_SUM, count, false, first, bad);
  free(out), free(in), free(exp);
}

static bool make_group(weft_comm_t *world, const char *mode, weft_comm_t **out) {
  int wr = weft_comm_rank(world), ws = weft_comm_size(world);
  weft_result_t r;
  *out = NULL;
  if (!strcmp(mode, "split")) {
    r = weft_comm_split(world, wr % 2, -wr, out);
  } else if (!strcmp(mode, "exclude0")) {
    if (wr == 0) return true;
    int ranks[256];
    for (int i = 1; i < ws && i <= 256; i++) ranks[i - 1] = i;
    r = weft_comm_create_group(world, ws - 1, ranks, 7, out);
  } else {
    fprintf(stderr, "--group=%s: expected split or exclude0\n", mode);
    return false;
  }
  if (r != WEFT_SUCCESS) fprintf(stderr, "rank %d: making the group failed: %s\n", wr, weft_comm_last_error(world));
  return r == WEFT_SUCCESS;
}

int main(int argc, char **argv) {
  bool quick = false, big = true;
  const char *group = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = true;
    else if (!strcmp(argv[i], "--no-big")) big = false;
    else if (!strncmp(argv[i], "--group=", 8)) group = argv[i] + 8;
  }
  weft_comm_t *world, *comm;
  weft_result_t r = weft_comm_init_env(&world);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "init failed: %s: %s\n", weft_strerror(r), weft_comm_last_error(NULL));
    return 2;
  }
  comm = world;
  /* --group=split: the sweep runs on the children of a parity split with reversed keys (child
   * ranks run opposite to the parent's); --group=exclude0: on a create_group of every rank but
   * 0. The parent must still work afterwards. */
  if (group && !make_group(world, group, &comm)) return 2;
  if (!comm) { /* rank 0 with --group=exclude0: only the parent's check at the end */
    int one = 1, sum = 0;
    call_ok(world, weft_allreduce(world, &one, &sum, 1, WEFT_INT32, WEFT_SUM), "parent allreduce");
    int n = weft_comm_size(world);
    weft_comm_destroy(world);
    return sum == n ? 0 : 1;
  }
  rank = weft_comm_rank(comm);
  size = weft_comm_size(comm);
  size_t counts[5] = {0, 1, 13, 1000, 0};
  int ncounts = big ? 5 : 4;
  uint64_t salt = 1;
  for (int ci = 0; ci < ncounts; ci++) {
    for (int d = 0; d < WEFT_NUM_DTYPES; d++) {
      /* >= 1 MiB plus an odd number of elements, in this dtype */
      size_t count = ci == 4 ? (1u << 20) / weft_dtype_size((weft_dtype_t)d) + 7 : counts[ci];
      bool last_count = ci == ncounts - 1;
      for (int op = 0; op < WEFT_NUM_REDOPS; op++) {
        if (quick && op > 0 && d != WEFT_FLOAT32) continue;
        for (int inplace = 0; inplace < 2; inplace++) {
          check_allreduce(comm, (weft_dtype_t)d, (weft_redop_t)op, count, inplace, (salt & 1) != 0, salt), salt++;
          check_reduce_scatter(comm, (weft_dtype_t)d, (weft_redop_t)op, count, inplace, salt++);
        }
        check_reduce(comm, (weft_dtype_t)d, (weft_redop_t)op, count, (int)(salt % (uint64_t)size), salt), salt++;
      }
      for (int inplace = 0; inplace < 2; inplace++) {
        check_allgather(comm, (weft_dtype_t)d, count, inplace, salt++);
        check_broadcast(comm, (weft_dtype_t)d, count, (int)(salt % (uint64_t)size), inplace, salt), salt++;
      }
      (void)last_count;
      /* The newer collectives: four dtypes; the >= 1 MiB case in float32 only, split over the
       * ranks (alltoall moves count per peer); every root at count 13 in float32. */
      bool more_dtype = d == WEFT_FLOAT32 || d == WEFT_INT8 || d == WEFT_BFLOAT16 || d == WEFT_FLOAT64;
      if (more_dtype && (ci < 4 || d == WEFT_FLOAT32)) {
        size_t c = ci == 4 ? count / (size_t)size + 1 : count;
        check_more(comm, (weft_dtype_t)d, c, quick, ci == 2 && d == WEFT_FLOAT32, &salt);
      }
    }
    check_p2p(comm, ci == 4 ? (1u << 18) + 3 : counts[ci], salt++);
    call_ok(comm, weft_barrier(comm), "barrier");
  }
  printf("rank %d/%d epoch %llu: %ld operations checked, %ld wrong\n", rank, size,
         (unsigned long long)weft_comm_epoch(comm), checked, wrong);
  if (comm != world) {
    weft_comm_destroy(comm);
    int one = 1, sum = 0;
    call_ok(world, weft_allreduce(world, &one, &sum, 1, WEFT_INT32, WEFT_SUM), "parent allreduce");
    if (sum != weft_comm_size(world)) fprintf(stderr, "rank %d: WRONG parent allreduce %d\n", rank, sum), wrong++;
  }
  weft_comm_destroy(world);
  return wrong ? 1 : 0;
}
