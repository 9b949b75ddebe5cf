/* JSON lines for the soak (see chaos_log.h). */
#include "chaos_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char g_line[4096];
static size_t g_len;

static void add(const char *fmt_out, size_t n) {
  if (g_len + n >= sizeof g_line - 64) n = sizeof g_line - 64 - g_len; /* room for the end */
  memcpy(g_line + g_len, fmt_out, n);
  g_len += n;
}

static void key(const char *k) {
  char buf[80];
  int n = snprintf(buf, sizeof buf, ",\"%s\":", k);
  add(buf, (size_t)n);
}

double chaos_unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double chaos_mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void chaos_log_begin(const char *event) {
  g_len = 0;
  char buf[80];
  int n = snprintf(buf, sizeof buf, "{\"ev\":\"%s\"", event);
  add(buf, (size_t)n);
}

void chaos_log_int(const char *k, int64_t v) {
  char buf[32];
  key(k);
  add(buf, (size_t)snprintf(buf, sizeof buf, "%" PRId64, v));
}

void chaos_log_num(const char *k, double v) {
  char buf[40];
  key(k);
  add(buf, (size_t)snprintf(buf, sizeof buf, "%.6f", v));
}

void chaos_log_bool(const char *k, int v) {
  key(k);
  add(v ? "true" : "false", v ? 4 : 5);
}

/* Library details are free text: quote what JSON needs, drop other control characters. */
void chaos_log_str(const char *k, const char *s) {
  key(k);
  add("\"", 1);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      add(esc, 2);
    } else if (c >= 0x20) {
      add((const char *)&c, 1);
    }
  }
  add("\"", 1);
}

void chaos_log_ints(const char *k, const int *v, int n) {
  char buf[24];
  key(k);
  add("[", 1);
  for (int i = 0; i < n; i++) add(buf, (size_t)snprintf(buf, sizeof buf, "%s%d", i ? "," : "", v[i]));
  add("]", 1);
}

/* add() kept 64 bytes free for this. */
void chaos_log_end(void) {
  g_len += (size_t)snprintf(g_line + g_len, sizeof g_line - g_len, ",\"t\":%.6f}\n", chaos_unix_now());
  fwrite(g_line, 1, g_len, stdout);
  fflush(stdout);
}
