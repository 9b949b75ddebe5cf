/* Element-wise reductions over every weft dtype and op (lib/algo/reduce.c).
 *
 * Contract: integers are bit-exact with a serial loop (wrap-around on overflow, as unsigned
 * arithmetic); float16 and bfloat16 are widened to float32, reduced, and rounded back to nearest
 * even; float32/float64 reduce natively. The loops are written so that the compiler vectorises
 * them (restrict-free aliasing is allowed: dst may equal a or b, which is how in-place reduction
 * into a receive buffer works).
 *
 * Floating-point min/max propagate NaN (as NCCL and PyTorch): if either operand is NaN the result
 * is NaN (a's NaN when both are); when the operands compare equal (e.g. -0.0 and +0.0) the result
 * is b. Which NaN payload a sum or product yields is the hardware's choice.
 *
 * An invalid dtype or op is ignored (nothing is written): callers validate before reducing. */
#ifndef WEFT_ALGO_REDUCE_H
#define WEFT_ALGO_REDUCE_H

#include "core/common.h"

/* dst[i] = a[i] (op) b[i] for i < count. WEFT_AVG reduces as WEFT_SUM (the division happens once
 * at the end, weft__reduce_finish_avg). dst may alias a or b exactly (not partially). */
void weft__reduce(void *dst, const void *a, const void *b, size_t count, weft_dtype_t dtype,
                  weft_redop_t op);

/* buf[i] /= divisor for i < count (integers: truncating division, as C; floats: exact division
 * in float32 for half types, native otherwise). divisor must be >= 1; otherwise nothing is
 * written (a divisor of 0 or -1 would be undefined for integers). */
void weft__reduce_finish_avg(void *buf, size_t count, weft_dtype_t dtype, int divisor);

/* Conversions used by the reductions and by tests. Round to nearest even; NaN stays NaN. */
float weft__half_to_float(uint16_t h);
uint16_t weft__float_to_half(float f);
float weft__bf16_to_float(uint16_t b);
uint16_t weft__float_to_bf16(float f);

#endif
