/* Fuzz target: the coordinator protocol's decoders (lib/bootstrap/coord_proto.c):
 * weft__coord_decode_hdr and every weft__coord_decode_* payload decoder, plus weft__addr_decode.
 * Cards inside HELLO, EPOCH and CARD are opaque here (fuzz_card decodes what is inside).
 * Both ends of that protocol read these from the network: the coordinator from any process that
 * authenticated, a rank from the coordinator.
 *
 * Input: byte 0 picks the caller's member capacity for EPOCH; the rest is one message (16-byte
 * header, then payload). The header is decoded; every payload decoder then runs on the bytes
 * after it (the one the header names first), whatever the header said, so each decoder sees
 * every shape of input.
 * Properties: an accepted message stays inside the documented bounds and re-encodes to the
 * input bytes (text fields compared up to their NUL, since padding after it is not checked);
 * nothing is read past the bytes given or written past the member arrays' capacity. */
#include "bootstrap/coord_proto.h"
#include "fuzz_common.h"

#define TEXT_HOST_OFF 40
#define TEXT_HOST_LEN 64
#define TEXT_REVOKE_OFF 24
#define TEXT_ERROR_OFF 4

/* Re-encodes with the encoder (into a buffer with the header) and compares the payload with the
 * input, after zeroing what follows the first NUL of a text field in a copy of the input. */
static void same_payload(const uint8_t *msg, size_t msglen, const uint8_t *in, size_t inlen,
                         size_t text_off, size_t text_len) {
  FUZZ_CHECK(msglen == WEFT__COORD_HDR_LEN + inlen);
  uint8_t *norm = fuzz_dup(in, inlen);
  if (text_len) {
    uint8_t *nul = memchr(norm + text_off, 0, text_len);
    FUZZ_CHECK(nul != NULL);
    memset(nul, 0, (size_t)(norm + text_off + text_len - nul));
  }
  FUZZ_CHECK(memcmp(msg + WEFT__COORD_HDR_LEN, norm, inlen) == 0);
  free(norm);
}

static void check_hello(const uint8_t *p, size_t len) {
  weft__coord_hello_t m;
  if (!weft__coord_decode_hello(p, len, &m)) return;
  FUZZ_CHECK(m.world_size <= WEFT__COORD_MAX_MEMBERS && m.rank_hint >= -1);
  FUZZ_CHECK(m.world_size == 0 || m.rank_hint < (int32_t)m.world_size);
  FUZZ_CHECK(m.listen_addr.family == 4 || m.listen_addr.family == 6);
  FUZZ_CHECK(memchr(m.host, 0, sizeof m.host) != NULL);
  FUZZ_CHECK(m.card_len <= WEFT__COORD_CARD_MAX && len == 108u + m.card_len);
  FUZZ_CHECK(m.card_len == 0 || (m.card >= p && m.card + m.card_len == p + len));
  uint8_t out[WEFT__COORD_HDR_LEN + 128 + WEFT__COORD_CARD_MAX];
  size_t n = weft__coord_encode_hello(out, sizeof out, &m);
  same_payload(out, n, p, len, TEXT_HOST_OFF, TEXT_HOST_LEN);
}

static void check_welcome(const uint8_t *p, size_t len) {
  weft__coord_welcome_t m;
  if (!weft__coord_decode_welcome(p, len, &m)) return;
  uint8_t out[WEFT__COORD_HDR_LEN + 64];
  size_t n = weft__coord_encode_welcome(out, sizeof out, &m);
  same_payload(out, n, p, len, 0, 0);
}

/* The member arrays for a capacity: exactly `cap` entries each, on the heap, so a write past the
 * capacity is an ASan report. They are allocated once per capacity and kept: at the largest
 * capacities (16384 and 16385 entries, ~0.9 MB together) a fresh pair per input went through
 * ASan's mmap-backed large allocator and its page faults took about a third of the run. Every
 * entry an input of `len` bytes could describe (an entry takes at least 16 wire bytes) is
 * overwritten with a marker first, so nothing a previous input decoded can pass for this one's. */
