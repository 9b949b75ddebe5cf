/* weft.Comm: a communicator and every collective on it.
 *
 * Each public method is a row of `specs` (its Python signature and what each argument is);
 * all of them go through resolve() (Python arguments -> pw_call_t: exported buffers, dtype,
 * count, pointers, checked against each other) and issue() (the one switch over the C API),
 * blocking with the GIL released or non-blocking into a Request. */
#include <limits.h>
#include <string.h>

#include "pyweft.h"

static pw_comm_t *open_head; /* every initialised, not yet closed communicator */

static void open_link(pw_comm_t *c) {
  c->open_prev = NULL;
  c->open_next = open_head;
  if (open_head) open_head->open_prev = c;
  open_head = c;
}

static void open_unlink(pw_comm_t *c) {
  if (c->open_prev) c->open_prev->open_next = c->open_next;
  else if (open_head == c) open_head = c->open_next;
  if (c->open_next) c->open_next->open_prev = c->open_prev;
  c->open_prev = c->open_next = NULL;
}

static weft_comm_t *usable(pw_comm_t *self, const char *what) {
  if (!self->comm || self->closing) {
    pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "%s: the communicator is %s", what,
                 self->closing ? "closing or closed" : "not initialised or closed");
    return NULL;
  }
  return self->comm;
}

/* ---- argument specs ------------------------------------------------------------------ */

/* R_SCOUNTS..R_RDISPLS are in pw_layout_args_t's order (sendcounts, sdispls, recvcounts, rdispls). */
typedef enum {
  R_END = 0, R_SEND, R_RECV, R_BUF, R_OP, R_ROOT, R_DTYPE, R_SCOUNTS, R_SDISPLS, R_RCOUNTS, R_RDISPLS
} role_t;

typedef struct {
  pw_coll_t coll;
  const char *name;
  const char *format;  /* PyArg format of the blocking method */
  const char *iformat; /* ... of the i-variant (only the name after ':' differs) */
  const char *kwlist[8];
  role_t roles[8];
} spec_t;

#define SPEC(c, n, fmt, ...) {c, n, fmt ":" n, fmt ":i" n, __VA_ARGS__}
static const spec_t specs[] = {
    [PW_ALLREDUCE] = SPEC(PW_ALLREDUCE, "allreduce", "O|OO$O", {"send", "recv", "op", "dtype", NULL},
                          {R_SEND, R_RECV, R_OP, R_DTYPE}),
    [PW_ALLGATHER] = SPEC(PW_ALLGATHER, "allgather", "OO|$O", {"send", "recv", "dtype", NULL},
                          {R_SEND, R_RECV, R_DTYPE}),
    [PW_REDUCE_SCATTER] = SPEC(PW_REDUCE_SCATTER, "reduce_scatter", "OO|O$O", {"send", "recv", "op", "dtype", NULL},
                               {R_SEND, R_RECV, R_OP, R_DTYPE}),
    [PW_BROADCAST] = SPEC(PW_BROADCAST, "broadcast", "O|O$O", {"buf", "root", "dtype", NULL}, {R_BUF, R_ROOT, R_DTYPE}),
    [PW_REDUCE] = SPEC(PW_REDUCE, "reduce", "O|OOO$O", {"send", "recv", "op", "root", "dtype", NULL},
                       {R_SEND, R_RECV, R_OP, R_ROOT, R_DTYPE}),
    [PW_BARRIER] = SPEC(PW_BARRIER, "barrier", "", {NULL}, {R_END}),
    [PW_SEND] = SPEC(PW_SEND, "send", "OO|$O", {"buf", "peer", "dtype", NULL}, {R_SEND, R_ROOT, R_DTYPE}),
    [PW_RECV] = SPEC(PW_RECV, "recv", "OO|$O", {"buf", "peer", "dtype", NULL}, {R_RECV, R_ROOT, R_DTYPE}),
    [PW_ALLTOALL] = SPEC(PW_ALLTOALL, "alltoall", "O|O$O", {"send", "recv", "dtype", NULL}, {R_SEND, R_RECV, R_DTYPE}),
    [PW_ALLTOALLV] = SPEC(PW_ALLTOALLV, "alltoallv", "OOOO|OO$O",
                          {"send", "recv", "sendcounts", "recvcounts", "sdispls", "rdispls", "dtype", NULL},
                          {R_SEND, R_RECV, R_SCOUNTS, R_RCOUNTS, R_SDISPLS, R_RDISPLS, R_DTYPE}),
    [PW_ALLGATHERV] = SPEC(PW_ALLGATHERV, "allgatherv", "OOO|O$O",
                           {"send", "recv", "recvcounts", "displs", "dtype", NULL},
                           {R_SEND, R_RECV, R_RCOUNTS, R_RDISPLS, R_DTYPE}),
    [PW_REDUCE_SCATTERV] = SPEC(PW_REDUCE_SCATTERV, "reduce_scatterv", "OOO|O$O",
                                {"send", "recv", "recvcounts", "op", "dtype", NULL},
                                {R_SEND, R_RECV, R_RCOUNTS, R_OP, R_DTYPE}),
    [PW_GATHER] = SPEC(PW_GATHER, "gather", "O|OO$O", {"send", "recv", "root", "dtype", NULL},
                       {R_SEND, R_RECV, R_ROOT, R_DTYPE}),
    [PW_SCATTER] = SPEC(PW_SCATTER, "scatter", "OO|O$O", {"send", "recv", "root", "dtype", NULL},
                        {R_SEND, R_RECV, R_ROOT, R_DTYPE}),
};

