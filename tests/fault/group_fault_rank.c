/* One rank of the sub-communicator fault test (tests/fault/test_group_kill.py): a SIGKILL during
 * a child's collective must fail every communicator of the context on every survivor — the
 * child the victim was in, the other children, the root — and after weft_comm_recover the old
 * children must refuse work while new ones made from the recovered root work.
 *
 *   weftrun -n N group_fault_rank
 * Every rank makes: `mine`, a parity split of the world (the victim, rank N-1, is in one of the
 * two), and `others`, a create_group of ranks 0..N-2 (without the victim). Then every rank loops
 * 4 MiB allreduces on `mine`; the victim's second thread SIGKILLs it at a random moment during
 * its loop. Output (parsed by the driver):
 *   "rank R victim kill t=T"                  the victim, just before raise(SIGKILL)
 *   "rank R failed CODE t=T: DETAIL"          a survivor's loop call failed at wall clock T
 *   "rank R others CODE" / "rank R root CODE" the next call on each other communicator
 *   "rank R recovered epoch E size S"         after weft_comm_recover
 *   "rank R stale CODE: DETAIL"               a call on a child of the old epoch
 *   "rank R new child ok"                     an allreduce on a child of the new epoch
 * Exit 0 when every step above went as required, 1 otherwise.
 *
 *   weftrun -n N group_fault_rank --during-formation
 * The victim dies while the others form a group it belongs to (weft_comm_create_group over every
 * rank, which it never calls): their formation must end with WEFT_ERR_PEER_LOST/REVOKED as soon
 * as the loss is known, not at the timeout, and recover and new children work as above. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "../common/rank_util.h"

static int rank, size;

static double wall(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void *killer(void *arg) {
  (void)arg;
  struct timespec d = {0, (200 + rand() % 400) * 1000000L};
  nanosleep(&d, NULL);
  printf("rank %d victim kill t=%.6f\n", rank, wall());
  fflush(stdout);
  raise(SIGKILL);
  return NULL;
}

static bool failed_as_revoked(weft_result_t r) { return r == WEFT_ERR_REVOKED || r == WEFT_ERR_PEER_LOST; }

/* The next epoch, from the root; a child of the old epoch (stale, may be NULL) only fails, a new
 * one works. Whether every step went as required. */
static bool recover_and_check(weft_comm_t *world, weft_comm_t *stale) {
  weft_recover_info_t info;
  weft_result_t r = weft_comm_recover(world, &info);
  if (r != WEFT_SUCCESS) {
    printf("rank %d recover %s: %s\n", rank, code_name(r), weft_comm_last_error(world));
    return false;
  }
  printf("rank %d recovered epoch %llu size %d\n", rank, (unsigned long long)weft_comm_epoch(world), weft_comm_size(world));
  bool ok = weft_comm_size(world) == size - 1;
  float x = 1.0f;
  if (stale) {
    r = weft_allreduce(stale, &x, &x, 1, WEFT_FLOAT32, WEFT_SUM);
    printf("rank %d stale %s: %s\n", rank, code_name(r), weft_comm_last_error(stale));
    ok &= r == WEFT_ERR_REVOKED && strstr(weft_comm_last_error(stale), "make it again") != NULL;
  }
  weft_comm_t *fresh = NULL;
  r = weft_comm_split(world, 0, -weft_comm_rank(world), &fresh);
  x = 1.0f;
  if (r == WEFT_SUCCESS) r = weft_allreduce(fresh, &x, &x, 1, WEFT_FLOAT32, WEFT_SUM);
  if (r == WEFT_SUCCESS && x == (float)(size - 1)) printf("rank %d new child ok\n", rank);
  else printf("rank %d new child %s (%g): %s\n", rank, code_name(r), (double)x, weft_comm_last_error(fresh ? fresh : world));
  ok &= r == WEFT_SUCCESS && x == (float)(size - 1);
  weft_comm_destroy(fresh);
  return ok;
}

/* The victim dies while the others form a group that includes it. */
static int during_formation(weft_comm_t *world) {
  int victim = size - 1;
  if (weft_barrier(world) != WEFT_SUCCESS) return 2;
  if (rank == victim) {
    killer(NULL);
    return 2; /* not reached */
  }
  int ranks[256];
  for (int i = 0; i < size; i++) ranks[i] = i;
  weft_comm_t *all = NULL;
  weft_result_t r = weft_comm_create_group(world, size, ranks, 7, &all);
  printf("rank %d failed %s t=%.6f: %s\n", rank, code_name(r), wall(), weft_comm_last_error(world));
  bool ok = failed_as_revoked(r) && all == NULL;
  float x = 1.0f;
  r = weft_allreduce(world, &x, &x, 1, WEFT_FLOAT32, WEFT_SUM);
  printf("rank %d root %s\n", rank, code_name(r));
  ok &= failed_as_revoked(r);
  ok &= recover_and_check(world, NULL);
  weft_comm_destroy(world);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  weft_comm_t *world, *mine = NULL, *others = NULL;
  if (weft_comm_init_env(&world) != WEFT_SUCCESS) {
    fprintf(stderr, "init: %s\n", weft_comm_last_error(NULL));
    return 2;
  }
  rank = weft_comm_rank(world);
  size = weft_comm_size(world);
  int victim = size - 1;
  srand((unsigned)getpid());
  if (argc > 1 && strcmp(argv[1], "--during-formation") == 0) return during_formation(world);
  if (weft_comm_split(world, rank % 2, rank, &mine) != WEFT_SUCCESS) {
    fprintf(stderr, "rank %d split: %s\n", rank, weft_comm_last_error(world));
    return 2;
  }
  if (rank != victim) {
    int ranks[256];
    for (int i = 0; i < victim; i++) ranks[i] = i;
    if (weft_comm_create_group(world, victim, ranks, 1, &others) != WEFT_SUCCESS) {
      fprintf(stderr, "rank %d create_group: %s\n", rank, weft_comm_last_error(world));
      return 2;
    }
  }
  printf("rank %d ready\n", rank);
  size_t count = (4u << 20) / sizeof(float);
  float *buf = malloc(count * sizeof *buf);
  for (size_t i = 0; i < count; i++) buf[i] = 1.0f;
  if (rank == victim) {
    pthread_t t;
    pthread_create(&t, NULL, killer, NULL);
  }
  int ok = 1;
  weft_result_t r;
  for (;;) {
    r = weft_allreduce(mine, buf, buf, count, WEFT_FLOAT32, WEFT_SUM);
    if (r != WEFT_SUCCESS) break;
    for (size_t i = 0; i < count; i++) buf[i] = 1.0f;
  }
  printf("rank %d failed %s t=%.6f: %s\n", rank, code_name(r), wall(), weft_comm_last_error(mine));
  ok &= failed_as_revoked(r);
  /* Every other communicator of the context is revoked too. */
  float x = 1.0f;
  r = weft_allreduce(others, &x, &x, 1, WEFT_FLOAT32, WEFT_SUM);
  printf("rank %d others %s\n", rank, code_name(r));
  ok &= failed_as_revoked(r);
  r = weft_allreduce(world, &x, &x, 1, WEFT_FLOAT32, WEFT_SUM);
  printf("rank %d root %s\n", rank, code_name(r));
  ok &= failed_as_revoked(r);
  ok &= recover_and_check(world, mine);
  weft_comm_destroy(mine);
  weft_comm_destroy(others);
  weft_comm_destroy(world);
  free(buf);
  return ok ? 0 : 1;
}
