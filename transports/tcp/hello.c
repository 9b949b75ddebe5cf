/* PEER_HELLO and PEER_ACK (transports/tcp/hello.c): the layouts and what the signatures cover
 * are in mesh.h. Pure functions: the mesh's state machine, the unit tests and the fuzz target
 * use them alike. Explicit little-endian packing (core/le.h), never a struct memcpy. */
#include <string.h>

#include "core/le.h"
#include "transports/tcp/mesh.h"

#define PEER_HELLO_VERSION 4
/* Distinct labels: a hello's signature is never a valid ACK signature, nor the reverse. */
#define HELLO_LABEL "weft/4 hello"
#define ACK_LABEL "weft/4 ack"

_Static_assert(WEFT__PEER_HELLO_LEN == 160 && WEFT__PEER_ACK_LEN == 112, "mesh.h's wire sizes");
_Static_assert(WEFT__CRYPT_PK_LEN == 32, "the kx key fields of PEER_HELLO and PEER_ACK");

/* A kx key is present exactly when the encrypt flag is set: all zeros otherwise. */
static bool kx_field_ok(uint32_t flags, const uint8_t *pk) {
  uint8_t any = 0;
  for (int i = 0; i < WEFT__CRYPT_PK_LEN; i++) any |= pk[i];
  return (flags & WEFT__PEER_FLAG_ENCRYPT) ? any != 0 : any == 0;
}

void weft__peer_hello_encode(uint8_t out[WEFT__PEER_HELLO_BODY_LEN], const weft__peer_hello_t *h) {
  weft__put32(out, WEFT__PEER_HELLO_MAGIC);
  out[4] = PEER_HELLO_VERSION;
  out[5] = h->flags;
  out[6] = out[7] = 0;
  weft__put64(out + 8, h->epoch);
  weft__put64(out + 16, h->member_id);
  weft__put32(out + 24, h->rank);
  weft__put32(out + 28, h->sock_index);
  weft__put32(out + 32, h->size);
  weft__put32(out + 36, 0);
  weft__put64(out + 40, h->comm_id);
  weft__put64(out + 48, h->to_member_id);
  weft__put32(out + 56, h->to_rank);
  weft__put32(out + 60, 0);
  memcpy(out + 64, h->kx_pk, WEFT__CRYPT_PK_LEN);
}

bool weft__peer_hello_decode(const uint8_t *in, size_t len, weft__peer_hello_t *h) {
  if (in == NULL || len != WEFT__PEER_HELLO_BODY_LEN) return false;
  if (weft__get32(in) != WEFT__PEER_HELLO_MAGIC || in[4] != PEER_HELLO_VERSION) return false;
  if ((in[5] & ~WEFT__PEER_FLAG_ENCRYPT) != 0 || in[6] != 0 || in[7] != 0 || weft__get32(in + 36) != 0 || weft__get32(in + 60) != 0) return false;
  h->epoch = weft__get64(in + 8);
  h->member_id = weft__get64(in + 16);
  h->rank = weft__get32(in + 24);
  h->sock_index = weft__get32(in + 28);
  h->size = weft__get32(in + 32);
  h->comm_id = weft__get64(in + 40);
  h->to_member_id = weft__get64(in + 48);
  h->to_rank = weft__get32(in + 56);
  h->flags = in[5];
  memcpy(h->kx_pk, in + 64, WEFT__CRYPT_PK_LEN);
  return kx_field_ok(h->flags, h->kx_pk);
}

bool weft__peer_hello_sign(const weft__identity_t *self, const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                           const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], uint8_t msg[WEFT__PEER_HELLO_LEN]) {
  return weft__identity_sign(self, HELLO_LABEL, WEFT__AUTH_ROLE_PEER, nonce_s, nonce_c, msg,
                             WEFT__PEER_HELLO_BODY_LEN, msg + WEFT__PEER_HELLO_BODY_LEN);
}

