/* The membership store: how a process takes part in the job's membership, behind one ops table
 * (libfabric style: the first field is the table's size, so it can grow; filled with designated
 * initializers). weft__store_coord_ops (store_coord.c) speaks the coordinator protocol
 * (lib/bootstrap/coord_proto.h) to weft-coordinator; a store kept in etcd would fill the same
 * table and decide epochs with the same rules (rules.h).
 *
 * Two sides:
 *   - calls, from the core: join (blocking, bounded by a deadline), heartbeat, report,
 *     report_stall, request_epoch, leave, publish_card / fetch_cards. They may be made from any thread except
 *     join and leave (init and teardown); sends are serialised inside the store.
 *   - events, to the core: the store's fd (if it has one) sits in the engine's epoll set; when it
 *     is readable the engine's holder calls on_readable, and the store decodes what came and
 *     delivers it through the callbacks given at join: on_revoke (an epoch revoked: a member
 *     failed or left), on_answer (the answer to request_epoch, or the first epoch after join:
 *     NO_CHANGE, EPOCH or ERROR), on_lost (the store itself is gone: the process is fenced),
 *     on_progress_query (the service asks how far this member got, to find a hung caller),
 *     on_reach_query, on_fd and on_availability (the service is unreachable for now: the store
 *     reconnects by itself and keeps what must reach it). heartbeat may call them too. The callbacks run on the thread that called on_readable or
 *     heartbeat, which holds the engine; the core never parses a store's messages.
 *
 * Contract: on_lost is called at most once, and after it the store delivers nothing more and
 * every send fails with WEFT_ERR_TRANSPORT. While the service is unavailable, request_epoch,
 * report and report_stall succeed: they are delivered when it is back. A call that fails never
 * calls a callback. */
#ifndef WEFT_MEMBERSHIP_STORE_H
#define WEFT_MEMBERSHIP_STORE_H

#include "bootstrap/auth.h"
#include "bootstrap/coord_proto.h"

typedef struct weft__store weft__store_t;

/* The answer the core waits for after join or request_epoch (replaces magic integers). */
typedef enum {
  WEFT__STORE_PENDING,   /* none yet */
  WEFT__STORE_NO_CHANGE, /* the membership stands (recover: nobody failed, nobody waits) */
  WEFT__STORE_EPOCH,     /* the next epoch: install it */
  WEFT__STORE_ERROR,     /* refused (code and text), or the store was lost */
  WEFT__STORE_JOINERS,   /* NO_CHANGE to a SHRINK, and joiners wait: every member got it in the
                          * same round, so all may request_epoch(admit) next to let them in */
} weft__store_answer_t;

typedef struct {
  void *ctx;
  /* A member of rv->epoch failed (CRASH, HUNG, REPORTED) or left (LEFT). */
  void (*on_revoke)(void *ctx, const weft__coord_revoke_t *rv);
  /* NO_CHANGE or JOINERS; EPOCH with e (valid during the call); ERROR with err (code, text). */
  void (*on_answer)(void *ctx, weft__store_answer_t answer, const weft__coord_epoch_t *e,
                    const weft__coord_error_t *err);
  /* The store is gone (connection lost, silence past the heartbeat timeout). */
  void (*on_lost)(void *ctx, const char *why);
  /* The service asks how far this member got (q: epoch, communicator, collective); the store
   * sends what the callback fills into answer. */
  void (*on_progress_query)(void *ctx, const weft__coord_progress_t *q, weft__coord_progress_t *answer);
  /* The service asks which of some members this process can reach (answered later, through
   * report_reach). */
  void (*on_reach_query)(void *ctx, const weft__coord_reach_t *q);
  /* The fd to watch changed (the store reconnected; -1: none for now). */
  void (*on_fd)(void *ctx, int fd);
  /* The service became unreachable (why) or reachable again. Not a failure: collectives go on;
   * requests and reports wait in the store and go out when it is back. */
  void (*on_availability)(void *ctx, bool available, const char *why);
} weft__store_cb_t;

