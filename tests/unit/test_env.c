/* Rank discovery from launcher environments (lib/bootstrap/env.c), over a fake environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bootstrap/env.h"

/* lib/core/log.c may not be linked into this test; the weak stub keeps it linkable. */
__attribute__((weak)) void weft__log(weft_log_level_t level, const char *fmt, ...) {
  (void)level;
  (void)fmt;
}

/* A fake environment: NULL-terminated {name, value} pairs. */
typedef struct {
  const char *name, *value;
} var_t;

static const char *fake_getenv(const char *name, void *user) {
  for (const var_t *v = user; v->name; v++)
    if (strcmp(v->name, name) == 0) return v->value;
  return NULL;
}

static weft_result_t discover(const var_t *vars, weft__env_t *e, char *err, size_t errlen) {
  return weft__env_discover_from(fake_getenv, (void *)vars, e, err, errlen);
}

#define DISCOVER_OK(e, ...)                                                   \
  do {                                                                        \
    static const var_t vars_[] = {__VA_ARGS__, {NULL, NULL}};                 \
    char err_[256] = "";                                                      \
    weft_result_t rc_ = discover(vars_, (e), err_, sizeof err_);              \
    if (rc_ != WEFT_SUCCESS) fail_msg("unexpected error: %s", err_);          \
  } while (0)

/* Expects INVALID_ARGUMENT with a message starting with `prefix`. */
#define DISCOVER_FAILS(prefix, ...)                                                        \
  do {                                                                                     \
    static const var_t vars_[] = {__VA_ARGS__, {NULL, NULL}};                              \
    char err_[256] = "";                                                                   \
    weft__env_t e_;                                                                        \
    weft_result_t rc_ = discover(vars_, &e_, err_, sizeof err_);                           \
    if (rc_ != WEFT_ERR_INVALID_ARGUMENT) fail_msg("accepted (rc %d), want %s", rc_, prefix); \
    if (strncmp(err_, prefix, strlen(prefix)) != 0)                                        \
      fail_msg("message \"%s\", want prefix \"%s\"", err_, prefix);                        \
  } while (0)

static void test_empty_environment(void **state) {
  (void)state;
  weft__env_t e;
  static const var_t none[] = {{NULL, NULL}};
  char err[64] = "stale";
  assert_int_equal(discover(none, &e, err, sizeof err), WEFT_SUCCESS);
  assert_string_equal(err, "");
  assert_int_equal(e.rank, -1);
  assert_int_equal(e.world_size, 0);
  assert_int_equal(e.local_rank, -1);
  assert_string_equal(e.coord_host, "");
  assert_int_equal(e.coord_port, 0);
  assert_false(e.coord_explicit);
  assert_string_equal(e.token, "");
  assert_false(e.token_derived);
  assert_string_equal(e.source, "none");
}

static void test_weft_variables(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"WEFT_RANK", "3"}, {"WEFT_WORLD_SIZE", "8"}, {"WEFT_LOCAL_RANK", "1"},
              {"WEFT_COORDINATOR", "head.example:7000"}, {"WEFT_JOB_TOKEN", "s3cret"});
  assert_int_equal(e.rank, 3);
  assert_int_equal(e.world_size, 8);
  assert_int_equal(e.local_rank, 1);
  assert_string_equal(e.coord_host, "head.example");
  assert_int_equal(e.coord_port, 7000);
  assert_true(e.coord_explicit);
  assert_string_equal(e.token, "s3cret");
  assert_false(e.token_derived);
  assert_string_equal(e.source, "weft");
}

static void test_torchrun(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"RANK", "5"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "5"},
              {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"},
              {"TORCHELASTIC_RUN_ID", "abc123"});
  assert_int_equal(e.rank, 5);
  assert_int_equal(e.world_size, 16);
  assert_int_equal(e.local_rank, 5);
  assert_string_equal(e.coord_host, "10.0.0.1");
  assert_int_equal(e.coord_port, 29501); /* the port after torch's own store */
  assert_false(e.coord_explicit);
  assert_string_equal(e.token, "derived:torchrun:abc123");
  assert_true(e.token_derived);
  assert_string_equal(e.source, "torchrun");

  DISCOVER_OK(&e, {"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", "[::1]"},
              {"MASTER_PORT", "1234"});
  assert_string_equal(e.coord_host, "::1");
  assert_int_equal(e.coord_port, 1235);
}

