#include "firmwared/core/instances.h"
#include "firmwared/base/host_access.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/instances_runtime.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <sstream>

#include "firmwared/base/defer.h"
#include "firmwared/base/fault.h"
#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/base/signals.h"
#include "firmwared/core/binds.h"
#include "firmwared/core/identifiers.h"
#include "firmwared/core/limits.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/sys/sha1.h"

namespace fw::core {

namespace {

constexpr const char* kFolder = "instances";

Status make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("creating directory '" + path + "'");
  }
  return {};
}

}  // namespace

Instances::Instances(InstancesDeps deps)
    : d_(deps),
      custom_(deps.catalogue, kFolder),
      rng_(std::random_device{}()),
      trash_(deps.config.mount_path() + "/trash", deps.mounter, deps.executor) {}

Instances::~Instances() = default;

Workspace Instances::workspace(const std::string& sha1) const {
  return Workspace(d_.config.mount_path() + "/instances/" + sha1);
}

std::string Instances::state_of(const std::string& sha1) const {
  auto it = running_.find(sha1);
  return it == running_.end() ? "ready" : phase_name(it->second->phase);
}

std::string Instances::outer_pts(const std::string& sha1) const {
  auto it = running_.find(sha1);
  return it == running_.end() || it->second->phase != Phase::kStarted ? "" : it->second->outer_pts;
}

Result<std::string> Instances::new_name() {
  return pick_name(
      d_.words,
      [this](const std::string& n) {
        auto taken = d_.catalogue.name_taken(kFolder, n);
        return !taken.ok() || *taken;
      },
      rng_);
}

Result<catalogue::InstanceRecord> Instances::find(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  std::vector<EntityRef> refs;
  for (const auto& r : all) refs.push_back({r.sha1, r.name});
  FW_ASSIGN_OR_RETURN(std::string sha1, resolve_identifier("instance", id, refs));
  for (auto& r : all) {
    if (r.sha1 == sha1) return r;
  }
  return make_error(ENOENT, "instance " + quote(id) + " vanished");
}

Result<Mounted> Instances::mount_lower_tree(const catalogue::InstanceRecord& r) {
  const Workspace ws = workspace(r.sha1);
  // A firmware left unmounted at start (missing, or its path tampered with) would read as an
  // empty tree: refuse instead.
  const std::string fw_mount = d_.firmwares.mount_point(r.firmware_sha1);
  auto mounted = d_.mounter.is_mounted(fw_mount);
  if (!mounted.ok() || !*mounted) {
    return make_error(EBUSY, "its firmware is not mounted at " + fw_mount +
                                 ": it is unusable (the daemon's log says why)");
  }
  if (r.snapshot_sha1.empty()) return d_.mounter.mount_lower(fw_mount, ws.lower());
  FW_ASSIGN_OR_RETURN(auto layers, lower_stack(r.firmware_sha1, r.snapshot_sha1));
  return d_.mounter.mount_lower_stack(layers, ws.lower());
}

Result<Mounted> Instances::mount_overlay_of(const catalogue::InstanceRecord& r) {
  const Workspace ws = workspace(r.sha1);
  if (!userns_effective(r) || r.uid_base == 0) {
    return d_.mounter.mount_overlay(ws.lower(), ws.upper(), ws.work(), ws.merged());
  }
  // In a user namespace, the overlay stacks the layers themselves, each idmapped (an overlay
  // such as a snapshot stack at the lower dir cannot be); the lower dir stays the host's view
  // of the lower tree for the diff.
  std::vector<std::string> layers = {d_.firmwares.mount_point(r.firmware_sha1)};
  if (!r.snapshot_sha1.empty()) {
    FW_ASSIGN_OR_RETURN(layers, lower_stack(r.firmware_sha1, r.snapshot_sha1));
  }
  return d_.mounter.mount_overlay_idmapped(layers, ws.upper(), ws.work(), ws.merged(),
                                           sys::IdRange{r.uid_base, sys::kIdsPerInstance});
}

Result<Instances::WorkspaceMounts> Instances::mount_workspace(const catalogue::InstanceRecord& r) {
  WorkspaceMounts m;
  FW_ASSIGN_OR_RETURN(m.lower, mount_lower_tree(r));
  FW_ASSIGN_OR_RETURN(m.merged, mount_overlay_of(r));
  return m;
}

Result<Instances::WorkspaceUnmounted> Instances::unmount_workspace(
    const catalogue::InstanceRecord& r) {
  const Workspace ws = workspace(r.sha1);
  WorkspaceUnmounted u;
  FW_TRY(d_.mounter.unmount(ws.merged()));
  u.merged.emplace([this, r] { put_back(r.name, mount_overlay_of(r)); });
  FW_TRY(d_.mounter.unmount(ws.lower()));
  u.lower.emplace([this, r] { put_back(r.name, mount_lower_tree(r)); });
  return u;
}

void Instances::put_back(const std::string& name, Result<Mounted> m) {
  if (m.ok()) return m->release();
  log::error("instance " + name + ": putting its mount back after a failure: " + m.error().message);
}

