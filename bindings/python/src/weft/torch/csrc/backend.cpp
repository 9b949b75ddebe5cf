// WeftBackend and WeftWork (backend.hpp says what they promise).
//
// Each collective checks its tensors, then hands the engine one closure that calls weft's
// non-blocking form. Tensors that weft cannot address as one buffer (allgather's and
// reduce_scatter's lists) go through one flat temporary, copied in before issue or out in the
// finish step; the temporaries live in the closures until the operation completes.
#include "backend.hpp"

#include <atomic>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace weft_torch {

// ---- checks ---------------------------------------------------------------------------------

static weft_dtype_t dtype_of(const at::Tensor& t, const char* what) {
  switch (t.scalar_type()) {
    case at::kFloat: return WEFT_FLOAT32;
    case at::kDouble: return WEFT_FLOAT64;
    case at::kHalf: return WEFT_FLOAT16;
    case at::kBFloat16: return WEFT_BFLOAT16;
    case at::kInt: return WEFT_INT32;
    case at::kLong: return WEFT_INT64;
    case at::kChar: return WEFT_INT8;
    case at::kByte: return WEFT_UINT8;
    case at::kBool: return WEFT_UINT8;  // bytes 0/1: moved exactly; op_of allows only MIN/MAX
    default: break;
  }
  TORCH_CHECK_NOT_IMPLEMENTED(false, "weft: ", what, ": dtype ", t.scalar_type(),
                              " is not supported (float32, float64, float16, bfloat16, int32, int64, int8, "
                              "uint8 and bool are)");
}

static void check_tensor(const at::Tensor& t, const char* what) {
  TORCH_CHECK_NOT_IMPLEMENTED(t.device().is_cpu(), "weft: ", what, ": only CPU tensors are supported, got a tensor on ",
                              t.device(), " (move it with .cpu(), or use nccl for CUDA tensors)");
  TORCH_CHECK_NOT_IMPLEMENTED(t.layout() == at::kStrided, "weft: ", what, ": only dense tensors are supported, got ",
                              t.layout());
  TORCH_CHECK_VALUE(t.is_contiguous(), "weft: ", what, ": the tensor must be contiguous (sizes ", t.sizes(),
                    ", strides ", t.strides(), "); call .contiguous() first");
}

static const at::Tensor& single(std::vector<at::Tensor>& tensors, const char* what) {
  TORCH_CHECK_VALUE(tensors.size() == 1, "weft: ", what, ": expects exactly one tensor per call, got ",
                    tensors.size());
  check_tensor(tensors[0], what);
  return tensors[0];
}

static weft_redop_t op_of(const c10d::ReduceOp& op, const at::Tensor& t, const char* what) {
  weft_redop_t r;
  switch (op.op_) {
    case c10d::ReduceOp::SUM: r = WEFT_SUM; break;
    case c10d::ReduceOp::AVG: r = WEFT_AVG; break;
    case c10d::ReduceOp::PRODUCT: r = WEFT_PROD; break;
    case c10d::ReduceOp::MIN: r = WEFT_MIN; break;
    case c10d::ReduceOp::MAX: r = WEFT_MAX; break;
    default:
      TORCH_CHECK_NOT_IMPLEMENTED(false, "weft: ", what, ": reduce op ", static_cast<int>(op.op_),
                                  " is not supported (SUM, AVG, PRODUCT, MIN and MAX are)");
  }
  TORCH_CHECK_NOT_IMPLEMENTED(t.scalar_type() != at::kBool || r == WEFT_MIN || r == WEFT_MAX, "weft: ", what,
                              ": bool tensors can only be reduced with MIN or MAX");
  return r;
}

static void check_same(const at::Tensor& a, const at::Tensor& b, const char* what) {
  TORCH_CHECK_VALUE(a.scalar_type() == b.scalar_type(), "weft: ", what, ": dtypes differ (", a.scalar_type(), " and ",
                    b.scalar_type(), ")");
}

static void check_rank(int peer, int size, const char* what, const char* role) {
  TORCH_CHECK_VALUE(peer >= 0 && peer < size, "weft: ", what, ": ", role, " ", peer, " is out of range for a group of ",
                    size);
}

// Element counts and displacements of consecutive blocks of rows[i] rows of `row` elements.
static void splits_fill(std::vector<size_t>& counts, std::vector<size_t>& displs, const std::vector<int64_t>& rows,
                        int64_t row) {
  size_t off = 0;
  for (int64_t r : rows) {
    displs.push_back(off);
    counts.push_back(static_cast<size_t>(r * row));
    off += static_cast<size_t>(r * row);
  }
}

