/* Coordinator protocol codec (lib/bootstrap/coord_proto.c); the conversation is in coord_proto.h.
 *
 * Every integer is little-endian, packed byte by byte (never a struct memcpy), so the layout is
 * the same on every compiler and host. Text fields are fixed width, NUL-padded, and must contain
 * a NUL. Offsets in bytes:
 *
 *   header (16)   0 magic u32 "WFCO" | 4 version u8 | 5 type u8 | 6 reserved u16 = 0
 *                 8 length u32 (payload bytes, <= WEFT__COORD_MAX_PAYLOAD) | 12 reserved u32 = 0
 *   addr (20)     0 family u16 (4|6) | 2 port u16 | 4 ip[16] (IPv4: first 4, rest zero)
 *   card (4+n)    0 n u16 (<= WEFT__COORD_CARD_MAX) | 2 reserved u16 = 0 | 4 n bytes, opaque
 *   HELLO (108+n) 0 world_size u32 | 4 rank_hint i32 | 8 incarnation u64 | 16 listen_addr[20]
 *                 36 pid u32 | 40 host[64] | 104 card
 *   WELCOME (16)  0 member_id u64 | 8 current_epoch u64
 *   EPOCH (16 + sum over members of (40 + card bytes) + 16*num_left)
 *                 0 epoch u64 | 8 size u32 | 12 num_left u32, then size members:
 *                   0 member_id u64 | 8 rank_hint i32 | 12 flags u32 | 16 addr[20] | 36 card
 *                 then num_left entries:
 *                   0 member_id u64 | 8 old_rank i32 | 12 reason u32
 *   REVOKE, REPORT (184)
 *                 0 epoch u64 | 8 member_id u64 | 16 rank i32 | 20 reason u32 | 24 text[160]
 *   RECOVER, SHRINK,
 *   NO_CHANGE (8)            0 epoch u64
 *   ERROR (164)   0 code u32 | 4 text[160]
 *   JOINERS (16)  0 epoch u64 | 8 waiting u32 (>= 1) | 12 reserved u32 = 0
 *   HEARTBEAT, LEAVE (0)
 *   CARD (4+n)    0 card
 *   STALL, PROGRESS_QUERY, PROGRESS, REACH_QUERY, REACH: coord_stall.c
 *   REJOIN: coord_rejoin.c
 *
 * Every EPOCH carries every member's card rather than only the joiners' (or cards fetched on
 * demand): a member installing an epoch then has everything it needs to connect in the one
 * message every member gets alike, with no second round trip while the epoch forms (that wait
 * would need its own deadline, cancellation and loss handling) and no card cache to keep in step
 * with departures. The cost grows like the member list, which the EPOCH carries anyway; cards
 * are small (a TCP-only card is 44 bytes) and bounded by WEFT__COORD_CARD_MAX.
 *
 * Decoders accept exactly these lengths (a longer payload is as wrong as a shorter one), known
 * enum values only, epochs >= 1, ranks >= -1, and counts within both WEFT__COORD_MAX_MEMBERS and
 * the caller's array capacity; they check the length against the counts before reading any
 * entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bootstrap/coord_proto.h"
#include "core/le.h"

#define CARD_FIELD_LEN 4 /* before the card's bytes */
#define HELLO_FIXED_LEN 104
#define HELLO_LEN (HELLO_FIXED_LEN + CARD_FIELD_LEN) /* plus the card's bytes */
#define WELCOME_LEN 16
#define EPOCH_FIXED_LEN 16
#define MEMBER_FIXED_LEN 36
#define MEMBER_LEN (MEMBER_FIXED_LEN + CARD_FIELD_LEN) /* plus the card's bytes */
#define LEFT_LEN 16
#define REVOKE_LEN 184
#define EPOCH_REF_LEN 8
#define ERROR_LEN 164
#define JOINERS_LEN 16
#define HOST_LEN 64

