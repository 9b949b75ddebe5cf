/* The record layer of WEFT_ENCRYPT=1 (transports/tcp/crypt.c): keys agreed by two ends match,
 * records round-trip at every size and however the stream is cut, and a record that was
 * changed, replayed, reordered, cut or sealed with another key is refused before any of its
 * bytes is handed out. Then a real non-blocking socket pair with a small send buffer: megabytes
 * stream through in records with partial writes and reads on both sides. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "transports/tcp/crypt.h"

/* Two ends' keys, as the mesh agrees them: a's tx is b's rx and the reverse. */
static void key_pair(weft__crypt_keys_t *a, weft__crypt_keys_t *b) {
  weft__crypt_kx_t da, ab;
  weft__crypt_kx_new(&da);
  weft__crypt_kx_new(&ab);
  uint8_t dpk[WEFT__CRYPT_PK_LEN], apk[WEFT__CRYPT_PK_LEN];
  memcpy(dpk, da.pk, sizeof dpk);
  memcpy(apk, ab.pk, sizeof apk);
  assert_true(weft__crypt_kx_keys(&da, true, apk, a));
  assert_true(weft__crypt_kx_keys(&ab, false, dpk, b));
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 131u + seed * 7u) ^ (i >> 9));
}

static void test_kx(void **state) {
  (void)state;
  weft__crypt_keys_t a, b;
  key_pair(&a, &b);
  assert_memory_equal(a.tx, b.rx, WEFT__CRYPT_KEY_LEN);
  assert_memory_equal(a.rx, b.tx, WEFT__CRYPT_KEY_LEN);
  assert_memory_not_equal(a.tx, a.rx, WEFT__CRYPT_KEY_LEN);
  /* A degenerate (low-order) peer key gives no keys, and the secret is wiped either way. */
  weft__crypt_kx_t kx;
  weft__crypt_kx_new(&kx);
  uint8_t zero[WEFT__CRYPT_PK_LEN] = {0};
  assert_false(weft__crypt_kx_keys(&kx, true, zero, &a));
  for (size_t i = 0; i < sizeof kx.sk; i++) assert_int_equal(kx.sk[i], 0);
}

/* Seals n records of the given sizes into one stream; returns its length. */
static size_t seal_stream(const uint8_t *key, const size_t *sizes, int n, const uint8_t *pt, uint8_t *out) {
  size_t off = 0, at = 0;
  for (int i = 0; i < n; i++) {
    at += weft__crypt_seal(key, (uint64_t)i, pt + off, sizes[i], out + at);
    off += sizes[i];
  }
  return at;
}

