// Step 4 of the launch: the instance's /dev, its /proc and /sys mount points, and the
// console, made by the monitor in its own mount namespace.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "firmwared/monitor/launch.h"
#include "firmwared/monitor/mounting.h"

namespace fw::monitor {

namespace {

std::string id_options(const Sandbox& sb) {
  if (!sb.userns()) return "";
  return ",uid=" + std::to_string(sb.uid_base) + ",gid=" + std::to_string(sb.uid_base);
}

Status own(const std::string& path, const Sandbox& sb) {
  if (!sb.userns()) return {};
  if (::lchown(path.c_str(), sb.uid_base, sb.uid_base) != 0) {
    return errno_error("giving '" + path + "' to the instance's root");
  }
  return {};
}

}  // namespace

Status bind_console(const std::string& root, const std::string& console_path) {
  const std::string console = root + "/dev/console";
  if (!Fd(::open(console.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600))) {
    return errno_error("creating '" + console + "'");
  }
  return do_mount(console_path.c_str(), console, nullptr, MS_BIND, nullptr);
}

namespace {

// The mount point `name` of the instance's root (dev, proc, sys), made if absent and opened
// without following a symlink: the monitor mounts on it, and a firmware whose /dev links to
// /tmp or / would otherwise have it mount on that host path and boot with no /dev.
Result<Fd> open_mount_point(int top, const std::string& root, const char* name, mode_t mode) {
  const std::string path = root + "/" + name;
  if (::mkdirat(top, name, mode) != 0 && errno != EEXIST) {
    return errno_error("creating '" + path + "'");
  }
  Fd fd(::openat(top, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) return fd;
  const int e = errno;
  struct stat st {};
  if (::fstatat(top, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return make_error(ELOOP, std::string("the firmware's /") + name +
                                 " is a symbolic link; firmwared mounts its own /" + name +
                                 " there");
  }
  if (e == ENOTDIR) {
    return make_error(ENOTDIR, std::string("the firmware's /") + name +
                                   " is not a directory; firmwared mounts its own /" + name +
                                   " there");
  }
  return errno_error(e, "opening '" + path + "'");
}

// mount(2) on the directory `dir` holds, through /proc/self/fd (which names that very
// directory, not a path walked again); `shown` names it in errors.
Status mount_on(const char* src, const Fd& dir, const std::string& shown, const char* type,
                unsigned long flags, const char* data) {
  const std::string at = "/proc/self/fd/" + std::to_string(dir.get());
  if (::mount(src, at.c_str(), type, flags, data) != 0) {
    return errno_error(std::string("mounting ") + type + " on '" + shown + "'");
  }
  return {};
}

}  // namespace

Status populate_dev(const std::string& root, const Sandbox& sb) {
  const std::string dev = root + "/dev";
  Fd dev_dir, sys_dir;
  {
    // Opened as host root: the workspace above the root is the host's, 0700.
    Fd top(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!top) return errno_error("opening '" + root + "'");
    AsInstanceRoot as(sb.uid_base);
    FW_ASSIGN_OR_RETURN(dev_dir, open_mount_point(top.get(), root, "dev", 0755));
    // Checked now, mounted by PID 1's side later (nothing changes the tree in between).
    FW_TRY(open_mount_point(top.get(), root, "proc", 0555));
    FW_ASSIGN_OR_RETURN(sys_dir, open_mount_point(top.get(), root, "sys", 0555));
  }
  FW_TRY(mount_on("tmpfs", dev_dir, dev, "tmpfs", MS_NOSUID | MS_NOEXEC,
                  ("mode=755,size=512k" + id_options(sb)).c_str()));
  struct Node {
    const char* name;
    unsigned major, minor;
  };
  // devices.txt in the kernel documentation: the memory devices and /dev/tty. The monitor,
  // host root, makes them on a tmpfs of the host's user namespace: inside a user namespace
  // nobody could (mknod needs CAP_MKNOD in the initial one), and the instance's root may
  // remove or rename them but never make another.
  for (const Node& n : {Node{"null", 1, 3}, Node{"zero", 1, 5}, Node{"full", 1, 7},
                        Node{"random", 1, 8}, Node{"urandom", 1, 9}, Node{"tty", 5, 0}}) {
    const std::string p = dev + "/" + n.name;
    if (::mknod(p.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) != 0) {
      return errno_error("creating device node '" + p + "'");
    }
    ::chmod(p.c_str(), 0666);  // mknod(2) honours the umask
    FW_TRY(own(p, sb));
  }
  FW_TRY(ensure_dir(dev + "/pts", 0755));
  // newinstance: the instance's ptys are its own, invisible to the host (devpts docs).
  const std::string tty_gid = std::to_string(sb.uid_base + 5);  // group tty, 5 inside
  FW_TRY(do_mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  ("newinstance,ptmxmode=0666,mode=0620,gid=" + tty_gid).c_str()));
  if (::symlink("pts/ptmx", (dev + "/ptmx").c_str()) != 0) {
    return errno_error("linking " + dev + "/ptmx");
  }
  FW_TRY(own(dev + "/ptmx", sb));
  FW_TRY(ensure_dir(dev + "/shm", 01777));
  FW_TRY(do_mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                  ("mode=1777,size=16m" + id_options(sb)).c_str()));
  const char* links[][2] = {{"/proc/self/fd", "fd"},
                            {"/proc/self/fd/0", "stdin"},
                            {"/proc/self/fd/1", "stdout"},
                            {"/proc/self/fd/2", "stderr"}};
  for (auto& l : links) {
    const std::string at = dev + "/" + l[1];
    if (::symlink(l[0], at.c_str()) != 0) return errno_error("linking " + at);
    FW_TRY(own(at, sb));
  }
  // A read-only sysfs of the instance's network namespace (the monitor's own): the host's
  // devices stay visible read-only, as in systemd-nspawn; in a user namespace the lock
  // keeps it read-only, and a second sysfs cannot be mounted over it.
  FW_TRY(mount_on("sysfs", sys_dir, root + "/sys", "sysfs",
                  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  return {};
}

}  // namespace fw::monitor