static void test_slurm(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"SLURM_PROCID", "7"}, {"SLURM_NTASKS", "32"}, {"SLURM_LOCALID", "3"},
              {"SLURM_STEP_NODELIST", "gpu[012-015],cpu1"}, {"SLURM_NODELIST", "other1"},
              {"SLURM_JOB_ID", "123456"}, {"SLURM_STEP_ID", "2"});
  assert_int_equal(e.rank, 7);
  assert_int_equal(e.world_size, 32);
  assert_int_equal(e.local_rank, 3);
  assert_string_equal(e.coord_host, "gpu012"); /* step list first, zero padding kept */
  assert_int_equal(e.coord_port, 29400 + 456);
  assert_string_equal(e.token, "derived:slurm:123456.2");
  assert_true(e.token_derived);
  assert_string_equal(e.source, "slurm");

  /* No step list: the job's list; WEFT_COORDINATOR_PORT replaces the derived port. */
  DISCOVER_OK(&e, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_NODELIST", "n[7]"},
              {"SLURM_JOB_ID", "99"}, {"WEFT_COORDINATOR_PORT", "5555"});
  assert_string_equal(e.coord_host, "n7");
  assert_int_equal(e.coord_port, 5555);
  assert_string_equal(e.token, "derived:slurm:99"); /* no step id (batch script) */
}

static void test_mpich(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"PMI_RANK", "2"}, {"PMI_SIZE", "4"}, {"MPI_LOCALRANKID", "2"},
              {"PMI_KVSNAME", "kvs_1234_0"});
  assert_int_equal(e.rank, 2);
  assert_int_equal(e.world_size, 4);
  assert_int_equal(e.local_rank, 2);
  assert_string_equal(e.coord_host, "127.0.0.1");
  assert_int_equal(e.coord_port, 29400);
  assert_false(e.coord_explicit);
  assert_string_equal(e.token, "derived:mpich:kvs_1234_0");
  assert_string_equal(e.source, "mpich");

  DISCOVER_OK(&e, {"PMI_RANK", "0"}, {"PMI_SIZE", "1"}, {"WEFT_COORDINATOR_PORT", "30000"});
  assert_int_equal(e.coord_port, 30000);
  assert_string_equal(e.token, "");
  assert_false(e.token_derived);
}

static void test_openmpi(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "3"},
              {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"OMPI_MCA_ess_base_jobid", "4242"});
  assert_int_equal(e.rank, 1);
  assert_int_equal(e.world_size, 3);
  assert_int_equal(e.local_rank, 0);
  assert_string_equal(e.coord_host, "127.0.0.1");
  assert_int_equal(e.coord_port, 29400);
  assert_string_equal(e.token, "derived:openmpi:4242");
  assert_string_equal(e.source, "openmpi");
}

