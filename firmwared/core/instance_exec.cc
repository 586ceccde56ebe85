#include "firmwared/core/instance_exec.h"

#include "firmwared/base/stdio_fd.h"
#include "firmwared/core/instances.h"

namespace fw::core {

namespace {

constexpr const char* kStreamNames[3] = {"stdin", "stdout", "stderr"};

// docs/security.md: only anonymous pipes and /dev/null, /dev/zero, /dev/full become a
// command's stdio; anything else could be reopened from inside the instance through
// /proc/PID/fd (a host file or directory, a terminal for TIOCSTI, a socket).
Status check_stdio(const std::string& name, const std::vector<Fd>& fds) {
  for (size_t i = 0; i < fds.size(); ++i) {
    const StdioKind kind = classify_stdio_fd(fds[i].get());
    if (stdio_may_cross(kind)) continue;
    return make_error(EINVAL, "EXEC " + name + ": " + kStreamNames[i] + " is " + describe(kind) +
                                  "; only pipes and /dev/null cross into an instance "
                                  "(fwctl relays terminals and files)");
  }
  return {};
}

}  // namespace

Result<std::string> InstancesExecTargets::name_of(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, instances_.find(id));
  return r.name;
}

Result<ExecTarget> InstancesExecTargets::started(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, instances_.find(id));
  FW_ASSIGN_OR_RETURN(const int pidfd, instances_.init_pidfd(id));
  return ExecTarget{r.name, r.sha1, pidfd, instances_.userns_effective(r),
                    instances_.cgroup_dirs(r.sha1)};
}

Status InstanceExec::check(const std::string& id) {
  FW_TRY(targets_.name_of(id));
  FW_TRY(targets_.started(id));
  return {};
}

sys::InstanceExecSpec InstanceExec::spec_for(const ExecTarget& target,
                                             const ExecCommand& command) const {
  sys::InstanceExecSpec spec;
  spec.argv = command.argv;
  spec.env = command.env;
  spec.workdir = command.workdir;
  spec.tty = command.tty;
  spec.rows = command.rows;
  spec.cols = command.cols;
  // The confinement of its PID 1, decided by the rule START follows: the profile START
  // gave PID 1 (fail closed if it is not loaded any more).
  if (profiles_ != nullptr && profiles_->enabled()) {
    spec.apparmor_profile = profiles_->profile_name(target.sha1);
  }
  spec.userns = target.userns;
  // A cgroup2 directory whose PID 1 enabled controllers for its children takes no process
  // itself: the command then goes to a leaf of its own below it.
  for (const auto& c : target.cgroup_dirs) {
    const size_t colon = c.find(':');
    const std::string dir = colon == std::string::npos ? c : c.substr(colon + 1);
    spec.cgroups.push_back({dir, dir + "/" + kExecLeafCgroup});
  }
  return spec;
}

Result<RunningExec> InstanceExec::run(const std::string& id, const ExecCommand& command,
                                      const std::vector<Fd>& stdio) {
  FW_ASSIGN_OR_RETURN(const std::string name, targets_.name_of(id));  // it may have died
  FW_TRY(check_stdio(name, stdio));
  FW_ASSIGN_OR_RETURN(const ExecTarget target, targets_.started(id));
  sys::InstanceExecSpec spec = spec_for(target, command);
  for (size_t i = 0; i < 3 && i < stdio.size(); ++i) spec.stdio[i] = stdio[i].get();
  auto control = sys::ExecControl::create();
  if (!control.ok()) return control.error().wrap("EXEC in instance " + target.name);
  // The waiter's end stays open here only until the waiter has its copy (fork).
  spec.control = control->second.get();
  auto waiter = spawner_.spawn(target.init_pidfd, spec);
  control->second.reset();
  if (!waiter.ok()) return waiter.error().wrap("EXEC in instance " + target.name);
  return RunningExec{target.name, std::move(*waiter), std::move(control->first)};
}

}  // namespace fw::core
