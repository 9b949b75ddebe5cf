/* Connection authentication (lib/bootstrap/auth.c): the pure MAC pieces, then real handshakes
 * over socket pairs and loopback TCP with the other side in a thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "bootstrap/auth.h"
#include "core/sock.h"

static weft__auth_key_t key_of(const char *token) {
  weft__auth_key_t k;
  assert_true(weft__auth_key_from_token(token, &k));
  return k;
}

static void test_key_derivation(void **state) {
  (void)state;
  weft__auth_key_t a = key_of("secret"), b = key_of("secret"), c = key_of("secret2");
  weft__auth_key_t z = key_of("");
  assert_memory_equal(a.bytes, b.bytes, 32);
  assert_memory_not_equal(a.bytes, c.bytes, 32);
  assert_memory_not_equal(a.bytes, z.bytes, 32);
  /* The key is not the token itself (the token must never be what travels or is compared). */
  assert_memory_not_equal(a.bytes, "secret\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32);
  uint8_t r1[32], r2[32];
  weft__auth_random(r1, sizeof r1);
  weft__auth_random(r2, sizeof r2);
  assert_memory_not_equal(r1, r2, 32);
  assert_int_not_equal(weft__auth_random_u64(), weft__auth_random_u64());
}

/* One full exchange with the pure functions; returns the pieces for tampering. */
typedef struct {
  uint8_t challenge[WEFT__AUTH_CHALLENGE_LEN], nonce_s[WEFT__AUTH_NONCE_LEN];
  uint8_t client_nonce_s[WEFT__AUTH_NONCE_LEN];
  uint8_t response[WEFT__AUTH_RESPONSE_LEN], mac_s[WEFT__AUTH_MAC_LEN];
} exchange_t;

static void run_exchange(const weft__auth_key_t *k, uint8_t role, exchange_t *x) {
  weft__auth_make_challenge(role, x->nonce_s, x->challenge);
  assert_true(weft__auth_parse_challenge(x->challenge, sizeof x->challenge, role, x->client_nonce_s));
  assert_memory_equal(x->nonce_s, x->client_nonce_s, WEFT__AUTH_NONCE_LEN);
  weft__auth_make_response(k, role, x->client_nonce_s, x->response);
  assert_true(weft__auth_check_response(k, role, x->nonce_s, x->response, sizeof x->response,
                                        x->mac_s));
  assert_true(weft__auth_check_server_mac(k, role, x->response, x->client_nonce_s, x->mac_s,
                                          sizeof x->mac_s));
}

static void test_pure_right_key_passes(void **state) {
  (void)state;
  weft__auth_key_t k = key_of("job-123");
  exchange_t x, y;
  run_exchange(&k, WEFT__AUTH_ROLE_PEER, &x);
  run_exchange(&k, WEFT__AUTH_ROLE_PEER, &y);
  /* Fresh nonces every time. */
  assert_memory_not_equal(x.nonce_s, y.nonce_s, WEFT__AUTH_NONCE_LEN);
  assert_memory_not_equal(x.response, y.response, WEFT__AUTH_RESPONSE_LEN);
  /* Challenge layout per auth.h. */
  assert_int_equal(x.challenge[0], 0x57);
  assert_int_equal(x.challenge[3], 0x55);
  assert_int_equal(x.challenge[4], WEFT__AUTH_VERSION);
  assert_int_equal(x.challenge[5], WEFT__AUTH_ROLE_PEER);
}

