// The per-communicator engine (queue.hpp says what and why).
#include "queue.hpp"

#include <map>

#include <c10/util/Exception.h>

namespace weft_torch {

const weft_capi_t* api = nullptr;

const char* result_name(weft_result_t r) {
  switch (r) {
#define WT_RESULT_NAME(name, value, text) \
  case WEFT_##name:                       \
    return "WEFT_" #name;
    WEFT_RESULT_MAP(WT_RESULT_NAME)
#undef WT_RESULT_NAME
    default:
      return "WEFT_ERR_UNKNOWN";
  }
}

std::exception_ptr weft_error(const std::string& what, weft_result_t r, const std::string& detail) {
  // "Timed out" as torch's other backends say it, for code that looks for it.
  std::string msg = "weft: " + what + " failed: " + result_name(r) + ": " +
                    (r == WEFT_ERR_TIMEOUT ? "Timed out (the process group's timeout): " : "") + detail;
  try {
    C10_THROW_ERROR(DistBackendError, msg);
  } catch (...) {
    return std::current_exception();
  }
}

// Engines by communicator. Weak: the engine dies with the last backend (or recover) using it.
static std::mutex registry_mu;
static std::map<weft_comm_t*, std::weak_ptr<Engine>> registry;

std::shared_ptr<Engine> Engine::of(weft_comm_t* comm) {
  std::lock_guard<std::mutex> g(registry_mu);
  auto& slot = registry[comm];
  auto e = slot.lock();
  if (!e) {
    e = std::shared_ptr<Engine>(new Engine(comm));
    slot = e;
  }
  return e;
}

Engine::Engine(weft_comm_t* comm) : comm_(comm) {
  thread_ = std::thread([this] { run(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  // The thread drains the FIFO before it exits (every weft_wait is bounded). A Future callback
  // on that very thread may drop the last backend: it cannot join itself, it detaches.
  if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
  else thread_.join();
  std::lock_guard<std::mutex> g(registry_mu);
  auto it = registry.find(comm_);
  if (it != registry.end() && it->second.expired()) registry.erase(it);
}

void Engine::submit(const std::string& what, const std::function<std::string()>& check,
                    const std::function<weft_result_t(weft_request_t**)>& issue, Completion done) {
  std::unique_lock<std::mutex> issuing(issue_mu_);
  std::string refused = check ? check() : std::string();
  if (!refused.empty()) {
    issuing.unlock();
    done.on_error(weft_error(what, WEFT_ERR_REVOKED, refused));
    return;
  }
  weft_request_t* req = nullptr;
  weft_result_t r = issue(&req);
  if (r != WEFT_SUCCESS) {
    std::string detail = api->comm_last_error(comm_);  // thread-local: read on this thread
    issuing.unlock();
    done.on_error(weft_error(what, r, detail));
    return;
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    fifo_.push_back(Pending{what, req, std::move(done)});
  }
  cv_.notify_all();
}

void Engine::run() {
  for (;;) {
    Pending p;
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [this] { return stop_ || !fifo_.empty(); });
      if (fifo_.empty()) return;  // stop_ and drained
      p = fifo_.front();          // stays queued until completed: exclusive() waits for it
    }
    weft_result_t r = api->wait(p.req);  // frees the request; bounded by WEFT_TIMEOUT
    std::string detail = r == WEFT_SUCCESS ? std::string() : api->comm_last_error(comm_);
    // Futures' callbacks run here (DDP's bucket copies); a callback may issue more work.
    if (r == WEFT_SUCCESS) {
      try {
        p.done.on_success();
      } catch (...) {
        p.done.on_error(std::current_exception());
      }
    } else {
      p.done.on_error(weft_error(p.what, r, detail));
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      fifo_.pop_front();
    }
    cv_.notify_all();
  }
}

void Engine::exclusive(const std::function<void()>& fn) {
  for (;;) {
    {
      // Wait without the issue lock: a Future callback on the completion thread may issue.
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [this] { return fifo_.empty(); });
    }
    std::lock_guard<std::mutex> issuing(issue_mu_);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!fifo_.empty()) continue;
    }
    fn();
    return;
  }
}

}  // namespace weft_torch
