/* Transports per peer (lib/core/net.c): WEFT_TRANSPORTS picks and orders the endpoints a
 * context opens, and an unknown or unbuilt transport is refused with its name and what this
 * build has; a communicator's net connects over them (here: two TCP endpoints in one process,
 * a real 2-rank connection, frames posted and delivered through the per-peer table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/net.h"

static weft__auth_key_t key;

static weft__endpoint_args_t loopback(void) {
  return (weft__endpoint_args_t){.ifname = "", .route_host = "127.0.0.1", .route_port = 9, .key = &key};
}

static void test_open_choices(void **state) {
  (void)state;
  weft__endpoints_t eps;
  char err[256];
  weft__endpoint_args_t a = loopback();
  assert_int_equal(weft__net_open("", &a, &eps, err, sizeof err), WEFT_SUCCESS);
  assert_int_equal(eps.n, 1);
  assert_string_equal(eps.ops[0]->name, "tcp");
  assert_int_equal(eps.card.addr.family, 4);
  assert_true(eps.card.addr.port != 0);
  weft__net_close(&eps);
  assert_int_equal(weft__net_open("tcp,tcp", &a, &eps, err, sizeof err), WEFT_SUCCESS);
  assert_int_equal(eps.n, 1); /* listed twice, opened once */
  weft__net_close(&eps);
  assert_int_equal(weft__net_open("shm,tcp", &a, &eps, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err, "\"shm\""));
  assert_non_null(strstr(err, "it has: tcp"));
  assert_int_equal(eps.n, 0);
}

typedef struct {
  int got_frames;
  uint8_t buf[64];
  uint8_t *big; /* when set: where every frame goes (the large encrypted message) */
  int lost_peer;
  bool lost_clean;
  char lost_why[256];
} sink_state_t;

static weft__sink_t on_header(void *ctx, int peer, const weft__frame_t *f) {
  sink_state_t *s = ctx;
  (void)peer;
  return (weft__sink_t){.kind = WEFT__SINK_COPY, .dst = (s->big ? s->big : s->buf) + f->offset, .target = s};
}
static void on_recv_done(void *ctx, void *target, const weft__frame_t *f) {
  (void)target, (void)f;
  ((sink_state_t *)ctx)->got_frames++;
}
static void on_send_done(void *ctx, weft__xfer_t *x) { (void)ctx, (void)x; }
static void on_peer_lost(void *ctx, int peer, bool clean, const char *why) {
  sink_state_t *s = ctx;
  if (s->lost_peer >= 0) return; /* the first reason is the one that counts */
  s->lost_peer = peer;
  s->lost_clean = clean;
  snprintf(s->lost_why, sizeof s->lost_why, "%s", why);
}
static void on_reduce(void *ctx, void *target, const weft__frame_t *f, const uint8_t *d) { (void)ctx, (void)target, (void)f, (void)d; }

typedef struct {
  weft__endpoints_t *eps;
  weft__connect_args_t args;
  weft__net_t *net;
  weft_result_t rc;
  char err[256];
} side_t;

static void *connect_side(void *p) {
  side_t *s = p;
  s->rc = weft__net_connect(s->eps, &s->args, &s->net, s->err, sizeof s->err);
  return NULL;
}

/* Two endpoints in this process, connected as ranks 0 and 1 (chunk: frame size). */
typedef struct {
  weft__endpoints_t eps[2];
  weft__identity_t id[2];
  weft__card_t cards[2];
  weft__engine_t *engine[2];
  sink_state_t sink[2];
  side_t side[2];
} pair_t;

