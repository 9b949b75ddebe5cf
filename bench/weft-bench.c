/* weft-bench: weft's answer to nccl-tests. Every rank of a job runs it:
 *
 *   weftrun -n 4 weft-bench -c allreduce -b 8 -e 256M -f 2 [--json out.json]
 *
 * For each collective and each message size: fill the send buffer with known inputs, run the
 * warm-up iterations, barrier, time the measured iterations, and take the slowest rank's
 * average as the time (an allreduce with WEFT_MAX, so one straggler shows). Then, unless
 * --check 0, one more iteration runs on a poisoned output buffer and every output element is
 * compared with the expected value; the wrong counts are summed over ranks. Bandwidths follow
 * nccl-tests: algbw = size / time, busbw = algbw times the collective's factor (colls.c).
 * Rank 0 prints the table on stdout, one progress line per size on stderr, and the JSON file.
 * Exit status: 0 when every checked element was right, 1 on a wrong element or a failed call,
 * 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check_call(bench_ctx_t *x, weft_result_t r, const char *what, bench_coll_t c, size_t bytes) {
  if (r == WEFT_SUCCESS) return;
  fprintf(stderr, "weft-bench: rank %d: %s (%s, %zu bytes) failed: %s: %s\n", x->rank, what,
          bench_coll_name(c), bytes, weft_strerror(r), weft_comm_last_error(x->comm));
  exit(1);
}

/* The size after `bytes` in the sweep (nccl-tests: multiply by -f or add -i); 0 on overflow. */
static size_t next_size(const bench_opts_t *o, size_t bytes) {
  size_t next = o->factor ? bytes * o->factor : bytes + o->step_bytes;
  if (o->factor && bytes == 0) next = 1;
  return next <= bytes ? 0 : next;
}

static size_t sweep_length(const bench_opts_t *o) {
  size_t n = 0;
  for (size_t b = o->min_bytes; b <= o->max_bytes; b = next_size(o, b)) {
    n++;
    if (next_size(o, b) == 0) break;
  }
  return n;
}

static bench_row_t run_size(bench_ctx_t *x, bench_coll_t c, size_t bytes) {
  const bench_opts_t *o = x->o;
  size_t es = weft_dtype_size(o->dtype);
  bench_shape_t sh = bench_shape(c, bytes, es, x->size);
  bench_row_t row = {.coll = c, .bytes = sh.bytes, .count = sh.count, .wrong = -1};

  bench_fill(x, c, sh.count);
  check_call(x, bench_run(x, c, sh.count, o->warmup), "warm-up", c, sh.bytes);
  check_call(x, weft_barrier(x->comm), "barrier", c, sh.bytes);
  double t0 = now_s();
  check_call(x, bench_run(x, c, sh.count, o->iters), "timed run", c, sh.bytes);
  double us = (now_s() - t0) * 1e6 / o->iters;
  if (c == BENCH_SENDRECV) us /= 2; /* one way of the round trip */
  check_call(x, weft_allreduce(x->comm, &us, &us, 1, WEFT_FLOAT64, WEFT_MAX), "time allreduce", c, sh.bytes);
  row.time_us = us;
  row.algbw = c == BENCH_BARRIER ? 0 : (double)sh.bytes / 1e3 / us; /* B/us / 1e3 = GB/s */
  row.busbw = row.algbw * bench_busbw_factor(c, x->size);

  if (o->check) {
    bench_poison(x, c, sh.count);
    check_call(x, bench_run(x, c, sh.count, 1), "checked run", c, sh.bytes);
    int64_t wrong = bench_count_wrong(x, c, sh.count);
    check_call(x, weft_allreduce(x->comm, &wrong, &wrong, 1, WEFT_INT64, WEFT_SUM), "wrong-count allreduce",
               c, sh.bytes);
    row.wrong = wrong;
  }
  return row;
}

static void record(bench_ctx_t *x, bench_rows_t *rows, const bench_row_t *row, size_t index, size_t total) {
  if (x->rank != 0) return;
  bench_print_row(x->o, row);
  if (!bench_rows_push(rows, row)) {
    fprintf(stderr, "weft-bench: out of memory\n");
    exit(1);
  }
  if (!x->o->quiet)
    fprintf(stderr, "weft-bench: %s %zu B: %.2f us, busbw %.3f GB/s (%zu/%zu)\n", bench_coll_name(row->coll),
            row->bytes, row->time_us, row->busbw, index, total);
}

