#pragma once
// The daemon's configuration (firmwared.conf(5)): an INI file whose keys live
// in section [firmwared], overridden by FIRMWARED_<KEY> environment variables.
// Precedence: defaults < file < environment. Every value is validated at load.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "firmwared/base/log.h"
#include "firmwared/base/result.h"

namespace fw::config {

// The file read when the daemon is given no path; its absence means "all defaults".
inline constexpr std::string_view kDefaultPath = "/etc/firmwared.conf";
// The prefix of the environment variables overriding keys (FIRMWARED_SOCKET_PATH, ...).
inline constexpr std::string_view kEnvPrefix = "FIRMWARED_";
// No value may be longer than this many bytes.
inline constexpr size_t kMaxValueBytes = 4096;

// The description of one key, as listed by CONFIG_KEYS and firmwared.conf(5).
struct KeyInfo {
  std::string name;           // lower case, e.g. "socket_path"
  std::string default_value;  // the value used when neither file nor environment sets it
  std::string description;    // one sentence: what the key controls
  std::string rule;           // what a valid value is, completing "must be ..."
  // How typed replies (GET_CONFIG) give the value: y/n keys as booleans, counts as numbers.
  enum class Type { kString, kInteger, kBoolean } type = Type::kString;
};

// Returns the description of `name` (lower case), nullptr when unknown.
const KeyInfo* find_key_info(std::string_view name);

// Returns every key, sorted by name. Shipped-file defaults are resolved once, on first call.
const std::vector<KeyInfo>& keys();

// Where the shipped files are by default, for an executable living in `exe_dir`.
struct ShippedPaths {
  std::string resources_dir;     // the word lists
  std::string apparmor_profile;  // the instance profile template
  std::string net_hook;          // the default network helper
  std::string monitor;           // firmwared-monitor
  std::string archive;           // firmwared-archive (EXPORT's tar writer)
};

// Where the build put things: its trees, and the install directories it was configured
// with (CMake's GNUInstallDirs). A directory is relative to `prefix` ("sbin",
// "share") or absolute when configured so ("/usr/share").
struct Layout {
  std::string source_dir;  // the build tree: <source>/resources, ...
  std::string binary_dir;  // <build>/net-helpers/net_hook, <build>/firmwared/...
  std::string prefix;      // CMAKE_INSTALL_PREFIX ("/usr")
  std::string sbindir;     // CMAKE_INSTALL_SBINDIR, where firmwared is installed
  std::string datadir;     // CMAKE_INSTALL_DATADIR
  std::string libexecdir;  // CMAKE_INSTALL_LIBEXECDIR
};
// The layout this build was configured with.
const Layout& configured_layout();

// The shipped files for an executable in `exe_dir` (canonical, /proc/self/exe's directory):
//  - inside the build tree (`binary_dir`, or its real path): the tree's own files
//    (<source>/resources, <source>/apparmor-profiles/firmwared-instance,
//    <build>/net-helpers/net_hook, <build>/firmwared/firmwared-{monitor,archive});
//  - in <P>/<sbindir> for some P, sbindir being relative (an install relocated with
//    `cmake --install --prefix P`, or DESTDIR contents moved elsewhere): below P,
//    <P>/<datadir>/firmwared/resources, <P>/<datadir>/firmwared/apparmor/firmwared-instance,
//    <P>/<libexecdir>/firmwared/{net_hook,firmwared-monitor,firmwared-archive};
//  - anywhere else: the same below the configured prefix.
// A directory configured absolute stays where it was configured. A pure function: it does
// not look at the file system.
ShippedPaths shipped_paths(std::string_view exe_dir, const Layout& layout);
// shipped_paths(exe_dir, configured_layout()), the build-tree test also trying the build
// directory's real path (the configured one may go through a symlink).
ShippedPaths shipped_paths(std::string_view exe_dir);
// shipped_paths(executable_dir()), computed once: what the running program uses.
const ShippedPaths& running_shipped_paths();

// Returns a copy of the process environment (environ) as name -> value.
std::map<std::string, std::string> current_environment();

class Config {
 public:
  // Reads the INI file at `path` (kDefaultPath when empty), then applies `env`, then
  // validates. A missing explicit file is ENOENT; a missing kDefaultPath means defaults;
  // other read failures carry their errno. Syntax errors, unknown keys, keys outside
  // [firmwared] and invalid values are EINVAL with a message naming file, line, key, value.
  static Result<Config> load(const std::string& path,
                             const std::map<std::string, std::string>& env);
  // Same as load() on `ini_text`; `origin` names the text in messages and sources.
  static Result<Config> parse(std::string_view ini_text, std::string_view origin,
                              const std::map<std::string, std::string>& env);

