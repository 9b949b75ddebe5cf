/* The event loop (engine.h): watchers and pollers dispatched over the backend of this OS
 * (engine_backend.h). Nothing here allocates or makes a system call per turn beyond the one
 * wait: the small-message path is dominated by system calls. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/engine.h"
#include "core/engine_backend.h"

#define BATCH 64

struct weft__engine {
  weft__backend_t *be;
  weft__engine_hooks_t hooks;
  atomic_bool wake_pending; /* set by wake, consumed by the turn that runs on_wake */
  weft__poller_t *pollers;
  bool held;
};

/* What the backend carries for a watcher: its address, with bit 0 set for a control watcher,
 * so that while the engine holds data sources their events are skipped without touching the
 * watcher — its owner may be freeing it on another thread (engine.h, weft__engine_hold). */
static void *tag_of(weft__io_t *w) { return (void *)((uintptr_t)w | (w->control ? 1u : 0u)); }
static weft__io_t *io_of(void *ptr) { return (weft__io_t *)((uintptr_t)ptr & ~(uintptr_t)1); }
static bool is_control(void *ptr) { return ((uintptr_t)ptr & 1u) != 0; }

weft_result_t weft__engine_create(const weft__engine_hooks_t *hooks, weft__engine_t **out) {
  weft__engine_t *e = calloc(1, sizeof *e);
  if (!e) return WEFT_ERR_NO_MEMORY;
  if (weft__backend_create(&e->be) < 0) {
    free(e);
    return WEFT_ERR_INTERNAL;
  }
  if (hooks) e->hooks = *hooks;
  atomic_init(&e->wake_pending, false);
  *out = e;
  return WEFT_SUCCESS;
}

void weft__engine_destroy(weft__engine_t *e) {
  if (!e) return;
  weft__backend_destroy(e->be);
  free(e);
}

void weft__engine_wake(weft__engine_t *e) {
  /* The flag before the kernel wake-up: a turn woken by it, or one that had not blocked yet,
   * then sees the flag (the wake-up is not lost to a thread that only slept). */
  atomic_store(&e->wake_pending, true);
  weft__backend_wake(e->be);
}

int weft__io_start(weft__engine_t *e, weft__io_t *w, int fd, uint32_t events) {
  /* Filled before the kernel knows the fd: a turn on another thread may report it at once. */
  w->fd = fd;
  w->events = events;
  int r = weft__backend_add(e->be, fd, events, tag_of(w));
  if (r < 0) {
    w->fd = -1;
    w->events = 0;
  }
  return r;
}

int weft__io_modify(weft__engine_t *e, weft__io_t *w, uint32_t events) {
  if (w->fd < 0 || events == w->events) return 0;
  int r = weft__backend_mod(e->be, w->fd, w->events, events, tag_of(w));
  if (r == 0) w->events = events;
  return r;
}

void weft__io_stop(weft__engine_t *e, weft__io_t *w) {
  if (w->fd < 0) return;
  weft__backend_del(e->be, w->fd, w->events);
  w->fd = -1;
  w->events = 0;
}

void weft__poller_add(weft__engine_t *e, weft__poller_t *p) {
  p->prev = NULL;
  p->next = e->pollers;
  if (e->pollers) e->pollers->prev = p;
  e->pollers = p;
}

void weft__poller_remove(weft__engine_t *e, weft__poller_t *p) {
  if (p->prev) p->prev->next = p->next;
  else if (e->pollers == p) e->pollers = p->next;
  if (p->next) p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

void weft__engine_hold(weft__engine_t *e, bool hold) { e->held = hold; }

double weft__engine_prepare_block(weft__engine_t *e, double now) {
  double bound = 1e9;
  if (e->held) return bound;
  for (weft__poller_t *p = e->pollers; p; p = p->next) {
    if (!p->prepare_block) continue;
    double b = p->prepare_block(p, now);
    if (b < bound) bound = b < 0 ? 0 : b;
  }
  return bound;
}

static int run_pollers(weft__engine_t *e) {
  int progressed = 0;
  weft__poller_t *p = e->pollers, *next;
  for (; p; p = next) {
    next = p->next; /* a poller may remove itself */
    if (p->poll(p)) progressed++;
  }
  return progressed;
}

static void consume_wake(weft__engine_t *e) {
  if (atomic_load_explicit(&e->wake_pending, memory_order_relaxed) && atomic_exchange(&e->wake_pending, false) &&
      e->hooks.on_wake)
    e->hooks.on_wake(e->hooks.arg);
}

int weft__engine_run_once(weft__engine_t *e, double timeout_s) {
  int progressed = 0;
  if (!e->held && e->pollers) {
    progressed = run_pollers(e);
    if (progressed) timeout_s = 0;
    else if (timeout_s != 0) {
      double bound = weft__engine_prepare_block(e, weft__now());
      if (timeout_s < 0 || bound < timeout_s) timeout_s = bound;
    }
  }
  weft__backend_event_t evs[BATCH];
  int n = weft__backend_wait(e->be, evs, BATCH, timeout_s);
  if (n < 0) return n;
  /* Liveness before the batch too: a process resumed after a long stop must learn that it was
   * evicted before it reads its peers' closes, or it would report those as the failure. */
  if (n > 0 && e->hooks.after_event) e->hooks.after_event(e->hooks.arg);
  for (int i = 0; i < n; i++) {
    void *ptr = evs[i].ptr;
    if (!ptr) {
      weft__backend_wake_clear(e->be);
      consume_wake(e);
    } else if (e->held && !is_control(ptr)) {
      continue; /* pending until the hold ends (level-triggered) */
    } else {
      weft__io_t *w = io_of(ptr);
      /* Stopped by an earlier callback of this batch: its owner keeps the memory valid until
       * the turn ends (TCP: connections are freed only by destroy, which no callback calls). */
      if (w->fd < 0) continue;
      w->cb(w, evs[i].events);
    }
    if (e->hooks.after_event) e->hooks.after_event(e->hooks.arg);
  }
  /* A wake-up whose kernel event another thread's sleep took (a backend that consumes on
   * report), or that raced with this turn's wait. */
  consume_wake(e);
  return n + progressed;
}

int weft__engine_sleep(weft__engine_t *e, double timeout_s) {
  weft__backend_event_t evs[1];
  return weft__backend_wait(e->be, evs, 1, timeout_s);
}
