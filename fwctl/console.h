#pragma once
// fwctl console ID: the user's terminal attached to an instance's console through the
// daemon (CONSOLE). On a terminal, stdin is put in raw mode (restored on every exit, on
// fatal signals too) and Ctrl-] detaches; otherwise stdin is relayed as is and its EOF
// detaches. Waits for the instance to start, and re-attaches after it stops and starts
// again.

#include <string>
#include <vector>

#include "fwctl/verbs.h"

namespace fwctl {

// Exit status: 0 once detached, 1 on a daemon error (unknown instance) or bad usage, 3 when
// the daemon cannot be reached (or went away).
int run_console(Context& ctx, const Args& args);

}  // namespace fwctl