const char *pw_coll_name(pw_coll_t coll) {
  return (unsigned)coll < sizeof specs / sizeof specs[0] ? specs[coll].name : "?";
}

/* Elements in a held buffer, or -1 (raised) if its bytes are not whole elements. */
static Py_ssize_t elements(const pw_buf_t *b, size_t esize, const char *coll, const char *role) {
  if (b->view.len % (Py_ssize_t)esize != 0) {
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s has %zd bytes, not a whole number of %zu-byte elements", coll,
                 role, b->view.len, esize);
    return -1;
  }
  return b->view.len / (Py_ssize_t)esize;
}

static int check_len(const char *coll, const char *what, Py_ssize_t got, Py_ssize_t want, const char *rule) {
  if (got == want) return 0;
  pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s has %zd elements, expected %zd (%s)", coll, what, got, want, rule);
  return -1;
}

/* what holds per * size elements (one block of per for each rank), or raised. */
static int check_blocks(const char *coll, const char *what, Py_ssize_t got, Py_ssize_t per, int size,
                        const char *rule) {
  if (per > PY_SSIZE_T_MAX / size) {
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s would need %zd x %d elements, more than any buffer holds", coll,
                 what, per, size);
    return -1;
  }
  return check_len(coll, what, got, per * size, rule);
}

