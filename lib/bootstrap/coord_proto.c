/* Coordinator protocol codec (lib/bootstrap/coord_proto.c); the conversation is in coord_proto.h.
 *
 * Every integer is little-endian, packed byte by byte (never a struct memcpy), so the layout is
 * the same on every compiler and host. Text fields are fixed width, NUL-padded, and must contain
 * a NUL. Offsets in bytes:
 *
 *   header (16)   0 magic u32 "WFCO" | 4 version u8 | 5 type u8 | 6 reserved u16 = 0
 *                 8 length u32 (payload bytes, <= WEFT__COORD_MAX_PAYLOAD) | 12 reserved u32 = 0
 *   addr (20)     0 family u16 (4|6) | 2 port u16 | 4 ip[16] (IPv4: first 4, rest zero)
 *   HELLO (104)   0 world_size u32 | 4 rank_hint i32 | 8 incarnation u64 | 16 listen_addr[20]
 *                 36 pid u32 | 40 host[64]
 *   WELCOME (16)  0 member_id u64 | 8 current_epoch u64
 *   EPOCH (16 + 36*size + 16*num_left)
 *                 0 epoch u64 | 8 size u32 | 12 num_left u32, then size members:
 *                   0 member_id u64 | 8 rank_hint i32 | 12 flags u32 | 16 addr[20]
 *                 then num_left entries:
 *                   0 member_id u64 | 8 old_rank i32 | 12 reason u32
 *   REVOKE, REPORT (184)
 *                 0 epoch u64 | 8 member_id u64 | 16 rank i32 | 20 reason u32 | 24 text[160]
 *   RECOVER, SHRINK,
 *   NO_CHANGE (8)            0 epoch u64
 *   ERROR (164)   0 code u32 | 4 text[160]
 *   HEARTBEAT, LEAVE (0)
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

#include "bootstrap/coord_proto.h"

#define HELLO_LEN 104
#define WELCOME_LEN 16
#define EPOCH_FIXED_LEN 16
#define MEMBER_LEN 36
#define LEFT_LEN 16
#define REVOKE_LEN 184
#define EPOCH_REF_LEN 8
#define ERROR_LEN 164
#define HOST_LEN 64

_Static_assert(sizeof(((weft__coord_hello_t *)0)->host) == HOST_LEN, "HELLO host width");
_Static_assert(HELLO_LEN == 40 + HOST_LEN, "HELLO layout");
_Static_assert(MEMBER_LEN == 16 + WEFT__ADDR_WIRE_LEN, "member layout");
_Static_assert(REVOKE_LEN == 24 + WEFT__COORD_TEXT_LEN, "REVOKE layout");
_Static_assert(ERROR_LEN == 4 + WEFT__COORD_TEXT_LEN, "ERROR layout");
_Static_assert(EPOCH_FIXED_LEN + (size_t)WEFT__COORD_MAX_MEMBERS * (MEMBER_LEN + LEFT_LEN) <=
                   WEFT__COORD_MAX_PAYLOAD,
               "a full EPOCH must fit in one message");

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

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

static bool reason_valid(uint32_t r) { return r >= WEFT__FAIL_CRASH && r <= WEFT__FAIL_LEFT; }

void weft__coord_encode_hdr(uint8_t out[WEFT__COORD_HDR_LEN], uint8_t type, uint32_t length) {
  put32(out, WEFT__COORD_MAGIC);
  out[4] = WEFT__COORD_VERSION;
  out[5] = type;
  put16(out + 6, 0);
  put32(out + 8, length);
  put32(out + 12, 0);
}

bool weft__coord_decode_hdr(const uint8_t in[WEFT__COORD_HDR_LEN], weft__coord_hdr_t *hdr) {
  if (get32(in) != WEFT__COORD_MAGIC || in[4] != WEFT__COORD_VERSION) return false;
  if (in[5] < WEFT__COORD_HELLO || in[5] > WEFT__COORD_SHRINK) return false;
  if (get16(in + 6) != 0 || get32(in + 12) != 0) return false;
  uint32_t length = get32(in + 8);
  if (length > WEFT__COORD_MAX_PAYLOAD) return false;
  hdr->type = in[5];
  hdr->length = length;
  return true;
}

/* Room check + header; returns the payload pointer or NULL if cap is too small. */
static uint8_t *begin(uint8_t *out, size_t cap, uint8_t type, size_t payload_len) {
  if (out == NULL || payload_len > WEFT__COORD_MAX_PAYLOAD || cap < WEFT__COORD_HDR_LEN + payload_len)
    return NULL;
  weft__coord_encode_hdr(out, type, (uint32_t)payload_len);
  return out + WEFT__COORD_HDR_LEN;
}

void weft__addr_encode(uint8_t out[WEFT__ADDR_WIRE_LEN], const weft__addr_t *a) {
  put16(out, a->family);
  put16(out + 2, a->port);
  memcpy(out + 4, a->ip, 16);
  if (a->family == 4) memset(out + 8, 0, 12);
}

