// InstanceExec: EXEC's decisions (which instance, its state, the stdio that may cross, the
// AppArmor profile by START's rule, the user namespace, the cgroups to join) through fake
// instances, profiles and spawner.
#include "firmwared/core/instance_exec.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <optional>

namespace fw::core {
namespace {

class FakeTargets final : public ExecTargets {
 public:
  std::map<std::string, ExecTarget> started_instances;
  std::map<std::string, std::string> ready_instances;  // id → name

  Result<std::string> name_of(const std::string& id) override {
    if (auto it = started_instances.find(id); it != started_instances.end()) {
      return it->second.name;
    }
    if (auto it = ready_instances.find(id); it != ready_instances.end()) return it->second;
    return make_error(ENOENT, "no instance " + id);
  }
  Result<ExecTarget> started(const std::string& id) override {
    if (auto it = started_instances.find(id); it != started_instances.end()) return it->second;
    FW_ASSIGN_OR_RETURN(auto name, name_of(id));
    return make_error(EBUSY, "instance " + name + " is ready, not started: START it first");
  }
};

class FakeProfiles final : public ProfileManager {
 public:
  bool on = false;
  bool enabled() const override { return on; }
  std::string profile_name(const std::string& sha1) const override { return "firmwared_" + sha1; }
  Status load(const std::string&, const std::string&) override { return {}; }
  Status remove(const std::string&) override { return {}; }
};

class FakeSpawner final : public ExecSpawner {
 public:
  std::optional<sys::InstanceExecSpec> spec;
  int pidfd = -1;
  std::optional<Error> fail;
  int exit_code = 0;

  Result<sys::Child> spawn(int init_pidfd, const sys::InstanceExecSpec& s) override {
    spec = s;
    pidfd = init_pidfd;
    if (fail) return *fail;
    const int code = exit_code;
    return sys::Child::fork("a fake waiter", [code]() { return code; });
  }
};

// Three pipe ends: stdio that may cross into an instance.
std::vector<Fd> pipes() {
  std::vector<Fd> fds;
  for (int i = 0; i < 2; ++i) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    fds.emplace_back(p[0]);
    fds.emplace_back(p[1]);
  }
  fds.pop_back();
  return fds;
}

class InstanceExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    targets_.started_instances["web"] = {"web", "abc123", 42, false, {}};
    targets_.ready_instances["idle"] = "idle";
    command_.argv = {"sh", "-c", "true"};
  }

  FakeTargets targets_;
  FakeProfiles profiles_;
  FakeSpawner spawner_;
  InstanceExec exec_{targets_, &profiles_, spawner_};
  ExecCommand command_;
};

TEST_F(InstanceExecTest, UnknownInstanceIsENOENTAndSpawnsNothing) {
  EXPECT_EQ(exec_.check("nobody").error().code, ENOENT);
  auto r = exec_.run("nobody", command_, pipes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_FALSE(spawner_.spec);
}

TEST_F(InstanceExecTest, InstanceNotStartedIsEBUSYAndSpawnsNothing) {
  EXPECT_EQ(exec_.check("idle").error().code, EBUSY);
  auto r = exec_.run("idle", command_, pipes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EBUSY);
  EXPECT_EQ(r.error().message, "instance idle is ready, not started: START it first");
  EXPECT_FALSE(spawner_.spec);
}

TEST_F(InstanceExecTest, StdioThatMayNotCrossIsEINVALNamingTheStream) {
  auto fds = pipes();
  fds[1] = Fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto r = exec_.run("web", command_, fds);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(r.error().message.rfind("EXEC web: stdout is ", 0), 0u) << r.error().message;
  EXPECT_FALSE(spawner_.spec);
}

TEST_F(InstanceExecTest, RunsTheCommandInPid1sNamespacesWithTheClientsStdio) {
  command_.env = {"A=1"};
  command_.workdir = "/etc";
  command_.tty = true;
  command_.rows = 33;
  command_.cols = 77;
  spawner_.exit_code = 3;
  auto fds = pipes();
  auto r = exec_.run("web", command_, fds);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "web");
  EXPECT_EQ(spawner_.pidfd, 42);
  const auto& s = *spawner_.spec;
  EXPECT_EQ(s.argv, command_.argv);
  EXPECT_EQ(s.env, command_.env);
  EXPECT_EQ(s.workdir, "/etc");
  EXPECT_TRUE(s.tty);
  EXPECT_EQ(s.rows, 33);
  EXPECT_EQ(s.cols, 77);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.stdio[i], fds[static_cast<size_t>(i)].get());
  auto exit = r->waiter.wait();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->status(), 3);
}

TEST_F(InstanceExecTest, TheProfileFollowsStartsRule) {
  profiles_.on = true;
  ASSERT_TRUE(exec_.run("web", command_, pipes()).ok());
  EXPECT_EQ(spawner_.spec->apparmor_profile, "firmwared_abc123");
  profiles_.on = false;
  ASSERT_TRUE(exec_.run("web", command_, pipes()).ok());
  EXPECT_EQ(spawner_.spec->apparmor_profile, "");
  InstanceExec without(targets_, nullptr, spawner_);
  ASSERT_TRUE(without.run("web", command_, pipes()).ok());
  EXPECT_EQ(spawner_.spec->apparmor_profile, "");
}

TEST_F(InstanceExecTest, AUsernsInstanceIsJoinedAsItsRoot) {
  EXPECT_FALSE(exec_.spec_for(targets_.started_instances["web"], command_).userns);
  targets_.started_instances["web"].userns = true;
  ASSERT_TRUE(exec_.run("web", command_, pipes()).ok());
  EXPECT_TRUE(spawner_.spec->userns);
}

TEST_F(InstanceExecTest, TheInstancesCgroupsAreJoinedWithALeafFallback) {
  EXPECT_TRUE(exec_.spec_for(targets_.started_instances["web"], command_).cgroups.empty());
  targets_.started_instances["web"].cgroup_dirs = {"/sys/fs/cgroup/fw/abc",
                                                   "memory:/sys/fs/cgroup/memory/fw/abc"};
  ASSERT_TRUE(exec_.run("web", command_, pipes()).ok());
  const auto& c = spawner_.spec->cgroups;
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].dir, "/sys/fs/cgroup/fw/abc");
  EXPECT_EQ(c[0].leaf, "/sys/fs/cgroup/fw/abc/firmwared-exec.scope");
  EXPECT_EQ(c[1].dir, "/sys/fs/cgroup/memory/fw/abc");
  EXPECT_EQ(c[1].leaf, "/sys/fs/cgroup/memory/fw/abc/firmwared-exec.scope");
}

TEST_F(InstanceExecTest, ASpawnFailureNamesTheInstance) {
  spawner_.fail = Error{ESRCH, "the instance's PID 1 is gone"};
  auto r = exec_.run("web", command_, pipes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ESRCH);
  EXPECT_EQ(r.error().message, "EXEC in instance web: the instance's PID 1 is gone");
}

}  // namespace
}  // namespace fw::core
