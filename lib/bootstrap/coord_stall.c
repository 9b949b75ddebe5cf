/* Codec of the probe messages (coord_proto.h; what they are for: lib/membership/stall.c and
 * reach.c, tools/coordinator/stall.c and reach.c). Layouts, little-endian, offsets in bytes:
 *
 *   STALL (40 + 4n)       0 epoch u64 | 8 comm_id u64 | 16 seq u64 | 24 coll u32 | 28 waited_ms u32
 *                         32 stall_ms u32 | 36 n u32 | 40 ranks u32[n] (epoch ranks, distinct)
 *   PROGRESS_QUERY (24)   0 epoch u64 | 8 comm_id u64 | 16 seq u64
 *   PROGRESS (48)         0 epoch u64 | 8 comm_id u64 | 16 seq u64 | 24 entered_seq u64
 *                         32 entered_coll u32 | 36 flags u32 | 40 idle_ms u32 | 44 reserved u32 = 0
 *   REACH_QUERY (16 + 4n) 0 epoch u64 | 8 timeout_ms u32 (1..WEFT__REACH_MAX_MS) | 12 n u32
 *                         16 ranks u32[n]
 *   REACH (16 + 8n)       0 epoch u64 | 8 reserved u32 = 0 | 12 n u32 | 16 (rank u32, status u32)[n]
 *                         (status 0 reached, 1 not)
 *
 * As everywhere in the protocol, decoders accept exactly these lengths, epochs >= 1, seqs >= 1
 * and known flag bits only. */
#include "bootstrap/coord_proto.h"
#include "core/le.h"

#define STALL_FIXED_LEN 40
#define QUERY_LEN 24
#define PROGRESS_LEN 48
#define REACH_FIXED_LEN 16
#define KNOWN_FLAGS (WEFT__PROGRESS_HAS_COMM | WEFT__PROGRESS_IN_CALL)

size_t weft__coord_stall_max_payload(uint8_t type) {
  switch (type) {
  case WEFT__COORD_STALL: return STALL_FIXED_LEN + 4 * (size_t)WEFT__COORD_MAX_MEMBERS;
  case WEFT__COORD_PROGRESS_QUERY: return QUERY_LEN;
  case WEFT__COORD_PROGRESS: return PROGRESS_LEN;
  case WEFT__COORD_REACH_QUERY: return REACH_FIXED_LEN + 4 * (size_t)WEFT__COORD_MAX_MEMBERS;
  case WEFT__COORD_REACH: return REACH_FIXED_LEN + 8 * (size_t)WEFT__COORD_MAX_MEMBERS;
  default: return 0;
  }
}

size_t weft__coord_encode_stall(uint8_t *out, size_t cap, const weft__coord_stall_t *m) {
  if (m->nranks > WEFT__COORD_MAX_MEMBERS || (m->nranks > 0 && m->ranks == NULL)) return 0;
  size_t len = STALL_FIXED_LEN + 4 * (size_t)m->nranks;
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_STALL, len);
  if (p == NULL) return 0;
  weft__put64(p, m->epoch);
  weft__put64(p + 8, m->comm_id);
  weft__put64(p + 16, m->seq);
  weft__put32(p + 24, m->coll);
  weft__put32(p + 28, m->waited_ms);
  weft__put32(p + 32, m->stall_ms);
  weft__put32(p + 36, m->nranks);
  for (uint32_t i = 0; i < m->nranks; i++) weft__put32(p + STALL_FIXED_LEN + 4 * (size_t)i, m->ranks[i]);
  return WEFT__COORD_HDR_LEN + len;
}

bool weft__coord_decode_stall(const uint8_t *p, size_t len, weft__coord_stall_t *m) {
  if (p == NULL || len < STALL_FIXED_LEN) return false;
  weft__coord_stall_t s = {.epoch = weft__get64(p), .comm_id = weft__get64(p + 8), .seq = weft__get64(p + 16),
                           .coll = weft__get32(p + 24), .waited_ms = weft__get32(p + 28),
                           .stall_ms = weft__get32(p + 32), .nranks = weft__get32(p + 36)};
  if (s.epoch == 0 || s.seq == 0 || s.nranks > WEFT__COORD_MAX_MEMBERS) return false;
  if (len != STALL_FIXED_LEN + 4 * (size_t)s.nranks) return false;
  s.ranks_wire = p + STALL_FIXED_LEN;
  *m = s;
  return true;
}

/* The payload is neither aligned for u32 loads nor in host order: read byte by byte. */
uint32_t weft__coord_stall_rank(const weft__coord_stall_t *m, uint32_t i) {
  return weft__get32(m->ranks_wire + 4 * (size_t)i);
}

