/* Shared helpers for the fuzz targets (tests/fuzz/). Each target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (clang, -fsanitize=fuzzer) or with
 * standalone_main.c, which replays the seed corpus and the regression inputs (every build).
 *
 * Targets check properties, not only memory safety: a decoder that accepts an input must produce
 * a value that re-encodes and decodes to the same value, stays inside the documented bounds, and
 * writes a NUL-terminated reason of the size it was given. A broken property aborts, which both
 * libFuzzer and the standalone driver report as a failure. */
#ifndef WEFT_TESTS_FUZZ_COMMON_H
#define WEFT_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);           \
      abort();                                                                                \
    }                                                                                         \
  } while (0)

/* A heap copy of exactly len bytes (at least 1 allocated), so that AddressSanitizer reports any
 * read past what the decoder was given; libFuzzer's own buffer is exact too, the copy also covers
 * slices of it. */
static inline uint8_t *fuzz_dup(const uint8_t *p, size_t len) {
  uint8_t *q = malloc(len ? len : 1);
  if (q == NULL) abort();
  if (len) memcpy(q, p, len);
  else q[0] = 0; /* never read (the callee is told 0 bytes), but never uninitialised either */
  return q;
}

/* A NUL-terminated heap copy (strlen may be shorter than len if the input holds a NUL). */
static inline char *fuzz_strdup(const uint8_t *p, size_t len) {
  char *q = malloc(len + 1);
  if (q == NULL) abort();
  if (len) memcpy(q, p, len);
  q[len] = '\0';
  return q;
}

/* Takes one byte from the front of the input (0 when it is exhausted). */
static inline uint8_t fuzz_take_u8(const uint8_t **p, size_t *n) {
  if (*n == 0) return 0;
  uint8_t v = **p;
  (*p)++;
  (*n)--;
  return v;
}

/* A text buffer of `len` bytes (len >= 1) filled with a marker, and the check that a callee
 * wrote a NUL-terminated string inside it. */
static inline char *fuzz_textbuf(size_t len) {
  char *b = malloc(len);
  if (b == NULL) abort();
  memset(b, 'X', len);
  return b;
}
static inline bool fuzz_terminated(const char *b, size_t len) { return memchr(b, 0, len) != NULL; }

#ifdef WEFT_BOOTSTRAP_COORD_PROTO_H
/* The session fuzz_coord_reader reads with and gen_corpus.c tags its streams with: a fixed
 * token and fixed nonces, so a seed's tags verify. tx is the sending (rank) end, rx the reader. */
static inline void fuzz_reader_session(weft__coord_session_t *tx, weft__coord_session_t *rx) {
  weft__auth_key_t k;
  weft__auth_nonces_t n;
  if (!weft__auth_key_from_token("fuzz-reader", &k)) abort();
  memset(&n, 0x5a, sizeof n);
  weft__coord_session_init(tx, &k, &n, false);
  weft__coord_session_init(rx, &k, &n, true);
}
#endif

/* fuzz_crypt's fixed keys (its seeds are sealed with them by gen_corpus.c): rx == tx, so one
 * record layer opens what it sealed. */
static inline void fuzz_crypt_key(uint8_t key[32]) {
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
}

#endif
