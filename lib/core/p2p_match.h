/* Point-to-point matching state of one communicator (MPI's rules): a receive matches the
 * earliest unmatched message from its source — or from any rank (WEFT_ANY_SOURCE) — that
 * carries its tag. Messages from one sender are matched in the order it sent them (their
 * per-pair sequence numbers), whatever their tags, so two messages with the same tag never
 * overtake each other.
 *
 * A message is matched when its first frame arrives. With no receive posted for it yet, it is
 * *unexpected*: buffered here (an eager copy) so that the frames behind it on the same
 * connection — a later message with another tag, say — can still be read. The buffer is bounded
 * (WEFT_P2P_BUFFER per communicator); past it the connection waits (parks) until receives are
 * posted. This file keeps the bookkeeping only; the executor decides what to do with it. */
#ifndef WEFT_CORE_P2P_MATCH_H
#define WEFT_CORE_P2P_MATCH_H

#include "core/common.h"
#include "core/wire.h"

typedef struct weft_request weft__p2p_recv_t; /* the receive operation a message went to */

typedef struct weft__p2p_msg {
  struct weft__p2p_msg *next;
  int peer;
  uint64_t seq;
  int32_t tag;
  uint8_t dtype;
  uint64_t count;          /* elements, from the frame's msg_count */
  uint64_t bytes, got;     /* payload size and bytes delivered so far */
  bool complete;           /* every byte arrived (a zero-byte message: its one frame) */
  bool bad;                /* a frame disagreed with the first one: the receive fails */
  weft__p2p_recv_t *recv;  /* the receive matched to it after it arrived; NULL until then */
  uint8_t *buf;
} weft__p2p_msg_t;

typedef struct {
  int size;
  uint64_t *next_seq;           /* per peer: the sequence number of its next message to match */
  weft__p2p_msg_t *head, *tail; /* unexpected messages, in arrival order */
  uint64_t buffered, cap;       /* bytes held in unexpected messages, and the bound */
} weft__p2p_match_t;

weft_result_t weft__p2p_match_init(weft__p2p_match_t *m, int size, uint64_t cap);
void weft__p2p_match_free(weft__p2p_match_t *m); /* every buffered message too */

/* The first unexpected message not yet given to a receive that a receive from `peer`
 * (WEFT_ANY_SOURCE: any) with `tag` matches, or NULL. */
weft__p2p_msg_t *weft__p2p_find(const weft__p2p_match_t *m, int peer, int32_t tag);
/* The unexpected message (peer, seq), or NULL. */
weft__p2p_msg_t *weft__p2p_lookup(const weft__p2p_match_t *m, int peer, uint64_t seq);
/* Whether target (a sink target handed to a transport) is one of the buffered messages. */
bool weft__p2p_owns(const weft__p2p_match_t *m, const void *target);
/* Buffers the message whose frame f just arrived from peer, of esize-byte elements: NULL when
 * it does not fit under the bound (or memory ran out) — the caller parks the frame. */
weft__p2p_msg_t *weft__p2p_buffer(weft__p2p_match_t *m, int peer, const weft__frame_t *f, size_t esize);
/* Unlinks and frees msg; what it held counts against the bound no more. */
void weft__p2p_release(weft__p2p_match_t *m, weft__p2p_msg_t *msg);
/* Frees the messages whose payload is still arriving (the transport forgot it: cancel_all). */
void weft__p2p_drop_incomplete(weft__p2p_match_t *m);

#endif
