/* Reachability rounds (tools/coordinator/reach.c): when every member of a stalled collective
 * entered it, the stall is the data network's. Each member dials the others afresh and says whom
 * it reached; the largest set of members that all reach each other stays, the others are
 * evicted naming a link they could not use. Pure, like membership.c: no sockets, no clock. */
#ifndef WEFT_TOOLS_COORDINATOR_REACH_H
#define WEFT_TOOLS_COORDINATOR_REACH_H

#include "membership.h"

typedef struct weft__reach weft__reach_t;

/* NULL when out of memory; m (whose callbacks it speaks through) outlives it. */
weft__reach_t *weft__reach_create(weft__mship_t *m);
void weft__reach_destroy(weft__reach_t *r); /* NULL is a no-op */
/* Starts a round among these ranks of the current epoch (ignored while one runs). why: what
 * started it, for the log. */
void weft__reach_start(weft__reach_t *r, const int32_t *ranks, uint32_t n, const char *why, double now);
/* REACH from a member. */
void weft__reach_answer(weft__reach_t *r, uint64_t member_id, const weft__coord_reach_t *a, double now);
/* Decides a round whose time is up with the answers it has; drops one whose epoch ended. */
void weft__reach_tick(weft__reach_t *r, double now);
bool weft__reach_running(const weft__reach_t *r);
/* A member of the running round reported another lost: a link that counts when neither end
 * answers the round (reach.c). Ignored when no round of the current epoch runs. */
void weft__reach_note(weft__reach_t *r, uint64_t reporter, uint64_t suspect);

/* How long a member tries each dial, and how long past that the coordinator waits for answers
 * (a member inside recover has its engine paused and answers late or not at all: the others'
 * answers name its links too). */
#define WEFT__REACH_DIAL_S 2.0
#define WEFT__REACH_SLACK_S 1.0

#endif
