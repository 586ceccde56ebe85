// fwctl's option parser (fwctl/options.h): options anywhere, --opt=value, short options,
// missing values, unknown options with suggestions, "--", operands that start with '-',
// repeatable options, help, and the usage line generated from the declaration.

#include "fwctl/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fwctl {
namespace {

VerbSyntax exec_syntax() {
  return {"exec",
          {{"tty", 't', "", "pty"},
           {"env", 'e', "NAME=VALUE", "env", true},
           {"workdir", 'w', "DIR", "cwd"}},
          {"ID", 1, 1, true}};
}

VerbSyntax stop_syntax() {
  return {"stop", {{"signal", 0, "SIGNAL", ""}, {"timeout", 0, "SECONDS", ""}}, {"ID", 1, 1}};
}

VerbSyntax set_property_syntax() {
  return {"set_property", {}, {"FOLDER ID PROPERTY VALUE", 4, 4, false, true}};
}

// Parses a whole line (without "fwctl") the way main does.
ParsedLine parse(const VerbSyntax& syntax, const std::vector<std::string>& words) {
  ParsedLine line;
  const size_t at = parse_leading(words, &line);
  EXPECT_LT(at, words.size());
  EXPECT_EQ(words[at], syntax.name);
  parse_verb_words(syntax, {words.begin() + static_cast<long>(at) + 1, words.end()}, &line);
  return line;
}

TEST(FwctlOptions, GlobalOptionsBeforeAndAfterTheVerb) {
  auto line = parse(stop_syntax(), {"--json", "stop", "a", "--socket=/s"});
  EXPECT_EQ(line.error, "");
  EXPECT_TRUE(line.globals.has("json"));
  EXPECT_EQ(line.globals.value("socket"), "/s");
  EXPECT_EQ(line.args.operands(), std::vector<std::string>{"a"});

  line = parse(stop_syntax(), {"stop", "--json", "a", "--reply-timeout", "5"});
  EXPECT_EQ(line.error, "");
  EXPECT_TRUE(line.globals.has("json"));
  EXPECT_EQ(line.globals.value("reply-timeout"), "5");
}

TEST(FwctlOptions, TimeoutBeforeTheVerbIsTheReplyTimeout) {
  auto line = parse(stop_syntax(), {"--timeout=7", "stop", "a", "--timeout", "30"});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.globals.value("reply-timeout"), "7");
  EXPECT_EQ(line.args.value("timeout"), "30");
}

TEST(FwctlOptions, TimeoutAfterAVerbWithoutOneSuggestsReplyTimeout) {
  auto line = parse(set_property_syntax(), {"set_property", "--timeout", "3", "a", "b", "c", "d"});
  EXPECT_EQ(line.error, "unknown option '--timeout' (did you mean '--reply-timeout'?)");
}

TEST(FwctlOptions, EqualsAndSeparateValues) {
  auto line = parse(stop_syntax(), {"stop", "--signal=SIGINT", "a", "--timeout", "3"});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.args.value("signal"), "SIGINT");
  EXPECT_EQ(line.args.value("timeout"), "3");
  EXPECT_EQ(line.args.value_or("nope", "x"), "x");
  // An empty value is a value.
  line = parse(stop_syntax(), {"stop", "a", "--signal="});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.args.value("signal"), "");
}

TEST(FwctlOptions, MissingValueNamesTheOption) {
  auto line = parse(stop_syntax(), {"stop", "a", "--signal"});
  EXPECT_EQ(line.error, "option '--signal' needs a value (SIGNAL)");
  line = parse(exec_syntax(), {"exec", "a", "-w"});
  EXPECT_EQ(line.error, "option '-w' needs a value (DIR)");
}

TEST(FwctlOptions, FlagWithAValueIsAnError) {
  auto line = parse(exec_syntax(), {"exec", "--tty=yes", "a", "--", "sh"});
  EXPECT_EQ(line.error, "option '--tty' takes no value (given 'yes')");
}

TEST(FwctlOptions, UnknownOptionGetsASuggestion) {
  auto line = parse(stop_syntax(), {"stop", "a", "--sigal", "x"});
  EXPECT_EQ(line.error, "unknown option '--sigal' (did you mean '--signal'?)");
  line = parse(stop_syntax(), {"stop", "a", "--sig"});  // unique prefix
  EXPECT_EQ(line.error, "unknown option '--sig' (did you mean '--signal'?)");
  line = parse(stop_syntax(), {"stop", "a", "--jsn"});  // a global option
  EXPECT_EQ(line.error, "unknown option '--jsn' (did you mean '--json'?)");
  line = parse(stop_syntax(), {"stop", "a", "--frobnicate"});
  EXPECT_EQ(line.error, "unknown option '--frobnicate'");
  line = parse(stop_syntax(), {"stop", "a", "-signal", "x"});
  EXPECT_EQ(line.error, "unknown option '-s' (did you mean '--signal'?)");
}

TEST(FwctlOptions, UnknownOptionBeforeTheVerb) {
  ParsedLine line;
  parse_leading({"--jason", "ps"}, &line);
  EXPECT_EQ(line.error, "unknown option '--jason' (did you mean '--json'?)");
}