bool weft__addr_decode(const uint8_t in[WEFT__ADDR_WIRE_LEN], weft__addr_t *a) {
  uint16_t family = get16(in);
  if (family != 4 && family != 6) return false;
  if (family == 4) {
    static const uint8_t zero[12];
    if (memcmp(in + 8, zero, sizeof zero) != 0) return false;
  }
  a->family = family;
  a->port = get16(in + 2);
  memcpy(a->ip, in + 4, 16);
  return true;
}

size_t weft__coord_encode_hello(uint8_t *out, size_t cap, const weft__coord_hello_t *m) {
  uint8_t *p = begin(out, cap, WEFT__COORD_HELLO, HELLO_LEN);
  if (p == NULL) return 0;
  put32(p, m->world_size);
  put32(p + 4, (uint32_t)m->rank_hint);
  put64(p + 8, m->incarnation);
  weft__addr_encode(p + 16, &m->listen_addr);
  put32(p + 36, m->pid);
  put_text(p + 40, HOST_LEN, m->host);
  return WEFT__COORD_HDR_LEN + HELLO_LEN;
}

bool weft__coord_decode_hello(const uint8_t *p, size_t len, weft__coord_hello_t *m) {
  weft__coord_hello_t h;
  if (p == NULL || len != HELLO_LEN) return false;
  h.world_size = get32(p);
  h.rank_hint = (int32_t)get32(p + 4);
  h.incarnation = get64(p + 8);
  h.pid = get32(p + 36);
  if (h.world_size > WEFT__COORD_MAX_MEMBERS || h.rank_hint < -1) return false;
  if (h.world_size != 0 && h.rank_hint >= (int32_t)h.world_size) return false;
  if (!weft__addr_decode(p + 16, &h.listen_addr) || !get_text(p + 40, HOST_LEN, h.host)) return false;
  *m = h;
  return true;
}

size_t weft__coord_encode_welcome(uint8_t *out, size_t cap, const weft__coord_welcome_t *m) {
  uint8_t *p = begin(out, cap, WEFT__COORD_WELCOME, WELCOME_LEN);
  if (p == NULL) return 0;
  put64(p, m->member_id);
  put64(p + 8, m->current_epoch);
  return WEFT__COORD_HDR_LEN + WELCOME_LEN;
}

bool weft__coord_decode_welcome(const uint8_t *p, size_t len, weft__coord_welcome_t *m) {
  if (p == NULL || len != WELCOME_LEN) return false;
  m->member_id = get64(p);
  m->current_epoch = get64(p + 8);
  return true;
}

/* Total message length (header included), so it sizes encode buffers directly. */
size_t weft__coord_epoch_wire_len(uint32_t size, uint32_t num_left) {
  return WEFT__COORD_HDR_LEN + EPOCH_FIXED_LEN + (size_t)size * MEMBER_LEN +
         (size_t)num_left * LEFT_LEN;
}

size_t weft__coord_encode_epoch(uint8_t *out, size_t cap, const weft__coord_epoch_t *m) {
  if (m->size > WEFT__COORD_MAX_MEMBERS || m->num_left > WEFT__COORD_MAX_MEMBERS) return 0;
  if ((m->size > 0 && m->members == NULL) || (m->num_left > 0 && m->left == NULL)) return 0;
  size_t total = weft__coord_epoch_wire_len(m->size, m->num_left);
  uint8_t *p = begin(out, cap, WEFT__COORD_EPOCH, total - WEFT__COORD_HDR_LEN);
  if (p == NULL) return 0;
  put64(p, m->epoch);
  put32(p + 8, m->size);
  put32(p + 12, m->num_left);
  p += EPOCH_FIXED_LEN;
  for (uint32_t i = 0; i < m->size; i++, p += MEMBER_LEN) {
    const weft__coord_member_t *e = &m->members[i];
    put64(p, e->member_id);
    put32(p + 8, (uint32_t)e->rank_hint);
    put32(p + 12, e->flags);
    weft__addr_encode(p + 16, &e->addr);
  }
  for (uint32_t i = 0; i < m->num_left; i++, p += LEFT_LEN) {
    const weft__coord_left_t *e = &m->left[i];
    put64(p, e->member_id);
    put32(p + 8, (uint32_t)e->old_rank);
    put32(p + 12, e->reason);
  }
  return total;
}

