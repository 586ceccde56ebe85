#pragma once
// The instance console as the monitor holds it: the inner pty (PID 1's console), the
// outer pty (what users attach to), and the size-capped console.log (with its line index,
// sys/console_log.h) in the workspace.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/console_log.h"
#include "firmwared/sys/pty.h"

namespace fw::monitor {

class Console {
 public:
  // Opens both ptys and the log (console.log and its index under `workspace_fd`, rotated to
  // console.log.1 past `log_max` bytes) and, with `with_separator`, writes this run's separator
  // line there (a standby writes it at RUN, through start_run()).
  static Result<Console> open(int workspace_fd, uint64_t log_max, bool with_separator = true);
  // Writes this run's separator line to the log.
  void start_run();

  const std::string& inner_path() const { return inner_.slave_path; }
  const std::string& outer_path() const { return outer_.slave_path; }
  int inner_slave() const { return inner_slave_.get(); }
  int inner_master() const { return inner_.master.get(); }
  int outer_master() const { return outer_.master.get(); }

  // Replaces the inner pty by a new one of the devpts whose ptmx is `ptmx` (the instance's
  // own, in a user namespace), its slave owned by `uid`:`gid` mode 0620 so that the
  // instance's root can open /dev/console again; inner_path() becomes its path.
  Status move_inner(const std::string& ptmx, uid_t uid, gid_t gid);

  // Copies what PID 1 wrote to the log and to the outer pty (dropped when nobody reads
  // there). Returns false once the inner side has nothing more to give.
  bool pump_inner();
  // Copies what the user typed on the outer pty to PID 1's console.
  void pump_outer();

  // Makes the outer pty our controlling terminal (we must lead a session without one), so
  // that a window size set on it (CONSOLE_RESIZE, TIOCSWINSZ on the outer pts) sends us
  // SIGWINCH (tty_ioctl(4)). Errors of TIOCSCTTY.
  Status follow_outer_size();
  // Gives PID 1's console the outer pty's window size (the kernel sends SIGWINCH to the
  // console's foreground process group when it changes).
  void copy_outer_size();

 private:
  void log(const char* data, size_t n);

  sys::Pty inner_, outer_;
  // The monitor keeps both slaves open: a master whose slave is closed reports POLLHUP
  // forever (pty(7)), and PID 1's console must outlive its processes for the log.
  Fd inner_slave_, outer_slave_;
  sys::ConsoleLogWriter log_;
};

}  // namespace fw::monitor
