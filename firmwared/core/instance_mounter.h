#pragma once
// Host-side mounts of an instance (DESIGN §8): the firmware read-only at `ro`, the overlay
// at `union`. Behind an interface so the instances folder is unit-tested with a fake.

#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/sys/userns.h"

namespace fw::core {

class InstanceMounter {
 public:
  virtual ~InstanceMounter() = default;
  // Binds the firmware's read-only mount `firmware_mount` at `ro`, read-only.
  virtual Status mount_lower(const std::string& firmware_mount, const std::string& ro) = 0;
  // Mounts the lower stack of an instance on a snapshot at `ro`: `layers` are the snapshot
  // layers, top first, then the firmware's mount, as a read-only overlay. One layer is
  // mount_lower(). The default refuses stacks (ENOTSUP) for mounters that have none.
  virtual Status mount_lower_stack(const std::vector<std::string>& layers, const std::string& ro) {
    if (layers.size() == 1) return mount_lower(layers.front(), ro);
    return make_error(ENOTSUP, "this mounter does not stack snapshot layers");
  }
  virtual Status mount_overlay(const std::string& lower, const std::string& upper,
                               const std::string& work, const std::string& target) = 0;
  // The overlay of an instance in a user namespace: `lowers` (top first: snapshot layers,
  // then the firmware's mount), `upper` and `work`, each seen through an idmapped mount
  // mapping `range`, mounted by the instance's root (sys::mount_overlay_idmapped). The
  // default: ENOTSUP.
  virtual Status mount_overlay_idmapped(const std::vector<std::string>& lowers,
                                        const std::string& upper, const std::string& work,
                                        const std::string& target, sys::IdRange range) {
    (void)lowers, (void)upper, (void)work, (void)target, (void)range;
    return make_error(ENOTSUP, "this mounter does not idmap");
  }
  // A file below `root` (not crossing mounts) owned by a uid or gid ≥ `count`, as
  // "'path' (uid:gid)"; "" when there is none. Such a tree cannot run in a user namespace
  // mapping `count` ids. The default finds none.
  virtual Result<std::string> find_unmappable(const std::string& root, uint32_t count) {
    (void)root, (void)count;
    return std::string();
  }
  // Not mounted counts as success.
  virtual Status unmount(const std::string& target) = 0;
  // Unmounts everything at or below `dir`, deepest first (a workspace's union, ro and netns
  // pin). The default unmounts a workspace's union and ro.
  virtual Status unmount_all_below(const std::string& dir) {
    FW_TRY(unmount(dir + "/union"));
    return unmount(dir + "/ro");
  }
  virtual Result<bool> is_mounted(const std::string& target) = 0;
  // Whether the filesystem mounted at `target` is read-only (statvfs ST_RDONLY: the mount's
  // flag or its superblock's). The default: never.
  virtual Result<bool> is_read_only(const std::string& target) {
    (void)target;
    return false;
  }
  // Removes a workspace directory tree (never crossing into mounts).
  virtual Status remove_tree(const std::string& path) = 0;
};

class KernelInstanceMounter final : public InstanceMounter {
 public:
  Status mount_lower(const std::string& firmware_mount, const std::string& ro) override;
  Status mount_lower_stack(const std::vector<std::string>& layers, const std::string& ro) override;
  Status mount_overlay(const std::string& lower, const std::string& upper, const std::string& work,
                       const std::string& target) override;
  Status mount_overlay_idmapped(const std::vector<std::string>& lowers, const std::string& upper,
                                const std::string& work, const std::string& target,
                                sys::IdRange range) override;
  Result<std::string> find_unmappable(const std::string& root, uint32_t count) override;
  Status unmount(const std::string& target) override;
  Status unmount_all_below(const std::string& dir) override;
  Result<bool> is_mounted(const std::string& target) override;
  Result<bool> is_read_only(const std::string& target) override;
  Status remove_tree(const std::string& path) override;
};

}  // namespace fw::core
