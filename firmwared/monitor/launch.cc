#include "firmwared/monitor/launch.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace fw::monitor {

namespace {

Status do_mount(const char* src, const std::string& dst, const char* type, unsigned long flags,
                const char* data) {
  if (::mount(src, dst.c_str(), type, flags, data) != 0) {
    return errno_error(std::string("mounting ") + (type ? type : "bind") + " on '" + dst + "'");
  }
  return {};
}

Status ensure_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("creating '" + path + "'");
  }
  return {};
}

}  // namespace

Status enter_namespaces(const std::string& hostname) {
  if (::unshare(CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS) != 0) {
    return errno_error("unsharing IPC, network, mount and UTS namespaces");
  }
  // Without this, mounts made for the instance would propagate back to the host's shared
  // mounts (and a host reference could pin them): mount_namespaces(7).
  FW_TRY(do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
  if (::sethostname(hostname.c_str(), hostname.size()) != 0) {
    return errno_error("setting hostname '" + hostname + "'");
  }
  return {};
}

Status clear_host_mount_flags(const std::string& root) {
  // mount(2), MS_REMOUNT|MS_BIND: sets exactly the per-mount flags given, here none of
  // ro, nosuid, nodev, noexec (the overlay is writable).
  return do_mount(nullptr, root, nullptr, MS_BIND | MS_REMOUNT, nullptr);
}

Status populate_dev(const std::string& root, const std::string& console_path) {
  const std::string dev = root + "/dev";
  FW_TRY(ensure_dir(dev, 0755));
  FW_TRY(do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=512k"));
  struct Node {
    const char* name;
    unsigned major, minor;
  };
  // devices.txt in the kernel documentation: the memory devices and /dev/tty.
  for (const Node& n : {Node{"null", 1, 3}, Node{"zero", 1, 5}, Node{"full", 1, 7},
                        Node{"random", 1, 8}, Node{"urandom", 1, 9}, Node{"tty", 5, 0}}) {
    const std::string p = dev + "/" + n.name;
    if (::mknod(p.c_str(), S_IFCHR | 0666, makedev(n.major, n.minor)) != 0) {
      return errno_error("creating device node '" + p + "'");
    }
    ::chmod(p.c_str(), 0666);  // mknod(2) honours the umask
  }
  const std::string console = dev + "/console";
  const int fd = ::open(console.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("creating '" + console + "'");
  ::close(fd);
  FW_TRY(do_mount(console_path.c_str(), console, nullptr, MS_BIND, nullptr));
  FW_TRY(ensure_dir(dev + "/pts", 0755));
  // newinstance: the instance's ptys are its own, invisible to the host (devpts docs).
  FW_TRY(do_mount("devpts", dev + "/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620,gid=5"));
  if (::symlink("pts/ptmx", (dev + "/ptmx").c_str()) != 0) {
    return errno_error("linking " + dev + "/ptmx");
  }
  FW_TRY(ensure_dir(dev + "/shm", 01777));
  FW_TRY(do_mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m"));
  const char* links[][2] = {{"/proc/self/fd", "fd"},
                            {"/proc/self/fd/0", "stdin"},
                            {"/proc/self/fd/1", "stdout"},
                            {"/proc/self/fd/2", "stderr"}};
  for (auto& l : links) {
    if (::symlink(l[0], (dev + "/" + l[1]).c_str()) != 0) {
      return errno_error(std::string("linking ") + dev + "/" + l[1]);
    }
  }
  return {};
}

Status pivot_into(const std::string& root) {
  if (::chdir(root.c_str()) != 0) return errno_error("entering '" + root + "'");
  // pivot_root(".", "."): the old root is stacked on top of the new one, then detached —
  // no put_old directory needed (pivot_root(2), NOTES).
  if (::syscall(SYS_pivot_root, ".", ".") != 0)
    return errno_error("pivot_root into '" + root + "'");
  if (::umount2(".", MNT_DETACH) != 0) return errno_error("detaching the old root");
  if (::chdir("/") != 0) return errno_error("entering the new root");
  return {};
}

namespace {

// Child side: report "<errno> <step>" on the exec pipe and exit.
[[noreturn]] void child_fail(int pipe_fd, const Error& e) {
  const std::string msg = std::to_string(e.code) + " " + e.message;
  ssize_t n = ::write(pipe_fd, msg.data(), msg.size());
  (void)n;
  ::_exit(127);
}

Status mask_file(const char* path) {
  // /dev/null, read-only: reads find nothing, writes fail with EROFS.
  FW_TRY(do_mount("/dev/null", path, nullptr, MS_BIND, nullptr));
  return do_mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
}

Status read_only(const char* path) {
  FW_TRY(do_mount(path, path, nullptr, MS_BIND | MS_REC, nullptr));
  // A bind mount keeps its source's flags until remounted (mount(2), MS_REMOUNT|MS_BIND).
  return do_mount(nullptr, path, nullptr,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

Status mask_proc() {
  // DESIGN §9, docs/security.md: the host-wide kernel controls and leaks of /proc are
  // hidden or read-only (the list of runc/Docker's masked and read-only paths). A missing
  // file is not an error: kernels differ (this one may lack sysrq or kcore). These mounts
  // stop accidents and unprivileged processes; a root firmware can unmount them (no user
  // namespace locks them), which the seccomp filter and AppArmor make up for.
  for (const char* p : {"/proc/kcore", "/proc/sysrq-trigger", "/proc/timer_list", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_stats", "/proc/sched_debug"}) {
    if (::access(p, F_OK) != 0) continue;
    FW_TRY(mask_file(p));
  }
  for (const char* p : {"/proc/acpi", "/proc/scsi"}) {
    if (::access(p, F_OK) != 0) continue;
    FW_TRY(do_mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "size=0,mode=555"));
  }
  for (const char* p : {"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"}) {
    if (::access(p, F_OK) != 0) continue;
    FW_TRY(read_only(p));
  }
  return {};
}

[[noreturn]] void run_child(const std::vector<std::string>& cmdline, int console_fd, int pipe_fd,
                            const sys::Confinement& confinement) {
  // If the monitor dies, PID 1 dies, and with it the whole PID namespace.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::setsid() < 0) child_fail(pipe_fd, errno_error("setsid"));
  if (::ioctl(console_fd, TIOCSCTTY, 0) != 0) {
    child_fail(pipe_fd, errno_error("making the console the controlling terminal"));
  }
  for (int target = 0; target <= 2; ++target) {
    if (::dup2(console_fd, target) < 0) child_fail(pipe_fd, errno_error("dup2 of the console"));
  }
  if (auto s = ensure_dir("/proc", 0555); !s.ok()) child_fail(pipe_fd, s.error());
  if (auto s = do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
      !s.ok()) {
    child_fail(pipe_fd, s.error());
  }
  if (auto s = mask_proc(); !s.ok()) child_fail(pipe_fd, s.error());

  std::vector<char*> argv;
  for (const auto& a : cmdline) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux",
                        "container=firmwared", nullptr};
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  // DESIGN §8 step 5, last before exec: from here on the capabilities are gone and the
  // filter refuses the clock and the kernel's controls; the AppArmor profile (if any)
  // applies at execve.
  const char* step = nullptr;
  if (const int e = confinement.apply(&step); e != 0) {
    child_fail(pipe_fd, errno_error(e, std::string("confining PID 1: ") + step));
  }
  // Only the console (0-2) and the exec pipe (CLOEXEC) survive to exec; the pipe closes
  // on success, which the monitor reads as "exec'd".
  const int keep = pipe_fd;
  ::close_range(3, static_cast<unsigned>(keep) - 1, 0);
  ::close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
  ::execve(argv[0], argv.data(), const_cast<char* const*>(envp));
  child_fail(pipe_fd, errno_error("executing '" + cmdline[0] + "'"));
}

}  // namespace

Result<pid_t> spawn_init(const std::vector<std::string>& cmdline, int console_fd,
                         const sys::Confinement& confinement) {
  if (::unshare(CLONE_NEWPID) != 0) return errno_error("unsharing the PID namespace");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("creating the exec pipe");
  if (p[1] < 3) {  // keep the pipe away from 0-2, which the child overwrites
    const int moved = ::fcntl(p[1], F_DUPFD_CLOEXEC, 3);
    ::close(p[1]);
    p[1] = moved;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    Error e = errno_error("forking PID 1");
    ::close(p[0]);
    ::close(p[1]);
    return e;
  }
  if (pid == 0) {
    ::close(p[0]);
    run_child(cmdline, console_fd, p[1], confinement);
  }
  ::close(p[1]);
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(p[0], buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  ::close(p[0]);
  if (n <= 0) return pid;  // EOF: the pipe closed at exec
  buf[n] = '\0';
  int code = EIO;
  std::string message = buf;
  if (auto sp = message.find(' '); sp != std::string::npos) {
    code = std::atoi(message.substr(0, sp).c_str());
    message = message.substr(sp + 1);
  }
  ::waitpid(pid, nullptr, 0);
  return make_error(code, message);
}

}  // namespace fw::monitor
