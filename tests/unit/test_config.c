/* Settings table and its strict parsers (lib/core/config.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

/* lib/core/log.c may not be linked into this test; a weak stub keeps it linkable either way and
 * the tests never depend on what the log does. */
__attribute__((weak)) void weft__log(weft_log_level_t level, const char *fmt, ...) {
  (void)level;
  (void)fmt;
}

static const char *const all_vars[] = {
    "WEFT_TIMEOUT",   "WEFT_INIT_TIMEOUT", "WEFT_CONNECT_TIMEOUT", "WEFT_HEARTBEAT_INTERVAL",
    "WEFT_HEARTBEAT_TIMEOUT", "WEFT_RECOVER_TIMEOUT", "WEFT_ALGO", "WEFT_TREE_THRESHOLD", "WEFT_CHUNK_SIZE",
    "WEFT_TCP_NSOCKS", "WEFT_P2P_BUFFER", "WEFT_SPIN_US", "WEFT_MIN_SIZE", "WEFT_LOG_LEVEL", "WEFT_ENCRYPT"};

static int clear_env(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++) unsetenv(all_vars[i]);
  return 0;
}

static void assert_seconds(const char *s, double want) {
  double v = -1;
  if (!weft__parse_seconds(s, &v)) fail_msg("rejected \"%s\"", s);
  if (v != want) fail_msg("\"%s\" -> %.17g, want %.17g", s, v, want);
}

static void test_parse_seconds(void **state) {
  (void)state;
  assert_seconds("5", 5.0);
  assert_seconds("0.5", 0.5);
  assert_seconds(".5", 0.5);
  assert_seconds("5.", 5.0);
  assert_seconds("250ms", 0.25);
  assert_seconds("100ms", 0.1);
  assert_seconds("2s", 2.0);
  assert_seconds("1m", 60.0);
  assert_seconds("1.5h", 5400.0);
  assert_seconds("500us", 0.0005);
  assert_seconds("007", 7.0);
  assert_seconds("2S", 2.0);
  assert_seconds("0.000000000000000000000000000001", 0.0); /* long fraction: no overflow */

  static const char *const bad[] = {"",     "s",     "ms",   ".",    "-1",   "+1",   "1e3", "inf",
                                    "nan",  "NaN",   "0x10", " 5",   "5 ",   "5s ",  "5ss", "5sm",
                                    "1..2", "1.2.3", "5d",   "5min", "5 s",  "1,5",  "m5",
                                    "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v = 42;
    if (weft__parse_seconds(bad[i], &v)) fail_msg("accepted \"%s\" as %g", bad[i], v);
    assert_true(v == 42); /* output untouched on failure */
  }
  double v;
  assert_false(weft__parse_seconds(NULL, &v));
  assert_false(weft__parse_seconds("1", NULL));
}

static void assert_bytes(const char *s, double want) {
  double v = -1;
  if (!weft__parse_bytes(s, &v)) fail_msg("rejected \"%s\"", s);
  if (v != want) fail_msg("\"%s\" -> %.17g, want %.17g", s, v, want);
}

static void test_parse_bytes(void **state) {
  (void)state;
  assert_bytes("0", 0);
  assert_bytes("65536", 65536);
  assert_bytes("64B", 64);
  assert_bytes("64K", 65536);
  assert_bytes("64k", 65536);
  assert_bytes("64Ki", 65536);
  assert_bytes("64KiB", 65536);
  assert_bytes("64KB", 65536); /* binary multiples even without the 'i' */
  assert_bytes("1M", 1048576);
  assert_bytes("1MiB", 1048576);
  assert_bytes("2G", 2147483648.0);
  assert_bytes("1T", 1099511627776.0);
  assert_bytes("1.5K", 1536);
  assert_bytes("8192T", 9007199254740992.0); /* 2^53: the largest exact count */

  static const char *const bad[] = {"",    "K",     "-1",    "-1K",  "+1",   "1.5",  "0.1K", "1e3",
                                    "inf", "nan",   "0x10",  "64iB", "64KiBB", "64KK", "64P", "64 K",
                                    " 64", "64\n",  "16384T", "99999999999999999999999", "1KBi"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v = 42;
    if (weft__parse_bytes(bad[i], &v)) fail_msg("accepted \"%s\" as %g", bad[i], v);
    assert_true(v == 42);
  }
}

