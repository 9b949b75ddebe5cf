/* The weft._weft module: types, errors as Python exceptions, and the exit hook.
 *
 * The exception classes and RecoverInfo are written in Python (weft/_types.py) and looked up
 * once at import; a failure becomes _types.make_error(code, name, detail), so the class
 * hierarchy lives in one readable place. */
#include <stdarg.h>
#include <stdio.h>

#include "pyweft.h"

static PyObject *make_error;    /* weft._types.make_error */
static PyObject *recover_info;  /* weft._types.RecoverInfo */

static const char *const result_names[] = {
#define PW__RESULT_NAME(name, value, text) [value] = "WEFT_" #name,
    WEFT_RESULT_MAP(PW__RESULT_NAME)
#undef PW__RESULT_NAME
};

static const char *result_name(weft_result_t code) {
  if ((int)code < 0 || code >= WEFT_NUM_RESULTS || !result_names[code]) return "WEFT_ERR_UNKNOWN";
  return result_names[code];
}

PyObject *pw_error_new(weft_result_t code, const char *detail) {
  return PyObject_CallFunction(make_error, "iss", (int)code, result_name(code), detail ? detail : "");
}

void pw_raise(weft_result_t code, const char *detail) {
  PyObject *e = pw_error_new(code, detail);
  if (!e) return; /* make_error itself raised */
  PyErr_SetObject((PyObject *)Py_TYPE(e), e);
  Py_DECREF(e);
}

void pw_raise_fmt(weft_result_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  if (!msg) return;
  const char *s = PyUnicode_AsUTF8(msg);
  if (s) pw_raise(code, s);
  Py_DECREF(msg);
}

static PyObject *int_tuple(const int *v, int total) {
  int n = total < WEFT_RECOVER_MAX_LISTED ? total : WEFT_RECOVER_MAX_LISTED;
  PyObject *t = PyTuple_New(n);
  for (int i = 0; t && i < n; i++) {
    PyObject *x = PyLong_FromLong(v[i]);
    if (!x) {
      Py_CLEAR(t);
      break;
    }
    PyTuple_SET_ITEM(t, i, x);
  }
  return t;
}

PyObject *pw_recover_info(const weft_recover_info_t *info) {
  PyObject *left = int_tuple(info->left_old_ranks, info->num_left);
  PyObject *joined = int_tuple(info->joined_new_ranks, info->num_joined);
  PyObject *res = NULL;
  if (left && joined)
    res = PyObject_CallFunction(recover_info, "KKiiiiOOOii", (unsigned long long)info->old_epoch,
                                (unsigned long long)info->new_epoch, info->old_size, info->new_size,
                                info->old_rank, info->new_rank, info->is_new_member ? Py_True : Py_False,
                                left, joined, info->num_left, info->num_joined);
  Py_XDECREF(left);
  Py_XDECREF(joined);
  return res;
}

static PyObject *mod_version(PyObject *m, PyObject *unused) {
  (void)m, (void)unused;
  return PyUnicode_FromString(weft_version_string());
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg) {
  (void)m;
  long code = PyLong_AsLong(arg);
  if (code == -1 && PyErr_Occurred()) return NULL;
  return PyUnicode_FromString(weft_strerror((weft_result_t)code));
}

static PyObject *mod_result_name(PyObject *m, PyObject *arg) {
  (void)m;
  long code = PyLong_AsLong(arg);
  if (code == -1 && PyErr_Occurred()) return NULL;
  return PyUnicode_FromString(result_name((weft_result_t)code));
}

static PyObject *mod_print_config(PyObject *m, PyObject *unused) {
  (void)m, (void)unused;
  fflush(stderr);
  weft_config_print(stderr);
  fflush(stderr);
  Py_RETURN_NONE;
}

static PyObject *mod_dtype_size(PyObject *m, PyObject *arg) {
  (void)m;
  weft_dtype_t d;
  if (pw_dtype_from_object(arg, &d) < 0) return NULL;
  return PyLong_FromSize_t(weft_dtype_size(d));
}

static PyObject *mod_shutdown(PyObject *m, PyObject *unused) {
  (void)m, (void)unused;
  if (pw_shutdown_all() < 0) return NULL;
  Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"version", mod_version, METH_NOARGS, "The C library's version string."},
    {"strerror", mod_strerror, METH_O, "weft_strerror(code): the text of a weft_result_t."},
    {"result_name", mod_result_name, METH_O, "The enum name of a weft_result_t, e.g. 'WEFT_ERR_PEER_LOST'."},
    {"print_config", mod_print_config, METH_NOARGS, "Print the effective settings table to stderr."},
    {"dtype_size", mod_dtype_size, METH_O, "Bytes per element of a weft dtype name."},
    {"_shutdown", mod_shutdown, METH_NOARGS,
     "Close every open communicator (registered with atexit by weft/__init__.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "weft._weft", "CPython extension over the weft C library.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__weft(void) {
  if (PyType_Ready(&pw_comm_type) < 0 || PyType_Ready(&pw_request_type) < 0) return NULL;
  PyObject *types = PyImport_ImportModule("weft._types");
  if (!types) return NULL;
  make_error = PyObject_GetAttrString(types, "make_error");
  recover_info = PyObject_GetAttrString(types, "RecoverInfo");
  Py_DECREF(types);
  if (!make_error || !recover_info) return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (!m) return NULL;
  Py_INCREF(&pw_comm_type);
  Py_INCREF(&pw_request_type);
  if (PyModule_AddObject(m, "Comm", (PyObject *)&pw_comm_type) < 0 ||
      PyModule_AddObject(m, "Request", (PyObject *)&pw_request_type) < 0 ||
      PyModule_AddIntConstant(m, "RECOVER_MAX_LISTED", WEFT_RECOVER_MAX_LISTED) < 0 || pw_capi_add(m) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
