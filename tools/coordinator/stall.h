/* Finding hung callers (tools/coordinator/stall.c): which member holds up a collective the
 * others have waited on for WEFT_STALL_TIMEOUT. Like the membership state machine it is pure —
 * no sockets, no clock of its own — and speaks through the membership's callbacks (PROGRESS_QUERY
 * events); its verdicts are weft__mship_fail(..., WEFT__FAIL_STALLED, ...). */
#ifndef WEFT_TOOLS_COORDINATOR_STALL_H
#define WEFT_TOOLS_COORDINATOR_STALL_H

#include "membership.h"
#include "reach.h"

typedef struct weft__stall weft__stall_t;

/* NULL when out of memory. m (whose callbacks it speaks through) and reach (where a stall every
 * member entered goes; may be NULL) outlive it. */
weft__stall_t *weft__stall_create(weft__mship_t *m, weft__reach_t *reach);
void weft__stall_destroy(weft__stall_t *st); /* NULL is a no-op */

/* STALL from a member: opens a probe of the collective (one per collective; repeats ignored). */
void weft__stall_report(weft__stall_t *st, uint64_t reporter, const weft__coord_stall_t *r, double now);
/* PROGRESS from a member: its answer to a query of a probe. */
void weft__stall_answer(weft__stall_t *st, uint64_t member_id, const weft__coord_progress_t *a, double now);
/* Time passes: queries due again, probes of a revoked or past epoch dropped. */
void weft__stall_tick(weft__stall_t *st, double now);
/* Probes open now (tests). */
size_t weft__stall_open(const weft__stall_t *st);

#endif
