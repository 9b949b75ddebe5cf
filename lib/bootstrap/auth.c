/* Connection authentication (lib/bootstrap/auth.c); the protocol is described in auth.h.
 *
 * key   = BLAKE2b-256(token)                       (crypto_generichash, unkeyed)
 * mac_c = HMAC-SHA256(key, "weft/1 client" || role || nonce_s || nonce_c)
 * mac_s = HMAC-SHA256(key, "weft/1 server" || role || nonce_c || nonce_s)
 * The labels are the 13 ASCII bytes shown, without a terminating NUL; role is one byte.
 *
 * Why it holds: each side's MAC covers the nonce the other side just chose, so a recorded
 * response is useless against a new challenge (replay), and the distinct labels stop a peer from
 * reflecting the server's own challenge back as a response. MACs are compared in constant time.
 * A server that cannot verify the client answers with the REJECT verdict and closes (the client
 * reports WEFT_ERR_UNAUTHORIZED); a client that cannot verify the server stops.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bootstrap/auth.h"
#include "core/sock.h"

static const char CLIENT_LABEL[] = "weft/1 client";
static const char SERVER_LABEL[] = "weft/1 server";
static const char REJECT_LABEL[] = "weft/1 reject";
static const char C2S_LABEL[] = "weft/1 c2s";
static const char S2C_LABEL[] = "weft/1 s2c";

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static bool sodium_ok;

static void sodium_setup(void) { sodium_ok = sodium_init() >= 0; }

static bool sodium_ready(void) {
  pthread_once(&sodium_once, sodium_setup);
  return sodium_ok;
}

bool weft__auth_key_from_token(const char *token, weft__auth_key_t *key) {
  if (!sodium_ready()) return false;
  if (token == NULL) token = ""; /* no token configured: every such process shares the same key */
  crypto_generichash(key->bytes, sizeof key->bytes, (const unsigned char *)token, strlen(token),
                     NULL, 0);
  return true;
}

void weft__auth_random(void *buf, size_t len) {
  /* libsodium's randombytes works without sodium_init, but init picks the best source once. */
  sodium_ready();
  randombytes_buf(buf, len);
}

uint64_t weft__auth_random_u64(void) {
  uint64_t v;
  weft__auth_random(&v, sizeof v);
  return v;
}

static void mac_compute(const weft__auth_key_t *key, const char *label, uint8_t role,
                        const uint8_t first[WEFT__AUTH_NONCE_LEN],
                        const uint8_t second[WEFT__AUTH_NONCE_LEN], uint8_t out[WEFT__AUTH_MAC_LEN]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key->bytes, sizeof key->bytes);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label));
  crypto_auth_hmacsha256_update(&st, &role, 1);
  crypto_auth_hmacsha256_update(&st, first, WEFT__AUTH_NONCE_LEN);
  crypto_auth_hmacsha256_update(&st, second, WEFT__AUTH_NONCE_LEN);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

void weft__auth_session_keys(const weft__auth_key_t *key, uint8_t role, const weft__auth_nonces_t *n,
                             uint8_t c2s[WEFT__AUTH_MAC_LEN], uint8_t s2c[WEFT__AUTH_MAC_LEN]) {
  mac_compute(key, C2S_LABEL, role, n->nonce_s, n->nonce_c, c2s);
  mac_compute(key, S2C_LABEL, role, n->nonce_s, n->nonce_c, s2c);
}

static void put_u32le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void weft__auth_make_challenge(uint8_t role, uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                               uint8_t out[WEFT__AUTH_CHALLENGE_LEN]) {
  weft__auth_random(nonce_s, WEFT__AUTH_NONCE_LEN);
  put_u32le(out, WEFT__AUTH_MAGIC);
  out[4] = WEFT__AUTH_VERSION;
  out[5] = role;
  out[6] = 0;
  out[7] = 0;
  memcpy(out + 8, nonce_s, WEFT__AUTH_NONCE_LEN);
}

