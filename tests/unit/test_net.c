/* Transports per peer (lib/core/net.c): WEFT_TRANSPORTS picks and orders the endpoints a
 * context opens, and an unknown or unbuilt transport is refused with its name and what this
 * build has; a communicator's net connects over them (here: two TCP endpoints in one process,
 * a real 2-rank connection, frames posted and delivered through the per-peer table). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
} sink_state_t;

static weft__sink_t on_header(void *ctx, int peer, const weft__frame_t *f) {
  sink_state_t *s = ctx;
  (void)peer;
  return (weft__sink_t){.kind = WEFT__SINK_COPY, .dst = s->buf + f->offset, .target = s};
}
static void on_recv_done(void *ctx, void *target, const weft__frame_t *f) {
  (void)target, (void)f;
  ((sink_state_t *)ctx)->got_frames++;
}
static void on_send_done(void *ctx, weft__xfer_t *x) { (void)ctx, (void)x; }
static void on_peer_lost(void *ctx, int peer, bool clean, const char *why) { (void)ctx, (void)peer, (void)clean, (void)why; }
static void on_reduce(void *ctx, void *target, const weft__frame_t *f, const uint8_t *d) { (void)ctx, (void)target, (void)f, (void)d; }

typedef struct {
  weft__endpoints_t *eps;
  weft__connect_args_t args;
  weft__net_t *net;
  weft_result_t rc;
  char err[256];
} side_t;

#include <pthread.h>
static void *connect_side(void *p) {
  side_t *s = p;
  s->rc = weft__net_connect(s->eps, &s->args, &s->net, s->err, sizeof s->err);
  return NULL;
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
