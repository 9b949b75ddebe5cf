/* mpi-bench: weft-bench's method applied to MPI, so that bench/compare can put MPICH beside weft.
 *
 *   mpiexec -launcher fork -n 4 mpi-bench -c allreduce -b 8 -e 64M -f 2 --label mpich-shm --json f
 *
 * Same flags (a subset: -c -b -e -f -d -o -r -w -n --check --json -q), same sweep, same geometry
 * and bus-bandwidth factors, same method: for each size fill the send buffer, run the warm-up
 * iterations, MPI_Barrier, time the measured iterations back to back, and take the slowest
 * rank's average (MPI_Allreduce with MPI_MAX). Then one checked iteration on a poisoned output.
 * The collectives are MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter_block, MPI_Bcast and
 * MPI_Reduce; broadcast runs in place on the receive buffer (MPI has no out-of-place bcast).
 *
 * The JSON file has weft-bench's schema (bench/report.c) with "tool": "mpi-bench", the MPI
 * library's version string, and one extra key, "label": the transport class the caller says it
 * selected (mpich-shm, mpich-tcp); the environment variables that select it are recorded in
 * "env". Which transport MPICH really used is the caller's claim, checked by bench/compare.
 *
 * The known inputs are simpler than weft-bench's: rank r contributes r+1 in every element, so
 * sum, min and max are exact in every dtype MPI has for the rank counts a benchmark uses;
 * prod and avg are not checked (wrong = null). float16/bfloat16 are refused (exit 2): MPI has
 * no standard type for them. Exit status: 0 when every checked element was right, 1 on a
 * wrong element, 2 on a usage error. */
#include <math.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weft.h" /* for --version only: this peer runs MPICH, not weft */

enum { ALLREDUCE, ALLGATHER, REDUCE_SCATTER, BROADCAST, REDUCE, NUM_COLLS };
static const char *const coll_names[NUM_COLLS] = {"allreduce", "allgather", "reduce_scatter",
                                                  "broadcast", "reduce"};

typedef struct {
  const char *name;
  MPI_Datatype mpi;
  size_t size;
} dtype_t;

static const dtype_t dtypes[] = {
    {"int8", MPI_INT8_T, 1},   {"uint8", MPI_UINT8_T, 1},   {"int32", MPI_INT32_T, 4},
    {"uint32", MPI_UINT32_T, 4}, {"int64", MPI_INT64_T, 8}, {"uint64", MPI_UINT64_T, 8},
    {"float32", MPI_FLOAT, 4}, {"float64", MPI_DOUBLE, 8},
};

typedef struct {
  bool colls[NUM_COLLS];
  size_t min_bytes, max_bytes, factor;
  const dtype_t *dtype;
  const char *op_name;
  MPI_Op op;
  int root, warmup, iters;
  bool check, quiet;
  const char *json_path, *label;
} opts_t;

typedef struct {
  int coll;
  size_t bytes, count;
  double time_us, algbw, busbw;
  long long wrong; /* -1: not checked */
} row_t;

static int rank, nranks;

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpiexec -n N mpi-bench [options]\n"
          "  -c LIST    allreduce|allgather|reduce_scatter|broadcast|reduce|all (default allreduce)\n"
          "  -b SIZE    smallest message (default 8); K, M, G suffixes (x1024)\n"
          "  -e SIZE    largest message (default 256M)\n"
          "  -f F       multiply the size by F each step (default 2)\n"
          "  -d TYPE    int8 uint8 int32 uint32 int64 uint64 float32 float64 (default float32)\n"
          "  -o OP      sum|prod|min|max (default sum)\n"
          "  -r R       root of broadcast and reduce (default 0)\n"
          "  -w N       warm-up iterations per size (default 5)\n"
          "  -n N       timed iterations per size (default 20)\n"
          "  --check 0|1  verify one extra iteration per size (default 1)\n"
          "  --json FILE  rank 0 writes weft-bench's JSON schema\n"
          "  --label L    transport class to record (default mpich)\n"
          "  -q           no per-size progress lines on stderr\n"
          "  -h, --help   this text\n"
          "  --version    print mpi-bench's version (weft's)\n");
}

static void fail(const char *what, const char *arg) {
  if (rank == 0) {
    fprintf(stderr, "mpi-bench: %s '%s'\n", what, arg);
    usage(stderr);
  }
  MPI_Finalize();
  exit(2);
}