static void epoch_arrays(uint32_t cap, size_t len, weft__coord_member_t **members,
                         weft__coord_left_t **left) {
  static struct {
    uint32_t cap;
    weft__coord_member_t *members;
    weft__coord_left_t *left;
  } kept[8];
  size_t i = 0;
  while (i < WEFT__ARRAY_SIZE(kept) && kept[i].members != NULL && kept[i].cap != cap) i++;
  if (i == WEFT__ARRAY_SIZE(kept)) abort(); /* more capacities than the caps[] table has */
  if (kept[i].members == NULL) {
    kept[i].cap = cap;
    kept[i].members = malloc((cap ? cap : 1) * sizeof *kept[i].members);
    kept[i].left = malloc((cap ? cap : 1) * sizeof *kept[i].left);
    if (kept[i].members == NULL || kept[i].left == NULL) abort();
  }
  size_t reach = WEFT__MIN((size_t)(cap ? cap : 1), len / 16 + 1);
  memset(kept[i].members, 0xa5, reach * sizeof *kept[i].members);
  memset(kept[i].left, 0xa5, reach * sizeof *kept[i].left);
  *members = kept[i].members;
  *left = kept[i].left;
}

static void check_epoch(const uint8_t *p, size_t len, uint32_t cap) {
  weft__coord_epoch_t m;
  weft__coord_member_t *members;
  weft__coord_left_t *left;
  epoch_arrays(cap, len, &members, &left);
  if (weft__coord_decode_epoch(p, len, &m, members, left, cap)) {
    FUZZ_CHECK(m.epoch >= 1 && m.size >= 1);
    FUZZ_CHECK(m.size <= cap && m.num_left <= cap && m.size <= WEFT__COORD_MAX_MEMBERS);
    FUZZ_CHECK(m.members == members && (m.num_left == 0 || m.left == left));
    for (uint32_t i = 0; i < m.size; i++) {
      FUZZ_CHECK(m.members[i].rank_hint >= -1);
      FUZZ_CHECK((m.members[i].flags & ~WEFT__MEMBER_JOINED) == 0);
      FUZZ_CHECK(m.members[i].addr.family == 4 || m.members[i].addr.family == 6);
      FUZZ_CHECK(m.members[i].card_len <= WEFT__COORD_CARD_MAX);
      FUZZ_CHECK(m.members[i].card_len == 0 ||
                 (m.members[i].card >= p && m.members[i].card + m.members[i].card_len <= p + len));
    }
    for (uint32_t i = 0; i < m.num_left; i++) {
      FUZZ_CHECK(m.left[i].old_rank >= -1);
      FUZZ_CHECK(m.left[i].reason >= WEFT__FAIL_CRASH && m.left[i].reason <= WEFT__FAIL_LAST);
    }
    size_t total = weft__coord_epoch_wire_len(&m);
    FUZZ_CHECK(total == WEFT__COORD_HDR_LEN + len);
    uint8_t *out = malloc(total);
    if (out == NULL) abort();
    size_t n = weft__coord_encode_epoch(out, total, &m);
    same_payload(out, n, p, len, 0, 0);
    FUZZ_CHECK(weft__coord_encode_epoch(out, total - 1, &m) == 0); /* one byte short: refused */
    free(out);
  }
}

static void check_revoke(const uint8_t *p, size_t len) {
  weft__coord_revoke_t m;
  if (!weft__coord_decode_revoke(p, len, &m)) return;
  FUZZ_CHECK(m.epoch >= 1 && m.rank >= -1);
  /* member_id 0 with rank -1 is a REPORT without a suspect or a RESET revoke (v4): decoded as is. */
  FUZZ_CHECK(m.reason >= WEFT__FAIL_CRASH && m.reason <= WEFT__FAIL_LAST);
  FUZZ_CHECK(memchr(m.text, 0, sizeof m.text) != NULL);
  uint8_t out[WEFT__COORD_HDR_LEN + 256];
  size_t n = weft__coord_encode_revoke(out, sizeof out, WEFT__COORD_REPORT, &m);
  same_payload(out, n, p, len, TEXT_REVOKE_OFF, WEFT__COORD_TEXT_LEN);
}

static void check_epoch_ref(const uint8_t *p, size_t len) {
  uint64_t e;
  if (!weft__coord_decode_epoch_ref(p, len, &e)) return;
  FUZZ_CHECK(e >= 1);
  uint8_t out[WEFT__COORD_HDR_LEN + 64];
  size_t n = weft__coord_encode_epoch_ref(out, sizeof out, WEFT__COORD_RECOVER, e);
  same_payload(out, n, p, len, 0, 0);
}

static void check_joiners(const uint8_t *p, size_t len) {
  weft__coord_joiners_t m;
  if (!weft__coord_decode_joiners(p, len, &m)) return;
  FUZZ_CHECK(m.epoch >= 1 && m.waiting >= 1 && m.waiting <= WEFT__COORD_MAX_MEMBERS);
  uint8_t out[WEFT__COORD_HDR_LEN + 64];
  size_t n = weft__coord_encode_joiners(out, sizeof out, &m);
  same_payload(out, n, p, len, 0, 0);
}

