/* Failures only one member saw (tools/coordinator/suspect.c): a REPORT naming a peer, or one
 * without a suspect (an operation that timed out, a mesh that failed to form). Pure, like
 * membership.c: no sockets, no clock. */
#ifndef WEFT_TOOLS_COORDINATOR_SUSPECT_H
#define WEFT_TOOLS_COORDINATOR_SUSPECT_H

#include "membership.h"
#include "reach.h"

typedef struct weft__suspect weft__suspect_t;

/* NULL when out of memory; m and reach outlive it. heartbeat_interval: how often a live member
 * is heard; one silent for two of them (and a margin) is taken for hung or dead. */
weft__suspect_t *weft__suspect_create(weft__mship_t *m, weft__reach_t *reach, double heartbeat_interval);
void weft__suspect_destroy(weft__suspect_t *s); /* NULL is a no-op */
/* REPORT from a member. */
void weft__suspect_report(weft__suspect_t *s, uint64_t reporter, const weft__coord_revoke_t *rep, double now);
/* Ends a check whose reachability round is over: a verdict was given, or the epoch is reset. */
void weft__suspect_tick(weft__suspect_t *s, double now);

#endif
