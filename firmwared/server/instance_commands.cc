#include "firmwared/server/instance_commands.h"

#include "firmwared/server/console_commands.h"

namespace fw::server {

using protocol::Json;
using protocol::Request;

void register_instance_commands(Dispatcher& d, core::Instances& instances) {
  d.add("START", [&instances](const Request& req, const Caller&, Responder r) {
    instances.start(req.args[0], [r](Result<core::EntitySummary> s) {
      if (!s.ok()) return r.fail(s.error());
      r.ok({{"folder", "instances"}, {"sha1", s->sha1}, {"name", s->name}});
    });
  });
  d.add("KILL", [&instances](const Request& req, const Caller&, Responder r) {
    instances.kill(req.args[0], [r](Result<core::KillResult> k) {
      if (!k.ok()) return r.fail(k.error());
      Json j = {{"folder", "instances"}, {"sha1", k->sha1}, {"name", k->name}};
      j["exit_status"] = k->exit_status ? Json(*k->exit_status) : Json(nullptr);
      r.ok(j);
    });
  });
  d.add("REMOUNT", [&instances](const Request& req, const Caller&, Responder r) {
    auto s = instances.remount(req.args[0]);
    if (!s.ok()) return r.fail(s.error());
    r.ok({{"folder", "instances"}, {"sha1", s->sha1}, {"name", s->name}});
  });
  d.add("RESTORE", [&instances](const Request& req, const Caller&, Responder r) {
    auto s = instances.reset_to_snapshot(req.args[0], req.args[1]);
    if (!s.ok()) return r.fail(s.error());
    r.ok({{"folder", "instances"}, {"sha1", s->sha1}, {"name", s->name}});
  });
  register_console_commands(d, instances);
}

}  // namespace fw::server
