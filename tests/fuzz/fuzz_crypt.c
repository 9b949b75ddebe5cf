/* Fuzz target: the record layer of WEFT_ENCRYPT=1 (transports/tcp/crypt.c), which parses record
 * lengths from, and authenticates, bytes an attacker on the network may have written.
 *
 * Input: a selector byte, then stream bytes. Selector bit 0 clear: the bytes are the stream as it
 * arrives (fed in pieces of 1 + (sel >> 1) bytes), with fuzz_crypt_key's keys: the seeds are valid
 * sealed streams, so mutations exercise lengths, tags and counters. Properties: only EAGAIN,
 * EBADMSG or EPROTO ever come back; never more plaintext than stream; after a refusal nothing is
 * delivered again, whatever follows. Bit 0 set: the bytes are plaintext, sealed in records of
 * 1 + (sel >> 1) * 517 bytes (at most a record) and fed back in pieces: exactly the plaintext
 * comes out. */
#include <errno.h>

#include "transports/tcp/crypt.h"
#include "fuzz_common.h"

static void keys_of(weft__crypt_keys_t *k) {
  fuzz_crypt_key(k->rx);
  fuzz_crypt_key(k->tx);
}

/* Feeds len bytes in pieces of step, taking everything; returns the plaintext delivered. */
static size_t drain(weft__crypt_t *cr, const uint8_t *in, size_t len, size_t step, uint8_t *out, size_t cap,
                    int *err) {
  size_t fed = 0, got = 0;
  *err = 0;
  for (;;) {
    ssize_t n = weft__crypt_take(cr, out + got, cap - got);
    if (n > 0) {
      got += (size_t)n;
      FUZZ_CHECK(*err == 0);
      continue;
    }
    FUZZ_CHECK(n == -1 && (errno == EAGAIN || errno == EBADMSG || errno == EPROTO));
    if (errno != EAGAIN) *err = errno;
    if (fed == len) return got;
    size_t k = weft__crypt_feed(cr, in + fed, WEFT__MIN(step, len - fed));
    FUZZ_CHECK(k > 0 || *err != 0); /* the buffer only fills up behind a refused record */
    if (k == 0) return got;
    fed += k;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  uint8_t sel = data[0];
  uint8_t *in = fuzz_dup(data + 1, size - 1);
  size_t n = size - 1;
  weft__crypt_keys_t keys;
  keys_of(&keys);
  weft__crypt_t *cr = weft__crypt_new(&keys);
  FUZZ_CHECK(cr != NULL);
  uint8_t *out = malloc(n + 1);
  int err;
  if (!(sel & 1)) {
    size_t got = drain(cr, in, n, 1 + (size_t)(sel >> 1), out, n + 1, &err);
    FUZZ_CHECK(got <= n);
  } else if (n > 0) {
    size_t rec = WEFT__MIN(1 + (size_t)(sel >> 1) * 517, (size_t)WEFT__CRYPT_RECORD_MAX);
    size_t nrec = (n + rec - 1) / rec;
    uint8_t *wire = malloc(n + nrec * (WEFT__CRYPT_LEN_LEN + WEFT__CRYPT_TAG_LEN));
    size_t at = 0;
    for (size_t i = 0; i < nrec; i++)
      at += weft__crypt_seal(keys.tx, i, in + i * rec, WEFT__MIN(rec, n - i * rec), wire + at);
    size_t got = drain(cr, wire, at, 1 + (size_t)(sel >> 2), out, n + 1, &err);
    FUZZ_CHECK(err == 0 && got == n && memcmp(out, in, n) == 0);
    free(wire);
  }
  weft__crypt_free(cr);
  free(out);
  free(in);
  return 0;
}
