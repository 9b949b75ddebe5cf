/* Unit tests for lib/algo/reduce.c.
 *
 * Every dtype x op is checked element by element against a serial reference written here
 * independently of the library: integers through exact 128-bit arithmetic reduced modulo 2^N,
 * floats through plain C with NaN handled explicitly. The half conversions are checked against
 * definitions of their own (exact value by ldexp; nearest-even as "no neighbour is closer"),
 * exhaustively over all 65536 bit patterns where that is possible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/reduce.h"

#if !defined(__SIZEOF_INT128__)
#error "test_reduce's integer reference needs __int128"
#endif

static const size_t lengths[] = {0, 1, 7, 255, 256, 257, 10007};
#define GUARD 16 /* elements of canary after every output buffer */
#define CANARY 0xA5

/* ---- deterministic random numbers (splitmix64) ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- references ------------------------------------------------------------------------- */

static size_t dsize(weft_dtype_t t) {
  switch (t) {
    case WEFT_INT8: case WEFT_UINT8: return 1;
    case WEFT_FLOAT16: case WEFT_BFLOAT16: return 2;
    case WEFT_INT32: case WEFT_UINT32: case WEFT_FLOAT32: return 4;
    default: return 8;
  }
}

static int is_int(weft_dtype_t t) { return t <= WEFT_UINT64; }

/* Names for failure messages (kept local: the test needs only lib/algo/reduce.c). */
static const char *const dtype_names[] = {"int8", "uint8", "int32", "uint32", "int64",
                                          "uint64", "float16", "bfloat16", "float32", "float64"};
static const char *const op_names[] = {"sum", "prod", "min", "max", "avg"};

static __int128 load_int(weft_dtype_t t, const void *p) {
  switch (t) {
    case WEFT_INT8: return *(const int8_t *)p;
    case WEFT_UINT8: return *(const uint8_t *)p;
    case WEFT_INT32: return *(const int32_t *)p;
    case WEFT_UINT32: return *(const uint32_t *)p;
    case WEFT_INT64: return *(const int64_t *)p;
    default: return *(const uint64_t *)p;
  }
}

/* The exact mathematical result reduced modulo 2^bits (a conversion to an unsigned type is
 * modular by definition), stored in the type's representation. */
static void store_int_mod(weft_dtype_t t, void *p, __int128 v) {
  uint64_t low = (uint64_t)(unsigned __int128)v;
  switch (dsize(t)) {
    case 1: *(uint8_t *)p = (uint8_t)low; break;
    case 4: *(uint32_t *)p = (uint32_t)low; break;
    default: *(uint64_t *)p = low; break;
  }
}

static void ref_int(weft_dtype_t t, weft_redop_t op, const void *a, const void *b, void *out) {
  __int128 x = load_int(t, a), y = load_int(t, b), r;
  switch (op) {
    /* Modulo 2^128 (uint64 * uint64 does not fit a signed __int128); only the low bits count. */
    case WEFT_PROD: r = (__int128)((unsigned __int128)x * (unsigned __int128)y); break;
    case WEFT_MIN: r = x < y ? x : y; break;
    case WEFT_MAX: r = x > y ? x : y; break;
    default: r = x + y; break;
  }
  store_int_mod(t, out, r);
}

static double ref_fop(weft_redop_t op, double x, double y) {
  switch (op) {
    case WEFT_PROD: return x * y;
    case WEFT_MIN:
      if (isnan(x) || isnan(y)) return NAN;
      return y <= x ? y : x;
    case WEFT_MAX:
      if (isnan(x) || isnan(y)) return NAN;
      return y >= x ? y : x;
    default: return x + y;
  }
}

/* Floats: the op in the type itself (float ops done in float so rounding matches). */
static float ref_f32op(weft_redop_t op, float x, float y) {
  switch (op) {
    case WEFT_PROD: return x * y;
    case WEFT_MIN: case WEFT_MAX: return (float)ref_fop(op, x, y); /* exact: picks one operand */
    default: return x + y;
  }
}

static void ref_elem(weft_dtype_t t, weft_redop_t op, const void *a, const void *b, void *out) {
  if (is_int(t)) {
    ref_int(t, op, a, b, out);
  } else if (t == WEFT_FLOAT64) {
    *(double *)out = ref_fop(op, *(const double *)a, *(const double *)b);
  } else if (t == WEFT_FLOAT32) {
    *(float *)out = ref_f32op(op, *(const float *)a, *(const float *)b);
  } else if (t == WEFT_FLOAT16) {
    float r = ref_f32op(op, weft__half_to_float(*(const uint16_t *)a),
                        weft__half_to_float(*(const uint16_t *)b));
    *(uint16_t *)out = weft__float_to_half(r);
  } else {
    float r = ref_f32op(op, weft__bf16_to_float(*(const uint16_t *)a),
                        weft__bf16_to_float(*(const uint16_t *)b));
    *(uint16_t *)out = weft__float_to_bf16(r);
  }
}

