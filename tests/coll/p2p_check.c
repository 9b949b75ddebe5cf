/* One rank of the point-to-point matching check (weft_send_tagged, weft_recv_tagged,
 * WEFT_ANY_SOURCE), run under weftrun on the root communicator and, with 4 ranks or more, on a
 * parity split of it:
 *   weftrun -n N p2p_check [--in-order]
 * Cases, each with values the receiver can verify from the sender's rank:
 *   - tags received in the reverse of the order sent (small and multi-frame messages): the
 *     earlier ones are held until their receive is posted;
 *   - messages with one tag arrive in the order sent, received before and after they arrive;
 *   - WEFT_ANY_SOURCE receives from every other rank, the source reported, each message once;
 *   - receives posted earlier match first (any-source posted before a specific one);
 *   - a size mismatch fails the receive with WEFT_ERR_MISMATCH naming tag and sender, and the
 *     pair goes on working; bad arguments (negative tag, WEFT_ANY_SOURCE to a send) are refused;
 *   - a message that arrived before its sender's goodbye is received after it.
 * --in-order skips the reversed-tag case (run with WEFT_P2P_BUFFER=0, where nothing is held and
 * only receives posted in time may complete). Exit status 0 only if every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft.h"

static int wrank;
#include "../common/check.h"

/* Element i of message `tag` from `src`. */
static float value(int src, int tag, size_t i) { return (float)(src * 1000 + tag * 10 + (int)(i % 7)); }

static void fill(float *b, size_t n, int src, int tag) {
  for (size_t i = 0; i < n; i++) b[i] = value(src, tag, i);
}

static long count_bad(const float *b, size_t n, int src, int tag) {
  long bad = 0;
  for (size_t i = 0; i < n; i++) bad += b[i] != value(src, tag, i);
  return bad;
}

/* Rank 0 sends tags 1..4 to rank 1 (tag 3 large: many frames); rank 1 receives 4, 3, 2, 1. */
static void reversed_tags(weft_comm_t *c, const char *name, size_t big) {
  int me = weft_comm_rank(c);
  size_t sizes[5] = {0, 5, 1, big, 0};
  if (me == 0) {
    weft_request_t *r[4];
    float *bufs[4];
    for (int t = 1; t <= 4; t++) {
      bufs[t - 1] = malloc(sizes[t] * sizeof(float) + 1);
      fill(bufs[t - 1], sizes[t], 0, t);
      must(c, weft_isend_tagged(c, bufs[t - 1], sizes[t], WEFT_FLOAT32, 1, t, &r[t - 1]), "isend_tagged");
    }
    for (int t = 0; t < 4; t++) {
      must(c, weft_wait(r[t]), "wait isend_tagged");
      free(bufs[t]);
    }
  } else if (me == 1) {
    usleep(100 * 1000); /* let the messages arrive first: they are held, not lost */
    for (int t = 4; t >= 1; t--) {
      float *b = malloc(sizes[t] * sizeof(float) + 1);
      int src = -1;
      must(c, weft_recv_tagged(c, b, sizes[t], WEFT_FLOAT32, 0, t, &src), "recv_tagged reversed");
      CHECK(src == 0, "%s reversed tag %d: source %d, want 0", name, t, src);
      CHECK(count_bad(b, sizes[t], 0, t) == 0, "%s reversed tag %d: wrong data", name, t);
      free(b);
    }
  }
}

/* Every rank sends `k` messages tag 7 to its right neighbour; the left neighbour's come in
 * order, the first half received before they are sent (posted early), the rest after. */
