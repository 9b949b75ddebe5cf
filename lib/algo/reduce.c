/* Element-wise reductions (contract in lib/algo/reduce.h).
 *
 * Every (dtype, op) pair gets its own loop, stamped out by a macro, so the inner loop has no
 * switch and the compiler can vectorise it; weft__reduce picks the loop once per call from a
 * table. Integer sum and product are computed in the unsigned type of the same width, which wraps
 * modulo 2^N by definition (signed overflow would be undefined behaviour), then converted back
 * (GCC and clang define that conversion as modular). float16 and bfloat16 go through a float32
 * stack block: widen a block of both inputs, run the float32 loop on it, narrow it back. Both
 * inputs are fully read before the block is written, which keeps exact aliasing (dst == a or
 * dst == b) correct. No pointer is restrict-qualified for the same reason.
 *
 * The half conversions are written without branches on the element (selects only) so that the
 * block loops vectorise too; they assume the default floating-point rounding mode (to nearest
 * even) and IEEE binary32 floats without excess precision. */
#include "algo/reduce.h"

#include <string.h>

/* Elements per float32 block for the half types: 2 KiB of stack per input, small enough for any
 * thread stack, large enough that the conversion and reduction loops run at vector speed. */
#define REDUCE_BLOCK 256

static inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- float16 (IEEE binary16) and bfloat16 conversions ---------------------------------- */

/* cond ? x : y as bit masks: GCC keeps a plain ?: next to float arithmetic as a branch (the
 * float operation could trap), which stops the conversion loops from vectorising. */
static inline uint32_t select_u32(bool cond, uint32_t x, uint32_t y) {
  uint32_t mask = 0u - (uint32_t)cond;
  return (x & mask) | (y & ~mask);
}

static inline float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = h & 0x7c00u;
  uint32_t mant = h & 0x03ffu;
  /* Normal: rebias the exponent (15 -> 127) and widen the mantissa; exact. */
  uint32_t normal = ((uint32_t)(h & 0x7fffu) << 13) + ((uint32_t)(127 - 15) << 23);
  /* Inf/NaN: exponent all ones, mantissa (NaN payload, quiet bit included) carried over. */
  uint32_t special = 0x7f800000u | (mant << 13);
  /* Zero/subnormal: mant * 2^-24 is exact in float32 (mant < 2^10). */
  uint32_t sub = float_bits((float)mant * 0x1p-24f);
  uint32_t mag = select_u32(exp == 0x7c00u, special, normal);
  mag = select_u32(exp == 0, sub, mag);
  return bits_float(sign | mag);
}

static inline uint16_t float_to_half(float f) {
  uint32_t u = float_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  /* |f| >= 65536 (and Inf/NaN): Inf, or a quiet NaN keeping the payload's top bits. The range
   * [65520, 65536) rounds to Inf through the normal path below. */
  uint32_t big = u > 0x7f800000u ? (0x7e00u | ((u >> 13) & 0x3ffu)) : 0x7c00u;
  /* |f| < 2^-14 (half subnormal or zero): adding 0.5f, whose ulp is 2^-24 = one half subnormal
   * step, lets the FPU round |f| to that step with ties to even; the surplus is the result. */
  uint32_t sub = float_bits(bits_float(u) + 0.5f) - 0x3f000000u;
  /* Normal: rebias the exponent, then round the 13 dropped bits to nearest even; a carry out of
   * the mantissa correctly bumps the exponent (up to Inf). Wraps harmlessly when not selected. */
  uint32_t mant_odd = (u >> 13) & 1u;
  uint32_t normal = (u - ((uint32_t)(127 - 15) << 23) + 0xfffu + mant_odd) >> 13;
  uint32_t mag = select_u32(u >= ((uint32_t)(127 + 16) << 23), big, normal);
  mag = select_u32(u < ((uint32_t)(127 - 14) << 23), sub, mag);
  return (uint16_t)(sign | mag);
}

static inline float bf16_to_float(uint16_t b) {
  return bits_float((uint32_t)b << 16);
}

static inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  /* NaN: truncate and force the quiet bit, so a payload living only in the low bits cannot turn
   * the NaN into Inf. Otherwise round the low 16 bits to nearest even (carry may give Inf). */
  uint32_t nan = (u >> 16) | 0x40u;
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (uint16_t)select_u32((u & 0x7fffffffu) > 0x7f800000u, nan, rounded);
}

float weft__half_to_float(uint16_t h) { return half_to_float(h); }
uint16_t weft__float_to_half(float f) { return float_to_half(f); }
float weft__bf16_to_float(uint16_t b) { return bf16_to_float(b); }
uint16_t weft__float_to_bf16(float f) { return float_to_bf16(f); }

