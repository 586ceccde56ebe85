#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "firmwared/base/host_access.h"
#include "firmwared/base/strings.h"
#include "firmwared/config/config.h"

namespace fw::config {
namespace {

using Env = std::map<std::string, std::string>;

const std::string kSource = FW_SOURCE_DIR;
const std::string kBinary = FW_BINARY_DIR;

Config parse_ok(std::string_view ini, const Env& env = {}) {
  auto r = Config::parse(ini, "t.conf", env);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : *Config::parse("", "t.conf", {});
}

std::string parse_error(std::string_view ini, const Env& env = {}) {
  auto r = Config::parse(ini, "t.conf", env);
  if (r.ok()) return "<no error>";
  EXPECT_EQ(r.error().code, EINVAL);
  return r.error().message;
}

// A temporary directory, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "config_test.XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(Config, DefaultsWhenNothingIsSet) {
  Config c = parse_ok("");
  EXPECT_EQ(c.apparmor_profile(), kSource + "/apparmor-profiles/firmwared-instance");
  EXPECT_EQ(c.container_interface(), "eth0");
  EXPECT_EQ(c.database_path(), "/var/lib/firmwared/catalogue.db");
  EXPECT_FALSE(c.disable_apparmor());
  EXPECT_FALSE(c.dump_profile());
  EXPECT_EQ(c.host_interface_prefix(), "fd_veth");
  EXPECT_EQ(c.log_level(), log::Level::kInfo);
  EXPECT_EQ(c.mount_path(), "/var/lib/firmwared/mount_points");
  EXPECT_EQ(c.net_first_two_bytes(), "10.202.");
  EXPECT_EQ(c.net_hook(), kBinary + "/net-helpers/net_hook");
  EXPECT_EQ(c.post_prepare_instance_hook(), "");
  EXPECT_FALSE(c.prevent_removal());
  EXPECT_TRUE(c.premade_sandbox());
  EXPECT_EQ(c.repository_path(), "/var/lib/firmwared/firmwares");
  EXPECT_EQ(c.resources_dir(), kSource + "/resources");
  EXPECT_EQ(c.socket_path(), "/run/firmwared.sock");
  EXPECT_FALSE(c.verbose_hook_scripts());
  EXPECT_EQ(c.client_idle_timeout(), 300);
  EXPECT_EQ(c.client_line_timeout(), 10);
  EXPECT_EQ(c.max_connections(), 512);
  EXPECT_EQ(c.max_connections_per_uid(), 64);
  EXPECT_EQ(c.get("disable_apparmor"), "n");
  EXPECT_EQ(c.get("log_level"), "info");
  for (const std::string& k : c.key_names()) EXPECT_EQ(c.source(k), "default") << k;
}

TEST(Config, ShippedPathsFollowTheBuildTreeOrTheInstallDirs) {
  ShippedPaths in_tree = shipped_paths(kBinary + "/tests/unit");
  EXPECT_EQ(in_tree.resources_dir, kSource + "/resources");
  EXPECT_EQ(in_tree.apparmor_profile, kSource + "/apparmor-profiles/firmwared-instance");
  EXPECT_EQ(in_tree.net_hook, kBinary + "/net-helpers/net_hook");
  EXPECT_EQ(in_tree.monitor, kBinary + "/firmwared/firmwared-monitor");
  EXPECT_EQ(in_tree.archive, kBinary + "/firmwared/firmwared-archive");
  EXPECT_EQ(shipped_paths(kBinary).net_hook, kBinary + "/net-helpers/net_hook");

  // Elsewhere: below the configured prefix (no sbin directory to relocate from).
  const std::string data = std::string(FW_INSTALL_FULL_DATADIR) + "/firmwared";
  const std::string libexec = std::string(FW_INSTALL_FULL_LIBEXECDIR) + "/firmwared";
  for (const std::string& dir : {std::string("/opt/elsewhere/bin"), kBinary + "-other/bin"}) {
    ShippedPaths installed = shipped_paths(dir);
    EXPECT_EQ(installed.resources_dir, data + "/resources") << dir;
    EXPECT_EQ(installed.apparmor_profile, data + "/apparmor/firmwared-instance") << dir;
    EXPECT_EQ(installed.net_hook, libexec + "/net_hook") << dir;
    EXPECT_EQ(installed.monitor, libexec + "/firmwared-monitor") << dir;
    EXPECT_EQ(installed.archive, libexec + "/firmwared-archive") << dir;
  }
  // In the configured sbin directory: the configured places.
  ShippedPaths at_home = shipped_paths(FW_INSTALL_FULL_SBINDIR);
  EXPECT_EQ(at_home.resources_dir, data + "/resources");
  EXPECT_EQ(at_home.monitor, libexec + "/firmwared-monitor");
}

// The derivation alone, on layouts of its own (no file system involved).
Layout debian_layout() { return {"/src/fw", "/src/fw/build", "/usr", "sbin", "share", "libexec"}; }

TEST(Config, ShippedPathsOfTheBuildTree) {
  for (const std::string dir :
       {"/src/fw/build", "/src/fw/build/firmwared", "/src/fw/build/tests/unit"}) {
    ShippedPaths p = shipped_paths(dir, debian_layout());
    EXPECT_EQ(p.resources_dir, "/src/fw/resources") << dir;
    EXPECT_EQ(p.apparmor_profile, "/src/fw/apparmor-profiles/firmwared-instance") << dir;
    EXPECT_EQ(p.net_hook, "/src/fw/build/net-helpers/net_hook") << dir;
    EXPECT_EQ(p.monitor, "/src/fw/build/firmwared/firmwared-monitor") << dir;
    EXPECT_EQ(p.archive, "/src/fw/build/firmwared/firmwared-archive") << dir;
  }
  // A sibling whose name starts the same is not the build tree.
  EXPECT_EQ(shipped_paths("/src/fw/build2/firmwared", debian_layout()).monitor,
            "/usr/libexec/firmwared/firmwared-monitor");
}

TEST(Config, ShippedPathsOfAnInstalledTree) {
  ShippedPaths usr = shipped_paths("/usr/sbin", debian_layout());
  EXPECT_EQ(usr.resources_dir, "/usr/share/firmwared/resources");
  EXPECT_EQ(usr.apparmor_profile, "/usr/share/firmwared/apparmor/firmwared-instance");
  EXPECT_EQ(usr.net_hook, "/usr/libexec/firmwared/net_hook");
  EXPECT_EQ(usr.monitor, "/usr/libexec/firmwared/firmwared-monitor");
  EXPECT_EQ(usr.archive, "/usr/libexec/firmwared/firmwared-archive");
}

TEST(Config, ShippedPathsOfARelocatedTreeFollowTheExecutable) {
  // cmake --install --prefix /tmp/x: firmwared in /tmp/x/sbin.
  ShippedPaths moved = shipped_paths("/tmp/x/sbin", debian_layout());
  EXPECT_EQ(moved.resources_dir, "/tmp/x/share/firmwared/resources");
  EXPECT_EQ(moved.apparmor_profile, "/tmp/x/share/firmwared/apparmor/firmwared-instance");
  EXPECT_EQ(moved.net_hook, "/tmp/x/libexec/firmwared/net_hook");
  EXPECT_EQ(moved.monitor, "/tmp/x/libexec/firmwared/firmwared-monitor");
  EXPECT_EQ(moved.archive, "/tmp/x/libexec/firmwared/firmwared-archive");
  // Installed with the prefix "/": /sbin, /share, /libexec.
  EXPECT_EQ(shipped_paths("/sbin", debian_layout()).monitor,
            "/libexec/firmwared/firmwared-monitor");
  // An install inside the build directory is an install, not the build tree.
  EXPECT_EQ(shipped_paths("/src/fw/build/inst/sbin", debian_layout()).net_hook,
            "/src/fw/build/inst/libexec/firmwared/net_hook");
  // Multi-component directories, and a trailing slash in the configuration.
  Layout deep{"/s", "/b", "/usr", "lib/fw/sbin/", "share", "lib/x86_64-linux-gnu"};
  ShippedPaths d = shipped_paths("/opt/p/lib/fw/sbin", deep);
  EXPECT_EQ(d.resources_dir, "/opt/p/share/firmwared/resources");
  EXPECT_EQ(d.monitor, "/opt/p/lib/x86_64-linux-gnu/firmwared/firmwared-monitor");
  // "xsbin" does not end in the component "sbin": the configured prefix.
  EXPECT_EQ(shipped_paths("/tmp/xsbin", debian_layout()).net_hook,
            "/usr/libexec/firmwared/net_hook");
}

TEST(Config, ShippedPathsKeepAbsoluteDirectories) {
  // -DCMAKE_INSTALL_DATADIR=/opt/data: stays there wherever the executable is.
  Layout layout{"/s", "/b", "/usr", "sbin", "/opt/data", "libexec"};
  ShippedPaths p = shipped_paths("/tmp/x/sbin", layout);
  EXPECT_EQ(p.resources_dir, "/opt/data/firmwared/resources");
  EXPECT_EQ(p.net_hook, "/tmp/x/libexec/firmwared/net_hook");
  // An absolute sbindir relocates nothing: the configured prefix.
  Layout abs_sbin{"/s", "/b", "/usr", "/usr/sbin", "share", "libexec"};
  EXPECT_EQ(shipped_paths("/tmp/x/usr/sbin", abs_sbin).resources_dir,
            "/usr/share/firmwared/resources");
  EXPECT_EQ(shipped_paths("/usr/sbin", abs_sbin).monitor,
            "/usr/libexec/firmwared/firmwared-monitor");
}

TEST(Config, KeysAreAlphabeticalCompleteAndMatchTheDefaults) {
  const std::vector<std::string> expected = {"apparmor_profile",
                                             "cgroup",
                                             "client_idle_timeout",
                                             "client_line_timeout",
                                             "console_log_max",
                                             "container_interface",
                                             "database_path",
                                             "disable_apparmor",
                                             "dump_profile",
                                             "host_access",
                                             "host_interface_prefix",
                                             "log_level",
                                             "max_connections",
                                             "max_connections_per_uid",
                                             "mount_path",
                                             "net_first_two_bytes",
                                             "net_hook",
                                             "post_prepare_instance_hook",
                                             "premade_sandbox",
                                             "prevent_removal",
                                             "repository_path",
                                             "resources_dir",
                                             "socket_path",
                                             "stealable_interfaces",
                                             "userns",
                                             "userns_pool",
                                             "verbose_hook_scripts"};
  std::vector<std::string> names;
  Config c = parse_ok("");
  for (const KeyInfo& k : keys()) {
    names.push_back(k.name);
    EXPECT_EQ(c.get(k.name), k.default_value) << k.name;
    EXPECT_FALSE(k.description.empty()) << k.name;
    EXPECT_FALSE(k.rule.empty()) << k.name;
  }
  EXPECT_EQ(names, expected);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(c.key_names(), expected);
  EXPECT_EQ(keys()[0].rule, "an absolute path without NUL or newline");
  EXPECT_EQ(keys()[7].rule, "y or n");
}

TEST(Config, FileOverridesDefaults) {
  Config c = parse_ok(
      "; a comment\n"
      "[firmwared]\n"
      "  socket_path = /tmp/fw.sock  \n"
      "# another comment\n"
      "prevent_removal=y\r\n"
      "post_prepare_instance_hook =\n"
      "log_level = debug\n");
  EXPECT_EQ(c.socket_path(), "/tmp/fw.sock");
  EXPECT_EQ(c.source("socket_path"), "t.conf:3");
  EXPECT_TRUE(c.prevent_removal());
  EXPECT_EQ(c.source("prevent_removal"), "t.conf:5");
  EXPECT_EQ(c.post_prepare_instance_hook(), "");
  EXPECT_EQ(c.log_level(), log::Level::kDebug);
  EXPECT_EQ(c.mount_path(), "/var/lib/firmwared/mount_points");
  EXPECT_EQ(c.source("mount_path"), "default");
}

TEST(Config, EnvironmentOverridesFile) {
  Env env = {{"FIRMWARED_SOCKET_PATH", "/env.sock"}, {"FIRMWARED_DUMP_PROFILE", "y"}};
  Config c = parse_ok("[firmwared]\nsocket_path=/file.sock\nmount_path=/file/mnt\n", env);
  EXPECT_EQ(c.socket_path(), "/env.sock");
  EXPECT_EQ(c.source("socket_path"), "FIRMWARED_SOCKET_PATH");
  EXPECT_EQ(c.mount_path(), "/file/mnt");
  EXPECT_EQ(c.source("mount_path"), "t.conf:3");
  EXPECT_TRUE(c.dump_profile());
  EXPECT_EQ(c.source("dump_profile"), "FIRMWARED_DUMP_PROFILE");
}

TEST(Config, EnvironmentVariablesMatchingNoKeyAreIgnored) {
  Env env = {{"FIRMWARED_NO_SUCH_KEY", "x"},
             {"FIRMWARED_socket_path", "/lower.sock"},
             {"SOCKET_PATH", "/bare.sock"},
             {"PATH", "/usr/bin"}};
  Config c = parse_ok("", env);
  EXPECT_EQ(c.socket_path(), "/run/firmwared.sock");
  EXPECT_EQ(c.get("no_such_key"), std::nullopt);
}

TEST(Config, GetAndSourceAreCaseInsensitive) {
  Config c = parse_ok("[firmwared]\nsocket_path=/x.sock\n");
  EXPECT_EQ(c.get("SOCKET_PATH"), "/x.sock");
  EXPECT_EQ(c.get("Socket_Path"), "/x.sock");
  EXPECT_EQ(c.source("SOCKET_PATH"), "t.conf:2");
  EXPECT_EQ(c.get("socket"), std::nullopt);
  EXPECT_EQ(c.source("socket"), "");
}

TEST(Config, FileKeysAndSectionAreCaseInsensitive) {
  Config c = parse_ok("[Firmwared]\nSOCKET_PATH=/x.sock\n");
  EXPECT_EQ(c.socket_path(), "/x.sock");
  EXPECT_EQ(parse_error("[firmwared]\nsocket_path=/a\n[FIRMWARED]\nSocket_Path=/b\n"),
            "t.conf:4: duplicate key 'Socket_Path'");
}

TEST(Config, UnknownKeyInFileIsAnError) {
  EXPECT_EQ(parse_error("[firmwared]\nsocket_path=/x\nsocket_pth=/y\n"),
            "t.conf:3: unknown key 'socket_pth' in section [firmwared]");
}

TEST(Config, KeyOutsideTheSectionIsAnError) {
  EXPECT_EQ(parse_error("# top\nsocket_path=/x\n[firmwared]\n"),
            "t.conf:2: key 'socket_path' is outside section [firmwared]");
  EXPECT_EQ(parse_error("[firmwared]\ndump_profile=y\n[other]\n\nsocket_path=/x\n"),
            "t.conf:5: key 'socket_path' is in section [other], not in section [firmwared]");
}

TEST(Config, MalformedIniNamesFileAndLine) {
  EXPECT_EQ(parse_error("[firmwared]\n\n[broken\n"), "t.conf:3: unmatched '['");
  EXPECT_EQ(parse_error("[firmwared]\nsocket_path\n"), "t.conf:2: '=' character not found in line");
  EXPECT_EQ(parse_error("[firmwared]\n=y\n"), "t.conf:2: key expected");
  EXPECT_EQ(parse_error("[firmwared]\nsocket_path=/a\nsocket_path=/b\n"),
            "t.conf:3: duplicate key name");
}

struct RuleCase {
  std::string key;
  std::vector<std::string> good;
  std::vector<std::string> bad;
  std::string rule;
};

std::vector<RuleCase> rule_cases() {
  const std::string path_rule = "an absolute path without NUL or newline";
  const std::vector<std::string> bad_paths = {"", "relative/path", "./x", "/a\nb",
                                              std::string("/a\0b", 4)};
  std::vector<RuleCase> cases = {
      {"host_access",
       {"none", "all", "tcp:22", "tcp:22 udp:53 tcp:8000-8010", "udp:1-65535,tcp:443"},
       {"", " ", "tcp", "tcp:", "tcp:0", "tcp:65536", "tcp:022", "tcp:10-9", "sctp:22",
        "none tcp:22", "all,all", "tcp:22-", "tcp:+22"},
       fw::host_access_rule()},
      {"cgroup",
       {"firmwared", "a", "fw-test_1.x", std::string(64, 'c')},
       {"", ".hidden", "a/b", "..", "a b", std::string(65, 'c'), "fw\xc3\xa9"},
       "1 to 64 characters among A-Z a-z 0-9 _ - . (not starting with '.')"},
      {"host_interface_prefix",
       {"fd_veth", "a", "A-z_09abcde"},
       {"", "abcdefghijkl", "fd.veth", "fd veth", "fd/veth", "fd\xc3\xa9"},
       "1 to 11 characters among A-Z a-z 0-9 _ -"},
      {"container_interface",
       {"eth0", "x", "abcdefghijklmno", "veth-0_a.b", "\xc3\xa9th0"},
       {"", "abcdefghijklmnop", ".", "..", "eth/0", "eth:0", "eth 0", "eth\t0", "eth\x7f"},
       "1 to 15 characters without '/', ':', whitespace or control characters, and not '.' or "
       "'..'"},
      {"net_first_two_bytes",
       {"10.202.", "0.0.", "255.255.", "192.168.", "1.10."},
       {"", "10.202", "10.202.1.", "256.1.", "1.256.", "010.1.", "1.00.", "a.b.", ".1.", "1..",
        "-1.2.", "+1.2.", "1.2.3", "1000.2."},
       "two decimal numbers 0 to 255 without leading zeros, each followed by a dot (like "
       "10.202.)"},
      {"socket_path",
       {"/run/x.sock", "/" + std::string(106, 's')},
       {"x.sock", "/" + std::string(107, 's'), "/a\nb"},
       "an absolute path without NUL or newline, shorter than 108 bytes"},
      {"post_prepare_instance_hook",
       {"", "/usr/bin/hook"},
       {"hook", "\"\"", "/a\nb"},
       "empty or an absolute path without NUL or newline"},
      {"stealable_interfaces",
       {"", "eth1", "eth1,usb0", "eth1 usb0", " eth1, usb0 ", std::string(15, 'e')},
       {"eth:1", "a/b", std::string(16, 'e'), "eth1,..", "eth1\tx\x01"},
       "interface names separated by commas or spaces, each 1 to 15 characters without '/', "
       "':' or control characters, and not '.' or '..'"},
      {"log_level",
       {"error", "warning", "notice", "info", "debug"},
       {"", "INFO", "trace", "warn", "info "},
       "one of error, warning, notice, info, debug"},
  };
  const std::vector<std::string> not_numbers = {"",   "-1", "+5", "1.5", "1e3",
                                                "07", " 5", "5 ", "x",   "9999999"};
  for (const char* key : {"client_idle_timeout", "client_line_timeout"}) {
    auto bad = not_numbers;
    bad.insert(bad.end(), {"0", "86401"});
    cases.push_back({key, {"1", "10", "86400"}, bad, "a whole number of seconds from 1 to 86400"});
  }
  {
    auto bad = not_numbers;
    bad.insert(bad.end(), {"0", "63", "65537"});
    cases.push_back(
        {"max_connections", {"64", "512", "65536"}, bad, "a whole number from 64 to 65536"});
    bad = not_numbers;
    bad.insert(bad.end(), {"0", "65537"});
    cases.push_back(
        {"max_connections_per_uid", {"1", "64", "65536"}, bad, "a whole number from 1 to 65536"});
  }
  {
    auto bad = not_numbers;
    std::erase(bad, "9999999");  // 9.5 MB: a fine size
    bad.insert(bad.end(), {"0", "4095", "1073741825", "99999999999"});
    cases.push_back({"console_log_max",
                     {"4096", "1048576", "1073741824"},
                     bad,
                     "a whole number of bytes from 4096 to 1073741824 (1 GiB)"});
  }
  cases.push_back({"userns", {"auto", "y", "n"}, {"", "yes", "AUTO", "1", "n "}, "auto, y or n"});
  cases.push_back({"userns_pool",
                   {"65536:1", "1879048192:2048", "4294836224:1"},
                   {"", "65536", "100000:1", "0:1", "65536:0", "4294836224:2", ":1", "a:1",
                    "65536:-1", "99999999999:1", " 65536:1"},
                   "FIRST:BLOCKS, two whole numbers: FIRST a multiple of 65536 from 65536, BLOCKS "
                   "from 1, and FIRST + BLOCKS * 65536 at most 4294901760 (ids above are "
                   "reserved)"});
  for (const char* key : {"disable_apparmor", "dump_profile", "premade_sandbox", "prevent_removal",
                          "verbose_hook_scripts"}) {
    cases.push_back({key, {"y", "n"}, {"", "maybe", "Y", "yes", "1", "n "}, "y or n"});
  }
  for (const char* key : {"apparmor_profile", "database_path", "mount_path", "net_hook",
                          "repository_path", "resources_dir"}) {
    cases.push_back({key, {"/", "/a/b c/d"}, bad_paths, path_rule});
  }
  return cases;
}

TEST(Config, EveryRuleAcceptsGoodAndRejectsBadValues) {
  std::set<std::string> covered;
  for (const RuleCase& rc : rule_cases()) {
    covered.insert(rc.key);
    const std::string var = "FIRMWARED_" + fw::to_upper(rc.key);
    for (const std::string& good : rc.good) {
      auto r = Config::parse("", "t.conf", {{var, good}});
      ASSERT_TRUE(r.ok()) << rc.key << "=" << good << ": " << r.error().message;
      EXPECT_EQ(r->get(rc.key), good);
    }
    for (const std::string& bad : rc.bad) {
      auto r = Config::parse("", "t.conf", {{var, bad}});
      ASSERT_FALSE(r.ok()) << rc.key << "=" << bad;
      EXPECT_EQ(r.error().code, EINVAL);
      EXPECT_TRUE(r.error().message.starts_with("invalid value '"));
      EXPECT_TRUE(r.error().message.ends_with("' for key '" + rc.key + "' (from " + var +
                                              "): must be " + rc.rule))
          << r.error().message;
    }
  }
  EXPECT_EQ(covered.size(), keys().size());
}

TEST(Config, StealableInterfacesSplitsAtCommasAndBlanks) {
  auto c = Config::parse("", "t.conf", {{"FIRMWARED_STEALABLE_INTERFACES", " eth1,usb0  wlan0,"}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->stealable_interfaces(), (std::vector<std::string>{"eth1", "usb0", "wlan0"}));
  EXPECT_TRUE(parse_ok("").stealable_interfaces().empty());
}

TEST(Config, InvalidValueMessageNamesKeyValueOriginAndRule) {
  EXPECT_EQ(parse_error("", {{"FIRMWARED_PREVENT_REMOVAL", "maybe"}}),
            "invalid value 'maybe' for key 'prevent_removal' (from FIRMWARED_PREVENT_REMOVAL): "
            "must be y or n");
  EXPECT_EQ(parse_error("[firmwared]\n\nmount_path = var/mnt\n"),
            "invalid value 'var/mnt' for key 'mount_path' (from t.conf:3): "
            "must be an absolute path without NUL or newline");
  // Control bytes are escaped so the message stays on one line.
  EXPECT_EQ(parse_error("", {{"FIRMWARED_CONTAINER_INTERFACE", "a\tb\x01"}}),
            "invalid value 'a\\x09b\\x01' for key 'container_interface' "
            "(from FIRMWARED_CONTAINER_INTERFACE): must be 1 to 15 characters without '/', ':', "
            "whitespace or control characters, and not '.' or '..'");
  EXPECT_EQ(parse_error("", {{"FIRMWARED_MOUNT_PATH", std::string("/a\0b", 4)}}),
            "invalid value '/a\\x00b' for key 'mount_path' (from FIRMWARED_MOUNT_PATH): "
            "must be an absolute path without NUL or newline");
}

TEST(Config, NoValueMayExceed4096Bytes) {
  const std::string longest = "/" + std::string(4095, 'a');
  auto ok = Config::parse("", "t.conf", {{"FIRMWARED_MOUNT_PATH", longest}});
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->mount_path(), longest);
  EXPECT_EQ(parse_error("[firmwared]\nmount_path=" + longest + "a\n"),
            "invalid value '/" + std::string(63, 'a') +
                "...' for key 'mount_path' (from t.conf:2): must be at most 4096 bytes long");
}

TEST(Config, LoadReadsAnExplicitFile) {
  TempDir tmp;
  const std::string path = tmp.path() + "/firmwared.conf";
  std::ofstream(path) << "[firmwared]\nverbose_hook_scripts = y\n";
  auto r = Config::load(path, {{"FIRMWARED_LOG_LEVEL", "error"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->verbose_hook_scripts());
  EXPECT_EQ(r->source("verbose_hook_scripts"), path + ":2");
  EXPECT_EQ(r->log_level(), log::Level::kError);
}

TEST(Config, LoadFailsOnAMissingExplicitFile) {
  TempDir tmp;
  const std::string path = tmp.path() + "/missing.conf";
  auto r = Config::load(path, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().message,
            "reading configuration file '" + path + "': No such file or directory");
  auto dir = Config::load(tmp.path(), {});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().code, EISDIR);
}

TEST(Config, ExampleFileListsEveryKeyWithItsDefault) {
  const std::string path = kSource + "/examples/firmwared.conf";
  auto as_shipped = Config::load(path, {});
  ASSERT_TRUE(as_shipped.ok()) << as_shipped.error().message;
  std::ifstream in(path);
  std::string text, line;
  while (std::getline(in, line)) {
    // Uncomment the ";key = value" lines, keep the prose comments ("; text").
    if (line.size() > 1 && line[0] == ';' && line[1] != ' ') line.erase(0, 1);
    text += line + "\n";
  }
  auto uncommented = Config::parse(text, "example", {});
  ASSERT_TRUE(uncommented.ok()) << uncommented.error().message;
  for (const KeyInfo& k : keys()) {
    EXPECT_NE(uncommented->source(k.name), "default") << k.name << " missing from example";
    if (k.name == "apparmor_profile" || k.name == "net_hook" || k.name == "resources_dir") {
      continue;  // the example shows the installed location
    }
    EXPECT_EQ(uncommented->get(k.name), k.default_value) << k.name;
  }
}

TEST(Config, CurrentEnvironmentCapturesEnviron) {
  ASSERT_EQ(::setenv("FIRMWARED_CONFIG_TEST_VAR", "a=b", 1), 0);
  Env env = current_environment();
  ::unsetenv("FIRMWARED_CONFIG_TEST_VAR");
  EXPECT_EQ(env["FIRMWARED_CONFIG_TEST_VAR"], "a=b");
}

Config dirs_config(const std::string& root) {
  return parse_ok("[firmwared]\nmount_path=" + root + "/m/mnt\nrepository_path=" + root +
                  "/r/repo\ndatabase_path=" + root + "/d/e/catalogue.db\n");
}

TEST(EnsureRuntimeDirs, CreatesMissingDirectoriesWithExactModes) {
  TempDir tmp;
  const std::string root = tmp.path();
  mode_t old_umask = ::umask(077);
  Status s = ensure_runtime_dirs(dirs_config(root));
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(mode_of(root + "/m"), 0755u);
  EXPECT_EQ(mode_of(root + "/m/mnt"), 0700u);
  EXPECT_EQ(mode_of(root + "/r"), 0755u);
  EXPECT_EQ(mode_of(root + "/r/repo"), 0700u);
  EXPECT_EQ(mode_of(root + "/d"), 0755u);
  EXPECT_EQ(mode_of(root + "/d/e"), 0700u);
  EXPECT_FALSE(std::filesystem::exists(root + "/d/e/catalogue.db"));
}

// Issue 11: nothing below the state directories may be reachable by other users.
TEST(EnsureRuntimeDirs, FixesExistingStateDirectoriesTo0700) {
  TempDir tmp;
  const std::string root = tmp.path();
  ASSERT_TRUE(ensure_runtime_dirs(dirs_config(root)).ok());
  ASSERT_EQ(::chmod((root + "/m/mnt").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((root + "/r/repo").c_str(), 0711), 0);
  ASSERT_EQ(::chmod((root + "/d/e").c_str(), 0777), 0);
  ASSERT_EQ(::chmod((root + "/m").c_str(), 0751), 0);
  Status s = ensure_runtime_dirs(dirs_config(root));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(mode_of(root + "/m/mnt"), 0700u);
  EXPECT_EQ(mode_of(root + "/r/repo"), 0700u);
  EXPECT_EQ(mode_of(root + "/d/e"), 0700u);
  EXPECT_EQ(mode_of(root + "/m"), 0751u);  // parents are not the daemon's
}

TEST(EnsureRuntimeDirs, LeavesASharedSystemDirectoryOfTheDatabaseAlone) {
  TempDir tmp;
  const std::string root = tmp.path();
  const mode_t before = mode_of("/tmp");
  Status s = ensure_runtime_dirs(parse_ok("[firmwared]\nmount_path=" + root +
                                          "/m\nrepository_path=" + root +
                                          "/r\ndatabase_path=/tmp/catalogue.db\n"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(mode_of("/tmp"), before);
}

TEST(EnsureRuntimeDirs, ExistingNonDirectoryIsAnError) {
  TempDir tmp;
  const std::string root = tmp.path();
  std::ofstream(root + "/r") << "not a directory";
  Status s = ensure_runtime_dirs(dirs_config(root));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOTDIR);
  EXPECT_EQ(s.error().message, "creating runtime directory '" + root +
                                   "/r/repo' (repository_path): '" + root +
                                   "/r' exists and is not a directory");

  std::filesystem::remove(root + "/r");
  ASSERT_TRUE(std::filesystem::remove(root + "/m/mnt"));
  std::ofstream(root + "/m/mnt") << "";
  s = ensure_runtime_dirs(dirs_config(root));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "creating runtime directory '" + root + "/m/mnt' (mount_path): '" +
                                   root + "/m/mnt' exists and is not a directory");
}

TEST(ConfigUserns, DefaultsAndPool) {
  Config c = parse_ok("");
  EXPECT_EQ(c.userns(), "auto");
  EXPECT_EQ(c.userns_pool_first(), 1879048192u);
  EXPECT_EQ(c.userns_pool_blocks(), 2048u);
  Config d = parse_ok("[firmwared]\nuserns = n\nuserns_pool = 131072:3\n");
  EXPECT_EQ(d.userns(), "n");
  EXPECT_EQ(d.userns_pool_first(), 131072u);
  EXPECT_EQ(d.userns_pool_blocks(), 3u);
}

TEST(ConfigUserns, RejectsBadValues) {
  for (const char* bad : {"yes", "", "AUTO"}) {
    auto r = Config::parse(std::string("[firmwared]\nuserns = ") + bad + "\n", "t.conf", {});
    EXPECT_FALSE(r.ok()) << bad;
  }
  // Not a multiple of 65536, below 65536, no blocks, past the last usable id, garbage.
  for (const char* bad : {"100000:1", "0:1", "65536:0", "4294836224:2", "65536", ":1", "65536:x",
                          "65536:-1", "99999999999:1"}) {
    auto r = Config::parse(std::string("[firmwared]\nuserns_pool = ") + bad + "\n", "t.conf", {});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("userns_pool"), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(Config::parse("[firmwared]\nuserns_pool = 4294836224:1\n", "t.conf", {}).ok());
}
}  // namespace
}  // namespace fw::config
