#pragma once
// fwctl run [--rm] [--name NAME] [--wait-console REGEX] [--timeout SECONDS] FIRMWARE
//           [-- CMD [ARGS...]]
// One-shot runs: PREPARE an instance of FIRMWARE, START it (waiting for the console to match
// REGEX), then either EXEC CMD in it (fwctl's exit status is CMD's) or, without CMD, print
// the instance's name. --rm kills and drops the instance at the end, also when fwctl is
// interrupted (SIGINT, SIGTERM, SIGHUP); without CMD, --rm first waits for PID 1 to exit.

#include <optional>
#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

struct RunOptions {
  std::string firmware;
  std::optional<std::string> name;
  std::vector<std::string> labels;  // KEY=VALUE each
  bool rm = false;
  std::optional<std::string> wait_console;
  std::optional<std::string> timeout;  // for --wait-console, as given
  std::vector<std::string> command;    // empty: no CMD
};

int run_run(Context& ctx, const RunOptions& options);
// The verb: FIRMWARE, then CMD after "--" (operands after the separator), from the parser.
int run_run_verb(Context& ctx, const Args& args);

}  // namespace fwctl