static void test_parse_int(void **state) {
  (void)state;
  long long v;
  assert_true(weft__parse_int("0", &v) && v == 0);
  assert_true(weft__parse_int("42", &v) && v == 42);
  assert_true(weft__parse_int("-1", &v) && v == -1);
  assert_true(weft__parse_int("+7", &v) && v == 7);
  assert_true(weft__parse_int("0042", &v) && v == 42);
  assert_true(weft__parse_int("9223372036854775807", &v) && v == INT64_MAX);
  assert_true(weft__parse_int("-9223372036854775808", &v) && v == INT64_MIN);

  static const char *const bad[] = {"",   "-",   "+",    "--1", "1.0", "1e3", "0x10", " 1",  "1 ",
                                    "1a", "a1",  "+-1",  "١",   "9223372036854775808",
                                    "-9223372036854775809", "99999999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = 42;
    if (weft__parse_int(bad[i], &v)) fail_msg("accepted \"%s\" as %lld", bad[i], v);
    assert_true(v == 42);
  }
}

static void test_parse_algo(void **state) {
  (void)state;
  int a = -1;
  assert_true(weft__parse_algo("auto", &a) && a == 0);
  assert_true(weft__parse_algo("ring", &a) && a == 1);
  assert_true(weft__parse_algo("tree", &a) && a == 2);
  assert_true(weft__parse_algo("RING", &a) && a == 1);
  assert_true(weft__parse_algo("Tree", &a) && a == 2);
  static const char *const bad[] = {"", "rin", "rings", " ring", "ring ", "1", "auto\n", "tre"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    a = 42;
    if (weft__parse_algo(bad[i], &a)) fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(a, 42);
  }
}

/* Very long inputs must be rejected (or parsed) without reading past the terminator. */
static void test_parse_long_inputs(void **state) {
  (void)state;
  size_t n = 1 << 16;
  char *s = malloc(n + 1);
  assert_non_null(s);
  double d;
  long long ll;
  int a;
  memset(s, '9', n);
  s[n] = '\0';
  assert_false(weft__parse_seconds(s, &d));
  assert_false(weft__parse_bytes(s, &d));
  assert_false(weft__parse_int(s, &ll));
  memset(s, '0', n);
  s[n - 1] = '1';
  assert_true(weft__parse_int(s, &ll) && ll == 1); /* leading zeros are not overflow */
  assert_true(weft__parse_seconds(s, &d) && d == 1.0);
  s[0] = '.';
  assert_true(weft__parse_seconds(s, &d) && d == 0.0);
  memset(s, 'a', n);
  assert_false(weft__parse_algo(s, &a));
  free(s);
}

/* Must run before anything touches the settings: in a child, an explicit weft__cfg_load that
 * comes first is not undone by the implicit first load of a later weft__cfg_get. */
