#include "firmwared/sys/process.h"

#include "firmwared/base/paths.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace fw::sys {

Result<Fd> pidfd_open(pid_t pid) {
  // glibc 2.36 has pidfd_open(), but the raw syscall keeps us independent of headers.
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno_error("opening a pidfd for pid " + std::to_string(pid));
  // pidfd_open(2): "the close-on-exec flag is set on the file descriptor".
  return Fd(fd);
}

Status pidfd_send_signal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    return errno_error(std::string("sending ") + strsignal(sig));
  }
  return {};
}

Result<uint64_t> process_start_time(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  auto content = read_small_file(path);
  if (!content.ok()) return make_error(ESRCH, "process " + std::to_string(pid) + " does not exist");
  const std::string& stat = *content;
  // proc(5): the comm field (2) is parenthesised and may hold spaces or ')': fields after
  // it start after the LAST ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return make_error(EIO, "malformed " + path);
  // Field 3 is the first after ')'; start time is field 22. Split by hand, not with an
  // istringstream: the static monitor calls this, and iostreams would link the whole
  // locale machinery into it (~0.4 MiB).
  std::string_view rest(stat);
  rest.remove_prefix(close + 1);
  std::string_view field;
  for (int i = 3; i <= 22; ++i) {
    const size_t begin = rest.find_first_not_of(" \n");
    if (begin == std::string_view::npos) return make_error(EIO, "malformed " + path);
    rest.remove_prefix(begin);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    field = rest.substr(0, end);
    rest.remove_prefix(end);
  }
  uint64_t start = 0;
  const auto r = std::from_chars(field.data(), field.data() + field.size(), start);
  if (r.ec != std::errc() || r.ptr != field.data() + field.size()) {
    return make_error(EIO, "malformed " + path);
  }
  return start;
}

Result<Fd> pidfd_open_verified(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return make_error(ESRCH, "no process");
  FW_ASSIGN_OR_RETURN(Fd fd, pidfd_open(pid));
  // The pidfd pins the process: checking the start time after opening it closes the race.
  auto st = process_start_time(pid);
  if (!st.ok() || *st != start_time) {
    return make_error(ESRCH, "pid " + std::to_string(pid) + " is no longer the same process");
  }
  return fd;
}

}  // namespace fw::sys
