/* weft._weft: the CPython extension over libweft.
 *
 * Files: module.c (module, errors, shutdown), buffers.c (buffer protocol, dtypes, ops),
 * comm.c (the Comm type and every collective), layout.c (the counts and displacements of the
 * uneven collectives), request.c (the Request type), capi.c (the _C_API capsule other
 * extensions call weft through; its table is weft_capi.h).
 *
 * Contract kept by every file:
 *   - The GIL is released around every weft call that can block (init, collectives, wait,
 *     recover, destroy); nothing touches a Python object while it is released.
 *   - A buffer handed to weft stays exported (PyObject_GetBuffer) until weft no longer uses it:
 *     the end of a blocking call, or the completion of a Request.
 *   - A weft_comm_t is destroyed only when no call is inside it and no request of it is pending
 *     (weft_comm_destroy does not complete outstanding operations). */
#ifndef PYWEFT_H
#define PYWEFT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "weft.h"

#define PW_DETAIL_LEN 1024

/* One buffer argument, exported for the duration of an operation. */
typedef struct {
  PyObject *obj; /* borrowed from the caller until pw_call_t takes a reference */
  Py_buffer view;
  int held;
} pw_buf_t;

typedef enum {
  PW_ALLREDUCE,
  PW_ALLGATHER,
  PW_REDUCE_SCATTER,
  PW_BROADCAST,
  PW_REDUCE,
  PW_BARRIER,
  PW_SEND,
  PW_RECV,
  PW_ALLTOALL,
  PW_ALLTOALLV,
  PW_ALLGATHERV,
  PW_REDUCE_SCATTERV,
  PW_GATHER,
  PW_SCATTER,
} pw_coll_t;

/* The count and displacement arrays of the uneven collectives, with weft.h's names
 * (allgatherv's displs is rdispls here); one allocation of 4 * size entries, or NULL. */
typedef struct {
  size_t *sendcounts, *sdispls, *recvcounts, *rdispls;
} pw_layout_t;

/* Everything one operation needs, resolved from the Python arguments. For a non-blocking
 * operation it lives inside the Request, so the exported buffers never move. */
typedef struct {
  pw_coll_t coll;
  pw_buf_t send, recv;
  const void *sendbuf;
  void *recvbuf;
  size_t count;
  weft_dtype_t dtype;
  weft_redop_t op;
  int root; /* root, or peer for send/recv */
  pw_layout_t layout;
  PyObject *result; /* what the call (or Request.wait) returns; a new reference */
} pw_call_t;

typedef struct pw_request pw_request_t;

typedef struct pw_comm {
  PyObject_HEAD
  weft_comm_t *comm;        /* NULL before init and after close */
  int active;               /* blocking calls inside comm with the GIL released */
  int closing;              /* close() started: no new operations */
  int pinned;               /* pins held through the _C_API capsule (a torch process group) */
  pw_request_t *pending;    /* requests issued on comm and not completed yet */
  struct pw_comm *open_prev, *open_next; /* every open communicator, closed at exit */
  PyObject *weakrefs;
} pw_comm_t;

struct pw_request {
  PyObject_HEAD
  pw_comm_t *owner;          /* strong reference while pending */
  weft_request_t *req;       /* NULL once completed */
  int busy;                  /* a thread is inside weft_wait on it */
  weft_result_t code;        /* result once completed */
  PyObject *detail;          /* str: weft's detail of a failure, or NULL */
  pw_request_t *prev, *next; /* owner's pending list */
  pw_call_t call;
};

extern PyTypeObject pw_comm_type;
extern PyTypeObject pw_request_type;

/* module.c */
PyObject *pw_error_new(weft_result_t code, const char *detail);
void pw_raise(weft_result_t code, const char *detail);
void pw_raise_fmt(weft_result_t code, const char *fmt, ...);
PyObject *pw_recover_info(const weft_recover_info_t *info);

/* buffers.c */
int pw_buf_get(pw_buf_t *b, PyObject *obj, int writable, const char *coll, const char *role);
void pw_buf_release(pw_buf_t *b);
int pw_dtype_from_object(PyObject *obj, weft_dtype_t *out);
int pw_dtype_from_buffer(const pw_buf_t *b, weft_dtype_t *out, const char *coll, const char *role);
int pw_op_from_object(PyObject *obj, weft_redop_t *out, const char *coll);
void pw_call_clear(pw_call_t *k);

/* layout.c: the Python arguments of the uneven collectives that name arrays, in the order
 * sendcounts, sdispls, recvcounts, rdispls (NULL where the method has none or the caller passed
 * None), with the names the caller knows them by, and the names of the two buffers. */
typedef struct {
  PyObject *obj[4];
  const char *name[4];
  const char *send_role, *recv_role;
} pw_layout_args_t;
/* Fills k->layout and k->count from a, given the elements of the exported buffers; raises
 * InvalidArgumentError naming the argument when an array or a buffer does not fit. */
int pw_layout_resolve(pw_call_t *k, const pw_layout_args_t *a, int rank, int size, const char *coll,
                      Py_ssize_t nsend, Py_ssize_t nrecv);
void pw_layout_clear(pw_layout_t *l);

/* comm.c */
const char *pw_coll_name(pw_coll_t coll);
int pw_comm_close(pw_comm_t *self);
int pw_shutdown_all(void);

/* capi.c */
int pw_capi_add(PyObject *module);

/* request.c */
pw_request_t *pw_request_new(pw_comm_t *owner);
void pw_request_start(pw_request_t *r, weft_request_t *req);
int pw_request_finish(pw_request_t *r); /* waits with the GIL released; 0 on success */
PyObject *pw_request_outcome(pw_request_t *r);

#endif
