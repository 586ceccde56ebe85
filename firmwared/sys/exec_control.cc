#include "firmwared/sys/exec_control.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace fw::sys {

namespace {

constexpr int32_t kMaxSignal = 64;  // SIGRTMAX on Linux

}  // namespace

// Layout: kind (1 byte), 1 byte of padding (0), rows (2), cols (2), 2 bytes of padding,
// signal (4); native byte order: both ends are this machine.
std::array<char, kExecOrderBytes> encode_exec_order(const ExecOrder& order) {
  std::array<char, kExecOrderBytes> out{};
  out[0] = static_cast<char>(order.kind);
  std::memcpy(out.data() + 2, &order.rows, 2);
  std::memcpy(out.data() + 4, &order.cols, 2);
  std::memcpy(out.data() + 8, &order.signal, 4);
  return out;
}

std::optional<ExecOrder> decode_exec_order(const char* data, size_t size) {
  if (size != kExecOrderBytes) return std::nullopt;
  ExecOrder o;
  std::memcpy(&o.rows, data + 2, 2);
  std::memcpy(&o.cols, data + 4, 2);
  std::memcpy(&o.signal, data + 8, 4);
  switch (static_cast<uint8_t>(data[0])) {
    case static_cast<uint8_t>(ExecOrder::Kind::kSignal):
      o.kind = ExecOrder::Kind::kSignal;
      if (o.signal < 1 || o.signal > kMaxSignal) return std::nullopt;
      return o;
    case static_cast<uint8_t>(ExecOrder::Kind::kResize):
      o.kind = ExecOrder::Kind::kResize;
      if (o.rows == 0 || o.cols == 0) return std::nullopt;
      return o;
    default:
      return std::nullopt;
  }
}

Result<std::pair<ExecControl, Fd>> ExecControl::create() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("creating the EXEC control pipe");
  Fd reader(fds[0]), writer(fds[1]);
  const int flags = ::fcntl(writer.get(), F_GETFL);
  if (flags < 0 || ::fcntl(writer.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return errno_error("making the EXEC control pipe non-blocking");
  }
  return std::pair<ExecControl, Fd>(ExecControl(std::move(writer)), std::move(reader));
}

Status ExecControl::send(const ExecOrder& order) {
  if (!fd_) return make_error(EBADF, "the command's control pipe is closed");
  const auto record = encode_exec_order(order);
  // Below PIPE_BUF: written whole or not at all (pipe(7)).
  const ssize_t n = ::write(fd_.get(), record.data(), record.size());
  if (n == static_cast<ssize_t>(record.size())) return {};
  if (n < 0 && errno == EAGAIN) {
    return make_error(EAGAIN, "the command's waiter has not taken the previous orders yet");
  }
  // The waiter exited (the daemon reaps it a moment later): as for an EXEC already gone.
  if (n < 0 && errno == EPIPE) return make_error(ESRCH, "the command has finished");
  return errno_error("writing to the command's control pipe");
}

}  // namespace fw::sys
