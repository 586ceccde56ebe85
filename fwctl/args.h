#pragma once
// What fwctl's option parser hands a verb: its options (declared in the verb's table entry)
// and its operands. The parser itself (fwctl/options.cc) handles global options anywhere on
// the line, --opt=value and --opt value, -h/--help on every verb, "--", and unknown options
// with a "did you mean" suggestion, so a verb never loops over argv itself.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fwctl {

// One option a verb takes. A flag has an empty `value`.
struct OptionSpec {
  std::string name;         // long name without the dashes: "signal"
  char short_name = 0;      // 's', or 0 for none
  std::string value;        // placeholder shown in help ("SIG"); empty for a flag
  std::string help;         // one line
  bool repeatable = false;  // may be given more than once (values() returns them all)
  bool required = false;    // the verb needs it (shown without brackets in the usage)
};

class Args {
 public:
  // True when the option (long name) was given, as a flag or with a value.
  bool has(std::string_view name) const;
  // The last value given to the option, nullopt when absent.
  std::optional<std::string> value(std::string_view name) const;
  std::string value_or(std::string_view name, std::string fallback) const;
  // Every value given to a repeatable option, in order.
  std::vector<std::string> values(std::string_view name) const;
  // The operands before "--" (ID, FOLDER, ...).
  const std::vector<std::string>& operands() const { return operands_; }
  // Everything after "--" (the command of exec and run), verbatim.
  const std::vector<std::string>& command() const { return command_; }
  bool has_command_separator() const { return separator_; }

  // Filled by the parser.
  void add(std::string name, std::optional<std::string> value);
  void add_operand(std::string operand) { operands_.push_back(std::move(operand)); }
  void add_command(std::string word) { command_.push_back(std::move(word)); }
  void set_separator() { separator_ = true; }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> given_;
  std::vector<std::string> operands_;
  std::vector<std::string> command_;
  bool separator_ = false;
};

}  // namespace fwctl
