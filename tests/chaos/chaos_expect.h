/* What every step of tests/chaos/chaos_worker computes, and the exact answer it must get.
 *
 * A process's identity is its launcher rank (WEFT_RANK, kept across restarts): after every epoch
 * change the members allgather their identities, so each knows who takes part. Every value a
 * process contributes is a pure function of (step, identity, element), and every value and every
 * partial sum is an integer below 2^24: float32 and float64 sums are exact in any order, so a
 * result is compared bit for bit with the one computed from the member list.
 *
 * Steps cycle through CHAOS_KINDS kinds so that both algorithms (tree for small, ring for large),
 * in-place and out-of-place calls, and three collectives (allreduce SUM/MAX, allgather, broadcast
 * from a rotating root) all run under faults. Element 0 of a SUM is 2^id: the sum is the bitmask
 * of who contributed, which names a missing or doubled contribution at once. */
#ifndef WEFT_TESTS_CHAOS_EXPECT_H
#define WEFT_TESTS_CHAOS_EXPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weft.h>

#define CHAOS_MAX_IDS 24 /* 2^id must stay exact in float32 */
#define CHAOS_MAX_BYTES (20000 * 8) /* the largest buffer any kind needs (f32x40000, f64x20000) */
#define CHAOS_KINDS 6

typedef enum { CHAOS_ALLREDUCE, CHAOS_ALLGATHER, CHAOS_BROADCAST } chaos_coll_t;

typedef struct {
  chaos_coll_t coll;
  weft_dtype_t dtype;
  weft_redop_t op;   /* allreduce only */
  size_t count;      /* per rank for allgather */
  bool in_place;
  const char *name;  /* for the log */
} chaos_kind_t;

const chaos_kind_t *chaos_kind(int64_t step);

/* Fills this process's input for the step (root = the broadcast's root rank in the epoch). */
void chaos_fill(const chaos_kind_t *k, int id, int64_t step, void *buf);

/* The exact result, from the ids of the epoch's members in rank order; recv_count: elements. */
size_t chaos_expect(const chaos_kind_t *k, const int *ids, int n, int64_t step, void *out);

/* The broadcast root of a step in an epoch of n. */
int chaos_root(int64_t step, int n);

/* The first element where got and want differ, or -1; the values as text for the log. */
long chaos_first_diff(const chaos_kind_t *k, const void *got, const void *want, size_t count,
                      char *what, size_t len);

#endif
