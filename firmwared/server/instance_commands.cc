#include "firmwared/server/instance_commands.h"

#include "firmwared/server/console_commands.h"

namespace fw::server {

using protocol::Json;
using protocol::Request;

namespace {

// KILLED and STOPPED: the instance, PID 1's exit status (null when unknown), why the run
// ended and the signal sent.
Json ended_json(const core::KillResult& k) {
  Json j = {{"folder", "instances"}, {"sha1", k.sha1}, {"name", k.name}};
  j["exit_status"] = k.exit_status ? Json(*k.exit_status) : Json(nullptr);
  j["reason"] = k.reason;
  j["signal"] = k.signal;
  return j;
}

}  // namespace

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
      r.ok(ended_json(*k));
    });
  });
  d.add("STOP", [&instances](const Request& req, const Caller&, Responder r) {
    std::optional<std::string> signal, timeout;
    if (req.args.size() > 1 && !req.args[1].empty()) signal = req.args[1];  // "": the default
    if (req.args.size() > 2) timeout = req.args[2];
    instances.stop(req.args[0], signal, timeout, [r](Result<core::KillResult> k) {
      if (!k.ok()) return r.fail(k.error());
      r.ok(ended_json(*k));
    });
  });
  d.add("STATS", [&instances](const Request& req, const Caller&, Responder r) {
    // No ID: every started instance. Counters the host cannot give are null.
    std::vector<std::string> ids = req.args;
    if (ids.empty()) {
      auto all = instances.list();
      if (!all.ok()) return r.fail(all.error());
      for (const auto& e : *all) {
        if (instances.state_of(e.sha1) == "started") ids.push_back(e.sha1);
      }
    }
    Json list = Json::array();
    for (const std::string& id : ids) {
      auto rec = instances.find(id);
      if (!rec.ok()) return r.fail(rec.error());
      auto st = instances.stats(id);
      if (!st.ok()) return r.fail(st.error());
      auto opt = [](const std::optional<uint64_t>& v) { return v ? Json(*v) : Json(nullptr); };
      list.push_back({{"sha1", rec->sha1},
                      {"name", rec->name},
                      {"memory_current", opt(st->memory_current)},
                      {"memory_peak", opt(st->memory_peak)},
                      {"memory_max", rec->memory_max},
                      {"cpu_usec", opt(st->cpu_usec)},
                      {"pids_current", opt(st->pids_current)},
                      {"oom_kills", st->oom_kills}});
    }
    r.ok({{"folder", "instances"}, {"stats", list}});
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
