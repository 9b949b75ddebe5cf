/* elastic_sgd: a training loop that survives losing ranks and takes restarted ones back.
 *
 *   weftrun -n 4 [--restart K] elastic_sgd [STEPS [SLEEP_MS]]      (defaults: 300 steps, 10 ms)
 *
 * Every step computes a fake gradient (a deterministic function of the step and of the launcher
 * rank, WEFT_RANK, which a restarted process keeps), averages it with WEFT_AVG over the members
 * of the current epoch and applies it to a model of MODEL_LEN floats that every member holds.
 *
 * The elastic part:
 *   - At each step boundary weft_comm_recover() is called. It is cheap when nothing changed
 *     (the coordinator answers NO_CHANGE) and it is where waiting restarted processes are let in.
 *   - A collective that fails (WEFT_ERR_PEER_LOST, WEFT_ERR_REVOKED, ...) is not applied: the
 *     loop goes back to the boundary, recovers and redoes the step with the new membership, so
 *     the average is over the ranks that contributed to it.
 *   - WEFT_ERR_UNAVAILABLE from recover (the coordinator is being restarted, or cut off) is
 *     retried: the request stays with the membership service, which answers once it is back.
 *   - WEFT_ERR_EVICTED (this process was stopped or cut off past the heartbeat timeout and the
 *     others went on without it) is terminal: recover says it again at once, and the process
 *     exits 3, for the launcher to restart it as a joiner (weftrun --restart K).
 *   - After every epoch change the members agree on one state (model and step) and copy it from
 *     the lowest new rank that holds one. Not only joiners need this: a collective that fails on
 *     some ranks may already have completed on others (a ring's last chunk reached them before the
 *     peer died), so survivors may be one step apart. A joiner (weft_comm_joined_late) has no
 *     state and receives it; it skips the first boundary because its init already was the
 *     recover that admitted it.
 *   - At the end the members allgather a checksum of (model, step) and check they all agree.
 *
 * Output (parsed by tests/membership/): per epoch change
 *   "elastic_sgd: epoch E: size S, left [..], joined [..] (recover X s, t=UNIX)",
 * per failed call "elastic_sgd: step S: <call> failed: <error>: <detail> (t=UNIX)", and finally
 *   "elastic_sgd: done, steps S, epochs E, final size N, checksum C".
 * ELASTIC_SGD_RESTART_DELAY_MS (tests): a restarted incarnation (WEFT_RESTART_COUNT > 0) waits
 * this long before weft_comm_init_env, so that the survivors recover without it first.
 * ELASTIC_SGD_HANG_RANK / ELASTIC_SGD_HANG_STEP (tests): that launcher rank's first incarnation
 * blocks forever in its own code before the allreduce of that step (a hung caller: its progress
 * thread, and so its heartbeats, go on), after printing "elastic_sgd: hanging at step S (t=UNIX)";
 * with ELASTIC_SGD_HANG_MS only that long (a slow step, not a hang).
 * Exit status: 0 done, 2 the members disagree, 3 evicted (this process was fenced out of the
 * job, e.g. after being stopped past the heartbeat timeout), 4 WEFT_ERR_MIN_SIZE, 1 otherwise. */
#include <inttypes.h>
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "example_clock.h"

#define MODEL_LEN 1024
#define LEARNING_RATE 0.01f

enum { EXIT_DONE = 0, EXIT_OTHER = 1, EXIT_DISAGREE = 2, EXIT_EVICTED = 3, EXIT_MIN_SIZE = 4 };

typedef struct {
  weft_comm_t *comm;
  int launch_rank;  /* WEFT_RANK: stable across restarts */
  float model[MODEL_LEN];
  int64_t step;
  bool has_state;   /* false for a joiner until the model reached it */
  int64_t hang_step; /* ELASTIC_SGD_HANG_*: the step this process hangs at (-1: never) */
  int hang_ms;       /* ... for this long (0: for ever) */
} trainer_t;

static void fake_gradient(const trainer_t *t, float *grad) {
  for (int i = 0; i < MODEL_LEN; i++)
    grad[i] = sinf(0.001f * (float)(t->step + 1) * (float)(i + 1) + 0.1f * (float)t->launch_rank);
}

