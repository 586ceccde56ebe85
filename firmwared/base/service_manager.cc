#include "firmwared/base/service_manager.h"

#include <unistd.h>

#include <cstring>
#include <string>

#include "firmwared/base/log.h"
#include "firmwared/base/systemd_protocol.h"

namespace fw::service_manager {
namespace {

void notify(const std::string& state) {
  // As sd_notify(3): 0 when NOTIFY_SOCKET is unset, > 0 once sent, < 0 (-errno) on
  // failure. The environment stays set: STOPPING=1 needs it later; the daemon's children
  // never inherit it (sys::Child execs with an environment of its own).
  const int r = systemd::notify(state);
  if (r < 0) {
    log::warning("notifying the service manager (" + state.substr(0, state.find('\n')) +
                 "): " + std::strerror(-r) + ", ignoring");
  }
}

}  // namespace

void notify_ready(std::string_view status) {
  notify("READY=1\nSTATUS=" + std::string(status) + "\nMAINPID=" + std::to_string(::getpid()));
}

void notify_stopping(std::string_view status) {
  notify("STOPPING=1\nSTATUS=" + std::string(status));
}

}  // namespace fw::service_manager
