/* A rank that allreduces in a loop until told to stop (argv[1] iterations, 0 = until an error),
 * printing one line per failure with the time since the last success: the partition test reads
 * those lines to measure detection. Exit 0: all iterations done; 3: a weft error (clean). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weft.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 0;
  weft_comm_t *comm;
  if (weft_comm_init_env(&comm) != WEFT_SUCCESS) {
    fprintf(stderr, "init: %s\n", weft_comm_last_error(NULL));
    return 2;
  }
  int rank = weft_comm_rank(comm), size = weft_comm_size(comm);
  size_t n = 1 << 16;
  float *v = malloc(n * sizeof *v);
  double last_ok = now();
  for (long i = 0; iters == 0 || i < iters; i++) {
    for (size_t k = 0; k < n; k++) v[k] = 1.0f;
    weft_result_t r = weft_allreduce(comm, v, v, n, WEFT_FLOAT32, WEFT_SUM);
    if (r != WEFT_SUCCESS) {
      printf("rank %d: ERROR %s after %.2f s: %s\n", rank, weft_strerror(r), now() - last_ok,
             weft_comm_last_error(comm));
      fflush(stdout);
      weft_comm_destroy(comm);
      return 3;
    }
    if (v[0] != (float)size || v[n - 1] != (float)size) {
      printf("rank %d: WRONG result %f at iteration %ld\n", rank, (double)v[0], i);
      return 1;
    }
    if (i % 50 == 0) {
      printf("rank %d: iteration %ld ok\n", rank, i);
      fflush(stdout);
    }
    last_ok = now();
    struct timespec d = {0, 2000000};
    nanosleep(&d, NULL);
  }
  weft_comm_destroy(comm);
  free(v);
  return 0;
}
