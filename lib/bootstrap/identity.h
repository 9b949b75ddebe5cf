/* A process's identity (lib/bootstrap/identity.c): an Ed25519 key pair (libsodium crypto_sign),
 * made fresh by every process at weft_comm_init. The public half travels in the member's card
 * (lib/core/card.h, section IDENTITY) through the membership service to every peer; the secret
 * half never leaves the process.
 *
 * Why a key pair and not the job token: the token is shared by every process of the job, so a MAC
 * keyed with it proves only "someone of this job". A token holder could then claim any rank's
 * member id in the mesh handshake (transports/tcp/mesh.h) and take that rank's place. A signature
 * by the key the coordinator listed for that member can only come from that member.
 *
 * What is signed: a transcript, never a bare message, so a signature is valid for one connection
 * and one purpose only:
 *   label (ASCII, no NUL) || role u8 || nonce_s[32] || nonce_c[32] || body
 * nonce_s and nonce_c are the auth handshake's (auth.h), whose MACs bind them to the job token;
 * the labels keep a hello signature from being replayed as an acknowledgement. */
#ifndef WEFT_BOOTSTRAP_IDENTITY_H
#define WEFT_BOOTSTRAP_IDENTITY_H

#include "bootstrap/auth.h"

#define WEFT__IDENTITY_PK_LEN 32
#define WEFT__IDENTITY_SK_LEN 64
#define WEFT__IDENTITY_SIG_LEN 64
#define WEFT__IDENTITY_BODY_MAX 256 /* longest body a transcript may carry */

typedef struct {
  uint8_t pk[WEFT__IDENTITY_PK_LEN];
  uint8_t sk[WEFT__IDENTITY_SK_LEN];
} weft__identity_t;

/* A fresh key pair; false if libsodium cannot initialise. */
bool weft__identity_new(weft__identity_t *id);
void weft__identity_wipe(weft__identity_t *id); /* zeroes the secret half; NULL ok */

/* Signs / verifies the transcript above; body_len <= WEFT__IDENTITY_BODY_MAX (false otherwise). */
bool weft__identity_sign(const weft__identity_t *id, const char *label, uint8_t role,
                         const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                         const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], const uint8_t *body,
                         size_t body_len, uint8_t sig[WEFT__IDENTITY_SIG_LEN]);
bool weft__identity_verify(const uint8_t pk[WEFT__IDENTITY_PK_LEN], const char *label, uint8_t role,
                           const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                           const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], const uint8_t *body,
                           size_t body_len, const uint8_t sig[WEFT__IDENTITY_SIG_LEN]);

#endif