/* Why a challenge is unacceptable, or NULL if it is fine. */
static const char *challenge_problem(const uint8_t *in, size_t len, uint8_t expected_role) {
  if (len != WEFT__AUTH_CHALLENGE_LEN) return "challenge has the wrong length";
  if (get_u32le(in) != WEFT__AUTH_MAGIC) return "not a weft endpoint (bad challenge magic)";
  if (in[4] != WEFT__AUTH_VERSION) return "unsupported auth protocol version";
  if (in[5] != expected_role)
    return "role mismatch (a coordinator where a peer was expected, or the reverse)";
  if (in[6] != 0 || in[7] != 0) return "challenge reserved bytes are not zero";
  return NULL;
}

bool weft__auth_parse_challenge(const uint8_t *in, size_t len, uint8_t expected_role,
                                uint8_t nonce_s[WEFT__AUTH_NONCE_LEN]) {
  if (in == NULL || challenge_problem(in, len, expected_role) != NULL) return false;
  memcpy(nonce_s, in + 8, WEFT__AUTH_NONCE_LEN);
  return true;
}

void weft__auth_make_response(const weft__auth_key_t *key, uint8_t role,
                              const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                              uint8_t out[WEFT__AUTH_RESPONSE_LEN]) {
  weft__auth_random(out, WEFT__AUTH_NONCE_LEN); /* nonce_c */
  mac_compute(key, CLIENT_LABEL, role, nonce_s, out, out + WEFT__AUTH_NONCE_LEN);
}

bool weft__auth_check_response(const weft__auth_key_t *key, uint8_t role,
                               const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], const uint8_t *in,
                               size_t len, uint8_t server_mac_out[WEFT__AUTH_MAC_LEN]) {
  uint8_t expect[WEFT__AUTH_MAC_LEN];
  if (in == NULL || len != WEFT__AUTH_RESPONSE_LEN) return false;
  const uint8_t *nonce_c = in;
  mac_compute(key, CLIENT_LABEL, role, nonce_s, nonce_c, expect);
  if (sodium_memcmp(expect, in + WEFT__AUTH_NONCE_LEN, WEFT__AUTH_MAC_LEN) != 0) return false;
  mac_compute(key, SERVER_LABEL, role, nonce_c, nonce_s, server_mac_out);
  return true;
}

bool weft__auth_check_server_mac(const weft__auth_key_t *key, uint8_t role,
                                 const uint8_t response[WEFT__AUTH_RESPONSE_LEN],
                                 const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], const uint8_t *mac,
                                 size_t len) {
  uint8_t expect[WEFT__AUTH_MAC_LEN];
  if (mac == NULL || len != WEFT__AUTH_MAC_LEN) return false;
  mac_compute(key, SERVER_LABEL, role, response, nonce_s, expect);
  return sodium_memcmp(expect, mac, WEFT__AUTH_MAC_LEN) == 0;
}

static const char *io_text(weft_result_t rc) {
  switch (rc) {
  case WEFT_ERR_TIMEOUT: return "timed out";
  case WEFT_ERR_PEER_LOST: return "connection closed";
  default: return "transport error";
  }
}

void weft__auth_make_reject(uint8_t out[WEFT__AUTH_MAC_LEN]) {
  memset(out, 0, WEFT__AUTH_MAC_LEN);
  memcpy(out, REJECT_LABEL, sizeof REJECT_LABEL - 1);
}

bool weft__auth_is_reject(const uint8_t *mac, size_t len) {
  uint8_t reject[WEFT__AUTH_MAC_LEN];
  weft__auth_make_reject(reject);
  return len == WEFT__AUTH_MAC_LEN && memcmp(mac, reject, sizeof reject) == 0;
}

void weft__auth_send_reject(int fd) {
  uint8_t reject[WEFT__AUTH_MAC_LEN];
  weft__auth_make_reject(reject);
  ssize_t n = send(fd, reject, sizeof reject, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)n;
}

weft_result_t weft__auth_client(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                char *err, size_t errlen) {
  return weft__auth_client_nonces(fd, key, role, deadline, NULL, err, errlen);
}

weft_result_t weft__auth_server(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                char *err, size_t errlen) {
  return weft__auth_server_nonces(fd, key, role, deadline, NULL, err, errlen);
}

