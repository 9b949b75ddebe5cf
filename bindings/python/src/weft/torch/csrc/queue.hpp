// The per-communicator engine of weft.torch: issue order and completion.
//
// Every process group on one weft communicator shares one Engine. Operations are issued with
// weft's non-blocking calls on the calling thread, under one lock, so they reach weft in the
// order torch issued them (weft then completes them in issue order on every rank). One
// completion thread per communicator waits for them first-in first-out and completes each
// Work's Future: success runs the operation's finish step (copy-outs) first, failure sets a
// c10::DistBackendError carrying weft's detail. Nothing here blocks without a bound: every
// weft_wait ends within the communicator's timeout (WEFT_TIMEOUT).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "weft_capi.h"

namespace weft_torch {

extern const weft_capi_t* api;  // set once at module import (module.cpp)

// "WEFT_ERR_PEER_LOST" etc.
const char* result_name(weft_result_t r);

// What the completion thread does when an operation ends.
struct Completion {
  std::function<void()> on_success;                  // copy-outs, then complete the Future
  std::function<void(std::exception_ptr)> on_error;  // complete the Future with the error
};

class Engine {
 public:
  // The engine of comm, created on first use; shared by every backend on comm.
  static std::shared_ptr<Engine> of(weft_comm_t* comm);
  ~Engine();

  // Issues one operation: `issue` calls one weft_i* function and returns its result. A weft
  // error (at issue or at completion) goes to done.on_error as a DistBackendError named after
  // `what`; done is never dropped. `check` runs under the issue lock first and may return an
  // error message that fails the operation without issuing it (an outdated epoch).
  void submit(const std::string& what, const std::function<std::string()>& check,
              const std::function<weft_result_t(weft_request_t**)>& issue, Completion done);

  // Runs fn with no operation in flight and none issued meanwhile (recover). Call without the
  // GIL: it waits for pending operations, each bounded by the communicator's timeout.
  void exclusive(const std::function<void()>& fn);

  weft_comm_t* comm() const { return comm_; }

 private:
  explicit Engine(weft_comm_t* comm);
  void run();

  struct Pending {
    std::string what;
    weft_request_t* req;
    Completion done;
  };

  weft_comm_t* comm_;
  std::mutex issue_mu_;  // serialises issuing (one thread drives the communicator)
  std::mutex mu_;        // guards fifo_ and stop_
  std::condition_variable cv_;
  std::deque<Pending> fifo_;  // issued, not completed: front is completed first
  bool stop_ = false;
  std::thread thread_;
};

// A DistBackendError "weft: <what> failed: WEFT_ERR_X: <detail>" as an exception_ptr.
std::exception_ptr weft_error(const std::string& what, weft_result_t r, const std::string& detail);

}  // namespace weft_torch
