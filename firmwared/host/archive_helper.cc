#include "firmwared/host/archive_helper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "firmwared/base/fd.h"
#include "firmwared/config/config.h"
#include "firmwared/core/export_report.h"
#include "firmwared/sys/child.h"

namespace fw::host {

namespace {

constexpr size_t kReportMax = 64 * 1024;  // a report line is far shorter
constexpr int kReportFd = 3;

// Reads what the helper writes on the report pipe until it closes it or exits (a process
// forked meanwhile by another thread may hold a copy of the write end until its exec: the
// helper's exit ends the wait too).
Status read_report(int fd, const sys::Child& child, std::string& out) {
  bool exited = false;
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {child.pidfd(), POLLIN, 0}};
    if (!exited && ::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return errno_error("waiting for the archive helper's report");
    }
    if (exited || (p[1].revents & POLLIN) != 0) {
      // Gone: what it wrote is in the pipe already; read it without waiting.
      exited = true;
      if (::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) return errno_error("reading the report");
    }
    if (!exited && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return {};
    if (n < 0) return errno_error("reading the archive helper's report");
    if (n == 0) return {};
    if (out.size() < kReportMax) out.append(buf, static_cast<size_t>(n));
  }
}

std::string ending(const sys::ChildExit& e) {
  if (e.signaled) return "killed by signal " + std::to_string(e.value);
  if (e.value == 127) return "exit status 127: could not be executed";
  return "exit status " + std::to_string(e.value);
}

}  // namespace

std::string default_archive_helper_path() { return config::running_shipped_paths().archive; }

std::vector<std::string> archive_helper_argv(const std::string& helper, const ArchiveJob& job) {
  if (job.full) return {helper, "full", job.merged};
  return {helper, "changes", job.upper, job.lower};
}

Result<core::ExportStat> run_archive_helper(const std::string& helper, const ArchiveJob& job,
                                            int out) {
  const std::string what = "the archive helper " + helper;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("creating the pipe of " + what);
  Fd report_r(p[0]), report_w(p[1]);
  // Sources above every target (0..3): a daemon running with 0-2 closed has low pipes.
  FW_ASSIGN_OR_RETURN(Fd out_fd, sys::fd_above(out, kReportFd + 1, "the export's output"));
  FW_ASSIGN_OR_RETURN(Fd w_fd, sys::fd_above(report_w.get(), kReportFd + 1, "the report pipe"));
  report_w.reset();
  sys::ExecSpec spec{archive_helper_argv(helper, job),
                     {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
                     {{out_fd.get(), STDOUT_FILENO}, {w_fd.get(), kReportFd}}};
  FW_ASSIGN_OR_RETURN(sys::Child child, sys::Child::exec(spec, what));
  // Only the helper holds the write end now: its exit closes it.
  w_fd.reset();
  out_fd.reset();
  std::string report;
  Status read = read_report(report_r.get(), child, report);
  FW_ASSIGN_OR_RETURN(sys::ChildExit exit, child.wait());
  FW_TRY(read);
  if (report.empty()) {
    return make_error(EIO, what + " ended without a report (" + ending(exit) + ")");
  }
  auto stat = core::parse_export_report(report);
  if (stat.ok() && exit.status() != 0) {
    return make_error(EIO, what + " reported a complete archive but ended with " + ending(exit));
  }
  if (!stat.ok() && stat.error().code == EPROTO) {
    return stat.error().wrap(what + " (" + ending(exit) + ")");
  }
  return stat;
}

}  // namespace fw::host
