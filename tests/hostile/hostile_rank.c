/* One rank of the hostile-peer and leak tests (tests/hostile/).
 *
 *   weftrun -n N hostile_rank loop --stop-file F [--count C] [--delay-rank R --delay S]
 *   weftrun -n N hostile_rank cycles --cycles K [--count C]
 *
 * loop: one communicator; allreduce (int64 SUM, exact) of C elements plus one "stop vote" element
 *   until rank 0 sees the stop file; every result is checked against the closed form. Rank R
 *   sleeps S seconds before weft_comm_init, so the other ranks sit in init with their listening
 *   socket open while a driver aims hostile connections at it (the mesh accept path).
 * cycles: K times init / allreduce (checked) / barrier / destroy in one process; afterwards the
 *   open descriptors (/proc/self/fd) and threads (/proc/self/task) must be back to the values
 *   seen before the first init.
 *
 * Output, one line each, flushed at once (parsed by the drivers):
 *   "rank R pid P"                       before init
 *   "rank R ready size N"                after init (loop)
 *   "rank R progress I maxlat S t=UNIX"  every 100 iterations (loop): S is the slowest
 *                                        single allreduce of those 100, in seconds
 *   "rank R done iters I maxlat S"       after the last iteration (loop) or cycle
 *   "rank R fds A->B threads C->D"       (cycles) before/after
 *   "rank R: ERROR ..."                  any failure
 * Exit status: 0 success, 2 init failed, 3 a call failed, 4 wrong data, 5 fd/thread leak. */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own descriptor */
}

/* Element i of rank r's input in iteration it: distinct per (rank, iteration, element). */
static int64_t input(int r, uint64_t it, size_t i) {
  return (int64_t)((uint64_t)(r + 1) * 1000003u + it * 7919u + (uint64_t)i * 31u);
}

/* Fills, reduces and checks one allreduce; vote is this rank's stop vote. Returns the vote sum,
 * or -1 on failure (message printed, *code set). */
static int64_t checked_allreduce(weft_comm_t *comm, int64_t *buf, size_t count, uint64_t it,
                                 int64_t vote, int *code) {
  int rank = weft_comm_rank(comm), size = weft_comm_size(comm);
  for (size_t i = 0; i < count; i++) buf[i] = input(rank, it, i);
  buf[count] = vote;
  weft_result_t r = weft_allreduce(comm, buf, buf, count + 1, WEFT_INT64, WEFT_SUM);
  if (r != WEFT_SUCCESS) {
    printf("rank %d: ERROR %s: %s (iteration %llu)\n", rank, weft_strerror(r),
           weft_comm_last_error(comm), (unsigned long long)it);
    *code = 3;
    return -1;
  }
  for (size_t i = 0; i < count; i++) {
    int64_t want = 0;
    for (int q = 0; q < size; q++) want += input(q, it, i);
    if (buf[i] != want) {
      printf("rank %d: ERROR wrong data at iteration %llu element %zu: got %lld want %lld\n",
             rank, (unsigned long long)it, i, (long long)buf[i], (long long)want);
      *code = 4;
      return -1;
    }
  }
  return buf[count];
}

static int run_loop(size_t count, const char *stop_file, int delay_rank, double delay_s) {
  const char *env_rank = getenv("WEFT_RANK");
  int my = env_rank ? atoi(env_rank) : -1;
  printf("rank %d pid %d\n", my, (int)getpid());
  fflush(stdout);
  if (my == delay_rank && delay_s > 0) usleep((useconds_t)(delay_s * 1e6));
  weft_comm_t *comm = NULL;
  weft_result_t r = weft_comm_init_env(&comm);
  if (r != WEFT_SUCCESS) {
    printf("rank %d: ERROR init: %s: %s\n", my, weft_strerror(r), weft_comm_last_error(comm));
    return 2;
  }
  int rank = weft_comm_rank(comm);
  printf("rank %d ready size %d\n", rank, weft_comm_size(comm));
  fflush(stdout);
  int64_t *buf = malloc((count + 1) * sizeof *buf);
  int code = 0;
  uint64_t it = 0;
  double maxlat = 0, maxlat_all = 0;
  for (;; it++) {
    int64_t vote = (rank == 0 && access(stop_file, F_OK) == 0) ? 1 : 0;
    double t0 = mono_now();
    int64_t votes = checked_allreduce(comm, buf, count, it, vote, &code);
    double lat = mono_now() - t0;
    if (lat > maxlat) maxlat = lat;
    if (votes < 0) break;
    if (it % 100 == 99) {
      printf("rank %d progress %llu maxlat %.3f t=%.3f\n", rank, (unsigned long long)it + 1,
             maxlat, wall_now());
      fflush(stdout);
      if (maxlat > maxlat_all) maxlat_all = maxlat;
      maxlat = 0;
    }
    if (votes > 0) break;
    usleep(2000); /* leave the 2 shared cores some air: the attackers need them too */
  }
  if (maxlat > maxlat_all) maxlat_all = maxlat;
  if (code == 0) printf("rank %d done iters %llu maxlat %.3f\n", rank, (unsigned long long)it + 1, maxlat_all);
  fflush(stdout);
  free(buf);
  weft_comm_destroy(comm);
  return code;
}