static void pair_connect(pair_t *p, bool encrypt, uint32_t chunk) {
  char err[256];
  weft__endpoint_args_t a[2] = {loopback(), loopback()};
  for (int i = 0; i < 2; i++) {
    assert_true(weft__identity_new(&p->id[i]));
    a[i].identity = &p->id[i];
    a[i].encrypt = encrypt;
    assert_int_equal(weft__net_open("tcp", &a[i], &p->eps[i], err, sizeof err), WEFT_SUCCESS);
  }
  for (int i = 0; i < 2; i++) {
    p->cards[i] = p->eps[i].card;
    p->cards[i].member_id = 10 + (uint64_t)i;
    p->cards[i].has_identity = true;
    memcpy(p->cards[i].identity, p->id[i].pk, sizeof p->cards[i].identity);
  }
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(weft__engine_create(NULL, &p->engine[i]), WEFT_SUCCESS);
    p->sink[i] = (sink_state_t){.lost_peer = -1};
    p->side[i] = (side_t){.eps = &p->eps[i]};
    p->side[i].args = (weft__connect_args_t){.epoch = 1, .comm_id = 77, .rank = i, .size = 2, .cards = p->cards,
                                             .nsocks = 2, .chunk = chunk, .deadline = weft__now() + 10,
                                             .engine = p->engine[i],
                                             .cb = {.ctx = &p->sink[i], .on_header = on_header, .on_reduce = on_reduce,
                                                    .on_recv_done = on_recv_done, .on_send_done = on_send_done,
                                                    .on_peer_lost = on_peer_lost}};
    pthread_create(&t[i], NULL, connect_side, &p->side[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(p->side[0].rc, WEFT_SUCCESS);
  assert_int_equal(p->side[1].rc, WEFT_SUCCESS);
  for (int i = 0; i < 2; i++) weft__net_start(p->side[i].net);
}

static void pair_run(pair_t *p, int frames, double seconds) {
  double until = weft__now() + seconds;
  while (p->sink[1].got_frames < frames && p->sink[1].lost_peer < 0 && weft__now() < until)
    for (int i = 0; i < 2; i++) weft__engine_run_once(p->engine[i], 0.01);
}

static void pair_close(pair_t *p) {
  for (int i = 0; i < 2; i++) {
    weft__net_destroy(p->side[i].net);
    weft__net_close(&p->eps[i]);
    weft__engine_destroy(p->engine[i]);
    weft__identity_wipe(&p->id[i]);
  }
}

/* WEFT_ENCRYPT=1 end to end: a 40-byte message in 16-byte frames, then 1 MiB + 3 in 256 KiB frames
 * (each frame spans several records), arrive whole and in place. */
static void test_encrypted_send(void **state) {
  (void)state;
  pair_t p;
  pair_connect(&p, true, 16);
  static const uint8_t msg[40] = "forty bytes through encrypted records..";
  weft__xfer_t x = {.hdr = {.type = WEFT__FRAME_DATA, .epoch = 1, .comm_id = 77, .msg_count = 40}, .buf = msg, .len = 40};
  assert_int_equal(weft__net_post_send(p.side[0].net, 1, &x), WEFT_SUCCESS);
  pair_run(&p, 3, 5);
  assert_int_equal(p.sink[1].got_frames, 3);
  assert_memory_equal(p.sink[1].buf, msg, 40);
  pair_close(&p);

  pair_connect(&p, true, 256 * 1024);
  size_t len = (1u << 20) + 3;
  uint8_t *src = malloc(len), *dst = calloc(1, len);
  for (size_t i = 0; i < len; i++) src[i] = (uint8_t)(i * 31u + (i >> 11));
  p.sink[1].big = dst;
  weft__xfer_t big = {.hdr = {.type = WEFT__FRAME_DATA, .epoch = 1, .comm_id = 77, .msg_count = len}, .buf = src, .len = len};
  assert_int_equal(weft__net_post_send(p.side[0].net, 1, &big), WEFT_SUCCESS);
  pair_run(&p, 5, 20);
  assert_int_equal(p.sink[1].got_frames, 5);
  assert_int_equal(p.sink[1].lost_peer, -1);
  assert_memory_equal(dst, src, len);
  pair_close(&p);
  free(src);
  free(dst);
}

/* rank 0's data connections: connected sockets whose peer is rank 1's listener. */
static int sender_fds(const pair_t *p, int *fds, int max) {
  int n = 0;
  for (int fd = 3; fd < 4096 && n < max; fd++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 || ss.ss_family != AF_INET) continue;
    if (ntohs(((struct sockaddr_in *)&ss)->sin_port) == p->cards[1].addr.port) fds[n++] = fd;
  }
  return n;
}

/* An on-path attacker writes into an encrypted connection (a record with a plausible length,
 * its own bytes): the receiver refuses it before anything reaches the sink and drops the
 * connection as a peer failure, saying why; the sink never sees a frame. */
static void test_encrypted_injection_dropped(void **state) {
  (void)state;
  pair_t p;
  pair_connect(&p, true, 16);
  int fds[4];
  assert_int_equal(sender_fds(&p, fds, 4), 2);
  uint8_t forged[4 + 96 + 16];
  memset(forged, 0x41, sizeof forged);
  forged[0] = 96 + 16, forged[1] = forged[2] = forged[3] = 0;
  assert_int_equal(send(fds[0], forged, sizeof forged, MSG_NOSIGNAL), (ssize_t)sizeof forged);
  pair_run(&p, 1, 5);
  assert_int_equal(p.sink[1].got_frames, 0);
  assert_int_equal(p.sink[1].lost_peer, 0);
  assert_false(p.sink[1].lost_clean);
  assert_non_null(strstr(p.sink[1].lost_why, "encrypted record from rank 0 failed authentication"));
  pair_close(&p);
}

static void test_connect_and_send(void **state) {
  (void)state;
  weft__endpoints_t eps[2];
  char err[256];
  weft__endpoint_args_t a[2] = {loopback(), loopback()};
  weft__identity_t id[2]; /* each process signs its handshakes; its card lists the public half */
  for (int i = 0; i < 2; i++) {
    assert_true(weft__identity_new(&id[i]));
    a[i].identity = &id[i];
    assert_int_equal(weft__net_open("tcp", &a[i], &eps[i], err, sizeof err), WEFT_SUCCESS);
  }
  weft__card_t cards[2] = {eps[0].card, eps[1].card};
  cards[0].member_id = 10, cards[1].member_id = 11;
  for (int i = 0; i < 2; i++) {
    cards[i].has_identity = true;
    memcpy(cards[i].identity, id[i].pk, sizeof cards[i].identity);
  }
  weft__engine_t *engine[2];
  for (int i = 0; i < 2; i++) assert_int_equal(weft__engine_create(NULL, &engine[i]), WEFT_SUCCESS);
  sink_state_t sink[2] = {{0}, {0}};
  side_t side[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    side[i] = (side_t){.eps = &eps[i]};
    side[i].args = (weft__connect_args_t){.epoch = 1, .comm_id = 77, .rank = i, .size = 2, .cards = cards,
                                          .nsocks = 2, .chunk = 16, .deadline = weft__now() + 10, .engine = engine[i],
                                          .cb = {.ctx = &sink[i], .on_header = on_header, .on_reduce = on_reduce,
                                                 .on_recv_done = on_recv_done, .on_send_done = on_send_done,
                                                 .on_peer_lost = on_peer_lost}};
    pthread_create(&t[i], NULL, connect_side, &side[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert_int_equal(side[0].rc, WEFT_SUCCESS);
  assert_int_equal(side[1].rc, WEFT_SUCCESS);
  assert_string_equal(weft__net_transport_name(side[0].net, 1), "tcp");
  assert_string_equal(weft__net_transport_name(side[0].net, 0), "self");
  for (int i = 0; i < 2; i++) weft__net_start(side[i].net); /* the connections join the engines */
  /* 40 bytes in frames of 16, striped over 2 connections, arrive whole at rank 1. */
  static const uint8_t msg[40] = "forty bytes through the per-peer table.";
  weft__xfer_t x = {.hdr = {.type = WEFT__FRAME_DATA, .epoch = 1, .comm_id = 77, .msg_count = 40}, .buf = msg, .len = 40};
  assert_int_equal(weft__net_post_send(side[0].net, 1, &x), WEFT_SUCCESS);
  weft__xfer_t dev = x;
  dev.mem = WEFT__MEM_CUDA;
  assert_int_equal(weft__net_post_send(side[0].net, 1, &dev), WEFT_ERR_UNSUPPORTED); /* not in tcp's caps */
  double until = weft__now() + 5;
  while (sink[1].got_frames < 3 && weft__now() < until) {
    for (int i = 0; i < 2; i++) weft__engine_run_once(engine[i], 0.01);
  }
  assert_int_equal(sink[1].got_frames, 3);
  assert_memory_equal(sink[1].buf, msg, 40);
  for (int i = 0; i < 2; i++) {
    weft__net_destroy(side[i].net);
    weft__net_close(&eps[i]);
    weft__engine_destroy(engine[i]);
  }
}

int main(void) {
  weft__auth_key_from_token("test-net-token", &key);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_choices),
      cmocka_unit_test(test_connect_and_send),
      cmocka_unit_test(test_encrypted_send),
      cmocka_unit_test(test_encrypted_injection_dropped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
