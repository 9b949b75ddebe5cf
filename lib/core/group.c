/* Sub-communicators: weft_comm_split (collective over the parent, MPI_Comm_split / ncclCommSplit
 * semantics) and weft_comm_create_group (collective over the listed members only,
 * MPI_Comm_create_group; what torch's new_group needs).
 *
 * A child is a view on its parent's context (comm.h): it shares the engine, the coordinator
 * and the epoch, and gets its own lanes — nsocks TCP connections to each of its members, formed
 * through the context's listener like an epoch's mesh but tagged with the child's id — and its
 * own queues and sequence numbers. So groups progress independently: a collective parked on one
 * group's lanes never holds back another's, and groups issued in different orders on different
 * ranks do not deadlock.
 *
 * Communicator ids. Every member must derive the same 64-bit id without talking: a split hashes
 * (parent id, the parent's split count, color) — a split is collective over the parent, so every
 * member has made the same number of them; create_group hashes (parent id, tag, the rank list,
 * how often this member already made that same (tag, list) group from this parent) — only
 * members call it, so counts are kept per group key, not per parent. The id is on every frame
 * and PEER_HELLO, so a lane can never be confused with another group's.
 *
 * Epochs. A child belongs to the epoch it was made in. A failure revokes the context's epoch and
 * with it every child; weft_comm_recover on the root forms the next epoch, after which a child of
 * the old epoch fails every call with WEFT_ERR_REVOKED until it is destroyed and made again from
 * the recovered root (its member set may have changed, so reusing it silently would be wrong). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "membership/epoch.h"

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0x7fb5d329728ea185ull;
  h ^= h >> 27;
  h *= 0x81dadef4bc2dd44dull;
  return h ^ (h >> 33);
}

/* ---- creation --------------------------------------------------------------------------- */

static bool form_cancelled(void *arg, char *why, size_t whylen) {
  weft_comm_t *ctx = arg;
  pthread_mutex_lock(&ctx->mu);
  bool stop = ctx->revoked;
  if (stop) snprintf(why, whylen, "epoch %llu was revoked: %s", (unsigned long long)ctx->epoch, ctx->revoke_msg);
  pthread_mutex_unlock(&ctx->mu);
  if (!stop && atomic_load(&ctx->coord_lost)) {
    snprintf(why, whylen, "lost the coordinator");
    stop = true;
  }
  return stop;
}

static void child_free(weft_comm_t *c) {
  if (!c) return;
  free(c->world_rank);
  weft__executor_peers_free(c);
  free(c->group_keys);
  weft__reuse_free(c->reuse);
  free(c);
}

static weft_comm_t *child_alloc(const weft_comm_t *parent, uint64_t id, int rank, int size) {
  weft_comm_t *ctx = parent->ctx, *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->ctx = ctx;
  c->comm_id = id;
  c->rank = rank;
  c->size = size;
  c->epoch = ctx->epoch;
  c->member_id = ctx->member_id;
  c->coord_fd = -1;
  /* The settings the caller-side code reads from its communicator. */
  c->timeout = parent->timeout;
  c->chunk = parent->chunk;
  c->nsocks = parent->nsocks;
  c->spin_us = parent->spin_us;
  c->algo = parent->algo;
  c->tree_threshold = parent->tree_threshold;
  c->world_rank = calloc((size_t)size, sizeof *c->world_rank);
  if (!c->world_rank || weft__executor_peers_reset(c, size) != WEFT_SUCCESS) {
    child_free(c);
    return NULL;
  }
  atomic_init(&c->in_call, 0);
  atomic_init(&c->coord_lost, false);
  atomic_init(&c->drivers, 0);
  return c;
}

/* Forms the child's lanes and links it into the context. parent_ranks: the child's members as
 * ranks of the parent, in child rank order. */
