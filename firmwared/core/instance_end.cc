// The end of a run (docs/architecture.md "The end of a run"): the monitor has reaped PID 1
// and exited. The reply (KILL, STOP, a failed START) and DEAD go out once the record says
// ready; what only the instance's next run needs done — its cgroup removed (off the loop),
// its network torn down through the net helper — is one operation of the instance's queue
// (net_enqueue), which the next START and the next standby build of the instance wait for.
// A stolen interface is the exception: the reply waits until it is back on the host.

#include <signal.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "firmwared/base/log.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"

namespace fw::core {

namespace {

constexpr const char* kFolder = "instances";

int64_t micros_since(std::chrono::steady_clock::time_point from) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               from)
      .count();
}

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
  const auto exited = std::chrono::steady_clock::now();
  std::unique_ptr<Runtime> rt = std::move(it->second);
  running_.erase(it);
  auto r = d_.catalogue.get_instance(sha1);
  std::string name = r.ok() && *r ? (*r)->name : sha1;
  if (rt->end_asked) {
    log::debug("run end: request to monitor exit of " + name + ": " +
                   std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                      exited - *rt->end_asked)
                                      .count()) +
                   " us",
               log::instance(name == sha1 ? "" : name, sha1));
  }
  const bool was_started = rt->phase == Phase::kStarted || rt->phase == Phase::kStopping;
  std::string reason = exit_reason(rt->ending, rt->stop_timed_out, status);
  uint64_t oom_kills = 0;
  // Read now: the cgroup is removed after the reply.
  if (d_.cgroups != nullptr) {
    if (auto st = d_.cgroups->stats(sha1); st.ok()) oom_kills = st->oom_kills;
  }
  if (reason == "exited" && status == 128 + SIGKILL && oom_kills > 0) reason = "oom";
  bool restart = false;
  if (r.ok() && *r) {
    auto rec = **r;
    const bool recorded_started = rec.state == "started" || rec.state == "stopping";
    rec.state = "ready";
    if (recorded_started || status) rec.exit_status = status;
    if (was_started) rec.exit_reason = reason;
    restart = was_started && reason == "reboot" && rec.on_reboot == "restart";
    // Ready from here on, for a daemon that dies too: its next start sweeps the cgroup, the
    // veth, the filter and the namespace pin this run leaves (restore()).
    if (auto s = d_.catalogue.put_instance(rec); !s.ok()) {
      log::error("instance " + name + ": recording its death: " + s.error().message,
                 log::instance(name, sha1));
    }
  }
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
    if (run.end_asked) {
      log::debug("run end: request to reply of " + name + ": " +
                     std::to_string(micros_since(*run.end_asked)) + " us",
                 log::instance(name == sha1 ? "" : name, sha1));
    }
    if (restart && run.kill_waiters.empty()) restart_after_reboot(sha1, name);
    // The next run's sandbox, fresh: nothing of this run is in it (none while a restart runs).
    // Built once the release below is done (the instance's queue).
    schedule_standby(sha1);
  };
  const std::optional<NetworkPlan> plan =
      d_.network != nullptr ? shared->net_plan : std::optional<NetworkPlan>();
  // Only a stolen interface holds the reply: the host gets it back first.
  const bool reply_after = plan && !plan->stolen.empty();
  release_run(sha1, name, plan, reply_after ? settle : std::function<void()>());
  if (!reply_after) settle();
}

void Instances::release_run(const std::string& sha1, const std::string& name,
                            const std::optional<NetworkPlan>& plan, std::function<void()> then) {
  if (d_.cgroups == nullptr && !plan) {
    if (then) then();
    return;
  }
  net_enqueue(sha1, [this, sha1, name, plan, then](std::function<void()> finish) {
    // The cgroup (on a worker thread: rmdir of a cgroup whose processes just died may have to
    // wait for them) and the network (through the net helper) at once; the operation ends
    // when both are done.
    auto left = std::make_shared<int>((d_.cgroups != nullptr ? 1 : 0) + (plan ? 1 : 0));
    auto one_done = [left, then, finish]() {
      if (--*left > 0) return;
      if (then) then();
      finish();
    };
    if (plan) {
      const auto t0 = std::chrono::steady_clock::now();
      d_.network->teardown(*plan, [name, t0, one_done](Status) {
        log::debug("run end: network teardown of " + name + ": " +
                   std::to_string(micros_since(t0)) + " us");
        one_done();
      });
    }
    if (d_.cgroups != nullptr) remove_cgroup(sha1, name, one_done);
  });
}

void Instances::remove_cgroup(const std::string& sha1, const std::string& name,
                              std::function<void()> done) {
  // A few at a time: rmdir serialises on the kernel's cgroup lock anyway, and a thread per
  // removal for 100 runs ended at once would only add threads competing with the replies.
  cgroup_removals_.push_back([this, sha1, name, done]() {
    auto result = std::make_shared<Status>();
    auto t0 = std::make_shared<std::chrono::steady_clock::time_point>();
    auto work = [cgroups = d_.cgroups, sha1, result, t0]() {
      *t0 = std::chrono::steady_clock::now();
      *result = cgroups->remove(sha1);  // PID 1 is reaped: whatever remains is killed with it
    };
    auto after = [this, sha1, name, result, t0, done]() {
      log::debug("run end: cgroup removal of " + name + ": " + std::to_string(micros_since(*t0)) +
                 " us");
      if (!result->ok()) {
        log::warning("instance " + name + ": removing its cgroup: " + result->error().message +
                         " (removed at the next daemon start)",
                     log::instance(name == sha1 ? "" : name, sha1));
      }
      --cgroup_removing_;
      done();
      next_cgroup_removal();
    };
    ++cgroup_removing_;
    if (d_.executor == nullptr) {
      work();
      return after();
    }
    d_.executor->run(std::move(work), std::move(after));
  });
  next_cgroup_removal();
}

void Instances::next_cgroup_removal() {
  while (cgroup_removing_ < kMaxCgroupRemovals && !cgroup_removals_.empty()) {
    auto job = std::move(cgroup_removals_.front());
    cgroup_removals_.pop_front();
    job();
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

}  // namespace fw::core
