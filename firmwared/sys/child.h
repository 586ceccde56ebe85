#pragma once
// A child process owned through its pidfd: fork + pidfd + signal + reap written once.
// Destroying a Child that was not reaped or released sends SIGKILL and reaps it, so a
// half-done multi-step operation never leaves a process behind.

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

// How a child ended, in the shell's convention: `status` is the exit code, or 128 + the
// signal that killed it.
struct ChildExit {
  bool signaled = false;
  int value = 0;  // exit code or signal number
  int status() const { return signaled ? 128 + value : value; }
};

// What Child::exec runs: argv[0] is the program's absolute path (execve, no PATH search),
// `env` the whole environment. `fds` are (source, target) pairs dup2()ed in order in the
// child; targets 0..2 not listed are /dev/null; every other descriptor is closed.
struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::vector<std::pair<int, int>> fds;
};

// Duplicates `fd` (close-on-exec) onto the lowest free number ≥ `lowest`: an ExecSpec
// source must be above every target, and a pipe made by a daemon that runs with 0-2 closed
// could land on one. `fd` stays open; the error names `what`.
Result<Fd> fd_above(int fd, int lowest, const std::string& what);

class Child {
 public:
  Child() = default;
  // Forks; the child runs `body` and _exit()s with what it returns. `body` must make only
  // async-signal-safe calls (the daemon has threads): build everything before. `what`
  // names the child in errors ("the monitor of 'x'").
  template <typename Body>
  static Result<Child> fork(const std::string& what, Body&& body) {
    const pid_t pid = ::fork();
    if (pid < 0) return errno_error("forking " + what);
    if (pid == 0) ::_exit(body());
    return adopt_forked(pid, what);
  }
  // Forks and execve()s `spec` (exit 127 when the exec fails, 126 when a dup2 fails).
  static Result<Child> exec(const ExecSpec& spec, const std::string& what);

  Child(Child&& other) noexcept
      : pidfd_(std::move(other.pidfd_)), pid_(std::exchange(other.pid_, -1)) {}
  Child& operator=(Child&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      pidfd_ = std::move(other.pidfd_);
      pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill_and_reap(); }

  explicit operator bool() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }

  // pidfd_send_signal(2); ESRCH once it exited (not yet reaped counts as alive).
  Status signal(int sig) const;
  // Waits for it to end and reaps it (waitid P_PIDFD, EINTR retried). The Child is empty
  // afterwards.
  Result<ChildExit> wait();
  // Reaps it if it has ended: an empty optional while it runs.
  Result<std::optional<ChildExit>> try_wait();
  // Gives up ownership: nothing is killed or reaped by this object any more. Returns the
  // pidfd (the caller now owns the process: it must reap it).
  Fd release() {
    pid_ = -1;
    return std::move(pidfd_);
  }
  // SIGKILL and reap; nothing when empty.
  void kill_and_reap() noexcept;

 private:
  static Result<Child> adopt_forked(pid_t pid, const std::string& what);
  Child(Fd pidfd, pid_t pid) : pidfd_(std::move(pidfd)), pid_(pid) {}
  Result<std::optional<ChildExit>> wait_with(int options);

  Fd pidfd_;
  pid_t pid_ = -1;
};

}  // namespace fw::sys
