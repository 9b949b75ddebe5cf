/* One rank of the fault-injection tests (tests/fault/test_kill.py, test_coord_death.py): runs one
 * collective in a loop until it fails, so a SIGKILL of any rank (or of the coordinator) lands in
 * the middle of a large operation.
 *
 *   weftrun -n N fault_rank MODE [--mib M] [--iters K]
 *   MODE: allreduce-loop | allgather-loop | reduce_scatter-loop | broadcast-loop | reduce-loop |
 *         barrier-loop | mixed-loop (cycles through all of them)
 *
 * Output (parsed by the drivers, one line each, flushed at once):
 *   "rank R pid P"                          at start, before init
 *   "rank R ready size N"                   after init
 *   "rank R ok OP I"                        after each successful, verified operation
 *   "rank R: ERROR WEFT_ERR_X: DETAIL after S.SS s (t=UNIX)"   when a call fails; S is how long
 *                                           the failing call ran, t the wall clock at its return
 * Exit status: 0 after K iterations (K=0: loop forever), 3 after a clean error exit (the call
 * failed, the communicator was destroyed), 4 on wrong data, 2 if init failed. A crash or a hang
 * is anything else. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "../common/rank_util.h"

static int rank, size;

static double wall_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

typedef enum { OP_ALLREDUCE, OP_ALLGATHER, OP_REDUCE_SCATTER, OP_BROADCAST, OP_REDUCE, OP_BARRIER, OP_COUNT } op_t;
static const char *const op_names[OP_COUNT] = {"allreduce", "allgather", "reduce_scatter", "broadcast", "reduce", "barrier"};

/* Every rank's input element i is (rank + 1) + (i % 7): small integers, so float sums are exact. */
static float input(int r, size_t i) { return (float)(r + 1) + (float)(i % 7); }
static float sum_all(size_t i) { return (float)(size * (size + 1) / 2) + (float)size * (float)(i % 7); }

/* Runs one operation on `count` floats per rank; returns the result, checks the data on success
 * (exits 4 on a wrong element). Buffers hold size * count floats. */
static weft_result_t run_op(weft_comm_t *comm, op_t op, size_t count, float *send, float *recv, int iter) {
  size_t n = (size_t)size;
  int root = iter % size;
  weft_result_t r = WEFT_SUCCESS;
  switch (op) {
    case OP_ALLREDUCE:
      for (size_t i = 0; i < count; i++) send[i] = input(rank, i);
      r = weft_allreduce(comm, send, recv, count, WEFT_FLOAT32, WEFT_SUM);
      break;
    case OP_ALLGATHER:
      for (size_t i = 0; i < count; i++) send[i] = input(rank, i);
      r = weft_allgather(comm, send, recv, count / n, WEFT_FLOAT32);
      break;
    case OP_REDUCE_SCATTER:
      for (size_t i = 0; i < count; i++) send[i] = input(rank, i);
      r = weft_reduce_scatter(comm, send, recv, count / n, WEFT_FLOAT32, WEFT_SUM);
      break;
    case OP_BROADCAST:
      for (size_t i = 0; i < count; i++) send[i] = input(root, i);
      r = weft_broadcast(comm, send, recv, count, WEFT_FLOAT32, root);
      break;
    case OP_REDUCE:
      for (size_t i = 0; i < count; i++) send[i] = input(rank, i);
      r = weft_reduce(comm, send, rank == root ? recv : NULL, count, WEFT_FLOAT32, WEFT_SUM, root);
      break;
    case OP_BARRIER: r = weft_barrier(comm); break;
    default: break;
  }
  if (r != WEFT_SUCCESS) return r;
  long bad = 0;
  size_t first = 0;
  switch (op) {
    case OP_ALLREDUCE:
      for (size_t i = 0; i < count; i++)
        if (recv[i] != sum_all(i) && bad++ == 0) first = i;
      break;
    case OP_ALLGATHER:
      for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < count / n; i++)
          if (recv[k * (count / n) + i] != input((int)k, i) && bad++ == 0) first = k * (count / n) + i;
      break;
    case OP_REDUCE_SCATTER:
      for (size_t i = 0; i < count / n; i++)
        if (recv[i] != sum_all((size_t)rank * (count / n) + i) && bad++ == 0) first = i;
      break;
    case OP_BROADCAST:
      for (size_t i = 0; i < count; i++)
        if (recv[i] != input(root, i) && bad++ == 0) first = i;
      break;
    case OP_REDUCE:
      if (rank == root)
        for (size_t i = 0; i < count; i++)
          if (recv[i] != sum_all(i) && bad++ == 0) first = i;
      break;
    default: break;
  }
  if (bad) {
    printf("rank %d: WRONG %s iteration %d: %ld bad elements, first at %zu\n", rank, op_names[op], iter, bad, first);
    fflush(stdout);
    exit(4);
  }
  return WEFT_SUCCESS;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *env_rank = getenv("WEFT_RANK");
  rank = env_rank ? atoi(env_rank) : -1;
  printf("rank %d pid %ld\n", rank, (long)getpid());
  if (argc < 2) {
    fprintf(stderr, "usage: fault_rank MODE [--mib M] [--iters K]\n");
    return 2;
  }
  const char *mode = argv[1];
  double mib = 8.0;
  long iters = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--mib")) mib = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--iters")) iters = atol(argv[i + 1]);
  }
  int first_op = -1;
  for (int k = 0; k < OP_COUNT; k++) {
    char name[64];
    snprintf(name, sizeof name, "%s-loop", op_names[k]);
    if (!strcmp(mode, name)) first_op = k;
  }
  bool mixed = !strcmp(mode, "mixed-loop");
  if (first_op < 0 && !mixed) {
    fprintf(stderr, "fault_rank: unknown mode %s\n", mode);
    return 2;
  }
  weft_comm_t *comm = NULL;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) {
    printf("rank %d: INIT FAILED %s: %s\n", rank, code_name(r), weft_comm_last_error(NULL));
    return 2;
  }
  rank = weft_comm_rank(comm);
  size = weft_comm_size(comm);
  /* count floats per rank, a multiple of size so allgather/reduce_scatter split it evenly */
  size_t count = (size_t)(mib * 1024 * 1024 / 4);
  count -= count % (size_t)size;
  if (count == 0) count = (size_t)size;
  float *send = malloc(count * sizeof(float)), *recv = malloc(count * sizeof(float));
  if (!send || !recv) return 2;
  printf("rank %d ready size %d\n", rank, size);
  for (long it = 0; iters == 0 || it < iters; it++) {
    op_t op = mixed ? (op_t)(it % OP_COUNT) : (op_t)first_op;
    double t0 = mono_now();
    r = run_op(comm, op, count, send, recv, (int)it);
    if (r != WEFT_SUCCESS) {
      double took = mono_now() - t0;
      printf("rank %d: ERROR %s: %s after %.2f s (t=%.6f)\n", rank, code_name(r), weft_comm_last_error(comm), took,
             wall_now());
      weft_comm_destroy(comm);
      free(send), free(recv);
      return 3;
    }
    printf("rank %d ok %s %ld\n", rank, op_names[op], it);
  }
  weft_comm_destroy(comm);
  free(send), free(recv);
  return 0;
}