weft_result_t weft__auth_client_nonces(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                       weft__auth_nonces_t *nonces, char *err, size_t errlen) {
  uint8_t challenge[WEFT__AUTH_CHALLENGE_LEN], nonce_s[WEFT__AUTH_NONCE_LEN];
  uint8_t response[WEFT__AUTH_RESPONSE_LEN], mac_s[WEFT__AUTH_MAC_LEN];
  const char *why;
  weft_result_t rc = weft__sock_read_all(fd, challenge, sizeof challenge, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "auth: waiting for the server's challenge: %s", io_text(rc));
    return rc;
  }
  if ((why = challenge_problem(challenge, sizeof challenge, role)) != NULL) {
    snprintf(err, errlen, "auth: %s", why);
    return WEFT_ERR_UNAUTHORIZED;
  }
  memcpy(nonce_s, challenge + 8, sizeof nonce_s);
  weft__auth_make_response(key, role, nonce_s, response);
  rc = weft__sock_write_all(fd, response, sizeof response, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "auth: sending our response: %s", io_text(rc));
    return rc;
  }
  rc = weft__sock_read_all(fd, mac_s, sizeof mac_s, deadline);
  if (rc != WEFT_SUCCESS) {
    /* Not a verdict on our token: the server went away before proving itself. */
    snprintf(err, errlen, "auth: waiting for the server's proof: %s", io_text(rc));
    return rc;
  }
  if (weft__auth_is_reject(mac_s, sizeof mac_s)) {
    snprintf(err, errlen, "auth: the server rejected our response (wrong job token)");
    return WEFT_ERR_UNAUTHORIZED;
  }
  if (!weft__auth_check_server_mac(key, role, response, nonce_s, mac_s, sizeof mac_s)) {
    snprintf(err, errlen, "auth: the server does not know the job token (bad server MAC)");
    return WEFT_ERR_UNAUTHORIZED;
  }
  if (nonces) {
    memcpy(nonces->nonce_s, nonce_s, WEFT__AUTH_NONCE_LEN);
    memcpy(nonces->nonce_c, response, WEFT__AUTH_NONCE_LEN);
  }
  return WEFT_SUCCESS;
}

weft_result_t weft__auth_server_nonces(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                       weft__auth_nonces_t *nonces, char *err, size_t errlen) {
  uint8_t challenge[WEFT__AUTH_CHALLENGE_LEN], nonce_s[WEFT__AUTH_NONCE_LEN];
  uint8_t response[WEFT__AUTH_RESPONSE_LEN], mac_s[WEFT__AUTH_MAC_LEN];
  weft__auth_make_challenge(role, nonce_s, challenge);
  weft_result_t rc = weft__sock_write_all(fd, challenge, sizeof challenge, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "auth: sending the challenge: %s", io_text(rc));
    return rc;
  }
  rc = weft__sock_read_all(fd, response, sizeof response, deadline);
  if (rc == WEFT_ERR_PEER_LOST) {
    /* A client hangs up here when our challenge is not what it expects (role, version). */
    snprintf(err, errlen, "auth: the client closed without answering the challenge "
                          "(role mismatch or not a weft client)");
    return WEFT_ERR_UNAUTHORIZED;
  }
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "auth: waiting for the client's response: %s", io_text(rc));
    return rc;
  }
  if (!weft__auth_check_response(key, role, nonce_s, response, sizeof response, mac_s)) {
    weft__auth_send_reject(fd);
    snprintf(err, errlen, "auth: the client does not know the job token (bad client MAC)");
    return WEFT_ERR_UNAUTHORIZED;
  }
  rc = weft__sock_write_all(fd, mac_s, sizeof mac_s, deadline);
  if (rc != WEFT_SUCCESS) {
    snprintf(err, errlen, "auth: sending our proof: %s", io_text(rc));
    return rc;
  }
  if (nonces) {
    memcpy(nonces->nonce_s, nonce_s, WEFT__AUTH_NONCE_LEN);
    memcpy(nonces->nonce_c, response, WEFT__AUTH_NONCE_LEN);
  }
  return WEFT_SUCCESS;
}