Status Instances::remount_workspace(const catalogue::InstanceRecord& from,
                                    const catalogue::InstanceRecord& to) {
  FW_ASSIGN_OR_RETURN(WorkspaceUnmounted old, unmount_workspace(from));
  FW_ASSIGN_OR_RETURN(WorkspaceMounts next, mount_workspace(to));
  next.release();
  old.release();
  return {};
}

void Instances::prepare(const std::string& source, const std::optional<std::string>& cwd,
                        PrepareDone done) {
  prepare_as(sys::ClientCredentials{}, source, cwd, std::move(done));
}

void Instances::prepare_as(const sys::ClientCredentials& client, const std::string& source,
                           const std::optional<std::string>& cwd, PrepareDone done) {
  prepare_with(client, source, cwd, PrepareOptions{}, std::move(done));
}

Result<Instances::Wanted> Instances::check_wanted(const PrepareOptions& options) {
  Wanted w;
  if (options.name) {
    FW_TRY(validate_name(*options.name));
    FW_ASSIGN_OR_RETURN(bool taken, d_.catalogue.name_taken(kFolder, *options.name));
    if (taken) {
      return make_error(EEXIST, "an instance named " + quote(*options.name) + " already exists");
    }
    w.name = *options.name;
  }
  FW_ASSIGN_OR_RETURN(w.labels, parse_labels(options.labels));
  return w;
}

void Instances::prepare_with(const sys::ClientCredentials& client, const std::string& source,
                             const std::optional<std::string>& cwd, const PrepareOptions& options,
                             PrepareDone done) {
  auto checked = check_wanted(options);
  if (!checked.ok()) return done(checked.error().wrap("preparing an instance"));
  const Wanted wanted = std::move(*checked);
  auto fw = d_.firmwares.find(source);
  if (fw.ok()) return done(create(*fw, "", wanted));
  // A snapshot identifier (never a path): a new instance stacked on it.
  if (source.find('/') == std::string::npos) {
    auto snap = find_snapshot(source);
    if (snap.ok()) {
      auto base = d_.firmwares.find(snap->firmware_sha1);
      if (!base.ok()) return done(base.error());
      return done(create(*base, snap->sha1, wanted));
    }
    if (snap.error().code != ENOENT) return done(snap.error());
  }
  // Not a firmware identifier: a directory or image path is imported first.
  if (source.find('/') == std::string::npos && source.find("://") == std::string::npos) {
    return done(fw.error());
  }
  d_.firmwares.prepare_as(client, source, cwd,
                          [this, done, wanted](Result<EntitySummary> imported) {
                            if (!imported.ok()) return done(imported.error());
                            auto record = d_.firmwares.find(imported->sha1);
                            if (!record.ok()) return done(record.error());
                            done(create(*record, "", wanted));
                          });
}

Result<EntitySummary> Instances::create(const catalogue::FirmwareRecord& fw,
                                        const std::string& snapshot_sha1, const Wanted& wanted) {
  catalogue::InstanceRecord r;
  FW_ASSIGN_OR_RETURN(r.id, d_.catalogue.lowest_free_instance_id());
  if (wanted.name.empty()) {
    FW_ASSIGN_OR_RETURN(r.name, new_name());
  } else {
    // Checked before an import, which runs off the loop: taken meanwhile?
    FW_ASSIGN_OR_RETURN(bool taken, d_.catalogue.name_taken(kFolder, wanted.name));
    if (taken) {
      return make_error(EEXIST, "preparing an instance: an instance named " + quote(wanted.name) +
                                    " already exists");
    }
    r.name = wanted.name;
  }
  r.labels = wanted.labels;
  r.created = static_cast<int64_t>(::time(nullptr));
  std::uniform_int_distribution<uint64_t> dist;
  r.sha1 = sys::sha1_hex(fw.sha1 + ":" + r.name + ":" + std::to_string(r.created) + ":" +
                         std::to_string(dist(rng_)));
  r.firmware_sha1 = fw.sha1;
  r.snapshot_sha1 = snapshot_sha1;
  r.interface = d_.config.container_interface();
  r.host_access = effective_host_access(r, d_.config);
  r.cmdline = {"/sbin/init"};
  r.userns = d_.config.userns();
  FW_TRY_CTX(settle_id_range(r), "preparing an instance of firmware " + fw.name);

  const Workspace ws = workspace(r.sha1);
  FW_TRY(make_dir(d_.config.mount_path() + "/instances", 0700));
  FW_TRY(make_dir(ws.dir(), 0700));  // only root reaches an instance's files
  bool keep = false;
  DEFER {
    if (!keep) (void)d_.mounter.remove_tree(ws.dir());
  };
  for (const auto& dir : ws.mount_dirs()) FW_TRY(make_dir(dir, 0755));
  // The upper dir is the instance root's own inode: give it the firmware root's mode and
  // owner so that the diff does not start with a spurious "M /".
  if (struct stat st{}; ::stat(d_.firmwares.mount_point(fw.sha1).c_str(), &st) == 0) {
    if (::chmod(ws.upper().c_str(), st.st_mode & 07777) != 0 ||
        ::chown(ws.upper().c_str(), st.st_uid, st.st_gid) != 0) {
      log::warning("instance " + r.name +
                   ": copying the firmware root's mode: " + std::strerror(errno) + ", ignoring");
    }
  }
  FW_FAULT_POINT("prepare_instance.dirs_made");
  auto mounts = mount_workspace(r);
  if (!mounts.ok()) return mounts.error().wrap("preparing instance " + r.name);
  FW_FAULT_POINT("prepare_instance.mounted");
  // The profile is loaded now, so that a template or parser error fails PREPARE (not a later
  // START).
  if (d_.profiles != nullptr) {
    FW_TRY_CTX(d_.profiles->load(r.sha1, ws.dir()), "preparing instance " + r.name);
  }
  DEFER {
    if (!keep && d_.profiles != nullptr) (void)d_.profiles->remove(r.sha1);
  };
  FW_FAULT_POINT("prepare_instance.profile_loaded");
  FW_TRY_CTX(d_.catalogue.put_instance(r), "recording instance " + r.name);
  mounts->release();
  keep = true;
  log::info("instance " + r.name + " [" + r.sha1 + "] prepared from firmware " + fw.name,
            log::instance(r.name, r.sha1) + log::firmware(fw.name, fw.sha1));
  d_.events.emit("PREPARED",
                 {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}});
  return EntitySummary{r.sha1, r.name, false, ""};
}