static weft_result_t form(weft_comm_t *parent, const char *who, uint64_t id, const int *parent_ranks, int size,
                          int my_rank, weft_comm_t **out) {
  weft_comm_t *ctx = parent->ctx;
  char err[WEFT__ERR_LEN] = "";
  weft_result_t r = WEFT_SUCCESS;
  weft__card_t *cards = NULL;
  weft__net_t *net = NULL;
  weft_comm_t *c = child_alloc(parent, id, my_rank, size);
  if (!c) {
    weft__comm_set_error(parent, "%s: out of memory", who);
    return WEFT_ERR_NO_MEMORY;
  }
  for (int i = 0; i < size; i++) c->world_rank[i] = weft__world_rank(parent, parent_ranks[i]);

  /* One formation at a time uses the endpoints, and the epoch cannot change under it. */
  pthread_mutex_lock(&ctx->excl_mu);
  if ((r = weft__comm_check_usable(parent, who)) != WEFT_SUCCESS) goto unlock;
  if (!(cards = malloc((size_t)size * sizeof *cards))) {
    r = WEFT_ERR_NO_MEMORY;
    weft__comm_set_error(parent, "%s: out of memory", who);
    goto unlock;
  }
  for (int i = 0; i < size; i++) cards[i] = weft__member_card(ctx, c->world_rank[i]);
  weft__connect_args_t a = {.epoch = ctx->epoch, .comm_id = id, .rank = my_rank, .size = size, .cards = cards,
                            .nsocks = c->nsocks, .chunk = c->chunk, .deadline = weft__now() + parent->timeout,
                            .cancelled = form_cancelled, .cancel_ctx = ctx, .engine = ctx->engine,
                            .cb = weft__executor_callbacks(c)};
  r = weft__net_connect(&ctx->endpoints, &a, &net, err, sizeof err);
  if (r != WEFT_SUCCESS) {
    weft__comm_set_error(parent, "%s: forming communicator %016llx (%d ranks; ranks below are its own): %s", who,
                         (unsigned long long)id, size, err);
    goto unlock;
  }
  /* Linked with the engine paused: the engine walks the children list. */
  weft__epoch_pause(ctx, true);
  c->net = net;
  pthread_mutex_lock(&ctx->mu);
  c->next_child = ctx->children;
  ctx->children = c;
  ctx->refs++;
  pthread_mutex_unlock(&ctx->mu);
  weft__net_start(net);
  weft__epoch_pause(ctx, false);
unlock:
  pthread_mutex_unlock(&ctx->excl_mu);
  free(cards);
  if (r != WEFT_SUCCESS) {
    child_free(c);
    return r;
  }
  WEFT__DEBUG("rank %d: made communicator %016llx, rank %d of %d", parent->rank, (unsigned long long)id, my_rank, size);
  *out = c;
  return WEFT_SUCCESS;
}

/* ---- the public calls ------------------------------------------------------------------- */

#define GROUP_FAIL(comm, code, ...)            \
  do {                                         \
    weft__comm_set_error(comm, __VA_ARGS__);   \
    return code;                               \
  } while (0)

WEFT_API weft_result_t weft_comm_split(weft_comm_t *parent, int color, int key, weft_comm_t **child) {
  static const char who[] = "weft_comm_split";
  if (!parent) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "%s: parent is NULL", who);
  if (!child) GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: child (output pointer) is NULL", who);
  *child = NULL;
  if (color < 0 && color != WEFT_SPLIT_NOCOLOR)
    GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: color %d is negative (use a color >= 0, or WEFT_SPLIT_NOCOLOR)",
               who, color);
  weft_result_t r = weft__comm_check_usable(parent, who);
  if (r != WEFT_SUCCESS) return r;
  /* Every member learns every member's (color, key): one allgather on the parent, which is also
   * what makes a split collective (and its count the same on every member). */
  int n = parent->size;
  int32_t mine[2] = {color, key}, *all = malloc((size_t)n * sizeof mine);
  int *members = malloc((size_t)n * sizeof *members);
  if (!all || !members) {
    free(all);
    free(members);
    GROUP_FAIL(parent, WEFT_ERR_NO_MEMORY, "%s: out of memory", who);
  }
  r = weft_allgather(parent, mine, all, 2, WEFT_INT32);
  uint64_t split_no = parent->groups_made++;
  if (r != WEFT_SUCCESS) {
    char detail[WEFT__ERR_LEN];
    snprintf(detail, sizeof detail, "%s", parent->last_error);
    weft__comm_set_error(parent, "%s: exchanging colors and keys: %s", who, detail);
    goto out;
  }
  if (color == WEFT_SPLIT_NOCOLOR) goto out;
  /* Members of my color ordered by (key, parent rank): a stable insertion sort. */
  int size = 0, my_rank = -1;
  for (int p = 0; p < n; p++) {
    if (all[2 * p] != color) continue;
    int i = size++;
    while (i > 0 && all[2 * members[i - 1] + 1] > all[2 * p + 1]) {
      members[i] = members[i - 1];
      i--;
    }
    members[i] = p;
  }
  for (int i = 0; i < size; i++)
    if (members[i] == parent->rank) my_rank = i;
  uint64_t id = mix(mix(mix(parent->comm_id, 0x53504c4954ull /* "SPLIT" */), split_no), (uint64_t)(uint32_t)color);
  weft__activity_enter(parent); /* forming waits on the other members: not a hung caller */
  r = form(parent, who, id ? id : 1, members, size, my_rank, child);
  weft__activity_leave(parent);
