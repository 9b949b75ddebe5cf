/* weft._weft._C_API: the capsule other extensions import (the table is in weft_capi.h).
 *
 * Pinning is how a C++ user of a weft.Comm (a torch process group) keeps it from being closed
 * under its worker thread: close(), recover() from Python and the exit hook refuse a pinned
 * communicator. The pin count is only touched with the GIL held. */
#include "pyweft.h"
#include "weft_capi.h"

static weft_comm_t *comm_pin(PyObject *obj) {
  if (!PyObject_TypeCheck(obj, &pw_comm_type)) {
    PyErr_Format(PyExc_TypeError, "expected a weft.Comm, got %.100s", Py_TYPE(obj)->tp_name);
    return NULL;
  }
  pw_comm_t *c = (pw_comm_t *)obj;
  if (!c->comm || c->closing) {
    pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "the weft.Comm is closed");
    return NULL;
  }
  c->pinned++;
  Py_INCREF(obj);
  return c->comm;
}

static void comm_unpin(PyObject *obj) {
  pw_comm_t *c = (pw_comm_t *)obj;
  if (c->pinned > 0) c->pinned--;
  Py_DECREF(obj);
}

static const weft_capi_t table = {
    .size = sizeof(weft_capi_t),
    .abi = WEFT_CAPI_ABI,
    .comm_pin = comm_pin,
    .comm_unpin = comm_unpin,
    .recover_info = pw_recover_info,
    .strerror = weft_strerror,
    .comm_last_error = weft_comm_last_error,
    .comm_rank = weft_comm_rank,
    .comm_size = weft_comm_size,
    .comm_epoch = weft_comm_epoch,
    .comm_recover = weft_comm_recover,
    .dtype_size = weft_dtype_size,
    .iallreduce = weft_iallreduce,
    .iallgather = weft_iallgather,
    .ireduce_scatter = weft_ireduce_scatter,
    .ibroadcast = weft_ibroadcast,
    .ireduce = weft_ireduce,
    .ibarrier = weft_ibarrier,
    .isend = weft_isend,
    .irecv = weft_irecv,
    .wait = weft_wait,
    .test = weft_test,
    .comm_split = weft_comm_split,
    .comm_create_group = weft_comm_create_group,
    .comm_destroy = weft_comm_destroy,
    .ialltoall = weft_ialltoall,
    .ialltoallv = weft_ialltoallv,
    .iallgatherv = weft_iallgatherv,
    .ireduce_scatterv = weft_ireduce_scatterv,
    .igather = weft_igather,
    .iscatter = weft_iscatter,
    .isend_tagged = weft_isend_tagged,
    .irecv_tagged = weft_irecv_tagged,
};

int pw_capi_add(PyObject *module) {
  PyObject *cap = PyCapsule_New((void *)&table, WEFT_CAPI_CAPSULE, NULL);
  if (!cap) return -1;
  if (PyModule_AddObject(module, "_C_API", cap) < 0) {
    Py_DECREF(cap);
    return -1;
  }
  return 0;
}
