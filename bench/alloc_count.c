/* An LD_PRELOAD shim that counts heap calls (malloc, calloc, realloc, free, posix_memalign,
 * aligned_alloc) per process and prints the totals to stderr at exit, for checking that the hot
 * path allocates nothing:
 *
 *   WEFT_ALLOC_COUNT=1 LD_PRELOAD=build/bench/libweft_alloc_count.so \
 *     build/tools/weftrun -n 2 build/bench/weft-bench -b 8 -e 8 -n 2000 -w 2000
 *
 * Run it at two iteration counts: the difference divided by the difference in iterations is the
 * number of calls per operation, with init and teardown cancelled out. It forwards to glibc's
 * __libc_* entry points (dlsym itself may allocate). Counts only when WEFT_ALLOC_COUNT is set, so
 * weftrun and the coordinator stay quiet. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong n_malloc, n_calloc, n_realloc, n_free, n_memalign;

void *malloc(size_t n) {
  atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  atomic_fetch_add_explicit(&n_calloc, 1, memory_order_relaxed);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  atomic_fetch_add_explicit(&n_realloc, 1, memory_order_relaxed);
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (p) atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
  __libc_free(p);
}
int posix_memalign(void **out, size_t align, size_t n) {
  atomic_fetch_add_explicit(&n_memalign, 1, memory_order_relaxed);
  void *p = __libc_memalign(align, n);
  if (!p) return 12; /* ENOMEM */
  *out = p;
  return 0;
}
void *aligned_alloc(size_t align, size_t n) {
  atomic_fetch_add_explicit(&n_memalign, 1, memory_order_relaxed);
  return __libc_memalign(align, n);
}

__attribute__((destructor)) static void report(void) {
  const char *on = getenv("WEFT_ALLOC_COUNT");
  if (!on || !*on) return;
  char line[256];
  int len = snprintf(line, sizeof line, "alloc_count pid %d: malloc %lu calloc %lu realloc %lu memalign %lu free %lu\n",
                     (int)getpid(), atomic_load(&n_malloc), atomic_load(&n_calloc), atomic_load(&n_realloc),
                     atomic_load(&n_memalign), atomic_load(&n_free));
  if (len > 0) (void)!write(2, line, (size_t)len);
}
