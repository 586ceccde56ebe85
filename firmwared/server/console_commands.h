#pragma once
// CONSOLE and LOGS: attach a client to an instance's console through
// the daemon, and read the instance's console log.

#include "firmwared/core/instances.h"
#include "firmwared/server/dispatcher.h"

namespace fw::server {

// How often CONSOLE requests waiting for their instance to start look at it.
inline constexpr int kConsolePollMs = 100;

// Registers CONSOLE and LOGS. `instances` must outlive the dispatcher's use of them.
void register_console_commands(Dispatcher& dispatcher, core::Instances& instances);

}  // namespace fw::server