static int half_isnan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
static int bf16_isnan(uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0; }

/* Bit-exact equality, except that any NaN equals any NaN (payloads are the hardware's choice). */
static int elem_equal(weft_dtype_t t, const void *x, const void *y) {
  switch (t) {
    case WEFT_FLOAT16: {
      uint16_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;
      return half_isnan(a) || half_isnan(b) ? half_isnan(a) && half_isnan(b) : a == b;
    }
    case WEFT_BFLOAT16: {
      uint16_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;
      return bf16_isnan(a) || bf16_isnan(b) ? bf16_isnan(a) && bf16_isnan(b) : a == b;
    }
    case WEFT_FLOAT32: {
      float a = *(const float *)x, b = *(const float *)y;
      return isnan(a) || isnan(b) ? isnan(a) && isnan(b) : f2u(a) == f2u(b);
    }
    case WEFT_FLOAT64: {
      double a = *(const double *)x, b = *(const double *)y;
      return isnan(a) || isnan(b) ? isnan(a) && isnan(b) : memcmp(x, y, 8) == 0;
    }
    default: return memcmp(x, y, dsize(t)) == 0;
  }
}

/* ---- input generation ------------------------------------------------------------------- */

static void fill_random(weft_dtype_t t, weft_redop_t op, void *buf, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rng();
    unsigned special = (unsigned)(r >> 56); /* 1/16 of the elements are edge values */
    switch (t) {
      case WEFT_FLOAT32: {
        static const float edges[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -3e38f, 1.0f};
        float v = special < 16 ? edges[special % 8]
                               : (float)((double)(int32_t)r / 2147483648.0 * 100.0);
        if (op == WEFT_PROD && special >= 16) v = (float)((double)(int32_t)r / 2147483648.0 * 4.0);
        ((float *)buf)[i] = v;
        break;
      }
      case WEFT_FLOAT64: {
        static const double edges[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 5e-320, -1e308, 1.0};
        double v = special < 16 ? edges[special % 8] : (double)(int64_t)r / 9.2e18 * 1e6;
        ((double *)buf)[i] = v;
        break;
      }
      case WEFT_FLOAT16: case WEFT_BFLOAT16:
        /* Every bit pattern is fair game, NaN/Inf/subnormals included; occasionally ±0. */
        ((uint16_t *)buf)[i] = special < 8 ? (uint16_t)(special & 1 ? 0x8000 : 0) : (uint16_t)r;
        break;
      default: {
        /* Full range, with the extremes and small values mixed in for min/max and overflow. */
        uint64_t v = r;
        if (special < 8) v = special & 1 ? ~(uint64_t)0 : (uint64_t)1 << (dsize(t) * 8 - 1);
        else if (special < 16) v = (uint64_t)(int64_t)(int8_t)r; /* small, either sign */
        uint8_t *p = (uint8_t *)buf + i * dsize(t);
        switch (dsize(t)) {
          case 1: *(uint8_t *)p = (uint8_t)v; break;
          case 4: *(uint32_t *)p = (uint32_t)v; break;
          default: *(uint64_t *)p = v; break;
        }
        break;
      }
    }
  }
}

/* ---- reduce vs reference ---------------------------------------------------------------- */

enum alias_mode { ALIAS_NONE, ALIAS_A, ALIAS_B };

