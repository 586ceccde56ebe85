// net_hook: the default network helper of firmwared (docs/net-helper.md).
// Creates the veth pair of an instance with its inner end born inside the instance's network
// namespace, moves stolen interfaces in and out, and deletes host veth ends, all through
// libnl-route; `net_hook serve` answers the same requests read on stdin, one process for
// all. Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "firmwared/base/version.h"
#include "net-helpers/actions.h"
#include "net-helpers/args.h"
#include "net-helpers/serve.h"

int main(int argc, char** argv) {
  using fw::net::Command;
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto cmd = fw::net::parse_args(args);
  if (!cmd) {
    std::fprintf(stderr, "net_hook: %s\n%s", fw::net::one_line(cmd.error().message).c_str(),
                 fw::net::kUsageText);
    return 2;
  }
  if (cmd->kind == Command::Kind::kHelp) {
    std::fputs(fw::net::kHelpText, stdout);
    std::fputs(fw::net::kUsageText, stdout);
    return 0;
  }
  if (cmd->kind == Command::Kind::kVersion) {
    std::printf("net_hook (firmwared) %s\n", FIRMWARED_VERSION);
    return 0;
  }
  if (cmd->kind == Command::Kind::kServe) return fw::net::serve(STDIN_FILENO, STDOUT_FILENO);
  if (const char* owner = std::getenv("FIRMWARED_OWNER"); owner != nullptr) {
    cmd->options.owner = owner;
  }
  std::string rollback_notes;
  const fw::Status st = fw::net::run_action(cmd->options, &rollback_notes);
  if (!st) {
    std::fprintf(stderr, "net_hook: %s: %s\n", fw::net::action_name(cmd->options.action),
                 fw::net::one_line(st.error().message + rollback_notes).c_str());
    return 1;
  }
  return 0;
}
