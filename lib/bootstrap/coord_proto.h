/* The coordinator protocol (lib/bootstrap/coord_proto.c): fixed-width little-endian messages
 * between a rank and the coordinator service (tools/weft-coordinator.c). Every connection is
 * authenticated first (auth.h, role COORD). Decoders validate every length and count against
 * the bytes present and the limits below before touching them: a hostile peer can make a
 * decode fail, never over-read or allocate its claimed size.
 *
 * Message = header (16 bytes) + payload (`length` bytes, at most WEFT__COORD_MAX_PAYLOAD) + tag
 * (32 bytes, not counted in `length`): the framing authenticates every message, whatever its type.
 *   tag = HMAC-SHA256(k_dir, seq u64 LE || header || BLAKE2b-256(payload))
 * The payload enters through its digest so that the coordinator, which sends one EPOCH (up to
 * ~17 MiB) to every member, hashes it once and not once per member; only the 32-byte tag input
 * differs per connection.
 * k_dir is the connection's session key for that direction (rank -> coordinator: c2s, the other
 * way: s2c; auth.h weft__auth_session_keys, derived from the job token and both handshake nonces)
 * and seq counts the messages sent in that direction on this connection, from 0, never sent. So an
 * on-path party without the token cannot inject a message (a forged REVOKE, ERROR or EPOCH), and
 * cannot replay, reorder, drop or reflect one without the next tag failing; the connection is then
 * closed as broken, which it could achieve by cutting the connection anyway.
 *
 * Conversation:
 *   rank -> HELLO                         (once, right after authentication; carries the
 *                                         member's card, an opaque blob: lib/core/card.h)
 *   coord -> WELCOME                      (member id assigned) or ERROR
 *   coord -> EPOCH                        when the first epoch forms (all world_size ranks
 *                                         joined) and whenever a recover forms a new one
 *   both  -> HEARTBEAT                    every WEFT_HEARTBEAT_INTERVAL
 *   coord -> REVOKE                       a member of the current epoch failed or left
 *   rank -> RECOVER                       this member is at a step boundary, ready to move on;
 *                                         coord answers NO_CHANGE (all members asked, nothing
 *                                         changed) or EPOCH (new membership) to every member
 *   rank -> SHRINK                        RECOVER, but waiting joiners stay out of the next epoch
 *                                         (they are admitted by a later RECOVER); any member
 *                                         asking SHRINK makes the decision a shrink
 *   rank -> REPORT                        this rank saw a peer fail on the data plane (member_id 0,
 *                                         rank -1: no suspect -- an operation timed out, a mesh
 *                                         failed to form); a suspect still heartbeating is not
 *                                         evicted on it: the coordinator checks reachability
 *                                         (tools/coordinator/suspect.c)
 *   rank -> LEAVE                         clean shutdown (weft_comm_destroy)
 *   rank -> CARD                          replaces this member's card for the epochs formed
 *                                         after it (a transport that learns its address late)
 *   rank -> STALL                         a collective has been waited on here for
 *                                         WEFT_STALL_TIMEOUT (lib/membership/stall.c)
 *   coord -> PROGRESS_QUERY               asks a member of that collective how far it got
 *   rank -> PROGRESS                      the answer, from the progress thread (so a rank
 *                                         whose caller hangs still answers)
 *   coord -> REACH_QUERY                  every member of that collective entered it: can you
 *                                         reach these members? (tools/coordinator/reach.c)
 *   rank -> REACH                         which of them a fresh TCP connection reached
 *   rank -> REJOIN                        instead of HELLO, on a connection made after the last one
 *                                         broke (the coordinator restarted, or a network blip
 *                                         reset it): who this member is and the epoch it holds, so
 *                                         that a restarted coordinator rebuilds its state from the
 *                                         members; answered like HELLO (WELCOME, or ERROR EVICTED
 *                                         for a member it no longer has)
 *   coord -> JOINERS                      the answer to a SHRINK round that changed nothing while
 *                                         joiners wait (instead of NO_CHANGE): every member of the
 *                                         epoch gets it in the same round, so all may agree to
 *                                         RECOVER next and admit them (weft_allreduce_elastic)
 *
 * Version 2 added the card (HELLO, every EPOCH entry, CARD) and per-type payload limits;
 * version 3 the tag on every message, the stall and reachability messages, JOINERS, fail
 * reasons STALLED, RECOVER_TIMEOUT and PARTITIONED; version 4 REJOIN, REPORT without a suspect
 * and REVOKE with reason RESET (member_id 0, rank -1: the epoch ends for every member, nobody
 * leaves).
 */
