/* The data-plane frame codec: exact layout, round trips, and rejection of anything malformed or
 * oversized before a single payload byte is trusted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wire.h"

static weft__frame_t sample(void) {
  return (weft__frame_t){.type = WEFT__FRAME_DATA, .coll = 2, .dtype = 8, .redop = 3, .algo = 1,
                         .flags = 0x0102, .src_rank = 7, .epoch = 0x1122334455667788ull,
                         .seq = 0x99aabbccddeeff00ull, .count = 123456789, .offset = 1u << 20,
                         .phase = 5, .root = -1, .len = 4096, .code = 0,
                         .comm_id = 0x0807060504030201ull, .msg_count = 1u << 30};
}

static void test_layout_is_little_endian_and_fixed(void **state) {
  (void)state;
  uint8_t b[WEFT__FRAME_HDR_LEN];
  weft__frame_t f = sample();
  weft__frame_encode(b, &f);
  assert_int_equal(b[0], 'W');
  assert_int_equal(b[1], 'E');
  assert_int_equal(b[2], 'F');
  assert_int_equal(b[3], 'T');
  assert_int_equal(b[4], WEFT__WIRE_VERSION);
  assert_int_equal(b[5], WEFT__FRAME_DATA);
  assert_int_equal(b[10], 0x02); /* flags low byte first */
  assert_int_equal(b[12], 7);    /* src_rank */
  assert_int_equal(b[16], 0x88); /* epoch, least significant byte first */
  assert_int_equal(b[23], 0x11);
  assert_int_equal(b[52], 0xff); /* root -1 */
  assert_int_equal(b[56], 0x00); /* len 4096 = 0x1000 */
  assert_int_equal(b[57], 0x10);
  assert_int_equal(b[64], 0x01); /* comm_id (version 2) */
  assert_int_equal(b[71], 0x08);
  assert_int_equal(b[75], 0x40); /* msg_count 2^30 */
}

static void test_round_trip(void **state) {
  (void)state;
  uint8_t b[WEFT__FRAME_HDR_LEN];
  char why[128];
  for (uint8_t type = WEFT__FRAME_DATA; type <= WEFT__FRAME_P2P; type++) {
    weft__frame_t f = sample(), g;
    f.type = type;
    weft__frame_encode(b, &f);
    assert_true(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
    /* Field by field (struct padding is not part of the frame). */
    assert_int_equal(g.type, f.type);
    assert_int_equal(g.coll, f.coll);
    assert_int_equal(g.dtype, f.dtype);
    assert_int_equal(g.redop, f.redop);
    assert_int_equal(g.algo, f.algo);
    assert_int_equal(g.flags, f.flags);
    assert_int_equal(g.src_rank, f.src_rank);
    assert_true(g.epoch == f.epoch && g.seq == f.seq && g.count == f.count && g.offset == f.offset);
    assert_int_equal(g.phase, f.phase);
    assert_int_equal(g.root, f.root);
    assert_int_equal(g.len, f.len);
    assert_true(g.comm_id == f.comm_id && g.msg_count == f.msg_count);
    assert_int_equal(g.code, f.code);
  }
}

static void test_rejects_bad_magic_version_type(void **state) {
  (void)state;
  uint8_t b[WEFT__FRAME_HDR_LEN];
  char why[128];
  weft__frame_t f = sample(), g;
  weft__frame_encode(b, &f);
  b[0] ^= 1;
  assert_false(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
  assert_non_null(strstr(why, "magic"));
  weft__frame_encode(b, &f);
  b[4] = WEFT__WIRE_VERSION + 1;
  assert_false(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
  assert_non_null(strstr(why, "version"));
  for (int t = 0; t < 256; t++) {
    weft__frame_encode(b, &f);
    b[5] = (uint8_t)t;
    bool ok = weft__frame_decode(b, 1u << 20, &g, why, sizeof why);
    /* len is 4096: only the data types may carry it (ABORT text is capped, BYE is empty). */
    assert_int_equal(ok, t == WEFT__FRAME_DATA || t == WEFT__FRAME_P2P);
  }
}

/* A peer's claimed length is checked against our limit before anything is allocated or read. */
static void test_rejects_oversized_payloads(void **state) {
  (void)state;
  uint8_t b[WEFT__FRAME_HDR_LEN];
  char why[128];
  weft__frame_t f = sample(), g;
  uint32_t lens[] = {(1u << 20) + 1, 0x7fffffffu, 0xffffffffu};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    f.len = lens[i];
    weft__frame_encode(b, &f);
    assert_false(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
    assert_non_null(strstr(why, "exceeds"));
  }
  f.len = 1u << 20; /* exactly the limit is fine */
  weft__frame_encode(b, &f);
  assert_true(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
  /* ABORT text is bounded on its own, BYE carries nothing. */
  f.type = WEFT__FRAME_ABORT;
  f.len = WEFT__ABORT_TEXT_MAX + 1;
  weft__frame_encode(b, &f);
  assert_false(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
  f.len = WEFT__ABORT_TEXT_MAX;
  weft__frame_encode(b, &f);
  assert_true(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
  f.type = WEFT__FRAME_BYE;
  f.len = 1;
  weft__frame_encode(b, &f);
  assert_false(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
  f.len = 0;
  weft__frame_encode(b, &f);
  assert_true(weft__frame_decode(b, 1u << 20, &g, why, sizeof why));
}

/* Every single-byte corruption of the fixed fields is either rejected or decodes to exactly the
 * bytes given (no field is read from outside the header). */
static void test_single_byte_corruptions(void **state) {
  (void)state;
  uint8_t b[WEFT__FRAME_HDR_LEN], c[WEFT__FRAME_HDR_LEN];
  char why[128];
  weft__frame_t f = sample(), g;
  f.len = 64;
  weft__frame_encode(b, &f);
  for (int i = 0; i < WEFT__FRAME_HDR_LEN; i++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(c, b, sizeof c);
      c[i] ^= (uint8_t)(1u << bit);
      if (!weft__frame_decode(c, 1u << 20, &g, why, sizeof why)) continue;
      uint8_t again[WEFT__FRAME_HDR_LEN];
      weft__frame_encode(again, &g);
      assert_memory_equal(again, c, sizeof c);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_is_little_endian_and_fixed),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_rejects_bad_magic_version_type),
      cmocka_unit_test(test_rejects_oversized_payloads),
      cmocka_unit_test(test_single_byte_corruptions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
