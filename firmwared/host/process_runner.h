#pragma once
// Runs a helper program off the loop: fork + exec, stderr captured, a deadline after which
// it is killed, completion reported on the loop (the daemon never blocks on a helper).

#include <event2/event.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::host {

struct ProcessOutcome {
  int exit_status = 0;  // exit code, or 128+signal
  std::string output;   // stdout and stderr, at most 64 KiB
  bool timed_out = false;
};

class ProcessRunner {
 public:
  explicit ProcessRunner(event_base* base) : base_(base) {}
  // Helpers still running are let finish on their own (a veth deletion at daemon exit
  // completes; the daemon's exit hands them to init), their `done` not called (it may refer
  // to what is destroyed with the runner); what watched them is freed.
  ~ProcessRunner();
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;
  // Starts argv[0] (absolute path) with `argv` and PATH plus `env` ("NAME=value") as its
  // environment; `done` runs on the loop when it exits or was killed at the deadline.
  // Fails at once only when it could not be started.
  Status run(const std::vector<std::string>& argv, int timeout_ms,
             std::function<void(ProcessOutcome)> done, const std::vector<std::string>& env = {});
  event_base* base() const { return base_; }

 private:
  event_base* base_;
  std::set<void*> live_;  // the running helpers (process_runner.cc's Helper)
};

}  // namespace fw::host
