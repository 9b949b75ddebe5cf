/* Coordinator protocol codec (lib/bootstrap/coord_proto.c): every message round-trips, every
 * decoder refuses wrong lengths, out-of-range fields and missing terminators, and the
 * incremental reader assembles messages from any chunking without over-reading or trusting a
 * claimed length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "bootstrap/coord_client.h"
#include "bootstrap/coord_proto.h"

#define H WEFT__COORD_HDR_LEN

static weft__addr_t addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  weft__addr_t x = {.family = 4, .port = port, .ip = {a, b, c, d}};
  return x;
}

static weft__addr_t addr6_loopback(uint16_t port) {
  weft__addr_t x = {.family = 6, .port = port};
  x.ip[15] = 1;
  return x;
}

/* Encodes, checks the header, and returns the payload length. */
static uint32_t check_hdr(const uint8_t *msg, size_t n, uint8_t type) {
  weft__coord_hdr_t h;
  assert_true(n >= H);
  assert_true(weft__coord_decode_hdr(msg, &h));
  assert_int_equal(h.type, type);
  assert_int_equal(h.length, n - H);
  return h.length;
}

static void test_header(void **state) {
  (void)state;
  uint8_t b[H];
  weft__coord_hdr_t h;
  weft__coord_encode_hdr(b, WEFT__COORD_EPOCH, 0x01020304);
  /* Little-endian, byte by byte. */
  assert_int_equal(b[0], 0x57);
  assert_int_equal(b[1], 0x46);
  assert_int_equal(b[2], 0x43);
  assert_int_equal(b[3], 0x4f);
  assert_int_equal(b[4], WEFT__COORD_VERSION);
  assert_int_equal(b[5], WEFT__COORD_EPOCH);
  assert_int_equal(b[8], 0x04);
  assert_int_equal(b[11], 0x01);

  /* Each type has its own bound, none above the protocol's: what a rank sends is small. */
  for (uint8_t t = WEFT__COORD_HELLO; t <= WEFT__COORD_LAST_TYPE; t++) {
    size_t max = weft__coord_max_payload(t);
    assert_true(max <= WEFT__COORD_MAX_PAYLOAD);
    weft__coord_encode_hdr(b, t, (uint32_t)max);
    assert_true(weft__coord_decode_hdr(b, &h));
    assert_int_equal(h.length, max);
    weft__coord_encode_hdr(b, t, (uint32_t)max + 1);
    assert_false(weft__coord_decode_hdr(b, &h));
    weft__coord_encode_hdr(b, t, UINT32_MAX);
    assert_false(weft__coord_decode_hdr(b, &h));
  }
  assert_true(weft__coord_max_payload(WEFT__COORD_HELLO) <= 2048);
  assert_true(weft__coord_max_payload(WEFT__COORD_CARD) <= 2048);
  assert_int_equal(weft__coord_max_payload(WEFT__COORD_HEARTBEAT), 0);

  for (unsigned t = 0; t < 256; t++) {
    weft__coord_encode_hdr(b, (uint8_t)t, 0);
    assert_int_equal(weft__coord_decode_hdr(b, &h), t >= WEFT__COORD_HELLO && t <= WEFT__COORD_LAST_TYPE);
  }
  /* Version 1 (no cards) is another protocol. */
  weft__coord_encode_hdr(b, WEFT__COORD_HEARTBEAT, 0);
  b[4] = 1;
  assert_false(weft__coord_decode_hdr(b, &h));
  /* Every byte of magic, version and the reserved fields is checked. */
  const int checked[] = {0, 1, 2, 3, 4, 6, 7, 12, 13, 14, 15};
  for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
    weft__coord_encode_hdr(b, WEFT__COORD_HEARTBEAT, 0);
    b[checked[i]] ^= 0x01;
    assert_false(weft__coord_decode_hdr(b, &h));
  }
}

static const uint8_t sample_card[] = {1, 0, 9, 0, 'c', 'a', 'r', 'd', 0xff};

static weft__coord_hello_t sample_hello(void) {
  weft__coord_hello_t m = {.world_size = 8, .rank_hint = 5, .incarnation = 0x1122334455667788ull,
                           .listen_addr = addr4(10, 1, 2, 3, 40000), .pid = 4242,
                           .card_len = sizeof sample_card, .card = sample_card};
  strcpy(m.host, "node-17.example");
  return m;
}

static void test_hello(void **state) {
  (void)state;
  uint8_t b[512];
  weft__coord_hello_t m = sample_hello(), d;
  size_t n = weft__coord_encode_hello(b, sizeof b, &m);
  uint32_t len = check_hdr(b, n, WEFT__COORD_HELLO);
  assert_int_equal(b[H + 8], 0x88); /* incarnation low byte first */
  assert_true(weft__coord_decode_hello(b + H, len, &d));
  assert_int_equal(d.world_size, 8);
  assert_int_equal(d.rank_hint, 5);
  assert_true(d.incarnation == m.incarnation);
  assert_memory_equal(&d.listen_addr, &m.listen_addr, sizeof m.listen_addr);
  assert_int_equal(d.pid, 4242);
  assert_string_equal(d.host, "node-17.example");
  assert_int_equal(len, 108 + sizeof sample_card);
  assert_int_equal(d.card_len, sizeof sample_card);
  assert_ptr_equal(d.card, b + H + 108); /* into the payload, not copied */
  assert_memory_equal(d.card, sample_card, sizeof sample_card);

  m.rank_hint = -1;
  m.world_size = 0;
  m.listen_addr = addr6_loopback(9);
  memset(m.host, 'x', sizeof m.host); /* unterminated: encoder truncates to 63 + NUL */
  n = weft__coord_encode_hello(b, sizeof b, &m);
  assert_true(weft__coord_decode_hello(b + H, check_hdr(b, n, WEFT__COORD_HELLO), &d));
  assert_int_equal(d.rank_hint, -1);
  assert_int_equal(strlen(d.host), 63);
  assert_int_equal(d.listen_addr.family, 6);
  assert_int_equal(d.listen_addr.ip[15], 1);
  assert_int_equal(weft__coord_encode_hello(b, n - 1, &m), 0);

  /* No card, the largest card, one byte more. */
  m.card_len = 0;
  n = weft__coord_encode_hello(b, sizeof b, &m);
  assert_true(weft__coord_decode_hello(b + H, check_hdr(b, n, WEFT__COORD_HELLO), &d));
  assert_int_equal(d.card_len, 0);
  uint8_t big_card[WEFT__COORD_CARD_MAX + 1], big[H + 108 + sizeof big_card];
  memset(big_card, 0x5a, sizeof big_card);
  m.card = big_card;
  m.card_len = WEFT__COORD_CARD_MAX;
  n = weft__coord_encode_hello(big, sizeof big, &m);
  assert_int_equal(n, H + weft__coord_max_payload(WEFT__COORD_HELLO));
  assert_true(weft__coord_decode_hello(big + H, check_hdr(big, n, WEFT__COORD_HELLO), &d));
  assert_int_equal(d.card_len, WEFT__COORD_CARD_MAX);
  m.card_len = WEFT__COORD_CARD_MAX + 1;
  assert_int_equal(weft__coord_encode_hello(big, sizeof big, &m), 0);
  m.card = NULL;
  m.card_len = 1;
  assert_int_equal(weft__coord_encode_hello(big, sizeof big, &m), 0);
}

