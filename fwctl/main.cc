// fwctl: the command-line client of firmwared. Verbs are case-insensitive; outputs stay
// compatible with Parrot's fdc. Exit codes: 0 success, 1 daemon error or bad usage,
// 2 unknown verb, 3 daemon unreachable or timeout.

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "firmwared/base/strings.h"
#include "firmwared/base/version.h"
#include "fwctl/verbs.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: fwctl [--json] [--socket PATH] [--timeout SECONDS] VERB [ARGS...]\n"
         "       fwctl --help | --version | help VERB\n\n"
         "Talks to firmwared over its socket (FIRMWARED_SOCKET_PATH, default "
         "/run/firmwared.sock).\nFWCTL_TIMEOUT sets the reply timeout in seconds (default 2; "
         "long commands wait without limit).\n\nVerbs:\n";
  for (const auto& v : fwctl::verbs()) {
    std::string name = v.name;
    name.resize(std::max<size_t>(name.size() + 2, 14), ' ');
    out << "  " << name << v.summary << "\n";
  }
  out << "\nExit status: 0 success, 1 daemon error or bad usage, 2 unknown verb,\n"
         "3 daemon unreachable or timeout.\n";
}

bool parse_seconds(const std::string& s, double* out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !(v >= 0) || v > 1e6) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  fwctl::Context ctx;
  const char* sock = std::getenv("FIRMWARED_SOCKET_PATH");
  ctx.socket_path = sock != nullptr && *sock != '\0' ? sock : "/run/firmwared.sock";
  if (const char* t = std::getenv("FWCTL_TIMEOUT"); t != nullptr && *t != '\0') {
    if (!parse_seconds(t, &ctx.timeout)) {
      std::cerr << "fwctl: FWCTL_TIMEOUT='" << t << "' is not a number of seconds\n";
      return 1;
    }
    ctx.timeout_explicit = true;
  }
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      ctx.json = true;
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    } else if (a == "--version") {
      std::cout << "fwctl " FIRMWARED_VERSION "\n";
      return 0;
    } else if ((a == "--socket" || a == "--timeout") && i + 1 < argc) {
      std::string v = argv[++i];
      if (a == "--socket") {
        ctx.socket_path = v;
      } else if (!parse_seconds(v, &ctx.timeout)) {
        std::cerr << "fwctl: --timeout '" << v << "' is not a number of seconds\n";
        return 1;
      } else {
        ctx.timeout_explicit = true;
      }
    } else if (fw::starts_with(a, "-") && a != "-") {
      std::cerr << "fwctl: unknown option '" << a << "' (fwctl --help)\n";
      return 1;
    } else {
      break;
    }
  }
  if (i >= argc) {
    usage(std::cerr);
    return 1;
  }
  const std::string verb = fw::to_lower(argv[i]);
  const fwctl::Verb* v = fwctl::find_verb(verb);
  if (v == nullptr) {
    std::cerr << "fwctl: unknown verb '" << argv[i] << "' (fwctl --help lists them)\n";
    return 2;
  }
  std::vector<std::string> args(argv + i + 1, argv + argc);
  return v->run(ctx, args);
}
