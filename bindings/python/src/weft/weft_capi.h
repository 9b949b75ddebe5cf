/* weft's C API for other extension modules, exported by weft._weft as a PyCapsule.
 *
 * The extension weft._weft compiles the library with hidden visibility, so no weft_ symbol is
 * visible to other modules. An extension that wants to call weft directly (the PyTorch backend
 * in weft/torch/csrc) imports this table instead of linking a second copy of libweft, which
 * would be a second progress engine and could not share a weft.Comm (numpy's C API does the
 * same: a capsule holding a table of function pointers).
 *
 *     const weft_capi_t *api = weft_capi_import();     // GIL held; NULL + exception on failure
 *     weft_comm_t *c = api->comm_pin(py_comm);          // GIL held
 *     api->allreduce(c, buf, buf, n, WEFT_FLOAT32, WEFT_SUM);   // any thread, no GIL needed
 *     api->comm_unpin(py_comm);                         // GIL held
 *
 * Compatibility: fields are only ever appended; `size` is sizeof the table the exporter was
 * built with, so an importer checks that the fields it uses lie below it. `abi` changes only
 * on an incompatible change (then importers refuse the table). */
#ifndef WEFT_CAPI_H
#define WEFT_CAPI_H

#include <Python.h>
#include <stddef.h>

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_CAPI_CAPSULE "weft._weft._C_API"
#define WEFT_CAPI_ABI 1

typedef struct {
  size_t size; /* sizeof(weft_capi_t) of the exporter */
  int abi;     /* WEFT_CAPI_ABI of the exporter */

  /* Python side (call with the GIL held). comm_pin returns the weft_comm_t of an open
   * weft.Comm and pins it: the object is kept alive and close() (and the exit hook) refuse to
   * destroy it until the matching comm_unpin. NULL with a Python exception set on failure. */
  weft_comm_t *(*comm_pin)(PyObject *comm);
  void (*comm_unpin)(PyObject *comm);
  /* Builds a weft.RecoverInfo from the C struct (new reference, or NULL with an exception). */
  PyObject *(*recover_info)(const weft_recover_info_t *info);

  /* The C library: the functions of weft.h, same contracts, callable from any thread without
   * the GIL (one thread driving one communicator at a time, as weft.h says). */
  const char *(*strerror)(weft_result_t result);
  const char *(*comm_last_error)(const weft_comm_t *comm);
  int (*comm_rank)(const weft_comm_t *comm);
  int (*comm_size)(const weft_comm_t *comm);
  uint64_t (*comm_epoch)(const weft_comm_t *comm);
  weft_result_t (*comm_recover)(weft_comm_t *comm, weft_recover_info_t *info);
  size_t (*dtype_size)(weft_dtype_t dtype);
  weft_result_t (*iallreduce)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, weft_redop_t,
                              weft_request_t **);
  weft_result_t (*iallgather)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, weft_request_t **);
  weft_result_t (*ireduce_scatter)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, weft_redop_t,
                                   weft_request_t **);
  weft_result_t (*ibroadcast)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, int, weft_request_t **);
  weft_result_t (*ireduce)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, weft_redop_t, int,
                           weft_request_t **);
  weft_result_t (*ibarrier)(weft_comm_t *, weft_request_t **);
  weft_result_t (*isend)(weft_comm_t *, const void *, size_t, weft_dtype_t, int, weft_request_t **);
  weft_result_t (*irecv)(weft_comm_t *, void *, size_t, weft_dtype_t, int, weft_request_t **);
  weft_result_t (*wait)(weft_request_t *request);
  weft_result_t (*test)(weft_request_t *request);
  /* Appended with sub-communicators (a torch process group per new_group) and the collectives
   * after them. A child made here is owned by the caller: comm_destroy it. */
  weft_result_t (*comm_split)(weft_comm_t *parent, int color, int key, weft_comm_t **child);
  weft_result_t (*comm_create_group)(weft_comm_t *parent, int nranks, const int *ranks, uint64_t tag,
                                     weft_comm_t **child);
  weft_result_t (*comm_destroy)(weft_comm_t *comm);
  weft_result_t (*ialltoall)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, weft_request_t **);
  weft_result_t (*ialltoallv)(weft_comm_t *, const void *, const size_t *, const size_t *, void *, const size_t *,
                              const size_t *, weft_dtype_t, weft_request_t **);
  weft_result_t (*iallgatherv)(weft_comm_t *, const void *, size_t, void *, const size_t *, const size_t *,
                               weft_dtype_t, weft_request_t **);
  weft_result_t (*ireduce_scatterv)(weft_comm_t *, const void *, void *, const size_t *, weft_dtype_t,
                                    weft_redop_t, weft_request_t **);
  weft_result_t (*igather)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, int, weft_request_t **);
  weft_result_t (*iscatter)(weft_comm_t *, const void *, void *, size_t, weft_dtype_t, int, weft_request_t **);
  weft_result_t (*isend_tagged)(weft_comm_t *, const void *, size_t, weft_dtype_t, int, int, weft_request_t **);
  weft_result_t (*irecv_tagged)(weft_comm_t *, void *, size_t, weft_dtype_t, int, int, int *, weft_request_t **);
} weft_capi_t;

/* Imports the table from weft._weft (GIL held). NULL with a Python exception on failure. */
static inline const weft_capi_t *weft_capi_import(void) {
  const weft_capi_t *api = (const weft_capi_t *)PyCapsule_Import(WEFT_CAPI_CAPSULE, 0);
  if (!api) return NULL;
  if (api->abi != WEFT_CAPI_ABI || api->size < sizeof(weft_capi_t)) {
    PyErr_Format(PyExc_ImportError, "%s: ABI %d size %zu, this module needs ABI %d size >= %zu (rebuild it)",
                 WEFT_CAPI_CAPSULE, api->abi, api->size, WEFT_CAPI_ABI, sizeof(weft_capi_t));
    return NULL;
  }
  return api;
}

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CAPI_H */