static uint64_t checksum(const trainer_t *t) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a over the model's bytes, then the step */
  const uint8_t *p = (const uint8_t *)t->model;
  for (size_t i = 0; i < sizeof t->model; i++) h = (h ^ p[i]) * 1099511628211ull;
  p = (const uint8_t *)&t->step;
  for (size_t i = 0; i < sizeof t->step; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void print_list(char *buf, size_t len, const int *v, int n) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < n && i < WEFT_RECOVER_MAX_LISTED && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? ", " : "", v[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

static void call_failed(const trainer_t *t, const char *what, weft_result_t r) {
  printf("elastic_sgd: step %" PRId64 ": %s failed: %s: %s (t=%.3f)\n", t->step, what,
         weft_strerror(r), weft_comm_last_error(t->comm), unix_now());
  fflush(stdout);
}

/* Every member: agree on the root (lowest rank holding a state), then copy its step and model. */
static weft_result_t sync_state(trainer_t *t) {
  int32_t mine = t->has_state ? weft_comm_rank(t->comm) : INT32_MAX, root;
  weft_result_t r = weft_allreduce(t->comm, &mine, &root, 1, WEFT_INT32, WEFT_MIN);
  if (r != WEFT_SUCCESS) return r;
  if (root == INT32_MAX) {
    /* Everybody is new (the whole job was lost and restarted): start over. */
    printf("elastic_sgd: no member holds the model; starting from step 0\n");
    memset(t->model, 0, sizeof t->model);
    t->step = 0;
    t->has_state = true;
    return WEFT_SUCCESS;
  }
  int64_t step = t->step;
  r = weft_broadcast(t->comm, &step, &step, 1, WEFT_INT64, root);
  if (r == WEFT_SUCCESS) r = weft_broadcast(t->comm, t->model, t->model, MODEL_LEN, WEFT_FLOAT32, root);
  if (r != WEFT_SUCCESS) return r;
  t->step = step;
  t->has_state = true;
  return WEFT_SUCCESS;
}

/* Exit status for a recover that failed: the job cannot go on for this process. */
static int recover_failed(const trainer_t *t, weft_result_t r) {
  const char *detail = weft_comm_last_error(t->comm);
  if (r == WEFT_ERR_MIN_SIZE) {
    printf("elastic_sgd: step %" PRId64 ": too few ranks remain: %s: %s (t=%.3f)\n", t->step,
           weft_strerror(r), detail, unix_now());
    return EXIT_MIN_SIZE;
  }
  if (r == WEFT_ERR_EVICTED) {
    printf("elastic_sgd: step %" PRId64 ": this process was evicted from the job: %s (t=%.3f)\n",
           t->step, detail, unix_now());
    return EXIT_EVICTED;
  }
  printf("elastic_sgd: step %" PRId64 ": weft_comm_recover failed: %s: %s (t=%.3f)\n", t->step,
         weft_strerror(r), detail, unix_now());
  return EXIT_OTHER;
}

static int train(trainer_t *t, int64_t steps, int sleep_ms_per_step) {
  weft_comm_t *comm = t->comm;
  bool need_sync = !t->has_state, skip_recover = !t->has_state;
  double failed_at = 0; /* when the last collective failed (monotonic), 0: none pending */
  float grad[MODEL_LEN];
  for (;;) {
    if (!skip_recover) {
      weft_recover_info_t info;
      double t0 = mono_now();
      weft_result_t r;
      while ((r = weft_comm_recover(comm, &info)) == WEFT_ERR_UNAVAILABLE) /* the coordinator is restarting */
        printf("elastic_sgd: step %" PRId64 ": weft_comm_recover: %s; retrying (t=%.3f)\n", t->step,
               weft_comm_last_error(comm), unix_now());
      if (r != WEFT_SUCCESS) return recover_failed(t, r);
      if (info.new_epoch != info.old_epoch) {
        char left[512], joined[512];
        print_list(left, sizeof left, info.left_old_ranks, info.num_left);
        print_list(joined, sizeof joined, info.joined_new_ranks, info.num_joined);
        double now = mono_now(), since = failed_at > 0 ? now - failed_at : now - t0;
        printf("elastic_sgd: epoch %" PRIu64 ": size %d, left %s, joined %s (recover %.3f s, "
               "since error %.3f s, step %" PRId64 ", t=%.3f)\n",
               info.new_epoch, info.new_size, left, joined, now - t0, since, t->step, unix_now());
        fflush(stdout);
        need_sync = true;
      }
      failed_at = 0;
    }
    skip_recover = false;
    if (need_sync) {
      weft_result_t r = sync_state(t);
      if (r != WEFT_SUCCESS) {
        call_failed(t, "state sync", r);
        failed_at = mono_now();
        continue;
      }
      need_sync = false;
    }
    if (t->step >= steps) {
      uint64_t mine = checksum(t);
      int n = weft_comm_size(comm);
      uint64_t *all = calloc((size_t)n, sizeof *all);
      if (all == NULL) return EXIT_OTHER;
      weft_result_t r = weft_allgather(comm, &mine, all, 1, WEFT_UINT64);
      if (r != WEFT_SUCCESS) {
        free(all);
        call_failed(t, "checksum allgather", r);
        failed_at = mono_now();
        continue;
      }
      int differ = 0;
      for (int i = 0; i < n; i++) differ += all[i] != mine;
      free(all);
      if (differ) {
        printf("elastic_sgd: FAILED: %d of %d members hold a different model\n", differ, n);
        return EXIT_DISAGREE;
      }
      printf("elastic_sgd: done, steps %" PRId64 ", epochs %" PRIu64 ", final size %d, checksum "
             "%016" PRIx64 "\n", t->step, weft_comm_epoch(comm), n, mine);
      return EXIT_DONE;
    }
    fake_gradient(t, grad);
    sleep_ms(sleep_ms_per_step); /* the "compute" */
    if (t->step == t->hang_step) {
      printf("elastic_sgd: hanging at step %" PRId64 " (t=%.3f)\n", t->step, unix_now());
      fflush(stdout);
      if (t->hang_ms > 0) sleep_ms(t->hang_ms);
      else
        for (;;) pause(); /* a deadlock in user code, as far as anyone can tell */
    }
    weft_result_t r = weft_allreduce(comm, grad, grad, MODEL_LEN, WEFT_FLOAT32, WEFT_AVG);
    if (r != WEFT_SUCCESS) {
      call_failed(t, "allreduce", r);
      failed_at = mono_now();
      continue; /* not applied: redone after recover */
    }
    for (int i = 0; i < MODEL_LEN; i++) t->model[i] -= LEARNING_RATE * grad[i];
    t->step++;
  }
}

int main(int argc, char **argv) {
  int64_t steps = argc > 1 ? atoll(argv[1]) : 300;
  int sleep_per_step = argc > 2 ? atoi(argv[2]) : 10;
  if (steps < 0 || sleep_per_step < 0) {
    fprintf(stderr, "usage: elastic_sgd [STEPS [SLEEP_MS]]\n");
    return EXIT_OTHER;
  }
  const char *restarts = getenv("WEFT_RESTART_COUNT"), *delay = getenv("ELASTIC_SGD_RESTART_DELAY_MS");
  if (restarts && atoi(restarts) > 0 && delay) sleep_ms(atoi(delay));
  static trainer_t t; /* zero model, step 0 */
  const char *lr = getenv("WEFT_RANK");
  t.launch_rank = lr ? atoi(lr) : 0;
  const char *hang_rank = getenv("ELASTIC_SGD_HANG_RANK"), *hang_step = getenv("ELASTIC_SGD_HANG_STEP");
  bool first = !restarts || atoi(restarts) == 0;
  t.hang_step = hang_rank && hang_step && first && atoi(hang_rank) == t.launch_rank ? atoll(hang_step) : -1;
  t.hang_ms = getenv("ELASTIC_SGD_HANG_MS") ? atoi(getenv("ELASTIC_SGD_HANG_MS")) : 0;
  weft_result_t r = weft_comm_init_env(&t.comm);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "elastic_sgd: init failed: %s: %s\n", weft_strerror(r), weft_comm_last_error(NULL));
    return EXIT_OTHER;
  }
  t.has_state = !weft_comm_joined_late(t.comm);
  printf("elastic_sgd: %s epoch %" PRIu64 " as rank %d of %d (pid %ld, t=%.3f)\n",
         t.has_state ? "started in" : "joined late into", weft_comm_epoch(t.comm),
         weft_comm_rank(t.comm), weft_comm_size(t.comm), (long)getpid(), unix_now());
  fflush(stdout);
  int rc = train(&t, steps, sleep_per_step);
  fflush(stdout);
  weft_comm_destroy(t.comm);
  return rc;
}