static void test_hello_rejects(void **state) {
  (void)state;
  uint8_t b[512], t[512];
  weft__coord_hello_t m = sample_hello(), d;
  size_t n = weft__coord_encode_hello(b, sizeof b, &m);
  size_t len = n - H;
  assert_false(weft__coord_decode_hello(b + H, len - 1, &d));
  assert_false(weft__coord_decode_hello(b + H, len + 1, &d));
  assert_false(weft__coord_decode_hello(b + H, 0, &d));
  assert_false(weft__coord_decode_hello(b + H, UINT32_MAX, &d));
  assert_false(weft__coord_decode_hello(NULL, len, &d));
  /* Host without a NUL. */
  memcpy(t, b, n);
  memset(t + H + 40, 'a', 64);
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  /* Address family neither 4 nor 6; IPv4 with junk in the unused bytes. */
  memcpy(t, b, n);
  t[H + 16] = 5;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  memcpy(t, b, n);
  t[H + 16 + 4 + 10] = 1;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  /* rank_hint below -1, or not below world_size; world_size over the member limit. */
  memcpy(t, b, n);
  memset(t + H + 4, 0xff, 4);
  t[H + 4] = 0xfe;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  memcpy(t, b, n);
  t[H + 4] = 8;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  memcpy(t, b, n);
  t[H + 0] = 0x01;
  t[H + 1] = 0x40;
  t[H + 2] = 0x00; /* 16385 */
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  /* The card: its length one more or one less than the bytes that follow, over the limit (with
   * the bytes present), the reserved field set; a payload cut inside the card field. */
  memcpy(t, b, n);
  t[H + 104]++;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  memcpy(t, b, n);
  t[H + 104]--;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  memcpy(t, b, n);
  t[H + 106] = 1;
  assert_false(weft__coord_decode_hello(t + H, len, &d));
  assert_false(weft__coord_decode_hello(b + H, 106, &d));
  uint8_t over[108 + WEFT__COORD_CARD_MAX + 1] = {0};
  memcpy(over, b + H, 104);
  over[104] = (uint8_t)(WEFT__COORD_CARD_MAX + 1);
  over[105] = (uint8_t)((WEFT__COORD_CARD_MAX + 1) >> 8);
  assert_false(weft__coord_decode_hello(over, sizeof over, &d));
}

static void test_card_message(void **state) {
  (void)state;
  uint8_t b[H + 4 + WEFT__COORD_CARD_MAX + 8], t[sizeof b];
  const uint8_t *card;
  uint16_t len;
  size_t n = weft__coord_encode_card(b, sizeof b, sample_card, sizeof sample_card);
  uint32_t plen = check_hdr(b, n, WEFT__COORD_CARD);
  assert_int_equal(plen, 4 + sizeof sample_card);
  assert_true(weft__coord_decode_card(b + H, plen, &card, &len));
  assert_int_equal(len, sizeof sample_card);
  assert_memory_equal(card, sample_card, len);
  assert_false(weft__coord_decode_card(b + H, plen - 1, &card, &len));
  assert_false(weft__coord_decode_card(b + H, plen + 1, &card, &len));
  assert_false(weft__coord_decode_card(b + H, 3, &card, &len));
  assert_false(weft__coord_decode_card(NULL, plen, &card, &len));
  memcpy(t, b, n);
  t[H + 2] = 1; /* reserved */
  assert_false(weft__coord_decode_card(t + H, plen, &card, &len));
  /* Empty is a card too (the store never looks inside); the limit holds. */
  n = weft__coord_encode_card(b, sizeof b, NULL, 0);
  assert_true(weft__coord_decode_card(b + H, check_hdr(b, n, WEFT__COORD_CARD), &card, &len));
  assert_int_equal(len, 0);
  uint8_t big[WEFT__COORD_CARD_MAX + 1] = {0};
  assert_int_not_equal(weft__coord_encode_card(b, sizeof b, big, WEFT__COORD_CARD_MAX), 0);
  assert_int_equal(weft__coord_encode_card(b, sizeof b, big, WEFT__COORD_CARD_MAX + 1), 0);
  assert_int_equal(weft__coord_encode_card(b, 20, sample_card, sizeof sample_card), 0);
}

