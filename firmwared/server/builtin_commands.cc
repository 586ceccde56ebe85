#include "firmwared/server/builtin_commands.h"

#include "firmwared/base/strings.h"
#include "firmwared/base/version.h"
#include "firmwared/protocol/commands.h"
#include "firmwared/server/typed_json.h"

namespace fw::server {

using protocol::Json;

void register_builtin_commands(Dispatcher& d, Server& server, const config::Config& config,
                               std::vector<std::string> folders) {
  d.add("PING", [](const auto&, const auto&, Responder r) { r.ok(); });
  d.add("VERSION", [](const auto&, const auto&, Responder r) {
    r.ok({{"version", FIRMWARED_VERSION}});
  });
  d.add("COMMANDS", [](const auto&, const auto&, Responder r) {
    Json names = Json::array();
    for (const auto& c : protocol::commands()) names.push_back(c.name);
    r.ok({{"commands", names}});
  });
  d.add("FOLDERS", [folders](const auto&, const auto&, Responder r) {
    r.ok({{"folders", folders}});
  });
  d.add("CONFIG_KEYS", [&config](const auto&, const auto&, Responder r) {
    r.ok({{"keys", config.key_names()}});
  });
  d.add("GET_CONFIG", [&config](const protocol::Request& req, const auto&, Responder r) {
    auto value = config.get(req.args[0]);
    if (!value) {
      return r.fail(make_error(
          ESRCH, "unknown config key " + quote(req.args[0]) + " (CONFIG_KEYS lists them)"));
    }
    const std::string key = to_lower(req.args[0]);
    r.ok({{"key", key}, {"value", config_value_json(key, *value)}});
  });
  d.add("HELP", [](const protocol::Request& req, const auto&, Responder r) {
    const protocol::CommandInfo* c = protocol::find_command(to_upper(req.args[0]));
    if (c == nullptr) {
      return r.fail(make_error(ENOENT, "no help for unknown command " + quote(req.args[0])));
    }
    r.ok({{"command", c->name},
          {"synopsis", c->synopsis},
          {"overview", c->overview},
          {"help", c->help}});
  });
  d.add("SUBSCRIBE", [&server](const auto&, const Caller& caller, Responder r) {
    server.subscribe(caller.session_id);
    r.ok({{"event_id", server.last_event_id()}});
  });
  d.add("QUIT", [&server](const auto&, const Caller& caller, Responder r) {
    r.ok();
    server.shutdown("QUIT from client " + std::to_string(caller.session_id) + " (pid " +
                    std::to_string(caller.peer.pid) + ")");
  });
}

}  // namespace fw::server