static bool parse_size(const char *s, size_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return false;
  unsigned long long v = strtoull(s, &end, 10), mult = 1;
  if (end == s) return false;
  if (*end == 'k' || *end == 'K') mult = 1ull << 10, end++;
  else if (*end == 'm' || *end == 'M') mult = 1ull << 20, end++;
  else if (*end == 'g' || *end == 'G') mult = 1ull << 30, end++;
  if (mult > 1 && (*end == 'i' || *end == 'I')) end++;
  if (*end == 'b' || *end == 'B') end++;
  if (*end) return false;
  *out = (size_t)(v * mult);
  return true;
}

static int parse_int(const char *s, int lo, const char *what) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < lo || v > (1 << 24)) fail(what, s);
  return (int)v;
}

static void parse_colls(const char *s, opts_t *o) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  memset(o->colls, 0, sizeof o->colls);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    bool known = false;
    for (int c = 0; c < NUM_COLLS; c++)
      if (!strcmp(t, "all") || !strcmp(t, coll_names[c])) o->colls[c] = known = true;
    if (!known) fail("unsupported collective", t);
  }
}

static void parse_args(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.min_bytes = 8, .max_bytes = 256u << 20, .factor = 2, .dtype = &dtypes[6],
                .op_name = "sum", .op = MPI_SUM, .warmup = 5, .iters = 20, .check = true,
                .label = "mpich"};
  o->colls[ALLREDUCE] = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      if (rank == 0) usage(stdout);
      MPI_Finalize();
      exit(0);
    }
    if (!strcmp(a, "--version")) {
      if (rank == 0) printf("mpi-bench (weft) %s\n", WEFT_VERSION_STRING);
      MPI_Finalize();
      exit(0);
    }
    if (!strcmp(a, "-q")) {
      o->quiet = true;
      continue;
    }
    if (!v) fail("missing value after", a);
    i++;
    if (!strcmp(a, "-c")) parse_colls(v, o);
    else if (!strcmp(a, "-b")) { if (!parse_size(v, &o->min_bytes)) fail("bad size", v); }
    else if (!strcmp(a, "-e")) { if (!parse_size(v, &o->max_bytes)) fail("bad size", v); }
    else if (!strcmp(a, "-f")) o->factor = (size_t)parse_int(v, 2, "bad step factor");
    else if (!strcmp(a, "-r")) o->root = parse_int(v, 0, "bad root");
    else if (!strcmp(a, "-w")) o->warmup = parse_int(v, 0, "bad warm-up count");
    else if (!strcmp(a, "-n")) o->iters = parse_int(v, 1, "bad iteration count");
    else if (!strcmp(a, "--check")) o->check = parse_int(v, 0, "bad --check") != 0;
    else if (!strcmp(a, "--json")) o->json_path = v;
    else if (!strcmp(a, "--label")) o->label = v;
    else if (!strcmp(a, "-d")) {
      o->dtype = NULL;
      const char *name = !strcmp(v, "float") ? "float32" : !strcmp(v, "double") ? "float64" : v;
      for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
        if (!strcmp(name, dtypes[d].name)) o->dtype = &dtypes[d];
      if (!o->dtype) fail("datatype not available in MPI (or unknown)", v);
    } else if (!strcmp(a, "-o")) {
      static const struct { const char *n; MPI_Op op; } ops[] = {
          {"sum", MPI_SUM}, {"prod", MPI_PROD}, {"min", MPI_MIN}, {"max", MPI_MAX}};
      bool found = false;
      for (size_t k = 0; k < 4; k++)
        if (!strcmp(v, ops[k].n)) o->op_name = ops[k].n, o->op = ops[k].op, found = true;
      if (!found) fail("op not available in MPI (or unknown)", v);
    } else fail("unknown option", a);
  }
  if (o->min_bytes > o->max_bytes) fail("-b is larger than -e", "");
  if (o->root >= nranks) fail("root is not a rank of this job", "");
}

/* ---- geometry, as bench/colls.c --------------------------------------------------------------- */

static double busbw_factor(int c) {
  double n = nranks;
  if (c == ALLREDUCE) return 2.0 * (n - 1) / n;
  if (c == ALLGATHER || c == REDUCE_SCATTER) return (n - 1) / n;
  return 1;
}

