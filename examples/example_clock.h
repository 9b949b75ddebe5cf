/* Clock and sleep helpers shared by the examples that time their own behaviour
 * (elastic_sgd.c, chaos_rank.c): wall-clock stamps that a test driver can line up with its own
 * (unix_now), intervals (mono_now), and a sleep that resumes after signals (sleep_ms). */
#ifndef WEFT_EXAMPLES_EXAMPLE_CLOCK_H
#define WEFT_EXAMPLES_EXAMPLE_CLOCK_H

#include <time.h>

static inline double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

#endif
