#pragma once
// Host-side mounts of an instance (DESIGN §8): the firmware read-only at `ro`, the overlay
// at `union`. Behind an interface so the instances folder is unit-tested with a fake.

#include <string>

#include "firmwared/base/result.h"

namespace fw::core {

class InstanceMounter {
 public:
  virtual ~InstanceMounter() = default;
  // Binds the firmware's read-only mount `firmware_mount` at `ro`, read-only.
  virtual Status mount_lower(const std::string& firmware_mount, const std::string& ro) = 0;
  virtual Status mount_overlay(const std::string& lower, const std::string& upper,
                               const std::string& work, const std::string& target) = 0;
  // Not mounted counts as success.
  virtual Status unmount(const std::string& target) = 0;
  virtual Result<bool> is_mounted(const std::string& target) = 0;
  // Removes a workspace directory tree (never crossing into mounts).
  virtual Status remove_tree(const std::string& path) = 0;
};

class KernelInstanceMounter final : public InstanceMounter {
 public:
  Status mount_lower(const std::string& firmware_mount, const std::string& ro) override;
  Status mount_overlay(const std::string& lower, const std::string& upper, const std::string& work,
                       const std::string& target) override;
  Status unmount(const std::string& target) override;
  Result<bool> is_mounted(const std::string& target) override;
  Status remove_tree(const std::string& path) override;
};

}  // namespace fw::core