static void same_tag_in_order(weft_comm_t *c, const char *name) {
  int me = weft_comm_rank(c), n = weft_comm_size(c);
  if (n < 2) return;
  enum { K = 6, LEN = 3 };
  int right = (me + 1) % n, left = (me + n - 1) % n;
  float in[K][LEN], out[K][LEN];
  weft_request_t *rr[K], *rs[K];
  for (int k = 0; k < K / 2; k++)
    must(c, weft_irecv_tagged(c, in[k], LEN, WEFT_FLOAT32, left, 7, NULL, &rr[k]), "irecv_tagged early");
  for (int k = 0; k < K; k++) {
    fill(out[k], LEN, me, k);
    must(c, weft_isend_tagged(c, out[k], LEN, WEFT_FLOAT32, right, 7, &rs[k]), "isend_tagged same tag");
  }
  usleep(50 * 1000);
  for (int k = K / 2; k < K; k++)
    must(c, weft_irecv_tagged(c, in[k], LEN, WEFT_FLOAT32, left, 7, NULL, &rr[k]), "irecv_tagged late");
  for (int k = 0; k < K; k++) {
    must(c, weft_wait(rr[k]), "wait irecv same tag");
    must(c, weft_wait(rs[k]), "wait isend same tag");
    CHECK(count_bad(in[k], LEN, left, k) == 0, "%s same tag: message %d from rank %d out of order or wrong (got %g)",
          name, k, left, in[k][0]);
  }
}

/* Rank 0 receives one message from every other rank with WEFT_ANY_SOURCE. */
static void any_source(weft_comm_t *c, const char *name) {
  int me = weft_comm_rank(c), n = weft_comm_size(c);
  if (me != 0) {
    float b[4];
    fill(b, 4, me, 4);
    must(c, weft_send_tagged(c, b, 4, WEFT_FLOAT32, 0, 4), "send_tagged to any-source");
    return;
  }
  int *seen = calloc((size_t)n, sizeof *seen);
  for (int i = 1; i < n; i++) {
    float b[4];
    int src = -1;
    must(c, weft_recv_tagged(c, b, 4, WEFT_FLOAT32, WEFT_ANY_SOURCE, 4, &src), "recv_tagged any source");
    CHECK(src > 0 && src < n, "%s any source: source %d out of range", name, src);
    if (src <= 0 || src >= n) continue;
    seen[src]++;
    CHECK(count_bad(b, 4, src, 4) == 0, "%s any source: data is not rank %d's", name, src);
  }
  for (int s = 1; s < n; s++) CHECK(seen[s] == 1, "%s any source: rank %d's message received %d times", name, s, seen[s]);
  free(seen);
}

/* Rank 1 sends A then B (tag 9) to rank 0, which posted recv(ANY) before recv(1): ANY gets A. */
static void posted_order(weft_comm_t *c, const char *name) {
  int me = weft_comm_rank(c);
  if (me == 1) {
    float a[2], b[2];
    fill(a, 2, 1, 90);
    fill(b, 2, 1, 91);
    must(c, weft_barrier(c), "barrier");
    must(c, weft_send_tagged(c, a, 2, WEFT_FLOAT32, 0, 9), "send A");
    must(c, weft_send_tagged(c, b, 2, WEFT_FLOAT32, 0, 9), "send B");
  } else if (me == 0) {
    float x[2], y[2];
    int sx = -1, sy = -1;
    weft_request_t *rx, *ry;
    must(c, weft_irecv_tagged(c, x, 2, WEFT_FLOAT32, WEFT_ANY_SOURCE, 9, &sx, &rx), "irecv any");
    must(c, weft_irecv_tagged(c, y, 2, WEFT_FLOAT32, 1, 9, &sy, &ry), "irecv from 1");
    must(c, weft_barrier(c), "barrier");
    must(c, weft_wait(rx), "wait any");
    must(c, weft_wait(ry), "wait from 1");
    CHECK(sx == 1 && count_bad(x, 2, 1, 90) == 0, "%s posted order: the any-source receive did not get A", name);
    CHECK(sy == 1 && count_bad(y, 2, 1, 91) == 0, "%s posted order: the second receive did not get B", name);
  } else {
    must(c, weft_barrier(c), "barrier");
  }
}