/* Python arguments -> k. On failure an exception is set; k may hold buffers (pw_call_clear). */
static int resolve(weft_comm_t *c, const spec_t *s, PyObject *const *slot, pw_call_t *k) {
  const char *name = s->name;
  PyObject *send_o = NULL, *recv_o = NULL, *op_o = NULL, *root_o = NULL, *dtype_o = NULL;
  pw_layout_args_t layout;
  memset(&layout, 0, sizeof layout);
  for (int i = 0; s->roles[i] != R_END; i++) {
    PyObject *v = slot[i] == Py_None ? NULL : slot[i];
    switch (s->roles[i]) {
      case R_SEND: send_o = v; break;
      case R_RECV: recv_o = v; break;
      case R_BUF: send_o = recv_o = v; break;
      case R_OP: op_o = v; break;
      case R_ROOT: root_o = v; break;
      case R_DTYPE: dtype_o = v; break;
      case R_SCOUNTS: case R_SDISPLS: case R_RCOUNTS: case R_RDISPLS:
        if (!v && (s->roles[i] == R_SCOUNTS || s->roles[i] == R_RCOUNTS)) {
          pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s is None, expected a count per rank", name, s->kwlist[i]);
          return -1;
        }
        layout.obj[s->roles[i] - R_SCOUNTS] = v;
        layout.name[s->roles[i] - R_SCOUNTS] = s->kwlist[i];
        break;
      case R_END: break;
    }
  }
  int rank = weft_comm_rank(c), size = weft_comm_size(c);
  k->coll = s->coll;
  k->op = WEFT_SUM;
  k->root = 0;
  if (op_o && pw_op_from_object(op_o, &k->op, name) < 0) return -1;
  if (root_o) {
    int overflow = 0;
    long v = PyLong_Check(root_o) ? PyLong_AsLongAndOverflow(root_o, &overflow) : -1;
    if (!PyLong_Check(root_o) || overflow || v < INT_MIN || v > INT_MAX) {
      PyErr_Clear();
      pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s %R is not a rank", name,
                   s->coll == PW_SEND || s->coll == PW_RECV ? "peer" : "root", root_o);
      return -1;
    }
    k->root = (int)v;
  }
  if (s->coll == PW_BARRIER) {
    k->dtype = WEFT_UINT8;
    k->result = Py_None;
    Py_INCREF(Py_None);
    return 0;
  }

  /* The buffers this rank uses: a rooted collective's root-only buffer is ignored elsewhere. */
  int is_root = rank == k->root;
  if ((s->coll == PW_REDUCE || s->coll == PW_GATHER) && !is_root) recv_o = NULL;
  if (s->coll == PW_SCATTER && !is_root) send_o = NULL;
  int send_needed = s->roles[0] == R_SEND && !(s->coll == PW_SCATTER && !is_root);
  int recv_needed = s->coll == PW_ALLGATHER || s->coll == PW_REDUCE_SCATTER || s->coll == PW_RECV ||
                    s->coll == PW_BROADCAST || s->coll == PW_ALLGATHERV || s->coll == PW_REDUCE_SCATTERV ||
                    s->coll == PW_SCATTER || (s->coll == PW_GATHER && is_root);
  const char *send_role = s->coll == PW_SEND ? "buf" : "send";
  const char *recv_role = s->coll == PW_RECV || s->coll == PW_BROADCAST ? "buf" : recv_o ? "recv" : "send";
  if ((send_needed && !send_o) || (recv_needed && !recv_o)) {
    pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: %s is None%s", name,
                 send_needed && !send_o ? send_role : s->coll == PW_RECV || s->coll == PW_BROADCAST ? "buf" : "recv",
                 (s->coll == PW_GATHER || s->coll == PW_SCATTER) && is_root ? " at the root" : "");
    return -1;
  }

  /* Export them. In place (recv None for allreduce, alltoall(v) and root's reduce; broadcast):
   * one writable export serves as both. Other in-place forms alias slices of one buffer, which
   * the library recognises from the pointers. */
  int in_place = s->coll == PW_BROADCAST ||
                 (!recv_o && (s->coll == PW_ALLREDUCE || s->coll == PW_ALLTOALL || s->coll == PW_ALLTOALLV ||
                              (s->coll == PW_REDUCE && is_root)));
  if (in_place) {
    if (pw_buf_get(&k->recv, send_o, 1, name, recv_role) < 0) return -1;
  } else if ((send_o && pw_buf_get(&k->send, send_o, 0, name, send_role) < 0) ||
             (recv_o && pw_buf_get(&k->recv, recv_o, 1, name, recv_role) < 0)) {
    return -1;
  }

  /* The dtype: named, or from the buffers' formats (which must agree). */
  if (dtype_o) {
    if (pw_dtype_from_object(dtype_o, &k->dtype) < 0) return -1;
  } else {
    weft_dtype_t ds = WEFT_NUM_DTYPES, dr = WEFT_NUM_DTYPES;
    if (k->send.held && pw_dtype_from_buffer(&k->send, &ds, name, send_role) < 0) return -1;
    if (k->recv.held && pw_dtype_from_buffer(&k->recv, &dr, name, recv_role) < 0) return -1;
    if (k->send.held && k->recv.held && ds != dr) {
      pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: send is %s but recv is %s (pass dtype= to reinterpret bytes)",
                   name, weft_dtype_name(ds), weft_dtype_name(dr));
      return -1;
    }
    k->dtype = k->send.held ? ds : dr;
  }
  size_t es = weft_dtype_size(k->dtype);
  Py_ssize_t ns = 0, nr = 0;
  if (k->send.held && (ns = elements(&k->send, es, name, send_role)) < 0) return -1;
  if (k->recv.held && (nr = elements(&k->recv, es, name, recv_role)) < 0) return -1;
  if (in_place) ns = nr;

  switch (s->coll) {
    case PW_ALLREDUCE:
    case PW_REDUCE:
      if (k->recv.held && check_len(name, "recv", nr, ns, "as many as send") < 0) return -1;
      k->count = (size_t)ns;
      break;
    case PW_ALLGATHER:
    case PW_GATHER:
      if (k->recv.held && check_blocks(name, "recv", nr, ns, size, "send's times the world size") < 0) return -1;
      k->count = (size_t)ns;
      break;
    case PW_REDUCE_SCATTER:
    case PW_SCATTER:
      if (k->send.held && check_blocks(name, "send", ns, nr, size, "recv's times the world size") < 0) return -1;
      k->count = (size_t)nr;
      break;
    case PW_ALLTOALL:
      if (ns % size != 0) {
        pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "%s: send has %zd elements, not a multiple of the world size %d "
                     "(one block per rank)", name, ns, size);
        return -1;
      }
      if (check_len(name, "recv", nr, ns, "as many as send") < 0) return -1;
      k->count = (size_t)(ns / size);
      break;
    case PW_ALLTOALLV:
    case PW_ALLGATHERV:
    case PW_REDUCE_SCATTERV:
      layout.send_role = send_role;
      layout.recv_role = recv_role;
      if (pw_layout_resolve(k, &layout, rank, size, name, ns, nr) < 0) return -1;
      break;
    case PW_BROADCAST:
    case PW_RECV:
      k->count = (size_t)nr;
      break;
    case PW_SEND:
      k->count = (size_t)ns;
      break;
    case PW_BARRIER: break;
  }
  k->recvbuf = k->recv.held ? k->recv.view.buf : NULL;
  k->sendbuf = k->send.held ? k->send.view.buf : in_place ? k->recvbuf : NULL;

  /* What the call returns: the buffer that holds the result on this rank, or None. */
  PyObject *res = recv_o ? recv_o : in_place ? send_o : Py_None;
  Py_INCREF(res);
  k->result = res;
  return 0;
}

/* The one place that calls the C collectives: blocking when req is NULL. Each argument list is
 * written once, for both forms. */
