#pragma once
// fwctl logs ID: prints an instance's whole console history (console.log.1 then console.log,
// paged through LOGS from offset 0), run separators included. --timestamps prefixes each line
// with the time the monitor read it, --since and --tail keep the recent lines, --json prints
// one object per line; -f follows (a LOGS every 200 ms from the returned offset) until the
// run ends, --follow-restarts until interrupted.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

inline constexpr int kLogsPollMs = 200;

struct LogsOptions {
  bool follow = false;               // -f: until the instance's run ends
  bool follow_restarts = false;      // --follow-restarts: until interrupted (implies follow)
  bool timestamps = false;           // --timestamps: "2026-12-05T04:12:33.123456789Z line"
  std::optional<std::string> since;  // --since TIME (sys::parse_since), checked by run_logs
  std::optional<size_t> tail;        // --tail N: the last N lines (then follows with -f)
};

// Exit status: 0, 1 on a daemon error or bad option value, 3 when the daemon cannot be
// reached.
int run_logs(Context& ctx, const std::string& id, const LogsOptions& options);
// The verb's entry: ID and the options above, as the parser hands them (fwctl/args.h).
int run_logs(Context& ctx, const Args& args);

}  // namespace fwctl