static void test_welcome_epoch_ref_empty(void **state) {
  (void)state;
  uint8_t b[256];
  weft__coord_welcome_t w = {.member_id = 77, .current_epoch = 3}, wd;
  size_t n = weft__coord_encode_welcome(b, sizeof b, &w);
  uint32_t len = check_hdr(b, n, WEFT__COORD_WELCOME);
  assert_true(weft__coord_decode_welcome(b + H, len, &wd));
  assert_true(wd.member_id == 77 && wd.current_epoch == 3);
  assert_false(weft__coord_decode_welcome(b + H, len - 1, &wd));
  assert_false(weft__coord_decode_welcome(b + H, len + 1, &wd));
  assert_false(weft__coord_decode_welcome(b + H, UINT32_MAX, &wd));

  uint64_t e = 0;
  n = weft__coord_encode_epoch_ref(b, sizeof b, WEFT__COORD_RECOVER, 0xdeadbeefcafeull);
  len = check_hdr(b, n, WEFT__COORD_RECOVER);
  assert_true(weft__coord_decode_epoch_ref(b + H, len, &e));
  assert_true(e == 0xdeadbeefcafeull);
  n = weft__coord_encode_epoch_ref(b, sizeof b, WEFT__COORD_SHRINK, 12);
  len = check_hdr(b, n, WEFT__COORD_SHRINK);
  assert_true(weft__coord_decode_epoch_ref(b + H, len, &e) && e == 12);
  n = weft__coord_encode_epoch_ref(b, sizeof b, WEFT__COORD_NO_CHANGE, 9);
  len = check_hdr(b, n, WEFT__COORD_NO_CHANGE);
  assert_true(weft__coord_decode_epoch_ref(b + H, len, &e) && e == 9);
  assert_false(weft__coord_decode_epoch_ref(b + H, len - 1, &e));
  assert_false(weft__coord_decode_epoch_ref(b + H, len + 1, &e));
  assert_int_equal(weft__coord_encode_epoch_ref(b, sizeof b, WEFT__COORD_EPOCH, 9), 0);
  n = weft__coord_encode_epoch_ref(b, sizeof b, WEFT__COORD_RECOVER, 0);
  assert_false(weft__coord_decode_epoch_ref(b + H, 8, &e)); /* epoch 0 never exists */

  weft__coord_joiners_t j = {.epoch = 5, .waiting = 2}, jd;
  n = weft__coord_encode_joiners(b, sizeof b, &j);
  len = check_hdr(b, n, WEFT__COORD_JOINERS);
  assert_int_equal(len, 16);
  assert_true(weft__coord_decode_joiners(b + H, len, &jd));
  assert_true(jd.epoch == 5 && jd.waiting == 2);
  assert_false(weft__coord_decode_joiners(b + H, len - 1, &jd));
  assert_false(weft__coord_decode_joiners(b + H, len + 1, &jd));
  b[H + 12] = 1; /* reserved */
  assert_false(weft__coord_decode_joiners(b + H, len, &jd));
  j.waiting = 0; /* "no joiner waits" is NO_CHANGE, not JOINERS */
  n = weft__coord_encode_joiners(b, sizeof b, &j);
  assert_false(weft__coord_decode_joiners(b + H, len, &jd));
  j = (weft__coord_joiners_t){.epoch = 0, .waiting = 1};
  n = weft__coord_encode_joiners(b, sizeof b, &j);
  assert_false(weft__coord_decode_joiners(b + H, len, &jd));
  assert_int_equal(weft__coord_encode_joiners(b, H + 15, &j), 0);

  n = weft__coord_encode_empty(b, sizeof b, WEFT__COORD_HEARTBEAT);
  assert_int_equal(check_hdr(b, n, WEFT__COORD_HEARTBEAT), 0);
  n = weft__coord_encode_empty(b, sizeof b, WEFT__COORD_LEAVE);
  assert_int_equal(check_hdr(b, n, WEFT__COORD_LEAVE), 0);
  assert_int_equal(weft__coord_encode_empty(b, sizeof b, WEFT__COORD_HELLO), 0);
  assert_int_equal(weft__coord_encode_empty(b, H - 1, WEFT__COORD_LEAVE), 0);
}

static void test_revoke_report_error(void **state) {
  (void)state;
  uint8_t b[512], t[512];
  weft__coord_revoke_t r = {.epoch = 4, .member_id = 12, .rank = 3, .reason = WEFT__FAIL_HUNG}, rd;
  strcpy(r.text, "rank 3 missed 5 heartbeats");
  for (int k = 0; k < 2; k++) {
    uint8_t type = k ? WEFT__COORD_REPORT : WEFT__COORD_REVOKE;
    size_t n = weft__coord_encode_revoke(b, sizeof b, type, &r);
    uint32_t len = check_hdr(b, n, type);
    assert_true(weft__coord_decode_revoke(b + H, len, &rd));
    assert_true(rd.epoch == 4 && rd.member_id == 12 && rd.rank == 3);
    assert_int_equal(rd.reason, WEFT__FAIL_HUNG);
    assert_string_equal(rd.text, r.text);
    assert_false(weft__coord_decode_revoke(b + H, len - 1, &rd));
    assert_false(weft__coord_decode_revoke(b + H, len + 1, &rd));
    assert_false(weft__coord_decode_revoke(b + H, UINT32_MAX, &rd));
    memcpy(t, b, n);
    memset(t + H + 24, 'z', WEFT__COORD_TEXT_LEN);
    assert_false(weft__coord_decode_revoke(t + H, len, &rd));
    memcpy(t, b, n);
    t[H + 20] = 0;
    assert_false(weft__coord_decode_revoke(t + H, len, &rd));
    t[H + 20] = WEFT__FAIL_LAST + 1;
    assert_false(weft__coord_decode_revoke(t + H, len, &rd));
    t[H + 20] = WEFT__FAIL_RECOVER_TIMEOUT; /* 6: left out by the recover deadline */
    assert_true(weft__coord_decode_revoke(t + H, len, &rd) && rd.reason == WEFT__FAIL_RECOVER_TIMEOUT);
  }
  assert_int_equal(weft__coord_encode_revoke(b, sizeof b, WEFT__COORD_ERROR, &r), 0);

  weft__coord_error_t e = {.code = WEFT_ERR_MIN_SIZE}, ed;
  strcpy(e.text, "too few members");
  size_t n = weft__coord_encode_error(b, sizeof b, &e);
  uint32_t len = check_hdr(b, n, WEFT__COORD_ERROR);
  assert_true(weft__coord_decode_error(b + H, len, &ed));
  assert_int_equal(ed.code, WEFT_ERR_MIN_SIZE);
  assert_string_equal(ed.text, "too few members");
  assert_false(weft__coord_decode_error(b + H, len - 1, &ed));
  assert_false(weft__coord_decode_error(b + H, len + 1, &ed));
  memcpy(t, b, n);
  t[H] = 0; /* "success" is not an error */
  assert_false(weft__coord_decode_error(t + H, len, &ed));
  t[H] = WEFT_NUM_RESULTS;
  assert_false(weft__coord_decode_error(t + H, len, &ed));
  memcpy(t, b, n);
  memset(t + H + 4, 'q', WEFT__COORD_TEXT_LEN);
  assert_false(weft__coord_decode_error(t + H, len, &ed));
}

