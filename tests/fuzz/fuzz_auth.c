/* Fuzz target: the connection handshake's checks (lib/bootstrap/auth.c):
 * weft__auth_parse_challenge, weft__auth_check_response, weft__auth_check_server_mac, on bytes
 * an unauthenticated peer controls.
 *
 * Input: byte 0 picks the expected role and the key (a fixed token, or the input's tail as the
 * token); the rest is cut into a challenge, a response and a server MAC (each of any length, so
 * wrong lengths are exercised) and, separately, used as nonces.
 * Properties: a challenge is accepted only with the documented magic, version, role and zero
 * reserved bytes and exactly 40 bytes, and then yields its nonce; a response or server MAC built
 * as auth.h documents it (HMAC-SHA256 over label, role and nonces, computed here independently
 * with libsodium) is accepted, and the same with any one bit flipped is refused; the server MAC
 * that check_response returns is the documented one. */
#include <sodium.h>

#include "bootstrap/auth.h"
#include "fuzz_common.h"

#define N WEFT__AUTH_NONCE_LEN

static void hmac(const weft__auth_key_t *key, const char *label, uint8_t role, const uint8_t *a,
                 const uint8_t *b, uint8_t out[WEFT__AUTH_MAC_LEN]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key->bytes, sizeof key->bytes);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, 13);
  crypto_auth_hmacsha256_update(&st, &role, 1);
  crypto_auth_hmacsha256_update(&st, a, N);
  crypto_auth_hmacsha256_update(&st, b, N);
  crypto_auth_hmacsha256_final(&st, out);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Splits the front of the input: a length byte, then up to that many bytes. */
static const uint8_t *take_field(const uint8_t **p, size_t *n, size_t *len) {
  size_t want = fuzz_take_u8(p, n);
  *len = WEFT__MIN(want, *n);
  const uint8_t *f = *p;
  *p += *len;
  *n -= *len;
  return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (sodium_init() < 0) abort();
  uint8_t sel = fuzz_take_u8(&data, &size);
  uint8_t role = (sel & 1) ? WEFT__AUTH_ROLE_PEER : WEFT__AUTH_ROLE_COORD;
  if (sel & 2) role = (uint8_t)(sel >> 2); /* any role byte, known or not */
  weft__auth_key_t key;
  char *token = (sel & 0x80) ? fuzz_strdup(data, size) : fuzz_strdup((const uint8_t *)"fuzz", 4);
  FUZZ_CHECK(weft__auth_key_from_token(token, &key));
  uint8_t expect_key[32];
  crypto_generichash(expect_key, sizeof expect_key, (const unsigned char *)token, strlen(token),
                     NULL, 0);
  FUZZ_CHECK(memcmp(expect_key, key.bytes, sizeof expect_key) == 0);
  free(token);

  /* Fixed-position nonces from the whole input (zero-padded), for the constructive checks. */
  uint8_t nonce_s[N] = {0}, nonce_c[N] = {0};
  memcpy(nonce_s, data, WEFT__MIN(size, (size_t)N));
  if (size > N) memcpy(nonce_c, data + N, WEFT__MIN(size - N, (size_t)N));

  /* 1. Challenge parsing on arbitrary bytes. */
  size_t clen, rlen, mlen;
  const uint8_t *c = take_field(&data, &size, &clen);
  const uint8_t *resp = take_field(&data, &size, &rlen);
  const uint8_t *mac = take_field(&data, &size, &mlen);
  uint8_t *cbuf = fuzz_dup(c, clen), *rbuf = fuzz_dup(resp, rlen), *mbuf = fuzz_dup(mac, mlen);
  uint8_t got[N];
  if (weft__auth_parse_challenge(cbuf, clen, role, got)) {
    FUZZ_CHECK(clen == WEFT__AUTH_CHALLENGE_LEN && le32(cbuf) == WEFT__AUTH_MAGIC);
    FUZZ_CHECK(cbuf[4] == WEFT__AUTH_VERSION && cbuf[5] == role && cbuf[6] == 0 && cbuf[7] == 0);
    FUZZ_CHECK(memcmp(got, cbuf + 8, N) == 0);
  }
  FUZZ_CHECK(!weft__auth_parse_challenge(NULL, clen, role, got));

  /* 2. Response and server MAC on arbitrary bytes: a forgery is (overwhelmingly) refused, and
   * if one is accepted it must be the documented MAC. */
  uint8_t smac[WEFT__AUTH_MAC_LEN], expect[WEFT__AUTH_MAC_LEN];
  if (weft__auth_check_response(&key, role, nonce_s, rbuf, rlen, smac)) {
    FUZZ_CHECK(rlen == WEFT__AUTH_RESPONSE_LEN);
    hmac(&key, "weft/1 client", role, nonce_s, rbuf, expect);
    FUZZ_CHECK(memcmp(expect, rbuf + N, sizeof expect) == 0);
  }
  uint8_t response[WEFT__AUTH_RESPONSE_LEN];
  memcpy(response, nonce_c, N);
  hmac(&key, "weft/1 client", role, nonce_s, nonce_c, response + N);
  if (weft__auth_check_server_mac(&key, role, response, nonce_s, mbuf, mlen)) {
    FUZZ_CHECK(mlen == WEFT__AUTH_MAC_LEN);
    hmac(&key, "weft/1 server", role, nonce_c, nonce_s, expect);
    FUZZ_CHECK(memcmp(expect, mbuf, sizeof expect) == 0);
  }

  /* 3. The honest exchange over the fuzzer's nonces is accepted; one flipped bit is not. */
  uint8_t *exact = fuzz_dup(response, sizeof response);
  FUZZ_CHECK(weft__auth_check_response(&key, role, nonce_s, exact, sizeof response, smac));
  hmac(&key, "weft/1 server", role, nonce_c, nonce_s, expect);
  FUZZ_CHECK(memcmp(expect, smac, sizeof expect) == 0);
  uint8_t *smac_exact = fuzz_dup(smac, sizeof smac);
  FUZZ_CHECK(weft__auth_check_server_mac(&key, role, response, nonce_s, smac_exact, sizeof smac));
  FUZZ_CHECK(!weft__auth_check_response(&key, role, nonce_s, exact, sizeof response - 1, smac));
  size_t bit = (size_t)sel * 7 + clen + rlen + mlen;
  exact[(bit / 8) % sizeof response] ^= (uint8_t)(1u << (bit % 8));
  FUZZ_CHECK(!weft__auth_check_response(&key, role, nonce_s, exact, sizeof response, smac));
  smac_exact[(bit / 8) % sizeof smac] ^= (uint8_t)(1u << (bit % 8));
  FUZZ_CHECK(!weft__auth_check_server_mac(&key, role, response, nonce_s, smac_exact, sizeof smac));
  /* The roles are separated: the same exchange under another role is refused. */
  FUZZ_CHECK(!weft__auth_check_server_mac(&key, (uint8_t)(role ^ 1), response, nonce_s, smac,
                                          sizeof smac));
  free(smac_exact);
  free(exact);
  free(cbuf);
  free(rbuf);
  free(mbuf);
  return 0;
}
