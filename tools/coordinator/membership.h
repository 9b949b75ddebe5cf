/* The coordinator's membership state machine (tools/coordinator/membership.c): who joined, which
 * members form the current epoch, who failed and why, when every survivor is ready to move on,
 * and what the next epoch is. Pure: no sockets and no clock of its own (every call takes `now`),
 * so the unit tests drive it with fake members and fake time.
 *
 * It tells the server what to send through one emit callback. An event names its recipients
 * (member id plus the opaque `peer` handle the server gave at join) so a broadcast is encoded
 * once. Events are emitted in the order the wire must carry them (WELCOME before the EPOCH that
 * the same join completed). The callback must not call back into the state machine: a server
 * that finds a recipient broken while sending records it and reports it after the call returns.
 *
 * Trust: members are authenticated holders of the job secret, so a REPORT is believed as is.
 * Silence fails a member only with a quorum (weft__mship_tick). */
#ifndef WEFT_TOOLS_COORDINATOR_MEMBERSHIP_H
#define WEFT_TOOLS_COORDINATOR_MEMBERSHIP_H

#include "bootstrap/coord_proto.h"

typedef struct weft__mship weft__mship_t;

typedef struct {
  uint32_t world_size;      /* ranks launched; the first epoch waits for all of them */
  uint32_t min_size;        /* 1..world_size: smaller memberships are refused (ERROR MIN_SIZE) */
  double heartbeat_timeout; /* silence that fails a member (HUNG); also every grace period */
  /* From the first RECOVER/SHRINK of a round: a member of the epoch that has not asked by then is
   * left out (RECOVER_TIMEOUT, fenced like HUNG). 0: wait for every member (no deadline). */
  double recover_timeout;
} weft__mship_config_t;

typedef enum {
  WEFT__MSHIP_WELCOME,   /* u.welcome */
  WEFT__MSHIP_EPOCH,     /* u.epoch */
  WEFT__MSHIP_REVOKE,    /* u.revoke */
  WEFT__MSHIP_NO_CHANGE, /* u.epoch_ref */
  WEFT__MSHIP_ERROR,     /* u.error; the recipients are forgotten: close after flushing */
  WEFT__MSHIP_CLOSE,     /* fencing: u.error (WEFT_ERR_EVICTED, the verdict), then close at once */
  WEFT__MSHIP_JOINERS,   /* u.joiners: NO_CHANGE to a SHRINK round, but joiners wait */
  WEFT__MSHIP_PROGRESS_QUERY, /* u.progress (stall.c asks a member how far it got) */
  WEFT__MSHIP_REACH_QUERY,    /* u.reach (reach.c asks a member whom it can reach) */
} weft__mship_ev_kind_t;

typedef struct {
  uint64_t member_id;
  void *peer;
} weft__mship_dest_t;

typedef struct {
  weft__mship_ev_kind_t kind;
  const weft__mship_dest_t *to; /* valid only during the callback */
  size_t num_to;
  union {
    weft__coord_welcome_t welcome;
    const weft__coord_epoch_t *epoch;
    weft__coord_revoke_t revoke;
    uint64_t epoch_ref;
    weft__coord_error_t error;
    weft__coord_joiners_t joiners;
    weft__coord_progress_t progress;
    weft__coord_reach_t reach;
  } u;
} weft__mship_event_t;

typedef void (*weft__mship_emit_fn)(void *user, const weft__mship_event_t *ev);
/* One finished line of what happened (joins, epochs, failures with reasons), for --verbose. */
typedef void (*weft__mship_log_fn)(void *user, const char *line);

/* For this file's companions (stall.c, reach.c), which speak through the same callbacks: one
 * event to the server, and one line to the log (nothing without a log callback). */
