/* Encryption of a TCP connection's byte stream (WEFT_ENCRYPT=1; transports/tcp/crypt.c).
 *
 * Keys: each connection agrees on its own pair of session keys in the mesh handshake (mesh.h):
 * the dialer's PEER_HELLO and the acceptor's PEER_ACK each carry a fresh X25519 public key
 * inside the signed transcript, and libsodium's crypto_kx turns the pair into one key per
 * direction. The ephemeral secret keys are wiped as soon as the keys are derived, so recorded
 * traffic stays secret even if an identity key or the job token leaks later (forward secrecy).
 *
 * Records: the stream (frames, exactly as without encryption) is cut into records of at most
 * WEFT__CRYPT_RECORD_MAX plaintext bytes, each sealed with XChaCha20-Poly1305 (libsodium's
 * crypto_aead_xchacha20poly1305_ietf):
 *   len u32 LE (ciphertext bytes including the 16-byte tag, 17 .. RECORD_MAX + 16)
 *   ciphertext || tag, additional data = the 4 length bytes, nonce = the record's number in
 *   this direction (u64 LE, then zeros), starting at 0.
 * The implicit counter nonce makes a replayed, dropped, reordered or spliced record fail
 * authentication (the key is unique to the connection and direction, so a nonce never repeats
 * under one key). A record is authenticated whole before any of its bytes is handed out, so a
 * tampered stream ends the connection (a peer failure), never a wrong result.
 *
 * Both directions use fixed buffers allocated when the connection is set up: the hot path
 * never allocates and a large message streams through record by record. */
#ifndef WEFT_TRANSPORTS_TCP_CRYPT_H
#define WEFT_TRANSPORTS_TCP_CRYPT_H

#include <sys/types.h>
#include <sys/uio.h>

#include "core/common.h"

#define WEFT__CRYPT_KEY_LEN 32
#define WEFT__CRYPT_PK_LEN 32
#define WEFT__CRYPT_RECORD_MAX 65536u /* plaintext bytes per record */
#define WEFT__CRYPT_TAG_LEN 16
#define WEFT__CRYPT_LEN_LEN 4
#define WEFT__CRYPT_WIRE_MAX (WEFT__CRYPT_LEN_LEN + WEFT__CRYPT_RECORD_MAX + WEFT__CRYPT_TAG_LEN)

typedef struct {
  uint8_t rx[WEFT__CRYPT_KEY_LEN], tx[WEFT__CRYPT_KEY_LEN];
} weft__crypt_keys_t;

/* An ephemeral key pair, used for one connection's handshake only. */
typedef struct {
  uint8_t pk[WEFT__CRYPT_PK_LEN], sk[32];
} weft__crypt_kx_t;

void weft__crypt_kx_new(weft__crypt_kx_t *kx);
/* The session keys of the dialer (client) or the acceptor (server) from our pair and the peer's
 * public key; false for a degenerate peer key. Wipes kx either way. */
bool weft__crypt_kx_keys(weft__crypt_kx_t *kx, bool dialer, const uint8_t peer_pk[WEFT__CRYPT_PK_LEN],
                         weft__crypt_keys_t *out);

/* Seals one record of len (1 .. RECORD_MAX) bytes into out (len + LEN_LEN + TAG_LEN bytes);
 * returns its size. The mesh uses it for the single BYE of a failed formation. */
size_t weft__crypt_seal(const uint8_t key[WEFT__CRYPT_KEY_LEN], uint64_t counter, const uint8_t *in, size_t len,
                        uint8_t *out);

/* One connection's record layer, both directions. */
typedef struct weft__crypt weft__crypt_t;
weft__crypt_t *weft__crypt_new(const weft__crypt_keys_t *keys); /* NULL: out of memory */
void weft__crypt_free(weft__crypt_t *cr);                        /* wipes the keys; NULL ok */

/* Like sendmsg: takes up to RECORD_MAX bytes from iov into one sealed record and returns how
 * many it took (they are then the record layer's: the caller's buffer may change), or -1 with
 * errno (EAGAIN: an earlier record is still being written). */
ssize_t weft__crypt_send(weft__crypt_t *cr, int fd, const struct iovec *iov, int niov);
/* Writes what is left of the sealed record: 1 all written, 0 would block, -1 failed (errno). */
int weft__crypt_flush(weft__crypt_t *cr, int fd);
bool weft__crypt_send_pending(const weft__crypt_t *cr);

/* Like recv: up to want bytes of authenticated plaintext, 0 at the end of the stream, -1 with
 * errno: EAGAIN, EBADMSG (a record failed authentication), EPROTO (a record length out of
 * bounds), or recv's. *drained: the socket was found empty. */
ssize_t weft__crypt_recv(weft__crypt_t *cr, int fd, uint8_t *dst, size_t want, bool *drained);
/* Whether authenticated plaintext, or a whole record, waits in the buffer: the engine cannot
 * report those, so the reader must not stop while this is true. */
bool weft__crypt_recv_buffered(const weft__crypt_t *cr);
/* The receive side without a socket (unit tests, fuzz target): appends up to n bytes of stream
 * and returns how many it took (0: the buffer is full until plaintext is taken). */
size_t weft__crypt_feed(weft__crypt_t *cr, const uint8_t *in, size_t n);
/* Takes buffered plaintext as weft__crypt_recv does, without reading: -1 with errno EAGAIN
 * when no whole record is buffered. */
ssize_t weft__crypt_take(weft__crypt_t *cr, uint8_t *dst, size_t want);

#endif
