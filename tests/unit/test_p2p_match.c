/* The point-to-point bookkeeping (lib/core/p2p_match.c): which buffered message a receive takes
 * (its source or any, its tag, arrival order), the WEFT_P2P_BUFFER bound, and what is dropped
 * when the transport forgets payloads. The end-to-end rules are checked by tests/coll/p2p_check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/p2p_match.h"
#include "weft.h"

static weft__frame_t frame(uint64_t seq, int32_t tag, uint64_t count) {
  return (weft__frame_t){.type = WEFT__FRAME_P2P, .seq = seq, .root = tag, .dtype = WEFT_FLOAT32, .msg_count = count};
}

static void test_find_by_source_tag_and_arrival(void **state) {
  (void)state;
  weft__p2p_match_t m;
  assert_int_equal(weft__p2p_match_init(&m, 4, 1 << 20), WEFT_SUCCESS);
  weft__frame_t f1 = frame(0, 5, 2), f2 = frame(0, 7, 3), f3 = frame(1, 5, 1);
  weft__p2p_msg_t *a = weft__p2p_buffer(&m, 2, &f1, 4); /* rank 2, tag 5 */
  weft__p2p_msg_t *b = weft__p2p_buffer(&m, 1, &f2, 4); /* rank 1, tag 7 */
  weft__p2p_msg_t *c = weft__p2p_buffer(&m, 2, &f3, 4); /* rank 2, tag 5 again */
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_int_equal(a->tag, 5);
  assert_int_equal(b->bytes, 12);
  assert_int_equal(m.buffered, 8 + 12 + 4);
  assert_ptr_equal(weft__p2p_find(&m, 2, 5), a);               /* the earlier of rank 2's */
  assert_ptr_equal(weft__p2p_find(&m, WEFT_ANY_SOURCE, 7), b);
  assert_ptr_equal(weft__p2p_find(&m, WEFT_ANY_SOURCE, 5), a); /* first to arrive */
  assert_null(weft__p2p_find(&m, 1, 5));
  assert_null(weft__p2p_find(&m, 3, 7));
  a->recv = (weft__p2p_recv_t *)&m; /* given to a receive: no longer offered */
  assert_ptr_equal(weft__p2p_find(&m, 2, 5), c);
  assert_ptr_equal(weft__p2p_lookup(&m, 1, 0), b);
  assert_null(weft__p2p_lookup(&m, 1, 1));
  assert_true(weft__p2p_owns(&m, c));
  assert_false(weft__p2p_owns(&m, &f1));
  weft__p2p_release(&m, a);
  assert_false(weft__p2p_owns(&m, a));
  assert_int_equal(m.buffered, 12 + 4);
  weft__p2p_match_free(&m);
}

static void test_bound(void **state) {
  (void)state;
  weft__p2p_match_t m;
  assert_int_equal(weft__p2p_match_init(&m, 2, 100), WEFT_SUCCESS);
  weft__frame_t big = frame(0, 0, 26), fits = frame(0, 0, 25), zero = frame(1, 0, 0), one = frame(2, 0, 1);
  assert_null(weft__p2p_buffer(&m, 1, &big, 4)); /* 104 > 100: the caller parks */
  weft__p2p_msg_t *x = weft__p2p_buffer(&m, 1, &fits, 4);
  assert_non_null(x);
  assert_int_equal(m.buffered, 100);
  assert_non_null(weft__p2p_buffer(&m, 1, &zero, 4)); /* a zero-byte message always fits */
  assert_null(weft__p2p_buffer(&m, 1, &one, 4));
  weft__p2p_release(&m, x);
  assert_non_null(weft__p2p_buffer(&m, 1, &one, 4));
  weft__frame_t huge = frame(3, 0, UINT64_MAX / 2); /* count * size would overflow */
  assert_null(weft__p2p_buffer(&m, 1, &huge, 8));
  weft__p2p_match_free(&m);

  assert_int_equal(weft__p2p_match_init(&m, 2, 0), WEFT_SUCCESS); /* WEFT_P2P_BUFFER=0: nothing held */
  assert_null(weft__p2p_buffer(&m, 1, &one, 4));
  weft__p2p_match_free(&m);
}

static void test_drop_incomplete(void **state) {
  (void)state;
  weft__p2p_match_t m;
  assert_int_equal(weft__p2p_match_init(&m, 2, 1 << 20), WEFT_SUCCESS);
  weft__frame_t f1 = frame(0, 1, 8), f2 = frame(1, 1, 8);
  weft__p2p_msg_t *done = weft__p2p_buffer(&m, 1, &f1, 4), *partial = weft__p2p_buffer(&m, 1, &f2, 4);
  done->got = done->bytes;
  done->complete = true;
  partial->got = 16;
  weft__p2p_drop_incomplete(&m);
  assert_true(weft__p2p_owns(&m, done));
  assert_null(weft__p2p_lookup(&m, 1, 1));
  assert_int_equal(m.buffered, 32);
  weft__p2p_match_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_find_by_source_tag_and_arrival),
      cmocka_unit_test(test_bound),
      cmocka_unit_test(test_drop_incomplete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
