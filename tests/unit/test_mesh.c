/* Mesh formation (transports/tcp/mesh.c) with ranks as threads over loopback TCP, plus the
 * socket helpers it stands on (lib/core/sock.c). Every wait in here has a deadline: a bug shows
 * as a failed assertion, not a hung test. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "transports/tcp/mesh.h"

#define MAXN 8
#define MAXS 2

/* ---- captured log ------------------------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void capture_log(weft_log_level_t level, const char *msg, void *user) {
  (void)level;
  (void)user;
  pthread_mutex_lock(&log_mu);
  size_t n = strlen(log_text);
  snprintf(log_text + n, sizeof log_text - n, "%s\n", msg);
  pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *s) {
  pthread_mutex_lock(&log_mu);
  bool r = strstr(log_text, s) != NULL;
  pthread_mutex_unlock(&log_mu);
  return r;
}

static int setup_log(void **state) {
  (void)state;
  log_text[0] = '\0';
  weft_set_log_callback(capture_log, NULL, WEFT_LOG_DEBUG);
  return 0;
}

/* ---- a job of rank threads ---------------------------------------------------------------- */

typedef struct {
  int rank, size, nsocks;
  uint64_t epoch;
  weft__auth_key_t key;
  weft__identity_t id; /* signs this rank's handshakes; peers[rank] lists the public half */
  const weft__mesh_peer_t *peers;
  int listen_fd;
  double deadline, start_delay, took;
  int fds[MAXN * MAXS];
  bool encrypt;
  weft__crypt_keys_t keys[MAXN * MAXS];
  weft_result_t rc;
  char err[512];
} rank_t;

typedef struct {
  int n, nsocks;
  weft__mesh_peer_t peers[MAXN];
  rank_t ranks[MAXN];
  pthread_t threads[MAXN];
} job_t;

static weft__auth_key_t key_of(const char *token) {
  weft__auth_key_t k;
  assert_true(weft__auth_key_from_token(token, &k));
  return k;
}

static void *rank_main(void *arg) {
  rank_t *r = arg;
  if (r->start_delay > 0) usleep((useconds_t)(r->start_delay * 1e6));
  double t0 = weft__now();
  weft__mesh_args_t a = {.listen_fd = r->listen_fd, .key = &r->key, .self = &r->id, .epoch = r->epoch,
                         .rank = r->rank, .size = r->size, .nsocks = r->nsocks, .peers = r->peers,
                         .deadline = r->deadline, .encrypt = r->encrypt, .keys = r->encrypt ? r->keys : NULL};
  r->rc = weft__mesh_form(&a, r->fds, r->err, sizeof r->err);
  r->took = weft__now() - t0;
  return NULL;
}

static int listen_local(int *port) {
  int fd = -1;
  char err[256];
  assert_int_equal(weft__sock_listen("127.0.0.1", 0, &fd, port, err, sizeof err), WEFT_SUCCESS);
  return fd;
}

static weft__addr_t local_addr(int port) {
  weft__addr_t a = {.family = 4, .port = (uint16_t)port, .ip = {127, 0, 0, 1}};
  return a;
}

/* Listeners and the peer table for n ranks; rank `absent` (or -1) gets no listener, only an
 * address that refuses connections. */
static void job_init(job_t *j, int n, int nsocks, double timeout_s) {
  memset(j, 0, sizeof *j);
  j->n = n;
  j->nsocks = nsocks;
  double deadline = weft__now() + timeout_s;
  for (int r = 0; r < n; r++) {
    int port = 0;
    rank_t *rk = &j->ranks[r];
    rk->listen_fd = listen_local(&port);
    j->peers[r].member_id = 0x5000u + (uint64_t)r * 7u;
    j->peers[r].addr = local_addr(port);
    *rk = (rank_t){.rank = r, .size = n, .nsocks = nsocks, .epoch = 3, .key = key_of("job"),
                   .peers = j->peers, .listen_fd = rk->listen_fd, .deadline = deadline};
    assert_true(weft__identity_new(&rk->id));
    j->peers[r].has_identity = true;
    memcpy(j->peers[r].identity, rk->id.pk, sizeof j->peers[r].identity);
  }
}

static void job_start(job_t *j, int skip) {
  for (int r = 0; r < j->n; r++)
    if (r != skip) assert_int_equal(pthread_create(&j->threads[r], NULL, rank_main, &j->ranks[r]), 0);
}

static void job_join(job_t *j, int skip) {
  for (int r = 0; r < j->n; r++)
    if (r != skip) pthread_join(j->threads[r], NULL);
}

static void job_close(job_t *j) {
  for (int r = 0; r < j->n; r++) {
    for (int i = 0; i < j->n * j->nsocks; i++)
      if (j->ranks[r].fds[i] >= 0) close(j->ranks[r].fds[i]);
    if (j->ranks[r].listen_fd >= 0) close(j->ranks[r].listen_fd);
  }
}

