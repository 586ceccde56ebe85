// fwctl cp's path rules: which side is the instance, how a path splits, and which tar
// members from an instance may be written on the host (and under what name).
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fwctl/cp.h"

namespace fwctl {
namespace {

TEST(CpPath, InstanceSideHasAnIdBeforeTheColon) {
  EXPECT_EQ(parse_cp_path("brave_turing:/etc/x").id, "brave_turing");
  EXPECT_EQ(parse_cp_path("brave_turing:/etc/x").path, "/etc/x");
  EXPECT_EQ(parse_cp_path("b:").path, "");
}

TEST(CpPath, HostPathsStayOnTheHost) {
  EXPECT_EQ(parse_cp_path("/tmp/a:b").id, "");
  EXPECT_EQ(parse_cp_path("./a:b").id, "");
  EXPECT_EQ(parse_cp_path(":x").id, "");
  EXPECT_EQ(parse_cp_path("plain").path, "plain");
}

TEST(CpPath, SplitParent) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(split_parent("/a/b/"), (P{"/a", "b"}));
  EXPECT_EQ(split_parent("/a/b"), (P{"/a", "b"}));
  EXPECT_EQ(split_parent("b"), (P{".", "b"}));
  EXPECT_EQ(split_parent("/b"), (P{"/", "b"}));
  EXPECT_EQ(split_parent("/"), (P{"/", "."}));
  EXPECT_EQ(split_parent("///"), (P{"/", "."}));
  EXPECT_EQ(split_parent("d/."), (P{"d", "."}));
}

TEST(CpMember, RenamesTheTopComponent) {
  EXPECT_EQ(map_member("./etc", "etc", "copy"), "copy");
  EXPECT_EQ(map_member("./etc/", "etc", "copy"), "copy");
  EXPECT_EQ(map_member("./etc/a/b", "etc", "copy"), "copy/a/b");
  EXPECT_EQ(map_member("etc/a", "etc", "etc"), "etc/a");
  EXPECT_EQ(map_member("etc//a/./b", "etc", "x"), "x/a/b");
}

TEST(CpMember, ContentsOfADirectory) {
  EXPECT_EQ(map_member("./", ".", "."), ".");
  EXPECT_EQ(map_member("./a/b", ".", "."), "a/b");
  EXPECT_EQ(map_member("./a/b", ".", "dest"), "dest/a/b");
}

TEST(CpMember, RefusesWhatIsNotBelowTheSource) {
  EXPECT_EQ(map_member("./other/a", "etc", "copy"), "");
  EXPECT_EQ(map_member("./etc/../../x", "etc", "copy"), "");
  EXPECT_EQ(map_member("../x", ".", "."), "");
  EXPECT_EQ(map_member("/etc/passwd", "etc", "copy"), "");
  EXPECT_EQ(map_member("/etc/passwd", ".", "."), "");
  EXPECT_EQ(map_member("", "etc", "copy"), "");
  EXPECT_EQ(map_member("./", "etc", "copy"), "");
}

// ---- extract_on_host: what a hostile instance's tar cannot do on the host ---------------

struct Member {
  Member(std::string n, mode_t t = AE_IFREG, std::string l = "")  // NOLINT
      : name(std::move(n)), type(t), link(std::move(l)) {}
  std::string name;
  mode_t type;
  std::string link;  // symlink target
};

class CpExtract : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fwctl_cp_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_EQ(::mkdir((root_ + "/dest").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root_ + "/victim").c_str(), 0755), 0);
    char cwd[4096];
    ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
    old_cwd_ = cwd;
    ASSERT_EQ(::chdir((root_ + "/dest").c_str()), 0);
  }
  void TearDown() override {
    if (!old_cwd_.empty()) (void)::chdir(old_cwd_.c_str());
    std::filesystem::remove_all(root_);
  }
  // Writes a tar of `members` (files hold "pwned\n") and extracts it as cp would.
  std::string extract(const std::vector<Member>& members, const std::string& name,
                      const std::string& prefix) {
    const std::string tar = root_ + "/in.tar";
    archive* a = archive_write_new();
    archive_write_set_format_gnutar(a);
    EXPECT_EQ(archive_write_open_filename(a, tar.c_str()), ARCHIVE_OK);
    for (const auto& m : members) {
      archive_entry* e = archive_entry_new();
      archive_entry_set_pathname(e, m.name.c_str());
      archive_entry_set_filetype(e, m.type);
      archive_entry_set_perm(e, 0755);
      if (m.type == AE_IFLNK) archive_entry_set_symlink(e, m.link.c_str());
      if (m.type == AE_IFREG) archive_entry_set_size(e, 6);
      EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK);
      if (m.type == AE_IFREG) archive_write_data(a, "pwned\n", 6);
      archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    HostExtract x;
    x.fd = ::open(tar.c_str(), O_RDONLY | O_CLOEXEC);
    x.name = name;
    x.prefix = prefix;
    extract_on_host(x);
    ::close(x.fd);
    return x.error;
  }
  bool exists(const std::string& p) {
    struct stat st {};
    return ::lstat((root_ + "/" + p).c_str(), &st) == 0;
  }
  std::string root_, old_cwd_;
};

