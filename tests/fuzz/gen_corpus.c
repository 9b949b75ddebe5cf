/* Writes the seed corpora of the fuzz targets: valid messages made by the library's own
 * encoders, plus a few near misses, one file per input. Not part of the test run; to refresh
 * the committed seeds:
 *   build/tests/fuzz/fuzz_gen_corpus tests/fuzz/corpus
 * Output is deterministic (fixed nonces and keys), so a refresh changes nothing unless an
 * encoder or a layout changed. */
#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>

#include "bootstrap/auth.h"
#include "bootstrap/coord_proto.h"
#include "core/card.h"
#include "transports/tcp/mesh.h"
#include "core/wire.h"
#include "fuzz_common.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t len) {
  char dir[1024], path[1200];
  snprintf(dir, sizeof dir, "%s/%s", root, target);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    perror(dir);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* Writes selector byte + body. */
static void put_sel(const char *target, const char *name, uint8_t sel, const void *p, size_t len) {
  uint8_t *b = malloc(len + 1);
  if (b == NULL) abort();
  b[0] = sel;
  memcpy(b + 1, p, len);
  put(target, name, b, len + 1);
  free(b);
}

static void put_text(const char *target, const char *name, const char *s) {
  put(target, name, s, strlen(s));
}

static void put_sel_text(const char *target, const char *name, uint8_t sel, const char *s) {
  put_sel(target, name, sel, s, strlen(s));
}

static weft__addr_t v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  weft__addr_t x;
  memset(&x, 0, sizeof x);
  x.family = 4;
  x.port = port;
  x.ip[0] = a, x.ip[1] = b, x.ip[2] = c, x.ip[3] = d;
  return x;
}

static weft__addr_t v6_loopback(uint16_t port) {
  weft__addr_t x;
  memset(&x, 0, sizeof x);
  x.family = 6;
  x.port = port;
  x.ip[15] = 1;
  return x;
}

static void frames(void) {
  const char *t = "fuzz_frame";
  uint8_t h[WEFT__FRAME_HDR_LEN];
  weft__frame_t f = {.type = WEFT__FRAME_DATA, .coll = 1, .dtype = 2, .redop = 0, .algo = 1,
                     .flags = 0, .src_rank = 3, .epoch = 1, .seq = 42, .count = 1u << 20,
                     .offset = 65536, .phase = 2, .root = -1, .len = 4096, .code = 0,
                     .comm_id = 0x5eed5eed5eed5eedull, .msg_count = 1u << 20};
  weft__frame_encode(h, &f);
  put_sel(t, "data", 2, h, sizeof h);
  f.type = WEFT__FRAME_P2P, f.root = 5, f.len = 524288;
  weft__frame_encode(h, &f);
  put_sel(t, "p2p", 3, h, sizeof h);
  f.type = WEFT__FRAME_ABORT, f.len = 200, f.code = 7;
  weft__frame_encode(h, &f);
  put_sel(t, "abort", 0xff, h, sizeof h);
  f.type = WEFT__FRAME_BYE, f.len = 0, f.code = 0;
  weft__frame_encode(h, &f);
  put_sel(t, "bye", 0x10, h, sizeof h);
  f.type = WEFT__FRAME_DATA, f.len = 4097;
  weft__frame_encode(h, &f);
  put_sel(t, "data-too-long", 2, h, sizeof h);
  h[4] = 1; /* version 1: 64-byte headers without comm_id */
  put_sel(t, "bad-version", 0x20, h, sizeof h);
}