typedef struct {
  const char *host; /* the service's address (coordinator host:port) */
  int port;
  const weft__auth_key_t *key;
  const weft__coord_hello_t *hello; /* who this process is: launcher rank, address, host, pid, and
                                     * its card (published at join: lib/core/card.h) */
  double deadline;                  /* join returns by then */
  double hb_interval, hb_timeout;   /* WEFT_HEARTBEAT_INTERVAL, WEFT_HEARTBEAT_TIMEOUT */
  double connect_timeout;           /* WEFT_CONNECT_TIMEOUT: bounds one reconnect try */
  weft__store_cb_t cb;
} weft__store_join_args_t;

/* Per-member cards: an opaque blob a member publishes (addresses, keys, host identity; the
 * layout is lib/core/card.h's, the store never looks inside) for transports to connect from. */
#define WEFT__STORE_CARD_MAX WEFT__COORD_CARD_MAX
typedef struct {
  uint64_t member_id;
  uint32_t len;
  uint8_t data[WEFT__STORE_CARD_MAX];
} weft__store_card_t;

typedef struct weft__store_ops {
  size_t size; /* sizeof(weft__store_ops_t) of the build that filled it */
  const char *name;
  /* Connect, authenticate, introduce this process. On success *out holds the store and
   * *member_id this process's id; the first epoch comes later, through on_answer. On failure
   * err says why (an ERROR from the service is returned as its code). */
  weft_result_t (*join)(const weft__store_join_args_t *args, weft__store_t **out, uint64_t *member_id,
                        char *err, size_t errlen);
  /* The fd the engine watches for on_readable (EPOLLIN, level-triggered); -1 if none. */
  int (*fd)(const weft__store_t *s);
  /* Reads and delivers what arrived (bounded work per call). */
  void (*on_readable)(weft__store_t *s);
  /* Sends a heartbeat if one is due and notices the service's silence (on_lost). Never waits
   * for an answer. */
  void (*heartbeat)(weft__store_t *s, double now);
  /* When heartbeat must next be called. */
  double (*next_due)(const weft__store_t *s);
  /* A peer failed: rep names it (epoch, member id, rank, the evidence in text). */
  weft_result_t (*report)(weft__store_t *s, const weft__coord_revoke_t *rep);
  /* A collective has been waited on here for the stall timeout (lib/membership/stall.c). */
  weft_result_t (*report_stall)(weft__store_t *s, const weft__coord_stall_t *st);
  /* The answer to on_reach_query. */
  weft_result_t (*report_reach)(weft__store_t *s, const weft__coord_reach_t *answer);
  /* Asks for the epoch after `epoch` (admit: RECOVER; !admit: SHRINK, waiting joiners stay
   * out). The answer comes through on_answer. */
  weft_result_t (*request_epoch)(weft__store_t *s, uint64_t epoch, bool admit);
  /* Says goodbye (unless lost) and frees the store. NULL is a no-op. */
  void (*leave)(weft__store_t *s);
  /* Publishes this member's card / fetches the cards of the members listed. A card published at
   * join (in hello) holds from the first epoch; publish_card replaces it for epochs formed after
   * the service got it. fetch_cards answers for the members of the last epoch delivered
   * (on_answer EPOCH): WEFT_ERR_INVALID_ARGUMENT if an id is not one of them or n is 0,
   * WEFT_ERR_TIMEOUT past deadline. Stores that cannot carry cards return WEFT_ERR_UNSUPPORTED.
   * Any thread; fetch_cards for an epoch after its on_answer. */
  weft_result_t (*publish_card)(weft__store_t *s, const void *card, size_t len);
  weft_result_t (*fetch_cards)(weft__store_t *s, const uint64_t *member_ids, size_t n, weft__store_card_t *cards,
                               double deadline);
} weft__store_ops_t;

extern const weft__store_ops_t weft__store_coord_ops;

#endif