MonitorEvents Instances::events_for(const std::string& sha1) {
  MonitorEvents ev;
  ev.on_ptys = [this, sha1](const std::string& inner, const std::string& outer) {
    if (auto it = running_.find(sha1); it != running_.end()) {
      it->second->inner_pts = inner;
      it->second->outer_pts = outer;
    }
  };
  ev.on_namespaces_ready = [this, sha1]() {
    auto it = running_.find(sha1);
    if (it == running_.end() || it->second->phase != Phase::kStarting) return;
    if (d_.network == nullptr) {
      it->second->awaited = "the monitor did not report PID 1";
      return it->second->monitor->proceed();
    }
    auto r = d_.catalogue.get_instance(sha1);
    if (!r.ok() || !*r) return it->second->monitor->kill_monitor();
    const NetworkPlan plan = plan_for(**r, it->second->monitor->monitor_pid());
    const uint64_t gen = it->second->generation;
    it->second->net_plan = plan;
    it->second->awaited = "the network helper did not finish";
    // Between unshare and pivot_root, while the monitor waits.
    net_enqueue(sha1, [this, sha1, gen, plan](std::function<void()> finish) {
      d_.network->setup(plan, [this, sha1, gen, finish](Status s) {
        auto it2 = running_.find(sha1);
        if (it2 != running_.end() && it2->second->generation == gen &&
            it2->second->phase == Phase::kStarting) {
          if (s.ok()) {
            it2->second->awaited = "the monitor did not report PID 1";
            FW_FAULT_POINT("start.network_ready");
            it2->second->monitor->proceed();
          } else {
            it2->second->start_error = s.error().wrap("setting up the network");
            it2->second->monitor->kill_monitor();
          }
        }
        finish();
      });
    });
  };
  ev.on_started = [this, sha1](int64_t pid) { on_started(sha1, pid); };
  ev.on_oom = [this, sha1](uint64_t kills) {
    auto r = d_.catalogue.get_instance(sha1);
    const std::string name = r.ok() && *r ? (*r)->name : sha1;
    log::warning("instance " + name + ": the OOM killer killed a process in it (" +
                     std::to_string(kills) + " this run)",
                 log::instance(name == sha1 ? "" : name, sha1));
    d_.events.emit("OOM", {{"folder", std::string(kFolder)},
                           {"sha1", sha1},
                           {"name", name},
                           {"oom_kills", EventValue(static_cast<int64_t>(kills))}});
  };
  ev.on_failed = [this, sha1](const Error& e) {
    // The first cause wins: a KILL, a timeout or a network failure recorded before the
    // monitor died explains its death better than "the monitor died".
    if (auto it = running_.find(sha1); it != running_.end() && !it->second->start_error) {
      it->second->start_error = e;
    }
  };
  ev.on_exited = [this, sha1](std::optional<int> status) { on_exited(sha1, status); };
  return ev;
}

void Instances::start(const std::string& id, StartDone done) {
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  if (auto it = running_.find(r->sha1); it != running_.end()) {
    return done(make_error(
        EBUSY, "instance " + r->name + " is " + phase_name(it->second->phase) + ", not ready"));
  }
  // Again now: a host path may have changed since it was set (the monitor then opens it
  // without following symlinks, so a change after this check fails the START too).
  if (std::vector<std::string> binds = r->binds; !binds.empty()) {
    if (auto s = check_binds(binds, bind_policy(d_.config)); !s.ok()) {
      return done(s.error().wrap("starting instance " + r->name));
    }
  }
  // The previous run's exit status no longer describes the instance: a START that fails
  // leaves it empty (unknown) rather than showing a status of the run before.
  if (r->exit_status || !r->exit_reason.empty()) {
    r->exit_status.reset();
    r->exit_reason.clear();
    if (auto s = d_.catalogue.put_instance(*r); !s.ok()) {
      return done(s.error().wrap("starting instance " + r->name + ": resetting exit_status"));
    }
  }
  auto rt = std::make_unique<Runtime>();
  rt->phase = Phase::kStarting;
  static uint64_t generations = 0;
  rt->generation = ++generations;
  rt->start_waiters.push_back(std::move(done));
  Runtime* raw = rt.get();
  running_[r->sha1] = std::move(rt);
  const catalogue::InstanceRecord rec = *r;
  const uint64_t gen = raw->generation;
  // After the previous run's network teardown, if one is still going.
  net_enqueue(rec.sha1, [this, rec, gen](std::function<void()> finish) {
    auto it = running_.find(rec.sha1);
    if (it != running_.end() && it->second->generation == gen) launch(rec, it->second.get());
    finish();
  });
}