static void check_case(weft_dtype_t t, weft_redop_t op, size_t n, enum alias_mode alias) {
  size_t es = dsize(t);
  uint8_t *a = malloc(n * es + 1), *b = malloc(n * es + 1);
  uint8_t *dst = malloc((n + GUARD) * es);
  uint8_t *a_copy = malloc(n * es + 1), *b_copy = malloc(n * es + 1);
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(dst);
  assert_non_null(a_copy);
  assert_non_null(b_copy);
  fill_random(t, op, a, n);
  fill_random(t, op, b, n);
  memcpy(a_copy, a, n * es);
  memcpy(b_copy, b, n * es);
  memset(dst, CANARY, (n + GUARD) * es);

  switch (alias) {
    case ALIAS_NONE: weft__reduce(dst, a, b, n, t, op); break;
    case ALIAS_A:
      memcpy(dst, a, n * es);
      weft__reduce(dst, dst, b, n, t, op);
      break;
    case ALIAS_B:
      memcpy(dst, b, n * es);
      weft__reduce(dst, a, dst, n, t, op);
      break;
  }

  for (size_t i = 0; i < n; i++) {
    uint8_t want[8];
    ref_elem(t, op, a_copy + i * es, b_copy + i * es, want);
    if (!elem_equal(t, dst + i * es, want)) {
      uint64_t got = 0, exp = 0, av = 0, bv = 0;
      memcpy(&got, dst + i * es, es);
      memcpy(&exp, want, es);
      memcpy(&av, a_copy + i * es, es);
      memcpy(&bv, b_copy + i * es, es);
      fail_msg("%s %s n=%zu alias=%d i=%zu: a=%#llx b=%#llx got %#llx want %#llx",
               dtype_names[t], op_names[op], n, (int)alias, i,
               (unsigned long long)av, (unsigned long long)bv, (unsigned long long)got,
               (unsigned long long)exp);
    }
  }
  for (size_t i = n * es; i < (n + GUARD) * es; i++) assert_int_equal(dst[i], CANARY);
  /* Inputs that are not the destination are read only. */
  if (alias != ALIAS_A && n > 0) assert_memory_equal(a, a_copy, n * es);
  if (alias != ALIAS_B && n > 0) assert_memory_equal(b, b_copy, n * es);
  free(a);
  free(b);
  free(dst);
  free(a_copy);
  free(b_copy);
}

static void sweep(weft_dtype_t t) {
  rng_state = 0x5eed0000u + (uint64_t)t;
  for (int op = 0; op < WEFT_NUM_REDOPS; op++)
    for (size_t l = 0; l < WEFT__ARRAY_SIZE(lengths); l++)
      for (int alias = ALIAS_NONE; alias <= ALIAS_B; alias++)
        check_case(t, (weft_redop_t)op, lengths[l], (enum alias_mode)alias);
}

static void test_int8(void **state) { (void)state; sweep(WEFT_INT8); }
static void test_uint8(void **state) { (void)state; sweep(WEFT_UINT8); }
static void test_int32(void **state) { (void)state; sweep(WEFT_INT32); }
static void test_uint32(void **state) { (void)state; sweep(WEFT_UINT32); }
static void test_int64(void **state) { (void)state; sweep(WEFT_INT64); }
static void test_uint64(void **state) { (void)state; sweep(WEFT_UINT64); }
static void test_float16(void **state) { (void)state; sweep(WEFT_FLOAT16); }
static void test_bfloat16(void **state) { (void)state; sweep(WEFT_BFLOAT16); }
static void test_float32(void **state) { (void)state; sweep(WEFT_FLOAT32); }
static void test_float64(void **state) { (void)state; sweep(WEFT_FLOAT64); }

/* ---- hand-picked cases ------------------------------------------------------------------ */

static void test_int_overflow_wraps(void **state) {
  (void)state;
  int8_t a8[] = {INT8_MAX, INT8_MIN, INT8_MIN, 100}, b8[] = {1, -1, INT8_MIN, 3}, r8[4];
  weft__reduce(r8, a8, b8, 4, WEFT_INT8, WEFT_SUM);
  assert_int_equal(r8[0], INT8_MIN);
  assert_int_equal(r8[1], INT8_MAX);
  assert_int_equal(r8[2], 0);
  assert_int_equal(r8[3], 103);
  weft__reduce(r8, a8, b8, 4, WEFT_INT8, WEFT_PROD);
  assert_int_equal(r8[0], INT8_MAX);
  assert_int_equal(r8[1], INT8_MIN); /* -128 * -1 = 128 wraps to -128 */
  assert_int_equal(r8[2], 0);        /* 2^14 mod 2^8 */
  assert_int_equal(r8[3], 44);       /* 300 - 256 */

  uint8_t u8a[] = {255, 16}, u8b[] = {1, 16}, u8r[2];
  weft__reduce(u8r, u8a, u8b, 2, WEFT_UINT8, WEFT_SUM);
  assert_int_equal(u8r[0], 0);
  weft__reduce(u8r, u8a, u8b, 2, WEFT_UINT8, WEFT_PROD);
  assert_int_equal(u8r[0], 255);
  assert_int_equal(u8r[1], 0);

  int32_t a32[] = {INT32_MAX, INT32_MIN, 65536}, b32[] = {1, -1, 65536}, r32[3];
  weft__reduce(r32, a32, b32, 3, WEFT_INT32, WEFT_SUM);
  assert_int_equal(r32[0], INT32_MIN);
  assert_int_equal(r32[1], INT32_MAX);
  weft__reduce(r32, a32, b32, 3, WEFT_INT32, WEFT_PROD);
  assert_int_equal(r32[1], INT32_MIN);
  assert_int_equal(r32[2], 0);

  int64_t a64[] = {INT64_MAX, INT64_MIN, INT64_MIN}, b64[] = {1, -1, INT64_MIN}, r64[3];
  weft__reduce(r64, a64, b64, 3, WEFT_INT64, WEFT_AVG); /* avg reduces as sum */
  assert_true(r64[0] == INT64_MIN);
  assert_true(r64[1] == INT64_MAX);
  assert_true(r64[2] == 0);
  weft__reduce(r64, a64, b64, 3, WEFT_INT64, WEFT_PROD);
  assert_true(r64[0] == INT64_MAX);
  assert_true(r64[1] == INT64_MIN);
  assert_true(r64[2] == 0);

  uint64_t ua[] = {UINT64_MAX, UINT64_MAX}, ub[] = {1, UINT64_MAX}, ur[2];
  weft__reduce(ur, ua, ub, 2, WEFT_UINT64, WEFT_SUM);
  assert_true(ur[0] == 0);
  weft__reduce(ur, ua, ub, 2, WEFT_UINT64, WEFT_PROD);
  assert_true(ur[1] == 1);
}