#ifndef WEFT_BOOTSTRAP_COORD_PROTO_H
#define WEFT_BOOTSTRAP_COORD_PROTO_H

#include "bootstrap/auth.h"
#include "core/common.h"
#include "core/sock.h"

#define WEFT__COORD_MAGIC 0x4f434657u /* "WFCO" */
#define WEFT__COORD_VERSION 4
#define WEFT__COORD_HDR_LEN 16
/* The largest payload of any type (a full EPOCH, every card at its maximum: ~17 MiB). Each type
 * has its own bound (weft__coord_max_payload): what a rank may send the coordinator is small. */
#define WEFT__COORD_MAX_PAYLOAD (32u << 20)
#define WEFT__COORD_MAX_MEMBERS 16384
#define WEFT__COORD_CARD_MAX 1024 /* bytes of one member's card */
#define WEFT__COORD_TEXT_LEN 160
#define WEFT__ADDR_WIRE_LEN 20
#define WEFT__COORD_TAG_LEN 32

/* One direction of a connection's message authentication (see the top of this file). */
typedef struct {
  uint8_t key[WEFT__AUTH_MAC_LEN];
  uint64_t seq; /* the next message's number */
} weft__coord_mac_t;

typedef struct {
  weft__coord_mac_t tx, rx;
} weft__coord_session_t;

/* The session of one authenticated coordinator connection; `server`: the coordinator's end. */
void weft__coord_session_init(weft__coord_session_t *s, const weft__auth_key_t *key,
                              const weft__auth_nonces_t *nonces, bool server);
void weft__coord_session_wipe(weft__coord_session_t *s); /* NULL ok */
/* The tag of the next message out (header and payload, len bytes); advances tx.seq. */
void weft__coord_seal(weft__coord_mac_t *tx, const uint8_t *msg, size_t len, uint8_t tag[WEFT__COORD_TAG_LEN]);
/* The same in two steps, for one message sent on many connections: the digest of its payload
 * once (msg = header and payload, len bytes), then each connection's tag from it. */
#define WEFT__COORD_DIGEST_LEN 32
void weft__coord_digest(const uint8_t *msg, size_t len, uint8_t digest[WEFT__COORD_DIGEST_LEN]);
void weft__coord_seal_digest(weft__coord_mac_t *tx, const uint8_t hdr[WEFT__COORD_HDR_LEN],
                             const uint8_t digest[WEFT__COORD_DIGEST_LEN], uint8_t tag[WEFT__COORD_TAG_LEN]);
/* Checks the next message in (constant time); advances rx.seq only when it verifies. */
bool weft__coord_verify(weft__coord_mac_t *rx, const uint8_t hdr[WEFT__COORD_HDR_LEN], const uint8_t *payload,
                        size_t len, const uint8_t tag[WEFT__COORD_TAG_LEN]);

typedef enum {
  WEFT__COORD_HELLO = 1,
  WEFT__COORD_WELCOME = 2,
  WEFT__COORD_EPOCH = 3,
  WEFT__COORD_HEARTBEAT = 4,
  WEFT__COORD_REVOKE = 5,
  WEFT__COORD_RECOVER = 6,
  WEFT__COORD_NO_CHANGE = 7,
  WEFT__COORD_REPORT = 8,
  WEFT__COORD_LEAVE = 9,
  WEFT__COORD_ERROR = 10,
  WEFT__COORD_SHRINK = 11, /* RECOVER that admits no joiner (weft_allreduce_elastic's re-run) */
  WEFT__COORD_CARD = 12,   /* a member's new card */
  WEFT__COORD_STALL = 13,
  WEFT__COORD_PROGRESS_QUERY = 14,
  WEFT__COORD_PROGRESS = 15,
  WEFT__COORD_JOINERS = 16, /* NO_CHANGE to a SHRINK round, and joiners wait: RECOVER admits them */
  WEFT__COORD_REACH_QUERY = 17,
  WEFT__COORD_REACH = 18,
  WEFT__COORD_REJOIN = 19, /* HELLO again, to a restarted coordinator (coord_rejoin.c) */
} weft__coord_type_t;
#define WEFT__COORD_LAST_TYPE WEFT__COORD_REJOIN