static void shape(int c, size_t bytes, size_t es, size_t *count, size_t *total) {
  size_t n = (size_t)nranks, cnt = bytes / es;
  if (c == ALLGATHER || c == REDUCE_SCATTER) cnt /= n, *total = cnt * n * es;
  else *total = cnt * es;
  *count = cnt;
}

static size_t next_size(const opts_t *o, size_t b) {
  size_t next = b ? b * o->factor : 1;
  return next <= b ? 0 : next;
}

/* ---- inputs and checking ------------------------------------------------------------------- */

static void set_elem(const dtype_t *d, void *buf, size_t i, double v) {
  switch (d->size * 16 + (d->mpi == MPI_FLOAT || d->mpi == MPI_DOUBLE)) {
    case 16: ((int8_t *)buf)[i] = (int8_t)v; break;
    case 64: ((int32_t *)buf)[i] = (int32_t)v; break;
    case 65: ((float *)buf)[i] = (float)v; break;
    case 128: ((int64_t *)buf)[i] = (int64_t)v; break;
    case 129: ((double *)buf)[i] = v; break;
  }
}

static double get_elem(const dtype_t *d, const void *buf, size_t i) {
  switch (d->size * 16 + (d->mpi == MPI_FLOAT || d->mpi == MPI_DOUBLE)) {
    case 16: return ((const int8_t *)buf)[i];
    case 64: return ((const int32_t *)buf)[i];
    case 65: return ((const float *)buf)[i];
    case 128: return (double)((const int64_t *)buf)[i];
    default: return ((const double *)buf)[i];
  }
}

static void fill(const opts_t *o, void *buf, size_t n, double v) {
  for (size_t i = 0; i < n; i++) set_elem(o->dtype, buf, i, v);
}

/* The expected reduction of the values 1..nranks; NAN when not checked. */
static double reduced(const opts_t *o) {
  if (!strcmp(o->op_name, "sum")) return nranks * (nranks + 1) / 2.0;
  if (!strcmp(o->op_name, "min")) return 1;
  if (!strcmp(o->op_name, "max")) return nranks;
  return NAN;
}

/* ---- the measurement ------------------------------------------------------------------------ */

static int run(const opts_t *o, int c, void *send, void *recv, size_t count, int iters) {
  MPI_Datatype t = o->dtype->mpi;
  int cnt = (int)count, rc = MPI_SUCCESS;
  for (int i = 0; i < iters && rc == MPI_SUCCESS; i++) {
    switch (c) {
      case ALLREDUCE: rc = MPI_Allreduce(send, recv, cnt, t, o->op, MPI_COMM_WORLD); break;
      case ALLGATHER: rc = MPI_Allgather(send, cnt, t, recv, cnt, t, MPI_COMM_WORLD); break;
      case REDUCE_SCATTER: rc = MPI_Reduce_scatter_block(send, recv, cnt, t, o->op, MPI_COMM_WORLD); break;
      case BROADCAST: rc = MPI_Bcast(recv, cnt, t, o->root, MPI_COMM_WORLD); break;
      case REDUCE: rc = MPI_Reduce(send, recv, cnt, t, o->op, o->root, MPI_COMM_WORLD); break;
    }
  }
  return rc;
}

static long long count_wrong(const opts_t *o, int c, const void *recv, size_t count) {
  double red = reduced(o);
  size_t n = count;
  if (c == ALLGATHER) n = count * (size_t)nranks;
  if (c == REDUCE && rank != o->root) return 0;
  if ((c == ALLREDUCE || c == REDUCE_SCATTER || c == REDUCE) && isnan(red)) return -1;
  long long wrong = 0;
  for (size_t i = 0; i < n; i++) {
    double want = c == ALLGATHER ? (double)(i / count + 1) : c == BROADCAST ? o->root + 1 : red;
    if (get_elem(o->dtype, recv, i) != want) wrong++;
  }
  return wrong;
}