static void test_explicit_load_first(void **state) {
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setenv("WEFT_SPIN_US", "7", 1);
    int ok = weft__cfg_load(NULL, 0) == WEFT_SUCCESS;
    unsetenv("WEFT_SPIN_US");
    ok = ok && weft__cfg_get(WEFT__CFG_SPIN_US) == 7;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Runs first in this process: no weft__cfg_load yet, so weft__cfg_get must load the environment itself. */
static void test_lazy_first_get(void **state) {
  (void)state;
  setenv("WEFT_TCP_NSOCKS", "3", 1);
  setenv("WEFT_ALGO", "bogus", 1); /* logged through the (stubbed) log, default used */
  assert_true(weft__cfg_get(WEFT__CFG_TCP_NSOCKS) == 3);
  assert_true(weft__cfg_get(WEFT__CFG_ALGO) == 0);
  /* Later environment changes are not seen until the next weft__cfg_load. */
  setenv("WEFT_TCP_NSOCKS", "5", 1);
  assert_true(weft__cfg_get(WEFT__CFG_TCP_NSOCKS) == 3);
  assert_int_equal(weft__cfg_load(NULL, 0), WEFT_ERR_INVALID_ARGUMENT);
  assert_true(weft__cfg_get(WEFT__CFG_TCP_NSOCKS) == 5);
}

static void *reader(void *arg) {
  int *bad = arg;
  for (int i = 0; i < 20000; i++) {
    if (weft__cfg_get(WEFT__CFG_CHUNK_SIZE) != 8192) ++*bad;
    if (i % 100 == 0 && weft__cfg_load(NULL, 0) != WEFT_SUCCESS) ++*bad;
  }
  return NULL;
}

/* Concurrent loads and gets neither deadlock nor expose a half-written table. */
static void test_concurrent_get_and_load(void **state) {
  (void)state;
  pthread_t t[4];
  int bad[4] = {0};
  setenv("WEFT_CHUNK_SIZE", "8K", 1);
  assert_int_equal(weft__cfg_load(NULL, 0), WEFT_SUCCESS);
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, reader, &bad[i]), 0);
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(bad[i], 0);
  }
}

static void test_defaults(void **state) {
  (void)state;
  char err[512] = "stale";
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_SUCCESS);
  assert_string_equal(err, "");
  assert_true(weft__cfg_get(WEFT__CFG_TIMEOUT) == 300.0);
  assert_true(weft__cfg_get(WEFT__CFG_HEARTBEAT_INTERVAL) == 0.5);
  assert_true(weft__cfg_get(WEFT__CFG_ALGO) == 0);
  assert_true(weft__cfg_get(WEFT__CFG_TREE_THRESHOLD) == 65536);
  assert_true(weft__cfg_get(WEFT__CFG_CHUNK_SIZE) == 524288);
  assert_true(weft__cfg_get(WEFT__CFG_TCP_NSOCKS) == 2);
  assert_true(weft__cfg_get(WEFT__CFG_ENCRYPT) == 0); /* off unless asked for */
  assert_true(weft__cfg_get(WEFT__CFG_LOG_LEVEL) == -1);
  assert_true(weft__cfg_get(WEFT__CFG_COUNT) == 0.0); /* out of range key */
}

static void test_overrides(void **state) {
  (void)state;
  char err[512];
  setenv("WEFT_TIMEOUT", "250ms", 1);
  setenv("WEFT_ALGO", "Tree", 1);
  setenv("WEFT_TREE_THRESHOLD", "1MiB", 1);
  setenv("WEFT_TCP_NSOCKS", "16", 1);
  setenv("WEFT_LOG_LEVEL", "3", 1);
  setenv("WEFT_SPIN_US", "", 1); /* empty: the default */
  setenv("WEFT_ENCRYPT", "1", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_SUCCESS);
  assert_true(weft__cfg_get(WEFT__CFG_ENCRYPT) == 1);
  assert_true(weft__cfg_get(WEFT__CFG_TIMEOUT) == 0.25);
  assert_true(weft__cfg_get(WEFT__CFG_ALGO) == 2);
  assert_true(weft__cfg_get(WEFT__CFG_TREE_THRESHOLD) == 1048576);
  assert_true(weft__cfg_get(WEFT__CFG_TCP_NSOCKS) == 16);
  assert_true(weft__cfg_get(WEFT__CFG_LOG_LEVEL) == 3);
  assert_true(weft__cfg_get(WEFT__CFG_SPIN_US) == 50);

  /* Re-reading picks up changes, including a variable going away. */
  unsetenv("WEFT_TIMEOUT");
  setenv("WEFT_ALGO", "ring", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_SUCCESS);
  assert_true(weft__cfg_get(WEFT__CFG_TIMEOUT) == 300.0);
  assert_true(weft__cfg_get(WEFT__CFG_ALGO) == 1);
}

