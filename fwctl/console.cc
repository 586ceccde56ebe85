#include "fwctl/console.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "firmwared/base/fd.h"
#include "firmwared/protocol/codec.h"

namespace fwctl {

namespace {

using fw::Fd;
using fw::Result;
using fw::Status;
using fw::protocol::Message;

constexpr char kDetachKey = 0x1d;  // Ctrl-]
constexpr uint32_t kStateSeq = 1;
constexpr uint32_t kConsoleSeq = 2;

// The terminal settings to restore. Globals: the signal handler needs them.
termios g_saved_termios;
volatile sig_atomic_t g_raw = 0;

void restore_terminal() noexcept {
  if (g_raw != 0) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
    g_raw = 0;
  }
}

// Restores the terminal, then dies of the signal as if it had not been caught, so the
// parent sees the usual status. tcsetattr is async-signal-safe (signal-safety(7)).
void on_fatal_signal(int sig) {
  restore_terminal();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Raw mode on stdin while alive (cfmakeraw(3): no echo, no line editing, no signals from
// keys, so Ctrl-C reaches the instance and Ctrl-] is ours).
class RawTerminal {
 public:
  explicit RawTerminal(bool enable) {
    for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE}) ::signal(sig, on_fatal_signal);
    if (!enable || ::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    termios raw = g_saved_termios;
    ::cfmakeraw(&raw);
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) g_raw = 1;
  }
  ~RawTerminal() { restore_terminal(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool raw() const { return g_raw != 0; }
};

// One line on stderr; in raw mode "\n" alone would not return the carriage.
void say(bool raw, const std::string& text) {
  const std::string line = text + (raw ? "\r\n" : "\n");
  ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  (void)n;
}

Status write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fw::errno_error("writing the console output");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Status send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fw::errno_error("sending to firmwared");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<Fd> connect_daemon(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return fw::make_error(ENAMETOOLONG, "socket path '" + socket_path + "' is too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fw::errno_error("creating a socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fw::errno_error("cannot reach firmwared at " + socket_path +
                           " (is the daemon running? FIRMWARED_SOCKET_PATH selects another)");
  }
  return fd;
}

enum class Outcome { kAttached, kDetached, kStopped };

// What went wrong, and whether the daemon said it (exit 1) or the connection failed (3).
struct Failure {
  fw::Error error;
  bool from_daemon;
};

class Attachment {
 public:
  Attachment(std::string id, bool raw) : id_(std::move(id)), raw_(raw) {}

  // Connects and sends CONSOLE (preceded, the first time, by a state query so that the
  // user learns why nothing happens yet). Returns kAttached once the daemon answered, or
  // kDetached when Ctrl-] was typed meanwhile.
  Result<Outcome> attach(const std::string& socket_path, bool first, Failure* failure) {
    auto fd = connect_daemon(socket_path);
    if (!fd.ok()) return unreachable(failure, fd.error());
    sock_ = std::move(*fd);
    buffer_.clear();
    std::string out;
    if (first) {
      out += fw::protocol::encode_request(
          {kStateSeq, "GET_PROPERTY", {"instances", id_, "state"}, std::nullopt});
    }
    out += fw::protocol::encode_request({kConsoleSeq, "CONSOLE", {id_}, std::nullopt});
    if (auto s = send_all(sock_.get(), out); !s.ok()) return unreachable(failure, s.error());
    return wait_reply(failure);
  }

  // Relays until Ctrl-] (kDetached), the end of a non-terminal stdin followed by the
  // daemon's close (kDetached), or the end of the console (kStopped).
  Outcome relay() {
    char buf[16384];
    // What a non-terminal stdin gave while we waited for the start, and its end.
    if (!pending_.empty()) {
      (void)send_all(sock_.get(), pending_);
      pending_.clear();
    }
    if (!stdin_open_ && !raw_) ::shutdown(sock_.get(), SHUT_WR);
    for (;;) {
      pollfd fds[2] = {{stdin_open_ ? STDIN_FILENO : -1, POLLIN, 0}, {sock_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return Outcome::kStopped;
      }
      if (fds[1].revents != 0) {
        ssize_t n = ::read(sock_.get(), buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return stdin_open_ ? Outcome::kStopped : Outcome::kDetached;
        if (!write_all(STDOUT_FILENO, buf, static_cast<size_t>(n)).ok()) {
          return Outcome::kDetached;
        }
      }
      if (fds[0].revents != 0 && read_stdin()) return Outcome::kDetached;
    }
  }

  bool stdin_open() const { return stdin_open_; }

 private:
  Result<Outcome> unreachable(Failure* failure, const fw::Error& e) {
    *failure = {e, false};
    return e;
  }

  // Reads the replies to our requests, watching stdin for Ctrl-] on a terminal (other keys
  // typed while waiting are dropped: they would land on a console nobody sees yet). A
  // non-terminal stdin is kept for the console (up to kMaxPending), and its end with
  // nothing kept detaches at once: `console ID </dev/null` never waits for a start.
  Result<Outcome> wait_reply(Failure* failure) {
    char buf[65536];
    for (;;) {
      for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
        auto msg = fw::protocol::decode_message(buffer_.substr(0, nl));
        buffer_.erase(0, nl + 1);
        if (!msg.ok()) return unreachable(failure, msg.error());
        if (msg->kind != Message::Kind::kReply) continue;
        if (msg->is_error()) {
          *failure = {msg->error(), true};
          return msg->error();
        }
        if (msg->seq == kStateSeq) {
          if (fw::protocol::field_or(msg->body, "value", "") != "started") {
            say(raw_, "[waiting for " + id_ + " to start]");
            waiting_ = true;
            if (!raw_ && !stdin_open_ && pending_.empty()) return Outcome::kDetached;
          }
          continue;
        }
        if (msg->seq != kConsoleSeq) continue;
        // Keys typed before this line were dropped: on a terminal, say when typing starts to
        // count (and how to leave).
        if (raw_) say(raw_, "[attached to " + id_ + "; Ctrl-] detaches]");
        // The relay starts right after the reply line: what follows it is console output.
        if (!write_all(STDOUT_FILENO, buffer_.data(), buffer_.size()).ok()) {
          return Outcome::kDetached;
        }
        buffer_.clear();
        return Outcome::kAttached;
      }
      const bool watch_stdin = raw_ || (stdin_open_ && pending_.size() < kMaxPending);
      pollfd fds[2] = {{watch_stdin ? STDIN_FILENO : -1, POLLIN, 0}, {sock_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return unreachable(failure, fw::errno_error("waiting for firmwared"));
      }
      if (fds[0].revents != 0 && raw_) {
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
        if (n <= 0 || std::memchr(buf, kDetachKey, static_cast<size_t>(n)) != nullptr) {
          return Outcome::kDetached;
        }
      } else if (fds[0].revents != 0) {
        ssize_t n = ::read(STDIN_FILENO, buf, std::min(sizeof(buf), kMaxPending - pending_.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          stdin_open_ = false;
          // Only once the daemon said the instance exists and waits: an unknown ID must
          // still get its error.
          if (pending_.empty() && waiting_) return Outcome::kDetached;
        } else {
          pending_.append(buf, static_cast<size_t>(n));
        }
      }
      if (fds[1].revents != 0) {
        ssize_t n = ::read(sock_.get(), buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          return unreachable(failure,
                             fw::make_error(ECONNRESET, "firmwared closed the connection"));
        }
        buffer_.append(buf, static_cast<size_t>(n));
        if (buffer_.size() > fw::protocol::kMaxMessageBytes) {
          return unreachable(failure,
                             fw::make_error(EMSGSIZE, "firmwared sent an oversized reply"));
        }
      }
    }
  }

  // Forwards what stdin has; returns true when the user detached.
  bool read_stdin() {
    char buf[4096];
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) return false;
    if (n <= 0) {
      // A terminal that hangs up ends the session. Another stdin ends: the daemon writes
      // what we sent to the console, then closes, which ends relay().
      if (raw_) return true;
      ::shutdown(sock_.get(), SHUT_WR);
      stdin_open_ = false;
      return false;
    }
    size_t len = static_cast<size_t>(n);
    const void* key = raw_ ? std::memchr(buf, kDetachKey, len) : nullptr;
    if (key != nullptr) len = static_cast<size_t>(static_cast<const char*>(key) - buf);
    // A send error means the relay ended: the next read of the socket says so.
    (void)send_all(sock_.get(), std::string_view(buf, len));
    return key != nullptr;
  }

  std::string id_;
  bool raw_;
  Fd sock_;
  std::string buffer_;
  bool stdin_open_ = true;
  bool waiting_ = false;  // the daemon said the instance is not started: CONSOLE is held
  // Bounded: a producer faster than the start waits on its pipe instead.
  static constexpr size_t kMaxPending = 1 << 20;
  std::string pending_;
};

}  // namespace

int run_console(Context& ctx, const Args& args) {
  const std::string& id = args.operands()[0];
  RawTerminal terminal(::isatty(STDIN_FILENO) == 1);
  const bool raw = terminal.raw();
  Attachment a(id, raw);
  for (bool first = true;; first = false) {
    Failure failure;
    auto attached = a.attach(ctx.socket_path, first, &failure);
    if (!attached.ok()) {
      restore_terminal();  // the error below is an ordinary line
      return report_error(ctx, failure.error, failure.from_daemon);
    }
    Outcome o = *attached == Outcome::kAttached ? a.relay() : Outcome::kDetached;
    if (o == Outcome::kStopped && a.stdin_open()) {
      say(raw, "[" + id + " stopped, waiting for it to start again; Ctrl-] to quit]");
      continue;
    }
    say(raw, raw ? "\r\n[detached]" : "[detached]");
    return kExitOk;
  }
}

}  // namespace fwctl
