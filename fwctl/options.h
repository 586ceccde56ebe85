#pragma once
// fwctl's option parser: one parser for every verb, driven by the verb's declaration
// (its OptionSpecs and its OperandSpec), so the usage line, `help VERB`, `VERB --help` and
// the usage errors all come from the same table.
//
// Why not CLI11 (libcli11-dev 2.1.2)? It was considered and rejected, because the rules
// fwctl must keep fight its model:
//  - fdc compatibility: daemon-command verbs pass free-form operands (property values such
//    as "-1", "-", "nil"); CLI11 treats "-1" as an option or a negative number depending on
//    configuration, per app, and cannot be told "a dash and a digit is an operand" alone.
//  - exec's `ID -- CMD ARGS...`: everything after "--" (or after the ID once it is given)
//    is the command, verbatim, including "-h"; CLI11's "--" handling feeds the rest into
//    the positional list where its own help flag still fires on "-h" in 2.1.
//  - global options anywhere (before or after the verb), and `--timeout` meaning the reply
//    timeout before the verb but the verb's own timeout after it: in CLI11 that needs
//    option groups plus fallthrough on every subcommand, and the "before the verb" alias
//    cannot be expressed at all.
//  - exit codes and messages: unknown verb 2, bad usage 1 (exec: 125), "did you mean"
//    for verbs and options (edit distance and unique prefixes); CLI11 2.1 has no
//    suggestions and its own error texts and exit codes.
// The parser below is getopt_long-like (~300 lines), with no dependency, and unit-tested
// (tests/unit/fwctl_options_test.cc).
//
// Rules, for every verb:
//  - `--name value`, `--name=value`, `-x value` and `-xvalue`; short flags may be bundled
//    (`-tf`). A flag given a value (`--flag=x`) is an error.
//  - Options and operands may be mixed in any order. "--" ends the options: what follows is
//    the command of a verb that takes one (exec), operands otherwise.
//  - A word that is "-" or a dash followed by a digit ("-1", "-0.5") is an operand.
//  - Global options (--json, --socket PATH, --reply-timeout SECONDS, -h/--help, --version)
//    are accepted before and after the verb. Before the verb, `--timeout SECONDS` is the
//    old spelling of --reply-timeout; after the verb, --timeout is the verb's own option.
//  - For a verb that takes a command, once its operands are all given the first word that
//    is not an option starts the command (`fwctl exec ID ls -l` as `fwctl exec ID -- ls -l`).

#include <cstddef>
#include <string>
#include <vector>

#include "fwctl/args.h"

namespace fwctl {

// The operands a verb takes.
struct OperandSpec {
  std::string text{};    // as shown in the usage line: "ID [PATH...]"; empty for none
  int min = 0;           // how many at least
  int max = 0;           // at most; -1 for no limit
  bool command = false;  // takes `-- CMD [ARGS...]` after them (exec)
  // The last operand is a free value (SET_PROPERTY's VALUE): taken as it is even when it
  // starts with '-' (fdc passed `cmdline[1] --one` through); options go before it.
  bool free_last = false;
};

// What the parser needs to know about a verb.
struct VerbSyntax {
  std::string name;  // lower case
  std::vector<OptionSpec> options;
  OperandSpec operands;
};

// The options every verb accepts, wherever they are on the line.
const std::vector<OptionSpec>& global_options();

// The result of parsing: global options given (under their long names, "timeout" before
// the verb is recorded as "reply-timeout"), and the verb's options and operands.
struct ParsedLine {
  Args globals;
  std::string verb;  // lower case, as typed; empty when the line names no verb
  Args args;
  std::string error;  // the first usage error, empty when none
  // Asked for help (-h/--help) or the version: shown even when `error` is set.
  bool help() const { return globals.has("help"); }
  bool version() const { return globals.has("version"); }
};

// Parses the words before the verb: global options only. Returns the index of the verb in
// `words` (words.size() when there is none); errors go to `out->error`.
size_t parse_leading(const std::vector<std::string>& words, ParsedLine* out);

// Parses the words after the verb for `syntax`, into `out->args` and `out->globals`.
void parse_verb_words(const VerbSyntax& syntax, const std::vector<std::string>& words,
                      ParsedLine* out);

// "fwctl exec [-t] [-e NAME=VALUE]... ID -- CMD [ARGS...]", from the declaration.
std::string usage_line(const VerbSyntax& syntax);

// The options block of the help: "  -e, --env NAME=VALUE   one line", one per option.
std::string options_help(const std::vector<OptionSpec>& options);

// The candidate closest to `word`: the one it is a prefix of (none when several), else the
// nearest within edit distance 2 and half the word's length; "" when none is close enough.
std::string suggest(const std::string& word, const std::vector<std::string>& candidates);

// Edit distance (Levenshtein, with transpositions counted as one edit).
size_t edit_distance(const std::string& a, const std::string& b);

// Parses a number of seconds (0 to 1e6); false when `s` is not one.
bool parse_seconds(const std::string& s, double* out);

}  // namespace fwctl
