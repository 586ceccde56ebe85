#pragma once
// fwctl logs ID [-f]: prints an instance's console log (LOGS), the last 64 KiB; with -f,
// follows it (a LOGS every 200 ms from the returned offset, across rotations) until
// interrupted.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

inline constexpr int kLogsPollMs = 200;

// Exit status: 0, 1 on a daemon error or bad usage, 3 when the daemon cannot be reached.
int run_logs(Context& ctx, const Args& args);

}  // namespace fwctl
