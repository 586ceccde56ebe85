#pragma once
// Host-side mounts of an instance: the firmware read-only at the workspace's lower dir, the
// overlay at its merged dir. Behind an interface so the instances folder is unit-tested with a
// fake; every mount comes back as an owner, so a multi-step change unwinds by destructor.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/sys/userns.h"

namespace fw::core {

class InstanceMounter;

// One mount made through an InstanceMounter: unmounted through it (best effort) when the
// owner goes, unless release()d. Move-only.
class Mounted {
 public:
  Mounted() = default;
  Mounted(InstanceMounter& mounter, std::string target)
      : mounter_(&mounter), target_(std::move(target)) {}
  Mounted(Mounted&& o) noexcept
      : mounter_(std::exchange(o.mounter_, nullptr)), target_(std::move(o.target_)) {}
  Mounted& operator=(Mounted&& o) noexcept {
    if (this != &o) {
      reset();
      mounter_ = std::exchange(o.mounter_, nullptr);
      target_ = std::move(o.target_);
    }
    return *this;
  }
  Mounted(const Mounted&) = delete;
  Mounted& operator=(const Mounted&) = delete;
  ~Mounted() { reset(); }

  const std::string& target() const { return target_; }
  // Commits: the mount outlives its owner.
  void release() { mounter_ = nullptr; }
  // Unmounts now; idempotent.
  void reset() noexcept;

 private:
  InstanceMounter* mounter_ = nullptr;
  std::string target_;
};

// The inverse owner: a mount taken down for a change, put back by `remount` when the owner
// goes unless the change was committed (release()). Move-only.
class Unmounted {
 public:
  explicit Unmounted(std::function<void()> remount) : remount_(std::move(remount)) {}
  Unmounted(Unmounted&& o) noexcept : remount_(std::exchange(o.remount_, nullptr)) {}
  Unmounted& operator=(Unmounted&&) = delete;
  Unmounted(const Unmounted&) = delete;
  ~Unmounted() {
    if (remount_) remount_();
  }
  void release() { remount_ = nullptr; }

 private:
  std::function<void()> remount_;
};

class InstanceMounter {
 public:
  virtual ~InstanceMounter() = default;
  // Binds the firmware's read-only mount `firmware_mount` at `ro`, read-only.
  Result<Mounted> mount_lower(const std::string& firmware_mount, const std::string& ro) {
    return owned(do_mount_lower(firmware_mount, ro), ro);
  }
  // Mounts the lower stack of an instance on a snapshot at `ro`: `layers` are the snapshot
  // layers, top first, then the firmware's mount, as a read-only overlay. One layer is
  // mount_lower().
  Result<Mounted> mount_lower_stack(const std::vector<std::string>& layers, const std::string& ro) {
    return owned(do_mount_lower_stack(layers, ro), ro);
  }
  Result<Mounted> mount_overlay(const std::string& lower, const std::string& upper,
                                const std::string& work, const std::string& target) {
    return owned(do_mount_overlay(lower, upper, work, target), target);
  }
  // The overlay of an instance in a user namespace: `lowers` (top first: snapshot layers,
  // then the firmware's mount), `upper` and `work`, each seen through an idmapped mount
  // mapping `range`, mounted by the instance's root (sys::mount_overlay_idmapped).
  Result<Mounted> mount_overlay_idmapped(const std::vector<std::string>& lowers,
                                         const std::string& upper, const std::string& work,
                                         const std::string& target, sys::IdRange range) {
    return owned(do_mount_overlay_idmapped(lowers, upper, work, target, range), target);
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
  // pin). The default unmounts a workspace's merged and lower dirs.
  virtual Status unmount_all_below(const std::string& dir);
  virtual Result<bool> is_mounted(const std::string& target) = 0;
  // Whether the filesystem mounted at `target` is read-only (statvfs ST_RDONLY: the mount's
  // flag or its superblock's). The default: never.
  virtual Result<bool> is_read_only(const std::string& target) {
    (void)target;
    return false;
  }
  // Removes a workspace directory tree (never crossing into mounts).
  virtual Status remove_tree(const std::string& path) = 0;

 protected:
  // The mounts themselves; the public calls wrap them in owners.
  virtual Status do_mount_lower(const std::string& firmware_mount, const std::string& ro) = 0;
  // The default refuses stacks (ENOTSUP) for mounters that have none.
  virtual Status do_mount_lower_stack(const std::vector<std::string>& layers,
                                      const std::string& ro) {
    if (layers.size() == 1) return do_mount_lower(layers.front(), ro);
    return make_error(ENOTSUP, "this mounter does not stack snapshot layers");
  }
  virtual Status do_mount_overlay(const std::string& lower, const std::string& upper,
                                  const std::string& work, const std::string& target) = 0;
  // The default: ENOTSUP.
  virtual Status do_mount_overlay_idmapped(const std::vector<std::string>& lowers,
                                           const std::string& upper, const std::string& work,
                                           const std::string& target, sys::IdRange range) {
    (void)lowers, (void)upper, (void)work, (void)target, (void)range;
    return make_error(ENOTSUP, "this mounter does not idmap");
  }

 private:
  Result<Mounted> owned(Status made, const std::string& target) {
    if (!made.ok()) return made.error();
    return Mounted(*this, target);
  }
};

inline void Mounted::reset() noexcept {
  if (mounter_ != nullptr) (void)std::exchange(mounter_, nullptr)->unmount(target_);
}

class KernelInstanceMounter final : public InstanceMounter {
 public:
  Result<std::string> find_unmappable(const std::string& root, uint32_t count) override;
  Status unmount(const std::string& target) override;
  Status unmount_all_below(const std::string& dir) override;
  Result<bool> is_mounted(const std::string& target) override;
  Result<bool> is_read_only(const std::string& target) override;
  Status remove_tree(const std::string& path) override;

 protected:
  Status do_mount_lower(const std::string& firmware_mount, const std::string& ro) override;
  Status do_mount_lower_stack(const std::vector<std::string>& layers,
                              const std::string& ro) override;
  Status do_mount_overlay(const std::string& lower, const std::string& upper,
                          const std::string& work, const std::string& target) override;
  Status do_mount_overlay_idmapped(const std::vector<std::string>& lowers, const std::string& upper,
                                   const std::string& work, const std::string& target,
                                   sys::IdRange range) override;
};

}  // namespace fw::core
