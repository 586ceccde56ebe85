#pragma once
// The seam between the instances folder and the processes that run an instance: the
// monitor and PID 1. The real one (server/monitor_launcher) spawns
// firmwared-monitor and watches it on the loop; unit tests use a scripted fake.

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::core {

struct LaunchSpec {
  std::string name;  // hostname
  std::string sha1;
  std::string root;       // the overlay mount (union)
  std::string workspace;  // console.log, exit_status, monitor.log
  std::vector<std::string> cmdline;
  std::string apparmor_profile = {};  // entered by PID 1 at exec; "" without AppArmor
  // The instance's root is this host id in its own user namespace (65,536 ids mapped);
  // 0: no user namespace (privileged mode).
  uint32_t uid_base = 0;
  int64_t time_offset = 0;  // seconds added to the monotonic and boottime clocks; 0: none
  // The instance's cgroups, "KIND:DIR" per hierarchy (InstanceCgroups::create); empty: none.
  std::vector<std::string> cgroups = {};
  // Host paths bound into the instance, "HOST:TARGET:ro|rw" each (sys::parse_bind), checked.
  std::vector<std::string> binds = {};
  uint64_t console_log_max = 0;  // console.log rotation threshold in bytes; 0: the monitor's
  // A standby: the monitor makes the whole sandbox, pivots into the root, reports
  // on_sandbox and waits for RunningMonitor::run() before the PID namespace and PID 1.
  bool standby = false;
};

// Callbacks, all on the loop thread, in this order: on_ptys, on_namespaces_ready,
// (a standby: on_sandbox, then after run()) on_started or on_failed, then on_exited exactly
// once (also after on_failed; never after RunningMonitor::dismiss()).
struct MonitorEvents {
  std::function<void(const std::string& inner_pts, const std::string& outer_pts)> on_ptys;
  // The monitor sits in its new namespaces; call RunningMonitor::proceed() once the
  // network step is done (or kill_monitor() to abort).
  std::function<void()> on_namespaces_ready;
  // A standby's sandbox is made (durations of /dev + console + binds, of its pivot, and of
  // PID 1's setup, in microseconds); it waits for RunningMonitor::run().
  std::function<void(int64_t dev_us, int64_t pivot_us, int64_t init_us)> on_sandbox;
  std::function<void(int64_t init_pid)> on_started;
  // The OOM killer acted in the instance's cgroup; `kills`: how many so far this run.
  std::function<void(uint64_t kills)> on_oom;
  std::function<void(const Error& error)> on_failed;
  // The monitor is gone; PID 1's exit status when known.
  std::function<void(std::optional<int> exit_status)> on_exited;
};

class RunningMonitor {
 public:
  virtual ~RunningMonitor() = default;
  virtual int64_t monitor_pid() const = 0;
  virtual uint64_t monitor_start_time() const = 0;
  virtual int64_t init_pid() const = 0;  // 0 before on_started
  // A pidfd of PID 1 (for EXEC to join its namespaces), -1 when not running.
  virtual int init_pidfd() const { return -1; }
  virtual void proceed() = 0;
  // A standby after on_sandbox: start PID 1 now.
  virtual void run() {}
  // Ends a standby (any time before run()): closes its control pipe, which makes it exit
  // with everything it made, and waits until it is gone (SIGKILL after `timeout_ms`). No
  // event follows. ETIMEDOUT when it survived even SIGKILL.
  virtual Status dismiss(int timeout_ms) {
    (void)timeout_ms;
    kill_monitor();
    return {};
  }
  // SIGKILL to PID 1 (the kernel then kills its whole PID namespace). ESRCH when gone.
  virtual Status kill_init() = 0;
  // Any signal to PID 1 (a STOP's). ESRCH when gone.
  virtual Status signal_init(int sig) {
    if (sig == SIGKILL) return kill_init();
    return make_error(ENOTSUP, "this monitor cannot signal PID 1");
  }
  // Whether PID 1 runs under a binfmt interpreter such as qemu-user (its real-time signals
  // then arrive shifted: see fw::qemu_user_host_signal).
  virtual bool init_emulated() const { return false; }
  // SIGKILL to the monitor (PID 1 follows through PDEATHSIG): aborts a START.
  virtual void kill_monitor() = 0;
};

// What a workspace's monitor lock says (sys/monitor_lock.h).
struct MonitorLockState {
  bool present = false;  // the workspace has a lock file
  bool held = false;     // a live monitor holds it
  int64_t monitor_pid = 0;
  uint64_t monitor_start_time = 0;
  int64_t init_pid = 0;  // 0: the monitor never reported PID 1
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual Result<std::unique_ptr<RunningMonitor>> launch(const LaunchSpec& spec,
                                                         MonitorEvents events) = 0;
  // Re-adopts a monitor a previous daemon left running. ESRCH when it (or its PID 1) is
  // gone or the pid was reused; only on_exited will be called.
  virtual Result<std::unique_ptr<RunningMonitor>> adopt(int64_t monitor_pid,
                                                        uint64_t monitor_start_time,
                                                        int64_t init_pid,
                                                        const std::string& workspace,
                                                        MonitorEvents events) = 0;
  // Whether a monitor holds the lock of `workspace`. The default (launchers without
  // locks): none.
  virtual Result<MonitorLockState> inspect(const std::string& workspace) {
    (void)workspace;
    return MonitorLockState{};
  }
  // Kills the monitor that holds `workspace`'s lock and its PID 1, and returns once the
  // lock is free (ETIMEDOUT otherwise: then a monitor still runs on the workspace).
  virtual Status kill_orphan(const std::string& workspace, const MonitorLockState& state) {
    (void)workspace;
    (void)state;
    return {};
  }
};

// Timers on the loop (for START and KILL deadlines).
class Timers {
 public:
  virtual ~Timers() = default;
  virtual void after(int milliseconds, std::function<void()> fn) = 0;
};

}  // namespace fw::core
