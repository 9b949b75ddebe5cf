/* The progress engine: one thread per communicator, one epoll set. It owns every socket (the
 * mesh's connections through the transport, the coordinator's connection) and runs the
 * operations. Callers submit through an inbox and an eventfd and then wait on a condition
 * variable: nothing busy-polls, so eight ranks on two cores do not starve each other (a waiter
 * spins WEFT_SPIN_US at most before it blocks).
 *
 * Liveness: every WEFT_HEARTBEAT_INTERVAL the thread tells the coordinator it is alive; the
 * coordinator's silence for WEFT_HEARTBEAT_TIMEOUT means the coordinator is lost. Because
 * heartbeats come from this thread and not from the caller, a rank that computes for minutes
 * between collectives stays alive, and a rank that is stopped (SIGSTOP) or cut off goes silent.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bootstrap/coord_client.h"
#include "core/comm.h"

/* epoll data.ptr tags for the engine's own fds; anything else belongs to the transport. */
static char wake_tag, coord_tag;

weft_result_t weft__progress_coord_send(weft_comm_t *c, const uint8_t *msg, size_t len) {
  pthread_mutex_lock(&c->coord_wmu);
  weft_result_t r = c->coord_fd >= 0 && !atomic_load(&c->coord_lost) ? weft__coord_send(c->coord_fd, msg, len, weft__now() + 2.0)
                                                        : WEFT_ERR_TRANSPORT;
  pthread_mutex_unlock(&c->coord_wmu);
  /* Only the progress thread keeps the heartbeat clock; a caller's message (RECOVER) merely
   * makes the next heartbeat slightly early. */
  if (r == WEFT_SUCCESS && c->thread_started && pthread_equal(pthread_self(), c->thread)) c->coord_last_tx = weft__now();
  return r;
}

void weft__progress_wake(weft_comm_t *c) {
  uint64_t one = 1;
  (void)!write(c->wake_fd, &one, sizeof one);
}

/* Without the coordinator nobody can vouch for membership, and it fences a member it failed by
 * closing on it (it never takes the connection back): however the loss shows (EOF, a failed
 * send, or silence noticed first, as after a SIGSTOP longer than the heartbeat timeout), this
 * process fences itself. */
static void coordinator_lost(weft_comm_t *c, const char *why) {
  if (atomic_load(&c->coord_lost)) return;
  atomic_store(&c->coord_lost, true);
  WEFT__WARN("rank %d: lost the coordinator: %s", c->rank, why);
  epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->coord_fd, NULL);
  char msg[WEFT__ERR_LEN];
  snprintf(msg, sizeof msg, "lost the coordinator (%s); this process may have been evicted", why);
  pthread_mutex_lock(&c->mu);
  if (c->recover_answer == 0) {
    c->recover_answer = -1;
    c->coord_error.code = WEFT_ERR_TRANSPORT;
    snprintf(c->coord_error.text, sizeof c->coord_error.text, "lost the coordinator: %s", why);
  }
  if (!c->revoked) {
    c->revoked = true;
    c->revoke_code = WEFT_ERR_REVOKED;
    snprintf(c->revoke_msg, sizeof c->revoke_msg, "%s", msg);
  }
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (!c->paused) weft__executor_fail_all(c, WEFT_ERR_REVOKED, msg);
}

