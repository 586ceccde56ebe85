// Snapshots of instances (docs/diff.md "Snapshots"): freezing an instance's
// upper dir as a read-only layer, stacking instances on layers, resetting an instance to one.
//
// An instance on a snapshot mounts at `ro` a read-only overlay of the snapshot chain and the
// firmware, so its own overlay (and the diff, which compares `rw` with `ro`) is unchanged:
// the diff is relative to the snapshot. overlayfs accepts an overlay as a lower layer up to
// a stacking depth of 2 (FILESYSTEM_MAX_STACK_DEPTH), which is what this makes.

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftw.h>
#include <cstring>
#include <ctime>
#include <memory>

#include "firmwared/base/defer.h"
#include "firmwared/base/fault.h"
#include "firmwared/base/fd.h"
#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/identifiers.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/sys/sha1.h"

namespace fw::core {

namespace {

// overlayfs refuses more lower layers than this (OVL_MAX_STACK) and mount(2) options longer
// than a page; a chain this deep would hit the second first anyway.
constexpr size_t kMaxSnapshotDepth = 100;

Status make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("creating directory '" + path + "'");
  }
  return {};
}

Status rename_dir(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return errno_error("moving '" + from + "' to '" + to + "'");
  }
  return {};
}

Status write_small_file(const std::string& path, const std::string& content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd ||
      ::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return errno_error("writing '" + path + "'");
  }
  return {};
}

// Bytes of the regular files under `dir` (not crossing mounts).
uint64_t tree_size(const std::string& dir) {
  static thread_local uint64_t total;
  total = 0;
  auto add = [](const char*, const struct stat* st, int type, FTW*) -> int {
    if (type == FTW_F && S_ISREG(st->st_mode)) total += static_cast<uint64_t>(st->st_size);
    return 0;
  };
  (void)::nftw(dir.c_str(), add, 32, FTW_PHYS | FTW_MOUNT);
  return total;
}

}  // namespace

std::string Instances::snapshot_dir(const std::string& sha1) const {
  return d_.config.mount_path() + "/snapshots/" + sha1;
}

Result<catalogue::SnapshotRecord> Instances::find_snapshot(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_snapshots());
  std::vector<EntityRef> refs;
  for (const auto& s : all) refs.push_back({s.sha1, s.name});
  FW_ASSIGN_OR_RETURN(std::string sha1, resolve_identifier("snapshot", id, refs));
  for (auto& s : all) {
    if (s.sha1 == sha1) return s;
  }
  return make_error(ENOENT, "snapshot " + quote(id) + " vanished");
}

Result<std::vector<std::string>> Instances::lower_stack(const std::string& firmware_sha1,
                                                        const std::string& snapshot_sha1) {
  std::vector<std::string> layers;
  for (std::string sha1 = snapshot_sha1; !sha1.empty();) {
    if (layers.size() >= kMaxSnapshotDepth) {
      return make_error(ELOOP, "snapshot chain of " + snapshot_sha1 + " is deeper than " +
                                   std::to_string(kMaxSnapshotDepth));
    }
    FW_ASSIGN_OR_RETURN(auto s, d_.catalogue.get_snapshot(sha1));
    if (!s) return make_error(ENOENT, "snapshot " + sha1 + " is not in the catalogue");
    layers.push_back(snapshot_dir(sha1) + "/layer");
    sha1 = s->parent_sha1;
  }
  layers.push_back(d_.firmwares.mount_point(firmware_sha1));
  return layers;
}

Status Instances::freeze_upper(const Workspace& ws, const std::string& layer) {
  const std::string upper = ws.upper();
  struct stat st {};
  if (::stat(upper.c_str(), &st) != 0) return errno_error("reading '" + upper + "'");
  FW_TRY(rename_dir(upper, layer));
  bool done = false;
  DEFER {
    if (!done) undo_freeze(ws, layer);
  };
  FW_TRY(make_dir(upper, st.st_mode & 07777));
  // mkdir(2) applies the umask: set the mode exactly, then the owner.
  if (::chmod(upper.c_str(), st.st_mode & 07777) != 0 ||
      ::chown(upper.c_str(), st.st_uid, st.st_gid) != 0) {
    return errno_error("giving '" + upper + "' the mode and owner of the frozen one");
  }
  // The work dir may hold overlayfs' leftovers (work/work, index): start it afresh.
  FW_TRY(d_.mounter.remove_tree(ws.work()));
  FW_TRY(make_dir(ws.work(), 0755));
  done = true;
  return {};
}

void Instances::undo_freeze(const Workspace& ws, const std::string& layer) {
  if (::access(layer.c_str(), F_OK) != 0) return;
  (void)::rmdir(ws.upper().c_str());  // empty when we made it
  if (::rename(layer.c_str(), ws.upper().c_str()) != 0) {
    log::error("rolling back a snapshot: moving '" + layer + "' back to '" + ws.upper() +
               "': " + std::strerror(errno));
  }
  (void)make_dir(ws.work(), 0755);
}

