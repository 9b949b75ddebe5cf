/* The epoch rules (lib/membership/rules.c) on their own: every verdict, the timers, the order of
 * a new epoch's members and the fate of each record. The coordinator's state machine runs them
 * end to end (test_membership.c); these pin the rules down for any other membership service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "membership/rules.h"

static const weft__rules_config_t cfg = {.world_size = 4, .min_size = 2, .grace = 5.0};

static void first_epoch_waits_for_the_world(void **state) {
  (void)state;
  weft__rules_view_t v = {.epoch = 0, .n_waiting = 3};
  weft__rules_decision_t d = weft__rules_decide(&cfg, &v, 100);
  assert_int_equal(d.verdict, WEFT__RULES_WAIT);
  assert_true(d.orphan_since == 0 && d.short_since == 0);
  v.n_waiting = 4;
  d = weft__rules_decide(&cfg, &v, 100);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_true(d.admit);
  assert_int_equal(d.size, 4);
  assert_false(d.restart);
}

static void recover_waits_for_every_member(void **state) {
  (void)state;
  weft__rules_view_t v = {.epoch = 3, .n_active = 3, .n_gone = 1, .n_recovered = 2};
  assert_int_equal(weft__rules_decide(&cfg, &v, 1).verdict, WEFT__RULES_WAIT);
  v.n_recovered = 3;
  weft__rules_decision_t d = weft__rules_decide(&cfg, &v, 1);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_true(d.admit);
  assert_int_equal(d.size, 3);
}

static void nothing_changed_is_no_change(void **state) {
  (void)state;
  weft__rules_view_t v = {.epoch = 2, .n_active = 4, .n_recovered = 4};
  assert_int_equal(weft__rules_decide(&cfg, &v, 1).verdict, WEFT__RULES_NO_CHANGE);
  /* A waiting joiner is a change for RECOVER, not for SHRINK. */
  v.n_waiting = 1;
  weft__rules_decision_t d = weft__rules_decide(&cfg, &v, 1);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_int_equal(d.size, 5);
  assert_int_equal(d.joiners, 0);
  v.n_shrink = 1;
  d = weft__rules_decide(&cfg, &v, 1);
  assert_int_equal(d.verdict, WEFT__RULES_NO_CHANGE);
  assert_int_equal(d.joiners, 1); /* ... answered JOINERS: the members recover next */
  /* SHRINK after a failure: the survivors only. */
  v.n_active = 3;
  v.n_recovered = 3;
  v.n_gone = 1;
  d = weft__rules_decide(&cfg, &v, 1);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_false(d.admit);
  assert_int_equal(d.size, 3);
}

/* The recover deadline counts from the round's first ask; no round or no deadline: never. */
static void recover_deadline(void **state) {
  (void)state;
  assert_false(weft__rules_recover_overdue(0, 5.0, 1000.0));
  assert_false(weft__rules_recover_overdue(10.0, 5.0, 14.99));
  assert_true(weft__rules_recover_overdue(10.0, 5.0, 15.0));
  assert_false(weft__rules_recover_overdue(10.0, 0, 1000.0));
}

static void below_min_size_waits_one_grace_then_refuses(void **state) {
  (void)state;
  weft__rules_view_t v = {.epoch = 2, .n_active = 1, .n_gone = 3, .n_recovered = 1};
  weft__rules_decision_t d = weft__rules_decide(&cfg, &v, 10);
  assert_int_equal(d.verdict, WEFT__RULES_WAIT);
  assert_true(d.short_began);
  assert_true(d.short_since == 10);
  assert_int_equal(d.size, 1);
  v.short_since = d.short_since;
  d = weft__rules_decide(&cfg, &v, 14.9);
  assert_int_equal(d.verdict, WEFT__RULES_WAIT);
  assert_false(d.short_began);
  d = weft__rules_decide(&cfg, &v, 15);
  assert_int_equal(d.verdict, WEFT__RULES_REFUSE_MIN_SIZE);
  /* A joiner in time makes it. */
  v.n_waiting = 1;
  d = weft__rules_decide(&cfg, &v, 12);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_int_equal(d.size, 2);
}