/* Every (i, j, s) pair of fds is one connection: a byte naming the sender crosses each way. */
static void check_mesh(job_t *j) {
  int n = j->n, ns = j->nsocks;
  for (int a = 0; a < n; a++) {
    assert_int_equal(j->ranks[a].rc, WEFT_SUCCESS);
    for (int s = 0; s < ns; s++) assert_int_equal(j->ranks[a].fds[a * ns + s], -1);
  }
  for (int a = 0; a < n; a++) {
    for (int b = 0; b < n; b++) {
      if (a == b) continue;
      for (int s = 0; s < ns; s++) {
        int from = j->ranks[a].fds[b * ns + s], to = j->ranks[b].fds[a * ns + s];
        assert_true(from >= 0 && to >= 0);
        assert_true(fcntl(from, F_GETFL) & O_NONBLOCK);
        int nodelay = 0;
        socklen_t sl = sizeof nodelay;
        assert_int_equal(getsockopt(from, IPPROTO_TCP, TCP_NODELAY, &nodelay, &sl), 0);
        assert_true(nodelay);
        uint8_t out = (uint8_t)(a * 16 + s), in = 0xff;
        assert_int_equal(weft__sock_write_all(from, &out, 1, weft__now() + 2), WEFT_SUCCESS);
        assert_int_equal(weft__sock_read_all(to, &in, 1, weft__now() + 2), WEFT_SUCCESS);
        assert_int_equal(in, out);
      }
    }
  }
  /* Nothing else is in flight on any of them (no crossed wires, no leftover handshake bytes). */
  for (int a = 0; a < n; a++)
    for (int i = 0; i < n * ns; i++) {
      int fd = j->ranks[a].fds[i];
      uint8_t x;
      if (fd >= 0) assert_int_equal(recv(fd, &x, 1, MSG_DONTWAIT), -1);
    }
}

static void form(int n, int nsocks) {
  job_t j;
  job_init(&j, n, nsocks, 10.0);
  job_start(&j, -1);
  job_join(&j, -1);
  for (int r = 0; r < n; r++)
    if (j.ranks[r].rc != WEFT_SUCCESS) fail_msg("rank %d: %s", r, j.ranks[r].err);
  check_mesh(&j);
  job_close(&j);
}

static void test_mesh_2_ranks(void **state) {
  (void)state;
  form(2, 1);
  form(2, 2);
}

static void test_mesh_3_ranks(void **state) {
  (void)state;
  form(3, 1);
  form(3, 2);
}

static void test_mesh_5_ranks(void **state) {
  (void)state;
  form(5, 1);
  form(5, 2);
}

static void test_mesh_1_rank(void **state) {
  (void)state;
  form(1, 2);
}

/* Ranks starting at different times still meet (retry of refused dials is not needed here since
 * listeners exist, but a slow acceptor must not stall anyone else's handshakes). */
static void test_mesh_staggered_start(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 4, 2, 10.0);
  for (int r = 0; r < 4; r++) j.ranks[r].start_delay = 0.05 * (3 - r);
  job_start(&j, -1);
  job_join(&j, -1);
  check_mesh(&j);
  job_close(&j);
}

/* WEFT_ENCRYPT=1: every connection gets its own pair of keys, one end's tx the other's rx. */
static void test_mesh_encrypted(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 3, 2, 10.0);
  for (int r = 0; r < 3; r++) j.ranks[r].encrypt = true;
  job_start(&j, -1);
  job_join(&j, -1);
  check_mesh(&j);
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++)
      for (int s = 0; s < 2 && a != b; s++) {
        const weft__crypt_keys_t *ka = &j.ranks[a].keys[b * 2 + s], *kb = &j.ranks[b].keys[a * 2 + s];
        assert_memory_equal(ka->tx, kb->rx, WEFT__CRYPT_KEY_LEN);
        assert_memory_equal(ka->rx, kb->tx, WEFT__CRYPT_KEY_LEN);
        assert_memory_not_equal(ka->tx, ka->rx, WEFT__CRYPT_KEY_LEN);
        assert_memory_not_equal(ka->tx, j.ranks[a].keys[b * 2 + (1 - s)].tx, WEFT__CRYPT_KEY_LEN);
      }
  job_close(&j);
}

/* One rank with WEFT_ENCRYPT=1, one without: both fail at once, naming the setting and the peer
 * (never a plaintext connection, never a wait for the deadline). Either way round. */
static void test_mesh_encrypt_mismatch(void **state) {
  (void)state;
  for (int on = 0; on < 2; on++) {
    job_t j;
    job_init(&j, 2, 1, 10.0);
    j.ranks[on].encrypt = true;
    job_start(&j, -1);
    job_join(&j, -1);
    for (int r = 0; r < 2; r++) {
      char want[96];
      snprintf(want, sizeof want, "WEFT_ENCRYPT mismatch: peer rank %d has WEFT_ENCRYPT=%d", 1 - r, on == 1 - r);
      assert_int_equal(j.ranks[r].rc, WEFT_ERR_MISMATCH);
      assert_non_null(strstr(j.ranks[r].err, want));
      assert_true(j.ranks[r].took < 5.0);
      assert_int_equal(j.ranks[r].fds[1 - r], -1);
    }
    job_close(&j);
  }
}

