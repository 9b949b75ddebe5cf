/* weft.Request: one non-blocking operation.
 *
 * It owns the exported buffers and a reference to its Comm until the operation completes, so
 * neither can go away under the library. Completion happens exactly once, by test() returning
 * True or raising, by wait(), by Comm.close() (which waits for every pending request before
 * destroying the communicator) or by deallocation: a Request dropped while pending is waited
 * for (GIL released, bounded by the communicator's timeout) and its outcome discarded. At
 * interpreter exit the atexit hook closes every open Comm, which completes its requests the same
 * way; nothing leaks and no buffer is freed while weft still writes into it. */
#include <string.h>

#include "pyweft.h"

pw_request_t *pw_request_new(pw_comm_t *owner) {
  pw_request_t *r = PyObject_New(pw_request_t, &pw_request_type);
  if (!r) return NULL;
  Py_INCREF(owner);
  r->owner = owner;
  r->req = NULL;
  r->busy = 0;
  r->code = WEFT_SUCCESS;
  r->detail = NULL;
  r->prev = r->next = NULL;
  memset(&r->call, 0, sizeof r->call);
  return r;
}

void pw_request_start(pw_request_t *r, weft_request_t *req) {
  r->req = req;
  r->prev = NULL;
  r->next = r->owner->pending;
  if (r->next) r->next->prev = r;
  r->owner->pending = r;
}

/* Records the outcome, gives the buffers back and leaves the owner's pending list. */
static void completed(pw_request_t *r, weft_result_t code, const char *detail) {
  pw_comm_t *o = r->owner;
  r->req = NULL;
  r->code = code;
  if (code != WEFT_SUCCESS) {
    r->detail = PyUnicode_DecodeUTF8(detail, (Py_ssize_t)strlen(detail), "replace");
    if (!r->detail) PyErr_Clear();
  }
  if (r->prev) r->prev->next = r->next;
  else o->pending = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  pw_buf_release(&r->call.send);
  pw_buf_release(&r->call.recv);
  if (code != WEFT_SUCCESS) Py_CLEAR(r->call.result);
  r->owner = NULL;
  Py_DECREF(o);
}

int pw_request_finish(pw_request_t *r) {
  if (!r->req) return 0;
  weft_request_t *req = r->req;
  weft_comm_t *c = r->owner->comm;
  char detail[PW_DETAIL_LEN] = "";
  weft_result_t code;
  r->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  code = weft_wait(req);
  if (code != WEFT_SUCCESS) snprintf(detail, sizeof detail, "%s", weft_comm_last_error(c));
  Py_END_ALLOW_THREADS
  r->busy = 0;
  completed(r, code, detail);
  return 0;
}

/* The outcome of a completed request: its result object, or the raised error. */
PyObject *pw_request_outcome(pw_request_t *r) {
  if (r->code != WEFT_SUCCESS) {
    PyObject *e = pw_error_new(r->code, r->detail ? PyUnicode_AsUTF8(r->detail) : "");
    if (e) {
      PyErr_SetObject((PyObject *)Py_TYPE(e), e);
      Py_DECREF(e);
    }
    return NULL;
  }
  PyObject *res = r->call.result ? r->call.result : Py_None;
  Py_INCREF(res);
  return res;
}

static int not_busy(pw_request_t *r, const char *what) {
  if (!r->busy) return 1;
  pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "Request.%s: another thread is waiting on this request", what);
  return 0;
}

static PyObject *req_wait(pw_request_t *r, PyObject *unused) {
  (void)unused;
  if (!not_busy(r, "wait")) return NULL;
  pw_request_finish(r);
  return pw_request_outcome(r);
}

static PyObject *req_test(pw_request_t *r, PyObject *unused) {
  (void)unused;
  if (!not_busy(r, "test")) return NULL;
  if (r->req) {
    weft_comm_t *c = r->owner->comm;
    weft_result_t code = weft_test(r->req); /* never blocks */
    if (code == WEFT_ERR_IN_PROGRESS) Py_RETURN_FALSE;
    completed(r, code, code == WEFT_SUCCESS ? "" : weft_comm_last_error(c));
  }
  PyObject *res = pw_request_outcome(r);
  if (!res) return NULL;
  Py_DECREF(res);
  Py_RETURN_TRUE;
}

static PyObject *req_get_done(pw_request_t *r, void *x) {
  (void)x;
  return PyBool_FromLong(r->req == NULL);
}

static PyObject *req_repr(pw_request_t *r) {
  const char *name = pw_coll_name(r->call.coll);
  if (r->req) return PyUnicode_FromFormat("<weft.Request %s pending>", name);
  return PyUnicode_FromFormat("<weft.Request %s %s>", name, r->code == WEFT_SUCCESS ? "done" : "failed");
}

static void req_dealloc(pw_request_t *r) {
  if (r->req) {
    /* Dropped while pending: the library may still write into the buffers, so wait. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    pw_request_finish(r);
    PyErr_Restore(type, value, tb);
  }
  pw_call_clear(&r->call);
  Py_CLEAR(r->detail);
  Py_CLEAR(r->owner);
  PyObject_Free(r);
}

static PyMethodDef req_methods[] = {
    {"wait", (PyCFunction)req_wait, METH_NOARGS,
     "Block (GIL released, bounded by WEFT_TIMEOUT) until done; return the result buffer or raise the\n"
     "operation's WeftError. May be called again: returns or raises the same outcome."},
    {"test", (PyCFunction)req_test, METH_NOARGS,
     "True if done (raises the operation's WeftError if it failed), False if still running. Never blocks."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef req_getset[] = {
    {"done", (getter)req_get_done, NULL, "True once test() or wait() saw it complete.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pw_request_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "weft.Request",
    .tp_basicsize = sizeof(pw_request_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A non-blocking weft operation (returned by Comm.i* methods). Keeps its buffers alive until done.",
    .tp_dealloc = (destructor)req_dealloc,
    .tp_repr = (reprfunc)req_repr,
    .tp_methods = req_methods,
    .tp_getset = req_getset,
};
