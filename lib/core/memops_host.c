/* The host memory table (contract in lib/core/memops.h): wraps lib/algo/reduce.c's kernels,
 * memmove and malloc. Synchronous, so it has no fence. */
#include <stdlib.h>
#include <string.h>

#include "algo/reduce.h"
#include "core/memops.h"

static void host_copy(const weft__memops_t *m, void *dst, const void *src, size_t bytes) {
  (void)m;
  memmove(dst, src, bytes);
}

static void host_reduce(const weft__memops_t *m, void *dst, const void *a, const void *b, size_t count,
                        weft_dtype_t dtype, weft_redop_t op) {
  (void)m;
  weft__reduce(dst, a, b, count, dtype, op);
}

static void host_finish_avg(const weft__memops_t *m, void *buf, size_t count, weft_dtype_t dtype, int divisor) {
  (void)m;
  weft__reduce_finish_avg(buf, count, dtype, divisor);
}

static void *host_scratch_alloc(const weft__memops_t *m, size_t bytes) {
  (void)m;
  return malloc(bytes);
}

static void host_scratch_free(const weft__memops_t *m, void *p, size_t bytes) {
  (void)m, (void)bytes;
  free(p);
}

const weft__memops_t weft__memops_host = {
    .size = sizeof(weft__memops_t),
    .name = "host",
    .kind = WEFT__MEM_HOST,
    .copy = host_copy,
    .reduce = host_reduce,
    .finish_avg = host_finish_avg,
    .scratch_alloc = host_scratch_alloc,
    .scratch_free = host_scratch_free,
    .fence = NULL,
};
