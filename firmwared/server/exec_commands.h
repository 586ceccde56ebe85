#pragma once
// EXEC ID [--tty] [--env K=V]... [--workdir DIR] -- CMD ARGS...: runs a command inside a
// started instance with the client's own stdin, stdout and stderr (sent over the socket
// with SCM_RIGHTS), and answers its exit status once it finished.

#include <event2/event.h>

#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

struct ExecOptions {
  std::string id;
  bool tty = false;
  std::vector<std::string> env;
  std::string workdir = "/";
  std::vector<std::string> argv;
};

// Parses EXEC's arguments. EINVAL naming the bad one.
Result<ExecOptions> parse_exec_args(const std::vector<std::string>& args);

void register_exec_commands(Dispatcher& dispatcher, core::Instances& instances, event_base* base);

}  // namespace fw::server