#define NM 5
#define NL 2

/* Member i's card: 2*i bytes of value i (member 0 has none). */
#define CARD_BYTES (2 * (0 + 1 + 2 + 3 + 4))
static const uint8_t sample_cards[NM][8] = {{0}, {1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3, 3, 3}, {4, 4, 4, 4, 4, 4, 4, 4}};

/* The sample EPOCH; its wire length in *wire_len if not NULL. */
static size_t sample_epoch_len(uint8_t *b, size_t cap, size_t *wire_len) {
  weft__coord_member_t mem[NM];
  weft__coord_left_t left[NL] = {{.member_id = 100, .old_rank = 2, .reason = WEFT__FAIL_CRASH},
                                 {.member_id = 101, .old_rank = -1, .reason = WEFT__FAIL_LEFT}};
  for (int i = 0; i < NM; i++)
    mem[i] = (weft__coord_member_t){.member_id = 1000u + (uint64_t)i, .rank_hint = i - 1,
                                    .flags = i == 4 ? WEFT__MEMBER_JOINED : 0,
                                    .addr = i == 2 ? addr6_loopback(7000) : addr4(127, 0, 0, 1, (uint16_t)(6000 + i)),
                                    .card_len = (uint16_t)(2 * i), .card = sample_cards[i]};
  weft__coord_epoch_t m = {.epoch = 6, .size = NM, .num_left = NL, .members = mem, .left = left};
  if (wire_len) *wire_len = weft__coord_epoch_wire_len(&m);
  return weft__coord_encode_epoch(b, cap, &m);
}

static size_t sample_epoch(uint8_t *b, size_t cap) { return sample_epoch_len(b, cap, NULL); }

static void test_epoch(void **state) {
  (void)state;
  uint8_t b[1024], t[1024];
  weft__coord_member_t mem[NM];
  weft__coord_left_t left[NM];
  weft__coord_epoch_t d;
  size_t wire_len;
  size_t n = sample_epoch_len(b, sizeof b, &wire_len);
  assert_int_equal(n, wire_len);
  assert_int_equal(n, H + 16 + 40 * NM + CARD_BYTES + 16 * NL);
  uint32_t len = check_hdr(b, n, WEFT__COORD_EPOCH);
  assert_true(weft__coord_decode_epoch(b + H, len, &d, mem, left, NM));
  assert_true(d.epoch == 6);
  assert_int_equal(d.size, NM);
  assert_int_equal(d.num_left, NL);
  assert_ptr_equal(d.members, mem);
  for (int i = 0; i < NM; i++) {
    assert_true(mem[i].member_id == 1000u + (uint64_t)i);
    assert_int_equal(mem[i].rank_hint, i - 1);
    assert_int_equal(mem[i].flags, i == 4 ? WEFT__MEMBER_JOINED : 0);
    assert_int_equal(mem[i].card_len, 2 * i);
    if (i > 0) assert_memory_equal(mem[i].card, sample_cards[i], mem[i].card_len);
  }
  assert_int_equal(mem[2].addr.family, 6);
  assert_int_equal(mem[3].addr.port, 6003);
  assert_true(left[0].member_id == 100 && left[0].old_rank == 2);
  assert_int_equal(left[1].reason, WEFT__FAIL_LEFT);
  assert_int_equal(sample_epoch(b, n - 1), 0);

  /* Lengths: truncated, extended, absurd. */
  assert_false(weft__coord_decode_epoch(b + H, len - 1, &d, mem, left, NM));
  assert_false(weft__coord_decode_epoch(b + H, len + 1, &d, mem, left, NM));
  assert_false(weft__coord_decode_epoch(b + H, 15, &d, mem, left, NM));
  assert_false(weft__coord_decode_epoch(b + H, UINT32_MAX, &d, mem, left, NM));
  /* More members than the caller's arrays hold, even when the length matches. */
  assert_false(weft__coord_decode_epoch(b + H, len, &d, mem, left, NM - 1));
  /* Claimed counts beyond the protocol limit, with and without matching lengths. */
  memcpy(t, b, n);
  t[H + 8] = 0x01;
  t[H + 9] = 0x40; /* size 16385 */
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, UINT32_MAX));
  memcpy(t, b, n);
  memset(t + H + 12, 0xff, 4); /* num_left 2^32-1 */
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, UINT32_MAX));
  /* Count consistent with nothing: size+1 with the same bytes. */
  memcpy(t, b, n);
  t[H + 8] = NM + 1;
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, 16));
  /* Field values: epoch 0, size 0, unknown flag, unknown reason, bad address. */
  memcpy(t, b, n);
  memset(t + H, 0, 8);
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));
  memcpy(t, b, n);
  t[H + 16 + 12] = 2;
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));
  memcpy(t, b, n);
  t[H + 16 + 40 * NM + CARD_BYTES + 12] = 9;
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));
  memcpy(t, b, n);
  t[H + 16 + 40 * 1 + 16] = 0; /* member 1's address (member 0 has no card bytes) */
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));
  /* Cards: a length that runs into the next entry or past the end, the reserved field set. */
  memcpy(t, b, n);
  t[H + 16 + 40 + 36] = 3; /* member 1 claims 3 bytes: every later field shifts */
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));
  memcpy(t, b, n);
  t[H + 16 + 36] = 0xff;
  t[H + 16 + 37] = 0xff;
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));
  memcpy(t, b, n);
  t[H + 16 + 38] = 1;
  assert_false(weft__coord_decode_epoch(t + H, len, &d, mem, left, NM));

  /* The largest legal epoch, every card at its maximum, fits in a message and decodes. */
  uint32_t big = WEFT__COORD_MAX_MEMBERS;
  static uint8_t card_max[WEFT__COORD_CARD_MAX];
  memset(card_max, 0x33, sizeof card_max);
  weft__coord_member_t *bm = calloc(big, sizeof *bm);
  weft__coord_left_t *bl = calloc(big, sizeof *bl);
  assert_non_null(bm);
  assert_non_null(bl);
  for (uint32_t i = 0; i < big; i++) {
    bm[i].addr = addr4(10, 0, (uint8_t)(i >> 8), (uint8_t)i, 1);
    bm[i].rank_hint = -1;
    bm[i].card = card_max;
    bm[i].card_len = WEFT__COORD_CARD_MAX;
    bl[i].reason = WEFT__FAIL_REPORTED;
    bl[i].old_rank = (int32_t)i;
  }
  weft__coord_epoch_t m = {.epoch = 1, .size = big, .num_left = big, .members = bm, .left = bl};
  size_t cap = weft__coord_epoch_wire_len(&m);
  assert_int_equal(cap, H + weft__coord_max_payload(WEFT__COORD_EPOCH));
  uint8_t *buf = malloc(cap);
  assert_non_null(buf);
  n = weft__coord_encode_epoch(buf, cap, &m);
  assert_int_equal(n, cap);
  len = check_hdr(buf, n, WEFT__COORD_EPOCH);
  assert_true(weft__coord_decode_epoch(buf + H, len, &d, bm, bl, big));
  assert_int_equal(bl[big - 1].old_rank, (int32_t)big - 1);
  assert_int_equal(bm[big - 1].card_len, WEFT__COORD_CARD_MAX);
  m.size = big + 1;
  assert_int_equal(weft__coord_encode_epoch(buf, cap, &m), 0);
  free(buf);
  free(bm);
  free(bl);
}

