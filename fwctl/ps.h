#pragma once
// fwctl ps, restart, stop and stats: client-side verbs built from daemon commands.

#include <cstdint>
#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// fwctl ps [--json]: one row per instance, NAME ID STATE PID FIRMWARE UPTIME MEMORY (from
// LIST, SHOW and STATS); PID is the host pid of the instance's PID 1, UPTIME its age, MEMORY
// what its cgroup holds. --json prints an array of objects with those keys in lower case
// (pid, uptime and memory null when not started; memory in bytes).
int run_ps(Context& ctx, const Args& args);

// fwctl restart [--graceful] ID: KILL (STOP with --graceful) unless not started, REMOUNT,
// START; prints "ID restarted".
int run_restart(Context& ctx, const Args& args);

// fwctl stop ID [--signal SIGNAL] [--timeout SECONDS]: STOP; prints "ID stopped (SIGNAL)",
// or that SIGKILL ended it after the timeout.
int run_stop(Context& ctx, const Args& args);

// fwctl stats [ID...] [--json]: STATS as a table (NAME MEMORY PEAK LIMIT CPU PIDS
// OOM_KILLS), or its list as JSON.
int run_stats(Context& ctx, const Args& args);

// "512B", "3.4M", "120M", "1.5G" (powers of 1024).
std::string format_bytes(uint64_t bytes);

// "42s", "1m05s", "2h03m", "3d04h".
std::string format_uptime(uint64_t seconds);

}  // namespace fwctl
