#include "firmwared/config/rules.h"

#include <sys/un.h>

#include <algorithm>
#include <array>

#include "firmwared/base/host_access.h"

namespace fw::config::internal {
namespace {

// Sorted by name: keys() and CONFIG_KEYS list them in this order.
constexpr std::array kKeys = {
    KeySpec{"apparmor_profile", Rule::kPath, nullptr,
            "AppArmor profile template from which each instance's profile is generated"},
    KeySpec{"cgroup", Rule::kCgroupName, "firmwared",
            "name of the daemon's directory in each cgroup hierarchy (below its own cgroup), "
            "which holds one cgroup per running instance; daemons sharing a host need "
            "distinct names"},
    KeySpec{"client_idle_timeout", Rule::kSeconds, "300",
            "seconds after which a connection with no request in progress, no subscription "
            "and no console relay is closed"},
    KeySpec{"client_line_timeout", Rule::kSeconds, "10",
            "seconds within which a client must complete a request line it has started"},
    KeySpec{"console_log_max", Rule::kLogSize, "1048576",
            "bytes after which an instance's console.log is rotated to console.log.1 (at the "
            "next line end, at twice this within a line; also when its line index reaches "
            "twice this); both generations with their indexes stay below 8 times this"},
    KeySpec{"container_interface", Rule::kIfaceName, "eth0",
            "name of the network interface seen inside each instance"},
    KeySpec{"database_path", Rule::kPath, "/var/lib/firmwared/catalogue.db",
            "SQLite catalogue of the firmwares and instances"},
    KeySpec{"disable_apparmor", Rule::kBool, "n",
            "y: do not confine instances with AppArmor, and do not warn when the kernel lacks it"},
    KeySpec{"dump_profile", Rule::kBool, "n", "y: log each generated AppArmor profile"},
    KeySpec{"host_access", Rule::kHostAccess, "none",
            "what a new instance may reach on the host through its veth: none, all, or "
            "ports such as 'tcp:22 udp:53' (at its host_ip only)"},
    KeySpec{"host_interface_prefix", Rule::kIfacePrefix, "fd_veth",
            "prefix of the host end of each instance's veth pair; the instance id is appended"},
    KeySpec{"log_level", Rule::kLogLevel, "info", "most verbose level of the daemon's log"},
    KeySpec{"max_connections", Rule::kConnections, "512",
            "most client connections at once; the last 32 are kept for root"},
    KeySpec{"max_connections_per_uid", Rule::kPerUid, "64",
            "most client connections at once per non-root uid"},
    KeySpec{"mount_path", Rule::kPath, "/var/lib/firmwared/mount_points",
            "directory holding the instances' workspaces (ro, rw, work, union)"},
    KeySpec{"net_first_two_bytes", Rule::kNetPrefix, "10.202.",
            "first two bytes of the instances' IPv4 networks: instance <id> uses "
            "<bytes><id>.0/24"},
    KeySpec{"net_hook", Rule::kPath, nullptr,
            "helper program that creates and configures the instances' network interfaces"},
    KeySpec{"post_prepare_instance_hook", Rule::kOptionalPath, "",
            "program run after an instance is prepared; empty: none"},
    KeySpec{"premade_sandbox", Rule::kBool, "y",
            "y: a ready instance keeps a sandbox made ahead of its START (monitor, namespaces, "
            "network, /dev); n: START makes it"},
    KeySpec{"prevent_removal", Rule::kBool, "n",
            "y: keep an instance's workspace (its overlay diff) when it is dropped"},
    KeySpec{"repository_path", Rule::kPath, "/var/lib/firmwared/firmwares",
            "directory where imported firmware images are stored"},
    KeySpec{"resources_dir", Rule::kPath, nullptr,
            "directory of the shipped resources (word lists for instance names, ...)"},
    KeySpec{"socket_path", Rule::kSocketPath, "/run/firmwared.sock",
            "Unix socket on which the daemon accepts clients"},
    KeySpec{"stealable_interfaces", Rule::kIfaceList, "",
            "host interfaces that members of group firmwared may give to an instance "
            "(stolen_interface); root may steal any; empty: none"},
    KeySpec{"userns", Rule::kUserns, "auto",
            "default of the instances' userns property: auto runs an instance in its own user "
            "namespace unless AppArmor confines it, y always, n never (privileged mode)"},
    KeySpec{"userns_pool", Rule::kIdPool, "1879048192:2048",
            "host ids given to instances in a user namespace, as FIRST:BLOCKS: BLOCKS ranges "
            "of 65536 ids from FIRST (a multiple of 65536), one per instance; must not overlap "
            "/etc/subuid or /etc/subgid"},
    KeySpec{"verbose_hook_scripts", Rule::kBool, "n",
            "y: hook scripts trace the commands they run"},
};

bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool is_path(std::string_view v) {
  return !v.empty() && v[0] == '/' && v.find('\0') == std::string_view::npos &&
         v.find('\n') == std::string_view::npos;
}

bool is_iface_prefix(std::string_view v) {
  if (v.empty() || v.size() > 11) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool is_cgroup_name(std::string_view v) {
  if (v.empty() || v.size() > 64 || v[0] == '.') return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// The kernel's dev_valid_name() (net/core/dev.c) rejects these; IFNAMSIZ is 16 with the NUL.
bool is_iface_name(std::string_view v) {
  if (v.empty() || v.size() > 15 || v == "." || v == "..") return false;
  return std::none_of(v.begin(), v.end(),
                      [](char c) { return c == '/' || c == ':' || c == ' ' || is_control(c); });
}

// Consumes "<byte>." from the front of `v`: 0..255 in decimal, no leading zero.
bool take_byte_and_dot(std::string_view& v) {
  size_t dot = v.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 3) return false;
  std::string_view digits = v.substr(0, dot);
  if (digits.size() > 1 && digits[0] == '0') return false;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  v.remove_prefix(dot + 1);
  return n <= 255;
}

bool is_iface_list(std::string_view v) {
  for (const std::string& name : split_iface_list(v)) {
    if (!is_iface_name(name)) return false;
  }
  return true;
}

bool is_net_prefix(std::string_view v) {
  return take_byte_and_dot(v) && take_byte_and_dot(v) && v.empty();
}

// A decimal integer in [lo, hi] without sign or leading zero.
bool is_count(std::string_view v, long lo, long hi) {
  if (v.empty() || v.size() > 10 || (v.size() > 1 && v[0] == '0')) return false;
  if (!std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  const long n = parse_count(v);
  return n >= lo && n <= hi;
}

}  // namespace

std::span<const KeySpec> key_specs() { return kKeys; }

std::vector<std::string> split_iface_list(std::string_view value) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : value) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

const KeySpec* find_key(std::string_view name) {
  for (const KeySpec& k : kKeys) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

namespace {

// FIRST:BLOCKS (kIdPool). 4294901760 = 65535 * 65536: the last block holds (uid_t)-1, the
// invalid id, and 65534-style overflow ids of 32-bit interfaces live below it.
bool is_id_pool(std::string_view v) {
  const auto colon = v.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view a = v.substr(0, colon), b = v.substr(colon + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 10 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(a) || !digits(b)) return false;
  uint64_t first = 0, blocks = 0;
  for (char c : a) first = first * 10 + static_cast<uint64_t>(c - '0');
  for (char c : b) blocks = blocks * 10 + static_cast<uint64_t>(c - '0');
  return first >= 65536 && first % 65536 == 0 && blocks >= 1 &&
         first + blocks * 65536 <= 4294901760ULL;
}

}  // namespace

bool satisfies(Rule rule, std::string_view value) {
  switch (rule) {
    case Rule::kBool:
      return value == "y" || value == "n";
    case Rule::kIfacePrefix:
      return is_iface_prefix(value);
    case Rule::kCgroupName:
      return is_cgroup_name(value);
    case Rule::kIfaceName:
      return is_iface_name(value);
    case Rule::kIfaceList:
      return is_iface_list(value);
    case Rule::kNetPrefix:
      return is_net_prefix(value);
    case Rule::kPath:
      return is_path(value);
    case Rule::kSocketPath:
      // bind(2) needs the path and its NUL in sockaddr_un.sun_path (unix(7)).
      return is_path(value) && value.size() < sizeof(sockaddr_un::sun_path);
    case Rule::kOptionalPath:
      return value.empty() || is_path(value);
    case Rule::kLogLevel:
      return value == "error" || value == "warning" || value == "notice" || value == "info" ||
             value == "debug";
    case Rule::kSeconds:
      return is_count(value, 1, 86400);
    case Rule::kConnections:
      return is_count(value, 64, 65536);
    case Rule::kPerUid:
      return is_count(value, 1, 65536);
    case Rule::kLogSize:
      return is_count(value, 4096, 1073741824);
    case Rule::kUserns:
      return value == "auto" || value == "y" || value == "n";
    case Rule::kIdPool:
      return is_id_pool(value);
    case Rule::kHostAccess:
      return parse_host_access(value).ok();
  }
  return false;
}

std::string rule_text(Rule rule) {
  switch (rule) {
    case Rule::kBool:
      return "y or n";
    case Rule::kIfacePrefix:
      return "1 to 11 characters among A-Z a-z 0-9 _ -";
    case Rule::kCgroupName:
      return "1 to 64 characters among A-Z a-z 0-9 _ - . (not starting with '.')";
    case Rule::kIfaceName:
      return "1 to 15 characters without '/', ':', whitespace or control characters, "
             "and not '.' or '..'";
    case Rule::kIfaceList:
      return "interface names separated by commas or spaces, each 1 to 15 characters without "
             "'/', ':' or control characters, and not '.' or '..'";
    case Rule::kNetPrefix:
      return "two decimal numbers 0 to 255 without leading zeros, each followed by a dot "
             "(like 10.202.)";
    case Rule::kPath:
      return "an absolute path without NUL or newline";
    case Rule::kSocketPath:
      return "an absolute path without NUL or newline, shorter than " +
             std::to_string(sizeof(sockaddr_un::sun_path)) + " bytes";
    case Rule::kOptionalPath:
      return "empty or an absolute path without NUL or newline";
    case Rule::kLogLevel:
      return "one of error, warning, notice, info, debug";
    case Rule::kSeconds:
      return "a whole number of seconds from 1 to 86400";
    case Rule::kConnections:
      return "a whole number from 64 to 65536";
    case Rule::kPerUid:
      return "a whole number from 1 to 65536";
    case Rule::kLogSize:
      return "a whole number of bytes from 4096 to 1073741824 (1 GiB)";
    case Rule::kUserns:
      return "auto, y or n";
    case Rule::kIdPool:
      return "FIRST:BLOCKS, two whole numbers: FIRST a multiple of 65536 from 65536, BLOCKS "
             "from 1, and FIRST + BLOCKS * 65536 at most 4294901760 (ids above are reserved)";
    case Rule::kHostAccess:
      return host_access_rule();
  }
  return "";
}

IdPool parse_id_pool(std::string_view value) {
  IdPool p;
  const auto colon = value.find(':');
  uint64_t first = 0, blocks = 0;
  for (char c : value.substr(0, colon)) first = first * 10 + static_cast<uint64_t>(c - '0');
  for (char c : value.substr(colon + 1)) blocks = blocks * 10 + static_cast<uint64_t>(c - '0');
  p.first = static_cast<uint32_t>(first);
  p.blocks = static_cast<uint32_t>(blocks);
  return p;
}

long parse_count(std::string_view value) {
  long n = 0;
  for (char c : value) n = n * 10 + (c - '0');
  return n;
}

}  // namespace fw::config::internal
