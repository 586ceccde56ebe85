#include "firmwared/host/monitor_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "firmwared/base/fault.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/sys/monitor_lock.h"
#include "firmwared/sys/process.h"

namespace fw::host {

namespace {

std::optional<int> read_exit_status(const std::string& workspace) {
  auto content = read_small_file(workspace + "/exit_status");
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
  Monitor(event_base* base, Fd pidfd, int64_t pid, uint64_t start_time, std::string workspace,
          core::MonitorEvents events, bool is_child)
      : base_(base),
        pidfd_(std::move(pidfd)),
        pid_(pid),
        start_time_(start_time),
        workspace_(std::move(workspace)),
        events_(std::move(events)),
        is_child_(is_child) {}

  ~Monitor() override {
    if (status_event_ != nullptr) event_free(status_event_);
    if (exit_event_ != nullptr) event_free(exit_event_);
  }

  Status watch(Fd status_fd, Fd control_fd) {
    status_fd_ = std::move(status_fd);
    control_fd_ = std::move(control_fd);
    if (status_fd_) {
      ::fcntl(status_fd_.get(), F_SETFL, ::fcntl(status_fd_.get(), F_GETFL) | O_NONBLOCK);
      status_event_ = event_new(base_, status_fd_.get(), EV_READ | EV_PERSIST, status_cb, this);
      if (status_event_ == nullptr || event_add(status_event_, nullptr) != 0) {
        return make_error(ENOMEM, "watching the monitor's status pipe");
      }
    }
    exit_event_ = event_new(base_, pidfd_.get(), EV_READ, exit_cb, this);
    if (exit_event_ == nullptr || event_add(exit_event_, nullptr) != 0) {
      return make_error(ENOMEM, "watching the monitor's pidfd");
    }
    return {};
  }

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

  void proceed() override { send("GO"); }

  Status kill_init() override {
    if (!init_pidfd_) return make_error(ESRCH, "PID 1 is not running");
    return sys::pidfd_send_signal(init_pidfd_.get(), SIGKILL);
  }

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
    if (auto s = sys::pidfd_send_signal(pidfd_.get(), SIGKILL);
        !s.ok() && s.error().code != ESRCH) {
      log::warning("killing monitor " + std::to_string(pid_) + ": " + s.error().message);
    }
  }

 private:
  void send(const std::string& line) {
    if (!control_fd_) return;
    const std::string l = line + "\n";
    if (::write(control_fd_.get(), l.data(), l.size()) < 0) control_fd_.reset();
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
      if (n == 0) {  // EOF: the monitor is exiting; its pidfd tells the rest
        if (status_event_ != nullptr) event_del(status_event_);
      }
      break;
    }
    size_t nl;
    while ((nl = pending_.find('\n')) != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      handle(line);
    }
  }

  void handle(const std::string& line) {
    std::istringstream in(line);
    std::string what;
    in >> what;
    if (what == "PTS") {
      std::string inner, outer;
      in >> inner >> outer;
      if (events_.on_ptys) events_.on_ptys(inner, outer);
    } else if (what == "NS_READY") {
      if (events_.on_namespaces_ready) events_.on_namespaces_ready();
    } else if (what == "STARTED") {
      int64_t pid = 0;
      in >> pid;
      // Open the pidfd before acknowledging: the monitor reaps PID 1 only after ACK, so
      // this pid cannot have been reused.
      if (auto fd = sys::pidfd_open(static_cast<pid_t>(pid)); fd.ok()) init_pidfd_ = std::move(*fd);
      init_pid_ = pid;
      send("ACK");
      started_ = true;
      if (events_.on_started) events_.on_started(pid);
    } else if (what == "ERROR") {
      int code = EIO;
      in >> code;
      std::string message;
      std::getline(in, message);
      if (!message.empty() && message[0] == ' ') message.erase(0, 1);
      failed_ = true;
      if (events_.on_failed) events_.on_failed(make_error(code, message));
    } else if (what == "OOM") {
      uint64_t kills = 0;
      if (in >> kills && events_.on_oom) events_.on_oom(kills);
    } else if (what == "EXITED") {
      int status = 0;
      if (in >> status) exit_status_ = status;
    }
  }

