/* Which transport carries a communicator's traffic to each peer (lib/core/net.c).
 *
 * A context opens every transport WEFT_TRANSPORTS enables (default: every transport built into
 * this weft, fastest first) once: their endpoints. When a communicator forms in an epoch, each
 * peer is given to the first of those transports that can reach it from here (by the peer's
 * card), and every transport that got peers connects to them: the communicator's *net*, a
 * per-epoch table peer -> transport instance. The executor talks to the net only. */
#ifndef WEFT_CORE_NET_H
#define WEFT_CORE_NET_H

#include "core/transport.h"

#define WEFT__NET_MAX_TRANSPORTS 4

typedef struct {
  int n;
  const weft__transport_ops_t *ops[WEFT__NET_MAX_TRANSPORTS];
  weft__endpoint_t *ep[WEFT__NET_MAX_TRANSPORTS];
  weft__card_t card; /* this process's card, filled by every transport's open */
} weft__endpoints_t;

/* transports: WEFT_TRANSPORTS ("" for the default); an unknown or unbuilt name is an error that
 * names it and lists what this build has. */
weft_result_t weft__net_open(const char *transports, const weft__endpoint_args_t *args, weft__endpoints_t *out,
                             char *err, size_t errlen);
void weft__net_close(weft__endpoints_t *eps);

typedef struct weft__net weft__net_t;

/* Connects a communicator: base carries everything but `serve` (set per transport here). On
 * failure nothing stays connected and err names the transport and peer. */
weft_result_t weft__net_connect(weft__endpoints_t *eps, const weft__connect_args_t *base, weft__net_t **out,
                                char *err, size_t errlen);
/* Hands every transport's connections to the engine: with the engine paused, after the
 * communicator that owns net is reachable from the engine. */
void weft__net_start(weft__net_t *net);
void weft__net_destroy(weft__net_t *net); /* NULL ok; says BYE first */

weft_result_t weft__net_post_send(weft__net_t *net, int peer, weft__xfer_t *x);
void weft__net_resume(weft__net_t *net);
void weft__net_cancel_all(weft__net_t *net);
void weft__net_broadcast_control(weft__net_t *net, const weft__frame_t *f, const void *payload);
void weft__net_drop_peer(weft__net_t *net, int peer);
const char *weft__net_transport_name(const weft__net_t *net, int peer); /* "self" for this rank */

#endif
