// weft as a torch.distributed backend: a c10d::Backend over one weft communicator.
//
// One WeftBackend per process group; every backend on a communicator shares its Engine
// (queue.hpp), so operations keep issue order however many groups wrap the communicator. A
// backend belongs to the epoch it was created in: once the communicator has recovered into
// another epoch its operations fail (DistBackendError) instead of running with a membership
// its rank and size no longer describe; re-create the group (weft.torch.elastic does).
//
// Only CPU tensors, contiguous, of a dtype weft has; anything else is refused before it
// reaches the network (ValueError or NotImplementedError naming the tensor).
#pragma once

#include <Python.h>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "queue.hpp"

namespace weft_torch {

// A Work completed by the engine's completion thread; getFuture() is what DDP chains on.
class WeftWork : public c10d::Work {
 public:
  WeftWork(int rank, c10d::OpType type, const char* title, std::vector<at::Tensor> outputs);

  bool isCompleted() override;
  bool isSuccess() const override;
  std::exception_ptr exception() const override;
  std::vector<at::Tensor> result() override;
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

  void succeed();                      // completes the Future with the outputs
  void fail(std::exception_ptr error); // completes the Future with the error

  // recvAnysource: the sender's rank, written by weft when the receive succeeds.
  void set_source(std::shared_ptr<int> source) { source_ = std::move(source); }
  int sourceRank() const override;

 private:
  std::vector<at::Tensor> outputs_;
  std::shared_ptr<int> source_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

class WeftBackend : public c10d::Backend {
 public:
  // py_comm: a weft.Comm, pinned (kept open) for the backend's lifetime. GIL held.
  WeftBackend(PyObject* py_comm, int rank, int size);
  ~WeftBackend() override;

  const std::string getBackendName() const override { return "weft"; }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                     const c10d::AllreduceCoalescedOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather_coalesced(std::vector<std::vector<at::Tensor>>& outputs,
                                                     std::vector<at::Tensor>& inputs,
                                                     const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                      const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather_into_tensor_coalesced(std::vector<at::Tensor>& outputs,
                                                                 std::vector<at::Tensor>& inputs,
                                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter_tensor_coalesced(std::vector<at::Tensor>& outputs,
                                                                 std::vector<at::Tensor>& inputs,
                                                                 const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall_base(at::Tensor& output, at::Tensor& input,
                                               std::vector<int64_t>& outputSplitSizes,
                                               std::vector<int64_t>& inputSplitSizes,
                                               const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
                                          const c10d::AllToAllOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& outputs, std::vector<at::Tensor>& inputs,
                                        const c10d::GatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
                                         const c10d::ScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;
  // Every rank of the group counts the operations it issued (torch compares them across ranks).
  void setSequenceNumberForGroup() override {}
  uint64_t getSequenceNumberForGroup() override { return seq_; }
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dst, int tag) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int src, int tag) override;
  c10::intrusive_ptr<c10d::Work> recvAnysource(std::vector<at::Tensor>& tensors, int tag) override;

  uint64_t epoch() const { return epoch_; }

 private:
  // Issues one operation through the engine. `keep`: every tensor weft reads or writes (inputs,
  // temporaries), held until the operation completes whatever the caller drops meanwhile.
  // finish runs on success before the Future completes (copy-outs into the caller's tensors).
  c10::intrusive_ptr<c10d::Work> launch(const char* what, c10d::OpType type, std::vector<at::Tensor> outputs,
                                        std::vector<at::Tensor> keep,
                                        std::function<weft_result_t(weft_request_t**)> issue,
                                        std::function<void()> finish = nullptr);

  // Several weft operations behind one Work (the *_coalesced calls FSDP makes): it completes
  // when the last succeeds, or with the first error.
  c10::intrusive_ptr<c10d::Work> launch_all(const char* what, c10d::OpType type, std::vector<at::Tensor> outputs,
                                            std::vector<at::Tensor> keep,
                                            std::vector<std::function<weft_result_t(weft_request_t**)>> issues);

  c10::intrusive_ptr<c10d::Work> allgather_uneven(std::vector<at::Tensor> outs, at::Tensor in);

  // Fails an operation of a group whose epoch is over (run under the engine's issue lock).
  std::function<std::string()> stale_check() const;

  PyObject* py_comm_;  // pinned weft.Comm (strong reference)
  weft_comm_t* comm_;
  uint64_t epoch_;
  std::shared_ptr<Engine> engine_;
  uint64_t seq_ = 0;
};

}  // namespace weft_torch
