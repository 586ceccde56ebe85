#pragma once
// The service manager's notification protocol (sd_notify(3)): readiness and shutdown for a
// Type=notify unit. Every call does nothing when NOTIFY_SOCKET is unset (started by hand) and
// never fails the caller: a notification that cannot be sent is logged once, ignoring.

#include <string_view>

namespace fw::service_manager {

// "READY=1", "STATUS=<status>" and "MAINPID=<our pid>": startup is complete.
void notify_ready(std::string_view status);
// "STOPPING=1", "STATUS=<status>": shutdown has begun.
void notify_stopping(std::string_view status);

}  // namespace fw::service_manager