static void run_collective(bench_ctx_t *x, bench_coll_t c, bench_rows_t *rows) {
  if (c == BENCH_SENDRECV && x->size < 2) {
    if (x->rank == 0) printf("#\n# Collective: sendrecv skipped: it needs at least 2 ranks\n");
    return;
  }
  if (x->rank == 0) bench_print_header(c);
  if (c == BENCH_BARRIER) {
    bench_row_t row = run_size(x, c, 0);
    record(x, rows, &row, 1, 1);
  } else {
    size_t total = sweep_length(x->o), i = 0;
    for (size_t b = x->o->min_bytes; b <= x->o->max_bytes; b = next_size(x->o, b)) {
      bench_row_t row = run_size(x, c, b);
      record(x, rows, &row, ++i, total);
      if (next_size(x->o, b) == 0) break;
    }
  }
  if (x->rank == 0) bench_print_footer(x->o, rows, c);
}

static void *alloc_buffer(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, bytes)) return NULL;
  memset(p, 0, bytes); /* fault the pages in now, not in the first timed iteration */
  return p;
}

int main(int argc, char **argv) {
  bench_opts_t o;
  bench_parse_args(argc, argv, &o);
  if (o.algo && setenv("WEFT_ALGO", o.algo, 1) != 0) {
    perror("setenv");
    return 1;
  }
  const char *algo = o.algo ? o.algo : getenv("WEFT_ALGO") ? getenv("WEFT_ALGO") : "auto";

  bench_ctx_t x = {.o = &o};
  weft_result_t r = weft_comm_init_env(&x.comm);
  if (r != WEFT_SUCCESS) {
    fprintf(stderr, "weft-bench: weft_comm_init_env failed: %s (run it under weftrun)\n", weft_strerror(r));
    return 1;
  }
  x.rank = weft_comm_rank(x.comm);
  x.size = weft_comm_size(x.comm);
  if (o.root >= x.size) {
    if (x.rank == 0) fprintf(stderr, "weft-bench: root %d is not a rank of this %d-rank job\n", o.root, x.size);
    weft_comm_destroy(x.comm);
    return 2;
  }

  size_t es = weft_dtype_size(o.dtype);
  x.buf_bytes = (o.max_bytes + es - 1) / es * es;
  if (x.buf_bytes == 0) x.buf_bytes = es;
  int nreqs = o.warmup > o.iters ? o.warmup : o.iters;
  x.send = alloc_buffer(x.buf_bytes);
  x.recv = alloc_buffer(x.buf_bytes);
  x.reqs = calloc((size_t)nreqs, sizeof *x.reqs);
  if (!x.send || !x.recv || !x.reqs) {
    fprintf(stderr, "weft-bench: rank %d: cannot allocate 2 x %zu bytes\n", x.rank, x.buf_bytes);
    return 1;
  }

  if (x.rank == 0) bench_print_banner(&o, x.size, algo);
  bench_rows_t rows = {0};
  for (int c = 0; c < BENCH_NUM_COLLS; c++)
    if (o.colls[c]) run_collective(&x, (bench_coll_t)c, &rows);

  int status = 0;
  if (x.rank == 0) {
    long long wrong = 0;
    for (size_t i = 0; i < rows.n; i++)
      if (rows.rows[i].wrong > 0) wrong += rows.rows[i].wrong;
    if (wrong) {
      fprintf(stderr, "weft-bench: %lld wrong elements\n", wrong);
      status = 1;
    }
    if (o.json_path && !bench_write_json(o.json_path, &o, x.size, algo, &rows)) status = 1;
  }
  /* Every rank leaves with rank 0's verdict, so weftrun's exit status reflects it. */
  int verdict = status;
  r = weft_allreduce(x.comm, &verdict, &verdict, 1, WEFT_INT32, WEFT_MAX);
  if (r != WEFT_SUCCESS) verdict = 1;
  weft_comm_destroy(x.comm);
  free(rows.rows);
  free(x.reqs);
  free(x.send);
  free(x.recv);
  return verdict;
}
