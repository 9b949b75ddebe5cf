/* The transport interface: a small non-blocking ops table (libfabric style: first field its
 * size so it can grow; filled with designated initializers). TCP implements it today
 * (transports/tcp/); shared memory, libfabric/verbs and CUDA IPC are meant to slot in beside it.
 *
 * Division of labour. The core (lib/core/executor.c) knows operations, schedules and matching;
 * a transport knows how to move framed bytes to and from one peer. A transport never blocks and
 * never decides where data goes: for every frame header it receives it asks the core through
 * weft__transport_cb_t.on_header, which answers with a sink (copy to this address, reduce into
 * that one, discard, or not yet). "Not yet" parks the connection — the transport stops reading
 * it until the core calls resume() — so frames that arrive before their receive is posted are
 * held back by TCP flow control instead of being buffered without bound.
 *
 * Memory registration has its place now (mem_register) so that RDMA transports can require
 * registered buffers and CUDA transports can be handed device pointers; TCP accepts any host
 * pointer and registers nothing.
 */
#ifndef WEFT_CORE_TRANSPORT_H
#define WEFT_CORE_TRANSPORT_H

#include "core/common.h"
#include "core/engine.h"
#include "core/wire.h"

typedef struct weft__transport weft__transport_t;
struct weft__transport_ops;

typedef enum {
  WEFT__MEM_HOST = 0,
  WEFT__MEM_CUDA = 1, /* reserved for the CUDA transport */
} weft__mem_type_t;

/* One posted send: the core owns it (it lives in the operation's state) and is told when every
 * frame has been written (on_send_done). */
typedef struct weft__xfer {
  weft__frame_t hdr; /* template: type, descriptor, seq, phase; offset/len set per frame */
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

typedef struct {
  int rank, size;
  int nsocks;       /* connections per peer */
  int *fds;         /* size*nsocks connected sockets (mesh.h), ownership passes to the transport */
  uint32_t chunk;   /* max payload bytes per frame */
  /* The context's engine (engine.h): the transport registers its sources there in create and
   * removes them in destroy and drop_peer; their callbacks run on the engine's holder. Fds are
   * weft__io_t watchers embedded in the transport's per-connection state. Completions that are
   * not fds (a completion queue without a wait object, GPU events, a shared-memory ring) are a
   * weft__poller_t the transport adds likewise: its poll() reaps them, its prepare_block()
   * bounds how long the engine may sleep (0 while completions are due any moment). There is no
   * op for either: the engine calls the transport, never the other way round. */
  weft__engine_t *engine;
  weft__transport_cb_t cb;
} weft__transport_args_t;

typedef struct weft__transport_ops {
  size_t size; /* sizeof(weft__transport_ops_t) the transport was built with */
  const char *name;
  weft_result_t (*create)(const weft__transport_args_t *args, weft__transport_t **out);
  void (*destroy)(weft__transport_t *t); /* sends BYE on every live connection first */
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
