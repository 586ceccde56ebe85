#include "fwctl/stdio_relay.h"

#include <fcntl.h>
#include <unistd.h>

#include "firmwared/base/stdio_fd.h"

namespace fwctl {

namespace {

constexpr const char* kNames[3] = {"stdin", "stdout", "stderr"};
constexpr size_t kChunk = 65536;

// Writes all of `data` to `fd`, which may be non-blocking (its open file description is
// shared with whoever started us). false on any other error (EPIPE: the reader is gone).
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return false;
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

short revents_of(const std::vector<pollfd>& fds, int fd, short events) {
  for (const auto& p : fds) {
    if (p.fd == fd && (p.events & events) != 0) return p.revents;
  }
  return 0;
}

}  // namespace

fw::Result<StdioRelay> StdioRelay::create() {
  StdioRelay r;
  for (int i = 0; i < 3; ++i) {
    Stream& s = r.streams_[static_cast<size_t>(i)];
    s.own = i;
    s.input = i == 0;
    fw::StdioKind kind = fw::classify_stdio_fd(i);
    if (kind == fw::StdioKind::kClosed) {
      // Keeps pipe2 below from taking 0, 1 or 2; the command sees /dev/null there.
      const int fd = ::open("/dev/null", O_RDWR);
      if (fd < 0) return fw::errno_error("opening /dev/null");
      if (fd != i) return fw::make_error(EBADF, std::string(kNames[i]) + " is closed");
      kind = fw::StdioKind::kNullDevice;
    }
    if (kind == fw::StdioKind::kDirectory || kind == fw::StdioKind::kPath) {
      return fw::make_error(EINVAL, std::string(kNames[i]) + " is " + fw::describe(kind));
    }
  }
  for (Stream& s : r.streams_) {
    if (fw::stdio_may_cross(fw::classify_stdio_fd(s.own))) continue;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return fw::errno_error("creating a pipe");
    s.ours.reset(s.input ? p[1] : p[0]);
    s.theirs.reset(s.input ? p[0] : p[1]);
    // Only our end: the command's end stays blocking, as programs expect.
    ::fcntl(s.ours.get(), F_SETFL, ::fcntl(s.ours.get(), F_GETFL) | O_NONBLOCK);
  }
  return r;
}

std::vector<int> StdioRelay::handed() const {
  std::vector<int> fds;
  for (const Stream& s : streams_) fds.push_back(s.theirs ? s.theirs.get() : s.own);
  return fds;
}

void StdioRelay::handed_over() {
  for (Stream& s : streams_) s.theirs.reset();
}

void StdioRelay::add_pollfds(std::vector<pollfd>& fds) const {
  for (const Stream& s : streams_) {
    if (!s.ours) continue;
    if (!s.input) {
      fds.push_back({s.ours.get(), POLLIN, 0});
    } else if (!s.buf.empty()) {
      fds.push_back({s.ours.get(), POLLOUT, 0});
    } else if (!s.own_done) {
      fds.push_back({s.own, POLLIN, 0});
    }
  }
}

void StdioRelay::handle(const std::vector<pollfd>& fds) {
  for (Stream& s : streams_) {
    if (!s.ours) continue;
    if (s.input) {
      pump_input(s, revents_of(fds, s.own, POLLIN), revents_of(fds, s.ours.get(), POLLOUT));
    } else if (revents_of(fds, s.ours.get(), POLLIN) != 0) {
      pump_output(s);
    }
  }
}

void StdioRelay::pump_input(Stream& s, short own_events, short pipe_events) {
  if (own_events != 0 && s.buf.empty()) {
    char buf[kChunk];
    const ssize_t n = ::read(s.own, buf, sizeof(buf));
    if (n > 0) {
      s.buf.assign(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      s.own_done = true;
    }
  }
  (void)pipe_events;  // POLLOUT or POLLERR: either way the write below tells
  if (!s.buf.empty()) {
    const ssize_t n = ::write(s.ours.get(), s.buf.data(), s.buf.size());
    if (n > 0) {
      s.buf.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
      // EPIPE: the command closed its stdin; what is left of ours is not for anyone.
      s.buf.clear();
      s.own_done = true;
    }
  }
  if (s.own_done && s.buf.empty()) s.ours.reset();  // EOF for the command
}

void StdioRelay::pump_output(Stream& s) {
  char buf[kChunk];
  const ssize_t n = ::read(s.ours.get(), buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  // EOF, or our reader went away (EPIPE): closing our end gives the command EPIPE, as a
  // shell pipeline would.
  if (n <= 0 || !write_all(s.own, buf, static_cast<size_t>(n))) s.ours.reset();
}

void StdioRelay::drain() {
  for (Stream& s : streams_) {
    if (s.input) {
      s.ours.reset();
      continue;
    }
    while (s.ours) {
      char buf[kChunk];
      const ssize_t n = ::read(s.ours.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !write_all(s.own, buf, static_cast<size_t>(n))) s.ours.reset();
    }
  }
}

}  // namespace fwctl