size_t weft__coord_encode_progress(uint8_t *out, size_t cap, uint8_t type, const weft__coord_progress_t *m) {
  if (type != WEFT__COORD_PROGRESS_QUERY && type != WEFT__COORD_PROGRESS) return 0;
  size_t len = type == WEFT__COORD_PROGRESS ? PROGRESS_LEN : QUERY_LEN;
  uint8_t *p = weft__coord_begin(out, cap, type, len);
  if (p == NULL) return 0;
  weft__put64(p, m->epoch);
  weft__put64(p + 8, m->comm_id);
  weft__put64(p + 16, m->seq);
  if (type == WEFT__COORD_PROGRESS) {
    weft__put64(p + 24, m->entered_seq);
    weft__put32(p + 32, m->entered_coll);
    weft__put32(p + 36, m->flags);
    weft__put32(p + 40, m->idle_ms);
    weft__put32(p + 44, 0);
  }
  return WEFT__COORD_HDR_LEN + len;
}

bool weft__coord_decode_progress(const uint8_t *p, size_t len, uint8_t type, weft__coord_progress_t *m) {
  if (p == NULL || (type != WEFT__COORD_PROGRESS_QUERY && type != WEFT__COORD_PROGRESS)) return false;
  if (len != (type == WEFT__COORD_PROGRESS ? PROGRESS_LEN : QUERY_LEN)) return false;
  weft__coord_progress_t r = {.epoch = weft__get64(p), .comm_id = weft__get64(p + 8), .seq = weft__get64(p + 16)};
  if (r.epoch == 0 || r.seq == 0) return false;
  if (type == WEFT__COORD_PROGRESS) {
    r.entered_seq = weft__get64(p + 24);
    r.entered_coll = weft__get32(p + 32);
    r.flags = weft__get32(p + 36);
    r.idle_ms = weft__get32(p + 40);
    if ((r.flags & ~KNOWN_FLAGS) != 0 || weft__get32(p + 44) != 0) return false;
  }
  *m = r;
  return true;
}

static size_t reach_entry_len(uint8_t type) { return type == WEFT__COORD_REACH ? 8 : 4; }

size_t weft__coord_encode_reach(uint8_t *out, size_t cap, uint8_t type, const weft__coord_reach_t *m) {
  if ((type != WEFT__COORD_REACH_QUERY && type != WEFT__COORD_REACH) || m->n > WEFT__COORD_MAX_MEMBERS) return 0;
  if (m->n > 0 && (m->ranks == NULL || (type == WEFT__COORD_REACH && m->status == NULL))) return 0;
  size_t e = reach_entry_len(type), len = REACH_FIXED_LEN + e * (size_t)m->n;
  uint8_t *p = weft__coord_begin(out, cap, type, len);
  if (p == NULL) return 0;
  weft__put64(p, m->epoch);
  weft__put32(p + 8, type == WEFT__COORD_REACH_QUERY ? m->timeout_ms : 0);
  weft__put32(p + 12, m->n);
  for (uint32_t i = 0; i < m->n; i++) {
    uint8_t *q = p + REACH_FIXED_LEN + e * (size_t)i;
    weft__put32(q, m->ranks[i]);
    if (type == WEFT__COORD_REACH) weft__put32(q + 4, m->status[i] ? 1 : 0);
  }
  return WEFT__COORD_HDR_LEN + len;
}

bool weft__coord_decode_reach(const uint8_t *p, size_t len, uint8_t type, weft__coord_reach_t *m) {
  if (p == NULL || (type != WEFT__COORD_REACH_QUERY && type != WEFT__COORD_REACH) || len < REACH_FIXED_LEN)
    return false;
  weft__coord_reach_t r = {.epoch = weft__get64(p), .timeout_ms = weft__get32(p + 8), .n = weft__get32(p + 12)};
  size_t e = reach_entry_len(type);
  if (r.epoch == 0 || r.n > WEFT__COORD_MAX_MEMBERS || len != REACH_FIXED_LEN + e * (size_t)r.n) return false;
  if (type == WEFT__COORD_REACH_QUERY ? r.timeout_ms == 0 || r.timeout_ms > WEFT__REACH_MAX_MS : r.timeout_ms != 0)
    return false;
  r.wire = p + REACH_FIXED_LEN;
  for (uint32_t i = 0; type == WEFT__COORD_REACH && i < r.n; i++)
    if (weft__get32(r.wire + 8 * (size_t)i + 4) > 1) return false;
  *m = r;
  return true;
}

void weft__coord_reach_entry(const weft__coord_reach_t *m, uint8_t type, uint32_t i, uint32_t *rank, uint8_t *status) {
  const uint8_t *q = m->wire + reach_entry_len(type) * (size_t)i;
  *rank = weft__get32(q);
  *status = type == WEFT__COORD_REACH ? (uint8_t)weft__get32(q + 4) : 0;
}
