/* Point-to-point matching bookkeeping (p2p_match.h). */
#include <stdlib.h>

#include "core/p2p_match.h"
#include "weft.h"

weft_result_t weft__p2p_match_init(weft__p2p_match_t *m, int size, uint64_t cap) {
  *m = (weft__p2p_match_t){.size = size, .cap = cap};
  m->next_seq = calloc((size_t)size, sizeof *m->next_seq);
  return m->next_seq ? WEFT_SUCCESS : WEFT_ERR_NO_MEMORY;
}

void weft__p2p_match_free(weft__p2p_match_t *m) {
  while (m->head) weft__p2p_release(m, m->head);
  free(m->next_seq);
  m->next_seq = NULL;
}

weft__p2p_msg_t *weft__p2p_find(const weft__p2p_match_t *m, int peer, int32_t tag) {
  for (weft__p2p_msg_t *x = m->head; x; x = x->next)
    if (!x->recv && x->tag == tag && (peer == WEFT_ANY_SOURCE || x->peer == peer)) return x;
  return NULL;
}

weft__p2p_msg_t *weft__p2p_lookup(const weft__p2p_match_t *m, int peer, uint64_t seq) {
  for (weft__p2p_msg_t *x = m->head; x; x = x->next)
    if (x->peer == peer && x->seq == seq) return x;
  return NULL;
}

bool weft__p2p_owns(const weft__p2p_match_t *m, const void *target) {
  for (const weft__p2p_msg_t *x = m->head; x; x = x->next)
    if (x == target) return true;
  return false;
}

weft__p2p_msg_t *weft__p2p_buffer(weft__p2p_match_t *m, int peer, const weft__frame_t *f, size_t esize) {
  if (esize == 0 || f->msg_count > (m->cap - m->buffered) / esize) return NULL;
  uint64_t bytes = f->msg_count * esize;
  weft__p2p_msg_t *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  if (bytes && !(x->buf = malloc(bytes))) {
    free(x);
    return NULL;
  }
  x->peer = peer;
  x->seq = f->seq;
  x->tag = f->root; /* P2P frames carry the tag in the root field (wire.h) */
  x->dtype = f->dtype;
  x->count = f->msg_count;
  x->bytes = bytes;
  if (m->tail) m->tail->next = x;
  else m->head = x;
  m->tail = x;
  m->buffered += bytes;
  return x;
}

void weft__p2p_release(weft__p2p_match_t *m, weft__p2p_msg_t *msg) {
  weft__p2p_msg_t *prev = NULL;
  for (weft__p2p_msg_t *x = m->head; x; prev = x, x = x->next) {
    if (x != msg) continue;
    if (prev) prev->next = x->next;
    else m->head = x->next;
    if (m->tail == x) m->tail = prev;
    m->buffered -= x->bytes;
    free(x->buf);
    free(x);
    return;
  }
}

void weft__p2p_drop_incomplete(weft__p2p_match_t *m) {
  for (weft__p2p_msg_t *x = m->head, *next; x; x = next) {
    next = x->next;
    if (!x->complete) weft__p2p_release(m, x);
  }
}
