/* Misuse of the public API (include/weft.h): every public function given bad arguments must
 * return the documented code, and where a communicator exists its detail
 * (weft_comm_last_error) must name the bad argument. Replaces tests/fault/api_misuse.c.
 *
 *   group "offline": no job. Init with a bad environment or config, the pure helpers
 *                    (strerror, dtype/op names, config, logging) with out-of-range values.
 *   group "live":    a real 2-rank job inside this process: weft-coordinator (argv[1]) on an
 *                    ephemeral loopback port, rank 0 driven by the test's thread and rank 1 by a
 *                    helper thread. NULL buffers, bad dtype/op, root/peer out of range,
 *                    count x dtype size overflowing, partially overlapping buffers, NULL
 *                    handles and requests, valid calls afterwards (in place included), two
 *                    threads issuing on one communicator, calls after the peer left, and (in
 *                    a second job whose rank 1 is a child process, SIGKILLed) calls on a
 *                    revoked communicator.
 *
 * Not checkable, so not tested: a destroyed communicator or a request already completed (both
 * freed: any use is a use after free), a buffer shorter than count claims.
 *
 * Every wait is bounded: calls by the communicator's timeout, threads by
 * timed joins, the coordinator's start by a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "weft.h"
#include "../common/rank_util.h"

#define TOKEN "test-api-misuse"
#define CALL_TIMEOUT_S 20.0                /* the communicators' WEFT_TIMEOUT */
#define JOIN_TIMEOUT_S (CALL_TIMEOUT_S + 15) /* a helper thread's calls are bounded by that */
#define N 64                               /* elements per rank in the valid calls */

static const char *coordinator_bin;
static const char *self_bin; /* argv[0]: the revoke test runs its rank 1 as this program */
static pid_t coordinator_pid = -1;
static char tmpdir[64];
static char coordinator_addr[64];
static weft_comm_t *comm0, *comm1; /* ranks 0 and 1 of the job */
/* The revoke test's own job (its rank 1 is a child process); the group teardown ends it too, so
 * that a failed check there leaves nothing running. */
static pid_t revoke_coordinator_pid = -1;
static weft_comm_t *revoke_comm;

/* ---- checking a call ------------------------------------------------------------------------ */


static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Leaves a detail on comm (or in the init detail for NULL) that no check below looks for, so a
 * call that sets no detail of its own cannot pass on a stale one. */
#define RESET_TEXT "dtype 12345"
#define RESET_INIT_TEXT "size is 12345"
static void reset_detail(weft_comm_t *comm) {
  if (comm) {
    weft_result_t r = weft_allreduce(comm, NULL, NULL, 1, (weft_dtype_t)12345, WEFT_SUM);
    if (r != WEFT_ERR_INVALID_ARGUMENT) fail_msg("resetting the detail returned %s", code_name(r));
  } else {
    weft_config_t cfg;
    weft_config_init(&cfg);
    cfg.size = 12345;
    weft_comm_t *out;
    weft_result_t r = weft_comm_init(&out, &cfg);
    if (r != WEFT_ERR_INVALID_ARGUMENT) fail_msg("resetting the init detail returned %s", code_name(r));
  }
}

/* The call returned `want`, and the detail it left is new and contains `needle` (NULL: the code
 * alone is checked). */
static void check_call(const char *what, weft_result_t got, weft_result_t want, const weft_comm_t *comm,
                       const char *needle, const char *file, int line) {
  const char *detail = weft_comm_last_error(comm);
  if (detail == NULL) {
    print_error("%s:%d: %s\n  weft_comm_last_error returned NULL\n", file, line, what);
    _fail(file, line);
  }
  if (got != want) {
    print_error("%s:%d: %s\n  returned %s, expected %s; detail: %s\n", file, line, what, code_name(got),
                code_name(want), detail);
    _fail(file, line);
  }
  if (needle == NULL) return;
  bool fresh = strstr(detail, RESET_TEXT) == NULL && strstr(detail, RESET_INIT_TEXT) == NULL;
  if (fresh && strstr(detail, needle)) return;
  print_error("%s:%d: %s\n  returned %s as expected, but the detail does not name \"%s\"%s: %s\n", file, line, what,
              code_name(got), needle, fresh ? "" : " (the call left no detail of its own)", detail);
  _fail(file, line);
}

