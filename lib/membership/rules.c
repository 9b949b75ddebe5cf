/* The rules that decide an epoch: see rules.h, which states them. */
#include "membership/rules.h"

weft__rules_decision_t weft__rules_decide(const weft__rules_config_t *cfg, const weft__rules_view_t *v, double now) {
  weft__rules_decision_t d = {.verdict = WEFT__RULES_WAIT, .orphan_since = v->orphan_since,
                              .short_since = v->short_since};
  double grace = cfg->grace;
  if (v->epoch == 0) {
    if (v->n_waiting >= cfg->world_size) {
      d.verdict = WEFT__RULES_FORM;
      d.admit = true;
      d.size = v->n_waiting;
    }
    return d;
  }
  if (v->n_active == 0) {
    /* Every member of E is gone: only joiners can carry the job on. */
    if (v->n_waiting == 0) {
      d.orphan_since = 0;
      return d;
    }
    if (d.orphan_since == 0) {
      d.orphan_since = now;
      d.orphan_began = true;
    }
    if (v->n_waiting >= cfg->world_size) {
      d.verdict = WEFT__RULES_FORM;
      d.admit = true;
      d.size = v->n_waiting;
      d.restart = true;
    } else if (v->finished) {
      if (now - d.orphan_since >= WEFT__RULES_FINISHED_GRACE * grace) d.verdict = WEFT__RULES_REFUSE_FINISHED;
    } else if (v->n_waiting >= cfg->min_size && now - d.orphan_since >= grace) {
      d.verdict = WEFT__RULES_FORM;
      d.admit = true;
      d.size = v->n_waiting;
    }
    return d;
  }
  d.orphan_since = 0;
  if (v->n_recovered < v->n_active) return d; /* not every member asked yet */
  bool admit = v->n_shrink == 0;
  size_t joiners = admit ? v->n_waiting : 0;
  if (v->n_gone == 0 && joiners == 0) {
    d.verdict = WEFT__RULES_NO_CHANGE;
    d.joiners = v->n_waiting; /* kept out by SHRINK: tell the members, who then RECOVER */
    return d;
  }
  if (v->n_active + joiners >= cfg->min_size) {
    d.verdict = WEFT__RULES_FORM;
    d.admit = admit;
    d.size = v->n_active + joiners;
    return d;
  }
  d.size = v->n_active + joiners;
  if (d.short_since == 0) {
    d.short_since = now;
    d.short_began = true;
  }
  if (now - d.short_since >= grace) d.verdict = WEFT__RULES_REFUSE_MIN_SIZE;
  return d;
}

weft__rules_fate_t weft__rules_fate(weft__rules_member_state_t state, bool admit) {
  switch (state) {
  case WEFT__RULES_MEMBER_ACTIVE: return WEFT__RULES_STAYS;
  case WEFT__RULES_MEMBER_WAITING: return admit ? WEFT__RULES_JOINS : WEFT__RULES_WAITS;
  default: return WEFT__RULES_LEAVES;
  }
}

int weft__rules_order_cmp(const weft__rules_candidate_t *a, const weft__rules_candidate_t *b) {
  int64_t ha = a->rank_hint < 0 ? INT64_MAX : a->rank_hint;
  int64_t hb = b->rank_hint < 0 ? INT64_MAX : b->rank_hint;
  if (ha != hb) return ha < hb ? -1 : 1;
  return a->join_seq < b->join_seq ? -1 : a->join_seq > b->join_seq;
}

bool weft__rules_report_counts(uint64_t report_epoch, uint64_t epoch, bool epoch_revoked) {
  return report_epoch == epoch && !epoch_revoked;
}

bool weft__rules_recover_overdue(double round_since, double recover_timeout, double now) {
  return round_since > 0 && recover_timeout > 0 && now - round_since >= recover_timeout;
}