  void on_exit() {
    if (status_fd_) read_status();  // lines written just before exiting
    if (is_child_) {
      siginfo_t info{};
      // P_PIDFD (Linux 5.4): reap exactly this child; no zombie is left.
      ::waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(pidfd_.get()), &info,
               WEXITED);
    }
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
  Fd pidfd_;
  Fd init_pidfd_;
  Fd status_fd_, control_fd_;
  int64_t pid_;
  uint64_t start_time_;
  int64_t init_pid_ = 0;
  std::string workspace_;
  core::MonitorEvents events_;
  bool is_child_;
  event* status_event_ = nullptr;
  event* exit_event_ = nullptr;
  std::string pending_;
  bool started_ = false;
  bool failed_ = false;
  std::optional<int> exit_status_;
};

// Moves `fd` to a number ≥ 10 so the child's dup2 onto 3 and 4 cannot clobber it.
Result<Fd> high_fd(Fd fd) {
  Fd moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 10));
  if (!moved) return errno_error("duplicating a pipe");
  return moved;
}

}  // namespace

std::string default_monitor_path() {
  const std::string dir = executable_dir();
  const std::string local = dir + "/firmwared-monitor";
  if (::access(local.c_str(), X_OK) == 0) return local;
  return "/usr/libexec/firmwared/firmwared-monitor";
}

MonitorLauncher::MonitorLauncher(event_base* base, std::string monitor_path)
    : base_(base), monitor_path_(std::move(monitor_path)) {}

Result<std::unique_ptr<core::RunningMonitor>> MonitorLauncher::launch(const core::LaunchSpec& spec,
                                                                      core::MonitorEvents events) {
  int status_pipe[2], control_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) return errno_error("creating the status pipe");
  Fd status_r(status_pipe[0]), status_w0(status_pipe[1]);
  if (::pipe2(control_pipe, O_CLOEXEC) != 0) return errno_error("creating the control pipe");
  Fd control_r0(control_pipe[0]), control_w(control_pipe[1]);
  FW_ASSIGN_OR_RETURN(Fd status_w, high_fd(std::move(status_w0)));
  FW_ASSIGN_OR_RETURN(Fd control_r, high_fd(std::move(control_r0)));

  // Everything the child needs is built before fork(): after it, only async-signal-safe
  // calls (the daemon has worker threads).
  std::vector<std::string> args = {
      monitor_path_,  "--name",      spec.name, "--root",       spec.root, "--workspace",
      spec.workspace, "--status-fd", "3",       "--control-fd", "4"};
  if (!spec.apparmor_profile.empty()) {
    args.insert(args.end(), {"--apparmor-profile", spec.apparmor_profile});
  }
  if (spec.uid_base != 0) args.insert(args.end(), {"--userns-base", std::to_string(spec.uid_base)});
  if (spec.time_offset != 0) {
    args.insert(args.end(), {"--time-offset", std::to_string(spec.time_offset)});
  }
  for (const auto& c : spec.cgroups) args.insert(args.end(), {"--cgroup", c});
  args.push_back("--");
  args.insert(args.end(), spec.cmdline.begin(), spec.cmdline.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The test switch reaches the monitor, which builds PID 1's confinement (base/fault.h).
  const std::string clock_switch = std::string(fault::kUnconfinedClockVariable) + "=1";
  char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
                  fault::unconfined_clock() ? const_cast<char*>(clock_switch.c_str()) : nullptr,
                  nullptr};
  const int sw = status_w.get(), cr = control_r.get();

  const pid_t pid = ::fork();
  if (pid < 0) return errno_error("forking the monitor of " + spec.name);
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
    }
    // dup2 clears FD_CLOEXEC on the new descriptor: 3 and 4 survive exec, nothing else.
    if (::dup2(sw, 3) < 0 || ::dup2(cr, 4) < 0) ::_exit(126);
    ::close_range(5, ~0U, 0);
    ::execve(argv[0], argv.data(), envp);
    ::_exit(127);
  }
  status_w.reset();
  control_r.reset();
  auto pidfd = sys::pidfd_open(pid);  // our unreaped child: cannot be a reused pid
  if (!pidfd.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return pidfd.error().wrap("tracking the monitor of " + spec.name);
  }
  const uint64_t start_time = sys::process_start_time(pid).value_or(0);
  auto m = std::make_unique<Monitor>(base_, std::move(*pidfd), pid, start_time, spec.workspace,
                                     std::move(events), true);
  if (auto s = m->watch(std::move(status_r), std::move(control_w)); !s.ok()) {
    m->kill_monitor();
    ::waitpid(pid, nullptr, 0);
    return s.error();
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
  auto m = std::make_unique<Monitor>(base_, std::move(pidfd), monitor_pid, monitor_start_time,
                                     workspace, std::move(events), false);
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
