/* One rank of the sub-communicator sweep (weft_comm_split, weft_comm_create_group): the
 * collectives on children of every shape, checked element by element against values each rank
 * computes for itself from the child's membership. Run under weftrun:
 *   weftrun -n N group_check
 * Shapes: split by parity (keys reversed: child rank order differs from the parent's), a group
 * that excludes rank 0, a group of one per rank (split with color = rank), the overlapping ring
 * of pairs {i, i+1 mod N} made with create_group and driven in cyclic issue orders (rank r issues
 * on its right pair first when r is even, on its left pair first when odd: one shared in-order
 * queue would deadlock), WEFT_SPLIT_NOCOLOR, argument errors, and destroying a parent before its
 * child. Exit status 0 only if every check passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static int wrank, wsize;
#include "../common/check.h"

/* Element i of the input of the member whose parent-world rank is w: small integers, so float
 * sums are exact in any order. */
static double input(int w, size_t i) { return (double)(w + 1) * 3 + (double)(i % 11); }

/* members[k]: world rank of child rank k. */
static void sweep(weft_comm_t *c, const int *members, const char *name, size_t big) {
  if (getenv("GROUP_CHECK_VERBOSE")) fprintf(stderr, "rank %d: sweep %s\n", wrank, name);
  int n = weft_comm_size(c), me = weft_comm_rank(c);
  size_t counts[] = {0, 1, 13, 1000, big};
  for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
    size_t count = counts[ci];
    float *send = malloc((count * (size_t)n + 1) * sizeof *send);
    float *recv = malloc((count * (size_t)n + 1) * sizeof *recv);
    for (size_t i = 0; i < count * (size_t)n; i++) send[i] = (float)input(wrank, i);

    /* allreduce, out of place and in place */
    must(c, weft_allreduce(c, send, recv, count, WEFT_FLOAT32, WEFT_SUM), "allreduce");
    long bad = 0;
    for (size_t i = 0; i < count; i++) {
      double want = 0;
      for (int k = 0; k < n; k++) want += input(members[k], i);
      bad += recv[i] != (float)want;
    }
    CHECK(bad == 0, "%s allreduce count %zu: %ld bad", name, count, bad);
    memcpy(recv, send, count * sizeof *recv);
    must(c, weft_allreduce(c, recv, recv, count, WEFT_FLOAT32, WEFT_MAX), "allreduce in place");
    bad = 0;
    for (size_t i = 0; i < count; i++) {
      double want = -1;
      for (int k = 0; k < n; k++) want = input(members[k], i) > want ? input(members[k], i) : want;
      bad += recv[i] != (float)want;
    }
    CHECK(bad == 0, "%s allreduce max in place count %zu: %ld bad", name, count, bad);

    /* allgather: block k is child rank k's input */
    must(c, weft_allgather(c, send, recv, count, WEFT_FLOAT32), "allgather");
    bad = 0;
    for (int k = 0; k < n; k++)
      for (size_t i = 0; i < count; i++) bad += recv[(size_t)k * count + i] != (float)input(members[k], i);
    CHECK(bad == 0, "%s allgather count %zu: %ld bad", name, count, bad);

    /* reduce_scatter: this rank gets the sum of everyone's block `me` */
    must(c, weft_reduce_scatter(c, send, recv, count, WEFT_FLOAT32, WEFT_SUM), "reduce_scatter");
    bad = 0;
    for (size_t i = 0; i < count; i++) {
      double want = 0;
      for (int k = 0; k < n; k++) want += input(members[k], (size_t)me * count + i);
      bad += recv[i] != (float)want;
    }
    CHECK(bad == 0, "%s reduce_scatter count %zu: %ld bad", name, count, bad);

    /* broadcast and reduce from every root */
    for (int root = 0; root < n && count <= 1000; root++) {
      for (size_t i = 0; i < count; i++) recv[i] = me == root ? send[i] : -1.0f;
      must(c, weft_broadcast(c, recv, recv, count, WEFT_FLOAT32, root), "broadcast");
      bad = 0;
      for (size_t i = 0; i < count; i++) bad += recv[i] != (float)input(members[root], i);
      CHECK(bad == 0, "%s broadcast root %d count %zu: %ld bad", name, root, count, bad);
      must(c, weft_reduce(c, send, recv, count, WEFT_FLOAT32, WEFT_SUM, root), "reduce");
      bad = 0;
      for (size_t i = 0; i < count && me == root; i++) {
        double want = 0;
        for (int k = 0; k < n; k++) want += input(members[k], i);
        bad += recv[i] != (float)want;
      }
      CHECK(bad == 0, "%s reduce root %d count %zu: %ld bad", name, root, count, bad);
    }
    /* point to point around the child's ring */
    if (n > 1) {
      weft_request_t *rq;
      must(c, weft_irecv(c, recv, count, WEFT_FLOAT32, (me + n - 1) % n, &rq), "irecv");
      must(c, weft_send(c, send, count, WEFT_FLOAT32, (me + 1) % n), "send");
      must(c, weft_wait(rq), "wait recv");
      bad = 0;
      for (size_t i = 0; i < count; i++) bad += recv[i] != (float)input(members[(me + n - 1) % n], i);
      CHECK(bad == 0, "%s send/recv count %zu: %ld bad", name, count, bad);
    }
    free(send);
    free(recv);
  }
  must(c, weft_barrier(c), "barrier");
}