#define BOTH(fn, ...) (req ? weft_i##fn(c, __VA_ARGS__, req) : weft_##fn(c, __VA_ARGS__))
static weft_result_t issue(weft_comm_t *c, const pw_call_t *k, weft_request_t **req) {
  const pw_layout_t *l = &k->layout;
  switch (k->coll) {
    case PW_ALLREDUCE: return BOTH(allreduce, k->sendbuf, k->recvbuf, k->count, k->dtype, k->op);
    case PW_ALLGATHER: return BOTH(allgather, k->sendbuf, k->recvbuf, k->count, k->dtype);
    case PW_REDUCE_SCATTER: return BOTH(reduce_scatter, k->sendbuf, k->recvbuf, k->count, k->dtype, k->op);
    case PW_BROADCAST: return BOTH(broadcast, k->sendbuf, k->recvbuf, k->count, k->dtype, k->root);
    case PW_REDUCE: return BOTH(reduce, k->sendbuf, k->recvbuf, k->count, k->dtype, k->op, k->root);
    case PW_BARRIER: return req ? weft_ibarrier(c, req) : weft_barrier(c);
    case PW_SEND: return BOTH(send, k->sendbuf, k->count, k->dtype, k->root);
    case PW_RECV: return BOTH(recv, k->recvbuf, k->count, k->dtype, k->root);
    case PW_ALLTOALL: return BOTH(alltoall, k->sendbuf, k->recvbuf, k->count, k->dtype);
    case PW_ALLTOALLV:
      return BOTH(alltoallv, k->sendbuf, l->sendcounts, l->sdispls, k->recvbuf, l->recvcounts, l->rdispls, k->dtype);
    case PW_ALLGATHERV:
      return BOTH(allgatherv, k->sendbuf, k->count, k->recvbuf, l->recvcounts, l->rdispls, k->dtype);
    case PW_REDUCE_SCATTERV: return BOTH(reduce_scatterv, k->sendbuf, k->recvbuf, l->recvcounts, k->dtype, k->op);
    case PW_GATHER: return BOTH(gather, k->sendbuf, k->recvbuf, k->count, k->dtype, k->root);
    case PW_SCATTER: return BOTH(scatter, k->sendbuf, k->recvbuf, k->count, k->dtype, k->root);
  }
  return WEFT_ERR_INTERNAL;
}
#undef BOTH

static PyObject *run(pw_comm_t *self, PyObject *args, PyObject *kw, const spec_t *s, int nonblocking) {
  PyObject *slot[8] = {NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kw, nonblocking ? s->iformat : s->format, (char **)s->kwlist, &slot[0],
                                   &slot[1], &slot[2], &slot[3], &slot[4], &slot[5], &slot[6], &slot[7]))
    return NULL;
  weft_comm_t *c = usable(self, s->name);
  if (!c) return NULL;
  char detail[PW_DETAIL_LEN];
  weft_result_t r;
  if (nonblocking) {
    /* The call lives in the Request from the start, so its exports never move. */
    pw_request_t *rq = pw_request_new(self);
    if (!rq) return NULL;
    weft_request_t *req = NULL;
    if (resolve(c, s, slot, &rq->call) < 0) {
      Py_DECREF(rq);
      return NULL;
    }
    r = issue(c, &rq->call, &req); /* enqueues only: no need to drop the GIL */
    if (r != WEFT_SUCCESS) {
      pw_raise(r, weft_comm_last_error(c));
      Py_DECREF(rq);
      return NULL;
    }
    pw_request_start(rq, req);
    return (PyObject *)rq;
  }
  pw_call_t k;
  memset(&k, 0, sizeof k);
  if (resolve(c, s, slot, &k) < 0) {
    pw_call_clear(&k);
    return NULL;
  }
  self->active++;
  Py_BEGIN_ALLOW_THREADS
  r = issue(c, &k, NULL);
  if (r != WEFT_SUCCESS) snprintf(detail, sizeof detail, "%s", weft_comm_last_error(c));
  Py_END_ALLOW_THREADS
  self->active--;
  PyObject *res = NULL;
  if (r == WEFT_SUCCESS) {
    res = k.result;
    k.result = NULL;
  } else {
    pw_raise(r, detail);
  }
  pw_call_clear(&k);
  return res;
}

#define COLL_METHODS(c, fn)                                                                 \
  static PyObject *comm_##fn(pw_comm_t *self, PyObject *args, PyObject *kw) {               \
    return run(self, args, kw, &specs[c], 0);                                               \
  }                                                                                         \
  static PyObject *comm_i##fn(pw_comm_t *self, PyObject *args, PyObject *kw) {              \
    return run(self, args, kw, &specs[c], 1);                                               \
  }