/* Rank 0 sends 8 floats tag 5; rank 1 expects 6: MISMATCH. Then the pair still works. */
static void mismatch_then_more(weft_comm_t *c, const char *name) {
  int me = weft_comm_rank(c);
  float b[8];
  if (me == 0) {
    fill(b, 8, 0, 5);
    must(c, weft_send_tagged(c, b, 8, WEFT_FLOAT32, 1, 5), "send 8");
    fill(b, 8, 0, 6);
    must(c, weft_send_tagged(c, b, 8, WEFT_FLOAT32, 1, 6), "send after mismatch");
  } else if (me == 1) {
    weft_result_t r = weft_recv_tagged(c, b, 6, WEFT_FLOAT32, 0, 5, NULL);
    const char *e = weft_comm_last_error(c);
    CHECK(r == WEFT_ERR_MISMATCH, "%s mismatch: got %s, want WEFT_ERR_MISMATCH", name, code_name(r));
    CHECK(strstr(e, "tag 5") && strstr(e, "rank 0") && strstr(e, "8 x float32"),
          "%s mismatch: the error does not name tag, sender and size: %s", name, e);
    must(c, weft_recv_tagged(c, b, 8, WEFT_FLOAT32, 0, 6, NULL), "recv after mismatch");
    CHECK(count_bad(b, 8, 0, 6) == 0, "%s after mismatch: wrong data", name);
  }
}

static void bad_arguments(weft_comm_t *c, const char *name) {
  float b[1] = {0};
  weft_result_t r = weft_send_tagged(c, b, 1, WEFT_FLOAT32, 0, -3);
  CHECK(r == WEFT_ERR_INVALID_ARGUMENT && strstr(weft_comm_last_error(c), "tag -3"),
        "%s negative tag: %s (%s)", name, code_name(r), weft_comm_last_error(c));
  r = weft_send_tagged(c, b, 1, WEFT_FLOAT32, WEFT_ANY_SOURCE, 0);
  CHECK(r == WEFT_ERR_INVALID_ARGUMENT, "%s send to WEFT_ANY_SOURCE: %s", name, code_name(r));
}

static void run(weft_comm_t *c, const char *name, int in_order) {
  bad_arguments(c, name);
  if (weft_comm_size(c) < 2) return;
  if (!in_order) reversed_tags(c, name, (1u << 18) + 3);
  must(c, weft_barrier(c), "barrier");
  same_tag_in_order(c, name);
  must(c, weft_barrier(c), "barrier");
  any_source(c, name);
  must(c, weft_barrier(c), "barrier");
  posted_order(c, name);
  must(c, weft_barrier(c), "barrier");
  mismatch_then_more(c, name);
  must(c, weft_barrier(c), "barrier");
}

/* Rank 1's last message to rank 0 goes out just before its goodbye (weft_comm_destroy); rank 0
 * posts the receive only after both arrived. The message was held, so the receive must get it,
 * not fail because its sender left. Not with WEFT_P2P_BUFFER=0 (--in-order): nothing is held. */
static void message_before_goodbye(weft_comm_t *c, int in_order) {
  if (in_order || weft_comm_size(c) < 2 || wrank > 1) return;
  float msg[5];
  if (wrank == 1) {
    fill(msg, 5, 1, 77);
    must(c, weft_send_tagged(c, msg, 5, WEFT_FLOAT32, 0, 77), "send before goodbye");
    return;
  }
  usleep(500 * 1000); /* the message, then rank 1's goodbye, arrive meanwhile */
  int src = -1;
  weft_result_t r = weft_recv_tagged(c, msg, 5, WEFT_FLOAT32, 1, 77, &src);
  CHECK(r == WEFT_SUCCESS && src == 1 && count_bad(msg, 5, 1, 77) == 0,
        "a message held before its sender's goodbye: %s (%s)", code_name(r), weft_comm_last_error(c));
}

int main(int argc, char **argv) {
  int in_order = argc > 1 && strcmp(argv[1], "--in-order") == 0;
  weft_comm_t *world;
  if (weft_comm_init_env(&world) != WEFT_SUCCESS) {
    fprintf(stderr, "init failed: %s\n", weft_comm_last_error(NULL));
    return 2;
  }
  wrank = weft_comm_rank(world);
  run(world, "root", in_order);
  if (weft_comm_size(world) >= 4) {
    weft_comm_t *half = NULL;
    must(world, weft_comm_split(world, wrank % 2, -wrank, &half), "split");
    run(half, "split", in_order);
    must(half, weft_comm_destroy(half), "destroy split");
  }
  message_before_goodbye(world, in_order);
  weft_comm_destroy(world);
  if (wrong) fprintf(stderr, "rank %d: %ld of %ld checks failed\n", wrank, wrong, checked);
  else printf("rank %d: p2p_check passed (%ld checks)\n", wrank, checked);
  return wrong ? 1 : 0;
}
