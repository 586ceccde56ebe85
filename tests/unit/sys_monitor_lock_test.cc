// The monitor lock: taken once per workspace, seen held by a probe, its
// content read back, free again once its holder closes it, and never inherited past exec.

#include "firmwared/sys/monitor_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace fw::sys {
namespace {

class MonitorLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/fw_lock_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ws_ = Fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(ws_.valid());
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
  Fd ws_;
};

TEST_F(MonitorLockTest, NoFileMeansNoMonitor) {
  auto info = inspect_monitor_lock(dir_);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_FALSE(info->present);
  EXPECT_FALSE(info->held);
}

TEST_F(MonitorLockTest, AHeldLockIsSeenWithItsContentAndRefusesASecondMonitor) {
  auto lock = take_monitor_lock(ws_.get());
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  ASSERT_TRUE(write_monitor_lock(lock->get(), 1234, 5678, 0).ok());
  auto info = inspect_monitor_lock(dir_);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->present);
  EXPECT_TRUE(info->held);
  EXPECT_EQ(info->monitor_pid, 1234);
  EXPECT_EQ(info->start_time, 5678u);
  EXPECT_EQ(info->init_pid, 0);
  ASSERT_TRUE(write_monitor_lock(lock->get(), 1234, 5678, 99999).ok());
  EXPECT_EQ(inspect_monitor_lock(dir_)->init_pid, 99999);
  auto second = take_monitor_lock(ws_.get());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, EBUSY);
  EXPECT_TRUE(inspect_monitor_lock(dir_)->held) << "the probe does not steal the lock";

  lock->reset();  // the monitor is gone
  info = inspect_monitor_lock(dir_);
  EXPECT_TRUE(info->present);
  EXPECT_FALSE(info->held);
  EXPECT_TRUE(wait_monitor_lock_free(dir_, 0).ok());
}

TEST_F(MonitorLockTest, WaitingForAHeldLockTimesOut) {
  auto lock = take_monitor_lock(ws_.get());
  ASSERT_TRUE(lock.ok());
  auto s = wait_monitor_lock_free(dir_, 30);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ETIMEDOUT);
}

TEST_F(MonitorLockTest, TheLockIsCloseOnExec) {
  auto lock = take_monitor_lock(ws_.get());
  ASSERT_TRUE(lock.ok());
  EXPECT_NE(::fcntl(lock->get(), F_GETFD) & FD_CLOEXEC, 0) << "PID 1 must not inherit it";
}

}  // namespace
}  // namespace fw::sys