static void check_error(const uint8_t *p, size_t len) {
  weft__coord_error_t m;
  if (!weft__coord_decode_error(p, len, &m)) return;
  FUZZ_CHECK(m.code != WEFT_SUCCESS && m.code < WEFT_NUM_RESULTS);
  FUZZ_CHECK(memchr(m.text, 0, sizeof m.text) != NULL);
  uint8_t out[WEFT__COORD_HDR_LEN + 256];
  size_t n = weft__coord_encode_error(out, sizeof out, &m);
  same_payload(out, n, p, len, TEXT_ERROR_OFF, WEFT__COORD_TEXT_LEN);
}

static void check_card(const uint8_t *p, size_t len) {
  const uint8_t *card;
  uint16_t n;
  if (!weft__coord_decode_card(p, len, &card, &n)) return;
  FUZZ_CHECK(n <= WEFT__COORD_CARD_MAX && len == 4u + n && card == p + 4);
  uint8_t out[WEFT__COORD_HDR_LEN + 4 + WEFT__COORD_CARD_MAX];
  size_t w = weft__coord_encode_card(out, sizeof out, card, n);
  same_payload(out, w, p, len, 0, 0);
}

static void check_stall(const uint8_t *p, size_t len) {
  weft__coord_stall_t m;
  if (!weft__coord_decode_stall(p, len, &m)) return;
  FUZZ_CHECK(m.epoch >= 1 && m.seq >= 1 && m.nranks <= WEFT__COORD_MAX_MEMBERS && len == 40u + 4u * m.nranks);
  uint32_t *ranks = malloc(m.nranks * sizeof *ranks + 1);
  uint8_t *out = malloc(WEFT__COORD_HDR_LEN + len);
  if (ranks == NULL || out == NULL) abort();
  for (uint32_t i = 0; i < m.nranks; i++) ranks[i] = weft__coord_stall_rank(&m, i);
  m.ranks = ranks;
  size_t n = weft__coord_encode_stall(out, WEFT__COORD_HDR_LEN + len, &m);
  same_payload(out, n, p, len, 0, 0);
  free(ranks);
  free(out);
}

static void check_progress(uint8_t type, const uint8_t *p, size_t len) {
  weft__coord_progress_t m;
  if (!weft__coord_decode_progress(p, len, type, &m)) return;
  FUZZ_CHECK(m.epoch >= 1 && m.seq >= 1);
  FUZZ_CHECK((m.flags & ~(WEFT__PROGRESS_HAS_COMM | WEFT__PROGRESS_IN_CALL)) == 0);
  uint8_t out[WEFT__COORD_HDR_LEN + 64];
  size_t n = weft__coord_encode_progress(out, sizeof out, type, &m);
  same_payload(out, n, p, len, 0, 0);
}

static void check_reach(uint8_t type, const uint8_t *p, size_t len) {
  weft__coord_reach_t m;
  if (!weft__coord_decode_reach(p, len, type, &m)) return;
  FUZZ_CHECK(m.epoch >= 1 && m.n <= WEFT__COORD_MAX_MEMBERS);
  uint32_t *ranks = malloc(m.n * sizeof *ranks + 1);
  uint8_t *status = malloc(m.n + 1), *out = malloc(WEFT__COORD_HDR_LEN + len);
  if (ranks == NULL || status == NULL || out == NULL) abort();
  for (uint32_t i = 0; i < m.n; i++) {
    weft__coord_reach_entry(&m, type, i, &ranks[i], &status[i]);
    FUZZ_CHECK(status[i] <= 1);
  }
  m.ranks = ranks;
  m.status = status;
  size_t n = weft__coord_encode_reach(out, WEFT__COORD_HDR_LEN + len, type, &m);
  same_payload(out, n, p, len, 0, 0);
  free(ranks);
  free(status);
  free(out);
}

/* The HELLO inside is checked by check_hello's rules; here the frame around it and the ids. */
static void check_rejoin(const uint8_t *p, size_t len) {
  weft__coord_rejoin_t m;
  if (!weft__coord_decode_rejoin(p, len, &m)) return;
  FUZZ_CHECK(m.member_id != 0 && m.size <= WEFT__COORD_MAX_MEMBERS);
  FUZZ_CHECK(m.epoch == 0 ? (m.size == 0 && m.rank == -1) : (m.rank >= 0 && (uint32_t)m.rank < m.size));
  FUZZ_CHECK(m.hello.card_len <= WEFT__COORD_CARD_MAX);
  FUZZ_CHECK((m.rounds == 0) == (m.last_answer == 0));
  uint64_t *ids = malloc(m.size * sizeof *ids + 1);
  uint8_t *out = malloc(WEFT__COORD_HDR_LEN + len);
  if (ids == NULL || out == NULL) abort();
  for (uint32_t i = 0; i < m.size; i++) FUZZ_CHECK((ids[i] = weft__coord_rejoin_id(&m, i)) != 0);
  FUZZ_CHECK(m.size == 0 || ids[m.rank] == m.member_id);
  m.ids = ids;
  size_t n = weft__coord_encode_rejoin(out, WEFT__COORD_HDR_LEN + len, &m);
  same_payload(out, n, p, len, 40 + TEXT_HOST_OFF, TEXT_HOST_LEN);
  free(ids);
  free(out);
}

