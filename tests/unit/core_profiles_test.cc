// The instances folder and its AppArmor profiles without root: a
// recording ProfileManager is injected through InstancesDeps::profiles. Pins when PREPARE
// loads the profile, that a load failure fails PREPARE and rolls everything back, that
// START passes the profile to the monitor only when AppArmor is used, that DROP removes it;
// and AppArmorProfiles on a kernel without AppArmor (this machine): nothing loaded, the
// generated profile dumped when dump_profile=y.

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/core/executor.h"
#include "firmwared/core/firmware_mounter.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/instance_mounter.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/launcher.h"
#include "firmwared/core/names.h"
#include "firmwared/core/profiles.h"
#include "firmwared/sys/apparmor.h"
#include "tests/unit/core_test_support.h"

namespace fw::core {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

class FakeProfiles final : public ProfileManager {
 public:
  bool on = true;
  std::optional<Error> fail_load;
  Strings calls;

  bool enabled() const override { return on; }
  std::string profile_name(const std::string& sha1) const override { return "firmwared_" + sha1; }
  Status load(const std::string& sha1, const std::string& workspace) override {
    calls.push_back("load " + sha1 + " " + workspace);
    if (fail_load) return *fail_load;
    return {};
  }
  Status remove(const std::string& sha1) override {
    calls.push_back("remove " + sha1);
    return {};
  }
};

class NullSink final : public EventSink {
 public:
  void emit(const std::string&, EventFields) override {}
};

class NullMonitor final : public RunningMonitor {
 public:
  int64_t monitor_pid() const override { return 1000; }
  uint64_t monitor_start_time() const override { return 1; }
  int64_t init_pid() const override { return 0; }
  void proceed() override {}
  Status kill_init() override { return {}; }
  void kill_monitor() override {}
};

// Records the specs it is asked to launch.
class SpecLauncher final : public Launcher {
 public:
  std::vector<LaunchSpec> specs;
  Result<std::unique_ptr<RunningMonitor>> launch(const LaunchSpec& spec, MonitorEvents) override {
    specs.push_back(spec);
    return std::unique_ptr<RunningMonitor>(std::make_unique<NullMonitor>());
  }
  Result<std::unique_ptr<RunningMonitor>> adopt(int64_t, uint64_t, int64_t, const std::string&,
                                                MonitorEvents) override {
    return make_error(ESRCH, "gone");
  }
};

class NullTimers final : public Timers {
 public:
  void after(int, std::function<void()>) override {}
};

const std::string kFwSha1(40, 'f');

class InstanceProfilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/fw_profiles_test.XXXXXX";
    ASSERT_NE(::mkdtemp(d), nullptr);
    tmp_ = d;
    fs::create_directories(tmp_ + "/mnt/firmwares");
    auto cat = catalogue::Catalogue::open(":memory:");
    ASSERT_TRUE(cat.ok()) << cat.error().message;
    cat_.emplace(std::move(*cat));
    auto words = WordLists::from_words({"brave", "calm"}, {"otter", "heron"});
    ASSERT_TRUE(words.ok()) << words.error().message;
    words_.emplace(std::move(*words));
    catalogue::FirmwareRecord fw;
    fw.sha1 = kFwSha1;
    fw.name = "base_firmware";
    fw.path = tmp_ + "/rootfs";
    fw.source_path = fw.path;
    fw.format = "dir";
    fw.created = 1;
    ASSERT_TRUE(cat_->put_firmware(fw).ok());
    auto config = config::Config::parse(
        "[firmwared]\nmount_path = " + tmp_ + "/mnt\nrepository_path = " + tmp_ + "/repo\n",
        "t.conf", {});
    ASSERT_TRUE(config.ok()) << config.error().message;
    config_.emplace(std::move(*config));
    firmwares_ = std::make_unique<Firmwares>(
        FirmwaresDeps{*cat_, *config_, executor_, sink_, *words_, fw_mounter_});
    instances_ = std::make_unique<Instances>(InstancesDeps{*cat_, *config_, sink_, *words_,
                                                           *firmwares_, mounter_, launcher_,
                                                           timers_, nullptr, &profiles_});
  }
  void TearDown() override {
    instances_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  Result<EntitySummary> prepare() {
    std::optional<Result<EntitySummary>> out;
    instances_->prepare(kFwSha1, std::nullopt,
                        [&](Result<EntitySummary> r) { out.emplace(std::move(r)); });
    if (!out) return make_error(EINPROGRESS, "PREPARE did not complete inline");
    return std::move(*out);
  }
  std::string ws(const std::string& sha1) const { return tmp_ + "/mnt/instances/" + sha1; }
  std::string fw_mount() const { return tmp_ + "/mnt/firmwares/" + kFwSha1; }

  std::string tmp_;
  std::optional<catalogue::Catalogue> cat_;
  std::optional<WordLists> words_;
  std::optional<config::Config> config_;
  InlineExecutor executor_;
  NullSink sink_;
  fakes::FakeFirmwareMounter fw_mounter_;
  fakes::FakeInstanceMounter mounter_;
  SpecLauncher launcher_;
  NullTimers timers_;
  FakeProfiles profiles_;
  std::unique_ptr<Firmwares> firmwares_;
  std::unique_ptr<Instances> instances_;
};

