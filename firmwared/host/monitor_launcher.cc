#include "firmwared/host/monitor_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <sstream>

#include "firmwared/base/fault.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/config/config.h"
#include "firmwared/core/workspace.h"
#include "firmwared/host/event.h"
#include "firmwared/sys/child.h"
#include "firmwared/sys/monitor_lock.h"
#include "firmwared/sys/monitor_wire.h"
#include "firmwared/sys/process.h"

namespace fw::host {

namespace {

// The monitor's status and control pipes (--status-fd, --control-fd), and where their
// sources sit before exec: above every target.
constexpr int kStatusFd = 3, kControlFd = 4;
constexpr int kFirstHighFd = 10;

std::optional<int> read_exit_status(const std::string& workspace) {
  auto content = read_small_file(core::Workspace(workspace).exit_status());
  if (!content.ok() || content->empty()) return std::nullopt;
  return std::atoi(content->c_str());
}

// The parent pid of `pid` (/proc/PID/stat field 4), -1 when unknown.
int64_t parent_of(int64_t pid) {
  auto content = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  if (!content.ok()) return -1;
  const std::string& s = *content;
  auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(s.substr(close + 2));
  std::string state;
  int64_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

// The children of `pid` (/proc/PID/task/PID/children, Linux 3.5 with CONFIG_PROC_CHILDREN).
std::vector<int64_t> children_of(int64_t pid) {
  const std::string p = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid);
  auto content = read_small_file(p + "/children");
  std::vector<int64_t> out;
  if (!content.ok()) return out;
  std::istringstream in(*content);
  for (int64_t child; in >> child;) out.push_back(child);
  return out;
}

class Monitor final : public core::RunningMonitor {
 public:
  // `child`: a monitor this daemon launched (reaped here); empty for one adopted after a
  // restart, known by `adopted_pidfd` only (its parent is init, which reaps it).
  Monitor(event_base* base, sys::Child child, Fd adopted_pidfd, int64_t pid, uint64_t start_time,
          std::string workspace, core::MonitorEvents events)
      : base_(base),
        child_(std::move(child)),
        adopted_pidfd_(std::move(adopted_pidfd)),
        is_child_(static_cast<bool>(child_)),
        pid_(pid),
        start_time_(start_time),
        workspace_(std::move(workspace)),
        events_(std::move(events)) {}

  // The monitor outlives this object (and the daemon): never killed here. A launched one
  // not yet reaped stays a zombie until the daemon exits and init inherits it.
  ~Monitor() override {
    exit_event_.reset();  // before its pidfd closes
    status_event_.reset();
    (void)child_.release();
  }

  Status watch(Fd status_fd, Fd control_fd) {
    status_fd_ = std::move(status_fd);
    control_fd_ = std::move(control_fd);
    if (status_fd_) {
      ::fcntl(status_fd_.get(), F_SETFL, ::fcntl(status_fd_.get(), F_GETFL) | O_NONBLOCK);
      FW_ASSIGN_OR_RETURN(status_event_, Event::make(base_, status_fd_.get(), EV_READ | EV_PERSIST,
                                                     status_cb, this, "the monitor's status pipe"));
      FW_TRY(status_event_.add());
    }
    FW_ASSIGN_OR_RETURN(exit_event_,
                        Event::make(base_, pidfd(), EV_READ, exit_cb, this, "the monitor's pidfd"));
    return exit_event_.add();
  }

  // A launch that could not be watched: its monitor must not run on alone.
  void abandon() { child_.kill_and_reap(); }

  Status adopt_init(int64_t init_pid) {
    // PID 1 must still be the monitor's child: that pins it to this run.
    FW_ASSIGN_OR_RETURN(init_pidfd_, sys::pidfd_open(static_cast<pid_t>(init_pid)));
    if (parent_of(init_pid) != pid_) {
      return make_error(ESRCH, "pid " + std::to_string(init_pid) + " is no longer this PID 1");
    }
    init_pid_ = init_pid;
    return {};
  }

  int64_t monitor_pid() const override { return pid_; }
  uint64_t monitor_start_time() const override { return start_time_; }
  int64_t init_pid() const override { return init_pid_; }
  int init_pidfd() const override { return init_pidfd_.get(); }

  void proceed() override { send(sys::wire::Control::kGo); }
  void run() override { send(sys::wire::Control::kRun); }