_Static_assert(sizeof(((weft__coord_hello_t *)0)->host) == HOST_LEN, "HELLO host width");
_Static_assert(HELLO_FIXED_LEN == 40 + HOST_LEN, "HELLO layout");
_Static_assert(MEMBER_FIXED_LEN == 16 + WEFT__ADDR_WIRE_LEN, "member layout");
_Static_assert(WEFT__COORD_CARD_MAX <= UINT16_MAX, "a card's length is a u16");
_Static_assert(REVOKE_LEN == 24 + WEFT__COORD_TEXT_LEN, "REVOKE layout");
_Static_assert(ERROR_LEN == 4 + WEFT__COORD_TEXT_LEN, "ERROR layout");
#define EPOCH_MAX_LEN \
  (EPOCH_FIXED_LEN + (size_t)WEFT__COORD_MAX_MEMBERS * (MEMBER_LEN + WEFT__COORD_CARD_MAX + LEFT_LEN))
_Static_assert(EPOCH_MAX_LEN <= WEFT__COORD_MAX_PAYLOAD, "a full EPOCH must fit in one message");

/* Text: at most width-1 bytes of s, NUL-padded to width. */
static void put_text(uint8_t *p, size_t width, const char *s) {
  size_t n = strnlen(s, width - 1);
  memcpy(p, s, n);
  memset(p + n, 0, width - n);
}
static bool get_text(const uint8_t *p, size_t width, char *out) {
  if (memchr(p, 0, width) == NULL) return false;
  memcpy(out, p, width);
  return true;
}

static bool reason_valid(uint32_t r) { return r >= WEFT__FAIL_CRASH && r <= WEFT__FAIL_LAST; }

/* A card field: the caller checked len <= WEFT__COORD_CARD_MAX and the room. */
static void put_card(uint8_t *p, const uint8_t *card, uint16_t len) {
  weft__put16(p, len);
  weft__put16(p + 2, 0);
  if (len) memcpy(p + CARD_FIELD_LEN, card, len);
}
/* A card field within `avail` bytes; false if it does not fit or breaks a bound. */
static bool get_card(const uint8_t *p, size_t avail, const uint8_t **card, uint16_t *len) {
  if (avail < CARD_FIELD_LEN) return false;
  uint16_t n = weft__get16(p);
  if (weft__get16(p + 2) != 0 || n > WEFT__COORD_CARD_MAX || avail - CARD_FIELD_LEN < n) return false;
  *card = p + CARD_FIELD_LEN;
  *len = n;
  return true;
}

size_t weft__coord_max_payload(uint8_t type) {
  switch (type) {
  case WEFT__COORD_HELLO: return HELLO_LEN + WEFT__COORD_CARD_MAX;
  case WEFT__COORD_WELCOME: return WELCOME_LEN;
  case WEFT__COORD_EPOCH: return EPOCH_MAX_LEN;
  case WEFT__COORD_REVOKE:
  case WEFT__COORD_REPORT: return REVOKE_LEN;
  case WEFT__COORD_RECOVER:
  case WEFT__COORD_SHRINK:
  case WEFT__COORD_NO_CHANGE: return EPOCH_REF_LEN;
  case WEFT__COORD_ERROR: return ERROR_LEN;
  case WEFT__COORD_CARD: return CARD_FIELD_LEN + WEFT__COORD_CARD_MAX;
  case WEFT__COORD_STALL:
  case WEFT__COORD_PROGRESS_QUERY:
  case WEFT__COORD_PROGRESS:
  case WEFT__COORD_REACH_QUERY:
  case WEFT__COORD_REACH: return weft__coord_stall_max_payload(type);
  case WEFT__COORD_JOINERS: return JOINERS_LEN;
  case WEFT__COORD_REJOIN: return weft__coord_rejoin_max_payload();
  default: return 0; /* HEARTBEAT, LEAVE; unknown types are refused before this */
  }
}

void weft__coord_encode_hdr(uint8_t out[WEFT__COORD_HDR_LEN], uint8_t type, uint32_t length) {
  weft__put32(out, WEFT__COORD_MAGIC);
  out[4] = WEFT__COORD_VERSION;
  out[5] = type;
  weft__put16(out + 6, 0);
  weft__put32(out + 8, length);
  weft__put32(out + 12, 0);
}

