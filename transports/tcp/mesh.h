/* Forming the full mesh of one communicator in one epoch (transports/tcp/mesh.c): every pair of
 * members gets `nsocks` authenticated TCP connections of its own (a communicator's lanes). Rank i dials every rank j > i and accepts from every
 * rank j < i. Each connection: TCP connect, auth handshake (role PEER, auth.h), then the dialer
 * sends PEER_HELLO and the acceptor answers PEER_ACK:
 *   PEER_HELLO (48 bytes, LE): magic u32 "WFPH" 0x48504657, version u8 (2), 3 zero bytes,
 *              epoch u64, member_id u64 (dialer), rank u32 (dialer, in the communicator),
 *              sock_index u32, size u32 (communicator size as the dialer knows it),
 *              reserved u32 (0), comm_id u64 (0: the communicator weft_comm_init made)
 *   PEER_ACK   (8 bytes): magic u32 "WFPA" 0x41504657, status u32 (0 ok, else weft_result_t)
 * The acceptor checks epoch and comm_id == the ones it forms, rank < size, member_id == members[rank].member_id,
 * size == its size, sock_index < nsocks, and that the slot is still empty; anything else is
 * rejected (logged, connection closed, counted) and accepting goes on until the deadline, so a
 * stray or hostile connection cannot block or poison the mesh.
 *
 * Communicators of one process share its listener. A connection for another communicator of the
 * same epoch (a peer that is already forming the next group while this rank still forms this one)
 * is neither answered nor rejected: it waits, authenticated, in the stash until this rank forms
 * that communicator, or until it expires. */
#ifndef WEFT_BOOTSTRAP_MESH_H
#define WEFT_BOOTSTRAP_MESH_H

#include "bootstrap/auth.h"
#include "core/common.h"
#include "core/sock.h"

#define WEFT__PEER_HELLO_MAGIC 0x48504657u
#define WEFT__PEER_ACK_MAGIC 0x41504657u
#define WEFT__PEER_HELLO_LEN 48
#define WEFT__PEER_ACK_LEN 8

typedef struct {
  uint64_t member_id;
  weft__addr_t addr;
} weft__mesh_peer_t;

typedef struct {
  uint64_t epoch;
  uint64_t member_id;
  uint32_t rank, sock_index, size;
  uint64_t comm_id;
} weft__peer_hello_t;

/* Accepted connections a formation did not use: those whose PEER_HELLO named another
 * communicator of the epoch (kept unanswered, their dialer waiting for our ACK), and those still
 * in their handshake when the formation ended. The next formation takes them up where they
 * stopped. Owned by the process's context; used by one formation at a time. */
typedef struct weft__mesh_stash weft__mesh_stash_t;
weft__mesh_stash_t *weft__mesh_stash_new(void);
void weft__mesh_stash_free(weft__mesh_stash_t *stash); /* closes every kept connection; NULL ok */

void weft__peer_hello_encode(uint8_t out[WEFT__PEER_HELLO_LEN], const weft__peer_hello_t *h);
bool weft__peer_hello_decode(const uint8_t *in, size_t len, weft__peer_hello_t *h);

/* The root communicator's mesh without stash or cancellation (tests). fds: size*nsocks entries,
 * fds[peer*nsocks + s]; the self entries are set to -1. On failure every fd opened is closed,
 * all entries are -1, and err names the peer rank and the reason. */
weft_result_t weft__mesh_connect(int listen_fd, const weft__auth_key_t *key, uint64_t epoch,
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
  uint64_t epoch, comm_id;
  int rank, size, nsocks;
  const weft__mesh_peer_t *peers;
  const bool *serve; /* size entries: connect only these peers (another transport has the rest); NULL: all */
  double deadline;
  weft__mesh_cancel_fn cancelled;
  void *cancel_ctx;
  weft__mesh_stash_t *stash;
} weft__mesh_args_t;
weft_result_t weft__mesh_form(const weft__mesh_args_t *args, int *fds, char *err, size_t errlen);

#endif
