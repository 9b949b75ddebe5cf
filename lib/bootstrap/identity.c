/* A process's signing identity; the design and the transcript are in identity.h. Every primitive
 * is libsodium's: crypto_sign_keypair, crypto_sign_detached, crypto_sign_verify_detached. */
#include <sodium.h>
#include <string.h>

#include "bootstrap/identity.h"

_Static_assert(WEFT__IDENTITY_PK_LEN == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key");
_Static_assert(WEFT__IDENTITY_SK_LEN == crypto_sign_SECRETKEYBYTES, "Ed25519 secret key");
_Static_assert(WEFT__IDENTITY_SIG_LEN == crypto_sign_BYTES, "Ed25519 signature");

#define LABEL_MAX 32
#define TRANSCRIPT_MAX (LABEL_MAX + 1 + 2 * WEFT__AUTH_NONCE_LEN + WEFT__IDENTITY_BODY_MAX)

bool weft__identity_new(weft__identity_t *id) {
  if (sodium_init() < 0) return false; /* idempotent and thread-safe */
  return crypto_sign_keypair(id->pk, id->sk) == 0;
}

void weft__identity_wipe(weft__identity_t *id) {
  if (id) sodium_memzero(id->sk, sizeof id->sk);
}

/* The transcript's bytes into out (TRANSCRIPT_MAX); 0 if an input is out of bounds. */
static size_t transcript(uint8_t *out, const char *label, uint8_t role, const uint8_t *nonce_s,
                         const uint8_t *nonce_c, const uint8_t *body, size_t body_len) {
  size_t llen = strlen(label), n = 0;
  if (llen > LABEL_MAX || body_len > WEFT__IDENTITY_BODY_MAX) return 0;
  memcpy(out, label, llen);
  n += llen;
  out[n++] = role;
  memcpy(out + n, nonce_s, WEFT__AUTH_NONCE_LEN);
  n += WEFT__AUTH_NONCE_LEN;
  memcpy(out + n, nonce_c, WEFT__AUTH_NONCE_LEN);
  n += WEFT__AUTH_NONCE_LEN;
  memcpy(out + n, body, body_len);
  return n + body_len;
}

bool weft__identity_sign(const weft__identity_t *id, const char *label, uint8_t role,
                         const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                         const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], const uint8_t *body,
                         size_t body_len, uint8_t sig[WEFT__IDENTITY_SIG_LEN]) {
  uint8_t t[TRANSCRIPT_MAX];
  size_t n = transcript(t, label, role, nonce_s, nonce_c, body, body_len);
  if (n == 0) return false;
  return crypto_sign_detached(sig, NULL, t, n, id->sk) == 0;
}

bool weft__identity_verify(const uint8_t pk[WEFT__IDENTITY_PK_LEN], const char *label, uint8_t role,
                           const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                           const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], const uint8_t *body,
                           size_t body_len, const uint8_t sig[WEFT__IDENTITY_SIG_LEN]) {
  uint8_t t[TRANSCRIPT_MAX];
  size_t n = transcript(t, label, role, nonce_s, nonce_c, body, body_len);
  if (n == 0 || sodium_init() < 0) return false;
  return crypto_sign_verify_detached(sig, t, n, pk) == 0;
}
