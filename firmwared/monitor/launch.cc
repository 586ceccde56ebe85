#include "firmwared/monitor/launch.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "firmwared/monitor/mounting.h"
#include "firmwared/monitor/trim.h"
#include "firmwared/sys/child.h"

namespace fw::monitor {

Sandbox::Sandbox(Sandbox&& other) noexcept
    : uid_base(other.uid_base),
      time_offset(other.time_offset),
      init_pid(other.init_pid),
      go(std::move(other.go)),
      ready(std::move(other.ready)),
      exec_pipe(std::move(other.exec_pipe)),
      pid_ns(std::move(other.pid_ns)),
      init_prepared(other.init_prepared) {
  other.init_pid = -1;
}

Sandbox::~Sandbox() {
  if (init_pid <= 0) return;
  ::kill(init_pid, SIGKILL);  // our unreaped child: the pid cannot have been reused
  while (::waitpid(init_pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

namespace {
[[noreturn]] void run_userns_init(const InitSpec& init, int64_t time_offset, int ready_fd,
                                  int go_fd, int exec_fd);
Status write_fd_byte(int fd, char c) {
  if (::write(fd, &c, 1) != 1) return errno_error("writing to a pipe");
  return {};
}
// Reads one byte; nullopt on EOF or error.
std::optional<char> read_fd_byte(int fd) {
  char c;
  ssize_t n;
  do {
    n = ::read(fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return std::nullopt;
  return c;
}
// A pipe, both ends close-on-exec: {read end, write end}.
Result<std::pair<Fd, Fd>> make_pipe(const std::string& what) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error("creating " + what);
  return std::pair<Fd, Fd>(Fd(p[0]), Fd(p[1]));
}
// PID 1's exec pipe: its write end away from 0-2, which PID 1 overwrites with its console.
Result<std::pair<Fd, Fd>> exec_pipe() {
  FW_ASSIGN_OR_RETURN(auto p, make_pipe("the exec pipe"));
  FW_ASSIGN_OR_RETURN(p.second, sys::fd_above(p.second.get(), 3, "the exec pipe"));
  return p;
}
// Closes every descriptor from 3 up but those of `keep` (a copy of the monitor keeps only
// what it uses: its console and pipes, not the monitor's workspace, cgroup or namespace fds).
void close_fds_except(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (const int fd : keep) {
    if (fd < static_cast<int>(from)) continue;
    if (static_cast<unsigned>(fd) > from) ::close_range(from, static_cast<unsigned>(fd) - 1, 0);
    from = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(from, ~0U, 0);
}
Status join_ns(pid_t pid, const char* name, int type, const char* what) {
  Fd fd(::open(("/proc/" + std::to_string(pid) + "/ns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error(std::string("opening the ") + what + " namespace");
  if (::setns(fd.get(), type) != 0)
    return errno_error(std::string("entering the ") + what + " namespace");
  return {};
}
}  // namespace

Result<Sandbox> enter_namespaces(const std::string& hostname, uint32_t uid_base,
                                 int64_t time_offset, const InitSpec& init) {
  Sandbox sb;
  sb.uid_base = uid_base;
  sb.time_offset = time_offset;
  if (uid_base == 0) {
    if (::unshare(CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS) != 0) {
      return errno_error("unsharing IPC, network, mount and UTS namespaces");
    }
    if (time_offset != 0) {
      // For our children: PID 1 is the first process to enter it (time_namespaces(7)).
      if (::unshare(CLONE_NEWTIME) != 0) return errno_error("unsharing the time namespace");
      FW_TRY_CTX(sys::write_time_offsets(::getpid(), time_offset), "setting the clock offsets");
    }
  } else {
    if (::unshare(CLONE_NEWNS) != 0) return errno_error("unsharing the mount namespace");
    FW_ASSIGN_OR_RETURN(auto ready, make_pipe("PID 1's ready pipe"));
    FW_ASSIGN_OR_RETURN(auto go, make_pipe("PID 1's go pipe"));
    FW_ASSIGN_OR_RETURN(auto exec, exec_pipe());
    Fd& ready_r = ready.first;
    Fd& ready_w = ready.second;
    Fd& go_r = go.first;
    Fd& exec_w = exec.second;
    sb.go = std::move(go.second);
    sb.exec_pipe = std::move(exec.first);
    // clone(2) without a new stack works as fork(2) does (the monitor has one thread). The
    // new namespaces are owned by the new user namespace; a PID namespace needs a process
    // before anything can join it, so PID 1 is made now.
    const long pid = ::syscall(
        SYS_clone,
        CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD,
        nullptr, nullptr, nullptr, nullptr);
    if (pid < 0)
      return errno_error("cloning PID 1 into new user, PID, network, UTS and IPC namespaces");
    if (pid == 0) {
      close_fds_except({ready_w.get(), go_r.get(), exec_w.get()});
      run_userns_init(init, time_offset, ready_w.get(), go_r.get(), exec_w.get());
    }
    sb.init_pid = static_cast<pid_t>(pid);
    ready_w.reset();
    go_r.reset();
    exec_w.reset();
    auto ready_byte = read_fd_byte(ready_r.get());
    if (!ready_byte) return make_error(EIO, "PID 1 died while its namespaces were made");
    if (*ready_byte != 0) return errno_error(*ready_byte, "unsharing the time namespace");
    sb.ready = std::move(ready_r);  // PID 1 says it again once prepare_init set it up
    FW_TRY(sys::write_id_maps(sb.init_pid, {uid_base, sys::kIdsPerInstance}));
    if (time_offset != 0) {
      FW_TRY_CTX(sys::write_time_offsets(sb.init_pid, time_offset), "setting the clock offsets");
    }
    // Host root may enter namespaces a descendant user namespace owns (setns(2)): the
    // monitor lives in the instance's network (the net helper finds it there), UTS and IPC
    // namespaces while keeping the host's powers for the mounts of step 4.
    FW_TRY(join_ns(sb.init_pid, "net", CLONE_NEWNET, "network"));
    FW_TRY(join_ns(sb.init_pid, "uts", CLONE_NEWUTS, "UTS"));
    FW_TRY(join_ns(sb.init_pid, "ipc", CLONE_NEWIPC, "IPC"));
    sb.pid_ns.reset(
        ::open(("/proc/" + std::to_string(sb.init_pid) + "/ns/pid").c_str(), O_RDONLY | O_CLOEXEC));
    if (!sb.pid_ns) return errno_error("opening PID 1's PID namespace");
  }
  // Without this, mounts made for the instance would propagate back to the host's shared
  // mounts (and a host reference could pin them): mount_namespaces(7).
  FW_TRY(do_mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr));
  if (::sethostname(hostname.c_str(), hostname.size()) != 0) {
    return errno_error("setting hostname '" + hostname + "'");
  }
  return sb;
}

Status clear_host_mount_flags(const std::string& root) {
  // mount(2), MS_REMOUNT|MS_BIND: sets exactly the per-mount flags given, here none of
  // ro, nosuid, nodev, noexec (the overlay is writable).
  return do_mount(nullptr, root, nullptr, MS_BIND | MS_REMOUNT, nullptr);
}

Status pivot_here(const std::string& root) {
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

Status mask_file(const std::string& path) {
  // /dev/null, read-only: reads find nothing, writes fail with EROFS.
  FW_TRY(do_mount("/dev/null", path, nullptr, MS_BIND, nullptr));
  return do_mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr);
}

Status read_only(const std::string& path) {
  FW_TRY(do_mount(path.c_str(), path, nullptr, MS_BIND | MS_REC, nullptr));
  // A bind mount keeps its source's flags until remounted (mount(2), MS_REMOUNT|MS_BIND).
  return do_mount(nullptr, path, nullptr,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
}

// `path` (absolute) under `root`, "/" included.
std::string under(const std::string& root, const char* path) {
  return root == "/" ? std::string(path) : root + path;
}

Status mask_proc(const std::string& root) {
  // docs/security.md: the host-wide kernel controls and leaks of /proc are hidden or
  // read-only (the list of runc/Docker's masked and read-only paths). A missing file is not
  // an error: kernels differ (this one may lack sysrq or kcore). In a user namespace these
  // mounts are locked: the firmware can neither unmount them nor mount a proc of its own
  // (the kernel refuses a new proc while the only one visible has parts hidden). Without
  // one, a root firmware can unmount them, which the seccomp filter and AppArmor make up for.
  const std::string proc = under(root, "/proc");
  for (const char* p : {"/kcore", "/sysrq-trigger", "/timer_list", "/keys", "/latency_stats",
                        "/timer_stats", "/sched_debug", "/kmsg"}) {
    if (::access((proc + p).c_str(), F_OK) != 0) continue;
    FW_TRY(mask_file(proc + p));
  }
  for (const char* p : {"/acpi", "/scsi"}) {
    if (::access((proc + p).c_str(), F_OK) != 0) continue;
    FW_TRY(do_mount("tmpfs", proc + p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "size=0,mode=555"));
  }
  for (const char* p : {"/sys", "/bus", "/fs", "/irq"}) {
    if (::access((proc + p).c_str(), F_OK) != 0) continue;
    FW_TRY(read_only(proc + p));
  }
  return {};
}

// The end of PID 1's setup, common to both modes: signals reset, confinement, only the
// console and the exec pipe left open, execve.
[[noreturn]] void exec_init(const InitSpec& init, int pipe_fd) {
  std::vector<char*> argv;
  for (const auto& a : init.cmdline) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux",
                        "container=firmwared", nullptr};
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  // Last before exec: from here on the capabilities are gone and the filter refuses the
  // clock and the kernel's controls; the AppArmor profile (if any) applies at execve.
  const char* step = nullptr;
  if (const int e = init.confinement->apply(&step); e != 0) {
    child_fail(pipe_fd, errno_error(e, std::string("confining PID 1: ") + step));
  }
  // Only the console (0-2) and the exec pipe (CLOEXEC) survive to exec; the pipe closes
  // on success, which the monitor reads as "exec'd".
  const int keep = pipe_fd;
  ::close_range(3, static_cast<unsigned>(keep) - 1, 0);
  ::close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
  ::execve(argv[0], argv.data(), const_cast<char* const*>(envp));
  child_fail(pipe_fd, errno_error("executing '" + init.cmdline[0] + "'"));
}

// As the kernel starts init: /dev/console on 0-2 and no controlling terminal (a session of
// its own, so that nothing of the monitor's reaches it). An init that wants the console as
// its terminal takes it (TIOCSCTTY); otherwise a ^C typed on the console is not a SIGINT to
// PID 1 (busybox's ctrl-alt-del action) and a shell it spawns gets job control.
void take_console(int console_fd, int pipe_fd) {
  if (::setsid() < 0) child_fail(pipe_fd, errno_error("setsid"));
  for (int target = 0; target <= 2; ++target) {
    if (::dup2(console_fd, target) < 0) child_fail(pipe_fd, errno_error("dup2 of the console"));
  }
}

void wait_for_go(int ready_fd, int go_fd, std::vector<int> keep);

// Writes `pid` into the cgroup.procs of each of the instance's cgroups (through
// init.cgroup_procs when the monitor opened them).
Status join_cgroups(const InitSpec& init, pid_t pid) {
  const std::string text = std::to_string(pid);
  if (!init.cgroup_procs.empty()) {
    for (size_t i = 0; i < init.cgroup_procs.size(); ++i) {
      if (::write(init.cgroup_procs[i], text.data(), text.size()) < 0) {
        return errno_error("moving PID 1 into " + init.cgroups[i].dir + "/cgroup.procs");
      }
    }
    return {};
  }
  for (const auto& c : init.cgroups) {
    const std::string procs = c.dir + "/cgroup.procs";
    Fd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), text.data(), text.size()) < 0) {
      return errno_error("moving PID 1 into " + procs);
    }
  }
  return {};
}

// PID 1's view of its cgroups at /sys/fs/cgroup, each rooted at the instance's cgroup by the
// cgroup namespace, laid out as the host's (systemd-nspawn's rule: an init finds the mode it
// expects). Unified host: cgroup2 there. Hybrid host: a tmpfs holding "unified" (cgroup2) and
// "systemd" (the name=systemd hierarchy), both the instance's to manage, and the v1
// controllers read-only; the tmpfs itself read-only. Run by PID 1 after the pivot.
Status mount_cgroups(const std::vector<sys::wire::CgroupArg>& cgroups) {
  if (cgroups.empty()) return {};
  constexpr unsigned long kFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  const std::string top = "/sys/fs/cgroup";
  bool v1 = false;
  for (const auto& c : cgroups) v1 = v1 || !c.unified();
  if (!v1) return do_mount("cgroup2", top, "cgroup2", kFlags, nullptr);
  FW_TRY(do_mount("tmpfs", top, "tmpfs", kFlags, "mode=755,size=64k"));
  for (const auto& c : cgroups) {
    const std::string& kind = c.kind;
    if (c.unified()) {
      FW_TRY(ensure_dir(top + "/unified", 0755));
      FW_TRY(do_mount("cgroup2", top + "/unified", "cgroup2", kFlags, nullptr));
    } else if (kind.rfind("name=", 0) == 0) {
      const std::string dir = top + "/" + kind.substr(5);
      FW_TRY(ensure_dir(dir, 0755));
      FW_TRY(do_mount("cgroup", dir, "cgroup", kFlags, ("none," + kind).c_str()));
    } else {
      const std::string dir = top + "/" + kind;
      FW_TRY(ensure_dir(dir, 0755));
      FW_TRY(do_mount("cgroup", dir, "cgroup", kFlags | MS_RDONLY, kind.c_str()));
      // "cpu" and "cpuacct" lead to "cpu,cpuacct", as on the host.
      if (kind.find(',') != std::string::npos) {
        size_t from = 0;
        for (;;) {
          const size_t comma = kind.find(',', from);
          const std::string one = kind.substr(from, comma - from);
          // Best effort (a name taken already is fine). Assigned, not cast to void: glibc's
          // _FORTIFY_SOURCE declares symlink warn_unused_result, which a cast does not quiet.
          [[maybe_unused]] const int linked = ::symlink(kind.c_str(), (top + "/" + one).c_str());
          if (comma == std::string::npos) break;
          from = comma + 1;
        }
      }
    }
  }
  return do_mount(nullptr, top, nullptr, MS_REMOUNT | MS_RDONLY | kFlags, "mode=755,size=64k");
}

// A copy of the monitor's mount namespace (in a user namespace: owned by it, with every
// mount the monitor made locked together with its flags), then the pivot into the current
// directory, which unshare(2) moved to the copy of the root.
void enter_root(const InitSpec& init, int pipe_fd, bool locked) {
  if (::unshare(CLONE_NEWNS) != 0)
    child_fail(pipe_fd, errno_error("unsharing PID 1's mount namespace"));
  if (locked) {
    // pivot_root(2) refuses a locked new root: stack an unlocked recursive copy of it on
    // itself (the copy's own mount is not locked, everything below it stays locked) and
    // step into it.
    const int tree = static_cast<int>(::syscall(
        SYS_open_tree, AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (tree < 0) child_fail(pipe_fd, errno_error("copying the instance's root"));
    if (::syscall(SYS_move_mount, tree, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      child_fail(pipe_fd, errno_error("stacking the copy of the instance's root"));
    }
    if (::fchdir(tree) != 0) child_fail(pipe_fd, errno_error("entering the copy of the root"));
    ::close(tree);
  }
  if (auto s = pivot_here(init.root); !s.ok()) child_fail(pipe_fd, s.error());
}

// Privileged PID 1, forked by prepare_init into the new PID namespace: sets itself up, says so
// on `ready_fd`, waits for its go on `go_fd` (EOF: the monitor is gone or dismissed the
// standby), then takes its console, confines itself and execs. Errors go to `exec_fd`.
[[noreturn]] void run_child(const InitSpec& init, int ready_fd, int go_fd, int exec_fd) {
  // If the monitor dies, PID 1 dies, and with it the whole PID namespace.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Into the instance's cgroups, then a cgroup namespace rooted there.
  if (!init.cgroups.empty()) {
    if (auto s = join_cgroups(init, 0); !s.ok()) child_fail(exec_fd, s.error());
    if (::unshare(CLONE_NEWCGROUP) != 0) {
      child_fail(exec_fd, errno_error("unsharing the cgroup namespace"));
    }
  }
  if (auto s = do_mount("proc", under(init.root, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        nullptr);
      !s.ok()) {
    child_fail(exec_fd, s.error());
  }
  if (auto s = mask_proc(init.root); !s.ok()) child_fail(exec_fd, s.error());
  if (::chdir(init.root.c_str()) != 0)
    child_fail(exec_fd, errno_error("entering '" + init.root + "'"));
  if (!init.pivoted) enter_root(init, exec_fd, false);
  if (auto s = mount_cgroups(init.cgroups); !s.ok()) child_fail(exec_fd, s.error());
  wait_for_go(ready_fd, go_fd, {exec_fd, init.console_fd});
  take_console(init.console_fd, exec_fd);
  exec_init(init, exec_fd);
}

// PID 1's last gate, both modes: only `keep` (and 0-2) left open, the setup's pages given
// back (a standby's PID 1 may wait for hours), "ready" said, then the go awaited; EOF instead
// (the monitor dismissed the standby, or died) ends PID 1.
void wait_for_go(int ready_fd, int go_fd, std::vector<int> keep) {
  keep.push_back(ready_fd);
  keep.push_back(go_fd);
  close_fds_except(std::move(keep));
  release_setup_pages();
  if (!write_fd_byte(ready_fd, 0).ok()) ::_exit(0);
  ::close(ready_fd);
  if (!read_fd_byte(go_fd)) ::_exit(0);
  ::close(go_fd);
}

// PID 1 in a user namespace, from clone(2) in enter_namespaces: says it is ready (its time
// namespace made), waits for the monitor's first go (EOF: abandoned), sets itself up as the
// instance's root in its own locked copy of the mount namespace, says it is ready again and
// waits for its last go, then opens its console, confines itself and execs. Only system
// calls: this is a copy of the monitor.
[[noreturn]] void run_userns_init(const InitSpec& init, int64_t time_offset, int ready_fd,
                                  int go_fd, int exec_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Out of the daemon's working directory (a host path): a standby's pivot then moves us to
  // the instance's root, and nothing of ours keeps its detached old root busy.
  if (::chdir("/") != 0) ::_exit(127);
  char status = 0;
  // A time namespace for our children, whose offsets the monitor writes; we enter it below.
  if (time_offset != 0 && ::unshare(CLONE_NEWTIME) != 0) status = static_cast<char>(errno);
  if (!write_fd_byte(ready_fd, status).ok() || status != 0) ::_exit(127);
  const auto go = read_fd_byte(go_fd);
  if (!go) ::_exit(0);
  // Go byte 2: the monitor (a standby) pivoted into the instance's root after we were made,
  // which moved our root with it (pivot_root(2)): the instance's root is "/" now.
  InitSpec here = init;
  if (*go == 2) {
    here.root.assign(1, '/');
    here.pivoted = true;
  }
  // A cgroup namespace rooted at the cgroup the monitor moved us into.
  if (!here.cgroups.empty() && ::unshare(CLONE_NEWCGROUP) != 0) {
    child_fail(exec_fd, errno_error("unsharing the cgroup namespace"));
  }
  if (time_offset != 0) {
    const int fd = ::open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWTIME) != 0) {
      child_fail(exec_fd, errno_error("entering the time namespace"));
    }
    ::close(fd);
  }
  // Entered while still host uid 0: the workspace above the root is 0700.
  if (::chdir(here.root.c_str()) != 0)
    child_fail(exec_fd, errno_error("entering '" + here.root + "'"));
  // The instance's root (host id uid_base), with no supplementary group.
  if (::setgroups(0, nullptr) != 0)
    child_fail(exec_fd, errno_error("dropping supplementary groups"));
  if (::setresgid(0, 0, 0) != 0)
    child_fail(exec_fd, errno_error("becoming the instance's root group"));
  if (::setresuid(0, 0, 0) != 0) child_fail(exec_fd, errno_error("becoming the instance's root"));
  // A change of credentials clears the parent-death signal (prctl(2)): set it again, so
  // that PID 1, and with it the instance, dies with its monitor. A monitor that died in
  // between sent nothing: its end of the exec pipe is closed then (POLLERR on ours).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (pollfd p{exec_fd, 0, 0}; ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0) ::_exit(0);
  enter_root(here, exec_fd, true);
  if (auto s = mount_cgroups(here.cgroups); !s.ok()) child_fail(exec_fd, s.error());
  wait_for_go(ready_fd, go_fd, {exec_fd});
  // The console the monitor bound at /dev/console (a pty of the instance's devpts), opened
  // as the kernel opens it for init.
  const int console = ::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (console < 0) child_fail(exec_fd, errno_error("opening /dev/console"));
  take_console(console, exec_fd);
  exec_init(here, exec_fd);
}

// Waits for PID 1's exec report: its pid on EOF, else the error it sent (PID 1 reaped).
Result<pid_t> await_exec(pid_t pid, int pipe_fd) {
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(pipe_fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
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

}  // namespace

Result<std::vector<Fd>> open_cgroup_procs(const std::vector<sys::wire::CgroupArg>& cgroups) {
  std::vector<Fd> out;
  for (const auto& c : cgroups) {
    const std::string procs = c.dir + "/cgroup.procs";
    Fd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return errno_error("opening " + procs);
    out.push_back(std::move(fd));
  }
  return out;
}

Status prepare_init(Sandbox& sb, const InitSpec& init) {
  if (sb.userns()) {
    // /proc must be mounted by a process of PID 1's PID namespace, and in the monitor's
    // mount namespace (the host's user namespace owns it) to be locked in PID 1's copy.
    if (sb.pid_ns) {
      if (::setns(sb.pid_ns.get(), CLONE_NEWPID) != 0)
        return errno_error("entering the PID namespace");
    } else {
      FW_TRY(join_ns(sb.init_pid, "pid", CLONE_NEWPID, "PID"));
    }
    FW_ASSIGN_OR_RETURN(
        sys::Child helper, sys::Child::fork("the /proc mounter", [&]() -> int {
          Status s = do_mount("proc", under(init.root, "/proc"), "proc",
                              MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
          if (s.ok()) s = mask_proc(init.root);
          return s.ok() ? 0 : (s.error().code > 0 && s.error().code < 256 ? s.error().code : EIO);
        }));
    FW_ASSIGN_OR_RETURN(sys::ChildExit helper_exit, helper.wait());
    if (helper_exit.status() != 0) {
      return errno_error(helper_exit.signaled ? EIO : helper_exit.value,
                         "mounting /proc and its masks");
    }
    FW_TRY(join_cgroups(init, sb.init_pid));
    FW_TRY_CTX(write_fd_byte(sb.go.get(), init.pivoted ? 2 : 1), "letting PID 1 set itself up");
  } else {
    if (::unshare(CLONE_NEWPID) != 0) return errno_error("unsharing the PID namespace");
    FW_ASSIGN_OR_RETURN(auto ready, make_pipe("PID 1's ready pipe"));
    FW_ASSIGN_OR_RETURN(auto go, make_pipe("PID 1's go pipe"));
    FW_ASSIGN_OR_RETURN(auto exec, exec_pipe());
    const pid_t pid = ::fork();
    if (pid < 0) return errno_error("forking PID 1");
    if (pid == 0) {
      ready.first.reset();
      go.second.reset();
      exec.first.reset();
      run_child(init, ready.second.get(), go.first.get(), exec.second.get());
    }
    sb.init_pid = pid;
    sb.ready = std::move(ready.first);
    sb.go = std::move(go.second);
    sb.exec_pipe = std::move(exec.first);
  }
  const bool waiting = read_fd_byte(sb.ready.get()).has_value();
  sb.ready.reset();
  if (!waiting) {
    // PID 1 ended before its gate: its report names the step.
    const pid_t pid = sb.init_pid;
    sb.init_pid = -1;
    auto r = await_exec(pid, sb.exec_pipe.get());
    if (!r.ok()) return r.error();
    ::waitpid(pid, nullptr, 0);
    return make_error(EIO, "PID 1 died while it was set up");
  }
  sb.init_prepared = true;
  return {};
}

Result<pid_t> release_init(Sandbox& sb) {
  if (!sb.init_prepared || sb.init_pid <= 0) return make_error(EINVAL, "PID 1 is not set up");
  // EPIPE (SIGPIPE is ignored): PID 1 died while it waited; the destructor reaps it.
  FW_TRY_CTX(write_fd_byte(sb.go.get(), 1), "letting PID 1 run");
  sb.go.reset();
  const pid_t pid = sb.init_pid;
  sb.init_pid = -1;  // await_exec reaps it on failure; on success the monitor owns it
  return await_exec(pid, sb.exec_pipe.get());
}

Result<pid_t> spawn_init(Sandbox& sb, const InitSpec& init) {
  FW_TRY(prepare_init(sb, init));
  return release_init(sb);
}

}  // namespace fw::monitor