static void test_float_min_max_nan(void **state) {
  (void)state;
  float a[] = {NAN, 1.0f, NAN, -0.0f, 2.0f}, b[] = {1.0f, NAN, NAN, 0.0f, -INFINITY}, r[5];
  weft__reduce(r, a, b, 5, WEFT_FLOAT32, WEFT_MIN);
  assert_true(isnan(r[0]) && isnan(r[1]) && isnan(r[2]));
  assert_true(r[3] == 0.0f && !signbit(r[3])); /* equal operands: b */
  assert_true(r[4] == -INFINITY);
  weft__reduce(r, a, b, 5, WEFT_FLOAT32, WEFT_MAX);
  assert_true(isnan(r[0]) && isnan(r[1]) && isnan(r[2]));
  assert_true(r[4] == 2.0f);

  double da[] = {NAN, 3.0}, db[] = {-1.0, NAN}, dr[2];
  weft__reduce(dr, da, db, 2, WEFT_FLOAT64, WEFT_MAX);
  assert_true(isnan(dr[0]) && isnan(dr[1]));

  uint16_t ha[] = {0x7e00, 0x3c00}, hb[] = {0x3c00, 0xfe00}, hr[2]; /* NaN, 1.0 */
  weft__reduce(hr, ha, hb, 2, WEFT_FLOAT16, WEFT_MIN);
  assert_true(half_isnan(hr[0]) && half_isnan(hr[1]));
  uint16_t ba[] = {0x7fc0, 0x3f80}, bb[] = {0x3f80, 0xffc1}; /* NaN, 1.0 */
  weft__reduce(hr, ba, bb, 2, WEFT_BFLOAT16, WEFT_MAX);
  assert_true(bf16_isnan(hr[0]) && bf16_isnan(hr[1]));
}

static void test_half_sum_rounds(void **state) {
  (void)state;
  /* 2048 + 1 = 2049 is a tie between 2048 and 2050: even mantissa is 2048 (0x6800). */
  uint16_t a[] = {0x6800, 0x6801, 0x7bff, 0x3c00}, b[] = {0x3c00, 0x3c00, 0x7bff, 0xbc00}, r[4];
  weft__reduce(r, a, b, 4, WEFT_FLOAT16, WEFT_SUM);
  assert_int_equal(r[0], 0x6800);
  assert_int_equal(r[1], 0x6802); /* 2050 + 1 = 2051, tie, rounds to 2052 */
  assert_int_equal(r[2], 0x7c00); /* 65504 * 2 overflows to +inf */
  assert_int_equal(r[3], 0x0000);
  /* bf16: 256 + 1 = 257 is a tie between 256 (0x4380) and 258 (0x4381): even is 256. */
  uint16_t ba[] = {0x4380, 0x4381}, bb[] = {0x3f80, 0x3f80};
  weft__reduce(r, ba, bb, 2, WEFT_BFLOAT16, WEFT_SUM);
  assert_int_equal(r[0], 0x4380);
  assert_int_equal(r[1], 0x4382);
}

