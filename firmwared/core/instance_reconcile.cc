// Reconciliation at start (issue 11 item 9): what the catalogue does not know under
// <mount_path>/instances and <mount_path>/snapshots is removed (through the trash), what it
// knows but a crash half-removed is finished or reported.

#include <dirent.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "firmwared/base/defer.h"
#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"

namespace fw::core {

namespace {

// Entry names of `dir` ("." and ".." left out); empty when it cannot be read.
std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  DEFER { ::closedir(d); };
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      out.emplace_back(e->d_name);
    }
  }
  return out;
}

}  // namespace

void Instances::remove_uncatalogued(const std::string& dir, const std::set<std::string>& known,
                                    const std::string& kind) {
  for (const auto& name : entries_of(dir)) {
    if (known.count(name) != 0) continue;
    const std::string path = dir + "/" + name;
    if (d_.config.prevent_removal()) {
      log::notice(kind + " " + path + " is not catalogued, kept (prevent_removal)");
      continue;
    }
    // A monitor may still run there (a crash between a PREPARE's mounts and its row cannot
    // start one, but be sure): never delete what a PID 1 uses.
    if (auto lock = d_.launcher.inspect(path); lock.ok() && lock->held) {
      if (auto s = d_.launcher.kill_orphan(path, *lock); !s.ok()) {
        log::error(kind + " " + path + " is not catalogued but " + s.error().message +
                   ", keeping it");
        continue;
      }
    }
    if (auto s = d_.mounter.unmount_all_below(path); !s.ok()) {
      log::error(kind + " " + path + " is not catalogued but " + s.error().message +
                 ", keeping it");
      continue;
    }
    auto moved = trash_.move_in(path, name);
    if (!moved.ok()) {
      log::error(moved.error().message + ", keeping it");
      continue;
    }
    log::notice("removing " + kind + " " + path +
                ", not catalogued (left by an interrupted PREPARE or DROP)");
    trash_.purge(*moved);
  }
}

bool Instances::undo_interrupted_snapshot(const std::string& dir) {
  auto intent = read_small_file(dir + "/" + kSnapshotIntent);
  if (!intent.ok()) return true;  // not a PREPARE snapshots in progress
  const std::string sha1 = intent->substr(0, intent->find('\n'));
  auto r = d_.catalogue.get_instance(sha1);
  const std::string layer = dir + "/layer";
  if (!r.ok() || !*r || ::access(layer.c_str(), F_OK) != 0) return true;
  // The instance still has its old record: give it its diff back (its overlay, mounted or
  // not, is remounted by restore_one()).
  const std::string ws = workspace(sha1);
  (void)d_.mounter.unmount(ws + "/union");
  (void)d_.mounter.unmount(ws + "/ro");
  undo_freeze(ws, layer);
  if (::access(layer.c_str(), F_OK) == 0) {
    log::error("instance " + (*r)->name + ": its diff is still at " + layer +
               " after an interrupted snapshot, keeping it");
    return false;
  }
  log::notice("instance " + (*r)->name + ": diff moved back from an interrupted snapshot");
  return true;
}

void Instances::reconcile_snapshots() {
  auto all = d_.catalogue.list_snapshots();
  if (!all.ok()) {
    log::error("reconciling snapshots: " + all.error().message + ", ignoring");
    return;
  }
  std::set<std::string> known;
  for (const auto& s : *all) {
    if (::access(snapshot_dir(s.sha1).c_str(), F_OK) == 0 || errno != ENOENT) {
      known.insert(s.sha1);
      continue;
    }
    if (!trash_.holds(s.sha1)) {
      log::error("snapshot " + s.name + ": its layer " + snapshot_dir(s.sha1) + " is gone");
      continue;
    }
    if (auto d = d_.catalogue.delete_snapshot(s.sha1); !d.ok()) {
      log::error("snapshot " + s.name + ": finishing its DROP: " + d.error().message);
      continue;
    }
    log::notice("snapshot " + s.name + ": finished its DROP, interrupted by a crash");
  }
  const std::string dir = d_.config.mount_path() + "/snapshots";
  for (const auto& name : entries_of(dir)) {
    if (known.count(name) == 0 && !undo_interrupted_snapshot(dir + "/" + name)) known.insert(name);
  }
  remove_uncatalogued(dir, known, "snapshot layer");
}

void Instances::reconcile(const std::vector<catalogue::InstanceRecord>& records) {
  std::set<std::string> known;
  for (const auto& r : records) known.insert(r.sha1);
  remove_uncatalogued(d_.config.mount_path() + "/instances", known, "workspace");
}

}  // namespace fw::core
