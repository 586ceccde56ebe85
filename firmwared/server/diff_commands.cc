#include "firmwared/server/diff_commands.h"

#include <sys/sysmacros.h>

#include <cstdio>
#include <memory>

#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/file_diff.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/host/archive_helper.h"
#include "firmwared/sys/atomic_output.h"
#include "firmwared/sys/mount.h"

namespace fw::server {

using core::EntryInfo;
using core::FileType;
using protocol::Json;
using protocol::Request;

namespace {

std::string octal(uint32_t perm) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04o", perm);
  return buf;
}

std::string device(uint64_t rdev) {
  return std::to_string(major(rdev)) + ":" + std::to_string(minor(rdev));
}

bool has_size(FileType t) { return t == FileType::kFile || t == FileType::kSymlink; }
bool is_device(FileType t) { return t == FileType::kChar || t == FileType::kBlock; }

void put_side(Json& j, const EntryInfo& i) {
  j["type"] = core::overlay::type_name(i.type);
  if (has_size(i.type)) j["size"] = i.size;
  j["mode"] = octal(i.perm);
  j["uid"] = i.uid;
  j["gid"] = i.gid;
  if (i.type == FileType::kSymlink) j["target"] = i.target;
  if (is_device(i.type)) j["rdev"] = device(i.rdev);
}

// The old values of what differs (M), and the old side's type-specific fields (T).
void put_old(Json& j, const EntryInfo& b, const EntryInfo& a, bool type_changed) {
  if (type_changed) j["old_type"] = core::overlay::type_name(b.type);
  if (has_size(b.type) && (type_changed || b.size != a.size)) j["old_size"] = b.size;
  if (b.perm != a.perm) j["old_mode"] = octal(b.perm);
  if (b.uid != a.uid) j["old_uid"] = b.uid;
  if (b.gid != a.gid) j["old_gid"] = b.gid;
  if (b.type == FileType::kSymlink && (type_changed || b.target != a.target)) {
    j["old_target"] = b.target;
  }
  if (is_device(b.type) && (type_changed || b.rdev != a.rdev)) j["old_rdev"] = device(b.rdev);
}

// Where an instance's layers are: its upper dir, the firmware's read-only mount (or the
// snapshot stack at `ro`), its mounted merged tree.
struct Layers {
  std::string name, sha1, upper, lower, merged;
};

Result<Layers> layers_of(core::Instances& instances, core::Firmwares& firmwares,
                         const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto rec, instances.find(id));
  const core::Workspace ws = instances.workspace(rec.sha1);
  Layers l{rec.name, rec.sha1, ws.upper(), firmwares.mount_point(rec.firmware_sha1), ws.merged()};
  // On a snapshot, the lower is the read-only overlay of the snapshot chain and the
  // firmware mounted at `ro`: the diff is relative to the snapshot (docs/diff.md).
  if (!rec.snapshot_sha1.empty()) l.lower = ws.lower();
  // An unmounted firmware would read as an empty one: everything "added".
  auto mounted = sys::is_mount_point(l.lower);
  if (!mounted.ok() || !*mounted) {
    return make_error(EBUSY, "the firmware of instance " + rec.name + " is not mounted at " +
                                 l.lower + " (see the daemon's log)");
  }
  return l;
}

// Runs `work` on the executor and answers with its result.
void off_loop(core::Executor& executor, const Responder& r, std::function<Result<Json>()> work) {
  auto out = std::make_shared<Result<Json>>(make_error(EIO, "the request did not finish"));
  executor.run([out, work = std::move(work)]() { *out = work(); }, [out, r]() { r.reply(*out); });
}

Result<Json> run_diff(const Layers& l, const core::DiffOptions& options) {
  Json entries = Json::array();
  size_t used = 0;
  bool truncated = false;
  auto stat = core::compute_diff(l.upper, l.lower, options, [&](core::DiffEntry&& e) {
    if (truncated) return;
    Json j = diff_entry_json(e);
    const size_t n = j.dump(-1, ' ', false, Json::error_handler_t::replace).size() + 1;
    if (used + n > kDiffEntriesBudget) {
      truncated = true;
      return;
    }
    used += n;
    entries.push_back(std::move(j));
  });
  if (!stat.ok()) return stat.error().wrap("diff of instance " + l.name);
  return Json{{"sha1", l.sha1},
              {"name", l.name},
              {"entries", std::move(entries)},
              {"stat", diff_stat_json(*stat)},
              {"truncated", truncated}};
}

Result<Json> run_diff_file(const Layers& l, const std::string& path) {
  FW_ASSIGN_OR_RETURN(const core::FileDiff d, core::diff_file(l.upper, l.lower, path, l.name));
  Json j = {{"sha1", l.sha1}, {"name", l.name}, {"path", path}};
  j["status"] = d.status ? std::string(1, core::status_letter(*d.status)) : std::string();
  if (d.old_type) j["old_type"] = core::overlay::type_name(*d.old_type);
  if (d.type) j["type"] = core::overlay::type_name(*d.type);
  j["binary"] = d.binary;
  j["diff"] = d.diff;
  j["summary"] = d.summary;
  j["truncated"] = d.truncated;
  return j;
}