static void test_invalid_is_ignored(void **state) {
  (void)state;
  int32_t a[] = {1, 2}, b[] = {3, 4}, r[] = {7, 7};
  weft__reduce(r, a, b, 2, WEFT_NUM_DTYPES, WEFT_SUM);
  weft__reduce(r, a, b, 2, (weft_dtype_t)-1, WEFT_SUM);
  weft__reduce(r, a, b, 2, WEFT_INT32, WEFT_NUM_REDOPS);
  weft__reduce(r, a, b, 2, WEFT_INT32, (weft_redop_t)-1);
  assert_int_equal(r[0], 7);
  assert_int_equal(r[1], 7);
  weft__reduce_finish_avg(r, 2, WEFT_NUM_DTYPES, 2);
  weft__reduce_finish_avg(r, 2, WEFT_INT32, 0);
  weft__reduce_finish_avg(r, 2, WEFT_INT32, -1);
  assert_int_equal(r[0], 7);
  assert_int_equal(r[1], 7);
  weft__reduce(NULL, NULL, NULL, 0, WEFT_FLOAT16, WEFT_SUM); /* count 0 touches nothing */
  weft__reduce_finish_avg(NULL, 0, WEFT_FLOAT16, 3);
}

/* ---- average finish --------------------------------------------------------------------- */

static void test_avg_integers(void **state) {
  (void)state;
  int8_t i8[] = {-7, 7, INT8_MIN, INT8_MAX, -1};
  weft__reduce_finish_avg(i8, 5, WEFT_INT8, 2);
  assert_int_equal(i8[0], -3); /* truncation toward zero, not floor */
  assert_int_equal(i8[1], 3);
  assert_int_equal(i8[2], -64);
  assert_int_equal(i8[3], 63);
  assert_int_equal(i8[4], 0);
  uint8_t u8[] = {255, 7};
  weft__reduce_finish_avg(u8, 2, WEFT_UINT8, 3);
  assert_int_equal(u8[0], 85);
  assert_int_equal(u8[1], 2);
  int32_t i32[] = {INT32_MIN, -10, 10};
  weft__reduce_finish_avg(i32, 3, WEFT_INT32, 3);
  assert_int_equal(i32[0], INT32_MIN / 3);
  assert_int_equal(i32[1], -3);
  assert_int_equal(i32[2], 3);
  uint32_t u32[] = {UINT32_MAX};
  weft__reduce_finish_avg(u32, 1, WEFT_UINT32, 2);
  assert_true(u32[0] == UINT32_MAX / 2);
  int64_t i64[] = {INT64_MIN, -9};
  weft__reduce_finish_avg(i64, 2, WEFT_INT64, 4);
  assert_true(i64[0] == INT64_MIN / 4);
  assert_true(i64[1] == -2);
  uint64_t u64[] = {UINT64_MAX};
  weft__reduce_finish_avg(u64, 1, WEFT_UINT64, 7);
  assert_true(u64[0] == UINT64_MAX / 7);

  /* Random sweep against C division on every integer type and several divisors. */
  rng_state = 42;
  static const weft_dtype_t types[] = {WEFT_INT8, WEFT_UINT8, WEFT_INT32,
                                       WEFT_UINT32, WEFT_INT64, WEFT_UINT64};
  for (size_t k = 0; k < WEFT__ARRAY_SIZE(types); k++) {
    weft_dtype_t t = types[k];
    for (int d = 1; d <= 9; d += 2) {
      uint8_t buf[257 * 8], orig[257 * 8];
      fill_random(t, WEFT_SUM, buf, 257);
      memcpy(orig, buf, sizeof buf);
      weft__reduce_finish_avg(buf, 257, t, d);
      for (size_t i = 0; i < 257; i++) {
        __int128 v = load_int(t, orig + i * dsize(t));
        __int128 q = v / d; /* C truncation */
        uint8_t want[8];
        store_int_mod(t, want, q);
        assert_memory_equal(buf + i * dsize(t), want, dsize(t));
      }
    }
  }
}

