/* A rank of the weft_allreduce_elastic test (test_elastic_allreduce.py).
 *
 *   elastic_allreduce_rank STEPS COUNT SLEEP_MS ADMIT_EVERY
 *
 * Each step is one in-place weft_allreduce_elastic (SUM, int64) of COUNT elements where the
 * process with launcher rank id (WEFT_RANK, stable across epochs) contributes (id + 1) * (k + 1)
 * at element k, plus 1 at element 0's twin slot. So the result says exactly who contributed:
 * element k must be S * (k + 1) with S the sum of (id + 1) over the contributors, and the count
 * slot must equal *contributors. The driver kills ranks and checks S against who was alive.
 *
 * "lost N": members the call itself lost (and re-ran without); "joined J": processes the call
 * admitted after the step (the coordinator answered its agreement JOINERS: the result is over
 * the members before them, C = size - J).
 *
 * Every ADMIT_EVERY steps the ranks call weft_comm_recover to admit restarted processes (0:
 * never: only weft_allreduce_elastic admits them); a joiner learns the step to continue from by a
 * broadcast from the lowest-ranked survivor. Prints one line per step:
 *   step N epoch E contributors C S s lost L joined J
 * and exits 0 after STEPS steps, 3 on any error (printed), 4 on a wrong result. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/rank_util.h"

static int fail(weft_comm_t *comm, const char *what, weft_result_t r) {
  printf("error: %s: %s: %s\n", what, code_name(r), weft_comm_last_error(comm));
  fflush(stdout);
  weft_comm_destroy(comm);
  return 3;
}

/* The lowest rank that is not new agrees the step count to the joiners (a joiner may have been
 * renumbered ahead of the survivors). */
static weft_result_t sync_step(weft_comm_t *comm, bool is_new, int64_t *step) {
  int64_t mine = is_new ? INT64_MAX : weft_comm_rank(comm), root;
  weft_result_t r = weft_allreduce(comm, &mine, &root, 1, WEFT_INT64, WEFT_MIN);
  if (r != WEFT_SUCCESS) return r;
  return weft_broadcast(comm, step, step, 1, WEFT_INT64, (int)root);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s STEPS COUNT SLEEP_MS ADMIT_EVERY\n", argv[0]);
    return 2;
  }
  int64_t steps = atoll(argv[1]);
  size_t count = (size_t)atoll(argv[2]);
  int sleep_ms = atoi(argv[3]), admit_every = atoi(argv[4]);
  const char *id_env = getenv("WEFT_RANK");
  int64_t id = id_env ? atoll(id_env) : 0;
  int64_t *buf = malloc((count + 1) * sizeof *buf);
  if (!buf || count == 0) return 2;

  weft_comm_t *comm;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) return fail(NULL, "init", r);
  int64_t step = 0;
  bool joined_late = weft_comm_joined_late(comm);
  if (joined_late && (r = sync_step(comm, true, &step)) != WEFT_SUCCESS)
    return fail(comm, "joiner sync", r);
  printf("start id %" PRId64 " pid %d epoch %" PRIu64 " step %" PRId64 "\n", id, (int)getpid(),
         weft_comm_epoch(comm), step);
  fflush(stdout);

  for (; step < steps; step++) {
    /* A joiner enters right after the survivors' recover at this step: it must not call it again. */
    bool admit_here = admit_every > 0 && step > 0 && step % admit_every == 0 && !joined_late;
    joined_late = false;
    if (admit_here) {
      weft_recover_info_t info;
      if ((r = weft_comm_recover(comm, &info)) != WEFT_SUCCESS) return fail(comm, "recover", r);
      if (info.num_joined > 0 && (r = sync_step(comm, false, &step)) != WEFT_SUCCESS)
        return fail(comm, "survivor sync", r);
    }
    for (size_t k = 0; k < count; k++) buf[k] = (id + 1) * (int64_t)(k + 1);
    buf[count] = 1;
    int contributors = 0;
    weft_recover_info_t changed;
    r = weft_allreduce_elastic(comm, buf, buf, count + 1, WEFT_INT64, WEFT_SUM, &contributors, &changed);
    if (r != WEFT_SUCCESS) return fail(comm, "allreduce_elastic", r);
    int64_t s = buf[0];
    for (size_t k = 0; k < count; k++)
      if (buf[k] != s * (int64_t)(k + 1)) {
        printf("wrong: step %" PRId64 " element %zu is %" PRId64 ", expected %" PRId64 "\n", step, k,
               buf[k], s * (int64_t)(k + 1));
        return 4;
      }
    if (buf[count] != contributors || contributors != weft_comm_size(comm) - changed.num_joined) {
      printf("wrong: step %" PRId64 " count slot %" PRId64 ", contributors %d, size %d\n", step,
             buf[count], contributors, weft_comm_size(comm));
      return 4;
    }
    printf("step %" PRId64 " epoch %" PRIu64 " contributors %d S %" PRId64 " lost %d joined %d\n", step,
           weft_comm_epoch(comm), contributors, s, changed.num_left, changed.num_joined);
    fflush(stdout);
    if (changed.num_joined > 0) { /* admitted after this step: they start with the next one */
      int64_t next = step + 1;
      if ((r = sync_step(comm, false, &next)) != WEFT_SUCCESS) return fail(comm, "survivor sync after elastic", r);
    }
    if (sleep_ms > 0) usleep((useconds_t)sleep_ms * 1000);
  }
  printf("done epoch %" PRIu64 " size %d\n", weft_comm_epoch(comm), weft_comm_size(comm));
  fflush(stdout);
  weft_comm_destroy(comm);
  free(buf);
  return 0;
}