static void orphaned_joiners(void **state) {
  (void)state;
  /* Crashed job: min_size joiners re-form it after one grace period. */
  weft__rules_view_t v = {.epoch = 5, .n_waiting = 2};
  weft__rules_decision_t d = weft__rules_decide(&cfg, &v, 20);
  assert_int_equal(d.verdict, WEFT__RULES_WAIT);
  assert_true(d.orphan_began && d.orphan_since == 20);
  v.orphan_since = 20;
  assert_int_equal(weft__rules_decide(&cfg, &v, 24).verdict, WEFT__RULES_WAIT);
  d = weft__rules_decide(&cfg, &v, 25);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_false(d.restart);
  /* Finished job: lone joiners are refused after FINISHED_GRACE periods, never formed. */
  v.finished = true;
  assert_int_equal(weft__rules_decide(&cfg, &v, 29.9).verdict, WEFT__RULES_WAIT);
  assert_int_equal(weft__rules_decide(&cfg, &v, 20 + WEFT__RULES_FINISHED_GRACE * 5.0).verdict,
                   WEFT__RULES_REFUSE_FINISHED);
  /* ... but the whole world starts it again at once. */
  v.n_waiting = 4;
  d = weft__rules_decide(&cfg, &v, 21);
  assert_int_equal(d.verdict, WEFT__RULES_FORM);
  assert_true(d.restart && d.admit);
  /* Nobody waits: the timer clears. */
  v.n_waiting = 0;
  d = weft__rules_decide(&cfg, &v, 22);
  assert_int_equal(d.verdict, WEFT__RULES_WAIT);
  assert_true(d.orphan_since == 0);
}

static void live_members_clear_the_orphan_timer(void **state) {
  (void)state;
  weft__rules_view_t v = {.epoch = 5, .n_active = 2, .n_waiting = 1, .orphan_since = 3};
  assert_true(weft__rules_decide(&cfg, &v, 4).orphan_since == 0);
}

static int cmp(const void *a, const void *b) { return weft__rules_order_cmp(a, b); }

static void order_is_launcher_rank_then_join_order(void **state) {
  (void)state;
  weft__rules_candidate_t c[] = {{9, -1}, {4, 2}, {7, 0}, {3, -1}, {8, 1}};
  qsort(c, 5, sizeof *c, cmp);
  uint64_t want[] = {7, 8, 4, 3, 9};
  for (int i = 0; i < 5; i++) assert_int_equal(c[i].join_seq, want[i]);
}

static void fates(void **state) {
  (void)state;
  assert_int_equal(weft__rules_fate(WEFT__RULES_MEMBER_ACTIVE, true), WEFT__RULES_STAYS);
  assert_int_equal(weft__rules_fate(WEFT__RULES_MEMBER_ACTIVE, false), WEFT__RULES_STAYS);
  assert_int_equal(weft__rules_fate(WEFT__RULES_MEMBER_WAITING, true), WEFT__RULES_JOINS);
  assert_int_equal(weft__rules_fate(WEFT__RULES_MEMBER_WAITING, false), WEFT__RULES_WAITS);
  assert_int_equal(weft__rules_fate(WEFT__RULES_MEMBER_GONE, true), WEFT__RULES_LEAVES);
}

static void reports(void **state) {
  (void)state;
  assert_true(weft__rules_report_counts(3, 3, false));
  assert_false(weft__rules_report_counts(2, 3, false)); /* stale */
  assert_false(weft__rules_report_counts(3, 3, true));  /* an echo of the failure */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_epoch_waits_for_the_world),
      cmocka_unit_test(recover_waits_for_every_member),
      cmocka_unit_test(nothing_changed_is_no_change),
      cmocka_unit_test(recover_deadline),
      cmocka_unit_test(below_min_size_waits_one_grace_then_refuses),
      cmocka_unit_test(orphaned_joiners),
      cmocka_unit_test(live_members_clear_the_orphan_timer),
      cmocka_unit_test(order_is_launcher_rank_then_join_order),
      cmocka_unit_test(fates),
      cmocka_unit_test(reports),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
