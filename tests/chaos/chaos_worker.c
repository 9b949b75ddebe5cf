/* chaos_worker: the workload of the chaos soak (tests/chaos/soak.py). Collective steps whose
 * every result is checked exactly, under any fault the soak injects.
 *
 *   weftrun -n 8 --restart K chaos_worker CTL_DIR [SLEEP_MS]      (default 5 ms between steps)
 *
 * The loop is examples/elastic_sgd's: recover at every step boundary (NO_CHANGE costs one round
 * trip; a new epoch admits waiting joiners), a failed call is not applied and is redone after
 * the recover, and after every epoch change the members learn who they are (allgather of launcher
 * rank and incarnation) and copy the step and the "model" (an FNV-1a hash of every applied
 * result) from the lowest rank that holds one. What each step computes and how its exact answer
 * follows from the member list: chaos_expect.h.
 *
 * Control from the soak, through files in CTL_DIR:
 *   stop               every 8 steps the members vote (allreduce MAX) on whether it exists; once
 *                      one vote said yes they compare models (allgather) and exit 0;
 *   hang.ID.INC        holds a number of ms: the incarnation INC of launcher rank ID reads and
 *                      removes it at its next step boundary and sleeps that long in its own code,
 *                      outside weft, while its progress thread lives on (a hung caller; longer
 *                      than WEFT_STALL_TIMEOUT it must be evicted and, with WEFT_EXIT_ON_EVICT,
 *                      end with status 75).
 *
 * Output: one JSON object per line (chaos_log.h), "ev" one of
 *   init     {id, inc, pid}                       before weft_comm_init_env
 *   start    {late, epoch, rank, size, init_s}    init returned (late: admitted as a joiner)
 *   fail     {step, epoch, call, code, detail}    a call failed (the time it returned)
 *   epoch    {old, epoch, size, left, joined, recover_s}  recover installed a new epoch
 *   members  {epoch, ids, incs, installed}        who the epoch's members are, once agreed
 *   progress {step, epoch, size, ok, wrong}       every 0.5 s (ok: results checked exact so far)
 *   step     {step, epoch, kind}                  every checked step, with CHAOS_LOG_STEPS=1
 *   wrong    {step, epoch, kind, what}            a result that is not exact (never applied)
 *   hang     {ms} / hang_end {}                   a hung caller's sleep begins / ends
 *   done     {step, epoch, size, checksum, ok, wrong, slowest}   the job finished
 *   exit     {status, why}                        the status this process is about to exit with
 * Exit status: 0 done, 2 a wrong result or the members' models differ, 75 evicted, 1 otherwise. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "chaos_expect.h"
#include "chaos_log.h"

#define VOTE_EVERY 8
#define PROGRESS_EVERY_S 0.5

enum { EXIT_DONE = 0, EXIT_OTHER = 1, EXIT_WRONG = 2 };

typedef struct {
  weft_comm_t *comm;
  int id, inc;
  char stop_path[4096], hang_path[4096];
  int64_t step;
  uint64_t hash;   /* the "model" */
  bool has_state;  /* false for a joiner until the state reached it */
  bool stop;       /* a vote said stop (travels with the state) */
  int ids[CHAOS_MAX_IDS], incs[CHAOS_MAX_IDS], n; /* the epoch's members, in rank order */
  int64_t ok, wrong;
  bool log_steps;
  double slowest, last_progress;
} worker_t;

static void sleep_s(double s) {
  double until = chaos_mono_now() + s;
  for (double left = s; left > 0; left = until - chaos_mono_now()) {
    struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - (time_t)left) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
  return h;
}

/* Times one library call: the slowest is reported (no call may come near WEFT_TIMEOUT). */
static weft_result_t timed(worker_t *w, double t0, weft_result_t r) {
  double d = chaos_mono_now() - t0;
  if (d > w->slowest) w->slowest = d;
  return r;
}

static void log_fail(const worker_t *w, const char *call, weft_result_t r) {
  chaos_log_begin("fail");
  chaos_log_int("step", w->step);
  chaos_log_int("epoch", (int64_t)weft_comm_epoch(w->comm));
  chaos_log_str("call", call);
  chaos_log_str("code", weft_strerror(r));
  chaos_log_int("rc", r);
  chaos_log_str("detail", weft_comm_last_error(w->comm));
  chaos_log_end();
}

static void log_wrong(worker_t *w, const char *kind, const char *what) {
  w->wrong++;
  chaos_log_begin("wrong");
  chaos_log_int("step", w->step);
  chaos_log_int("epoch", (int64_t)weft_comm_epoch(w->comm));
  chaos_log_str("kind", kind);
  chaos_log_str("what", what);
  chaos_log_end();
}

