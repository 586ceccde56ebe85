#include "firmwared/core/instances.h"
#include "firmwared/base/host_access.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/instances_runtime.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
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

Instances::~Instances() { shutdown(); }

void Instances::shutdown() {
  // The standbys go (nothing a restart needs is in them); their network is given back while
  // the loop drains (a crash leaves it to the next start's reconcile).
  shutting_down_ = true;
  std::vector<std::string> sha1s;
  for (const auto& [sha1, sb] : standbys_) sha1s.push_back(sha1);
  for (const auto& sha1 : sha1s) dismiss_standby(sha1);
}

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
  // The usual identifiers, a name or a whole sha1, are one row's look-up: every START, STOP
  // and KILL begins here, and reading every record (4 queries each) for each of 100 requests
  // at once would keep the loop from answering them. A prefix needs every sha1.
  std::optional<std::string> direct;
  if (auto named = d_.catalogue.sha1_of_name(kFolder, id); named.ok() && *named) {
    direct = **named;
  } else if (is_sha1(id)) {
    direct = id;
    std::transform(direct->begin(), direct->end(), direct->begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  if (direct) {
    if (auto r = d_.catalogue.get_instance(*direct); r.ok() && *r) return std::move(**r);
  }
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
  // The standby's view of the overlay goes first (never two superblocks on one upper dir);
  // the next one is made from what the caller leaves, once it is done.
  dismiss_standby(r.sha1);
  schedule_standby(r.sha1);
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
                             PrepareDone done_in) {
  // The new instance's standby is made once the reply is out: PREPARE does not wait for it.
  PrepareDone done = [this, done_in](Result<EntitySummary> res) {
    if (res.ok()) schedule_standby(res->sha1);
    done_in(std::move(res));
  };
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

void Instances::kill(const std::string& id, KillDone done) {
  const auto asked = std::chrono::steady_clock::now();
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  auto it = running_.find(r->sha1);
  if (it == running_.end()) {
    return done(make_error(ECHILD, "instance " + r->name + " is not started"));
  }
  Runtime& rt = *it->second;
  rt.kill_waiters.push_back(std::move(done));
  if (!rt.end_asked) rt.end_asked = asked;
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
  log::debug("KILL request handled of " + r->name + ": " +
                 std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - asked)
                                    .count()) +
                 " us",
             log::instance(r->name, r->sha1));
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
  const auto asked = std::chrono::steady_clock::now();
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
  if (!rt.end_asked) rt.end_asked = asked;
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
  dismiss_standby(r.sha1);
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
    // Never a mount into the trash: a netns pin whose teardown failed goes now.
    if (const std::string pin = workspace(r.sha1).netns(); ::access(pin.c_str(), F_OK) == 0) {
      if (auto s = d_.mounter.unmount(pin); !s.ok()) return s.error().wrap(what);
    }
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

void Instances::drop_then(const std::string& id, DropDone done) {
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  if (state_of(r->sha1) != "ready") return done(drop(id));  // EBUSY
  // The standby first, then its network's teardown (queued), then the DROP itself.
  const std::string sha1 = r->sha1;
  dropping_.insert(sha1);
  dismiss_standby(sha1);
  net_enqueue(sha1, [this, sha1, done](std::function<void()> finish) {
    auto finish_drop = [this, sha1, done, finish]() {
      finish();
      dropping_.erase(sha1);
      done(drop(sha1));
    };
    // A pinned namespace no standby or run owns (a teardown that failed, one a restart found
    // and could not give back): its network is given back first.
    auto rec = d_.catalogue.get_instance(sha1);
    if (d_.network == nullptr || !rec.ok() || !*rec ||
        ::access(workspace(sha1).netns().c_str(), F_OK) != 0) {
      return finish_drop();
    }
    d_.network->teardown(plan_for(**rec, 0), [finish_drop](Status) { finish_drop(); });
  });
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
