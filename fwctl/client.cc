#include "fwctl/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace fwctl {

using fw::Error;
using fw::make_error;
using fw::Result;

Result<Client> Client::connect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return make_error(ENAMETOOLONG, "socket path '" + socket_path + "' is too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fw::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fw::errno_error("creating a socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fw::errno_error("cannot reach firmwared at " + socket_path +
                           " (is the daemon running? FIRMWARED_SOCKET_PATH selects another)");
  }
  return Client(std::move(fd));
}

Result<fw::protocol::Message> Client::read_message(Deadline deadline) {
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return fw::protocol::decode_message(line);
    }
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      timeout_ms = left.count() > 0 ? static_cast<int>(left.count()) : 0;
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fw::errno_error("waiting for firmwared");
    }
    if (r == 0) return make_error(ETIMEDOUT, "no answer from firmwared in time");
    char buf[65536];
    ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fw::errno_error("reading from firmwared");
    }
    if (n == 0) return make_error(ECONNRESET, "firmwared closed the connection");
    buffer_.append(buf, static_cast<size_t>(n));
    if (buffer_.size() > fw::protocol::kMaxMessageBytes * 64) {
      return make_error(EMSGSIZE, "firmwared sent an oversized message");
    }
  }
}

Result<fw::protocol::Message> Client::call(
    fw::protocol::Request request, Deadline deadline,
    const std::function<void(const fw::protocol::Message&)>& on_event) {
  request.seq = next_seq_++;
  const std::string line = fw::protocol::encode_request(request);
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error send_error = fw::errno_error("sending " + request.command + " to firmwared");
      // The daemon may have refused us (EACCES, shutting down) and closed before reading
      // the request: its refusal is still waiting in our receive buffer.
      if (errno == EPIPE || errno == ECONNRESET) {
        auto refusal = read_message(std::chrono::steady_clock::now());
        if (refusal.ok() && refusal->is_error()) return refusal;
      }
      return send_error;
    }
    off += static_cast<size_t>(n);
  }
  for (;;) {
    FW_ASSIGN_OR_RETURN(auto msg, read_message(deadline));
    if (msg.kind == fw::protocol::Message::Kind::kEvent) {
      if (on_event) on_event(msg);
      continue;
    }
    // seq 0: the daemon could not read our request (or refused the connection).
    if (msg.seq == request.seq || msg.seq == 0) return msg;
  }
}

}  // namespace fwctl

namespace fwctl {

fw::Result<fw::protocol::Message> Client::call_with_fds(fw::protocol::Request request,
                                                        const std::vector<int>& fds,
                                                        Deadline deadline) {
  const uint32_t seq = next_seq_;
  // The daemon asks with a SEND_FDS notification carrying our seq; we answer with one byte
  // carrying the descriptors (SCM_RIGHTS), then wait for the reply as usual.
  auto on_event = [this, seq, &fds](const fw::protocol::Message& m) {
    if (m.name != "SEND_FDS" || fw::protocol::field_or(m.body, "seq", uint64_t{0}) != seq) return;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    char byte = 0;
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == nullptr) return;
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    ssize_t n;
    do {
      n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
  };
  return call(std::move(request), deadline, on_event);
}

}  // namespace fwctl
