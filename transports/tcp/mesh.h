/* Forming the full mesh of one communicator in one epoch (transports/tcp/mesh.c): every pair of
 * members gets `nsocks` authenticated TCP connections of its own (a communicator's lanes). Rank i dials every rank j > i and accepts from every
 * rank j < i. Each connection: TCP connect, auth handshake (role PEER, auth.h), then the dialer
 * sends PEER_HELLO and the acceptor answers PEER_ACK, each signed (bootstrap/identity.h):
 *   PEER_HELLO (160 bytes, LE): a 96-byte body, then sig[64]
 *              body: magic u32 "WFPH" 0x48504657, version u8 (4), flags u8 (bit 0: WEFT_ENCRYPT=1),
 *              2 zero bytes,
 *              epoch u64, member_id u64 (dialer), rank u32 (dialer, in the communicator),
 *              sock_index u32, size u32 (communicator size as the dialer knows it),
 *              reserved u32 (0), comm_id u64 (0: the communicator weft_comm_init made),
 *              to_member_id u64, to_rank u32 (the acceptor the dialer means), reserved u32 (0),
 *              kx_pk[32] (the dialer's ephemeral X25519 key when flags has ENCRYPT, else zeros)
 *              sig: the dialer's signature over "weft/4 hello" || role || nonce_s || nonce_c || body
 *   PEER_ACK   (112 bytes): a 48-byte body: magic u32 "WFPA" 0x41504657, status u32 (0 ok, else
 *              weft_result_t), flags u32 (the acceptor's, as in the hello; also in a refusal),
 *              reserved u32 (0), kx_pk[32] (the acceptor's ephemeral key when ENCRYPT, else zeros);
 *              sig[64]: the acceptor's signature over "weft/4 ack" || role || nonce_s || nonce_c ||
 *              the hello's body || the ACK's body; all zeros in a refusal (see below)
 * nonce_s/nonce_c are this connection's auth nonces. The acceptor checks epoch and comm_id == the
 * ones it forms, rank < size, member_id == members[rank].member_id, to_member_id/to_rank == its own,
 * size == its size, that the signature verifies with the key in members[rank]'s card, sock_index
 * < nsocks, and that the slot is still empty; anything else is rejected (logged, connection closed,
 * counted) and accepting goes on until the deadline, so a stray or hostile connection cannot block
 * or poison the mesh. The dialer takes the connection only with an OK ACK signed by the member it
 * dialled.
 *
 * Why signatures: the auth MACs prove knowledge of the job token, which every process of the job
 * shares; before version 3 a token holder could say any member id and rank in an unauthenticated
 * hello and take that rank's place. Now both ends' identities (member id, rank), the epoch and
 * the communicator are in a transcript signed with a key only that member holds and bound to the
 * connection by the nonces: a replayed, reflected or re-addressed hello fails. A refusing ACK
 * is not signed (it can only end the connection, which any on-path party can do anyway).
 *
 * Encryption (WEFT_ENCRYPT=1, crypt.h): both kx keys lie inside the signed transcript, so the
 * session keys derived from them are known to the two members only. Both ends must have the
 * same setting: the acceptor refuses a hello whose flag differs from its own (and fails its
 * formation, naming the rank and the setting), the dialer fails on that refusal likewise; a
 * connection never falls back to plaintext.
 *
 * Communicators of one process share its listener. A connection for another communicator of the
 * same epoch (a peer that is already forming the next group while this rank still forms this one)
 * is neither answered nor rejected: it waits, authenticated, in the stash until this rank forms
 * that communicator, or until it expires. */
#ifndef WEFT_BOOTSTRAP_MESH_H
#define WEFT_BOOTSTRAP_MESH_H

#include "bootstrap/auth.h"
#include "bootstrap/identity.h"
#include "core/common.h"
#include "core/sock.h"
#include "transports/tcp/crypt.h"

#define WEFT__PEER_HELLO_MAGIC 0x48504657u
#define WEFT__PEER_ACK_MAGIC 0x41504657u
#define WEFT__PEER_HELLO_BODY_LEN 96
#define WEFT__PEER_HELLO_LEN (WEFT__PEER_HELLO_BODY_LEN + WEFT__IDENTITY_SIG_LEN)
#define WEFT__PEER_ACK_BODY_LEN 48
#define WEFT__PEER_FLAG_ENCRYPT 0x01u
#define WEFT__PEER_ACK_LEN (WEFT__PEER_ACK_BODY_LEN + WEFT__IDENTITY_SIG_LEN)

typedef struct {
  uint64_t member_id;
  weft__addr_t addr;
  bool has_identity; /* false: its card had no IDENTITY section; no handshake with it succeeds */
  uint8_t identity[WEFT__IDENTITY_PK_LEN];
} weft__mesh_peer_t;

typedef struct {
  uint64_t epoch;
  uint64_t member_id;
  uint32_t rank, sock_index, size;
  uint64_t comm_id;
  uint64_t to_member_id;
  uint32_t to_rank;
  uint8_t flags; /* WEFT__PEER_FLAG_* */
  uint8_t kx_pk[WEFT__CRYPT_PK_LEN];
} weft__peer_hello_t;

