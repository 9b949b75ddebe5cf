/* Requests: an operation is its own request. A waiter first runs the engine itself when it is
 * free (progress.c: no thread hand-off on the critical path). Otherwise, or when it must stop
 * driving, it waits for the completion, which is published under comm->mu and with an atomic
 * flag: it spins briefly on the flag and then sleeps on the condition variable (spin-then-block:
 * cheap when the answer is microseconds away, no CPU burnt when it is not). */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/comm.h"

#define WAIT_GRACE_S 5.0 /* past the deadline before a waiter says the engine is stuck */

/* Pooling. An operation is freed by the caller in weft_wait/weft_test, once complete (a waiter
 * never leaves before completion, so the engine never frees one). The engine has unlinked
 * it from every list before completing it (executor.c finish_op), so it can be reused at once. It keeps its
 * storage — schedule steps, per-step arrays, scratch — and the next call overwrites the rest. */
static void op_destroy(weft__op_t *op) {
  weft__sched_free(&op->sched);
  if (op->tmp) op->mem->scratch_free(op->mem, op->tmp, op->tmp_bytes);
  free(op->xfers);
  free(op->got);
  free(op->fin);
  free(op);
}

static weft__reuse_t *reuse_new(void) {
  weft__reuse_t *r = calloc(1, sizeof *r);
  if (r) pthread_mutex_init(&r->mu, NULL);
  return r;
}