bool weft__coord_decode_hdr(const uint8_t in[WEFT__COORD_HDR_LEN], weft__coord_hdr_t *hdr) {
  if (weft__get32(in) != WEFT__COORD_MAGIC || in[4] != WEFT__COORD_VERSION) return false;
  if (in[5] < WEFT__COORD_HELLO || in[5] > WEFT__COORD_LAST_TYPE) return false;
  if (weft__get16(in + 6) != 0 || weft__get32(in + 12) != 0) return false;
  uint32_t length = weft__get32(in + 8);
  if (length > weft__coord_max_payload(in[5])) return false;
  hdr->type = in[5];
  hdr->length = length;
  return true;
}

uint8_t *weft__coord_begin(uint8_t *out, size_t cap, uint8_t type, size_t payload_len) {
  if (out == NULL || payload_len > weft__coord_max_payload(type) || cap < WEFT__COORD_HDR_LEN + payload_len)
    return NULL;
  weft__coord_encode_hdr(out, type, (uint32_t)payload_len);
  return out + WEFT__COORD_HDR_LEN;
}

void weft__addr_encode(uint8_t out[WEFT__ADDR_WIRE_LEN], const weft__addr_t *a) {
  weft__put16(out, a->family);
  weft__put16(out + 2, a->port);
  memcpy(out + 4, a->ip, 16);
  if (a->family == 4) memset(out + 8, 0, 12);
}

bool weft__addr_decode(const uint8_t in[WEFT__ADDR_WIRE_LEN], weft__addr_t *a) {
  uint16_t family = weft__get16(in);
  if (family != 4 && family != 6) return false;
  if (family == 4) {
    static const uint8_t zero[12];
    if (memcmp(in + 8, zero, sizeof zero) != 0) return false;
  }
  a->family = family;
  a->port = weft__get16(in + 2);
  memcpy(a->ip, in + 4, 16);
  return true;
}

size_t weft__coord_hello_payload_len(const weft__coord_hello_t *m) { return HELLO_LEN + (size_t)m->card_len; }

size_t weft__coord_encode_hello(uint8_t *out, size_t cap, const weft__coord_hello_t *m) {
  if (m->card_len > WEFT__COORD_CARD_MAX || (m->card_len > 0 && m->card == NULL)) return 0;
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_HELLO, HELLO_LEN + m->card_len);
  if (p == NULL) return 0;
  weft__put32(p, m->world_size);
  weft__put32(p + 4, (uint32_t)m->rank_hint);
  weft__put64(p + 8, m->incarnation);
  weft__addr_encode(p + 16, &m->listen_addr);
  weft__put32(p + 36, m->pid);
  put_text(p + 40, HOST_LEN, m->host);
  put_card(p + HELLO_FIXED_LEN, m->card, m->card_len);
  return WEFT__COORD_HDR_LEN + HELLO_LEN + m->card_len;
}

bool weft__coord_decode_hello(const uint8_t *p, size_t len, weft__coord_hello_t *m) {
  weft__coord_hello_t h;
  if (p == NULL || len < HELLO_LEN) return false;
  if (!get_card(p + HELLO_FIXED_LEN, len - HELLO_FIXED_LEN, &h.card, &h.card_len)) return false;
  if (len != HELLO_LEN + (size_t)h.card_len) return false;
  h.world_size = weft__get32(p);
  h.rank_hint = (int32_t)weft__get32(p + 4);
  h.incarnation = weft__get64(p + 8);
  h.pid = weft__get32(p + 36);
  if (h.world_size > WEFT__COORD_MAX_MEMBERS || h.rank_hint < -1) return false;
  if (h.world_size != 0 && h.rank_hint >= (int32_t)h.world_size) return false;
  if (!weft__addr_decode(p + 16, &h.listen_addr) || !get_text(p + 40, HOST_LEN, h.host)) return false;
  *m = h;
  return true;
}

size_t weft__coord_encode_welcome(uint8_t *out, size_t cap, const weft__coord_welcome_t *m) {
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_WELCOME, WELCOME_LEN);
  if (p == NULL) return 0;
  weft__put64(p, m->member_id);
  weft__put64(p + 8, m->current_epoch);
  return WEFT__COORD_HDR_LEN + WELCOME_LEN;
}

bool weft__coord_decode_welcome(const uint8_t *p, size_t len, weft__coord_welcome_t *m) {
  if (p == NULL || len != WELCOME_LEN) return false;
  m->member_id = weft__get64(p);
  m->current_epoch = weft__get64(p + 8);
  return true;
}

