#pragma once
// The one vocabulary between the daemon and firmwared-monitor: the status lines the monitor
// writes (--status-fd), the control lines the daemon answers (--control-fd), and the
// `--cgroup KIND:DIR` argument. It lives in sys/ because both sides already link fw_sys
// (the monitor executable links only fw_sys and fw_base, the daemon's host/ adapters sit
// above it): neither gains a dependency, and neither writes a word or splits a line by hand.
//
// Status, monitor → daemon, one line each:
//   PTS <inner> <outer>   the console's two pty paths
//   NS_READY              the namespaces exist; the monitor waits for GO
//   SANDBOX <dev> <pivot> <init>
//                         (--standby) the sandbox is made: /dev, console and binds in place
//                         (<dev> microseconds), the monitor pivoted into the root (<pivot>
//                         microseconds), PID 1 made and set up, waiting (<init> microseconds);
//                         the monitor waits for RUN
//   STARTED <pid>         PID 1 exec'd (host pid); the monitor waits for ACK before reaping
//   OOM <count>           the OOM killer acted in the instance's cgroup; count: kills so far
//   ERROR <errno> <text>  the launch failed at the named step; the monitor exits
//   EXITED <status>       PID 1 ended: exit code or 128 + signal
// Control, daemon → monitor:
//   GO                    the network is set up: go on with the launch
//   ACK                   the daemon holds a pidfd of PID 1, which may now be reaped
//   RUN                   (--standby, after SANDBOX) start PID 1 now; EOF instead: the
//                         standby is dismissed and exits, leaving nothing behind

#include <cstdint>
#include <optional>
#include <string>

#include "firmwared/base/result.h"

namespace fw::sys::wire {

struct StatusLine {
  enum class Kind { kPts, kNsReady, kSandbox, kStarted, kOom, kError, kExited };
  Kind kind = Kind::kNsReady;
  std::string inner, outer;  // kPts
  int64_t number = 0;        // kStarted: pid; kOom: kills; kExited: status; kSandbox: <dev>
  int64_t pivot_us = 0;      // kSandbox: <pivot>
  int64_t init_us = 0;       // kSandbox: <init>
  Error error;               // kError
};

// Each returns the line with its '\n'.
std::string pts_line(const std::string& inner, const std::string& outer);
std::string ns_ready_line();
// Durations in microseconds (negative ones are written as 0).
std::string sandbox_line(int64_t dev_us, int64_t pivot_us, int64_t init_us);
std::string started_line(int64_t pid);
std::string oom_line(uint64_t kills);
// The message's newlines become spaces: one error, one line.
std::string error_line(const Error& error);
std::string exited_line(int status);
// One status line without its '\n'; nullopt when it is not one (unknown word, bad number).
std::optional<StatusLine> parse_status(const std::string& line);

enum class Control { kGo, kAck, kRun };
std::string control_line(Control control);
// One control line without its '\n'; nullopt when it is not one.
std::optional<Control> parse_control(const std::string& line);

// Removes the first complete line from `buffer` and returns it without its '\n'; nullopt
// while no '\n' has arrived.
std::optional<std::string> take_line(std::string& buffer);
// Reads one line from the blocking `fd`, a byte at a time (nothing past it is consumed);
// nullopt on EOF or error before its '\n'.
std::optional<std::string> read_line(int fd);
// Writes `line` to `fd` whole (EINTR retried); the error names the failed write.
fw::Status write_line(int fd, const std::string& line);

// The instance's cgroup in one host hierarchy: KIND "unified" (cgroup2) or a v1
// hierarchy's controllers ("memory", "cpu,cpuacct", "name=systemd"); DIR absolute.
struct CgroupArg {
  std::string kind, dir;
  bool unified() const { return kind == "unified"; }
};
std::string format_cgroup_arg(const CgroupArg& cgroup);
// "KIND:/DIR"; EINVAL naming the text otherwise.
Result<CgroupArg> parse_cgroup_arg(const std::string& text);

}  // namespace fw::sys::wire