bool weft__peer_hello_verify(const uint8_t pk[WEFT__IDENTITY_PK_LEN], const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                             const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], const uint8_t msg[WEFT__PEER_HELLO_LEN]) {
  return weft__identity_verify(pk, HELLO_LABEL, WEFT__AUTH_ROLE_PEER, nonce_s, nonce_c, msg,
                               WEFT__PEER_HELLO_BODY_LEN, msg + WEFT__PEER_HELLO_BODY_LEN);
}

/* The ACK's transcript body: the hello's body, then the ACK's own body. */
static void ack_body(const uint8_t hello_body[WEFT__PEER_HELLO_BODY_LEN], const uint8_t ack[WEFT__PEER_ACK_LEN],
                     uint8_t out[WEFT__PEER_HELLO_BODY_LEN + WEFT__PEER_ACK_BODY_LEN]) {
  memcpy(out, hello_body, WEFT__PEER_HELLO_BODY_LEN);
  memcpy(out + WEFT__PEER_HELLO_BODY_LEN, ack, WEFT__PEER_ACK_BODY_LEN);
}

void weft__peer_ack_make(const weft__identity_t *self, const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                         const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN],
                         const uint8_t hello_body[WEFT__PEER_HELLO_BODY_LEN], uint32_t status, uint32_t flags,
                         const uint8_t kx_pk[WEFT__CRYPT_PK_LEN], uint8_t out[WEFT__PEER_ACK_LEN]) {
  uint8_t body[WEFT__PEER_HELLO_BODY_LEN + WEFT__PEER_ACK_BODY_LEN];
  weft__put32(out, WEFT__PEER_ACK_MAGIC);
  weft__put32(out + 4, status);
  weft__put32(out + 8, flags);
  weft__put32(out + 12, 0);
  if (kx_pk) memcpy(out + 16, kx_pk, WEFT__CRYPT_PK_LEN);
  else memset(out + 16, 0, WEFT__CRYPT_PK_LEN);
  memset(out + WEFT__PEER_ACK_BODY_LEN, 0, WEFT__IDENTITY_SIG_LEN);
  if (status != WEFT_SUCCESS || self == NULL) return;
  ack_body(hello_body, out, body);
  weft__identity_sign(self, ACK_LABEL, WEFT__AUTH_ROLE_PEER, nonce_s, nonce_c, body, sizeof body,
                      out + WEFT__PEER_ACK_BODY_LEN);
}

bool weft__peer_ack_verify(const uint8_t pk[WEFT__IDENTITY_PK_LEN], const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                           const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN],
                           const uint8_t hello_body[WEFT__PEER_HELLO_BODY_LEN], const uint8_t ack[WEFT__PEER_ACK_LEN]) {
  uint8_t body[WEFT__PEER_HELLO_BODY_LEN + WEFT__PEER_ACK_BODY_LEN];
  ack_body(hello_body, ack, body);
  return weft__identity_verify(pk, ACK_LABEL, WEFT__AUTH_ROLE_PEER, nonce_s, nonce_c, body, sizeof body,
                               ack + WEFT__PEER_ACK_BODY_LEN);
}

bool weft__peer_ack_decode(const uint8_t ack[WEFT__PEER_ACK_LEN], uint32_t *status, uint32_t *flags,
                           uint8_t kx_pk[WEFT__CRYPT_PK_LEN]) {
  *status = weft__get32(ack + 4);
  *flags = weft__get32(ack + 8);
  memcpy(kx_pk, ack + 16, WEFT__CRYPT_PK_LEN);
  if (weft__get32(ack) != WEFT__PEER_ACK_MAGIC || *status >= WEFT_NUM_RESULTS) return false;
  if ((*flags & ~(uint32_t)WEFT__PEER_FLAG_ENCRYPT) != 0 || weft__get32(ack + 12) != 0) return false;
  /* A refusal carries the acceptor's flags (to name a WEFT_ENCRYPT mismatch) but no key. */
  return kx_field_ok(*status == WEFT_SUCCESS ? *flags : 0, kx_pk);
}