void weft__reuse_free(weft__reuse_t *r) {
  if (!r) return;
  while (r->pool) {
    weft__op_t *op = r->pool;
    r->pool = op->next;
    op_destroy(op);
  }
  weft__sched_cache_free(&r->sched);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

weft__op_t *weft__op_new(weft_comm_t *comm) {
  if (!comm->reuse) comm->reuse = reuse_new(); /* without one, operations are not pooled */
  weft__reuse_t *r = comm->reuse;
  weft__op_t *op = NULL;
  if (r) {
    pthread_mutex_lock(&r->mu);
    if ((op = r->pool)) r->pool = op->next, r->pooled--;
    pthread_mutex_unlock(&r->mu);
  }
  if (!op) {
    if (!(op = calloc(1, sizeof *op))) return NULL;
    op->mem = &weft__memops_host;
  } else {
    /* Keep the storage, forget the last call. */
    weft__op_t kept = *op;
    memset(op, 0, offsetof(weft__op_t, err));
    op->sched = kept.sched;
    op->mem = kept.mem, op->tmp = kept.tmp, op->tmp_bytes = kept.tmp_bytes;
    op->xfers = kept.xfers, op->got = kept.got, op->fin = kept.fin, op->arrays_cap = kept.arrays_cap;
  }
  op->comm = comm;
  op->err[0] = '\0';
  atomic_init(&op->done, false);
  return op;
}

void weft__op_free(weft__op_t *op) {
  if (!op) return;
  weft__reuse_t *r = op->comm->reuse;
  if (r) {
    pthread_mutex_lock(&r->mu);
    bool keep = r->pooled < WEFT__OP_POOL_MAX;
    if (keep) op->next = r->pool, r->pool = op, r->pooled++;
    pthread_mutex_unlock(&r->mu);
    if (keep) return;
  }
  op_destroy(op);
}

void weft__op_use_mem(weft__op_t *op, const weft__memops_t *mem) {
  if (op->mem == mem) return;
  if (op->tmp) op->mem->scratch_free(op->mem, op->tmp, op->tmp_bytes); /* the old table's scratch */
  op->tmp = NULL;
  op->tmp_bytes = 0;
  op->mem = mem;
}

weft_result_t weft__op_scratch(weft__op_t *op, size_t bytes) {
  if (op->tmp && op->tmp_bytes >= bytes) return WEFT_SUCCESS;
  if (op->tmp) op->mem->scratch_free(op->mem, op->tmp, op->tmp_bytes);
  op->tmp_bytes = 0;
  op->tmp = op->mem->scratch_alloc(op->mem, bytes);
  if (!op->tmp) return WEFT_ERR_NO_MEMORY;
  op->tmp_bytes = bytes;
  return WEFT_SUCCESS;
}

void weft__op_complete(weft__op_t *op, weft_result_t result, const char *err) {
  weft_comm_t *c = op->comm->ctx; /* completions are published under the context's lock */
  op->started = false;
  pthread_mutex_lock(&c->mu);
  op->result = result;
  snprintf(op->err, sizeof op->err, "%s", err ? err : "");
  atomic_store_explicit(&op->done, true, memory_order_release);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

void weft__comm_set_error(weft_comm_t *comm, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(comm->last_error, sizeof comm->last_error, fmt, ap);
  va_end(ap);
}

static void record(weft__op_t *op) {
  if (op->result != WEFT_SUCCESS) {
    snprintf(op->comm->last_error, sizeof op->comm->last_error, "%s", op->err);
    WEFT__DEBUG("rank %d: %s", op->comm->rank, op->err);
  }
}

/* A waiter returns only once the engine is done with the operation, so the buffers it hands
 * back are written no more. The engine fails an operation at its deadline (executor.c), whoever
 * drives it; should that not happen because the thread holding the engine is stuck (in a log
 * callback, say), the waiter keeps waiting, driving the engine itself as soon as it is free,
 * rather than return buffers the engine may still write, and says so in the log. */
weft_result_t weft__op_wait(weft__op_t *op) {
  weft_comm_t *c = op->comm->ctx; /* the engine, its lock and condition are the context's */
  bool warned = false;
  weft__progress_drive(c, op, 1e300);
  double spin_until = weft__now() + c->spin_us * 1e-6;
  while (!atomic_load_explicit(&op->done, memory_order_acquire) && weft__now() < spin_until)
    sched_yield(); /* whoever completes it may need this core (see progress.c) */
  pthread_mutex_lock(&c->mu);
  while (!atomic_load_explicit(&op->done, memory_order_acquire)) {
    double now = weft__now(), late = now - op->deadline; /* deadline: written under c->mu */
    if (late > WAIT_GRACE_S && !warned) {
      warned = true;
      WEFT__WARN("%s seq %llu: no completion %.1f s past its deadline: the engine is held elsewhere; waiting on, "
                 "since it may still write the operation's buffers", weft__coll_name(op->coll),
                 (unsigned long long)op->seq, late);
    }
    weft__cond_wait_until(&c->cv, &c->mu, now + 1.0);
    if (atomic_load_explicit(&op->done, memory_order_acquire)) break;
    pthread_mutex_unlock(&c->mu);
    weft__progress_drive(c, op, 1e300); /* the engine may be free now */
    pthread_mutex_lock(&c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  weft_result_t r = op->result;
  record(op);
  weft__op_free(op);
  return r;
}

WEFT_API weft_result_t weft_wait(weft_request_t *request) {
  if (!request) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "weft_wait: request is NULL");
  weft_comm_t *comm = request->comm; /* the request is freed by the wait */
  weft__activity_enter(comm);
  weft_result_t r = weft__op_wait(request);
  weft__activity_leave(comm);
  return r;
}

WEFT_API weft_result_t weft_test(weft_request_t *request) {
  if (!request) return weft__null_error(WEFT_ERR_INVALID_ARGUMENT, "weft_test: request is NULL");
  /* A program that polls is not stuck: each poll counts as activity (membership/stall.c). */
  weft__activity_enter(request->comm);
  weft__activity_leave(request->comm);
  if (!atomic_load_explicit(&request->done, memory_order_acquire)) return WEFT_ERR_IN_PROGRESS;
  /* Take the lock once so the completion's writes are visible and the progress thread is done
   * with the operation. */
  weft_comm_t *c = request->comm->ctx;
  pthread_mutex_lock(&c->mu);
  pthread_mutex_unlock(&c->mu);
  weft_result_t r = request->result;
  record(request);
  weft__op_free(request);
  return r;
}
