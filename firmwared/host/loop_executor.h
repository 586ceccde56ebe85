#pragma once
// core::Executor on the libevent loop: work runs on its own std::thread; completions and
// posted functions come back through an eventfd the loop watches.

#include <event2/event.h>

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/launcher.h"
#include "firmwared/host/event.h"

namespace fw::host {

class LoopExecutor final : public core::Executor, public core::Timers {
 public:
  explicit LoopExecutor(event_base* base);
  // Joins every worker (their completions are dropped: the loop is gone).
  ~LoopExecutor() override;
  LoopExecutor(const LoopExecutor&) = delete;
  LoopExecutor& operator=(const LoopExecutor&) = delete;

  Status init();
  void run(std::function<void()> work, std::function<void()> done) override;
  void post(std::function<void()> fn) override;
  void after(int milliseconds, std::function<void()> fn) override;
  size_t running() const { return threads_.size(); }

 private:
  static void wake_cb(evutil_socket_t fd, short what, void* ctx) noexcept;
  void drain();

  event_base* base_;
  Fd wake_fd_;
  Event wake_event_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  std::map<uint64_t, std::thread> threads_;  // loop thread only
  uint64_t next_thread_ = 1;
};

}  // namespace fw::host
