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

  // Same as call(), sending `fds` with the request line (SCM_RIGHTS) — EXEC hands the
  // daemon our stdin, stdout and stderr this way.
  fw::Result<fw::protocol::Message> call_with_fds(fw::protocol::Request request,
                                                  const std::vector<int>& fds, Deadline deadline);

  // Reads the next message (reply or notification).
  fw::Result<fw::protocol::Message> read_message(Deadline deadline);

 private:
  explicit Client(fw::Fd fd) : fd_(std::move(fd)) {}
  fw::Fd fd_;
  std::string buffer_;
  uint32_t next_seq_ = 1;
};

}  // namespace fwctl
