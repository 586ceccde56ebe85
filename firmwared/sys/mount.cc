#include "firmwared/sys/mount.h"

#include "firmwared/base/paths.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/sys/loop_device.h"

namespace fw::sys {
namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134 (the kernel's
// mangle() in fs/proc_namespace.c); undo any \ooo.
std::string unescape_octal(std::string_view s) {
  auto oct = [&](size_t k) { return s[k] >= '0' && s[k] <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(i + 1) && oct(i + 2) && oct(i + 3)) {
      out +=
          static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// overlayfs splits its options at ',' and lowerdir at ':', both unless preceded by a
// backslash, which it then strips (ovl_next_opt() and ovl_unescape() in fs/overlayfs/).
std::string escape_overlay_path(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '\\' || c == ':' || c == ',') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Mount::Mount(Mount&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

Mount& Mount::operator=(Mount&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

Mount::~Mount() { reset(); }

void Mount::reset() noexcept {
  if (path_.empty()) return;
  // Lazy: an unwinding path must not fail because something still looks inside.
  ::umount2(path_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  path_.clear();
}

Result<Mount> bind_readonly(const std::string& src, const std::string& dst) {
  if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return errno_error("bind-mounting " + quoted(src) + " on " + quoted(dst));
  }
  Mount bound(dst);
  // mount(2): MS_RDONLY is ignored on the call that creates a bind mount; the per-mount
  // flags only change with a second MS_REMOUNT|MS_BIND call (Linux >= 2.6.26).
  if (::mount(nullptr, dst.c_str(), nullptr,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    return errno_error("making the bind mount of " + quoted(src) + " on " + quoted(dst) +
                       " read-only");
  }
  return bound;
}

Result<Fd> open_dir_no_symlinks(const std::string& path) {
  open_how how{};
  // No O_NOFOLLOW: with it a final symlink is ENOTDIR (O_DIRECTORY); RESOLVE_NO_SYMLINKS
  // refuses it as ELOOP like any other component.
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how));
  if (fd < 0) {
    if (errno == ELOOP) {
      return make_error(ELOOP, "opening directory " + quoted(path) +
                                   ": a component of the path is a symbolic link now (it was "
                                   "canonical when recorded)");
    }
    return errno_error("opening directory " + quoted(path));
  }
  return Fd(static_cast<int>(fd));
}

Status refuse_host_dirs(int dir_fd, const std::string& what,
                        const std::vector<std::string>& state_dirs) {
  struct stat dir {
  }, st{};
  if (::fstat(dir_fd, &dir) != 0) return errno_error("inspecting " + what);
  auto same = [&](const struct stat& o) {
    return o.st_dev == dir.st_dev && o.st_ino == dir.st_ino;
  };
  if (::stat("/", &st) == 0 && same(st)) {
    return make_error(EINVAL, "refusing " + what + ": it is the host's root directory");
  }
  for (const auto& state : state_dirs) {
    // Walk from the state dir up to "/": the firmware must be none of these.
    std::string cur = canonical_dir(state);
    if (::stat(cur.c_str(), &st) != 0) continue;
    for (;;) {
      if (::stat(cur.c_str(), &st) == 0 && same(st)) {
        return make_error(EINVAL, "refusing " + what + ": it holds the daemon's state directory " +
                                      quoted(state));
      }
      if (cur == "/" || cur.empty()) break;
      const size_t slash = cur.rfind('/');
      cur = slash == 0 ? "/" : cur.substr(0, slash);
    }
  }
  return {};
}

Result<Mount> bind_fd_readonly(int dir_fd, const std::string& what, const std::string& dst) {
  // proc(5): /proc/self/fd/N of an O_PATH descriptor is a magic link to exactly the
  // directory (mount and dentry) it holds; mount(2) follows it, not the path's text.
  const std::string src = "/proc/self/fd/" + std::to_string(dir_fd);
  if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return errno_error("bind-mounting " + what + " on " + quoted(dst));
  }
  Mount bound(dst);
  if (::mount(nullptr, dst.c_str(), nullptr,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    return errno_error("making the bind mount of " + what + " on " + quoted(dst) + " read-only");
  }
  return bound;
}

Result<Mount> mount_image_readonly(const std::string& image, const std::string& dst,
                                   ImageFormat format) {
  const std::string what = "mounting " + quoted(image) + " read-only on " + quoted(dst);
  auto loop = LoopDevice::attach(image, /*read_only=*/true);
  if (!loop.ok()) return loop.error().wrap(what);
  const char* fstype = format_name(format);
  // ext2 and ext3 through the ext4 driver, which reads both: only the "ext4" type can be
  // idmapped (FS_ALLOW_IDMAP), and instances in a user namespace see their firmware through
  // an idmapped mount. A kernel without ext4 falls back to the image's own type.
  const bool ext = format == ImageFormat::kExt2 || format == ImageFormat::kExt3;
  if (ext) fstype = "ext4";
  const unsigned long flags = MS_RDONLY | MS_NODEV | MS_NOSUID;
  if (ext && ::mount(loop->path().c_str(), dst.c_str(), fstype, flags, nullptr) == 0) {
    loop->release();
    return Mount(dst);
  }
  if (ext && (errno == ENODEV || errno == EINVAL)) fstype = format_name(format);
  if (::mount(loop->path().c_str(), dst.c_str(), fstype, flags, nullptr) != 0) {
    // An ext3/ext4 journal that needs recovery cannot be replayed on a read-only device:
    // ext4 refuses with EROFS ("write access unavailable, cannot proceed (try mounting
    // with noload)"). Mount without replaying; the image is never written.
    bool journaled = format == ImageFormat::kExt3 || format == ImageFormat::kExt4;
    if (!journaled || errno != EROFS ||
        ::mount(loop->path().c_str(), dst.c_str(), fstype, flags, "noload") != 0) {
      return errno_error(what + " (" + fstype + " on loop device " + quoted(loop->path()) + ")");
    }
    log::warning(quoted(image) + " has an unrecovered journal; mounted it without replaying it");
  }
  // The mount now holds the device; with autoclear it is detached when the mount goes.
  loop->release();
  return Mount(dst);
}

Result<Mount> mount_overlay(const std::vector<std::string>& lowers, const std::string& upper,
                            const std::string& work, const std::string& dst) {
  const std::string what = "mounting an overlay on " + quoted(dst);
  if (lowers.empty()) return make_error(EINVAL, what + ": no lower directory");
  std::string options = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    options += (i ? ":" : "") + escape_overlay_path(lowers[i]);
  }
  options += ",upperdir=" + escape_overlay_path(upper) + ",workdir=" + escape_overlay_path(work);
  // mount(2) copies at most one page of `data` (copy_mount_options()) and silently cuts
  // the rest: refuse rather than mount with a truncated layer list.
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (options.size() + 1 > page) {
    return make_error(EINVAL, what + ": its options are " + std::to_string(options.size()) +
                                  " bytes, more than the " + std::to_string(page - 1) +
                                  " mount(2) accepts");
  }
  // nosuid,nodev on the host: nobody runs an instance's setuid file or opens its device
  // nodes through the host path; the monitor clears both on its private copy.
  if (::mount("overlay", dst.c_str(), "overlay", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    const int err = errno;
    // overlayfs says why it refused an option only in the kernel log.
    return errno_error(
        err, what + " (" + options + ")" + (err == EINVAL ? " [the kernel log says why]" : ""));
  }
  return Mount(dst);
}

Result<Mount> mount_overlay_readonly(const std::vector<std::string>& lowers,
                                     const std::string& dst) {
  const std::string what = "mounting a read-only overlay on " + quoted(dst);
  if (lowers.size() < 2) return make_error(EINVAL, what + ": fewer than two lower directories");
  std::string options = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    options += (i ? ":" : "") + escape_overlay_path(lowers[i]);
  }
  // Documentation/filesystems/overlayfs.rst "Multiple lower layers": without upperdir and
  // workdir the overlay is read-only; MS_RDONLY says so to the VFS as well.
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (options.size() + 1 > page) {
    return make_error(EINVAL, what + ": its options are " + std::to_string(options.size()) +
                                  " bytes, more than the " + std::to_string(page - 1) +
                                  " mount(2) accepts");
  }
  if (::mount("overlay", dst.c_str(), "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
              options.c_str()) != 0) {
    const int err = errno;
    return errno_error(
        err, what + " (" + options + ")" + (err == EINVAL ? " [the kernel log says why]" : ""));
  }
  return Mount(dst);
}

Status unmount(const std::string& path) {
  if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) return {};
  // umount(2): EINVAL "target is not a mount point"; ENOENT, no such path. Already gone.
  if (errno == EINVAL || errno == ENOENT) return {};
  if (errno == EBUSY && ::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
    log::warning(quoted(path) + " is busy: detached it lazily, it goes with its last user");
    return {};
  }
  return errno_error("unmounting " + quoted(path));
}

Result<std::vector<std::string>> mount_points_below(const std::string& dir) {
  const std::string root = canonical_dir(dir);
  auto text = read_small_file("/proc/self/mountinfo", 64u << 20);
  if (!text.ok()) return text.error().wrap("listing mounts below " + quoted(dir));
  // proc(5): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw"; the mount
  // point is the fifth field. Lines come in mount order: parents before children, a stack
  // from bottom to top.
  std::vector<std::string> found;
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    size_t start = 0;
    for (int field = 0; field < 4 && start != std::string_view::npos; ++field) {
      start = line.find(' ', start);
      if (start != std::string_view::npos) ++start;
    }
    if (start == std::string_view::npos) continue;
    std::string point = unescape_octal(line.substr(start, line.find(' ', start) - start));
    if (is_below(point, root)) found.push_back(std::move(point));
  }
  // Latest first, then deepest first: children before parents, stack tops before bottoms.
  std::reverse(found.begin(), found.end());
  std::stable_sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  return found;
}

Status unmount_all_below(const std::string& dir) {
  auto points = mount_points_below(dir);
  if (!points.ok()) return points.error();
  Status first;
  for (const auto& point : *points) {
    Status st = unmount(point);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Result<bool> is_mount_point(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS,
              &stx) != 0) {
    return errno_error("checking whether " + quoted(path) + " is a mount point");
  }
  // STATX_ATTR_MOUNT_ROOT (Linux 5.8) also sees bind mounts within one filesystem, which a
  // st_dev comparison with the parent cannot.
  if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) {
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  auto points = mount_points_below(path);
  if (!points.ok()) return points.error();
  const std::string real = canonical_dir(path);
  return std::find(points->begin(), points->end(), real) != points->end();
}

}  // namespace fw::sys
