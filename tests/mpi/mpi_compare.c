/* One rank of the MPI comparison: weft and MPICH run the same collective on the same inputs and
 * must produce the same bytes. Started by mpiexec (hydra), so weft discovers its rank and size
 * from PMI_RANK/PMI_SIZE; the driver (tests/mpi/run_mpi.py) starts the coordinator and passes
 * WEFT_COORDINATOR and WEFT_JOB_TOKEN.
 *
 *   mpiexec -launcher fork -n N mpi_compare [--no-big]
 *
 * Inputs come from tests/common/reference.h: small integers and powers of two for floats, so
 * every reduction order gives the exact same answer and a byte comparison is fair. The serial
 * reference is also checked (a sample of elements) so that MPI and weft agreeing on garbage, or
 * a bug in this file, cannot pass. Exit status: 0 all equal, 1 a mismatch, 2 a weft call failed,
 * 3 weft and MPI disagree on rank or size. This is a correctness test: nothing is timed. */
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/reference.h"

typedef struct {
  weft_dtype_t weft;
  MPI_Datatype mpi;
} dtype_pair_t;

typedef struct {
  weft_redop_t weft;
  MPI_Op mpi;
} op_pair_t;

static int rank, size;
static weft_comm_t *comm;
static long comparisons, mismatches, reference_errors, reference_only;
/* mpi_broken[dtype][op]: this MPI computes the reduction wrongly (MPICH 4.0.2 compares unsigned
 * types as signed in MIN and MAX); weft is then checked against the serial reference alone. */
static bool mpi_broken[WEFT_NUM_DTYPES][WEFT_NUM_REDOPS];

/* Aborts the whole job: a rank that stops issuing collectives would leave MPI's waiting forever. */
static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "mpi_compare rank %d: ", rank);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  exit(code);
}

static void weft_ok(weft_result_t r, const char *what) {
  if (r != WEFT_SUCCESS) die(2, "%s failed: %s: %s", what, weft_strerror(r), weft_comm_last_error(comm));
}

static void mpi_ok(int r, const char *what) {
  if (r != MPI_SUCCESS) die(2, "%s failed with MPI error %d", what, r);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die(2, "out of memory (%zu bytes)", n);
  return p;
}

static void hex(char *out, size_t outlen, const uint8_t *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 3 <= outlen; i++) k += (size_t)snprintf(out + k, outlen - k, "%02x", p[i]);
}

/* Byte comparison of weft's output against MPI's; the first differing element is printed with
 * the serial reference's value (reductions only: `op` >= 0) so the report says which side is
 * wrong. `base` is the element index of out[0] in the reduced vector (reduce_scatter). */
static void compare(const char *what, weft_dtype_t d, int op, size_t count, int root,
                    const uint8_t *mpi_out, const uint8_t *weft_out, size_t base, uint64_t salt) {
  size_t es = weft_dtype_size(d), bad = 0, first = 0;
  comparisons++;
  for (size_t i = 0; i < count; i++)
    if (memcmp(mpi_out + i * es, weft_out + i * es, es) != 0 && bad++ == 0) first = i;
  if (bad == 0) return;
  mismatches++;
  char m[20], w[20], r[20] = "-";
  uint8_t exp[8];
  hex(m, sizeof m, mpi_out + first * es, es);
  hex(w, sizeof w, weft_out + first * es, es);
  if (op >= 0) {
    ref_reduced(exp, 0, base + first, d, (weft_redop_t)op, size, salt);
    hex(r, sizeof r, exp, es);
  }
  fprintf(stderr,
          "rank %d: MISMATCH %s %s %s count=%zu root=%d: %zu of %zu elements differ; first at %zu: "
          "mpi=%s weft=%s reference=%s (bytes in memory order)\n",
          rank, what, weft_dtype_name(d), op >= 0 ? weft_redop_name((weft_redop_t)op) : "-", count,
          root, bad, count, first, m, w, r);
}

static bool reference_ok(weft_dtype_t d, weft_redop_t op, const uint8_t *out, size_t i, size_t base,
                         uint64_t salt) {
  uint8_t exp[8];
  size_t es = weft_dtype_size(d);
  ref_reduced(exp, 0, base + i, d, op, size, salt);
  return memcmp(out + i * es, exp, es) == 0;
}

/* MPI's reduced vector must match the serial reference: every element of short vectors, a
 * stride sample plus the last element of long ones. */
