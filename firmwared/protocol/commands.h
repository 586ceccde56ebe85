#pragma once
// The command table shared by the daemon (dispatch, HELP, COMMANDS) and fwctl (verbs,
// usage). Names are upper case on the wire; fwctl accepts any case.

#include <string>
#include <string_view>
#include <vector>

namespace fw::protocol {

struct CommandInfo {
  std::string name;               // "PREPARE"
  std::string answer;             // answer name of a successful reply ("PREPARED")
  std::string synopsis;           // "PREPARE FOLDER PATH|ID"
  std::string overview;           // one sentence
  std::vector<std::string> help;  // longer help lines, may be empty
  int min_args = 0;
  int max_args = 0;           // -1: unbounded
  bool long_running = false;  // fwctl waits without a timeout for these
};

// Every command the daemon knows, in alphabetical order.
const std::vector<CommandInfo>& commands();
// Returns the command named `name` (exact, upper case), nullptr when unknown.
const CommandInfo* find_command(std::string_view name);

}  // namespace fw::protocol
