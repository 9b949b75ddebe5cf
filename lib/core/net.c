/* Transports per peer (net.h). With one transport built (TCP today) every peer gets it; the
 * table is what lets shared memory take the peers on this host and TCP or libfabric the rest,
 * without the executor knowing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"

/* Every transport this build has, fastest first: the default preference. */
static const weft__transport_ops_t *const built[] = {
    &weft__tcp_ops,
};
#define NBUILT (sizeof built / sizeof *built)

struct weft__net {
  int size, rank, n;
  const weft__transport_ops_t *ops[WEFT__NET_MAX_TRANSPORTS];
  weft__transport_t *tp[WEFT__NET_MAX_TRANSPORTS];
  int8_t *by_peer; /* size entries: index into tp[], -1 for self */
};

static const weft__transport_ops_t *find_built(const char *name, size_t len) {
  for (size_t i = 0; i < NBUILT; i++)
    if (strlen(built[i]->name) == len && strncmp(built[i]->name, name, len) == 0) return built[i];
  return NULL;
}

static void list_built(char *buf, size_t len) {
  size_t w = 0;
  buf[0] = 0;
  for (size_t i = 0; i < NBUILT && w < len; i++)
    w += (size_t)snprintf(buf + w, len - w, "%s%s", i ? "," : "", built[i]->name);
}

void weft__net_close(weft__endpoints_t *eps) {
  for (int i = 0; i < eps->n; i++) eps->ops[i]->close(eps->ep[i]);
  eps->n = 0;
}

weft_result_t weft__net_open(const char *transports, const weft__endpoint_args_t *args, weft__endpoints_t *out,
                             char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  const weft__transport_ops_t *want[WEFT__NET_MAX_TRANSPORTS];
  int nwant = 0;
  char have[128];
  list_built(have, sizeof have);
  if (!transports || !transports[0]) {
    for (size_t i = 0; i < NBUILT && nwant < WEFT__NET_MAX_TRANSPORTS; i++) want[nwant++] = built[i];
  } else {
    for (const char *p = transports; *p;) {
      size_t len = strcspn(p, ",");
      const weft__transport_ops_t *ops = find_built(p, len);
      if (!ops) {
        snprintf(err, errlen, "WEFT_TRANSPORTS=%s: \"%.*s\" is not a transport this weft was built with (it has: %s)",
                 transports, (int)len, p, have);
        return WEFT_ERR_INVALID_ARGUMENT;
      }
      bool dup = false;
      for (int i = 0; i < nwant; i++) dup |= want[i] == ops;
      if (!dup && nwant < WEFT__NET_MAX_TRANSPORTS) want[nwant++] = ops;
      p += len + (p[len] == ',');
    }
  }
  for (int i = 0; i < nwant; i++) {
    char why[256];
    weft_result_t r = want[i]->open(args, &out->ep[out->n], &out->card, why, sizeof why);
    if (r != WEFT_SUCCESS) {
      snprintf(err, errlen, "%s: %s", want[i]->name, why);
      weft__net_close(out);
      return r;
    }
    out->ops[out->n++] = want[i];
  }
  return WEFT_SUCCESS;
}

void weft__net_destroy(weft__net_t *net) {
  if (!net) return;
  for (int i = 0; i < net->n; i++)
    if (net->tp[i]) net->ops[i]->destroy(net->tp[i]);
  free(net->by_peer);
  free(net);
}

weft_result_t weft__net_connect(weft__endpoints_t *eps, const weft__connect_args_t *base, weft__net_t **out,
                                char *err, size_t errlen) {
  weft__net_t *net = calloc(1, sizeof *net);
  bool *serve = calloc((size_t)base->size, sizeof *serve);
  weft_result_t r = WEFT_ERR_NO_MEMORY;
  if (!net || !serve || !(net->by_peer = malloc((size_t)base->size))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  net->size = base->size;
  net->rank = base->rank;
  const weft__card_t *self = &base->cards[base->rank];
  for (int p = 0; p < base->size; p++) {
    net->by_peer[p] = -1;
    for (int i = 0; i < eps->n && p != base->rank && net->by_peer[p] < 0; i++)
      if (eps->ops[i]->reachable(eps->ep[i], self, &base->cards[p])) net->by_peer[p] = (int8_t)i;
    if (p != base->rank && net->by_peer[p] < 0) {
      r = WEFT_ERR_TRANSPORT;
      snprintf(err, errlen, "no enabled transport reaches rank %d (WEFT_TRANSPORTS)", p);
      goto fail;
    }
  }
  /* Every transport connects to its peers, in preference order. A transport with no peers here
   * still connects when this communicator is just this rank, so that a lone rank has an instance
   * (and the same code paths) like any other. */
  for (int i = 0; i < eps->n; i++) {
    bool any = false;
    for (int p = 0; p < base->size; p++) any |= serve[p] = net->by_peer[p] == i;
    if (!any && !(i == 0 && base->size == 1)) continue;
    weft__connect_args_t a = *base;
    a.serve = serve;
    char why[512];
    r = eps->ops[i]->connect(eps->ep[i], &a, &net->tp[net->n], why, sizeof why);
    if (r != WEFT_SUCCESS) {
      snprintf(err, errlen, "%s", why);
      goto fail;
    }
    net->ops[net->n++] = eps->ops[i];
    for (int p = 0; p < base->size; p++)
      if (net->by_peer[p] == i) net->by_peer[p] = (int8_t)(net->n - 1);
  }
  free(serve);
  *out = net;
  return WEFT_SUCCESS;
fail:
  free(serve);
  weft__net_destroy(net);
  return r;
}

void weft__net_start(weft__net_t *net) {
  for (int i = 0; i < net->n; i++) net->ops[i]->start(net->tp[i]);
}

weft_result_t weft__net_post_send(weft__net_t *net, int peer, weft__xfer_t *x) {
  int i = net->by_peer[peer];
  return i < 0 ? WEFT_ERR_INTERNAL : net->ops[i]->post_send(net->tp[i], peer, x);
}

void weft__net_resume(weft__net_t *net) {
  for (int i = 0; i < net->n; i++) net->ops[i]->resume(net->tp[i]);
}

void weft__net_cancel_all(weft__net_t *net) {
  for (int i = 0; i < net->n; i++) net->ops[i]->cancel_all(net->tp[i]);
}

void weft__net_broadcast_control(weft__net_t *net, const weft__frame_t *f, const void *payload) {
  for (int i = 0; i < net->n; i++) net->ops[i]->broadcast_control(net->tp[i], f, payload);
}

void weft__net_drop_peer(weft__net_t *net, int peer) {
  int i = net->by_peer[peer];
  if (i >= 0) net->ops[i]->drop_peer(net->tp[i], peer);
}

const char *weft__net_transport_name(const weft__net_t *net, int peer) {
  int i = net->by_peer[peer];
  return i < 0 ? "self" : net->ops[i]->name;
}
