#pragma once
// Where long work runs. The daemon's loop is single-threaded: hashing or
// copying an image runs on a worker thread and its completion comes back to the loop.

#include <functional>

namespace fw::core {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `work` on a worker thread, then `done` on the loop thread. `done` does not run if
  // the daemon stops first (work must clean up after itself when cancelled).
  virtual void run(std::function<void()> work, std::function<void()> done) = 0;
  // Thread-safe: queues `fn` to run on the loop thread.
  virtual void post(std::function<void()> fn) = 0;
};

// Runs everything at once on the caller's thread (unit tests).
class InlineExecutor final : public Executor {
 public:
  void run(std::function<void()> work, std::function<void()> done) override {
    work();
    done();
  }
  void post(std::function<void()> fn) override { fn(); }
};

}  // namespace fw::core