static void test_pure_wrong_key_role_nonce_fail(void **state) {
  (void)state;
  weft__auth_key_t k = key_of("right"), bad = key_of("wrong");
  exchange_t x;
  uint8_t mac[WEFT__AUTH_MAC_LEN];
  run_exchange(&k, WEFT__AUTH_ROLE_COORD, &x);

  /* Wrong key on either side. */
  assert_false(weft__auth_check_response(&bad, WEFT__AUTH_ROLE_COORD, x.nonce_s, x.response,
                                         sizeof x.response, mac));
  assert_false(weft__auth_check_server_mac(&bad, WEFT__AUTH_ROLE_COORD, x.response, x.nonce_s,
                                           x.mac_s, sizeof x.mac_s));
  /* Wrong role: the challenge is refused, and a MAC made for one role fails for the other. */
  assert_false(weft__auth_parse_challenge(x.challenge, sizeof x.challenge, WEFT__AUTH_ROLE_PEER,
                                          x.client_nonce_s));
  assert_false(weft__auth_check_response(&k, WEFT__AUTH_ROLE_PEER, x.nonce_s, x.response,
                                         sizeof x.response, mac));
  assert_false(weft__auth_check_server_mac(&k, WEFT__AUTH_ROLE_PEER, x.response, x.nonce_s,
                                           x.mac_s, sizeof x.mac_s));
  /* Wrong nonce: a response to another challenge. */
  uint8_t other[WEFT__AUTH_NONCE_LEN];
  memcpy(other, x.nonce_s, sizeof other);
  other[7] ^= 1;
  assert_false(weft__auth_check_response(&k, WEFT__AUTH_ROLE_COORD, other, x.response,
                                         sizeof x.response, mac));
  assert_false(weft__auth_check_server_mac(&k, WEFT__AUTH_ROLE_COORD, x.response, other, x.mac_s,
                                           sizeof x.mac_s));
  /* Reflection: the server's own MAC presented back as a client MAC does not verify. */
  uint8_t reflected[WEFT__AUTH_RESPONSE_LEN];
  memcpy(reflected, x.response, WEFT__AUTH_NONCE_LEN);
  memcpy(reflected + WEFT__AUTH_NONCE_LEN, x.mac_s, WEFT__AUTH_MAC_LEN);
  assert_false(weft__auth_check_response(&k, WEFT__AUTH_ROLE_COORD, x.nonce_s, reflected,
                                         sizeof reflected, mac));
  /* Wrong lengths. */
  assert_false(weft__auth_check_response(&k, WEFT__AUTH_ROLE_COORD, x.nonce_s, x.response,
                                         sizeof x.response - 1, mac));
  assert_false(weft__auth_check_server_mac(&k, WEFT__AUTH_ROLE_COORD, x.response, x.nonce_s,
                                           x.mac_s, sizeof x.mac_s + 1));
  assert_false(weft__auth_parse_challenge(x.challenge, sizeof x.challenge - 1,
                                          WEFT__AUTH_ROLE_COORD, other));
}

static void test_pure_tampered_bytes_fail(void **state) {
  (void)state;
  weft__auth_key_t k = key_of("tamper");
  exchange_t x;
  uint8_t mac[WEFT__AUTH_MAC_LEN];
  run_exchange(&k, WEFT__AUTH_ROLE_PEER, &x);
  for (size_t i = 0; i < sizeof x.response; i++) {
    uint8_t t[WEFT__AUTH_RESPONSE_LEN];
    memcpy(t, x.response, sizeof t);
    t[i] ^= 0x80;
    assert_false(weft__auth_check_response(&k, WEFT__AUTH_ROLE_PEER, x.nonce_s, t, sizeof t, mac));
  }
  for (size_t i = 0; i < sizeof x.mac_s; i++) {
    uint8_t t[WEFT__AUTH_MAC_LEN];
    memcpy(t, x.mac_s, sizeof t);
    t[i] ^= 1;
    assert_false(weft__auth_check_server_mac(&k, WEFT__AUTH_ROLE_PEER, x.response, x.nonce_s, t,
                                             sizeof t));
  }
  /* Header bytes of the challenge (magic, version, role, reserved) are all checked. */
  for (size_t i = 0; i < 8; i++) {
    uint8_t t[WEFT__AUTH_CHALLENGE_LEN], n[WEFT__AUTH_NONCE_LEN];
    memcpy(t, x.challenge, sizeof t);
    t[i] ^= 0x10;
    assert_false(weft__auth_parse_challenge(t, sizeof t, WEFT__AUTH_ROLE_PEER, n));
  }
}

/* ---- handshakes over real sockets --------------------------------------------------------- */

typedef struct {
  int fd;
  weft__auth_key_t key;
  uint8_t role;
  double deadline;
  weft_result_t rc;
  char err[256];
} side_t;

static void *server_thread(void *arg) {
  side_t *s = arg;
  s->rc = weft__auth_server(s->fd, &s->key, s->role, s->deadline, s->err, sizeof s->err);
  close(s->fd); /* auth_server closes nothing; its caller (this thread) does */
  return NULL;
}

