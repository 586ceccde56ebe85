// HookNetwork's owner mark: one per daemon state, whatever spelling of mount_path names it;
// a setup and the deletion of a veth of the same name never overlap.

#include <event2/event.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
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

// HookNetwork on a real loop with a fake helper (a script run once per call): a setup never
// overlaps the background deletion of a veth of the same name, which the helper finds by
// name and would take the new veth for.
namespace {

class HookNetworkLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    // The setup pins a network namespace: a bind mount.
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the setup bind-mounts a netns pin)";
    base_ = event_base_new();
    ASSERT_NE(base_, nullptr);
    char tmpl[] = "/tmp/fw_hook_network_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    log_ = dir_ + "/calls";
    // Not a serving helper (one exec per call); `clean` takes 300 ms.
    const std::string hook = dir_ + "/hook";
    FILE* f = std::fopen(hook.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(("#!/bin/sh\n"
                "[ \"$1\" = serve ] && exit 3\n"
                "if [ \"$1\" = clean ]; then\n"
                "  echo \"clean $3 begins\" >>'" +
                log_ +
                "'\n"
                "  sleep 0.3\n"
                "  echo \"clean $3 ends\" >>'" +
                log_ +
                "'\n"
                "else\n"
                "  echo \"$1\" >>'" +
                log_ +
                "'\n"
                "fi\n")
                   .c_str(),
               f);
    std::fclose(f);
    ::chmod(hook.c_str(), 0755);
    auto config = fw::config::Config::parse(
        "", "t.conf", {{"FIRMWARED_MOUNT_PATH", dir_}, {"FIRMWARED_NET_HOOK", hook}});
    ASSERT_TRUE(config.ok()) << config.error().message;
    config_.emplace(std::move(*config));
    runner_ = std::make_unique<fw::host::ProcessRunner>(base_);
    network_ = std::make_unique<fw::host::HookNetwork>(*runner_, *config_);
    plan_.instance = "inst";
    plan_.workspace = dir_;
    plan_.monitor_pid = ::getpid();
    plan_.host_if = "fwhnt0";  // never created: the helper is a fake
    plan_.inner_if = "eth0";
    plan_.host_addr = "10.250.0.254/24";
    plan_.inner_addr = "10.250.0.1/24";
  }
  void TearDown() override {
    network_.reset();
    runner_.reset();
    if (base_ != nullptr) event_base_free(base_);
    if (!dir_.empty())
      std::system(("umount -l '" + dir_ + "/netns' 2>/dev/null; rm -rf '" + dir_ + "'").c_str());
  }
  // Runs the loop until `*done` (or 10 s passed).
  void run_until(const bool* done) {
    for (int i = 0; i < 1000 && !*done; ++i) {
      const timeval tick{0, 10000};
      event_base_loopexit(base_, &tick);
      event_base_dispatch(base_);
    }
    EXPECT_TRUE(*done);
  }
  std::string calls() {
    std::string out;
    if (FILE* f = std::fopen(log_.c_str(), "r")) {
      char buf[256];
      while (std::fgets(buf, sizeof(buf), f) != nullptr) out += buf;
      std::fclose(f);
    }
    return out;
  }

  event_base* base_ = nullptr;
  std::string dir_, log_;
  std::optional<fw::config::Config> config_;
  std::unique_ptr<fw::host::ProcessRunner> runner_;
  std::unique_ptr<fw::host::HookNetwork> network_;
  fw::core::NetworkPlan plan_;
};

TEST_F(HookNetworkLoop, ASetupWaitsForTheDeletionOfItsVethName) {
  bool torn = false, set = false;
  fw::Status setup_status = fw::make_error(EINPROGRESS, "not answered");
  network_->teardown(plan_, [&](fw::Status) { torn = true; });
  // As the next run's (or standby's) setup does: at once after the teardown's answer.
  network_->setup(plan_, [&](fw::Status s) {
    setup_status = s;
    set = true;
  });
  run_until(&set);
  EXPECT_TRUE(torn);
  EXPECT_TRUE(setup_status.ok()) << setup_status.error().message;
  EXPECT_EQ(calls(), "clean fwhnt0 begins\nclean fwhnt0 ends\ncreate\n");
  bool again = false;
  network_->teardown(plan_, [&](fw::Status) { again = true; });
  run_until(&again);
}

}  // namespace
