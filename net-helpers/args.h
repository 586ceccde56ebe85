#pragma once
// Command line of net_hook: named arguments only, every value validated before any kernel
// object is touched. The interface is documented in docs/net-helper.md.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <set>

#include "firmwared/base/host_access.h"
#include "firmwared/base/result.h"

namespace fw::net {

enum class Action { kCreate, kSteal, kRelease, kClean, kFilter, kUnfilter, kSweep };

// An IPv4 interface address with its prefix length ("10.202.3.1/24").
struct Cidr {
  uint32_t addr = 0;  // network byte order
  int prefix = 0;     // 1..32
  std::string text;   // as given, for messages
};

struct Options {
  Action action = Action::kClean;
  // The target network namespace: --netns PATH, or /proc/PID/ns/net for --pid PID.
  std::string netns_path;
  std::string host_if;         // create, clean, filter, unfilter
  std::string inner_if;        // create
  Cidr host_addr;              // create, filter
  Cidr inner_addr;             // create
  std::string iface;           // steal (host name), release (name inside)
  std::string new_name;        // steal: name inside ("" keeps the host name)
  std::optional<Cidr> addr;    // steal
  std::string host_name;       // release: name on the host ("" keeps the inside name)
  bool missing_ok = false;     // release
  std::string table;           // filter, unfilter, sweep: "firmwared_<word>"
  HostAccess access;           // filter
  std::set<std::string> keep;  // sweep: host ends whose filters stay
  // FIRMWARED_OWNER (not an argument: the environment of an exec, a field of a served
  // request): the alias `create` gives the host end, and the only owner `clean` deletes.
  std::string owner;
};

// What the command line asks for: run an action, print help or the version, or serve
// requests on stdin (`net_hook serve`, firmwared/base/helper_wire.h).
struct Command {
  enum class Kind { kRun, kHelp, kVersion, kServe } kind = Kind::kRun;
  Options options;
};

// Parses argv[1..]. A usage error (unknown, repeated, missing or invalid argument) is an
// EINVAL Error whose message names the argument and the rule.
Result<Command> parse_args(const std::vector<std::string>& args);

// The action's name as typed on the command line ("create").
const char* action_name(Action action);

// The full help text (--help) and the short synopsis printed after a usage error.
extern const char kHelpText[];
extern const char kUsageText[];

// Returns "" when `name` is a valid interface name (1..15 bytes, no '/', ':', whitespace or
// control character, not "." or ".."), otherwise the rule it breaks.
std::string check_ifname(const std::string& name);

// Parses "A.B.C.D/N" (dotted quad without leading zeros, N in 1..32).
Result<Cidr> parse_cidr(const std::string& text);

}  // namespace fw::net
