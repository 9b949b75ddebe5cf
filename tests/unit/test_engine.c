/* The engine (lib/core/engine.h) on its own: watchers fire on readiness and follow modify and
 * stop, pollers keep it from blocking or bound how long it blocks, a hold skips data watchers
 * but not control ones, and a wake-up from another thread ends a blocking wait. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/engine.h"

typedef struct {
  weft__io_t io; /* first: the callback casts back */
  int calls;
  uint32_t last;
  int drain_fd; /* read what is ready so level-triggered readiness ends */
} probe_t;

static void probe_cb(weft__io_t *w, uint32_t events) {
  probe_t *p = (probe_t *)w;
  p->calls++;
  p->last = events;
  if (p->drain_fd >= 0 && (events & WEFT__IO_READ)) {
    char buf[64];
    (void)!read(p->drain_fd, buf, sizeof buf);
  }
}

static int wakes;
static void count_wake(void *arg) {
  (void)arg;
  wakes++;
}

static weft__engine_t *make(void) {
  weft__engine_hooks_t h = {.on_wake = count_wake};
  weft__engine_t *e = NULL;
  assert_int_equal(weft__engine_create(&h, &e), WEFT_SUCCESS);
  return e;
}

static void pair(int sv[2]) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

static void test_watcher_fires_on_readiness(void **state) {
  (void)state;
  weft__engine_t *e = make();
  int sv[2];
  pair(sv);
  probe_t p = {.drain_fd = sv[0]};
  weft__io_init(&p.io, probe_cb);
  assert_int_equal(weft__io_start(e, &p.io, sv[0], WEFT__IO_READ), 0);
  assert_int_equal(weft__engine_run_once(e, 0), 0); /* nothing to read yet */
  assert_int_equal(p.calls, 0);
  assert_int_equal(write(sv[1], "x", 1), 1);
  assert_int_equal(weft__engine_run_once(e, 1.0), 1);
  assert_int_equal(p.calls, 1);
  assert_true(p.last & WEFT__IO_READ);
  assert_int_equal(weft__engine_run_once(e, 0), 0); /* drained: quiet again */
  /* A hang-up is reported as read + error. */
  close(sv[1]);
  assert_int_equal(weft__engine_run_once(e, 1.0), 1);
  assert_true(p.last & WEFT__IO_READ);
  weft__io_stop(e, &p.io);
  close(sv[0]);
  weft__engine_destroy(e);
}

static void test_modify_and_stop(void **state) {
  (void)state;
  weft__engine_t *e = make();
  int sv[2];
  pair(sv);
  probe_t p = {.drain_fd = -1};
  weft__io_init(&p.io, probe_cb);
  assert_int_equal(weft__io_start(e, &p.io, sv[0], WEFT__IO_READ), 0);
  assert_int_equal(weft__engine_run_once(e, 0), 0);
  /* An idle socket is writable: asking for WRITE reports it at once. */
  assert_int_equal(weft__io_modify(e, &p.io, WEFT__IO_READ | WEFT__IO_WRITE), 0);
  assert_int_equal(weft__engine_run_once(e, 0), 1);
  assert_true(p.last & WEFT__IO_WRITE);
  assert_int_equal(weft__io_modify(e, &p.io, WEFT__IO_READ), 0);
  p.calls = 0;
  assert_int_equal(weft__engine_run_once(e, 0), 0);
  assert_int_equal(p.calls, 0);
  /* Stopped: readable data no longer calls it, and stop twice is harmless. */
  weft__io_stop(e, &p.io);
  weft__io_stop(e, &p.io);
  assert_int_equal(p.io.fd, -1);
  assert_int_equal(write(sv[1], "x", 1), 1);
  assert_int_equal(weft__engine_run_once(e, 0.02), 0);
  assert_int_equal(p.calls, 0);
  close(sv[0]);
  close(sv[1]);
  weft__engine_destroy(e);
}