void Instances::launch(const catalogue::InstanceRecord& r, Runtime* raw) {
  if (raw->phase != Phase::kStarting) {  // killed while waiting for the teardown
    auto rt = std::move(running_[r.sha1]);
    running_.erase(r.sha1);
    for (auto& w : rt->start_waiters) {
      w(make_error(ECANCELED, "starting instance " + r.name + ": START interrupted by KILL"));
    }
    for (auto& w : rt->kill_waiters)
      w(KillResult{r.sha1, r.name, r.exit_status, "killed", "SIGKILL"});
    return;
  }
  catalogue::InstanceRecord rec = r;
  if (userns_effective(rec) && rec.uid_base == 0) {
    // Made before user namespaces existed, or AppArmor went away: give it its id range and
    // remount its overlay for it.
    if (auto s = set_userns(rec, rec.userns); !s.ok()) {
      auto waiters = std::move(raw->start_waiters);
      running_.erase(r.sha1);
      for (auto& w : waiters) w(s.error().wrap("starting instance " + r.name));
      return;
    }
  }
  // A fresh writable root for every run: a firmware that remounted / read-only at shutdown
  // (busybox's umount -a -r, sysvinit's umountroot) made the overlay's superblock, which the
  // host's union mount shares, read-only. Only a new superblock undoes that.
  const Workspace ws = workspace(r.sha1);
  if (auto ro = d_.mounter.is_read_only(ws.merged()); ro.ok() && *ro) {
    log::notice("instance " + r.name + ": its root was left read-only by its last run, remounting",
                log::instance(r.name, r.sha1));
    if (Status s = remount_workspace(rec, rec); !s.ok()) {
      auto waiters = std::move(raw->start_waiters);
      running_.erase(r.sha1);
      for (auto& w : waiters)
        w(s.error().wrap("starting instance " + r.name + ": remounting its root"));
      return;
    }
  }
  LaunchSpec spec{r.name, r.sha1, ws.merged(), ws.dir(), r.cmdline};
  if (d_.profiles != nullptr && d_.profiles->enabled()) {
    spec.apparmor_profile = d_.profiles->profile_name(r.sha1);
  }
  spec.uid_base = userns_effective(rec) ? rec.uid_base : 0;
  spec.time_offset = rec.time_offset;
  spec.binds = rec.binds;
  spec.console_log_max = d_.config.console_log_max();
  // Its cgroup before any namespace: PID 1 enters it before it makes its cgroup namespace.
  if (d_.cgroups != nullptr) {
    auto dirs = d_.cgroups->create(r.sha1, limits_of(rec), spec.uid_base);
    if (!dirs.ok()) {
      auto waiters = std::move(raw->start_waiters);
      running_.erase(r.sha1);
      for (auto& w : waiters) w(dirs.error().wrap("starting instance " + r.name + ": its cgroup"));
      return;
    }
    spec.cgroups = std::move(*dirs);
  }
  if (spec.uid_base == 0 && spec.apparmor_profile.empty()) {
    log::warning("instance " + r.name +
                     " starts privileged (userns=n) without AppArmor: its root can reach host root",
                 log::instance(r.name, r.sha1));
  }
  const catalogue::InstanceRecord settled = rec;
  // The intent first: a daemon that dies from here on finds the instance
  // "starting" and settles it with the monitor's lock.
  rec.state = "starting";
  rec.monitor_pid = 0;
  rec.monitor_start_time = 0;
  rec.init_pid = 0;
  Status recorded = d_.catalogue.put_instance(rec);
  FW_FAULT_POINT("start.intent_recorded");
  auto mon = recorded.ok() ? d_.launcher.launch(spec, events_for(r.sha1))
                           : Result<std::unique_ptr<RunningMonitor>>(recorded.error());
  if (!mon.ok()) {
    if (recorded.ok()) (void)d_.catalogue.put_instance(settled);
    if (d_.cgroups != nullptr) (void)d_.cgroups->remove(r.sha1);
    auto waiters = std::move(raw->start_waiters);
    running_.erase(r.sha1);
    for (auto& w : waiters) w(mon.error().wrap("starting instance " + r.name));
    return;
  }
  raw->monitor = std::move(*mon);
  rec.monitor_pid = raw->monitor->monitor_pid();
  rec.monitor_start_time = raw->monitor->monitor_start_time();
  if (auto s = d_.catalogue.put_instance(rec); !s.ok()) {
    log::warning("instance " + r.name + ": recording its monitor: " + s.error().message +
                 ", ignoring");  // its lock identifies it as well
  }
  FW_FAULT_POINT("start.monitor_spawned");
  const std::string sha1 = r.sha1;
  const uint64_t gen = raw->generation;
  d_.timers.after(kStartTimeoutMs, [this, sha1, gen]() {
    auto it = running_.find(sha1);
    if (it == running_.end() || it->second->generation != gen ||
        it->second->phase != Phase::kStarting) {
      return;
    }
    it->second->start_error =
        make_error(ETIMEDOUT, "PID 1 was not started: " + it->second->awaited + " within " +
                                  std::to_string(kStartTimeoutMs / 1000) + " s");
    it->second->monitor->kill_monitor();
  });
}