TEST_F(InstanceProfilesTest, PrepareLoadsTheProfileOnceTheWorkspaceIsMounted) {
  auto s = prepare();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(profiles_.calls, Strings{"load " + s->sha1 + " " + ws(s->sha1)});
  const std::string w = ws(s->sha1);
  EXPECT_EQ(mounter_.calls,
            (Strings{"mount_lower " + fw_mount() + " " + w + "/ro",
                     "mount_overlay " + w + "/ro " + w + "/rw " + w + "/work " + w + "/union"}));
}

TEST_F(InstanceProfilesTest, AProfileLoadFailureFailsPrepareAndRollsBack) {
  profiles_.fail_load =
      make_error(EINVAL, "loading AppArmor profile x: apparmor_parser: syntax error");
  auto s = prepare();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, EINVAL);
  EXPECT_NE(s.error().message.find("preparing instance "), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(": loading AppArmor profile x: apparmor_parser: syntax error"),
            std::string::npos)
      << s.error().message;
  ASSERT_EQ(mounter_.calls.size(), 5u) << ::testing::PrintToString(mounter_.calls);
  const std::string ro = mounter_.calls[0].substr(mounter_.calls[0].rfind(' ') + 1);
  const std::string w = ro.substr(0, ro.size() - 3);
  EXPECT_EQ(mounter_.calls[2], "unmount " + w + "/union");
  EXPECT_EQ(mounter_.calls[3], "unmount " + w + "/ro");
  EXPECT_EQ(mounter_.calls[4], "remove_tree " + w);
  EXPECT_EQ(profiles_.calls.size(), 1u) << "nothing loaded, nothing to remove";
  EXPECT_FALSE(fs::exists(w));
  auto all = cat_->list_instances();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST_F(InstanceProfilesTest, ACatalogueFailureAfterTheLoadRemovesTheProfile) {
  // The firmware vanishes between the load and the record: put_instance fails (foreign key).
  profiles_.fail_load.reset();
  struct DeletingProfiles final : public ProfileManager {
    FakeProfiles* inner;
    catalogue::Catalogue* cat;
    bool enabled() const override { return true; }
    std::string profile_name(const std::string& sha1) const override {
      return inner->profile_name(sha1);
    }
    Status load(const std::string& sha1, const std::string& workspace) override {
      (void)cat->delete_firmware(kFwSha1);
      return inner->load(sha1, workspace);
    }
    Status remove(const std::string& sha1) override { return inner->remove(sha1); }
  } deleting;
  deleting.inner = &profiles_;
  deleting.cat = &*cat_;
  instances_ =
      std::make_unique<Instances>(InstancesDeps{*cat_, *config_, sink_, *words_, *firmwares_,
                                                mounter_, launcher_, timers_, nullptr, &deleting});
  auto s = prepare();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("recording instance "), std::string::npos) << s.error().message;
  ASSERT_EQ(profiles_.calls.size(), 2u);
  const std::string sha1 = profiles_.calls[0].substr(5, 40);
  EXPECT_EQ(profiles_.calls[1], "remove " + sha1);
  EXPECT_EQ(mounter_.calls.back(), "remove_tree " + ws(sha1));
  instances_.reset();  // it points at `deleting`
}

TEST_F(InstanceProfilesTest, StartPassesTheProfileWhenAppArmorIsUsed) {
  auto s = prepare();
  ASSERT_TRUE(s.ok()) << s.error().message;
  instances_->start(s->name, [](Result<EntitySummary>) {});
  ASSERT_EQ(launcher_.specs.size(), 1u);
  EXPECT_EQ(launcher_.specs[0].apparmor_profile, "firmwared_" + s->sha1);
}

