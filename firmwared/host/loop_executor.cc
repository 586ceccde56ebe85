#include "firmwared/host/loop_executor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <memory>

#include "firmwared/base/log.h"

namespace fw::host {

LoopExecutor::LoopExecutor(event_base* base) : base_(base) {}

LoopExecutor::~LoopExecutor() {
  wake_event_.reset();
  for (auto& [id, t] : threads_) {
    if (t.joinable()) t.join();
  }
}

Status LoopExecutor::init() {
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) return errno_error("creating the executor's eventfd");
  FW_ASSIGN_OR_RETURN(wake_event_, Event::make(base_, wake_fd_.get(), EV_READ | EV_PERSIST, wake_cb,
                                               this, "the executor's eventfd"));
  return wake_event_.add();
}

void LoopExecutor::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));  // EAGAIN: counter full, still woken
  (void)n;
}

void LoopExecutor::run(std::function<void()> work, std::function<void()> done) {
  const uint64_t id = next_thread_++;
  threads_[id] = std::thread([this, id, work = std::move(work), done = std::move(done)]() mutable {
    try {
      work();
    } catch (const std::exception& e) {
      log::error(std::string("background task threw: ") + e.what());
    }
    post([this, id, done = std::move(done)]() {
      if (auto it = threads_.find(id); it != threads_.end()) {
        it->second.join();  // it has finished its work: join returns at once
        threads_.erase(it);
      }
      done();
    });
  });
}

void LoopExecutor::after(int milliseconds, std::function<void()> fn) {
  auto* heap = new std::function<void()>(std::move(fn));
  timeval tv{milliseconds / 1000, (milliseconds % 1000) * 1000};
  auto cb = [](evutil_socket_t, short, void* arg) noexcept {
    std::unique_ptr<std::function<void()>> f(static_cast<std::function<void()>*>(arg));
    try {
      (*f)();
    } catch (const std::exception& e) {
      log::error(std::string("timer callback threw: ") + e.what());
    }
  };
  // event_base_once frees its event itself; a timer pending when the loop is freed leaks
  // only this small closure at exit.
  if (event_base_once(base_, -1, EV_TIMEOUT, cb, heap, &tv) != 0) delete heap;
}

void LoopExecutor::drain() {
  uint64_t count = 0;
  ssize_t n = ::read(wake_fd_.get(), &count, sizeof(count));
  (void)n;
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
}

void LoopExecutor::wake_cb(evutil_socket_t, short, void* ctx) noexcept {
  try {
    static_cast<LoopExecutor*>(ctx)->drain();
  } catch (const std::exception& e) {
    log::error(std::string("completing a background task: ") + e.what());
  }
}

}  // namespace fw::host
