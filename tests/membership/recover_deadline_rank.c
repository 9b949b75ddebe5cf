/* A rank of the recover-deadline tests (test_recover_deadline.py). Two scenarios:
 *
 *   recover_deadline_rank deadline VICTIM SLEEP_S
 *     Every rank runs one allreduce, then calls weft_comm_recover at that step boundary --
 *     except launcher rank VICTIM, which "blocks in user code" (sleeps SLEEP_S seconds, its
 *     progress thread heartbeating all along) and then tries its next allreduce. The coordinator
 *     must leave it out after WEFT_RECOVER_TIMEOUT: the others' recover returns the epoch
 *     without it, they run an allreduce at size n-1, and the victim's allreduce and recover both
 *     fail with WEFT_ERR_EVICTED (exit 3).
 *
 *   recover_deadline_rank handover timeout|deadline|nochange
 *     3 ranks. Launcher rank 2 vanishes (exits without weft_comm_destroy: a crash) after the
 *     first allreduce (not in "nochange", where every rank lives and the answer is NO_CHANGE).
 *     Rank 0 recovers with a 1 s WEFT_TIMEOUT ("timeout", "nochange"), or with a shorter
 *     WEFT_RECOVER_TIMEOUT than the coordinator's ("deadline": 0.5 s and a 1.5 s heartbeat
 *     timeout, so it waits 0.5 + 1.5 + 2 = 4 s), while rank 1 waits longer before it
 *     recovers, so rank 0's recover gives up (WEFT_ERR_TIMEOUT) before the coordinator decides;
 *     the coordinator's answer then reaches rank 0 between two recover calls. Its second recover
 *     must take that answer, not ask again: an EPOCH is installed (asked again about the old
 *     epoch, the coordinator would take the stale RECOVER for a member gone astray and evict it):
 *     both end in epoch 2 of size 2 and allreduce together; a NO_CHANGE is returned (a second
 *     RECOVER would open a round the others, gone on to their allreduce, never join).
 *
 * Each rank contributes its launcher rank + 1 (WEFT_RANK), so a sum names the contributors.
 * Lines printed (the driver parses them):
 *   start id I pid P epoch E
 *   recovered epoch E size S left [a,b] in T s
 *   recover failed: CODE after T s: DETAIL
 *   sum S size N
 *   evicted: CODE: DETAIL          (victim; then exit 3)
 *   done
 * Exits 0 when done, 3 on an expected eviction, 4 on anything unexpected (printed). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/rank_util.h"

static int bad(weft_comm_t *comm, const char *what, weft_result_t r) {
  printf("unexpected: %s: %s: %s\n", what, code_name(r), weft_comm_last_error(comm));
  fflush(stdout);
  return 4;
}

static weft_result_t sum_ids(weft_comm_t *comm, int64_t id, int64_t *sum) {
  int64_t mine = id + 1;
  weft_result_t r = weft_allreduce(comm, &mine, sum, 1, WEFT_INT64, WEFT_SUM);
  if (r == WEFT_SUCCESS) printf("sum %" PRId64 " size %d\n", *sum, weft_comm_size(comm));
  fflush(stdout);
  return r;
}

static void print_recovered(const weft_recover_info_t *info, double took) {
  printf("recovered epoch %" PRIu64 " size %d left [", info->new_epoch, info->new_size);
  for (int i = 0; i < info->num_left && i < WEFT_RECOVER_MAX_LISTED; i++)
    printf("%s%d", i ? "," : "", info->left_old_ranks[i]);
  printf("] in %.3f s\n", took);
  fflush(stdout);
}

/* The victim: stuck in user code while the others recover, then its next calls. */
static int victim(weft_comm_t *comm, double sleep_s) {
  usleep((useconds_t)(sleep_s * 1e6));
  int64_t sum = 0;
  weft_result_t r = sum_ids(comm, 0, &sum);
  if (r != WEFT_ERR_EVICTED) return bad(comm, "the left-out rank's allreduce", r);
  printf("evicted: %s: %s\n", code_name(r), weft_comm_last_error(comm));
  weft_recover_info_t info;
  r = weft_comm_recover(comm, &info);
  if (r != WEFT_ERR_EVICTED) return bad(comm, "the left-out rank's recover", r);
  printf("evicted: %s: %s\n", code_name(r), weft_comm_last_error(comm));
  fflush(stdout);
  weft_comm_destroy(comm);
  return 3;
}

