/* The step kinds and their exact answers (see chaos_expect.h). */
#include "chaos_expect.h"

#include <stdio.h>
#include <string.h>

static const chaos_kind_t KINDS[CHAOS_KINDS] = {
    {CHAOS_ALLREDUCE, WEFT_FLOAT32, WEFT_SUM, 4, false, "allreduce f32x4"},
    {CHAOS_ALLGATHER, WEFT_INT32, WEFT_SUM, 300, false, "allgather i32x300"},
    {CHAOS_ALLREDUCE, WEFT_FLOAT32, WEFT_SUM, 40000, false, "allreduce f32x40000"},
    {CHAOS_BROADCAST, WEFT_FLOAT64, WEFT_SUM, 3000, true, "broadcast f64x3000"},
    {CHAOS_ALLREDUCE, WEFT_FLOAT64, WEFT_SUM, 20000, true, "allreduce f64x20000"},
    {CHAOS_ALLREDUCE, WEFT_INT32, WEFT_MAX, 1000, true, "allreduce max i32x1000"},
};

const chaos_kind_t *chaos_kind(int64_t step) { return &KINDS[step % CHAOS_KINDS]; }

int chaos_root(int64_t step, int n) { return (int)(step % n); }

/* An integer in [0, 4096) for (step, id, element); element 0 of a SUM is 2^id instead. */
static uint32_t gen(int id, int64_t s, size_t i) {
  uint32_t h = (uint32_t)s * 2654435761u ^ (uint32_t)id * 40503u ^ (uint32_t)i * 2246822519u;
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return h % 4096u;
}

static double value(const chaos_kind_t *k, int id, int64_t s, size_t i) {
  if (k->coll == CHAOS_ALLREDUCE && k->op == WEFT_SUM && i == 0) return (double)(1u << id);
  return (double)gen(id, s, i);
}

static void put(weft_dtype_t t, void *buf, size_t i, double v) {
  if (t == WEFT_FLOAT32) ((float *)buf)[i] = (float)v;
  else if (t == WEFT_FLOAT64) ((double *)buf)[i] = v;
  else ((int32_t *)buf)[i] = (int32_t)v;
}

static double get(weft_dtype_t t, const void *buf, size_t i) {
  if (t == WEFT_FLOAT32) return ((const float *)buf)[i];
  if (t == WEFT_FLOAT64) return ((const double *)buf)[i];
  return ((const int32_t *)buf)[i];
}

void chaos_fill(const chaos_kind_t *k, int id, int64_t step, void *buf) {
  for (size_t i = 0; i < k->count; i++) put(k->dtype, buf, i, value(k, id, step, i));
}

size_t chaos_expect(const chaos_kind_t *k, const int *ids, int n, int64_t step, void *out) {
  switch (k->coll) {
  case CHAOS_ALLGATHER:
    for (int m = 0; m < n; m++)
      for (size_t i = 0; i < k->count; i++)
        put(k->dtype, out, (size_t)m * k->count + i, value(k, ids[m], step, i));
    return (size_t)n * k->count;
  case CHAOS_BROADCAST:
    chaos_fill(k, ids[chaos_root(step, n)], step, out);
    return k->count;
  case CHAOS_ALLREDUCE:
    for (size_t i = 0; i < k->count; i++) {
      double acc = value(k, ids[0], step, i);
      for (int m = 1; m < n; m++) {
        double v = value(k, ids[m], step, i);
        acc = k->op == WEFT_MAX ? (v > acc ? v : acc) : acc + v;
      }
      put(k->dtype, out, i, acc);
    }
    return k->count;
  }
  return 0;
}

long chaos_first_diff(const chaos_kind_t *k, const void *got, const void *want, size_t count,
                      char *what, size_t len) {
  size_t esz = weft_dtype_size(k->dtype);
  if (memcmp(got, want, count * esz) == 0) return -1;
  size_t i = 0;
  while (i < count && !memcmp((const char *)got + i * esz, (const char *)want + i * esz, esz)) i++;
  snprintf(what, len, "element %zu: got %.1f expected %.1f", i, get(k->dtype, got, i),
           get(k->dtype, want, i));
  return (long)i;
}
