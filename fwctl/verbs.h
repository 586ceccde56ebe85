#pragma once
// fwctl's verbs: one per daemon command (generated from the shared command table) plus the
// client-side ones (help, events).

#include <functional>
#include <string>
#include <vector>

#include "fwctl/client.h"

namespace fwctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUnknownVerb = 2;
inline constexpr int kExitUnreachable = 3;

struct Context {
  std::string socket_path;
  bool json = false;
  double timeout = 2.0;           // seconds
  bool timeout_explicit = false;  // set by FWCTL_TIMEOUT or --timeout
};

struct Verb {
  std::string name;      // lower case
  std::string usage;     // "fwctl prepare FOLDER PATH|ID"
  std::string synopsis;  // as HELP prints it: "PREPARE FOLDER PATH|ID"
  std::string summary;   // one line
  std::vector<std::string> help;
  std::function<int(Context&, const std::vector<std::string>&)> run;
};

const std::vector<Verb>& verbs();
// Returns the verb named `name` (lower case), nullptr when unknown.
const Verb* find_verb(const std::string& name);

// Prints a daemon error (or a connection failure) and returns the exit code for it.
int report_error(const Context& ctx, const fw::Error& error, bool from_daemon);

}  // namespace fwctl
