/* A member's card on the wire: the layout and the compatibility rules are in card.h. */
#include <stdio.h>
#include <string.h>

#include "bootstrap/coord_proto.h"
#include "core/le.h"
#include "core/card.h"

#define SEC_HDR_LEN 4

_Static_assert(WEFT__CARD_MAX == WEFT__COORD_CARD_MAX, "the coordinator carries a whole card");
_Static_assert(sizeof ((weft__card_t *)0)->identity == WEFT__IDENTITY_PK_LEN, "a card holds one public key");
_Static_assert(WEFT__CARD_MAX <= UINT16_MAX, "a card's length is a u16");


size_t weft__card_encode(const weft__card_t *card, uint8_t *out, size_t cap) {
  bool tcp = card->addr.family == 4 || card->addr.family == 6;
  size_t len = WEFT__CARD_HDR_LEN + (tcp ? SEC_HDR_LEN + WEFT__ADDR_WIRE_LEN : 0) +
               (card->has_identity ? SEC_HDR_LEN + WEFT__IDENTITY_PK_LEN : 0);
  if (out == NULL || len > cap || len > WEFT__CARD_MAX) return 0;
  out[0] = WEFT__CARD_VERSION;
  out[1] = 0;
  weft__put16(out + 2, (uint16_t)len);
  weft__put64(out + 4, card->member_id);
  weft__put64(out + 12, card->host_id);
  uint8_t *s = out + WEFT__CARD_HDR_LEN;
  if (tcp) {
    weft__put16(s, WEFT__CARD_SEC_TCP);
    weft__put16(s + 2, WEFT__ADDR_WIRE_LEN);
    weft__addr_encode(s + SEC_HDR_LEN, &card->addr);
    s += SEC_HDR_LEN + WEFT__ADDR_WIRE_LEN;
  }
  if (card->has_identity) {
    weft__put16(s, WEFT__CARD_SEC_IDENTITY);
    weft__put16(s + 2, WEFT__IDENTITY_PK_LEN);
    memcpy(s + SEC_HDR_LEN, card->identity, WEFT__IDENTITY_PK_LEN);
  }
  return len;
}

#define REFUSE(...)                         \
  do {                                      \
    snprintf(why, whylen, __VA_ARGS__);     \
    return false;                           \
  } while (0)

bool weft__card_decode(const uint8_t *p, size_t len, uint64_t member_id, weft__card_t *card, char *why,
                       size_t whylen) {
  if (p == NULL || len < WEFT__CARD_HDR_LEN) REFUSE("card truncated: %zu bytes, the header alone is %d", len, WEFT__CARD_HDR_LEN);
  if (len > WEFT__CARD_MAX) REFUSE("card of %zu bytes, over the limit of %d", len, WEFT__CARD_MAX);
  if (p[0] != WEFT__CARD_VERSION) REFUSE("card version %u, this weft reads version %d", p[0], WEFT__CARD_VERSION);
  if (p[1] != 0) REFUSE("card header: reserved byte set");
  if (weft__get16(p + 2) != len) REFUSE("card says it is %u bytes but %zu came", weft__get16(p + 2), len);
  weft__card_t c = {.member_id = weft__get64(p + 4), .host_id = weft__get64(p + 12)};
  if (c.member_id != 0 && c.member_id != member_id)
    REFUSE("card of member %llu listed for member %llu", (unsigned long long)c.member_id,
           (unsigned long long)member_id);
  c.member_id = member_id;
  bool seen_tcp = false;
  for (size_t off = WEFT__CARD_HDR_LEN; off < len;) {
    if (len - off < SEC_HDR_LEN) REFUSE("card truncated in a section header at byte %zu", off);
    uint16_t type = weft__get16(p + off), slen = weft__get16(p + off + 2);
    const uint8_t *v = p + off + SEC_HDR_LEN;
    if (len - off - SEC_HDR_LEN < slen)
      REFUSE("card section %u at byte %zu claims %u bytes, %zu remain", type, off, slen, len - off - SEC_HDR_LEN);
    if (type == WEFT__CARD_SEC_TCP) {
      if (seen_tcp) REFUSE("card has two TCP sections");
      if (slen != WEFT__ADDR_WIRE_LEN) REFUSE("card TCP section of %u bytes, not %d", slen, WEFT__ADDR_WIRE_LEN);
      if (!weft__addr_decode(v, &c.addr)) REFUSE("card TCP section: not an IPv4 or IPv6 address");
      seen_tcp = true;
    } else if (type == WEFT__CARD_SEC_IDENTITY) {
      if (c.has_identity) REFUSE("card has two IDENTITY sections");
      if (slen != WEFT__IDENTITY_PK_LEN) REFUSE("card IDENTITY section of %u bytes, not %d", slen, WEFT__IDENTITY_PK_LEN);
      memcpy(c.identity, v, WEFT__IDENTITY_PK_LEN);
      c.has_identity = true;
    } /* other types: a later weft's transports; skipped */
    off += SEC_HDR_LEN + slen;
  }
  *card = c;
  return true;
}