/* Total message length (header included), so it sizes encode buffers directly. */
size_t weft__coord_epoch_wire_len(const weft__coord_epoch_t *m) {
  size_t cards = 0;
  for (uint32_t i = 0; m->members != NULL && i < m->size; i++) cards += m->members[i].card_len;
  return WEFT__COORD_HDR_LEN + EPOCH_FIXED_LEN + (size_t)m->size * MEMBER_LEN + cards +
         (size_t)m->num_left * LEFT_LEN;
}

size_t weft__coord_encode_epoch(uint8_t *out, size_t cap, const weft__coord_epoch_t *m) {
  if (m->size > WEFT__COORD_MAX_MEMBERS || m->num_left > WEFT__COORD_MAX_MEMBERS) return 0;
  if ((m->size > 0 && m->members == NULL) || (m->num_left > 0 && m->left == NULL)) return 0;
  for (uint32_t i = 0; i < m->size; i++)
    if (m->members[i].card_len > WEFT__COORD_CARD_MAX || (m->members[i].card_len > 0 && m->members[i].card == NULL))
      return 0;
  size_t total = weft__coord_epoch_wire_len(m);
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_EPOCH, total - WEFT__COORD_HDR_LEN);
  if (p == NULL) return 0;
  weft__put64(p, m->epoch);
  weft__put32(p + 8, m->size);
  weft__put32(p + 12, m->num_left);
  p += EPOCH_FIXED_LEN;
  for (uint32_t i = 0; i < m->size; i++) {
    const weft__coord_member_t *e = &m->members[i];
    weft__put64(p, e->member_id);
    weft__put32(p + 8, (uint32_t)e->rank_hint);
    weft__put32(p + 12, e->flags);
    weft__addr_encode(p + 16, &e->addr);
    put_card(p + MEMBER_FIXED_LEN, e->card, e->card_len);
    p += MEMBER_LEN + e->card_len;
  }
  for (uint32_t i = 0; i < m->num_left; i++, p += LEFT_LEN) {
    const weft__coord_left_t *e = &m->left[i];
    weft__put64(p, e->member_id);
    weft__put32(p + 8, (uint32_t)e->old_rank);
    weft__put32(p + 12, e->reason);
  }
  return total;
}

bool weft__coord_decode_epoch(const uint8_t *p, size_t len, weft__coord_epoch_t *m,
                              weft__coord_member_t *members, weft__coord_left_t *left,
                              uint32_t max_members) {
  if (p == NULL || len < EPOCH_FIXED_LEN) return false;
  uint64_t epoch = weft__get64(p);
  uint32_t size = weft__get32(p + 8), num_left = weft__get32(p + 12);
  uint32_t limit = WEFT__MIN(max_members, (uint32_t)WEFT__COORD_MAX_MEMBERS);
  if (epoch == 0 || size == 0 || size > limit || num_left > limit) return false;
  /* Every entry needs its fixed bytes: refuse a count the length cannot hold before reading. */
  size_t fixed = EPOCH_FIXED_LEN + (size_t)size * MEMBER_LEN + (size_t)num_left * LEFT_LEN;
  if (len < fixed || len - fixed > (size_t)size * WEFT__COORD_CARD_MAX) return false;
  if (members == NULL || (num_left > 0 && left == NULL)) return false;
  const uint8_t *q = p + EPOCH_FIXED_LEN, *end = p + len - (size_t)num_left * LEFT_LEN;
  for (uint32_t i = 0; i < size; i++) {
    weft__coord_member_t *e = &members[i];
    if ((size_t)(end - q) < MEMBER_LEN) return false;
    e->member_id = weft__get64(q);
    e->rank_hint = (int32_t)weft__get32(q + 8);
    e->flags = weft__get32(q + 12);
    if (e->rank_hint < -1 || (e->flags & ~WEFT__MEMBER_JOINED) != 0) return false;
    if (!weft__addr_decode(q + 16, &e->addr)) return false;
    if (!get_card(q + MEMBER_FIXED_LEN, (size_t)(end - q) - MEMBER_FIXED_LEN, &e->card, &e->card_len)) return false;
    q += MEMBER_LEN + e->card_len;
  }
  if (q != end) return false; /* the cards' bytes must account for the whole length */
  for (uint32_t i = 0; i < num_left; i++, q += LEFT_LEN) {
    weft__coord_left_t *e = &left[i];
    e->member_id = weft__get64(q);
    e->old_rank = (int32_t)weft__get32(q + 8);
    e->reason = weft__get32(q + 12);
    if (e->old_rank < -1 || !reason_valid(e->reason)) return false;
  }
  m->epoch = epoch;
  m->size = size;
  m->num_left = num_left;
  m->members = members;
  m->left = left;
  return true;
}

