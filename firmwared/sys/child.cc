#include "firmwared/sys/child.h"

#include <fcntl.h>
#include <sys/wait.h>

#include <cerrno>

#include "firmwared/sys/process.h"

namespace fw::sys {

namespace {

constexpr idtype_t kPidfd = static_cast<idtype_t>(3);  // P_PIDFD (Linux 5.4)

}  // namespace

Result<Fd> fd_above(int fd, int lowest, const std::string& what) {
  Fd moved(::fcntl(fd, F_DUPFD_CLOEXEC, lowest));
  if (!moved) return errno_error("duplicating " + what);
  return moved;
}

Result<Child> Child::adopt_forked(pid_t pid, const std::string& what) {
  auto pidfd = pidfd_open(pid);  // our unreaped child: the pid cannot have been reused
  if (!pidfd.ok()) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return pidfd.error().wrap("tracking " + what);
  }
  return Child(std::move(*pidfd), pid);
}

Result<Child> Child::exec(const ExecSpec& spec, const std::string& what) {
  if (spec.argv.empty()) return make_error(EINVAL, "running " + what + ": no program");
  // Everything the child touches is built here: after fork only system calls.
  std::vector<std::string> args = spec.argv, env = spec.env;
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  bool std_given[3] = {false, false, false};
  int highest = 2;
  for (const auto& [from, to] : spec.fds) {
    if (to >= 0 && to < 3) std_given[to] = true;
    if (to > highest) highest = to;
  }
  // A source that is also a later target would be overwritten before it is dup2()ed:
  // callers pass sources above every target (high_fd), checked here.
  for (const auto& [from, to] : spec.fds) {
    if (from <= highest) {
      return make_error(EINVAL, "running " + what + ": descriptor " + std::to_string(from) +
                                    " is not above the targets");
    }
  }
  const auto& fds = spec.fds;
  return fork(what, [&]() -> int {
    const int devnull = ::open("/dev/null", O_RDWR);
    for (int t = 0; t < 3; ++t) {
      if (!std_given[t] && devnull >= 0) ::dup2(devnull, t);
    }
    // dup2 clears FD_CLOEXEC on the target: the listed targets survive exec.
    for (const auto& [from, to] : fds) {
      if (::dup2(from, to) < 0) return 126;
    }
    ::close_range(static_cast<unsigned>(highest) + 1, ~0U, 0);
    ::execve(argv[0], argv.data(), envp.data());
    return 127;
  });
}

Status Child::signal(int sig) const {
  if (pid_ <= 0) return make_error(ESRCH, "signalling a child that is gone");
  return pidfd_send_signal(pidfd_.get(), sig);
}

Result<std::optional<ChildExit>> Child::wait_with(int options) {
  if (pid_ <= 0) return make_error(ECHILD, "waiting for a child that is gone");
  siginfo_t info{};
  for (;;) {
    if (::waitid(kPidfd, static_cast<id_t>(pidfd_.get()), &info, WEXITED | options) == 0) break;
    if (errno != EINTR) return errno_error("waiting for child " + std::to_string(pid_));
  }
  if (info.si_pid == 0) return std::optional<ChildExit>();  // WNOHANG: still running
  pid_ = -1;
  pidfd_.reset();
  ChildExit e;
  e.signaled = info.si_code != CLD_EXITED;
  e.value = info.si_status;
  return std::optional<ChildExit>(e);
}

Result<ChildExit> Child::wait() {
  FW_ASSIGN_OR_RETURN(auto e, wait_with(0));
  return *e;
}

Result<std::optional<ChildExit>> Child::try_wait() { return wait_with(WNOHANG); }

void Child::kill_and_reap() noexcept {
  if (pid_ <= 0) return;
  (void)pidfd_send_signal(pidfd_.get(), SIGKILL);
  (void)wait_with(0);
  pid_ = -1;
  pidfd_.reset();
}

}  // namespace fw::sys