static void test_avg_floats(void **state) {
  (void)state;
  float f[] = {1.0f, -7.0f, 1.0f, NAN, INFINITY};
  weft__reduce_finish_avg(f, 5, WEFT_FLOAT32, 3);
  assert_true(f[0] == 1.0f / 3.0f);
  assert_true(f[1] == -7.0f / 3.0f);
  assert_true(isnan(f[3]) && f[4] == INFINITY);
  double d[] = {1.0, 10.0};
  weft__reduce_finish_avg(d, 2, WEFT_FLOAT64, 3);
  assert_true(d[0] == 1.0 / 3.0);
  assert_true(d[1] == 10.0 / 3.0);

  /* Random sweep: exact division (not multiplication by a reciprocal), bit for bit. */
  rng_state = 43;
  for (int dv = 3; dv <= 10; dv++) {
    float fs[1000], fo[1000];
    double ds[1000], dso[1000];
    fill_random(WEFT_FLOAT32, WEFT_SUM, fs, 1000);
    fill_random(WEFT_FLOAT64, WEFT_SUM, ds, 1000);
    memcpy(fo, fs, sizeof fs);
    memcpy(dso, ds, sizeof ds);
    weft__reduce_finish_avg(fs, 1000, WEFT_FLOAT32, dv);
    weft__reduce_finish_avg(ds, 1000, WEFT_FLOAT64, dv);
    for (int i = 0; i < 1000; i++) {
      float wf = fo[i] / (float)dv;
      double wd = dso[i] / dv;
      assert_true(elem_equal(WEFT_FLOAT32, &fs[i], &wf));
      assert_true(elem_equal(WEFT_FLOAT64, &ds[i], &wd));
    }
  }

  /* Half types: divided in float32, rounded once. 3/2 = 1.5 exactly. */
  uint16_t h[] = {0x4200 /* 3.0 */, 0x3c00 /* 1.0 */, 0x0001 /* 2^-24 */};
  weft__reduce_finish_avg(h, 3, WEFT_FLOAT16, 2);
  assert_int_equal(h[0], 0x3e00);
  assert_int_equal(h[1], 0x3800);
  assert_int_equal(h[2], 0x0000); /* 2^-25: tie between 0 and 2^-24, even is 0 */
  uint16_t bf[] = {0x4040 /* 3.0 */, 0x3f80 /* 1.0 */};
  weft__reduce_finish_avg(bf, 2, WEFT_BFLOAT16, 2);
  assert_int_equal(bf[0], 0x3fc0);
  assert_int_equal(bf[1], 0x3f00);

  /* Every half/bf16 pattern divided by 3 matches the float32-then-round definition. */
  static uint16_t all[65536];
  for (uint32_t i = 0; i < 65536; i++) all[i] = (uint16_t)i;
  weft__reduce_finish_avg(all, 65536, WEFT_FLOAT16, 3);
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t want = weft__float_to_half(weft__half_to_float((uint16_t)i) / 3.0f);
    assert_true(elem_equal(WEFT_FLOAT16, &all[i], &want));
  }
  for (uint32_t i = 0; i < 65536; i++) all[i] = (uint16_t)i;
  weft__reduce_finish_avg(all, 65536, WEFT_BFLOAT16, 3);
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t want = weft__float_to_bf16(weft__bf16_to_float((uint16_t)i) / 3.0f);
    assert_true(elem_equal(WEFT_BFLOAT16, &all[i], &want));
  }
}

/* ---- conversions ------------------------------------------------------------------------ */

/* The value of a half bit pattern, from the IEEE 754 definition. */
static double half_value(uint16_t h) {
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
  return h & 0x8000 ? -v : v;
}

static void test_half_to_float_exhaustive(void **state) {
  (void)state;
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t h = (uint16_t)i;
    float f = weft__half_to_float(h);
    double want = half_value(h);
    if (half_isnan(h)) {
      assert_true(isnan(f));
      assert_true(half_isnan(weft__float_to_half(f))); /* NaN stays NaN */
      continue;
    }
    if (!((double)f == want && !signbit(f) == !signbit(want)))
      fail_msg("half %#06x -> %a, want %a", (unsigned)h, (double)f, want);
    assert_int_equal(weft__float_to_half(f), h); /* round trip is the identity */
  }
  assert_true(weft__half_to_float(0x3c00) == 1.0f);
  assert_true(weft__half_to_float(0x7bff) == 65504.0f);
  assert_true(weft__half_to_float(0x0001) == 0x1p-24f);
  assert_true(weft__half_to_float(0x03ff) == 0x1.ff8p-15f); /* largest subnormal */
  assert_true(weft__half_to_float(0x0400) == 0x1p-14f);     /* smallest normal */
  assert_true(weft__half_to_float(0xfc00) == -INFINITY);
  assert_true(signbit(weft__half_to_float(0x8000)));
}

static void test_bf16_to_float_exhaustive(void **state) {
  (void)state;
  for (uint32_t i = 0; i < 65536; i++) {
    uint16_t b = (uint16_t)i;
    float f = weft__bf16_to_float(b);
    if (bf16_isnan(b)) {
      assert_true(isnan(f));
      assert_true(bf16_isnan(weft__float_to_bf16(f)));
      continue;
    }
    /* bf16 is the top half of a float32, by definition. */
    assert_int_equal(f2u(f), (uint32_t)b << 16);
    assert_int_equal(weft__float_to_bf16(f), b);
  }
  assert_true(weft__bf16_to_float(0x3f80) == 1.0f);
  assert_int_equal(weft__float_to_bf16(1.0f), 0x3f80);
  assert_int_equal(weft__float_to_bf16(-2.0f), 0xc000);
}