static row_t run_size(const opts_t *o, int c, size_t bytes, void *send, void *recv) {
  size_t es = o->dtype->size, count, total;
  shape(c, bytes, es, &count, &total);
  row_t row = {.coll = c, .bytes = total, .count = count, .wrong = -1};
  size_t send_elems = c == REDUCE_SCATTER ? count * (size_t)nranks : count;
  fill(o, send, send_elems, rank + 1);
  if (c == BROADCAST) fill(o, recv, count, rank + 1);
  int rc = run(o, c, send, recv, count, o->warmup);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  if (rc == MPI_SUCCESS) rc = run(o, c, send, recv, count, o->iters);
  double us = (MPI_Wtime() - t0) * 1e6 / o->iters;
  if (rc != MPI_SUCCESS) {
    fprintf(stderr, "mpi-bench: rank %d: %s (%zu bytes) failed\n", rank, coll_names[c], total);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Allreduce(MPI_IN_PLACE, &us, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  row.time_us = us;
  row.algbw = (double)total / 1e3 / us;
  row.busbw = row.algbw * busbw_factor(c);
  if (o->check) {
    size_t out = c == ALLGATHER ? count * (size_t)nranks : count;
    fill(o, recv, out, -1);
    if (c == BROADCAST) fill(o, recv, count, rank + 1);
    run(o, c, send, recv, count, 1);
    long long wrong = count_wrong(o, c, recv, count), any_unchecked = wrong < 0;
    if (wrong < 0) wrong = 0;
    MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &any_unchecked, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    row.wrong = any_unchecked ? -1 : wrong;
  }
  return row;
}

/* ---- output: weft-bench's table and JSON schema ---------------------------------------------- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

static void json_number(FILE *f, double v, const char *fmt) {
  if (isfinite(v)) fprintf(f, fmt, v);
  else fputs("null", f);
}

/* Settings that select MPICH's (and UCX's) transport when the environment sets them. */
static const char *const recorded_env[] = {"MPIR_CVAR_NOLOCAL", "MPIR_CVAR_CH3_NOLOCAL",
                                           "MPIR_CVAR_CH4_SHM_ENABLE", "UCX_TLS", "UCX_NET_DEVICES",
                                           "FI_PROVIDER"};

static bool write_json(const opts_t *o, const row_t *rows, size_t nrows) {
  FILE *f = fopen(o->json_path, "w");
  if (!f) {
    perror(o->json_path);
    return false;
  }
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = "", colls[256] = "", host[256] = "";
  int len = 0;
  MPI_Get_library_version(version, &len);
  for (char *p = version; *p; p++)
    if (*p == '\n') *p = 0; /* first line only */
  for (int c = 0; c < NUM_COLLS; c++)
    if (o->colls[c])
      snprintf(colls + strlen(colls), sizeof colls - strlen(colls), "%s%s", colls[0] ? "," : "",
               coll_names[c]);
  gethostname(host, sizeof host - 1);
  fputs("{\n  \"tool\": \"mpi-bench\",\n  \"version\": ", f);
  json_string(f, version);
  fputs(",\n  \"label\": ", f);
  json_string(f, o->label);
  fprintf(f, ",\n  \"ranks\": %d,\n  \"collective\": ", nranks);
  json_string(f, colls);
  fputs(",\n  \"dtype\": ", f);
  json_string(f, o->dtype->name);
  fputs(",\n  \"op\": ", f);
  json_string(f, o->op_name);
  fprintf(f, ",\n  \"root\": %d,\n  \"algo\": \"mpi\",\n  \"nonblocking\": false,\n", o->root);
  fprintf(f, "  \"warmup_iters\": %d,\n  \"iters\": %d,\n  \"check\": %s,\n", o->warmup, o->iters,
          o->check ? "true" : "false");
  fprintf(f, "  \"timestamp\": %lld,\n  \"env\": {", (long long)time(NULL));
  bool first = true;
  for (size_t i = 0; i < sizeof recorded_env / sizeof recorded_env[0]; i++) {
    const char *v = getenv(recorded_env[i]);
    if (!v) continue;
    fputs(first ? "" : ", ", f);
    json_string(f, recorded_env[i]);
    fputs(": ", f);
    json_string(f, v);
    first = false;
  }
  fputs("},\n  \"results\": [", f);
  for (size_t i = 0; i < nrows; i++) {
    const row_t *r = &rows[i];
    fprintf(f, "%s\n    {\"collective\": \"%s\", \"bytes\": %zu, \"count\": %zu, \"time_us\": ",
            i ? "," : "", coll_names[r->coll], r->bytes, r->count);
    json_number(f, r->time_us, "%.3f");
    fputs(", \"algbw\": ", f);
    json_number(f, r->algbw, "%.6f");
    fputs(", \"busbw\": ", f);
    json_number(f, r->busbw, "%.6f");
    if (r->wrong < 0) fputs(", \"wrong\": null}", f);
    else fprintf(f, ", \"wrong\": %lld}", r->wrong);
  }
  fprintf(f, "%s],\n  \"host\": {\"cores\": %ld, \"hostname\": ", nrows ? "\n  " : "",
          sysconf(_SC_NPROCESSORS_ONLN));
  json_string(f, host);
  fputs("}\n}\n", f);
  bool ok = !ferror(f);
  if (fclose(f) != 0) ok = false;
  return ok;
}

static void print_row(const opts_t *o, const row_t *r) {
  const char *fmt = r->time_us >= 10000 ? "%7.0f" : r->time_us >= 100 ? "%7.1f" : "%7.2f";
  char time[32], wrong[32];
  snprintf(time, sizeof time, fmt, r->time_us);
  if (r->wrong < 0) snprintf(wrong, sizeof wrong, "N/A");
  else snprintf(wrong, sizeof wrong, "%lld", r->wrong);
  bool reduces = r->coll == ALLREDUCE || r->coll == REDUCE_SCATTER || r->coll == REDUCE;
  bool rooted = r->coll == BROADCAST || r->coll == REDUCE;
  printf("%12zu  %12zu  %8s  %6s  %6d  %7s  %6.2f  %6.2f  %6s\n", r->bytes, r->count, o->dtype->name,
         reduces ? o->op_name : "none", rooted ? o->root : -1, time, r->algbw, r->busbw, wrong);
  fflush(stdout);
}

static void *alloc_buffer(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, bytes ? bytes : 8)) return NULL;
  memset(p, 0, bytes);
  return p;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  opts_t o;
  parse_args(argc, argv, &o);

  size_t es = o.dtype->size, buf = (o.max_bytes + es - 1) / es * es + es;
  if (o.max_bytes / es > (size_t)INT32_MAX) fail("-e too large for MPI's int counts", "");
  void *send = alloc_buffer(buf), *recv = alloc_buffer(buf);
  size_t nsizes = 0;
  for (size_t b = o.min_bytes; b <= o.max_bytes; b = next_size(&o, b)) {
    nsizes++;
    if (!next_size(&o, b)) break;
  }
  row_t *rows = calloc(nsizes * NUM_COLLS + 1, sizeof *rows);
  if (!send || !recv || !rows) {
    fprintf(stderr, "mpi-bench: rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (rank == 0)
    printf("# mpi-bench (%s): %d ranks, %ld cores, dtype %s, op %s, root %d\n"
           "# minBytes %zu maxBytes %zu step: %zu(factor) warmup iters: %d iters: %d validation: %d\n",
           o.label, nranks, sysconf(_SC_NPROCESSORS_ONLN), o.dtype->name, o.op_name, o.root,
           o.min_bytes, o.max_bytes, o.factor, o.warmup, o.iters, o.check);

  size_t nrows = 0;
  long long wrong = 0;
  for (int c = 0; c < NUM_COLLS; c++) {
    if (!o.colls[c]) continue;
    if (rank == 0)
      printf("#\n# Collective: %s\n#%11s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s\n", coll_names[c], "size",
             "count", "type", "redop", "root", "time(us)", "algbw", "busbw", "#wrong");
    size_t i = 0;
    for (size_t b = o.min_bytes; b <= o.max_bytes && i < nsizes; b = next_size(&o, b)) {
      row_t r = run_size(&o, c, b, send, recv);
      i++;
      if (rank != 0) continue;
      rows[nrows++] = r;
      if (r.wrong > 0) wrong += r.wrong;
      print_row(&o, &r);
      if (!o.quiet)
        fprintf(stderr, "mpi-bench: %s %zu B: %.2f us, busbw %.3f GB/s (%zu/%zu)\n", coll_names[c],
                r.bytes, r.time_us, r.busbw, i, nsizes);
    }
  }
  int status = 0;
  if (rank == 0) {
    if (wrong) fprintf(stderr, "mpi-bench: %lld wrong elements\n", wrong), status = 1;
    if (o.json_path && !write_json(&o, rows, nrows)) status = 1;
  }
  MPI_Allreduce(MPI_IN_PLACE, &status, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  free(rows);
  free(send);
  free(recv);
  MPI_Finalize();
  return status;
}