typedef enum {
  WEFT__FAIL_CRASH = 1,     /* connection closed or reset without LEAVE */
  WEFT__FAIL_HUNG = 2,      /* heartbeat timeout */
  WEFT__FAIL_REPORTED = 3,  /* a peer reported it (data-plane failure) */
  WEFT__FAIL_LEFT = 4,      /* clean LEAVE */
  WEFT__FAIL_STALLED = 5,   /* its caller did not enter a collective the others waited on */
  WEFT__FAIL_RECOVER_TIMEOUT = 6, /* did not ask RECOVER/SHRINK within the recover deadline */
  WEFT__FAIL_PARTITIONED = 7, /* outside the largest set of members that reach each other */
  WEFT__FAIL_RESET = 8, /* REVOKE only (member_id 0, rank -1): a failure one member saw, with nobody
                         * to blame; the epoch ends for all and the next one has the same members */
} weft__fail_reason_t;
#define WEFT__FAIL_LAST WEFT__FAIL_RESET

typedef struct {
  uint8_t type;
  uint32_t length;
} weft__coord_hdr_t;

typedef struct {
  uint32_t world_size; /* size the job was launched with (0: unknown, coordinator decides) */
  int32_t rank_hint;   /* launcher's rank, or -1 */
  uint64_t incarnation; /* random per process: tells a restart from the original */
  weft__addr_t listen_addr; /* where peers dial this rank */
  uint32_t pid;
  char host[64];        /* NUL-terminated after decode */
  uint16_t card_len;    /* <= WEFT__COORD_CARD_MAX */
  const uint8_t *card;  /* decode: points into the payload (valid as long as it is) */
} weft__coord_hello_t;

typedef struct {
  uint64_t member_id;     /* unique in the job, never reused */
  uint64_t current_epoch; /* 0 before the first epoch forms; >0 means this process joins late */
} weft__coord_welcome_t;

typedef struct {
  uint64_t member_id;
  int32_t rank_hint;  /* the launcher's rank for this member (-1 none) */
  uint32_t flags;     /* WEFT__MEMBER_JOINED: new in this epoch */
  weft__addr_t addr;
  uint16_t card_len;    /* the member's card (opaque here), <= WEFT__COORD_CARD_MAX */
  const uint8_t *card;  /* decode: points into the payload; NULL once copied elsewhere */
} weft__coord_member_t;
#define WEFT__MEMBER_JOINED 1u

typedef struct {
  uint64_t member_id;
  int32_t old_rank;
  uint32_t reason; /* weft__fail_reason_t */
} weft__coord_left_t;

/* EPOCH: members listed in rank order (rank i = members[i]). Arrays point into the decode
 * buffer's own storage (caller-provided, see weft__coord_decode_epoch). */
typedef struct {
  uint64_t epoch;
  uint32_t size;
  uint32_t num_left;
  weft__coord_member_t *members; /* size entries */
  weft__coord_left_t *left;      /* num_left entries: members of the previous epoch that left */
} weft__coord_epoch_t;

typedef struct {
  uint64_t epoch;
  uint64_t member_id; /* the failed member */
  int32_t rank;       /* its rank in `epoch` */
  uint32_t reason;    /* weft__fail_reason_t */
  char text[WEFT__COORD_TEXT_LEN];
} weft__coord_revoke_t; /* also the payload of REPORT (member_id = suspect) */

typedef struct {
  uint64_t epoch;
} weft__coord_epoch_ref_t; /* payload of RECOVER, SHRINK and NO_CHANGE */

typedef struct {
  uint64_t epoch;   /* the epoch whose members are told */
  uint32_t waiting; /* joiners waiting, >= 1 */
} weft__coord_joiners_t; /* payload of JOINERS */

typedef struct {
  uint32_t code; /* weft_result_t */
  char text[WEFT__COORD_TEXT_LEN];
} weft__coord_error_t;

/* STALL: this rank has waited `waited_ms` on collective `seq` (kind `coll`, a weft__coll_t) of
 * communicator `comm_id` in `epoch`; `stall_ms` is its WEFT_STALL_TIMEOUT. The communicator's
 * members are listed by their rank in the epoch (nranks 0: every member of the epoch). */
typedef struct {
  uint64_t epoch, comm_id, seq;
  uint32_t coll, waited_ms, stall_ms, nranks;
  const uint32_t *ranks;     /* encode: nranks entries */
  const uint8_t *ranks_wire; /* decode: points into the payload; read with weft__coord_stall_rank */
} weft__coord_stall_t;

/* PROGRESS_QUERY asks about (epoch, comm_id, seq); PROGRESS answers it: how many collectives of
 * that communicator this member entered, the kind of the last one, and whether its application
 * is inside a weft call now or, if not, for how long it has been out of one. */
