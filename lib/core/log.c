/* Clock and logging (lib/core/log.c).
 *
 * The library never prints on its own: a message goes to the callback installed with
 * weft_set_log_callback when its level is at most that callback's max_level; without a callback
 * it goes to stderr only when the environment variable WEFT_LOG_LEVEL (0 error .. 3 debug, read
 * once) is at least its level. Every message is "weft[pid] LEVEL: text", formatted into a stack
 * buffer (long messages are truncated), so logging never allocates and is safe from any thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"

#define LOG_LINE_MAX 1024

/* The callback triple is read and written under one lock so a message never sees a callback
 * paired with another callback's user pointer. The callback itself runs outside the lock: a
 * callback that logs (or swaps the callback) must not deadlock. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_log_fn log_fn;
static void *log_user;
static weft_log_level_t log_fn_max;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_level = -1; /* -1: WEFT_LOG_LEVEL unset or invalid: stderr stays silent */

double weft__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void weft__cond_init(pthread_cond_t *cv) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
}

void weft__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, double until) {
  if (!(until > 0)) return;
  if (until > 1e15) until = 1e15; /* "never": still a valid timespec */
  struct timespec ts = {.tv_sec = (time_t)until};
  ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  pthread_cond_timedwait(cv, mu, &ts);
}

static void read_env_level(void) {
  const char *s = getenv("WEFT_LOG_LEVEL");
  if (s == NULL || *s == '\0') return;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < WEFT_LOG_ERROR || v > WEFT_LOG_DEBUG) return;
  env_level = (int)v;
}

static const char *level_name(weft_log_level_t level) {
  switch (level) {
  case WEFT_LOG_ERROR: return "ERROR";
  case WEFT_LOG_WARN: return "WARN";
  case WEFT_LOG_INFO: return "INFO";
  case WEFT_LOG_DEBUG: return "DEBUG";
  }
  return "?";
}

WEFT_API void weft_set_log_callback(weft_log_fn fn, void *user, weft_log_level_t max_level) {
  pthread_mutex_lock(&log_lock);
  log_fn = fn;
  log_user = user;
  log_fn_max = max_level;
  pthread_mutex_unlock(&log_lock);
}

void weft__log(weft_log_level_t level, const char *fmt, ...) {
  pthread_once(&env_once, read_env_level);

  pthread_mutex_lock(&log_lock);
  weft_log_fn fn = log_fn;
  void *user = log_user;
  weft_log_level_t fn_max = log_fn_max;
  pthread_mutex_unlock(&log_lock);

  /* Decide before formatting: a debug message nobody wants costs one lock, not a vsnprintf. */
  if (fn != NULL ? level > fn_max : (env_level < 0 || (int)level > env_level)) return;

  char line[LOG_LINE_MAX];
  int n = snprintf(line, sizeof line, "weft[%ld] %s: ", (long)getpid(), level_name(level));
  if (n < 0) n = 0;
  if ((size_t)n < sizeof line) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
  }

  if (fn != NULL) {
    fn(level, line, user);
  } else {
    /* One fprintf per line: stdio locks the stream, so lines from threads do not interleave. */
    fprintf(stderr, "%s\n", line);
  }
}
