// firmwared: wires the modules together (config → socket → runtime dirs → catalogue →
// commands → loop). Policy lives in the modules, not here.

#include <event2/event.h>

#include <cstring>
#include <iostream>

#include "firmwared/base/log.h"
#include "firmwared/base/version.h"
#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/server/builtin_commands.h"
#include "firmwared/server/dispatcher.h"
#include "firmwared/server/server.h"

namespace {

constexpr const char* kUsage =
    "usage: firmwared [CONFIG_FILE]\n"
    "       firmwared --help | --version\n"
    "Runs firmware root filesystems as isolated instances. CONFIG_FILE defaults to\n"
    "/etc/firmwared.conf (optional); FIRMWARED_<KEY> environment variables override it.\n"
    "See firmwared(8) and firmwared.conf(5).\n";

int fail(const std::string& step, const fw::Error& e) {
  fw::log::error("firmwared: " + step + ": " + e.message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  if (argc > 2) {
    std::cerr << kUsage;
    return 2;
  }
  if (argc == 2) {
    if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
      std::cout << kUsage;
      return 0;
    }
    if (std::strcmp(argv[1], "--version") == 0) {
      std::cout << "firmwared " FIRMWARED_VERSION "\n";
      return 0;
    }
    config_path = argv[1];
  }

  auto config = fw::config::Config::load(config_path, fw::config::current_environment());
  if (!config.ok()) return fail("loading the configuration", config.error());
  fw::log::set_max_level(config->log_level());

  event_base* base = event_base_new();
  if (base == nullptr) return fail("creating the event loop", fw::make_error(ENOMEM, "event_base_new failed"));
  int rc = 0;
  {
    fw::server::Dispatcher dispatcher;
    fw::server::Server server(base, dispatcher);
    // Take the socket (and its lock) first: nothing else may be touched while another
    // daemon runs.
    if (auto s = server.listen(config->socket_path()); !s.ok()) {
      event_base_free(base);
      return fail("opening the socket", s.error());
    }
    if (auto s = fw::config::ensure_runtime_dirs(*config); !s.ok()) {
      event_base_free(base);
      return fail("creating runtime directories", s.error());
    }
    auto catalogue = fw::catalogue::Catalogue::open(config->database_path());
    if (!catalogue.ok()) {
      event_base_free(base);
      return fail("opening the catalogue", catalogue.error());
    }
    fw::server::register_builtin_commands(dispatcher, server, *config);
    if (auto s = server.install_signal_handlers(); !s.ok()) {
      event_base_free(base);
      return fail("installing signal handlers", s.error());
    }
    fw::log::notice("firmwared " FIRMWARED_VERSION " ready on " + config->socket_path());
    if (event_base_dispatch(base) < 0) rc = 1;
    fw::log::notice("firmwared stopped");
  }
  event_base_free(base);
  return rc;
}