#define WEFT__PROGRESS_HAS_COMM 1u /* the member has this communicator */
#define WEFT__PROGRESS_IN_CALL 2u  /* a thread of the member is inside a weft call */
typedef struct {
  uint64_t epoch, comm_id, seq;
  uint64_t entered_seq; /* PROGRESS only */
  uint32_t entered_coll, flags, idle_ms;
} weft__coord_progress_t;

/* REACH_QUERY: dial each listed member of `epoch` (epoch ranks), giving up on one after
 * timeout_ms. REACH: the answer, status[i] for ranks[i]: 0 reached, 1 not. */
#define WEFT__REACH_MAX_MS 60000
typedef struct {
  uint64_t epoch;
  uint32_t timeout_ms; /* REACH_QUERY; 0 in REACH */
  uint32_t n;
  const uint32_t *ranks;     /* encode: n entries */
  const uint8_t *status;     /* encode (REACH): n entries */
  const uint8_t *wire;       /* decode: the entries in the payload: weft__coord_reach_entry */
} weft__coord_reach_t;

/* REJOIN: a member reconnecting. `epoch` is the last epoch the coordinator told it it belongs
 * to (0: a joiner still waiting for its first), `rank` its rank there (-1 for a joiner), and
 * `ids` that epoch's member ids in rank order (size entries; ids[rank] == member_id), so that a
 * restarted coordinator learns who is missing. `hello` is what HELLO said (its current card). */
#define WEFT__REJOIN_REVOKED 1u /* this member saw `epoch` revoked (REVOKE, or its own report) */
typedef struct {
  uint64_t member_id, epoch;
  int32_t rank;
  uint32_t flags, size;
  /* Recover rounds of `epoch` answered to this member (NO_CHANGE or JOINERS), and the kind of the
   * last: a round the old coordinator answered to some members only before dying is answered to
   * the rest by the new one, not asked again. */
  uint32_t rounds, last_answer;
  weft__coord_hello_t hello;
  const uint64_t *ids;     /* encode: size entries */
  const uint8_t *ids_wire; /* decode: read with weft__coord_rejoin_id */
} weft__coord_rejoin_t;

size_t weft__coord_rejoin_max_payload(void);
size_t weft__coord_encode_rejoin(uint8_t *out, size_t cap, const weft__coord_rejoin_t *m);
bool weft__coord_decode_rejoin(const uint8_t *p, size_t len, weft__coord_rejoin_t *m);
uint64_t weft__coord_rejoin_id(const weft__coord_rejoin_t *m, uint32_t i);
/* The HELLO payload's length and bytes (for REJOIN, which carries one). */
size_t weft__coord_hello_payload_len(const weft__coord_hello_t *m);

/* Header: 16 bytes: magic u32, version u8, type u8, reserved u16 (0), length u32, reserved u32. */
void weft__coord_encode_hdr(uint8_t out[WEFT__COORD_HDR_LEN], uint8_t type, uint32_t length);
/* false on bad magic/version/type/reserved or length > weft__coord_max_payload(type). */
bool weft__coord_decode_hdr(const uint8_t in[WEFT__COORD_HDR_LEN], weft__coord_hdr_t *hdr);
/* The longest payload a message of this type can have (0 for an unknown type). */
size_t weft__coord_max_payload(uint8_t type);

/* Encoders write header + payload into out (capacity cap) and return the total length, or 0 if
 * it does not fit. Decoders take the payload only and return false on any inconsistency. */
size_t weft__coord_encode_hello(uint8_t *out, size_t cap, const weft__coord_hello_t *m);
bool weft__coord_decode_hello(const uint8_t *p, size_t len, weft__coord_hello_t *m);
size_t weft__coord_encode_welcome(uint8_t *out, size_t cap, const weft__coord_welcome_t *m);
bool weft__coord_decode_welcome(const uint8_t *p, size_t len, weft__coord_welcome_t *m);
size_t weft__coord_encode_epoch(uint8_t *out, size_t cap, const weft__coord_epoch_t *m);
/* The whole message (header included), members' cards counted. */
size_t weft__coord_epoch_wire_len(const weft__coord_epoch_t *m);
/* members/left arrays must have room for max_members entries each; false if more are claimed. */
bool weft__coord_decode_epoch(const uint8_t *p, size_t len, weft__coord_epoch_t *m,
                              weft__coord_member_t *members, weft__coord_left_t *left,
                              uint32_t max_members);