void Instances::net_enqueue(const std::string& sha1, NetOp op) {
  auto& q = net_queues_[sha1];
  q.push_back(std::move(op));
  if (q.size() == 1) net_next(sha1);
}

void Instances::net_next(const std::string& sha1) {
  auto it = net_queues_.find(sha1);
  if (it == net_queues_.end() || it->second.empty()) return;
  NetOp op = it->second.front();
  auto finished = std::make_shared<bool>(false);
  op([this, sha1, finished]() {
    if (*finished) return;
    *finished = true;
    auto q = net_queues_.find(sha1);
    if (q == net_queues_.end()) return;
    q->second.pop_front();
    if (q->second.empty()) {
      net_queues_.erase(q);
    } else {
      net_next(sha1);
    }
  });
}

NetworkPlan Instances::plan_for(const catalogue::InstanceRecord& r, int64_t monitor_pid) const {
  const std::string net = d_.config.net_first_two_bytes() + std::to_string(r.id);
  NetworkPlan p;
  p.instance = r.name;
  p.workspace = workspace(r.sha1).dir();
  p.monitor_pid = monitor_pid;
  p.host_if = d_.config.host_interface_prefix() + std::to_string(r.id);
  p.inner_if = r.interface;
  p.host_addr = net + ".254/24";
  p.inner_addr = net + ".1/24";
  p.stolen = r.stolen_interface;
  p.host_access = effective_host_access(r, d_.config);
  p.filter_table = host_access_table(d_.config.host_interface_prefix(),
                                     sys::daemon_owner_id(d_.config.mount_path()));
  return p;
}

std::vector<std::string> Instances::running_host_interfaces() {
  std::vector<std::string> out;
  for (const auto& [sha1, rt] : running_) {
    auto r = d_.catalogue.get_instance(sha1);
    if (r.ok() && *r) out.push_back(d_.config.host_interface_prefix() + std::to_string((*r)->id));
  }
  return out;
}

void Instances::on_started(const std::string& sha1, int64_t init_pid) {
  auto it = running_.find(sha1);
  if (it == running_.end()) return;
  Runtime& rt = *it->second;
  if (rt.phase != Phase::kStarting) return;  // a KILL came first; on_exited will settle it
  auto r = d_.catalogue.get_instance(sha1);
  if (!r.ok() || !*r) {
    rt.start_error = make_error(EIO, "instance record vanished during START");
    rt.monitor->kill_monitor();
    return;
  }
  auto rec = **r;
  rec.state = "started";
  rec.monitor_pid = rt.monitor->monitor_pid();
  rec.monitor_start_time = rt.monitor->monitor_start_time();
  rec.init_pid = init_pid;
  rec.exit_status.reset();
  FW_FAULT_POINT("start.pid1_started");
  if (auto s = d_.catalogue.put_instance(rec); !s.ok()) {
    rt.start_error = s.error().wrap("recording the start of " + rec.name);
    rt.monitor->kill_monitor();
    return;
  }
  rt.phase = Phase::kStarted;
  log::info("instance " + rec.name + " started, PID 1 is host pid " + std::to_string(init_pid),
            log::instance(rec.name, sha1) + log::firmware("", rec.firmware_sha1));
  d_.events.emit("STARTED", {{"folder", std::string(kFolder)},
                             {"sha1", sha1},
                             {"name", rec.name},
                             {"init_pid", init_pid}});
  auto waiters = std::move(rt.start_waiters);
  for (auto& w : waiters) w(EntitySummary{sha1, rec.name, true, ""});
}

namespace {

// Why a run ended, from how it was asked to end and PID 1's status (128 + signal when a
// signal killed it). The kernel ends PID 1 of a PID namespace by SIGHUP when something in it
// calls reboot(2) to restart, by SIGINT to halt or power off (pid_namespaces(7)).
std::string exit_reason(Ending ending, bool stop_timed_out, std::optional<int> status) {
  if (ending == Ending::kKill) return "killed";
  if (ending == Ending::kStop) return stop_timed_out ? "stop-timeout" : "stopped";
  if (!status) return "";
  if (*status == 128 + SIGHUP) return "reboot";
  if (*status == 128 + SIGINT) return "halt";
  return "exited";
}

}  // namespace

