#include "firmwared/base/signals.h"

#include <signal.h>

#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <string>

namespace fw {

namespace {

struct Named {
  const char* name;
  int sig;
};

constexpr std::array<Named, 31> kNames = {{
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},
}};

// 1 to 3 decimal digits, no sign.
std::optional<int> parse_int(std::string_view s) {
  int v = 0;
  if (s.empty() || s.size() > 3 || s[0] < '0' || s[0] > '9') return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<int> parse_signal(std::string_view text) {
  const Error bad = make_error(
      EINVAL, "unknown signal '" + std::string(text.substr(0, 64)) +
                  "': a name such as SIGTERM, USR2 or SIGRTMIN+3, or a number from 1 to " +
                  std::to_string(SIGRTMAX));
  if (auto n = parse_int(text)) {
    if (*n < 1 || *n > SIGRTMAX) return bad;
    return *n;
  }
  std::string up;
  for (char c : text) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up.rfind("SIG", 0) == 0) up.erase(0, 3);
  if (auto n = parse_int(up)) {  // "SIG32", as signal_name() writes a signal without a name
    if (*n < 1 || *n > SIGRTMAX) return bad;
    return *n;
  }
  for (const Named& n : kNames) {
    if (up == n.name) return n.sig;
  }
  if (up == "RTMIN") return SIGRTMIN;
  if (up == "RTMAX") return SIGRTMAX;
  if (up.rfind("RTMIN+", 0) == 0) {
    auto n = parse_int(std::string_view(up).substr(6));
    if (!n || SIGRTMIN + *n > SIGRTMAX) return bad;
    return SIGRTMIN + *n;
  }
  if (up.rfind("RTMAX-", 0) == 0) {
    auto n = parse_int(std::string_view(up).substr(6));
    if (!n || SIGRTMAX - *n < SIGRTMIN) return bad;
    return SIGRTMAX - *n;
  }
  return bad;
}

std::string signal_name(int sig) {
  for (const Named& n : kNames) {
    if (n.sig == sig) return std::string("SIG") + n.name;
  }
  if (sig == SIGRTMIN) return "SIGRTMIN";
  if (sig > SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "SIG" + std::to_string(sig);
}

int qemu_user_host_signal(int guest_sig) {
  if (guest_sig < SIGRTMIN || guest_sig + 2 > SIGRTMAX) return guest_sig;
  return guest_sig + 2;
}

}  // namespace fw
