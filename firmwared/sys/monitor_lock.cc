#include "firmwared/sys/monitor_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <string_view>

namespace fw::sys {

namespace {

// flock(2) without blocking; true when taken, false when another open file holds it.
Result<bool> try_lock(int fd, const std::string& path) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  return errno_error("locking '" + path + "'");
}

}  // namespace

Result<Fd> take_monitor_lock(int workspace_fd) {
  Fd fd(::openat(workspace_fd, kMonitorLockName, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return errno_error("opening the monitor lock");
  FW_ASSIGN_OR_RETURN(bool taken, try_lock(fd.get(), kMonitorLockName));
  if (!taken) {
    return make_error(EBUSY, "another monitor holds this workspace's lock (a PID 1 runs on it)");
  }
  return fd;
}

Status write_monitor_lock(int lock_fd, int64_t pid, uint64_t start_time, int64_t init_pid) {
  // Never shorter than the previous content (init_pid goes from "0" to a pid), so
  // overwriting at offset 0 needs no truncation and a reader never sees an empty file.
  const std::string line = std::to_string(pid) + " " + std::to_string(start_time) + " " +
                           std::to_string(init_pid) + "\n";
  if (::pwrite(lock_fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
    return errno_error("writing the monitor lock");
  }
  return {};
}

Result<MonitorLockInfo> inspect_monitor_lock(const std::string& workspace) {
  MonitorLockInfo info;
  const std::string path = workspace + "/" + kMonitorLockName;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return info;
    return errno_error("opening '" + path + "'");
  }
  info.present = true;
  FW_ASSIGN_OR_RETURN(bool taken, try_lock(fd.get(), path));
  info.held = !taken;  // closing fd releases a lock we took
  char buf[128] = {};
  const ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
  if (n > 0) {
    // "MONITOR_PID START_TIME INIT_PID"; a field missing or malformed stays 0. Parsed by
    // hand: an istringstream would link iostreams and locales into the static monitor.
    std::string_view rest(buf, static_cast<size_t>(n));
    auto next = [&rest](auto* out) {
      const size_t begin = rest.find_first_not_of(" \t\n");
      if (begin == std::string_view::npos) return false;
      rest.remove_prefix(begin);
      const auto r = std::from_chars(rest.data(), rest.data() + rest.size(), *out);
      if (r.ec != std::errc()) return false;
      rest.remove_prefix(static_cast<size_t>(r.ptr - rest.data()));
      return true;
    };
    (void)(next(&info.monitor_pid) && next(&info.start_time) && next(&info.init_pid));
  }
  return info;
}

Status wait_monitor_lock_free(const std::string& workspace, int timeout_ms) {
  for (int waited = 0;; waited += 10) {
    FW_ASSIGN_OR_RETURN(MonitorLockInfo info, inspect_monitor_lock(workspace));
    if (!info.held) return {};
    if (waited >= timeout_ms) {
      return make_error(ETIMEDOUT, "the monitor lock of '" + workspace + "' is still held after " +
                                       std::to_string(timeout_ms) + " ms");
    }
    ::usleep(10000);
  }
}

}  // namespace fw::sys