/* Runs server (thread) against client (this thread) over a socket pair. */
static void handshake(const char *server_token, uint8_t server_role, const char *client_token,
                      uint8_t client_role, side_t *srv, side_t *cli) {
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  weft__sock_set_nonblock(sv[0]);
  weft__sock_set_nonblock(sv[1]);
  double deadline = weft__now() + 5.0;
  *srv = (side_t){.fd = sv[0], .key = key_of(server_token), .role = server_role,
                  .deadline = deadline};
  *cli = (side_t){.fd = sv[1], .key = key_of(client_token), .role = client_role,
                  .deadline = deadline};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, server_thread, srv), 0);
  cli->rc = weft__auth_client(cli->fd, &cli->key, cli->role, deadline, cli->err, sizeof cli->err);
  close(cli->fd);
  pthread_join(t, NULL);
}

static void test_handshake_good_pair(void **state) {
  (void)state;
  side_t srv, cli;
  handshake("tok", WEFT__AUTH_ROLE_PEER, "tok", WEFT__AUTH_ROLE_PEER, &srv, &cli);
  assert_int_equal(srv.rc, WEFT_SUCCESS);
  assert_int_equal(cli.rc, WEFT_SUCCESS);
}

static void test_handshake_wrong_secret(void **state) {
  (void)state;
  side_t srv, cli;
  handshake("tok", WEFT__AUTH_ROLE_PEER, "not-tok", WEFT__AUTH_ROLE_PEER, &srv, &cli);
  assert_int_equal(srv.rc, WEFT_ERR_UNAUTHORIZED);
  assert_int_equal(cli.rc, WEFT_ERR_UNAUTHORIZED);
  assert_non_null(strstr(srv.err, "token"));
  assert_non_null(strstr(cli.err, "token"));
}

static void test_handshake_role_mismatch(void **state) {
  (void)state;
  side_t srv, cli;
  handshake("tok", WEFT__AUTH_ROLE_COORD, "tok", WEFT__AUTH_ROLE_PEER, &srv, &cli);
  assert_int_equal(cli.rc, WEFT_ERR_UNAUTHORIZED);
  assert_non_null(strstr(cli.err, "role"));
  assert_int_equal(srv.rc, WEFT_ERR_UNAUTHORIZED);
}

static void test_client_times_out_on_silent_server(void **state) {
  (void)state;
  int sv[2];
  char err[256];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  weft__auth_key_t k = key_of("tok");
  double t0 = weft__now();
  weft_result_t rc = weft__auth_client(sv[1], &k, WEFT__AUTH_ROLE_PEER, t0 + 0.3, err, sizeof err);
  double took = weft__now() - t0;
  assert_int_equal(rc, WEFT_ERR_TIMEOUT);
  assert_true(took >= 0.29);
  assert_true(took < 2.0);
  assert_non_null(strstr(err, "timed out"));
  close(sv[0]);
  close(sv[1]);
}

static void test_server_times_out_on_silent_client(void **state) {
  (void)state;
  int sv[2];
  char err[256];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  weft__auth_key_t k = key_of("tok");
  double t0 = weft__now();
  weft_result_t rc = weft__auth_server(sv[0], &k, WEFT__AUTH_ROLE_PEER, t0 + 0.2, err, sizeof err);
  assert_int_equal(rc, WEFT_ERR_TIMEOUT);
  assert_true(weft__now() - t0 < 2.0);
  close(sv[0]);
  close(sv[1]);
}

/* A server that hangs up after reading our response, without a verdict (it crashed, or gave up
 * forming the epoch), is a lost peer: not a claim that our token is wrong. */
static void test_server_gone_mid_handshake_is_not_unauthorized(void **state) {
  (void)state;
  int sv[2];
  char err[256];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  uint8_t nonce_s[WEFT__AUTH_NONCE_LEN], challenge[WEFT__AUTH_CHALLENGE_LEN];
  weft__auth_make_challenge(WEFT__AUTH_ROLE_PEER, nonce_s, challenge);
  assert_int_equal(weft__sock_write_all(sv[0], challenge, sizeof challenge, weft__now() + 5.0),
                   WEFT_SUCCESS);
  shutdown(sv[0], SHUT_WR); /* the response fits in the buffer; no verdict ever comes */
  weft__auth_key_t k = key_of("tok");
  weft_result_t rc = weft__auth_client(sv[1], &k, WEFT__AUTH_ROLE_PEER, weft__now() + 5.0, err,
                                       sizeof err);
  assert_int_equal(rc, WEFT_ERR_PEER_LOST);
  assert_non_null(strstr(err, "server's proof"));
  assert_int_equal(weft__auth_is_reject((const uint8_t *)"weft/1 reject", 13), false);
  close(sv[0]);
  close(sv[1]);
}