/* CHECK(comm, code, needle, call): reset comm's detail, make the call, check code and detail. */
#define CHECK(comm, want, needle, call)                                                    \
  do {                                                                                     \
    reset_detail(comm);                                                                    \
    weft_result_t got_ = (call);                                                           \
    check_call(#call, got_, want, comm, needle, __FILE__, __LINE__);                \
  } while (0)
#define CHECK_ARG(comm, needle, call) CHECK(comm, WEFT_ERR_INVALID_ARGUMENT, needle, call)


/* ---- the job: coordinator process, two communicators, helper threads ------------------------- */

/* Launcher variables a CI machine might carry: none of them may steer this test's init. */
static void clear_launcher_env(void) {
  static const char *const vars[] = {
      "WEFT_RANK", "WEFT_WORLD_SIZE", "WEFT_LOCAL_RANK", "WEFT_COORDINATOR", "RANK", "WORLD_SIZE",
      "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODELIST",
      "SLURM_STEP_NODELIST", "SLURM_JOB_ID", "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK",
      "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
      "WEFT_TIMEOUT", "WEFT_INIT_TIMEOUT", "WEFT_JOB_TOKEN", "WEFT_MIN_SIZE", "WEFT_LOG_LEVEL"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

typedef struct {
  pthread_t thread;
  int (*fn)(weft_comm_t *comm, void *arg);
  weft_comm_t *comm;
  void *arg;
  int result;
} helper_t;

static void *helper_main(void *p) {
  helper_t *h = p;
  h->result = h->fn(h->comm, h->arg);
  return NULL;
}

static void helper_start(helper_t *h, int (*fn)(weft_comm_t *, void *), weft_comm_t *comm, void *arg) {
  h->fn = fn, h->comm = comm, h->arg = arg, h->result = -1;
  if (pthread_create(&h->thread, NULL, helper_main, h) != 0) fail_msg("pthread_create failed");
}

/* The helper's result; fails the test if it did not finish in time (it keeps running: the
 * process then aborts, since the communicators are no longer in a known state). */
static int helper_join(helper_t *h, double timeout_s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)timeout_s;
  int e = pthread_timedjoin_np(h->thread, NULL, &ts);
  if (e != 0) {
    print_error("a helper thread did not finish within %.0f s (%s): the library hung\n", timeout_s, strerror(e));
    abort();
  }
  return h->result;
}

static weft_result_t init_rank_of(int rank, const char *coordinator, weft_comm_t **out) {
  weft_config_t cfg;
  weft_config_init(&cfg);
  cfg.rank = rank;
  cfg.world_size = 2;
  cfg.coordinator = coordinator;
  cfg.job_token = TOKEN;
  cfg.timeout_s = CALL_TIMEOUT_S;
  weft_result_t r = weft_comm_init(out, &cfg);
  if (r != WEFT_SUCCESS) print_error("init of rank %d: %s: %s\n", rank, code_name(r), weft_comm_last_error(NULL));
  return r;
}

static int init_rank1(weft_comm_t *unused, void *arg) {
  (void)unused;
  return init_rank_of(1, arg, &comm1);
}

/* SIGTERM, then SIGKILL if it has not exited within 5 s; reaps it. */
static void stop_process(pid_t *pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  int status;
  for (int i = 0; i < 100 && waitpid(*pid, &status, WNOHANG) == 0; i++) sleep_ms(50);
  if (waitpid(*pid, &status, WNOHANG) == 0) {
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
  }
  *pid = -1;
}

/* Starts weft-coordinator for a 2-rank job on an ephemeral loopback port (it writes the port to
 * port_file); fills addr with "127.0.0.1:PORT". Returns its pid, or -1. */
static pid_t start_coordinator(const char *port_file, char *addr, size_t addrlen) {
  unlink(port_file);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setenv("WEFT_JOB_TOKEN", TOKEN, 1);
    execl(coordinator_bin, coordinator_bin, "--host", "127.0.0.1", "--port", "0", "--port-file", port_file,
          "--world-size", "2", (char *)NULL);
    _exit(127);
  }
  int port = 0;
  for (double until = mono_now() + 10.0; port <= 0 && mono_now() < until;) {
    FILE *f = fopen(port_file, "r");
    if (f) {
      if (fscanf(f, "%d", &port) != 1) port = 0;
      fclose(f);
    }
    if (port <= 0) sleep_ms(20);
  }
  if (port <= 0) {
    print_error("weft-coordinator (%s) wrote no port within 10 s\n", coordinator_bin);
    stop_process(&pid);
    return -1;
  }
  snprintf(addr, addrlen, "127.0.0.1:%d", port);
  return pid;
}

/* The live group's job: its coordinator, rank 1 in a helper thread and rank 0 here (init
 * returns once both joined the first epoch). */
static int job_setup(void **state) {
  (void)state;
  clear_launcher_env();
  setenv("WEFT_INIT_TIMEOUT", "15", 1);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-api-misuse.XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  char port_file[128];
  snprintf(port_file, sizeof port_file, "%s/port", tmpdir);
  coordinator_pid = start_coordinator(port_file, coordinator_addr, sizeof coordinator_addr);
  if (coordinator_pid < 0) return -1;
  helper_t h;
  helper_start(&h, init_rank1, NULL, coordinator_addr);
  int r0 = init_rank_of(0, coordinator_addr, &comm0);
  int r1 = helper_join(&h, JOIN_TIMEOUT_S);
  if (r0 != WEFT_SUCCESS || r1 != WEFT_SUCCESS) {
    weft_comm_destroy(comm0), weft_comm_destroy(comm1);
    comm0 = comm1 = NULL;
    stop_process(&coordinator_pid);
    return -1;
  }
  return 0;
}

static int job_teardown(void **state) {
  (void)state;
  weft_comm_destroy(comm0);
  weft_comm_destroy(comm1);
  weft_comm_destroy(revoke_comm);
  comm0 = comm1 = revoke_comm = NULL;
  stop_process(&coordinator_pid);
  stop_process(&revoke_coordinator_pid);
  static const char *const files[] = {"port", "port2"};
  for (size_t i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    unlink(path);
  }
  rmdir(tmpdir);
  return 0;
}

/* ---- offline: init, and the functions that need no communicator ----------------------------- */

static void test_init_bad_environment(void **state) {
  (void)state;
  clear_launcher_env();
  /* Nothing listens here: a check that wrongly got past validation fails fast, not waits. */
  setenv("WEFT_COORDINATOR", "127.0.0.1:9", 1);
  setenv("WEFT_JOB_TOKEN", "api-misuse", 1);
  setenv("WEFT_INIT_TIMEOUT", "2", 1);
  weft_comm_t *out;
  static int sentinel;

  setenv("WEFT_RANK", "4", 1), setenv("WEFT_WORLD_SIZE", "4", 1);
  out = (weft_comm_t *)&sentinel;
  CHECK_ARG(NULL, "WEFT_RANK", weft_comm_init_env(&out));
  assert_null(out); /* a failed init leaves *comm NULL */
  setenv("WEFT_RANK", "-1", 1);
  CHECK_ARG(NULL, "WEFT_RANK", weft_comm_init_env(&out));
  unsetenv("WEFT_WORLD_SIZE"), setenv("WEFT_RANK", "0", 1);
  CHECK_ARG(NULL, "WEFT_WORLD_SIZE", weft_comm_init_env(&out));
  setenv("WEFT_WORLD_SIZE", "two", 1);
  CHECK_ARG(NULL, "WEFT_WORLD_SIZE", weft_comm_init_env(&out));
  setenv("WEFT_WORLD_SIZE", "2", 1);
  setenv("WEFT_TIMEOUT", "soon", 1);
  CHECK_ARG(NULL, "WEFT_TIMEOUT", weft_comm_init_env(&out));
  setenv("WEFT_TIMEOUT", "0", 1);
  CHECK_ARG(NULL, "WEFT_TIMEOUT", weft_comm_init_env(&out));
  setenv("WEFT_TIMEOUT", "-5", 1);
  CHECK_ARG(NULL, "WEFT_TIMEOUT", weft_comm_init_env(&out));
  unsetenv("WEFT_TIMEOUT");
  setenv("WEFT_COORDINATOR", "no-port-here", 1);
  CHECK_ARG(NULL, "WEFT_COORDINATOR", weft_comm_init_env(&out));
  setenv("WEFT_COORDINATOR", "127.0.0.1:9", 1);
  CHECK_ARG(NULL, "NULL", weft_comm_init_env(NULL));
  clear_launcher_env();
}

static void test_init_bad_config(void **state) {
  (void)state;
  clear_launcher_env();
  setenv("WEFT_INIT_TIMEOUT", "2", 1);
  weft_comm_t *out = NULL;
  weft_config_t cfg;
  CHECK_ARG(NULL, "NULL", weft_comm_init(NULL, NULL));
  weft_config_init(&cfg);
  CHECK_ARG(NULL, "NULL", weft_comm_init(NULL, &cfg));
  weft_config_init(&cfg);
  cfg.rank = 2, cfg.world_size = 2, cfg.coordinator = "127.0.0.1:9", cfg.job_token = "t";
  CHECK_ARG(NULL, "rank", weft_comm_init(&out, &cfg));
  weft_config_init(&cfg);
  cfg.size = 3;
  CHECK_ARG(NULL, "size", weft_comm_init(&out, &cfg));
  weft_config_init(&cfg);
  cfg.size = sizeof cfg + 8; /* a newer, larger struct */
  CHECK_ARG(NULL, "size", weft_comm_init(&out, &cfg));
  weft_config_init(&cfg);
  cfg.rank = 0, cfg.world_size = 2, cfg.coordinator = "nonsense", cfg.job_token = "t";
  CHECK_ARG(NULL, "coordinator", weft_comm_init(&out, &cfg));
  cfg.coordinator = "127.0.0.1:70000";
  CHECK_ARG(NULL, "coordinator", weft_comm_init(&out, &cfg));
  weft_config_init(&cfg);
  cfg.rank = 0, cfg.coordinator = "127.0.0.1:9", cfg.job_token = "t"; /* no world size anywhere */
  CHECK_ARG(NULL, "world size", weft_comm_init(&out, &cfg));
  weft_config_init(&cfg);
  cfg.rank = 0, cfg.world_size = 2, cfg.coordinator = "127.0.0.1:9", cfg.job_token = "";
  CHECK(NULL, WEFT_ERR_UNAUTHORIZED, "WEFT_JOB_TOKEN", weft_comm_init(&out, &cfg));
  assert_null(out);
}

/* Out-of-range values for the helpers: documented fallbacks, never NULL, never a crash. */
static void test_helpers_out_of_range(void **state) {
  (void)state;
  for (int r = 0; r < WEFT_NUM_RESULTS; r++) {
    assert_non_null(weft_strerror((weft_result_t)r));
    assert_string_not_equal(weft_strerror((weft_result_t)r), "unknown weft result");
  }
  assert_string_equal(weft_strerror(WEFT_NUM_RESULTS), "unknown weft result");
  /* Codes are appended, never renumbered: programs and bindings hold these numbers. */
  assert_int_equal(WEFT_ERR_JOB_FINISHED, 15);
  assert_int_equal(WEFT_ERR_EVICTED, 16);
  assert_non_null(strstr(weft_strerror(WEFT_ERR_EVICTED), "removed from the job: exit"));
  assert_string_equal(weft_strerror((weft_result_t)-1), "unknown weft result");
  assert_string_equal(weft_strerror((weft_result_t)INT_MAX), "unknown weft result");
  assert_string_equal(weft_dtype_name(WEFT_NUM_DTYPES), "invalid-dtype");
  assert_string_equal(weft_dtype_name((weft_dtype_t)-1), "invalid-dtype");
  assert_string_equal(weft_redop_name(WEFT_NUM_REDOPS), "invalid-op");
  assert_string_equal(weft_redop_name((weft_redop_t)-1), "invalid-op");
  assert_int_equal(weft_dtype_size(WEFT_NUM_DTYPES), 0);
  assert_int_equal(weft_dtype_size((weft_dtype_t)-1), 0);
  assert_int_equal(weft_dtype_size((weft_dtype_t)99), 0);
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH);
  assert_non_null(strstr(weft_version_string(), version));
  /* The library linked here was built from this header: every form of the version agrees. */
  assert_string_equal(weft_version_string(), "weft " WEFT_VERSION_STRING);
  assert_string_equal(WEFT_VERSION_STRING, version);
  assert_int_equal(weft_get_version(), WEFT_VERSION_NUMBER);
  assert_int_equal(WEFT_VERSION_NUMBER, WEFT_VERSION_MAJOR * 10000 + WEFT_VERSION_MINOR * 100 + WEFT_VERSION_PATCH);
  assert_true(WEFT_CHECK_VERSION());
  weft_config_init(NULL); /* documented as a no-op on NULL in the implementation; must not crash */
  /* NULL stream: the table goes to stderr (silenced here). */
  fflush(stderr);
  int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
  assert_true(saved >= 0 && devnull >= 0);
  dup2(devnull, 2);
  weft_config_print(NULL);
  fflush(stderr);
  dup2(saved, 2);
  close(saved), close(devnull);
  weft_set_log_callback(NULL, NULL, (weft_log_level_t)99); /* NULL callback: back to stderr */
  weft_set_log_callback(NULL, NULL, WEFT_LOG_ERROR);
}