static void test_precedence(void **state) {
  (void)state;
  weft__env_t e;
  /* weft beats torchrun beats Slurm, field by field. */
  DISCOVER_OK(&e, {"WEFT_RANK", "1"}, {"RANK", "2"}, {"SLURM_PROCID", "3"}, {"WORLD_SIZE", "10"},
              {"SLURM_NTASKS", "20"}, {"SLURM_LOCALID", "4"}, {"MASTER_ADDR", "m"},
              {"MASTER_PORT", "100"}, {"SLURM_NODELIST", "s1"}, {"SLURM_JOB_ID", "5"},
              {"TORCHELASTIC_RUN_ID", "t"});
  assert_int_equal(e.rank, 1);
  assert_string_equal(e.source, "weft");
  assert_int_equal(e.world_size, 10); /* torchrun's, as weft gave none */
  assert_int_equal(e.local_rank, 4);  /* Slurm's, as neither gave one */
  assert_string_equal(e.coord_host, "m");
  assert_int_equal(e.coord_port, 101);
  assert_string_equal(e.token, "derived:torchrun:t");

  /* WEFT_COORDINATOR with torchrun's ranks. */
  DISCOVER_OK(&e, {"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "m"}, {"MASTER_PORT", "100"},
              {"WEFT_COORDINATOR", "[fe80::1%eth0]:9000"});
  assert_string_equal(e.source, "torchrun");
  assert_string_equal(e.coord_host, "fe80::1%eth0");
  assert_int_equal(e.coord_port, 9000);
  assert_true(e.coord_explicit);

  /* WEFT_JOB_TOKEN beats every derived token; Slurm beats MPI for rank and token. */
  DISCOVER_OK(&e, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_ID", "7"},
              {"PMI_KVSNAME", "kvs"}, {"WEFT_JOB_TOKEN", "tok"});
  assert_string_equal(e.token, "tok");
  assert_false(e.token_derived);
  DISCOVER_OK(&e, {"SLURM_JOB_ID", "7"}, {"PMI_KVSNAME", "kvs"}, {"OMPI_MCA_ess_base_jobid", "9"});
  assert_string_equal(e.token, "derived:slurm:7");
  DISCOVER_OK(&e, {"PMI_KVSNAME", "kvs"}, {"OMPI_MCA_ess_base_jobid", "9"});
  assert_string_equal(e.token, "derived:mpich:kvs");

  /* With no rank anywhere, the source is whoever gave the world size. */
  DISCOVER_OK(&e, {"WORLD_SIZE", "4"}, {"PMI_SIZE", "8"});
  assert_int_equal(e.rank, -1);
  assert_int_equal(e.world_size, 4);
  assert_string_equal(e.source, "torchrun");

  /* An empty variable counts as unset. */
  DISCOVER_OK(&e, {"WEFT_RANK", ""}, {"RANK", "1"}, {"WORLD_SIZE", "2"}, {"WEFT_COORDINATOR", ""});
  assert_int_equal(e.rank, 1);
  assert_string_equal(e.coord_host, "");
  assert_false(e.coord_explicit);

  /* A malformed lower-precedence variable is not read when a higher one decides. */
  DISCOVER_OK(&e, {"WEFT_RANK", "0"}, {"RANK", "junk"}, {"WEFT_WORLD_SIZE", "1"});
  assert_int_equal(e.rank, 0);
}

/* mpirun inside an sbatch script: every process inherits the batch step's SLURM_PROCID=0.
 * The MPI launcher's own variables must win, or every rank would claim rank 0. */
static void test_mpirun_inside_slurm_allocation(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "0"},
              {"SLURM_NODELIST", "gnode[10,20]"}, {"SLURM_JOB_ID", "200505"},
              {"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "8"},
              {"OMPI_COMM_WORLD_LOCAL_RANK", "1"});
  assert_int_equal(e.rank, 3);
  assert_int_equal(e.world_size, 8);
  assert_int_equal(e.local_rank, 1);
  assert_string_equal(e.source, "openmpi");
  assert_string_equal(e.coord_host, "gnode10"); /* the allocation's first node, not 127.0.0.1 */
  assert_int_equal(e.coord_port, 29400 + 505);

  DISCOVER_OK(&e, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"PMI_RANK", "2"},
              {"PMI_SIZE", "4"});
  assert_int_equal(e.rank, 2);
  assert_string_equal(e.source, "mpich");
}