/* Random bytes at random lengths into every decoder: no crash, no over-read (run under ASan),
 * and fixed-width decoders only ever accept their own length. */
/* REJOIN: a member with its epoch's ids, and a joiner; both round-trip, and the rules hold: the
 * member's own id at its rank, no id 0, a joiner without an epoch, exact lengths. */
static void test_rejoin(void **state) {
  (void)state;
  static uint8_t buf[WEFT__COORD_HDR_LEN + 4096];
  const uint8_t card[3] = {1, 2, 3};
  uint64_t ids[3] = {7, 8, 9};
  weft__coord_rejoin_t m = {.member_id = 8, .epoch = 5, .rank = 1, .flags = WEFT__REJOIN_REVOKED, .size = 3,
                            .rounds = 12, .last_answer = WEFT__COORD_JOINERS, .ids = ids};
  m.hello = (weft__coord_hello_t){.world_size = 3, .rank_hint = 1, .pid = 77, .card = card, .card_len = 3};
  m.hello.listen_addr.family = 4;
  snprintf(m.hello.host, sizeof m.hello.host, "node1");
  size_t n = weft__coord_encode_rejoin(buf, sizeof buf, &m);
  assert_int_equal(n, WEFT__COORD_HDR_LEN + 40 + 108 + 3 + 24);
  weft__coord_hdr_t h;
  assert_true(weft__coord_decode_hdr(buf, &h));
  assert_int_equal(h.type, WEFT__COORD_REJOIN);
  weft__coord_rejoin_t d;
  const uint8_t *p = buf + WEFT__COORD_HDR_LEN;
  assert_true(weft__coord_decode_rejoin(p, h.length, &d));
  assert_int_equal(d.member_id, 8);
  assert_int_equal(d.epoch, 5);
  assert_int_equal(d.rank, 1);
  assert_int_equal(d.flags, WEFT__REJOIN_REVOKED);
  assert_int_equal(d.size, 3);
  assert_int_equal(d.rounds, 12);
  assert_int_equal(d.last_answer, WEFT__COORD_JOINERS);
  for (uint32_t i = 0; i < 3; i++) assert_int_equal(weft__coord_rejoin_id(&d, i), ids[i]);
  assert_int_equal(d.hello.pid, 77);
  assert_string_equal(d.hello.host, "node1");
  assert_int_equal(d.hello.card_len, 3);
  assert_memory_equal(d.hello.card, card, 3);
  assert_false(weft__coord_decode_rejoin(p, h.length - 1, &d)); /* exact length */
  m.last_answer = WEFT__COORD_EPOCH; /* not an answer to a round */
  n = weft__coord_encode_rejoin(buf, sizeof buf, &m);
  assert_false(weft__coord_decode_rejoin(buf + WEFT__COORD_HDR_LEN, n - WEFT__COORD_HDR_LEN, &d));
  m.last_answer = WEFT__COORD_NO_CHANGE;
  ids[1] = 9; /* its own id not at its rank */
  n = weft__coord_encode_rejoin(buf, sizeof buf, &m);
  assert_false(weft__coord_decode_rejoin(buf + WEFT__COORD_HDR_LEN, n - WEFT__COORD_HDR_LEN, &d));
  ids[1] = 8, ids[2] = 0; /* id 0 */
  n = weft__coord_encode_rejoin(buf, sizeof buf, &m);
  assert_false(weft__coord_decode_rejoin(buf + WEFT__COORD_HDR_LEN, n - WEFT__COORD_HDR_LEN, &d));
  m = (weft__coord_rejoin_t){.member_id = 4, .rank = -1, .hello = m.hello}; /* a joiner */
  n = weft__coord_encode_rejoin(buf, sizeof buf, &m);
  assert_true(weft__coord_decode_rejoin(buf + WEFT__COORD_HDR_LEN, n - WEFT__COORD_HDR_LEN, &d));
  assert_int_equal(d.epoch, 0);
  assert_int_equal(d.size, 0);
  m.rank = 0; /* a joiner has no rank */
  n = weft__coord_encode_rejoin(buf, sizeof buf, &m);
  assert_false(weft__coord_decode_rejoin(buf + WEFT__COORD_HDR_LEN, n - WEFT__COORD_HDR_LEN, &d));
}