COLL_METHODS(PW_ALLREDUCE, allreduce)
COLL_METHODS(PW_ALLGATHER, allgather)
COLL_METHODS(PW_REDUCE_SCATTER, reduce_scatter)
COLL_METHODS(PW_BROADCAST, broadcast)
COLL_METHODS(PW_REDUCE, reduce)
COLL_METHODS(PW_BARRIER, barrier)
COLL_METHODS(PW_SEND, send)
COLL_METHODS(PW_RECV, recv)
COLL_METHODS(PW_ALLTOALL, alltoall)
COLL_METHODS(PW_ALLTOALLV, alltoallv)
COLL_METHODS(PW_ALLGATHERV, allgatherv)
COLL_METHODS(PW_REDUCE_SCATTERV, reduce_scatterv)
COLL_METHODS(PW_GATHER, gather)
COLL_METHODS(PW_SCATTER, scatter)

/* ---- lifecycle ------------------------------------------------------------------------ */

static int comm_init(pw_comm_t *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"rank", "size", "coordinator", "job_token", "timeout", NULL};
  weft_config_t cfg;
  weft_config_init(&cfg);
  PyObject *rank = Py_None, *size = Py_None, *timeout = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOzzO:Comm", kwlist, &rank, &size, &cfg.coordinator, &cfg.job_token,
                                   &timeout))
    return -1;
  if (rank != Py_None && (cfg.rank = (int)PyLong_AsLong(rank)) < 0) {
    if (!PyErr_Occurred()) pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "Comm: rank %R is negative", rank);
    return -1;
  }
  if (size != Py_None && (cfg.world_size = (int)PyLong_AsLong(size)) <= 0) {
    if (!PyErr_Occurred()) pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "Comm: size %R is not positive", size);
    return -1;
  }
  if (timeout != Py_None && ((cfg.timeout_s = PyFloat_AsDouble(timeout)) <= 0 || PyErr_Occurred())) {
    if (!PyErr_Occurred()) pw_raise_fmt(WEFT_ERR_INVALID_ARGUMENT, "Comm: timeout %R is not positive", timeout);
    return -1;
  }
  if (self->comm || self->closing) {
    pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "Comm.__init__: this communicator was already initialised");
    return -1;
  }
  weft_comm_t *c = NULL;
  weft_result_t r;
  char detail[PW_DETAIL_LEN];
  self->closing = 1; /* nothing may use it while init runs without the GIL */
  Py_BEGIN_ALLOW_THREADS
  r = weft_comm_init(&c, &cfg);
  if (r != WEFT_SUCCESS) snprintf(detail, sizeof detail, "%s", weft_comm_last_error(NULL));
  Py_END_ALLOW_THREADS
  self->closing = 0;
  if (r != WEFT_SUCCESS) {
    pw_raise(r, detail);
    return -1;
  }
  self->comm = c;
  open_link(self);
  return 0;
}

int pw_comm_close(pw_comm_t *self) {
  if (!self->comm) return 0;
  if (self->pinned) {
    pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "close: the communicator is in use by %d torch process group(s); "
                 "destroy them first (torch.distributed.destroy_process_group)", self->pinned);
    return -1;
  }
  if (self->active || self->closing) {
    pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "close: another thread is inside a call on this communicator");
    return -1;
  }
  for (pw_request_t *r = self->pending; r; r = r->next) {
    if (r->busy) {
      pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "close: another thread is waiting on one of its requests");
      return -1;
    }
  }
  /* weft_comm_destroy does not complete outstanding operations: wait for each first (their
   * buffers stay exported until then). Their outcomes stay readable through the Requests. */
  self->closing = 1;
  Py_INCREF(self);
  while (self->pending) {
    pw_request_t *r = self->pending;
    Py_INCREF(r);
    pw_request_finish(r);
    Py_DECREF(r);
  }
  weft_comm_t *c = self->comm;
  self->comm = NULL;
  open_unlink(self);
  Py_BEGIN_ALLOW_THREADS
  weft_comm_destroy(c);
  Py_END_ALLOW_THREADS
  Py_DECREF(self);
  return 0;
}

int pw_shutdown_all(void) {
  PyObject *list = PyList_New(0);
  if (!list) return -1;
  for (pw_comm_t *c = open_head; c; c = c->open_next)
    if (PyList_Append(list, (PyObject *)c) < 0) {
      Py_DECREF(list);
      return -1;
    }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
    pw_comm_t *c = (pw_comm_t *)PyList_GET_ITEM(list, i);
    /* A communicator another thread is still inside cannot be destroyed safely: left as is. */
    if (c->active || c->closing || c->pinned) continue;
    if (pw_comm_close(c) < 0) PyErr_Clear();
  }
  Py_DECREF(list);
  return 0;
}