static void test_errors_name_the_variable(void **state) {
  (void)state;
  DISCOVER_FAILS("WEFT_RANK=abc: not a whole number", {"WEFT_RANK", "abc"});
  DISCOVER_FAILS("RANK=1x: not a whole number", {"RANK", "1x"});
  DISCOVER_FAILS("RANK= 1: not a whole number", {"RANK", " 1"});
  DISCOVER_FAILS("SLURM_PROCID=-1: must not be negative", {"SLURM_PROCID", "-1"});
  DISCOVER_FAILS("WORLD_SIZE=0: out of range", {"WORLD_SIZE", "0"});
  DISCOVER_FAILS("PMI_SIZE=99999999999: out of range", {"PMI_SIZE", "99999999999"});
  DISCOVER_FAILS("OMPI_COMM_WORLD_RANK=99999999999999999999999: not a whole number",
                 {"OMPI_COMM_WORLD_RANK", "99999999999999999999999"});
  DISCOVER_FAILS("LOCAL_RANK=-3: must not be negative", {"LOCAL_RANK", "-3"});
  DISCOVER_FAILS("WEFT_RANK=4: rank must be below the world size 4 (WEFT_WORLD_SIZE)",
                 {"WEFT_RANK", "4"}, {"WEFT_WORLD_SIZE", "4"});
  DISCOVER_FAILS("RANK=+09: rank must be below the world size 2 (SLURM_NTASKS)",
                 {"RANK", "+09"}, {"SLURM_NTASKS", "2"});
  DISCOVER_FAILS("WEFT_COORDINATOR=host: not host:port", {"WEFT_COORDINATOR", "host"});
  DISCOVER_FAILS("WEFT_COORDINATOR=h:0: not host:port", {"WEFT_COORDINATOR", "h:0"});
  DISCOVER_FAILS("MASTER_PORT=65535: not a port", {"MASTER_ADDR", "m"}, {"MASTER_PORT", "65535"});
  DISCOVER_FAILS("MASTER_PORT=http: not a port", {"MASTER_ADDR", "m"}, {"MASTER_PORT", "http"});
  DISCOVER_FAILS("MASTER_ADDR=a b: not a host", {"MASTER_ADDR", "a b"});
  DISCOVER_FAILS("SLURM_STEP_NODELIST=n[: not a Slurm host list", {"SLURM_STEP_NODELIST", "n["},
                 {"SLURM_NODELIST", "ok"});
  DISCOVER_FAILS("SLURM_NODELIST=n[]: not a Slurm host list", {"SLURM_NODELIST", "n[]"});
  DISCOVER_FAILS("SLURM_JOB_ID=12a: not a non-negative", {"SLURM_NODELIST", "n1"},
                 {"SLURM_JOB_ID", "12a"});
  DISCOVER_FAILS("WEFT_COORDINATOR_PORT=70000: not a port", {"SLURM_NODELIST", "n1"},
                 {"WEFT_COORDINATOR_PORT", "70000"});
  DISCOVER_FAILS("WEFT_COORDINATOR_PORT=-1: not a port", {"PMI_RANK", "0"},
                 {"WEFT_COORDINATOR_PORT", "-1"});
  DISCOVER_FAILS("WEFT_SOCKET_IFNAME=a-name-far-too-long: not an interface name",
                 {"WEFT_SOCKET_IFNAME", "a-name-far-too-long"});
  DISCOVER_FAILS("WEFT_SOCKET_IFNAME=eth0 : not an interface name", {"WEFT_SOCKET_IFNAME", "eth0 "});
  DISCOVER_FAILS("WEFT_SOCKET_IFNAME=eth0:1: not an interface name", {"WEFT_SOCKET_IFNAME", "eth0:1"});
  DISCOVER_FAILS("WEFT_TRANSPORTS=shm,,tcp: not a transport list", {"WEFT_TRANSPORTS", "shm,,tcp"});
  DISCOVER_FAILS("WEFT_TRANSPORTS=TCP: not a transport list", {"WEFT_TRANSPORTS", "TCP"});
  DISCOVER_FAILS("WEFT_TRANSPORTS=tcp,: not a transport list", {"WEFT_TRANSPORTS", "tcp,"});
}

static void test_socket_ifname(void **state) {
  (void)state;
  weft__env_t e;
  DISCOVER_OK(&e, {"WEFT_RANK", "0"});
  assert_string_equal(e.ifname, "");
  DISCOVER_OK(&e, {"WEFT_SOCKET_IFNAME", "enp65s0f1np1"});
  assert_string_equal(e.ifname, "enp65s0f1np1");
  assert_string_equal(e.transports, "");
  DISCOVER_OK(&e, {"WEFT_TRANSPORTS", "shm,tcp"});
  assert_string_equal(e.transports, "shm,tcp");
}

