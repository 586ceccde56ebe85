#pragma once
// One owner for a libevent `event`: every loop-side object (sessions, timers, the monitor
// and helper watchers) holds its events through this, so none is leaked or freed twice.

#include <event2/event.h>

#include <utility>

#include "firmwared/base/result.h"

namespace fw::host {

class Event {
 public:
  Event() = default;
  // event_new(base, fd, what, cb, arg); fd -1 for a timer. Errors (ENOMEM) name `what_for`.
  static Result<Event> make(event_base* base, evutil_socket_t fd, short what, event_callback_fn cb,
                            void* arg, const char* what_for);
  // A timer: make(base, -1, flags, ...).
  static Result<Event> timer(event_base* base, bool persist, event_callback_fn cb, void* arg,
                             const char* what_for) {
    return make(base, -1, persist ? EV_PERSIST : 0, cb, arg, what_for);
  }
  // A signal event (evsignal_new).
  static Result<Event> signal(event_base* base, int sig, event_callback_fn cb, void* arg,
                              const char* what_for) {
    return make(base, sig, EV_SIGNAL | EV_PERSIST, cb, arg, what_for);
  }

  Event(Event&& other) noexcept : ev_(std::exchange(other.ev_, nullptr)) {}
  Event& operator=(Event&& other) noexcept {
    if (this != &other) {
      reset();
      ev_ = std::exchange(other.ev_, nullptr);
    }
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { reset(); }

  // event_add with an optional timeout; an error names the event.
  Status add(const timeval* timeout = nullptr);
  // event_del; harmless when not added or empty.
  void del() {
    if (ev_ != nullptr) event_del(ev_);
  }
  bool pending() const {
    return ev_ != nullptr &&
           event_pending(ev_, EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL, nullptr) != 0;
  }
  // event_free (which deletes it first).
  void reset() {
    if (ev_ != nullptr) event_free(std::exchange(ev_, nullptr));
  }
  explicit operator bool() const { return ev_ != nullptr; }
  event* get() const { return ev_; }

 private:
  explicit Event(event* ev) : ev_(ev) {}
  event* ev_ = nullptr;
};

}  // namespace fw::host
