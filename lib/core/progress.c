/* Who drives the engine. One engine per context (core/engine.h: an event loop of fd watchers
 * and pollers) holds every source — the mesh's connections through the transports, the
 * coordinator's connection, the wake-up — and this file decides which thread runs it and when.
 * The engine belongs to whichever thread holds c->engine_mu:
 *   - a caller blocked in a wait, when the engine is free: it submits its operation directly
 *     and runs the engine itself (turns that only look for WEFT_SPIN_US, then blocking ones),
 *     so a small operation costs no thread hand-off at all. Handing each operation to a progress
 *     thread and its completion back costs two wake-ups per rank per operation, which is most of
 *     a small allreduce's time when ranks outnumber cores;
 *   - the communicator's progress thread otherwise: it sleeps in the kernel *without* the lock
 *     and takes it to handle what woke it, so it runs non-blocking operations in the background
 *     and keeps heartbeats going while the application computes. When a driver holds the
 *     engine, the progress thread waits for the lock; an event it was woken for stays ready
 *     (the engine is level-triggered: the driver's wait reports it), so nothing is lost.
 * Nothing busy-polls for long, so eight ranks on two cores do not starve each other.
 *
 * Liveness: every WEFT_HEARTBEAT_INTERVAL the thread tells the coordinator it is alive; the
 * coordinator's silence for WEFT_HEARTBEAT_TIMEOUT means the coordinator is lost. Because
 * heartbeats come from this thread and not from the caller, a rank that computes for minutes
 * between collectives stays alive, and a rank that is stopped (SIGSTOP) or cut off goes silent.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"

void weft__progress_wake(weft_comm_t *c) { weft__engine_wake(c->engine); }

/* Submits what callers queued while the engine was busy, in order. */
static void take_inbox(weft_comm_t *c) {
  pthread_mutex_lock(&c->mu);
  weft__op_t *list = c->inbox;
  c->inbox = c->inbox_tail = NULL;
  pthread_mutex_unlock(&c->mu);
  while (list) {
    weft__op_t *op = list;
    list = list->next;
    weft__executor_submit(op->comm, op);
  }
}

/* engine hook: someone called weft__progress_wake (a submit, a pause or stop request). While
 * paused the operations wait in the inbox: the installer owns the transports. */
static void on_wake(void *arg) {
  weft_comm_t *c = arg;
  if (!c->paused) take_inbox(c);
}

static void on_coord_readable(weft__io_t *w, uint32_t events) {
  (void)events;
  weft__membership_read((weft_comm_t *)((char *)w - offsetof(weft_comm_t, coord_io)));
}

/* Pause handshake with epoch installation (membership/epoch.c): while paused this thread keeps
 * the coordinator conversation going but touches neither the transport nor the operations. */
static void pause_point(weft_comm_t *c) {
  pthread_mutex_lock(&c->mu);
  if (c->pause_req != c->paused) {
    c->paused = c->pause_req;
    /* While paused the transports may be being replaced: their events wait (level-triggered). */
    weft__engine_hold(c->engine, c->paused);
    pthread_cond_broadcast(&c->cv);
    if (!c->paused && c->has_deferred_revoke) {
      weft__coord_revoke_t rv = c->deferred_revoke;
      c->has_deferred_revoke = false;
      pthread_mutex_unlock(&c->mu);
      weft__membership_apply_revoke(c, &rv);
      return;
    }
  }
  pthread_mutex_unlock(&c->mu);
}

/* engine hook: one event can mean many megabytes reduced; liveness must not wait for the batch. */
static void after_event(void *arg) { weft__membership_heartbeat(arg, weft__now()); }

/* When the engine must next run even without events: the next heartbeat, the coordinator's
 * silence becoming a failure, or an operation's deadline. Read by the engine's holder. While
 * paused the installer owns the communicators (it links and unlinks children): deadlines are
 * not checked then, so they are not read either (ThreadSanitizer caught the read). */
