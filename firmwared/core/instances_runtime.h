#pragma once
// Internal to the instances folder: its per-run state, shared by instances.cc and
// instance_properties.cc.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "firmwared/core/instances.h"

namespace fw::core {

// In a snapshot dir while PREPARE snapshots runs: the sha1 of the instance whose diff is
// being frozen (so restore() can move it back after a crash).
inline constexpr char kSnapshotIntent[] = "instance";

// Where a run is: START under way (until PID 1 exec'd), PID 1 running, STOP or KILL under way.
enum class Phase { kStarting, kStarted, kStopping };

// The name of a phase in replies, events and logs: "starting", "started", "stopping".
inline const char* phase_name(Phase p) {
  switch (p) {
    case Phase::kStarting:
      return "starting";
    case Phase::kStarted:
      return "started";
    case Phase::kStopping:
      return "stopping";
  }
  return "unknown";
}

// How a run is being ended: not asked, STOP (the stop signal, SIGKILL after the timeout) or
// KILL (KILL, or a STOP escalated by KILL).
enum class Ending { kNone, kStop, kKill };

// What the daemon knows about an instance beyond the catalogue while it runs.
struct Instances::Runtime {
  Phase phase = Phase::kStarting;
  std::unique_ptr<RunningMonitor> monitor;
  std::string inner_pts, outer_pts;
  std::vector<StartDone> start_waiters;
  std::vector<KillDone> kill_waiters;
  std::optional<Error> start_error;
  uint64_t generation = 0;              // distinguishes this run from the next one for timers
  std::optional<NetworkPlan> net_plan;  // set once the network step began
  // The START step being waited for, completing "… did not … within N s" when the START
  // deadline expires: which process hung is what the user needs to know.
  std::string awaited = "the monitor did not report its namespaces";
  Ending ending = Ending::kNone;
  bool stop_timed_out = false;  // the STOP's timeout expired and PID 1 got SIGKILL
  std::string stop_signal;      // the signal a STOP sent ("SIGRTMIN+3"), for the reply
  // When the START was asked (its critical path, logged at debug level) and when PID 1 was
  // asked for (a standby's RUN, or GO).
  std::chrono::steady_clock::time_point asked, run_sent;
  bool from_standby = false;  // this run's monitor was a standby
  // When the first KILL or STOP of this run was asked (the end's critical path, logged at
  // debug level); unset for a run that ended on its own.
  std::optional<std::chrono::steady_clock::time_point> end_asked;
};

// A ready instance's standby: a monitor making (kBuilding) or holding (kReady) the sandbox
// of the next START (docs/architecture.md "Launching an instance").
enum class SandboxState { kBuilding, kReady };

struct Instances::Standby {
  SandboxState state = SandboxState::kBuilding;
  std::unique_ptr<RunningMonitor> monitor;
  uint64_t generation = 0;
  std::optional<NetworkPlan> net_plan;  // set once the network step began
  std::string inner_pts, outer_pts;
  bool was_ready = false;  // reached kReady once (a later death is rebuilt)
  // Why its build failed (its monitor is then going): a START does not take it over.
  std::optional<Error> failure;
  // The step being made (for a START that takes the standby over: its deadline's message).
  std::string awaited = "the monitor did not report its namespaces";
  // When the build began and when the monitor reported its namespaces (step durations).
  std::chrono::steady_clock::time_point launched, namespaces;
};

}  // namespace fw::core