/* After an epoch change: learn the members, check the coordinator's promise (ranks numbered
 * densely in launcher-rank order), agree on the stop flag and on the lowest rank holding a
 * state, and copy its step and model. */
static weft_result_t sync_state(worker_t *w, double installed) {
  int n = weft_comm_size(w->comm), me = weft_comm_rank(w->comm);
  if (n > CHAOS_MAX_IDS) return WEFT_ERR_UNSUPPORTED;
  int32_t mine[2] = {w->id, w->inc}, all[2 * CHAOS_MAX_IDS];
  double t0 = chaos_mono_now();
  weft_result_t r = timed(w, t0, weft_allgather(w->comm, mine, all, 2, WEFT_INT32));
  if (r != WEFT_SUCCESS) return r;
  bool ordered = all[2 * me] == w->id;
  for (int i = 0; i < n; i++) {
    w->ids[i] = all[2 * i];
    w->incs[i] = all[2 * i + 1];
    ordered = ordered && w->ids[i] >= 0 && w->ids[i] < CHAOS_MAX_IDS && (i == 0 || w->ids[i] > w->ids[i - 1]);
  }
  w->n = n;
  chaos_log_begin("members");
  chaos_log_int("epoch", (int64_t)weft_comm_epoch(w->comm));
  chaos_log_ints("ids", w->ids, n);
  chaos_log_ints("incs", w->incs, n);
  chaos_log_num("installed", installed);
  chaos_log_end();
  if (!ordered) log_wrong(w, "membership", "members not in launcher-rank order, or duplicated");
  int32_t flags[2] = {w->has_state ? me : INT32_MAX, w->stop ? 0 : 1}, agreed[2];
  t0 = chaos_mono_now();
  r = timed(w, t0, weft_allreduce(w->comm, flags, agreed, 2, WEFT_INT32, WEFT_MIN));
  if (r != WEFT_SUCCESS) return r;
  if (agreed[0] == INT32_MAX) {
    w->step = 0; /* nobody holds a state: every holder died; start again */
    w->hash = 1469598103934665603ull;
  } else {
    uint64_t st[2] = {(uint64_t)w->step, w->hash};
    t0 = chaos_mono_now();
    r = timed(w, t0, weft_broadcast(w->comm, st, st, 2, WEFT_UINT64, agreed[0]));
    if (r != WEFT_SUCCESS) return r;
    w->step = (int64_t)st[0];
    w->hash = st[1];
  }
  w->has_state = true;
  w->stop = agreed[1] == 0;
  return WEFT_SUCCESS;
}

static weft_result_t collective(worker_t *w, const chaos_kind_t *k, const void *in, void *out) {
  switch (k->coll) {
  case CHAOS_ALLREDUCE: return weft_allreduce(w->comm, in, out, k->count, k->dtype, k->op);
  case CHAOS_ALLGATHER: return weft_allgather(w->comm, in, out, k->count, k->dtype);
  case CHAOS_BROADCAST:
    return weft_broadcast(w->comm, out, out, k->count, k->dtype, chaos_root(w->step, w->n));
  }
  return WEFT_ERR_INTERNAL;
}

