#include "fwctl/signal_forward.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace fwctl {

namespace {

int g_signal_write = -1;  // the catcher's pipe, for the handler

void on_signal(int sig) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(sig);
  // A full pipe drops the signal: hundreds are already waiting to be forwarded.
  ssize_t n = ::write(g_signal_write, &byte, 1);
  (void)n;
  errno = saved;
}

}  // namespace

fw::Result<std::unique_ptr<SignalCatcher>> SignalCatcher::install(const std::vector<int>& signals) {
  std::unique_ptr<SignalCatcher> c(new SignalCatcher());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return fw::errno_error("creating a pipe");
  c->read_.reset(fds[0]);
  c->write_.reset(fds[1]);
  g_signal_write = c->write_.get();
  for (int sig : signals) {
    struct sigaction sa {
    }, old{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(sig, &sa, &old) != 0) return fw::errno_error("catching a signal");
    c->previous_.emplace_back(sig, old);
  }
  return c;
}

SignalCatcher::~SignalCatcher() {
  for (auto& [sig, old] : previous_) ::sigaction(sig, &old, nullptr);
  g_signal_write = -1;
}

std::vector<int> SignalCatcher::take() {
  std::vector<int> out;
  unsigned char buf[64];
  for (;;) {
    const ssize_t n = ::read(read_.get(), buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) out.push_back(buf[i]);
  }
  return out;
}

std::optional<winsize> terminal_size() {
  winsize ws{};
  if ((::ioctl(0, TIOCGWINSZ, &ws) == 0 || ::ioctl(1, TIOCGWINSZ, &ws) == 0) && ws.ws_row != 0 &&
      ws.ws_col != 0) {
    return ws;
  }
  return std::nullopt;
}

}  // namespace fwctl
