#pragma once
// fwctl ps, restart, stop and stats: client-side verbs built from daemon commands.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// One `fwctl ps --filter`: label=KEY (the label is set), label=KEY=VALUE, name=NAME or
// state=STATE.
struct PsFilter {
  enum class Kind { kLabel, kName, kState };
  Kind kind = Kind::kName;
  std::string key;                   // the label's key
  std::optional<std::string> value;  // nullopt: label=KEY, any value
};
// Parses a --filter value; nullopt (and *error says why, naming it) when invalid.
std::optional<PsFilter> parse_ps_filter(const std::string& text, std::string* error);

// fwctl ps [--json] [--filter F]...: one row per instance, NAME ID STATE PID FIRMWARE UPTIME
// MEMORY EXIT (from LIST, SHOW and STATS); PID is the host pid of the instance's PID 1,
// UPTIME its age, MEMORY what its cgroup holds. --json prints an array of objects with those
// keys in lower case (pid, uptime and memory null when not started; memory in bytes) and
// `labels` (an object). Only instances matching every filter are listed.
int run_ps(Context& ctx, const Args& args);
int list_instances(Context& ctx, bool json, const std::vector<PsFilter>& filters);

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