TEST_F(CpExtract, APlainTreeIsWrittenUnderItsNewName) {
  EXPECT_EQ(extract({{"./x", AE_IFDIR}, {"./x/a"}, {"./x/l", AE_IFLNK, "a"}}, "x", "copy"), "");
  EXPECT_TRUE(exists("dest/copy/a"));
  EXPECT_TRUE(exists("dest/copy/l"));
}

TEST_F(CpExtract, RefusesDotDot) {
  EXPECT_NE(extract({{"./x", AE_IFDIR}, {"./x/../../escaped"}}, "x", "x"), "");
  EXPECT_FALSE(exists("escaped"));
  EXPECT_NE(extract({{"../escaped2"}}, ".", "."), "");
  EXPECT_FALSE(exists("escaped2"));
}

TEST_F(CpExtract, RefusesAbsoluteNames) {
  const std::string target = root_ + "/victim/abs";
  EXPECT_NE(extract({{"./x", AE_IFDIR}, {target}}, "x", "x"), "");
  EXPECT_NE(extract({{target}}, ".", "."), "");
  EXPECT_FALSE(exists("victim/abs"));
}

// A member below a symlink the archive made is never written through it: libarchive
// either refuses it or (ARCHIVE_EXTRACT_UNLINK) replaces the symlink with a directory.
TEST_F(CpExtract, NeverWritesThroughASymlinkItMade) {
  const std::string error = extract(
      {{"./x", AE_IFDIR}, {"./x/l", AE_IFLNK, root_ + "/victim"}, {"./x/l/escaped"}}, "x", "x");
  EXPECT_FALSE(exists("victim/escaped"));
  struct stat st {};
  if (error.empty()) {
    ASSERT_EQ(::lstat("x/l", &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_TRUE(exists("dest/x/l/escaped"));
  }
}

TEST_F(CpExtract, RefusesMembersNotBelowTheSource) {
  EXPECT_NE(extract({{"./x", AE_IFDIR}, {"./other"}}, "x", "x"), "");
  EXPECT_FALSE(exists("dest/other"));
}

TEST_F(CpExtract, ReplacesASymlinkInTheDestinationInsteadOfFollowingIt) {
  { std::ofstream(root_ + "/victim/file") << "victim\n"; }
  ASSERT_EQ(::symlink((root_ + "/victim/file").c_str(), "a"), 0);
  ASSERT_EQ(::symlink((root_ + "/victim").c_str(), "d"), 0);
  EXPECT_EQ(extract({{"./a"}}, "a", "a"), "");
  EXPECT_EQ(extract({{"./d", AE_IFDIR}, {"./d/f"}}, "d", "d"), "");
  std::ifstream v(root_ + "/victim/file");
  std::string line;
  std::getline(v, line);
  EXPECT_EQ(line, "victim");
  EXPECT_FALSE(exists("victim/f"));
  struct stat st {};
  ASSERT_EQ(::lstat("a", &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  ASSERT_EQ(::lstat("d", &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

}  // namespace
}  // namespace fwctl
