/* Codec of REJOIN (coord_proto.h; what it is for: lib/membership/store_coord.c, which sends it,
 * and tools/coordinator/rebuild.c, which rebuilds a restarted coordinator's state from it).
 * Little-endian, offsets in bytes:
 *
 *   REJOIN (40 + h + 8n)  0 member_id u64 | 8 epoch u64 | 16 rank i32 | 20 flags u32
 *                         24 n u32 (members of `epoch`) | 28 h u32 (HELLO payload bytes)
 *                         32 rounds u32 | 36 last_answer u32 (0, NO_CHANGE or JOINERS)
 *                         40 HELLO payload (its own layout: coord_proto.c) | 40+h ids u64[n]
 *
 * A joiner (epoch 0) has rank -1 and n 0; a member has 0 <= rank < n and ids[rank] == its
 * member id; no id is 0. Exactly these lengths, known flag bits only. */
#include "bootstrap/coord_proto.h"
#include "core/le.h"

#define REJOIN_FIXED_LEN 40
#define KNOWN_FLAGS WEFT__REJOIN_REVOKED

size_t weft__coord_rejoin_max_payload(void) {
  weft__coord_hello_t biggest = {.card_len = WEFT__COORD_CARD_MAX};
  return REJOIN_FIXED_LEN + weft__coord_hello_payload_len(&biggest) + 8 * (size_t)WEFT__COORD_MAX_MEMBERS;
}

size_t weft__coord_encode_rejoin(uint8_t *out, size_t cap, const weft__coord_rejoin_t *m) {
  if (m->size > WEFT__COORD_MAX_MEMBERS || (m->size > 0 && m->ids == NULL)) return 0;
  size_t h = weft__coord_hello_payload_len(&m->hello);
  size_t len = REJOIN_FIXED_LEN + h + 8 * (size_t)m->size;
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_REJOIN, len);
  if (p == NULL) return 0;
  /* The HELLO codec writes its header first: let it land on bytes 24..39, which the fixed
   * fields below then overwrite, so its payload ends up at 40 with no copy. */
  uint8_t *hello_at = p + REJOIN_FIXED_LEN - WEFT__COORD_HDR_LEN;
  if (weft__coord_encode_hello(hello_at, WEFT__COORD_HDR_LEN + h, &m->hello) != WEFT__COORD_HDR_LEN + h) return 0;
  weft__put64(p, m->member_id);
  weft__put64(p + 8, m->epoch);
  weft__put32(p + 16, (uint32_t)m->rank);
  weft__put32(p + 20, m->flags);
  weft__put32(p + 24, m->size);
  weft__put32(p + 28, (uint32_t)h);
  weft__put32(p + 32, m->rounds);
  weft__put32(p + 36, m->last_answer);
  uint8_t *ids = p + REJOIN_FIXED_LEN + h;
  for (uint32_t i = 0; i < m->size; i++) weft__put64(ids + 8 * (size_t)i, m->ids[i]);
  return WEFT__COORD_HDR_LEN + len;
}

bool weft__coord_decode_rejoin(const uint8_t *p, size_t len, weft__coord_rejoin_t *m) {
  if (p == NULL || len < REJOIN_FIXED_LEN) return false;
  weft__coord_rejoin_t r = {.member_id = weft__get64(p), .epoch = weft__get64(p + 8),
                            .rank = (int32_t)weft__get32(p + 16), .flags = weft__get32(p + 20),
                            .size = weft__get32(p + 24), .rounds = weft__get32(p + 32),
                            .last_answer = weft__get32(p + 36)};
  uint32_t h = weft__get32(p + 28);
  if (r.member_id == 0 || (r.flags & ~KNOWN_FLAGS) != 0 || r.size > WEFT__COORD_MAX_MEMBERS) return false;
  if (r.last_answer != 0 && r.last_answer != WEFT__COORD_NO_CHANGE && r.last_answer != WEFT__COORD_JOINERS) return false;
  if ((r.rounds == 0) != (r.last_answer == 0)) return false;
  if (r.epoch == 0 ? (r.size != 0 || r.rank != -1) : (r.rank < 0 || (uint32_t)r.rank >= r.size)) return false;
  if (h > len - REJOIN_FIXED_LEN || len - REJOIN_FIXED_LEN - h != 8 * (size_t)r.size) return false;
  if (!weft__coord_decode_hello(p + REJOIN_FIXED_LEN, h, &r.hello)) return false;
  r.ids_wire = p + REJOIN_FIXED_LEN + h;
  for (uint32_t i = 0; i < r.size; i++)
    if (weft__get64(r.ids_wire + 8 * (size_t)i) == 0) return false;
  if (r.size > 0 && weft__get64(r.ids_wire + 8 * (size_t)r.rank) != r.member_id) return false;
  *m = r;
  return true;
}

uint64_t weft__coord_rejoin_id(const weft__coord_rejoin_t *m, uint32_t i) {
  return m->ids != NULL ? m->ids[i] : weft__get64(m->ids_wire + 8 * (size_t)i);
}