  // Returns the value of `key` (matched case-insensitively), nullopt for an unknown key.
  std::optional<std::string> get(std::string_view key) const;
  // Returns every key name, sorted.
  std::vector<std::string> key_names() const;
  // Returns where the value of `key` came from: "default", "<file>:<line>" or the
  // environment variable's name ("FIRMWARED_SOCKET_PATH"); "" for an unknown key.
  std::string source(std::string_view key) const;

  const std::string& apparmor_profile() const { return value("apparmor_profile"); }
  int client_idle_timeout() const { return count("client_idle_timeout"); }
  int client_line_timeout() const { return count("client_line_timeout"); }
  const std::string& cgroup() const { return value("cgroup"); }
  // Bytes of console.log before it is rotated (4096..1 GiB).
  uint64_t console_log_max() const { return static_cast<uint64_t>(count("console_log_max")); }
  const std::string& container_interface() const { return value("container_interface"); }
  const std::string& database_path() const { return value("database_path"); }
  bool disable_apparmor() const { return flag("disable_apparmor"); }
  bool dump_profile() const { return flag("dump_profile"); }
  // The host_access of new instances: none, all or a port list (validated).
  const std::string& host_access() const { return value("host_access"); }
  const std::string& host_interface_prefix() const { return value("host_interface_prefix"); }
  log::Level log_level() const;
  int max_connections() const { return count("max_connections"); }
  int max_connections_per_uid() const { return count("max_connections_per_uid"); }
  const std::string& mount_path() const { return value("mount_path"); }
  const std::string& net_first_two_bytes() const { return value("net_first_two_bytes"); }
  const std::string& net_hook() const { return value("net_hook"); }
  // Empty when no hook is configured.
  const std::string& post_prepare_instance_hook() const {
    return value("post_prepare_instance_hook");
  }
  bool prevent_removal() const { return flag("prevent_removal"); }
  // Whether ready instances keep a pre-made sandbox (a standby monitor) for their START.
  bool premade_sandbox() const { return flag("premade_sandbox"); }
  const std::string& repository_path() const { return value("repository_path"); }
  const std::string& resources_dir() const { return value("resources_dir"); }
  const std::string& socket_path() const { return value("socket_path"); }
  // The interfaces non-root clients may steal (empty: none).
  std::vector<std::string> stealable_interfaces() const;
  // "auto", "y" or "n": the userns property of new instances.
  const std::string& userns() const { return value("userns"); }
  // The first host id of the pool and its number of 65,536-id blocks.
  uint32_t userns_pool_first() const;
  uint32_t userns_pool_blocks() const;
  bool verbose_hook_scripts() const { return flag("verbose_hook_scripts"); }

 private:
  struct Entry {
    std::string value;
    std::string source;
  };
  Config();
  const std::string& value(std::string_view key) const;
  bool flag(std::string_view key) const { return value(key) == "y"; }
  int count(std::string_view key) const;
  Status set_from_file(std::string_view ini_text, std::string_view origin);
  void set_from_env(const std::map<std::string, std::string>& env);
  Status validate() const;

  std::map<std::string, Entry, std::less<>> entries_;
};

// Creates mount_path, repository_path and the directory of database_path as root-owned 0700
// directories, with missing parents (0755). Nothing below them may be reachable by other
// users: an existing one with another owner or wider mode is fixed to root 0700,
// and the fix is logged; the database's directory is left alone (and a warning logged) when
// it is a shared system directory such as /var/lib. An existing non-directory is ENOTDIR
// naming it; other failures carry errno.
Status ensure_runtime_dirs(const Config& config);

}  // namespace fw::config
