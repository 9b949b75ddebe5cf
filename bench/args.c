/* weft-bench command line: nccl-tests' flags (-b -e -f -i -d -o -r -w -n -c) plus weft's own
 * (--nonblocking, --check, --json, --algo). Every rank parses the same argv. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: weftrun -n N weft-bench [options]\n"
          "  -c, --collective LIST  allreduce|allgather|reduce_scatter|broadcast|reduce|sendrecv|\n"
          "                         barrier|all, or a comma-separated list (default allreduce)\n"
          "  -b, --minbytes SIZE    smallest message (default 8); sizes take K, M, G (x1024)\n"
          "  -e, --maxbytes SIZE    largest message (default 256M)\n"
          "  -f, --stepfactor F     multiply the size by F each step (default 2)\n"
          "  -i, --stepbytes SIZE   add SIZE each step instead of multiplying\n"
          "  -d, --datatype TYPE    int8 uint8 int32 uint32 int64 uint64 float16 bfloat16\n"
          "                         float32 float64 (aliases: float half bf16 double int)\n"
          "  -o, --op OP            sum|prod|min|max|avg (default sum)\n"
          "  -r, --root R           root of broadcast and reduce (default 0)\n"
          "  -w, --warmup_iters N   untimed iterations per size (default 5)\n"
          "  -n, --iters N          timed iterations per size (default 20)\n"
          "      --nonblocking      use the weft_i* calls: issue all iterations, then wait\n"
          "      --check 0|1        verify one extra iteration per size (default 1)\n"
          "      --json FILE        rank 0 writes the results as JSON\n"
          "      --algo A           auto|ring|tree (sets WEFT_ALGO before init)\n"
          "  -q, --quiet            no per-size progress lines on stderr\n"
          "  -h, --help             this text\n"
          "      --version          print weft-bench's version (of the header it was built with)\n"
          "Time is the slowest rank's average per iteration; sendrecv is a ping-pong between\n"
          "ranks 0 and 1 and reports half the round trip. Bus bandwidth as in nccl-tests.\n");
}

static void fail(const char *fmt, const char *arg) {
  fprintf(stderr, "weft-bench: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  usage(stderr);
  exit(2);
}

bool bench_parse_size(const char *s, size_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return false;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s) return false;
  unsigned long long mult = 1;
  switch (*end) {
    case 'k': case 'K': mult = 1ull << 10, end++; break;
    case 'm': case 'M': mult = 1ull << 20, end++; break;
    case 'g': case 'G': mult = 1ull << 30, end++; break;
    default: break;
  }
  if (mult > 1 && (*end == 'i' || *end == 'I')) end++;
  if (*end == 'b' || *end == 'B') end++;
  if (*end) return false;
  if (v > SIZE_MAX / mult) return false;
  *out = (size_t)(v * mult);
  return true;
}

static int parse_int(const char *s, int lo, int hi, const char *what) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < lo || v > hi) fail("bad %s", what);
  return (int)v;
}

static weft_dtype_t parse_dtype(const char *s) {
  static const struct { const char *alias; weft_dtype_t d; } aliases[] = {
      {"float", WEFT_FLOAT32}, {"half", WEFT_FLOAT16}, {"bf16", WEFT_BFLOAT16},
      {"double", WEFT_FLOAT64}, {"int", WEFT_INT32}, {"char", WEFT_INT8},
  };
  for (int d = 0; d < WEFT_NUM_DTYPES; d++)
    if (!strcasecmp(s, weft_dtype_name((weft_dtype_t)d))) return (weft_dtype_t)d;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (!strcasecmp(s, aliases[i].alias)) return aliases[i].d;
  fail("unknown datatype '%s'", s);
  return WEFT_FLOAT32;
}

static weft_redop_t parse_op(const char *s) {
  for (int op = 0; op < WEFT_NUM_REDOPS; op++)
    if (!strcasecmp(s, weft_redop_name((weft_redop_t)op))) return (weft_redop_t)op;
  fail("unknown op '%s'", s);
  return WEFT_SUM;
}

static void parse_colls(const char *s, bench_opts_t *o) {
  char buf[256];
  if (strlen(s) >= sizeof buf) fail("collective list too long: %s", s);
  strcpy(buf, s);
  memset(o->colls, 0, sizeof o->colls);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    bench_coll_t c;
    if (!strcmp(tok, "all")) {
      for (int i = 0; i < BENCH_NUM_COLLS; i++) o->colls[i] = true;
    } else if (bench_coll_from_name(tok, &c)) {
      o->colls[c] = true;
    } else {
      fail("unknown collective '%s'", tok);
    }
  }
}

void bench_parse_args(int argc, char **argv, bench_opts_t *o) {
  enum { OPT_NONBLOCKING = 256, OPT_CHECK, OPT_JSON, OPT_ALGO, OPT_VERSION };
  static const struct option longopts[] = {
      {"collective", required_argument, NULL, 'c'}, {"minbytes", required_argument, NULL, 'b'},
      {"maxbytes", required_argument, NULL, 'e'},   {"stepfactor", required_argument, NULL, 'f'},
      {"stepbytes", required_argument, NULL, 'i'},  {"datatype", required_argument, NULL, 'd'},
      {"op", required_argument, NULL, 'o'},         {"root", required_argument, NULL, 'r'},
      {"warmup_iters", required_argument, NULL, 'w'}, {"iters", required_argument, NULL, 'n'},
      {"nonblocking", no_argument, NULL, OPT_NONBLOCKING}, {"check", required_argument, NULL, OPT_CHECK},
      {"json", required_argument, NULL, OPT_JSON},  {"algo", required_argument, NULL, OPT_ALGO},
      {"quiet", no_argument, NULL, 'q'},            {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  *o = (bench_opts_t){.min_bytes = 8, .max_bytes = 256u << 20, .factor = 2, .dtype = WEFT_FLOAT32,
                      .op = WEFT_SUM, .warmup = 5, .iters = 20, .check = true};
  o->colls[BENCH_ALLREDUCE] = true;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:b:e:f:i:d:o:r:w:n:qh", longopts, NULL)) != -1) {
    switch (opt) {
      case 'c': parse_colls(optarg, o); break;
      case 'b': if (!bench_parse_size(optarg, &o->min_bytes)) fail("bad size '%s'", optarg); break;
      case 'e': if (!bench_parse_size(optarg, &o->max_bytes)) fail("bad size '%s'", optarg); break;
      case 'f': o->factor = (size_t)parse_int(optarg, 2, 1 << 20, "step factor (need >= 2)"), o->step_bytes = 0; break;
      case 'i':
        if (!bench_parse_size(optarg, &o->step_bytes) || !o->step_bytes) fail("bad step '%s'", optarg);
        o->factor = 0;
        break;
      case 'd': o->dtype = parse_dtype(optarg); break;
      case 'o': o->op = parse_op(optarg); break;
      case 'r': o->root = parse_int(optarg, 0, INT_MAX, "root"); break;
      case 'w': o->warmup = parse_int(optarg, 0, 1 << 24, "warmup iteration count"); break;
      case 'n': o->iters = parse_int(optarg, 1, 1 << 24, "iteration count"); break;
      case OPT_NONBLOCKING: o->nonblocking = true; break;
      case OPT_CHECK: o->check = parse_int(optarg, 0, 1, "--check value (0 or 1)") != 0; break;
      case OPT_JSON: o->json_path = optarg; break;
      case OPT_ALGO:
        if (strcmp(optarg, "auto") && strcmp(optarg, "ring") && strcmp(optarg, "tree"))
          fail("--algo must be auto, ring or tree, not '%s'", optarg);
        o->algo = optarg;
        break;
      case 'q': o->quiet = true; break;
      case 'h': usage(stdout); exit(0);
      case OPT_VERSION: printf("weft-bench (weft) %s\n", WEFT_VERSION_STRING); exit(0);
      default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) fail("unexpected argument '%s'", argv[optind]);
  if (o->min_bytes > o->max_bytes) fail("%s", "-b is larger than -e");
}
