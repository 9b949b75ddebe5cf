/* The counts and displacements of the uneven collectives (alltoallv, allgatherv,
 * reduce_scatterv) from Python sequences, checked against the buffers they describe.
 *
 * The C library checks what it can see from the arrays alone (receive blocks that overlap, a
 * displacement that overflows, this rank's own block sent and received with different counts),
 * but it never sees a buffer's length: a count or displacement that reaches past the end of a
 * Python buffer would make weft read or write memory the caller does not own. So every block is
 * checked against the exported buffer here, before anything reaches the library, and the error
 * names the argument, the entry and both numbers. Displacements default to the blocks packed in
 * rank order (the exclusive prefix sums of the counts). */
#include "pyweft.h"

enum { SENDCOUNTS, SDISPLS, RECVCOUNTS, RDISPLS };

/* Raises InvalidArgumentError; evaluates to -1. */
#define invalid(...) (pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, __VA_ARGS__), -1)

/* One entry of a counts or displacements sequence: an integer in [0, PY_SSIZE_T_MAX]. */
static int entry(PyObject *item, size_t *out, const char *coll, const char *name, Py_ssize_t j, const char *what) {
  PyObject *v = PyNumber_Index(item);
  if (!v) {
    PyErr_Clear();
    return invalid("%s: %s[%zd] (%R) is not an integer %s", coll, name, j, item, what);
  }
  Py_ssize_t x = PyLong_AsSsize_t(v);
  if (x == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    int rc = invalid("%s: %s[%zd] %S is too large for a %s", coll, name, j, v, what);
    Py_DECREF(v);
    return rc;
  }
  Py_DECREF(v);
  if (x < 0) return invalid("%s: %s[%zd] is %zd, a negative %s", coll, name, j, x, what);
  *out = (size_t)x;
  return 0;
}

/* A sequence of `size` counts or displacements (a list, tuple, numpy array...) into out. */
static int array_get(PyObject *obj, int size, size_t *out, const char *coll, const char *name, const char *what) {
  PyObject *seq = PySequence_Check(obj) ? PySequence_Fast(obj, "") : NULL;
  if (!seq) {
    PyErr_Clear();
    return invalid("%s: %s (%s) is not a sequence of %ss, one per rank", coll, name, Py_TYPE(obj)->tp_name, what);
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  int rc = 0;
  if (n != size)
    rc = invalid("%s: %s has length %zd, expected %d (one entry per rank)", coll, name, n, size);
  for (Py_ssize_t j = 0; rc == 0 && j < n; j++)
    rc = entry(PySequence_Fast_GET_ITEM(seq, j), &out[j], coll, name, j, what);
  Py_DECREF(seq);
  return rc;
}

/* The packed layout: displs[j] = counts[0] + ... + counts[j-1]. Gives the total in *sum. */
static int packed(const size_t *counts, int size, size_t *displs, size_t *sum, const char *coll, const char *name) {
  size_t s = 0;
  for (int j = 0; j < size; j++) {
    if (counts[j] > (size_t)PY_SSIZE_T_MAX - s)
      return invalid("%s: %s add up to more elements than any buffer holds (at %s[%d])", coll, name, name, j);
    if (displs) displs[j] = s;
    s += counts[j];
  }
  *sum = s;
  return 0;
}

/* Every non-empty block (counts[j] elements at displs[j]) lies inside a buffer of len elements. */
static int blocks_fit(const pw_layout_args_t *a, int ci, int di, const size_t *counts, const size_t *displs, int size,
                      const char *buf, Py_ssize_t len, const char *coll) {
  const char *cname = a->name[ci];
  if (!a->obj[di]) {
    size_t sum;
    if (packed(counts, size, NULL, &sum, coll, cname) < 0) return -1;
    if (sum > (size_t)len)
      return invalid("%s: %s has %zd elements, fewer than the %zu that %s add up to (pass %s= for another layout)",
                     coll, buf, len, sum, cname, a->name[di]);
    return 0;
  }
  for (int j = 0; j < size; j++) {
    if (counts[j] && counts[j] + displs[j] > (size_t)len)
      return invalid("%s: block %d of %s (%s[%d] %zu + %s[%d] %zu) ends at element %zu, past its end (%zd elements)",
                     coll, j, buf, a->name[di], j, displs[j], cname, j, counts[j], counts[j] + displs[j], len);
  }
  return 0;
}

void pw_layout_clear(pw_layout_t *l) {
  PyMem_Free(l->sendcounts);
  l->sendcounts = l->sdispls = l->recvcounts = l->rdispls = NULL;
}

int pw_layout_resolve(pw_call_t *k, const pw_layout_args_t *a, int rank, int size, const char *coll,
                      Py_ssize_t nsend, Py_ssize_t nrecv) {
  pw_layout_t *l = &k->layout;
  size_t *mem = PyMem_Calloc(4 * (size_t)size, sizeof *mem);
  if (!mem) {
    PyErr_NoMemory();
    return -1;
  }
  *l = (pw_layout_t){mem, mem + size, mem + 2 * (size_t)size, mem + 3 * (size_t)size};
  size_t *arr[4] = {l->sendcounts, l->sdispls, l->recvcounts, l->rdispls};
  static const char *const what[4] = {"count", "displacement", "count", "displacement"};
  for (int i = 0; i < 4; i++)
    if (a->obj[i] && array_get(a->obj[i], size, arr[i], coll, a->name[i], what[i]) < 0) return -1;
  size_t sum;
  for (int c = SENDCOUNTS; c <= RECVCOUNTS; c += 2) /* absent displacements: packed */
    if (a->obj[c] && !a->obj[c + 1] && packed(arr[c], size, arr[c + 1], &sum, coll, a->name[c]) < 0) return -1;

  switch (k->coll) {
    case PW_ALLTOALLV:
      if (blocks_fit(a, SENDCOUNTS, SDISPLS, l->sendcounts, l->sdispls, size, a->send_role, nsend, coll) < 0 ||
          blocks_fit(a, RECVCOUNTS, RDISPLS, l->recvcounts, l->rdispls, size, a->recv_role, nrecv, coll) < 0)
        return -1;
      k->count = 0;
      break;
    case PW_ALLGATHERV:
      if ((size_t)nsend != l->recvcounts[rank])
        return invalid("%s: %s has %zd elements but %s[%d] (this rank's block) is %zu", coll, a->send_role, nsend,
                       a->name[RECVCOUNTS], rank, l->recvcounts[rank]);
      if (blocks_fit(a, RECVCOUNTS, RDISPLS, l->recvcounts, l->rdispls, size, a->recv_role, nrecv, coll) < 0)
        return -1;
      k->count = (size_t)nsend;
      break;
    case PW_REDUCE_SCATTERV:
      if (packed(l->recvcounts, size, NULL, &sum, coll, a->name[RECVCOUNTS]) < 0) return -1;
      if ((size_t)nsend != sum)
        return invalid("%s: %s has %zd elements, expected %zu (the sum of recvcounts)", coll, a->send_role, nsend,
                       sum);
      if ((size_t)nrecv != l->recvcounts[rank])
        return invalid("%s: %s has %zd elements, expected %zu (recvcounts[%d], this rank's block)", coll,
                       a->recv_role, nrecv, l->recvcounts[rank], rank);
      k->count = 0;
      break;
    default:
      return invalid("%s: no count arrays (internal error)", coll);
  }
  return 0;
}