/* The parity split with keys reversed: child ranks run opposite to parent ranks. */
static void check_split(weft_comm_t *world) {
  weft_comm_t *c = NULL;
  must(world, weft_comm_split(world, wrank % 2, -wrank, &c), "weft_comm_split");
  int members[64], n = 0;
  for (int w = wsize - 1; w >= 0; w--)
    if (w % 2 == wrank % 2) members[n++] = w;
  CHECK(c && weft_comm_size(c) == n, "split size %d, expected %d", c ? weft_comm_size(c) : -1, n);
  CHECK(c && members[weft_comm_rank(c)] == wrank, "split rank %d is not this rank's place", weft_comm_rank(c));
  CHECK(weft_comm_id(c) != 0 && weft_comm_epoch(c) == weft_comm_epoch(world), "split id/epoch");
  sweep(c, members, "split-parity", 300001);
  /* The parent works alongside the child, interleaved. */
  float x = 1.0f, y = 0.0f;
  must(world, weft_allreduce(world, &x, &y, 1, WEFT_FLOAT32, WEFT_SUM), "parent allreduce");
  CHECK(y == (float)wsize, "parent allreduce after split: %g", (double)y);
  /* A split of the child: grandchildren of one. */
  weft_comm_t *g = NULL;
  must(c, weft_comm_split(c, weft_comm_rank(c), 0, &g), "split of a child");
  int self[1] = {wrank};
  CHECK(g && weft_comm_size(g) == 1, "grandchild size");
  sweep(g, self, "grandchild-of-one", 1000);
  must(g, weft_comm_destroy(g), "destroy grandchild");
  must(c, weft_comm_destroy(c), "destroy split");
}

static void check_exclude_rank0(weft_comm_t *world) {
  if (wsize < 2) return;
  int ranks[64], n = 0;
  for (int w = 1; w < wsize; w++) ranks[n++] = w;
  /* NOCOLOR on rank 0 through split, and the same group through create_group. */
  weft_comm_t *c = NULL;
  must(world, weft_comm_split(world, wrank == 0 ? WEFT_SPLIT_NOCOLOR : 7, wrank, &c), "split nocolor");
  CHECK((wrank == 0) == (c == NULL), "NOCOLOR gives NULL exactly on rank 0");
  if (c) {
    sweep(c, ranks, "split-without-rank0", 1000);
    weft_comm_destroy(c);
  }
  if (wrank == 0) return;
  weft_comm_t *g = NULL;
  must(world, weft_comm_create_group(world, n, ranks, 42, &g), "create_group without rank 0");
  CHECK(weft_comm_rank(g) == wrank - 1, "create_group rank");
  sweep(g, ranks, "group-without-rank0", 70001);
  weft_comm_destroy(g);
}

/* Pairs {i, i+1} around the ring, each made by create_group, then collectives issued on this
 * rank's two pairs in opposite orders on neighbouring ranks. */
