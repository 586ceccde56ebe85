#pragma once
// Signals fwctl turns into requests instead of dying of them: `fwctl exec` forwards them to
// its command (EXEC_SIGNAL, EXEC_RESIZE), `fwctl console` follows its terminal's size
// (CONSOLE_RESIZE). A handler writes the signal's number to a pipe (the self-pipe trick:
// write(2) is async-signal-safe) that the caller polls along with its other descriptors.

#include <sys/ioctl.h>

#include <csignal>
#include <memory>
#include <optional>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fwctl {

// What `fwctl exec` forwards to its command.
inline constexpr int kExecForwardedSignals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                                SIGUSR1, SIGUSR2, SIGWINCH};

class SignalCatcher {
 public:
  // Catches `signals` (SA_RESTART) until destroyed, when their previous dispositions come
  // back. One catcher at a time per process. Errors of pipe2 and sigaction.
  static fw::Result<std::unique_ptr<SignalCatcher>> install(const std::vector<int>& signals);
  ~SignalCatcher();
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;

  // Readable when a signal came.
  int fd() const { return read_.get(); }
  // The signals caught since the last call, in the order they came.
  std::vector<int> take();

 private:
  SignalCatcher() = default;
  fw::Fd read_, write_;
  std::vector<std::pair<int, struct sigaction>> previous_;
};

// The window size of our terminal (stdin, else stdout); nullopt without one.
std::optional<winsize> terminal_size();

}  // namespace fwctl