/* ---- hostile connections ------------------------------------------------------------------ */

typedef struct {
  weft__addr_t target;
  int mode; /* 0 garbage auth, 1 idle, 2 wrong epoch, 3 wrong member id, 4 port scanner,
             * 5 impostor: rank 0's exact claims, signed with its own key,
             * 6 replay: signed with rank 0's real key, but for another connection's nonces */
  const job_t *job;
  uint32_t ack_status;
  weft_result_t rc;
} hostile_t;

/* The client side of the auth handshake by hand, keeping the nonces a signature must cover. */
static weft_result_t auth_dial(int fd, const weft__auth_key_t *k, double deadline,
                               uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], uint8_t response[WEFT__AUTH_RESPONSE_LEN]) {
  uint8_t challenge[WEFT__AUTH_CHALLENGE_LEN], mac[WEFT__AUTH_MAC_LEN];
  weft_result_t rc = weft__sock_read_all(fd, challenge, sizeof challenge, deadline);
  if (rc != WEFT_SUCCESS) return rc;
  if (!weft__auth_parse_challenge(challenge, sizeof challenge, WEFT__AUTH_ROLE_PEER, nonce_s))
    return WEFT_ERR_PROTOCOL;
  weft__auth_make_response(k, WEFT__AUTH_ROLE_PEER, nonce_s, response);
  if ((rc = weft__sock_write_all(fd, response, WEFT__AUTH_RESPONSE_LEN, deadline)) != WEFT_SUCCESS) return rc;
  if ((rc = weft__sock_read_all(fd, mac, sizeof mac, deadline)) != WEFT_SUCCESS) return rc;
  return weft__auth_check_server_mac(k, WEFT__AUTH_ROLE_PEER, response, nonce_s, mac, sizeof mac)
             ? WEFT_SUCCESS : WEFT_ERR_UNAUTHORIZED;
}

static void *hostile_main(void *arg) {
  hostile_t *h = arg;
  char err[256];
  int fd = -1;
  double deadline = weft__now() + 8.0;
  h->rc = weft__sock_connect_addr(&h->target, deadline, &fd, err, sizeof err);
  if (h->rc != WEFT_SUCCESS) return NULL;
  uint8_t buf[WEFT__AUTH_RESPONSE_LEN];
  switch (h->mode) {
  case 0: /* reads the challenge, answers with junk */
    h->rc = weft__sock_read_all(fd, buf, WEFT__AUTH_CHALLENGE_LEN, deadline);
    memset(buf, 0xA5, sizeof buf);
    weft__sock_write_all(fd, buf, sizeof buf, deadline);
    /* expect the REJECT verdict, then to be hung up on */
    h->rc = weft__sock_read_all(fd, buf, WEFT__AUTH_MAC_LEN, deadline);
    if (h->rc == WEFT_SUCCESS && !weft__auth_is_reject(buf, WEFT__AUTH_MAC_LEN)) {
      h->rc = WEFT_ERR_INTERNAL; /* anything but the verdict fails the test */
      break;
    }
    if (h->rc == WEFT_SUCCESS) h->rc = weft__sock_read_all(fd, buf, 1, deadline);
    break;
  case 1: /* holds the connection open, says nothing, until the mesh is long formed */
    usleep(3000 * 1000);
    break;
  case 2:
  case 3:
  case 5:
  case 6: { /* knows the token, but its hello is for another epoch / member, or not its own */
    weft__auth_key_t k = key_of("job");
    uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], response[WEFT__AUTH_RESPONSE_LEN];
    h->rc = auth_dial(fd, &k, deadline, nonce_s, response);
    if (h->rc != WEFT_SUCCESS) break;
    int target = h->target.port == h->job->peers[1].addr.port ? 1 : 2;
    weft__peer_hello_t hello = {.epoch = h->mode == 2 ? 2 : 3,
                                .member_id = h->job->peers[0].member_id + (h->mode == 3),
                                .rank = 0, .sock_index = 0, .size = (uint32_t)h->job->n,
                                .to_member_id = h->job->peers[target].member_id,
                                .to_rank = (uint32_t)target};
    uint8_t msg[WEFT__PEER_HELLO_LEN], ack[WEFT__PEER_ACK_LEN];
    weft__identity_t own;
    assert_true(weft__identity_new(&own));
    weft__peer_hello_encode(msg, &hello);
    if (h->mode == 6) { /* rank 0's key, as if a signature had been captured elsewhere */
      uint8_t other_s[WEFT__AUTH_NONCE_LEN];
      weft__auth_random(other_s, sizeof other_s);
      assert_true(weft__peer_hello_sign(&h->job->ranks[0].id, other_s, response, msg));
    } else {
      assert_true(weft__peer_hello_sign(&own, nonce_s, response, msg));
    }
    weft__sock_write_all(fd, msg, sizeof msg, deadline);
    h->rc = weft__sock_read_all(fd, ack, sizeof ack, deadline);
    h->ack_status = (uint32_t)ack[4] | (uint32_t)ack[5] << 8;
    break;
  }
  default: /* connects and leaves at once */
    break;
  }
  close(fd);
  return NULL;
}

