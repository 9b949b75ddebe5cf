/* The rules that decide an epoch (lib/membership/rules.c), shared by every membership service:
 * the coordinator's state machine (tools/coordinator/membership.c) calls them today, and a store
 * kept elsewhere (etcd) must call the same functions so that it decides identically.
 *
 * Pure: no I/O, no clock (every call takes `now`), no globals, no allocation. A service keeps its
 * members in its own records and hands the rules a count view of them; the rules answer what to
 * do next, and the service carries it out (emits EPOCH, NO_CHANGE or ERROR, commits its records).
 *
 * The rules, in one place:
 *   - the first epoch forms when world_size processes have joined;
 *   - epoch E+1 forms when every live member of E asked (RECOVER or SHRINK) and something changed
 *     (a member gone, or a waiting joiner that may enter); otherwise every member hears NO_CHANGE;
 *   - SHRINK from any member keeps waiting joiners out of that decision (the re-run that follows
 *     could not include them); they enter at a later RECOVER. A SHRINK round that changes nothing
 *     while joiners wait is answered JOINERS (NO_CHANGE, plus "RECOVER now to admit them"), the
 *     same answer to every member in the same round, so they all recover at the same step;
 *   - the recover deadline: once the first member of E asks (RECOVER or SHRINK), a member that
 *     has not asked within recover_timeout is failed (RECOVER_TIMEOUT) and the others go on
 *     without it (torchft's quorum), instead of waiting for it without bound;
 *   - the next epoch lists the live members of E plus the joiners admitted, ordered by launcher
 *     rank (members without one last), then by member id; ranks are the positions in that order;
 *   - fewer than min_size: wait one grace period (the heartbeat timeout) for joiners, then refuse
 *     (WEFT_ERR_MIN_SIZE to everyone);
 *   - no live member of E but joiners wait: the whole world re-forms the job at once; otherwise,
 *     after one grace period, min_size joiners do (a whole-job restart) -- unless the job
 *     finished (its last member left cleanly), when the lone joiners are refused
 *     (WEFT_ERR_JOB_FINISHED) after FINISHED_GRACE grace periods. */
#ifndef WEFT_MEMBERSHIP_RULES_H
#define WEFT_MEMBERSHIP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Grace periods a lone joiner of a finished job waits for the rest of the world. */
#define WEFT__RULES_FINISHED_GRACE 2

typedef struct {
  uint32_t world_size; /* ranks launched; the first epoch waits for all of them */
  uint32_t min_size;   /* 1..world_size */
  double grace;        /* one grace period: the heartbeat timeout */
} weft__rules_config_t;

/* What a service knows of its members, as counts, plus its two timers. */
typedef struct {
  uint64_t epoch;      /* current epoch E; 0 before the first */
  size_t n_active;     /* live members of E */
  size_t n_waiting;    /* joiners in no epoch yet */
  size_t n_gone;       /* members of E that failed or left */
  size_t n_recovered;  /* live members of E that asked RECOVER or SHRINK for E */
  size_t n_shrink;     /* ... of which asked SHRINK */
  bool finished;       /* E's last live member left cleanly */
  double orphan_since; /* joiners wait and no member of E lives: since when (0: not so) */
  double short_since;  /* all of E asked but too few for min_size: since when (0: not so) */
} weft__rules_view_t;

typedef enum {
  WEFT__RULES_WAIT,            /* nothing to decide yet */
  WEFT__RULES_NO_CHANGE,       /* answer every live member of E: NO_CHANGE */
  WEFT__RULES_FORM,            /* form E+1 (admit: waiting joiners enter) */
  WEFT__RULES_REFUSE_MIN_SIZE, /* ERROR WEFT_ERR_MIN_SIZE to members and joiners; forget them */
  WEFT__RULES_REFUSE_FINISHED, /* ERROR WEFT_ERR_JOB_FINISHED to the joiners; forget them */
} weft__rules_verdict_t;

typedef struct {
  weft__rules_verdict_t verdict;
  bool admit;          /* FORM: waiting joiners enter */
  size_t size;         /* FORM: members of E+1; REFUSE_MIN_SIZE: the processes counted */
  bool restart;        /* FORM: the whole world came back: the job is no longer finished */
  size_t joiners;      /* NO_CHANGE: joiners kept out by SHRINK (>0: answer JOINERS) */
  /* The timers to keep, whatever the verdict (FORM and the refusals clear them once carried
   * out); *_began says a timer started now, for the service's log. */
  double orphan_since, short_since;
  bool orphan_began, short_began;
} weft__rules_decision_t;

/* What the service must do now. Call after every change and every tick. */
weft__rules_decision_t weft__rules_decide(const weft__rules_config_t *cfg, const weft__rules_view_t *v, double now);

/* One record's part in a FORM, by its state. */
typedef enum {
  WEFT__RULES_MEMBER_ACTIVE, /* live member of E */
  WEFT__RULES_MEMBER_WAITING,
  WEFT__RULES_MEMBER_GONE,
} weft__rules_member_state_t;

typedef enum {
  WEFT__RULES_STAYS,  /* member of E+1, was in E */
  WEFT__RULES_JOINS,  /* member of E+1, new (flag WEFT__MEMBER_JOINED) */
  WEFT__RULES_LEAVES, /* listed in E+1's `left` */
  WEFT__RULES_WAITS,  /* a joiner kept out (SHRINK): still waiting */
} weft__rules_fate_t;

weft__rules_fate_t weft__rules_fate(weft__rules_member_state_t state, bool admit);

/* The order of E+1's members (rank = position): launcher rank (rank_hint, -1 for none, which go
 * last), then join order (member ids are random: they order nothing). A qsort comparator over
 * weft__rules_candidate_t. */
typedef struct {
  uint64_t join_seq; /* increases with each join to the service */
  int32_t rank_hint;
} weft__rules_candidate_t;

int weft__rules_order_cmp(const weft__rules_candidate_t *a, const weft__rules_candidate_t *b);

/* Whether members that have not asked yet are past the recover deadline: the round's first ask
 * came at round_since (0: no round open), recover_timeout > 0. */
bool weft__rules_recover_overdue(double round_since, double recover_timeout, double now);

/* Whether a member's REPORT about `report_epoch` can fail the suspect: it must be about the
 * current epoch, and that epoch not revoked yet (once it is, members close connections because
 * they recover, and a report is an echo of the failure, not evidence of another). */
bool weft__rules_report_counts(uint64_t report_epoch, uint64_t epoch, bool epoch_revoked);

#endif