TEST(FwctlOptions, OperandsThatStartWithADash) {
  auto line = parse(set_property_syntax(), {"set_property", "instances", "a", "x", "-1"});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.args.operands(), (std::vector<std::string>{"instances", "a", "x", "-1"}));
  line = parse(set_property_syntax(), {"set_property", "instances", "a", "x", "-"});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.args.operands().back(), "-");
  // Anything else after "--".
  line = parse(set_property_syntax(), {"set_property", "instances", "a", "--", "x", "-v"});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.args.operands().back(), "-v");
  EXPECT_TRUE(line.args.has_command_separator());
  // The free last value (fdc: `set_property instances a cmdline[1] --one`), even one that
  // names an option; options still work before it.
  for (const char* v : {"--one", "--json", "-h", "--"}) {
    line = parse(set_property_syntax(), {"set_property", "--json", "instances", "a", "x", v});
    EXPECT_EQ(line.error, "") << v;
    EXPECT_FALSE(line.help()) << v;
    EXPECT_EQ(line.args.operands(), (std::vector<std::string>{"instances", "a", "x", v}));
    EXPECT_TRUE(line.globals.has("json")) << v;
  }
}

TEST(FwctlOptions, CommandAfterTheSeparatorIsVerbatim) {
  auto line = parse(exec_syntax(), {"exec", "-t", "a", "-e", "A=1", "--", "sh", "-h", "--json"});
  EXPECT_EQ(line.error, "");
  EXPECT_FALSE(line.help());
  EXPECT_FALSE(line.globals.has("json"));
  EXPECT_TRUE(line.args.has("tty"));
  EXPECT_TRUE(line.args.has_command_separator());
  EXPECT_EQ(line.args.operands(), std::vector<std::string>{"a"});
  EXPECT_EQ(line.args.command(), (std::vector<std::string>{"sh", "-h", "--json"}));
}

TEST(FwctlOptions, CommandStartsAfterTheOperandsWithoutSeparator) {
  auto line = parse(exec_syntax(), {"exec", "a", "ls", "-l"});
  EXPECT_EQ(line.error, "");
  EXPECT_FALSE(line.args.has_command_separator());
  EXPECT_EQ(line.args.command(), (std::vector<std::string>{"ls", "-l"}));
  // Options after the ID are still options.
  line = parse(exec_syntax(), {"exec", "a", "-t", "--", "ls"});
  EXPECT_TRUE(line.args.has("tty"));
  EXPECT_EQ(line.args.command(), std::vector<std::string>{"ls"});
}

TEST(FwctlOptions, MissingCommandAndOperands) {
  auto line = parse(exec_syntax(), {"exec", "a"});
  EXPECT_EQ(line.error, "missing the command (-- CMD [ARGS...])");
  line = parse(exec_syntax(), {"exec", "--", "ls"});
  EXPECT_EQ(line.error, "missing operand (expected ID)");
  line = parse(stop_syntax(), {"stop", "a", "b"});
  EXPECT_EQ(line.error, "unexpected operand 'b'");
}

TEST(FwctlOptions, RepeatableAndShortForms) {
  auto line = parse(exec_syntax(),
                    {"exec", "-e", "A=1", "-eB=2", "--env=C=3", "-tw/tmp", "a", "--", "env"});
  EXPECT_EQ(line.error, "");
  EXPECT_EQ(line.args.values("env"), (std::vector<std::string>{"A=1", "B=2", "C=3"}));
  EXPECT_TRUE(line.args.has("tty"));
  EXPECT_EQ(line.args.value("workdir"), "/tmp");
}

TEST(FwctlOptions, HelpAnywhereEvenWithErrors) {
  auto line = parse(stop_syntax(), {"stop", "-h"});
  EXPECT_TRUE(line.help());
  line = parse(stop_syntax(), {"stop", "--bogus", "--help"});
  EXPECT_TRUE(line.help());
  EXPECT_NE(line.error, "");  // main shows the help anyway
  ParsedLine lead;
  EXPECT_EQ(parse_leading({"--help"}, &lead), 1u);
  EXPECT_TRUE(lead.help());
}

TEST(FwctlOptions, RequiredOption) {
  VerbSyntax wait{"wait", {{"state", 0, "ready|started", "", false, true}}, {"ID", 1, 1}};
  auto line = parse(wait, {"wait", "a"});
  EXPECT_EQ(line.error, "missing --state ready|started");
  EXPECT_EQ(usage_line(wait), "fwctl wait ID --state ready|started");
}

TEST(FwctlOptions, UsageLineFromTheDeclaration) {
  EXPECT_EQ(usage_line(exec_syntax()),
            "fwctl exec ID [-t] [-e NAME=VALUE]... [-w DIR] -- CMD [ARGS...]");
  EXPECT_EQ(usage_line(stop_syntax()), "fwctl stop ID [--signal SIGNAL] [--timeout SECONDS]");
  EXPECT_EQ(options_help({{"env", 'e', "NAME=VALUE", "set a variable"}}),
            "  -e, --env NAME=VALUE        set a variable\n");
}

TEST(FwctlOptions, Suggestions) {
  const std::vector<std::string> verbs = {"ps", "prepare", "start", "stop", "stats", "exec"};
  EXPECT_EQ(suggest("prepar", verbs), "prepare");  // unique prefix
  EXPECT_EQ(suggest("strat", verbs), "start");     // transposition
  EXPECT_EQ(suggest("exce", verbs), "exec");
  EXPECT_EQ(suggest("st", verbs), "");  // ambiguous prefix, too short to guess
  EXPECT_EQ(suggest("zzzzzz", verbs), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(FwctlOptions, Seconds) {
  double v = 0;
  EXPECT_TRUE(parse_seconds("2.5", &v));
  EXPECT_EQ(v, 2.5);
  EXPECT_FALSE(parse_seconds("", &v));
  EXPECT_FALSE(parse_seconds("-1", &v));
  EXPECT_FALSE(parse_seconds("5s", &v));
}

}  // namespace
}  // namespace fwctl