/* Exact bounds are accepted; one step outside is rejected. */
static void test_bounds(void **state) {
  (void)state;
  char err[512];
  setenv("WEFT_TIMEOUT", "0.1", 1);
  setenv("WEFT_CHUNK_SIZE", "4K", 1);
  setenv("WEFT_TCP_NSOCKS", "1", 1);
  setenv("WEFT_LOG_LEVEL", "-1", 1);
  setenv("WEFT_TREE_THRESHOLD", "1T", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_SUCCESS);
  assert_true(weft__cfg_get(WEFT__CFG_TIMEOUT) == 0.1);
  assert_true(weft__cfg_get(WEFT__CFG_CHUNK_SIZE) == 4096);
  assert_true(weft__cfg_get(WEFT__CFG_TREE_THRESHOLD) == 1099511627776.0);

  static const struct {
    const char *var, *value;
  } outside[] = {{"WEFT_TIMEOUT", "99ms"},       {"WEFT_TIMEOUT", "86401"},
                 {"WEFT_CHUNK_SIZE", "4095"},    {"WEFT_CHUNK_SIZE", "65M"},
                 {"WEFT_TCP_NSOCKS", "0"},       {"WEFT_TCP_NSOCKS", "17"},
                 {"WEFT_LOG_LEVEL", "-2"},       {"WEFT_LOG_LEVEL", "4"},
                 {"WEFT_TREE_THRESHOLD", "1025G"}, {"WEFT_MIN_SIZE", "0"},
                 {"WEFT_ENCRYPT", "2"},          {"WEFT_ENCRYPT", "-1"}};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    clear_env(NULL);
    setenv(outside[i].var, outside[i].value, 1);
    err[0] = '\0';
    if (weft__cfg_load(err, sizeof err) != WEFT_ERR_INVALID_ARGUMENT)
      fail_msg("%s=%s accepted", outside[i].var, outside[i].value);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s=%s: out of range (expected", outside[i].var, outside[i].value);
    if (strncmp(err, prefix, strlen(prefix)) != 0) fail_msg("message \"%s\"", err);
  }
}

/* WEFT_RECOVER_TIMEOUT: a minute by default, down to half a second (the tests use 1-2 s). */
static void test_recover_timeout(void **state) {
  (void)state;
  char err[1024];
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_SUCCESS);
  assert_true(weft__cfg_get(WEFT__CFG_RECOVER_TIMEOUT) == 60.0);
  setenv("WEFT_RECOVER_TIMEOUT", "1.5s", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_SUCCESS);
  assert_true(weft__cfg_get(WEFT__CFG_RECOVER_TIMEOUT) == 1.5);
  setenv("WEFT_RECOVER_TIMEOUT", "100ms", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err, "WEFT_RECOVER_TIMEOUT=100ms"));
  assert_true(weft__cfg_get(WEFT__CFG_RECOVER_TIMEOUT) == 60.0);
  clear_env(NULL);
}

static void test_errors_name_variable_and_keep_others(void **state) {
  (void)state;
  char err[1024];
  setenv("WEFT_TIMEOUT", "5x", 1);
  setenv("WEFT_CHUNK_SIZE", "-1K", 1);
  setenv("WEFT_ALGO", "butterfly", 1);
  setenv("WEFT_TCP_NSOCKS", "4", 1);     /* valid: still loaded */
  setenv("WEFT_HEARTBEAT_TIMEOUT", "10s", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err, "WEFT_TIMEOUT=5x: not a duration (expected a duration"));
  assert_non_null(strstr(err, "WEFT_CHUNK_SIZE=-1K: negative (expected"));
  assert_non_null(strstr(err, "WEFT_ALGO=butterfly: unknown algorithm (expected auto, ring or tree)"));
  assert_null(strstr(err, "WEFT_TCP_NSOCKS"));
  assert_true(weft__cfg_get(WEFT__CFG_TIMEOUT) == 300.0); /* invalid: the default */
  assert_true(weft__cfg_get(WEFT__CFG_CHUNK_SIZE) == 524288);
  assert_true(weft__cfg_get(WEFT__CFG_ALGO) == 0);
  assert_true(weft__cfg_get(WEFT__CFG_TCP_NSOCKS) == 4);
  assert_true(weft__cfg_get(WEFT__CFG_HEARTBEAT_TIMEOUT) == 10.0);

  clear_env(NULL);
  setenv("WEFT_SPIN_US", "99999999999999999999", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err, "WEFT_SPIN_US=99999999999999999999: too large"));
  setenv("WEFT_SPIN_US", "nan", 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err, "WEFT_SPIN_US=nan: not a whole number"));

  /* A tiny or absent buffer is never overrun and the result is the same. */
  char tiny[8];
  memset(tiny, 'x', sizeof tiny);
  assert_int_equal(weft__cfg_load(tiny, 5), WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(strlen(tiny), 4);
  assert_int_equal(tiny[5], 'x');
  assert_int_equal(weft__cfg_load(NULL, 0), WEFT_ERR_INVALID_ARGUMENT);
}