static int deadline(weft_comm_t *comm, int64_t id, int victim_id, double sleep_s) {
  if (id == victim_id) return victim(comm, sleep_s);
  weft_recover_info_t info;
  double t0 = mono_now();
  weft_result_t r = weft_comm_recover(comm, &info);
  if (r != WEFT_SUCCESS) return bad(comm, "recover", r);
  print_recovered(&info, mono_now() - t0);
  int64_t sum = 0;
  if ((r = sum_ids(comm, id, &sum)) != WEFT_SUCCESS) return bad(comm, "allreduce after recover", r);
  return 0;
}

static int handover(weft_comm_t *comm, int64_t id, bool by_deadline, bool crash) {
  if (id == 2 && crash) {
    /* Late enough that the others have read all of the first allreduce (a close with data
     * unread can reset the connection under a peer still reading it). */
    sleep(1);
    _exit(0); /* no weft_comm_destroy: the coordinator sees a crash */
  }
  int64_t sum = 0;
  weft_result_t r = WEFT_ERR_REVOKED;
  double until = mono_now() + 30;
  while (crash && (r = sum_ids(comm, id, &sum)) == WEFT_SUCCESS && mono_now() < until) usleep(10000);
  if (r != WEFT_ERR_PEER_LOST && r != WEFT_ERR_REVOKED) return bad(comm, "noticing rank 2's crash", r);
  weft_recover_info_t info;
  if (id != 0) {
    sleep(by_deadline ? 6 : 3); /* rank 0's first recover gives up meanwhile */
  } else {
    if (!by_deadline) weft_comm_set_timeout(comm, 1.0);
    double t0 = mono_now();
    r = weft_comm_recover(comm, &info);
    if (r != WEFT_ERR_TIMEOUT) return bad(comm, "the first recover (1 s)", r);
    printf("recover failed: %s after %.3f s: %s\n", code_name(r), mono_now() - t0, weft_comm_last_error(comm));
    fflush(stdout);
    sleep(by_deadline ? 3 : 4); /* rank 1 recovers meanwhile: the coordinator's EPOCH arrives now */
    weft_comm_set_timeout(comm, 60.0);
  }
  double t0 = mono_now();
  r = weft_comm_recover(comm, &info);
  if (r != WEFT_SUCCESS) return bad(comm, "recover", r);
  print_recovered(&info, mono_now() - t0);
  if ((r = sum_ids(comm, id, &sum)) != WEFT_SUCCESS) return bad(comm, "allreduce after recover", r);
  return 0;
}

int main(int argc, char **argv) {
  bool is_deadline = argc == 4 && !strcmp(argv[1], "deadline");
  if (!is_deadline && !(argc == 3 && !strcmp(argv[1], "handover"))) {
    fprintf(stderr, "usage: %s deadline VICTIM SLEEP_S | handover timeout|deadline\n", argv[0]);
    return 2;
  }
  bool by_deadline = !is_deadline && !strcmp(argv[2], "deadline");
  bool crash = !is_deadline && strcmp(argv[2], "nochange") != 0;
  const char *id_env = getenv("WEFT_RANK");
  int64_t id = id_env ? atoll(id_env) : 0;
  if (by_deadline && id == 0) { /* this rank alone believes in a shorter deadline than the coordinator */
    setenv("WEFT_RECOVER_TIMEOUT", "0.5", 1);
    setenv("WEFT_HEARTBEAT_TIMEOUT", "1.5", 1);
  }
  weft_comm_t *comm;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) return bad(NULL, "init", r);
  printf("start id %" PRId64 " pid %d epoch %" PRIu64 "\n", id, (int)getpid(), weft_comm_epoch(comm));
  int64_t sum = 0;
  if ((r = sum_ids(comm, id, &sum)) != WEFT_SUCCESS) return bad(comm, "first allreduce", r);
  int rc = is_deadline ? deadline(comm, id, atoi(argv[2]), atof(argv[3])) : handover(comm, id, by_deadline, crash);
  if (rc == 0) {
    printf("done\n");
    fflush(stdout);
    weft_comm_destroy(comm);
  }
  return rc;
}