static double next_wake(weft_comm_t *c) {
  double next = weft__membership_next_due(c);
  return c->paused ? next : WEFT__MIN(next, weft__ctx_next_deadline(c));
}

/* Seconds from now until `when`, at most cap. */
static double until(double when, double now, double cap) { return when <= now ? 0 : WEFT__MIN(when - now, cap); }

/* Wakes the progress thread if it stepped aside: there is background work for it. */
static void call_back_progress(weft_comm_t *c) {
  pthread_mutex_lock(&c->mu);
  c->progress_wanted = true;
  pthread_cond_signal(&c->engine_cv);
  pthread_mutex_unlock(&c->mu);
}

void weft__progress_submit(weft_comm_t *c, weft__op_t *op, bool caller_waits) {
  if (c->thread_started && pthread_mutex_trylock(&c->engine_mu) == 0) {
    /* The engine is free (and not paused: a paused progress thread keeps it locked). Earlier
     * operations still in the inbox go first, so collectives keep their issue order. */
    take_inbox(c);
    weft__executor_submit(op->comm, op);
    pthread_mutex_unlock(&c->engine_mu);
    /* A non-blocking call returns to the application: the progress thread runs it from here. */
    if (!caller_waits) call_back_progress(c);
    return;
  }
  pthread_mutex_lock(&c->mu);
  if (c->inbox_tail) c->inbox_tail->next = op;
  else c->inbox = op;
  c->inbox_tail = op;
  pthread_mutex_unlock(&c->mu);
  weft__progress_wake(c);
}

void weft__progress_drive(weft_comm_t *c, weft__op_t *op, double limit) {
  c = c->ctx;
  if (!c->thread_started || pthread_equal(pthread_self(), c->thread)) return;
  if (pthread_mutex_trylock(&c->engine_mu) != 0) return; /* someone else runs it: wait instead */
  atomic_fetch_add(&c->drivers, 1);
  double spin_until = weft__now() + c->spin_us * 1e-6;
  while (!atomic_load_explicit(&op->done, memory_order_acquire)) {
    /* An epoch install (pause) or destroy (stop) needs the engine back: hand it over. They
     * wake the engine, which ends this turn's wait. */
    pthread_mutex_lock(&c->mu);
    bool leave = c->pause_req || c->stop;
    pthread_mutex_unlock(&c->mu);
    double now = weft__now();
    if (leave || now >= limit) break;
    /* Spin briefly (the answer is often microseconds away), then block in the kernel. The cap
     * keeps a driver that missed a wake-up from sleeping long. */
    double timeout = now < spin_until ? 0 : until(next_wake(c), now, 0.1);
    int n = weft__engine_run_once(c->engine, timeout);
    if (n < 0) break;
    /* Nothing yet while spinning: yield the core. The peer we wait for may share it — the
     * scheduler likes to wake a task on its waker's core (wake-affine), so two ranks that
     * ping-pong end up on one core — and then our spin would only delay its answer. */
    if (n == 0 && timeout == 0) sched_yield();
    now = weft__now();
    weft__membership_heartbeat(c, now);
    weft__ctx_check_deadlines(c, now);
  }
  bool pending = weft__ctx_busy(c);
  pthread_mutex_lock(&c->mu);
  c->last_drive_end = weft__now();
  atomic_fetch_sub(&c->drivers, 1);
  if (pending) { /* others' operations still run: the progress thread takes over */
    c->progress_wanted = true;
    pthread_cond_signal(&c->engine_cv);
  }
  pthread_mutex_unlock(&c->mu);
  pthread_mutex_unlock(&c->engine_mu);
}

/* While callers drive the engine — or did a moment ago and nothing is left running — the
 * progress thread stays off the engine: sleeping in the kernel there, it would be woken
 * first for every event the driver is waiting for (one more wake-up per operation, which on
 * a loaded machine is most of a small operation's cost). It comes back when the callers have
 * been away for STEP_ASIDE_S (the application computes: heartbeats and failure detection
 * resume), when a caller leaves work behind (call_back_progress), or to send a heartbeat. */
