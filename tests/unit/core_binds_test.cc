// The `binds` property's rules: the syntax (sys::parse_bind) and the host-side policy
// (core::check_bind, check_binds) against a real temporary tree.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "firmwared/core/binds.h"
#include "firmwared/sys/bind_spec.h"

namespace fw {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(ParseBind, ReadOnlyByDefaultAndModesSpelledOut) {
  auto b = sys::parse_bind("/srv/data:/data");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->host, "/srv/data");
  EXPECT_EQ(b->target, "/data");
  EXPECT_TRUE(b->read_only);
  EXPECT_EQ(b->to_string(), "/srv/data:/data:ro");
  auto rw = sys::parse_bind("/srv/out:/mnt/out:rw");
  ASSERT_TRUE(rw.ok());
  EXPECT_FALSE(rw->read_only);
  EXPECT_EQ(rw->to_string(), "/srv/out:/mnt/out:rw");
  EXPECT_TRUE(sys::parse_bind("/srv/a b:/x y:ro").ok()) << "blanks are plain bytes of a path";
}

TEST(ParseBind, RefusesBadSyntaxNamingTheValueAndTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "expected HOST_PATH"},
      {"/srv/data", "two paths"},
      {"/srv/data:/data:ro:x", "must not hold ':'"},
      {"/srv/data:/data:rx", "mode 'rx' is not ro or rw"},
      {"srv/data:/data", "host path 'srv/data' is not absolute"},
      {"/srv/data:data", "instance path 'data' is not absolute"},
      {"/:/data", "host path '/' is the root directory"},
      {"/srv:/", "instance path '/' is the root directory"},
      {"/srv/../etc:/data", "holds a '..' component"},
      {"/srv/data:/data/../../etc", "holds a '..' component"},
      {"/srv/./data:/data", "holds a '.' component"},
      {"/srv//data:/data", "empty component"},
      {"/srv/data/:/data", "ends with '/'"},
      {"/srv/da\nta:/data", "control character"},
      {"/proc/sys:/data", "is in /proc"},
      {"/sys:/data", "is in /sys"},
      {"/dev/sda:/data", "is in /dev"},
      {"/srv/data:/dev/data", "mounts the instance's own /dev"},
      {"/srv/data:/proc", "is in /proc"},
      {"/srv/data:/sys/x", "is in /sys"},
      {"/srv/" + std::string(sys::kMaxBindPathBytes, 'a') + ":/data", "longer than 1024"},
  };
  for (const auto& [value, why] : cases) {
    auto b = sys::parse_bind(value);
    ASSERT_FALSE(b.ok()) << value;
    EXPECT_EQ(b.error().code, EINVAL) << value;
    EXPECT_TRUE(contains(b.error().message, why)) << value << ": " << b.error().message;
    if (value.size() < 100 && value.find('\n') == std::string::npos) {
      EXPECT_TRUE(contains(b.error().message, "'" + value + "'")) << b.error().message;
    }
  }
  EXPECT_TRUE(sys::parse_bind("/srv/devices:/devices").ok()) << "/dev is a whole component";
}

TEST(PathWithin, ComparesWholeComponents) {
  EXPECT_TRUE(sys::path_within("/a/b", "/a"));
  EXPECT_TRUE(sys::path_within("/a", "/a"));
  EXPECT_FALSE(sys::path_within("/ab", "/a"));
  EXPECT_FALSE(sys::path_within("/a", "/a/b"));
  EXPECT_TRUE(sys::path_within("/anything", "/"));
}

class CheckBindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/fw_binds_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = fs::canonical(tmpl).string();
    for (const char* d : {"data", "state/db", "state/mnt", "state/repo", "run"}) {
      fs::create_directories(dir_ + "/" + d);
    }
    std::ofstream(dir_ + "/file.txt") << "x";
    policy_ = {{dir_ + "/state/db", dir_ + "/state/mnt", dir_ + "/state/repo"},
               dir_ + "/run/firmwared.sock"};
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Result<sys::BindSpec> check(const std::string& host, const std::string& target = "/data") {
    return core::check_bind(host + ":" + target, policy_);
  }
  void expect_refused(const std::string& host, int code, const std::string& why) {
    auto b = check(host);
    ASSERT_FALSE(b.ok()) << host;
    EXPECT_EQ(b.error().code, code) << host << ": " << b.error().message;
    EXPECT_TRUE(contains(b.error().message, why)) << b.error().message;
    EXPECT_TRUE(contains(b.error().message, "'" + host + "'")) << b.error().message;
  }
  std::string dir_;
  core::BindPolicy policy_;
};

TEST_F(CheckBindTest, AcceptsDirectoriesAndRegularFiles) {
  EXPECT_TRUE(check(dir_ + "/data").ok());
  EXPECT_TRUE(check(dir_ + "/file.txt", "/etc/motd").ok());
  EXPECT_TRUE(check(dir_ + "/state").ok() == false) << "it holds the state directories";
}

TEST_F(CheckBindTest, RefusesMissingPathsAndSymlinks) {
  expect_refused(dir_ + "/missing", ENOENT, "does not exist");
  fs::create_directory_symlink(dir_ + "/data", dir_ + "/link");
  expect_refused(dir_ + "/link", ELOOP, "not canonical");
  auto b = check(dir_ + "/link");
  EXPECT_TRUE(contains(b.error().message, "resolves to '" + dir_ + "/data'")) << b.error().message;
  expect_refused(dir_ + "/link/sub", ELOOP, "symbolic link");
}

TEST_F(CheckBindTest, RefusesTheDaemonsState) {
  expect_refused(dir_ + "/state/db", EINVAL, "state directory");
  fs::create_directories(dir_ + "/state/mnt/instances/x");
  expect_refused(dir_ + "/state/mnt/instances/x", EINVAL, "state directory");
  expect_refused(dir_ + "/state", EINVAL, "state directory");
  expect_refused(dir_ + "/run", EINVAL, "socket");
  expect_refused(dir_, EINVAL, "");
}

TEST_F(CheckBindTest, RefusesSocketsAndFifos) {
  ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  expect_refused(dir_ + "/fifo", EINVAL, "a FIFO; only directories and regular files");
}

TEST_F(CheckBindTest, CheckBindsBoundsCountRefusesTwiceTheSameTargetAndCanonicalizes) {
  Strings v = {dir_ + "/data:/a", dir_ + "/file.txt:/b:rw"};
  ASSERT_TRUE(core::check_binds(v, policy_).ok());
  EXPECT_EQ(v, (Strings{dir_ + "/data:/a:ro", dir_ + "/file.txt:/b:rw"}));
  Strings twice = {dir_ + "/data:/a", dir_ + "/file.txt:/a"};
  auto s = core::check_binds(twice, policy_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, "binds[1]: instance path '/a' is bound twice"))
      << s.error().message;
  Strings many(sys::kMaxBinds + 1, dir_ + "/data:/a");
  EXPECT_EQ(core::check_binds(many, policy_).error().code, E2BIG);
  Strings bad = {dir_ + "/data:/a", dir_ + "/missing:/b"};
  s = core::check_binds(bad, policy_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, "binds[1]")) << s.error().message;
  // An unchanged element is only parsed: SET_PROPERTY of binds[1] does not fail because
  // binds[0]'s host path went away since.
  Strings prev = {dir_ + "/gone:/a:ro"};
  Strings next = {dir_ + "/gone:/a:ro", dir_ + "/data:/b"};
  EXPECT_TRUE(core::check_binds(next, policy_, prev).ok());
  Strings all = next;
  EXPECT_EQ(core::check_binds(all, policy_).error().code, ENOENT) << "START checks them all";
}

}  // namespace
}  // namespace fw
