/* Cards (lib/core/card.c) and the host identity they carry (lib/bootstrap/host_id.c, the
 * WEFT_HOST_ID override in env.c): cards round-trip; the decoder refuses truncated, oversized,
 * inconsistent and unknown-version blobs with a reason and without touching its output, skips
 * sections it does not know, and takes the member id from the service's list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bootstrap/env.h"
#include "bootstrap/host_id.h"
#include "core/card.h"

static weft__card_t sample(void) {
  weft__card_t c = {.member_id = 0, .host_id = 0x0123456789abcdefull,
                    .addr = {.family = 4, .port = 40001, .ip = {10, 1, 2, 3}}};
  return c;
}

/* Decodes and expects a refusal whose reason contains `reason`; the output stays untouched. */
static void refused(const uint8_t *p, size_t len, const char *reason) {
  weft__card_t out;
  memset(&out, 0x77, sizeof out);
  weft__card_t before = out;
  char why[160] = "";
  assert_false(weft__card_decode(p, len, 9, &out, why, sizeof why));
  if (strstr(why, reason) == NULL) fail_msg("reason \"%s\" lacks \"%s\"", why, reason);
  assert_memory_equal(&out, &before, sizeof out);
}

static void test_round_trip(void **state) {
  (void)state;
  uint8_t b[WEFT__CARD_MAX];
  weft__card_t c = sample(), d;
  char why[160];
  size_t n = weft__card_encode(&c, b, sizeof b);
  assert_int_equal(n, WEFT__CARD_HDR_LEN + 4 + 20);
  assert_int_equal(b[0], WEFT__CARD_VERSION);
  assert_int_equal(b[2] | b[3] << 8, n);
  assert_int_equal(b[12], 0xef); /* host id, low byte first */
  /* Published before the member id was known (0): the service's id fills it. */
  assert_true(weft__card_decode(b, n, 9, &d, why, sizeof why));
  assert_true(d.member_id == 9 && d.host_id == c.host_id);
  assert_memory_equal(&d.addr, &c.addr, sizeof c.addr);
  /* IPv6, with the member id in the card: it must be the listed one. */
  c.member_id = 9;
  c.addr = (weft__addr_t){.family = 6, .port = 7};
  c.addr.ip[15] = 1;
  n = weft__card_encode(&c, b, sizeof b);
  assert_true(weft__card_decode(b, n, 9, &d, why, sizeof why));
  assert_int_equal(d.addr.family, 6);
  assert_int_equal(d.addr.ip[15], 1);
}

static void test_member_id_mismatch_and_no_tcp(void **state) {
  (void)state;
  uint8_t b[WEFT__CARD_MAX];
  weft__card_t c = sample(), d;
  char why[160];
  c.member_id = 4;
  size_t n = weft__card_encode(&c, b, sizeof b);
  refused(b, n, "card of member 4 listed for member 9");
  /* A member without TCP: the card has no section and TCP cannot reach it. */
  c.member_id = 0;
  c.addr = (weft__addr_t){0};
  n = weft__card_encode(&c, b, sizeof b);
  assert_int_equal(n, WEFT__CARD_HDR_LEN);
  assert_true(weft__card_decode(b, n, 3, &d, why, sizeof why));
  assert_int_equal(d.addr.family, 0);
  /* No room: 0, nothing written past cap. */
  c = sample();
  memset(b, 0xee, sizeof b);
  assert_int_equal(weft__card_encode(&c, b, WEFT__CARD_HDR_LEN + 23), 0);
  assert_int_equal(weft__card_encode(&c, NULL, sizeof b), 0);
}