#define STEP_ASIDE_S 0.005

static void step_aside(weft_comm_t *c, double wake_at) {
  pthread_mutex_lock(&c->mu);
  for (;;) {
    double now = weft__now();
    bool driving = atomic_load(&c->drivers) > 0;
    double until = driving ? wake_at : WEFT__MIN(wake_at, c->last_drive_end + STEP_ASIDE_S);
    if (c->stop || c->pause_req || c->inbox || c->progress_wanted || now >= until) break;
    weft__cond_wait_until(&c->engine_cv, &c->mu, now + WEFT__MIN(until - now, 0.1));
  }
  c->progress_wanted = false;
  pthread_mutex_unlock(&c->mu);
}

static void *progress_main(void *arg) {
  weft_comm_t *c = arg;
  pthread_mutex_lock(&c->engine_mu);
  for (;;) {
    pause_point(c);
    /* Paused, this thread keeps the engine locked (the installer owns the transport), so no
     * caller can start driving; otherwise it sleeps without the lock, letting callers drive. */
    bool keep = c->paused;
    bool idle = !keep && !weft__ctx_busy(c); /* paused: the communicators are the installer's */
    double now = weft__now();
    double wake_at = WEFT__MIN(next_wake(c), now + weft__engine_prepare_block(c->engine, now));
    if (!keep) pthread_mutex_unlock(&c->engine_mu);
    if (!keep && idle) step_aside(c, wake_at);
    double timeout = until(wake_at, weft__now(), 1.0);
    int n;
    if (keep) {
      n = weft__engine_run_once(c->engine, timeout);
    } else {
      n = weft__engine_sleep(c->engine, timeout);
      pthread_mutex_lock(&c->engine_mu);
      /* A driver may have handled (or closed) what woke us: look again, under the lock. */
      if (n >= 0) n = weft__engine_run_once(c->engine, 0);
    }
    if (n < 0) {
      WEFT__ERROR("engine: %s", strerror(-n));
      break;
    }
    now = weft__now();
    weft__membership_heartbeat(c, now);
    if (!c->paused) weft__ctx_check_deadlines(c, now);
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    if (stop) break;
  }
  /* Anything still queued or running ends now, with a clear error. */
  take_inbox(c);
  weft__ctx_fail_all(c, WEFT_ERR_INVALID_USAGE, "the communicator was destroyed", false);
  while (c->coll_head) {
    weft__op_t *op = c->coll_head;
    c->coll_head = op->next;
    weft__op_complete(op, WEFT_ERR_INVALID_USAGE, "the communicator was destroyed");
  }
  pthread_mutex_unlock(&c->engine_mu);
  return NULL;
}

weft_result_t weft__progress_start(weft_comm_t *c) {
  weft__engine_hooks_t hooks = {.arg = c, .on_wake = on_wake, .after_event = after_event};
  if (weft__engine_create(&hooks, &c->engine) != WEFT_SUCCESS) return WEFT_ERR_INTERNAL;
  weft__io_init(&c->coord_io, on_coord_readable);
  c->coord_io.control = true; /* the coordinator conversation goes on while paused */
  if (c->coord_fd >= 0 && weft__io_start(c->engine, &c->coord_io, c->coord_fd, WEFT__IO_READ) < 0)
    return WEFT_ERR_INTERNAL;
  if (pthread_create(&c->thread, NULL, progress_main, c) != 0) return WEFT_ERR_INTERNAL;
  c->thread_started = true;
  return WEFT_SUCCESS;
}

void weft__progress_stop(weft_comm_t *c) {
  if (!c->thread_started) return;
  pthread_mutex_lock(&c->mu);
  c->stop = true;
  pthread_mutex_unlock(&c->mu);
  weft__progress_wake(c);
  pthread_join(c->thread, NULL);
  c->thread_started = false;
}