  Status dismiss(int timeout_ms) override {
    exit_event_.reset();  // no event follows
    status_event_.reset();
    control_fd_.reset();  // EOF: the standby exits, undoing what it made
    if (pidfd() < 0) return {};
    pollfd p{pidfd(), POLLIN, 0};
    Status result;
    if (::poll(&p, 1, timeout_ms) != 1) {
      kill_monitor();
      if (::poll(&p, 1, timeout_ms) != 1) {
        result = make_error(ETIMEDOUT, "monitor " + std::to_string(pid_) + " survived SIGKILL");
      }
    }
    if (is_child_ && result.ok()) (void)child_.wait();
    return result;
  }

  Status kill_init() override { return signal_init(SIGKILL); }

  Status signal_init(int sig) override {
    if (!init_pidfd_) return make_error(ESRCH, "PID 1 is not running");
    return sys::pidfd_send_signal(init_pidfd_.get(), sig);
  }

  bool init_emulated() const override {
    // With binfmt_misc's F flag the kernel runs the interpreter's file: /proc/PID/exe names
    // it (qemu-aarch64-static, qemu-arm, ...). PID 1 is the monitor's unreaped child.
    if (init_pid_ <= 0) return false;
    char target[4096];
    const std::string link = "/proc/" + std::to_string(init_pid_) + "/exe";
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n <= 0) return false;
    std::string t(target, static_cast<size_t>(n));
    t = t.substr(t.rfind('/') + 1);
    return t.rfind("qemu-", 0) == 0;
  }

  void kill_monitor() override {
    if (pidfd() < 0) return;  // reaped already
    if (auto s = sys::pidfd_send_signal(pidfd(), SIGKILL); !s.ok() && s.error().code != ESRCH) {
      log::warning("killing monitor " + std::to_string(pid_) + ": " + s.error().message);
    }
  }

 private:
  int pidfd() const { return is_child_ ? child_.pidfd() : adopted_pidfd_.get(); }

  void send(sys::wire::Control control) {
    if (!control_fd_) return;
    if (!sys::wire::write_line(control_fd_.get(), sys::wire::control_line(control)).ok()) {
      control_fd_.reset();
    }
  }

  static void status_cb(evutil_socket_t, short, void* ctx) noexcept {
    try {
      static_cast<Monitor*>(ctx)->read_status();
    } catch (const std::exception& e) {
      log::error(std::string("reading a monitor's status: ") + e.what());
    }
  }

  static void exit_cb(evutil_socket_t, short, void* ctx) noexcept {
    try {
      static_cast<Monitor*>(ctx)->on_exit();
    } catch (const std::exception& e) {
      log::error(std::string("handling a monitor's exit: ") + e.what());
    }
  }

  void read_status() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(status_fd_.get(), buf, sizeof(buf));
      if (n > 0) {
        pending_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) status_event_.del();  // EOF: the monitor is exiting; its pidfd tells the rest
      break;
    }
    while (auto line = sys::wire::take_line(pending_)) {
      if (auto status = sys::wire::parse_status(*line)) handle(*status);
    }
  }

  void handle(const sys::wire::StatusLine& line) {
    using Kind = sys::wire::StatusLine::Kind;
    switch (line.kind) {
      case Kind::kPts:
        if (events_.on_ptys) events_.on_ptys(line.inner, line.outer);
        break;
      case Kind::kNsReady:
        if (events_.on_namespaces_ready) events_.on_namespaces_ready();
        break;
      case Kind::kSandbox:
        if (events_.on_sandbox) events_.on_sandbox(line.number, line.pivot_us, line.init_us);
        break;
      case Kind::kStarted:
        // Open the pidfd before acknowledging: the monitor reaps PID 1 only after ACK, so
        // this pid cannot have been reused.
        if (auto fd = sys::pidfd_open(static_cast<pid_t>(line.number)); fd.ok()) {
          init_pidfd_ = std::move(*fd);
        }
        init_pid_ = line.number;
        send(sys::wire::Control::kAck);
        started_ = true;
        if (events_.on_started) events_.on_started(line.number);
        break;
      case Kind::kError:
        failed_ = true;
        if (events_.on_failed) events_.on_failed(line.error);
        break;
      case Kind::kOom:
        if (events_.on_oom) events_.on_oom(static_cast<uint64_t>(line.number));
        break;
      case Kind::kExited:
        exit_status_ = static_cast<int>(line.number);
        break;
    }
  }

  void on_exit() {
    if (status_fd_) read_status();       // lines written just before exiting
    if (is_child_) (void)child_.wait();  // it has exited: reaped at once, no zombie left
    if (!exit_status_ && (started_ || !is_child_)) exit_status_ = read_exit_status(workspace_);
    if (!started_ && !failed_ && is_child_ && events_.on_failed) {
      events_.on_failed(make_error(
          EIO, "the monitor died before starting PID 1 (see " + workspace_ + "/monitor.log)"));
    }
    auto cb = events_.on_exited;
    auto status = exit_status_;
    // on_exited may destroy *this: nothing after it.
    if (cb) cb(status);
  }

  event_base* base_;
  sys::Child child_;
  Fd adopted_pidfd_;
  bool is_child_;
  Fd init_pidfd_;
  Fd status_fd_, control_fd_;
  int64_t pid_;
  uint64_t start_time_;
  int64_t init_pid_ = 0;
  std::string workspace_;
  core::MonitorEvents events_;
  Event status_event_;
  Event exit_event_;
  std::string pending_;
  bool started_ = false;
  bool failed_ = false;
  std::optional<int> exit_status_;
};