static void test_truncated_and_oversized(void **state) {
  (void)state;
  uint8_t b[WEFT__CARD_MAX + 8];
  weft__card_t c = sample();
  size_t n = weft__card_encode(&c, b, sizeof b);
  refused(NULL, n, "truncated");
  refused(b, 0, "truncated");
  refused(b, WEFT__CARD_HDR_LEN - 1, "truncated");
  for (size_t cut = WEFT__CARD_HDR_LEN + 1; cut < n; cut++) { /* inside the section: length field disagrees */
    b[2] = (uint8_t)cut;
    b[3] = 0;
    refused(b, cut, cut < WEFT__CARD_HDR_LEN + 4 ? "section header" : "claims 20 bytes");
  }
  b[2] = (uint8_t)n;
  refused(b, n - 1, "says it is"); /* the blob's own length is checked against what came */
  refused(b, n + 1, "says it is");
  /* Over the limit, whatever the length field says. */
  memset(b + n, 0, sizeof b - n);
  b[2] = (uint8_t)((WEFT__CARD_MAX + 1) & 0xff);
  b[3] = (uint8_t)((WEFT__CARD_MAX + 1) >> 8);
  refused(b, WEFT__CARD_MAX + 1, "over the limit");
  /* A section claiming more than the blob holds (65535 bytes). */
  n = weft__card_encode(&c, b, sizeof b);
  b[WEFT__CARD_HDR_LEN + 2] = 0xff;
  b[WEFT__CARD_HDR_LEN + 3] = 0xff;
  refused(b, n, "claims 65535 bytes");
}

static void test_unknown_section_skipped(void **state) {
  (void)state;
  uint8_t b[WEFT__CARD_MAX];
  weft__card_t c = sample(), d;
  char why[160];
  size_t n = weft__card_encode(&c, b, sizeof b);
  /* A later transport's section (type 0x4242, 5 bytes) before TCP, and an empty one after. */
  uint8_t *sec = b + WEFT__CARD_HDR_LEN;
  memmove(sec + 9, sec, n - WEFT__CARD_HDR_LEN);
  const uint8_t unknown[9] = {0x42, 0x42, 5, 0, 's', 'h', 'm', '/', '1'};
  memcpy(sec, unknown, sizeof unknown);
  n += 9;
  const uint8_t empty[4] = {0x43, 0x42, 0, 0};
  memcpy(b + n, empty, 4);
  n += 4;
  b[2] = (uint8_t)n;
  assert_true(weft__card_decode(b, n, 9, &d, why, sizeof why));
  assert_true(d.host_id == c.host_id);
  assert_memory_equal(&d.addr, &c.addr, sizeof c.addr);
  /* A known section twice, or of the wrong length, or with a bad address, is refused. */
  n = weft__card_encode(&c, b, sizeof b);
  memcpy(b + n, b + WEFT__CARD_HDR_LEN, 24);
  b[2] = (uint8_t)(n + 24);
  refused(b, n + 24, "two TCP sections");
  n = weft__card_encode(&c, b, sizeof b);
  b[WEFT__CARD_HDR_LEN + 2] = 19;
  b[2] = (uint8_t)(n - 1);
  refused(b, n - 1, "TCP section of 19 bytes");
  n = weft__card_encode(&c, b, sizeof b);
  b[WEFT__CARD_HDR_LEN + 4] = 5; /* family */
  refused(b, n, "not an IPv4 or IPv6 address");
}

/* The IDENTITY section: the member's public key round-trips; a card without one decodes with
 * has_identity false; a wrong length or a second copy is refused (a peer must never be checked
 * against half a key, or against whichever of two keys a decoder happened to keep). */
