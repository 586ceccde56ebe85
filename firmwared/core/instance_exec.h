#pragma once
// EXEC's use case (docs/protocol.md "EXEC", docs/security.md): what runs when a client asks
// to run a command in a started instance. Core decides which instance and whether it may
// (started, stdio that may cross into it), and with what: the same AppArmor profile rule as
// START (ProfileManager::enabled()), the instance's user namespace, the cgroups it joins.
// The result is a plain sys::InstanceExecSpec carried out through the ExecSpawner seam
// (host::InstanceSpawner for real, a fake in unit tests).

#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/core/profiles.h"
#include "firmwared/sys/child.h"
#include "firmwared/sys/exec.h"
#include "firmwared/sys/exec_control.h"

namespace fw::core {

class Instances;

// What the client asked to run (EXEC's options).
struct ExecCommand {
  std::vector<std::string> argv;  // argv[0] not empty
  std::vector<std::string> env;   // NAME=VALUE
  std::string workdir = "/";
  bool tty = false;
  unsigned short rows = 0, cols = 0;  // with tty: the pty's size (0: unset)
};

// What EXEC needs to know of a started instance.
struct ExecTarget {
  std::string name, sha1;
  int init_pidfd = -1;                   // owned by the instance
  bool userns = false;                   // it runs in a user namespace of its own
  std::vector<std::string> cgroup_dirs;  // "KIND:DIR" or "DIR", one per hierarchy
};

// The instances seen by EXEC. InstancesExecTargets is the real one.
class ExecTargets {
 public:
  virtual ~ExecTargets() = default;
  // The instance `id`: ENOENT when there is none (the folder's message).
  virtual Result<std::string> name_of(const std::string& id) = 0;
  // The started instance `id`: ENOENT as name_of, EBUSY when it is not started.
  virtual Result<ExecTarget> started(const std::string& id) = 0;
};

class InstancesExecTargets final : public ExecTargets {
 public:
  explicit InstancesExecTargets(Instances& instances) : instances_(instances) {}
  Result<std::string> name_of(const std::string& id) override;
  Result<ExecTarget> started(const std::string& id) override;

 private:
  Instances& instances_;
};

// Starts a spec in the namespaces of a PID 1: the seam between the use case and fork.
class ExecSpawner {
 public:
  virtual ~ExecSpawner() = default;
  // The waiter child: it exits with the command's status. Errors name the failing step.
  virtual Result<sys::Child> spawn(int init_pidfd, const sys::InstanceExecSpec& spec) = 0;
};

// The leaf an EXEC's command joins below a cgroup2 directory that takes no process.
inline constexpr const char* kExecLeafCgroup = "firmwared-exec.scope";

struct RunningExec {
  std::string name;  // the instance's
  sys::Child waiter;
  // Orders for the waiter while the command runs (signal, resize); closing it ends the
  // command (sys/exec.h, "Teardown").
  sys::ExecControl control;
};

class InstanceExec {
 public:
  // `profiles` null: no AppArmor profile (as for START).
  InstanceExec(ExecTargets& targets, const ProfileManager* profiles, ExecSpawner& spawner)
      : targets_(targets), profiles_(profiles), spawner_(spawner) {}

  // Before the client's descriptors are asked for: ENOENT for an unknown instance, EBUSY
  // when it is not started.
  Status check(const std::string& id);
  // Runs `command` in instance `id` with `stdio` (the client's stdin, stdout, stderr) as
  // its standard streams. Errors: those of check() (the instance may have died since),
  // EINVAL naming the first stream that may not cross into an instance (only anonymous
  // pipes and /dev/null, /dev/zero, /dev/full may), the spawner's wrapped with the
  // instance's name, pipe2's for the control pipe.
  Result<RunningExec> run(const std::string& id, const ExecCommand& command,
                          const std::vector<Fd>& stdio);
  // The spec run() hands to the spawner (for tests and run()).
  sys::InstanceExecSpec spec_for(const ExecTarget& target, const ExecCommand& command) const;

 private:
  ExecTargets& targets_;
  const ProfileManager* profiles_;
  ExecSpawner& spawner_;
};

}  // namespace fw::core
