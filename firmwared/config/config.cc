#include "firmwared/config/config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <optional>
#include <set>

#include "firmwared/base/fd.h"
#include "firmwared/base/paths.h"
#include "firmwared/base/strings.h"
#include "firmwared/config/ini.h"
#include "firmwared/config/rules.h"

extern char** environ;

namespace fw::config {
namespace {

using internal::KeySpec;

constexpr std::string_view kSection = "firmwared";

std::string where(std::string_view origin, unsigned long line) {
  return std::string(origin) + ":" + std::to_string(line);
}

}  // namespace

namespace {

// `dir` below `base`, unless `dir` is absolute.
std::string under(const std::string& base, const std::string& dir) {
  if (!dir.empty() && dir[0] == '/') return dir;
  return (base == "/" ? std::string() : base) + "/" + dir;
}

// `path` without one trailing "/<suffix>" (whole components); nullopt when it does not end
// so. "/x/sbin" less "sbin" is "/x", "/sbin" less "sbin" is "/".
std::optional<std::string> strip_suffix_dir(std::string_view path, std::string_view suffix) {
  while (suffix.size() > 1 && suffix.back() == '/') suffix.remove_suffix(1);
  if (suffix.empty() || suffix[0] == '/' || path.size() <= suffix.size()) return std::nullopt;
  if (!path.ends_with(suffix) || path[path.size() - suffix.size() - 1] != '/') return std::nullopt;
  std::string_view base = path.substr(0, path.size() - suffix.size() - 1);
  return base.empty() ? std::string("/") : std::string(base);
}

}  // namespace

const Layout& configured_layout() {
  static const Layout kLayout{FW_SOURCE_DIR,      FW_BINARY_DIR,      FW_INSTALL_PREFIX,
                              FW_INSTALL_SBINDIR, FW_INSTALL_DATADIR, FW_INSTALL_LIBEXECDIR};
  return kLayout;
}

ShippedPaths shipped_paths(std::string_view exe_dir, const Layout& layout) {
  std::optional<std::string> prefix = strip_suffix_dir(exe_dir, layout.sbindir);
  if (!prefix && is_below(exe_dir, layout.binary_dir)) {
    return {layout.source_dir + "/resources",
            layout.source_dir + "/apparmor-profiles/firmwared-instance",
            layout.binary_dir + "/net-helpers/net_hook",
            layout.binary_dir + "/firmwared/firmwared-monitor",
            layout.binary_dir + "/firmwared/firmwared-archive"};
  }
  const std::string p = prefix ? *prefix : layout.prefix;
  const std::string data = under(p, layout.datadir) + "/firmwared";
  const std::string libexec = under(p, layout.libexecdir) + "/firmwared";
  return {data + "/resources", data + "/apparmor/firmwared-instance", libexec + "/net_hook",
          libexec + "/firmwared-monitor", libexec + "/firmwared-archive"};
}

ShippedPaths shipped_paths(std::string_view exe_dir) {
  Layout layout = configured_layout();
  // /proc/self/exe is canonical; the configured build dir may go through a symlink.
  const std::string real_build_dir = canonical_dir(layout.binary_dir);
  if (real_build_dir != layout.binary_dir && is_below(exe_dir, real_build_dir) &&
      !strip_suffix_dir(exe_dir, layout.sbindir)) {
    layout.binary_dir = real_build_dir;
  }
  return shipped_paths(exe_dir, layout);
}

const ShippedPaths& running_shipped_paths() {
  static const ShippedPaths kPaths = shipped_paths(executable_dir());
  return kPaths;
}

const std::vector<KeyInfo>& keys() {
  static const std::vector<KeyInfo> kInfos = [] {
    const ShippedPaths& shipped = running_shipped_paths();
    std::vector<KeyInfo> infos;
    for (const KeySpec& k : internal::key_specs()) {
      std::string def;
      if (k.fixed_default != nullptr) {
        def = k.fixed_default;
      } else if (k.name == std::string_view("apparmor_profile")) {
        def = shipped.apparmor_profile;
      } else if (k.name == std::string_view("net_hook")) {
        def = shipped.net_hook;
      } else {
        def = shipped.resources_dir;
      }
      KeyInfo::Type type = KeyInfo::Type::kString;
      if (k.rule == internal::Rule::kBool) type = KeyInfo::Type::kBoolean;
      if (k.rule == internal::Rule::kSeconds || k.rule == internal::Rule::kConnections ||
          k.rule == internal::Rule::kPerUid) {
        type = KeyInfo::Type::kInteger;
      }
      infos.push_back({k.name, def, k.description, internal::rule_text(k.rule), type});
    }
    return infos;
  }();
  return kInfos;
}

const KeyInfo* find_key_info(std::string_view name) {
  for (const KeyInfo& k : keys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

Config::Config() {
  for (const KeyInfo& k : keys()) entries_.emplace(k.name, Entry{k.default_value, "default"});
}

Result<Config> Config::load(const std::string& path,
                            const std::map<std::string, std::string>& env) {
  const std::string file = path.empty() ? std::string(kDefaultPath) : path;
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT && path.empty()) return parse("", file, env);
    return errno_error("reading configuration file '" + file + "'");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading configuration file '" + file + "'");
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return parse(text, file, env);
}

Result<Config> Config::parse(std::string_view ini_text, std::string_view origin,
                             const std::map<std::string, std::string>& env) {
  Config config;
  FW_TRY(config.set_from_file(ini_text, origin));
  config.set_from_env(env);
  FW_TRY(config.validate());
  return config;
}

Status Config::set_from_file(std::string_view ini_text, std::string_view origin) {
  FW_ASSIGN_OR_RETURN(const std::vector<internal::IniEntry> ini,
                      internal::parse_ini(ini_text, origin));
  std::set<std::string> seen;
  for (const internal::IniEntry& e : ini) {
    const std::string at = where(origin, e.line);
    const std::string key = quote(e.key);
    if (!e.in_section) {
      return make_error(EINVAL, at + ": key " + key + " is outside section [firmwared]");
    }
    if (to_lower(e.section) != kSection) {
      return make_error(EINVAL, at + ": key " + key + " is in section [" + e.section +
                                    "], not in section [firmwared]");
    }
    const std::string lower = to_lower(e.key);
    if (internal::find_key(lower) == nullptr) {
      return make_error(EINVAL, at + ": unknown key " + key + " in section [firmwared]");
    }
    if (!seen.insert(lower).second) return make_error(EINVAL, at + ": duplicate key " + key);
    entries_[lower] = Entry{e.value, at};
  }
  return {};
}

void Config::set_from_env(const std::map<std::string, std::string>& env) {
  // Variables with the prefix but no matching key are ignored: the environment is shared
  // with other programs, unlike the file.
  for (auto& [name, entry] : entries_) {
    const std::string var = std::string(kEnvPrefix) + to_upper(name);
    if (auto it = env.find(var); it != env.end()) entry = Entry{it->second, var};
  }
}

Status Config::validate() const {
  for (const auto& [name, entry] : entries_) {
    const KeySpec* spec = internal::find_key(name);
    std::string rule;
    if (entry.value.size() > kMaxValueBytes) {
      rule = "at most " + std::to_string(kMaxValueBytes) + " bytes long";
    } else if (!internal::satisfies(spec->rule, entry.value)) {
      rule = internal::rule_text(spec->rule);
    } else {
      continue;
    }
    return make_error(EINVAL, "invalid value " + quote(entry.value) + " for key '" + name +
                                  "' (from " + entry.source + "): must be " + rule);
  }
  return {};
}

std::optional<std::string> Config::get(std::string_view key) const {
  auto it = entries_.find(to_lower(key));
  if (it == entries_.end()) return std::nullopt;
  return it->second.value;
}

std::vector<std::string> Config::key_names() const {
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries_) names.push_back(name);
  return names;
}

std::string Config::source(std::string_view key) const {
  auto it = entries_.find(to_lower(key));
  return it == entries_.end() ? "" : it->second.source;
}

const std::string& Config::value(std::string_view key) const {
  // Accessors only pass names from the key table, which the constructor filled in.
  return entries_.find(key)->second.value;
}

int Config::count(std::string_view key) const {
  // validate() checked the value against its numeric rule: digits only, in range.
  return static_cast<int>(internal::parse_count(value(key)));
}

uint32_t Config::userns_pool_first() const {
  return internal::parse_id_pool(value("userns_pool")).first;
}

uint32_t Config::userns_pool_blocks() const {
  return internal::parse_id_pool(value("userns_pool")).blocks;
}

std::vector<std::string> Config::stealable_interfaces() const {
  return internal::split_iface_list(value("stealable_interfaces"));
}

log::Level Config::log_level() const {
  const std::string& v = value("log_level");
  if (v == "error") return log::Level::kError;
  if (v == "warning") return log::Level::kWarning;
  if (v == "notice") return log::Level::kNotice;
  if (v == "debug") return log::Level::kDebug;
  return log::Level::kInfo;
}

}  // namespace fw::config
