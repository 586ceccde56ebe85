#pragma once
// fwctl's verbs: one per daemon command (generated from the shared command table) plus the
// client-side ones (help, events).

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "fwctl/args.h"
#include "fwctl/client.h"
#include "fwctl/options.h"

namespace fwctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUnknownVerb = 2;
inline constexpr int kExitUnreachable = 3;

struct Context {
  std::string socket_path;
  bool json = false;              // --json, anywhere on the line
  double timeout = 2.0;           // the reply timeout, seconds
  bool timeout_explicit = false;  // set by FWCTL_TIMEOUT or --reply-timeout
};

// A verb: its declaration drives the parser (fwctl/options.h), its usage line, `fwctl help
// VERB` and `fwctl VERB --help`. The parser checks options and operand counts before `run`
// is called; `run` reads them from Args and never sees argv.
struct Verb {
  std::string name{};      // lower case
  std::string synopsis{};  // fdc's line, as HELP prints it: "PREPARE FOLDER PATH|ID"
  std::string summary{};   // one line
  std::vector<std::string> help{};
  std::vector<OptionSpec> options{};  // the verb's own (global options are added by the parser)
  OperandSpec operands{};             // {"ID", 1, 1}; command = true for `-- CMD [ARGS...]`
  std::function<int(Context&, const Args&)> run{};
  int usage_exit = 1;  // exit status of a usage error (exec: 125)

  VerbSyntax syntax() const { return {name, options, operands}; }
  std::string usage() const { return usage_line(syntax()); }
};

const std::vector<Verb>& verbs();
// Returns the verb named `name` (lower case), nullptr when unknown.
const Verb* find_verb(const std::string& name);

// `fwctl help VERB` and `fwctl VERB --help`: fdc's three lines, the longer help, the usage
// and the options.
void print_verb_help(const Verb& verb, std::ostream& out);
// `fwctl --help` and `fwctl help`: the usage of fwctl and the list of verbs.
void print_overview(std::ostream& out);
// "fwctl: unknown verb 'X' (did you mean 'Y'?)"
std::string unknown_verb_message(const std::string& word);

// Prints a daemon error (or a connection failure) and returns the exit code for it.
int report_error(const Context& ctx, const fw::Error& error, bool from_daemon);

}  // namespace fwctl
