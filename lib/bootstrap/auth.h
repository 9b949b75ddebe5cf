/* Connection authentication (lib/bootstrap/auth.c): mutual HMAC challenge-response with the job
 * secret, built on libsodium (crypto_auth_hmacsha256, randombytes_buf, sodium_memcmp). The
 * token never crosses the wire; a fresh nonce from each side defeats replay.
 *
 * Wire (after TCP connect, before anything else):
 *   server -> client  WEFT__AUTH_MAGIC u32 LE, version u8, role u8, 2 zero bytes, nonce_s[32]
 *   client -> server  nonce_c[32], mac_c[32] = HMAC(key, "weft/1 client" role nonce_s nonce_c)
 *   server -> client  mac_s[32] = HMAC(key, "weft/1 server" role nonce_c nonce_s)  if mac_c
 *                     verified; otherwise the 32-byte REJECT verdict, then the server closes
 * The explicit verdict lets a client tell "wrong job token" (UNAUTHORIZED) from a server that
 * went away mid-handshake (PEER_LOST: it crashed, or gave up forming the epoch). It tells a
 * stranger nothing the closed connection would not.
 * `role` separates coordinator connections (WEFT__AUTH_ROLE_COORD) from rank-to-rank ones
 * (WEFT__AUTH_ROLE_PEER) so a MAC for one is useless for the other. */
#ifndef WEFT_BOOTSTRAP_AUTH_H
#define WEFT_BOOTSTRAP_AUTH_H

#include "core/common.h"

#define WEFT__AUTH_MAGIC 0x55414657u /* "WFAU" */
#define WEFT__AUTH_VERSION 1
#define WEFT__AUTH_NONCE_LEN 32
#define WEFT__AUTH_MAC_LEN 32
#define WEFT__AUTH_CHALLENGE_LEN (8 + WEFT__AUTH_NONCE_LEN)       /* server's first message */
#define WEFT__AUTH_RESPONSE_LEN (WEFT__AUTH_NONCE_LEN + WEFT__AUTH_MAC_LEN)
#define WEFT__AUTH_ROLE_COORD 1
#define WEFT__AUTH_ROLE_PEER 2

typedef struct {
  uint8_t bytes[32];
} weft__auth_key_t;

/* Returns false if libsodium cannot initialise. */
bool weft__auth_key_from_token(const char *token, weft__auth_key_t *key);
void weft__auth_random(void *buf, size_t len);
uint64_t weft__auth_random_u64(void);

/* Pure pieces, for the coordinator's non-blocking state machine and the fuzz target. */
void weft__auth_make_challenge(uint8_t role, uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                               uint8_t out[WEFT__AUTH_CHALLENGE_LEN]);
/* Parses a challenge; false if magic/version/role are wrong. */
bool weft__auth_parse_challenge(const uint8_t *in, size_t len, uint8_t expected_role,
                                uint8_t nonce_s[WEFT__AUTH_NONCE_LEN]);
void weft__auth_make_response(const weft__auth_key_t *key, uint8_t role,
                              const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                              uint8_t out[WEFT__AUTH_RESPONSE_LEN]);
bool weft__auth_check_response(const weft__auth_key_t *key, uint8_t role,
                               const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], const uint8_t *in,
                               size_t len, uint8_t server_mac_out[WEFT__AUTH_MAC_LEN]);
bool weft__auth_check_server_mac(const weft__auth_key_t *key, uint8_t role,
                                 const uint8_t response[WEFT__AUTH_RESPONSE_LEN],
                                 const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], const uint8_t *mac,
                                 size_t len);

/* The REJECT verdict: "weft/1 reject" and zeros (a real MAC equals it with probability 2^-256).
 * Servers send it best-effort (a fresh socket's buffer always takes 32 bytes) before closing. */
void weft__auth_make_reject(uint8_t out[WEFT__AUTH_MAC_LEN]);
bool weft__auth_is_reject(const uint8_t *mac, size_t len);
/* Sends REJECT without blocking and ignores failure: the close that follows says the rest. */
void weft__auth_send_reject(int fd);

/* The two nonces of one handshake: what a session key is derived from (below). */
typedef struct {
  uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], nonce_c[WEFT__AUTH_NONCE_LEN];
} weft__auth_nonces_t;

/* Blocking handshakes over a connected fd, bounded by deadline. WEFT_ERR_UNAUTHORIZED when the
 * other side does not prove the secret; err says why. nonces (may be NULL) receives the
 * handshake's nonces on success. */
weft_result_t weft__auth_client(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                char *err, size_t errlen);
weft_result_t weft__auth_server(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                char *err, size_t errlen);
weft_result_t weft__auth_client_nonces(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                       weft__auth_nonces_t *nonces, char *err, size_t errlen);
weft_result_t weft__auth_server_nonces(int fd, const weft__auth_key_t *key, uint8_t role, double deadline,
                                       weft__auth_nonces_t *nonces, char *err, size_t errlen);

/* Per-connection session keys, one per direction, for authenticating the messages that follow
 * a handshake (the coordinator protocol's framing, coord_proto.h):
 *   c2s = HMAC-SHA256(key, "weft/1 c2s" || role || nonce_s || nonce_c)
 *   s2c = HMAC-SHA256(key, "weft/1 s2c" || role || nonce_s || nonce_c)
 * Fresh for every connection (both nonces), distinct per direction (a message cannot be
 * reflected back to its sender), and known only to holders of the job token. */
void weft__auth_session_keys(const weft__auth_key_t *key, uint8_t role, const weft__auth_nonces_t *n,
                             uint8_t c2s[WEFT__AUTH_MAC_LEN], uint8_t s2c[WEFT__AUTH_MAC_LEN]);

#endif