static PyObject *comm_close(pw_comm_t *self, PyObject *unused) {
  (void)unused;
  if (pw_comm_close(self) < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject *comm_enter(pw_comm_t *self, PyObject *unused) {
  (void)unused;
  if (!usable(self, "__enter__")) return NULL;
  Py_INCREF(self);
  return (PyObject *)self;
}

static PyObject *comm_exit(pw_comm_t *self, PyObject *args) {
  (void)args;
  if (pw_comm_close(self) < 0) return NULL;
  Py_RETURN_FALSE;
}

/* Runs fn(c, arg) with the GIL released, marked as a call inside self; on failure raises the
 * WeftError with the communicator's detail. */
static weft_result_t call_released(pw_comm_t *self, weft_comm_t *c, weft_result_t (*fn)(weft_comm_t *, void *),
                                   void *arg) {
  char detail[PW_DETAIL_LEN];
  weft_result_t r;
  self->active++;
  Py_BEGIN_ALLOW_THREADS
  r = fn(c, arg);
  if (r != WEFT_SUCCESS) snprintf(detail, sizeof detail, "%s", weft_comm_last_error(c));
  Py_END_ALLOW_THREADS
  self->active--;
  if (r != WEFT_SUCCESS) pw_raise(r, detail);
  return r;
}

static weft_result_t do_recover(weft_comm_t *c, void *info) { return weft_comm_recover(c, info); }

static PyObject *comm_recover(pw_comm_t *self, PyObject *unused) {
  (void)unused;
  weft_comm_t *c = usable(self, "recover");
  if (!c) return NULL;
  if (self->pinned) {
    /* The process group's completion thread may be inside weft_wait on it. */
    pw_raise_fmt(WEFT_ERR_INVALID_USAGE, "recover: the communicator is in use by a torch process group; "
                 "call weft.torch.recover(comm), which first completes its pending operations");
    return NULL;
  }
  weft_recover_info_t info;
  if (call_released(self, c, do_recover, &info) != WEFT_SUCCESS) return NULL;
  return pw_recover_info(&info);
}

/* ---- sub-communicators ------------------------------------------------------------------ */

/* A new weft.Comm owning child (destroyed if the object cannot be made). */
static PyObject *wrap_child(weft_comm_t *child) {
  pw_comm_t *o = (pw_comm_t *)pw_comm_type.tp_alloc(&pw_comm_type, 0);
  if (!o) {
    weft_comm_destroy(child);
    return NULL;
  }
  o->comm = child;
  open_link(o);
  return (PyObject *)o;
}

typedef struct {
  int color, key, nranks;
  const int *ranks;
  uint64_t tag;
  weft_comm_t *child;
} group_args_t;

static weft_result_t do_split(weft_comm_t *c, void *arg) {
  group_args_t *g = arg;
  return weft_comm_split(c, g->color, g->key, &g->child);
}

static weft_result_t do_create_group(weft_comm_t *c, void *arg) {
  group_args_t *g = arg;
  return weft_comm_create_group(c, g->nranks, g->ranks, g->tag, &g->child);
}

static PyObject *comm_split(pw_comm_t *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"color", "key", NULL};
  PyObject *color_obj;
  int key = 0, color;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:split", kwlist, &color_obj, &key)) return NULL;
  if (color_obj == Py_None) {
    color = WEFT_SPLIT_NOCOLOR;
  } else {
    color = (int)PyLong_AsLong(color_obj);
    if (color == -1 && PyErr_Occurred()) return NULL;
  }
  weft_comm_t *c = usable(self, "split");
  if (!c) return NULL;
  group_args_t g = {.color = color, .key = key};
  if (call_released(self, c, do_split, &g) != WEFT_SUCCESS) return NULL;
  if (!g.child) Py_RETURN_NONE;
  return wrap_child(g.child);
}

static PyObject *comm_create_group(pw_comm_t *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"ranks", "tag", NULL};
  PyObject *ranks_obj;
  unsigned long long tag = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|K:create_group", kwlist, &ranks_obj, &tag)) return NULL;
  PyObject *seq = PySequence_Fast(ranks_obj, "create_group: ranks must be a sequence of ints");
  if (!seq) return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  int *ranks = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *ranks);
  if (!ranks) {
    Py_DECREF(seq);
    return PyErr_NoMemory();
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
    if (v == -1 && PyErr_Occurred()) {
      PyMem_Free(ranks);
      Py_DECREF(seq);
      return NULL;
    }
    ranks[i] = v < INT_MIN ? INT_MIN : v > INT_MAX ? INT_MAX : (int)v;
  }
  Py_DECREF(seq);
  weft_comm_t *c = usable(self, "create_group");
  if (!c) {
    PyMem_Free(ranks);
    return NULL;
  }
  group_args_t g = {.nranks = n > INT_MAX ? INT_MAX : (int)n, .ranks = ranks, .tag = (uint64_t)tag};
  weft_result_t r = call_released(self, c, do_create_group, &g);
  PyMem_Free(ranks);
  if (r != WEFT_SUCCESS) return NULL;
  return wrap_child(g.child);
}

