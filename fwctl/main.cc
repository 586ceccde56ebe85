// fwctl: the command-line client of firmwared. Verbs are case-insensitive; outputs stay
// compatible with Parrot's fdc. Exit codes: 0 success, 1 daemon error or bad usage,
// 2 unknown verb, 3 daemon unreachable or timeout. Options are parsed by fwctl/options.cc
// from each verb's declaration (fwctl/verbs.cc).

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "firmwared/base/strings.h"
#include "firmwared/base/version.h"
#include "fwctl/complete.h"
#include "fwctl/options.h"
#include "fwctl/verbs.h"

namespace {

// Applies the global options given on the line to `ctx`; false (message printed) on a bad
// value.
bool apply_globals(const fwctl::Args& globals, fwctl::Context* ctx) {
  if (globals.has("json")) ctx->json = true;
  if (auto s = globals.value("socket")) ctx->socket_path = *s;
  if (auto t = globals.value("reply-timeout")) {
    if (!fwctl::parse_seconds(*t, &ctx->timeout)) {
      std::cerr << "fwctl: --reply-timeout '" << *t << "' is not a number of seconds\n";
      return false;
    }
    ctx->timeout_explicit = true;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  fwctl::Context ctx;
  const char* sock = std::getenv("FIRMWARED_SOCKET_PATH");
  ctx.socket_path = sock != nullptr && *sock != '\0' ? sock : "/run/firmwared.sock";
  if (const char* t = std::getenv("FWCTL_TIMEOUT"); t != nullptr && *t != '\0') {
    if (!fwctl::parse_seconds(t, &ctx.timeout)) {
      std::cerr << "fwctl: FWCTL_TIMEOUT='" << t << "' is not a number of seconds\n";
      return fwctl::kExitError;
    }
    ctx.timeout_explicit = true;
  }
  const std::vector<std::string> words(argv + 1, argv + argc);
  // The shells' completion scripts (completion/): hidden, never a verb.
  if (!words.empty() && words[0] == "__complete") {
    return fwctl::run_complete(ctx, {words.begin() + 1, words.end()});
  }
  fwctl::ParsedLine line;
  const size_t at = fwctl::parse_leading(words, &line);
  if (line.help()) {
    fwctl::print_overview(std::cout);
    return fwctl::kExitOk;
  }
  if (line.version()) {
    std::cout << "fwctl " FIRMWARED_VERSION "\n";
    return fwctl::kExitOk;
  }
  if (!line.error.empty()) {
    std::cerr << "fwctl: " << line.error << " (fwctl --help)\n";
    return fwctl::kExitError;
  }
  if (at >= words.size()) {
    fwctl::print_overview(std::cerr);
    return fwctl::kExitError;
  }
  line.verb = fw::to_lower(words[at]);
  const fwctl::Verb* v = fwctl::find_verb(line.verb);
  if (v == nullptr) {
    std::cerr << fwctl::unknown_verb_message(words[at]) << "\n";
    return fwctl::kExitUnknownVerb;
  }
  fwctl::parse_verb_words(v->syntax(), {words.begin() + static_cast<long>(at) + 1, words.end()},
                          &line);
  if (line.help()) {
    fwctl::print_verb_help(*v, std::cout);
    return fwctl::kExitOk;
  }
  if (line.version()) {
    std::cout << "fwctl " FIRMWARED_VERSION "\n";
    return fwctl::kExitOk;
  }
  if (!line.error.empty()) {
    std::cerr << "fwctl: " << v->name << ": " << line.error << "\nfwctl: usage: " << v->usage()
              << "\n";
    return v->usage_exit;
  }
  if (!apply_globals(line.globals, &ctx)) return v->usage_exit;
  return v->run(ctx, line.args);
}