Result<Json> run_export(const Layers& l, const ExportRequest& x,
                        const sys::ClientCredentials& client) {
  FW_ASSIGN_OR_RETURN(auto out, sys::AtomicOutput::create(x.path, x.force, client));
  // Written by the firmwared-archive helper, which this worker thread waits for.
  const host::ArchiveJob job{x.full, l.upper, l.lower, l.merged};
  auto stat = host::run_archive_helper(host::default_archive_helper_path(), job, out->fd());
  if (!stat.ok())
    return stat.error().wrap("exporting instance " + l.name + " to " + quote_path(x.path));
  FW_TRY(out->commit());
  log::info("instance " + l.name + " exported (" + (x.full ? "full" : "changes") + ") to " +
            x.path);
  return Json{{"sha1", l.sha1},           {"name", l.name},
              {"path", x.path},           {"mode", x.full ? "full" : "changes"},
              {"entries", stat->entries}, {"whiteouts", stat->whiteouts},
              {"skipped", stat->skipped}, {"bytes", stat->bytes}};
}

}  // namespace

Json diff_entry_json(const core::DiffEntry& e) {
  Json j = {{"status", std::string(1, core::status_letter(e.status))}, {"path", e.path}};
  put_side(j, e.after ? *e.after : *e.before);
  if (e.before && e.after) {
    put_old(j, *e.before, *e.after, e.status == core::DiffStatus::kTypeChanged);
  }
  if (e.status == core::DiffStatus::kModified) j["changes"] = core::change_names(e.changes);
  if (!e.xattrs.empty()) j["xattrs"] = e.xattrs;
  if (e.metacopy) j["metacopy"] = true;
  if (!e.renamed_from.empty()) j["renamed_from"] = e.renamed_from;
  return j;
}

Json diff_stat_json(const core::DiffStat& s) {
  return Json{{"added", s.added},
              {"modified", s.modified},
              {"deleted", s.deleted},
              {"type_changed", s.type_changed},
              {"total", s.entries()},
              {"bytes_added", s.bytes_added},
              {"bytes_deleted", s.bytes_deleted},
              {"bytes_modified", s.bytes_modified},
              {"copied_up_unchanged", s.copied_up_unchanged}};
}

Result<ExportRequest> parse_export_args(const std::vector<std::string>& args,
                                        const std::optional<std::string>& cwd) {
  ExportRequest x;
  if (args.empty()) return make_error(EINVAL, "EXPORT needs an instance");
  x.id = args[0];
  int modes = 0;
  std::vector<std::string> paths;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--changes" || a == "--full") {
      x.full = a == "--full";
      ++modes;
    } else if (a == "--force") {
      x.force = true;
    } else if (starts_with(a, "--")) {
      return make_error(EINVAL, "EXPORT: unknown option " + quote(a));
    } else {
      paths.push_back(a);
    }
  }
  if (modes != 1) return make_error(EINVAL, "EXPORT needs one of --changes and --full");
  if (paths.size() != 1 || paths[0].empty()) {
    return make_error(EINVAL, "EXPORT needs one output path (OUT.tar)");
  }
  x.path = paths[0];
  if (x.path[0] != '/') {
    if (!cwd) {
      return make_error(EINVAL, "EXPORT: relative path " + quote_path(x.path) +
                                    " but the request carries no cwd");
    }
    x.path = *cwd + (cwd->back() == '/' ? "" : "/") + x.path;
  }
  return x;
}

void register_diff_commands(Dispatcher& d, core::Instances& instances, core::Firmwares& firmwares,
                            core::Executor& executor) {
  d.add("DIFF", [&](const Request& req, const Caller&, Responder r) {
    core::DiffOptions o;
    for (size_t i = 1; i < req.args.size(); ++i) {
      auto p = core::normalize_diff_path(req.args[i]);
      if (!p.ok()) return r.fail(p.error().wrap("DIFF"));
      o.paths.push_back(*p);
    }
    auto l = layers_of(instances, firmwares, req.args[0]);
    if (!l.ok()) return r.fail(l.error());
    off_loop(executor, r, [l = *l, o]() { return run_diff(l, o); });
  });
  d.add("DIFF_FILE", [&](const Request& req, const Caller&, Responder r) {
    auto p = core::normalize_diff_path(req.args[1]);
    if (!p.ok()) return r.fail(p.error().wrap("DIFF_FILE"));
    auto l = layers_of(instances, firmwares, req.args[0]);
    if (!l.ok()) return r.fail(l.error());
    off_loop(executor, r, [l = *l, p = *p]() { return run_diff_file(l, p); });
  });
  d.add("EXPORT", [&](const Request& req, const Caller& caller, Responder r) {
    auto x = parse_export_args(req.args, req.cwd);
    if (!x.ok()) return r.fail(x.error());
    auto l = layers_of(instances, firmwares, x->id);
    if (!l.ok()) return r.fail(l.error());
    if (x->full) {
      auto mounted = sys::is_mount_point(l->merged);
      if (!mounted.ok() || !*mounted) {
        return r.fail(make_error(
            EBUSY, "the merged tree of instance " + l->name + " is not mounted (REMOUNT it)"));
      }
    }
    off_loop(executor, r, [l = *l, x = *x, client = caller.peer.client()]() {
      return run_export(l, x, client);
    });
  });
}

}  // namespace fw::server
