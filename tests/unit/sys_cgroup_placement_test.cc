// Unit tests (no root) of where the daemon puts instance cgroups: by hand in
// <self>/<name>; under systemd as firmwared.service with Delegate=yes in the unit's own
// cgroup, the daemon itself moved into <unit>/supervisor. CgroupParent::open runs on
// directories standing in for cgroup mounts (the files the kernel would provide made by hand).

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "firmwared/sys/cgroup.h"

namespace fw::sys {
namespace {

CgroupLayout layout_with(const std::string& unified_self, const std::string& systemd_self) {
  CgroupLayout l;
  if (!systemd_self.empty()) {
    l.hierarchies.push_back({false, "/sys/fs/cgroup/systemd", {"name=systemd"}, systemd_self});
  }
  if (!unified_self.empty()) {
    l.hierarchies.push_back({true, "/sys/fs/cgroup/unified", {}, unified_self});
  }
  return l;
}

TEST(CgroupPlacementTest, ByHandIsNotDelegated) {
  const auto p = decide_placement(layout_with("/system.slice/firmwared.service", ""), false);
  EXPECT_EQ(p.unit, "");
  EXPECT_EQ(p.note, "");
}

TEST(CgroupPlacementTest, FirmwaredServiceUnderSystemdIsDelegated) {
  for (const char* unit : {"/system.slice/firmwared.service", "/system.slice/firmwared@a.service",
                           "/system.slice/firmwared-ci.service"}) {
    const auto p = decide_placement(layout_with(unit, "/"), true);
    EXPECT_EQ(p.unit, unit);
    EXPECT_EQ(p.note, "");
  }
}

TEST(CgroupPlacementTest, SupervisorLeafOfTheServiceNamesTheService) {
  // systemd's DelegateSubgroup=supervisor, or a daemon re-executed after its move.
  const auto p =
      decide_placement(layout_with("/system.slice/firmwared.service/supervisor", ""), true);
  EXPECT_EQ(p.unit, "/system.slice/firmwared.service");
}

TEST(CgroupPlacementTest, LegacyHostReadsTheNameSystemdHierarchy) {
  const auto p = decide_placement(layout_with("", "/system.slice/firmwared.service"), true);
  EXPECT_EQ(p.unit, "/system.slice/firmwared.service");
}

TEST(CgroupPlacementTest, AnotherServiceOrAnAncestorKeepsTheHandLayoutWithANote) {
  // Run from a CI runner's service: its cgroup is not delegated to firmwared.
  for (const char* self : {"/system.slice/gitlab-runner.service", "/system.slice", "/",
                           "/system.slice/notfirmwared.service", "/user.slice/firmwared.scope",
                           "/system.slice/other.service/supervisor"}) {
    const auto p = decide_placement(layout_with(self, ""), true);
    EXPECT_EQ(p.unit, "") << self;
    EXPECT_NE(p.note.find(self), std::string::npos) << p.note;
  }
}

class CgroupParentPlacementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fw_cgroup_placement.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  // A directory standing for a cgroup, with the files open() writes or reads.
  void cgroup_dir(const std::string& dir) {
    std::filesystem::create_directories(dir);
    for (const char* f : {"cgroup.procs", "cgroup.subtree_control"}) std::ofstream(dir + "/" + f);
  }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string root_;
};

TEST_F(CgroupParentPlacementTest, DelegatedUnitHoldsInstancesAndTheDaemonMovesToSupervisor) {
  const std::string unit = "/system.slice/firmwared.service";
  CgroupLayout l;
  // cgroup2 (no controllers offered, so nothing is enabled) and a v1 memory hierarchy where
  // systemd did not delegate (the daemon sits at its root there).
  l.hierarchies.push_back({true, root_ + "/unified", {}, unit});
  l.hierarchies.push_back({false, root_ + "/memory", {"memory"}, "/"});
  cgroup_dir(root_ + "/unified" + unit);
  cgroup_dir(root_ + "/unified" + unit + "/supervisor");
  std::filesystem::create_directories(root_ + "/memory");
  const auto placement = decide_placement(l, true);
  ASSERT_EQ(placement.unit, unit);

  auto parent = CgroupParent::open(l, "firmwared", placement);
  ASSERT_TRUE(parent.ok()) << parent.error().message;
  ASSERT_EQ(parent->dirs().size(), 2u);
  EXPECT_EQ(parent->dirs()[0], root_ + "/unified" + unit);
  EXPECT_TRUE(parent->delegated(0));
  EXPECT_EQ(parent->dirs()[1], root_ + "/memory/firmwared");  // the layout of a hand start
  EXPECT_FALSE(parent->delegated(1));
  // The daemon wrote itself ("0") into the supervisor leaf, not into the unit's cgroup.
  EXPECT_EQ(slurp(root_ + "/unified" + unit + "/supervisor/cgroup.procs"), "0");
  EXPECT_EQ(slurp(root_ + "/unified" + unit + "/cgroup.procs"), "");

  // The leftover sweep sees instance cgroups only: not the daemon's leaf, not systemd's
  // ".control".
  const std::string sha1 = "0123456789abcdef0123456789abcdef01234567";
  std::filesystem::create_directories(root_ + "/unified" + unit + "/" + sha1);
  std::filesystem::create_directories(root_ + "/unified" + unit + "/.control");
  EXPECT_EQ(parent->children(), std::vector<std::string>{sha1});

  // Shutdown leaves the unit's cgroup to systemd and removes the hand-layout directory.
  std::filesystem::remove(root_ + "/unified" + unit + "/" + sha1);
  EXPECT_TRUE(parent->remove_self_if_empty().ok());
  EXPECT_TRUE(std::filesystem::exists(root_ + "/unified" + unit + "/supervisor"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/memory/firmwared"));
}

TEST_F(CgroupParentPlacementTest, ByHandTheParentIsNamedBelowSelf) {
  CgroupLayout l;
  l.hierarchies.push_back({false, root_ + "/systemd", {"name=systemd"}, "/user.slice"});
  std::filesystem::create_directories(root_ + "/systemd/user.slice");
  auto parent = CgroupParent::open(l, "firmwared", decide_placement(l, false));
  ASSERT_TRUE(parent.ok()) << parent.error().message;
  EXPECT_EQ(parent->dirs(), std::vector<std::string>{root_ + "/systemd/user.slice/firmwared"});
  EXPECT_FALSE(parent->delegated(0));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/systemd/user.slice/supervisor"));
}

TEST_F(CgroupParentPlacementTest, AFailedMoveIntoSupervisorIsAnErrorNamingTheLeaf) {
  // No cgroup.procs in the leaf (here: the kernel refusing the move).
  const std::string unit = "/system.slice/firmwared.service";
  CgroupLayout l;
  l.hierarchies.push_back({false, root_ + "/systemd", {"name=systemd"}, unit});
  std::filesystem::create_directories(root_ + "/systemd" + unit);
  auto parent = CgroupParent::open(l, "firmwared", decide_placement(l, true));
  ASSERT_FALSE(parent.ok());
  EXPECT_NE(parent.error().message.find(unit + "/supervisor"), std::string::npos)
      << parent.error().message;
}

}  // namespace
}  // namespace fw::sys
