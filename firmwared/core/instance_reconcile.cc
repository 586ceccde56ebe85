// The instances folder at daemon start:
// re-adoption of running monitors (found through their lock), orphaned monitors killed,
// overlays remounted once, and reconciliation: what the catalogue does not know under
// <mount_path>/instances and <mount_path>/snapshots is removed (through the trash), what it
// knows but a crash half-removed is finished or reported.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <sstream>

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

Status make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("creating directory '" + path + "'");
  }
  return {};
}

std::optional<int> read_exit_status(const Workspace& ws) {
  auto content = read_small_file(ws.exit_status());
  if (!content.ok() || content->empty()) return std::nullopt;
  return std::atoi(content->c_str());
}

}  // namespace

Status Instances::restore() {
  FW_TRY(make_dir(d_.config.mount_path() + "/instances", 0700));
  reconcile_snapshots();  // before any overlay is mounted: it may move a diff back
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  size_t adopted = 0;
  std::vector<catalogue::InstanceRecord> kept;
  for (auto& r : all) {
    if (finish_interrupted_drop(r)) continue;
    if (restore_one(r)) ++adopted;
    kept.push_back(r);
  }
  FW_TRY(trash_.purge_all());
  reconcile(kept);
  sweep_cgroups();
  // Once the loop runs (after the leftover sweeps): the standbys of the ready instances.
  for (const auto& r : kept) {
    if (running_.count(r.sha1) == 0) schedule_standby(r.sha1);
  }
  log::info("restored " + std::to_string(all.size()) + " instance(s), " + std::to_string(adopted) +
            " running");
  return {};
}

void Instances::sweep_cgroups() {
  if (d_.cgroups == nullptr) return;
  // A monitor killed by SIGKILL (or with the daemon) never saw its run end: the cgroups of
  // instances not running now are leftovers, whatever their name.
  for (const std::string& name : d_.cgroups->present()) {
    if (running_.count(name) != 0) continue;
    log::notice("removing cgroup " + name + " of a run that ended while the daemon was away");
    if (auto s = d_.cgroups->remove(name); !s.ok()) {
      log::warning("removing cgroup " + name + ": " + s.error().message + ", ignoring");
    }
  }
}

bool Instances::finish_interrupted_drop(const catalogue::InstanceRecord& r) {
  if (::access(workspace(r.sha1).dir().c_str(), F_OK) == 0 || errno != ENOENT) return false;
  if (!trash_.holds(r.sha1)) {
    log::error("instance " + r.name + ": its workspace " + workspace(r.sha1).dir() +
                   " is gone (DROP it to forget it), ignoring",
               log::instance(r.name, r.sha1));
    return false;
  }
  // The workspace went to the trash, the row was still there: finish that DROP.
  if (auto s = d_.catalogue.delete_instance(r.sha1); !s.ok()) {
    log::warning("instance " + r.name + ": finishing its DROP: " + s.error().message + ", ignoring",
                 log::instance(r.name, r.sha1));
    return false;
  }
  log::notice("instance " + r.name + ": finished its DROP, interrupted by a crash",
              log::instance(r.name, r.sha1));
  return true;
}