static void handle_revoke(weft_comm_t *c, const weft__coord_revoke_t *rv) {
  /* Remember that this epoch is revoked, whatever else arrives later: an epoch being installed
   * must stop forming its mesh (a member that failed or left cannot join it). */
  pthread_mutex_lock(&c->mu);
  if (rv->epoch > c->revoked_upto) {
    c->revoked_upto = rv->epoch;
    snprintf(c->revoked_why, sizeof c->revoked_why, "rank %d %s: %s", rv->rank,
             rv->reason == WEFT__FAIL_LEFT ? "left" : "failed", rv->text);
  }
  pthread_mutex_unlock(&c->mu);
  if (c->paused || rv->epoch > c->epoch) {
    /* About an epoch being installed right now: apply it once installed. */
    if (rv->epoch > c->epoch || c->paused) {
      pthread_mutex_lock(&c->mu);
      /* A later LEFT notice must not erase an earlier failure. */
      if (!c->has_deferred_revoke || c->deferred_revoke.epoch < rv->epoch || rv->reason != WEFT__FAIL_LEFT) {
        c->deferred_revoke = *rv;
        c->has_deferred_revoke = true;
      }
      pthread_mutex_unlock(&c->mu);
    }
    return;
  }
  if (rv->epoch != c->epoch || rv->rank < 0 || rv->rank >= c->size) return;
  /* A clean departure is the data plane's to report: the transport says so only once the
   * peer's every connection has drained, so frames it sent before leaving are still used. */
  if (rv->reason == WEFT__FAIL_LEFT) return;
  if (rv->rank == c->rank) return; /* about us: the coordinator fences us by closing */
  char why[WEFT__ERR_LEN];
  snprintf(why, sizeof why, "coordinator: %s", rv->text);
  weft__executor_peer_lost(c, rv->rank, false, why);
}

static void handle_coord_message(weft_comm_t *c, uint8_t type, const uint8_t *p, uint32_t len) {
  switch (type) {
    case WEFT__COORD_HEARTBEAT: break;
    case WEFT__COORD_REVOKE: {
      weft__coord_revoke_t rv;
      if (weft__coord_decode_revoke(p, len, &rv)) handle_revoke(c, &rv);
      break;
    }
    case WEFT__COORD_EPOCH: {
      pthread_mutex_lock(&c->mu);
      uint32_t need = WEFT__COORD_MAX_MEMBERS;
      if (c->next_cap < need) {
        free(c->next_members);
        free(c->next_left);
        c->next_members = calloc(need, sizeof *c->next_members);
        c->next_left = calloc(need, sizeof *c->next_left);
        c->next_cap = c->next_members && c->next_left ? need : 0;
      }
      if (c->next_cap && weft__coord_decode_epoch(p, len, &c->next_epoch, c->next_members, c->next_left, c->next_cap)) {
        c->recover_answer = 2;
      } else {
        c->recover_answer = -1;
        c->coord_error.code = WEFT_ERR_PROTOCOL;
        snprintf(c->coord_error.text, sizeof c->coord_error.text, "malformed EPOCH message from the coordinator");
      }
      pthread_cond_broadcast(&c->cv);
      pthread_mutex_unlock(&c->mu);
      break;
    }
    case WEFT__COORD_NO_CHANGE:
      pthread_mutex_lock(&c->mu);
      c->recover_answer = 1;
      pthread_cond_broadcast(&c->cv);
      pthread_mutex_unlock(&c->mu);
      break;
    case WEFT__COORD_ERROR: {
      weft__coord_error_t e;
      if (!weft__coord_decode_error(p, len, &e)) break;
      WEFT__WARN("rank %d: coordinator error %u: %s", c->rank, e.code, e.text);
      pthread_mutex_lock(&c->mu);
      c->coord_error = e;
      c->recover_answer = -1;
      pthread_cond_broadcast(&c->cv);
      pthread_mutex_unlock(&c->mu);
      break;
    }
    default:
      WEFT__DEBUG("rank %d: ignoring coordinator message type %u", c->rank, type);
  }
}

static void read_coordinator(weft_comm_t *c) {
  for (int i = 0; i < 64 && !atomic_load(&c->coord_lost); i++) {
    char err[160];
    int r = weft__coord_reader_step(&c->coord_rd, c->coord_fd, err, sizeof err);
    if (r == 0) return;
    if (r < 0) {
      coordinator_lost(c, err);
      return;
    }
    c->coord_last_rx = weft__now();
    handle_coord_message(c, c->coord_rd.h.type, c->coord_rd.payload, c->coord_rd.h.length);
  }
}

static void drain_inbox(weft_comm_t *c) {
  uint64_t v;
  (void)!read(c->wake_fd, &v, sizeof v);
  pthread_mutex_lock(&c->mu);
  weft__op_t *list = c->inbox;
  c->inbox = c->inbox_tail = NULL;
  pthread_mutex_unlock(&c->mu);
  while (list) {
    weft__op_t *op = list;
    list = list->next;
    weft__executor_submit(c, op);
  }
}

