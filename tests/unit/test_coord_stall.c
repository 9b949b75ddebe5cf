/* Codec of the probe messages (lib/bootstrap/coord_stall.c): STALL, PROGRESS_QUERY, PROGRESS,
 * REACH_QUERY and REACH round-trip, and the decoders refuse wrong lengths, counts the length
 * cannot hold, epoch or seq 0, unknown flags or statuses and a nonzero reserved field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bootstrap/coord_proto.h"

#define H WEFT__COORD_HDR_LEN

static void stall_round_trips(void **state) {
  (void)state;
  const uint32_t ranks[3] = {5, 0, 70000};
  weft__coord_stall_t in = {.epoch = 4, .comm_id = 0xabcdef0123456789ull, .seq = 812, .coll = 5, .waited_ms = 30001,
                            .stall_ms = 30000, .nranks = 3, .ranks = ranks},
                      out;
  uint8_t msg[H + 64];
  size_t n = weft__coord_encode_stall(msg, sizeof msg, &in);
  assert_int_equal(n, H + 40 + 12);
  weft__coord_hdr_t h;
  assert_true(weft__coord_decode_hdr(msg, &h));
  assert_int_equal(h.type, WEFT__COORD_STALL);
  assert_true(weft__coord_decode_stall(msg + H, n - H, &out));
  assert_int_equal(out.epoch, 4);
  assert_int_equal(out.comm_id, in.comm_id);
  assert_int_equal(out.seq, 812);
  assert_int_equal(out.coll, 5);
  assert_int_equal(out.waited_ms, 30001);
  assert_int_equal(out.stall_ms, 30000);
  assert_int_equal(out.nranks, 3);
  for (uint32_t i = 0; i < 3; i++) assert_int_equal(weft__coord_stall_rank(&out, i), ranks[i]);
  /* A count the length does not hold, one byte more or less, epoch or seq 0: refused. */
  assert_false(weft__coord_decode_stall(msg + H, n - H - 1, &out));
  assert_false(weft__coord_decode_stall(msg + H, 39, &out));
  msg[H + 36] = 4;
  assert_false(weft__coord_decode_stall(msg + H, n - H, &out));
  msg[H + 36] = 3;
  msg[H + 16] = 0, msg[H + 17] = 0; /* seq 812 -> 0 */
  assert_false(weft__coord_decode_stall(msg + H, n - H, &out));
  /* The world (no list) and a buffer one byte short. */
  in.nranks = 0;
  n = weft__coord_encode_stall(msg, sizeof msg, &in);
  assert_int_equal(n, H + 40);
  assert_true(weft__coord_decode_stall(msg + H, n - H, &out));
  assert_int_equal(out.nranks, 0);
  assert_int_equal(weft__coord_encode_stall(msg, H + 39, &in), 0);
  in.nranks = 2, in.ranks = NULL;
  assert_int_equal(weft__coord_encode_stall(msg, sizeof msg, &in), 0);
}

static void progress_round_trips(void **state) {
  (void)state;
  weft__coord_progress_t in = {.epoch = 9, .comm_id = 7, .seq = 3, .entered_seq = 2, .entered_coll = 1,
                               .flags = WEFT__PROGRESS_HAS_COMM | WEFT__PROGRESS_IN_CALL, .idle_ms = 12},
                         out;
  uint8_t msg[H + 64];
  size_t n = weft__coord_encode_progress(msg, sizeof msg, WEFT__COORD_PROGRESS, &in);
  assert_int_equal(n, H + 48);
  assert_true(weft__coord_decode_progress(msg + H, n - H, WEFT__COORD_PROGRESS, &out));
  assert_true(out.epoch == 9 && out.comm_id == 7 && out.seq == 3 && out.entered_seq == 2 && out.entered_coll == 1);
  assert_true(out.flags == in.flags && out.idle_ms == 12);
  assert_false(weft__coord_decode_progress(msg + H, n - H, WEFT__COORD_PROGRESS_QUERY, &out));
  msg[H + 36] |= 4; /* an unknown flag */
  assert_false(weft__coord_decode_progress(msg + H, n - H, WEFT__COORD_PROGRESS, &out));
  msg[H + 36] &= 3;
  msg[H + 44] = 1; /* reserved */
  assert_false(weft__coord_decode_progress(msg + H, n - H, WEFT__COORD_PROGRESS, &out));
  /* The query carries the key only. */
  n = weft__coord_encode_progress(msg, sizeof msg, WEFT__COORD_PROGRESS_QUERY, &in);
  assert_int_equal(n, H + 24);
  assert_true(weft__coord_decode_progress(msg + H, n - H, WEFT__COORD_PROGRESS_QUERY, &out));
  assert_int_equal(out.epoch, 9);
  assert_int_equal(out.comm_id, 7);
  assert_int_equal(out.seq, 3);
  assert_int_equal(out.flags, 0);
  msg[H] = 0; /* epoch 9 -> 0 */
  assert_false(weft__coord_decode_progress(msg + H, n - H, WEFT__COORD_PROGRESS_QUERY, &out));
  assert_int_equal(weft__coord_encode_progress(msg, sizeof msg, WEFT__COORD_STALL, &in), 0);
}

static void reach_round_trips(void **state) {
  (void)state;
  const uint32_t ranks[3] = {4, 0, 9};
  const uint8_t status[3] = {0, 1, 0};
  weft__coord_reach_t in = {.epoch = 3, .timeout_ms = 2000, .n = 3, .ranks = ranks, .status = status}, out;
  uint8_t msg[H + 64];
  size_t n = weft__coord_encode_reach(msg, sizeof msg, WEFT__COORD_REACH_QUERY, &in);
  assert_int_equal(n, H + 16 + 12);
  assert_true(weft__coord_decode_reach(msg + H, n - H, WEFT__COORD_REACH_QUERY, &out));
  assert_int_equal(out.epoch, 3);
  assert_int_equal(out.timeout_ms, 2000);
  uint32_t rank;
  uint8_t st;
  for (uint32_t i = 0; i < 3; i++) {
    weft__coord_reach_entry(&out, WEFT__COORD_REACH_QUERY, i, &rank, &st);
    assert_int_equal(rank, ranks[i]);
  }
  assert_false(weft__coord_decode_reach(msg + H, n - H, WEFT__COORD_REACH, &out));
  msg[H + 8] = 0, msg[H + 9] = 0; /* timeout 0 */
  assert_false(weft__coord_decode_reach(msg + H, n - H, WEFT__COORD_REACH_QUERY, &out));
  n = weft__coord_encode_reach(msg, sizeof msg, WEFT__COORD_REACH, &in);
  assert_int_equal(n, H + 16 + 24);
  assert_true(weft__coord_decode_reach(msg + H, n - H, WEFT__COORD_REACH, &out));
  assert_int_equal(out.timeout_ms, 0);
  for (uint32_t i = 0; i < 3; i++) {
    weft__coord_reach_entry(&out, WEFT__COORD_REACH, i, &rank, &st);
    assert_int_equal(rank, ranks[i]);
    assert_int_equal(st, status[i]);
  }
  assert_false(weft__coord_decode_reach(msg + H, n - H - 8, WEFT__COORD_REACH, &out));
  msg[H + 16 + 8 + 4] = 2; /* a status that is neither */
  assert_false(weft__coord_decode_reach(msg + H, n - H, WEFT__COORD_REACH, &out));
  in.status = NULL;
  assert_int_equal(weft__coord_encode_reach(msg, sizeof msg, WEFT__COORD_REACH, &in), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stall_round_trips),
      cmocka_unit_test(progress_round_trips),
      cmocka_unit_test(reach_round_trips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
