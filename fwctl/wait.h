#pragma once
// Verbs for CI scripts: `fwctl wait ID --state S [--timeout SECONDS]` and
// `fwctl start --wait-console REGEX [--timeout SECONDS] ID`. Exit 3 on timeout.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

int run_wait(Context& ctx, const Args& args);
// fwctl wait ID --state ready|started [--timeout SECONDS]: returns once the instance is in
// `state`; exit 3 on timeout. `timeout` <= 0: none.
int wait_state(Context& ctx, const std::string& id, const std::string& state, double timeout);
// fwctl wait ID --exit [--timeout SECONDS]: returns once PID 1 of the instance has ended
// (its DEAD notification, or the instance found ready) and exits with PID 1's status in
// the shell's convention (N for exit N, 128+S for signal S), printing it ("ID exited: status
// N (REASON)", or with --json {sha1, name, exit_status, reason}). An instance already
// stopped answers its last status at once; one that never ran is an error (1), as is an
// unknown status; exit 124 on timeout.
int wait_exit(Context& ctx, const std::string& id, double timeout);
// `fwctl start` with options; plain `fwctl start ID` keeps fdc's behaviour.
int run_start(Context& ctx, const Args& args);

}  // namespace fwctl
