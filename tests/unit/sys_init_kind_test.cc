// Which init a firmware's tree boots (sys/init_kind.h), on trees made in a temporary dir:
// names along /sbin/init's symlinks, then markers in the file, every link resolved inside
// the tree.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "firmwared/sys/init_kind.h"

namespace fw::sys {
namespace {

namespace fs = std::filesystem;

class TempTree {
 public:
  TempTree() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/fw_init_kind_test.XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempTree() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  // Writes `rel` (parents made) with `content`.
  void file(const std::string& rel, const std::string& content) const {
    fs::create_directories(fs::path(*this / rel).parent_path());
    std::ofstream(*this / rel, std::ios::binary) << content;
  }
  // Makes `rel` (parents made) a symlink to `target`.
  void link(const std::string& rel, const std::string& target) const {
    fs::create_directories(fs::path(*this / rel).parent_path());
    fs::create_symlink(target, *this / rel);
  }

 private:
  std::string path_;
};

// detect_init's answer as "kind path", or "error: <message>".
std::string detect(const TempTree& t) {
  auto r = detect_init(t.path());
  if (!r.ok()) return "error: " + r.error().message;
  return std::string(init_kind_name(r->kind)) + " " + r->path;
}

class InitKindTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(tree_.path().empty()); }
  TempTree tree_;
};

TEST_F(InitKindTest, SymlinkToSystemdIsSystemd) {
  tree_.link("sbin/init", "/lib/systemd/systemd");
  EXPECT_EQ(detect(tree_), "systemd /sbin/init");
}

TEST_F(InitKindTest, RelativeSymlinkToBusyboxIsBusybox) {
  tree_.link("sbin/init", "../bin/busybox");
  EXPECT_EQ(detect(tree_), "busybox /sbin/init");
}

TEST_F(InitKindTest, ChainOfSymlinksIsFollowedToANamedOne) {
  tree_.link("sbin/init", "init.real");
  tree_.link("sbin/init.real", "/usr/lib/systemd/systemd");
  EXPECT_EQ(detect(tree_), "systemd /sbin/init.real");
}

TEST_F(InitKindTest, RegularFileWithInitVersionIsSysvinit) {
  static constexpr char kBinary[] = "\177ELF\0\0junk INIT_VERSION=sysvinit-2.96\0";
  tree_.file("sbin/init", std::string(kBinary, sizeof kBinary - 1));
  EXPECT_EQ(detect(tree_), "sysvinit /sbin/init");
}

TEST_F(InitKindTest, RegularFileWithBusyboxBannerIsBusybox) {
  tree_.file("sbin/init", "\177ELF...BusyBox v1.36.1 (2023-07-01) multi-call binary");
  EXPECT_EQ(detect(tree_), "busybox /sbin/init");
}

TEST_F(InitKindTest, RegularFileMentioningSystemdIsSystemd) {
  tree_.file("sbin/init", "\177ELF... systemd 252 (252.22-1)");
  EXPECT_EQ(detect(tree_), "systemd /sbin/init");
}

TEST_F(InitKindTest, AMarkerFarIntoTheFileIsFound) {
  tree_.file("sbin/init", std::string(3u << 20, 'x') + "INIT_VERSION");
  EXPECT_EQ(detect(tree_), "sysvinit /sbin/init");
}

TEST_F(InitKindTest, UnknownContentIsUnknown) {
  tree_.file("sbin/init", "#!/bin/sh\nexec /bin/myinit\n");
  EXPECT_EQ(detect(tree_), "unknown /sbin/init");
}

TEST_F(InitKindTest, EmptyInitIsUnknown) {
  tree_.file("sbin/init", "");
  EXPECT_EQ(detect(tree_), "unknown /sbin/init");
}

TEST_F(InitKindTest, NoSbinInitIsUnknown) {
  EXPECT_EQ(detect(tree_), "unknown ");
  tree_.file("bin/busybox", "BusyBox v1.36");
  EXPECT_EQ(detect(tree_), "unknown ") << "a busybox elsewhere is not the init";
}

TEST_F(InitKindTest, SbinBeingAFileIsUnknown) {
  tree_.file("sbin", "not a dir");
  EXPECT_EQ(detect(tree_), "unknown ");
}