/* One step, checked exactly; applied to the model only when exact. */
static weft_result_t do_step(worker_t *w) {
  static double sendbuf[CHAOS_MAX_BYTES / 8], recvbuf[CHAOS_MAX_BYTES / 8], expect[CHAOS_MAX_BYTES / 8],
      pristine[CHAOS_MAX_BYTES / 8];
  const chaos_kind_t *k = chaos_kind(w->step);
  size_t esz = weft_dtype_size(k->dtype);
  int me = weft_comm_rank(w->comm);
  void *in = k->in_place ? (void *)recvbuf : (void *)sendbuf;
  if (k->coll == CHAOS_BROADCAST && chaos_root(w->step, w->n) != me)
    memset(recvbuf, 0xA5, k->count * esz); /* the root's data must replace this entirely */
  else
    chaos_fill(k, w->id, w->step, in);
  if (!k->in_place) memcpy(pristine, sendbuf, k->count * esz);
  size_t nres = chaos_expect(k, w->ids, w->n, w->step, expect);
  double t0 = chaos_mono_now();
  weft_result_t r = timed(w, t0, collective(w, k, in, recvbuf));
  char what[256];
  if (!k->in_place && chaos_first_diff(k, sendbuf, pristine, k->count, what, sizeof what) >= 0) {
    char msg[320];
    snprintf(msg, sizeof msg, "the call (%s) wrote its send buffer: %s", weft_strerror(r), what);
    log_wrong(w, k->name, msg); /* input buffers are never written, whatever the outcome */
  }
  if (r != WEFT_SUCCESS) {
    log_fail(w, k->name, r);
    return r;
  }
  if (chaos_first_diff(k, recvbuf, expect, nres, what, sizeof what) >= 0) {
    char msg[400];
    snprintf(msg, sizeof msg, "%s (%d members, rank %d)", what, w->n, me);
    log_wrong(w, k->name, msg);
    return WEFT_ERR_INTERNAL; /* not applied; recover (finds nothing) and redo */
  }
  if (w->step % VOTE_EVERY == VOTE_EVERY - 1) {
    int32_t want = access(w->stop_path, F_OK) == 0, any;
    t0 = chaos_mono_now();
    r = timed(w, t0, weft_allreduce(w->comm, &want, &any, 1, WEFT_INT32, WEFT_MAX));
    if (r != WEFT_SUCCESS) {
      log_fail(w, "stop vote", r);
      return r;
    }
    if (any) w->stop = true;
  }
  if (w->log_steps) {
    chaos_log_begin("step");
    chaos_log_int("step", w->step);
    chaos_log_int("epoch", (int64_t)weft_comm_epoch(w->comm));
    chaos_log_str("kind", k->name);
    chaos_log_end();
  }
  w->hash = fnv(w->hash, &w->step, sizeof w->step);
  w->hash = fnv(w->hash, recvbuf, nres * esz);
  w->step++;
  w->ok++;
  return WEFT_SUCCESS;
}

/* The soak's hung-caller trigger: sleep in our own code, outside weft, as long as it says. */
static void maybe_hang(worker_t *w) {
  FILE *f = fopen(w->hang_path, "r");
  if (f == NULL) return;
  long ms = 0;
  if (fscanf(f, "%ld", &ms) != 1) ms = 0;
  fclose(f);
  unlink(w->hang_path);
  chaos_log_begin("hang");
  chaos_log_int("ms", ms);
  chaos_log_int("step", w->step);
  chaos_log_end();
  sleep_s((double)ms / 1000.0);
  chaos_log_begin("hang_end");
  chaos_log_end();
}

static void progress(worker_t *w, bool force) {
  double now = chaos_mono_now();
  if (!force && now - w->last_progress < PROGRESS_EVERY_S) return;
  w->last_progress = now;
  chaos_log_begin("progress");
  chaos_log_int("step", w->step);
  chaos_log_int("epoch", (int64_t)weft_comm_epoch(w->comm));
  chaos_log_int("size", weft_comm_size(w->comm));
  chaos_log_int("ok", w->ok);
  chaos_log_int("wrong", w->wrong);
  chaos_log_end();
}

/* The members compare models; -1 when the call failed (recover and try again). */
static int finish(worker_t *w) {
  uint64_t all[CHAOS_MAX_IDS];
  double t0 = chaos_mono_now();
  weft_result_t r = timed(w, t0, weft_allgather(w->comm, &w->hash, all, 1, WEFT_UINT64));
  if (r != WEFT_SUCCESS) {
    log_fail(w, "checksum allgather", r);
    return -1;
  }
  int n = weft_comm_size(w->comm), differ = 0;
  for (int i = 0; i < n; i++) differ += all[i] != w->hash;
  if (differ) log_wrong(w, "model", "the members hold different models");
  char sum[24];
  snprintf(sum, sizeof sum, "%016" PRIx64, w->hash);
  progress(w, true);
  chaos_log_begin("done");
  chaos_log_int("step", w->step);
  chaos_log_int("epoch", (int64_t)weft_comm_epoch(w->comm));
  chaos_log_int("size", n);
  chaos_log_str("checksum", sum);
  chaos_log_int("ok", w->ok);
  chaos_log_int("wrong", w->wrong);
  chaos_log_num("slowest", w->slowest);
  chaos_log_end();
  return w->wrong ? EXIT_WRONG : EXIT_DONE;
}

