/* The membership store's ops table (lib/membership/store.h): the coordinator's fills every call,
 * says its size, and refuses card calls without a store or with a card over the limit. The calls
 * themselves run end to end in the fault and membership suites (a real coordinator, killed and
 * stopped ranks), and cards in tests/coll/card_check.c (every rank checks every member's card). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "membership/store.h"

static void coordinator_table_is_complete(void **state) {
  (void)state;
  const weft__store_ops_t *o = &weft__store_coord_ops;
  assert_int_equal(o->size, sizeof(weft__store_ops_t));
  assert_string_equal(o->name, "coordinator");
  assert_non_null(o->join);
  assert_non_null(o->fd);
  assert_non_null(o->on_readable);
  assert_non_null(o->heartbeat);
  assert_non_null(o->next_due);
  assert_non_null(o->report);
  assert_non_null(o->request_epoch);
  assert_non_null(o->leave);
  assert_non_null(o->publish_card);
  assert_non_null(o->fetch_cards);
}

static void card_calls_check_arguments_and_leave_null_is_a_no_op(void **state) {
  (void)state;
  const weft__store_ops_t *o = &weft__store_coord_ops;
  uint8_t card[8] = {0};
  assert_int_equal(o->publish_card(NULL, card, sizeof card), WEFT_ERR_INVALID_ARGUMENT);
  uint64_t id = 1;
  weft__store_card_t out;
  assert_int_equal(o->fetch_cards(NULL, &id, 1, &out, 0), WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(WEFT__STORE_CARD_MAX, WEFT__COORD_CARD_MAX);
  o->leave(NULL);
}

static void join_refused_without_a_coordinator(void **state) {
  (void)state;
  weft__auth_key_t key;
  assert_true(weft__auth_key_from_token("t", &key));
  weft__coord_hello_t hello = {.world_size = 1, .rank_hint = 0};
  weft__store_join_args_t a = {.host = "256.0.0.1", .port = 1, .key = &key, .hello = &hello,
                               .deadline = weft__now() + 0.2, .hb_interval = 0.5, .hb_timeout = 5};
  weft__store_t *s = (weft__store_t *)&a;
  uint64_t id = 0;
  char err[256] = "";
  assert_int_not_equal(weft__store_coord_ops.join(&a, &s, &id, err, sizeof err), WEFT_SUCCESS);
  assert_null(s);
  assert_true(err[0] != 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(coordinator_table_is_complete),
      cmocka_unit_test(card_calls_check_arguments_and_leave_null_is_a_no_op),
      cmocka_unit_test(join_refused_without_a_coordinator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
