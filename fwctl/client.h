#pragma once
// fwctl's connection to firmwared: connect, send one request, read messages with a deadline.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/protocol/codec.h"

namespace fwctl {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;  // nullopt: none

class Client {
 public:
  // Connects to the daemon's socket. Errors carry the path ("cannot reach firmwared at ...").
  static fw::Result<Client> connect(const std::string& socket_path);

  // Sends `request` (seq assigned here) and returns its reply. Notifications that arrive
  // meanwhile go to `on_event` when set. ETIMEDOUT past the deadline; ECONNRESET when the
  // daemon closes the connection first.
  fw::Result<fw::protocol::Message> call(
      fw::protocol::Request request, Deadline deadline,
      const std::function<void(const fw::protocol::Message&)>& on_event = {});

  // The pieces of call() for callers that wait on the socket along with descriptors of
  // their own (fwctl exec relaying its stdio):
  // Sends `request` (seq assigned here) and returns the seq it got.
  fw::Result<uint32_t> send_request(fw::protocol::Request request);
  // Sends one byte carrying `fds` (SCM_RIGHTS): EXEC's answer to SEND_FDS.
  fw::Status send_fds(const std::vector<int>& fds);
  // The connected socket, to poll for POLLIN.
  int fd() const { return fd_.get(); }
  // Reads once from the socket (call it when poll says it is readable) and returns the
  // messages now complete (maybe none). ECONNRESET on EOF.
  fw::Result<std::vector<fw::protocol::Message>> read_some();

  // Reads the next message (reply or notification).
  fw::Result<fw::protocol::Message> read_message(Deadline deadline);

 private:
  explicit Client(fw::Fd fd) : fd_(std::move(fd)) {}
  // The next complete message already received, if any.
  std::optional<fw::Result<fw::protocol::Message>> take_buffered();
  // One read(2) into buffer_ (EINTR is retried).
  fw::Status receive();
  fw::Fd fd_;
  std::string buffer_;
  uint32_t next_seq_ = 1;
};

}  // namespace fwctl
