// fuzz_config: the daemon's configuration path in process, through Config::parse() (the
// string entry point of Config::load()): the INI text (Boost.PropertyTree's parser behind
// the adapter in ini.cc), then FIRMWARED_* environment overrides, then the value rules.
//
// Input: the configuration file's text, optionally followed by a line "--env--" and
// NAME=VALUE lines taken as the environment. A refused configuration must be EINVAL with
// a message; an accepted one must answer every accessor, and every value must come from the
// default, a line of the file or an environment variable. Boost's exceptions are caught in
// the adapter: anything escaping is a finding.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "firmwared/base/strings.h"
#include "firmwared/config/config.h"
#include "fuzz/fuzz_check.h"

namespace {

constexpr std::string_view kEnvMarker = "\n--env--\n";
constexpr std::string_view kOrigin = "/fuzz/firmwared.conf";

std::map<std::string, std::string> parse_env(std::string_view text) {
  std::map<std::string, std::string> env;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return env;
}

void check_accepted(const fw::config::Config& c, const std::map<std::string, std::string>& env,
                    unsigned long lines) {
  for (const std::string& key : c.key_names()) {
    const auto value = c.get(key);
    FUZZ_CHECK(value.has_value(), "every listed key has a value");
    FUZZ_CHECK(value->size() <= fw::config::kMaxValueBytes, "values are bounded");
    FUZZ_CHECK(c.get(fw::to_upper(key)) == value, "keys match case-insensitively");
    const std::string source = c.source(key);
    // Only a FIRMWARED_* name is an environment source: the environment text may itself
    // hold a line named like a file source ("/fuzz/firmwared.conf:2=...").
    const bool from_env = fw::starts_with(source, fw::config::kEnvPrefix) && env.count(source) != 0;
    FUZZ_CHECK(
        source == "default" || from_env || fw::starts_with(source, std::string(kOrigin) + ":"),
        "a value comes from the default, the file or the environment");
    if (from_env) FUZZ_CHECK(env.at(source) == *value, "an environment value is kept as is");
    if (source != "default" && !from_env) {
      const unsigned long line = std::strtoul(source.c_str() + kOrigin.size() + 1, nullptr, 10);
      FUZZ_CHECK(line >= 1 && line <= lines, "a file value names its line");
    }
  }
  FUZZ_CHECK(!c.get("no_such_key").has_value(), "unknown keys have no value");
  (void)c.log_level();
  (void)c.socket_path();
  (void)c.disable_apparmor();
  (void)c.net_first_two_bytes();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> env;
  if (const size_t at = input.find(kEnvMarker); at != std::string_view::npos) {
    env = parse_env(input.substr(at + kEnvMarker.size()));
    input = input.substr(0, at + 1);
  }
  auto config = fw::config::Config::parse(input, kOrigin, env);
  if (!config.ok()) {
    FUZZ_CHECK(config.error().code == EINVAL, "a refused configuration is EINVAL");
    FUZZ_CHECK(!config.error().message.empty(), "a refusal says why");
    return 0;
  }
  // Lines of the file as ini.cc counts them (a last line without '\n' counts).
  unsigned long lines = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == '\n' || i + 1 == input.size()) ++lines;
  }
  check_accepted(*config, env, lines);
  return 0;
}
