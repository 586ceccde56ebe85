#pragma once
// Host-side mounts: read-only firmware mounts (bind or loop) and instance overlays, plus the
// mountinfo queries used to tear everything down, also after a crash.

#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/image_format.h"

namespace fw::sys {

// Owns a mount point path: the destructor detaches whatever is mounted there
// (umount2(MNT_DETACH | UMOUNT_NOFOLLOW)), best effort, unless released. Move-only.
class Mount {
 public:
  Mount() = default;
  // Adopts an existing mount on `path` (e.g. one found after a restart).
  explicit Mount(std::string path) : path_(std::move(path)) {}
  Mount(Mount&& other) noexcept;
  Mount& operator=(Mount&& other) noexcept;
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  ~Mount();

  // The mount point; "" once released or moved from.
  const std::string& path() const { return path_; }
  // Commits: the mount stays after this owner goes.
  void release() noexcept { path_.clear(); }

 private:
  void reset() noexcept;
  std::string path_;
};

// Bind-mounts the directory `src` on `dst` read-only, nosuid, nodev (not recursive). The
// source stays writable. Errors name both: ENOENT, ENOTDIR, EPERM, ...
Result<Mount> bind_readonly(const std::string& src, const std::string& dst);

// Opens the directory `path` (absolute) as an O_PATH descriptor without following a
// symlink anywhere in it (openat2(2) with RESOLVE_NO_SYMLINKS): a path that was canonical
// when it was recorded and holds a symlink now has been tampered with. Errors name the
// path: ELOOP (a symlink in it), ENOTDIR, ENOENT, EACCES, ENOSYS (kernel < 5.6).
Result<Fd> open_dir_no_symlinks(const std::string& path);

// Refuses (EINVAL, naming `what`) the directory open at `dir_fd` when it is the host's root
// directory (same st_dev and st_ino as "/", bind mounts of it included) or when it is, or
// contains, one of `state_dirs` (the daemon's own directories: the firmware would expose
// them, and recursively hold itself). A state dir that does not exist is skipped.
Status refuse_host_dirs(int dir_fd, const std::string& what,
                        const std::vector<std::string>& state_dirs);

// Bind-mounts the directory open at `dir_fd` (an O_PATH descriptor is enough) on `dst`
// read-only, nosuid, nodev, not recursive: what is mounted is the directory the descriptor
// holds, whatever its path has become since (mount(2) through /proc/self/fd/N). `what`
// names it in errors.
Result<Mount> bind_fd_readonly(int dir_fd, const std::string& what, const std::string& dst);

// Mounts the image file `image` of `format` read-only, nosuid, nodev on `dst` through a
// read-only autoclear loop device, which the kernel detaches when the mount goes. Errors
// name the image, the device and dst: loop errors (see LoopDevice::attach), EINVAL (not a
// valid `format` filesystem), ENODEV (filesystem type not in this kernel), ...
Result<Mount> mount_image_readonly(const std::string& image, const std::string& dst,
                                   ImageFormat format);

// Mounts an overlay on `dst`, nosuid, nodev: `lowers` (top first, at least one), `upper` and
// `work` (same filesystem, work empty). Paths are escaped for overlayfs' option parser. Errors:
// EINVAL when `lowers` is empty or the options do not fit the one page mount(2) copies, else the
// mount's error (EINVAL: see the kernel log for overlayfs' reason, ENOENT, ...).
Result<Mount> mount_overlay(const std::vector<std::string>& lowers, const std::string& upper,
                            const std::string& work, const std::string& dst);

// Mounts a read-only overlay of `lowers` (top first, at least two: overlayfs refuses a
// single lower without an upper) on `dst`, nosuid, nodev. Errors as mount_overlay.
Result<Mount> mount_overlay_readonly(const std::vector<std::string>& lowers,
                                     const std::string& dst);

// Unmounts the topmost mount on `path` (never following a final symlink). Not a mount point
// or no such path: success (already gone). EBUSY: detached lazily instead (MNT_DETACH) and
// logged. Other errors: EPERM, ...
Status unmount(const std::string& path);

// Mount points of this mount namespace that are `dir` or below it, from
// /proc/self/mountinfo, deepest first (and, at one path, the top of a stack first), so
// unmounting them in order works. A path carrying several stacked mounts appears once per
// mount. `dir` is resolved through symlinks when it exists.
Result<std::vector<std::string>> mount_points_below(const std::string& dir);

// Unmounts everything mount_points_below(dir) lists, in that order. Keeps going after a
// failure and returns the first error.
Status unmount_all_below(const std::string& dir);

// True when `path` (not following a final symlink) is the root of a mount, bind mounts of
// the same filesystem included. Errors: ENOENT, EACCES, ...
Result<bool> is_mount_point(const std::string& path);

}  // namespace fw::sys
