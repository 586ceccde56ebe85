#pragma once
// firmwared-monitor's command line (built by the daemon; see docs/architecture.md).
//
//   firmwared-monitor --name NAME --root UNION --workspace DIR --status-fd N
//                     --control-fd N [--log-max BYTES] [--apparmor-profile NAME]
//                     [--userns-base ID] [--time-offset SECONDS]
//                     [--cgroup KIND:DIR]... [--bind HOST:TARGET:ro|rw]... [--standby]
//                     -- CMD [ARGS...]

#include <cstdint>
#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/sys/bind_spec.h"
#include "firmwared/sys/monitor_wire.h"

namespace fw::monitor {

struct Options {
  std::string name;              // hostname of the instance
  std::string root;              // the overlay mount to pivot_root into
  std::string workspace;         // console.log, exit_status, monitor.log live here
  int status_fd = -1;            // monitor → daemon: one line per event
  int control_fd = -1;           // daemon → monitor: GO, ACK
  uint64_t log_max = 1 << 20;    // console.log size cap before rotation
  std::string apparmor_profile;  // entered by PID 1 at exec ("" = no AppArmor)
  uint32_t userns_base = 0;      // host id of the instance's root; 0: no user namespace
  int64_t time_offset = 0;       // seconds added to monotonic and boottime; 0: no time ns
  // The instance's cgroup in each host hierarchy (--cgroup KIND:DIR, see monitor_wire.h).
  std::vector<sys::wire::CgroupArg> cgroups;
  // Host paths to bind into the instance (--bind, sys::parse_bind's syntax), in order.
  std::vector<sys::BindSpec> binds;
  // A standby (pre-made sandbox): once the sandbox is made and the monitor has pivoted into
  // the root, say SANDBOX and wait for RUN before the PID namespace and PID 1.
  bool standby = false;
  std::vector<std::string> cmdline;
};

Result<Options> parse_options(int argc, char** argv);

}  // namespace fw::monitor