void Instances::on_exited(const std::string& sha1, std::optional<int> status) {
  auto it = running_.find(sha1);
  if (it == running_.end()) return;
  std::unique_ptr<Runtime> rt = std::move(it->second);
  running_.erase(it);
  auto r = d_.catalogue.get_instance(sha1);
  std::string name = sha1;
  const bool was_started = rt->phase == Phase::kStarted || rt->phase == Phase::kStopping;
  std::string reason = exit_reason(rt->ending, rt->stop_timed_out, status);
  uint64_t oom_kills = 0;
  if (d_.cgroups != nullptr) {
    if (auto st = d_.cgroups->stats(sha1); st.ok()) oom_kills = st->oom_kills;
    // PID 1 is reaped, its PID namespace gone: whatever could remain is killed with it.
    if (auto s = d_.cgroups->remove(sha1); !s.ok()) {
      log::warning("instance " + sha1 + ": removing its cgroup: " + s.error().message +
                       " (removed at the next daemon start)",
                   log::instance("", sha1));
    }
  }
  if (reason == "exited" && status == 128 + SIGKILL && oom_kills > 0) reason = "oom";
  bool restart = false;
  if (r.ok() && *r) {
    auto rec = **r;
    name = rec.name;
    const bool recorded_started = rec.state == "started" || rec.state == "stopping";
    rec.state = "ready";
    if (recorded_started || status) rec.exit_status = status;
    if (was_started) rec.exit_reason = reason;
    restart = was_started && reason == "reboot" && rec.on_reboot == "restart";
    if (auto s = d_.catalogue.put_instance(rec); !s.ok()) {
      log::error("instance " + name + ": recording its death: " + s.error().message,
                 log::instance(name, sha1));
    }
  }
  // Replies and DEAD go out once the namespace is unpinned and a stolen interface is back
  // on the host (fast); the slow kernel veth teardown happens after, off the reply path.
  auto shared = std::shared_ptr<Runtime>(std::move(rt));
  auto settle = [this, shared, sha1, name, status, was_started, reason, restart, oom_kills]() {
    Runtime& run = *shared;
    if (!run.start_waiters.empty()) {
      Error e = run.start_error.value_or(
          run.kill_waiters.empty() ? make_error(EIO, "the monitor exited before PID 1 started")
                                   : make_error(ECANCELED, "START interrupted by KILL"));
      for (auto& w : run.start_waiters) w(e.wrap("starting instance " + name));
    }
    if (was_started || !run.kill_waiters.empty()) {
      log::info("instance " + name + " dead, exit status " +
                    (status ? std::to_string(*status) : std::string("unknown")) +
                    (reason.empty() ? "" : " (" + reason + ")"),
                log::instance(name == sha1 ? "" : name, sha1));
      core::EventFields fields = {{"folder", std::string(kFolder)}, {"sha1", sha1}, {"name", name}};
      fields.push_back(
          {"exit_status", status ? EventValue(int64_t{*status}) : EventValue(std::monostate{})});
      fields.push_back({"reason", reason});
      fields.push_back({"oom_kills", EventValue(static_cast<int64_t>(oom_kills))});
      d_.events.emit("DEAD", std::move(fields));
    }
    const std::string sig = run.ending == Ending::kStop   ? run.stop_signal
                            : run.ending == Ending::kKill ? std::string("SIGKILL")
                                                          : std::string();
    for (auto& w : run.kill_waiters) w(KillResult{sha1, name, status, reason, sig});
    if (restart && run.kill_waiters.empty()) restart_after_reboot(sha1, name);
  };
  if (d_.network != nullptr && shared->net_plan) {
    const NetworkPlan plan = *shared->net_plan;
    net_enqueue(sha1, [this, plan, settle](std::function<void()> finish) {
      d_.network->teardown(plan, [settle, finish](Status) {
        settle();
        finish();
      });
    });
  } else {
    settle();
  }
}

void Instances::restart_after_reboot(const std::string& sha1, const std::string& name) {
  auto& times = reboots_[sha1];
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  while (!times.empty() && times.front() < now - kRebootWindowS) times.pop_front();
  times.push_back(now);
  if (static_cast<int>(times.size()) > kMaxReboots) {
    log::warning("instance " + name + " rebooted " + std::to_string(times.size()) + " times in " +
                     std::to_string(kRebootWindowS) + " s: left stopped",
                 log::instance(name, sha1));
    reboots_.erase(sha1);
    return;
  }
  log::info("instance " + name + " rebooted from inside: starting it again",
            log::instance(name, sha1));
  start(sha1, [this, sha1, name](Result<EntitySummary> s) {
    if (!s.ok()) {
      log::error("instance " + name + ": starting again after a reboot: " + s.error().message,
                 log::instance(name, sha1));
      return;
    }
    d_.events.emit("REBOOTED", {{"folder", std::string(kFolder)}, {"sha1", sha1}, {"name", name}});
  });
}