static void test_long_values(void **state) {
  (void)state;
  char big[400];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  var_t tok[] = {{"WEFT_JOB_TOKEN", big}, {NULL, NULL}};
  var_t run[] = {{"TORCHELASTIC_RUN_ID", big}, {NULL, NULL}};
  var_t addr[] = {{"MASTER_ADDR", big}, {NULL, NULL}};
  char err[128];
  weft__env_t e;
  assert_int_equal(discover(tok, &e, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(err, "...: too long"));
  assert_true(strncmp(err, "WEFT_JOB_TOKEN=aaaa", 19) == 0);
  assert_int_equal(discover(run, &e, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_true(strncmp(err, "TORCHELASTIC_RUN_ID=", 20) == 0);
  assert_string_equal(e.token, ""); /* never a truncated token */
  assert_int_equal(discover(addr, &e, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_true(strncmp(err, "MASTER_ADDR=", 12) == 0);

  big[255] = '\0'; /* 255 bytes: the longest token that fits */
  assert_int_equal(discover(tok, &e, err, sizeof err), WEFT_SUCCESS);
  assert_int_equal(strlen(e.token), 255);

  /* Tiny or absent error buffers are never overrun. */
  char tiny[6];
  memset(tiny, 'x', sizeof tiny);
  static const var_t bad[] = {{"WEFT_RANK", "zzz"}, {NULL, NULL}};
  assert_int_equal(discover(bad, &e, tiny, 4), WEFT_ERR_INVALID_ARGUMENT);
  assert_string_equal(tiny, "WEF");
  assert_int_equal(tiny[4], 'x');
  assert_int_equal(discover(bad, &e, NULL, 0), WEFT_ERR_INVALID_ARGUMENT);
  assert_int_equal(weft__env_discover_from(NULL, NULL, &e, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
}

static void assert_host_port(const char *s, const char *host, int port) {
  char h[WEFT__HOST_MAX];
  int p = -1;
  if (!weft__parse_host_port(s, h, sizeof h, &p)) fail_msg("rejected \"%s\"", s);
  assert_string_equal(h, host);
  assert_int_equal(p, port);
}

static void test_host_port(void **state) {
  (void)state;
  assert_host_port("host:1", "host", 1);
  assert_host_port("1.2.3.4:80", "1.2.3.4", 80);
  assert_host_port("[::1]:80", "::1", 80);
  assert_host_port("node-01.cluster_a:65535", "node-01.cluster_a", 65535);
  assert_host_port("h:00080", "h", 80);

  static const char *const bad[] = {"host",      "host:",     ":80",      "host:99999", "host:80x",
                                    "host:0",    "host:65536", "host:-1",  "host:+80",   "h: 80",
                                    "h :80",     "a:b:80",    "::1:80",   "[::1]",      "[::1]80",
                                    "[::1]:",    "[]:80",     "[1.2.3.4]:80", "[::1:80", "h:123456",
                                    "h/x:80",    "",          "[::1]:80:", "ho\nst:80",
                                    "h:000080", "h:99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char h[WEFT__HOST_MAX] = "untouched";
    int p = 42;
    if (weft__parse_host_port(bad[i], h, sizeof h, &p)) fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(p, 42);
  }

  /* Host longer than the buffer, or than WEFT__HOST_MAX. */
  char h[8];
  int p;
  assert_true(weft__parse_host_port("abcdefg:1", h, sizeof h, &p));
  assert_false(weft__parse_host_port("abcdefgh:1", h, sizeof h, &p));
  char big[WEFT__HOST_MAX + 8];
  char hb[1024];
  memset(big, 'a', WEFT__HOST_MAX);
  strcpy(big + WEFT__HOST_MAX, ":80");
  assert_false(weft__parse_host_port(big, hb, sizeof hb, &p));
  assert_false(weft__parse_host_port(NULL, hb, sizeof hb, &p));
  assert_false(weft__parse_host_port("h:1", hb, 0, &p));
}

static void assert_first_host(const char *list, const char *want) {
  char h[WEFT__HOST_MAX];
  if (!weft__slurm_first_host(list, h, sizeof h)) fail_msg("rejected \"%s\"", list);
  if (strcmp(h, want) != 0) fail_msg("\"%s\" -> \"%s\", want \"%s\"", list, h, want);
}

static void test_slurm_first_host(void **state) {
  (void)state;
  assert_first_host("node[01-03,07],gpu5", "node01");
  assert_first_host("a,b", "a");
  assert_first_host("a", "a");
  assert_first_host("n[7]", "n7");
  assert_first_host("n[010-012]", "n010");
  assert_first_host("x-1", "x-1");
  assert_first_host("rack1-n[2-4]", "rack1-n2");
  assert_first_host("rack[1-2]-n[01-04]", "rack1-n01");
  assert_first_host("n[3,1-2]", "n3"); /* the first as written */
  assert_first_host("n[7,100-101]", "n7");
  assert_first_host("n[1-3]x,m[4]", "n1x");

  static const char *const bad[] = {"",      "n[",     "n[]",     "n[1",    "n]",     "n[1-]",
                                    "n[-1]", "n[a]",   "n[1,]",   "n[,1]",  "n[3-1]", "n[[1]]",
                                    ",a",    "a,",     "a,,b",    "a b",    "a,b[",   "n[1]]",
                                    "n[1-2-3]", "n[1234567890123456789]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char h[WEFT__HOST_MAX];
    if (weft__slurm_first_host(bad[i], h, sizeof h)) fail_msg("accepted \"%s\" as \"%s\"", bad[i], h);
  }

  /* Buffer overflow: the first host must fit, with its terminator. */
  char small[6];
  assert_true(weft__slurm_first_host("node[1-9]", small, sizeof small));
  assert_string_equal(small, "node1");
  assert_false(weft__slurm_first_host("node[10-19]", small, sizeof small));
  char big[2000];
  memset(big, 'n', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  char hb[4096];
  assert_false(weft__slurm_first_host(big, hb, sizeof hb)); /* over WEFT__HOST_MAX */
  big[WEFT__HOST_MAX] = '\0';
  assert_false(weft__slurm_first_host(big, hb, sizeof hb)); /* WEFT__HOST_MAX: no room for NUL */
  big[WEFT__HOST_MAX - 1] = '\0';
  assert_true(weft__slurm_first_host(big, hb, sizeof hb));
  assert_int_equal(strlen(hb), WEFT__HOST_MAX - 1);
  assert_false(weft__slurm_first_host(NULL, hb, sizeof hb));
}

/* weft__env_discover reads the process environment. */
static void test_process_environment(void **state) {
  (void)state;
  weft__env_t e;
  char err[128];
  setenv("WEFT_RANK", "2", 1);
  setenv("WEFT_WORLD_SIZE", "3", 1);
  setenv("WEFT_COORDINATOR", "127.0.0.1:4000", 1);
  assert_int_equal(weft__env_discover(&e, err, sizeof err), WEFT_SUCCESS);
  assert_int_equal(e.rank, 2);
  assert_int_equal(e.world_size, 3);
  assert_int_equal(e.coord_port, 4000);
  setenv("WEFT_RANK", "3", 1);
  assert_int_equal(weft__env_discover(&e, err, sizeof err), WEFT_ERR_INVALID_ARGUMENT);
  assert_true(strncmp(err, "WEFT_RANK=3: rank must be below", 31) == 0);
  unsetenv("WEFT_RANK");
  unsetenv("WEFT_WORLD_SIZE");
  unsetenv("WEFT_COORDINATOR");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty_environment),
      cmocka_unit_test(test_weft_variables),
      cmocka_unit_test(test_socket_ifname),
      cmocka_unit_test(test_torchrun),
      cmocka_unit_test(test_slurm),
      cmocka_unit_test(test_mpich),
      cmocka_unit_test(test_openmpi),
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_mpirun_inside_slurm_allocation),
      cmocka_unit_test(test_errors_name_the_variable),
      cmocka_unit_test(test_long_values),
      cmocka_unit_test(test_host_port),
      cmocka_unit_test(test_slurm_first_host),
      cmocka_unit_test(test_process_environment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