static void peer_hellos(void) {
  const char *t = "fuzz_peer_hello";
  uint8_t h[WEFT__PEER_HELLO_BODY_LEN];
  weft__peer_hello_t m = {.epoch = 3, .member_id = 0x1122334455667788ull, .rank = 1,
                          .sock_index = 0, .size = 4, .to_member_id = 0x8877665544332211ull, .to_rank = 2};
  weft__peer_hello_encode(h, &m);
  put(t, "hello", h, sizeof h);
  m.epoch = UINT64_MAX, m.rank = UINT32_MAX, m.sock_index = 15, m.size = UINT32_MAX, m.comm_id = UINT64_MAX;
  m.to_member_id = UINT64_MAX, m.to_rank = UINT32_MAX;
  weft__peer_hello_encode(h, &m);
  put(t, "hello-max", h, sizeof h);
  h[36] = 1;
  put(t, "reserved-set", h, sizeof h);
  m.flags = WEFT__PEER_FLAG_ENCRYPT; /* WEFT_ENCRYPT=1: with a key exchange key */
  for (size_t i = 0; i < sizeof m.kx_pk; i++) m.kx_pk[i] = (uint8_t)(0x80 + i);
  weft__peer_hello_encode(h, &m);
  put(t, "hello-encrypt", h, sizeof h);
  /* PEER_ACKs (the target decodes inputs of the ACK's length as one). */
  uint8_t ack[WEFT__PEER_ACK_LEN];
  weft__peer_ack_make(NULL, NULL, NULL, NULL, WEFT_SUCCESS, WEFT__PEER_FLAG_ENCRYPT, m.kx_pk, ack);
  put(t, "ack-encrypt", ack, sizeof ack);
  weft__peer_ack_make(NULL, NULL, NULL, NULL, WEFT_ERR_MISMATCH, 0, NULL, ack);
  put(t, "ack-refusal", ack, sizeof ack);
}

/* Sealed streams with fuzz_crypt_key's key (selector: even, pieces of 1 + sel/2 bytes), and
 * plaintexts for the round trip (odd selectors). */
static void crypt_records(void) {
  const char *t = "fuzz_crypt";
  uint8_t key[32], pt[3000], wire[3200];
  fuzz_crypt_key(key);
  for (size_t i = 0; i < sizeof pt; i++) pt[i] = (uint8_t)(i * 13);
  size_t at = weft__crypt_seal(key, 0, pt, 1, wire);
  at += weft__crypt_seal(key, 1, pt, 100, wire + at);
  at += weft__crypt_seal(key, 2, pt, 2000, wire + at);
  put_sel(t, "stream-3-records", 0, wire, at);
  put_sel(t, "stream-3-records-pieces", 2 * 7, wire, at);
  at = weft__crypt_seal(key, 1, pt, 50, wire); /* out of order: counter 1 first */
  put_sel(t, "wrong-counter", 0, wire, at);
  put_sel(t, "roundtrip-small", 1, pt, 64);
  put_sel(t, "roundtrip-records", 1 + 2 * 2, pt, sizeof pt);
}

/* A card as a rank publishes it (member id 0: not assigned yet at HELLO), with an identity key
 * (fixed bytes: the corpus is deterministic). */
static size_t sample_card(uint8_t *out, size_t cap, uint64_t member_id, uint64_t host_id, weft__addr_t addr) {
  weft__card_t c = {.member_id = member_id, .host_id = host_id, .addr = addr, .has_identity = true};
  for (size_t i = 0; i < sizeof c.identity; i++) c.identity[i] = (uint8_t)(0xc0 + i);
  size_t n = weft__card_encode(&c, out, cap);
  if (n == 0) abort();
  return n;
}

/* Cards (fuzz_card): input = 8-byte expected member id, then the blob. */
static void cards(void) {
  const char *t = "fuzz_card";
  uint8_t b[8 + WEFT__CARD_MAX + 64];
  size_t n;
  memset(b, 0, 8);
  b[0] = 5; /* expected member 5 */
  n = sample_card(b + 8, sizeof b - 8, 0, 0x1122334455667788ull, v4(10, 0, 0, 7, 41000));
  put(t, "tcp-v4-unassigned", b, 8 + n);
  n = sample_card(b + 8, sizeof b - 8, 5, 42, v6_loopback(29401));
  put(t, "tcp-v6-member", b, 8 + n);
  n = sample_card(b + 8, sizeof b - 8, 6, 42, v6_loopback(29401));
  put(t, "wrong-member", b, 8 + n);
  weft__addr_t none = {0};
  n = sample_card(b + 8, sizeof b - 8, 0, 7, none);
  put(t, "no-tcp", b, 8 + n);
  /* An unknown section (a later transport's) before TCP: skipped. */
  n = sample_card(b + 8, sizeof b - 8, 0, 7, v4(192, 168, 1, 2, 7));
  uint8_t *sec = b + 8 + WEFT__CARD_HDR_LEN;
  memmove(sec + 4 + 6, sec, n - WEFT__CARD_HDR_LEN);
  uint8_t unknown[10] = {0x99, 0x00, 6, 0, 's', 'h', 'm', '-', '4', '2'};
  memcpy(sec, unknown, sizeof unknown);
  n += sizeof unknown;
  b[8 + 2] = (uint8_t)n;
  b[8 + 3] = (uint8_t)(n >> 8);
  put(t, "unknown-section", b, 8 + n);
  put(t, "truncated", b, 8 + n - 3);
  n = sample_card(b + 8, sizeof b - 8, 0, 7, v4(10, 1, 1, 1, 1));
  b[8] = 2;
  put(t, "bad-version", b, 8 + n);
}

