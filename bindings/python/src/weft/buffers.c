/* Buffers, dtypes and reduction ops from Python objects.
 *
 * Any object with the buffer protocol works (numpy arrays, bytearray, memoryview, array.array):
 * it must be C-contiguous, and writable where weft writes. The dtype comes from the buffer's
 * struct format character unless the caller names one (dtype="bfloat16" over a uint16 array,
 * or dtype="float32" over raw bytes); then the buffer is just bytes, and its length must be a
 * whole number of elements. */
#include <string.h>
#include <strings.h>

#include "pyweft.h"

static const char *const dtype_names[WEFT_NUM_DTYPES] = {
    [WEFT_INT8] = "int8",       [WEFT_UINT8] = "uint8",     [WEFT_INT32] = "int32",
    [WEFT_UINT32] = "uint32",   [WEFT_INT64] = "int64",     [WEFT_UINT64] = "uint64",
    [WEFT_FLOAT16] = "float16", [WEFT_BFLOAT16] = "bfloat16", [WEFT_FLOAT32] = "float32",
    [WEFT_FLOAT64] = "float64",
};

static const char *const op_names[WEFT_NUM_REDOPS] = {
    [WEFT_SUM] = "sum", [WEFT_PROD] = "prod", [WEFT_MIN] = "min", [WEFT_MAX] = "max", [WEFT_AVG] = "avg",
};

/* Re-raises the pending exception as InvalidArgumentError, keeping it as __cause__. */
static void invalid_from_pending(const char *coll, const char *role, PyObject *obj, const char *why) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s (%s) %s: %S", coll, role, Py_TYPE(obj)->tp_name, why,
               value ? value : Py_None);
  if (value) {
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    if (v2) PyException_SetCause(v2, value); /* steals value */
    else Py_DECREF(value);
    PyErr_Restore(t2, v2, tb2);
  }
  Py_XDECREF(type);
  Py_XDECREF(tb);
}

int pw_buf_get(pw_buf_t *b, PyObject *obj, int writable, const char *coll, const char *role) {
  int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  b->held = 0;
  b->obj = obj;
  if (!PyObject_CheckBuffer(obj)) {
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s (%s) does not support the buffer protocol", coll, role,
                 Py_TYPE(obj)->tp_name);
    return -1;
  }
  if (PyObject_GetBuffer(obj, &b->view, flags) < 0) {
    /* Say which rule failed: the exporter's own message is often terse. */
    const char *why = "cannot be exported as a C-contiguous buffer";
    if (writable) {
      Py_buffer probe;
      PyObject *type, *value, *tb;
      PyErr_Fetch(&type, &value, &tb);
      if (PyObject_GetBuffer(obj, &probe, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0) {
        PyBuffer_Release(&probe);
        why = "is read-only (weft writes into it)";
      } else {
        PyErr_Clear();
      }
      PyErr_Restore(type, value, tb);
    }
    invalid_from_pending(coll, role, obj, why);
    return -1;
  }
  b->held = 1;
  return 0;
}

void pw_buf_release(pw_buf_t *b) {
  if (b->held) PyBuffer_Release(&b->view);
  b->held = 0;
  b->obj = NULL;
}

void pw_call_clear(pw_call_t *k) {
  pw_buf_release(&k->send);
  pw_buf_release(&k->recv);
  pw_layout_clear(&k->layout);
  Py_CLEAR(k->result);
}

static int dtype_from_name(const char *s, weft_dtype_t *out) {
  if (strncmp(s, "torch.", 6) == 0) s += 6;
  if (strncmp(s, "numpy.", 6) == 0) s += 6;
  for (int d = 0; d < WEFT_NUM_DTYPES; d++) {
    if (strcmp(s, dtype_names[d]) == 0) {
      *out = (weft_dtype_t)d;
      return 0;
    }
  }
  if (strcmp(s, "half") == 0) return *out = WEFT_FLOAT16, 0;
  if (strcmp(s, "float") == 0) return *out = WEFT_FLOAT32, 0;
  if (strcmp(s, "double") == 0) return *out = WEFT_FLOAT64, 0;
  return -1;
}

