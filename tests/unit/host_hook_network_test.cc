// HookNetwork's owner mark: one per daemon state, whatever spelling of mount_path names it.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "firmwared/config/config.h"
#include "firmwared/host/hook_network.h"
#include "firmwared/host/process_runner.h"

namespace {

std::string owner_for(const std::string& mount_path) {
  auto config = fw::config::Config::parse("", "t.conf", {{"FIRMWARED_MOUNT_PATH", mount_path}});
  EXPECT_TRUE(config.ok());
  fw::host::ProcessRunner runner(nullptr);
  fw::host::HookNetwork network(runner, *config);
  return network.owner();
}

TEST(HookNetworkOwner, OneMarkPerStateWhateverThePathSpelling) {
  char tmpl[] = "/tmp/fw_owner_test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string link = dir + ".link";
  ASSERT_EQ(::symlink(dir.c_str(), link.c_str()), 0);
  const std::string mark = owner_for(dir);
  EXPECT_EQ(mark.rfind("firmwared:", 0), 0u) << mark;
  EXPECT_EQ(mark.size(), std::string("firmwared:").size() + 16);
  EXPECT_EQ(owner_for(dir + "/"), mark);
  EXPECT_EQ(owner_for(dir + "//"), mark);
  EXPECT_EQ(owner_for(link), mark);
  EXPECT_NE(owner_for(dir + "/other"), mark);  // another state, another owner
  ::unlink(link.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
