/* TCP's process-lifetime endpoint and per-communicator connect.
 *
 * open: one listener per process. With WEFT_SOCKET_IFNAME it listens on that interface's address
 * only and advertises it; otherwise it listens everywhere and advertises the local address that
 * routes to the coordinator (a UDP connect sends nothing; it only asks the kernel for the route),
 * which is the address peers that reach the coordinator can dial.
 * connect: forms the communicator's connections through that listener (mesh.c) and wraps them in
 * an instance (tcp.c). Connections for a communicator this process has not started forming yet
 * wait in the endpoint's stash. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transports/tcp/tcp.h"

static weft_result_t routable_addr(const char *host, int port, int listen_port, weft__addr_t *out) {
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) return WEFT_ERR_TRANSPORT;
  int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  weft_result_t r = WEFT_ERR_TRANSPORT;
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) r = weft__sock_local_addr(fd, listen_port, out);
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return r;
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
  if (if_host[0] ? weft__sock_local_addr(ep->listen_fd, port, &card->addr) != WEFT_SUCCESS
                 : routable_addr(a->route_host, a->route_port, port, &card->addr) != WEFT_SUCCESS) {
    r = WEFT_ERR_TRANSPORT;
    snprintf(err, errlen, "no route to the coordinator %s:%d", a->route_host, a->route_port);
    goto fail;
  }
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
  weft__mesh_peer_t *peers = malloc((size_t)a->size * sizeof *peers);
  weft_result_t r = WEFT_ERR_NO_MEMORY;
  if (!fds || !peers) {
    snprintf(err, errlen, "out of memory forming the mesh");
    goto out;
  }
  for (int i = 0; i < a->size; i++) peers[i] = (weft__mesh_peer_t){.member_id = a->cards[i].member_id, .addr = a->cards[i].addr};
  weft__mesh_args_t ma = {.listen_fd = ep->listen_fd, .key = ep->key, .epoch = a->epoch, .comm_id = a->comm_id,
                          .rank = a->rank, .size = a->size, .nsocks = a->nsocks, .peers = peers,
                          .serve = a->serve, .deadline = a->deadline, .cancelled = a->cancelled,
                          .cancel_ctx = a->cancel_ctx, .stash = ep->stash};
  r = weft__mesh_form(&ma, fds, err, errlen);
  if (r == WEFT_SUCCESS && (r = weft__tcp_instance_create(a, fds, out)) != WEFT_SUCCESS) {
    snprintf(err, errlen, "out of memory for the tcp transport");
    for (int i = 0; i < nfds; i++)
      if (fds[i] >= 0) close(fds[i]);
  }
out:
  free(fds);
  free(peers);
  return r;
}
