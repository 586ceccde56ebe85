#pragma once
// core::Launcher over firmwared-monitor: spawns it (fork + exec, no PDEATHSIG: it must
// outlive the daemon), reads its status pipe and watches its pidfd on the libevent loop.

#include <event2/event.h>

#include <string>

#include "firmwared/core/launcher.h"

namespace fw::host {

class MonitorLauncher final : public core::Launcher {
 public:
  // `monitor_path`: the firmwared-monitor executable.
  MonitorLauncher(event_base* base, std::string monitor_path);

  Result<std::unique_ptr<core::RunningMonitor>> launch(const core::LaunchSpec& spec,
                                                       core::MonitorEvents events) override;
  Result<std::unique_ptr<core::RunningMonitor>> adopt(int64_t monitor_pid,
                                                      uint64_t monitor_start_time, int64_t init_pid,
                                                      const std::string& workspace,
                                                      core::MonitorEvents events) override;
  Result<core::MonitorLockState> inspect(const std::string& workspace) override;
  // SIGKILL to PID 1 (when recorded) and to the monitor, both verified against /proc; then
  // waits up to kOrphanTimeoutMs for the lock.
  Status kill_orphan(const std::string& workspace, const core::MonitorLockState& state) override;
  static constexpr int kOrphanTimeoutMs = 5000;

 private:
  event_base* base_;
  std::string monitor_path_;
};

// firmwared-monitor for the running daemon: the build tree's, or the one installed beside it
// (config::shipped_paths(), like every shipped file).
std::string default_monitor_path();

}  // namespace fw::host
