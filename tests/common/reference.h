/* Deterministic inputs and a serial reference for the multi-rank tests: every rank can compute
 * every other rank's input, so each rank checks its own output without extra communication.
 *
 * Inputs are chosen so that any reduction order gives the same exact answer in every dtype:
 * small integers for float sums, powers of two for float products, full-range values for
 * integer sums (wrap-around is exact). Averages are compared with a tolerance. */
#ifndef WEFT_TESTS_REFERENCE_H
#define WEFT_TESTS_REFERENCE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "weft.h"

static inline uint64_t ref_hash(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static inline float ref_h2f(uint16_t h) {
  uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0) {
    float f = ldexpf((float)m, -24);
    return s ? -f : f;
  }
  if (e == 31) bits = s | 0x7f800000u | (m << 13);
  else bits = s | ((e + 112) << 23) | (m << 13);
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
/* Exact for the values the tests use (small integers, powers of two, quotients rounded once). */
static inline uint16_t ref_f2h(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  uint32_t s = (b >> 16) & 0x8000;
  int e = (int)((b >> 23) & 0xff) - 127 + 15;
  uint32_t m = b & 0x7fffff;
  if (((b >> 23) & 0xff) == 0xff) return (uint16_t)(s | 0x7c00 | (m ? 0x200 : 0));
  if (e >= 31) return (uint16_t)(s | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)s;
    m |= 0x800000;
    uint32_t shift = (uint32_t)(14 - e), hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (hm & 1))) hm++;
    return (uint16_t)(s | hm);
  }
  uint32_t hm = m >> 13, rem = m & 0x1fff;
  uint32_t out = s | ((uint32_t)e << 10) | hm;
  if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) out++;
  return (uint16_t)out;
}
static inline float ref_b2f(uint16_t v) {
  uint32_t bits = (uint32_t)v << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
static inline uint16_t ref_f2b(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  if ((b & 0x7fffffff) > 0x7f800000) return (uint16_t)((b >> 16) | 0x40);
  b += 0x7fff + ((b >> 16) & 1);
  return (uint16_t)(b >> 16);
}

static inline bool ref_is_float(weft_dtype_t d) { return d >= WEFT_FLOAT16; }

/* The input value of element i on rank r (as a double for floats, raw bits for integers). */
static inline double ref_float_input(weft_redop_t op, int r, size_t i, uint64_t salt) {
  uint64_t h = ref_hash(salt * 1000003u + (uint64_t)r * 7919u + i);
  if (op == WEFT_PROD) {
    static const double v[4] = {1.0, 2.0, 0.5, -1.0};
    return v[h % 4];
  }
  return (double)((int)(h % 9) - 4);
}
static inline uint64_t ref_int_input(weft_redop_t op, int r, size_t i, uint64_t salt) {
  uint64_t h = ref_hash(salt * 1000003u + (uint64_t)r * 7919u + i);
  if (op == WEFT_PROD) return (h % 3) + 1; /* 1..3: products stay interesting but wrap exactly */
  return h;
}

static inline void ref_store(void *buf, size_t i, weft_dtype_t d, double fv, uint64_t iv) {
  switch (d) {
    case WEFT_INT8: case WEFT_UINT8: ((uint8_t *)buf)[i] = (uint8_t)iv; break;
    case WEFT_INT32: case WEFT_UINT32: ((uint32_t *)buf)[i] = (uint32_t)iv; break;
    case WEFT_INT64: case WEFT_UINT64: ((uint64_t *)buf)[i] = iv; break;
    case WEFT_FLOAT16: ((uint16_t *)buf)[i] = ref_f2h((float)fv); break;
    case WEFT_BFLOAT16: ((uint16_t *)buf)[i] = ref_f2b((float)fv); break;
    case WEFT_FLOAT32: ((float *)buf)[i] = (float)fv; break;
    case WEFT_FLOAT64: ((double *)buf)[i] = fv; break;
    default: break;
  }
}

/* Fill `count` elements of rank r's input, element index offset `base` (for block layouts). */
static inline void ref_fill(void *buf, size_t count, size_t base, weft_dtype_t d, weft_redop_t op, int r, uint64_t salt) {
  for (size_t i = 0; i < count; i++)
    ref_store(buf, i, d, ref_float_input(op, r, base + i, salt), ref_int_input(op, r, base + i, salt));
}

static inline uint64_t ref_int_reduce(weft_dtype_t d, weft_redop_t op, uint64_t a, uint64_t b) {
  unsigned bits = d <= WEFT_UINT8 ? 8 : d <= WEFT_UINT32 ? 32 : 64;
  bool sign = d == WEFT_INT8 || d == WEFT_INT32 || d == WEFT_INT64;
  uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  a &= mask, b &= mask;
  if (op == WEFT_SUM || op == WEFT_AVG) return (a + b) & mask;
  if (op == WEFT_PROD) return (a * b) & mask;
  int64_t sa = (int64_t)(a << (64 - bits)) >> (64 - bits), sb = (int64_t)(b << (64 - bits)) >> (64 - bits);
  bool less = sign ? sa < sb : a < b;
  if (op == WEFT_MIN) return less ? a : b;
  return less ? b : a;
}

/* Expected element i of a reduction over ranks [0, n). */
static inline void ref_reduced(void *out, size_t oi, size_t i, weft_dtype_t d, weft_redop_t op, int n, uint64_t salt) {
  if (ref_is_float(d)) {
    double acc = ref_float_input(op, 0, i, salt);
    for (int r = 1; r < n; r++) {
      double v = ref_float_input(op, r, i, salt);
      if (op == WEFT_SUM || op == WEFT_AVG) acc += v;
      else if (op == WEFT_PROD) acc *= v;
      else if (op == WEFT_MIN) acc = v < acc ? v : acc;
      else acc = v > acc ? v : acc;
    }
    if (op == WEFT_AVG) {
      /* The library divides once, in float32 for half types: do the same. */
      if (d == WEFT_FLOAT64) acc = acc / n;
      else acc = (double)((float)acc / (float)n);
    }
    ref_store(out, oi, d, acc, 0);
    return;
  }
  uint64_t acc = ref_int_input(op, 0, i, salt);
  for (int r = 1; r < n; r++) acc = ref_int_reduce(d, op, acc, ref_int_input(op, r, i, salt));
  if (op == WEFT_AVG) {
    switch (d) {
      case WEFT_INT8: acc = (uint64_t)(int64_t)((int8_t)acc / n); break;
      case WEFT_UINT8: acc = (uint8_t)acc / (unsigned)n; break;
      case WEFT_INT32: acc = (uint64_t)(int64_t)((int32_t)acc / n); break;
      case WEFT_UINT32: acc = (uint32_t)acc / (unsigned)n; break;
      case WEFT_INT64: acc = (uint64_t)((int64_t)acc / n); break;
      default: acc = acc / (uint64_t)n; break;
    }
  }
  ref_store(out, oi, d, 0, acc);
}

/* Compares element i of two buffers; floats exactly (inputs make every order exact). */
static inline bool ref_equal(const void *a, const void *b, size_t i, weft_dtype_t d) {
  size_t es = weft_dtype_size(d);
  return memcmp((const uint8_t *)a + i * es, (const uint8_t *)b + i * es, es) == 0;
}

#endif
