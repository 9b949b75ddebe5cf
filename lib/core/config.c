/* Settings: the one table of tunables (WEFT__SETTINGS_MAP in config.h) and the only place that
 * reads their environment overrides.
 *
 * Values are parsed by hand rather than with strtod/strtoll: those accept leading blanks, hex,
 * exponents, "inf" and "nan", and follow the locale's decimal point, none of which a setting
 * should silently accept. The parsers are total functions over any NUL-terminated string (they
 * are fuzzed), never overflow, and consume the whole string or fail.
 *
 * Thread safety: the effective values live in one array behind a mutex. The first weft__cfg_get
 * loads them under pthread_once; weft__cfg_load re-reads the environment whenever called. A bad
 * value falls back to the setting's default, is returned to weft__cfg_load's caller as text, and
 * (for the implicit first load) is logged once. */
#include "core/config.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_SECONDS, KIND_BYTES, KIND_INT, KIND_ENUM_ALGO } kind_t;

typedef struct {
  const char *env;
  kind_t kind;
  double def, lo, hi;
  const char *help;
} setting_t;

static const setting_t settings[WEFT__CFG_COUNT] = {
#define WEFT__SETTING_ROW(key, env, kind, def, lo, hi, help) \
  [WEFT__CFG_##key] = {env, KIND_##kind, def, lo, hi, help},
    WEFT__SETTINGS_MAP(WEFT__SETTING_ROW)
#undef WEFT__SETTING_ROW
};

static const char *const algo_names[] = {"auto", "ring", "tree"};

static pthread_mutex_t values_lock = PTHREAD_MUTEX_INITIALIZER;
static double values[WEFT__CFG_COUNT];
static pthread_once_t first_load = PTHREAD_ONCE_INIT;
/* The first (implicit) load's error, logged by the first weft__cfg_get after it. Logging happens
 * outside pthread_once because the logger itself may ask for WEFT_LOG_LEVEL. */
static char first_load_error[1024];
static atomic_bool first_load_error_pending;

/* ---- parsers ---------------------------------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* ASCII case-insensitive equality (strcasecmp follows the locale: Turkish 'I'). */
static bool ascii_ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower(*a) != ascii_lower(*b)) return false;
  return *a == *b;
}

/* Parses "digits[.digits]" or ".digits" at s. Returns the number of characters consumed, 0 if
 * there is no number. More than 19 significant integer digits is refused (no setting is near
 * 1e19); fraction digits past 19 significant ones are consumed and ignored. */
static size_t parse_decimal(const char *s, double *out) {
  static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};
  uint64_t mant = 0;
  int sig = 0, frac = 0, ndigits = 0;
  size_t i = 0;
  for (; is_digit(s[i]); i++, ndigits++) {
    if (mant == 0 && s[i] == '0') continue; /* leading zeros are not significant */
    if (++sig > 19) return 0;
    mant = mant * 10 + (uint64_t)(s[i] - '0');
  }
  if (s[i] == '.') {
    i++;
    for (; is_digit(s[i]); i++, ndigits++) {
      if (sig >= 19 || frac >= 19) continue; /* beyond a double's precision */
      if (mant != 0 || s[i] != '0') sig++;
      mant = mant * 10 + (uint64_t)(s[i] - '0');
      frac++;
    }
  }
  if (ndigits == 0) return 0;
  *out = (double)mant / pow10[frac];
  return i;
}

bool weft__parse_seconds(const char *s, double *out) {
  /* Sub-second units divide rather than multiply by 1e-3, so "100ms" is exactly 0.1. */
  double v, mul = 1.0, div = 1.0;
  if (!s || !out) return false;
  size_t n = parse_decimal(s, &v);
  if (n == 0) return false;
  const char *unit = s + n;
  if (*unit == '\0' || ascii_ieq(unit, "s"))
    ;
  else if (ascii_ieq(unit, "ms"))
    div = 1e3;
  else if (ascii_ieq(unit, "us"))
    div = 1e6;
  else if (ascii_ieq(unit, "m"))
    mul = 60.0;
  else if (ascii_ieq(unit, "h"))
    mul = 3600.0;
  else
    return false;
  v = v * mul / div;
  if (!isfinite(v)) return false;
  *out = v;
  return true;
}

