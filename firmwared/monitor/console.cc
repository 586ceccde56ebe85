#include "firmwared/monitor/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

namespace fw::monitor {

namespace {

int64_t realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

Result<Console> Console::open(int workspace_fd, uint64_t log_max, bool with_separator) {
  Console c;
  FW_ASSIGN_OR_RETURN(c.inner_, sys::open_pty());
  FW_ASSIGN_OR_RETURN(c.outer_, sys::open_pty());
  c.inner_slave_.reset(::open(c.inner_.slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!c.inner_slave_) return errno_error("opening console " + c.inner_.slave_path);
  c.outer_slave_.reset(::open(c.outer_.slave_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!c.outer_slave_) return errno_error("opening console " + c.outer_.slave_path);
  // The outer side is a byte pipe to whoever attaches: no echo, no line editing there.
  FW_TRY(sys::make_raw(c.outer_slave_.get()));
  for (int fd : {c.inner_.master.get(), c.outer_.master.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  FW_ASSIGN_OR_RETURN(c.log_, sys::ConsoleLogWriter::open(workspace_fd, log_max));
  if (with_separator) c.start_run();
  return c;
}

void Console::start_run() { log_.start_run(realtime_ns()); }

Status Console::move_inner(const std::string& ptmx, uid_t uid, gid_t gid) {
  Fd master(::open(ptmx.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) return errno_error("opening " + ptmx);
  unsigned unlock = 0, n = 0;
  if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0)
    return errno_error("unlocking a pty of " + ptmx);
  if (::ioctl(master.get(), TIOCGPTN, &n) != 0) return errno_error("numbering a pty of " + ptmx);
  // TIOCGPTPEER: the slave of this very master, no path looked up.
  Fd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return errno_error("opening the slave of a pty of " + ptmx);
  if (::fchown(slave.get(), uid, gid) != 0 || ::fchmod(slave.get(), 0620) != 0) {
    return errno_error("giving the console to the instance's root");
  }
  ::fcntl(master.get(), F_SETFL, ::fcntl(master.get(), F_GETFL) | O_NONBLOCK);
  pump_inner();  // nothing should be there yet; never lose it if there is
  inner_.master = std::move(master);
  inner_.slave_path = ptmx.substr(0, ptmx.rfind('/')) + "/" + std::to_string(n);
  inner_slave_ = std::move(slave);
  return {};
}

void Console::log(const char* data, size_t n) { log_.write(data, n, realtime_ns()); }

bool Console::pump_inner() {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(inner_.master.get(), buf, sizeof(buf));
    if (n > 0) {
      log(buf, static_cast<size_t>(n));
      ssize_t w = ::write(outer_.master.get(), buf, static_cast<size_t>(n));
      (void)w;  // EAGAIN: nobody reads the outer side; the log has it
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    return false;  // EIO: no slave left
  }
}

void Console::pump_outer() {
  char buf[4096];
  ssize_t n = ::read(outer_.master.get(), buf, sizeof(buf));
  if (n > 0) {
    ssize_t w = ::write(inner_.master.get(), buf, static_cast<size_t>(n));
    (void)w;
  }
}

}  // namespace fw::monitor

namespace fw::monitor {

Status Console::follow_outer_size() {
  if (::ioctl(outer_slave_.get(), TIOCSCTTY, 0) != 0) {
    return errno_error("taking " + outer_.slave_path + " as controlling terminal");
  }
  return {};
}

void Console::copy_outer_size() {
  winsize ws{};
  if (::ioctl(outer_.master.get(), TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) {
    return;
  }
  (void)::ioctl(inner_.master.get(), TIOCSWINSZ, &ws);
}

}  // namespace fw::monitor
