/* chaos_rank: an allreduce loop whose every result is checked exactly, for the chaos test.
 *
 *   weftrun -n 8 --restart K chaos_rank STOP_FILE [SLEEP_MS [MAX_STEPS]]  (defaults: 5 ms, 1000000)
 *
 * Built on examples/elastic_sgd.c's loop (recover at every step boundary, a failed call is not
 * applied, state copied from the lowest rank that holds one after every epoch change), but the
 * "gradient" is chosen so that every rank can compute the exact sum:
 *   - Each process has an identity: its launcher rank (WEFT_RANK, kept by a restarted process)
 *     and its incarnation (WEFT_RESTART_COUNT). After every epoch change the members allgather
 *     their identities, so each knows exactly who contributes to the epoch's collectives (and
 *     checks the coordinator's promise: ranks numbered densely in launcher-rank order).
 *   - At step s the process with launcher rank id contributes element 0 = 2^id (the sum is the
 *     bitmask of the contributors) and element i = hash(s, id, i) mod 4096. All values and every
 *     partial sum are integers below 2^24, so float32/float64 sums are exact in any order, and
 *     the expected result is the sum over the members' identities: compared bit for bit.
 *   - Steps cycle through four shapes so both algorithms and both placements run: float32 x 4
 *     (tree), float32 x 3000 in place (tree), float32 x 40000 (ring), float64 x 20000 in place
 *     (ring). For the out-of-place ones the send buffer is also checked to be untouched, after
 *     failed calls too.
 *   - The "model" is a running FNV-1a hash of every applied result; at the end the members
 *     allgather it and check they agree.
 * Stopping: every 8 steps the members vote (allreduce MAX) on whether STOP_FILE exists; once a
 * vote said yes, the flag travels with the state, the members allgather their checksums and exit.
 *
 * Output (parsed by tests/membership/test_chaos.py; t= is CLOCK_REALTIME, prefix "chaos_rank: "):
 *   init rank R incarnation C pid P (t=T)                  before weft_comm_init_env
 *   started in|joined late into epoch E as rank r of n (incarnation C, pid P, init X s, t=T)
 *   epoch E: size S, left [..], joined [..] (recover X s, t=T)   T: when recover returned
 *   members epoch E: [id.inc, ...] (installed t=T0, t=T)    T0: when the epoch was installed
 *   step S: <call> failed: <error>: <detail> (t=T)
 *   progress step S epoch E size N (t=T)                     about once a second
 *   WRONG step S ...: <what>                                 a result that is not exact
 *   done, steps S, epochs E, final size N, checksum C, wrong W, slowest call X s
 * CHAOS_RESTART_DELAY_MS: a restarted incarnation whose (rank + incarnation) is even waits this
 * long before init, so that some joiners arrive after the survivors recovered and some race them.
 * Exit status: 0 done, 2 the members disagree or a result was wrong, 3 evicted, 1 otherwise. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "example_clock.h"

#define MAX_COUNT 40000
#define MAX_IDS 24 /* element 0 holds 2^id: exact in float32 below 2^24 */
#define VOTE_EVERY 8

enum { EXIT_DONE = 0, EXIT_OTHER = 1, EXIT_WRONG = 2, EXIT_EVICTED = 3 };

typedef struct {
  weft_dtype_t dtype;
  size_t count;
  bool in_place;
} shape_t;

static const shape_t SHAPES[4] = {
    {WEFT_FLOAT32, 4, false}, {WEFT_FLOAT32, 3000, true},
    {WEFT_FLOAT32, 40000, false}, {WEFT_FLOAT64, 20000, true}};

typedef struct {
  weft_comm_t *comm;
  int id, incarnation;
  const char *stop_file;
  int64_t step;
  uint64_t hash;       /* the "model": FNV-1a over every applied result */
  bool has_state;      /* false for a joiner until the state reached it */
  bool stop;           /* a vote said stop (travels with the state) */
  int32_t members[2 * MAX_IDS]; /* (id, incarnation) per rank of the current epoch */
  int nmembers;
  uint64_t wrong;
  double slowest;      /* longest single call, seconds */
  double last_progress;
} chaos_t;

/* What launcher rank id contributes at element i of step s: an integer in [0, 4096), or 2^id. */
static double contribution(int id, int64_t s, size_t i) {
  if (i == 0) return (double)(1u << id);
  uint32_t h = (uint32_t)s * 2654435761u ^ (uint32_t)id * 40503u ^ (uint32_t)i * 2246822519u;
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return (double)(h % 4096u);
}

