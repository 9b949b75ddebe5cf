/* weft-bench output: the table (nccl-tests' column layout, out-of-place only) on stdout and the
 * optional JSON file. Only rank 0 calls these. The JSON is written by hand: every string that
 * goes into it is escaped, and non-finite numbers become null (JSON has no inf or nan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

bool bench_rows_push(bench_rows_t *rows, const bench_row_t *row) {
  if (rows->n == rows->cap) {
    size_t cap = rows->cap ? rows->cap * 2 : 64;
    bench_row_t *p = realloc(rows->rows, cap * sizeof *p);
    if (!p) return false;
    rows->rows = p, rows->cap = cap;
  }
  rows->rows[rows->n++] = *row;
  return true;
}

static void sweep_text(const bench_opts_t *o, char *buf, size_t len) {
  if (o->factor)
    snprintf(buf, len, "%zu(factor)", o->factor);
  else
    snprintf(buf, len, "%zu(bytes)", o->step_bytes);
}

void bench_print_banner(const bench_opts_t *o, int nranks, const char *algo) {
  char step[64];
  sweep_text(o, step, sizeof step);
  printf("# weft-bench (%s): %d ranks, %ld cores, dtype %s, op %s, root %d, algo %s, %s\n",
         weft_version_string(), nranks, sysconf(_SC_NPROCESSORS_ONLN), weft_dtype_name(o->dtype),
         weft_redop_name(o->op), o->root, algo, o->nonblocking ? "non-blocking" : "blocking");
  printf("# minBytes %zu maxBytes %zu step: %s warmup iters: %d iters: %d validation: %d\n",
         o->min_bytes, o->max_bytes, step, o->warmup, o->iters, o->check ? 1 : 0);
}

void bench_print_header(bench_coll_t c) {
  printf("#\n# Collective: %s%s\n", bench_coll_name(c),
         c == BENCH_SENDRECV ? " (ping-pong rank 0 <-> rank 1, time = half round trip)" : "");
  printf("#%11s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s\n", "size", "count", "type", "redop", "root",
         "time", "algbw", "busbw", "#wrong");
  printf("#%11s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s\n", "(B)", "(elements)", "", "", "", "(us)",
         "(GB/s)", "(GB/s)", "");
  fflush(stdout);
}

void bench_print_row(const bench_opts_t *o, const bench_row_t *row) {
  char time[32], wrong[32];
  /* Same precision steps as nccl-tests. */
  if (row->time_us >= 10000.0)
    snprintf(time, sizeof time, "%7.0f", row->time_us);
  else if (row->time_us >= 100.0)
    snprintf(time, sizeof time, "%7.1f", row->time_us);
  else
    snprintf(time, sizeof time, "%7.2f", row->time_us);
  if (row->wrong < 0)
    snprintf(wrong, sizeof wrong, "N/A");
  else
    snprintf(wrong, sizeof wrong, "%lld", (long long)row->wrong);
  bool reduces = bench_coll_reduces(row->coll), rooted = bench_coll_rooted(row->coll);
  printf("%12zu  %12zu  %8s  %6s  %6d  %7s  %6.2f  %6.2f  %6s\n", row->bytes, row->count,
         row->coll == BENCH_BARRIER ? "none" : weft_dtype_name(o->dtype),
         reduces ? weft_redop_name(o->op) : "none", rooted ? o->root : -1, time, row->algbw,
         row->busbw, wrong);
  fflush(stdout);
}

void bench_print_footer(const bench_opts_t *o, const bench_rows_t *rows, bench_coll_t c) {
  double bw = 0;
  long long wrong = 0, n = 0;
  for (size_t i = 0; i < rows->n; i++) {
    if (rows->rows[i].coll != c) continue;
    bw += rows->rows[i].busbw, n++;
    if (rows->rows[i].wrong > 0) wrong += rows->rows[i].wrong;
  }
  if (o->check)
    printf("# Wrong elements    : %lld %s\n", wrong, wrong ? "FAILED" : "OK");
  if (c != BENCH_BARRIER) printf("# Avg bus bandwidth : %.4f GB/s\n", n ? bw / (double)n : 0.0);
  fflush(stdout);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", f); break;
      case '\\': fputs("\\\\", f); break;
      case '\n': fputs("\\n", f); break;
      case '\t': fputs("\\t", f); break;
      default:
        if (*p < 0x20)
          fprintf(f, "\\u%04x", *p);
        else
          fputc(*p, f);
    }
  }
  fputc('"', f);
}