size_t weft__coord_encode_revoke(uint8_t *out, size_t cap, uint8_t type,
                                 const weft__coord_revoke_t *m) {
  if (type != WEFT__COORD_REVOKE && type != WEFT__COORD_REPORT) return 0;
  uint8_t *p = weft__coord_begin(out, cap, type, REVOKE_LEN);
  if (p == NULL) return 0;
  weft__put64(p, m->epoch);
  weft__put64(p + 8, m->member_id);
  weft__put32(p + 16, (uint32_t)m->rank);
  weft__put32(p + 20, m->reason);
  put_text(p + 24, WEFT__COORD_TEXT_LEN, m->text);
  return WEFT__COORD_HDR_LEN + REVOKE_LEN;
}

bool weft__coord_decode_revoke(const uint8_t *p, size_t len, weft__coord_revoke_t *m) {
  weft__coord_revoke_t r;
  if (p == NULL || len != REVOKE_LEN) return false;
  r.epoch = weft__get64(p);
  r.member_id = weft__get64(p + 8);
  r.rank = (int32_t)weft__get32(p + 16);
  r.reason = weft__get32(p + 20);
  if (r.epoch == 0 || r.rank < -1 || !reason_valid(r.reason)) return false;
  if (!get_text(p + 24, WEFT__COORD_TEXT_LEN, r.text)) return false;
  *m = r;
  return true;
}

size_t weft__coord_encode_epoch_ref(uint8_t *out, size_t cap, uint8_t type, uint64_t epoch) {
  if (type != WEFT__COORD_RECOVER && type != WEFT__COORD_SHRINK && type != WEFT__COORD_NO_CHANGE)
    return 0;
  uint8_t *p = weft__coord_begin(out, cap, type, EPOCH_REF_LEN);
  if (p == NULL) return 0;
  weft__put64(p, epoch);
  return WEFT__COORD_HDR_LEN + EPOCH_REF_LEN;
}

bool weft__coord_decode_epoch_ref(const uint8_t *p, size_t len, uint64_t *epoch) {
  if (p == NULL || len != EPOCH_REF_LEN) return false;
  uint64_t e = weft__get64(p);
  if (e == 0) return false;
  *epoch = e;
  return true;
}

size_t weft__coord_encode_joiners(uint8_t *out, size_t cap, const weft__coord_joiners_t *m) {
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_JOINERS, JOINERS_LEN);
  if (p == NULL) return 0;
  weft__put64(p, m->epoch);
  weft__put32(p + 8, m->waiting);
  weft__put32(p + 12, 0);
  return WEFT__COORD_HDR_LEN + JOINERS_LEN;
}

bool weft__coord_decode_joiners(const uint8_t *p, size_t len, weft__coord_joiners_t *m) {
  if (p == NULL || len != JOINERS_LEN) return false;
  weft__coord_joiners_t j = {.epoch = weft__get64(p), .waiting = weft__get32(p + 8)};
  if (j.epoch == 0 || j.waiting == 0 || j.waiting > WEFT__COORD_MAX_MEMBERS || weft__get32(p + 12) != 0)
    return false;
  *m = j;
  return true;
}

size_t weft__coord_encode_error(uint8_t *out, size_t cap, const weft__coord_error_t *m) {
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_ERROR, ERROR_LEN);
  if (p == NULL) return 0;
  weft__put32(p, m->code);
  put_text(p + 4, WEFT__COORD_TEXT_LEN, m->text);
  return WEFT__COORD_HDR_LEN + ERROR_LEN;
}