static void test_identity_section(void **state) {
  (void)state;
  uint8_t b[WEFT__CARD_MAX];
  weft__card_t c = sample(), d;
  char why[160];
  for (int i = 0; i < WEFT__IDENTITY_PK_LEN; i++) c.identity[i] = (uint8_t)(0x40 + i);
  c.has_identity = true;
  size_t n = weft__card_encode(&c, b, sizeof b);
  assert_int_equal(n, WEFT__CARD_HDR_LEN + 4 + 20 + 4 + WEFT__IDENTITY_PK_LEN);
  assert_true(weft__card_decode(b, n, 9, &d, why, sizeof why));
  assert_true(d.has_identity);
  assert_memory_equal(d.identity, c.identity, WEFT__IDENTITY_PK_LEN);
  assert_memory_equal(&d.addr, &c.addr, sizeof c.addr);
  size_t sec = WEFT__CARD_HDR_LEN + 4 + 20; /* the IDENTITY section's header */
  assert_int_equal(b[sec], WEFT__CARD_SEC_IDENTITY);
  assert_int_equal(b[sec + 2], WEFT__IDENTITY_PK_LEN);
  /* Two IDENTITY sections. */
  uint8_t two[WEFT__CARD_MAX];
  memcpy(two, b, n);
  memcpy(two + n, b + sec, 4 + WEFT__IDENTITY_PK_LEN);
  two[2] = (uint8_t)(n + 4 + WEFT__IDENTITY_PK_LEN);
  refused(two, n + 4 + WEFT__IDENTITY_PK_LEN, "two IDENTITY sections");
  /* A short key: its section says 31 bytes. */
  b[sec + 2] = WEFT__IDENTITY_PK_LEN - 1;
  b[2] = (uint8_t)(n - 1);
  refused(b, n - 1, "IDENTITY section of 31 bytes");
  /* None at all. */
  c.has_identity = false;
  n = weft__card_encode(&c, b, sizeof b);
  assert_true(weft__card_decode(b, n, 9, &d, why, sizeof why));
  assert_false(d.has_identity);
}

static void test_bad_version_and_reserved(void **state) {
  (void)state;
  uint8_t b[WEFT__CARD_MAX];
  weft__card_t c = sample();
  size_t n = weft__card_encode(&c, b, sizeof b);
  b[0] = WEFT__CARD_VERSION + 1;
  refused(b, n, "version 2");
  b[0] = 0;
  refused(b, n, "version 0");
  b[0] = WEFT__CARD_VERSION;
  b[1] = 1;
  refused(b, n, "reserved");
}

static void test_host_id(void **state) {
  (void)state;
  uint64_t a = weft__host_id(), b = weft__host_id();
  assert_true(a == b);
  assert_true(a != 0);
}

static const char *table_get(const char *name, void *user) {
  const char *const *kv = user;
  for (; kv[0]; kv += 2)
    if (strcmp(kv[0], name) == 0) return kv[1];
  return NULL;
}

static void test_host_id_override(void **state) {
  (void)state;
  weft__env_t env;
  char err[256];
  const char *none[] = {NULL};
  assert_int_equal(weft__env_discover_from(table_get, none, &env, err, sizeof err), WEFT_SUCCESS);
  assert_true(env.host_id == 0); /* not set: the computed one is used */
  const char *hex[] = {"WEFT_HOST_ID", "0xDeadBeef00000001", NULL};
  assert_int_equal(weft__env_discover_from(table_get, hex, &env, err, sizeof err), WEFT_SUCCESS);
  assert_true(env.host_id == 0xdeadbeef00000001ull);
  const char *plain[] = {"WEFT_HOST_ID", "1001", NULL};
  assert_int_equal(weft__env_discover_from(table_get, plain, &env, err, sizeof err), WEFT_SUCCESS);
  assert_true(env.host_id == 0x1001);
  const char *bad[] = {"0", "0x", "xyz", "12345678901234567", "0x-1", " 1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    const char *t[] = {"WEFT_HOST_ID", bad[i], NULL};
    assert_int_equal(weft__env_discover_from(table_get, t, &env, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "WEFT_HOST_ID="));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_member_id_mismatch_and_no_tcp),
      cmocka_unit_test(test_truncated_and_oversized),
      cmocka_unit_test(test_unknown_section_skipped),
      cmocka_unit_test(test_identity_section),
      cmocka_unit_test(test_bad_version_and_reserved),
      cmocka_unit_test(test_host_id),
      cmocka_unit_test(test_host_id_override),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
