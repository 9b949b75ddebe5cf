/* Timestamped stderr lines for the coordinator (see clog.h). One fprintf per line so lines from
 * the coordinator and from ranks sharing the terminal do not interleave mid-line. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "clog.h"

static bool g_verbose;

void weft__clog_set_verbose(bool verbose) { g_verbose = verbose; }
bool weft__clog_verbose(void) { return g_verbose; }

static void vline(const char *fmt, va_list ap) {
  char msg[1024], stamp[32];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  localtime_r(&tv.tv_sec, &tm);
  strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "[%s.%03ld] weft-coordinator: %s\n", stamp, (long)(tv.tv_usec / 1000), msg);
}

void weft__clog(const char *fmt, ...) {
  if (!g_verbose) return;
  va_list ap;
  va_start(ap, fmt);
  vline(fmt, ap);
  va_end(ap);
}

void weft__clog_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vline(fmt, ap);
  va_end(ap);
}