// A pipe (both ends close-on-exec); `what` names it in errors.
Result<std::pair<Fd, Fd>> make_pipe(const char* what) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno_error(std::string("creating the ") + what);
  return std::pair<Fd, Fd>(Fd(p[0]), Fd(p[1]));
}

// The monitor's command line: its options (monitor/options.h) then PID 1's.
std::vector<std::string> monitor_argv(const std::string& monitor_path, const core::LaunchSpec& spec,
                                      const std::vector<sys::wire::CgroupArg>& cgroups) {
  std::vector<std::string> args = {monitor_path, "--name",      spec.name,     "--root",
                                   spec.root,    "--workspace", spec.workspace};
  args.insert(args.end(), {"--status-fd", std::to_string(kStatusFd), "--control-fd",
                           std::to_string(kControlFd)});
  if (!spec.apparmor_profile.empty()) {
    args.insert(args.end(), {"--apparmor-profile", spec.apparmor_profile});
  }
  if (spec.uid_base != 0) args.insert(args.end(), {"--userns-base", std::to_string(spec.uid_base)});
  if (spec.time_offset != 0) {
    args.insert(args.end(), {"--time-offset", std::to_string(spec.time_offset)});
  }
  if (spec.console_log_max != 0) {
    args.insert(args.end(), {"--log-max", std::to_string(spec.console_log_max)});
  }
  for (const auto& c : cgroups)
    args.insert(args.end(), {"--cgroup", sys::wire::format_cgroup_arg(c)});
  for (const auto& b : spec.binds) args.insert(args.end(), {"--bind", b});
  if (spec.standby) args.push_back("--standby");
  args.push_back("--");
  args.insert(args.end(), spec.cmdline.begin(), spec.cmdline.end());
  return args;
}

}  // namespace

std::string default_monitor_path() { return config::running_shipped_paths().monitor; }

MonitorLauncher::MonitorLauncher(event_base* base, std::string monitor_path)
    : base_(base), monitor_path_(std::move(monitor_path)) {}

