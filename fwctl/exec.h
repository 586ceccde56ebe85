#pragma once
// fwctl exec [-t] [-e K=V]... [-w DIR] ID -- CMD ARGS...

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// Exit status: the command's own, or 125 (daemon error or unreachable), 126 (cannot
// execute), 127 (not found).
int run_exec(Context& ctx, const Args& args);

}  // namespace fwctl