/* All coordinator messages into one stream; each also as its own coord_msg seed. */
static size_t coord_messages(uint8_t *stream, size_t cap) {
  const char *t = "fuzz_coord_msg";
  uint8_t buf[4096];
  size_t n, used = 0;
#define EMIT(name, sel)                                                                           \
  do {                                                                                          \
    if (n == 0) abort();                                                                        \
    put_sel(t, name, sel, buf, n);                                                              \
    if (used + n <= cap) {                                                                      \
      memcpy(stream + used, buf, n);                                                            \
      used += n;                                                                                \
    }                                                                                           \
  } while (0)
  weft__coord_hello_t hello = {.world_size = 4, .rank_hint = 2, .incarnation = 0xdeadbeefcafeull,
                               .listen_addr = v4(10, 0, 0, 7, 41000), .pid = 4242};
  snprintf(hello.host, sizeof hello.host, "node07.cluster");
  uint8_t card[4][WEFT__CARD_MAX];
  hello.card = card[0];
  hello.card_len = (uint16_t)sample_card(card[0], sizeof card[0], 0, 0xabcdef, hello.listen_addr);
  n = weft__coord_encode_hello(buf, sizeof buf, &hello);
  EMIT("hello", 0);
  hello.world_size = 0, hello.rank_hint = -1, hello.listen_addr = v6_loopback(29401);
  snprintf(hello.host, sizeof hello.host, "%063d", 7);
  hello.card_len = 0;
  n = weft__coord_encode_hello(buf, sizeof buf, &hello);
  EMIT("hello-v6-longhost-nocard", 0);
  weft__coord_welcome_t w = {.member_id = 9, .current_epoch = 0};
  n = weft__coord_encode_welcome(buf, sizeof buf, &w);
  EMIT("welcome", 0);
  weft__coord_member_t members[4];
  for (int i = 0; i < 4; i++)
    members[i] = (weft__coord_member_t){.member_id = (uint64_t)(100 + i), .rank_hint = i,
                                        .flags = i == 3 ? WEFT__MEMBER_JOINED : 0,
                                        .addr = i == 1 ? v6_loopback(5000) : v4(10, 0, 0, (uint8_t)i, 5000)};
  for (int i = 0; i < 4; i++) {
    members[i].card = card[i];
    members[i].card_len = (uint16_t)sample_card(card[i], sizeof card[i], 0, 0xabcdef + (uint64_t)(i / 2), members[i].addr);
  }
  weft__coord_left_t left[2] = {{.member_id = 7, .old_rank = 1, .reason = WEFT__FAIL_CRASH},
                                {.member_id = 8, .old_rank = -1, .reason = WEFT__FAIL_LEFT}};
  weft__coord_epoch_t e = {.epoch = 1, .size = 4, .num_left = 0, .members = members, .left = left};
  n = weft__coord_encode_epoch(buf, sizeof buf, &e);
  EMIT("epoch-first", 5); /* capacity 64 */
  e.epoch = 2, e.size = 3, e.num_left = 2;
  n = weft__coord_encode_epoch(buf, sizeof buf, &e);
  EMIT("epoch-recovered", 3); /* capacity 4 */
  n = weft__coord_encode_epoch(buf, sizeof buf, &e);
  EMIT("epoch-over-capacity", 1); /* capacity 2: refused */
  n = weft__coord_encode_empty(buf, sizeof buf, WEFT__COORD_HEARTBEAT);
  EMIT("heartbeat", 0);
  weft__coord_revoke_t rv = {.epoch = 2, .member_id = 101, .rank = 1, .reason = WEFT__FAIL_HUNG};
  snprintf(rv.text, sizeof rv.text, "rank 1 (member 101) missed heartbeats for 5s");
  n = weft__coord_encode_revoke(buf, sizeof buf, WEFT__COORD_REVOKE, &rv);
  EMIT("revoke", 0);
  rv.reason = WEFT__FAIL_REPORTED;
  n = weft__coord_encode_revoke(buf, sizeof buf, WEFT__COORD_REPORT, &rv);
  EMIT("report", 0);
  rv.member_id = 0, rv.rank = -1; /* no suspect: an operation timed out (v4) */
  snprintf(rv.text, sizeof rv.text, "allreduce seq 12 timed out after 4.0 s in phase 1 waiting for rank 5");
  n = weft__coord_encode_revoke(buf, sizeof buf, WEFT__COORD_REPORT, &rv);
  EMIT("report-no-suspect", 0);
  rv.reason = WEFT__FAIL_RESET; /* the epoch ends for every member (v4) */
  snprintf(rv.text, sizeof rv.text, "every member reaches every other; rank 4 failed on its own");
  n = weft__coord_encode_revoke(buf, sizeof buf, WEFT__COORD_REVOKE, &rv);
  EMIT("revoke-reset", 0);
  n = weft__coord_encode_epoch_ref(buf, sizeof buf, WEFT__COORD_RECOVER, 2);
  EMIT("recover", 0);
  n = weft__coord_encode_epoch_ref(buf, sizeof buf, WEFT__COORD_NO_CHANGE, 2);
  EMIT("no-change", 0);
  weft__coord_error_t er = {.code = 3};
  snprintf(er.text, sizeof er.text, "world size 4 is full");
  n = weft__coord_encode_error(buf, sizeof buf, &er);
  EMIT("error", 0);
  n = weft__coord_encode_empty(buf, sizeof buf, WEFT__COORD_LEAVE);
  EMIT("leave", 0);
  n = weft__coord_encode_card(buf, sizeof buf, card[2], members[2].card_len);
  EMIT("card", 0);
  const uint32_t group[3] = {3, 0, 2};
  weft__coord_stall_t st = {.epoch = 2, .comm_id = 0x1234, .seq = 812, .coll = 0, .waited_ms = 30000,
                            .stall_ms = 30000, .nranks = 3, .ranks = group};
  n = weft__coord_encode_stall(buf, sizeof buf, &st);
  EMIT("stall-group", 0);
  st.nranks = 0, st.comm_id = 0;
  n = weft__coord_encode_stall(buf, sizeof buf, &st);
  EMIT("stall-world", 0);
  weft__coord_progress_t pr = {.epoch = 2, .comm_id = 0x1234, .seq = 812, .entered_seq = 811, .entered_coll = 5,
                               .flags = WEFT__PROGRESS_HAS_COMM, .idle_ms = 31000};
  n = weft__coord_encode_progress(buf, sizeof buf, WEFT__COORD_PROGRESS_QUERY, &pr);
  EMIT("progress-query", 0);
  n = weft__coord_encode_progress(buf, sizeof buf, WEFT__COORD_PROGRESS, &pr);
  EMIT("progress", 0);
  const uint8_t reached[3] = {0, 1, 0};
  weft__coord_reach_t rq = {.epoch = 2, .timeout_ms = 2000, .n = 3, .ranks = group, .status = reached};
  n = weft__coord_encode_reach(buf, sizeof buf, WEFT__COORD_REACH_QUERY, &rq);
  EMIT("reach-query", 0);
  n = weft__coord_encode_reach(buf, sizeof buf, WEFT__COORD_REACH, &rq);
  EMIT("reach", 0);
  weft__coord_joiners_t joiners = {.epoch = 3, .waiting = 1};
  n = weft__coord_encode_joiners(buf, sizeof buf, &joiners);
  EMIT("joiners", 0);
  const uint64_t epoch_ids[3] = {0x1111, 0x2222, 0x3333};
  weft__coord_rejoin_t rejoin = {.member_id = 0x2222, .epoch = 7, .rank = 1, .flags = WEFT__REJOIN_REVOKED,
                                 .size = 3, .rounds = 41, .last_answer = WEFT__COORD_NO_CHANGE, .hello = hello,
                                 .ids = epoch_ids};
  n = weft__coord_encode_rejoin(buf, sizeof buf, &rejoin);
  EMIT("rejoin", 0);
  rejoin = (weft__coord_rejoin_t){.member_id = 0x4444, .rank = -1, .hello = hello};
  n = weft__coord_encode_rejoin(buf, sizeof buf, &rejoin);
  EMIT("rejoin-joiner", 0);
#undef EMIT
  return used;
}