void Instances::kill(const std::string& id, KillDone done) {
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  auto it = running_.find(r->sha1);
  if (it == running_.end()) {
    return done(make_error(ECHILD, "instance " + r->name + " is not started"));
  }
  Runtime& rt = *it->second;
  rt.kill_waiters.push_back(std::move(done));
  reboots_.erase(r->sha1);  // asked to end: a reboot loop before does not count any more
  if (rt.phase == Phase::kStopping) {
    // A KILL during a STOP whose timeout already sent SIGKILL just waits for it.
    if (rt.ending == Ending::kStop && !rt.stop_timed_out && rt.monitor) {
      // KILL during a STOP: no more waiting for the firmware's shutdown.
      rt.ending = Ending::kKill;
      kill_run(r->sha1, rt);
    }
    return;
  }
  rt.ending = Ending::kKill;
  if (!rt.monitor) {  // still queued behind a network teardown: launch() answers
    rt.phase = Phase::kStopping;
    return;
  }
  const bool starting = rt.phase == Phase::kStarting;
  rt.phase = Phase::kStopping;
  if (starting && !rt.start_error)
    rt.start_error = make_error(ECANCELED, "START interrupted by KILL");
  if (!starting) {
    auto rec = *r;
    rec.state = "stopping";
    (void)d_.catalogue.put_instance(rec);
  }
  FW_FAULT_POINT("kill.stopping_recorded");
  kill_run(r->sha1, rt, !starting);
  FW_FAULT_POINT("kill.signalled");
}

void Instances::kill_run(const std::string& sha1, Runtime& rt, bool init_started) {
  if (!init_started || !rt.monitor->kill_init().ok()) rt.monitor->kill_monitor();
  const uint64_t gen = rt.generation;
  d_.timers.after(kKillTimeoutMs, [this, sha1, gen]() {
    auto it2 = running_.find(sha1);
    if (it2 != running_.end() && it2->second->generation == gen) {
      log::warning("instance " + sha1 + ": monitor still alive " +
                       std::to_string(kKillTimeoutMs / 1000) + " s after KILL, killing it",
                   log::instance("", sha1));
      it2->second->monitor->kill_monitor();
    }
  });
}

std::string Instances::stop_signal_of(const catalogue::InstanceRecord& r) const {
  if (!r.stop_signal.empty()) return r.stop_signal;
  auto fw = d_.catalogue.get_firmware(r.firmware_sha1);
  if (fw.ok() && *fw && !(*fw)->stop_signal.empty()) return (*fw)->stop_signal;
  return "SIGTERM";
}

