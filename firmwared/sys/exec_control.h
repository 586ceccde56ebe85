#pragma once
// The orders the daemon gives a running EXEC's waiter (sys/exec.h) while its command runs:
// deliver a signal, resize the pty. They travel on a pipe the daemon writes and the waiter
// reads, as fixed-size records (kExecOrderBytes, below PIPE_BUF, so each write is atomic).
// The end of the pipe (the daemon closed its end: the client went away) is itself an
// order: end the command (sys/exec.h, "Teardown").
//
// decode_exec_order makes no allocation and no call but memcpy: the waiter uses it after
// fork() of a multi-threaded daemon.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

struct ExecOrder {
  enum class Kind : uint8_t { kSignal = 1, kResize = 2 };
  Kind kind = Kind::kSignal;
  int32_t signal = 0;           // kSignal: 1..64
  uint16_t rows = 0, cols = 0;  // kResize: each 1..65535
};

inline constexpr size_t kExecOrderBytes = 12;

// The record for `order` (no validation: decode refuses what is out of range).
std::array<char, kExecOrderBytes> encode_exec_order(const ExecOrder& order);
// The order of one record; nullopt for a record of another size, an unknown kind, a
// signal outside 1..64 or a zero row or column count.
std::optional<ExecOrder> decode_exec_order(const char* data, size_t size);

// The daemon's end of the pipe (O_NONBLOCK: a waiter that does not read never blocks the
// loop). Closing it (destructor, close()) tells the waiter the client is gone.
class ExecControl {
 public:
  ExecControl() = default;
  explicit ExecControl(Fd fd) : fd_(std::move(fd)) {}
  // The pipe: the daemon's end, and the waiter's (to put in InstanceExecSpec::control;
  // close-on-exec, closed by the daemon once the waiter is forked). Errors of pipe2.
  static Result<std::pair<ExecControl, Fd>> create();

  // EAGAIN when the waiter has not read the previous orders; ESRCH once it is gone (the
  // caller must ignore SIGPIPE, as the daemon does); EBADF after close().
  Status send(const ExecOrder& order);
  void close() { fd_.reset(); }
  bool open() const { return static_cast<bool>(fd_); }

 private:
  Fd fd_;
};

}  // namespace fw::sys
