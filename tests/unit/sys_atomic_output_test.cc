// AtomicOutput: the output file appears whole on commit() or not at all, never replaces
// anything but a regular file, and leaves no temporary behind.
#include "firmwared/sys/atomic_output.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fw::sys {
namespace {

class AtomicOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fw_atomic_output_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The names in the directory (to see temporaries).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static void write(const AtomicOutput& out, const std::string& data) {
    ASSERT_EQ(::write(out.fd(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }

  std::string dir_;
  ClientCredentials root_;
};

TEST_F(AtomicOutputTest, CommitRenamesTheTemporaryIntoPlace) {
  const std::string path = dir_ + "/out.tar";
  auto out = AtomicOutput::create(path, false, root_);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_EQ(names().size(), 1u);
  EXPECT_EQ(names()[0].rfind(".out.tar.", 0), 0u) << names()[0];
  write(**out, "data");
  ASSERT_TRUE((*out)->commit().ok());
  out->reset();
  EXPECT_EQ(names(), std::vector<std::string>{"out.tar"});
  EXPECT_EQ(read(path), "data");
}

TEST_F(AtomicOutputTest, WithoutCommitTheTemporaryIsRemoved) {
  {
    auto out = AtomicOutput::create(dir_ + "/out.tar", false, root_);
    ASSERT_TRUE(out.ok());
    write(**out, "half");
  }
  EXPECT_TRUE(names().empty());
}

TEST_F(AtomicOutputTest, AnExistingFileIsReplacedOnlyWithForce) {
  const std::string path = dir_ + "/out.tar";
  std::ofstream(path) << "old";
  auto refused = AtomicOutput::create(path, false, root_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, EEXIST);
  EXPECT_EQ(refused.error().message, "'" + path + "' exists (--force replaces it)");
  auto out = AtomicOutput::create(path, true, root_);
  ASSERT_TRUE(out.ok());
  write(**out, "new");
  ASSERT_TRUE((*out)->commit().ok());
  EXPECT_EQ(read(path), "new");
}

TEST_F(AtomicOutputTest, AFileAppearingMeanwhileIsNotReplacedWithoutForce) {
  const std::string path = dir_ + "/out.tar";
  auto out = AtomicOutput::create(path, false, root_);
  ASSERT_TRUE(out.ok());
  std::ofstream(path) << "theirs";
  auto s = (*out)->commit();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EEXIST);
  out->reset();
  EXPECT_EQ(read(path), "theirs");
  EXPECT_EQ(names(), std::vector<std::string>{"out.tar"});
}

TEST_F(AtomicOutputTest, NeverReplacesASymlinkOrADirectoryEvenWithForce) {
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/link").c_str()), 0);
  ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0755), 0);
  for (const char* name : {"link", "sub"}) {
    auto out = AtomicOutput::create(dir_ + "/" + name, true, root_);
    ASSERT_FALSE(out.ok()) << name;
    EXPECT_EQ(out.error().code, EINVAL) << name;
    EXPECT_NE(out.error().message.find("an export replaces only a regular file"),
              std::string::npos);
  }
  EXPECT_EQ(names(), (std::vector<std::string>{"link", "sub"}));
}

TEST_F(AtomicOutputTest, APathNamingNoFileIsEINVAL) {
  for (const std::string& path : {dir_ + "/", dir_ + "/.", dir_ + "/.."}) {
    auto out = AtomicOutput::create(path, false, root_);
    ASSERT_FALSE(out.ok()) << path;
    EXPECT_EQ(out.error().code, EINVAL) << path;
  }
}

TEST_F(AtomicOutputTest, AMissingDirectoryIsENOENT) {
  auto out = AtomicOutput::create(dir_ + "/none/out.tar", false, root_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, ENOENT);
}

}  // namespace
}  // namespace fw::sys
