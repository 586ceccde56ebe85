#include "firmwared/server/commit_command.h"

#include "firmwared/base/fault.h"

#include <ctime>
#include <filesystem>
#include <memory>

#include "firmwared/base/log.h"
#include "firmwared/core/tree_copy.h"
#include "firmwared/sys/mount.h"

namespace fw::server {

using protocol::Request;

namespace {

// A partial copy can be as large as the firmware: removed on a worker, never on the loop.
// std::filesystem reports errors through the error_code: nothing throws here.
void remove_partial(core::Executor& executor, const std::string& path) {
  executor.run(
      [path]() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        if (ec) log::warning("removing '" + path + "': " + ec.message() + ", ignoring");
      },
      []() {});
}

}  // namespace

void register_commit_command(Dispatcher& d, core::Instances& instances, core::Firmwares& firmwares,
                             core::Executor& executor, const config::Config& config) {
  d.add("COMMIT", [&](const Request& req, const Caller&, Responder r) {
    auto rec = instances.find(req.args[0]);
    if (!rec.ok()) return r.fail(rec.error());
    const std::string what = "committing instance " + rec->name;
    const std::string merged = instances.workspace(rec->sha1).merged();
    auto mounted = sys::is_mount_point(merged);
    if (!mounted.ok() || !*mounted) {
      return r.fail(make_error(
          EBUSY, what + ": its merged tree is not mounted at " + merged + " (REMOUNT it)"));
    }
    const std::string dest = config.repository_path() + "/" + rec->name + "." +
                             std::to_string(::time(nullptr)) + ".rootfs";
    auto copied = std::make_shared<Status>(make_error(ECANCELED, "the copy did not finish"));
    // In a user namespace the merged tree shows the instance's ids shifted to its range.
    const uint32_t id_base = instances.userns_effective(*rec) ? rec->uid_base : 0;
    executor.run(
        [copied, merged, dest, id_base]() { *copied = core::copy_tree(merged, dest, id_base); },
        [&firmwares, &executor, copied, dest, what, r]() {
          if (!copied->ok()) {
            if (copied->error().code != EEXIST) remove_partial(executor, dest);
            return r.fail(copied->error().wrap(what));
          }
          FW_FAULT_POINT("commit.copied");
          firmwares.prepare(dest, std::nullopt,
                            [&executor, dest, what, r](Result<core::EntitySummary> s) {
                              if (!s.ok()) {
                                remove_partial(executor, dest);
                                return r.fail(s.error().wrap(what));
                              }
                              r.ok({{"folder", "firmwares"}, {"sha1", s->sha1}, {"name", s->name}});
                            });
        });
  });
}

}  // namespace fw::server