/* Recover at the step boundary; false (and *rc) when this process must exit. */
static bool recover(worker_t *w, bool *need_sync, double *installed, int *rc) {
  weft_recover_info_t info;
  double t0 = chaos_mono_now();
  weft_result_t r = timed(w, t0, weft_comm_recover(w->comm, &info));
  if (r == WEFT_ERR_TIMEOUT) {
    log_fail(w, "recover", r); /* the coordinator did not decide in our bound: ask again */
    return true;
  }
  if (r != WEFT_SUCCESS) {
    log_fail(w, "recover", r);
    *rc = r == WEFT_ERR_EVICTED ? WEFT_EXIT_EVICTED : EXIT_OTHER;
    return false;
  }
  if (info.new_epoch == info.old_epoch) return true;
  *installed = chaos_unix_now();
  *need_sync = true;
  int nl = info.num_left < WEFT_RECOVER_MAX_LISTED ? info.num_left : WEFT_RECOVER_MAX_LISTED;
  int nj = info.num_joined < WEFT_RECOVER_MAX_LISTED ? info.num_joined : WEFT_RECOVER_MAX_LISTED;
  chaos_log_begin("epoch");
  chaos_log_int("old", (int64_t)info.old_epoch);
  chaos_log_int("epoch", (int64_t)info.new_epoch);
  chaos_log_int("size", info.new_size);
  chaos_log_ints("left", info.left_old_ranks, nl);
  chaos_log_ints("joined", info.joined_new_ranks, nj);
  chaos_log_num("recover_s", chaos_mono_now() - t0);
  chaos_log_end();
  return true;
}

static int run(worker_t *w, double installed, int sleep_ms) {
  bool need_sync = true, skip_recover = !w->has_state; /* a joiner was just admitted */
  for (;;) {
    int rc;
    if (!skip_recover && !recover(w, &need_sync, &installed, &rc)) return rc;
    skip_recover = false;
    if (need_sync) {
      weft_result_t r = sync_state(w, installed);
      if (r != WEFT_SUCCESS) {
        log_fail(w, "sync", r);
        continue;
      }
      need_sync = false;
    }
    progress(w, false);
    if (w->stop) {
      rc = finish(w);
      if (rc >= 0) return rc;
      continue;
    }
    maybe_hang(w);
    sleep_s(sleep_ms / 1000.0); /* the "compute" */
    (void)do_step(w);           /* a failed step is not applied: redone after the recover */
  }
}

static void log_exit(int status, const char *why) {
  chaos_log_begin("exit");
  chaos_log_int("status", status);
  chaos_log_str("why", why);
  chaos_log_end();
}

int main(int argc, char **argv) {
  static worker_t w;
  int sleep_ms = argc > 2 ? atoi(argv[2]) : 5;
  const char *lr = getenv("WEFT_RANK"), *inc = getenv("WEFT_RESTART_COUNT");
  w.id = lr ? atoi(lr) : 0;
  w.inc = inc ? atoi(inc) : 0;
  if (argc < 2 || sleep_ms < 0 || w.id < 0 || w.id >= CHAOS_MAX_IDS) {
    fprintf(stderr, "usage: chaos_worker CTL_DIR [SLEEP_MS] (WEFT_RANK below %d)\n", CHAOS_MAX_IDS);
    return EXIT_OTHER;
  }
  snprintf(w.stop_path, sizeof w.stop_path, "%s/stop", argv[1]);
  snprintf(w.hang_path, sizeof w.hang_path, "%s/hang.%d.%d", argv[1], w.id, w.inc);
  const char *ls = getenv("CHAOS_LOG_STEPS");
  w.log_steps = ls && *ls == '1';
  chaos_log_begin("init");
  chaos_log_int("id", w.id);
  chaos_log_int("inc", w.inc);
  chaos_log_int("pid", getpid());
  chaos_log_end();
  double t0 = chaos_mono_now();
  weft_result_t r = weft_comm_init_env(&w.comm);
  if (r != WEFT_SUCCESS) {
    chaos_log_begin("fail");
    chaos_log_str("call", "init");
    chaos_log_str("code", weft_strerror(r));
    chaos_log_int("rc", r);
    chaos_log_str("detail", weft_comm_last_error(NULL));
    chaos_log_end();
    int status = r == WEFT_ERR_EVICTED ? WEFT_EXIT_EVICTED : EXIT_OTHER;
    log_exit(status, "init failed");
    return status;
  }
  double installed = chaos_unix_now();
  w.has_state = !weft_comm_joined_late(w.comm);
  w.hash = 1469598103934665603ull;
  chaos_log_begin("start");
  chaos_log_bool("late", !w.has_state);
  chaos_log_int("epoch", (int64_t)weft_comm_epoch(w.comm));
  chaos_log_int("rank", weft_comm_rank(w.comm));
  chaos_log_int("size", weft_comm_size(w.comm));
  chaos_log_num("init_s", chaos_mono_now() - t0);
  chaos_log_end();
  int rc = run(&w, installed, sleep_ms);
  log_exit(rc, rc == 0 ? "done" : rc == EXIT_WRONG ? "wrong result" : "a call failed");
  weft_comm_destroy(w.comm);
  return rc;
}