/* Accepted connections a formation did not use: those whose PEER_HELLO named another
 * communicator of the epoch (kept unanswered, their dialer waiting for our ACK), and those still
 * in their handshake when the formation ended. The next formation takes them up where they
 * stopped. Owned by the process's context; used by one formation at a time. */
typedef struct weft__mesh_stash weft__mesh_stash_t;
weft__mesh_stash_t *weft__mesh_stash_new(void);
void weft__mesh_stash_free(weft__mesh_stash_t *stash); /* closes every kept connection; NULL ok */

/* The codec and the signatures (hello.c). The body only (WEFT__PEER_HELLO_BODY_LEN bytes);
 * decode refuses any other length. */
void weft__peer_hello_encode(uint8_t out[WEFT__PEER_HELLO_BODY_LEN], const weft__peer_hello_t *h);
bool weft__peer_hello_decode(const uint8_t *in, size_t len, weft__peer_hello_t *h);
/* Signing and checking a whole message in place (msg = body || sig), for this connection's
 * nonces. Pure: the mesh and the unit tests use them alike. */
bool weft__peer_hello_sign(const weft__identity_t *self, const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                           const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], uint8_t msg[WEFT__PEER_HELLO_LEN]);
bool weft__peer_hello_verify(const uint8_t pk[WEFT__IDENTITY_PK_LEN], const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                             const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN], const uint8_t msg[WEFT__PEER_HELLO_LEN]);
/* An ACK with status, flags and kx key (NULL: zeros); signed over the hello's body when status
 * is 0 and self is given. */
void weft__peer_ack_make(const weft__identity_t *self, const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                         const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN],
                         const uint8_t hello_body[WEFT__PEER_HELLO_BODY_LEN], uint32_t status, uint32_t flags,
                         const uint8_t kx_pk[WEFT__CRYPT_PK_LEN], uint8_t out[WEFT__PEER_ACK_LEN]);
/* An ACK's fields (unverified: weft__peer_ack_verify checks the signature); false if malformed. */
bool weft__peer_ack_decode(const uint8_t ack[WEFT__PEER_ACK_LEN], uint32_t *status, uint32_t *flags,
                           uint8_t kx_pk[WEFT__CRYPT_PK_LEN]);
bool weft__peer_ack_verify(const uint8_t pk[WEFT__IDENTITY_PK_LEN], const uint8_t nonce_s[WEFT__AUTH_NONCE_LEN],
                           const uint8_t nonce_c[WEFT__AUTH_NONCE_LEN],
                           const uint8_t hello_body[WEFT__PEER_HELLO_BODY_LEN], const uint8_t ack[WEFT__PEER_ACK_LEN]);

/* The root communicator's mesh without stash or cancellation (tests). fds: size*nsocks entries,
 * fds[peer*nsocks + s]; the self entries are set to -1. On failure every fd opened is closed,
 * all entries are -1, and err names the peer rank and the reason. */
weft_result_t weft__mesh_connect(int listen_fd, const weft__auth_key_t *key, const weft__identity_t *self, uint64_t epoch,
                                 int rank, int size, const weft__mesh_peer_t *peers, int nsocks,
                                 double deadline, int *fds, char *err, size_t errlen);

/* Every argument of one formation. stash may be NULL (connections for other communicators are
 * then rejected). cancelled may be NULL; otherwise the formation is abandoned as soon as it
 * returns true (checked at least every 50 ms): installing an epoch must give up at once when the
 * coordinator revokes that epoch (a member died while the mesh was forming) instead of dialing a
 * dead peer until the deadline. It writes the reason into why; the result is WEFT_ERR_PEER_LOST. */
typedef bool (*weft__mesh_cancel_fn)(void *ctx, char *why, size_t whylen);
typedef struct {
  int listen_fd;
  const weft__auth_key_t *key;
  const weft__identity_t *self; /* this process's signing key; its public half is in peers[rank]'s card */
  uint64_t epoch, comm_id;
  int rank, size, nsocks;
  const weft__mesh_peer_t *peers;
  const bool *serve; /* size entries: connect only these peers (another transport has the rest); NULL: all */
  double deadline;
  weft__mesh_cancel_fn cancelled;
  void *cancel_ctx;
  weft__mesh_stash_t *stash;
  bool encrypt;              /* WEFT_ENCRYPT: agree on session keys; every peer must say the same */
  weft__crypt_keys_t *keys;  /* encrypt: size*nsocks entries, filled like fds; else NULL */
  double connect_timeout; /* one dial's bound (connect and the peer's challenge); 0: WEFT_CONNECT_TIMEOUT */
  /* NULL, or called (with cancel_ctx) once per peer this rank dials and has not reached (no
   * connection, or no auth challenge on it) unreachable_after seconds into the formation. */
  void (*unreachable)(void *ctx, int peer, const char *why);
  double unreachable_after;
} weft__mesh_args_t;
weft_result_t weft__mesh_form(const weft__mesh_args_t *args, int *fds, char *err, size_t errlen);

#endif
