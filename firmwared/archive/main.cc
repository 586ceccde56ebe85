// firmwared-archive: the EXPORT helper. The daemon runs it on a worker thread for each
// EXPORT (host/archive_helper.h), with the output file open on descriptor 1 and the write
// end of a pipe on descriptor 3:
//
//   firmwared-archive changes UPPER LOWER   the upper layer as an OCI layer (export_changes)
//   firmwared-archive full ROOT             the mounted merged tree (export_tree)
//   firmwared-archive check-read-only DIR   (tests) the filter refuses writes below DIR
//
// It reads under a seccomp filter that lets it change nothing (read_only.h), writes the
// tar to descriptor 1, then one report line on descriptor 3 (core/export_report.h): "ok"
// and the counts, or "error", the errno and the sentence. Exit status 0 when the archive
// is complete, 1 when it is not, 2 on a usage error (reported on stderr too). Not meant to
// be run by hand.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "firmwared/archive/read_only.h"
#include "firmwared/core/export.h"
#include "firmwared/core/export_report.h"

namespace {

constexpr int kReportFd = 3;

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int usage(std::string_view why) {
  const std::string text =
      "firmwared-archive: " + std::string(why) +
      "\nusage: firmwared-archive changes UPPER LOWER | full ROOT\n"
      "(run by firmwared for EXPORT: the tar on descriptor 1, a report on descriptor 3)\n";
  write_all(STDERR_FILENO, text);
  if (::fcntl(kReportFd, F_GETFD) >= 0) {
    write_all(kReportFd, fw::core::format_export_report(fw::make_error(EINVAL, std::string(why))));
  }
  return 2;
}

// check-read-only DIR: under the filter, every way of changing DIR/existing (made here
// first) or of escaping the process is refused with EPERM, and reading still works. The
// report is "ok 0 0 0 0", or an error naming the first call that was let through.
fw::Result<fw::core::ExportStat> check_read_only(const std::string& dir) {
  const std::string existing = dir + "/existing", created = dir + "/created";
  const int made = ::open(existing.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (made < 0) return fw::errno_error("creating " + existing);
  ::close(made);
  FW_TRY(fw::archive::enter_read_only());
  auto refused = [](const char* what, long rc) -> fw::Status {
    if (rc >= 0) return fw::make_error(EIO, std::string(what) + " was let through");
    if (errno != EPERM && errno != ENOSYS) return fw::errno_error(what);
    return {};
  };
  FW_TRY(refused("open O_WRONLY|O_CREAT", ::open(created.c_str(), O_WRONLY | O_CREAT, 0644)));
  FW_TRY(refused("openat O_RDWR", ::openat(AT_FDCWD, existing.c_str(), O_RDWR)));
  FW_TRY(
      refused("openat O_RDONLY|O_TRUNC", ::openat(AT_FDCWD, existing.c_str(), O_RDONLY | O_TRUNC)));
  FW_TRY(refused("openat O_APPEND", ::openat(AT_FDCWD, existing.c_str(), O_WRONLY | O_APPEND)));
  FW_TRY(refused("unlink", ::unlink(existing.c_str())));
  FW_TRY(refused("rename", ::rename(existing.c_str(), created.c_str())));
  FW_TRY(refused("chmod", ::chmod(existing.c_str(), 0777)));
  FW_TRY(refused("mkdir", ::mkdir(created.c_str(), 0755)));
  FW_TRY(refused("fork", ::fork()));
  FW_TRY(refused("socket", ::socket(AF_UNIX, SOCK_STREAM, 0)));
  const char* args[] = {"/bin/true", nullptr};
  FW_TRY(refused("execve", ::execve(args[0], const_cast<char* const*>(args), nullptr)));
  const int r = ::open(existing.c_str(), O_RDONLY | O_CLOEXEC);
  if (r < 0) return fw::errno_error("reading " + existing + " under the filter");
  ::close(r);
  return fw::core::ExportStat{};
}

}  // namespace

int main(int argc, char** argv) {
  // It does not outlive the daemon's thread waiting for it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // A reader that went away (EPIPE) is an error of the write, not a death by SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  if (::fcntl(kReportFd, F_GETFD) < 0) return usage("descriptor 3 (the report) is not open");
  const std::string_view mode = argc > 1 ? argv[1] : "";
  fw::Result<fw::core::ExportStat> stat = fw::make_error(EINVAL, "no export");
  if (mode != "changes" && mode != "full" && mode != "check-read-only") {
    return usage("the mode must be changes or full");
  }
  if (argc != (mode == "changes" ? 4 : 3)) {
    return usage("wrong number of arguments for " + std::string(mode));
  }
  if (mode == "check-read-only") {
    stat = check_read_only(argv[2]);
  } else if (auto s = fw::archive::enter_read_only(); !s.ok()) {
    stat = s.error().wrap("confining the archive helper");
  } else if (mode == "changes") {
    stat = fw::core::export_changes(argv[2], argv[3], STDOUT_FILENO);
  } else {
    stat = fw::core::export_tree(argv[2], STDOUT_FILENO);
  }
  if (!write_all(kReportFd, fw::core::format_export_report(stat))) return 1;
  return stat.ok() ? 0 : 1;
}
