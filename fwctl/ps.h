#pragma once
// fwctl ps and fwctl restart: client-side verbs built from several daemon commands.

#include <cstdint>
#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// fwctl ps [--json]: one row per instance, NAME ID STATE PID FIRMWARE UPTIME (from LIST
// and SHOW); PID is the host pid of the instance's PID 1, UPTIME its age. --json prints an
// array of objects with those keys in lower case (pid and uptime null when not started).
int run_ps(Context& ctx, const std::vector<std::string>& args);

// fwctl restart ID: KILL (unless not started), REMOUNT, START; prints "ID restarted".
int run_restart(Context& ctx, const std::vector<std::string>& args);

// "42s", "1m05s", "2h03m", "3d04h".
std::string format_uptime(uint64_t seconds);

}  // namespace fwctl