/* A response recorded from one good handshake, replayed to a new server connection, fails:
 * the new server's nonce is different. */
static void test_replayed_response_fails(void **state) {
  (void)state;
  weft__auth_key_t k = key_of("tok");
  exchange_t recorded;
  run_exchange(&k, WEFT__AUTH_ROLE_PEER, &recorded);

  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  side_t srv = {.fd = sv[0], .key = k, .role = WEFT__AUTH_ROLE_PEER,
                .deadline = weft__now() + 5.0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, server_thread, &srv), 0);
  uint8_t challenge[WEFT__AUTH_CHALLENGE_LEN], mac[WEFT__AUTH_MAC_LEN];
  assert_int_equal(weft__sock_read_all(sv[1], challenge, sizeof challenge, weft__now() + 5.0),
                   WEFT_SUCCESS);
  assert_int_equal(weft__sock_write_all(sv[1], recorded.response, sizeof recorded.response,
                                        weft__now() + 5.0),
                   WEFT_SUCCESS);
  /* The attacker gets no server proof: only the REJECT verdict, then the caller hangs up. */
  assert_int_equal(weft__sock_read_all(sv[1], mac, sizeof mac, weft__now() + 5.0), WEFT_SUCCESS);
  assert_true(weft__auth_is_reject(mac, sizeof mac));
  assert_int_equal(weft__sock_read_all(sv[1], mac, 1, weft__now() + 5.0), WEFT_ERR_PEER_LOST);
  pthread_join(t, NULL);
  assert_int_equal(srv.rc, WEFT_ERR_UNAUTHORIZED);
  close(sv[1]);
}

/* Also over loopback TCP with the sock.h helpers, as the library uses it. */
static void *tcp_server_thread(void *arg) {
  side_t *s = arg; /* fd is the listening socket on entry */
  int lfd = s->fd, fd = -1;
  s->rc = weft__sock_accept(lfd, s->deadline, &fd, s->err, sizeof s->err);
  if (s->rc == WEFT_SUCCESS) {
    s->rc = weft__auth_server(fd, &s->key, s->role, s->deadline, s->err, sizeof s->err);
    close(fd);
  }
  return NULL;
}

static void test_handshake_over_tcp(void **state) {
  (void)state;
  int lfd = -1, port = 0, fd = -1;
  char err[256];
  assert_int_equal(weft__sock_listen("127.0.0.1", 0, &lfd, &port, err, sizeof err), WEFT_SUCCESS);
  assert_true(port > 0);
  side_t srv = {.fd = lfd, .key = key_of("tcp"), .role = WEFT__AUTH_ROLE_COORD,
                .deadline = weft__now() + 5.0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, tcp_server_thread, &srv), 0);
  assert_int_equal(weft__sock_connect("127.0.0.1", port, weft__now() + 5.0, false, &fd, err,
                                      sizeof err),
                   WEFT_SUCCESS);
  weft__auth_key_t k = key_of("tcp");
  assert_int_equal(weft__auth_client(fd, &k, WEFT__AUTH_ROLE_COORD, weft__now() + 5.0, err,
                                     sizeof err),
                   WEFT_SUCCESS);
  pthread_join(t, NULL);
  assert_int_equal(srv.rc, WEFT_SUCCESS);
  close(fd);
  close(lfd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_derivation),
      cmocka_unit_test(test_pure_right_key_passes),
      cmocka_unit_test(test_pure_wrong_key_role_nonce_fail),
      cmocka_unit_test(test_pure_tampered_bytes_fail),
      cmocka_unit_test(test_handshake_good_pair),
      cmocka_unit_test(test_handshake_wrong_secret),
      cmocka_unit_test(test_handshake_role_mismatch),
      cmocka_unit_test(test_client_times_out_on_silent_server),
      cmocka_unit_test(test_server_times_out_on_silent_client),
      cmocka_unit_test(test_replayed_response_fails),
      cmocka_unit_test(test_server_gone_mid_handshake_is_not_unauthorized),
      cmocka_unit_test(test_handshake_over_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