// ---- WeftWork -------------------------------------------------------------------------------

WeftWork::WeftWork(int rank, c10d::OpType type, const char* title, std::vector<at::Tensor> outputs)
    : c10d::Work(rank, type, title),
      outputs_(std::move(outputs)),
      future_(c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()))) {}

bool WeftWork::isCompleted() { return future_->completed(); }

int WeftWork::sourceRank() const {
  TORCH_CHECK(source_, "weft: sourceRank() is known only for a recv from any source (recvAnysource)");
  TORCH_CHECK(isSuccess(), "weft: sourceRank(): the receive has not completed successfully");
  return *source_;
}

bool WeftWork::isSuccess() const { return future_->completed() && !future_->hasError(); }

std::exception_ptr WeftWork::exception() const {
  return future_->completed() && future_->hasError() ? future_->exception_ptr() : nullptr;
}

std::vector<at::Tensor> WeftWork::result() { return outputs_; }

bool WeftWork::wait(std::chrono::milliseconds timeout) {
  if (timeout == kNoTimeout) {
    future_->wait();  // bounded: the operation itself ends within WEFT_TIMEOUT
  } else {
    // ivalue::Future has no timed wait: poll its completion with a short sleep.
    auto until = std::chrono::steady_clock::now() + timeout;
    while (!future_->completed()) {
      if (std::chrono::steady_clock::now() >= until)
        C10_THROW_ERROR(DistBackendError, "weft: Work.wait timed out after " + std::to_string(timeout.count()) +
                                              " ms (the operation goes on; it ends within WEFT_TIMEOUT)");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (future_->hasError()) std::rethrow_exception(future_->exception_ptr());
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> WeftWork::getFuture() { return future_; }

void WeftWork::succeed() {
  finish();  // c10d::Work's own completion state (profiling, isCompleted of the base)
  future_->markCompleted(c10::IValue(outputs_));
}

void WeftWork::fail(std::exception_ptr error) {
  finish(error);
  future_->setError(error);
}

// ---- WeftBackend ----------------------------------------------------------------------------

WeftBackend::WeftBackend(PyObject* py_comm, int rank, int size) : c10d::Backend(rank, size), py_comm_(py_comm) {
  comm_ = api->comm_pin(py_comm);  // GIL held by the caller (module.cpp)
  if (!comm_) throw std::runtime_error("weft: cannot pin the communicator");  // Python error already set
  epoch_ = api->comm_epoch(comm_);
  engine_ = Engine::of(comm_);
}

WeftBackend::~WeftBackend() {
  // Drain and stop the engine before the communicator may be closed; waiting needs no GIL, and
  // holding it here could block a Future callback on the completion thread that wants it.
  if (PyGILState_Check()) {
    Py_BEGIN_ALLOW_THREADS engine_.reset();
    Py_END_ALLOW_THREADS
  } else {
    engine_.reset();
  }
  if (Py_IsInitialized()) {
    PyGILState_STATE g = PyGILState_Ensure();
    api->comm_unpin(py_comm_);
    PyGILState_Release(g);
  }
}

std::function<std::string()> WeftBackend::stale_check() const {
  weft_comm_t* comm = comm_;
  uint64_t epoch = epoch_;
  return [comm, epoch]() -> std::string {
    uint64_t now = api->comm_epoch(comm);
    if (now == epoch) return {};
    return "this process group was made in epoch " + std::to_string(epoch) + " but the communicator recovered into " +
           "epoch " + std::to_string(now) + ": destroy the group and create it again";
  };
}

c10::intrusive_ptr<c10d::Work> WeftBackend::launch(const char* what, c10d::OpType type,
                                                    std::vector<at::Tensor> outputs,
                                                    std::vector<at::Tensor> keep,
                                                    std::function<weft_result_t(weft_request_t**)> issue,
                                                    std::function<void()> finish) {
  auto work = c10::make_intrusive<WeftWork>(rank_, type, what, std::move(outputs));
  auto check = stale_check();
  seq_++;
  Completion done;
  done.on_success = [work, finish, keep]() {
    if (finish) finish();
    work->succeed();
  };
  done.on_error = [work, keep](std::exception_ptr e) { work->fail(e); };
  engine_->submit(what, check, issue, std::move(done));
  return work;
}

c10::intrusive_ptr<c10d::Work> WeftBackend::broadcast(std::vector<at::Tensor>& tensors,
                                                      const c10d::BroadcastOptions& opts) {
  at::Tensor t = single(tensors, "broadcast");
  check_rank(static_cast<int>(opts.rootRank), size_, "broadcast", "root");
  weft_dtype_t d = dtype_of(t, "broadcast");
  weft_comm_t* c = comm_;
  int root = static_cast<int>(opts.rootRank);
  return launch("broadcast", c10d::OpType::BROADCAST, {t}, {t}, [=](weft_request_t** rq) {
    return api->ibroadcast(c, t.data_ptr(), t.data_ptr(), t.numel(), d, root, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::allreduce(std::vector<at::Tensor>& tensors,
                                                      const c10d::AllreduceOptions& opts) {
  at::Tensor t = single(tensors, "allreduce");
  weft_redop_t op = op_of(opts.reduceOp, t, "allreduce");
  weft_dtype_t d = dtype_of(t, "allreduce");
  weft_comm_t* c = comm_;
  return launch("allreduce", c10d::OpType::ALLREDUCE, {t}, {t}, [=](weft_request_t** rq) {
    return api->iallreduce(c, t.data_ptr(), t.data_ptr(), t.numel(), d, op, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                                const c10d::AllreduceCoalescedOptions& opts) {
  TORCH_CHECK_VALUE(!tensors.empty(), "weft: allreduce_coalesced: no tensors");
  for (auto& t : tensors) {
    check_tensor(t, "allreduce_coalesced");
    check_same(t, tensors[0], "allreduce_coalesced");
  }
  weft_redop_t op = op_of(opts.reduceOp, tensors[0], "allreduce_coalesced");
  weft_dtype_t d = dtype_of(tensors[0], "allreduce_coalesced");
  std::vector<at::Tensor> flat_in;
  for (auto& t : tensors) flat_in.push_back(t.reshape({-1}));
  at::Tensor flat = at::cat(flat_in);  // one buffer, one collective
  weft_comm_t* c = comm_;
  std::vector<at::Tensor> outs = tensors;
  return launch(
      "allreduce_coalesced", c10d::OpType::ALLREDUCE_COALESCED, tensors, {flat},
      [=](weft_request_t** rq) { return api->iallreduce(c, flat.data_ptr(), flat.data_ptr(), flat.numel(), d, op, rq); },
      [=]() {
        int64_t off = 0;
        for (auto t : outs) {
          t.view({-1}).copy_(flat.narrow(0, off, t.numel()));
          off += t.numel();
        }
      });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) {
  at::Tensor t = single(tensors, "reduce");
  check_rank(static_cast<int>(opts.rootRank), size_, "reduce", "root");
  weft_redop_t op = op_of(opts.reduceOp, t, "reduce");
  weft_dtype_t d = dtype_of(t, "reduce");
  weft_comm_t* c = comm_;
  int root = static_cast<int>(opts.rootRank);
  return launch("reduce", c10d::OpType::REDUCE, {t}, {t}, [=](weft_request_t** rq) {
    return api->ireduce(c, t.data_ptr(), t.data_ptr(), t.numel(), d, op, root, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                      std::vector<at::Tensor>& inputs,
                                                      const c10d::AllgatherOptions& /*opts*/) {
  at::Tensor in = single(inputs, "allgather");
  TORCH_CHECK_VALUE(outputs.size() == 1 && static_cast<int>(outputs[0].size()) == size_, "weft: allgather: expects one "
                    "list of ", size_, " output tensors");
  bool even = true;
  for (auto& o : outputs[0]) {
    check_tensor(o, "allgather");
    check_same(o, in, "allgather");
    even &= o.numel() == in.numel();
  }
  if (!even) return allgather_uneven(outputs[0], in);
  weft_dtype_t d = dtype_of(in, "allgather");
  at::Tensor flat = at::empty({static_cast<int64_t>(size_) * in.numel()}, in.options());
  std::vector<at::Tensor> outs = outputs[0];
  weft_comm_t* c = comm_;
  return launch(
      "allgather", c10d::OpType::ALLGATHER, outs, {in, flat},
      [=](weft_request_t** rq) { return api->iallgather(c, in.data_ptr(), flat.data_ptr(), in.numel(), d, rq); },
      [=]() {
        for (size_t i = 0; i < outs.size(); i++)
          outs[i].view({-1}).copy_(flat.narrow(0, static_cast<int64_t>(i) * in.numel(), in.numel()));
      });
}

// outputs[r][j] gets rank r's inputs[j]: the inputs are packed into one buffer, gathered by
// one weft allgather, and unpacked from the flat result (every input of one dtype).
c10::intrusive_ptr<c10d::Work> WeftBackend::allgather_coalesced(std::vector<std::vector<at::Tensor>>& outputs,
                                                                std::vector<at::Tensor>& inputs,
                                                                const c10d::AllgatherOptions& /*opts*/) {
  const char* what = "allgather_coalesced";
  TORCH_CHECK_VALUE(!inputs.empty(), "weft: ", what, ": expects at least one input tensor");
  TORCH_CHECK_VALUE(static_cast<int>(outputs.size()) == size_, "weft: ", what, ": expects ", size_,
                    " output lists, got ", outputs.size());
  std::vector<at::Tensor> flat_in;
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (auto& in : inputs) {
    check_tensor(in, what);
    check_same(in, inputs[0], what);
    flat_in.push_back(in.reshape({-1}));
    offsets.push_back(total);
    total += in.numel();
  }
  std::vector<at::Tensor> outs;
  for (auto& list : outputs) {
    TORCH_CHECK_VALUE(list.size() == inputs.size(), "weft: ", what, ": every output list must hold ", inputs.size(),
                      " tensors, got ", list.size());
    for (size_t j = 0; j < list.size(); j++) {
      TORCH_CHECK_NOT_IMPLEMENTED(list[j].device().is_cpu() && list[j].layout() == at::kStrided, "weft: ", what,
                                  ": only dense CPU tensors are supported");
      check_same(list[j], inputs[0], what);
      TORCH_CHECK_VALUE(list[j].numel() == inputs[j].numel(), "weft: ", what, ": output ", j, " must have input ", j,
                        "'s ", inputs[j].numel(), " elements, got ", list[j].numel());
      outs.push_back(list[j]);
    }
  }
  weft_dtype_t d = dtype_of(inputs[0], what);
  at::Tensor packed = at::cat(flat_in);  // copied now: the caller may reuse its inputs at once
  at::Tensor flat = at::empty({static_cast<int64_t>(size_) * total}, packed.options());
  size_t per_rank = inputs.size();
  weft_comm_t* c = comm_;
  return launch(
      what, c10d::OpType::ALLGATHER_COALESCED, outs, {packed, flat},
      [=](weft_request_t** rq) { return api->iallgather(c, packed.data_ptr(), flat.data_ptr(), total, d, rq); },
      [=]() {
        for (size_t k = 0; k < outs.size(); k++) {
          int64_t r = static_cast<int64_t>(k / per_rank);
          size_t j = k % per_rank;
          auto o = outs[k];
          o.copy_(flat.narrow(0, r * total + offsets[j], o.numel()).view(o.sizes()));
        }
      });
}

// allgather with outputs of different sizes (an uneven all_gather): one allgatherv into a flat
// temporary, unpacked after.
c10::intrusive_ptr<c10d::Work> WeftBackend::allgather_uneven(std::vector<at::Tensor> outs, at::Tensor in) {
  TORCH_CHECK_VALUE(outs[rank_].numel() == in.numel(), "weft: allgather: output ", rank_, " (this rank's) must have the "
                    "input's ", in.numel(), " elements, got ", outs[rank_].numel());
  auto counts = std::make_shared<std::vector<size_t>>();
  auto displs = std::make_shared<std::vector<size_t>>();
  size_t total = 0;
  for (auto& o : outs) {
    displs->push_back(total);
    counts->push_back(static_cast<size_t>(o.numel()));
    total += static_cast<size_t>(o.numel());
  }
  weft_dtype_t d = dtype_of(in, "allgather");
  at::Tensor flat = at::empty({static_cast<int64_t>(total)}, in.options());
  weft_comm_t* c = comm_;
  return launch(
      "allgather", c10d::OpType::ALLGATHER, outs, {in, flat},
      [=](weft_request_t** rq) {
        return api->iallgatherv(c, in.data_ptr(), in.numel(), flat.data_ptr(), counts->data(), displs->data(), d, rq);
      },
      [=]() {
        for (size_t i = 0; i < outs.size(); i++)
          outs[i].view({-1}).copy_(
              flat.narrow(0, static_cast<int64_t>((*displs)[i]), static_cast<int64_t>((*counts)[i])));
      });
}

// The per-peer element counts and displacements of a tensor split by rows of dim 0 (equal
// blocks when no split sizes are given), as all_to_all_single defines them.
static void row_layout(const at::Tensor& t, const std::vector<int64_t>& splits, int size, const char* role,
                       std::vector<size_t>& counts, std::vector<size_t>& displs) {
  const char* what = "all_to_all_single";
  int64_t rows = t.dim() ? t.size(0) : 1, row = rows ? t.numel() / rows : 0;
  if (splits.empty()) {
    TORCH_CHECK_VALUE(rows % size == 0, "weft: ", what, ": the ", role, " has ", rows,
                      " rows, not divisible by the group size ", size, " (pass split sizes)");
    splits_fill(counts, displs, std::vector<int64_t>(size, rows / size), row);
    return;
  }
  TORCH_CHECK_VALUE(static_cast<int>(splits.size()) == size, "weft: ", what, ": ", splits.size(), " ", role,
                    " split sizes for a group of ", size);
  int64_t sum = 0;
  for (int64_t v : splits) {
    TORCH_CHECK_VALUE(v >= 0, "weft: ", what, ": negative ", role, " split size ", v);
    sum += v;
  }
  TORCH_CHECK_VALUE(sum == rows, "weft: ", what, ": ", role, " split sizes sum to ", sum, " but it has ", rows, " rows");
  splits_fill(counts, displs, splits, row);
}

c10::intrusive_ptr<c10d::Work> WeftBackend::alltoall_base(at::Tensor& output, at::Tensor& input,
                                                          std::vector<int64_t>& outputSplitSizes,
                                                          std::vector<int64_t>& inputSplitSizes,
                                                          const c10d::AllToAllOptions& /*opts*/) {
  const char* what = "all_to_all_single";
  check_tensor(input, what);
  check_tensor(output, what);
  check_same(output, input, what);
  weft_dtype_t d = dtype_of(input, what);
  auto sc = std::make_shared<std::vector<size_t>>(), sd = std::make_shared<std::vector<size_t>>();
  auto rc = std::make_shared<std::vector<size_t>>(), rd = std::make_shared<std::vector<size_t>>();
  row_layout(input, inputSplitSizes, size_, "input", *sc, *sd);
  row_layout(output, outputSplitSizes, size_, "output", *rc, *rd);
  at::Tensor in = input, out = output;
  weft_comm_t* c = comm_;
  return launch(what, c10d::OpType::ALLTOALL_BASE, {out}, {in, out}, [=](weft_request_t** rq) {
    return api->ialltoallv(c, in.data_ptr(), sc->data(), sd->data(), out.data_ptr(), rc->data(), rd->data(), d, rq);
  });
}

// all_to_all with lists: inputs[j] goes to rank j, outputs[j] comes from rank j (any sizes).
c10::intrusive_ptr<c10d::Work> WeftBackend::alltoall(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                                     const c10d::AllToAllOptions& /*opts*/) {
  const char* what = "all_to_all";
  TORCH_CHECK_VALUE(static_cast<int>(inputs.size()) == size_ && static_cast<int>(outputs.size()) == size_, "weft: ",
                    what, ": expects ", size_, " input and output tensors, got ", inputs.size(), " and ",
                    outputs.size());
  auto sc = std::make_shared<std::vector<size_t>>(), sd = std::make_shared<std::vector<size_t>>();
  auto rc = std::make_shared<std::vector<size_t>>(), rd = std::make_shared<std::vector<size_t>>();
  std::vector<at::Tensor> flat_in;
  size_t stotal = 0, rtotal = 0;
  for (int j = 0; j < size_; j++) {
    check_tensor(inputs[j], what);
    check_tensor(outputs[j], what);
    check_same(inputs[j], inputs[0], what);
    check_same(outputs[j], inputs[0], what);
    sd->push_back(stotal);
    sc->push_back(static_cast<size_t>(inputs[j].numel()));
    stotal += static_cast<size_t>(inputs[j].numel());
    rd->push_back(rtotal);
    rc->push_back(static_cast<size_t>(outputs[j].numel()));
    rtotal += static_cast<size_t>(outputs[j].numel());
    flat_in.push_back(inputs[j].reshape({-1}));
  }
  weft_dtype_t d = dtype_of(inputs[0], what);
  at::Tensor packed = at::cat(flat_in);  // copied now: the caller may reuse its inputs at once
  at::Tensor flat = at::empty({static_cast<int64_t>(rtotal)}, packed.options());
  std::vector<at::Tensor> outs = outputs;
  weft_comm_t* c = comm_;
  int n = size_;
  return launch(
      what, c10d::OpType::ALLTOALL, outs, {packed, flat},
      [=](weft_request_t** rq) {
        return api->ialltoallv(c, packed.data_ptr(), sc->data(), sd->data(), flat.data_ptr(), rc->data(), rd->data(),
                               d, rq);
      },
      [=]() {
        for (int j = 0; j < n; j++)
          outs[j].view({-1}).copy_(flat.narrow(0, static_cast<int64_t>((*rd)[j]), static_cast<int64_t>((*rc)[j])));
      });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::gather(std::vector<std::vector<at::Tensor>>& outputs,
                                                   std::vector<at::Tensor>& inputs, const c10d::GatherOptions& opts) {
  const char* what = "gather";
  at::Tensor in = single(inputs, what);
  int root = static_cast<int>(opts.rootRank);
  check_rank(root, size_, what, "root");
  bool at_root = rank_ == root;
  std::vector<at::Tensor> outs;
  if (at_root) {
    TORCH_CHECK_VALUE(outputs.size() == 1 && static_cast<int>(outputs[0].size()) == size_, "weft: gather: the root "
                      "expects one list of ", size_, " output tensors");
    for (auto& o : outputs[0]) {
      check_tensor(o, what);
      check_same(o, in, what);
      TORCH_CHECK_VALUE(o.numel() == in.numel(), "weft: gather: output tensors must have the input's ", in.numel(),
                        " elements, got ", o.numel());
    }
    outs = outputs[0];
  } else {
    TORCH_CHECK_VALUE(outputs.empty() || (outputs.size() == 1 && outputs[0].empty()), "weft: gather: only the root "
                      "passes output tensors");
  }
  weft_dtype_t d = dtype_of(in, what);
  at::Tensor flat = at::empty({at_root ? static_cast<int64_t>(size_) * in.numel() : 0}, in.options());
  weft_comm_t* c = comm_;
  return launch(
      what, c10d::OpType::GATHER, outs, {in, flat},
      [=](weft_request_t** rq) {
        return api->igather(c, in.data_ptr(), at_root ? flat.data_ptr() : nullptr, in.numel(), d, root, rq);
      },
      [=]() {
        for (size_t i = 0; i < outs.size(); i++)
          outs[i].view({-1}).copy_(flat.narrow(0, static_cast<int64_t>(i) * in.numel(), in.numel()));
      });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::scatter(std::vector<at::Tensor>& outputs,
                                                    std::vector<std::vector<at::Tensor>>& inputs,
                                                    const c10d::ScatterOptions& opts) {
  const char* what = "scatter";
  at::Tensor out = single(outputs, what);
  int root = static_cast<int>(opts.rootRank);
  check_rank(root, size_, what, "root");
  bool at_root = rank_ == root;
  at::Tensor packed = at::empty({0}, out.options());
  if (at_root) {
    TORCH_CHECK_VALUE(inputs.size() == 1 && static_cast<int>(inputs[0].size()) == size_, "weft: scatter: the root "
                      "expects one list of ", size_, " input tensors");
    std::vector<at::Tensor> flat_in;
    for (auto& i : inputs[0]) {
      check_tensor(i, what);
      check_same(i, out, what);
      TORCH_CHECK_VALUE(i.numel() == out.numel(), "weft: scatter: input tensors must have the output's ", out.numel(),
                        " elements, got ", i.numel());
      flat_in.push_back(i.reshape({-1}));
    }
    packed = at::cat(flat_in);
  } else {
    TORCH_CHECK_VALUE(inputs.empty() || (inputs.size() == 1 && inputs[0].empty()), "weft: scatter: only the root "
                      "passes input tensors");
  }
  weft_dtype_t d = dtype_of(out, what);
  weft_comm_t* c = comm_;
  return launch(what, c10d::OpType::SCATTER, {out}, {packed, out}, [=](weft_request_t** rq) {
    return api->iscatter(c, at_root ? packed.data_ptr() : nullptr, out.data_ptr(), out.numel(), d, root, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                            const c10d::AllgatherOptions& /*opts*/) {
  check_tensor(input, "all_gather_into_tensor");
  check_tensor(output, "all_gather_into_tensor");
  check_same(output, input, "all_gather_into_tensor");
  TORCH_CHECK_VALUE(output.numel() == input.numel() * size_, "weft: all_gather_into_tensor: the output must have ",
                    size_, " x ", input.numel(), " elements, got ", output.numel());
  weft_dtype_t d = dtype_of(input, "all_gather_into_tensor");
  at::Tensor in = input, out = output;
  weft_comm_t* c = comm_;
  return launch("all_gather_into_tensor", c10d::OpType::_ALLGATHER_BASE, {out}, {in, out}, [=](weft_request_t** rq) {
    return api->iallgather(c, in.data_ptr(), out.data_ptr(), in.numel(), d, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::reduce_scatter(std::vector<at::Tensor>& outputs,
                                                           std::vector<std::vector<at::Tensor>>& inputs,
                                                           const c10d::ReduceScatterOptions& opts) {
  at::Tensor out = single(outputs, "reduce_scatter");
  TORCH_CHECK_VALUE(inputs.size() == 1 && static_cast<int>(inputs[0].size()) == size_, "weft: reduce_scatter: expects "
                    "one list of ", size_, " input tensors");
  std::vector<at::Tensor> flat_in;
  auto counts = std::make_shared<std::vector<size_t>>();
  bool even = true;
  for (auto& i : inputs[0]) {
    check_tensor(i, "reduce_scatter");
    check_same(i, out, "reduce_scatter");
    even &= i.numel() == out.numel();
    counts->push_back(static_cast<size_t>(i.numel()));
    flat_in.push_back(i.reshape({-1}));
  }
  TORCH_CHECK_VALUE((*counts)[rank_] == static_cast<size_t>(out.numel()), "weft: reduce_scatter: the output has ",
                    out.numel(), " elements but this rank's input block has ", (*counts)[rank_]);
  weft_redop_t op = op_of(opts.reduceOp, out, "reduce_scatter");
  weft_dtype_t d = dtype_of(out, "reduce_scatter");
  at::Tensor flat = at::cat(flat_in);  // copied now: the caller may reuse its inputs at once
  weft_comm_t* c = comm_;
  if (!even)  // blocks of different sizes: torch's uneven reduce_scatter
    return launch("reduce_scatter", c10d::OpType::REDUCE_SCATTER, {out}, {flat, out}, [=](weft_request_t** rq) {
      return api->ireduce_scatterv(c, flat.data_ptr(), out.data_ptr(), counts->data(), d, op, rq);
    });
  return launch("reduce_scatter", c10d::OpType::REDUCE_SCATTER, {out}, {flat, out}, [=](weft_request_t** rq) {
    return api->ireduce_scatter(c, flat.data_ptr(), out.data_ptr(), out.numel(), d, op, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                                 const c10d::ReduceScatterOptions& opts) {
  check_tensor(input, "reduce_scatter_tensor");
  check_tensor(output, "reduce_scatter_tensor");
  check_same(output, input, "reduce_scatter_tensor");
  TORCH_CHECK_VALUE(input.numel() == output.numel() * size_, "weft: reduce_scatter_tensor: the input must have ",
                    size_, " x ", output.numel(), " elements, got ", input.numel());
  weft_redop_t op = op_of(opts.reduceOp, output, "reduce_scatter_tensor");
  weft_dtype_t d = dtype_of(output, "reduce_scatter_tensor");
  at::Tensor in = input, out = output;
  weft_comm_t* c = comm_;
  return launch("reduce_scatter_tensor", c10d::OpType::_REDUCE_SCATTER_BASE, {out}, {in, out}, [=](weft_request_t** rq) {
    return api->ireduce_scatter(c, in.data_ptr(), out.data_ptr(), out.numel(), d, op, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::launch_all(const char* what, c10d::OpType type,
                                                        std::vector<at::Tensor> outputs, std::vector<at::Tensor> keep,
                                                        std::vector<std::function<weft_result_t(weft_request_t**)>> issues) {
  auto work = c10::make_intrusive<WeftWork>(rank_, type, what, std::move(outputs));
  if (issues.empty()) {
    work->succeed();
    return work;
  }
  // Issue-time errors are reported on this thread, completions on the engine's: one flag for both.
  auto failed = std::make_shared<std::atomic<bool>>(false);
  auto check = stale_check();
  for (size_t i = 0; i < issues.size(); i++) {
    bool last = i + 1 == issues.size();
    Completion done;
    done.on_success = [work, failed, keep, last]() {
      if (last && !failed->load()) work->succeed();
    };
    done.on_error = [work, failed, keep](std::exception_ptr e) {
      if (!failed->exchange(true)) work->fail(e);
    };
    engine_->submit(what, check, issues[i], std::move(done));
  }
  return work;
}

c10::intrusive_ptr<c10d::Work> WeftBackend::allgather_into_tensor_coalesced(std::vector<at::Tensor>& outputs,
                                                                            std::vector<at::Tensor>& inputs,
                                                                            const c10d::AllgatherOptions& /*opts*/) {
  const char* what = "allgather_into_tensor_coalesced";
  TORCH_CHECK_VALUE(outputs.size() == inputs.size(), "weft: ", what, ": ", outputs.size(), " outputs for ",
                    inputs.size(), " inputs");
  std::vector<std::function<weft_result_t(weft_request_t**)>> issues;
  std::vector<at::Tensor> keep;
  weft_comm_t* c = comm_;
  for (size_t i = 0; i < inputs.size(); i++) {
    at::Tensor in = inputs[i], out = outputs[i];
    check_tensor(in, what);
    check_tensor(out, what);
    check_same(out, in, what);
    TORCH_CHECK_VALUE(out.numel() == in.numel() * size_, "weft: ", what, ": output ", i, " must have ", size_, " x ",
                      in.numel(), " elements, got ", out.numel());
    weft_dtype_t d = dtype_of(in, what);
    keep.push_back(in);
    keep.push_back(out);
    issues.push_back([=](weft_request_t** rq) { return api->iallgather(c, in.data_ptr(), out.data_ptr(), in.numel(), d, rq); });
  }
  return launch_all(what, c10d::OpType::COALESCED, outputs, keep, issues);
}

c10::intrusive_ptr<c10d::Work> WeftBackend::reduce_scatter_tensor_coalesced(std::vector<at::Tensor>& outputs,
                                                                            std::vector<at::Tensor>& inputs,
                                                                            const c10d::ReduceScatterOptions& opts) {
  const char* what = "reduce_scatter_tensor_coalesced";
  TORCH_CHECK_VALUE(outputs.size() == inputs.size(), "weft: ", what, ": ", outputs.size(), " outputs for ",
                    inputs.size(), " inputs");
  std::vector<std::function<weft_result_t(weft_request_t**)>> issues;
  std::vector<at::Tensor> keep;
  weft_comm_t* c = comm_;
  for (size_t i = 0; i < inputs.size(); i++) {
    at::Tensor in = inputs[i], out = outputs[i];
    check_tensor(in, what);
    check_tensor(out, what);
    check_same(out, in, what);
    TORCH_CHECK_VALUE(in.numel() == out.numel() * size_, "weft: ", what, ": input ", i, " must have ", size_, " x ",
                      out.numel(), " elements, got ", in.numel());
    weft_redop_t op = op_of(opts.reduceOp, out, what);
    weft_dtype_t d = dtype_of(out, what);
    keep.push_back(in);
    keep.push_back(out);
    issues.push_back(
        [=](weft_request_t** rq) { return api->ireduce_scatter(c, in.data_ptr(), out.data_ptr(), out.numel(), d, op, rq); });
  }
  return launch_all(what, c10d::OpType::COALESCED, outputs, keep, issues);
}

c10::intrusive_ptr<c10d::Work> WeftBackend::barrier(const c10d::BarrierOptions& /*opts*/) {
  weft_comm_t* c = comm_;
  return launch("barrier", c10d::OpType::BARRIER, {}, {}, [=](weft_request_t** rq) { return api->ibarrier(c, rq); });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::send(std::vector<at::Tensor>& tensors, int dst, int tag) {
  at::Tensor t = single(tensors, "send");
  check_rank(dst, size_, "send", "destination");
  TORCH_CHECK_VALUE(dst != rank_, "weft: send: destination ", dst, " is this rank itself");
  TORCH_CHECK_VALUE(tag >= 0, "weft: send: tag ", tag, " is negative (tags are >= 0)");
  weft_dtype_t d = dtype_of(t, "send");
  weft_comm_t* c = comm_;
  return launch("send", c10d::OpType::SEND, {t}, {t}, [=](weft_request_t** rq) {
    return api->isend_tagged(c, t.data_ptr(), t.numel(), d, dst, tag, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::recv(std::vector<at::Tensor>& tensors, int src, int tag) {
  at::Tensor t = single(tensors, "recv");
  check_rank(src, size_, "recv", "source");
  TORCH_CHECK_VALUE(src != rank_, "weft: recv: source ", src, " is this rank itself");
  TORCH_CHECK_VALUE(tag >= 0, "weft: recv: tag ", tag, " is negative (tags are >= 0)");
  weft_dtype_t d = dtype_of(t, "recv");
  weft_comm_t* c = comm_;
  return launch("recv", c10d::OpType::RECV, {t}, {t}, [=](weft_request_t** rq) {
    return api->irecv_tagged(c, t.data_ptr(), t.numel(), d, src, tag, nullptr, rq);
  });
}

c10::intrusive_ptr<c10d::Work> WeftBackend::recvAnysource(std::vector<at::Tensor>& tensors, int tag) {
  at::Tensor t = single(tensors, "recv");
  TORCH_CHECK_VALUE(tag >= 0, "weft: recv: tag ", tag, " is negative (tags are >= 0)");
  weft_dtype_t d = dtype_of(t, "recv");
  weft_comm_t* c = comm_;
  auto source = std::make_shared<int>(-1);
  // weft writes *source when the receive completes: `finish` holds it alive until then.
  auto work = launch(
      "recv", c10d::OpType::RECVANYSOURCE, {t}, {t},
      [=](weft_request_t** rq) {
        return api->irecv_tagged(c, t.data_ptr(), t.numel(), d, WEFT_ANY_SOURCE, tag, source.get(), rq);
      },
      [source]() {});
  static_cast<WeftWork*>(work.get())->set_source(source);
  return work;
}

}  // namespace weft_torch