bool weft__coord_decode_epoch(const uint8_t *p, size_t len, weft__coord_epoch_t *m,
                              weft__coord_member_t *members, weft__coord_left_t *left,
                              uint32_t max_members) {
  if (p == NULL || len < EPOCH_FIXED_LEN) return false;
  uint64_t epoch = get64(p);
  uint32_t size = get32(p + 8), num_left = get32(p + 12);
  uint32_t limit = WEFT__MIN(max_members, (uint32_t)WEFT__COORD_MAX_MEMBERS);
  if (epoch == 0 || size == 0 || size > limit || num_left > limit) return false;
  if (len != weft__coord_epoch_wire_len(size, num_left) - WEFT__COORD_HDR_LEN) return false;
  if (members == NULL || (num_left > 0 && left == NULL)) return false;
  const uint8_t *q = p + EPOCH_FIXED_LEN;
  for (uint32_t i = 0; i < size; i++, q += MEMBER_LEN) {
    weft__coord_member_t *e = &members[i];
    e->member_id = get64(q);
    e->rank_hint = (int32_t)get32(q + 8);
    e->flags = get32(q + 12);
    if (e->rank_hint < -1 || (e->flags & ~WEFT__MEMBER_JOINED) != 0) return false;
    if (!weft__addr_decode(q + 16, &e->addr)) return false;
  }
  for (uint32_t i = 0; i < num_left; i++, q += LEFT_LEN) {
    weft__coord_left_t *e = &left[i];
    e->member_id = get64(q);
    e->old_rank = (int32_t)get32(q + 8);
    e->reason = get32(q + 12);
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
  uint8_t *p = begin(out, cap, type, REVOKE_LEN);
  if (p == NULL) return 0;
  put64(p, m->epoch);
  put64(p + 8, m->member_id);
  put32(p + 16, (uint32_t)m->rank);
  put32(p + 20, m->reason);
  put_text(p + 24, WEFT__COORD_TEXT_LEN, m->text);
  return WEFT__COORD_HDR_LEN + REVOKE_LEN;
}

bool weft__coord_decode_revoke(const uint8_t *p, size_t len, weft__coord_revoke_t *m) {
  weft__coord_revoke_t r;
  if (p == NULL || len != REVOKE_LEN) return false;
  r.epoch = get64(p);
  r.member_id = get64(p + 8);
  r.rank = (int32_t)get32(p + 16);
  r.reason = get32(p + 20);
  if (r.epoch == 0 || r.rank < -1 || !reason_valid(r.reason)) return false;
  if (!get_text(p + 24, WEFT__COORD_TEXT_LEN, r.text)) return false;
  *m = r;
  return true;
}

size_t weft__coord_encode_epoch_ref(uint8_t *out, size_t cap, uint8_t type, uint64_t epoch) {
  if (type != WEFT__COORD_RECOVER && type != WEFT__COORD_SHRINK && type != WEFT__COORD_NO_CHANGE)
    return 0;
  uint8_t *p = begin(out, cap, type, EPOCH_REF_LEN);
  if (p == NULL) return 0;
  put64(p, epoch);
  return WEFT__COORD_HDR_LEN + EPOCH_REF_LEN;
}

bool weft__coord_decode_epoch_ref(const uint8_t *p, size_t len, uint64_t *epoch) {
  if (p == NULL || len != EPOCH_REF_LEN) return false;
  uint64_t e = get64(p);
  if (e == 0) return false;
  *epoch = e;
  return true;
}

size_t weft__coord_encode_error(uint8_t *out, size_t cap, const weft__coord_error_t *m) {
  uint8_t *p = begin(out, cap, WEFT__COORD_ERROR, ERROR_LEN);
  if (p == NULL) return 0;
  put32(p, m->code);
  put_text(p + 4, WEFT__COORD_TEXT_LEN, m->text);
  return WEFT__COORD_HDR_LEN + ERROR_LEN;
}

bool weft__coord_decode_error(const uint8_t *p, size_t len, weft__coord_error_t *m) {
  weft__coord_error_t e;
  if (p == NULL || len != ERROR_LEN) return false;
  e.code = get32(p);
  /* An ERROR that says "success" is a contradiction, not a message. */
  if (e.code == WEFT_SUCCESS || e.code >= WEFT_NUM_RESULTS) return false;
  if (!get_text(p + 4, WEFT__COORD_TEXT_LEN, e.text)) return false;
  *m = e;
  return true;
}

size_t weft__coord_encode_empty(uint8_t *out, size_t cap, uint8_t type) {
  if (type != WEFT__COORD_HEARTBEAT && type != WEFT__COORD_LEAVE) return 0;
  return begin(out, cap, type, 0) != NULL ? WEFT__COORD_HDR_LEN : 0;
}

/* Reader. It never reads past the message in progress (header bytes exactly, then payload bytes
 * exactly), so nothing is left over between messages, and it allocates only after the header
 * validated the length. The caller must call it again after a 1 until it returns 0: with a
 * level-triggered poll that is automatic. */
int weft__coord_reader_step(weft__coord_reader_t *r, int fd, char *err, size_t errlen) {
  if (r->hdr_got == WEFT__COORD_HDR_LEN && r->payload_got == r->h.length) {
    /* The previous call delivered this message: start the next one. */
    r->hdr_got = 0;
    r->payload_got = 0;
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
    } else {
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
    } else {
      r->payload_got += (size_t)n;
    }
  }
}

void weft__coord_reader_free(weft__coord_reader_t *r) {
  if (r == NULL) return;
  free(r->payload);
  memset(r, 0, sizeof *r);
}
