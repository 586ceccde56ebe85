#include "net-helpers/args.h"

#include "net-helpers/nft_rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <map>
#include <string_view>

namespace fw::net {

const char kUsageText[] =
    "usage: net_hook create (--netns PATH | --pid PID) --host-if NAME --inner-if NAME\n"
    "                       --host-addr A.B.C.D/N --inner-addr A.B.C.D/N\n"
    "       net_hook steal (--netns PATH | --pid PID) --iface NAME [--new-name NAME]\n"
    "                      [--addr A.B.C.D/N]\n"
    "       net_hook release (--netns PATH | --pid PID) --iface NAME [--host-name NAME]\n"
    "                        [--missing-ok]\n"
    "       net_hook clean --host-if NAME\n"
    "       net_hook filter --table firmwared_WORD --host-if NAME --host-addr A.B.C.D/N\n"
    "                       --access (none | all | 'tcp:PORT udp:FIRST-LAST ...')\n"
    "       net_hook unfilter --table firmwared_WORD --host-if NAME\n"
    "       net_hook sweep --table firmwared_WORD [--keep 'NAME NAME ...']\n"
    "       net_hook serve\n"
    "       net_hook --help | --version\n";

const char kHelpText[] =
    "net_hook: the network helper of firmwared (see docs/net-helper.md).\n"
    "\n"
    "  create   create a veth pair: host end --host-if in this namespace, peer --inner-if\n"
    "           born inside the target namespace; address both, set both and 'lo' up.\n"
    "  steal    move host interface --iface into the namespace, rename it to --new-name,\n"
    "           address it with --addr, set it up.\n"
    "  release  move --iface from the namespace back to this one, renamed --host-name, down;\n"
    "           with --missing-ok an absent interface or namespace is not an error.\n"
    "  clean    delete the host veth end --host-if (and so the pair); absent is success.\n"
    "  filter   install the nftables filter of traffic arriving on --host-if in table inet\n"
    "           --table: what it may reach on the host (--access); 'all' removes it.\n"
    "  unfilter remove that filter (and the table with its last filter); absent is success.\n"
    "  sweep    remove every filter of --table but those of the --keep interfaces.\n"
    "  serve    answer requests (the arguments of an action, one per line) on stdin until\n"
    "           it closes: how firmwared runs the helper, one process for all requests.\n"
    "\n"
    "The target namespace is --netns PATH (/proc/PID/ns/net, a bind-mounted nsfs file, or\n"
    "/proc/self/fd/N for an inherited descriptor) or --pid PID (/proc/PID/ns/net).\n"
    "Values may also be given as --flag=VALUE.\n"
    "Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.\n"
    "\n";

namespace {

struct FlagSpec {
  std::string_view name;
  bool takes_value;
};

constexpr std::array kFlags = {
    FlagSpec{"netns", true},     FlagSpec{"pid", true},         FlagSpec{"host-if", true},
    FlagSpec{"inner-if", true},  FlagSpec{"host-addr", true},   FlagSpec{"inner-addr", true},
    FlagSpec{"iface", true},     FlagSpec{"new-name", true},    FlagSpec{"addr", true},
    FlagSpec{"host-name", true}, FlagSpec{"missing-ok", false}, FlagSpec{"table", true},
    FlagSpec{"access", true},    FlagSpec{"keep", true},
};

// The flags each action accepts (others are usage errors).
std::vector<std::string_view> allowed_flags(Action action) {
  switch (action) {
    case Action::kCreate:
      return {"netns", "pid", "host-if", "inner-if", "host-addr", "inner-addr"};
    case Action::kSteal:
      return {"netns", "pid", "iface", "new-name", "addr"};
    case Action::kRelease:
      return {"netns", "pid", "iface", "host-name", "missing-ok"};
    case Action::kClean:
      return {"host-if"};
    case Action::kFilter:
      return {"table", "host-if", "host-addr", "access"};
    case Action::kUnfilter:
      return {"table", "host-if"};
    case Action::kSweep:
      return {"table", "keep"};
  }
  return {};
}

Error usage(std::string message) { return make_error(EINVAL, std::move(message)); }

Result<Action> parse_action(const std::string& word) {
  if (word == "create") return Action::kCreate;
  if (word == "steal") return Action::kSteal;
  if (word == "release") return Action::kRelease;
  if (word == "clean") return Action::kClean;
  if (word == "filter") return Action::kFilter;
  if (word == "unfilter") return Action::kUnfilter;
  if (word == "sweep") return Action::kSweep;
  return usage("unknown action '" + word +
               "' (expected create, steal, release, clean, filter, unfilter or sweep)");
}

using FlagMap = std::map<std::string, std::string, std::less<>>;

// Collects `--name VALUE`, `--name=VALUE` and `--flag` into a map; rejects unknown,
// repeated and valueless flags and anything positional.
Result<FlagMap> collect_flags(Action action, const std::vector<std::string>& args) {
  const auto allowed = allowed_flags(action);
  FlagMap flags;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      return usage("unexpected argument '" + arg + "' (arguments are named: --flag VALUE)");
    }
    const size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    auto spec = std::find_if(kFlags.begin(), kFlags.end(),
                             [&](const FlagSpec& f) { return f.name == name; });
    if (spec == kFlags.end() || std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return usage(std::string("unknown option --") + name + " for " + action_name(action));
    }
    if (flags.count(name) != 0) return usage("--" + name + " given twice");
    std::string value;
    if (!spec->takes_value) {
      if (eq != std::string::npos) return usage("--" + name + " takes no value");
    } else if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size() && args[i + 1].compare(0, 2, "--") != 0) {
      value = args[++i];
    } else {
      return usage("--" + name + " needs a value");
    }
    if (spec->takes_value && value.empty()) return usage("--" + name + " has an empty value");
    flags.emplace(std::move(name), std::move(value));
  }
  return flags;
}