Result<std::unique_ptr<core::RunningMonitor>> MonitorLauncher::launch(const core::LaunchSpec& spec,
                                                                      core::MonitorEvents events) {
  std::vector<sys::wire::CgroupArg> cgroups;
  for (const auto& c : spec.cgroups) {
    FW_ASSIGN_OR_RETURN(auto cgroup, sys::wire::parse_cgroup_arg(c));
    cgroups.push_back(std::move(cgroup));
  }
  FW_ASSIGN_OR_RETURN(auto status, make_pipe("status pipe"));
  FW_ASSIGN_OR_RETURN(auto control, make_pipe("control pipe"));
  // Sources above the targets 2..4 (ExecSpec), so no dup2 clobbers one.
  FW_ASSIGN_OR_RETURN(Fd status_w, sys::fd_above(status.second.get(), kFirstHighFd, "a pipe"));
  FW_ASSIGN_OR_RETURN(Fd control_r, sys::fd_above(control.first.get(), kFirstHighFd, "a pipe"));
  status.second.reset();
  control.first.reset();
  sys::ExecSpec exec{monitor_argv(monitor_path_, spec, cgroups),
                     {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
                     {{status_w.get(), kStatusFd}, {control_r.get(), kControlFd}}};
  // Its stderr is the daemon's until it opens monitor.log, so an early failure reaches the
  // journal; a daemon without one gives it /dev/null.
  auto err = sys::fd_above(STDERR_FILENO, kFirstHighFd, "the daemon's stderr");
  if (err.ok()) exec.fds.emplace_back(err->get(), STDERR_FILENO);
  // The test switch reaches the monitor, which builds PID 1's confinement (base/fault.h).
  if (fault::unconfined_clock()) {
    exec.env.push_back(std::string(fault::kUnconfinedClockVariable) + "=1");
  }
  FW_ASSIGN_OR_RETURN(sys::Child child, sys::Child::exec(exec, "the monitor of " + spec.name));
  status_w.reset();
  control_r.reset();
  const pid_t pid = child.pid();
  const uint64_t start_time = sys::process_start_time(pid).value_or(0);
  auto m = std::make_unique<Monitor>(base_, std::move(child), Fd(), pid, start_time, spec.workspace,
                                     std::move(events));
  if (auto s = m->watch(std::move(status.first), std::move(control.second)); !s.ok()) {
    m->abandon();
    return s.error().wrap("watching the monitor of " + spec.name);
  }
  return std::unique_ptr<core::RunningMonitor>(std::move(m));
}

Result<std::unique_ptr<core::RunningMonitor>> MonitorLauncher::adopt(int64_t monitor_pid,
                                                                     uint64_t monitor_start_time,
                                                                     int64_t init_pid,
                                                                     const std::string& workspace,
                                                                     core::MonitorEvents events) {
  FW_ASSIGN_OR_RETURN(
      Fd pidfd, sys::pidfd_open_verified(static_cast<pid_t>(monitor_pid), monitor_start_time));
  auto m = std::make_unique<Monitor>(base_, sys::Child(), std::move(pidfd), monitor_pid,
                                     monitor_start_time, workspace, std::move(events));
  FW_TRY(m->adopt_init(init_pid));
  FW_TRY(m->watch(Fd(), Fd()));
  return std::unique_ptr<core::RunningMonitor>(std::move(m));
}

Result<core::MonitorLockState> MonitorLauncher::inspect(const std::string& workspace) {
  FW_ASSIGN_OR_RETURN(sys::MonitorLockInfo info, sys::inspect_monitor_lock(workspace));
  return core::MonitorLockState{info.present, info.held, info.monitor_pid, info.start_time,
                                info.init_pid};
}

Status MonitorLauncher::kill_orphan(const std::string& workspace,
                                    const core::MonitorLockState& state) {
  // PID 1 already gone: the monitor is recording its exit status and exiting; let it.
  if (state.init_pid > 0 && parent_of(state.init_pid) != state.monitor_pid &&
      sys::wait_monitor_lock_free(workspace, 1000).ok()) {
    return {};
  }
  auto monitor =
      sys::pidfd_open_verified(static_cast<pid_t>(state.monitor_pid), state.monitor_start_time);
  std::vector<Fd> children;  // PID 1, even one the monitor had no time to record
  if (monitor.ok()) {
    for (int64_t child : children_of(state.monitor_pid)) {
      if (auto fd = sys::pidfd_open(static_cast<pid_t>(child)); fd.ok()) {
        (void)sys::pidfd_send_signal(fd->get(), SIGKILL);  // its PID namespace follows
        children.push_back(std::move(*fd));
      }
    }
    if (auto s = sys::pidfd_send_signal(monitor->get(), SIGKILL);
        !s.ok() && s.error().code != ESRCH) {
      return s.error().wrap("killing monitor " + std::to_string(state.monitor_pid));
    }
  }
  FW_TRY(sys::wait_monitor_lock_free(workspace, kOrphanTimeoutMs));
  // Its lock goes when its files are closed, before its mount namespace (holding the
  // overlay) is released: wait for the whole exit.
  if (monitor.ok()) {
    pollfd p{monitor->get(), POLLIN, 0};
    if (::poll(&p, 1, kOrphanTimeoutMs) != 1) {
      return make_error(ETIMEDOUT, "monitor " + std::to_string(state.monitor_pid) + " of '" +
                                       workspace + "' survived SIGKILL");
    }
  }
  // PID 1's exit completes after every process of its namespace is gone, and after its
  // mount namespace (holding the overlay) is released: only then is the upper dir free.
  for (const Fd& fd : children) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, kOrphanTimeoutMs) != 1) {
      return make_error(ETIMEDOUT, "PID 1 of '" + workspace + "' survived SIGKILL");
    }
  }
  return {};
}

}  // namespace fw::host
