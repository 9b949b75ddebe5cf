/* The event loop (internal): fd watchers and pollers over one OS event mechanism.
 *
 * Two kinds of sources. An fd watcher (libuv's uv__io_t idea) is embedded in its owner's state
 * and called back with what became ready; readiness is level-triggered: an event left unhandled
 * (or handled by no one because the thread woken for it could not take the engine) is reported
 * again on the next wait. A poller is for sources that are not fds — completion queues without
 * wait objects, GPU events, shared-memory rings: it is polled on every turn and says, before the
 * engine blocks, how long blocking may last (0: not at all, it expects work any moment).
 *
 * Threads. The engine is not locked here: every call except weft__engine_wake and
 * weft__engine_sleep belongs to whoever owns the engine (in weft, the holder of engine_mu; who
 * that is, is progress.c's question). weft__engine_wake may come from any thread; sleep only
 * waits on the OS mechanism and touches no engine state, so a thread may sleep without owning
 * the engine and then, owning it, run a turn with timeout 0 to handle what woke it.
 *
 * The OS specifics (epoll and eventfd on Linux) live behind engine_backend.h in one file each,
 * as in Redis' ae.c: a kqueue backend is one more file, not a rewrite.
 */
#ifndef WEFT_CORE_ENGINE_H
#define WEFT_CORE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/common.h"

typedef struct weft__engine weft__engine_t;

/* Interest and readiness. ERROR (an error or a hang-up) is always reported, with READ, whatever
 * the interest: reading is how the owner finds out what happened. */
#define WEFT__IO_READ 1u
#define WEFT__IO_WRITE 2u
#define WEFT__IO_ERROR 4u

typedef struct weft__io weft__io_t;
struct weft__io {
  void (*cb)(weft__io_t *w, uint32_t events); /* set by the owner before weft__io_start */
  int fd;          /* -1 while stopped */
  uint32_t events; /* the interest registered now */
  bool control;    /* still dispatched while the engine holds data sources (weft__engine_hold);
                    * set before weft__io_start */
};

/* Before first use (a stopped watcher: weft__io_stop and weft__io_modify are no-ops on it). */
static inline void weft__io_init(weft__io_t *w, void (*cb)(weft__io_t *w, uint32_t events)) {
  *w = (weft__io_t){.cb = cb, .fd = -1};
}

typedef struct weft__poller weft__poller_t;
struct weft__poller {
  /* Runs on every turn; true if it made progress (the turn then does not block). */
  bool (*poll)(weft__poller_t *p);
  /* Before blocking: the most seconds the engine may block (0: must not block; a large number
   * when it does not care). NULL: no bound. */
  double (*prepare_block)(weft__poller_t *p, double now);
  weft__poller_t *prev, *next; /* the engine's list */
};

typedef struct {
  void *arg;
  /* Someone called weft__engine_wake: runs once per wake-up (wake-ups may merge), on the
   * thread that runs the turn that sees it. */
  void (*on_wake)(void *arg);
  /* Before a batch of events and after each dispatched one: one event can mean megabytes
   * reduced, and timers (heartbeats) must not wait for a whole batch, nor come after events a
   * long stop left waiting. May be NULL. */
  void (*after_event)(void *arg);
} weft__engine_hooks_t;

weft_result_t weft__engine_create(const weft__engine_hooks_t *hooks, weft__engine_t **out);
void weft__engine_destroy(weft__engine_t *e); /* NULL: no-op; watchers are not closed */

/* From any thread: the engine's next (or current) wait returns, and on_wake runs. */
void weft__engine_wake(weft__engine_t *e);

/* fd watchers. start/modify return 0 or a negative errno. modify with the interest registered
 * already costs nothing (no system call), so owners may call it after every change. */
int weft__io_start(weft__engine_t *e, weft__io_t *w, int fd, uint32_t events);
int weft__io_modify(weft__engine_t *e, weft__io_t *w, uint32_t events);
/* The watcher's pending events of this turn are dropped too; the fd is not closed. */
void weft__io_stop(weft__engine_t *e, weft__io_t *w);

void weft__poller_add(weft__engine_t *e, weft__poller_t *p);
void weft__poller_remove(weft__engine_t *e, weft__poller_t *p);

/* While held, only control watchers run; other watchers' readiness stays pending (level-
 * triggered) and pollers are not run. For replacing data sources under the engine: while held,
 * another thread may start, stop and free data watchers and add or remove pollers (the turn
 * touches neither), and the owner keeps running turns for the control watchers. */
void weft__engine_hold(weft__engine_t *e, bool hold);

/* One turn: run the pollers, wait at most timeout_s (< 0: no bound of the caller's; 0: just
 * look) or less if a poller says so, dispatch what is ready. Returns the events dispatched plus
 * the pollers that made progress (0: nothing happened), or a negative errno. */
int weft__engine_run_once(weft__engine_t *e, double timeout_s);

/* The pollers' bound on blocking (seconds from now; a large number without pollers). For a
 * thread that computes its sleep while owning the engine and then sleeps without it. */
double weft__engine_prepare_block(weft__engine_t *e, double now);

/* Waits, without dispatching, until something is ready or timeout_s (< 0: no bound). Needs no
 * ownership of the engine (see the top). Returns > 0 if something is ready, 0, or -errno. */
int weft__engine_sleep(weft__engine_t *e, double timeout_s);

#endif