/* Checks that r is f rounded to nearest with ties to even in a 16-bit format whose magnitudes
 * 0..inf_bits are ordered like integers (both formats are). Overflow follows IEEE: the value
 * one ulp above the largest finite stands for Inf when measuring distances. */
static void check_nearest(float f, uint16_t r, double (*value)(uint16_t), uint16_t inf_bits,
                          const char *what) {
  assert_true(!isnan(f));
  if ((r & 0x8000) != (signbit(f) ? 0x8000 : 0))
    fail_msg("%s(%a) = %#06x: wrong sign", what, (double)f, (unsigned)r);
  uint16_t mag = r & 0x7fff;
  if (mag > inf_bits) fail_msg("%s(%a) = %#06x: NaN", what, (double)f, (unsigned)r);
  double x = fabs((double)f);
  /* Magnitude of pattern m, with Inf replaced by max + ulp. */
  double (*val)(uint16_t) = value;
  double max = val((uint16_t)(inf_bits - 1));
  double inf_as = max + (max - val((uint16_t)(inf_bits - 2)));
#define MAGV(m) ((m) == inf_bits ? inf_as : val(m))
  if (isinf(f)) {
    assert_int_equal(mag, inf_bits);
    return;
  }
  double d = fabs(MAGV(mag) - x);
  for (int s = -1; s <= 1; s += 2) {
    int nb = (int)mag + s;
    if (nb < 0 || nb > inf_bits) continue;
    double dn = fabs(MAGV((uint16_t)nb) - x);
    if (dn < d || (dn == d && (mag & 1)))
      fail_msg("%s(%a) = %#06x, but %#06x is %s", what, (double)f, (unsigned)r, (unsigned)nb,
               dn < d ? "nearer" : "as near and even");
  }
#undef MAGV
}

static double bf16_value(uint16_t b) { return (double)u2f((uint32_t)b << 16); }

static void test_float_to_half_rounding(void **state) {
  (void)state;
  /* Known values. */
  assert_int_equal(weft__float_to_half(1.0f), 0x3c00);
  assert_int_equal(weft__float_to_half(65504.0f), 0x7bff);
  assert_int_equal(weft__float_to_half(0x1p-24f), 0x0001);
  assert_int_equal(weft__float_to_half(-0.0f), 0x8000);
  assert_int_equal(weft__float_to_half(INFINITY), 0x7c00);
  assert_int_equal(weft__float_to_half(-INFINITY), 0xfc00);
  assert_true(half_isnan(weft__float_to_half(NAN)));
  assert_true(half_isnan(weft__float_to_half(u2f(0x7f800001)))); /* payload only in low bits */
  assert_true(half_isnan(weft__float_to_half(u2f(0xff800001))));
  /* Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10. */
  assert_int_equal(weft__float_to_half(1.0f + 0x1p-11f), 0x3c00);
  assert_int_equal(weft__float_to_half(1.0f + 3 * 0x1p-11f), 0x3c02);
  assert_int_equal(weft__float_to_half(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above the tie */
  /* Overflow: 65520 is the tie between 65504 and "65536" (Inf): even wins, Inf. */
  assert_int_equal(weft__float_to_half(65519.996f), 0x7bff);
  assert_int_equal(weft__float_to_half(65520.0f), 0x7c00);
  assert_int_equal(weft__float_to_half(-1e6f), 0xfc00);
  assert_int_equal(weft__float_to_half(3.4e38f), 0x7c00);
  /* Subnormals: 2^-25 ties to 0, 3 * 2^-25 ties to 2 * 2^-24; below 2^-25 flushes to zero. */
  assert_int_equal(weft__float_to_half(0x1p-25f), 0x0000);
  assert_int_equal(weft__float_to_half(0x1.8p-24f), 0x0002);
  assert_int_equal(weft__float_to_half(0x1.000002p-25f), 0x0001);
  assert_int_equal(weft__float_to_half(-0x1p-26f), 0x8000);
  assert_int_equal(weft__float_to_half(0x1.ffcp-15f), 0x0400); /* rounds up into the normals */
  assert_int_equal(weft__float_to_half(1e-45f), 0x0000);       /* float32 subnormal */

  /* Every midpoint between consecutive halves and its float neighbours, both signs. */
  for (uint32_t m = 0; m < 0x7c00; m++) {
    double lo = half_value((uint16_t)m);
    double hi = m + 1 == 0x7c00 ? 65536.0 : half_value((uint16_t)(m + 1));
    float mid = (float)((lo + hi) / 2); /* exact: needs 12 significant bits */
    float probes[] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY), (float)lo};
    for (size_t k = 0; k < 4; k++) {
      check_nearest(probes[k], weft__float_to_half(probes[k]), half_value, 0x7c00, "half");
      check_nearest(-probes[k], weft__float_to_half(-probes[k]), half_value, 0x7c00, "half");
    }
  }
  /* Random float32 bit patterns. */
  rng_state = 7;
  for (int i = 0; i < 2000000; i++) {
    float f = u2f((uint32_t)rng());
    if (isnan(f)) {
      assert_true(half_isnan(weft__float_to_half(f)));
      continue;
    }
    check_nearest(f, weft__float_to_half(f), half_value, 0x7c00, "half");
  }
#if defined(__FLT16_MAX__) && !defined(__clang__)
  /* Cross-check against the compiler's own conversion where it has one (not relied upon). */
  rng_state = 8;
  for (int i = 0; i < 1000000; i++) {
    float f = u2f((uint32_t)rng());
    if (isnan(f)) continue;
    _Float16 c = (_Float16)f;
    uint16_t cb;
    memcpy(&cb, &c, 2);
    assert_int_equal(weft__float_to_half(f), cb);
  }
#endif
}

