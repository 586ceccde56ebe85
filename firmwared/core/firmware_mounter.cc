#include "firmwared/core/firmware_mounter.h"
#include "firmwared/base/strings.h"

#include "firmwared/base/log.h"
#include "firmwared/sys/image_format.h"
#include "firmwared/sys/loop_device.h"
#include "firmwared/sys/mount.h"

namespace fw::core {

namespace {

Result<sys::ImageFormat> parse_format(const std::string& format) {
  using F = sys::ImageFormat;
  for (F f : {F::kExt2, F::kExt3, F::kExt4, F::kSquashfs, F::kErofs}) {
    if (format == sys::format_name(f)) return f;
  }
  return make_error(EINVAL, "unknown firmware format " + quote(format));
}

}  // namespace

Status KernelFirmwareMounter::mount(const std::string& source, const std::string& format,
                                    const std::string& target) {
  if (format == "dir") {
    const std::string what = "directory '" + source + "'";
    FW_ASSIGN_OR_RETURN(Fd dir, sys::open_dir_no_symlinks(source));
    FW_TRY(sys::refuse_host_dirs(dir.get(), what, state_dirs_));
    FW_ASSIGN_OR_RETURN(sys::Mount m, sys::bind_fd_readonly(dir.get(), what, target));
    m.release();
    return {};
  }
  FW_ASSIGN_OR_RETURN(sys::ImageFormat f, parse_format(format));
  FW_ASSIGN_OR_RETURN(sys::Mount m, sys::mount_image_readonly(source, target, f));
  m.release();
  return {};
}

Status KernelFirmwareMounter::unmount(const std::string& target) { return sys::unmount(target); }

Status KernelFirmwareMounter::clean_stale(const std::string& mount_dir,
                                          const std::string& repository) {
  FW_ASSIGN_OR_RETURN(auto mounts, sys::mount_points_below(mount_dir));
  for (const auto& m : mounts) log::notice("unmounting stale mount " + m);
  FW_TRY(sys::unmount_all_below(mount_dir));
  FW_ASSIGN_OR_RETURN(auto loops, sys::loop_devices_backed_below(repository));
  for (const auto& [dev, file] : loops) {
    log::notice("detaching stale loop device " + dev + " of " + file);
    if (auto s = sys::detach_loop(dev); !s.ok()) {
      log::warning(s.error().message + ", ignoring");
    }
  }
  return {};
}

}  // namespace fw::core