static void check_reference(const char *what, weft_dtype_t d, weft_redop_t op, const uint8_t *out,
                            size_t count, size_t base, uint64_t salt) {
  size_t step = count <= 1000 ? 1 : 97;
  for (size_t i = 0; i < count; i = i + step < count || i == count - 1 ? i + step : count - 1) {
    if (!reference_ok(d, op, out, i, base, salt)) {
      fprintf(stderr, "rank %d: MPI result differs from the serial reference: %s %s %s count=%zu at %zu\n",
              rank, what, weft_dtype_name(d), weft_redop_name(op), count, base + i);
      reference_errors++;
      return;
    }
  }
}

/* One reduction result: against MPI's when MPI computes this (dtype, op) right, else against
 * the serial reference, element by element. */
static void check_reduction(const char *what, weft_dtype_t d, weft_redop_t op, size_t count, int root,
                            const uint8_t *mpi_out, const uint8_t *weft_out, size_t base, uint64_t salt) {
  if (!mpi_broken[d][op]) {
    check_reference(what, d, op, mpi_out, count, base, salt);
    compare(what, d, (int)op, count, root, mpi_out, weft_out, base, salt);
    return;
  }
  size_t es = weft_dtype_size(d);
  uint8_t *exp = xmalloc(count * es);
  for (size_t i = 0; i < count; i++) ref_reduced(exp, i, base + i, d, op, size, salt);
  char label[64];
  snprintf(label, sizeof label, "%s(vs reference)", what);
  reference_only++;
  compare(label, d, (int)op, count, root, exp, weft_out, base, salt);
  free(exp);
}

/* Rank 0 contributes the dtype's top bit, the others 1: unsigned MIN is 1 and MAX the top bit;
 * a signed comparison gets them the other way round. */
static void probe_mpi(weft_dtype_t d, MPI_Datatype md, weft_redop_t op, MPI_Op mop) {
  size_t es = weft_dtype_size(d);
  uint64_t top = 1ull << (es * 8 - 1), in = rank == 0 ? top : 1, out = 0;
  uint64_t want = size == 1 ? in : op == WEFT_MAX ? top : 1;
  mpi_ok(MPI_Allreduce(&in, &out, 1, md, mop, MPI_COMM_WORLD), "MPI_Allreduce(probe)");
  if (es < 8) out &= (1ull << (es * 8)) - 1;
  if (out == want) return;
  mpi_broken[d][op] = true;
  if (rank == 0)
    printf("mpi_compare: this MPI gets %s %s wrong (%#llx, expected %#llx: a signed comparison); "
           "weft is checked against the serial reference there\n",
           weft_dtype_name(d), weft_redop_name(op), (unsigned long long)out, (unsigned long long)want);
}

static void cmp_allreduce(dtype_pair_t d, op_pair_t op, size_t count, int inplace, uint64_t salt) {
  size_t bytes = count * weft_dtype_size(d.weft);
  uint8_t *in = xmalloc(bytes), *mo = xmalloc(bytes), *wo = xmalloc(bytes);
  ref_fill(in, count, 0, d.weft, op.weft, rank, salt);
  if (inplace) {
    memcpy(mo, in, bytes);
    memcpy(wo, in, bytes);
  }
  mpi_ok(MPI_Allreduce(inplace ? MPI_IN_PLACE : in, mo, (int)count, d.mpi, op.mpi, MPI_COMM_WORLD), "MPI_Allreduce");
  weft_ok(weft_allreduce(comm, inplace ? wo : in, wo, count, d.weft, op.weft), "weft_allreduce");
  check_reduction(inplace ? "allreduce(in place)" : "allreduce", d.weft, op.weft, count, -1, mo, wo, 0, salt);
  free(in), free(mo), free(wo);
}

static void cmp_reduce_scatter(dtype_pair_t d, op_pair_t op, size_t recvcount, uint64_t salt) {
  size_t es = weft_dtype_size(d.weft), n = (size_t)size;
  uint8_t *in = xmalloc(n * recvcount * es), *mo = xmalloc(recvcount * es), *wo = xmalloc(recvcount * es);
  ref_fill(in, n * recvcount, 0, d.weft, op.weft, rank, salt);
  mpi_ok(MPI_Reduce_scatter_block(in, mo, (int)recvcount, d.mpi, op.mpi, MPI_COMM_WORLD), "MPI_Reduce_scatter_block");
  weft_ok(weft_reduce_scatter(comm, in, wo, recvcount, d.weft, op.weft), "weft_reduce_scatter");
  check_reduction("reduce_scatter", d.weft, op.weft, recvcount, -1, mo, wo, (size_t)rank * recvcount, salt);
  free(in), free(mo), free(wo);
}

