#pragma once
// <workspace>/monitor.lock: a monitor takes flock(LOCK_EX) on it first
// thing and holds it for its lifetime, with "<pid> <start time> [<PID 1's host pid>]" as
// its content. A daemon restarted after a crash finds every live monitor of its instances
// through it, even one it never recorded in the catalogue; a second monitor can never run
// on the same workspace (and its upper dir).

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

inline constexpr char kMonitorLockName[] = "monitor.lock";

struct MonitorLockInfo {
  bool present = false;  // the file exists (older monitors made none)
  bool held = false;     // a live process holds the lock
  int64_t monitor_pid = 0;
  uint64_t start_time = 0;  // of monitor_pid (/proc/PID/stat field 22)
  int64_t init_pid = 0;     // 0 until the monitor reported PID 1
};

// Monitor side: opens (creating) the lock in the workspace `workspace_fd` (O_CLOEXEC, so
// PID 1 never inherits it past exec) and takes it. EBUSY when another monitor holds it.
Result<Fd> take_monitor_lock(int workspace_fd);
// Monitor side: records who holds the lock (init_pid 0: not yet known).
Status write_monitor_lock(int lock_fd, int64_t pid, uint64_t start_time, int64_t init_pid);
// Daemon side: whether a monitor holds the lock of `workspace`, and what it recorded. The
// probe's own lock is released before returning.
Result<MonitorLockInfo> inspect_monitor_lock(const std::string& workspace);
// Daemon side: polls until nobody holds the lock (ETIMEDOUT after `timeout_ms`).
Status wait_monitor_lock_free(const std::string& workspace, int timeout_ms);

}  // namespace fw::sys