/* Feeds the stream in pieces of `step` bytes and takes plaintext in pieces of `take` bytes. */
static void roundtrip(size_t step, size_t take) {
  static const size_t sizes[] = {1, 7, 100, WEFT__CRYPT_RECORD_MAX, 4096, WEFT__CRYPT_RECORD_MAX - 1, 3};
  enum { N = sizeof sizes / sizeof sizes[0] };
  size_t total = 0;
  for (int i = 0; i < N; i++) total += sizes[i];
  uint8_t *pt = malloc(total), *got = malloc(total), *wire = malloc(total + N * 20);
  fill(pt, total, (uint32_t)step);
  weft__crypt_keys_t a, b;
  key_pair(&a, &b);
  size_t wire_len = seal_stream(a.tx, sizes, N, pt, wire);
  assert_int_equal(wire_len, total + N * (WEFT__CRYPT_LEN_LEN + WEFT__CRYPT_TAG_LEN));
  weft__crypt_t *rx = weft__crypt_new(&b);
  assert_non_null(rx);
  size_t fed = 0, have = 0;
  while (have < total) {
    ssize_t n = weft__crypt_take(rx, got + have, WEFT__MIN(take, total - have));
    if (n > 0) {
      have += (size_t)n;
      continue;
    }
    assert_int_equal(n, -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(fed < wire_len);
    size_t k = weft__crypt_feed(rx, wire + fed, WEFT__MIN(step, wire_len - fed));
    assert_true(k > 0);
    fed += k;
  }
  assert_int_equal(fed, wire_len);
  assert_memory_equal(got, pt, total);
  assert_false(weft__crypt_recv_buffered(rx));
  weft__crypt_free(rx);
  free(pt);
  free(got);
  free(wire);
}

static void test_roundtrip(void **state) {
  (void)state;
  roundtrip(1, 1 << 20);
  roundtrip(3, 5);
  roundtrip(4096, 17);
  roundtrip(1 << 20, 1 << 20);
  roundtrip(WEFT__CRYPT_WIRE_MAX, 32);
}

/* Feeds a whole stream and takes everything: the bytes delivered, or -1 and errno at the first
 * refused record. Nothing of a refused record is ever delivered. */
static ssize_t open_all(const weft__crypt_keys_t *keys, const uint8_t *wire, size_t len, uint8_t *out, size_t cap,
                        int *err) {
  weft__crypt_t *rx = weft__crypt_new(keys);
  size_t fed = 0, have = 0;
  *err = 0;
  for (;;) {
    ssize_t n = weft__crypt_take(rx, out + have, cap - have);
    if (n > 0) {
      have += (size_t)n;
      continue;
    }
    if (errno != EAGAIN) {
      *err = errno;
      break;
    }
    if (fed == len) break;
    fed += weft__crypt_feed(rx, wire + fed, len - fed);
  }
  weft__crypt_free(rx);
  return (ssize_t)have;
}

static void test_tamper(void **state) {
  (void)state;
  weft__crypt_keys_t a, b;
  key_pair(&a, &b);
  static const size_t sizes[] = {40, 40};
  uint8_t pt[80], wire[200], t[200], out[80];
  fill(pt, sizeof pt, 1);
  size_t len = seal_stream(a.tx, sizes, 2, pt, wire);
  size_t rec = len / 2;
  int err;
  assert_int_equal(open_all(&b, wire, len, out, sizeof out, &err), 80);
  assert_int_equal(err, 0);
  /* Any bit of the second record flipped: the first is delivered, nothing of the second. */
  for (size_t i = 0; i < rec; i++) {
    memcpy(t, wire, len);
    t[rec + i] ^= (uint8_t)(1u << (i % 8));
    assert_int_equal(open_all(&b, t, len, out, sizeof out, &err), 40);
    assert_true(err == EBADMSG || (i < WEFT__CRYPT_LEN_LEN && (err == EPROTO || err == 0)));
    if (err == 0) assert_true(i < WEFT__CRYPT_LEN_LEN); /* a longer length: still waiting for bytes */
  }
  /* Replayed: record 0 again in place of record 1. */
  memcpy(t, wire, rec);
  memcpy(t + rec, wire, rec);
  assert_int_equal(open_all(&b, t, len, out, sizeof out, &err), 40);
  assert_int_equal(err, EBADMSG);
  /* Reordered: record 1 first. */
  memcpy(t, wire + rec, rec);
  memcpy(t + rec, wire, rec);
  assert_int_equal(open_all(&b, t, len, out, sizeof out, &err), 0);
  assert_int_equal(err, EBADMSG);
  /* The other direction's key (a reflected record), and another connection's key. */
  assert_int_equal(open_all(&a, wire, len, out, sizeof out, &err), 0);
  assert_int_equal(err, EBADMSG);
  weft__crypt_keys_t c, d;
  key_pair(&c, &d);
  assert_int_equal(open_all(&d, wire, len, out, sizeof out, &err), 0);
  assert_int_equal(err, EBADMSG);
  /* Lengths out of bounds: empty, tag only, over a record. */
  const uint32_t bad[] = {0, WEFT__CRYPT_TAG_LEN, WEFT__CRYPT_RECORD_MAX + WEFT__CRYPT_TAG_LEN + 1, 0xffffffffu};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(t, 0, sizeof t);
    t[0] = (uint8_t)bad[i], t[1] = (uint8_t)(bad[i] >> 8), t[2] = (uint8_t)(bad[i] >> 16), t[3] = (uint8_t)(bad[i] >> 24);
    assert_int_equal(open_all(&b, t, sizeof t, out, sizeof out, &err), 0);
    assert_int_equal(err, EPROTO);
  }
  /* A refusal sticks: later bytes cannot resynchronise the stream. */
  weft__crypt_t *rx = weft__crypt_new(&b);
  memcpy(t, wire, len);
  t[10] ^= 1;
  weft__crypt_feed(rx, t, len);
  assert_int_equal(weft__crypt_take(rx, out, sizeof out), -1);
  assert_int_equal(errno, EBADMSG);
  weft__crypt_feed(rx, wire, len);
  assert_int_equal(weft__crypt_take(rx, out, sizeof out), -1);
  assert_int_equal(errno, EBADMSG);
  weft__crypt_free(rx);
  /* The ciphertext does not show the plaintext. */
  assert_null(memmem(wire, len, pt, 16));
}

/* ---- over a socket pair ------------------------------------------------------------------- */

static void test_socketpair_stream(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int small = 8192;
  for (int i = 0; i < 2; i++) {
    fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK);
    setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  weft__crypt_keys_t a, b;
  key_pair(&a, &b);
  weft__crypt_t *tx = weft__crypt_new(&a), *rx = weft__crypt_new(&b);
  const size_t total = 3u << 20;
  uint8_t *src = malloc(total), *dst = malloc(total);
  fill(src, total, 9);
  size_t sent = 0, got = 0;
  int partial_sends = 0, spins = 0;
  while (got < total && spins++ < 10000000) {
    if (sent < total) {
      /* A frame-like pair of pieces: a 32-byte "header" then up to 100 KiB of "payload". */
      size_t h = WEFT__MIN((size_t)32, total - sent);
      size_t p = WEFT__MIN((size_t)100000, total - sent - h);
      struct iovec iov[2] = {{.iov_base = src + sent, .iov_len = h}, {.iov_base = src + sent + h, .iov_len = p}};
      ssize_t n = weft__crypt_send(tx, sv[0], iov, 2);
      if (n > 0) {
        assert_true((size_t)n <= WEFT__CRYPT_RECORD_MAX);
        sent += (size_t)n;
        partial_sends += weft__crypt_send_pending(tx);
      } else {
        assert_int_equal(errno, EAGAIN);
      }
    } else {
      assert_true(weft__crypt_flush(tx, sv[0]) >= 0);
    }
    bool drained = false;
    ssize_t n = weft__crypt_recv(rx, sv[1], dst + got, WEFT__MIN((size_t)7000, total - got), &drained);
    if (n > 0) got += (size_t)n;
    else assert_true(n == -1 && errno == EAGAIN);
  }
  assert_int_equal(got, total);
  assert_memory_equal(dst, src, total);
  assert_true(partial_sends > 0); /* the small buffers did force partial writes */
  /* End of stream: the peer's close reads as 0. */
  close(sv[0]);
  bool drained = false;
  assert_int_equal(weft__crypt_recv(rx, sv[1], dst, 16, &drained), 0);
  close(sv[1]);
  weft__crypt_free(tx);
  weft__crypt_free(rx);
  free(src);
  free(dst);
}

int main(void) {
  assert_true(sodium_init() >= 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kx),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_tamper),
      cmocka_unit_test(test_socketpair_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
