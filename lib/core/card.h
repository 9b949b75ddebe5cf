/* A member's card on the wire (lib/core/card.c): the opaque blob a member publishes through the
 * membership service (store.h publish_card / fetch_cards; the coordinator carries it in HELLO
 * and in every EPOCH) so that its peers' transports can reach it.
 *
 * Layout, little-endian, versioned and length-prefixed:
 *
 *   header (20)   0 version u8 (WEFT__CARD_VERSION) | 1 reserved u8 = 0
 *                 2 length u16 (the whole blob, header included) | 4 member_id u64 | 12 host_id u64
 *   sections      type u16 | length u16 | length bytes, until the blob's end
 *     TCP (1)     the listen address, 20 bytes (coord_proto.h's address layout)
 *     IDENTITY (2) the member's Ed25519 public key, 32 bytes (bootstrap/identity.h): peers check
 *                 every mesh handshake's signature against it, so a member's place can only be
 *                 taken with its secret key, not with the job token alone
 *
 * Compatibility: a transport that needs more (a shared-memory segment name, an RDMA endpoint
 * name) adds a section of a new type; a decoder skips sections it does not know, so older peers
 * keep reading newer cards. The version changes only if the header does, and a decoder refuses
 * versions it does not know. A known section appears at most once and has exactly its length.
 *
 * member_id: the publisher's id if it knew it when publishing, else 0 (the card goes out in the
 * HELLO, before the coordinator assigns the id). The service's member list is authoritative: the
 * reader passes the id it expects, which replaces a 0 and must equal anything else.
 *
 * The blob comes from the network: decode checks every length against the bytes given and the
 * bounds above before reading, and says why it refuses. */
#ifndef WEFT_CORE_CARD_H
#define WEFT_CORE_CARD_H

#include "core/transport.h"

#define WEFT__CARD_VERSION 1
#define WEFT__CARD_HDR_LEN 20
#define WEFT__CARD_MAX 1024 /* = WEFT__COORD_CARD_MAX = WEFT__STORE_CARD_MAX */

typedef enum {
  WEFT__CARD_SEC_TCP = 1,
  WEFT__CARD_SEC_IDENTITY = 2,
} weft__card_section_t;

/* Writes card into out (capacity cap); returns its length, or 0 if it does not fit. */
size_t weft__card_encode(const weft__card_t *card, uint8_t *out, size_t cap);
/* Decodes a blob of len bytes published by member `member_id` (see above). false: refused, with
 * the reason in why. A card without a TCP section has addr.family 0 (TCP cannot reach it); one
 * without an IDENTITY section has has_identity false (no mesh handshake with it can succeed). */
bool weft__card_decode(const uint8_t *p, size_t len, uint64_t member_id, weft__card_t *card, char *why,
                       size_t whylen);

#endif
