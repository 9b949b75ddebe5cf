// weft.torch._C: the compiled half of weft.torch (the Python half is weft/torch/__init__.py).
//
//   create_backend(comm, rank, size) -> c10d::Backend   the creator torch calls, via Python
//   recover(comm) -> weft.RecoverInfo                   recover after the engine drained
//
// weft's functions come from weft._weft's _C_API capsule (weft_capi.h), imported once here.
#include <torch/extension.h>

#include "backend.hpp"

namespace py = pybind11;
using namespace weft_torch;

static c10::intrusive_ptr<c10d::Backend> create_backend(py::object comm, int rank, int size) {
  weft_comm_t* c = api->comm_pin(comm.ptr());  // validates the object; released just below
  if (!c) throw py::error_already_set();
  int crank = api->comm_rank(c), csize = api->comm_size(c);
  api->comm_unpin(comm.ptr());
  // A group wraps a communicator of exactly its ranks (weft.torch makes one per new_group).
  TORCH_CHECK_VALUE(rank == crank && size == csize, "weft: a process group must span the whole weft communicator "
                    "it wraps (rank ", crank, " of ", csize, "); got rank ", rank, " of ", size);
  auto b = c10::make_intrusive<WeftBackend>(comm.ptr(), rank, size);
  if (PyErr_Occurred()) throw py::error_already_set();
  return b;
}

static py::object recover(py::object comm) {
  weft_comm_t* c = api->comm_pin(comm.ptr());
  if (!c) throw py::error_already_set();
  weft_recover_info_t info;
  weft_result_t r = WEFT_ERR_INTERNAL;
  std::string detail;
  {
    py::gil_scoped_release nogil;
    auto engine = Engine::of(c);
    engine->exclusive([&] {
      r = api->comm_recover(c, &info);
      if (r != WEFT_SUCCESS) detail = api->comm_last_error(c);
    });
  }
  api->comm_unpin(comm.ptr());
  if (r != WEFT_SUCCESS) {
    // The same exception weft.Comm.recover raises (weft.WeftError subclasses).
    py::object make_error = py::module_::import("weft._types").attr("make_error");
    py::object e = make_error(static_cast<int>(r), result_name(r), detail);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e.ptr())), e.ptr());
    throw py::error_already_set();
  }
  PyObject* res = api->recover_info(&info);
  if (!res) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(res);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  api = weft_capi_import();
  if (!api) throw py::error_already_set();
  m.doc() = "weft's torch.distributed backend (C++ half of weft.torch)";
  m.def("create_backend", &create_backend, py::arg("comm"), py::arg("rank"), py::arg("size"),
        "A c10d Backend over an open weft.Comm (pinned until the backend is destroyed).");
  m.def("recover", &recover, py::arg("comm"),
        "weft_comm_recover after every operation issued by process groups on comm completed.");
}
