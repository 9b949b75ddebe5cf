/* One rank of the tamper test (WEFT_ENCRYPT=1; tests/hostile/meson.build):
 *
 *   WEFT_ENCRYPT=1 weftrun -n 2 tamper_rank
 *
 * Both ranks run a checked 8 MiB allreduce (frames spanning many records). Then rank 1 plays an
 * on-path attacker: it writes a forged record (a plausible length, bytes of its own) into every
 * data connection it has to rank 0, between records, as someone altering the stream in flight
 * would. Both ranks then run another allreduce. Rank 0 must refuse the forged record before any
 * of its bytes is used: the allreduce fails (never a success with a wrong sum) and the error
 * names the record from rank 1 (crypt.h) — in the call's error, or, when the coordinator's verdict
 * on the lost connection overtakes it (it may evict either end), in the library's log, which
 * is captured here. Rank 1's allreduce cannot complete without rank 0;
 * whatever it returns, a success must carry the right sum.
 *
 * Output: "rank R: ok ..." or "rank R: ERROR ...". Exit status 0 when the rank's checks held. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "weft.h"

static int rank;
static char log_text[16384];

static void capture(weft_log_level_t level, const char *msg, void *user) {
  (void)level, (void)user;
  size_t n = strlen(log_text);
  snprintf(log_text + n, sizeof log_text - n, "%s\n", msg); /* the progress thread: one writer at a time */
}

static int fail(const char *what, weft_comm_t *c) {
  printf("rank %d: ERROR %s: %s\n", rank, what, c ? weft_comm_last_error(c) : "");
  fflush(stdout);
  return 1;
}

/* allreduce SUM of n int64 (rank r contributes r + i) and its check; 1: wrong data. */
static weft_result_t checked_allreduce(weft_comm_t *c, size_t n, int size, int *wrong) {
  int64_t *buf = malloc(n * sizeof *buf);
  for (size_t i = 0; i < n; i++) buf[i] = rank + (int64_t)i;
  weft_result_t r = weft_allreduce(c, buf, buf, n, WEFT_INT64, WEFT_SUM);
  *wrong = 0;
  for (size_t i = 0; r == WEFT_SUCCESS && i < n; i++)
    if (buf[i] != (int64_t)size * (int64_t)i + (int64_t)size * (size - 1) / 2) (*wrong)++;
  free(buf);
  return r;
}

/* The coordinator's port, from WEFT_COORDINATOR=host:port: its connection is left alone. */
static int coordinator_port(void) {
  const char *s = getenv("WEFT_COORDINATOR");
  const char *colon = s ? strrchr(s, ':') : NULL;
  return colon ? atoi(colon + 1) : -1;
}

/* Writes a forged record into every connected TCP socket of this process but the coordinator's:
 * with two ranks, those are the data connections to the peer. Returns how many. */
static int inject(void) {
  uint8_t rec[4 + 96 + 16];
  memset(rec, 0x41, sizeof rec);
  rec[0] = 96 + 16, rec[1] = rec[2] = rec[3] = 0; /* a length the receiver accepts */
  int coord = coordinator_port(), n = 0;
  for (int fd = 3; fd < 4096; fd++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) continue;
    int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
               : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : -1;
    if (port < 0 || port == coord) continue;
    if (send(fd, rec, sizeof rec, MSG_NOSIGNAL) == (ssize_t)sizeof rec) n++;
  }
  return n;
}

int main(void) {
  weft_comm_t *c = NULL;
  setvbuf(stdout, NULL, _IOLBF, 0);
  weft_set_log_callback(capture, NULL, WEFT_LOG_WARN);
  if (weft_comm_init_env(&c) != WEFT_SUCCESS) {
    printf("rank ?: ERROR init: %s\n", weft_comm_last_error(NULL));
    return 1;
  }
  rank = weft_comm_rank(c);
  int size = weft_comm_size(c), wrong = 0;
  if (size != 2) return fail("run with -n 2", NULL);
  weft_result_t r = checked_allreduce(c, 1u << 20, size, &wrong);
  if (r != WEFT_SUCCESS || wrong) return fail(wrong ? "wrong sum before the attack" : "allreduce before the attack", c);
  /* Let every record of the first allreduce leave before the forged one goes in. */
  if (weft_barrier(c) != WEFT_SUCCESS) return fail("barrier", c);
  usleep(200000);
  if (rank == 1) {
    int n = inject();
    printf("rank 1: injected a forged record into %d connection(s)\n", n);
    if (n < 1) return fail("found no data connection to attack", NULL);
  }
  r = checked_allreduce(c, 64, size, &wrong);
  if (wrong) return fail("a wrong sum after the attack", c);
  if (rank == 0) {
    if (r == WEFT_SUCCESS) return fail("the allreduce succeeded over a tampered connection", c);
    const char *why = weft_comm_last_error(c), *want = "encrypted record from rank 1 failed authentication";
    if (!strstr(why, want) && !strstr(log_text, want))
      return fail("neither the error nor the log names the forged record", c);
    printf("rank 0: ok: %s: %s\n", weft_strerror(r), why);
  } else {
    printf("rank 1: ok: %s\n", r == WEFT_SUCCESS ? "success, right sum" : weft_strerror(r));
  }
  weft_comm_destroy(c);
  return 0;
}
