/* TCP's process-lifetime endpoint and per-communicator connect.
 *
 * open: one listener per process. With WEFT_SOCKET_IFNAME it listens on that interface's address
 * only and advertises it; otherwise it listens everywhere and advertises the local address that
 * routes to the coordinator (tried on each address the coordinator's name has),
 * which is the address peers that reach the coordinator can dial.
 * connect: forms the communicator's connections through that listener (mesh.c) and wraps them in
 * an instance (tcp.c). Connections for a communicator this process has not started forming yet
 * wait in the endpoint's stash. */
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "transports/tcp/tcp.h"

/* The local address that routes to the coordinator, tried on every address its host name has
 * (localhost on Debian is ::1 and 127.0.0.1) in the resolver's order, skipping IPv6 when our
 * listener is IPv4 only: what we advertise must reach the listener. */
static weft_result_t routable_addr(const char *host, int port, int listen_fd, int listen_port, weft__addr_t *out,
                                   char *err, size_t errlen) {
  weft__addr_t addrs[8], lst;
  size_t n = 0;
  weft_result_t r = weft__sock_resolve(host, port, false, weft__cfg_get(WEFT__CFG_CONNECT_TIMEOUT), addrs,
                                       WEFT__ARRAY_SIZE(addrs), &n, err, errlen);
  if (r != WEFT_SUCCESS) return r;
  bool v6_listener = weft__sock_local_addr(listen_fd, listen_port, &lst) == WEFT_SUCCESS && lst.family == 6;
  snprintf(err, errlen, "no route to the coordinator %s:%d%s", host, port, v6_listener ? "" : " over IPv4");
  for (size_t i = 0; i < n; i++) {
    if (addrs[i].family == 6 && !v6_listener) continue;
    int fd = -1;
    /* A UDP connect sends nothing: it only asks the kernel for the route and our address on it. */
    struct sockaddr_storage ss;
    socklen_t sl = weft__addr_to_sockaddr(&addrs[i], &ss);
    fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    r = fd >= 0 && connect(fd, (struct sockaddr *)&ss, sl) == 0 ? weft__sock_local_addr(fd, listen_port, out)
                                                                : WEFT_ERR_TRANSPORT;
    if (fd >= 0) close(fd);
    if (r == WEFT_SUCCESS) return r;
  }
  return WEFT_ERR_TRANSPORT;
}

void weft__tcp_close(weft__endpoint_t *ep) {
  if (!ep) return;
  if (ep->listen_fd >= 0) close(ep->listen_fd);
  weft__mesh_stash_free(ep->stash);
  free(ep);
}

weft_result_t weft__tcp_open(const weft__endpoint_args_t *a, weft__endpoint_t **out, weft__card_t *card, char *err,
                              size_t errlen) {
  weft__endpoint_t *ep = calloc(1, sizeof *ep);
  if (!ep || !(ep->stash = weft__mesh_stash_new())) {
    free(ep);
    snprintf(err, errlen, "out of memory");
    return WEFT_ERR_NO_MEMORY;
  }
  ep->listen_fd = -1;
  ep->key = a->key;
  ep->identity = a->identity;
  ep->encrypt = a->encrypt;
  char if_host[64] = "", why[256];
  int port = 0;
  weft_result_t r;
  if (a->ifname && a->ifname[0] &&
      (r = weft__sock_ifname_addr(a->ifname, if_host, sizeof if_host, why, sizeof why)) != WEFT_SUCCESS) {
    snprintf(err, errlen, "WEFT_SOCKET_IFNAME=%s: %s", a->ifname, why);
    goto fail;
  }
  if ((r = weft__sock_listen(if_host, 0, &ep->listen_fd, &port, why, sizeof why)) != WEFT_SUCCESS) {
    snprintf(err, errlen, "listen: %s", why);
    goto fail;
  }
  if (if_host[0] && weft__sock_local_addr(ep->listen_fd, port, &card->addr) != WEFT_SUCCESS) {
    r = WEFT_ERR_TRANSPORT;
    snprintf(err, errlen, "WEFT_SOCKET_IFNAME=%s: cannot read the listener's address", a->ifname);
    goto fail;
  }
  if (!if_host[0] &&
      (r = routable_addr(a->route_host, a->route_port, ep->listen_fd, port, &card->addr, err, errlen)) != WEFT_SUCCESS)
    goto fail;
  *out = ep;
  return WEFT_SUCCESS;
fail:
  weft__tcp_close(ep);
  return r;
}

bool weft__tcp_reachable(weft__endpoint_t *ep, const weft__card_t *self, const weft__card_t *peer) {
  (void)ep, (void)self;
  return peer->addr.family == 4 || peer->addr.family == 6;
}

weft_result_t weft__tcp_connect(weft__endpoint_t *ep, const weft__connect_args_t *a, weft__transport_t **out,
                                 char *err, size_t errlen) {
  int nfds = a->size * a->nsocks;
  int *fds = malloc((size_t)nfds * sizeof *fds);
  /* Session keys live only until the instance has them (wiped below). */
  weft__crypt_keys_t *keys = ep->encrypt ? sodium_malloc((size_t)nfds * sizeof *keys) : NULL;
  weft__mesh_peer_t *peers = malloc((size_t)a->size * sizeof *peers);
  weft_result_t r = WEFT_ERR_NO_MEMORY;
  if (!fds || !peers || (ep->encrypt && !keys)) {
    snprintf(err, errlen, "out of memory forming the mesh");
    goto out;
  }
  for (int i = 0; i < a->size; i++) {
    peers[i] = (weft__mesh_peer_t){.member_id = a->cards[i].member_id, .addr = a->cards[i].addr,
                                   .has_identity = a->cards[i].has_identity};
    memcpy(peers[i].identity, a->cards[i].identity, sizeof peers[i].identity);
  }
  weft__mesh_args_t ma = {.listen_fd = ep->listen_fd, .key = ep->key, .self = ep->identity, .epoch = a->epoch, .comm_id = a->comm_id,
                          .rank = a->rank, .size = a->size, .nsocks = a->nsocks, .peers = peers,
                          .serve = a->serve, .deadline = a->deadline, .cancelled = a->cancelled,
                          .cancel_ctx = a->cancel_ctx, .stash = ep->stash, .encrypt = ep->encrypt, .keys = keys,
                          .unreachable = a->unreachable, .unreachable_after = a->unreachable_after};
  r = weft__mesh_form(&ma, fds, err, errlen);
  if (r == WEFT_SUCCESS && (r = weft__tcp_instance_create(a, fds, keys, out)) != WEFT_SUCCESS)
    snprintf(err, errlen, "out of memory for the tcp transport");
out:
  if (keys) sodium_free(keys); /* sodium_free wipes */
  free(fds);
  free(peers);
  return r;
}