bool weft__parse_bytes(const char *s, double *out) {
  static const char prefixes[] = "kmgt";
  double v, scale = 1.0;
  if (!s || !out) return false;
  size_t n = parse_decimal(s, &v);
  if (n == 0) return false;
  const char *unit = s + n;
  if (*unit != '\0') {
    const char *p = memchr(prefixes, ascii_lower(*unit), sizeof prefixes - 1);
    if (p != NULL) {
      for (long k = 0; k <= p - prefixes; k++) scale *= 1024.0;
      unit++;
    }
    /* After the prefix: nothing, "B", "i" or "iB"; with no prefix only "B". */
    if (p != NULL && ascii_lower(*unit) == 'i') unit++;
    if (ascii_lower(*unit) == 'b') unit++;
    if (*unit != '\0') return false;
  }
  v *= scale;
  /* A byte count is whole and must stay exact in a double. */
  if (!(v <= 9007199254740992.0) || v != floor(v)) return false;
  *out = v;
  return true;
}

bool weft__parse_int(const char *s, long long *out) {
  if (!s || !out) return false;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (!is_digit(s[i])) return false;
  unsigned long long limit = neg ? (unsigned long long)LLONG_MAX + 1u : (unsigned long long)LLONG_MAX;
  unsigned long long mag = 0;
  for (; is_digit(s[i]); i++) {
    unsigned d = (unsigned)(s[i] - '0');
    if (mag > (limit - d) / 10) return false;
    mag = mag * 10 + d;
  }
  if (s[i] != '\0') return false;
  if (neg)
    *out = mag == (unsigned long long)LLONG_MAX + 1u ? LLONG_MIN : -(long long)mag;
  else
    *out = (long long)mag;
  return true;
}

bool weft__parse_algo(const char *s, int *out) {
  if (!s || !out) return false;
  for (int i = 0; i < (int)WEFT__ARRAY_SIZE(algo_names); i++) {
    if (ascii_ieq(s, algo_names[i])) {
      *out = i;
      return true;
    }
  }
  return false;
}

/* ---- formatting ------------------------------------------------------------------------- */

static void format_bytes(double v, char *buf, size_t len) {
  static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
  double scale = 1099511627776.0;
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(units); i++, scale /= 1024.0) {
    if (v >= scale && fmod(v, scale) == 0.0) {
      snprintf(buf, len, "%.0f%s", v / scale, units[i]);
      return;
    }
  }
  snprintf(buf, len, "%.0f", v);
}

static void format_value(const setting_t *st, double v, char *buf, size_t len) {
  switch (st->kind) {
  case KIND_SECONDS: snprintf(buf, len, "%gs", v); break;
  case KIND_BYTES: format_bytes(v, buf, len); break;
  case KIND_INT: snprintf(buf, len, "%.0f", v); break;
  case KIND_ENUM_ALGO: {
    int i = (int)v;
    snprintf(buf, len, "%s", (i >= 0 && i < (int)WEFT__ARRAY_SIZE(algo_names)) ? algo_names[i] : "?");
    break;
  }
  }
}

/* "(expected ...)" text for one setting. */
static void format_expected(const setting_t *st, char *buf, size_t len) {
  char lo[32], hi[32];
  format_value(st, st->lo, lo, sizeof lo);
  format_value(st, st->hi, hi, sizeof hi);
  switch (st->kind) {
  case KIND_SECONDS:
    snprintf(buf, len, "a duration such as 30, 0.5, 250ms, 2s, 1m or 1h, from %s to %s", lo, hi);
    break;
  case KIND_BYTES:
    snprintf(buf, len, "a size in bytes such as 65536, 64K, 64KiB, 1M or 2G, from %s to %s", lo, hi);
    break;
  case KIND_INT: snprintf(buf, len, "a whole number from %s to %s", lo, hi); break;
  case KIND_ENUM_ALGO: snprintf(buf, len, "auto, ring or tree"); break;
  }
}

/* Appends "ENV=value: reason (expected ...)" to err, separated from earlier errors by "; ".
 * The value is cut at 64 characters so a huge variable cannot hide the rest of the message. */
static void append_error(char *err, size_t errlen, const setting_t *st, const char *value,
                         const char *reason) {
  char expected[160];
  if (!err || errlen == 0) return;
  size_t used = strnlen(err, errlen);
  if (used >= errlen - 1) return;
  format_expected(st, expected, sizeof expected);
  snprintf(err + used, errlen - used, "%s%s=%.64s%s: %s (expected %s)", used ? "; " : "", st->env,
           value, strlen(value) > 64 ? "..." : "", reason, expected);
}

/* ---- loading ---------------------------------------------------------------------------- */