static void json_number(FILE *f, double v, const char *fmt) {
  if (isfinite(v))
    fprintf(f, fmt, v);
  else
    fputs("null", f);
}

static void collective_text(const bench_opts_t *o, char *buf, size_t len) {
  int n = 0;
  buf[0] = 0;
  for (int c = 0; c < BENCH_NUM_COLLS; c++) n += o->colls[c];
  if (n == BENCH_NUM_COLLS) {
    snprintf(buf, len, "all");
    return;
  }
  for (int c = 0; c < BENCH_NUM_COLLS; c++) {
    if (!o->colls[c]) continue;
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? "," : "", bench_coll_name((bench_coll_t)c));
  }
}

/* Settings that change what is measured, when the environment sets them. */
static const char *const recorded_env[] = {"WEFT_ALGO", "WEFT_CHUNK_SIZE", "WEFT_TCP_NSOCKS",
                                           "WEFT_SPIN_US", "WEFT_TREE_THRESHOLD"};

bool bench_write_json(const char *path, const bench_opts_t *o, int nranks, const char *algo,
                      const bench_rows_t *rows) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return false;
  }
  char colls[256], host[256] = "";
  collective_text(o, colls, sizeof colls);
  gethostname(host, sizeof host - 1);
  fprintf(f, "{\n  \"tool\": \"weft-bench\",\n  \"version\": ");
  json_string(f, weft_version_string());
  fprintf(f, ",\n  \"ranks\": %d,\n  \"collective\": ", nranks);
  json_string(f, colls);
  fprintf(f, ",\n  \"dtype\": ");
  json_string(f, weft_dtype_name(o->dtype));
  fprintf(f, ",\n  \"op\": ");
  json_string(f, weft_redop_name(o->op));
  fprintf(f, ",\n  \"root\": %d,\n  \"algo\": ", o->root);
  json_string(f, algo);
  fprintf(f, ",\n  \"nonblocking\": %s,\n  \"warmup_iters\": %d,\n  \"iters\": %d,\n  \"check\": %s,\n",
          o->nonblocking ? "true" : "false", o->warmup, o->iters, o->check ? "true" : "false");
  fprintf(f, "  \"timestamp\": %lld,\n  \"env\": {", (long long)time(NULL));
  bool first = true;
  for (size_t i = 0; i < sizeof recorded_env / sizeof recorded_env[0]; i++) {
    const char *v = getenv(recorded_env[i]);
    if (!v) continue;
    fprintf(f, "%s", first ? "" : ", ");
    json_string(f, recorded_env[i]);
    fputs(": ", f);
    json_string(f, v);
    first = false;
  }
  fprintf(f, "},\n  \"results\": [");
  for (size_t i = 0; i < rows->n; i++) {
    const bench_row_t *r = &rows->rows[i];
    fprintf(f, "%s\n    {\"collective\": ", i ? "," : "");
    json_string(f, bench_coll_name(r->coll));
    fprintf(f, ", \"bytes\": %zu, \"count\": %zu, \"time_us\": ", r->bytes, r->count);
    json_number(f, r->time_us, "%.3f");
    fputs(", \"algbw\": ", f);
    json_number(f, r->algbw, "%.6f");
    fputs(", \"busbw\": ", f);
    json_number(f, r->busbw, "%.6f");
    if (r->wrong < 0)
      fputs(", \"wrong\": null}", f);
    else
      fprintf(f, ", \"wrong\": %lld}", (long long)r->wrong);
  }
  fprintf(f, "%s],\n  \"host\": {\"cores\": %ld, \"hostname\": ", rows->n ? "\n  " : "",
          sysconf(_SC_NPROCESSORS_ONLN));
  json_string(f, host);
  fprintf(f, "}\n}\n");
  bool ok = !ferror(f);
  if (fclose(f) != 0) ok = false;
  if (!ok) fprintf(stderr, "weft-bench: error writing %s\n", path);
  return ok;
}
