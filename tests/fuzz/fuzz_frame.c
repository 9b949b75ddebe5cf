/* Fuzz target: the data-plane frame header decoder, weft__frame_decode (lib/core/wire.c).
 *
 * Input: byte 0 picks the receiver's payload limit and the size of the `why` buffer; the next
 * 64 bytes are the header (shorter inputs are zero-padded, so every prefix is a test too).
 * Properties: an accepted header has a known type and a length within the limit for its type,
 * and re-encodes to exactly the input bytes (the layout has no slack); a rejected one writes a
 * NUL-terminated reason that fits the buffer. */
#include "core/wire.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t limits[] = {0, 1, 4096, 524288, WEFT__FRAME_MAX_PAYLOAD, UINT32_MAX};
  uint8_t sel = fuzz_take_u8(&data, &size);
  uint32_t max_payload = limits[sel % WEFT__ARRAY_SIZE(limits)];
  size_t whylen = 1 + (sel >> 3); /* 1..32: short buffers must truncate, not overflow */

  uint8_t raw[WEFT__FRAME_HDR_LEN] = {0};
  memcpy(raw, data, WEFT__MIN(size, sizeof raw));
  uint8_t *hdr = fuzz_dup(raw, sizeof raw);
  char *why = fuzz_textbuf(whylen);
  weft__frame_t f;
  memset(&f, 0xa5, sizeof f);

  if (weft__frame_decode(hdr, max_payload, &f, why, whylen)) {
    FUZZ_CHECK(f.type >= WEFT__FRAME_DATA && f.type <= WEFT__FRAME_BYE);
    if (f.type == WEFT__FRAME_BYE) FUZZ_CHECK(f.len == 0);
    else if (f.type == WEFT__FRAME_ABORT) FUZZ_CHECK(f.len <= WEFT__ABORT_TEXT_MAX);
    else FUZZ_CHECK(f.len <= max_payload);
    uint8_t again[WEFT__FRAME_HDR_LEN];
    weft__frame_encode(again, &f);
    FUZZ_CHECK(memcmp(again, hdr, sizeof again) == 0);
  } else {
    FUZZ_CHECK(fuzz_terminated(why, whylen));
  }
  free(why);
  free(hdr);
  return 0;
}