static int run_cycles(size_t count, int cycles) {
  const char *env_rank = getenv("WEFT_RANK");
  int my = env_rank ? atoi(env_rank) : -1;
  printf("rank %d pid %d\n", my, (int)getpid());
  fflush(stdout);
  int fds0 = count_dir("/proc/self/fd"), thr0 = count_dir("/proc/self/task");
  int64_t *buf = malloc((count + 1) * sizeof *buf);
  int code = 0, k = 0;
  double maxlat = 0;
  for (k = 0; k < cycles && code == 0; k++) {
    double t0 = mono_now();
    weft_comm_t *comm = NULL;
    weft_result_t r = weft_comm_init_env(&comm);
    if (r != WEFT_SUCCESS) {
      printf("rank %d: ERROR init in cycle %d: %s: %s\n", my, k, weft_strerror(r),
             weft_comm_last_error(comm));
      code = 2;
      break;
    }
    if (checked_allreduce(comm, buf, count, (uint64_t)k, 0, &code) < 0) {
      weft_comm_destroy(comm);
      break;
    }
    r = weft_barrier(comm);
    if (r != WEFT_SUCCESS) {
      printf("rank %d: ERROR barrier in cycle %d: %s: %s\n", my, k, weft_strerror(r),
             weft_comm_last_error(comm));
      code = 3;
    }
    weft_comm_destroy(comm);
    double lat = mono_now() - t0;
    if (lat > maxlat) maxlat = lat;
    if (k % 100 == 99) {
      printf("rank %d cycle %d fds %d threads %d\n", my, k + 1, count_dir("/proc/self/fd"),
             count_dir("/proc/self/task"));
      fflush(stdout);
    }
  }
  free(buf);
  int fds1 = count_dir("/proc/self/fd"), thr1 = count_dir("/proc/self/task");
  /* A name lookup's detached thread (lib/core/resolve.c) has handed its answer over but may still
   * be on its way out: give exiting threads a moment before calling a difference a leak. */
  for (int settle = 0; settle < 40 && (fds1 != fds0 || thr1 != thr0); settle++) {
    struct timespec d = {0, 50 * 1000 * 1000};
    nanosleep(&d, NULL);
    fds1 = count_dir("/proc/self/fd"), thr1 = count_dir("/proc/self/task");
  }
  printf("rank %d fds %d->%d threads %d->%d\n", my, fds0, fds1, thr0, thr1);
  if (code == 0 && (fds1 != fds0 || thr1 != thr0)) {
    printf("rank %d: ERROR leak: descriptors %d->%d, threads %d->%d\n", my, fds0, fds1, thr0, thr1);
    code = 5;
  }
  if (code == 0) printf("rank %d done iters %d maxlat %.3f\n", my, k, maxlat);
  fflush(stdout);
  return code;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) {
    fprintf(stderr, "usage: hostile_rank loop|cycles [options]\n");
    return 2;
  }
  const char *mode = argv[1], *stop_file = NULL;
  size_t count = 1000;
  int cycles = 1000, delay_rank = -1;
  double delay_s = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--count")) count = (size_t)strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--stop-file")) stop_file = argv[i + 1];
    else if (!strcmp(argv[i], "--cycles")) cycles = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--delay-rank")) delay_rank = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--delay")) delay_s = atof(argv[i + 1]);
    else {
      fprintf(stderr, "hostile_rank: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!strcmp(mode, "loop") && stop_file != NULL) return run_loop(count, stop_file, delay_rank, delay_s);
  if (!strcmp(mode, "cycles")) return run_cycles(count, cycles);
  fprintf(stderr, "hostile_rank: bad mode or missing --stop-file\n");
  return 2;
}
