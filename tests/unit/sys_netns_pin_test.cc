// sys::NetnsPin: removal of adopted pins (absent, plain file), release, and a failed pin
// leaving nothing; pinning a real namespace needs root and is checked only then.
#include "firmwared/sys/netns_pin.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace fw::sys {
namespace {

class NetnsPinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fw_netns_pin_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ::unlink(file().c_str());
    ::rmdir(dir_.c_str());
  }
  std::string file() const { return dir_ + "/netns"; }
  bool exists() const { return ::access(file().c_str(), F_OK) == 0; }
  std::string dir_;
};

bool mounted(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.find(" " + path + " ") != std::string::npos) return true;
  }
  return false;
}

TEST_F(NetnsPinTest, RemovingAnAbsentPinSucceeds) {
  auto pin = NetnsPin::adopt(file());
  EXPECT_TRUE(pin.remove().ok());
  EXPECT_FALSE(pin);
}

TEST_F(NetnsPinTest, AnAdoptedUnmountedFileIsRemovedByTheDestructor) {
  std::ofstream(file()) << "";
  ASSERT_TRUE(exists());
  { auto pin = NetnsPin::adopt(file()); }
  EXPECT_FALSE(exists());
}

TEST_F(NetnsPinTest, ReleaseLeavesTheFile) {
  std::ofstream(file()) << "";
  auto pin = NetnsPin::adopt(file());
  EXPECT_EQ(pin.release(), file());
  EXPECT_FALSE(pin);
  EXPECT_TRUE(pin.remove().ok());
  EXPECT_TRUE(exists());
}

TEST_F(NetnsPinTest, AFailedPinLeavesNothing) {
  // No such process (above PID_MAX_LIMIT): the bind mount fails, the file goes.
  auto pin = NetnsPin::pin(99999999, file(), "the network namespace of x");
  ASSERT_FALSE(pin.ok());
  EXPECT_EQ(pin.error().message.rfind("pinning the network namespace of x on '" + file() + "'", 0),
            0u)
      << pin.error().message;
  EXPECT_FALSE(exists());
}

TEST_F(NetnsPinTest, NeverCreatedThroughASymlink) {
  const std::string target = dir_ + "/target";
  ASSERT_EQ(::symlink(target.c_str(), file().c_str()), 0);
  auto pin = NetnsPin::pin(::getpid(), file(), "ours");
  ASSERT_FALSE(pin.ok());
  EXPECT_EQ(pin.error().code, ELOOP);
  EXPECT_NE(::access(target.c_str(), F_OK), 0);
}

TEST_F(NetnsPinTest, PinsAndUnpinsOurOwnNamespaceAsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "bind mounts need root";
  {
    auto pin = NetnsPin::pin(::getpid(), file(), "ours");
    ASSERT_TRUE(pin.ok()) << pin.error().message;
    EXPECT_TRUE(mounted(file()));
  }
  EXPECT_FALSE(mounted(file()));
  EXPECT_FALSE(exists());
}

}  // namespace
}  // namespace fw::sys
