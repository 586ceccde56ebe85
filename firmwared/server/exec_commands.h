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

// Registers EXEC; `exec` and `base` must outlive the dispatcher.
void register_exec_commands(Dispatcher& dispatcher, core::InstanceExec& exec, event_base* base);

}  // namespace fw::server