static void cmp_reduce(dtype_pair_t d, op_pair_t op, size_t count, int root, uint64_t salt) {
  size_t bytes = count * weft_dtype_size(d.weft);
  uint8_t *in = xmalloc(bytes), *mo = xmalloc(bytes), *wo = xmalloc(bytes);
  ref_fill(in, count, 0, d.weft, op.weft, rank, salt);
  memset(mo, 0x5a, bytes);
  memset(wo, 0xa5, bytes);
  mpi_ok(MPI_Reduce(in, mo, (int)count, d.mpi, op.mpi, root, MPI_COMM_WORLD), "MPI_Reduce");
  weft_ok(weft_reduce(comm, in, rank == root ? wo : NULL, count, d.weft, op.weft, root), "weft_reduce");
  if (rank == root) check_reduction("reduce", d.weft, op.weft, count, root, mo, wo, 0, salt);
  free(in), free(mo), free(wo);
}

static void cmp_allgather(dtype_pair_t d, size_t count, uint64_t salt) {
  size_t es = weft_dtype_size(d.weft), n = (size_t)size;
  uint8_t *in = xmalloc(count * es), *mo = xmalloc(n * count * es), *wo = xmalloc(n * count * es);
  uint8_t *exp = xmalloc(count * es);
  ref_fill(in, count, 0, d.weft, WEFT_SUM, rank, salt);
  memset(mo, 0x5a, n * count * es);
  memset(wo, 0xa5, n * count * es);
  mpi_ok(MPI_Allgather(in, (int)count, d.mpi, mo, (int)count, d.mpi, MPI_COMM_WORLD), "MPI_Allgather");
  weft_ok(weft_allgather(comm, in, wo, count, d.weft), "weft_allgather");
  for (int r = 0; r < size; r++) {
    ref_fill(exp, count, 0, d.weft, WEFT_SUM, r, salt);
    if (memcmp(mo + (size_t)r * count * es, exp, count * es) != 0) {
      fprintf(stderr, "rank %d: MPI_Allgather block %d differs from the inputs (%s count=%zu)\n", rank, r,
              weft_dtype_name(d.weft), count);
      reference_errors++;
      break;
    }
  }
  compare("allgather", d.weft, -1, n * count, -1, mo, wo, 0, salt);
  free(in), free(mo), free(wo), free(exp);
}

/* Non-roots' send buffers and every receive buffer hold a sentinel, so output copied from the
 * wrong place shows up. */
static void cmp_broadcast(dtype_pair_t d, size_t count, int root, uint64_t salt) {
  size_t bytes = count * weft_dtype_size(d.weft);
  uint8_t *src = xmalloc(bytes), *mo = xmalloc(bytes), *wo = xmalloc(bytes), *exp = xmalloc(bytes);
  ref_fill(exp, count, 0, d.weft, WEFT_SUM, root, salt);
  if (rank == root) memcpy(src, exp, bytes);
  else memset(src, 0x3c, bytes);
  memcpy(mo, src, bytes);
  memset(wo, 0xa5, bytes);
  mpi_ok(MPI_Bcast(mo, (int)count, d.mpi, root, MPI_COMM_WORLD), "MPI_Bcast");
  weft_ok(weft_broadcast(comm, src, wo, count, d.weft, root), "weft_broadcast");
  if (memcmp(mo, exp, bytes) != 0) {
    fprintf(stderr, "rank %d: MPI_Bcast result differs from the root's input (%s count=%zu root=%d)\n", rank,
            weft_dtype_name(d.weft), count, root);
    reference_errors++;
  }
  compare("broadcast", d.weft, -1, count, root, mo, wo, 0, salt);
  free(src), free(mo), free(wo), free(exp);
}

