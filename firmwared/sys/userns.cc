#include "firmwared/sys/userns.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "firmwared/base/defer.h"
#include "firmwared/base/paths.h"

namespace fw::sys {

namespace {

Status write_file(const std::string& path, const std::string& text) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening " + path);
  const ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) {
    return errno_error(n < 0 ? errno : EIO,
                       "writing '" + text.substr(0, text.find('\n')) + "' to " + path);
  }
  return {};
}

// A child that unshares `flags` (CLONE_NEWUSER), says so on a pipe, then waits for the pipe
// back to close. Only system calls after fork(): the daemon has threads.
struct Holder {
  pid_t pid = -1;
  Fd release;  // closing it lets the holder exit
  ~Holder() {
    release.reset();
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

Status start_holder(Holder& h, int flags) {
  int ready[2], hold[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return errno_error("creating a pipe");
  Fd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(hold, O_CLOEXEC) != 0) return errno_error("creating a pipe");
  Fd hold_r(hold[0]);
  h.release.reset(hold[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return errno_error("forking the namespace holder");
  if (pid == 0) {
    h.release.reset();
    char c = ::unshare(flags) == 0 ? 0 : static_cast<char>(errno);
    if (::write(ready_w.get(), &c, 1) != 1) ::_exit(1);
    while (::read(hold_r.get(), &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  h.pid = pid;
  ready_w.reset();
  char c = 0;
  ssize_t n;
  do {
    n = ::read(ready_r.get(), &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return make_error(EIO, "the namespace holder died");
  if (c != 0) return errno_error(c, "unsharing the instance's user namespace");
  return {};
}

Result<Fd> open_ns(pid_t pid, const char* name) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/" + name;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening " + path);
  return fd;
}

std::string q(const std::string& s) { return "'" + s + "'"; }

}  // namespace

Status write_id_maps(pid_t pid, IdRange range) {
  const std::string map = "0 " + std::to_string(range.base) + " " + std::to_string(range.count);
  const std::string dir = "/proc/" + std::to_string(pid);
  FW_TRY(write_file(dir + "/uid_map", map));
  return write_file(dir + "/gid_map", map);
}

Status write_time_offsets(pid_t pid, int64_t seconds) {
  const std::string s = std::to_string(seconds);
  return write_file("/proc/" + std::to_string(pid) + "/timens_offsets",
                    "monotonic " + s + " 0\nboottime " + s + " 0\n");
}

Result<Fd> make_userns(IdRange range) {
  Holder h;
  FW_TRY(start_holder(h, CLONE_NEWUSER));
  FW_TRY_CTX(write_id_maps(h.pid, range), "mapping the instance's ids");
  return open_ns(h.pid, "user");
}

Result<Fd> idmapped_clone(const std::string& path, int userns_fd) {
  Fd tree(static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
  if (!tree) return errno_error("cloning the mount at " + q(path));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
    const int e = errno;
    return errno_error(e, "idmapping the mount at " + q(path) +
                              (e == EINVAL ? " (this kernel cannot idmap its filesystem)" : ""));
  }
  return tree;
}

Result<bool> can_idmap(const std::string& path) {
  FW_ASSIGN_OR_RETURN(Fd userns, make_userns({1, 1}));
  auto clone = idmapped_clone(path, userns.get());
  if (clone.ok()) return true;
  if (clone.error().code == EINVAL || clone.error().code == ENOSYS || clone.error().code == EPERM) {
    return false;
  }
  return clone.error();
}

Result<Mount> mount_overlay_idmapped(const std::vector<std::string>& lowers,
                                     const std::string& upper, const std::string& work,
                                     const std::string& dst, IdRange range) {
  const std::string what = "mounting the idmapped overlay on " + q(dst);
  if (lowers.empty()) return make_error(EINVAL, what + ": no lower directory");
  const auto slash = upper.rfind('/');
  if (slash == std::string::npos || slash == 0 || work.rfind('/') != slash ||
      upper.compare(0, slash, work, 0, slash) != 0) {
    return make_error(EINVAL, what + ": the upper and work dirs must share a parent");
  }
  const std::string parent = upper.substr(0, slash);
  const std::string staging = parent + "/.idmap";
  // Leftovers of an interrupted mount first (a crash between attach and detach).
  (void)unmount_all_below(staging);
  if (::mkdir(staging.c_str(), 0700) != 0 && errno != EEXIST) {
    return errno_error(what + ": creating " + q(staging));
  }
  FW_ASSIGN_OR_RETURN(Fd userns, make_userns(range));
  std::vector<Mount> attached;  // detached again whatever happens: the overlay keeps copies
  auto attach = [&](const std::string& src, const std::string& name) -> Result<std::string> {
    const std::string at = staging + "/" + name;
    if (::mkdir(at.c_str(), 0700) != 0 && errno != EEXIST) {
      return errno_error(what + ": creating " + q(at));
    }
    FW_ASSIGN_OR_RETURN(Fd tree, idmapped_clone(src, userns.get()));
    if (::syscall(SYS_move_mount, tree.get(), "", AT_FDCWD, at.c_str(), MOVE_MOUNT_F_EMPTY_PATH) !=
        0) {
      return errno_error(what + ": attaching the idmapped " + q(src) + " at " + q(at));
    }
    attached.emplace_back(at);
    return at;
  };
  std::string options = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) {
    FW_ASSIGN_OR_RETURN(std::string at, attach(lowers[i], "l" + std::to_string(i)));
    options += (i ? ":" : "") + at;
  }
  FW_ASSIGN_OR_RETURN(std::string up, attach(parent, "up"));
  options += ",upperdir=" + up + upper.substr(slash) + ",workdir=" + up + work.substr(slash);
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (options.size() + 1 > page) {
    return make_error(EINVAL, what + ": its options are " + std::to_string(options.size()) +
                                  " bytes, more than the " + std::to_string(page - 1) +
                                  " mount(2) accepts");
  }
  // overlayfs does its copy-ups and work dir operations with the mounter's credentials: as
  // the instance's root (an fsuid the idmapped layers map to 0) with every capability, so
  // that what it creates lands on disk with the instance's own ids. In a child: fsuid and
  // capabilities are per thread, and the daemon has threads.
  const pid_t pid = ::fork();
  if (pid < 0) return errno_error(what + ": forking");
  if (pid == 0) {
    ::setfsgid(range.base);
    ::setfsuid(range.base);
    // Changing fsuid from 0 drops the file capabilities from the effective set: raise them
    // again from the permitted set (capabilities(7), "Effect of user ID changes").
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, data) != 0) ::_exit(errno);
    for (auto& d : data) d.effective = d.permitted;
    if (::syscall(SYS_capset, &header, data) != 0) ::_exit(errno);
    if (::mount("overlay", dst.c_str(), "overlay", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      ::_exit(errno);
    }
    ::_exit(0);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  const int err = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
  if (err != 0) {
    return errno_error(
        err, what + " (" + options + ")" + (err == EINVAL ? " [the kernel log says why]" : ""));
  }
  return Mount(dst);
}

std::vector<std::string> subid_overlaps(const std::string& file, IdRange range) {
  std::vector<std::string> out;
  // read_small_file, not an ifstream: the static monitor links this file, and iostreams
  // would bring the locale machinery into it. A missing or unreadable file has none.
  auto content = read_small_file(file, 64u << 20);
  if (!content.ok()) return out;
  std::string_view text(*content);
  while (!text.empty()) {
    const size_t nl = std::min(text.find('\n'), text.size());
    const std::string line(text.substr(0, nl));
    text.remove_prefix(std::min(nl + 1, text.size()));
    if (line.empty() || line[0] == '#') continue;
    const size_t c1 = line.find(':');
    const size_t c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string start_s = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string count_s = line.substr(c2 + 1);
    char* end = nullptr;
    const unsigned long long start = std::strtoull(start_s.c_str(), &end, 10);
    if (end == start_s.c_str() || *end != '\0') continue;
    const unsigned long long count = std::strtoull(count_s.c_str(), &end, 10);
    if (end == count_s.c_str() || *end != '\0') continue;
    if (start < range.end() && start + count > range.base) out.push_back(line);
  }
  return out;
}

}  // namespace fw::sys
