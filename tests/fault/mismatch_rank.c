/* One rank of the mismatch test (tests/fault/test_mismatch.py): the ranks deliberately call
 * different things, then check that the communicator still works.
 *
 *   weftrun -n N mismatch_rank CASE
 *   CASE  a: allreduce, rank 1 count 100, the others 200
 *         b: rank 0 broadcast (root 0), the others allreduce
 *         c: allreduce, the last rank int32, the others float32
 *         d: broadcast, rank 1 root 1, the others root 0
 *         e: allreduce, the last rank max, the others sum
 *         f: allreduce, the last rank count 0, the others 10
 *         g: large (ring) allreduce, rank 1 count 2^20 + 64, the others 2^20
 *
 * Output, one line each:
 *   "rank R: RESULT CASE WEFT_X after S.SS s: DETAIL"     the mismatched call
 *   "rank R: DATA ok|WRONG ..."    after a broadcast that returned success here: its data
 *   "rank R: FOLLOWUP small|large ok" or "... ERROR WEFT_X: DETAIL" or "... WRONG ..."
 * The driver judges the lines; the exit status is 0 unless the program itself broke. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft.h"
#include "../common/rank_util.h"

static int rank, size;

#define BIG (1u << 20)

static weft_result_t mismatched_call(weft_comm_t *comm, char which, float *fs, float *fr, int32_t *is, int32_t *ir) {
  int last = size - 1;
  switch (which) {
    case 'a': return weft_allreduce(comm, fs, fr, rank == 1 ? 100 : 200, WEFT_FLOAT32, WEFT_SUM);
    case 'b':
      if (rank == 0) return weft_broadcast(comm, fs, fr, 200, WEFT_FLOAT32, 0);
      return weft_allreduce(comm, fs, fr, 200, WEFT_FLOAT32, WEFT_SUM);
    case 'c':
      if (rank == last) return weft_allreduce(comm, is, ir, 200, WEFT_INT32, WEFT_SUM);
      return weft_allreduce(comm, fs, fr, 200, WEFT_FLOAT32, WEFT_SUM);
    case 'd': return weft_broadcast(comm, fs, fr, 200, WEFT_FLOAT32, rank == 1 ? 1 : 0);
    case 'e': return weft_allreduce(comm, fs, fr, 200, WEFT_FLOAT32, rank == last ? WEFT_MAX : WEFT_SUM);
    case 'f': return weft_allreduce(comm, fs, fr, rank == last ? 0 : 10, WEFT_FLOAT32, WEFT_SUM);
    case 'g': return weft_allreduce(comm, fs, fr, rank == 1 ? BIG + 64 : BIG, WEFT_FLOAT32, WEFT_SUM);
    default: return WEFT_ERR_INTERNAL;
  }
}

/* A correct allreduce of count floats: element i of rank r is r + 1 + i % 5. */
static void followup(weft_comm_t *comm, const char *what, size_t count, float *s, float *r) {
  for (size_t i = 0; i < count; i++) s[i] = (float)(rank + 1) + (float)(i % 5), r[i] = -1.0f;
  double t0 = mono_now();
  weft_result_t res = weft_allreduce(comm, s, r, count, WEFT_FLOAT32, WEFT_SUM);
  if (res != WEFT_SUCCESS) {
    printf("rank %d: FOLLOWUP %s ERROR %s: %s after %.2f s\n", rank, what, code_name(res), weft_comm_last_error(comm),
           mono_now() - t0);
    return;
  }
  long bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < count; i++) {
    float want = (float)(size * (size + 1) / 2) + (float)size * (float)(i % 5);
    if (r[i] != want && bad++ == 0) first = i;
  }
  if (bad) printf("rank %d: FOLLOWUP %s WRONG %ld bad elements, first at %zu (%g)\n", rank, what, bad, first, r[first]);
  else printf("rank %d: FOLLOWUP %s ok\n", rank, what);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2 || strlen(argv[1]) != 1 || argv[1][0] < 'a' || argv[1][0] > 'g') {
    fprintf(stderr, "usage: mismatch_rank a|b|c|d|e|f|g\n");
    return 2;
  }
  char which = argv[1][0];
  weft_comm_t *comm;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) {
    printf("INIT FAILED %s: %s\n", code_name(r), weft_comm_last_error(NULL));
    return 2;
  }
  rank = weft_comm_rank(comm);
  size = weft_comm_size(comm);
  size_t cap = BIG + 64;
  float *fs = calloc(cap, sizeof(float)), *fr = calloc(cap, sizeof(float));
  int32_t *is = calloc(cap, sizeof(int32_t)), *ir = calloc(cap, sizeof(int32_t));
  if (!fs || !fr || !is || !ir) return 2;
  /* Rank-specific inputs, so a broadcast that "succeeds" can be checked against its root's. */
  for (size_t i = 0; i < cap; i++) fs[i] = (float)(rank * 100 + (int)(i % 7)), is[i] = 1;
  /* MISMATCH_LATE_RANK=R MISMATCH_LATE_MS=T: rank R starts its mismatched call T ms late, so its
   * peers' ABORTs for this call and the next one both arrive before it starts. */
  const char *late = getenv("MISMATCH_LATE_RANK");
  if (late && atoi(late) == rank) {
    const char *ms = getenv("MISMATCH_LATE_MS");
    struct timespec d = {0, (long)(ms ? atoi(ms) : 300) * 1000000L};
    nanosleep(&d, NULL);
  }
  double t0 = mono_now();
  r = mismatched_call(comm, which, fs, fr, is, ir);
  printf("rank %d: RESULT %c %s after %.2f s: %s\n", rank, which, code_name(r), mono_now() - t0,
         r == WEFT_SUCCESS ? "(none)" : weft_comm_last_error(comm));
  if (r == WEFT_SUCCESS && (which == 'd' || (which == 'b' && rank == 0))) {
    int root = which == 'd' && rank == 1 ? 1 : 0; /* the root this rank passed */
    long bad = 0;
    for (size_t i = 0; i < 200; i++) bad += fr[i] != (float)(root * 100 + (int)(i % 7));
    printf("rank %d: DATA %s (%ld of 200 elements differ from root %d's)\n", rank, bad ? "WRONG" : "ok", bad, root);
  }
  followup(comm, "small", 1000, fs, fr);
  followup(comm, "large", BIG, fs, fr);
  weft_comm_destroy(comm);
  free(fs), free(fr), free(is), free(ir);
  return 0;
}