Status take_ifname(const FlagMap& flags, std::string_view name, bool required, std::string* out) {
  auto it = flags.find(name);
  if (it == flags.end()) {
    return required ? usage("--" + std::string(name) + " is required") : Status();
  }
  const std::string why = check_ifname(it->second);
  if (!why.empty()) {
    return usage("--" + std::string(name) + " '" + it->second + "': " + why);
  }
  *out = it->second;
  return {};
}

Status take_cidr(const FlagMap& flags, std::string_view name, bool required,
                 std::optional<Cidr>* out) {
  auto it = flags.find(name);
  if (it == flags.end()) {
    return required ? usage("--" + std::string(name) + " is required") : Status();
  }
  auto cidr = parse_cidr(it->second);
  if (!cidr) return usage("--" + std::string(name) + " " + cidr.error().message);
  *out = std::move(*cidr);
  return {};
}

// --netns PATH or --pid PID, exactly one.
Status take_netns(const FlagMap& flags, std::string* out) {
  auto netns = flags.find("netns");
  auto pid = flags.find("pid");
  if (netns != flags.end() && pid != flags.end()) {
    return usage("--netns and --pid are exclusive");
  }
  if (netns != flags.end()) {
    *out = netns->second;
    return {};
  }
  if (pid == flags.end()) return usage("the namespace is required: --netns PATH or --pid PID");
  const std::string& s = pid->second;
  // A decimal pid without sign or leading zero, at most PID_MAX_LIMIT (2^22, proc(5)).
  const bool digits = std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || s[0] == '0' || s.size() > 7 || std::stol(s) > 4194304) {
    return usage("--pid '" + s + "': not a process id (decimal, 1..4194304)");
  }
  *out = "/proc/" + s + "/ns/net";
  return {};
}

Status take_table(const FlagMap& flags, std::string* out) {
  auto it = flags.find("table");
  if (it == flags.end()) return usage("--table is required");
  const std::string why = check_table_name(it->second);
  if (!why.empty()) return usage("--table '" + it->second + "': " + why);
  *out = it->second;
  return {};
}

// An interface whose name goes into nftables chain names.
Status take_nft_ifname(const FlagMap& flags, std::string* out) {
  FW_TRY(take_ifname(flags, "host-if", true, out));
  const std::string why = check_nft_word(*out);
  return why.empty() ? Status() : usage("--host-if '" + *out + "': " + why);
}

Status take_keep(const FlagMap& flags, std::set<std::string>* out) {
  auto it = flags.find("keep");
  if (it == flags.end()) return {};
  const std::string& v = it->second;
  size_t i = 0;
  while (i < v.size()) {
    size_t end = v.find_first_of(" \t", i);
    if (end == std::string::npos) end = v.size();
    if (end > i) {
      const std::string name = v.substr(i, end - i);
      const std::string why = check_nft_word(name);
      if (!why.empty()) return usage("--keep '" + name + "': " + why);
      out->insert(name);
    }
    i = end + 1;
  }
  return {};
}

