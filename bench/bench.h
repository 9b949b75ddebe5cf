/* weft-bench: shared types of the benchmark tool (bench/weft-bench.c drives, args.c parses the
 * command line, colls.c knows each collective's shape, call and expected output, report.c prints
 * the table and writes the JSON file). Internal to the tool; nothing here is weft API. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

typedef enum {
  BENCH_ALLREDUCE,
  BENCH_ALLGATHER,
  BENCH_REDUCE_SCATTER,
  BENCH_BROADCAST,
  BENCH_REDUCE,
  BENCH_SENDRECV,
  BENCH_BARRIER,
  BENCH_NUM_COLLS
} bench_coll_t;

typedef struct {
  bool colls[BENCH_NUM_COLLS]; /* which collectives to run, in enum order */
  size_t min_bytes, max_bytes;
  size_t factor;               /* multiplicative step; 0 when step_bytes is used */
  size_t step_bytes;           /* additive step (-i), nccl-tests' alternative to -f */
  weft_dtype_t dtype;
  weft_redop_t op;
  int root;
  int warmup, iters;
  bool nonblocking, check, quiet;
  const char *json_path;       /* NULL: no JSON */
  const char *algo;            /* "auto", "ring", "tree"; NULL: leave WEFT_ALGO alone */
} bench_opts_t;

/* Parses argv into *o. On --help prints usage to stdout and exits 0; on an error prints the
 * problem and the usage to stderr and exits 2 (every rank parses the same argv, so every rank
 * exits the same way). */
void bench_parse_args(int argc, char **argv, bench_opts_t *o);
/* "8", "1K", "64M", "2G", optional "B"/"iB" suffix, powers of 1024 (as nccl-tests). */
bool bench_parse_size(const char *s, size_t *out);

/* ---- collectives (colls.c) ----------------------------------------------------------------- */

typedef struct {
  weft_comm_t *comm;
  int rank, size;
  const bench_opts_t *o;
  uint8_t *send, *recv; /* each buf_bytes long, allocated once for the largest size */
  size_t buf_bytes;
  weft_request_t **reqs; /* room for max(warmup, iters) requests in non-blocking mode */
} bench_ctx_t;

/* One row's geometry, as nccl-tests reports it. */
typedef struct {
  size_t count; /* the count argument weft gets (per rank for allgather and reduce_scatter) */
  size_t bytes; /* the "size" column: total bytes for allgather and reduce_scatter */
} bench_shape_t;

const char *bench_coll_name(bench_coll_t c);
bool bench_coll_from_name(const char *name, bench_coll_t *c);
bool bench_coll_reduces(bench_coll_t c);
bool bench_coll_rooted(bench_coll_t c);
/* busbw = algbw * factor, as nccl-tests defines it (docs: nccl-tests PERFORMANCE.md). */
double bench_busbw_factor(bench_coll_t c, int nranks);
bench_shape_t bench_shape(bench_coll_t c, size_t bytes, size_t esize, int nranks);

/* Runs `iters` back-to-back operations. Non-blocking mode issues every collective first and
 * waits for them afterwards (weft runs them in issue order); sendrecv is a ping-pong between
 * ranks 0 and 1, one round trip per iteration, other ranks return at once. */
weft_result_t bench_run(bench_ctx_t *x, bench_coll_t c, size_t count, int iters);

/* Writes the known input pattern for `count` (per-rank) elements into the send buffer. */
void bench_fill(bench_ctx_t *x, bench_coll_t c, size_t count);
/* Marks the output region so that an operation that writes nothing is caught. */
void bench_poison(bench_ctx_t *x, bench_coll_t c, size_t count);
/* Number of wrong output elements on this rank after one run over the filled input. */
int64_t bench_count_wrong(bench_ctx_t *x, bench_coll_t c, size_t count);

/* ---- results (report.c) ---------------------------------------------------------------------- */

typedef struct {
  bench_coll_t coll;
  size_t bytes, count;
  double time_us, algbw, busbw;
  int64_t wrong; /* -1: not checked */
} bench_row_t;

typedef struct {
  bench_row_t *rows;
  size_t n, cap;
} bench_rows_t;

bool bench_rows_push(bench_rows_t *rows, const bench_row_t *row);

void bench_print_banner(const bench_opts_t *o, int nranks, const char *algo);
void bench_print_header(bench_coll_t c);
void bench_print_row(const bench_opts_t *o, const bench_row_t *row);
void bench_print_footer(const bench_opts_t *o, const bench_rows_t *rows, bench_coll_t c);
/* Returns false (and says why on stderr) when the file cannot be written. */
bool bench_write_json(const char *path, const bench_opts_t *o, int nranks, const char *algo,
                      const bench_rows_t *rows);

#endif