void weft__mship_emit(weft__mship_t *m, const weft__mship_event_t *ev);
void weft__mship_logf(const weft__mship_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* NULL on bad config or out of memory. log may be NULL. */
weft__mship_t *weft__mship_create(const weft__mship_config_t *cfg, weft__mship_emit_fn emit,
                                  weft__mship_log_fn log, void *user);
void weft__mship_destroy(weft__mship_t *m); /* NULL is a no-op */

/* HELLO. On success *member_id is set and WELCOME (then maybe EPOCH) was emitted. On rejection
 * returns the code, fills err (code and text) and creates no member: the server sends err and
 * closes. */
weft_result_t weft__mship_join(weft__mship_t *m, const weft__coord_hello_t *hello, void *peer,
                               double now, uint64_t *member_id, weft__coord_error_t *err);
/* REJOIN on a new connection `peer`: a member whose connection broke. A member this coordinator
 * still has moves to the new connection (*old_peer: the connection to forget, without failing the
 * member). A restarted coordinator rebuilds its state from the members (membership.c says how).
 * A member it no longer has is refused with WEFT_ERR_EVICTED (err). */
weft_result_t weft__mship_rejoin(weft__mship_t *m, const weft__coord_rejoin_t *rj, void *peer, double now,
                                 void **old_peer, weft__coord_error_t *err);
bool weft__mship_rebuilding(const weft__mship_t *m);
/* CARD: the member's card for the epochs formed from now on (HELLO carried the first). false:
 * out of memory (the old card stays). Unknown ids are ignored. */
bool weft__mship_set_card(weft__mship_t *m, uint64_t member_id, const uint8_t *card, uint16_t len);
/* Any message from a member: it is alive. */
void weft__mship_heard(weft__mship_t *m, uint64_t member_id, double now);
/* The member is gone: CRASH (connection lost; why says how), LEFT (clean LEAVE), HUNG or
 * REPORTED (why: the evidence). A member of the current epoch revokes it; unknown or already
 * gone ids are ignored, so the server may report a connection loss it caused itself. */
void weft__mship_fail(weft__mship_t *m, uint64_t member_id, weft__fail_reason_t reason,
                      const char *why, double now);
/* REPORT from `reporter`, evicting the suspect at once (suspect.c calls it only for a suspect
 * that is silent: a live one is checked first): r->member_id names the suspect (0: r->rank in r->epoch does). A report
 * about another epoch than the current one is stale (the reporter has not caught up) and is
 * ignored, as is one from a connection that is not a live member. */
void weft__mship_report(weft__mship_t *m, uint64_t reporter, const weft__coord_revoke_t *r,
                        double now);
/* RECOVER{epoch} (admit) or SHRINK{epoch} (!admit) from a member. When all have asked, waiting
 * joiners enter the next epoch only if none asked SHRINK; a SHRINK round that changes nothing
 * while joiners wait is answered JOINERS instead of NO_CHANGE. The first ask of a round starts
 * the recover deadline (cfg.recover_timeout), checked by tick. */
void weft__mship_recover(weft__mship_t *m, uint64_t member_id, uint64_t epoch, bool admit,
                         double now);
/* For suspect.c. How long a member of the epoch has been silent (-1: not a live member). */
double weft__mship_silent_for(const weft__mship_t *m, uint64_t member_id, double now);
/* Whether a live member has asked RECOVER/SHRINK in the open round (it waits inside recover). */
bool weft__mship_asked(const weft__mship_t *m, uint64_t member_id);
/* While held, a round in which every member asked RECOVER is not answered NO_CHANGE. */
void weft__mship_hold(weft__mship_t *m, bool held, double now);
/* Revokes the epoch for every member (REVOKE rank -1, reason RESET) without failing anyone; the
 * round then forms the next epoch with the same members. Releases the hold. */
void weft__mship_reset(weft__mship_t *m, const char *why, double now);
/* Time passes: heartbeat timeouts and grace periods. Call at least every heartbeat interval. */
void weft__mship_tick(weft__mship_t *m, double now);

uint64_t weft__mship_epoch(const weft__mship_t *m); /* 0 before the first epoch */
/* Whether a member of the current epoch failed (not merely left): it is revoked, and the next
 * thing its members do is recover. */
bool weft__mship_revoked(const weft__mship_t *m);
/* Size of the current epoch (its live and gone members). */
uint32_t weft__mship_size(const weft__mship_t *m);
/* The current epoch's live members by rank: out[rank] for rank < weft__mship_size ({0, NULL}
 * where the member failed or left). */
void weft__mship_by_rank(const weft__mship_t *m, weft__mship_dest_t *out);
/* The rank in the current epoch of a live member, -1 if it is not one. */
int32_t weft__mship_rank_of(const weft__mship_t *m, uint64_t member_id);
/* "rank 3 (member 4, host h pid 7)": what an operator needs to find the process. */
void weft__mship_describe(const weft__mship_t *m, uint64_t member_id, char *buf, size_t len);
/* True once an epoch existed and nobody is left: no live member, no waiting joiner. */
bool weft__mship_done(const weft__mship_t *m);
/* Connections the server should still treat as members (live or waiting). */
size_t weft__mship_count_live(const weft__mship_t *m);

#endif
