#pragma once
// Running a command inside a started instance (EXEC): a child of the daemon joins every
// namespace of the instance's PID 1 at once (setns(2) with a pidfd, Linux ≥ 5.8: mount,
// PID, network, UTS, IPC, and with the mount namespace its root and cwd), then forks the
// command so it lives in the instance's PID namespace. The waiter child exits with the
// command's status (128+signal when killed), which the daemon reaps through its pidfd.
//
// Everything the children need is prepared before fork(): after it they make only
// system calls (the daemon is multi-threaded).
//
// The command leads a session (and process group) of its own, inside the instance. While
// it runs the waiter carries out the orders read from `control` (sys/exec_control.h): a
// signal goes to the command's process group, or with a pty to the pty's foreground
// group as a terminal would send it; a resize sets the pty's size (the kernel then sends
// SIGWINCH to that group).
//
// Teardown: when `control` reaches its end (the daemon closed it: the client went away),
// the waiter sends SIGHUP (with a pty) or SIGTERM (without) to the command's group and
// itself, then SIGCONT; once the command and every other process of its session and
// group are gone, or after kExecTeardownGraceMs, it SIGKILLs whatever is left of them
// (found by session and group id in the daemon's /proc) and exits. A process that left
// the command's session (setsid(2), a daemon) is not found.

#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/sys/child.h"

namespace fw::sys {

// One cgroup hierarchy the command joins: `dir`, or, when `dir` takes no process (EBUSY:
// a cgroup2 directory whose controllers are enabled for its children, the "no internal
// processes" rule), `leaf` below it, created when missing. An empty `leaf`: no fallback.
struct CgroupJoin {
  std::string dir, leaf;
};

struct InstanceExecSpec {
  std::vector<std::string> argv;  // argv[0]: absolute, or looked up in PATH below
  std::vector<std::string> env;   // KEY=VALUE; PATH, HOME, TERM defaults added if missing
  std::string workdir = "/";
  // The client's descriptors (received over the socket); the caller checked that they may
  // cross into the instance (fw::stdio_may_cross).
  int stdio[3] = {-1, -1, -1};
  bool tty = false;                   // allocate a pty inside the instance, relay it to stdio
  unsigned short rows = 0, cols = 0;  // with tty: the pty's window size (0: leave it)
  // The read end of the control pipe (ExecControl::create); -1: no orders, no teardown.
  int control = -1;
  // The confinement of PID 1 (sys::Confinement), with this AppArmor profile ("": none).
  std::string apparmor_profile;
  // The instance runs in a user namespace of its own: the command joins it as its root.
  bool userns = false;
  // Joined in order, before any namespace (host paths), so that the instance's limits and
  // device policy hold for the command; with any, it also enters PID 1's cgroup namespace.
  // Empty: it stays in the daemon's cgroups.
  std::vector<CgroupJoin> cgroups;
};

// Starts `spec` in the namespaces of the process `init_pidfd` refers to; the Child is the
// waiter. Errors: the confinement's (libseccomp), fork's, ESRCH when PID 1 is gone.
Result<Child> spawn_in_instance(int init_pidfd, const InstanceExecSpec& spec);

// Exit statuses of the waiter when the command could not run (as shells use them).
inline constexpr int kExecCannotRun = 126;
inline constexpr int kExecNotFound = 127;

// How long a teardown waits for the command's session to end before SIGKILL.
inline constexpr int kExecTeardownGraceMs = 2000;

}  // namespace fw::sys