static void check_addr(const uint8_t *p, size_t len) {
  if (len < WEFT__ADDR_WIRE_LEN) return;
  uint8_t *in = fuzz_dup(p, WEFT__ADDR_WIRE_LEN);
  weft__addr_t a;
  if (weft__addr_decode(in, &a)) {
    uint8_t out[WEFT__ADDR_WIRE_LEN];
    FUZZ_CHECK(a.family == 4 || a.family == 6);
    weft__addr_encode(out, &a);
    FUZZ_CHECK(memcmp(out, in, sizeof out) == 0);
  }
  free(in);
}

static void check_payload(uint8_t type, const uint8_t *p, size_t len, uint32_t cap) {
  switch (type) {
  case WEFT__COORD_HELLO: check_hello(p, len); break;
  case WEFT__COORD_WELCOME: check_welcome(p, len); break;
  case WEFT__COORD_EPOCH: check_epoch(p, len, cap); break;
  case WEFT__COORD_REVOKE:
  case WEFT__COORD_REPORT: check_revoke(p, len); break;
  case WEFT__COORD_RECOVER:
  case WEFT__COORD_SHRINK:
  case WEFT__COORD_NO_CHANGE: check_epoch_ref(p, len); break;
  case WEFT__COORD_ERROR: check_error(p, len); break;
  case WEFT__COORD_CARD: check_card(p, len); break;
  case WEFT__COORD_STALL: check_stall(p, len); break;
  case WEFT__COORD_PROGRESS_QUERY:
  case WEFT__COORD_PROGRESS: check_progress(type, p, len); break;
  case WEFT__COORD_REACH_QUERY:
  case WEFT__COORD_REACH: check_reach(type, p, len); break;
  case WEFT__COORD_JOINERS: check_joiners(p, len); break;
  case WEFT__COORD_REJOIN: check_rejoin(p, len); break;
  default: break; /* HEARTBEAT, LEAVE: no payload to decode */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t caps[] = {1, 2, 3, 4, 8, 64, WEFT__COORD_MAX_MEMBERS, UINT32_MAX};
  uint8_t sel = fuzz_take_u8(&data, &size);
  uint32_t cap = caps[sel % WEFT__ARRAY_SIZE(caps)];
  if (cap == UINT32_MAX) cap = WEFT__COORD_MAX_MEMBERS + 1; /* more room than the protocol allows */
  uint8_t named = 0;

  if (size >= WEFT__COORD_HDR_LEN) {
    uint8_t *hdr = fuzz_dup(data, WEFT__COORD_HDR_LEN);
    weft__coord_hdr_t h;
    if (weft__coord_decode_hdr(hdr, &h)) {
      FUZZ_CHECK(h.type >= WEFT__COORD_HELLO && h.type <= WEFT__COORD_LAST_TYPE);
      FUZZ_CHECK(h.length <= weft__coord_max_payload(h.type) && h.length <= WEFT__COORD_MAX_PAYLOAD);
      uint8_t again[WEFT__COORD_HDR_LEN];
      weft__coord_encode_hdr(again, h.type, h.length);
      FUZZ_CHECK(memcmp(again, hdr, sizeof again) == 0);
      named = h.type;
    }
    free(hdr);
    data += WEFT__COORD_HDR_LEN;
    size -= WEFT__COORD_HDR_LEN;
  }

  uint8_t *payload = fuzz_dup(data, size);
  if (named) check_payload(named, payload, size, cap);
  static const uint8_t each[] = {WEFT__COORD_HELLO,  WEFT__COORD_WELCOME, WEFT__COORD_EPOCH,
                                 WEFT__COORD_REVOKE, WEFT__COORD_RECOVER, WEFT__COORD_ERROR,
                                 WEFT__COORD_CARD,   WEFT__COORD_JOINERS};
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(each); i++)
    if (each[i] != named) check_payload(each[i], payload, size, cap);
  check_addr(payload, size);
  free(payload);
  return 0;
}