static void test_mesh_rejects_strays(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 3, 1, 10.0);
  hostile_t hs[8];
  pthread_t ht[8];
  /* Aim at rank 2 (accepts from 0 and 1) and rank 1; they arrive before the real ranks start.
   * 6: an impostor claiming rank 0 at rank 2, 7: a replayed signature of rank 0 at rank 1. */
  for (int i = 0; i < 8; i++) {
    hs[i] = (hostile_t){.target = j.peers[i % 2 ? 1 : 2].addr, .mode = i % 5, .job = &j};
    if (i == 5) hs[i].mode = 2;
    if (i >= 6) hs[i].mode = i - 1;
    assert_int_equal(pthread_create(&ht[i], NULL, hostile_main, &hs[i]), 0);
  }
  /* Ranks 1 and 2 cannot finish forming before rank 0 dials them, so rank 0 starts only once
   * every hostile but the idle one has had its answer: however loaded the machine, none of them
   * can arrive after the mesh is formed and its listeners no longer read. */
  job_start(&j, 0);
  for (int i = 0; i < 8; i++)
    if (hs[i].mode != 1) pthread_join(ht[i], NULL);
  assert_int_equal(pthread_create(&j.threads[0], NULL, rank_main, &j.ranks[0]), 0);
  job_join(&j, -1);
  pthread_join(ht[1], NULL);
  for (int r = 0; r < 3; r++)
    if (j.ranks[r].rc != WEFT_SUCCESS) fail_msg("rank %d: %s", r, j.ranks[r].err);
  check_mesh(&j);
  /* Junk auth got REJECT and was hung up on; wrong epoch / member got a refusing ACK, not a slot. */
  assert_int_equal(hs[0].rc, WEFT_ERR_PEER_LOST);
  assert_int_equal(hs[2].rc, WEFT_SUCCESS);
  assert_int_equal(hs[2].ack_status, WEFT_ERR_MISMATCH);
  assert_int_equal(hs[3].rc, WEFT_SUCCESS);
  assert_int_equal(hs[3].ack_status, WEFT_ERR_MISMATCH);
  assert_int_equal(hs[5].rc, WEFT_SUCCESS);
  assert_int_equal(hs[5].ack_status, WEFT_ERR_MISMATCH);
  assert_true(log_has("bad auth response"));
  assert_true(log_has("another epoch"));
  assert_true(log_has("member id"));
  /* The impostor and the replay knew the token and rank 0's every claim: refused, no slot. */
  for (int i = 6; i < 8; i++) {
    assert_int_equal(hs[i].rc, WEFT_SUCCESS);
    assert_int_equal(hs[i].ack_status, WEFT_ERR_UNAUTHORIZED);
  }
  char want[160];
  snprintf(want, sizeof want, "mesh epoch 3 rank 2: rejected an incoming connection: PEER_HELLO claims "
           "rank 0 (member %llu) but is not signed by that member's identity key",
           (unsigned long long)j.peers[0].member_id);
  assert_true(log_has(want));
  want[strlen("mesh epoch 3 rank ")] = '1';
  assert_true(log_has(want));
  job_close(&j);
}


/* ---- failures ----------------------------------------------------------------------------- */

static void expect_all_closed(const rank_t *r) {
  for (int i = 0; i < r->size * r->nsocks; i++) assert_int_equal(r->fds[i], -1);
}

/* Rank 1 never shows up: its address refuses. The others time out at the deadline, not later,
 * and say it was rank 1. */
static void test_mesh_missing_rank_times_out(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 3, 2, 1.0);
  close(j.ranks[1].listen_fd);
  j.ranks[1].listen_fd = -1;
  job_start(&j, 1);
  job_join(&j, 1);
  for (int r = 0; r < 3; r += 2) {
    assert_int_equal(j.ranks[r].rc, WEFT_ERR_TIMEOUT);
    assert_non_null(strstr(j.ranks[r].err, "peer rank 1"));
    assert_true(j.ranks[r].took > 0.8);
    assert_true(j.ranks[r].took < 3.0);
    expect_all_closed(&j.ranks[r]);
  }
  assert_non_null(strstr(j.ranks[0].err, "refused"));
  assert_non_null(strstr(j.ranks[2].err, "never connected"));
  job_close(&j);
}