/* Parses one variable; on failure sets *reason and returns false. */
static bool parse_setting(const setting_t *st, const char *s, double *out, const char **reason) {
  bool ok = false;
  switch (st->kind) {
  case KIND_SECONDS: ok = weft__parse_seconds(s, out); *reason = "not a duration"; break;
  case KIND_BYTES: ok = weft__parse_bytes(s, out); *reason = "not a size in bytes"; break;
  case KIND_INT: {
    long long v = 0;
    ok = weft__parse_int(s, &v);
    *out = (double)v;
    *reason = "not a whole number";
    if (!ok) { /* [sign]digits that still failed: it overflowed */
      size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0, start = i;
      while (is_digit(s[i])) i++;
      if (i > start && s[i] == '\0') *reason = "too large";
    }
    break;
  }
  case KIND_ENUM_ALGO: {
    int a = 0;
    ok = weft__parse_algo(s, &a);
    *out = a;
    *reason = "unknown algorithm";
    break;
  }
  }
  if (!ok && st->kind != KIND_INT && s[0] == '-') *reason = "negative";
  if (ok && !(*out >= st->lo && *out <= st->hi)) {
    ok = false;
    *reason = "out of range";
  }
  return ok;
}

static weft_result_t load(char *err, size_t errlen) {
  double fresh[WEFT__CFG_COUNT];
  weft_result_t rc = WEFT_SUCCESS;
  if (err && errlen) err[0] = '\0';
  for (int k = 0; k < WEFT__CFG_COUNT; k++) {
    const setting_t *st = &settings[k];
    const char *s = getenv(st->env);
    const char *reason = NULL;
    fresh[k] = st->def;
    if (s == NULL || s[0] == '\0') continue; /* unset or "VAR=": the default */
    double v;
    if (parse_setting(st, s, &v, &reason)) {
      fresh[k] = v;
    } else {
      append_error(err, errlen, st, s, reason);
      rc = WEFT_ERR_INVALID_ARGUMENT;
    }
  }
  pthread_mutex_lock(&values_lock);
  memcpy(values, fresh, sizeof values);
  pthread_mutex_unlock(&values_lock);
  return rc;
}

static void load_first(void) {
  if (load(first_load_error, sizeof first_load_error) != WEFT_SUCCESS)
    atomic_store(&first_load_error_pending, true);
}

weft_result_t weft__cfg_load(char *err, size_t errlen) {
  /* Run the implicit first load now, so that it cannot later overwrite what we read here. */
  pthread_once(&first_load, load_first);
  atomic_store(&first_load_error_pending, false); /* our caller receives the error itself */
  return load(err, errlen);
}

double weft__cfg_get(weft__cfg_key_t key) {
  if ((int)key < 0 || key >= WEFT__CFG_COUNT) return 0.0;
  pthread_once(&first_load, load_first);
  if (atomic_load(&first_load_error_pending) && atomic_exchange(&first_load_error_pending, false))
    WEFT__WARN("ignoring invalid settings, using their defaults: %s", first_load_error);
  pthread_mutex_lock(&values_lock);
  double v = values[key];
  pthread_mutex_unlock(&values_lock);
  return v;
}

/* ---- public ----------------------------------------------------------------------------- */

/* Prints only when asked: this and the log callback are the library's only output. A NULL
 * stream means stderr. */
WEFT_API void weft_config_print(void *stream) {
  FILE *f = stream ? (FILE *)stream : stderr;
  fprintf(f, "%-24s %-10s %-10s %-20s %s\n", "setting", "value", "default", "bounds", "meaning");
  for (int k = 0; k < WEFT__CFG_COUNT; k++) {
    const setting_t *st = &settings[k];
    char val[32], def[32], lo[32], hi[32], bounds[72];
    format_value(st, weft__cfg_get((weft__cfg_key_t)k), val, sizeof val);
    format_value(st, st->def, def, sizeof def);
    if (st->kind == KIND_ENUM_ALGO) {
      snprintf(bounds, sizeof bounds, "auto|ring|tree");
    } else {
      format_value(st, st->lo, lo, sizeof lo);
      format_value(st, st->hi, hi, sizeof hi);
      snprintf(bounds, sizeof bounds, "[%s, %s]", lo, hi);
    }
    fprintf(f, "%-24s %-10s %-10s %-20s %s\n", st->env, val, def, bounds, st->help);
  }
}

WEFT_API void weft_config_init(weft_config_t *config) {
  if (!config) return;
  memset(config, 0, sizeof *config);
  config->size = sizeof *config;
  config->rank = -1;
  config->world_size = 0;
  config->coordinator = NULL;
  config->job_token = NULL;
  config->timeout_s = 0.0;
}