/* A dtype name, a numpy dtype (its .name) or a numpy scalar type (its __name__). */
int pw_dtype_from_object(PyObject *obj, weft_dtype_t *out) {
  PyObject *name = NULL;
  if (PyUnicode_Check(obj)) {
    name = obj;
    Py_INCREF(name);
  } else if (PyObject_HasAttrString(obj, "name") && !PyType_Check(obj)) {
    name = PyObject_GetAttrString(obj, "name");
  } else if (PyType_Check(obj)) {
    name = PyObject_GetAttrString(obj, "__name__");
  }
  if (!name || !PyUnicode_Check(name)) {
    Py_XDECREF(name);
    PyErr_Clear();
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "dtype %R is not a weft dtype (int8, uint8, int32, uint32, int64, "
                 "uint64, float16, bfloat16, float32, float64)", obj);
    return -1;
  }
  const char *s = PyUnicode_AsUTF8(name);
  int rc = s ? dtype_from_name(s, out) : -1;
  if (s && rc < 0)
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "dtype %R is not a weft dtype (int8, uint8, int32, uint32, int64, "
                 "uint64, float16, bfloat16, float32, float64)", obj);
  Py_DECREF(name);
  return rc;
}

int pw_dtype_from_buffer(const pw_buf_t *b, weft_dtype_t *out, const char *coll, const char *role) {
  const char *f = b->view.format ? b->view.format : "B";
  const char *fmt = f;
  Py_ssize_t size = b->view.itemsize;
  int big = 0;
  if (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '!') {
    big = *f == '>' || *f == '!';
    f++;
  }
#if PY_LITTLE_ENDIAN
  int foreign = big && size > 1;
#else
  int foreign = !big && fmt[0] == '<' && size > 1;
#endif
  int d = -1;
  if (f[0] && !f[1] && !foreign) {
    switch (f[0]) {
      case 'b': d = WEFT_INT8; break;
      case 'B': d = WEFT_UINT8; break;
      case 'e': d = WEFT_FLOAT16; break;
      case 'f': d = WEFT_FLOAT32; break;
      case 'd': d = WEFT_FLOAT64; break;
      case 'i': case 'l': case 'q': case 'n':
        d = size == 4 ? WEFT_INT32 : size == 8 ? WEFT_INT64 : -1;
        break;
      case 'I': case 'L': case 'Q': case 'N':
        d = size == 4 ? WEFT_UINT32 : size == 8 ? WEFT_UINT64 : -1;
        break;
      default: break;
    }
  }
  if (d < 0) {
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT,
                 "%s: %s (%s) has element format '%s' (%zd bytes), which is no weft dtype%s; pass dtype= "
                 "to reinterpret its bytes", coll, role, Py_TYPE(b->obj)->tp_name, fmt, size,
                 foreign ? " in this byte order" : "");
    return -1;
  }
  *out = (weft_dtype_t)d;
  return 0;
}

int pw_op_from_object(PyObject *obj, weft_redop_t *out, const char *coll) {
  if (PyUnicode_Check(obj)) {
    const char *s = PyUnicode_AsUTF8(obj);
    if (!s) return -1;
    for (int i = 0; i < WEFT_NUM_REDOPS; i++) {
      if (strcasecmp(s, op_names[i]) == 0) {
        *out = (weft_redop_t)i;
        return 0;
      }
    }
  } else if (PyLong_Check(obj)) {
    long v = PyLong_AsLong(obj);
    if (v >= 0 && v < WEFT_NUM_REDOPS) {
      *out = (weft_redop_t)v;
      return 0;
    }
    PyErr_Clear();
  }
  pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: op %R is not one of 'sum', 'prod', 'min', 'max', 'avg'", coll, obj);
  return -1;
}