Result<EntitySummary> Instances::take_snapshot(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  const std::string what = "snapshotting instance " + r.name;
  if (state_of(r.sha1) != "ready") {
    return make_error(EBUSY, what + ": instance " + r.name + " is " + state_of(r.sha1) +
                                 ": KILL it first; snapshots of running instances are not "
                                 "supported");
  }
  catalogue::SnapshotRecord snap;
  snap.created = static_cast<int64_t>(::time(nullptr));
  std::uniform_int_distribution<uint64_t> dist;
  snap.sha1 = sys::sha1_hex(r.sha1 + ":snapshot:" + std::to_string(snap.created) + ":" +
                            std::to_string(dist(rng_)));
  snap.firmware_sha1 = r.firmware_sha1;
  snap.parent_sha1 = r.snapshot_sha1;
  snap.instance_sha1 = r.sha1;
  FW_ASSIGN_OR_RETURN(snap.name, pick_name(
                                     d_.words,
                                     [this](const std::string& n) {
                                       auto t = d_.catalogue.name_taken(catalogue::kSnapshots, n);
                                       return !t.ok() || *t;
                                     },
                                     rng_));
  const Workspace ws = workspace(r.sha1);
  const std::string dir = snapshot_dir(snap.sha1);
  const std::string layer = dir + "/layer";
  FW_TRY_CTX(make_dir(d_.config.mount_path() + "/snapshots", 0700), what);
  FW_TRY_CTX(make_dir(dir, 0700), what);
  // Each step's undo is an owner made right after the step: a failure unwinds the steps done,
  // in reverse order, and leaves the instance as it was, mounted.
  bool committed = false;
  DEFER {
    if (!committed) {
      (void)::unlink((dir + "/" + kSnapshotIntent).c_str());
      (void)::rmdir(dir.c_str());
    }
  };
  // The intent: a crash before the commit leaves an uncatalogued
  // snapshot dir naming its instance, whose diff restore() moves back.
  FW_TRY_CTX(write_small_file(dir + "/" + kSnapshotIntent, r.sha1 + "\n"), what);
  FW_FAULT_POINT("snapshot.intent_recorded");
  auto unmounted = unmount_workspace(r);
  if (!unmounted.ok()) return unmounted.error().wrap(what);
  FW_TRY_CTX(freeze_upper(ws, layer), what);
  DEFER {
    if (!committed) undo_freeze(ws, layer);
  };
  FW_FAULT_POINT("snapshot.frozen");
  // The layer's size is a walk of unbounded length: off the loop when there is a worker
  // (the record says 0 until it is known), at once otherwise (unit tests).
  if (d_.executor == nullptr) snap.size = tree_size(layer);
  catalogue::InstanceRecord stacked = r;
  stacked.snapshot_sha1 = snap.sha1;
  // The mount runs inside the transaction: a refused stack leaves no record behind.
  std::optional<WorkspaceMounts> mounted;
  const Status recorded = d_.catalogue.transaction([&]() -> Status {
    FW_TRY(d_.catalogue.put_snapshot(snap));
    FW_TRY(d_.catalogue.put_instance(stacked));
    FW_ASSIGN_OR_RETURN(WorkspaceMounts m, mount_workspace(stacked));
    mounted.emplace(std::move(m));
    FW_FAULT_POINT("snapshot.mounted_uncommitted");
    return {};
  });
  FW_TRY_CTX(recorded, what);
  mounted->release();
  unmounted->release();
  committed = true;
  if (d_.executor != nullptr) {
    auto size = std::make_shared<uint64_t>(0);
    d_.executor->run([size, layer]() { *size = tree_size(layer); },
                     [this, size, sha1 = snap.sha1]() {
                       auto now = find_snapshot(sha1);
                       if (!now.ok()) return;  // dropped meanwhile
                       now->size = *size;
                       if (auto s = d_.catalogue.put_snapshot(*now); !s.ok()) {
                         log::warning("snapshot " + now->name +
                                      ": recording its size: " + s.error().message + ", ignoring");
                       }
                     });
  }
  log::info("snapshot " + snap.name + " [" + snap.sha1 + "] taken from instance " + r.name,
            log::instance(r.name, r.sha1));
  d_.events.emit(
      "PREPARED",
      {{"folder", std::string(catalogue::kSnapshots)}, {"sha1", snap.sha1}, {"name", snap.name}});
  return EntitySummary{snap.sha1, snap.name, false, ""};
}

Result<EntitySummary> Instances::reset_to_snapshot(const std::string& id,
                                                   const std::string& snapshot) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  FW_ASSIGN_OR_RETURN(auto snap, find_snapshot(snapshot));
  const std::string what = "restoring instance " + r.name + " to snapshot " + snap.name;
  if (state_of(r.sha1) != "ready") {
    return make_error(EBUSY, what + ": instance " + r.name + " is " + state_of(r.sha1) +
                                 ", not ready: KILL it first");
  }
  if (snap.firmware_sha1 != r.firmware_sha1) {
    return make_error(EINVAL, what + ": the snapshot is of firmware " + snap.firmware_sha1 +
                                  ", the instance of firmware " + r.firmware_sha1);
  }
  const Workspace ws = workspace(r.sha1);
  auto unmounted = unmount_workspace(r);
  if (!unmounted.ok()) return unmounted.error().wrap(what);
  catalogue::InstanceRecord stacked = r;
  stacked.snapshot_sha1 = snap.sha1;
  FW_TRY_CTX(d_.catalogue.put_instance(stacked), what);
  unmounted->release();
  // Past the point of no return: the discarded diff goes to a temporary layer, removed
  // once the instance is remounted.
  const std::string discarded = ws.discarded_upper();
  if (auto old = trash_.move_in(discarded, r.sha1 + ".discarded"); old.ok()) trash_.purge(*old);
  FW_TRY_CTX(freeze_upper(ws, discarded), what);
  // Deleted off the loop: a diff can hold millions of files.
  if (auto moved = trash_.move_in(discarded, r.sha1 + ".discarded"); moved.ok()) {
    trash_.purge(*moved);
  } else {
    log::warning(what + ": " + moved.error().message + ", ignoring");
  }
  auto mounted = mount_workspace(stacked);
  if (!mounted.ok()) return mounted.error().wrap(what);
  mounted->release();
  log::info("instance " + r.name + " restored to snapshot " + snap.name,
            log::instance(r.name, r.sha1));
  return EntitySummary{r.sha1, r.name, true, ""};
}

}  // namespace fw::core
