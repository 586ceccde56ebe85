#include "firmwared/server/diff_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>

#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/export.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/core/unified_diff.h"
#include "firmwared/sys/credentials.h"
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

std::vector<std::string> change_names(unsigned changes) {
  std::vector<std::string> out;
  if (changes & core::kChangeContent) out.push_back("content");
  if (changes & core::kChangeMode) out.push_back("mode");
  if (changes & core::kChangeOwner) out.push_back("owner");
  if (changes & core::kChangeXattrs) out.push_back("xattrs");
  return out;
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

// Reads at most `limit` bytes of `fd`.
Result<std::string> read_all(int fd, uint64_t limit) {
  std::string s;
  char buf[64 * 1024];
  while (s.size() < limit) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading a file");
    if (n == 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

std::string size_change(uint64_t a, uint64_t b) {
  return "(" + std::to_string(a) + " → " + std::to_string(b) + " bytes)";
}

Result<Json> run_diff_file(const Layers& l, const std::string& path) {
  std::optional<core::DiffEntry> entry;
  core::DiffOptions o;
  o.paths = {path};
  auto stat = core::compute_diff(l.upper, l.lower, o, [&](core::DiffEntry&& e) {
    if (e.path == path) entry = std::move(e);
  });
  if (!stat.ok()) return stat.error().wrap("diff of " + path + " in instance " + l.name);
  auto pair = core::open_file_pair(l.upper, l.lower, path);
  if (!pair.ok()) return pair.error().wrap("instance " + l.name);
  Json j = {{"sha1", l.sha1}, {"name", l.name}, {"path", path}};
  j["status"] = entry ? std::string(1, core::status_letter(entry->status)) : std::string();
  if (pair->before) j["old_type"] = core::overlay::type_name(pair->before->type);
  if (pair->after) j["type"] = core::overlay::type_name(pair->after->type);
  const uint64_t old_size = pair->before ? pair->before->size : 0;
  const uint64_t new_size = pair->after ? pair->after->size : 0;
  const auto file_or_none = [](const std::optional<EntryInfo>& i) {
    return !i || i->type == FileType::kFile;
  };
  std::string text, summary;
  bool binary = false, truncated = false;
  if (!file_or_none(pair->before) || !file_or_none(pair->after)) {
    const EntryInfo* b = pair->before ? &*pair->before : nullptr;
    const EntryInfo* a = pair->after ? &*pair->after : nullptr;
    if (b && a && b->type != a->type) {
      summary = std::string("Type changed: ") + core::overlay::type_name(b->type) + " → " +
                core::overlay::type_name(a->type);
    } else if ((a ? a : b)->type == FileType::kSymlink) {
      summary = "Symbolic link: " + (b ? "'" + b->target + "'" : std::string("none")) + " → " +
                (a ? "'" + a->target + "'" : std::string("none"));
    } else {
      summary =
          std::string("Not a regular file (") + core::overlay::type_name((a ? a : b)->type) + ")";
    }
  } else if (old_size > kContentDiffMaxFile || new_size > kContentDiffMaxFile) {
    summary = "Files differ " + size_change(old_size, new_size) +
              ": too large for a content diff (limit " +
              std::to_string(kContentDiffMaxFile / (1024 * 1024)) + " MiB)";
  } else {
    std::string a, b;
    if (pair->before_data.valid()) {
      FW_ASSIGN_OR_RETURN(b, read_all(pair->before_data.get(), kContentDiffMaxFile));
    }
    if (pair->after_data.valid()) {
      FW_ASSIGN_OR_RETURN(a, read_all(pair->after_data.get(), kContentDiffMaxFile));
    }
    binary = core::looks_binary(a) || core::looks_binary(b);
    if (binary && a != b) {
      summary = "Binary files differ " + size_change(old_size, new_size);
    } else if (!binary) {
      text = core::unified_diff(b, a, pair->before ? "a" + path : "/dev/null",
                                pair->after ? "b" + path : "/dev/null");
    }
    if (text.size() > kContentDiffMaxText) {
      text.resize(text.rfind('\n', kContentDiffMaxText) + 1);
      truncated = true;
    }
    if (a == b && entry && entry->status == core::DiffStatus::kModified) {
      summary = "Content unchanged; changed: " + join(change_names(entry->changes), ", ");
    }
  }
  j["binary"] = binary;
  j["diff"] = std::move(text);
  j["summary"] = std::move(summary);
  j["truncated"] = truncated;
  return j;
}

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// An existing output must be a regular file (never followed: lstat semantics), whoever
// asks and even with --force: replacing /dev/null or a symlink's target is never meant.
// ENOENT counts as fine (nothing to replace). EEXIST without `force`.
Status check_replaceable(int dir_fd, const std::string& name, const std::string& path, bool force) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status() : errno_error("inspecting " + quote_path(path));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(EINVAL, quote_path(path) + " exists and is " + kind_of(st.st_mode) +
                                  ": an export replaces only a regular file (even with --force)");
  }
  if (!force) return make_error(EEXIST, quote_path(path) + " exists (--force replaces it)");
  return {};
}

// The export's output: written to a temporary ".NAME.XXXXXX" beside it, then renamed over
// a regular file (--force) or to a free name (RENAME_NOREPLACE); removed unless committed.
// Every step on the path runs as the client (sys::AsClient: its uid, gid and groups), so
// the file is created, and may replace another, only where the client itself may write.
class Output {
 public:
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output() {
    if (!tmp_.empty()) {
      sys::AsClient as(client_);
      ::unlinkat(dir_.get(), tmp_.c_str(), 0);
    }
  }

  static Result<std::unique_ptr<Output>> create(const std::string& path, bool force,
                                                const sys::ClientCredentials& client) {
    const size_t slash = path.rfind('/');
    std::unique_ptr<Output> o(new Output(path.substr(slash + 1), client));
    if (o->name_.empty() || o->name_ == "." || o->name_ == "..") {
      return make_error(EINVAL, "export path " + quote_path(path) + " does not name a file");
    }
    sys::AsClient as(client);
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    o->dir_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!o->dir_) return errno_error("opening directory " + quote_path(dir));
    FW_TRY(check_replaceable(o->dir_.get(), o->name_, path, force));
    std::mt19937_64 rng(std::random_device{}());
    for (int attempt = 0; attempt < 16 && !o->fd_; ++attempt) {
      char suffix[16];
      std::snprintf(suffix, sizeof(suffix), "%06llx",
                    static_cast<unsigned long long>(rng() & 0xffffff));
      const std::string tmp = "." + o->name_ + "." + suffix;
      o->fd_.reset(::openat(o->dir_.get(), tmp.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (o->fd_) o->tmp_ = tmp;
      if (!o->fd_ && errno != EEXIST) return errno_error("creating " + quote(dir + "/" + tmp));
    }
    if (!o->fd_) return make_error(EEXIST, "no free temporary name beside " + quote_path(path));
    return o;
  }

  int fd() const { return fd_.get(); }

  Status commit(bool force, const std::string& path) {
    if (::fsync(fd_.get()) != 0) return errno_error("writing " + quote_path(path));
    sys::AsClient as(client_);
    // Checked again through the directory descriptor right before the rename: the name may
    // have become something else while the export ran.
    FW_TRY(check_replaceable(dir_.get(), name_, path, force));
    struct stat st {};
    const bool exists = ::fstatat(dir_.get(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    // rename(2) never follows a final symlink; RENAME_NOREPLACE makes "no file there" part
    // of the rename itself (EEXIST if one appeared).
    const unsigned flags = exists ? 0 : RENAME_NOREPLACE;
    if (::renameat2(dir_.get(), tmp_.c_str(), dir_.get(), name_.c_str(), flags) != 0) {
      return errno == EEXIST ? make_error(EEXIST, quote_path(path) + " appeared during the export")
                             : errno_error("renaming the export to " + quote_path(path));
    }
    tmp_.clear();
    return {};
  }

 private:
  Output(std::string name, sys::ClientCredentials client)
      : name_(std::move(name)), client_(std::move(client)) {}
  std::string name_;
  sys::ClientCredentials client_;
  Fd dir_, fd_;
  std::string tmp_;
};

Result<Json> run_export(const Layers& l, const ExportRequest& x,
                        const sys::ClientCredentials& client) {
  FW_ASSIGN_OR_RETURN(auto out, Output::create(x.path, x.force, client));
  auto stat = x.full ? core::export_tree(l.merged, out->fd())
                     : core::export_changes(l.upper, l.lower, out->fd());
  if (!stat.ok())
    return stat.error().wrap("exporting instance " + l.name + " to " + quote_path(x.path));
  FW_TRY(out->commit(x.force, x.path));
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
  if (e.status == core::DiffStatus::kModified) j["changes"] = change_names(e.changes);
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
