#pragma once
// EXEC ID [--tty] [--winsize ROWSxCOLS] [--env K=V]... [--workdir DIR] -- CMD ARGS...: runs
// a command inside a started instance with the stdin, stdout and stderr the client sent over
// the socket (SCM_RIGHTS), and answers its exit status once it finished. Only anonymous
// pipes and /dev/null, /dev/zero, /dev/full are accepted as those (EINVAL otherwise,
// docs/security.md): fwctl relays its terminal and files through pipes.

#include <event2/event.h>

#include "firmwared/core/instance_exec.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

struct ExecOptions {
  std::string id;
  core::ExecCommand command;  // --tty, --winsize, --env, --workdir, and what follows --
};

// Parses EXEC's arguments. EINVAL naming the bad one.
Result<ExecOptions> parse_exec_args(const std::vector<std::string>& args);

// ROWSxCOLS, each 1..65535 (EXEC --winsize, EXEC_RESIZE, CONSOLE_RESIZE).
bool parse_winsize(const std::string& v, unsigned short& rows, unsigned short& cols);
// The seq of an EXEC request: a positive decimal integer; EINVAL naming `text` otherwise.
Result<uint64_t> parse_exec_seq(const char* command, const std::string& text);

// EXEC_SIGNAL SEQ SIGNAL: a signal for the command of this connection's EXEC SEQ. SIGNAL
// is a name or number (fw::parse_signal: 1..64, every one accepted, KILL and STOP too: it
// is the client's own command). EINVAL naming the bad argument.
struct ExecSignalArgs {
  uint64_t seq = 0;
  int signal = 0;
};
Result<ExecSignalArgs> parse_exec_signal_args(const std::vector<std::string>& args);

// EXEC_RESIZE SEQ ROWSxCOLS: the new window size of the pty of this connection's EXEC SEQ
// (ignored for an EXEC without --tty). EINVAL naming the bad argument.
struct ExecResizeArgs {
  uint64_t seq = 0;
  unsigned short rows = 0, cols = 0;
};
Result<ExecResizeArgs> parse_exec_resize_args(const std::vector<std::string>& args);

// Registers EXEC, EXEC_SIGNAL and EXEC_RESIZE; `exec` and `base` must outlive the
// dispatcher. A running EXEC whose client session closes has its command ended (SIGTERM or
// SIGHUP, SIGKILL after sys::kExecTeardownGraceMs; sys/exec.h).
void register_exec_commands(Dispatcher& dispatcher, core::InstanceExec& exec, event_base* base);

}  // namespace fw::server
