#pragma once
// fwctl exec's stdio (docs/security.md, "What crosses into an instance on EXEC"). The
// daemon lets only anonymous pipes and /dev/null, /dev/zero, /dev/full become the
// command's stdin, stdout and stderr: anything else could be reopened from inside the
// instance through /proc/PID/fd (a terminal takes TIOCSTI, a file opens for writing). So
// we hand such descriptors of ours over as they are and put a pipe in front of every other
// one (a terminal, a file, a socket), copying bytes between it and our descriptor while the
// command runs, like podman's conmon.

#include <poll.h>

#include <array>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fwctl {

class StdioRelay {
 public:
  // Looks at our descriptors 0, 1 and 2 (a closed one is first reopened on /dev/null) and
  // creates the pipes. EINVAL "stdin is a directory" for a descriptor nothing can be read
  // from or written to (a directory, O_PATH); errno of pipe2 or open.
  static fw::Result<StdioRelay> create();

  // The three descriptors to send with EXEC: ours, or the command's ends of our pipes.
  std::vector<int> handed() const;
  // Once the daemon has them: closes our copies of the command's ends, so that EOF comes
  // when the command (and whatever inherited them) is done.
  void handed_over();
  // Appends what to wait for now; handle() takes poll's answer for them.
  void add_pollfds(std::vector<pollfd>& fds) const;
  void handle(const std::vector<pollfd>& fds);
  // After the command exited: copies what the output pipes still hold (without waiting
  // for processes the command left behind), then closes every pipe.
  void drain();

 private:
  struct Stream {
    int own = -1;  // our descriptor 0, 1 or 2
    bool input = false;
    fw::Fd ours;            // our end of the pipe (O_NONBLOCK); invalid: not relayed, or done
    fw::Fd theirs;          // the command's end, until handed over
    std::string buf;        // input read from `own`, not yet written to the pipe
    bool own_done = false;  // input: EOF or error on `own`
  };
  void pump_input(Stream& s, short own_events, short pipe_events);
  void pump_output(Stream& s);
  std::array<Stream, 3> streams_;
};

}  // namespace fwctl