bool weft__coord_decode_error(const uint8_t *p, size_t len, weft__coord_error_t *m) {
  weft__coord_error_t e;
  if (p == NULL || len != ERROR_LEN) return false;
  e.code = weft__get32(p);
  /* An ERROR that says "success" is a contradiction, not a message. */
  if (e.code == WEFT_SUCCESS || e.code >= WEFT_NUM_RESULTS) return false;
  if (!get_text(p + 4, WEFT__COORD_TEXT_LEN, e.text)) return false;
  *m = e;
  return true;
}

size_t weft__coord_encode_empty(uint8_t *out, size_t cap, uint8_t type) {
  if (type != WEFT__COORD_HEARTBEAT && type != WEFT__COORD_LEAVE) return 0;
  return weft__coord_begin(out, cap, type, 0) != NULL ? WEFT__COORD_HDR_LEN : 0;
}

size_t weft__coord_encode_card(uint8_t *out, size_t cap, const uint8_t *card, uint16_t len) {
  if (len > WEFT__COORD_CARD_MAX || (len > 0 && card == NULL)) return 0;
  uint8_t *p = weft__coord_begin(out, cap, WEFT__COORD_CARD, CARD_FIELD_LEN + (size_t)len);
  if (p == NULL) return 0;
  put_card(p, card, len);
  return WEFT__COORD_HDR_LEN + CARD_FIELD_LEN + len;
}

bool weft__coord_decode_card(const uint8_t *p, size_t len, const uint8_t **card, uint16_t *card_len) {
  const uint8_t *c;
  uint16_t n;
  if (p == NULL || !get_card(p, len, &c, &n) || len != CARD_FIELD_LEN + (size_t)n) return false;
  *card = c;
  *card_len = n;
  return true;
}

/* Reader. It never reads past the message in progress (header bytes exactly, then payload bytes
 * exactly), so nothing is left over between messages, and it allocates only after the header
 * validated the length. The caller must call it again after a 1 until it returns 0: with a
 * level-triggered poll that is automatic. */
int weft__coord_reader_step(weft__coord_reader_t *r, int fd, char *err, size_t errlen) {
  if (r->session == NULL) {
    snprintf(err, errlen, "coordinator connection: no session to authenticate its messages");
    return -1;
  }
  if (r->hdr_got == WEFT__COORD_HDR_LEN && r->payload_got == r->h.length && r->tag_got == WEFT__COORD_TAG_LEN) {
    /* The previous call delivered this message: start the next one. */
    r->hdr_got = 0;
    r->payload_got = 0;
    r->tag_got = 0;
  }
  for (;;) {
    uint8_t *dst;
    size_t want;
    if (r->hdr_got < WEFT__COORD_HDR_LEN) {
      dst = r->hdr + r->hdr_got;
      want = WEFT__COORD_HDR_LEN - r->hdr_got;
    } else if (r->payload_got < r->h.length) {
      dst = r->payload + r->payload_got;
      want = r->h.length - r->payload_got;
    } else if (r->tag_got < WEFT__COORD_TAG_LEN) {
      dst = r->tag + r->tag_got;
      want = WEFT__COORD_TAG_LEN - r->tag_got;
    } else {
      uint64_t seq = r->session->rx.seq;
      if (!weft__coord_verify(&r->session->rx, r->hdr, r->payload, r->h.length, r->tag)) {
        snprintf(err, errlen, "coordinator connection: message %llu (type %u) failed authentication "
                 "(bad tag: injected, replayed or corrupted on the way)", (unsigned long long)seq, r->h.type);
        return -1;
      }
      return 1;
    }
    ssize_t n = read(fd, dst, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      snprintf(err, errlen, "coordinator connection: %s", strerror(errno));
      return -1;
    }
    if (n == 0) {
      snprintf(err, errlen, "coordinator connection closed%s",
               r->hdr_got > 0 ? " in the middle of a message" : "");
      return -1;
    }
    if (r->hdr_got < WEFT__COORD_HDR_LEN) {
      r->hdr_got += (size_t)n;
      if (r->hdr_got < WEFT__COORD_HDR_LEN) continue;
      if (!weft__coord_decode_hdr(r->hdr, &r->h)) {
        snprintf(err, errlen, "coordinator connection: malformed message header");
        return -1;
      }
      if (r->h.length > r->payload_cap) {
        uint8_t *grown = realloc(r->payload, r->h.length);
        if (grown == NULL) {
          snprintf(err, errlen, "coordinator connection: out of memory for a %u-byte message",
                   (unsigned)r->h.length);
          return -1;
        }
        r->payload = grown;
        r->payload_cap = r->h.length;
      }
    } else if (r->payload_got < r->h.length) {
      r->payload_got += (size_t)n;
    } else {
      r->tag_got += (size_t)n;
    }
  }
}

