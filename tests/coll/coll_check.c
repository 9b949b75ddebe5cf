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

int main(int argc, char **argv) {
  bool quick = false, big = true;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = true;
    else if (!strcmp(argv[i], "--no-big")) big = false;
  }
  weft_comm_t *comm;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "init failed: %s: %s\n", weft_strerror(r), weft_comm_last_error(NULL));
    return 2;
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
    }
    check_p2p(comm, ci == 4 ? (1u << 18) + 3 : counts[ci], salt++);
    call_ok(comm, weft_barrier(comm), "barrier");
  }
  printf("rank %d/%d epoch %llu: %ld operations checked, %ld wrong\n", rank, size,
         (unsigned long long)weft_comm_epoch(comm), checked, wrong);
  weft_comm_destroy(comm);
  return wrong ? 1 : 0;
}
