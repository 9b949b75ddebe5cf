/* Communicator lifecycle: init (environment, coordinator, first epoch, mesh, transport),
 * destroy, and the accessors. Recovery lives in lib/membership/recover.c. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/env.h"
#include "bootstrap/host_id.h"
#include "core/card.h"
#include "core/comm.h"
#include "core/config.h"
#include "membership/epoch.h"

/* Init failures have no communicator to hold their detail: keep it per thread. */
static __thread char init_error[WEFT__ERR_LEN];

weft_result_t weft__null_error(weft_result_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(init_error, sizeof init_error, fmt, ap);
  va_end(ap);
  return code;
}

WEFT_API const char *weft_comm_last_error(const weft_comm_t *comm) {
  if (!comm) return init_error;
  return comm->last_error;
}

WEFT_API int weft_comm_rank(const weft_comm_t *comm) { return comm ? comm->rank : -1; }
WEFT_API uint64_t weft_comm_id(const weft_comm_t *comm) { return comm ? comm->comm_id : 0; }
WEFT_API int weft_comm_size(const weft_comm_t *comm) { return comm ? comm->size : 0; }
WEFT_API uint64_t weft_comm_epoch(const weft_comm_t *comm) { return comm ? comm->epoch : 0; }
WEFT_API double weft_comm_timeout(const weft_comm_t *comm) { return comm ? comm->timeout : 0; }

WEFT_API weft_result_t weft_comm_set_timeout(weft_comm_t *comm, double seconds) {
  if (!comm) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "weft_comm_set_timeout: comm is NULL");
  if (!(seconds > 0 && seconds <= 86400.0 * 365)) { /* also refuses NaN */
    weft__comm_set_error(comm, "weft_comm_set_timeout: seconds %g is not in (0, 1 year]", seconds);
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  if (atomic_fetch_add(&comm->in_call, 1) != 0) {
    atomic_fetch_sub(&comm->in_call, 1);
    weft__comm_set_error(comm, "weft_comm_set_timeout: another thread is inside a call on this communicator");
    return WEFT_ERR_INVALID_USAGE;
  }
  comm->timeout = seconds; /* read by callers' threads only; each operation copies it */
  atomic_fetch_sub(&comm->in_call, 1);
  return WEFT_SUCCESS;
}

static void apply_settings(weft_comm_t *c, const weft_config_t *cfg) {
  c->timeout = cfg && cfg->timeout_s > 0 ? cfg->timeout_s : weft__cfg_get(WEFT__CFG_TIMEOUT);
  c->hb_interval = weft__cfg_get(WEFT__CFG_HEARTBEAT_INTERVAL);
  c->hb_timeout = weft__cfg_get(WEFT__CFG_HEARTBEAT_TIMEOUT);
  c->recover_timeout = weft__cfg_get(WEFT__CFG_RECOVER_TIMEOUT);
  c->connect_timeout = weft__cfg_get(WEFT__CFG_CONNECT_TIMEOUT);
  c->stall_timeout = weft__cfg_get(WEFT__CFG_STALL_TIMEOUT);
  c->exit_on_evict = weft__cfg_get(WEFT__CFG_EXIT_ON_EVICT) != 0;
  c->chunk = (uint32_t)weft__cfg_get(WEFT__CFG_CHUNK_SIZE) & ~15u; /* whole elements of any dtype */
  c->nsocks = (int)weft__cfg_get(WEFT__CFG_TCP_NSOCKS);
  c->spin_us = (int)weft__cfg_get(WEFT__CFG_SPIN_US);
  c->min_size = (int)weft__cfg_get(WEFT__CFG_MIN_SIZE);
  c->algo = (weft__algo_t)(int)weft__cfg_get(WEFT__CFG_ALGO);
  c->tree_threshold = (uint64_t)weft__cfg_get(WEFT__CFG_TREE_THRESHOLD);
}

static weft_comm_t *comm_alloc(void) {
  weft_comm_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->coord_fd = -1;
  c->store_ops = &weft__store_coord_ops;
  c->ctx = c;
  c->refs = 1;
  pthread_mutex_init(&c->excl_mu, NULL);
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->engine_mu, NULL);
  weft__cond_init(&c->cv); /* timed waits on them use weft__now()'s clock */
  weft__cond_init(&c->engine_cv);
  atomic_init(&c->drivers, 0);
  atomic_init(&c->in_call, 0);
  atomic_init(&c->coord_lost, false);
  weft__activity_init(c);
  return c;
}

