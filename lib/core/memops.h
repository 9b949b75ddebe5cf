/* Memory operations: what the executor does to bytes that never cross the wire — local copies,
 * reductions, the AVG division, and scratch (TMP) buffers — behind an ops table, so that a
 * device backend can supply its own. The table is in the transport's style
 * (lib/core/transport.h): first field its size so it can grow, filled with designated
 * initializers, a name for logs. Every function receives the table itself, so a backend that
 * needs state (a device, a stream) embeds the table as the first member of a larger struct.
 *
 * Which table an operation uses is chosen per operation when it is built (api.c sets
 * op->mem; today always &weft__memops_host) from where its buffers live, so one communicator can
 * run host and device collectives side by side. The executor (lib/core/executor.c) calls:
 *   copy        for every COPY step (ranges may overlap: memmove semantics);
 *   reduce      for every received frame of a RECV_REDUCE step (dst may alias a exactly);
 *   finish_avg  once, on the final result, for WEFT_AVG;
 *   fence       NULL for the host; see below.
 * api.c and request.c call scratch_alloc/scratch_free for the operation's TMP buffer, which is
 * kept with the operation when it is pooled (request.c) and freed by the table that made it.
 *
 * A CUDA backend would fill the same table (kind WEFT__MEM_CUDA) with:
 *   - copy and reduce enqueued on the communicator's stream (cudaMemcpyAsync, a reduction
 *     kernel per dtype and op), so they return at once and run in stream order;
 *   - fence: cudaStreamSynchronize (or an event the engine polls), which the executor calls
 *     before it posts the sends of a phase (they read what earlier copies and reductions wrote)
 *     and before it completes the operation; NULL means every call already finished on return;
 *   - scratch_alloc/scratch_free from a device pool (cudaMallocAsync on that stream);
 *   - reduce's `b`, the transport's bounce buffer, in host memory unless its transport delivers
 *     device memory (weft__transport_ops_t.mem_register with WEFT__MEM_CUDA).
 * The kernels' contract is lib/algo/reduce.h's: bit-exact integers, float16/bfloat16 through
 * float32 with round to nearest even, NaN-propagating min/max.
 */
#ifndef WEFT_CORE_MEMOPS_H
#define WEFT_CORE_MEMOPS_H

#include "core/common.h"
#include "core/transport.h" /* weft__mem_type_t: one memory kind for transports and memops */

typedef weft__mem_type_t weft__mem_kind_t;

typedef struct weft__memops {
  size_t size; /* sizeof(weft__memops_t) the backend was built with */
  const char *name;
  weft__mem_kind_t kind; /* where the buffers it accepts live */
  /* dst[0 .. bytes) = src[0 .. bytes); the ranges may overlap. */
  void (*copy)(const struct weft__memops *m, void *dst, const void *src, size_t bytes);
  /* dst[i] = a[i] (op) b[i] for i < count (WEFT_AVG reduces as WEFT_SUM); dst may alias a or b. */
  void (*reduce)(const struct weft__memops *m, void *dst, const void *a, const void *b, size_t count,
                 weft_dtype_t dtype, weft_redop_t op);
  /* buf[i] /= divisor for i < count (WEFT_AVG's one division at the end). */
  void (*finish_avg)(const struct weft__memops *m, void *buf, size_t count, weft_dtype_t dtype, int divisor);
  /* Scratch for an operation's TMP buffer: NULL when out of memory. bytes > 0. */
  void *(*scratch_alloc)(const struct weft__memops *m, size_t bytes);
  void (*scratch_free)(const struct weft__memops *m, void *p, size_t bytes);
  /* Optional (NULL: the calls above finish before they return): wait until every copy and
   * reduction issued so far has finished. */
  void (*fence)(const struct weft__memops *m);
} weft__memops_t;

/* Host memory: memmove, lib/algo/reduce.c's kernels, malloc (lib/core/memops_host.c). */
extern const weft__memops_t weft__memops_host;

#endif