/* ---- element operations ----------------------------------------------------------------- */

/* U is the unsigned type of T's width: the arithmetic wraps without undefined behaviour. For
 * 8-bit types the operands promote to int, where neither the sum nor the product can overflow. */
#define INT_SUM(T, U, x, y) ((T)((U)(x) + (U)(y)))
#define INT_PROD(T, U, x, y) ((T)((U)(x) * (U)(y)))
#define ANY_MIN(T, U, x, y) ((x) < (y) ? (x) : (y))
#define ANY_MAX(T, U, x, y) ((x) > (y) ? (x) : (y))
#define FLT_SUM(T, U, x, y) ((x) + (y))
#define FLT_PROD(T, U, x, y) ((x) * (y))
/* NaN propagates (as in NCCL and PyTorch): a NaN operand gives a NaN, a's if both are NaN;
 * otherwise the smaller/larger, and b when they compare equal (e.g. -0.0 and +0.0). */
#define FLT_MIN(T, U, x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) < (y) ? (x) : (y))
#define FLT_MAX(T, U, x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) > (y) ? (x) : (y))

typedef void (*reduce_fn)(void *dst, const void *a, const void *b, size_t count);

#define DEFINE_LOOP(name, T, U, OP)                                        \
  static void name(void *dst_, const void *a_, const void *b_, size_t n) { \
    T *dst = dst_;                                                         \
    const T *a = a_;                                                       \
    const T *b = b_;                                                       \
    for (size_t i = 0; i < n; i++) {                                       \
      T x = a[i];                                                          \
      T y = b[i];                                                          \
      dst[i] = OP(T, U, x, y);                                             \
    }                                                                      \
  }

/* Widen a block of a and b to float32, reduce with the float32 loop, narrow into dst. */
#define DEFINE_HALF_LOOP(name, TO_FLOAT, FROM_FLOAT, F32_LOOP)                        \
  static void name(void *dst_, const void *a_, const void *b_, size_t n) {            \
    uint16_t *dst = dst_;                                                             \
    const uint16_t *a = a_;                                                           \
    const uint16_t *b = b_;                                                           \
    float fa[REDUCE_BLOCK];                                                     \
    float fb[REDUCE_BLOCK];                                                     \
    for (size_t off = 0; off < n; off += REDUCE_BLOCK) {                        \
      size_t m = WEFT__MIN((size_t)REDUCE_BLOCK, n - off);                      \
      for (size_t i = 0; i < m; i++) fa[i] = TO_FLOAT(a[off + i]);                    \
      for (size_t i = 0; i < m; i++) fb[i] = TO_FLOAT(b[off + i]);                    \
      F32_LOOP(fa, fa, fb, m);                                                        \
      for (size_t i = 0; i < m; i++) dst[off + i] = FROM_FLOAT(fa[i]);                \
    }                                                                                 \
  }

