/* Small helpers shared by the test rank programs: result-code names and a monotonic clock. */
#ifndef WEFT_TESTS_RANK_UTIL_H
#define WEFT_TESTS_RANK_UTIL_H

#include <time.h>

#include "weft.h"

/* "WEFT_ERR_PEER_LOST" etc., from the one result X-macro: test drivers match on these names. */
static inline const char *code_name(weft_result_t r) {
  switch (r) {
#define CODE_NAME(name, value, text) \
  case WEFT_##name: return "WEFT_" #name;
    WEFT_RESULT_MAP(CODE_NAME)
#undef CODE_NAME
    default: return "WEFT_UNKNOWN";
  }
}

static inline double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
