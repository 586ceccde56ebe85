#pragma once
// The cgroups of instances: one per instance, in the daemon's own directory of every cgroup
// hierarchy the host has (sys/cgroup.h), made before PID 1 exists and removed when its run
// ends. Behind an interface so the instances folder is unit-tested with a fake.

#include <memory>
#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/sys/cgroup.h"

namespace fw::core {

class InstanceCgroups {
 public:
  virtual ~InstanceCgroups() = default;
  // Makes instance `sha1`'s cgroup (a leftover of the same name is removed first), with
  // `limits` and the device policy, delegated to `delegate_uid` (0: none). Returns one
  // directory per hierarchy, as "<kind>:<dir>" (kind "unified" or the v1 controllers, e.g.
  // "memory", "name=systemd"): what the monitor moves PID 1 into and mounts for it.
  virtual Result<std::vector<std::string>> create(const std::string& sha1,
                                                  const sys::CgroupLimits& limits,
                                                  uint32_t delegate_uid) = 0;
  // The "KIND:DIR" list create() returned for `sha1` (whether or not it exists now).
  virtual std::vector<std::string> dirs(const std::string& sha1) = 0;
  virtual Status set_limits(const std::string& sha1, const sys::CgroupLimits& limits) = 0;
  virtual Result<sys::CgroupStats> stats(const std::string& sha1) = 0;
  // Kills whatever is left in it and removes it. Not there counts as success.
  virtual Status remove(const std::string& sha1) = 0;
  // Names of the instance cgroups present (for the sweep of leftovers at daemon start).
  virtual std::vector<std::string> present() = 0;
};

// The real one, over sys::CgroupParent. open() fails when the host has no cgroup hierarchy
// the daemon can write.
class KernelInstanceCgroups final : public InstanceCgroups {
 public:
  static Result<std::unique_ptr<KernelInstanceCgroups>> open(const std::string& parent_name);
  // Removes the daemon's directories when no instance cgroup is left in them (instances that
  // outlive the daemon keep theirs, and the directories with them).
  ~KernelInstanceCgroups() override;
  Result<std::vector<std::string>> create(const std::string& sha1, const sys::CgroupLimits& limits,
                                          uint32_t delegate_uid) override;
  std::vector<std::string> dirs(const std::string& sha1) override;
  Status set_limits(const std::string& sha1, const sys::CgroupLimits& limits) override;
  Result<sys::CgroupStats> stats(const std::string& sha1) override;
  Status remove(const std::string& sha1) override;
  std::vector<std::string> present() override;

 private:
  explicit KernelInstanceCgroups(sys::CgroupParent parent) : parent_(std::move(parent)) {}
  sys::CgroupParent parent_;
};

}  // namespace fw::core