/* One set of sum/prod/min/max loops per dtype. */
#define DEFINE_INT_LOOPS(tag, T, U)            \
  DEFINE_LOOP(tag##_sum, T, U, INT_SUM)        \
  DEFINE_LOOP(tag##_prod, T, U, INT_PROD)      \
  DEFINE_LOOP(tag##_min, T, U, ANY_MIN)        \
  DEFINE_LOOP(tag##_max, T, U, ANY_MAX)
#define DEFINE_FLT_LOOPS(tag, T)               \
  DEFINE_LOOP(tag##_sum, T, T, FLT_SUM)        \
  DEFINE_LOOP(tag##_prod, T, T, FLT_PROD)      \
  DEFINE_LOOP(tag##_min, T, T, FLT_MIN)        \
  DEFINE_LOOP(tag##_max, T, T, FLT_MAX)
#define DEFINE_HALF_LOOPS(tag, TO, FROM)             \
  DEFINE_HALF_LOOP(tag##_sum, TO, FROM, f32_sum)     \
  DEFINE_HALF_LOOP(tag##_prod, TO, FROM, f32_prod)   \
  DEFINE_HALF_LOOP(tag##_min, TO, FROM, f32_min)     \
  DEFINE_HALF_LOOP(tag##_max, TO, FROM, f32_max)

DEFINE_INT_LOOPS(i8, int8_t, uint8_t)
DEFINE_INT_LOOPS(u8, uint8_t, uint8_t)
DEFINE_INT_LOOPS(i32, int32_t, uint32_t)
DEFINE_INT_LOOPS(u32, uint32_t, uint32_t)
DEFINE_INT_LOOPS(i64, int64_t, uint64_t)
DEFINE_INT_LOOPS(u64, uint64_t, uint64_t)
DEFINE_FLT_LOOPS(f32, float)
DEFINE_FLT_LOOPS(f64, double)
DEFINE_HALF_LOOPS(f16, half_to_float, float_to_half)
DEFINE_HALF_LOOPS(bf16, bf16_to_float, float_to_bf16)

#define LOOP_ROW(tag) {tag##_sum, tag##_prod, tag##_min, tag##_max, tag##_sum /* avg */}

static const reduce_fn reduce_table[WEFT_NUM_DTYPES][WEFT_NUM_REDOPS] = {
    [WEFT_INT8] = LOOP_ROW(i8),      [WEFT_UINT8] = LOOP_ROW(u8),
    [WEFT_INT32] = LOOP_ROW(i32),    [WEFT_UINT32] = LOOP_ROW(u32),
    [WEFT_INT64] = LOOP_ROW(i64),    [WEFT_UINT64] = LOOP_ROW(u64),
    [WEFT_FLOAT16] = LOOP_ROW(f16),  [WEFT_BFLOAT16] = LOOP_ROW(bf16),
    [WEFT_FLOAT32] = LOOP_ROW(f32),  [WEFT_FLOAT64] = LOOP_ROW(f64),
};
_Static_assert(WEFT_SUM == 0 && WEFT_PROD == 1 && WEFT_MIN == 2 && WEFT_MAX == 3 && WEFT_AVG == 4,
               "LOOP_ROW lists the loops in weft_redop_t order");

void weft__reduce(void *dst, const void *a, const void *b, size_t count, weft_dtype_t dtype,
                  weft_redop_t op) {
  /* Unsigned compares also reject negative values forced into the enums. */
  if ((unsigned)dtype >= WEFT_NUM_DTYPES || (unsigned)op >= WEFT_NUM_REDOPS) return;
  reduce_table[dtype][op](dst, a, b, count);
}

/* ---- average ---------------------------------------------------------------------------- */

/* The divisor is > 0, so C's truncating division cannot overflow (no INT_MIN / -1). For 8-bit
 * types the element promotes to int; for the unsigned types the divisor converts to unsigned. */
#define DEFINE_DIV_LOOP(name, T, DT)                                 \
  static void name(void *buf_, size_t n, int divisor) {              \
    T *buf = buf_;                                                   \
    DT d = (DT)divisor;                                              \
    for (size_t i = 0; i < n; i++) buf[i] = (T)(buf[i] / d);         \
  }

#define DEFINE_HALF_DIV_LOOP(name, TO_FLOAT, FROM_FLOAT)                       \
  static void name(void *buf_, size_t n, int divisor) {                        \
    uint16_t *buf = buf_;                                                      \
    float d = (float)divisor;                                                  \
    for (size_t i = 0; i < n; i++) buf[i] = FROM_FLOAT(TO_FLOAT(buf[i]) / d); \
  }

typedef void (*div_fn)(void *buf, size_t count, int divisor);

DEFINE_DIV_LOOP(i8_div, int8_t, int)
DEFINE_DIV_LOOP(u8_div, uint8_t, int)
DEFINE_DIV_LOOP(i32_div, int32_t, int32_t)
DEFINE_DIV_LOOP(u32_div, uint32_t, uint32_t)
DEFINE_DIV_LOOP(i64_div, int64_t, int64_t)
DEFINE_DIV_LOOP(u64_div, uint64_t, uint64_t)
DEFINE_DIV_LOOP(f32_div, float, float)
DEFINE_DIV_LOOP(f64_div, double, double)
DEFINE_HALF_DIV_LOOP(f16_div, half_to_float, float_to_half)
DEFINE_HALF_DIV_LOOP(bf16_div, bf16_to_float, float_to_bf16)

static const div_fn div_table[WEFT_NUM_DTYPES] = {
    [WEFT_INT8] = i8_div,     [WEFT_UINT8] = u8_div,       [WEFT_INT32] = i32_div,
    [WEFT_UINT32] = u32_div,  [WEFT_INT64] = i64_div,      [WEFT_UINT64] = u64_div,
    [WEFT_FLOAT16] = f16_div, [WEFT_BFLOAT16] = bf16_div,  [WEFT_FLOAT32] = f32_div,
    [WEFT_FLOAT64] = f64_div,
};

void weft__reduce_finish_avg(void *buf, size_t count, weft_dtype_t dtype, int divisor) {
  if ((unsigned)dtype >= WEFT_NUM_DTYPES || divisor <= 0) return;
  div_table[dtype](buf, count, divisor);
}
