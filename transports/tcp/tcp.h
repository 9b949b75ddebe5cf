/* TCP's pieces, shared inside transports/tcp/ only: the endpoint (endpoint.c: the listener, its
 * address, the connections kept for a communicator not formed yet) and the instance over the
 * connections of one communicator (tcp.c). mesh.c forms those connections. */
#ifndef WEFT_TRANSPORTS_TCP_TCP_H
#define WEFT_TRANSPORTS_TCP_TCP_H

#include "core/transport.h"
#include "transports/tcp/mesh.h"

struct weft__endpoint {
  int listen_fd;
  const weft__auth_key_t *key;
  const weft__identity_t *identity; /* signs our side of every mesh handshake */
  bool encrypt;                     /* WEFT_ENCRYPT */
  weft__mesh_stash_t *stash;
};

/* endpoint.c: the lifetime calls of weft__tcp_ops (transport.h describes each). */
weft_result_t weft__tcp_open(const weft__endpoint_args_t *a, weft__endpoint_t **out, weft__card_t *card, char *err,
                             size_t errlen);
void weft__tcp_close(weft__endpoint_t *ep);
bool weft__tcp_reachable(weft__endpoint_t *ep, const weft__card_t *self, const weft__card_t *peer);
weft_result_t weft__tcp_connect(weft__endpoint_t *ep, const weft__connect_args_t *a, weft__transport_t **out,
                                char *err, size_t errlen);

/* tcp.c: the instance over fds[peer * nsocks + s] (-1 where there is no connection: self, and peers
 * another transport serves), encrypted with keys[same index] unless keys is NULL. Takes the fds,
 * also on failure (closes them). */
weft_result_t weft__tcp_instance_create(const weft__connect_args_t *a, const int *fds, const weft__crypt_keys_t *keys,
                                        weft__transport_t **out);

#endif
