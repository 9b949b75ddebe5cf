/* A program as a user writes it against an installed weft (tests/install/consumer.sh builds it
 * with pkg-config and with CMake, then runs it under the installed weftrun). It checks that the
 * header and the library agree, then an allreduce whose every element has one right answer.
 * Exit: 0 ok; 1 a weft call failed; 2 a wrong result; 3 header and library disagree. */
#include <stdio.h>
#include <weft.h>

#define COUNT 1000

int main(void) {
  if (!WEFT_CHECK_VERSION()) {
    fprintf(stderr, "consumer: built with weft %s, running %s\n", WEFT_VERSION_STRING, weft_version_string());
    return 3;
  }
  weft_comm_t *comm = NULL;
  if (weft_comm_init_env(&comm) != WEFT_SUCCESS) {
    fprintf(stderr, "consumer: init: %s\n", weft_comm_last_error(NULL));
    return 1;
  }
  int rank = weft_comm_rank(comm), size = weft_comm_size(comm);
  static double x[COUNT];
  for (int i = 0; i < COUNT; i++) x[i] = rank + 1 + i; /* small integers: exact in any order */
  weft_result_t r = weft_allreduce(comm, x, x, COUNT, WEFT_FLOAT64, WEFT_SUM);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "consumer: allreduce: %s\n", weft_comm_last_error(comm));
    weft_comm_destroy(comm);
    return 1;
  }
  int wrong = 0;
  for (int i = 0; i < COUNT; i++)
    if (x[i] != size * (size + 1) / 2.0 + (double)size * i) wrong++;
  printf("consumer %s rank %d of %d: sum %g, %d wrong (%s)\n", wrong ? "FAILED" : "ok", rank, size,
         x[0], wrong, weft_version_string());
  weft_comm_destroy(comm);
  return wrong ? 2 : 0;
}