/* The stream of untagged messages, each followed by its tag (fuzz_reader_session's), into b + 2;
 * returns the tagged length. */
static size_t tag_stream(const uint8_t *stream, size_t len, uint8_t *b) {
  weft__coord_session_t tx, rx;
  weft__coord_hdr_t h;
  size_t in = 0, out = 2;
  fuzz_reader_session(&tx, &rx);
  while (in + WEFT__COORD_HDR_LEN <= len && weft__coord_decode_hdr(stream + in, &h)) {
    size_t n = WEFT__COORD_HDR_LEN + h.length;
    memcpy(b + out, stream + in, n);
    weft__coord_seal(&tx.tx, b + out, n, b + out + n);
    in += n;
    out += n + WEFT__COORD_TAG_LEN;
  }
  return out - 2;
}

static void coord_reader(const uint8_t *untagged, size_t ulen) {
  const char *t = "fuzz_coord_reader";
  size_t cap = ulen + 2 + (ulen / WEFT__COORD_HDR_LEN + 1) * WEFT__COORD_TAG_LEN; /* a tag per header at most */
  uint8_t *b = malloc(cap);
  if (b == NULL) abort();
  size_t len = tag_stream(untagged, ulen, b);
  if (len + 2 > cap) abort();
  b[0] = 0x80, b[1] = 0; /* socketpair, err 65 bytes, all at once */
  put(t, "stream-socketpair-whole", b, len + 2);
  b[0] = 0x81, b[1] = 7; /* pipe, pieces of up to 7 bytes */
  put(t, "stream-pipe-pieces", b, len + 2);
  b[0] = 0x10, b[1] = 1; /* byte by byte, short err */
  put(t, "stream-bytewise", b, WEFT__MIN(len + 2, (size_t)300));
  b[0] = 0x80, b[1] = 0;
  put(t, "stream-cut-mid-message", b, 2 + 16 + 50);
  b[2 + 5] = 0; /* bad type in the first header */
  put(t, "stream-bad-header", b, len + 2);
  free(b);
}