static void test_float_to_bf16_rounding(void **state) {
  (void)state;
  assert_int_equal(weft__float_to_bf16(1.0f), 0x3f80);
  assert_int_equal(weft__float_to_bf16(INFINITY), 0x7f80);
  assert_int_equal(weft__float_to_bf16(-0.0f), 0x8000);
  assert_true(bf16_isnan(weft__float_to_bf16(NAN)));
  assert_true(bf16_isnan(weft__float_to_bf16(u2f(0x7f800001)))); /* must not become Inf */
  assert_true(bf16_isnan(weft__float_to_bf16(u2f(0xffffffff))));
  assert_int_equal(weft__float_to_bf16(u2f(0x3f808000)), 0x3f80); /* tie, even down */
  assert_int_equal(weft__float_to_bf16(u2f(0x3f818000)), 0x3f82); /* tie, even up */
  assert_int_equal(weft__float_to_bf16(u2f(0x3f808001)), 0x3f81);
  assert_int_equal(weft__float_to_bf16(u2f(0x7f7fffff)), 0x7f80); /* FLT_MAX overflows */
  assert_int_equal(weft__float_to_bf16(u2f(0x7f7f7fff)), 0x7f7f);
  assert_int_equal(weft__float_to_bf16(u2f(0x00008000)), 0x0000); /* subnormal tie to even */
  assert_int_equal(weft__float_to_bf16(u2f(0x00018000)), 0x0002);

  rng_state = 9;
  for (int i = 0; i < 2000000; i++) {
    float f = u2f((uint32_t)rng());
    if (isnan(f)) {
      assert_true(bf16_isnan(weft__float_to_bf16(f)));
      continue;
    }
    check_nearest(f, weft__float_to_bf16(f), bf16_value, 0x7f80, "bf16");
  }
  /* Every float whose low half is a tie or next to one, for every bf16 pattern. */
  for (uint32_t b = 0; b < 0x7f80; b++) {
    static const uint32_t lows[] = {0x7fff, 0x8000, 0x8001, 0x0000};
    for (size_t k = 0; k < 4; k++) {
      float f = u2f((b << 16) | lows[k]);
      check_nearest(f, weft__float_to_bf16(f), bf16_value, 0x7f80, "bf16");
      check_nearest(-f, weft__float_to_bf16(-f), bf16_value, 0x7f80, "bf16");
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_int8),
      cmocka_unit_test(test_uint8),
      cmocka_unit_test(test_int32),
      cmocka_unit_test(test_uint32),
      cmocka_unit_test(test_int64),
      cmocka_unit_test(test_uint64),
      cmocka_unit_test(test_float16),
      cmocka_unit_test(test_bfloat16),
      cmocka_unit_test(test_float32),
      cmocka_unit_test(test_float64),
      cmocka_unit_test(test_int_overflow_wraps),
      cmocka_unit_test(test_float_min_max_nan),
      cmocka_unit_test(test_half_sum_rounds),
      cmocka_unit_test(test_invalid_is_ignored),
      cmocka_unit_test(test_avg_integers),
      cmocka_unit_test(test_avg_floats),
      cmocka_unit_test(test_half_to_float_exhaustive),
      cmocka_unit_test(test_bf16_to_float_exhaustive),
      cmocka_unit_test(test_float_to_half_rounding),
      cmocka_unit_test(test_float_to_bf16_rounding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