bool Instances::restore_one(catalogue::InstanceRecord& r) {
  const Workspace ws = workspace(r.sha1);
  auto lock = d_.launcher.inspect(ws.dir());
  if (!lock.ok()) {
    log::error("instance " + r.name + ": " + lock.error().message +
                   ": cannot tell whether a monitor runs, its overlay is not remounted",
               log::instance(r.name, r.sha1));
    return false;
  }
  if (lock->held) {
    // A monitor runs on the workspace. With PID 1 reported it is a started instance, even
    // when the daemon died before recording it; otherwise its START was interrupted.
    if (lock->init_pid > 0 &&
        adopt_monitor(r, lock->monitor_pid, lock->monitor_start_time, lock->init_pid)) {
      return true;
    }
    log::notice("instance " + r.name + ": killing monitor " + std::to_string(lock->monitor_pid) +
                    (r.state == "ready" ? ", the standby sandbox of a previous daemon"
                                        : ", left without an owner by an interrupted START"),
                log::instance(r.name, r.sha1));
    if (auto s = d_.launcher.kill_orphan(ws.dir(), *lock); !s.ok()) {
      log::error("instance " + r.name + ": " + s.error().message +
                     ": its overlay is not remounted (KILL the monitor, then restart the daemon)",
                 log::instance(r.name, r.sha1));
      return false;
    }
  } else if (!lock->present && r.state != "ready" && r.monitor_pid > 0) {
    // A monitor older than the lock: the catalogue's pid and start time identify it.
    if (adopt_monitor(r, r.monitor_pid, r.monitor_start_time, r.init_pid)) return true;
  }
  if (r.state != "ready") {
    const bool was_started = r.state == "started" || r.state == "stopping";
    log::notice("instance " + r.name +
                    (was_started ? " died while the daemon was away"
                                 : ": START interrupted by a daemon restart"),
                log::instance(r.name, r.sha1));
    r.state = "ready";
    if (was_started) r.exit_status = read_exit_status(ws);
    if (auto s = d_.catalogue.put_instance(r); !s.ok()) {
      log::warning("instance " + r.name + ": " + s.error().message + ", ignoring",
                   log::instance(r.name, r.sha1));
    }
  }
  if (d_.network != nullptr && ::access(ws.netns().c_str(), F_OK) == 0) {
    // The namespace outlived its instance (daemon crash): give back what it holds.
    const NetworkPlan plan = plan_for(r, 0);
    net_enqueue(r.sha1, [this, plan](std::function<void()> finish) {
      d_.network->teardown(plan, [finish](Status) { finish(); });
    });
  }
  // No monitor holds the workspace now: stale mounts of a crashed daemon are replaced, not
  // stacked, and the upper dir is mounted once.
  (void)d_.mounter.unmount(ws.merged());
  (void)d_.mounter.unmount(ws.lower());
  (void)::chmod(ws.dir().c_str(), 0700);  // workspaces made by older versions were 0755
  for (const auto& dir : ws.mount_dirs()) (void)make_dir(dir, 0755);
  if (auto m = mount_workspace(r); m.ok()) {
    m->release();
  } else {
    log::warning("instance " + r.name + ": " + m.error().message + ", ignoring",
                 log::instance(r.name, r.sha1));
  }
  return false;
}

bool Instances::adopt_monitor(catalogue::InstanceRecord& r, int64_t monitor_pid,
                              uint64_t start_time, int64_t init_pid) {
  const Workspace ws = workspace(r.sha1);
  const uint64_t gen = ++generations_;
  auto mon =
      d_.launcher.adopt(monitor_pid, start_time, init_pid, ws.dir(), events_for(r.sha1, gen));
  if (!mon.ok()) return false;
  auto rt = std::make_unique<Runtime>();
  rt->generation = gen;
  rt->phase = Phase::kStarted;
  rt->monitor = std::move(*mon);
  // The console's ptys, as the monitor recorded them (for CONSOLE and SHOW).
  if (auto pts = read_small_file(ws.pts()); pts.ok()) {
    std::istringstream in(*pts);
    in >> rt->inner_pts >> rt->outer_pts;
  }
  // The monitor reported PID 1 only after the network step succeeded.
  if (d_.network != nullptr && ::access(ws.netns().c_str(), F_OK) == 0) {
    rt->net_plan = plan_for(r, monitor_pid);
  }
  running_[r.sha1] = std::move(rt);
  if (r.state != "started" || r.monitor_pid != monitor_pid || r.init_pid != init_pid) {
    r.state = "started";
    r.monitor_pid = monitor_pid;
    r.monitor_start_time = start_time;
    r.init_pid = init_pid;
    r.exit_status.reset();
    if (auto s = d_.catalogue.put_instance(r); !s.ok()) {
      log::warning("instance " + r.name + ": " + s.error().message + ", ignoring",
                   log::instance(r.name, r.sha1));
    }
  }
  log::info("instance " + r.name + " re-adopted (monitor pid " + std::to_string(monitor_pid) + ")",
            log::instance(r.name, r.sha1));
  return true;
}

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
  const Workspace ws = workspace(sha1);
  (void)d_.mounter.unmount(ws.merged());
  (void)d_.mounter.unmount(ws.lower());
  undo_freeze(ws, layer);
  if (::access(layer.c_str(), F_OK) == 0) {
    log::error("instance " + (*r)->name + ": its diff is still at " + layer +
                   " after an interrupted snapshot, keeping it",
               log::instance((*r)->name, (*r)->sha1));
    return false;
  }
  log::notice("instance " + (*r)->name + ": diff moved back from an interrupted snapshot",
              log::instance((*r)->name, (*r)->sha1));
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
