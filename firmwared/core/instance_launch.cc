// The instances folder's START path: the standby sandboxes made ahead of START (a
// monitor with everything but the PID namespace and PID 1, docs/architecture.md
// "Launching an instance"), START itself (from a standby, or the whole way) and the network
// step. The end of a run is in instance_end.cc.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "firmwared/base/fault.h"
#include "firmwared/base/host_access.h"
#include "firmwared/base/log.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/binds.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"
#include "firmwared/sys/sha1.h"

namespace fw::core {

namespace {

constexpr const char* kFolder = "instances";

}  // namespace

namespace {

int64_t micros(std::chrono::steady_clock::time_point from,
               std::chrono::steady_clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

int64_t micros_since(std::chrono::steady_clock::time_point from) {
  return micros(from, std::chrono::steady_clock::now());
}

// How long a dismissed standby may take to exit before SIGKILL (it exits at once: its
// control pipe closed).
constexpr int kDismissTimeoutMs = 2000;

// A standby whose build failed is made again after kStandbyRetryFirstMs, then twice as late
// each time, kStandbyRetries times (about a minute in all): a failure that passes (a daemon
// restarting under load, a net helper restarting) costs one START made the whole way, not
// every START until the next run. After those, every kStandbyRetrySlowMs for as long as it
// fails: a cause that lasts longer (a full disk, an address taken by another program) is
// noticed once it is gone, at the cost of one build attempt per instance per interval.
constexpr int kStandbyRetryFirstMs = 1000;
constexpr int kStandbyRetries = 6;
constexpr int kStandbyRetrySlowMs = 5 * 60 * 1000;

}  // namespace

MonitorEvents Instances::events_for(const std::string& sha1, uint64_t gen) {
  // The run of this generation, else nullptr.
  auto run = [this, sha1, gen]() -> Runtime* {
    auto it = running_.find(sha1);
    return it != running_.end() && it->second->generation == gen ? it->second.get() : nullptr;
  };
  auto standby = [this, sha1, gen]() -> Standby* {
    auto it = standbys_.find(sha1);
    return it != standbys_.end() && it->second->generation == gen ? it->second.get() : nullptr;
  };
  MonitorEvents ev;
  ev.on_ptys = [run, standby](const std::string& inner, const std::string& outer) {
    if (Runtime* rt = run()) {
      rt->inner_pts = inner;
      rt->outer_pts = outer;
    } else if (Standby* sb = standby()) {
      sb->inner_pts = inner;
      sb->outer_pts = outer;
    }
  };
  ev.on_namespaces_ready = [this, sha1, gen, run, standby]() {
    if (standby() != nullptr) return standby_network(sha1, gen);
    Runtime* rt = run();
    if (rt == nullptr || rt->phase != Phase::kStarting) return;
    if (d_.network == nullptr) {
      rt->awaited = "the monitor did not report PID 1";
      rt->run_sent = std::chrono::steady_clock::now();
      return rt->monitor->proceed();
    }
    auto r = d_.catalogue.get_instance(sha1);
    if (!r.ok() || !*r) return rt->monitor->kill_monitor();
    const NetworkPlan plan = plan_for(**r, rt->monitor->monitor_pid());
    rt->net_plan = plan;
    rt->awaited = "the network helper did not finish";
    // Between unshare and pivot_root, while the monitor waits.
    net_enqueue(sha1, [this, gen, plan, run](std::function<void()> finish) {
      d_.network->setup(plan, [gen, run, finish](Status s) {
        Runtime* rt2 = run();
        if (rt2 != nullptr && rt2->phase == Phase::kStarting) {
          if (s.ok()) {
            rt2->awaited = "the monitor did not report PID 1";
            FW_FAULT_POINT("start.network_ready");
            rt2->run_sent = std::chrono::steady_clock::now();
            rt2->monitor->proceed();
          } else {
            rt2->start_error = s.error().wrap("setting up the network");
            rt2->monitor->kill_monitor();
          }
        }
        (void)gen;
        finish();
      });
    });
  };
  ev.on_sandbox = [this, sha1, run, standby](int64_t dev_us, int64_t pivot_us, int64_t init_us) {
    log::debug("instance " + sha1 + ": sandbox /dev, console and binds: " + std::to_string(dev_us) +
                   " us, pivot: " + std::to_string(pivot_us) +
                   " us, PID 1: " + std::to_string(init_us) + " us",
               log::instance("", sha1));
    if (Standby* sb = standby()) {
      sb->state = SandboxState::kReady;
      sb->was_ready = true;
      standby_attempts_.erase(sha1);
      log::debug("instance " + sha1 + ": sandbox made in " +
                     std::to_string(micros_since(sb->launched)) + " us, standing by",
                 log::instance("", sha1));
      return;
    }
    // A standby START took over while it was being made: on with PID 1 at once.
    Runtime* rt = run();
    if (rt == nullptr || rt->phase != Phase::kStarting) return;
    rt->awaited = "the monitor did not report PID 1";
    rt->run_sent = std::chrono::steady_clock::now();
    rt->monitor->run();
  };
  ev.on_started = [this, sha1, run](int64_t pid) {
    if (run() != nullptr) on_started(sha1, pid);
  };
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
  ev.on_failed = [this, sha1, run, standby](const Error& e) {
    // The first cause wins: a KILL, a timeout or a network failure recorded before the
    // monitor died explains its death better than "the monitor died".
    if (Runtime* rt = run(); rt != nullptr && !rt->start_error) {
      rt->start_error = e;
    } else if (Standby* sb = standby(); sb != nullptr && !sb->failure) {
      sb->failure = e;
      sandbox_failed_[sha1] = e.message;
    }
  };
  ev.on_exited = [this, sha1, gen, run, standby](std::optional<int> status) {
    if (run() != nullptr) return on_exited(sha1, status);
    if (standby() != nullptr) standby_exited(sha1, gen);
  };
  return ev;
}

std::string Instances::sandbox_of(const std::string& sha1) const {
  if (auto it = standbys_.find(sha1); it != standbys_.end()) {
    return it->second->state == SandboxState::kReady ? "ready" : "building";
  }
  return sandbox_failed_.count(sha1) != 0 ? "failed" : "none";
}

LaunchSpec Instances::spec_for(const catalogue::InstanceRecord& r) const {
  const Workspace ws = workspace(r.sha1);
  LaunchSpec spec{r.name, r.sha1, ws.merged(), ws.dir(), r.cmdline};
  if (d_.profiles != nullptr && d_.profiles->enabled()) {
    spec.apparmor_profile = d_.profiles->profile_name(r.sha1);
  }
  spec.uid_base = userns_effective(r) ? r.uid_base : 0;
  spec.time_offset = r.time_offset;
  spec.binds = r.binds;
  spec.console_log_max = d_.config.console_log_max();
  return spec;
}

Status Instances::settle_for_launch(catalogue::InstanceRecord& rec) {
  if (userns_effective(rec) && rec.uid_base == 0) {
    // Made before user namespaces existed, or AppArmor went away: give it its id range and
    // remount its overlay for it.
    FW_TRY(set_userns(rec, rec.userns));
  }
  // A fresh writable root for every run: a firmware that remounted / read-only at shutdown
  // (busybox's umount -a -r, sysvinit's umountroot) made the overlay's superblock, which the
  // host's union mount shares, read-only. Only a new superblock undoes that.
  const Workspace ws = workspace(rec.sha1);
  if (auto ro = d_.mounter.is_read_only(ws.merged()); ro.ok() && *ro) {
    log::notice(
        "instance " + rec.name + ": its root was left read-only by its last run, remounting",
        log::instance(rec.name, rec.sha1));
    FW_TRY_CTX(remount_workspace(rec, rec), "remounting its root");
  }
  return {};
}

void Instances::build_standby(const std::string& sha1) {
  if (!d_.config.premade_sandbox() || shutting_down_ || running_.count(sha1) != 0 ||
      standbys_.count(sha1) != 0 || dropping_.count(sha1) != 0) {
    return;
  }
  auto found = d_.catalogue.get_instance(sha1);
  if (!found.ok() || !*found) return;
  catalogue::InstanceRecord rec = **found;
  // The host keeps a stolen interface while the instance is ready: START makes the whole
  // sandbox of such an instance.
  if (!rec.stolen_interface.empty()) return;
  sandbox_failed_.erase(sha1);
  auto failed = [&](const Error& e) {
    sandbox_failed_[sha1] = e.message;
    retry_standby(sha1);
  };
  const auto t0 = std::chrono::steady_clock::now();
  if (auto s = settle_for_launch(rec); !s.ok()) return failed(s.error());
  LaunchSpec spec = spec_for(rec);
  spec.standby = true;
  if (d_.cgroups != nullptr) {
    auto dirs = d_.cgroups->create(sha1, limits_of(rec), spec.uid_base);
    if (!dirs.ok()) return failed(dirs.error().wrap("its cgroup"));
    spec.cgroups = std::move(*dirs);
  }
  const uint64_t gen = ++generations_;
  auto mon = d_.launcher.launch(spec, events_for(sha1, gen));
  if (!mon.ok()) {
    if (d_.cgroups != nullptr) (void)d_.cgroups->remove(sha1);
    return failed(mon.error());
  }
  auto sb = std::make_unique<Standby>();
  sb->monitor = std::move(*mon);
  sb->generation = gen;
  sb->launched = t0;
  log::debug("instance " + rec.name + ": sandbox monitor spawned in " +
                 std::to_string(micros_since(t0)) + " us",
             log::instance(rec.name, sha1));
  standbys_[sha1] = std::move(sb);
}

void Instances::standby_network(const std::string& sha1, uint64_t gen) {
  Standby& sb = *standbys_[sha1];
  sb.namespaces = std::chrono::steady_clock::now();
  log::debug("instance " + sha1 + ": sandbox namespaces in " +
                 std::to_string(micros(sb.launched, sb.namespaces)) + " us",
             log::instance("", sha1));
  sb.awaited = "the monitor did not report its sandbox";
  if (d_.network == nullptr) return sb.monitor->proceed();
  auto r = d_.catalogue.get_instance(sha1);
  if (!r.ok() || !*r) return dismiss_standby(sha1);
  const NetworkPlan plan = plan_for(**r, sb.monitor->monitor_pid());
  sb.net_plan = plan;
  sb.awaited = "the network helper did not finish";
  net_enqueue(sha1, [this, sha1, gen, plan](std::function<void()> finish) {
    d_.network->setup(plan, [this, sha1, gen, finish](Status s) {
      // The standby, or the run that took it over.
      auto sit = standbys_.find(sha1);
      auto rit = running_.find(sha1);
      if (sit != standbys_.end() && sit->second->generation == gen) {
        if (s.ok()) {
          sit->second->awaited = "the monitor did not report its sandbox";
          sit->second->monitor->proceed();
        } else {
          // Undone by the setup itself; the monitor goes (its exit cleans up the rest, then
          // the build is retried). A START meanwhile does not take this standby over.
          const Error e = s.error().wrap("setting up the network");
          sit->second->failure = e;
          sandbox_failed_[sha1] = e.message;
          sit->second->monitor->kill_monitor();
        }
      } else if (rit != running_.end() && rit->second->generation == gen &&
                 rit->second->phase == Phase::kStarting) {
        if (s.ok()) {
          rit->second->awaited = "the monitor did not report its sandbox";
          FW_FAULT_POINT("start.network_ready");
          rit->second->monitor->proceed();
        } else {
          rit->second->start_error = s.error().wrap("setting up the network");
          rit->second->monitor->kill_monitor();
        }
      }
      finish();
    });
  });
}

void Instances::release_sandbox(const std::string& sha1, const std::optional<NetworkPlan>& plan) {
  if (d_.cgroups != nullptr) {
    if (auto s = d_.cgroups->remove(sha1); !s.ok()) {
      log::warning("instance " + sha1 + ": removing the cgroup of its standby: " +
                       s.error().message + " (removed at the next daemon start)",
                   log::instance("", sha1));
    }
  }
  if (d_.network != nullptr && plan) {
    net_enqueue(sha1, [this, p = *plan](std::function<void()> finish) {
      d_.network->teardown(p, [finish](Status) { finish(); });
    });
  }
}

void Instances::dismiss_standby(const std::string& sha1) {
  sandbox_failed_.erase(sha1);
  standby_attempts_.erase(sha1);  // what it is made from changed: a new series of attempts
  auto it = standbys_.find(sha1);
  if (it == standbys_.end()) return;
  std::unique_ptr<Standby> sb = std::move(it->second);
  standbys_.erase(it);
  if (auto s = sb->monitor->dismiss(kDismissTimeoutMs); !s.ok()) {
    log::warning("instance " + sha1 + ": ending its standby: " + s.error().message,
                 log::instance("", sha1));
  }
  sb->monitor.reset();
  release_sandbox(sha1, sb->net_plan);
}

void Instances::rebuild_standby(const std::string& sha1) {
  if (running_.count(sha1) != 0) return;  // the next one is made when the run ends
  dismiss_standby(sha1);
  schedule_standby(sha1);
}

void Instances::standby_exited(const std::string& sha1, uint64_t gen) {
  auto it = standbys_.find(sha1);
  if (it == standbys_.end() || it->second->generation != gen) return;
  std::unique_ptr<Standby> sb = std::move(it->second);
  standbys_.erase(it);
  release_sandbox(sha1, sb->net_plan);
  if (sb->was_ready && !sb->failure) {
    // Killed by hand, by the OOM killer...: made again (a failure then is retried).
    log::notice("instance " + sha1 + ": its standby sandbox died, making it again",
                log::instance("", sha1));
    schedule_standby(sha1);
    return;
  }
  if (sandbox_failed_.count(sha1) == 0) {
    sandbox_failed_[sha1] = "the monitor died before its sandbox was made (see " +
                            workspace(sha1).dir() + "/monitor.log)";
  }
  retry_standby(sha1);
}

void Instances::retry_standby(const std::string& sha1) {
  auto r = d_.catalogue.get_instance(sha1);
  const std::string name = r.ok() && *r ? (*r)->name : sha1;
  const std::string why = "instance " + name +
                          ": its sandbox was not made ahead of START: " + sandbox_failed_[sha1] +
                          " (START makes it";
  const int attempt = ++standby_attempts_[sha1];
  const auto fields = log::instance(name == sha1 ? "" : name, sha1);
  if (shutting_down_) {
    log::info(why + "; the daemon is stopping)", fields);
    return;
  }
  int delay_ms = kStandbyRetrySlowMs;
  if (attempt <= kStandbyRetries) {
    delay_ms = kStandbyRetryFirstMs << (attempt - 1);
    log::warning(why + "; trying again in " + std::to_string(delay_ms / 1000) + " s)", fields);
  } else if (attempt == kStandbyRetries + 1) {
    log::warning(why + "; tried " + std::to_string(attempt) + " times, trying again every " +
                     std::to_string(delay_ms / 60000) + " min while it fails)",
                 fields);
  } else {
    // Said once at warning level above; the slow attempts that fail again are details.
    log::info(why + "; attempt " + std::to_string(attempt) + ", trying again in " +
                  std::to_string(delay_ms / 60000) + " min)",
              fields);
  }
  d_.timers.after(delay_ms, [this, sha1, attempt]() {
    // Unless a build succeeded, a change or a run began a new series since.
    auto it = standby_attempts_.find(sha1);
    if (it != standby_attempts_.end() && it->second == attempt) schedule_standby(sha1);
  });
}

void Instances::take_standby(const std::string& sha1, Runtime* rt) {
  auto it = standbys_.find(sha1);
  std::unique_ptr<Standby> sb = std::move(it->second);
  standbys_.erase(it);
  rt->monitor = std::move(sb->monitor);
  rt->generation = sb->generation;
  rt->net_plan = sb->net_plan;
  rt->inner_pts = sb->inner_pts;
  rt->outer_pts = sb->outer_pts;
  rt->from_standby = true;
  const bool ready = sb->state == SandboxState::kReady;
  rt->awaited = ready ? "the monitor did not report PID 1" : sb->awaited;
  auto r = d_.catalogue.get_instance(sha1);
  Status recorded = !r.ok() ? Status(r.error())
                    : !*r   ? Status(make_error(ENOENT, "instance record vanished"))
                            : Status();
  if (recorded.ok()) {
    // The intent first: a daemon that dies from here on finds the instance "starting" and
    // settles it with the monitor's lock.
    catalogue::InstanceRecord rec = **r;
    rec.state = "starting";
    rec.monitor_pid = rt->monitor->monitor_pid();
    rec.monitor_start_time = rt->monitor->monitor_start_time();
    rec.init_pid = 0;
    recorded = d_.catalogue.put_instance(rec);
  }
  if (!recorded.ok()) {
    rt->start_error = recorded.error();
    rt->monitor->kill_monitor();  // on_exited answers
    return;
  }
  FW_FAULT_POINT("start.intent_recorded");
  FW_FAULT_POINT("start.monitor_spawned");  // (the standby's monitor, spawned ahead)
  const uint64_t gen = rt->generation;
  d_.timers.after(kStartTimeoutMs, [this, sha1, gen]() {
    auto it2 = running_.find(sha1);
    if (it2 == running_.end() || it2->second->generation != gen ||
        it2->second->phase != Phase::kStarting) {
      return;
    }
    it2->second->start_error =
        make_error(ETIMEDOUT, "PID 1 was not started: " + it2->second->awaited + " within " +
                                  std::to_string(kStartTimeoutMs / 1000) + " s");
    it2->second->monitor->kill_monitor();
  });
  if (ready) {
    FW_FAULT_POINT("start.network_ready");  // (made with the standby)
    rt->run_sent = std::chrono::steady_clock::now();
    rt->monitor->run();
  }
}

void Instances::start(const std::string& id, StartDone done) {
  const auto asked = std::chrono::steady_clock::now();
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
  rt->generation = ++generations_;
  rt->asked = asked;
  rt->start_waiters.push_back(std::move(done));
  Runtime* raw = rt.get();
  running_[r->sha1] = std::move(rt);
  if (auto sb = standbys_.find(r->sha1); sb != standbys_.end()) {
    if (!sb->second->failure) {
      sandbox_failed_.erase(r->sha1);
      standby_attempts_.erase(r->sha1);
      return take_standby(r->sha1, raw);
    }
    // Its build failed (its monitor is going): START makes the sandbox the whole way, after
    // the standby's exit and its network's teardown, rather than report the death of a
    // monitor it did not start.
    log::info("instance " + r->name + ": its standby failed (" + sb->second->failure->message +
                  "), START makes the sandbox itself",
              log::instance(r->name, r->sha1));
    dismiss_standby(r->sha1);
  }
  sandbox_failed_.erase(r->sha1);
  standby_attempts_.erase(r->sha1);
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
  if (auto s = settle_for_launch(rec); !s.ok()) {
    auto waiters = std::move(raw->start_waiters);
    running_.erase(r.sha1);
    for (auto& w : waiters) w(s.error().wrap("starting instance " + r.name));
    return;
  }
  LaunchSpec spec = spec_for(rec);
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
  const auto spawn_t0 = std::chrono::steady_clock::now();
  auto mon = recorded.ok() ? d_.launcher.launch(spec, events_for(r.sha1, raw->generation))
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
  log::debug("instance " + r.name + ": START monitor spawned in " +
                 std::to_string(micros_since(spawn_t0)) + " us",
             log::instance(r.name, r.sha1));
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
  std::vector<std::string> sha1s;
  for (const auto& [sha1, rt] : running_) sha1s.push_back(sha1);
  for (const auto& [sha1, sb] : standbys_) sha1s.push_back(sha1);
  for (const auto& sha1 : sha1s) {
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
  const auto now = std::chrono::steady_clock::now();
  log::debug("instance " + rec.name + ": START " +
                 (rt.from_standby ? "from its standby" : "without a standby") + ": PID 1 exec'd " +
                 std::to_string(micros(rt.run_sent, now)) + " us after " +
                 (rt.from_standby ? "RUN" : "GO") + ", critical path (request to reply) " +
                 std::to_string(micros(rt.asked, now)) + " us",
             log::instance(rec.name, sha1));
  log::info("instance " + rec.name + " started, PID 1 is host pid " + std::to_string(init_pid),
            log::instance(rec.name, sha1) + log::firmware("", rec.firmware_sha1));
  d_.events.emit("STARTED", {{"folder", std::string(kFolder)},
                             {"sha1", sha1},
                             {"name", rec.name},
                             {"init_pid", init_pid}});
  auto waiters = std::move(rt.start_waiters);
  for (auto& w : waiters) w(EntitySummary{sha1, rec.name, true, ""});
}

}  // namespace fw::core
