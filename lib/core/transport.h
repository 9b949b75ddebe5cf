/* The transport interface, version 2: a small non-blocking ops table (libfabric style: first
 * field its size so it can grow; filled with designated initializers). TCP implements it
 * (transports/tcp/); shared memory, libfabric and CUDA are meant to slot in beside it, each in its
 * own folder with the same file set (transports/README.md). lib/core/net.c picks, per peer, which
 * transport carries a communicator's traffic (WEFT_TRANSPORTS).
 *
 * Lifetimes, grown by size:
 *   - process: open/close an *endpoint* (TCP: the listener on WEFT_SOCKET_IFNAME's address) and
 *     describe it in this process's *card* (what a peer needs to connect: addresses, keys, host
 *     identity; exchanged through the membership service);
 *   - epoch and communicator: connect to the peers a communicator needs, from their cards, into
 *     a *transport instance*, and disconnect it (destroy) when the epoch or communicator ends;
 *   - operation: post_send / the on_header sink protocol / cancel_all, below.
 *
 * Division of labour. The core (lib/core/executor.c) knows operations, schedules and matching;
 * a transport knows how to move framed bytes to and from one peer. A transport never blocks and
 * never decides where data goes: for every frame header it receives it asks the core through
 * weft__transport_cb_t.on_header, which answers with a sink (copy to this address, reduce into
 * that one, discard, or not yet). "Not yet" parks the connection — the transport stops reading
 * it until the core calls resume() — so frames that arrive before their receive is posted are
 * held back by flow control instead of being buffered without bound. A call that cannot finish
 * at once never waits: it queues and completes later through a callback (post_send ->
 * on_send_done), or reports "not yet" (PARK) and is retried on resume().
 */
#ifndef WEFT_CORE_TRANSPORT_H
#define WEFT_CORE_TRANSPORT_H

#include "bootstrap/auth.h"
#include "bootstrap/identity.h"
#include "core/common.h"
#include "core/engine.h"
#include "core/sock.h"
#include "core/wire.h"

typedef struct weft__transport weft__transport_t;
struct weft__transport_ops;

/* The memory a transfer reads or writes. Every transfer names its kind; a transport refuses a
 * kind it does not list in its caps (WEFT_ERR_UNSUPPORTED) instead of touching it. */
typedef enum {
  WEFT__MEM_HOST = 0,
  WEFT__MEM_CUDA = 1, /* device memory: the CUDA transport's */
} weft__mem_type_t;

/* Capabilities (weft__transport_ops_t.caps). */
#define WEFT__CAP_MEM_HOST (1u << 0)
#define WEFT__CAP_MEM_CUDA (1u << 1)
#define WEFT__CAP_ONE_SIDED (1u << 2) /* can write into a peer's registered sink (RDMA write) */

/* A member's card: what its peers need to reach it. It travels through the membership service
 * as a versioned blob (lib/core/card.h): member id, host id, and one section per transport. A
 * transport that needs more (an RDMA address, a shared-memory segment name) adds its field here,
 * fills it in its open(), and gives it a section of a new type in card.c. */
typedef struct {
  uint64_t member_id;
  uint64_t host_id;  /* equal on processes that can share memory (bootstrap/host_id.h); 0: unknown */
  weft__addr_t addr; /* TCP */
  bool has_identity; /* identity: the member's public signing key (bootstrap/identity.h) */
  uint8_t identity[32];
} weft__card_t;

typedef struct weft__endpoint weft__endpoint_t; /* a transport's process-lifetime state */

/* One posted send: the core owns it (it lives in the operation's state) and is told when every
 * frame has been written (on_send_done). */
typedef struct weft__xfer {
  weft__frame_t hdr; /* template: type, descriptor, seq, phase; offset/len set per frame */
  uint8_t mem;       /* weft__mem_type_t of buf */
  const uint8_t *buf;
  uint64_t len;
  uint32_t frames_left; /* frames not yet fully written */
  void *user;           /* core's context (the step) */
} weft__xfer_t;

typedef enum {
  WEFT__SINK_COPY = 0,    /* read the payload to `dst` */
  WEFT__SINK_REDUCE = 1,  /* read the payload into a bounce buffer, then call on_reduce */
  WEFT__SINK_DISCARD = 2, /* read and drop the payload (stale or failed operation) */
  WEFT__SINK_PARK = 3,    /* not yet: keep the header, stop reading until resume() */
  WEFT__SINK_CLOSE = 4,   /* protocol violation: drop this connection */
} weft__sink_kind_t;

typedef struct {
  uint8_t kind;  /* weft__sink_kind_t */
  uint8_t mem;   /* COPY: weft__mem_type_t of dst */
  uint8_t *dst;  /* COPY: where payload byte 0 goes */
  void *target;  /* core's context echoed in on_reduce/on_recv_done */
} weft__sink_t;

