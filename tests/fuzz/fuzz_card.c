/* Fuzz target: a member's card (lib/core/card.c, weft__card_decode). Cards come from other
 * members through the membership service, so every byte is untrusted.
 *
 * Input: 8 bytes, little-endian: the member id the service lists for the card; the rest is the
 * blob.
 * Properties: an accepted card has the listed member id, a TCP address that is unset or IPv4/v6,
 * came from a blob within the size limit whose own length field says its length, and re-encodes
 * to a blob that decodes to the same card (identity key included); a refused one leaves a NUL-terminated reason and the
 * output untouched; nothing is read past the bytes given. */
#include "core/card.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t member_id = 0;
  for (int i = 0; i < 8; i++) member_id |= (uint64_t)fuzz_take_u8(&data, &size) << (8 * i);
  uint8_t *blob = fuzz_dup(data, size);
  weft__card_t card, again;
  memset(&card, 0xa5, sizeof card);
  weft__card_t untouched = card;
  char *why = fuzz_textbuf(96);
  if (weft__card_decode(blob, size, member_id, &card, why, 96)) {
    FUZZ_CHECK(size >= WEFT__CARD_HDR_LEN && size <= WEFT__CARD_MAX);
    FUZZ_CHECK(blob[0] == WEFT__CARD_VERSION && (blob[2] | blob[3] << 8) == (int)size);
    FUZZ_CHECK(card.member_id == member_id);
    FUZZ_CHECK(card.addr.family == 0 || card.addr.family == 4 || card.addr.family == 6);
    uint8_t out[WEFT__CARD_MAX];
    size_t n = weft__card_encode(&card, out, sizeof out);
    FUZZ_CHECK(n >= WEFT__CARD_HDR_LEN && n <= size); /* unknown sections dropped, TCP kept */
    FUZZ_CHECK(weft__card_decode(out, n, member_id, &again, why, 96));
    FUZZ_CHECK(again.member_id == card.member_id && again.host_id == card.host_id);
    FUZZ_CHECK(memcmp(&again.addr, &card.addr, sizeof card.addr) == 0);
    FUZZ_CHECK(again.has_identity == card.has_identity);
    FUZZ_CHECK(!card.has_identity || memcmp(again.identity, card.identity, sizeof card.identity) == 0);
  } else {
    FUZZ_CHECK(fuzz_terminated(why, 96) && why[0] != '\0');
    FUZZ_CHECK(memcmp(&card, &untouched, sizeof card) == 0);
  }
  free(why);
  free(blob);
  return 0;
}
