// firmwared-monitor: one per running instance (like conmon). Started by the daemon for
// START, or ahead of it as a standby (--standby: the pre-made sandbox of a ready instance);
// unshares the namespaces, completes the launch, is PID 1's parent outside the new PID
// namespace, holds the console, records PID 1's exit status, exits. Once PID 1 runs it never
// depends on the daemon staying alive; a standby whose daemon goes away exits. What it says to the
// daemon and what it hears back: the status and control lines of firmwared/sys/monitor_wire.h.

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "firmwared/base/defer.h"
#include "firmwared/base/fd.h"
#include "firmwared/monitor/console.h"
#include "firmwared/monitor/launch.h"
#include "firmwared/monitor/options.h"
#include "firmwared/monitor/trim.h"
#include "firmwared/sys/cgroup.h"
#include "firmwared/sys/confinement.h"
#include "firmwared/sys/monitor_lock.h"
#include "firmwared/sys/monitor_wire.h"
#include "firmwared/sys/process.h"

namespace wire = fw::sys::wire;

namespace {

int g_status_fd = -1;

void say(const std::string& line) {
  if (g_status_fd < 0) return;
  if (!wire::write_line(g_status_fd, line).ok()) g_status_fd = -1;  // daemon gone
}

int fail(const fw::Error& e) {
  say(wire::error_line(e));
  std::fprintf(stderr, "firmwared-monitor: %s\n", e.message.c_str());
  return 1;
}

// Reads one control line; nullopt on EOF, error (the daemon went away) or a line that is
// not a control word.
std::optional<wire::Control> read_control(int fd) {
  auto line = wire::read_line(fd);
  if (!line) return std::nullopt;
  return wire::parse_control(*line);
}

// The instance's memory cgroup among its cgroups: the v1 memory controller's, else the
// cgroup2 one when it counts memory. {"", false} when none.
std::pair<std::string, bool> memory_cgroup(const std::vector<wire::CgroupArg>& cgroups) {
  std::string unified;
  for (const auto& c : cgroups) {
    const std::string& kind = c.kind;
    const std::string& dir = c.dir;
    if (c.unified()) {
      if (::access((dir + "/memory.events").c_str(), F_OK) == 0) unified = dir;
      continue;
    }
    for (size_t from = 0;;) {
      const size_t comma = kind.find(',', from);
      if (kind.substr(from, comma - from) == "memory") return {dir, false};
      if (comma == std::string::npos) break;
      from = comma + 1;
    }
  }
  return {unified, !unified.empty()};
}

enum class StandbyEnd { kRun, kDismissed, kInitDied };

// A standby's wait: RUN on the control pipe; anything else there (EOF included) dismisses it;
// PID 1 `init_pid` (waiting at its gate) may not die meanwhile.
StandbyEnd await_run(int control_fd, pid_t init_pid) {
  auto pidfd = fw::sys::pidfd_open(init_pid);
  for (;;) {
    pollfd fds[2] = {{control_fd, POLLIN, 0}, {pidfd.ok() ? pidfd->get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return StandbyEnd::kDismissed;
    }
    if (fds[1].revents & POLLIN) return StandbyEnd::kInitDied;
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      return read_control(control_fd) == wire::Control::kRun ? StandbyEnd::kRun
                                                             : StandbyEnd::kDismissed;
    }
  }
}

int64_t micros_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

// 128+signal for a killed PID 1, as shells report it.
int encode_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 255;
}

// A signalfd for SIGWINCH with the outer pts as our controlling terminal; invalid (and
// logged) when it cannot be had: the console then keeps its size.
fw::Fd follow_window_size(fw::monitor::Console& console) {
  if (auto s = console.follow_outer_size(); !s.ok()) {
    std::fprintf(stderr, "firmwared-monitor: console size not followed: %s\n",
                 s.error().message.c_str());
    return {};
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  fw::Fd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) std::fprintf(stderr, "firmwared-monitor: no signalfd: %s\n", std::strerror(errno));
  console.copy_outer_size();
  return fd;
}

