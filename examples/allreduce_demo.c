/* The README's demo: every rank contributes a vector, weft sums it across ranks, and each rank
 * checks the answer and reports what it saw. Run it with `weftrun -n 4 allreduce_demo`.
 *
 * It shows the three things a weft program does: init from the environment (weftrun, torchrun,
 * srun and mpiexec all work unchanged), call collectives, and read a clear error when one
 * fails (here: none should). */
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
  size_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : (1u << 20); /* 4 MiB of float32 */
  weft_comm_t *comm;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "weft_comm_init_env: %s: %s\n", weft_strerror(r), weft_comm_last_error(NULL));
    return 1;
  }
  int rank = weft_comm_rank(comm), size = weft_comm_size(comm);
  float *data = malloc(count * sizeof *data);
  for (size_t i = 0; i < count; i++) data[i] = (float)(rank + 1); /* rank r contributes r+1 */

  double t0 = now();
  r = weft_allreduce(comm, data, data, count, WEFT_FLOAT32, WEFT_SUM); /* in place */
  double dt = now() - t0;
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "rank %d: allreduce failed: %s: %s\n", rank, weft_strerror(r), weft_comm_last_error(comm));
    weft_comm_destroy(comm);
    return 1;
  }
  float expected = (float)size * (float)(size + 1) / 2.0f; /* 1 + 2 + ... + size */
  size_t wrong = 0;
  for (size_t i = 0; i < count; i++) wrong += data[i] != expected;
  printf("rank %d of %d: allreduce(sum) of %zu floats = %.1f (expected %.1f), %zu wrong, %.2f ms\n", rank, size,
         count, (double)data[0], (double)expected, wrong, dt * 1e3);
  weft_barrier(comm);
  weft_comm_destroy(comm);
  free(data);
  return wrong ? 1 : 0;
}
