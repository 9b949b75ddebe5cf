/* The checking helpers of the test rank programs that verify values themselves (group_check,
 * p2p_check): CHECK counts a check and reports a wrong one without stopping, must() ends the rank
 * on a call that had to succeed. The including file defines `wrank` (this rank, for messages)
 * before including this. */
#ifndef WEFT_TESTS_CHECK_H
#define WEFT_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "weft.h"
#include "rank_util.h"

static long checked, wrong;

#define CHECK(cond, ...)                               \
  do {                                                 \
    checked++;                                         \
    if (!(cond)) {                                     \
      wrong++;                                         \
      fprintf(stderr, "rank %d: WRONG: ", wrank);      \
      fprintf(stderr, __VA_ARGS__);                    \
      fprintf(stderr, "\n");                           \
    }                                                  \
  } while (0)

static inline void must(weft_comm_t *comm, weft_result_t r, const char *what) {
  if (r == WEFT_SUCCESS) return;
  fprintf(stderr, "rank %d: %s failed: %s: %s\n", wrank, what, code_name(r), weft_comm_last_error(comm));
  exit(2);
}

#endif