static void test_garbage(void **state) {
  (void)state;
  uint8_t *p = malloc(4096);
  weft__coord_member_t mem[8];
  weft__coord_left_t left[8];
  srand(12345);
  for (int it = 0; it < 20000; it++) {
    size_t len = (size_t)rand() % 400;
    uint8_t *q = p + 4096 - len; /* the payload ends at the allocation's end */
    for (size_t i = 0; i < len; i++) q[i] = (uint8_t)rand();
    weft__coord_hello_t h;
    weft__coord_welcome_t w;
    weft__coord_epoch_t e;
    weft__coord_revoke_t r;
    weft__coord_error_t er;
    weft__addr_t a;
    uint64_t ep;
    const uint8_t *card;
    uint16_t card_len;
    if (weft__coord_decode_hello(q, len, &h)) assert_int_equal(len, 108 + h.card_len);
    if (weft__coord_decode_card(q, len, &card, &card_len)) assert_int_equal(len, 4 + card_len);
    if (weft__coord_decode_welcome(q, len, &w)) assert_int_equal(len, 16);
    if (weft__coord_decode_revoke(q, len, &r)) assert_int_equal(len, 184);
    if (weft__coord_decode_error(q, len, &er)) assert_int_equal(len, 164);
    if (weft__coord_decode_epoch_ref(q, len, &ep)) assert_int_equal(len, 8);
    if (weft__coord_decode_epoch(q, len, &e, mem, left, 8)) assert_true(e.size <= 8 && e.num_left <= 8);
    if (len >= WEFT__ADDR_WIRE_LEN && weft__addr_decode(q, &a))
      assert_true(a.family == 4 || a.family == 6);
  }
  free(p);
}

/* ---- reader ------------------------------------------------------------------------------- */

static void pair(int sv[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

/* Both ends of one connection's session, as after a handshake with fixed nonces: tx sends
 * (the rank), rx reads (the coordinator). */
static void session_pair(weft__coord_session_t *tx, weft__coord_session_t *rx) {
  weft__auth_key_t k;
  weft__auth_nonces_t n;
  assert_true(weft__auth_key_from_token("reader-token", &k));
  memset(n.nonce_s, 0x11, sizeof n.nonce_s);
  memset(n.nonce_c, 0x22, sizeof n.nonce_c);
  weft__coord_session_init(tx, &k, &n, false);
  weft__coord_session_init(rx, &k, &n, true);
}

/* The message of len bytes at b + off gets its tag behind it; returns the bytes on the wire. */
static size_t sealed(weft__coord_session_t *tx, uint8_t *b, size_t off, size_t len) {
  assert_true(len >= H);
  weft__coord_seal(&tx->tx, b + off, len, b + off + len);
  return len + WEFT__COORD_TAG_LEN;
}

static size_t three_messages(weft__coord_session_t *tx, uint8_t *b, size_t cap) {
  weft__coord_hello_t h = sample_hello();
  size_t n = sealed(tx, b, 0, weft__coord_encode_hello(b, cap, &h));
  n += sealed(tx, b, n, weft__coord_encode_empty(b + n, cap - n, WEFT__COORD_HEARTBEAT));
  n += sealed(tx, b, n, sample_epoch(b + n, cap - n));
  return n;
}

static void check_message(const weft__coord_reader_t *r, int index) {
  static const uint8_t types[] = {WEFT__COORD_HELLO, WEFT__COORD_HEARTBEAT, WEFT__COORD_EPOCH};
  assert_int_equal(r->h.type, types[index]);
  if (index == 0) {
    weft__coord_hello_t h;
    assert_true(weft__coord_decode_hello(r->payload, r->h.length, &h));
    assert_string_equal(h.host, "node-17.example");
  } else if (index == 1) {
    assert_int_equal(r->h.length, 0);
  } else {
    weft__coord_member_t mem[NM];
    weft__coord_left_t left[NM];
    weft__coord_epoch_t e;
    assert_true(weft__coord_decode_epoch(r->payload, r->h.length, &e, mem, left, NM));
    assert_int_equal(e.size, NM);
  }
}

static void test_reader_byte_by_byte(void **state) {
  (void)state;
  uint8_t b[2048];
  char err[128];
  int sv[2];
  weft__coord_session_t tx, rx;
  session_pair(&tx, &rx);
  size_t n = three_messages(&tx, b, sizeof b);
  pair(sv);
  weft__coord_reader_t r = {.session = &rx};
  int got = 0;
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 0);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(write(sv[0], b + i, 1), 1);
    int rc;
    while ((rc = weft__coord_reader_step(&r, sv[1], err, sizeof err)) == 1) check_message(&r, got++);
    assert_int_equal(rc, 0);
  }
  assert_int_equal(got, 3);
  close(sv[0]);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), -1); /* EOF */
  weft__coord_reader_free(&r);
  assert_null(r.payload);
  close(sv[1]);
}

static void test_reader_bulk(void **state) {
  (void)state;
  uint8_t b[2048];
  char err[128];
  int sv[2];
  weft__coord_session_t tx, rx;
  session_pair(&tx, &rx);
  size_t n = three_messages(&tx, b, sizeof b);
  uint8_t b2[2048]; /* the same three again, as messages 3 to 5 of the connection */
  size_t n2 = three_messages(&tx, b2, sizeof b2);
  assert_int_equal(n2, n);
  pair(sv);
  assert_int_equal(write(sv[0], b, n), (ssize_t)n);
  assert_int_equal(write(sv[0], b2, 5), 5); /* the start of a fourth, to show nothing over-reads */
  weft__coord_reader_t r = {.session = &rx};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 1);
    check_message(&r, i);
  }
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 0);
  assert_int_equal(r.hdr_got, 5);
  /* The payload buffer grew to the largest message only. */
  uint8_t scratch[1024];
  size_t epoch_len;
  sample_epoch_len(scratch, sizeof scratch, &epoch_len);
  assert_int_equal(r.payload_cap, epoch_len - H);
  assert_int_equal(write(sv[0], b2 + 5, n - 5), (ssize_t)(n - 5));
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 1);
  check_message(&r, 0);
  close(sv[0]);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 1);
  check_message(&r, 1);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 1);
  check_message(&r, 2);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), -1);
  weft__coord_reader_free(&r);
  close(sv[1]);
}

