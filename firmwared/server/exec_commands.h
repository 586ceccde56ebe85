#pragma once
// EXEC ID [--tty] [--winsize ROWSxCOLS] [--env K=V]... [--workdir DIR] -- CMD ARGS...: runs
// a command inside a started instance with the stdin, stdout and stderr the client sent over
// the socket (SCM_RIGHTS), and answers its exit status once it finished. Only anonymous
// pipes and /dev/null, /dev/zero, /dev/full are accepted as those (EINVAL otherwise,
// docs/security.md): fwctl relays its terminal and files through pipes.

#include <event2/event.h>

#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

struct ExecOptions {
  std::string id;
  bool tty = false;
  unsigned short rows = 0, cols = 0;  // --winsize: the pty's size with --tty (0: unset)
  std::vector<std::string> env;
  std::string workdir = "/";
  std::vector<std::string> argv;
};

// Parses EXEC's arguments. EINVAL naming the bad one.
Result<ExecOptions> parse_exec_args(const std::vector<std::string>& args);

void register_exec_commands(Dispatcher& dispatcher, core::Instances& instances, event_base* base);

}  // namespace fw::server