void Instances::stop(const std::string& id, const std::optional<std::string>& signal,
                     const std::optional<std::string>& timeout_s, KillDone done) {
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  const std::string sig_text = signal ? *signal : stop_signal_of(*r);
  auto sig = parse_signal(sig_text);
  if (!sig.ok()) return done(sig.error().wrap("stopping instance " + r->name));
  int timeout = kDefaultStopTimeoutS;
  if (timeout_s) {
    const std::string& t = *timeout_s;
    const bool digits = !t.empty() && t.size() <= 5 && std::all_of(t.begin(), t.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    if (!digits || std::stoi(t) > kMaxStopTimeoutS) {
      return done(make_error(EINVAL, "stopping instance " + r->name + ": invalid timeout " +
                                         quote(t) +
                                         ": must be a whole number of seconds from 0 to " +
                                         std::to_string(kMaxStopTimeoutS)));
    }
    timeout = std::stoi(t);
  }
  auto it = running_.find(r->sha1);
  if (it == running_.end()) {
    return done(make_error(ECHILD, "instance " + r->name + " is not started"));
  }
  Runtime& rt = *it->second;
  if (rt.phase != Phase::kStarted) {
    // Starting: there is no init to ask yet, the START is cancelled as by KILL. Stopping: the
    // STOP or KILL under way answers this one too.
    if (rt.phase == Phase::kStopping) {
      rt.kill_waiters.push_back(std::move(done));
      return;
    }
    return kill(r->sha1, std::move(done));
  }
  reboots_.erase(r->sha1);
  int host_sig = *sig;
  if (rt.monitor->init_emulated()) host_sig = qemu_user_host_signal(host_sig);
  rt.kill_waiters.push_back(std::move(done));
  rt.phase = Phase::kStopping;
  rt.ending = Ending::kStop;
  rt.stop_signal = signal_name(*sig);
  auto rec = *r;
  rec.state = "stopping";
  (void)d_.catalogue.put_instance(rec);
  log::info(
      "instance " + r->name + ": stopping with " + rt.stop_signal +
          (host_sig != *sig ? " (" + signal_name(host_sig) + " on the host: qemu-user)" : "") +
          ", SIGKILL after " + std::to_string(timeout) + " s",
      log::instance(r->name, r->sha1));
  if (auto s = rt.monitor->signal_init(host_sig); !s.ok()) {
    log::warning("instance " + r->name + ": sending " + rt.stop_signal + ": " + s.error().message +
                     ", killing it",
                 log::instance(r->name, r->sha1));
    rt.ending = Ending::kKill;
    return kill_run(r->sha1, rt);
  }
  const std::string sha1 = r->sha1;
  const uint64_t gen = rt.generation;
  d_.timers.after(timeout * 1000, [this, sha1, gen, timeout]() {
    auto it2 = running_.find(sha1);
    if (it2 == running_.end() || it2->second->generation != gen ||
        it2->second->ending != Ending::kStop) {
      return;
    }
    log::notice("instance " + sha1 + ": PID 1 still runs " + std::to_string(timeout) +
                    " s after its stop signal, sending SIGKILL",
                log::instance("", sha1));
    it2->second->stop_timed_out = true;
    kill_run(sha1, *it2->second);
  });
}

sys::CgroupLimits Instances::limits_of(const catalogue::InstanceRecord& r) {
  // Validated when set; a value the rules refuse now (edited catalogue) means no limit.
  sys::CgroupLimits l;
  if (auto v = parse_memory_max(r.memory_max); v.ok()) l.memory_max = *v;
  if (auto v = parse_pids_max(r.pids_max); v.ok()) l.pids_max = *v;
  if (auto v = parse_cpu_weight(r.cpu_weight); v.ok()) l.cpu_weight = *v;
  return l;
}

Status Instances::apply_limits(const catalogue::InstanceRecord& r) {
  auto it = running_.find(r.sha1);
  if (d_.cgroups == nullptr || it == running_.end() || it->second->phase != Phase::kStarted) {
    return {};  // START applies them
  }
  FW_TRY_CTX(d_.cgroups->set_limits(r.sha1, limits_of(r)),
             "applying the limits of instance " + r.name);
  return {};
}

Result<sys::CgroupStats> Instances::stats(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (d_.cgroups == nullptr) {
    return make_error(ENOTSUP, "the daemon runs without cgroups (its log says why)");
  }
  auto it = running_.find(r.sha1);
  if (it == running_.end() || it->second->phase != Phase::kStarted) {
    return make_error(ECHILD, "instance " + r.name + " is " + state_of(r.sha1) +
                                  ", not started: its cgroup exists only while it runs");
  }
  auto st = d_.cgroups->stats(r.sha1);
  if (!st.ok()) return st.error().wrap("reading the cgroup of instance " + r.name);
  return st;
}

Result<int> Instances::init_pidfd(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  auto it = running_.find(r.sha1);
  if (it == running_.end() || it->second->phase != Phase::kStarted || !it->second->monitor ||
      it->second->monitor->init_pidfd() < 0) {
    return make_error(
        EBUSY, "instance " + r.name + " is " + state_of(r.sha1) + ", not started: START it first");
  }
  return it->second->monitor->init_pidfd();
}

Result<EntitySummary> Instances::remount(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (state_of(r.sha1) != "ready") {
    return make_error(EBUSY, "instance " + r.name + " is " + state_of(r.sha1) + ", not ready");
  }
  FW_TRY_CTX(remount_workspace(r, r), "remounting instance " + r.name);
  return EntitySummary{r.sha1, r.name, true, ""};
}

Result<EntitySummary> Instances::drop(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (state_of(r.sha1) != "ready") {
    return make_error(EBUSY, "instance " + r.name + " is " + state_of(r.sha1) + ", not ready");
  }
  if (net_queues_.count(r.sha1) != 0) {
    return make_error(EBUSY, "instance " + r.name + " is still releasing its network, retry");
  }
  const std::string what = "dropping instance " + r.name;
  const std::string ws = workspace(r.sha1).dir();
  auto unmounted = unmount_workspace(r);
  if (!unmounted.ok()) return unmounted.error().wrap(what);
  FW_FAULT_POINT("drop.unmounted");
  // The workspace goes to the trash before the row goes: a crash in between leaves a row
  // without workspace and a trash entry named after it, which restore() finishes.
  std::string trashed;
  if (!d_.config.prevent_removal()) {
    auto moved = trash_.move_in(ws, r.sha1);
    if (!moved.ok()) return moved.error().wrap(what);
    trashed = *moved;
    FW_FAULT_POINT("drop.trashed");
  }
  if (auto s = d_.catalogue.delete_instance(r.sha1); !s.ok()) {
    if (!trashed.empty()) ::rename(trashed.c_str(), ws.c_str());
    return s.error().wrap(what);
  }
  unmounted->release();
  FW_FAULT_POINT("drop.row_deleted");
  if (d_.profiles != nullptr) {
    // Past the point of no return: a profile left behind is removed at the next start.
    if (auto s = d_.profiles->remove(r.sha1); !s.ok()) {
      log::warning(what + ": " + s.error().message + ", ignoring");
    }
  }
  if (trashed.empty()) {
    log::info("instance " + r.name + " dropped, workspace kept at " + ws + " (prevent_removal)",
              log::instance(r.name, r.sha1));
  } else {
    log::info("instance " + r.name + " dropped", log::instance(r.name, r.sha1));
    trash_.purge(trashed);  // off the loop: an upper dir can hold millions of files
  }
  reboots_.erase(r.sha1);
  d_.events.emit("DROPPED", {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}});
  return EntitySummary{r.sha1, r.name, true, ""};
}

Result<std::map<std::string, std::string>> Instances::workspaces() {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  std::map<std::string, std::string> out;
  for (const auto& r : all) out[r.sha1] = workspace(r.sha1).dir();
  return out;
}

Result<std::vector<EntitySummary>> Instances::list() {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  std::vector<EntitySummary> out;
  for (const auto& r : all) out.push_back({r.sha1, r.name, true, ""});
  return out;
}

}  // namespace fw::core