static void test_reader_rejects_oversized_and_garbage(void **state) {
  (void)state;
  uint8_t hdr[H];
  char err[128];
  int sv[2];

  weft__coord_session_t tx, rx;
  session_pair(&tx, &rx);
  /* A 4 GiB claim: refused from the header alone, nothing allocated. */
  pair(sv);
  weft__coord_encode_hdr(hdr, WEFT__COORD_EPOCH, UINT32_MAX);
  assert_int_equal(write(sv[0], hdr, H), H);
  weft__coord_reader_t r = {.session = &rx};
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), -1);
  assert_null(r.payload);
  assert_int_equal(r.payload_cap, 0);
  assert_non_null(strstr(err, "header"));
  weft__coord_reader_free(&r);
  close(sv[0]);
  close(sv[1]);

  /* Just over the limit. */
  r.session = &rx;
  pair(sv);
  weft__coord_encode_hdr(hdr, WEFT__COORD_EPOCH, WEFT__COORD_MAX_PAYLOAD + 1);
  assert_int_equal(write(sv[0], hdr, H), H);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), -1);
  assert_null(r.payload);
  weft__coord_reader_free(&r);
  close(sv[0]);
  close(sv[1]);

  /* Garbage header. */
  r.session = &rx;
  pair(sv);
  memset(hdr, 0x41, H);
  assert_int_equal(write(sv[0], hdr, H), H);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), -1);
  weft__coord_reader_free(&r);
  close(sv[0]);
  close(sv[1]);

  /* EOF in the middle of a payload. */
  r.session = &rx;
  pair(sv);
  weft__coord_encode_hdr(hdr, WEFT__COORD_WELCOME, 16);
  assert_int_equal(write(sv[0], hdr, H), H);
  assert_int_equal(write(sv[0], "12345", 5), 5);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), 0);
  close(sv[0]);
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), -1);
  assert_non_null(strstr(err, "middle"));
  weft__coord_reader_free(&r);
  close(sv[1]);
}

/* The framing's tags: a message changed on the way, injected by someone without the session
 * key, replayed, or reflected back to its sender fails, and the reader says so. A reader without
 * a session reads nothing. */
static void reads_one(weft__coord_session_t *rx, const uint8_t *bytes, size_t len, int want, const char *reason) {
  int sv[2];
  char err[192] = "";
  pair(sv);
  assert_int_equal(write(sv[0], bytes, len), (ssize_t)len);
  weft__coord_reader_t r = {.session = rx};
  assert_int_equal(weft__coord_reader_step(&r, sv[1], err, sizeof err), want);
  if (reason && strstr(err, reason) == NULL) fail_msg("error \"%s\" lacks \"%s\"", err, reason);
  weft__coord_reader_free(&r);
  close(sv[0]);
  close(sv[1]);
}

static void test_reader_checks_tags(void **state) {
  (void)state;
  weft__coord_session_t tx, rx, saved_tx, saved_rx;
  uint8_t m[256], t[256];
  session_pair(&tx, &rx);
  saved_tx = tx;
  saved_rx = rx;
  weft__coord_revoke_t rv = {.epoch = 4, .member_id = 77, .rank = 1, .reason = WEFT__FAIL_CRASH};
  size_t n = sealed(&tx, m, 0, weft__coord_encode_revoke(m, sizeof m, WEFT__COORD_REVOKE, &rv));
  reads_one(&rx, m, n, 1, NULL); /* the real one */
  assert_int_equal(rx.rx.seq, 1);
  /* Replayed: its number is 0, the reader expects 1. */
  reads_one(&rx, m, n, -1, "message 1 (type 5) failed authentication");
  assert_int_equal(rx.rx.seq, 1);
  /* Changed on the way: one payload bit, one header bit, one tag bit. */
  rx = saved_rx;
  size_t flips[] = {H + 8, 5, n - 1};
  for (size_t i = 0; i < 3; i++) {
    memcpy(t, m, n);
    t[flips[i]] ^= 0x01;
    reads_one(&rx, t, n, -1, flips[i] == 5 ? NULL : "failed authentication");
  }
  /* Injected: the right framing, tagged with a key derived from other nonces. */
  weft__coord_session_t other_tx, other_rx;
  weft__auth_key_t k;
  weft__auth_nonces_t nn;
  assert_true(weft__auth_key_from_token("reader-token", &k));
  memset(&nn, 0x33, sizeof nn);
  weft__coord_session_init(&other_tx, &k, &nn, false);
  weft__coord_session_init(&other_rx, &k, &nn, true);
  size_t n2 = sealed(&other_tx, t, 0, weft__coord_encode_revoke(t, sizeof t, WEFT__COORD_REVOKE, &rv));
  reads_one(&rx, t, n2, -1, "failed authentication");
  /* Reflected: the reader's own direction's key does not verify it. */
  weft__coord_session_t back = saved_tx; /* the sender reading what it sent */
  reads_one(&back, m, n, -1, "failed authentication");
  /* No session: nothing is read. */
  reads_one(NULL, m, n, -1, "no session");
  (void)other_rx;
  (void)saved_tx;
}

/* ---- coord_client against a scripted coordinator thread ----------------------------------- */

typedef struct {
  int lfd;
  int answer; /* 0 WELCOME, 1 ERROR, 2 an unexpected EPOCH, 3 nothing, 4 a WELCOME whose tag fails */
  weft__coord_hello_t got;
  bool hello_ok, tag_ok;
} fake_coord_t;

