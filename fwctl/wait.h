#pragma once
// Verbs for CI scripts: `fwctl wait ID --state S [--timeout SECONDS]` and
// `fwctl start --wait-console REGEX [--timeout SECONDS] ID`. Exit 3 on timeout.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

int run_wait(Context& ctx, const Args& args);
// `fwctl start` with options; plain `fwctl start ID` keeps fdc's behaviour.
int run_start(Context& ctx, const Args& args);

}  // namespace fwctl