static void check_overlapping_cyclic(weft_comm_t *world) {
  if (wsize < 3) return;
  int left = (wrank + wsize - 1) % wsize, right = (wrank + 1) % wsize;
  int lpair[2] = {left, wrank}, rpair[2] = {wrank, right};
  if (left > wrank) lpair[0] = wrank, lpair[1] = left;  /* pairs list ranks ascending */
  if (right < wrank) rpair[0] = right, rpair[1] = wrank;
  /* Pair i = {i, i+1 mod n}; every rank makes its two in pair index order. */
  int li = left, ri = wrank; /* pair index of each */
  weft_comm_t *lc = NULL, *rc = NULL;
  if (li < ri) {
    must(world, weft_comm_create_group(world, 2, lpair, (uint64_t)li, &lc), "create left pair");
    must(world, weft_comm_create_group(world, 2, rpair, (uint64_t)ri, &rc), "create right pair");
  } else {
    must(world, weft_comm_create_group(world, 2, rpair, (uint64_t)ri, &rc), "create right pair");
    must(world, weft_comm_create_group(world, 2, lpair, (uint64_t)li, &lc), "create left pair");
  }
  for (int iter = 0; iter < 20; iter++) {
    size_t count = iter % 2 ? 100000 : 7;
    float *a = malloc(count * sizeof *a), *ra = malloc(count * sizeof *ra);
    float *b = malloc(count * sizeof *b), *rb = malloc(count * sizeof *rb);
    for (size_t i = 0; i < count; i++) a[i] = b[i] = (float)input(wrank, i);
    weft_request_t *q1, *q2;
    weft_comm_t *first = wrank % 2 ? lc : rc, *second = wrank % 2 ? rc : lc;
    float *o1 = first == lc ? ra : rb, *o2 = first == lc ? rb : ra;
    must(first, weft_iallreduce(first, first == lc ? a : b, o1, count, WEFT_FLOAT32, WEFT_SUM, &q1), "iallreduce 1");
    must(second, weft_iallreduce(second, second == lc ? a : b, o2, count, WEFT_FLOAT32, WEFT_SUM, &q2), "iallreduce 2");
    must(second, weft_wait(q2), "wait 2");
    must(first, weft_wait(q1), "wait 1");
    long bad = 0;
    for (size_t i = 0; i < count; i++) {
      bad += ra[i] != (float)(input(left, i) + input(wrank, i));
      bad += rb[i] != (float)(input(right, i) + input(wrank, i));
    }
    CHECK(bad == 0, "overlapping pairs iter %d count %zu: %ld bad", iter, count, bad);
    free(a), free(ra), free(b), free(rb);
  }
  /* Blocking calls, unlike the non-blocking ones above, must follow one order (as in MPI): pair
   * index order, as for creation. */
  if (li < ri) {
    sweep(lc, lpair, "left-pair", 1000);
    sweep(rc, rpair, "right-pair", 1000);
  } else {
    sweep(rc, rpair, "right-pair", 1000);
    sweep(lc, lpair, "left-pair", 1000);
  }
  weft_comm_destroy(lc);
  weft_comm_destroy(rc);
}

static void check_errors(weft_comm_t *world) {
  weft_comm_t *c = (weft_comm_t *)1;
  int bad_ranks[2] = {wrank, wsize};
  CHECK(weft_comm_create_group(world, 1, &bad_ranks[1], 0, &c) == WEFT_ERR_INVALID_ARGUMENT &&
            strstr(weft_comm_last_error(world), "ranks[0]") && c == NULL,
        "create_group with an out-of-range rank: %s", weft_comm_last_error(world));
  int dup[2] = {wrank, wrank};
  CHECK(wsize < 2 || (weft_comm_create_group(world, 2, dup, 0, &c) == WEFT_ERR_INVALID_ARGUMENT &&
                      strstr(weft_comm_last_error(world), "twice")),
        "create_group with a duplicate: %s", weft_comm_last_error(world));
  int other = (wrank + 1) % wsize;
  CHECK(wsize < 2 || (weft_comm_create_group(world, 1, &other, 0, &c) == WEFT_ERR_INVALID_ARGUMENT &&
                      strstr(weft_comm_last_error(world), "not in ranks")),
        "create_group without this rank: %s", weft_comm_last_error(world));
  CHECK(weft_comm_create_group(world, 0, bad_ranks, 0, &c) == WEFT_ERR_INVALID_ARGUMENT, "nranks 0");
  CHECK(weft_comm_split(world, -5, 0, &c) == WEFT_ERR_INVALID_ARGUMENT &&
            strstr(weft_comm_last_error(world), "color"),
        "split with a negative color: %s", weft_comm_last_error(world));
  CHECK(weft_comm_split(world, 0, 0, NULL) == WEFT_ERR_INVALID_ARGUMENT, "split with child NULL");
  CHECK(weft_comm_split(NULL, 0, 0, &c) == WEFT_ERR_INVALID_ARGUMENT, "split with parent NULL");
  weft_recover_info_t info;
  weft_comm_t *one = NULL;
  must(world, weft_comm_split(world, wrank, 0, &one), "split into groups of one");
  CHECK(weft_comm_recover(one, &info) == WEFT_ERR_INVALID_USAGE && strstr(weft_comm_last_error(one), "root"),
        "recover on a child: %s", weft_comm_last_error(one));
  weft_comm_destroy(one);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  weft_comm_t *world;
  if (weft_comm_init_env(&world) != WEFT_SUCCESS) {
    fprintf(stderr, "init failed: %s\n", weft_comm_last_error(NULL));
    return 2;
  }
  wrank = weft_comm_rank(world);
  wsize = weft_comm_size(world);
  if (wsize > 64) return 2;
  check_split(world);
  check_exclude_rank0(world);
  check_overlapping_cyclic(world);
  check_errors(world);
  /* A child outlives its parent: destroy the root first, keep using the child. */
  weft_comm_t *all = NULL;
  must(world, weft_comm_split(world, 0, wrank, &all), "split of everyone");
  weft_comm_destroy(world);
  int members[64];
  for (int w = 0; w < wsize; w++) members[w] = w;
  sweep(all, members, "child-after-root-destroyed", 1000);
  weft_comm_destroy(all);
  printf("rank %d: %ld checks, %ld wrong\n", wrank, checked, wrong);
  return wrong ? 1 : 0;
}