static void *fake_coord_main(void *arg) {
  fake_coord_t *c = arg;
  char err[256];
  int fd = -1;
  double deadline = weft__now() + 5.0;
  weft__auth_key_t k;
  assert_true(weft__auth_key_from_token("coord-token", &k));
  if (weft__sock_accept(c->lfd, deadline, &fd, err, sizeof err) != WEFT_SUCCESS) return NULL;
  weft__auth_nonces_t nonces;
  weft__coord_session_t session;
  if (weft__auth_server_nonces(fd, &k, WEFT__AUTH_ROLE_COORD, deadline, &nonces, err, sizeof err) != WEFT_SUCCESS)
    goto out;
  weft__coord_session_init(&session, &k, &nonces, true);
  uint8_t hdr[H], payload[256], msg[512], tag[WEFT__COORD_TAG_LEN];
  weft__coord_hdr_t h;
  if (weft__sock_read_all(fd, hdr, H, deadline) != WEFT_SUCCESS || !weft__coord_decode_hdr(hdr, &h) ||
      h.type != WEFT__COORD_HELLO || h.length > sizeof payload ||
      weft__sock_read_all(fd, payload, h.length, deadline) != WEFT_SUCCESS ||
      weft__sock_read_all(fd, tag, sizeof tag, deadline) != WEFT_SUCCESS)
    goto out;
  c->tag_ok = weft__coord_verify(&session.rx, hdr, payload, h.length, tag);
  c->hello_ok = weft__coord_decode_hello(payload, h.length, &c->got);
  size_t n = 0;
  if (c->answer == 0 || c->answer == 4) {
    weft__coord_welcome_t w = {.member_id = 31, .current_epoch = 0};
    n = weft__coord_encode_welcome(msg, sizeof msg, &w);
  } else if (c->answer == 1) {
    weft__coord_error_t e = {.code = WEFT_ERR_MIN_SIZE};
    strcpy(e.text, "job is full");
    n = weft__coord_encode_error(msg, sizeof msg, &e);
  } else if (c->answer == 2) {
    n = sample_epoch(msg, sizeof msg);
  }
  if (n > 0) {
    weft__coord_seal(&session.tx, msg, n, msg + n);
    if (c->answer == 4) msg[n - 1] ^= 0x80; /* a WELCOME changed on the way */
    weft__sock_write_all(fd, msg, n + WEFT__COORD_TAG_LEN, deadline);
  }
  usleep(c->answer == 3 ? 600 * 1000 : 0);
out:
  close(fd);
  return NULL;
}

static weft_result_t join_fake(int answer, const char *token, double timeout_s, fake_coord_t *c,
                               weft__coord_welcome_t *w, char *err, size_t errlen) {
  int port = 0, fd = -1;
  assert_int_equal(weft__sock_listen("127.0.0.1", 0, &c->lfd, &port, err, errlen), WEFT_SUCCESS);
  c->answer = answer;
  c->hello_ok = c->tag_ok = false;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, fake_coord_main, c), 0);
  weft__auth_key_t k;
  assert_true(weft__auth_key_from_token(token, &k));
  weft__coord_hello_t hello = sample_hello();
  weft__coord_session_t session;
  weft_result_t rc = weft__coord_connect("127.0.0.1", port, &k, &hello, weft__now() + timeout_s,
                                         &fd, &session, w, err, errlen);
  if (rc == WEFT_SUCCESS) assert_true(session.tx.seq == 1 && session.rx.seq == 1); /* HELLO, WELCOME */
  if (rc == WEFT_SUCCESS) {
    assert_true(fd >= 0);
    close(fd);
  } else {
    assert_int_equal(fd, -1);
  }
  pthread_join(t, NULL);
  close(c->lfd);
  return rc;
}

static void test_coord_client(void **state) {
  (void)state;
  fake_coord_t c;
  weft__coord_welcome_t w = {0};
  char err[256];
  assert_int_equal(join_fake(0, "coord-token", 5, &c, &w, err, sizeof err), WEFT_SUCCESS);
  assert_true(c.hello_ok);
  assert_true(c.tag_ok); /* the HELLO carried a tag the coordinator's session verifies */
  assert_string_equal(c.got.host, "node-17.example");
  assert_int_equal(c.got.card_len, sizeof sample_card); /* c.got.card pointed into the thread's buffer */
  assert_true(w.member_id == 31);

  assert_int_equal(join_fake(1, "coord-token", 5, &c, &w, err, sizeof err), WEFT_ERR_MIN_SIZE);
  assert_non_null(strstr(err, "job is full"));

  assert_int_equal(join_fake(2, "coord-token", 5, &c, &w, err, sizeof err), WEFT_ERR_PROTOCOL);

  double t0 = weft__now();
  assert_int_equal(join_fake(3, "coord-token", 0.3, &c, &w, err, sizeof err), WEFT_ERR_TIMEOUT);
  assert_true(weft__now() - t0 < 2.0);

  assert_int_equal(join_fake(4, "coord-token", 5, &c, &w, err, sizeof err), WEFT_ERR_UNAUTHORIZED);
  assert_non_null(strstr(err, "failed authentication"));

  assert_int_equal(join_fake(0, "wrong-token", 5, &c, &w, err, sizeof err), WEFT_ERR_UNAUTHORIZED);
  assert_false(c.hello_ok); /* nothing was sent before authentication */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header),
      cmocka_unit_test(test_hello),
      cmocka_unit_test(test_hello_rejects),
      cmocka_unit_test(test_card_message),
      cmocka_unit_test(test_welcome_epoch_ref_empty),
      cmocka_unit_test(test_revoke_report_error),
      cmocka_unit_test(test_epoch),
      cmocka_unit_test(test_rejoin),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_reader_byte_by_byte),
      cmocka_unit_test(test_reader_bulk),
      cmocka_unit_test(test_reader_rejects_oversized_and_garbage),
      cmocka_unit_test(test_reader_checks_tags),
      cmocka_unit_test(test_coord_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