TEST_F(InitKindTest, DanglingSymlinkIsUnknown) {
  tree_.link("sbin/init", "/bin/nothing-here");
  EXPECT_EQ(detect(tree_), "unknown ");
}

TEST_F(InitKindTest, SymlinkLoopIsUnknownWithoutHanging) {
  tree_.link("sbin/init", "/sbin/init2");
  tree_.link("sbin/init2", "init");
  EXPECT_EQ(detect(tree_), "unknown ");
  TempTree self;
  self.link("sbin/init", "init");
  EXPECT_EQ(detect(self), "unknown ");
}

// A loop through a directory component (/sbin -> /sbin): the kernel answers ELOOP when
// resolving it; detect_init must not hang, and answers unknown or a clear error.
TEST_F(InitKindTest, DirectorySymlinkLoopEndsWithoutHanging) {
  tree_.link("sbin", "/sbin");
  auto r = detect_init(tree_.path());
  if (r.ok()) {
    EXPECT_EQ(r->kind, InitKind::kUnknown);
  } else {
    EXPECT_EQ(r.error().code, ELOOP) << r.error().message;
  }
}

// The tree's own /etc/passwd, not the host's: an absolute symlink and ".." climbing past
// the top both stay inside the tree (RESOLVE_IN_ROOT).
TEST_F(InitKindTest, AbsoluteSymlinksResolveInsideTheTree) {
  tree_.file("bin/real", "BusyBox v1.36.1");
  tree_.link("sbin/init", "/../../../../bin/real");
  EXPECT_EQ(detect(tree_), "busybox /../../../../bin/real");
}

TEST_F(InitKindTest, ASymlinkToAHostFileReadsTheTreesFileOfThatName) {
  // The host's /etc/passwd contains none of the markers; the tree's does.
  tree_.file("etc/passwd", "INIT_VERSION");
  tree_.link("sbin/init", "/../../../etc/passwd");
  auto r = detect_init(tree_.path());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, InitKind::kSysvinit);
  TempTree other;
  other.link("sbin/init", "/etc/passwd");  // absent from this tree: not the host's file
  EXPECT_EQ(detect(other), "unknown ");
  TempTree relative;
  relative.file("bin/real", "BusyBox v1.35");
  relative.link("sbin/init", "../../../../../../bin/real");
  EXPECT_EQ(detect(relative), "busybox /sbin/../../../../../../bin/real");
}

TEST_F(InitKindTest, AFifoAtSbinInitDoesNotBlock) {
  fs::create_directories(tree_ / "sbin");
  ASSERT_EQ(::mkfifo((tree_ / "sbin/init").c_str(), 0600), 0);
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(detect(tree_), "unknown /sbin/init");
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
  // Reached through a symlink too.
  TempTree linked;
  fs::create_directories(linked / "sbin");
  ASSERT_EQ(::mkfifo((linked / "run-fifo").c_str(), 0600), 0);
  linked.link("sbin/init", "/run-fifo");
  EXPECT_EQ(detect(linked), "unknown /run-fifo");
}

TEST_F(InitKindTest, ADirectoryAtSbinInitIsUnknown) {
  fs::create_directories(tree_ / "sbin/init");
  EXPECT_EQ(detect(tree_), "unknown /sbin/init");
}

TEST_F(InitKindTest, AMissingTreeIsAnError) {
  auto r = detect_init(tree_ / "absent");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST(InitKind, NamesAndDefaultStopSignals) {
  EXPECT_STREQ(init_kind_name(InitKind::kSystemd), "systemd");
  EXPECT_STREQ(init_kind_name(InitKind::kBusybox), "busybox");
  EXPECT_STREQ(init_kind_name(InitKind::kSysvinit), "sysvinit");
  EXPECT_STREQ(init_kind_name(InitKind::kUnknown), "unknown");
  EXPECT_STREQ(default_stop_signal(InitKind::kSystemd), "SIGRTMIN+3");
  EXPECT_STREQ(default_stop_signal(InitKind::kBusybox), "SIGUSR2");
  EXPECT_STREQ(default_stop_signal(InitKind::kSysvinit), "SIGINT");
  EXPECT_STREQ(default_stop_signal(InitKind::kUnknown), "SIGTERM");
}

}  // namespace
}  // namespace fw::sys