static void auth(void) {
  const char *t = "fuzz_auth";
  weft__auth_key_t key;
  if (!weft__auth_key_from_token("fuzz", &key)) abort();
  for (int role = WEFT__AUTH_ROLE_COORD; role <= WEFT__AUTH_ROLE_PEER; role++) {
    /* body = [40][challenge][64][response][32][server mac]; the target also reads nonce_s and
     * nonce_c from body[0..32) and body[32..64), so the MACs are computed over those. */
    uint8_t body[1 + 40 + 1 + 64 + 1 + 32];
    uint8_t *c = body + 1, *r = body + 42, *m = body + 107;
    body[0] = 40, body[41] = 64, body[106] = 32;
    uint8_t nonce[WEFT__AUTH_NONCE_LEN];
    for (int i = 0; i < WEFT__AUTH_NONCE_LEN; i++) nonce[i] = (uint8_t)(i * 7 + role);
    c[0] = 0x57, c[1] = 0x46, c[2] = 0x41, c[3] = 0x55; /* "WFAU" little-endian */
    c[4] = WEFT__AUTH_VERSION, c[5] = (uint8_t)role, c[6] = c[7] = 0;
    memcpy(c + 8, nonce, sizeof nonce);
    for (int i = 0; i < WEFT__AUTH_NONCE_LEN; i++) r[i] = (uint8_t)(0xa0 + i);
    const uint8_t *nonce_s = body, *nonce_c = body + 32;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key.bytes, sizeof key.bytes);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"weft/1 client", 13);
    crypto_auth_hmacsha256_update(&st, (const uint8_t[]){(uint8_t)role}, 1);
    crypto_auth_hmacsha256_update(&st, nonce_s, 32);
    crypto_auth_hmacsha256_update(&st, r, 32);
    crypto_auth_hmacsha256_final(&st, r + 32);
    crypto_auth_hmacsha256_init(&st, key.bytes, sizeof key.bytes);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"weft/1 server", 13);
    crypto_auth_hmacsha256_update(&st, (const uint8_t[]){(uint8_t)role}, 1);
    crypto_auth_hmacsha256_update(&st, nonce_c, 32);
    crypto_auth_hmacsha256_update(&st, nonce_s, 32);
    crypto_auth_hmacsha256_final(&st, m);
    uint8_t sel = role == WEFT__AUTH_ROLE_PEER ? 1 : 0;
    put_sel(t, role == WEFT__AUTH_ROLE_PEER ? "exchange-peer" : "exchange-coord", sel, body,
            sizeof body);
  }
  put_sel_text(t, "token-from-input", 0x80, "\x28WFAU\x01\x01");
}