size_t weft__coord_encode_revoke(uint8_t *out, size_t cap, uint8_t type /* REVOKE or REPORT */,
                                 const weft__coord_revoke_t *m);
bool weft__coord_decode_revoke(const uint8_t *p, size_t len, weft__coord_revoke_t *m);
size_t weft__coord_encode_epoch_ref(uint8_t *out, size_t cap, uint8_t type, uint64_t epoch);
bool weft__coord_decode_epoch_ref(const uint8_t *p, size_t len, uint64_t *epoch);
size_t weft__coord_encode_joiners(uint8_t *out, size_t cap, const weft__coord_joiners_t *m);
bool weft__coord_decode_joiners(const uint8_t *p, size_t len, weft__coord_joiners_t *m);
size_t weft__coord_encode_error(uint8_t *out, size_t cap, const weft__coord_error_t *m);
bool weft__coord_decode_error(const uint8_t *p, size_t len, weft__coord_error_t *m);
size_t weft__coord_encode_empty(uint8_t *out, size_t cap, uint8_t type); /* HEARTBEAT, LEAVE */
/* CARD: len <= WEFT__COORD_CARD_MAX; decode points *card into p. */
size_t weft__coord_encode_card(uint8_t *out, size_t cap, const uint8_t *card, uint16_t len);
bool weft__coord_decode_card(const uint8_t *p, size_t len, const uint8_t **card, uint16_t *card_len);
/* STALL with at most WEFT__COORD_MAX_MEMBERS ranks; decode checks the count against the length. */
size_t weft__coord_encode_stall(uint8_t *out, size_t cap, const weft__coord_stall_t *m);
bool weft__coord_decode_stall(const uint8_t *p, size_t len, weft__coord_stall_t *m);
uint32_t weft__coord_stall_rank(const weft__coord_stall_t *m, uint32_t i);
size_t weft__coord_stall_max_payload(uint8_t type); /* of STALL, PROGRESS_QUERY, PROGRESS, REACH_QUERY, REACH */
/* REACH_QUERY or REACH with at most WEFT__COORD_MAX_MEMBERS entries. */
size_t weft__coord_encode_reach(uint8_t *out, size_t cap, uint8_t type, const weft__coord_reach_t *m);
bool weft__coord_decode_reach(const uint8_t *p, size_t len, uint8_t type, weft__coord_reach_t *m);
/* Entry i of a decoded REACH_QUERY / REACH: its rank, and (REACH) its status. */
void weft__coord_reach_entry(const weft__coord_reach_t *m, uint8_t type, uint32_t i, uint32_t *rank, uint8_t *status);
/* PROGRESS_QUERY (epoch, comm_id, seq only) or PROGRESS. */
size_t weft__coord_encode_progress(uint8_t *out, size_t cap, uint8_t type, const weft__coord_progress_t *m);
bool weft__coord_decode_progress(const uint8_t *p, size_t len, uint8_t type, weft__coord_progress_t *m);
/* Room check and header for a message of `type`: the payload pointer, NULL if cap is too small
 * or payload_len beyond the type's bound (for the codec files). */
uint8_t *weft__coord_begin(uint8_t *out, size_t cap, uint8_t type, size_t payload_len);
void weft__addr_encode(uint8_t out[WEFT__ADDR_WIRE_LEN], const weft__addr_t *a);
bool weft__addr_decode(const uint8_t in[WEFT__ADDR_WIRE_LEN], weft__addr_t *a);

/* Incremental reader for a non-blocking fd: accumulates one message at a time into a buffer
 * that grows only up to header length + the (validated) payload length. */
typedef struct {
  weft__coord_session_t *session; /* set by the owner before the first step: checks every tag */
  uint8_t hdr[WEFT__COORD_HDR_LEN];
  size_t hdr_got;
  weft__coord_hdr_t h;
  uint8_t *payload;
  size_t payload_cap, payload_got;
  uint8_t tag[WEFT__COORD_TAG_LEN];
  size_t tag_got;
} weft__coord_reader_t;
/* Reads what is available. Returns 1 when a full message is ready and its tag verified
 * (type/payload/len valid until the next call), 0 when more bytes are needed (EAGAIN), -1 on
 * EOF/error/protocol violation/a tag that does not verify/no session (err filled). */
int weft__coord_reader_step(weft__coord_reader_t *r, int fd, char *err, size_t errlen);
void weft__coord_reader_free(weft__coord_reader_t *r);

#endif