Result<Options> build_options(Action action, const FlagMap& flags) {
  Options o;
  o.action = action;
  std::optional<Cidr> cidr;
  switch (action) {
    case Action::kCreate:
      FW_TRY(take_netns(flags, &o.netns_path));
      FW_TRY(take_ifname(flags, "host-if", true, &o.host_if));
      FW_TRY(take_ifname(flags, "inner-if", true, &o.inner_if));
      FW_TRY(take_cidr(flags, "host-addr", true, &cidr));
      o.host_addr = *cidr;
      FW_TRY(take_cidr(flags, "inner-addr", true, &cidr));
      o.inner_addr = *cidr;
      if (o.host_addr.addr == o.inner_addr.addr) {
        return usage("--host-addr and --inner-addr are the same address");
      }
      break;
    case Action::kSteal:
      FW_TRY(take_netns(flags, &o.netns_path));
      FW_TRY(take_ifname(flags, "iface", true, &o.iface));
      FW_TRY(take_ifname(flags, "new-name", false, &o.new_name));
      FW_TRY(take_cidr(flags, "addr", false, &o.addr));
      break;
    case Action::kRelease:
      FW_TRY(take_netns(flags, &o.netns_path));
      FW_TRY(take_ifname(flags, "iface", true, &o.iface));
      FW_TRY(take_ifname(flags, "host-name", false, &o.host_name));
      o.missing_ok = flags.count("missing-ok") != 0;
      break;
    case Action::kClean:
      FW_TRY(take_ifname(flags, "host-if", true, &o.host_if));
      break;
    case Action::kFilter: {
      FW_TRY(take_table(flags, &o.table));
      FW_TRY(take_nft_ifname(flags, &o.host_if));
      FW_TRY(take_cidr(flags, "host-addr", true, &cidr));
      o.host_addr = *cidr;
      auto it = flags.find("access");
      if (it == flags.end()) return usage("--access is required");
      auto access = parse_host_access(it->second);
      if (!access) return usage("--access " + access.error().message);
      o.access = *access;
      break;
    }
    case Action::kUnfilter:
      FW_TRY(take_table(flags, &o.table));
      FW_TRY(take_nft_ifname(flags, &o.host_if));
      break;
    case Action::kSweep:
      FW_TRY(take_table(flags, &o.table));
      FW_TRY(take_keep(flags, &o.keep));
      break;
  }
  return o;
}

}  // namespace

const char* action_name(Action action) {
  switch (action) {
    case Action::kCreate:
      return "create";
    case Action::kSteal:
      return "steal";
    case Action::kRelease:
      return "release";
    case Action::kClean:
      return "clean";
    case Action::kFilter:
      return "filter";
    case Action::kUnfilter:
      return "unfilter";
    case Action::kSweep:
      return "sweep";
  }
  return "?";
}

std::string check_ifname(const std::string& name) {
  // The kernel's dev_valid_name() rules (net/core/dev.c) plus no control characters.
  if (name.empty() || name.size() > 15) return "must be 1 to 15 bytes long";
  if (name == "." || name == "..") return "must not be '.' or '..'";
  for (unsigned char c : name) {
    if (c == '/' || c == ':') return "must not contain '/' or ':'";
    if (c <= ' ' || c == 0x7f) return "must not contain whitespace or control characters";
  }
  return "";
}

Result<Cidr> parse_cidr(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return usage("'" + text + "': expected A.B.C.D/N");
  const std::string ip = text.substr(0, slash);
  const std::string len = text.substr(slash + 1);
  Cidr c;
  c.text = text;
  // inet_pton(3) with AF_INET takes exactly a dotted quad, and glibc rejects leading zeros.
  if (inet_pton(AF_INET, ip.c_str(), &c.addr) != 1) {
    return usage("'" + text + "': '" + ip + "' is not an IPv4 address (A.B.C.D)");
  }
  const bool digits =
      !len.empty() && len.size() <= 2 &&
      std::all_of(len.begin(), len.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (!digits || (len.size() == 2 && len[0] == '0')) {
    return usage("'" + text + "': the prefix length must be a number from 1 to 32");
  }
  c.prefix = std::stoi(len);
  if (c.prefix < 1 || c.prefix > 32) {
    return usage("'" + text + "': the prefix length must be a number from 1 to 32");
  }
  return c;
}

Result<Command> parse_args(const std::vector<std::string>& args) {
  Command cmd;
  // --help and --version win wherever they appear, like most tools.
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      cmd.kind = Command::Kind::kHelp;
      return cmd;
    }
  }
  if (args.size() == 1 && args[0] == "--version") {
    cmd.kind = Command::Kind::kVersion;
    return cmd;
  }
  if (args.empty()) return usage("missing action");
  if (args[0] == "serve") {
    if (args.size() > 1) return usage("serve takes no argument, got '" + args[1] + "'");
    cmd.kind = Command::Kind::kServe;
    return cmd;
  }
  if (args[0].compare(0, 1, "-") == 0) {
    return usage("the action (create, steal, release, clean, ...) must come first, got '" +
                 args[0] + "'");
  }
  FW_ASSIGN_OR_RETURN(const Action action, parse_action(args[0]));
  FW_ASSIGN_OR_RETURN(const FlagMap flags, collect_flags(action, args));
  FW_ASSIGN_OR_RETURN(cmd.options, build_options(action, flags));
  return cmd;
}

}  // namespace fw::net