static void comm_dealloc(pw_comm_t *self) {
  /* Pending requests hold a reference, so none is left here. */
  if (self->weakrefs) PyObject_ClearWeakRefs((PyObject *)self);
  if (self->comm) {
    weft_comm_t *c = self->comm;
    self->comm = NULL;
    open_unlink(self);
    Py_BEGIN_ALLOW_THREADS
    weft_comm_destroy(c);
    Py_END_ALLOW_THREADS
  }
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *comm_repr(pw_comm_t *self) {
  if (!self->comm) return PyUnicode_FromString("<weft.Comm closed>");
  return PyUnicode_FromFormat("<weft.Comm rank %d of %d, epoch %llu>", weft_comm_rank(self->comm),
                              weft_comm_size(self->comm), (unsigned long long)weft_comm_epoch(self->comm));
}

/* ---- properties ------------------------------------------------------------------------ */

static PyObject *get_rank(pw_comm_t *self, void *x) {
  (void)x;
  return usable(self, "rank") ? PyLong_FromLong(weft_comm_rank(self->comm)) : NULL;
}
static PyObject *get_size(pw_comm_t *self, void *x) {
  (void)x;
  return usable(self, "size") ? PyLong_FromLong(weft_comm_size(self->comm)) : NULL;
}
static PyObject *get_epoch(pw_comm_t *self, void *x) {
  (void)x;
  return usable(self, "epoch") ? PyLong_FromUnsignedLongLong(weft_comm_epoch(self->comm)) : NULL;
}
static PyObject *get_timeout(pw_comm_t *self, void *x) {
  (void)x;
  return usable(self, "timeout") ? PyFloat_FromDouble(weft_comm_timeout(self->comm)) : NULL;
}
static int set_timeout(pw_comm_t *self, PyObject *value, void *x) {
  (void)x;
  if (!usable(self, "timeout")) return -1;
  double s = value ? PyFloat_AsDouble(value) : -1;
  if (s == -1 && PyErr_Occurred()) return -1;
  weft_result_t r = weft_comm_set_timeout(self->comm, s);
  if (r != WEFT_SUCCESS) {
    pw_raise(r, weft_comm_last_error(self->comm));
    return -1;
  }
  return 0;
}
static PyObject *get_joined_late(pw_comm_t *self, void *x) {
  (void)x;
  return usable(self, "joined_late") ? PyBool_FromLong(weft_comm_joined_late(self->comm)) : NULL;
}
static PyObject *get_last_error(pw_comm_t *self, void *x) {
  (void)x;
  return usable(self, "last_error") ? PyUnicode_FromString(weft_comm_last_error(self->comm)) : NULL;
}
static PyObject *get_id(pw_comm_t *self, void *x) {
  (void)x;
  return PyLong_FromUnsignedLongLong(self->comm ? weft_comm_id(self->comm) : 0);
}

static PyObject *get_closed(pw_comm_t *self, void *x) {
  (void)x;
  return PyBool_FromLong(!self->comm);
}
static PyObject *get_pending(pw_comm_t *self, void *x) {
  (void)x;
  long n = 0;
  for (pw_request_t *r = self->pending; r; r = r->next) n++;
  return PyLong_FromLong(n);
}

static PyGetSetDef comm_getset[] = {
    {"rank", (getter)get_rank, NULL, "This process's rank in the current epoch.", NULL},
    {"size", (getter)get_size, NULL, "Number of ranks in the current epoch.", NULL},
    {"epoch", (getter)get_epoch, NULL, "The current epoch (membership generation), from 1.", NULL},
    {"joined_late", (getter)get_joined_late, NULL,
     "True when this process was admitted into an already running job (receive state first).", NULL},
    {"last_error", (getter)get_last_error, NULL, "weft's detail string of the last failure on this communicator.",
     NULL},
    {"id", (getter)get_id, NULL, "0 for a communicator Comm() made; a split/create_group child's id otherwise.", NULL},
    {"timeout", (getter)get_timeout, (setter)set_timeout,
     "Seconds each later operation may take before it fails with TimeoutError (and revokes the epoch).", NULL},
    {"closed", (getter)get_closed, NULL, "True once close() ran (or init failed).", NULL},
    {"pending", (getter)get_pending, NULL, "Number of issued requests not yet completed.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define KW (METH_VARARGS | METH_KEYWORDS)
#define M(fn, doc) {#fn, (PyCFunction)(void (*)(void))comm_##fn, KW, doc}
static PyMethodDef comm_methods[] = {
    M(allreduce, "allreduce(send, recv=None, op='sum', *, dtype=None) -> recv (send when in place)"),
    M(allgather, "allgather(send, recv, *, dtype=None) -> recv (size * len(send) elements)"),
    M(reduce_scatter, "reduce_scatter(send, recv, op='sum', *, dtype=None) -> recv (len(send) / size elements)"),
    M(broadcast, "broadcast(buf, root=0, *, dtype=None) -> buf (written on every rank but root)"),
    M(reduce, "reduce(send, recv=None, op='sum', root=0, *, dtype=None) -> result at root, else None"),
    M(barrier, "barrier() -> None"),
    M(send, "send(buf, peer, *, dtype=None) -> None"),
    M(recv, "recv(buf, peer, *, dtype=None) -> buf"),
    M(iallreduce, "Non-blocking allreduce: returns a Request."),
    M(iallgather, "Non-blocking allgather: returns a Request."),
    M(ireduce_scatter, "Non-blocking reduce_scatter: returns a Request."),
    M(ibroadcast, "Non-blocking broadcast: returns a Request."),
    M(ireduce, "Non-blocking reduce: returns a Request."),
    M(ibarrier, "Non-blocking barrier: returns a Request."),
    M(isend, "Non-blocking send: returns a Request."),
    M(irecv, "Non-blocking recv: returns a Request."),
    M(alltoall,
      "alltoall(send, recv=None, *, dtype=None) -> recv (send when in place)\n\n"
      "send holds size blocks of len(send) / size elements; block j goes to rank j, and rank j's block for this\n"
      "rank lands at block j of recv (as many elements as send). recv=None (or recv is send): in place."),
    M(alltoallv,
      "alltoallv(send, recv, sendcounts, recvcounts, sdispls=None, rdispls=None, *, dtype=None) -> recv\n\n"
      "sendcounts[j] elements at sdispls[j] of send go to rank j; rank j's block lands at rdispls[j] of recv\n"
      "(recvcounts[j] elements, which must equal sendcounts[this rank] on rank j). Counts and displacements\n"
      "are in elements, one per rank; displacements default to the blocks packed in rank order. Receive\n"
      "blocks must not overlap. recv=None: in place in send (both layouts over the one buffer)."),
    M(allgatherv,
      "allgatherv(send, recv, recvcounts, displs=None, *, dtype=None) -> recv\n\n"
      "Rank r's send (recvcounts[r] elements) lands at displs[r] of every rank's recv; recvcounts and displs\n"
      "are the same on every rank (displs default: packed in rank order). In place when send is the slice\n"
      "recv[displs[rank]:displs[rank] + recvcounts[rank]]."),
    M(reduce_scatterv,
      "reduce_scatterv(send, recv, recvcounts, op='sum', *, dtype=None) -> recv\n\n"
      "send holds sum(recvcounts) elements, block r starting at sum(recvcounts[:r]); rank r's recv gets block r\n"
      "reduced over all ranks (recvcounts[r] elements). recvcounts is the same on every rank. In place when recv\n"
      "is send's slice for this rank's block."),
    M(gather,
      "gather(send, recv=None, root=0, *, dtype=None) -> recv at root, else None\n\n"
      "Every rank's send (the same length everywhere) lands at block rank of the root's recv (size * len(send)\n"
      "elements); recv is needed at the root only and ignored elsewhere. In place at the root when send is\n"
      "recv's slice for the root's block."),
    M(scatter,
      "scatter(send, recv, root=0, *, dtype=None) -> recv\n\n"
      "Block r of the root's send (size * len(recv) elements) lands in rank r's recv; send is needed at the\n"
      "root only (pass None elsewhere). In place at the root when recv is send's slice for the root's block."),
    M(ialltoall, "Non-blocking alltoall: returns a Request."),
    M(ialltoallv, "Non-blocking alltoallv: returns a Request."),
    M(iallgatherv, "Non-blocking allgatherv: returns a Request."),
    M(ireduce_scatterv, "Non-blocking reduce_scatterv: returns a Request."),
    M(igather, "Non-blocking gather: returns a Request (its wait() returns recv at root, else None)."),
    M(iscatter, "Non-blocking scatter: returns a Request."),
    {"split", (PyCFunction)(void (*)(void))comm_split, KW,
     "split(color, key=0) -> Comm or None: collective over this communicator (MPI_Comm_split). Ranks passing the\n"
     "same color form one new communicator, ordered by key then rank; color None takes part and gets None."},
    {"create_group", (PyCFunction)(void (*)(void))comm_create_group, KW,
     "create_group(ranks, tag=0) -> Comm: collective over the listed ranks only (MPI_Comm_create_group); every\n"
     "member passes the same ranks (in the new communicator's order) and tag."},
    {"recover", (PyCFunction)comm_recover, METH_NOARGS,
     "recover() -> RecoverInfo: agree with the survivors on the next epoch (after PeerLostError or RevokedError)."},
    {"close", (PyCFunction)comm_close, METH_NOARGS,
     "Wait for pending requests, then leave the job and free the communicator. Idempotent."},
    {"__enter__", (PyCFunction)comm_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)comm_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pw_comm_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "weft.Comm",
    .tp_basicsize = sizeof(pw_comm_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Comm(*, rank=None, size=None, coordinator=None, job_token=None, timeout=None)\n\n"
              "A weft communicator. Without arguments rank, size and coordinator come from the environment\n"
              "(weftrun, torchrun, Slurm or MPI launchers). Blocks until every rank has joined.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)comm_init,
    .tp_dealloc = (destructor)comm_dealloc,
    .tp_repr = (reprfunc)comm_repr,
    .tp_methods = comm_methods,
    .tp_getset = comm_getset,
    .tp_weaklistoffset = offsetof(pw_comm_t, weakrefs),
};