/* Rank 1's listener exists but nobody runs the mesh behind it: connects succeed, no challenge. */
static void test_mesh_silent_rank_times_out(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 3, 1, 1.0);
  job_start(&j, 1);
  job_join(&j, 1);
  for (int r = 0; r < 3; r += 2) {
    assert_int_equal(j.ranks[r].rc, WEFT_ERR_TIMEOUT);
    assert_non_null(strstr(j.ranks[r].err, "peer rank 1"));
    assert_true(j.ranks[r].took < 3.0);
  }
  assert_non_null(strstr(j.ranks[0].err, "no auth challenge"));
  job_close(&j);
}

/* A rank with the wrong token: whoever dials it learns at once (no waiting for the deadline). */
static void test_mesh_wrong_token_fails_fast(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 2, 1, 5.0);
  j.ranks[1].key = key_of("other-job");
  job_start(&j, -1);
  job_join(&j, -1);
  assert_int_equal(j.ranks[0].rc, WEFT_ERR_UNAUTHORIZED);
  assert_non_null(strstr(j.ranks[0].err, "peer rank 1"));
  assert_true(j.ranks[0].took < 2.5); /* half the deadline: it did not wait for it (loaded machines are slow) */
  expect_all_closed(&j.ranks[0]);
  /* Rank 1 only ever saw a stray it rejected; its own peer never arrived. */
  assert_int_equal(j.ranks[1].rc, WEFT_ERR_TIMEOUT);
  job_close(&j);
}

/* Someone with the job token answers at rank 1's address, but not with rank 1's key: rank 0
 * refuses the connection at once, naming the member it dialled. */
static void test_mesh_impostor_acceptor(void **state) {
  (void)state;
  job_t j;
  job_init(&j, 2, 1, 5.0);
  assert_true(weft__identity_new(&j.ranks[1].id)); /* not the key peers[1] lists */
  job_start(&j, -1);
  job_join(&j, -1);
  assert_int_equal(j.ranks[0].rc, WEFT_ERR_UNAUTHORIZED);
  assert_non_null(strstr(j.ranks[0].err, "peer rank 1"));
  assert_non_null(strstr(j.ranks[0].err, "not signed by member"));
  assert_true(j.ranks[0].took < 2.5);
  expect_all_closed(&j.ranks[0]);
  job_close(&j);
}

