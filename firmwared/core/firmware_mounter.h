#pragma once
// The kernel side of the firmwares folder, behind an interface so the folder's logic is
// unit-tested with a recording fake (core sees sys only through interfaces).

#include <string>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

class FirmwareMounter {
 public:
  virtual ~FirmwareMounter() = default;
  // Mounts firmware `source` read-only at `target` (an existing empty directory): a bind
  // mount for format "dir", a read-only loop mount for an image format.
  virtual Status mount(const std::string& source, const std::string& format,
                       const std::string& target) = 0;
  // Unmounts `target`; not mounted counts as success.
  virtual Status unmount(const std::string& target) = 0;
  // Crash cleanup: unmounts everything below `mount_dir` and detaches loop devices whose
  // backing file lies below `repository`.
  virtual Status clean_stale(const std::string& mount_dir, const std::string& repository) = 0;
};

// The real one, over fw::sys. A directory firmware is opened once without following any
// symlink (its recorded path is canonical: a symlink in it now is tampering, ELOOP), the
// opened directory is checked (not the host's root, not holding one of `state_dirs`,
// EINVAL) and that very directory is mounted, so no path swap between the check and the
// mount can bring in another tree.
class KernelFirmwareMounter final : public FirmwareMounter {
 public:
  explicit KernelFirmwareMounter(std::vector<std::string> state_dirs = {})
      : state_dirs_(std::move(state_dirs)) {}
  Status mount(const std::string& source, const std::string& format,
               const std::string& target) override;
  Status unmount(const std::string& target) override;
  Status clean_stale(const std::string& mount_dir, const std::string& repository) override;

 private:
  std::vector<std::string> state_dirs_;
};

}  // namespace fw::core