static void fill(const chaos_t *c, const shape_t *sh, void *buf) {
  for (size_t i = 0; i < sh->count; i++) {
    double v = contribution(c->id, c->step, i);
    if (sh->dtype == WEFT_FLOAT32) ((float *)buf)[i] = (float)v;
    else ((double *)buf)[i] = v;
  }
}

static double element(const shape_t *sh, const void *buf, size_t i) {
  return sh->dtype == WEFT_FLOAT32 ? (double)((const float *)buf)[i] : ((const double *)buf)[i];
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
  return h;
}

/* Times one library call (the slowest is reported: no call may approach WEFT_TIMEOUT). */
static void timed(chaos_t *c, double t0) {
  double d = mono_now() - t0;
  if (d > c->slowest) c->slowest = d;
}

static void call_failed(const chaos_t *c, const char *what, weft_result_t r) {
  printf("chaos_rank: step %" PRId64 ": %s failed: %s: %s (t=%.6f)\n", c->step, what,
         weft_strerror(r), weft_comm_last_error(c->comm), unix_now());
  fflush(stdout);
}

static void print_list(char *buf, size_t len, const int *v, int n) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < n && i < WEFT_RECOVER_MAX_LISTED && k < len; i++)
    k += (size_t)snprintf(buf + k, len - k, "%s%d", i ? ", " : "", v[i]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

/* After an epoch change: learn who the members are, agree on the stop flag and on the root (the
 * lowest rank holding a state), copy its step and model. */
static weft_result_t sync_state(chaos_t *c, double installed) {
  int n = weft_comm_size(c->comm), me = weft_comm_rank(c->comm);
  if (n > MAX_IDS) return WEFT_ERR_UNSUPPORTED;
  int32_t mine[2] = {c->id, c->incarnation};
  double t0 = mono_now();
  weft_result_t r = weft_allgather(c->comm, mine, c->members, 2, WEFT_INT32);
  timed(c, t0);
  if (r != WEFT_SUCCESS) return r;
  c->nmembers = n;
  char list[8 * MAX_IDS + 8];
  size_t k = 0;
  bool ordered = c->members[2 * me] == c->id;
  for (int i = 0; i < n; i++) {
    ordered = ordered && c->members[2 * i] >= 0 && c->members[2 * i] < MAX_IDS &&
              (i == 0 || c->members[2 * i] > c->members[2 * i - 2]);
    k += (size_t)snprintf(list + k, sizeof list - k, "%s%d.%d", i ? ", " : "", c->members[2 * i],
                          c->members[2 * i + 1]);
  }
  printf("chaos_rank: members epoch %" PRIu64 ": [%s] (installed t=%.6f, t=%.6f)\n",
         weft_comm_epoch(c->comm), list, installed, unix_now());
  if (!ordered) {
    /* The coordinator numbers ranks densely in launcher-rank order, ids are unique. */
    printf("chaos_rank: WRONG step %" PRId64 " epoch %" PRIu64 ": membership not in launcher-rank "
           "order or duplicated (this is rank %d)\n", c->step, weft_comm_epoch(c->comm), me);
    c->wrong++;
  }
  fflush(stdout);
  int32_t flags[2] = {c->has_state ? me : INT32_MAX, c->stop ? 0 : 1}, agreed[2];
  t0 = mono_now();
  r = weft_allreduce(c->comm, flags, agreed, 2, WEFT_INT32, WEFT_MIN);
  timed(c, t0);
  if (r != WEFT_SUCCESS) return r;
  if (agreed[0] == INT32_MAX) {
    printf("chaos_rank: no member holds the state; starting from step 0\n");
    c->step = 0;
    c->hash = 1469598103934665603ull;
  } else {
    uint64_t st[2] = {(uint64_t)c->step, c->hash};
    t0 = mono_now();
    r = weft_broadcast(c->comm, st, st, 2, WEFT_UINT64, agreed[0]);
    timed(c, t0);
    if (r != WEFT_SUCCESS) return r;
    c->step = (int64_t)st[0];
    c->hash = st[1];
  }
  c->has_state = true;
  c->stop = agreed[1] == 0;
  return WEFT_SUCCESS;
}

/* One step: the allreduce of this step's shape, checked exactly; applied only when exact. */
static weft_result_t do_step(chaos_t *c, void *send, void *recv, void *expect) {
  const shape_t *sh = &SHAPES[c->step % 4];
  size_t esz = weft_dtype_size(sh->dtype);
  void *in = sh->in_place ? recv : send;
  fill(c, sh, in);
  for (size_t i = 0; i < sh->count; i++) {
    double sum = 0;
    for (int m = 0; m < c->nmembers; m++) sum += contribution(c->members[2 * m], c->step, i);
    if (sh->dtype == WEFT_FLOAT32) ((float *)expect)[i] = (float)sum;
    else ((double *)expect)[i] = sum;
  }
  double t0 = mono_now();
  weft_result_t r = weft_allreduce(c->comm, in, recv, sh->count, sh->dtype, WEFT_SUM);
  timed(c, t0);
  if (!sh->in_place) {
    /* Input buffers are never written, whatever the outcome. */
    for (size_t i = 0; i < sh->count; i++) {
      if (element(sh, send, i) == contribution(c->id, c->step, i)) continue;
      printf("chaos_rank: WRONG step %" PRId64 " epoch %" PRIu64 ": allreduce (%s) wrote its send "
             "buffer at element %zu\n", c->step, weft_comm_epoch(c->comm), weft_strerror(r), i);
      c->wrong++;
      break;
    }
  }
  if (r != WEFT_SUCCESS) {
    call_failed(c, "allreduce", r);
    return r;
  }
  if (memcmp(recv, expect, sh->count * esz) != 0) {
    size_t i = 0;
    while (i < sh->count && element(sh, recv, i) == element(sh, expect, i)) i++;
    printf("chaos_rank: WRONG step %" PRId64 " epoch %" PRIu64 ": allreduce %s x %zu element %zu: "
           "got %.1f expected %.1f (%d members)\n", c->step, weft_comm_epoch(c->comm),
           weft_dtype_name(sh->dtype), sh->count, i, element(sh, recv, i), element(sh, expect, i),
           c->nmembers);
    fflush(stdout);
    c->wrong++;
    return WEFT_ERR_INTERNAL; /* not applied; recover (finds nothing) and redo */
  }
  if (c->step % VOTE_EVERY == VOTE_EVERY - 1) {
    int32_t want = access(c->stop_file, F_OK) == 0, any;
    t0 = mono_now();
    r = weft_allreduce(c->comm, &want, &any, 1, WEFT_INT32, WEFT_MAX);
    timed(c, t0);
    if (r != WEFT_SUCCESS) {
      call_failed(c, "stop vote", r);
      return r;
    }
    if (any) c->stop = true;
  }
  c->hash = fnv(c->hash, &c->step, sizeof c->step);
  c->hash = fnv(c->hash, recv, sh->count * esz);
  c->step++;
  return WEFT_SUCCESS;
}

static int finish(chaos_t *c, weft_result_t *r) {
  int n = weft_comm_size(c->comm);
  uint64_t all[MAX_IDS];
  double t0 = mono_now();
  *r = weft_allgather(c->comm, &c->hash, all, 1, WEFT_UINT64);
  timed(c, t0);
  if (*r != WEFT_SUCCESS) {
    call_failed(c, "checksum allgather", *r);
    return -1;
  }
  int differ = 0;
  for (int i = 0; i < n; i++) differ += all[i] != c->hash;
  if (differ) {
    printf("chaos_rank: WRONG: %d of %d members hold a different model\n", differ, n);
    return EXIT_WRONG;
  }
  printf("chaos_rank: done, steps %" PRId64 ", epochs %" PRIu64 ", final size %d, checksum %016"
         PRIx64 ", wrong %" PRIu64 ", slowest call %.3f s\n", c->step, weft_comm_epoch(c->comm), n,
         c->hash, c->wrong, c->slowest);
  return c->wrong ? EXIT_WRONG : EXIT_DONE;
}

static int run(chaos_t *c, double installed, int sleep_per_step, int64_t max_steps) {
  static float send[MAX_COUNT * 2], recv[MAX_COUNT * 2], expect[MAX_COUNT * 2]; /* fit f64 too */
  bool need_sync = true, skip_recover = !c->has_state;
  for (;;) {
    if (!skip_recover) {
      weft_recover_info_t info;
      double t0 = mono_now();
      weft_result_t r = weft_comm_recover(c->comm, &info);
      timed(c, t0);
      if (r != WEFT_SUCCESS) {
        const char *detail = weft_comm_last_error(c->comm);
        printf("chaos_rank: step %" PRId64 ": weft_comm_recover failed: %s: %s (t=%.6f)\n", c->step,
               weft_strerror(r), detail, unix_now());
        return r == WEFT_ERR_EVICTED ? EXIT_EVICTED : EXIT_OTHER;
      }
      if (info.new_epoch != info.old_epoch) {
        char left[512], joined[512];
        installed = unix_now();
        print_list(left, sizeof left, info.left_old_ranks, info.num_left);
        print_list(joined, sizeof joined, info.joined_new_ranks, info.num_joined);
        printf("chaos_rank: epoch %" PRIu64 ": size %d, left %s, joined %s (recover %.6f s, "
               "t=%.6f)\n", info.new_epoch, info.new_size, left, joined, mono_now() - t0, installed);
        fflush(stdout);
        need_sync = true;
      }
    }
    skip_recover = false;
    if (need_sync) {
      weft_result_t r = sync_state(c, installed);
      if (r != WEFT_SUCCESS) {
        call_failed(c, "sync", r);
        continue;
      }
      need_sync = false;
    }
    double now = mono_now();
    if (now - c->last_progress >= 1.0) {
      c->last_progress = now;
      printf("chaos_rank: progress step %" PRId64 " epoch %" PRIu64 " size %d (t=%.6f)\n", c->step,
             weft_comm_epoch(c->comm), weft_comm_size(c->comm), unix_now());
      fflush(stdout);
    }
    if (c->stop || c->step >= max_steps) {
      weft_result_t r;
      int rc = finish(c, &r);
      if (rc >= 0) return rc;
      continue;
    }
    sleep_ms(sleep_per_step); /* the "compute" */
    if (do_step(c, send, recv, expect) != WEFT_SUCCESS) continue; /* not applied: redone */
  }
}

int main(int argc, char **argv) {
  int sleep_per_step = argc > 2 ? atoi(argv[2]) : 5;
  int64_t max_steps = argc > 3 ? atoll(argv[3]) : 1000000;
  const char *lr = getenv("WEFT_RANK"), *inc = getenv("WEFT_RESTART_COUNT");
  static chaos_t c;
  c.id = lr ? atoi(lr) : 0;
  c.incarnation = inc ? atoi(inc) : 0;
  if (argc < 2 || sleep_per_step < 0 || max_steps < 0 || c.id < 0 || c.id >= MAX_IDS) {
    fprintf(stderr, "usage: chaos_rank STOP_FILE [SLEEP_MS [MAX_STEPS]] (WEFT_RANK < %d)\n", MAX_IDS);
    return EXIT_OTHER;
  }
  c.stop_file = argv[1];
  const char *delay = getenv("CHAOS_RESTART_DELAY_MS");
  if (c.incarnation > 0 && delay && (c.id + c.incarnation) % 2 == 0) sleep_ms(atoi(delay));
  printf("chaos_rank: init rank %d incarnation %d pid %ld (t=%.6f)\n", c.id, c.incarnation,
         (long)getpid(), unix_now());
  fflush(stdout);
  double t0 = mono_now();
  weft_result_t r = weft_comm_init_env(&c.comm);
  if (r != WEFT_SUCCESS) {
    printf("chaos_rank: init failed: %s: %s (t=%.6f)\n", weft_strerror(r),
           weft_comm_last_error(NULL), unix_now());
    return EXIT_OTHER;
  }
  double installed = unix_now();
  c.has_state = !weft_comm_joined_late(c.comm);
  c.hash = 1469598103934665603ull;
  printf("chaos_rank: %s epoch %" PRIu64 " as rank %d of %d (incarnation %d, pid %ld, init %.6f s, "
         "t=%.6f)\n", c.has_state ? "started in" : "joined late into", weft_comm_epoch(c.comm),
         weft_comm_rank(c.comm), weft_comm_size(c.comm), c.incarnation, (long)getpid(),
         mono_now() - t0, installed);
  fflush(stdout);
  int rc = run(&c, installed, sleep_per_step, max_steps);
  fflush(stdout);
  weft_comm_destroy(c.comm);
  return rc;
}
