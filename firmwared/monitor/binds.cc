// The instance's binds (its `binds` property): host paths mounted into its tree by the
// monitor, in its own mount namespace, after /dev.
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/monitor/launch.h"
#include "firmwared/monitor/mounting.h"

namespace fw::monitor {

namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

Result<Fd> openat2_fd(int dir, const std::string& path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  const long fd = ::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof(how));
  if (fd < 0) return errno_error("openat2");
  return Fd(static_cast<int>(fd));
}

// The host path, opened now without following a symlink anywhere in it.
Result<Fd> open_host(const sys::BindSpec& b, bool* is_dir) {
  auto fd = openat2_fd(AT_FDCWD, b.host, O_PATH, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (!fd.ok()) {
    const int e = fd.error().code;
    if (e == ELOOP) {
      return make_error(ELOOP, "host path " + q(b.host) +
                                   " holds a symbolic link now (it was canonical when checked)");
    }
    return errno_error(e, "opening host path " + q(b.host));
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return errno_error("inspecting host path " + q(b.host));
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return make_error(EINVAL, "host path " + q(b.host) + " is no longer a directory or a file");
  }
  *is_dir = S_ISDIR(st.st_mode);
  return fd;
}

// In-root resolution that stays on the instance's root file system.
constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;

Result<Fd> open_in_root(int top, const std::string& rel, const std::string& shown, bool dir) {
  auto fd = openat2_fd(top, rel, O_PATH | (dir ? O_DIRECTORY : 0), kInRoot);
  if (fd.ok()) return fd;
  const int e = fd.error().code;
  if (e == EXDEV) {
    return make_error(EXDEV, "instance path " + q(shown) +
                                 " leads onto another mount (/dev, /sys or another bind)");
  }
  if (e == ENOTDIR) {
    return make_error(ENOTDIR, "instance path " + q(shown) + (dir ? " is not a directory" : ""));
  }
  return errno_error(e, "opening instance path " + q(shown));
}

// The mount point `target` under the root open at `top`, made if missing (its parents as
// directories, itself as a directory or an empty file).
Result<Fd> make_target(int top, const std::string& target, bool dir) {
  Fd parent;
  std::string prefix;
  size_t start = 1;
  for (;;) {
    const size_t slash = target.find('/', start);
    const bool last = slash == std::string::npos;
    const std::string name = target.substr(start, slash - start);
    prefix += (prefix.empty() ? "" : "/") + name;
    const bool want_dir = !last || dir;
    auto fd = open_in_root(top, prefix, "/" + prefix, want_dir);
    if (!fd.ok() && fd.error().code == ENOENT) {
      // mkdirat(2) and O_CREAT|O_EXCL never follow a final symlink: a dangling one makes
      // them fail with EEXIST, and the open below then fails.
      const int at = parent ? parent.get() : top;
      if (want_dir) {
        if (::mkdirat(at, name.c_str(), 0755) != 0 && errno != EEXIST) {
          return errno_error("creating '/" + prefix + "' in the instance");
        }
      } else {
        Fd f(
            ::openat(at, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!f && errno != EEXIST) return errno_error("creating '/" + prefix + "' in the instance");
      }
      fd = open_in_root(top, prefix, "/" + prefix, want_dir);
    }
    if (!fd.ok()) return fd.error();
    if (last) {
      struct stat st {};
      if (::fstat(fd->get(), &st) != 0) return errno_error("inspecting '" + target + "'");
      if (S_ISDIR(st.st_mode) != dir) {
        return make_error(dir ? ENOTDIR : EISDIR,
                          "instance path " + q(target) +
                              (dir ? " is not a directory" : " is a directory") +
                              " but the host path is " + (dir ? "one" : "a file"));
      }
      return fd;
    }
    parent = std::move(*fd);
    start = slash + 1;
  }
}

// A recursive copy of the host mount tree at `host`, with the flags set before it is
// attached anywhere, moved onto `target` (open_tree(2), mount_setattr(2), move_mount(2)).
Status attach(const Fd& host, const Fd& target, const sys::BindSpec& b) {
  Fd tree(static_cast<int>(
      ::syscall(SYS_open_tree, host.get(), "",
                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE)));
  if (!tree) return errno_error("cloning the mount of host path " + q(b.host));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (b.read_only ? MOUNT_ATTR_RDONLY : 0);
  attr.propagation = MS_PRIVATE;
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                sizeof(attr)) != 0) {
    return errno_error(std::string("making the bind of ") + q(b.host) +
                       (b.read_only ? " read-only, " : " ") + "nosuid, nodev, private");
  }
  if (::syscall(SYS_move_mount, tree.get(), "", target.get(), "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    return errno_error("mounting host path " + q(b.host) + " on " + q(b.target));
  }
  return {};
}

}  // namespace

Status bind_host_paths(const std::string& root, const std::vector<sys::BindSpec>& binds,
                       const Sandbox& sb) {
  if (binds.empty()) return {};
  // Opened as host root: the workspace above the root is the host's, 0700.
  Fd top(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!top) return errno_error("opening '" + root + "'");
  for (const auto& b : binds) {
    const std::string what = "binding " + q(b.host) + " on " + q(b.target);
    bool is_dir = false;
    auto host = open_host(b, &is_dir);
    if (!host.ok()) return host.error().wrap(what);
    auto target = [&]() {
      AsInstanceRoot as(sb.uid_base);
      return make_target(top.get(), b.target, is_dir);
    }();
    if (!target.ok()) return target.error().wrap(what);
    FW_TRY_CTX(attach(*host, *target, b), what);
  }
  return {};
}

}  // namespace fw::monitor