/* Under mpiexec weft must take its rank and size from PMI_RANK/PMI_SIZE, i.e. agree with MPI. */
static void check_identity(void) {
  int mrank, msize;
  MPI_Comm_rank(MPI_COMM_WORLD, &mrank);
  MPI_Comm_size(MPI_COMM_WORLD, &msize);
  rank = mrank;
  size = msize;
  /* Every rank learns whether every rank initialised, so a failure is reported by each rank
   * and the job ends cleanly (MPI_Abort can lose the other ranks' messages). */
  weft_result_t r = weft_comm_init_env(&comm);
  int ok = r == WEFT_SUCCESS, all_ok = 0;
  if (!ok)
    fprintf(stderr, "mpi_compare rank %d: weft_comm_init_env failed: %s: %s\n", rank, weft_strerror(r),
            weft_comm_last_error(NULL));
  mpi_ok(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce(init)");
  if (!all_ok) {
    weft_comm_destroy(comm);
    MPI_Finalize();
    exit(2);
  }
  if (weft_comm_rank(comm) != mrank || weft_comm_size(comm) != msize) {
    const char *pr = getenv("PMI_RANK"), *ps = getenv("PMI_SIZE");
    die(3, "weft and MPI disagree: weft rank %d of %d, MPI rank %d of %d (PMI_RANK=%s PMI_SIZE=%s)",
        weft_comm_rank(comm), weft_comm_size(comm), mrank, msize, pr ? pr : "unset", ps ? ps : "unset");
  }
}

int main(int argc, char **argv) {
  static const size_t counts[] = {1, 13, 1000, 262147};
  int ncounts = 4;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--no-big")) ncounts = 3;
    else {
      fprintf(stderr, "usage: mpiexec -n N mpi_compare [--no-big]\n");
      return 2;
    }
  }
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "mpi_compare: MPI_Init failed\n");
    return 2;
  }
  check_identity();

  const dtype_pair_t dtypes[] = {
      {WEFT_INT8, MPI_INT8_T},   {WEFT_UINT8, MPI_UINT8_T},   {WEFT_INT32, MPI_INT32_T},
      {WEFT_UINT32, MPI_UINT32_T}, {WEFT_INT64, MPI_INT64_T}, {WEFT_UINT64, MPI_UINT64_T},
      {WEFT_FLOAT32, MPI_FLOAT}, {WEFT_FLOAT64, MPI_DOUBLE},
  };
  const op_pair_t ops[] = {{WEFT_SUM, MPI_SUM}, {WEFT_PROD, MPI_PROD}, {WEFT_MIN, MPI_MIN}, {WEFT_MAX, MPI_MAX}};
  const int roots[2] = {0, size - 1};
  for (size_t di = 0; di < sizeof dtypes / sizeof dtypes[0]; di++)
    if (dtypes[di].weft == WEFT_UINT8 || dtypes[di].weft == WEFT_UINT32 || dtypes[di].weft == WEFT_UINT64)
      for (size_t oi = 2; oi < 4; oi++) probe_mpi(dtypes[di].weft, dtypes[di].mpi, ops[oi].weft, ops[oi].mpi);
  uint64_t salt = 1;
  for (int ci = 0; ci < ncounts; ci++) {
    size_t count = counts[ci];
    for (size_t di = 0; di < sizeof dtypes / sizeof dtypes[0]; di++) {
      dtype_pair_t d = dtypes[di];
      for (size_t oi = 0; oi < sizeof ops / sizeof ops[0]; oi++) {
        cmp_allreduce(d, ops[oi], count, 0, salt++);
        if (count != counts[3]) cmp_allreduce(d, ops[oi], count, 1, salt++);
        cmp_reduce_scatter(d, ops[oi], count, salt++);
        cmp_reduce(d, ops[oi], count, roots[oi % 2], salt++);
      }
      cmp_allgather(d, count, salt++);
      for (int ri = 0; ri < (size > 1 ? 2 : 1); ri++) cmp_broadcast(d, count, roots[ri], salt++);
    }
  }

  long local[4] = {comparisons, mismatches, reference_errors, reference_only}, total[4];
  mpi_ok(MPI_Allreduce(local, total, 4, MPI_LONG, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce(summary)");
  weft_ok(weft_comm_destroy(comm), "weft_comm_destroy");
  if (rank == 0) {
    printf("mpi_compare: %ld comparisons, %ld mismatches (%d ranks; %ld against the serial reference "
           "where MPI is wrong; %ld MPI results off the reference)\n",
           total[0], total[1], size, total[3], total[2]);
    fflush(stdout);
  }
  MPI_Finalize();
  return total[1] || total[2] ? 1 : 0;
}