out:
  free(all);
  free(members);
  return r;
}

/* How many groups with this key this member already made from parent (the id's last input). */
static weft_result_t group_occurrence(weft_comm_t *parent, uint64_t key, uint64_t *occurrence) {
  for (size_t i = 0; i < parent->n_group_keys; i++)
    if (parent->group_keys[i].key == key) {
      *occurrence = parent->group_keys[i].count++;
      return WEFT_SUCCESS;
    }
  void *grown = realloc(parent->group_keys, (parent->n_group_keys + 1) * sizeof *parent->group_keys);
  if (!grown) return WEFT_ERR_NO_MEMORY;
  parent->group_keys = grown;
  parent->group_keys[parent->n_group_keys++] = (weft__group_key_t){.key = key, .count = 1};
  *occurrence = 0;
  return WEFT_SUCCESS;
}

WEFT_API weft_result_t weft_comm_create_group(weft_comm_t *parent, int nranks, const int *ranks, uint64_t tag,
                                              weft_comm_t **child) {
  static const char who[] = "weft_comm_create_group";
  if (!parent) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "%s: parent is NULL", who);
  if (!child) GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: child (output pointer) is NULL", who);
  *child = NULL;
  if (nranks < 1 || nranks > parent->size)
    GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: nranks %d not in [1, %d] (the parent's size)", who, nranks,
               parent->size);
  if (!ranks) GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: ranks is NULL", who);
  int my_rank = -1;
  for (int i = 0; i < nranks; i++) {
    if (ranks[i] < 0 || ranks[i] >= parent->size)
      GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: ranks[%d] = %d out of range [0, %d)", who, i, ranks[i],
                 parent->size);
    for (int j = 0; j < i; j++)
      if (ranks[j] == ranks[i])
        GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT, "%s: rank %d is listed twice (ranks[%d] and ranks[%d])", who,
                   ranks[i], j, i);
    if (ranks[i] == parent->rank) my_rank = i;
  }
  if (my_rank < 0)
    GROUP_FAIL(parent, WEFT_ERR_INVALID_ARGUMENT,
               "%s: this rank (%d) is not in ranks: only the listed members call weft_comm_create_group", who,
               parent->rank);
  uint64_t key = mix(mix(parent->comm_id, 0x47524f5550ull /* "GROUP" */), tag);
  for (int i = 0; i < nranks; i++) key = mix(key, (uint64_t)ranks[i]);
  uint64_t occurrence;
  if (group_occurrence(parent, key, &occurrence) != WEFT_SUCCESS)
    GROUP_FAIL(parent, WEFT_ERR_NO_MEMORY, "%s: out of memory", who);
  uint64_t id = mix(key, occurrence);
  weft__activity_enter(parent);
  weft_result_t r = form(parent, who, id ? id : 1, ranks, nranks, my_rank, child);
  weft__activity_leave(parent);
  return r;
}

/* ---- the end of a child ----------------------------------------------------------------- */

void weft__groups_epoch_over(weft_comm_t *ctx) {
  for (weft_comm_t *c = ctx->children; c; c = c->next_child) {
    if (!c->net) continue;
    char msg[WEFT__ERR_LEN];
    snprintf(msg, sizeof msg, "communicator %016llx belongs to epoch %llu, which is over: make it again from the "
             "recovered root communicator", (unsigned long long)c->comm_id, (unsigned long long)c->epoch);
    weft__executor_fail_all(c, WEFT_ERR_REVOKED, msg, false);
    weft__net_destroy(c->net);
    c->net = NULL;
  }
}

weft_result_t weft__group_destroy(weft_comm_t *c) {
  weft_comm_t *ctx = c->ctx;
  weft__ctx_exclusive_begin(ctx);
  c->closing = true; /* queued collectives fail instead of starting */
  weft__executor_fail_all(c, WEFT_ERR_INVALID_USAGE, "the communicator was destroyed", false);
  weft__net_destroy(c->net); /* says BYE on the child's lanes */
  c->net = NULL;
  pthread_mutex_lock(&ctx->mu);
  for (weft_comm_t **pp = &ctx->children; *pp; pp = &(*pp)->next_child)
    if (*pp == c) {
      *pp = c->next_child;
      break;
    }
  pthread_mutex_unlock(&ctx->mu);
  weft__ctx_exclusive_end(ctx);
  child_free(c);
  weft__ctx_unref(ctx);
  return WEFT_SUCCESS;
}
