#pragma once
// DEFER { ... }; runs the block at scope exit (ccache style). Use for one-off cleanups
// that do not deserve an owner type; kernel resources get owner types instead.

#include <utility>

namespace fw {

template <typename F>
class Deferred {
 public:
  explicit Deferred(F f) : f_(std::move(f)) {}
  Deferred(const Deferred&) = delete;
  Deferred& operator=(const Deferred&) = delete;
  ~Deferred() {
    if (armed_) f_();
  }
  void cancel() { armed_ = false; }

 private:
  F f_;
  bool armed_ = true;
};

struct DeferTag {};
template <typename F>
Deferred<F> operator+(DeferTag, F f) {
  return Deferred<F>(std::move(f));
}

}  // namespace fw

#define FW_DEFER_CONCAT_(a, b) a##b
#define FW_DEFER_CONCAT(a, b) FW_DEFER_CONCAT_(a, b)
#define DEFER auto FW_DEFER_CONCAT(fw_defer_, __LINE__) = ::fw::DeferTag{} + [&]() noexcept