int run(const fw::monitor::Options& o) {
  g_status_fd = o.status_fd;
  ::setsid();  // out of the daemon's session: its terminal's signals are not ours
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE}) ::signal(sig, SIG_IGN);

  fw::Fd ws(::open(o.workspace.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!ws) return fail(fw::errno_error("opening workspace '" + o.workspace + "'"));
  fw::Fd log(::openat(ws.get(), "monitor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (log) ::dup2(log.get(), 2);
  // Held for our whole life: a restarted daemon finds us through it, and a second monitor
  // can never run PID 1 on this workspace's upper dir.
  auto lock = fw::sys::take_monitor_lock(ws.get());
  if (!lock.ok()) return fail(lock.error().wrap("workspace '" + o.workspace + "'"));
  const int64_t self = ::getpid();
  const uint64_t start_time = fw::sys::process_start_time(static_cast<pid_t>(self)).value_or(0);
  if (auto s = fw::sys::write_monitor_lock(lock->get(), self, start_time, 0); !s.ok()) {
    return fail(s.error());
  }
  // A standby keeps the last run's exit status until RUN.
  if (!o.standby) ::unlinkat(ws.get(), "exit_status", 0);

  auto console = fw::monitor::Console::open(ws.get(), o.log_max, !o.standby);
  if (!console.ok()) return fail(console.error().wrap("setting up the console"));
  say(wire::pts_line(console->inner_path(), console->outer_path()));
  // Also on disk: a daemon that re-adopts this instance after a restart finds them here.
  if (fw::Fd pts(::openat(ws.get(), "pts", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)); pts) {
    const std::string line = console->inner_path() + " " + console->outer_path() + "\n";
    ssize_t n = ::write(pts.get(), line.data(), line.size());
    (void)n;
  }

  // The host's mount namespace, to return to once PID 1 has its own (below).
  fw::Fd host_mnt(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  if (!host_mnt) return fail(fw::errno_error("opening the host's mount namespace"));

  // Built before any namespace (libseccomp allocates), applied by PID 1 last before exec.
  auto confinement = fw::sys::Confinement::prepare(o.apparmor_profile);
  if (!confinement.ok()) return fail(confinement.error().wrap("preparing the confinement"));
  fw::monitor::InitSpec init{o.root, o.cmdline, console->inner_slave(), &*confinement, o.cgroups,
                             {},     false};
  // Leaving before PID 1 runs (an error, a dismissed standby): back to the host's mount
  // namespace before exiting, after the sandbox (a waiting PID 1 of user-namespace mode) is
  // gone, so that our copy of the instance's mounts is released before our lock is (the
  // kernel closes our files first when we exit): a daemon that finds the lock free may mount
  // the overlay again at once, never beside our copy of it.
  DEFER {
    if (host_mnt) (void)::setns(host_mnt.get(), CLONE_NEWNS);
  };
  auto sandbox = fw::monitor::enter_namespaces(o.name, o.userns_base, o.time_offset, init);
  if (!sandbox.ok()) return fail(sandbox.error());
  say(wire::ns_ready_line());
  if (read_control(o.control_fd) != wire::Control::kGo)
    return fail(fw::make_error(ECANCELED, "start cancelled"));
  const auto dev_t0 = std::chrono::steady_clock::now();
  if (auto s = fw::monitor::clear_host_mount_flags(o.root); !s.ok()) {
    return fail(s.error().wrap("clearing nosuid,nodev on the instance's root"));
  }
  if (auto s = fw::monitor::populate_dev(o.root, *sandbox); !s.ok()) {
    return fail(s.error().wrap("populating /dev"));
  }
  if (sandbox->userns()) {
    // /dev/console: a pty of the instance's own devpts, which its root owns (group tty, 5
    // inside), so that getty or systemd can open it again; the host's devpts can be read-only.
    if (auto s = console->move_inner(o.root + "/dev/pts/ptmx", o.userns_base, o.userns_base + 5);
        !s.ok()) {
      return fail(s.error().wrap("setting up the console"));
    }
  }
  if (auto s = fw::monitor::bind_console(o.root, console->inner_path()); !s.ok()) {
    return fail(s.error().wrap("populating /dev"));
  }
  if (auto s = fw::monitor::bind_host_paths(o.root, o.binds, *sandbox); !s.ok()) {
    return fail(s.error().wrap("binding host paths (binds)"));
  }
  std::vector<fw::Fd> cgroup_procs;
  if (o.standby) {
    const int64_t dev_us = micros_since(dev_t0);
    // The standby may wait for hours: in a copy of the host's mount namespace it would pin
    // every host mount of its start (other instances' overlays, loop devices). It pivots into
    // the instance's root now, keeping as descriptors what it needs of the host later: the
    // workspace (ws), the host's mount namespace (host_mnt), the cgroups (below), PID 1's
    // PID namespace in a user namespace (the sandbox's).
    const auto pivot_t0 = std::chrono::steady_clock::now();
    auto procs = fw::monitor::open_cgroup_procs(o.cgroups);
    if (!procs.ok()) return fail(procs.error().wrap("opening the instance's cgroups"));
    cgroup_procs = std::move(*procs);
    for (const auto& fd : cgroup_procs) init.cgroup_procs.push_back(fd.get());
    if (::chdir(o.root.c_str()) != 0) {
      return fail(fw::errno_error("entering '" + o.root + "'"));
    }
    if (auto s = fw::monitor::pivot_here(o.root); !s.ok()) {
      return fail(s.error().wrap("pivoting the standby into the instance's root"));
    }
    init.root.assign(1, '/');  // (not = "/": a GCC 12 -O2 -Wrestrict false positive)
    init.pivoted = true;
    const int64_t pivot_us = micros_since(pivot_t0);
    // Named apart while it stands by (ps, top, the tests' leftover checks); PID 1, forked
    // below, is named so too until it execs.
    ::prctl(PR_SET_NAME, "fw-standby");
    // PID 1 too is made ahead, in its PID namespace (still the last one made), with its
    // cgroups, /proc and cgroup mounts: the START then only lets it go.
    const auto init_t0 = std::chrono::steady_clock::now();
    if (auto s = fw::monitor::prepare_init(*sandbox, init); !s.ok()) return fail(s.error());
    say(wire::sandbox_line(dev_us, pivot_us, micros_since(init_t0)));
    fw::monitor::release_setup_pages();  // it may wait for hours
    // EOF (the daemon dismissed this standby, or went away): exit; the namespaces, and PID 1
    // waiting (the sandbox's destructor), go with us. PID 1 dying while it waits (killed from
    // the host) ends the standby with an error: the daemon makes it again.
    switch (await_run(o.control_fd, sandbox->init_pid)) {
      case StandbyEnd::kRun:
        break;
      case StandbyEnd::kDismissed:
        return 0;
      case StandbyEnd::kInitDied:
        return fail(fw::make_error(EIO, "PID 1 died while the sandbox stood by"));
    }
    ::prctl(PR_SET_NAME, "firmwared-monit");
    ::unlinkat(ws.get(), "exit_status", 0);
    console->start_run();
  }
  auto pid =
      o.standby ? fw::monitor::release_init(*sandbox) : fw::monitor::spawn_init(*sandbox, init);
  if (!pid.ok()) return fail(pid.error());
  auto pidfd = fw::sys::pidfd_open(*pid);
  if (!pidfd.ok()) return fail(pidfd.error());
  // PID 1 runs in a namespace of its own, pivoted into the instance's root. Ours is a copy
  // of the host's as it was at our start, holding every mount the host had then: other
  // instances' overlays and loop mounts, other daemons' too. Kept, it would pin them after
  // the host unmounts them (a later overlay on the same upper dir would be a second
  // superblock beside the stale one; a loop device would stay busy). Nothing below needs it.
  if (::setns(host_mnt.get(), CLONE_NEWNS) != 0) {
    return fail(fw::errno_error("returning to the host's mount namespace"));
  }
  host_mnt.reset();
  // Before STARTED: a daemon that dies now re-adopts us from the lock, PID 1 included.
  if (auto s = fw::sys::write_monitor_lock(lock->get(), self, start_time, *pid); !s.ok()) {
    return fail(s.error());
  }
  say(wire::started_line(*pid));
  // Do not reap PID 1 before the daemon holds its pidfd (no pid reuse window); EOF means
  // the daemon is gone, and we go on alone.
  bool control_open = read_control(o.control_fd) == wire::Control::kAck;
  // The launch is done: what follows is the wait loop, for the instance's whole run.
  fw::monitor::release_setup_pages();

  // OOM kills in the instance are reported as they happen (not fatal without a watch).
  const auto [memory_dir, memory_unified] = memory_cgroup(o.cgroups);
  fw::Fd oom;
  uint64_t oom_seen = 0;
  if (!memory_dir.empty()) {
    if (auto w = fw::sys::watch_oom(memory_dir, memory_unified); w.ok()) {
      oom = std::move(*w);
    } else {
      std::fprintf(stderr, "firmwared-monitor: no OOM watch: %s\n", w.error().message.c_str());
    }
  }

  // Window sizes set on the outer pts (CONSOLE_RESIZE) reach PID 1's console. Only now: a
  // blocked SIGWINCH would be inherited by PID 1, and our controlling terminal too.
  fw::Fd winch = follow_window_size(*console);

  for (;;) {
    pollfd fds[6] = {{console->inner_master(), POLLIN, 0},
                     {console->outer_master(), POLLIN, 0},
                     {pidfd->get(), POLLIN, 0},
                     {control_open ? o.control_fd : -1, POLLIN, 0},
                     {oom.get(), POLLIN, 0},
                     {winch.get(), POLLIN, 0}};
    if (::poll(fds, 6, -1) < 0) {
      if (errno == EINTR) continue;
      return fail(fw::errno_error("polling"));
    }
    if (fds[0].revents & POLLIN) console->pump_inner();
    if (fds[1].revents & POLLIN) console->pump_outer();
    if (fds[3].revents & (POLLIN | POLLHUP)) {
      if (!wire::read_line(o.control_fd)) control_open = false;
    }
    if (fds[4].revents & (POLLIN | POLLERR | POLLHUP)) {
      char drain[256];
      while (::read(oom.get(), drain, sizeof(drain)) > 0) {
      }
      auto kills = fw::sys::oom_kills(memory_dir, memory_unified);
      if (!kills.ok()) {
        oom.reset();  // the cgroup is going away
      } else if (*kills > oom_seen) {
        oom_seen = *kills;
        say(wire::oom_line(oom_seen));
      }
    }
    if (fds[5].revents & POLLIN) {
      signalfd_siginfo si{};
      while (::read(winch.get(), &si, sizeof(si)) > 0) {
      }
      console->copy_outer_size();
    }
    if (fds[2].revents & POLLIN) break;
  }
  siginfo_t info{};
  int wstatus = 0;
  if (::waitpid(*pid, &wstatus, 0) < 0) return fail(fw::errno_error("reaping PID 1"));
  (void)info;
  console->pump_inner();  // what PID 1 wrote last
  const int status = encode_status(wstatus);
  // Written before EXITED: a restarted daemon that missed the line still finds it.
  fw::Fd st(::openat(ws.get(), "exit_status.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (st) {
    const std::string s = std::to_string(status) + "\n";
    ssize_t n = ::write(st.get(), s.data(), s.size());
    (void)n;
    st.reset();
    ::renameat(ws.get(), "exit_status.tmp", ws.get(), "exit_status");
  }
  say(wire::exited_line(status));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto o = fw::monitor::parse_options(argc, argv);
    if (!o.ok()) {
      std::fprintf(stderr, "firmwared-monitor: %s\n", o.error().message.c_str());
      return 2;
    }
    return run(*o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "firmwared-monitor: %s\n", e.what());
    return 2;
  }
}
