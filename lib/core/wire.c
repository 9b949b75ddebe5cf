/* Frame header codec: explicit little-endian packing, never a struct memcpy, so the layout is
 * the same on every compiler and a decoder cannot be fooled by padding. */
#include "core/wire.h"

#include <stdio.h>
#include <string.h>

_Static_assert(WEFT__FRAME_HDR_LEN == 80, "frame header is 80 bytes on the wire");

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

void weft__frame_encode(uint8_t out[WEFT__FRAME_HDR_LEN], const weft__frame_t *f) {
  put32(out + 0, WEFT__WIRE_MAGIC);
  out[4] = WEFT__WIRE_VERSION;
  out[5] = f->type;
  out[6] = f->coll;
  out[7] = f->dtype;
  out[8] = f->redop;
  out[9] = f->algo;
  put16(out + 10, f->flags);
  put32(out + 12, f->src_rank);
  put64(out + 16, f->epoch);
  put64(out + 24, f->seq);
  put64(out + 32, f->count);
  put64(out + 40, f->offset);
  put32(out + 48, f->phase);
  put32(out + 52, (uint32_t)f->root);
  put32(out + 56, f->len);
  put32(out + 60, f->code);
  put64(out + 64, f->comm_id);
  put64(out + 72, f->msg_count);
}

bool weft__frame_decode(const uint8_t in[WEFT__FRAME_HDR_LEN], uint32_t max_payload,
                        weft__frame_t *f, char *why, size_t whylen) {
  uint32_t magic = get32(in);
  if (magic != WEFT__WIRE_MAGIC) {
    snprintf(why, whylen, "bad frame magic 0x%08x", magic);
    return false;
  }
  if (in[4] != WEFT__WIRE_VERSION) {
    snprintf(why, whylen, "unsupported frame version %u (this build speaks %u)", in[4],
             WEFT__WIRE_VERSION);
    return false;
  }
  memset(f, 0, sizeof *f);
  f->type = in[5];
  f->coll = in[6];
  f->dtype = in[7];
  f->redop = in[8];
  f->algo = in[9];
  f->flags = get16(in + 10);
  f->src_rank = get32(in + 12);
  f->epoch = get64(in + 16);
  f->seq = get64(in + 24);
  f->count = get64(in + 32);
  f->offset = get64(in + 40);
  f->phase = get32(in + 48);
  f->root = (int32_t)get32(in + 52);
  f->len = get32(in + 56);
  f->code = get32(in + 60);
  f->comm_id = get64(in + 64);
  f->msg_count = get64(in + 72);
  if (f->type < WEFT__FRAME_DATA || f->type > WEFT__FRAME_BYE) {
    snprintf(why, whylen, "unknown frame type %u", f->type);
    return false;
  }
  uint32_t limit = f->type == WEFT__FRAME_ABORT ? WEFT__ABORT_TEXT_MAX : max_payload;
  if (f->type == WEFT__FRAME_BYE) limit = 0;
  if (f->len > limit) {
    snprintf(why, whylen, "frame payload of %u bytes exceeds the limit of %u", f->len, limit);
    return false;
  }
  return true;
}
