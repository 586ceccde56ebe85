#pragma once
// Running a command inside a started instance (EXEC): a child of the daemon joins every
// namespace of the instance's PID 1 at once (setns(2) with a pidfd, Linux ≥ 5.8: mount,
// PID, network, UTS, IPC, and with the mount namespace its root and cwd), then forks the
// command so it lives in the instance's PID namespace. The waiter child exits with the
// command's status (128+signal when killed), which the daemon reaps through a pidfd.
//
// Everything the children need is prepared before fork(): after it they make only
// system calls (the daemon is multi-threaded).

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

// Named apart from sys::ExecSpec (sys/child.h): two types of one name would break the
// one-definition rule inside fw_sys.
struct InstanceExecSpec {
  std::vector<std::string> argv;  // argv[0]: absolute, or looked up in PATH below
  std::vector<std::string> env;   // KEY=VALUE; PATH, HOME, TERM defaults added if missing
  std::string workdir = "/";
  // The client's descriptors (received over the socket); the caller checked that they may
  // cross into the instance (fw::stdio_may_cross).
  int stdio[3] = {-1, -1, -1};
  bool tty = false;                   // allocate a pty inside the instance, relay it to stdio
  unsigned short rows = 0, cols = 0;  // with tty: the pty's window size (0: leave it)
  // Run in the command's process just before execve (confinement); must only make
  // system calls. May be empty.
  std::function<int()> pre_exec;
  // The instance's cgroup directories (one per hierarchy, "KIND:DIR" or "DIR"): the command
  // is moved into them and into PID 1's cgroup namespace, so that the instance's limits and
  // device policy hold for it too. Empty: it stays in the daemon's cgroups.
  std::vector<std::string> cgroups;
};

struct ExecChild {
  Fd pidfd;  // of the waiter child (our child): readable when the command finished
  pid_t pid = 0;
};

// Starts `spec` in the namespaces of the process `init_pidfd` refers to.
Result<ExecChild> spawn_in_instance(int init_pidfd, const InstanceExecSpec& spec);

// Exit statuses of the waiter when the command could not run (as shells use them).
inline constexpr int kExecCannotRun = 126;
inline constexpr int kExecNotFound = 127;

}  // namespace fw::sys
