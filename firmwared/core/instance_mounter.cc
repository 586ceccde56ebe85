#include "firmwared/core/instance_mounter.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "firmwared/core/workspace.h"
#include "firmwared/sys/mount.h"

namespace fw::core {

Status InstanceMounter::unmount_all_below(const std::string& dir) {
  const Workspace ws(dir);
  FW_TRY(unmount(ws.merged()));
  return unmount(ws.lower());
}

Status KernelInstanceMounter::do_mount_lower(const std::string& firmware_mount,
                                             const std::string& ro) {
  FW_ASSIGN_OR_RETURN(sys::Mount m, sys::bind_readonly(firmware_mount, ro));
  m.release();
  return {};
}

Status KernelInstanceMounter::do_mount_lower_stack(const std::vector<std::string>& layers,
                                                   const std::string& ro) {
  if (layers.size() == 1) return do_mount_lower(layers.front(), ro);
  FW_ASSIGN_OR_RETURN(sys::Mount m, sys::mount_overlay_readonly(layers, ro));
  m.release();
  return {};
}

Status KernelInstanceMounter::do_mount_overlay(const std::string& lower, const std::string& upper,
                                               const std::string& work, const std::string& target) {
  FW_ASSIGN_OR_RETURN(sys::Mount m, sys::mount_overlay({lower}, upper, work, target));
  m.release();
  return {};
}

Status KernelInstanceMounter::do_mount_overlay_idmapped(const std::vector<std::string>& lowers,
                                                        const std::string& upper,
                                                        const std::string& work,
                                                        const std::string& target,
                                                        sys::IdRange range) {
  FW_ASSIGN_OR_RETURN(sys::Mount m,
                      sys::mount_overlay_idmapped(lowers, upper, work, target, range));
  m.release();
  return {};
}

Result<std::string> KernelInstanceMounter::find_unmappable(const std::string& root,
                                                           uint32_t count) {
  // nftw's callback takes no context: a thread-local one (the walk runs on one thread).
  static thread_local uint32_t limit;
  static thread_local std::string found;
  limit = count;
  found.clear();
  auto check = [](const char* p, const struct stat* st, int, FTW*) -> int {
    if (st->st_uid < limit && st->st_gid < limit) return 0;
    found = "'" + std::string(p) + "' (" + std::to_string(st->st_uid) + ":" +
            std::to_string(st->st_gid) + ")";
    return 1;
  };
  const int rc = ::nftw(root.c_str(), check, 32, FTW_PHYS | FTW_MOUNT);
  if (rc < 0) return errno_error("reading the owners of the files below '" + root + "'");
  return found;
}

Status KernelInstanceMounter::unmount(const std::string& target) { return sys::unmount(target); }

Status KernelInstanceMounter::unmount_all_below(const std::string& dir) {
  return sys::unmount_all_below(dir);
}

Result<bool> KernelInstanceMounter::is_mounted(const std::string& target) {
  return sys::is_mount_point(target);
}

Status KernelInstanceMounter::remove_tree(const std::string& path) {
  // FTW_MOUNT: never walk into a mount; FTW_PHYS: never follow symlinks; FTW_DEPTH:
  // children first. The overlay's work dir holds root-owned 0000 dirs: fine as root.
  auto rm = [](const char* p, const struct stat*, int, FTW*) -> int {
    return ::remove(p) == 0 || errno == ENOENT ? 0 : -1;
  };
  if (::nftw(path.c_str(), rm, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && errno != ENOENT) {
    return errno_error("removing '" + path + "'");
  }
  return {};
}

Result<bool> KernelInstanceMounter::is_read_only(const std::string& target) {
  struct statvfs st {};
  if (::statvfs(target.c_str(), &st) != 0) return errno_error("inspecting mount " + target);
  return (st.f_flag & ST_RDONLY) != 0;
}

}  // namespace fw::core