static void heartbeat(weft_comm_t *c, double now) {
  if (c->coord_fd < 0 || atomic_load(&c->coord_lost)) return;
  if (now - c->coord_last_tx >= c->hb_interval) {
    uint8_t msg[WEFT__COORD_HDR_LEN];
    size_t n = weft__coord_encode_empty(msg, sizeof msg, WEFT__COORD_HEARTBEAT);
    if (weft__progress_coord_send(c, msg, n) != WEFT_SUCCESS) coordinator_lost(c, "cannot send heartbeat");
  }
  if (now - c->coord_last_rx > c->hb_timeout) {
    char why[96];
    snprintf(why, sizeof why, "no message from the coordinator for %.1f s", now - c->coord_last_rx);
    coordinator_lost(c, why);
  }
}

/* Pause handshake with epoch installation (membership/epoch.c): while paused this thread keeps
 * the coordinator conversation going but touches neither the transport nor the operations. */
static void pause_point(weft_comm_t *c) {
  pthread_mutex_lock(&c->mu);
  if (c->pause_req != c->paused) {
    c->paused = c->pause_req;
    pthread_cond_broadcast(&c->cv);
    if (!c->paused && c->has_deferred_revoke) {
      weft__coord_revoke_t rv = c->deferred_revoke;
      c->has_deferred_revoke = false;
      pthread_mutex_unlock(&c->mu);
      handle_revoke(c, &rv);
      return;
    }
  }
  pthread_mutex_unlock(&c->mu);
}

static void *progress_main(void *arg) {
  weft_comm_t *c = arg;
  struct epoll_event evs[64];
  for (;;) {
    pause_point(c);
    double now = weft__now();
    double next = WEFT__MIN(c->coord_last_tx + c->hb_interval, c->coord_last_rx + c->hb_timeout);
    next = WEFT__MIN(next, weft__executor_next_deadline(c));
    int timeout_ms = next <= now ? 0 : (int)WEFT__MIN(ceil((next - now) * 1000.0), 1000.0);
    int n = epoll_wait(c->epfd, evs, 64, timeout_ms);
    if (n < 0 && errno != EINTR) {
      WEFT__ERROR("epoll_wait: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) {
      void *ptr = evs[i].data.ptr;
      if (ptr == &wake_tag) {
        if (c->paused) {
          uint64_t v;
          (void)!read(c->wake_fd, &v, sizeof v);
        } else {
          drain_inbox(c);
        }
      }
      else if (ptr == &coord_tag) read_coordinator(c);
      else {
        weft__transport_t *tp = __atomic_load_n(&c->tp, __ATOMIC_ACQUIRE);
        if (tp && !c->paused) c->tp_ops->handle_event(tp, ptr, evs[i].events);
      }
      /* One event can mean many megabytes reduced; liveness must not wait for the batch. */
      heartbeat(c, weft__now());
    }
    now = weft__now();
    heartbeat(c, now);
    if (!c->paused) weft__executor_check_deadlines(c, now);
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    if (stop) break;
  }
  /* Anything still queued or running ends now, with a clear error. */
  drain_inbox(c);
  weft__executor_fail_all(c, WEFT_ERR_INVALID_USAGE, "the communicator was destroyed");
  while (c->coll_head) {
    weft__op_t *op = c->coll_head;
    c->coll_head = op->next;
    weft__op_complete(op, WEFT_ERR_INVALID_USAGE, "the communicator was destroyed");
  }
  return NULL;
}

weft_result_t weft__progress_start(weft_comm_t *c) {
  c->epfd = epoll_create1(EPOLL_CLOEXEC);
  c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->epfd < 0 || c->wake_fd < 0) return WEFT_ERR_INTERNAL;
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = &wake_tag};
  epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wake_fd, &e);
  struct epoll_event ce = {.events = EPOLLIN, .data.ptr = &coord_tag};
  epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->coord_fd, &ce);
  c->coord_last_rx = c->coord_last_tx = weft__now();
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
