/* Fuzz target: the setting parsers (lib/core/config.c): weft__parse_seconds, weft__parse_bytes,
 * weft__parse_int, weft__parse_algo, which read WEFT_* environment values.
 *
 * Input: the value, as a C string (cut at the first NUL); every parser runs on it.
 * Properties, each against an independent reference written here: parse_int accepts exactly
 * [+-]?[0-9]+ within long long, with strtoll's value; parse_seconds and parse_bytes accept
 * exactly "digits[.digits]" or ".digits" (at most 19 significant integer digits) followed by one
 * of their units, with strtod's value times the unit (to rounding), and a byte count is whole and
 * at most 2^53; parse_algo accepts exactly auto, ring or tree in any ASCII case. */
#include <errno.h>
#include <math.h>
#include <strings.h>

#include "core/config.h"
#include "fuzz_common.h"

static bool ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* The numeric prefix: its length (0 if none), its value and its significant integer digits. */
static size_t number_prefix(const char *s, double *value, int *int_sig, bool *has_dot) {
  size_t i = 0, digits = 0;
  int sig = 0;
  bool lead = true;
  for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
    if (lead && s[i] == '0') continue;
    lead = false;
    sig++;
  }
  *has_dot = s[i] == '.';
  if (*has_dot)
    for (i++; s[i] >= '0' && s[i] <= '9'; i++) digits++;
  if (digits == 0) return 0;
  char *copy = strndup(s, i);
  if (copy == NULL) abort();
  *value = strtod(copy, NULL);
  free(copy);
  *int_sig = sig;
  return i;
}

static bool close_to(double got, double want, double scale) {
  return fabs(got - want) <= 1e-15 * fabs(want) + 1e-18 * scale;
}

static void check_seconds(const char *s) {
  double v = -1.0, ref = 0.0;
  int sig = 0;
  bool dot;
  bool ok = weft__parse_seconds(s, &v);
  size_t n = number_prefix(s, &ref, &sig, &dot);
  const char *u = s + n;
  double mul = 1.0, div = 1.0;
  bool unit_ok = true;
  if (*u == '\0' || ieq(u, "s")) ;
  else if (ieq(u, "ms")) div = 1e3;
  else if (ieq(u, "us")) div = 1e6;
  else if (ieq(u, "m")) mul = 60.0;
  else if (ieq(u, "h")) mul = 3600.0;
  else unit_ok = false;
  if (ok) {
    FUZZ_CHECK(n > 0 && unit_ok && sig <= 19);
    FUZZ_CHECK(isfinite(v) && v >= 0.0);
    FUZZ_CHECK(close_to(v, ref * mul / div, mul / div));
  } else {
    FUZZ_CHECK(n == 0 || !unit_ok || sig > 19);
  }
}

static void check_bytes(const char *s) {
  double v = -1.0, ref = 0.0;
  int sig = 0;
  bool dot;
  bool ok = weft__parse_bytes(s, &v);
  size_t n = number_prefix(s, &ref, &sig, &dot);
  const char *u = s + n;
  double scale = 1.0;
  bool unit_ok = true;
  const char *pre = strchr("kmgtKMGT", *u);
  if (*u != '\0' && pre != NULL) {
    for (int k = 0; k <= (int)((pre - "kmgtKMGT") % 4); k++) scale *= 1024.0;
    u++;
    unit_ok = *u == '\0' || ieq(u, "b") || ieq(u, "i") || ieq(u, "ib");
  } else {
    unit_ok = *u == '\0' || ieq(u, "b");
  }
  if (ok) {
    FUZZ_CHECK(n > 0 && unit_ok && sig <= 19);
    FUZZ_CHECK(v >= 0.0 && v <= 9007199254740992.0 && v == floor(v));
    FUZZ_CHECK(close_to(v, ref * scale, scale));
  } else if (n > 0 && unit_ok && sig <= 19 && !dot && ref * scale < 9.0e15) {
    FUZZ_CHECK(!"a whole byte count below 2^53 was refused");
  }
}

static void check_int(const char *s) {
  long long v = 0;
  bool ok = weft__parse_int(s, &v);
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0, start = i;
  while (s[i] >= '0' && s[i] <= '9') i++;
  bool shape = i > start && s[i] == '\0';
  errno = 0;
  char *end;
  long long ref = shape ? strtoll(s, &end, 10) : 0;
  bool fits = shape && errno == 0 && *end == '\0';
  FUZZ_CHECK(ok == fits);
  if (ok) FUZZ_CHECK(v == ref);
}

static void check_algo(const char *s) {
  int a = -1;
  bool ok = weft__parse_algo(s, &a);
  int want = ieq(s, "auto") ? 0 : ieq(s, "ring") ? 1 : ieq(s, "tree") ? 2 : -1;
  FUZZ_CHECK(ok == (want >= 0));
  if (ok) FUZZ_CHECK(a == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_strdup(data, size);
  check_seconds(s);
  check_bytes(s);
  check_int(s);
  check_algo(s);
  double d;
  long long ll;
  int a;
  FUZZ_CHECK(!weft__parse_seconds(NULL, &d) && !weft__parse_bytes(NULL, &d));
  FUZZ_CHECK(!weft__parse_int(NULL, &ll) && !weft__parse_algo(NULL, &a));
  free(s);
  return 0;
}