typedef struct {
  void *ctx;
  /* A complete header from `peer` (already decoded and validated by the codec). */
  weft__sink_t (*on_header)(void *ctx, int peer, const weft__frame_t *f);
  /* REDUCE sink: the whole payload is in `data`. */
  void (*on_reduce)(void *ctx, void *target, const weft__frame_t *f, const uint8_t *data);
  /* COPY or REDUCE sink: the frame's payload has been fully delivered. */
  void (*on_recv_done)(void *ctx, void *target, const weft__frame_t *f);
  void (*on_send_done)(void *ctx, weft__xfer_t *x);
  /* A connection to `peer` ended: clean (after the peer's BYE) or not, with a reason. */
  void (*on_peer_lost)(void *ctx, int peer, bool clean, const char *why);
} weft__transport_cb_t;

/* open(): one per process and transport. */
typedef struct {
  const char *ifname;           /* WEFT_SOCKET_IFNAME, or "" */
  const char *route_host;       /* a host peers reach us from (the coordinator's): picks the */
  int route_port;               /*   address to advertise when no ifname is given */
  const weft__auth_key_t *key;  /* the job secret: every connection is authenticated */
  const weft__identity_t *identity; /* this process's signing key: binds who it is to each handshake */
  bool encrypt;                 /* WEFT_ENCRYPT: encrypt every data-plane connection (TCP: crypt.h) */
} weft__endpoint_args_t;

/* connect(): one per epoch, communicator and transport. */
typedef bool (*weft__connect_cancel_fn)(void *ctx, char *why, size_t whylen);
typedef struct {
  uint64_t epoch, comm_id;       /* both go into every handshake and frame */
  int rank, size;                /* in the communicator */
  const weft__card_t *cards;     /* size entries, in rank order */
  const bool *serve;             /* size entries: the peers this instance carries (net.c) */
  int nsocks;                    /* connections per peer (TCP) */
  uint32_t chunk;                /* max payload bytes per frame */
  double deadline;               /* connect gives up then, naming the missing peer */
  weft__connect_cancel_fn cancelled; /* polled while connecting (epoch revoked: stop) */
  void *cancel_ctx;
  /* NULL, or called (with cancel_ctx) once per peer this instance has not reached after
   * unreachable_after seconds of trying: the membership service hears it while connecting goes on. */
  void (*unreachable)(void *ctx, int peer, const char *why);
  double unreachable_after;
  /* The context's engine (engine.h): the instance registers its sources there in connect and
   * removes them in destroy and drop_peer; their callbacks run on the engine's holder. Fds are
   * weft__io_t watchers embedded in the transport's per-connection state. Completions that are
   * not fds (a completion queue without a wait object, GPU events, a shared-memory ring) are a
   * weft__poller_t the transport adds likewise: its poll() reaps them, its prepare_block()
   * bounds how long the engine may sleep (0 while completions are due any moment). There is no
   * op for either: the engine calls the transport, never the other way round. */
  weft__engine_t *engine;
  weft__transport_cb_t cb;
} weft__connect_args_t;

typedef struct weft__transport_ops {
  size_t size; /* sizeof(weft__transport_ops_t) the transport was built with */
  const char *name;
  uint32_t caps; /* WEFT__CAP_* */
  /* Process lifetime. open fills this process's card fields the transport owns. */
  weft_result_t (*open)(const weft__endpoint_args_t *args, weft__endpoint_t **out, weft__card_t *card,
                        char *err, size_t errlen);
  void (*close)(weft__endpoint_t *ep);
  /* Whether this transport can reach the member described by card from here. */
  bool (*reachable)(weft__endpoint_t *ep, const weft__card_t *self, const weft__card_t *peer);
  /* Epoch and communicator: bounded by args->deadline, cancellable. The peers not served get
   * no connection. err names the peer that failed and why. */
  weft_result_t (*connect)(weft__endpoint_t *ep, const weft__connect_args_t *args, weft__transport_t **out,
                           char *err, size_t errlen);
  /* Begin delivering: hand the connections to the engine. Called once, with the engine paused
   * and the instance already linked where its callbacks look; nothing is dispatched before. */
  void (*start)(weft__transport_t *t);
  void (*destroy)(weft__transport_t *t); /* disconnect: sends BYE on every live connection first */
  /* Queue x to peer, striped over its connections in frames of at most chunk bytes (a zero
   * length message is one header-only frame). Never blocks. */
  weft_result_t (*post_send)(weft__transport_t *t, int peer, weft__xfer_t *x);
  /* Retry parked connections: the core's matching state changed. */
  void (*resume)(weft__transport_t *t);
  /* Forget every queued send and every payload being received for the core (the operation
   * failed and its buffers go back to the user): partly written frames are finished from a
   * private copy so the byte stream stays in sync; incoming payloads are discarded. */
  void (*cancel_all)(weft__transport_t *t);
  /* Best effort small control frame (ABORT) to every live peer. */
  void (*broadcast_control)(weft__transport_t *t, const weft__frame_t *f, const void *payload);
  /* Close every connection to a peer declared lost, at once and without callbacks: nothing
   * more is read from it (data-plane fencing) and teardown does not wait for it. */
  void (*drop_peer)(weft__transport_t *t, int peer);
  weft_result_t (*mem_register)(weft__transport_t *t, void *buf, size_t len,
                                weft__mem_type_t type, void **handle);
  void (*mem_deregister)(weft__transport_t *t, void *handle);
} weft__transport_ops_t;

extern const weft__transport_ops_t weft__tcp_ops;

#endif