static void test_mesh_invalid_arguments(void **state) {
  (void)state;
  weft__mesh_peer_t peers[2] = {{0}};
  weft__auth_key_t k = key_of("x");
  weft__identity_t id;
  int fds[4];
  char err[256];
  assert_true(weft__identity_new(&id));
  assert_int_equal(weft__mesh_connect(-1, &k, &id, 1, 2, 2, peers, 1, weft__now() + 1, fds, err, sizeof err),
                   WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(weft__mesh_connect(-1, &k, &id, 1, 0, 2, peers, 0, weft__now() + 1, fds, err, sizeof err),
                   WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(weft__mesh_connect(-1, &k, NULL, 1, 0, 2, peers, 1, weft__now() + 1, fds, err, sizeof err),
                   WEFT_ERR_INVALID_ARGUMENT);
  /* A peer whose card carries no identity key: refused at once, naming it. */
  peers[1].member_id = 77;
  assert_int_equal(weft__mesh_connect(-1, &k, &id, 1, 0, 2, peers, 1, weft__now() + 1, fds, err, sizeof err),
                   WEFT_ERR_UNAUTHORIZED);
  assert_non_null(strstr(err, "peer rank 1 (member 77) published no identity key"));
}

static void test_peer_hello_codec(void **state) {
  (void)state;
  weft__peer_hello_t h = {.epoch = 0x0102030405060708ull, .member_id = 99, .rank = 4,
                          .sock_index = 1, .size = 9, .comm_id = 0xa1b2c3d4e5f60718ull,
                          .to_member_id = 0x1122334455667788ull, .to_rank = 6}, d;
  uint8_t b[WEFT__PEER_HELLO_BODY_LEN];
  weft__peer_hello_encode(b, &h);
  assert_int_equal(b[0], 0x57);
  assert_int_equal(b[3], 0x48);
  assert_int_equal(b[8], 0x08);
  assert_int_equal(b[40], 0x18); /* comm_id, least significant byte first */
  assert_true(weft__peer_hello_decode(b, sizeof b, &d));
  assert_true(d.epoch == h.epoch && d.member_id == h.member_id && d.comm_id == h.comm_id);
  assert_true(d.rank == h.rank && d.sock_index == h.sock_index && d.size == h.size);
  assert_true(d.to_member_id == h.to_member_id && d.to_rank == h.to_rank);
  assert_int_equal(b[48], 0x88);
  assert_false(weft__peer_hello_decode(b, WEFT__PEER_HELLO_LEN, &d)); /* the body only */
  assert_false(weft__peer_hello_decode(b, sizeof b - 1, &d));
  for (int i = 0; i < 8; i++) {
    uint8_t t[WEFT__PEER_HELLO_BODY_LEN];
    memcpy(t, b, sizeof t);
    t[i] ^= 0x20;
    assert_false(weft__peer_hello_decode(t, sizeof t, &d));
  }
  b[5] = WEFT__PEER_FLAG_ENCRYPT; /* encryption without a key exchange key */
  assert_false(weft__peer_hello_decode(b, sizeof b, &d));
  b[95] = 9;
  assert_true(weft__peer_hello_decode(b, sizeof b, &d));
  assert_true(d.flags == WEFT__PEER_FLAG_ENCRYPT && d.kx_pk[31] == 9);
  b[5] = 0; /* a key without encryption */
  assert_false(weft__peer_hello_decode(b, sizeof b, &d));
  b[95] = 0;
  b[63] = 1; /* reserved after to_rank */
  assert_false(weft__peer_hello_decode(b, sizeof b, &d));
  b[63] = 0;
  b[39] = 1; /* reserved */
  assert_false(weft__peer_hello_decode(b, sizeof b, &d));
}

/* The signatures bind both ends' identities, the epoch and the communicator to one connection:
 * change any of them, the nonces, the key or the purpose, and the check fails. */
static void test_peer_hello_signature(void **state) {
  (void)state;
  weft__identity_t a, b;
  uint8_t ns[WEFT__AUTH_NONCE_LEN], nc[WEFT__AUTH_NONCE_LEN], msg[WEFT__PEER_HELLO_LEN];
  assert_true(weft__identity_new(&a));
  assert_true(weft__identity_new(&b));
  weft__auth_random(ns, sizeof ns);
  weft__auth_random(nc, sizeof nc);
  weft__peer_hello_t h = {.epoch = 7, .member_id = 0x9e3779b97f4a7c15ull, .rank = 0, .sock_index = 1,
                          .size = 3, .comm_id = 5, .to_member_id = 0x243f6a8885a308d3ull, .to_rank = 2};
  weft__peer_hello_encode(msg, &h);
  assert_true(weft__peer_hello_sign(&a, ns, nc, msg));
  assert_true(weft__peer_hello_verify(a.pk, ns, nc, msg));
  assert_false(weft__peer_hello_verify(b.pk, ns, nc, msg)); /* another member's key */
  assert_false(weft__peer_hello_verify(a.pk, nc, ns, msg)); /* nonces swapped */
  uint8_t other[WEFT__AUTH_NONCE_LEN];
  weft__auth_random(other, sizeof other);
  assert_false(weft__peer_hello_verify(a.pk, other, nc, msg)); /* another connection */
  /* Each claim the signature covers, changed after signing: epoch, member id, rank, comm id,
   * the acceptor's member id and rank. */
  const weft__peer_hello_t changed[] = {
      {.epoch = 8, .member_id = h.member_id, .rank = 0, .sock_index = 1, .size = 3, .comm_id = 5, .to_member_id = h.to_member_id, .to_rank = 2},
      {.epoch = 7, .member_id = h.member_id + 1, .rank = 0, .sock_index = 1, .size = 3, .comm_id = 5, .to_member_id = h.to_member_id, .to_rank = 2},
      {.epoch = 7, .member_id = h.member_id, .rank = 1, .sock_index = 1, .size = 3, .comm_id = 5, .to_member_id = h.to_member_id, .to_rank = 2},
      {.epoch = 7, .member_id = h.member_id, .rank = 0, .sock_index = 1, .size = 3, .comm_id = 6, .to_member_id = h.to_member_id, .to_rank = 2},
      {.epoch = 7, .member_id = h.member_id, .rank = 0, .sock_index = 1, .size = 3, .comm_id = 5, .to_member_id = 1, .to_rank = 2},
      {.epoch = 7, .member_id = h.member_id, .rank = 0, .sock_index = 1, .size = 3, .comm_id = 5, .to_member_id = h.to_member_id, .to_rank = 1},
  };
  for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
    uint8_t t[WEFT__PEER_HELLO_LEN];
    memcpy(t, msg, sizeof t);
    weft__peer_hello_encode(t, &changed[i]); /* the body changes, the signature stays */
    assert_false(weft__peer_hello_verify(a.pk, ns, nc, t));
  }
  /* The ACK: signed by the acceptor over the hello it answers. */
  uint8_t ack[WEFT__PEER_ACK_LEN], hello2[WEFT__PEER_HELLO_BODY_LEN];
  weft__peer_ack_make(&b, ns, nc, msg, WEFT_SUCCESS, 0, NULL, ack);
  assert_true(weft__peer_ack_verify(b.pk, ns, nc, msg, ack));
  assert_false(weft__peer_ack_verify(a.pk, ns, nc, msg, ack));
  weft__peer_hello_encode(hello2, &changed[4]);
  assert_false(weft__peer_ack_verify(b.pk, ns, nc, hello2, ack)); /* an ACK for another hello */
  ack[4] = 1;
  assert_false(weft__peer_ack_verify(b.pk, ns, nc, msg, ack)); /* its status changed */
  /* The acceptor's flags and kx key are signed too: a substituted key fails. */
  uint8_t kx_pk[WEFT__CRYPT_PK_LEN], kx_got[WEFT__CRYPT_PK_LEN];
  uint32_t status, flags;
  memset(kx_pk, 0x5a, sizeof kx_pk);
  weft__peer_ack_make(&b, ns, nc, msg, WEFT_SUCCESS, WEFT__PEER_FLAG_ENCRYPT, kx_pk, ack);
  assert_true(weft__peer_ack_decode(ack, &status, &flags, kx_got));
  assert_true(status == 0 && flags == WEFT__PEER_FLAG_ENCRYPT && memcmp(kx_got, kx_pk, sizeof kx_pk) == 0);
  assert_true(weft__peer_ack_verify(b.pk, ns, nc, msg, ack));
  ack[20] ^= 1;
  assert_false(weft__peer_ack_verify(b.pk, ns, nc, msg, ack));
  ack[8] = 0;
  assert_false(weft__peer_ack_decode(ack, &status, &flags, kx_got)); /* a key without the flag */
  /* A hello signature is no ACK signature (distinct labels), and a refusal is not signed. */
  uint8_t forged[WEFT__PEER_ACK_LEN];
  weft__peer_ack_make(NULL, ns, nc, msg, WEFT_SUCCESS, 0, NULL, forged);
  memcpy(forged + WEFT__PEER_ACK_BODY_LEN, msg + WEFT__PEER_HELLO_BODY_LEN, WEFT__IDENTITY_SIG_LEN);
  assert_false(weft__peer_ack_verify(a.pk, ns, nc, msg, forged));
  weft__peer_ack_make(&b, ns, nc, msg, WEFT_ERR_MISMATCH, 0, NULL, ack);
  for (int i = WEFT__PEER_ACK_BODY_LEN; i < WEFT__PEER_ACK_LEN; i++) assert_int_equal(ack[i], 0);
  assert_true(weft__peer_ack_decode(ack, &status, &flags, kx_got) && status == WEFT_ERR_MISMATCH);
  ack[20] = 1; /* a refusal never carries a key */
  assert_false(weft__peer_ack_decode(ack, &status, &flags, kx_got));
  weft__identity_wipe(&a);
  weft__identity_wipe(&b);
}

/* ---- sock.c ------------------------------------------------------------------------------- */

static int closed_port(void) {
  int port = 0, fd = listen_local(&port);
  close(fd);
  return port;
}

static void test_sock_connect_refused(void **state) {
  (void)state;
  char err[256];
  int fd = 123, port = closed_port();
  double t0 = weft__now();
  assert_int_equal(weft__sock_connect("127.0.0.1", port, t0 + 0.3, true, &fd, err, sizeof err),
                   WEFT_ERR_TIMEOUT);
  double took = weft__now() - t0;
  assert_true(took >= 0.29 && took < 1.5);
  assert_int_equal(fd, -1);
  char want[64];
  snprintf(want, sizeof want, "connect 127.0.0.1:%d: Connection refused (after", port);
  assert_non_null(strstr(err, want));

  t0 = weft__now();
  assert_int_equal(weft__sock_connect("127.0.0.1", port, t0 + 5, false, &fd, err, sizeof err),
                   WEFT_ERR_TRANSPORT);
  assert_true(weft__now() - t0 < 1.0);
  weft__addr_t a = local_addr(port);
  assert_int_equal(weft__sock_connect_addr(&a, weft__now() + 5, &fd, err, sizeof err),
                   WEFT_ERR_TRANSPORT);
  assert_non_null(strstr(err, "refused"));
}

typedef struct {
  int port;
  double delay;
  int lfd;
} late_listener_t;

static void *late_listen(void *arg) {
  late_listener_t *l = arg;
  usleep((useconds_t)(l->delay * 1e6));
  char err[128];
  int bound = 0;
  l->lfd = -1;
  weft__sock_listen("127.0.0.1", l->port, &l->lfd, &bound, err, sizeof err);
  return NULL;
}

typedef struct {
  int fd;
  const uint8_t *p;
  size_t n;
  weft_result_t rc;
} writer_t;

static void *writer_main(void *arg) {
  writer_t *w = arg;
  w->rc = weft__sock_write_all(w->fd, w->p, w->n, weft__now() + 20);
  return NULL;
}

/* Started before its listener: retried until it comes up, then accepted with tuning. */
static void test_sock_connect_before_listen(void **state) {
  (void)state;
  late_listener_t l = {.port = closed_port(), .delay = 0.2};
  pthread_t t;
  char err[256];
  int fd = -1, afd = -1;
  assert_int_equal(pthread_create(&t, NULL, late_listen, &l), 0);
  assert_int_equal(weft__sock_connect("127.0.0.1", l.port, weft__now() + 5, true, &fd, err,
                                      sizeof err),
                   WEFT_SUCCESS);
  pthread_join(t, NULL);
  assert_true(l.lfd >= 0);
  assert_int_equal(weft__sock_accept(l.lfd, weft__now() + 2, &afd, err, sizeof err), WEFT_SUCCESS);
  assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
  assert_true(fcntl(afd, F_GETFL) & O_NONBLOCK);
  assert_true(fcntl(afd, F_GETFD) & FD_CLOEXEC);

  weft__addr_t a;
  char text[64];
  assert_int_equal(weft__sock_local_addr(fd, 4321, &a), WEFT_SUCCESS);
  weft__addr_format(&a, text, sizeof text);
  assert_string_equal(text, "127.0.0.1:4321");

  /* A transfer far larger than the socket buffers: write_all and read_all must each wait for
   * the other side (poll), from two threads, and deliver every byte in order. */
  size_t big = 16u << 20;
  uint8_t *src = malloc(big), *dst = malloc(big);
  assert_non_null(src);
  assert_non_null(dst);
  for (size_t i = 0; i < big; i++) src[i] = (uint8_t)(i * 31 + 7);
  writer_t wa = {.fd = fd, .p = src, .n = big, .rc = WEFT_ERR_INTERNAL};
  pthread_t w;
  assert_int_equal(pthread_create(&w, NULL, writer_main, &wa), 0);
  assert_int_equal(weft__sock_read_all(afd, dst, big, weft__now() + 20), WEFT_SUCCESS);
  pthread_join(w, NULL);
  assert_int_equal(wa.rc, WEFT_SUCCESS);
  assert_memory_equal(src, dst, big);
  free(src);
  free(dst);
  close(fd);
  close(afd);
  close(l.lfd);
}

static void test_sock_io_errors(void **state) {
  (void)state;
  int sv[2];
  uint8_t b[8] = {0};
  char err[128];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  double t0 = weft__now();
  assert_int_equal(weft__sock_read_all(sv[0], b, sizeof b, t0 + 0.2), WEFT_ERR_TIMEOUT);
  assert_true(weft__now() - t0 >= 0.19 && weft__now() - t0 < 1.5);
  assert_int_equal(weft__sock_write_all(sv[1], "abc", 3, t0 + 1), WEFT_SUCCESS);
  close(sv[1]);
  /* 3 bytes then EOF: the peer is lost, not a timeout. */
  assert_int_equal(weft__sock_read_all(sv[0], b, sizeof b, weft__now() + 5), WEFT_ERR_PEER_LOST);
  assert_memory_equal(b, "abc", 3);
  /* Writing to a closed peer: an error, never SIGPIPE. */
  assert_int_equal(weft__sock_write_all(sv[0], b, sizeof b, weft__now() + 1), WEFT_ERR_PEER_LOST);
  close(sv[0]);

  int port = 0, lfd = listen_local(&port), afd = 0;
  t0 = weft__now();
  assert_int_equal(weft__sock_accept(lfd, t0 + 0.2, &afd, err, sizeof err), WEFT_ERR_TIMEOUT);
  assert_int_equal(afd, -1);
  assert_true(weft__now() - t0 < 1.5);
  close(lfd);

  weft__addr_t six = {.family = 6, .port = 80};
  six.ip[15] = 1;
  char text[64];
  weft__addr_format(&six, text, sizeof text);
  assert_string_equal(text, "[::1]:80");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_peer_hello_codec, setup_log),
      cmocka_unit_test_setup(test_peer_hello_signature, setup_log),
      cmocka_unit_test_setup(test_sock_connect_refused, setup_log),
      cmocka_unit_test_setup(test_sock_connect_before_listen, setup_log),
      cmocka_unit_test_setup(test_sock_io_errors, setup_log),
      cmocka_unit_test_setup(test_mesh_invalid_arguments, setup_log),
      cmocka_unit_test_setup(test_mesh_1_rank, setup_log),
      cmocka_unit_test_setup(test_mesh_2_ranks, setup_log),
      cmocka_unit_test_setup(test_mesh_3_ranks, setup_log),
      cmocka_unit_test_setup(test_mesh_5_ranks, setup_log),
      cmocka_unit_test_setup(test_mesh_staggered_start, setup_log),
      cmocka_unit_test_setup(test_mesh_encrypted, setup_log),
      cmocka_unit_test_setup(test_mesh_encrypt_mismatch, setup_log),
      cmocka_unit_test_setup(test_mesh_rejects_strays, setup_log),
      cmocka_unit_test_setup(test_mesh_missing_rank_times_out, setup_log),
      cmocka_unit_test_setup(test_mesh_silent_rank_times_out, setup_log),
      cmocka_unit_test_setup(test_mesh_wrong_token_fails_fast, setup_log),
      cmocka_unit_test_setup(test_mesh_impostor_acceptor, setup_log),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