static void test_huge_value_is_truncated_in_message(void **state) {
  (void)state;
  size_t n = 100000;
  char *big = malloc(n + 1);
  char err[256];
  assert_non_null(big);
  memset(big, '7', n);
  big[n] = '\0';
  setenv("WEFT_TIMEOUT", big, 1);
  assert_int_equal(weft__cfg_load(err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_true(strncmp(err, "WEFT_TIMEOUT=7777", 17) == 0);
  assert_non_null(strstr(err, "...: not a duration"));
  free(big);
}

static void test_config_init(void **state) {
  (void)state;
  weft_config_t c;
  memset(&c, 0xab, sizeof c);
  weft_config_init(&c);
  assert_int_equal(c.size, sizeof c);
  assert_int_equal(c.rank, -1);
  assert_int_equal(c.world_size, 0);
  assert_null(c.coordinator);
  assert_null(c.job_token);
  assert_true(c.timeout_s == 0.0);
  weft_config_init(NULL); /* no crash */
}

static void test_config_print(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  setenv("WEFT_CHUNK_SIZE", "1M", 1);
  setenv("WEFT_ALGO", "ring", 1);
  assert_int_equal(weft__cfg_load(NULL, 0), WEFT_SUCCESS);
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  weft_config_print(f);
  fclose(f);
  assert_non_null(buf);
  /* one header line plus one line per setting */
  int lines = 0;
  for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
  assert_int_equal(lines, 1 + WEFT__CFG_COUNT);
  for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++)
    assert_non_null(strstr(buf, all_vars[i]));
  const char *chunk = strstr(buf, "WEFT_CHUNK_SIZE");
  assert_non_null(chunk);
  assert_non_null(strstr(chunk, "1MiB"));     /* effective */
  assert_non_null(strstr(chunk, "512KiB"));   /* default */
  assert_non_null(strstr(chunk, "[4KiB, 64MiB]"));
  assert_non_null(strstr(chunk, "bytes per wire frame"));
  const char *algo = strstr(buf, "WEFT_ALGO");
  assert_non_null(strstr(algo, "ring"));
  assert_non_null(strstr(strstr(buf, "WEFT_TIMEOUT"), "300s"));
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_explicit_load_first, clear_env), /* these two stay first */
      cmocka_unit_test_setup(test_lazy_first_get, clear_env),
      cmocka_unit_test(test_parse_seconds),
      cmocka_unit_test(test_parse_bytes),
      cmocka_unit_test(test_parse_int),
      cmocka_unit_test(test_parse_algo),
      cmocka_unit_test(test_parse_long_inputs),
      cmocka_unit_test_setup(test_concurrent_get_and_load, clear_env),
      cmocka_unit_test_setup(test_defaults, clear_env),
      cmocka_unit_test_setup(test_overrides, clear_env),
      cmocka_unit_test_setup(test_bounds, clear_env),
      cmocka_unit_test_setup(test_recover_timeout, clear_env),
      cmocka_unit_test_setup(test_errors_name_variable_and_keep_others, clear_env),
      cmocka_unit_test_setup(test_huge_value_is_truncated_in_message, clear_env),
      cmocka_unit_test(test_config_init),
      cmocka_unit_test_setup(test_config_print, clear_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
