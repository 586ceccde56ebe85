// firmwared-archive: the EXPORT helper. The daemon runs it on a worker thread for each
// EXPORT (host/archive_helper.h), with the output file open on descriptor 1 and the write
// end of a pipe on descriptor 3:
//
//   firmwared-archive changes UPPER LOWER   the upper layer as an OCI layer (export_changes)
//   firmwared-archive full ROOT             the mounted merged tree (export_tree)
//
// It writes the tar to descriptor 1, then one report line on descriptor 3
// (core/export_report.h): "ok" and the counts, or "error", the errno and the sentence. Exit
// status 0 when the archive is complete, 1 when it is not, 2 on a usage error (reported on
// stderr too). Not meant to be run by hand.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

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

}  // namespace

int main(int argc, char** argv) {
  // Nothing it runs may gain privileges, and it does not outlive the daemon's thread
  // waiting for it.
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // A reader that went away (EPIPE) is an error of the write, not a death by SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  if (::fcntl(kReportFd, F_GETFD) < 0) return usage("descriptor 3 (the report) is not open");
  const std::string_view mode = argc > 1 ? argv[1] : "";
  fw::Result<fw::core::ExportStat> stat = fw::make_error(EINVAL, "no export");
  if (mode == "changes" && argc == 4) {
    stat = fw::core::export_changes(argv[2], argv[3], STDOUT_FILENO);
  } else if (mode == "full" && argc == 3) {
    stat = fw::core::export_tree(argv[2], STDOUT_FILENO);
  } else {
    return usage(mode == "changes" || mode == "full"
                     ? "wrong number of arguments for " + std::string(mode)
                     : "the mode must be changes or full");
  }
  if (!write_all(kReportFd, fw::core::format_export_report(stat))) return 1;
  return stat.ok() ? 0 : 1;
}