TEST_F(InstanceProfilesTest, StartPassesNoProfileWithoutAppArmor) {
  profiles_.on = false;
  auto s = prepare();
  ASSERT_TRUE(s.ok()) << s.error().message;
  instances_->start(s->name, [](Result<EntitySummary>) {});
  ASSERT_EQ(launcher_.specs.size(), 1u);
  EXPECT_EQ(launcher_.specs[0].apparmor_profile, "");
  // userns=auto without AppArmor: a user namespace, the first range of the default pool.
  EXPECT_EQ(launcher_.specs[0].uid_base, 1879048192u);
  const std::string w = ws(s->sha1);
  EXPECT_EQ(mounter_.calls.back(), "mount_overlay_idmapped " + fw_mount() + " " + w + "/rw " + w +
                                       "/work " + w + "/union 1879048192+65536");
}

TEST_F(InstanceProfilesTest, AutoUnderAppArmorRunsWithoutAUserNamespace) {
  profiles_.on = true;
  auto s = prepare();
  ASSERT_TRUE(s.ok()) << s.error().message;
  instances_->start(s->name, [](Result<EntitySummary>) {});
  ASSERT_EQ(launcher_.specs.size(), 1u);
  EXPECT_EQ(launcher_.specs[0].apparmor_profile, "firmwared_" + s->sha1);
  EXPECT_EQ(launcher_.specs[0].uid_base, 0u);
  const std::string w = ws(s->sha1);
  EXPECT_EQ(mounter_.calls.back(),
            "mount_overlay " + w + "/ro " + w + "/rw " + w + "/work " + w + "/union");
}

TEST_F(InstanceProfilesTest, DropRemovesTheProfile) {
  auto s = prepare();
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto d = instances_->drop(s->name);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(profiles_.calls.back(), "remove " + s->sha1);
}

// ---- AppArmorProfiles where the kernel has no AppArmor ----------------------------------

class AppArmorProfilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (sys::apparmor::available().ok()) GTEST_SKIP() << "this kernel has AppArmor";
  }
  config::Config config(const std::map<std::string, std::string>& env) {
    auto c = config::Config::parse("", "t.conf", env);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return std::move(*c);
  }
};

TEST_F(AppArmorProfilesTest, WithoutAppArmorNothingIsLoadedNorWarnedWhenDisabled) {
  auto c = config({{"FIRMWARED_DISABLE_APPARMOR", "y"}});
  ::testing::internal::CaptureStderr();
  AppArmorProfiles p(c);
  EXPECT_FALSE(p.enabled());
  EXPECT_TRUE(p.load(std::string(40, 'a'), "/tmp/ws").ok());
  EXPECT_TRUE(p.remove(std::string(40, 'a')).ok());
  p.restore({{std::string(40, 'a'), "/tmp/ws"}});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(AppArmorProfilesTest, WithoutAppArmorTheDaemonWarnsOnce) {
  auto c = config({});
  ::testing::internal::CaptureStderr();
  AppArmorProfiles p(c);
  EXPECT_TRUE(p.load(std::string(40, 'a'), "/tmp/ws").ok());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("<4>AppArmor is not available: ", 0), 0u) << err;
  EXPECT_NE(err.find("disable_apparmor=y silences this warning"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
}

TEST_F(AppArmorProfilesTest, DumpProfileLogsTheGeneratedProfile) {
  auto c = config({{"FIRMWARED_DUMP_PROFILE", "y"},
                   {"FIRMWARED_DISABLE_APPARMOR", "y"},
                   {"FIRMWARED_APPARMOR_PROFILE",
                    std::string(FW_SOURCE_DIR) + "/apparmor-profiles/firmwared-instance"}});
  AppArmorProfiles p(c);
  ::testing::internal::CaptureStderr();
  const std::string sha1(40, 'b');
  EXPECT_TRUE(p.load(sha1, "/tmp/ws").ok());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("AppArmor profile firmwared_" + sha1 + " (not loaded: AppArmor is not used):"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("\nprofile firmwared_" + sha1 + " flags="), std::string::npos) << err;
  EXPECT_NE(err.find("\n@{root}=\"/tmp/ws\"\n"), std::string::npos) << err;
}

TEST_F(AppArmorProfilesTest, DumpProfileWithAMissingTemplateIsAnError) {
  auto c = config({{"FIRMWARED_DUMP_PROFILE", "y"},
                   {"FIRMWARED_DISABLE_APPARMOR", "y"},
                   {"FIRMWARED_APPARMOR_PROFILE", "/nonexistent/template"}});
  AppArmorProfiles p(c);
  const Status s = p.load(std::string(40, 'c'), "/tmp/ws");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ENOENT);
  EXPECT_NE(s.error().message.find("generating AppArmor profile firmwared_"), std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace fw::core