void weft__coord_session_init(weft__coord_session_t *s, const weft__auth_key_t *key,
                              const weft__auth_nonces_t *nonces, bool server) {
  uint8_t c2s[WEFT__AUTH_MAC_LEN], s2c[WEFT__AUTH_MAC_LEN];
  weft__auth_session_keys(key, WEFT__AUTH_ROLE_COORD, nonces, c2s, s2c);
  memcpy(s->tx.key, server ? s2c : c2s, sizeof s->tx.key);
  memcpy(s->rx.key, server ? c2s : s2c, sizeof s->rx.key);
  s->tx.seq = s->rx.seq = 0;
  sodium_memzero(c2s, sizeof c2s);
  sodium_memzero(s2c, sizeof s2c);
}

void weft__coord_session_wipe(weft__coord_session_t *s) {
  if (s) sodium_memzero(s, sizeof *s);
}

static void payload_digest(const uint8_t *payload, size_t len, uint8_t digest[WEFT__COORD_DIGEST_LEN]) {
  crypto_generichash(digest, WEFT__COORD_DIGEST_LEN, len > 0 ? payload : NULL, len, NULL, 0);
}

static void tag_compute(const weft__coord_mac_t *m, const uint8_t *hdr, const uint8_t digest[WEFT__COORD_DIGEST_LEN],
                        uint8_t tag[WEFT__COORD_TAG_LEN]) {
  uint8_t seq[8];
  crypto_auth_hmacsha256_state st;
  weft__put64(seq, m->seq);
  crypto_auth_hmacsha256_init(&st, m->key, sizeof m->key);
  crypto_auth_hmacsha256_update(&st, seq, sizeof seq);
  crypto_auth_hmacsha256_update(&st, hdr, WEFT__COORD_HDR_LEN);
  crypto_auth_hmacsha256_update(&st, digest, WEFT__COORD_DIGEST_LEN);
  crypto_auth_hmacsha256_final(&st, tag);
  sodium_memzero(&st, sizeof st);
}

void weft__coord_digest(const uint8_t *msg, size_t len, uint8_t digest[WEFT__COORD_DIGEST_LEN]) {
  payload_digest(msg + WEFT__COORD_HDR_LEN, len - WEFT__COORD_HDR_LEN, digest);
}

void weft__coord_seal_digest(weft__coord_mac_t *tx, const uint8_t hdr[WEFT__COORD_HDR_LEN],
                             const uint8_t digest[WEFT__COORD_DIGEST_LEN], uint8_t tag[WEFT__COORD_TAG_LEN]) {
  tag_compute(tx, hdr, digest, tag);
  tx->seq++;
}

void weft__coord_seal(weft__coord_mac_t *tx, const uint8_t *msg, size_t len, uint8_t tag[WEFT__COORD_TAG_LEN]) {
  uint8_t digest[WEFT__COORD_DIGEST_LEN];
  weft__coord_digest(msg, len, digest);
  weft__coord_seal_digest(tx, msg, digest, tag);
}

bool weft__coord_verify(weft__coord_mac_t *rx, const uint8_t hdr[WEFT__COORD_HDR_LEN], const uint8_t *payload,
                        size_t len, const uint8_t tag[WEFT__COORD_TAG_LEN]) {
  uint8_t want[WEFT__COORD_TAG_LEN], digest[WEFT__COORD_DIGEST_LEN];
  payload_digest(payload, len, digest);
  tag_compute(rx, hdr, digest, want);
  if (sodium_memcmp(want, tag, WEFT__COORD_TAG_LEN) != 0) return false;
  rx->seq++;
  return true;
}

void weft__coord_reader_free(weft__coord_reader_t *r) {
  if (r == NULL) return;
  free(r->payload);
  memset(r, 0, sizeof *r);
}