#define INIT_FAIL(code, ...)                                        \
  do {                                                              \
    snprintf(init_error, sizeof init_error, __VA_ARGS__);           \
    WEFT__ERROR("%s", init_error);                                  \
    r = (code);                                                     \
    goto fail;                                                      \
  } while (0)

WEFT_API weft_result_t weft_comm_init(weft_comm_t **out, const weft_config_t *cfg) {
  weft_result_t r;
  char err[WEFT__ERR_LEN] = "";
  weft_comm_t *c = NULL;
  if (!out) {
    snprintf(init_error, sizeof init_error, "weft_comm_init: comm (output pointer) is NULL");
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (cfg && cfg->size != sizeof(weft_config_t)) {
    snprintf(init_error, sizeof init_error, "weft_comm_init: config->size is %zu, expected %zu (call weft_config_init)",
             cfg->size, sizeof(weft_config_t));
    return WEFT_ERR_INVALID_ARGUMENT;
  }
  if ((r = weft__cfg_load(err, sizeof err)) != WEFT_SUCCESS) {
    snprintf(init_error, sizeof init_error, "weft_comm_init: %s", err);
    return r;
  }
  weft__sock_raise_nofile(); /* a mesh needs size x WEFT_TCP_NSOCKS descriptors */
  weft__env_t env;
  if ((r = weft__env_discover(&env, err, sizeof err)) != WEFT_SUCCESS) {
    snprintf(init_error, sizeof init_error, "weft_comm_init: %s", err);
    return r;
  }
  if (!(c = comm_alloc())) {
    snprintf(init_error, sizeof init_error, "weft_comm_init: out of memory");
    return WEFT_ERR_NO_MEMORY;
  }
  apply_settings(c, cfg);
  int rank = cfg && cfg->rank >= 0 ? cfg->rank : env.rank;
  int world = cfg && cfg->world_size > 0 ? cfg->world_size : env.world_size;
  const char *token = cfg && cfg->job_token ? cfg->job_token : env.token;
  char host[WEFT__HOST_MAX];
  int port = env.coord_port;
  snprintf(host, sizeof host, "%s", env.coord_host);
  if (cfg && cfg->coordinator && !weft__parse_host_port(cfg->coordinator, host, sizeof host, &port))
    INIT_FAIL(WEFT_ERR_INVALID_ARGUMENT, "weft_comm_init: config->coordinator \"%s\" is not host:port", cfg->coordinator);
  if (world <= 0) INIT_FAIL(WEFT_ERR_INVALID_ARGUMENT, "weft_comm_init: world size unknown (set WEFT_WORLD_SIZE or launch with weftrun/torchrun/srun/mpiexec)");
  if (rank < 0 || rank >= world) INIT_FAIL(WEFT_ERR_INVALID_ARGUMENT, "weft_comm_init: rank %d not in [0, %d) (set WEFT_RANK)", rank, world);
  if (!host[0] || port <= 0) INIT_FAIL(WEFT_ERR_INVALID_ARGUMENT, "weft_comm_init: coordinator address unknown (set WEFT_COORDINATOR=host:port)");
  if (!token || !token[0]) INIT_FAIL(WEFT_ERR_UNAUTHORIZED, "weft_comm_init: no job secret (set WEFT_JOB_TOKEN; weftrun sets it)");
  if (!weft__auth_key_from_token(token, &c->key)) INIT_FAIL(WEFT_ERR_INTERNAL, "weft_comm_init: libsodium failed to initialise");

  double deadline = weft__now() + weft__cfg_get(WEFT__CFG_INIT_TIMEOUT);
  /* Every enabled transport opens its endpoint (TCP: the listener, on WEFT_SOCKET_IFNAME's
   * address or advertising the one that routes to the coordinator) and fills this process's card. */
  if (!weft__identity_new(&c->identity)) INIT_FAIL(WEFT_ERR_INTERNAL, "weft_comm_init: cannot make a signing key pair (libsodium)");
  weft__endpoint_args_t ea = {.ifname = env.ifname, .route_host = host, .route_port = port, .key = &c->key,
                              .identity = &c->identity, .encrypt = weft__cfg_get(WEFT__CFG_ENCRYPT) != 0};
  if ((r = weft__net_open(env.transports, &ea, &c->endpoints, err, sizeof err)) != WEFT_SUCCESS)
    INIT_FAIL(r, "weft_comm_init: %s", err);
  c->incarnation = weft__auth_random_u64();
  /* The card goes out with the HELLO, before the coordinator assigns this member's id (0 in it). */
  c->endpoints.card.host_id = env.host_id ? env.host_id : weft__host_id();
  c->endpoints.card.has_identity = true; /* peers check our mesh handshakes against this key */
  memcpy(c->endpoints.card.identity, c->identity.pk, sizeof c->endpoints.card.identity);
  uint8_t card[WEFT__CARD_MAX];
  size_t card_len = weft__card_encode(&c->endpoints.card, card, sizeof card);
  if (!card_len) INIT_FAIL(WEFT_ERR_INTERNAL, "weft_comm_init: this process's card does not fit in %d bytes", WEFT__CARD_MAX);
  weft__coord_hello_t hello = {.world_size = (uint32_t)world, .rank_hint = rank, .incarnation = c->incarnation,
                               .listen_addr = c->endpoints.card.addr, .pid = (uint32_t)getpid(),
                               .card_len = (uint16_t)card_len, .card = card};
  gethostname(hello.host, sizeof hello.host - 1);
  weft__store_join_args_t join = {.host = host, .port = port, .key = &c->key, .hello = &hello, .deadline = deadline};
  if ((r = weft__membership_join(c, &join, err, sizeof err)) != WEFT_SUCCESS)
    INIT_FAIL(r, "weft_comm_init: rank %d: %s", rank, err); /* err names the coordinator */
  c->endpoints.card.member_id = c->member_id;
  c->rank = rank;
  c->size = world;
  if ((r = weft__progress_start(c)) != WEFT_SUCCESS) INIT_FAIL(r, "weft_comm_init: cannot start the progress thread");
  /* Wait for the first epoch (all ranks joined), or, for a late joiner, the next one. */
  if ((r = weft__epoch_wait_and_join(c, deadline, err, sizeof err)) != WEFT_SUCCESS)
    INIT_FAIL(r, "weft_comm_init: rank %d: %s", rank, err);
  *out = c;
  return WEFT_SUCCESS;
fail:
  weft_comm_destroy(c);
  return r;
}

WEFT_API weft_result_t weft_comm_init_env(weft_comm_t **comm) { return weft_comm_init(comm, NULL); }


/* The context's end: the root handle and every child are gone. */
static void ctx_teardown(weft_comm_t *c) {
  weft__progress_stop(c);
  weft__reach_abandon(c);
  weft__net_destroy(c->net); /* says BYE to every peer */
  c->net = NULL;
  weft__membership_leave(c); /* LEAVE: a clean departure, not a failure */
  weft__net_close(&c->endpoints);
  weft__engine_destroy(c->engine);
  free(c->members);
  free(c->cards);
  free(c->next_members);
  free(c->next_left);
  weft__executor_peers_free(c);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->engine_mu);
  pthread_cond_destroy(&c->cv);
  pthread_cond_destroy(&c->engine_cv);
  pthread_mutex_destroy(&c->excl_mu);
  free(c->group_keys);
  weft__reuse_free(c->reuse);
  weft__identity_wipe(&c->identity);
  free(c);
}

void weft__ctx_unref(weft_comm_t *ctx) {
  pthread_mutex_lock(&ctx->mu);
  bool last = --ctx->refs == 0;
  pthread_mutex_unlock(&ctx->mu);
  if (last) ctx_teardown(ctx);
}

WEFT_API weft_result_t weft_comm_destroy(weft_comm_t *c) {
  if (!c) return WEFT_SUCCESS;
  if (c != c->ctx) return weft__group_destroy(c);
  pthread_mutex_lock(&c->mu);
  bool children = c->children != NULL;
  pthread_mutex_unlock(&c->mu);
  if (children && c->thread_started) {
    /* The children still need the context (engine, coordinator): only the root's own view
     * ends now — its operations and its lanes, with a BYE to its peers. */
    weft__ctx_exclusive_begin(c);
    c->closing = true;
    weft__executor_fail_all(c, WEFT_ERR_INVALID_USAGE, "the communicator was destroyed", false);
    weft__net_destroy(c->net);
    c->net = NULL;
    c->root_closed = true;
    weft__ctx_exclusive_end(c);
  }
  weft__ctx_unref(c);
  return WEFT_SUCCESS;
}