static void test_hold_skips_data_watchers(void **state) {
  (void)state;
  weft__engine_t *e = make();
  int a[2], b[2];
  pair(a);
  pair(b);
  probe_t data = {.drain_fd = a[0]}, ctl = {.drain_fd = b[0]};
  weft__io_init(&data.io, probe_cb);
  weft__io_init(&ctl.io, probe_cb);
  ctl.io.control = true;
  assert_int_equal(weft__io_start(e, &data.io, a[0], WEFT__IO_READ), 0);
  assert_int_equal(weft__io_start(e, &ctl.io, b[0], WEFT__IO_READ), 0);
  assert_int_equal(write(a[1], "x", 1), 1);
  assert_int_equal(write(b[1], "x", 1), 1);
  weft__engine_hold(e, true);
  weft__engine_run_once(e, 0);
  assert_int_equal(data.calls, 0);
  assert_int_equal(ctl.calls, 1);
  weft__engine_hold(e, false);
  weft__engine_run_once(e, 0); /* still pending: level-triggered */
  assert_int_equal(data.calls, 1);
  weft__io_stop(e, &data.io);
  weft__io_stop(e, &ctl.io);
  close(a[0]), close(a[1]), close(b[0]), close(b[1]);
  weft__engine_destroy(e);
}

typedef struct {
  weft__poller_t p; /* first */
  int work;         /* pending completions */
  int polls;
  double bound;
} src_t;

static bool src_poll(weft__poller_t *p) {
  src_t *s = (src_t *)p;
  s->polls++;
  if (s->work == 0) return false;
  s->work--;
  return true;
}

static double src_prepare(weft__poller_t *p, double now) {
  (void)now;
  return ((src_t *)p)->bound;
}

static void test_poller_with_work_prevents_blocking(void **state) {
  (void)state;
  weft__engine_t *e = make();
  src_t s = {.p = {.poll = src_poll, .prepare_block = src_prepare}, .work = 3, .bound = 1e9};
  weft__poller_add(e, &s.p);
  double t0 = weft__now();
  for (int i = 0; i < 3; i++) assert_int_equal(weft__engine_run_once(e, 5.0), 1);
  assert_true(weft__now() - t0 < 1.0); /* no turn blocked for its 5 s */
  assert_int_equal(s.polls, 3);
  weft__poller_remove(e, &s.p);
  assert_int_equal(weft__engine_run_once(e, 0), 0);
  assert_int_equal(s.polls, 3); /* removed: not polled */
  weft__engine_destroy(e);
}

static void test_prepare_block_bound_is_honoured(void **state) {
  (void)state;
  weft__engine_t *e = make();
  src_t s = {.p = {.poll = src_poll, .prepare_block = src_prepare}, .bound = 0.05};
  weft__poller_add(e, &s.p);
  double t0 = weft__now();
  assert_int_equal(weft__engine_run_once(e, 10.0), 0);
  double took = weft__now() - t0;
  assert_true(took >= 0.04);
  assert_true(took < 2.0);
  assert_true(weft__engine_prepare_block(e, weft__now()) <= 0.05);
  /* Bound 0: must not block at all. */
  s.bound = 0;
  t0 = weft__now();
  assert_int_equal(weft__engine_run_once(e, 10.0), 0);
  assert_true(weft__now() - t0 < 1.0);
  weft__poller_remove(e, &s.p);
  weft__engine_destroy(e);
}

static void *wake_later(void *arg) {
  struct timespec d = {0, 50 * 1000000L};
  nanosleep(&d, NULL);
  weft__engine_wake(arg);
  return NULL;
}

static void test_wake_from_another_thread(void **state) {
  (void)state;
  weft__engine_t *e = make();
  wakes = 0;
  pthread_t th;
  double t0 = weft__now();
  assert_int_equal(pthread_create(&th, NULL, wake_later, e), 0);
  assert_int_equal(weft__engine_run_once(e, 10.0), 1);
  assert_true(weft__now() - t0 < 5.0);
  assert_int_equal(wakes, 1);
  pthread_join(th, NULL);
  /* A thread that only sleeps does not consume the wake-up: the next turn still runs on_wake. */
  assert_int_equal(pthread_create(&th, NULL, wake_later, e), 0);
  assert_true(weft__engine_sleep(e, 10.0) > 0);
  pthread_join(th, NULL);
  assert_int_equal(wakes, 1);
  weft__engine_run_once(e, 0);
  assert_int_equal(wakes, 2);
  assert_int_equal(weft__engine_run_once(e, 0), 0); /* and it is over */
  weft__engine_destroy(e);
  weft__engine_destroy(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_watcher_fires_on_readiness),
      cmocka_unit_test(test_modify_and_stop),
      cmocka_unit_test(test_hold_skips_data_watchers),
      cmocka_unit_test(test_poller_with_work_prevents_blocking),
      cmocka_unit_test(test_prepare_block_bound_is_honoured),
      cmocka_unit_test(test_wake_from_another_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
