#include "firmwared/server/commit_command.h"

namespace fw::server {

void register_commit_command(Dispatcher& d, core::InstanceCommit& commit) {
  d.add("COMMIT", [&commit](const protocol::Request& req, const Caller&, Responder r) {
    commit.commit(req.args[0], [r](Result<core::EntitySummary> s) {
      if (!s.ok()) return r.fail(s.error());
      r.ok({{"folder", "firmwares"}, {"sha1", s->sha1}, {"name", s->name}});
    });
  });
}

}  // namespace fw::server