/* ---- live: bad arguments on a real communicator --------------------------------------------- */

static float a[4 * N], b[4 * N];

static void test_null_buffers(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  CHECK_ARG(c, "sendbuf", weft_allreduce(c, NULL, b, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "recvbuf", weft_allreduce(c, a, NULL, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "sendbuf", weft_allgather(c, NULL, b, 8, WEFT_FLOAT32));
  CHECK_ARG(c, "recvbuf", weft_allgather(c, a, NULL, 8, WEFT_FLOAT32));
  CHECK_ARG(c, "sendbuf", weft_reduce_scatter(c, NULL, b, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "recvbuf", weft_reduce_scatter(c, a, NULL, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "sendbuf", weft_broadcast(c, NULL, b, 8, WEFT_FLOAT32, 0)); /* rank 0 is the root */
  CHECK_ARG(c, "recvbuf", weft_broadcast(c, a, NULL, 8, WEFT_FLOAT32, 0));
  CHECK_ARG(c, "recvbuf", weft_broadcast(c, a, NULL, 8, WEFT_FLOAT32, 1)); /* non-root receives */
  CHECK_ARG(c, "sendbuf", weft_reduce(c, NULL, b, 8, WEFT_FLOAT32, WEFT_SUM, 0));
  CHECK_ARG(c, "sendbuf", weft_reduce(c, NULL, b, 8, WEFT_FLOAT32, WEFT_SUM, 1)); /* every rank sends */
  CHECK_ARG(c, "recvbuf", weft_reduce(c, a, NULL, 8, WEFT_FLOAT32, WEFT_SUM, 0));
  CHECK_ARG(c, "buf", weft_send(c, NULL, 8, WEFT_FLOAT32, 1));
  CHECK_ARG(c, "buf", weft_recv(c, NULL, 8, WEFT_FLOAT32, 1));
  CHECK_ARG(c, "sendbuf", weft_iallreduce(c, NULL, b, 8, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "recvbuf", weft_iallgather(c, a, NULL, 8, WEFT_FLOAT32, &req));
  CHECK_ARG(c, "sendbuf", weft_ireduce_scatter(c, NULL, b, 8, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "sendbuf", weft_ibroadcast(c, NULL, b, 8, WEFT_FLOAT32, 0, &req));
  CHECK_ARG(c, "recvbuf", weft_ireduce(c, a, NULL, 8, WEFT_FLOAT32, WEFT_SUM, 0, &req));
  CHECK_ARG(c, "buf", weft_isend(c, NULL, 8, WEFT_FLOAT32, 1, &req));
  CHECK_ARG(c, "buf", weft_irecv(c, NULL, 8, WEFT_FLOAT32, 1, &req));
  assert_null(req); /* no failed call handed out a request */
}

static void test_bad_dtype(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  const weft_dtype_t bad[] = {(weft_dtype_t)99, WEFT_NUM_DTYPES, (weft_dtype_t)-1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    weft_dtype_t d = bad[i];
    char needle[32];
    snprintf(needle, sizeof needle, "dtype %d", (int)d);
    CHECK_ARG(c, needle, weft_allreduce(c, a, b, 8, d, WEFT_SUM));
    CHECK_ARG(c, needle, weft_allgather(c, a, b, 8, d));
    CHECK_ARG(c, needle, weft_reduce_scatter(c, a, b, 8, d, WEFT_SUM));
    CHECK_ARG(c, needle, weft_broadcast(c, a, b, 8, d, 0));
    CHECK_ARG(c, needle, weft_reduce(c, a, b, 8, d, WEFT_SUM, 0));
    CHECK_ARG(c, needle, weft_send(c, a, 8, d, 1));
    CHECK_ARG(c, needle, weft_recv(c, b, 8, d, 1));
    CHECK_ARG(c, needle, weft_iallreduce(c, a, b, 8, d, WEFT_SUM, &req));
    CHECK_ARG(c, needle, weft_iallgather(c, a, b, 8, d, &req));
    CHECK_ARG(c, needle, weft_ireduce_scatter(c, a, b, 8, d, WEFT_SUM, &req));
    CHECK_ARG(c, needle, weft_ibroadcast(c, a, b, 8, d, 0, &req));
    CHECK_ARG(c, needle, weft_ireduce(c, a, b, 8, d, WEFT_SUM, 0, &req));
    CHECK_ARG(c, needle, weft_isend(c, a, 8, d, 1, &req));
    CHECK_ARG(c, needle, weft_irecv(c, b, 8, d, 1, &req));
    /* A bad dtype is refused even with count 0 (nothing would be read). */
    CHECK_ARG(c, needle, weft_allreduce(c, NULL, NULL, 0, d, WEFT_SUM));
  }
  assert_null(req);
}

static void test_bad_op(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  const weft_redop_t bad[] = {(weft_redop_t)99, WEFT_NUM_REDOPS, (weft_redop_t)-1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    weft_redop_t op = bad[i];
    char needle[32];
    snprintf(needle, sizeof needle, "op %d", (int)op);
    CHECK_ARG(c, needle, weft_allreduce(c, a, b, 8, WEFT_FLOAT32, op));
    CHECK_ARG(c, needle, weft_reduce_scatter(c, a, b, 8, WEFT_FLOAT32, op));
    CHECK_ARG(c, needle, weft_reduce(c, a, b, 8, WEFT_FLOAT32, op, 0));
    CHECK_ARG(c, needle, weft_iallreduce(c, a, b, 8, WEFT_FLOAT32, op, &req));
    CHECK_ARG(c, needle, weft_ireduce_scatter(c, a, b, 8, WEFT_FLOAT32, op, &req));
    CHECK_ARG(c, needle, weft_ireduce(c, a, b, 8, WEFT_FLOAT32, op, 1, &req));
  }
  assert_null(req);
}

static void test_root_and_peer_out_of_range(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  /* -1 is WEFT_ANY_SOURCE, which only a receive accepts: -2 stands for "negative" there. */
  const int bad[] = {2, -1, INT_MAX, INT_MIN, -2};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char root[32], peer[32];
    snprintf(root, sizeof root, "root %d", bad[i]);
    snprintf(peer, sizeof peer, "peer %d", bad[i]);
    CHECK_ARG(c, root, weft_broadcast(c, a, b, 8, WEFT_FLOAT32, bad[i]));
    CHECK_ARG(c, root, weft_reduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, bad[i]));
    CHECK_ARG(c, root, weft_ibroadcast(c, a, b, 8, WEFT_FLOAT32, bad[i], &req));
    CHECK_ARG(c, root, weft_ireduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, bad[i], &req));
    CHECK_ARG(c, peer, weft_send(c, a, 8, WEFT_FLOAT32, bad[i]));
    CHECK_ARG(c, peer, weft_isend(c, a, 8, WEFT_FLOAT32, bad[i], &req));
    CHECK_ARG(c, peer, weft_send_tagged(c, a, 8, WEFT_FLOAT32, bad[i], 3));
    CHECK_ARG(c, peer, weft_isend_tagged(c, a, 8, WEFT_FLOAT32, bad[i], 3, &req));
    if (bad[i] == WEFT_ANY_SOURCE) continue;
    CHECK_ARG(c, peer, weft_recv(c, b, 8, WEFT_FLOAT32, bad[i]));
    CHECK_ARG(c, peer, weft_irecv(c, b, 8, WEFT_FLOAT32, bad[i], &req));
    CHECK_ARG(c, "WEFT_ANY_SOURCE", weft_recv_tagged(c, b, 8, WEFT_FLOAT32, bad[i], 3, NULL));
    CHECK_ARG(c, peer, weft_irecv_tagged(c, b, 8, WEFT_FLOAT32, bad[i], 3, NULL, &req));
  }
  /* Tags are >= 0. */
  CHECK_ARG(c, "tag -1", weft_send_tagged(c, a, 8, WEFT_FLOAT32, 1, -1));
  CHECK_ARG(c, "tag -7", weft_irecv_tagged(c, b, 8, WEFT_FLOAT32, WEFT_ANY_SOURCE, -7, NULL, &req));
  /* A rank cannot send to or receive from itself. */
  CHECK_ARG(c, "peer 0", weft_send(c, a, 8, WEFT_FLOAT32, 0));
  CHECK_ARG(c, "peer 0", weft_recv(c, b, 8, WEFT_FLOAT32, 0));
  CHECK_ARG(c, "peer 0", weft_isend(c, a, 8, WEFT_FLOAT32, 0, &req));
  CHECK_ARG(c, "peer 0", weft_irecv(c, b, 8, WEFT_FLOAT32, 0, &req));
  assert_null(req);
}

/* count x dtype size (x ranks, where the buffer holds every rank's part) beyond any object. */
static void test_count_overflow(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  CHECK_ARG(c, "count", weft_allreduce(c, a, b, SIZE_MAX, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "count", weft_allreduce(c, a, b, SIZE_MAX / 4 + 1, WEFT_FLOAT32, WEFT_SUM)); /* bytes wrap */
  CHECK_ARG(c, "count", weft_allreduce(c, a, b, SIZE_MAX, WEFT_UINT8, WEFT_SUM));
  CHECK_ARG(c, "count", weft_allreduce(c, a, b, SIZE_MAX / 8 + 1, WEFT_FLOAT64, WEFT_MAX));
  /* Fits one rank's part, but not the size (2) parts of the gathered / scattered buffer. */
  CHECK_ARG(c, "count", weft_allgather(c, a, b, (size_t)PTRDIFF_MAX / 2 + 1, WEFT_UINT8));
  CHECK_ARG(c, "count", weft_allgather(c, a, b, SIZE_MAX / 2, WEFT_FLOAT32));
  CHECK_ARG(c, "count", weft_reduce_scatter(c, a, b, (size_t)PTRDIFF_MAX / 2 + 1, WEFT_INT8, WEFT_SUM));
  CHECK_ARG(c, "count", weft_broadcast(c, a, b, SIZE_MAX / 2 + 1, WEFT_INT64, 0));
  CHECK_ARG(c, "count", weft_reduce(c, a, b, SIZE_MAX / 2 + 1, WEFT_INT32, WEFT_SUM, 0));
  CHECK_ARG(c, "count", weft_send(c, a, SIZE_MAX, WEFT_FLOAT16, 1));
  CHECK_ARG(c, "count", weft_recv(c, b, SIZE_MAX, WEFT_BFLOAT16, 1));
  CHECK_ARG(c, "count", weft_iallreduce(c, a, b, SIZE_MAX, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "count", weft_iallgather(c, a, b, SIZE_MAX / 2, WEFT_FLOAT32, &req));
  CHECK_ARG(c, "count", weft_ireduce_scatter(c, a, b, SIZE_MAX / 2, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "count", weft_ibroadcast(c, a, b, SIZE_MAX, WEFT_UINT32, 0, &req));
  CHECK_ARG(c, "count", weft_ireduce(c, a, b, SIZE_MAX, WEFT_UINT64, WEFT_SUM, 0, &req));
  CHECK_ARG(c, "count", weft_isend(c, a, SIZE_MAX, WEFT_INT8, 1, &req));
  CHECK_ARG(c, "count", weft_irecv(c, b, SIZE_MAX, WEFT_INT8, 1, &req));
  assert_null(req);
}

/* Send and receive buffers that overlap without being exactly in place (rank 0 of 2, 8 floats:
 * in place for allgather is sendbuf == recvbuf + 0, for reduce_scatter recvbuf == sendbuf + 0). */
static void test_partial_overlap(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  CHECK_ARG(c, "overlap", weft_allreduce(c, a, a + 1, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "overlap", weft_allreduce(c, a + 7, a, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "overlap", weft_allgather(c, a + 8, a, 8, WEFT_FLOAT32));  /* rank 1's slot, not 0's */
  CHECK_ARG(c, "overlap", weft_allgather(c, a + 15, a, 8, WEFT_FLOAT32));
  CHECK_ARG(c, "overlap", weft_allgather(c, a, a + 4, 8, WEFT_FLOAT32));  /* sendbuf before recvbuf */
  CHECK_ARG(c, "overlap", weft_reduce_scatter(c, a, a + 8, 8, WEFT_FLOAT32, WEFT_SUM)); /* rank 1's */
  CHECK_ARG(c, "overlap", weft_reduce_scatter(c, a, a + 3, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "overlap", weft_reduce_scatter(c, a + 4, a, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "overlap", weft_broadcast(c, a, a + 2, 8, WEFT_FLOAT32, 0)); /* at the root */
  CHECK_ARG(c, "overlap", weft_reduce(c, a + 2, a, 8, WEFT_FLOAT32, WEFT_SUM, 0));
  CHECK_ARG(c, "overlap", weft_iallreduce(c, a, a + 1, 8, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "overlap", weft_iallgather(c, a + 8, a, 8, WEFT_FLOAT32, &req));
  CHECK_ARG(c, "overlap", weft_ireduce_scatter(c, a, a + 8, 8, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "overlap", weft_ibroadcast(c, a, a + 2, 8, WEFT_FLOAT32, 0, &req));
  CHECK_ARG(c, "overlap", weft_ireduce(c, a + 2, a, 8, WEFT_FLOAT32, WEFT_SUM, 0, &req));
  /* Overlap by a single byte counts. */
  CHECK_ARG(c, "overlap", weft_allreduce(c, (char *)a + 31, a, 8, WEFT_FLOAT32, WEFT_SUM));
  assert_null(req);
}

/* Every collective and point-to-point entry point, with valid arguments otherwise, on comm:
 * each must return `want` with a detail naming `needle`. */
static void check_every_operation(weft_comm_t *comm, weft_result_t want, const char *needle) {
  weft_request_t *req = NULL;
#define EVERY(call)                                                                        \
  do {                                                                                     \
    reset_detail(comm);                                                                    \
    weft_result_t got_ = (call);                                                           \
    check_call(#call, got_, want, comm, needle, __FILE__, __LINE__);            \
  } while (0)
  EVERY(weft_allreduce(comm, a, b, 8, WEFT_FLOAT32, WEFT_SUM));
  EVERY(weft_allgather(comm, a, b, 8, WEFT_FLOAT32));
  EVERY(weft_reduce_scatter(comm, a, b, 4, WEFT_FLOAT32, WEFT_SUM));
  EVERY(weft_broadcast(comm, a, b, 8, WEFT_FLOAT32, 0));
  EVERY(weft_reduce(comm, a, b, 8, WEFT_FLOAT32, WEFT_SUM, 0));
  EVERY(weft_barrier(comm));
  EVERY(weft_send(comm, a, 8, WEFT_FLOAT32, 1));
  EVERY(weft_recv(comm, b, 8, WEFT_FLOAT32, 1));
  EVERY(weft_iallreduce(comm, a, b, 8, WEFT_FLOAT32, WEFT_SUM, &req));
  EVERY(weft_iallgather(comm, a, b, 8, WEFT_FLOAT32, &req));
  EVERY(weft_ireduce_scatter(comm, a, b, 4, WEFT_FLOAT32, WEFT_SUM, &req));
  EVERY(weft_ibroadcast(comm, a, b, 8, WEFT_FLOAT32, 0, &req));
  EVERY(weft_ireduce(comm, a, b, 8, WEFT_FLOAT32, WEFT_SUM, 0, &req));
  EVERY(weft_ibarrier(comm, &req));
  EVERY(weft_isend(comm, a, 8, WEFT_FLOAT32, 1, &req));
  EVERY(weft_irecv(comm, b, 8, WEFT_FLOAT32, 1, &req));
#undef EVERY
  assert_null(req); /* no failed call handed out a request */
}

/* NULL communicators and requests: refused with WEFT_ERR_INVALID_ARGUMENT, the detail naming
 * the call and the argument. Without a communicator the detail is where
 * weft_comm_last_error(NULL) reads it (thread-local). */
/* alltoall(v), allgatherv, reduce_scatterv, gather, scatter (rank 0 of 2): NULL arrays and
 * buffers, displacements that overflow or make receive blocks overlap, counts that disagree
 * with this rank's own block, roots out of range, bad dtype and op. */
static void test_more_collectives(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_request_t *req = NULL;
  size_t cnt[2] = {4, 4}, dsp[2] = {0, 4}, overlap[2] = {0, 2}, big[2] = {0, SIZE_MAX - 2};
  size_t odd[2] = {3, 4};
  CHECK_ARG(c, "sendcounts", weft_alltoallv(c, a, NULL, dsp, b, cnt, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "sdispls", weft_alltoallv(c, a, cnt, NULL, b, cnt, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "recvcounts", weft_alltoallv(c, a, cnt, dsp, b, NULL, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "rdispls", weft_ialltoallv(c, a, cnt, dsp, b, cnt, NULL, WEFT_FLOAT32, &req));
  CHECK_ARG(c, "rdispls[1]", weft_alltoallv(c, a, cnt, dsp, b, cnt, big, WEFT_FLOAT32));
  CHECK_ARG(c, "sdispls[1]", weft_alltoallv(c, a, cnt, big, b, cnt, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "overlap", weft_alltoallv(c, a, cnt, dsp, b, cnt, overlap, WEFT_FLOAT32));
  CHECK_ARG(c, "recvcounts[0]", weft_alltoallv(c, a, cnt, dsp, b, odd, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "sendbuf", weft_alltoallv(c, NULL, cnt, dsp, b, cnt, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "overlap", weft_alltoallv(c, a, cnt, dsp, a + 1, cnt, dsp, WEFT_FLOAT32));

  CHECK_ARG(c, "recvcounts", weft_allgatherv(c, a, 4, b, NULL, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "displs", weft_iallgatherv(c, a, 4, b, cnt, NULL, WEFT_FLOAT32, &req));
  CHECK_ARG(c, "displs[1]", weft_allgatherv(c, a, 4, b, cnt, big, WEFT_FLOAT32));
  CHECK_ARG(c, "overlap", weft_allgatherv(c, a, 4, b, cnt, overlap, WEFT_FLOAT32));
  CHECK_ARG(c, "sendcount", weft_allgatherv(c, a, 3, b, cnt, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "recvbuf", weft_allgatherv(c, a, 4, NULL, cnt, dsp, WEFT_FLOAT32));
  CHECK_ARG(c, "overlap", weft_allgatherv(c, a + 2, 4, a, cnt, dsp, WEFT_FLOAT32));

  size_t huge[2] = {SIZE_MAX / 2, SIZE_MAX / 2};
  CHECK_ARG(c, "recvcounts", weft_reduce_scatterv(c, a, b, NULL, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "recvcounts", weft_ireduce_scatterv(c, a, b, NULL, WEFT_FLOAT32, WEFT_SUM, &req));
  CHECK_ARG(c, "recvcounts", weft_reduce_scatterv(c, a, b, huge, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "op 99", weft_reduce_scatterv(c, a, b, cnt, WEFT_FLOAT32, (weft_redop_t)99));
  CHECK_ARG(c, "sendbuf", weft_reduce_scatterv(c, NULL, b, cnt, WEFT_FLOAT32, WEFT_SUM));
  CHECK_ARG(c, "overlap", weft_reduce_scatterv(c, a, a + 4, cnt, WEFT_FLOAT32, WEFT_SUM)); /* rank 1's */

  const int bad_roots[] = {2, -1, INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof bad_roots / sizeof bad_roots[0]; i++) {
    char root[32];
    snprintf(root, sizeof root, "root %d", bad_roots[i]);
    CHECK_ARG(c, root, weft_gather(c, a, b, 4, WEFT_FLOAT32, bad_roots[i]));
    CHECK_ARG(c, root, weft_igather(c, a, b, 4, WEFT_FLOAT32, bad_roots[i], &req));
    CHECK_ARG(c, root, weft_scatter(c, a, b, 4, WEFT_FLOAT32, bad_roots[i]));
    CHECK_ARG(c, root, weft_iscatter(c, a, b, 4, WEFT_FLOAT32, bad_roots[i], &req));
  }
  CHECK_ARG(c, "recvbuf", weft_gather(c, a, NULL, 4, WEFT_FLOAT32, 0)); /* at the root */
  CHECK_ARG(c, "sendbuf", weft_gather(c, NULL, b, 4, WEFT_FLOAT32, 1)); /* every rank sends */
  CHECK_ARG(c, "sendbuf", weft_scatter(c, NULL, b, 4, WEFT_FLOAT32, 0));
  CHECK_ARG(c, "recvbuf", weft_scatter(c, a, NULL, 4, WEFT_FLOAT32, 1));
  CHECK_ARG(c, "overlap", weft_gather(c, a + 4, a, 4, WEFT_FLOAT32, 0)); /* rank 1's slot */
  CHECK_ARG(c, "overlap", weft_scatter(c, a, a + 4, 4, WEFT_FLOAT32, 0));
  CHECK_ARG(c, "count", weft_gather(c, a, b, SIZE_MAX / 2, WEFT_FLOAT32, 0));
  CHECK_ARG(c, "count", weft_scatter(c, a, b, (size_t)PTRDIFF_MAX / 2 + 1, WEFT_UINT8, 1));
  CHECK_ARG(c, "count", weft_alltoall(c, a, b, (size_t)PTRDIFF_MAX / 2 + 1, WEFT_UINT8));
  CHECK_ARG(c, "count", weft_ialltoall(c, a, b, SIZE_MAX, WEFT_FLOAT32, &req));
  CHECK_ARG(c, "sendbuf", weft_alltoall(c, NULL, b, 4, WEFT_FLOAT32));
  CHECK_ARG(c, "overlap", weft_alltoall(c, a + 1, a, 4, WEFT_FLOAT32));

  CHECK_ARG(c, "dtype 99", weft_alltoall(c, a, b, 4, (weft_dtype_t)99));
  CHECK_ARG(c, "dtype 99", weft_alltoallv(c, a, cnt, dsp, b, cnt, dsp, (weft_dtype_t)99));
  CHECK_ARG(c, "dtype 99", weft_allgatherv(c, a, 4, b, cnt, dsp, (weft_dtype_t)99));
  CHECK_ARG(c, "dtype 99", weft_reduce_scatterv(c, a, b, cnt, (weft_dtype_t)99, WEFT_SUM));
  CHECK_ARG(c, "dtype 99", weft_gather(c, a, b, 4, (weft_dtype_t)99, 0));
  CHECK_ARG(c, "dtype 99", weft_scatter(c, a, b, 4, (weft_dtype_t)99, 0));
  CHECK_ARG(c, "request", weft_igather(c, a, b, 4, WEFT_FLOAT32, 0, NULL));
  CHECK_ARG(c, "request", weft_ialltoallv(c, a, cnt, dsp, b, cnt, dsp, WEFT_FLOAT32, NULL));
  CHECK_ARG(NULL, "comm", weft_alltoall(NULL, a, b, 4, WEFT_FLOAT32));
  assert_null(req);
}

static void test_null_handles_and_requests(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  weft_recover_info_t info;
  check_every_operation(NULL, WEFT_ERR_INVALID_ARGUMENT, "comm is NULL");
  CHECK(NULL, WEFT_ERR_INVALID_ARGUMENT, "comm is NULL", weft_comm_recover(NULL, &info));
  CHECK(NULL, WEFT_ERR_INVALID_ARGUMENT, "weft_wait: request is NULL", weft_wait(NULL));
  CHECK(NULL, WEFT_ERR_INVALID_ARGUMENT, "weft_test: request is NULL", weft_test(NULL));
  /* The accessors' documented answers for NULL, and destroy(NULL) is a no-op. */
  assert_int_equal(weft_comm_rank(NULL), -1);
  assert_int_equal(weft_comm_size(NULL), 0);
  assert_int_equal(weft_comm_epoch(NULL), 0);
  assert_int_equal(weft_comm_joined_late(NULL), 0);
  assert_int_equal(weft_comm_destroy(NULL), WEFT_SUCCESS);
  assert_non_null(weft_comm_last_error(NULL));
  /* A live communicator with a NULL request pointer. */
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_iallreduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_iallgather(c, a, b, 8, WEFT_FLOAT32, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_ireduce_scatter(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_ibroadcast(c, a, b, 8, WEFT_FLOAT32, 0, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_ireduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, 0, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_ibarrier(c, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_isend(c, a, 8, WEFT_FLOAT32, 1, NULL));
  CHECK(c, WEFT_ERR_INVALID_ARGUMENT, "request (output pointer) is NULL", weft_irecv(c, b, 8, WEFT_FLOAT32, 1, NULL));
}

/* ---- live: valid calls still work, in place included ---------------------------------------- */

/* Both ranks run this (rank 1 in a helper thread); returns 0, or the line of the first failure. */
#define EXPECT(cond)                                                                          \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      print_error("rank %d: %s:%d: %s (detail: %s)\n", r, __FILE__, __LINE__, #cond,           \
                  weft_comm_last_error(c));                                                   \
      return __LINE__;                                                                        \
    }                                                                                         \
  } while (0)

static int valid_calls(weft_comm_t *c, void *unused) {
  (void)unused;
  int r = weft_comm_rank(c), peer = 1 - r;
  int32_t s[2 * N], v[2 * N];
  EXPECT(weft_comm_size(c) == 2 && (r == 0 || r == 1));
  /* allreduce, out of place then in place. */
  for (int i = 0; i < N; i++) s[i] = r + 1 + i % 5, v[i] = -1;
  EXPECT(weft_allreduce(c, s, v, N, WEFT_INT32, WEFT_SUM) == WEFT_SUCCESS);
  for (int i = 0; i < N; i++) EXPECT(v[i] == 3 + 2 * (i % 5) && s[i] == r + 1 + i % 5);
  EXPECT(weft_allreduce(c, s, s, N, WEFT_INT32, WEFT_MAX) == WEFT_SUCCESS);
  for (int i = 0; i < N; i++) EXPECT(s[i] == 2 + i % 5);
  /* allgather in place: this rank's part already sits at recvbuf + rank * count. */
  for (int i = 0; i < 2 * N; i++) v[i] = i / N == r ? r * 1000 + i % N : -1;
  EXPECT(weft_allgather(c, v + r * N, v, N, WEFT_INT32) == WEFT_SUCCESS);
  for (int i = 0; i < 2 * N; i++) EXPECT(v[i] == (i / N) * 1000 + i % N);
  /* reduce_scatter in place: recvbuf == sendbuf + rank * recvcount. */
  for (int i = 0; i < 2 * N; i++) v[i] = i + r;
  EXPECT(weft_reduce_scatter(c, v, v + r * N, N, WEFT_INT32, WEFT_SUM) == WEFT_SUCCESS);
  for (int i = r * N; i < (r + 1) * N; i++) EXPECT(v[i] == 2 * i + 1);
  /* broadcast from 0, in place at the root; sendbuf NULL elsewhere (only read at the root). */
  for (int i = 0; i < N; i++) v[i] = r == 0 ? 7 * i : -1;
  EXPECT(weft_broadcast(c, r == 0 ? v : NULL, v, N, WEFT_INT32, 0) == WEFT_SUCCESS);
  for (int i = 0; i < N; i++) EXPECT(v[i] == 7 * i);
  /* reduce to 1, in place at the root; recvbuf NULL elsewhere (only written at the root). */
  for (int i = 0; i < N; i++) v[i] = (r + 1) * i;
  EXPECT(weft_reduce(c, v, r == 1 ? v : NULL, N, WEFT_INT32, WEFT_SUM, 1) == WEFT_SUCCESS);
  if (r == 1)
    for (int i = 0; i < N; i++) EXPECT(v[i] == 3 * i);
  /* count 0 with NULL buffers is valid. */
  EXPECT(weft_allreduce(c, NULL, NULL, 0, WEFT_FLOAT32, WEFT_SUM) == WEFT_SUCCESS);
  /* send/recv both ways. */
  for (int i = 0; i < N; i++) s[i] = 100 * r + i, v[i] = -1;
  if (r == 0) {
    EXPECT(weft_send(c, s, N, WEFT_INT32, peer) == WEFT_SUCCESS);
    EXPECT(weft_recv(c, v, N, WEFT_INT32, peer) == WEFT_SUCCESS);
  } else {
    EXPECT(weft_recv(c, v, N, WEFT_INT32, peer) == WEFT_SUCCESS);
    EXPECT(weft_send(c, s, N, WEFT_INT32, peer) == WEFT_SUCCESS);
  }
  for (int i = 0; i < N; i++) EXPECT(v[i] == 100 * peer + i);
  /* Non-blocking: iallreduce + wait, ibarrier + test until done (bounded). */
  weft_request_t *req = NULL;
  for (int i = 0; i < N; i++) s[i] = 1, v[i] = 0;
  EXPECT(weft_iallreduce(c, s, v, N, WEFT_INT32, WEFT_SUM, &req) == WEFT_SUCCESS && req != NULL);
  EXPECT(weft_wait(req) == WEFT_SUCCESS);
  for (int i = 0; i < N; i++) EXPECT(v[i] == 2);
  req = NULL;
  EXPECT(weft_ibarrier(c, &req) == WEFT_SUCCESS && req != NULL);
  weft_result_t t = WEFT_ERR_IN_PROGRESS;
  for (double until = mono_now() + CALL_TIMEOUT_S; t == WEFT_ERR_IN_PROGRESS && mono_now() < until;) {
    t = weft_test(req);
    if (t == WEFT_ERR_IN_PROGRESS) sleep_ms(1);
  }
  EXPECT(t == WEFT_SUCCESS);
  EXPECT(weft_barrier(c) == WEFT_SUCCESS);
  return 0;
}

static void test_valid_calls_after_misuse(void **state) {
  (void)state;
  helper_t h;
  helper_start(&h, valid_calls, comm1, NULL);
  int line0 = valid_calls(comm0, NULL);
  int line1 = helper_join(&h, JOIN_TIMEOUT_S);
  if (line0 || line1) fail_msg("valid calls failed: rank 0 at line %d, rank 1 at line %d (0: passed)", line0, line1);
}

/* ---- live: two threads issuing on one communicator ------------------------------------------- */

typedef struct {
  atomic_int done;
  weft_result_t result;
  int32_t s[N], v[N];
} blocked_call_t;

static int blocked_allreduce(weft_comm_t *c, void *arg) {
  blocked_call_t *k = arg;
  for (int i = 0; i < N; i++) k->s[i] = weft_comm_rank(c) + 1, k->v[i] = -1;
  k->result = weft_allreduce(c, k->s, k->v, N, WEFT_INT32, WEFT_SUM);
  atomic_store(&k->done, 1);
  return 0;
}

/* Starts rank 0's allreduce in a helper thread and returns once it is certainly inside the
 * call: it cannot complete, because rank 1 has not called yet. The probe is a call with a bad
 * dtype, harmless when the communicator is free (refused before anything is issued): it gets
 * WEFT_ERR_INVALID_USAGE only if another thread is inside. Since this thread makes no other call
 * meanwhile, that other thread can only be the helper, which then entered first and was not
 * refused. If the helper's one attempt collided with a probe instead (it was refused), it is
 * started again. */
static void start_blocked_allreduce(helper_t *h, blocked_call_t *k) {
  for (int attempt = 0; attempt < 20; attempt++) {
    memset(k, 0, sizeof *k);
    helper_start(h, blocked_allreduce, comm0, k);
    sleep_ms(20); /* usually enough for the helper to be inside before the first probe */
    for (double until = mono_now() + 10.0; mono_now() < until;) {
      if (atomic_load(&k->done)) break;
      weft_result_t p = weft_allreduce(comm0, a, b, 1, (weft_dtype_t)4321, WEFT_SUM);
      if (p == WEFT_ERR_INVALID_USAGE) return;
      if (p != WEFT_ERR_INVALID_ARGUMENT) fail_msg("the probe returned %s", code_name(p));
      sleep_ms(2);
    }
    helper_join(h, JOIN_TIMEOUT_S);
    if (k->result != WEFT_ERR_INVALID_USAGE)
      fail_msg("rank 0's lone allreduce returned %s before rank 1 called it: %s", code_name(k->result),
               weft_comm_last_error(comm0));
  }
  fail_msg("the helper thread never got inside its allreduce");
}

static int one_allreduce(weft_comm_t *c, void *arg) {
  blocked_call_t *k = arg;
  for (int i = 0; i < N; i++) k->s[i] = weft_comm_rank(c) + 1, k->v[i] = -1;
  k->result = weft_allreduce(c, k->s, k->v, N, WEFT_INT32, WEFT_SUM);
  return 0;
}

/* The later of two concurrent calls on one communicator gets WEFT_ERR_INVALID_USAGE, with a
 * detail naming the call, and disturbs neither the call in progress nor later ones. */
static void test_two_threads_on_one_comm(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  helper_t inside, peer;
  blocked_call_t k0, k1;
  weft_request_t *req = NULL;
  weft_recover_info_t info;
  start_blocked_allreduce(&inside, &k0);
#define LATER(needle, call)                                                                \
  check_call(#call, (call), WEFT_ERR_INVALID_USAGE, c, needle, __FILE__, __LINE__)
  /* Not allreduce first: the probe left "allreduce: another thread ..." as the detail. No two
   * neighbours below share a name either, so each detail checked is the call's own. */
  LATER("barrier: another thread", weft_barrier(c));
  LATER("allreduce: another thread", weft_allreduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM));
  LATER("allgather: another thread", weft_allgather(c, a, b, 8, WEFT_FLOAT32));
  LATER("reduce_scatter: another thread", weft_reduce_scatter(c, a, b, 4, WEFT_FLOAT32, WEFT_SUM));
  LATER("broadcast: another thread", weft_broadcast(c, a, b, 8, WEFT_FLOAT32, 0));
  LATER("reduce: another thread", weft_reduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, 0));
  LATER("send: another thread", weft_send(c, a, 8, WEFT_FLOAT32, 1));
  LATER("recv: another thread", weft_recv(c, b, 8, WEFT_FLOAT32, 1));
  LATER("allreduce: another thread", weft_iallreduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM, &req));
  LATER("barrier: another thread", weft_ibarrier(c, &req));
  LATER("send: another thread", weft_isend(c, a, 8, WEFT_FLOAT32, 1, &req));
  LATER("weft_comm_recover: another thread", weft_comm_recover(c, &info));
#undef LATER
  assert_null(req);
  if (atomic_load(&k0.done))
    fail_msg("the blocked allreduce returned %s before rank 1 called it", code_name(k0.result));
  /* Now rank 1 joins: the call in progress completes with the right sum. */
  helper_start(&peer, one_allreduce, comm1, &k1);
  helper_join(&inside, JOIN_TIMEOUT_S);
  helper_join(&peer, JOIN_TIMEOUT_S);
  if (k0.result != WEFT_SUCCESS || k1.result != WEFT_SUCCESS)
    fail_msg("allreduce: rank 0 %s (%s), rank 1 %s (%s)", code_name(k0.result), weft_comm_last_error(comm0),
             code_name(k1.result), weft_comm_last_error(comm1));
  for (int i = 0; i < N; i++) {
    assert_int_equal(k0.v[i], 3);
    assert_int_equal(k1.v[i], 3);
  }
  /* The refused calls left nothing behind: the next collectives match up. */
  test_valid_calls_after_misuse(state);
}

/* ---- live: a peer that left, and a revoked communicator (both end a job: they run last) ------ */

/* A clean departure does not revoke the epoch (docs/FAULT_TOLERANCE.md): a later call that needs
 * the departed rank fails with WEFT_ERR_PEER_LOST naming it (the first one may wait for the
 * departure to arrive over the network, at most the communicator's timeout). */
static void test_peer_left(void **state) {
  (void)state;
  weft_comm_t *c = comm0;
  assert_int_equal(weft_comm_destroy(comm1), WEFT_SUCCESS);
  comm1 = NULL;
  CHECK(c, WEFT_ERR_PEER_LOST, "rank 1", weft_barrier(c));
  CHECK(c, WEFT_ERR_PEER_LOST, "left", weft_allreduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM));
  CHECK(c, WEFT_ERR_PEER_LOST, "left", weft_send(c, a, 8, WEFT_FLOAT32, 1));
  /* Misuse is still reported as misuse. */
  CHECK_ARG(c, "dtype 99", weft_allreduce(c, a, b, 8, (weft_dtype_t)99, WEFT_SUM));
}

/* `test_api_misuse --idle-rank ADDR`: rank 1 of the revoke test's job, in its own process so that
 * it can be SIGKILLed. Joins, then waits to be killed (at most 120 s). */
static int idle_rank(const char *coordinator) {
  clear_launcher_env();
  setenv("WEFT_INIT_TIMEOUT", "15", 1);
  alarm(120);
  weft_comm_t *c = NULL;
  if (init_rank_of(1, coordinator, &c) != WEFT_SUCCESS) return 1;
  for (;;) pause();
}

/* After a fault: barriers fail with `passing` until the news arrives, then with `want`. */
static void barrier_settles(weft_comm_t *c, weft_result_t passing, weft_result_t want, const char *after) {
  weft_result_t r = passing;
  for (double until = mono_now() + 2 * CALL_TIMEOUT_S; r == passing && mono_now() < until;) {
    r = weft_barrier(c);
    if (r == passing) sleep_ms(20);
  }
  if (r != want)
    fail_msg("barrier after %s: %s, expected %s: %s", after, code_name(r), code_name(want), weft_comm_last_error(c));
}

/* A member crashes: the coordinator revokes the epoch, and every later operation on the
 * survivor fails with WEFT_ERR_REVOKED naming the revoke and weft_comm_recover. A job of its
 * own: a second coordinator, rank 0 here, rank 1 a child process that is SIGKILLed. */
static void test_revoked_comm(void **state) {
  (void)state;
  char port_file[128], addr[64];
  snprintf(port_file, sizeof port_file, "%s/port2", tmpdir);
  revoke_coordinator_pid = start_coordinator(port_file, addr, sizeof addr);
  assert_true(revoke_coordinator_pid > 0);
  pid_t child = fork();
  if (child == 0) {
    execl(self_bin, self_bin, "--idle-rank", addr, (char *)NULL);
    _exit(127);
  }
  assert_true(child > 0);
  setenv("WEFT_RECOVER_TIMEOUT", "1", 1); /* bounds test_coordinator_lost_comm's recover */
  weft_result_t r = init_rank_of(0, addr, &revoke_comm);
  unsetenv("WEFT_RECOVER_TIMEOUT");
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  if (r != WEFT_SUCCESS) fail_msg("init of the revoke test's job failed");
  weft_comm_t *c = revoke_comm;
  /* The crash reaches rank 0 through the coordinator's REVOKE or a reset connection: a call
   * made before the REVOKE arrived fails with PEER_LOST, and any later one with REVOKED. */
  barrier_settles(c, WEFT_ERR_PEER_LOST, WEFT_ERR_REVOKED, "rank 1 was killed");
  CHECK(c, WEFT_ERR_REVOKED, "weft_comm_recover", weft_allreduce(c, a, b, 8, WEFT_FLOAT32, WEFT_SUM));
  check_every_operation(c, WEFT_ERR_REVOKED, "revoked");
  /* Bad arguments are still reported as such: validation comes before the revoked check. */
  CHECK_ARG(c, "dtype 99", weft_allreduce(c, a, b, 8, (weft_dtype_t)99, WEFT_SUM));
  CHECK_ARG(c, "root 2", weft_broadcast(c, a, b, 8, WEFT_FLOAT32, 2));
}

/* The coordinator dies (and nobody restarts it): that evicts nobody. The epoch stays revoked
 * (rank 1 crashed before), so operations still say WEFT_ERR_REVOKED, and recover -- which needs
 * the coordinator -- returns WEFT_ERR_UNAVAILABLE within its bound (WEFT_RECOVER_TIMEOUT 1 s +
 * WEFT_HEARTBEAT_TIMEOUT + 2 s here), saying the membership service is unavailable; never a hang,
 * never the terminal WEFT_ERR_EVICTED. (Eviction itself: tests/membership/test_sigstop.py.) */
static void test_coordinator_lost_comm(void **state) {
  (void)state;
  weft_comm_t *c = revoke_comm;
  assert_non_null(c);
  kill(revoke_coordinator_pid, SIGKILL);
  waitpid(revoke_coordinator_pid, NULL, 0);
  revoke_coordinator_pid = -1;
  CHECK(c, WEFT_ERR_REVOKED, "weft_comm_recover", weft_barrier(c));
  weft_recover_info_t info;
  double t0 = mono_now();
  CHECK(c, WEFT_ERR_UNAVAILABLE, "membership service unavailable", weft_comm_recover(c, &info));
  double took = mono_now() - t0;
  if (took > 1 + 5 + 2 + 3) fail_msg("recover took %.1f s without a coordinator", took);
  check_every_operation(c, WEFT_ERR_REVOKED, "revoked");
  CHECK_ARG(c, "dtype 99", weft_allreduce(c, a, b, 8, (weft_dtype_t)99, WEFT_SUM));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  self_bin = argv[0];
  if (argc == 3 && !strcmp(argv[1], "--idle-rank")) return idle_rank(argv[2]);
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH_TO_WEFT_COORDINATOR\n", argv[0]);
    return 2;
  }
  coordinator_bin = argv[1];
  const struct CMUnitTest offline[] = {
      cmocka_unit_test(test_init_bad_environment),
      cmocka_unit_test(test_init_bad_config),
      cmocka_unit_test(test_helpers_out_of_range),
  };
  /* In this order: misuse, valid calls, two threads, then the three that end a job. */
  const struct CMUnitTest live[] = {
      cmocka_unit_test(test_null_buffers),
      cmocka_unit_test(test_bad_dtype),
      cmocka_unit_test(test_bad_op),
      cmocka_unit_test(test_root_and_peer_out_of_range),
      cmocka_unit_test(test_count_overflow),
      cmocka_unit_test(test_partial_overlap),
      cmocka_unit_test(test_more_collectives),
      cmocka_unit_test(test_null_handles_and_requests),
      cmocka_unit_test(test_valid_calls_after_misuse),
      cmocka_unit_test(test_two_threads_on_one_comm),
      cmocka_unit_test(test_peer_left),
      cmocka_unit_test(test_revoked_comm),
      cmocka_unit_test(test_coordinator_lost_comm),
  };
  int failed = cmocka_run_group_tests_name("api_misuse_offline", offline, NULL, NULL);
  failed += cmocka_run_group_tests_name("api_misuse_live", live, job_setup, job_teardown);
  return failed ? 1 : 0;
}