static void config(void) {
  const char *t = "fuzz_config";
  static const char *const v[] = {"300", "0.5", "250ms", "2s", "1m", "1h", "100us", ".25",
                                  "64K", "64KiB", "1M", "2G", "1TiB", "512B", "-1", "+16",
                                  "9223372036854775807", "auto", "RING", "tree", "1e3", " 5"};
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(v); i++) {
    char name[32];
    snprintf(name, sizeof name, "value-%02zu", i);
    put_text(t, name, v[i]);
  }
}

static void hosts(void) {
  const char *t = "fuzz_host";
  static const char *const v[] = {"node01:29400", "[::1]:29401", "[fe80::1%eth0]:80",
                                  "10.0.0.1:65535", "node[01-03,07],gpu5", "gpu[1-2]-ib[0-1]",
                                  "a,b,c", "host:0", "n[1-"};
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(v); i++) {
    char name[32];
    snprintf(name, sizeof name, "value-%02zu", i);
    put_sel_text(t, name, i == 8 ? 3 : 100, v[i]); /* 100: a WEFT__HOST_MAX buffer */
  }
}

static void envs(void) {
  const char *t = "fuzz_env";
  static const char *const v[] = {
      "WEFT_RANK=1\nWEFT_WORLD_SIZE=4\nWEFT_COORDINATOR=node01:29400\nWEFT_JOB_TOKEN=s3cret",
      "RANK=3\nWORLD_SIZE=8\nLOCAL_RANK=3\nMASTER_ADDR=[::1]\nMASTER_PORT=29500\n"
      "TORCHELASTIC_RUN_ID=abc",
      "SLURM_PROCID=5\nSLURM_NTASKS=16\nSLURM_LOCALID=1\nSLURM_STEP_NODELIST=gpu[03-06]\n"
      "SLURM_JOB_ID=123456\nSLURM_STEP_ID=0",
      "SLURM_PROCID=0\nSLURM_NTASKS=1\nPMI_RANK=2\nPMI_SIZE=4\nPMI_KVSNAME=kvs_77\n"
      "WEFT_COORDINATOR_PORT=31000",
      "OMPI_COMM_WORLD_RANK=1\nOMPI_COMM_WORLD_SIZE=2\nOMPI_COMM_WORLD_LOCAL_RANK=1\n"
      "OMPI_MCA_ess_base_jobid=99",
      "WEFT_RANK=4\nWEFT_WORLD_SIZE=4",
      "MASTER_ADDR=host\nMASTER_PORT=65535",
      "SLURM_NODELIST=a,,b",
  };
  for (size_t i = 0; i < WEFT__ARRAY_SIZE(v); i++) {
    char name[32];
    snprintf(name, sizeof name, "env-%02zu", i);
    put_sel_text(t, name, i == 7 ? 5 : 200, v[i]);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 1;
  }
  root = argv[1];
  if (mkdir(root, 0755) != 0 && errno != EEXIST) {
    perror(root);
    return 1;
  }
  if (sodium_init() < 0) return 1;
  uint8_t stream[8192];
  frames();
  peer_hellos();
  crypt_records();
  size_t n = coord_messages(stream, sizeof stream);
  coord_reader(stream, n);
  cards();
  auth();
  config();
  hosts();
  envs();
  return 0;
}
