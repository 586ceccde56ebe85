#pragma once
// The instances folder: prepare a workspace over a
// firmware, start it through a monitor, track it, kill it, remount, drop, and re-adopt
// running instances after a daemon restart.
//
// States: ready → starting → started → stopping → ready. "starting" is the window between
// START and PID 1's exec; the catalogue records "started" only once exec succeeded.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "firmwared/catalogue/catalogue.h"
#include "firmwared/config/config.h"
#include "firmwared/core/custom_properties.h"
#include "firmwared/core/events.h"
#include "firmwared/core/firmwares.h"
#include "firmwared/core/folder.h"
#include "firmwared/core/instance_cgroups.h"
#include "firmwared/core/instance_mounter.h"
#include "firmwared/core/labels.h"
#include "firmwared/core/launcher.h"
#include "firmwared/core/names.h"
#include "firmwared/core/network.h"
#include "firmwared/core/profiles.h"
#include "firmwared/core/property_ref.h"
#include "firmwared/core/trash.h"
#include "firmwared/core/workspace.h"

#include <deque>

namespace fw::core {

struct InstancesDeps {
  catalogue::Catalogue& catalogue;
  const config::Config& config;
  EventSink& events;
  const WordLists& words;
  Firmwares& firmwares;
  InstanceMounter& mounter;
  Launcher& launcher;
  Timers& timers;
  Network* network = nullptr;          // null: instances get no network (unit tests)
  ProfileManager* profiles = nullptr;  // null: no AppArmor profiles (unit tests)
  Executor* executor = nullptr;        // where the trash is emptied; null: at once (unit tests)
  InstanceCgroups* cgroups = nullptr;  // null: instances get no cgroup of their own
};

struct KillResult {
  std::string sha1, name;
  std::optional<int> exit_status;
  // Why the run ended: "killed" (KILL), "stopped" (PID 1 ended after the stop signal),
  // "stop-timeout" (SIGKILL after the STOP's timeout), or for a run that ended on its own
  // "exited", "reboot", "halt", "oom"; "" unknown.
  std::string reason;
  std::string signal;  // STOP: the stop signal sent ("SIGRTMIN+3"); KILL: "SIGKILL"
};

using StartDone = std::function<void(Result<EntitySummary>)>;
using KillDone = std::function<void(Result<KillResult>)>;

// Milliseconds a START may take before the monitor is killed, and a KILL before the
// monitor is killed too.
inline constexpr int kStartTimeoutMs = 15000;
inline constexpr int kKillTimeoutMs = 5000;
// A STOP's default and largest timeout, in seconds.
inline constexpr int kDefaultStopTimeoutS = 10;
inline constexpr int kMaxStopTimeoutS = 3600;
// A firmware that reboots this many times within kRebootWindowS is left stopped.
inline constexpr int kMaxReboots = 5;
inline constexpr int kRebootWindowS = 60;
// How long standby builds wait for the replies of STARTs, STOPs and KILLs under way before
// they begin anyway, and how often a waiting build checks again.
inline constexpr int kStandbyDeferMaxMs = 5000;
inline constexpr int kStandbyPollMs = 10;

class Instances final : public Folder {
 public:
  explicit Instances(InstancesDeps deps);
  ~Instances() override;

  // At daemon start: re-adopts instances whose monitor still runs, marks the others ready
  // (recording their exit status if the monitor left one), gives back stolen interfaces
  // and removes veths of dead instances, and mounts their overlays.
  Status restore();
  // Host veth names of the running instances and of the standbys (for the leftover sweep at
  // start).
  std::vector<std::string> running_host_interfaces();
  // Daemon shutdown: every standby is dismissed (their network teardown queued), none is made
  // any more. settled(): no network operation or trash deletion is under way.
  void shutdown();
  bool settled() const { return net_queues_.empty() && trash_.pending() == 0; }
  // "none", "building", "ready" or "failed": the standby sandbox of `sha1` (SHOW's sandbox).
  std::string sandbox_of(const std::string& sha1) const;
  // Standby builds under way at once at most: twice the CPUs (at least 2).
  static size_t standby_build_cap();

  const std::string& name() const override { return name_; }
  void prepare(const std::string& source, const std::optional<std::string>& cwd,
               PrepareDone done) override;
  // A path is imported as firmware with the client's rights (Firmwares::prepare_as).
  void prepare_as(const sys::ClientCredentials& client, const std::string& source,
                  const std::optional<std::string>& cwd, PrepareDone done) override;
  // PREPARE instances SOURCE name=NAME label=KEY=VALUE...: the name (validate_name, EEXIST
  // when another instance has it) and labels (parse_labels) are checked before anything is
  // imported or created.
  void prepare_with(const sys::ClientCredentials& client, const std::string& source,
                    const std::optional<std::string>& cwd, const PrepareOptions& options,
                    PrepareDone done) override;
  Result<std::vector<EntitySummary>> list() override;
  Result<std::vector<PropertyValue>> show(const std::string& id) override;
  Result<std::string> get_property(const std::string& id, const std::string& prop) override;
  Status set_property(const std::string& id, const std::string& prop,
                      const std::string& value) override;
  // EPERM for a non-root client setting stolen_interface to an interface outside the
  // `stealable_interfaces` allowlist, or a non-empty stolen_btusb (see check_may_steal).
  Status set_property_as(const sys::ClientCredentials& client, const std::string& id,
                         const std::string& prop, const std::string& value) override;
  Result<std::vector<std::string>> property_names() override;
  Result<std::string> add_property(const std::string& name) override;
  // DROP (ready only, else EBUSY): unmounts, moves the workspace to the trash (unless
  // prevent_removal), forgets the instance and answers; the trash entry is deleted off the
  // loop.
  Result<EntitySummary> drop(const std::string& id) override;
  // DROP as the server runs it: once the standby's network is torn down.
  void drop_then(const std::string& id, DropDone done) override;
  // <mount_path>/trash, shared with the snapshots folder.
  Trash& trash() { return trash_; }

  // START: answers once PID 1 exec'd (or failed). EBUSY unless ready.
  void start(const std::string& id, StartDone done);
  // KILL: answers once the monitor reaped PID 1. ECHILD when not started. A KILL during a
  // STOP sends SIGKILL at once (the STOP's waiters get reason "killed").
  void kill(const std::string& id, KillDone done);
  // STOP: sends the stop signal (`signal`, else the instance's stop_signal, else its
  // firmware's; shifted for qemu-user) to PID 1, SIGKILL after `timeout_s` seconds (default
  // kDefaultStopTimeoutS); answers once PID 1 is reaped, saying which of the two ended it.
  // ECHILD when not started; EINVAL for a bad signal or timeout; a STOP of a starting
  // instance cancels the START (as KILL does); a STOP during a STOP or KILL waits for it.
  void stop(const std::string& id, const std::optional<std::string>& signal,
            const std::optional<std::string>& timeout_s, KillDone done);
  // The signal STOP sends to `r` by default (its own stop_signal, else its firmware's).
  std::string stop_signal_of(const catalogue::InstanceRecord& r) const;
  // For EXEC: a pidfd of the started instance's PID 1 (owned by the instance). EBUSY when
  // the instance is not started.
  Result<int> init_pidfd(const std::string& id);
  // The cgroup directories ("KIND:DIR") an EXEC in instance `sha1` joins; empty without
  // cgroups.
  std::vector<std::string> cgroup_dirs(const std::string& sha1) const {
    return d_.cgroups != nullptr ? d_.cgroups->dirs(sha1) : std::vector<std::string>();
  }
  // STATS: the cgroup counters of a started instance. ECHILD when not started, ENOTSUP when
  // the daemon runs without cgroups.
  Result<sys::CgroupStats> stats(const std::string& id);
  // REMOUNT: unmounts and remounts the overlay (ready only, else EBUSY).
  Result<EntitySummary> remount(const std::string& id);

  // "ready", "starting", "started" or "stopping".
  std::string state_of(const std::string& sha1) const;
  // The console's outer pts of a started instance ("" otherwise).
  std::string outer_pts(const std::string& sha1) const;
  Result<catalogue::InstanceRecord> find(const std::string& id);
  Workspace workspace(const std::string& sha1) const;
  // Every catalogued instance's workspace directory, by sha1 (for the AppArmor profiles at
  // daemon start).
  Result<std::map<std::string, std::string>> workspaces();
  // Whether `r` runs in a user namespace: userns y, or auto while AppArmor does not confine
  // instances (the ProfileManager's rule, the same one START and EXEC follow).
  bool userns_effective(const catalogue::InstanceRecord& r) const;
  // At daemon start: EINVAL when the userns_pool overlaps /etc/subuid or /etc/subgid.
  Status check_id_pool() const;

  // Snapshots (docs/diff.md "Snapshots"), in instance_snapshots.cc.
  // PREPARE snapshots ID: freezes the diff of a ready instance as a new snapshot (its upper
  // dir is moved, O(1)) and stacks the instance on it with an empty upper dir. EBUSY for a
  // started instance (no freezer: KILL it first). Every step is undone on failure.
  Result<EntitySummary> take_snapshot(const std::string& id);
  // RESTORE ID SNAPSHOT: discards the diff of a ready instance and stacks it on `snapshot`
  // (of the same firmware, else EINVAL). EBUSY unless ready.
  Result<EntitySummary> reset_to_snapshot(const std::string& id, const std::string& snapshot);
  Result<catalogue::SnapshotRecord> find_snapshot(const std::string& id);
  // <mount_path>/snapshots/<sha1>; the frozen upper dir is its "layer".
  std::string snapshot_dir(const std::string& sha1) const;

 private:
  struct Runtime;
  struct Standby;
  // The standby of `sha1` (premade_sandbox=y): made from the record as it is now, unless the
  // instance runs, has one, or takes a stolen interface. A failure is logged and recorded
  // (sandbox_of: "failed"); START then makes the sandbox itself.
  void build_standby(const std::string& sha1);
  // Queues build_standby() of `sha1` (instance_standby_queue.cc): builds begin once the
  // loop has sent what it is sending, at most standby_build_cap() at a time, after the
  // instance's queued operations (its previous run's release), and not while a START, STOP
  // or KILL waits for its reply (for at most kStandbyDeferMaxMs): they would compete with it
  // for the CPU, the kernel's mount and network locks and the net helper.
  void schedule_standby(const std::string& sha1);
  // Starts the builds schedule_standby() queued that may begin now; polls while some wait.
  void pump_standbys();
  void arm_standby_pump(int milliseconds);
  // Whether a START, STOP or KILL waits for its reply.
  bool lifecycle_pending() const;
  std::deque<std::string> standby_wanted_;  // sha1s, oldest first
  bool standby_pump_armed_ = false;
  std::optional<std::chrono::steady_clock::time_point> standby_deferred_since_;
  // Tears the standby of `sha1` down: its monitor is ended and awaited (with it its
  // namespaces and its view of the overlay), its cgroup removed, its network teardown queued.
  void dismiss_standby(const std::string& sha1);
  // A gone standby's cgroup removed, its network teardown queued (`plan`: when begun).
  void release_sandbox(const std::string& sha1, const std::optional<NetworkPlan>& plan);
  // dismiss_standby() then schedule_standby(): what it was built from changed.
  void rebuild_standby(const std::string& sha1);
  // The standby's monitor died: cleanup; made again at once if it was ready, else its failed
  // build is retried (retry_standby).
  void standby_exited(const std::string& sha1, uint64_t gen);
  // After a failed build (sandbox_failed_ says why, logged here): build_standby() again after
  // kStandbyRetryFirstMs, doubled at each consecutive failure, kStandbyRetries times; then
  // every kStandbyRetrySlowMs while it fails (SHOW's sandbox says "failed" meanwhile). A
  // run or a change begins a new series.
  void retry_standby(const std::string& sha1);
  void standby_network(const std::string& sha1, uint64_t gen);
  // START from the standby (ready, or still building: the run takes it over).
  void take_standby(const std::string& sha1, Runtime* rt);
  // The LaunchSpec of `r` (apparmor, userns, binds, limits' cgroup excepted).
  LaunchSpec spec_for(const catalogue::InstanceRecord& r) const;
  // Makes `rec` fit for a launch: its id range (userns) and a fresh writable root. Errors
  // name the step.
  Status settle_for_launch(catalogue::InstanceRecord& rec);
  std::map<std::string, std::unique_ptr<Standby>> standbys_;  // by sha1
  std::map<std::string, std::string> sandbox_failed_;         // by sha1: why
  std::map<std::string, int> standby_attempts_;               // by sha1: consecutive failed builds
  std::set<std::string> dropping_;                            // DROP under way: no standby
  uint64_t generations_ = 0;  // of runs and standbys: their events carry it
  bool shutting_down_ = false;
  // What a PREPARE asks of the instance it creates, checked.
  struct Wanted {
    std::string name;  // "" picks one from the word lists
    Labels labels;
  };
  Result<EntitySummary> create(const catalogue::FirmwareRecord& fw,
                               const std::string& snapshot_sha1 = "", const Wanted& wanted = {});
  Result<Wanted> check_wanted(const PrepareOptions& options);
  // SET_PROPERTY name (ready only, else EBUSY: the name is PID 1's hostname) and labels[].
  Status set_identity_property(catalogue::InstanceRecord& r, const PropertyRef& ref,
                               const std::string& value);
  // The lower layers of an instance, top first: its snapshot chain, then the firmware.
  Result<std::vector<std::string>> lower_stack(const std::string& firmware_sha1,
                                               const std::string& snapshot_sha1);
  // Moves the upper dir of `ws` to `layer` and gives the instance an empty rw (same mode and owner)
  // and work; the inverse of undo_freeze().
  Status freeze_upper(const Workspace& ws, const std::string& layer);
  void undo_freeze(const Workspace& ws, const std::string& layer);
  // The workspace's mounts as owners: destroyed, the overlay goes first, then the lower tree.
  struct WorkspaceMounts {
    Mounted lower, merged;
    void release() {
      merged.release();
      lower.release();
    }
  };
  // The workspace with its mounts taken down (the overlay, then the lower tree): destroyed,
  // they are put back in reverse order, unless release()d.
  struct WorkspaceUnmounted {
    std::optional<Unmounted> merged, lower;
    void release() {
      if (lower) lower->release();
      if (merged) merged->release();
    }
  };
  // The lower tree of `r` at its workspace's lower dir: the firmware's mount bound, or the
  // stack of its snapshot chain. EBUSY when the firmware is not mounted.
  Result<Mounted> mount_lower_tree(const catalogue::InstanceRecord& r);
  // `r`'s overlay at its workspace's merged dir (idmapped in a user namespace).
  Result<Mounted> mount_overlay_of(const catalogue::InstanceRecord& r);
  Result<WorkspaceMounts> mount_workspace(const catalogue::InstanceRecord& r);
  Result<WorkspaceUnmounted> unmount_workspace(const catalogue::InstanceRecord& r);
  // Swaps the mounts of `from` for those of `to` (the same record to remount); on failure
  // the workspace is left with the mounts of `from`.
  Status remount_workspace(const catalogue::InstanceRecord& from,
                           const catalogue::InstanceRecord& to);
  // Commits a mount put back by an undo; logs when it could not be.
  void put_back(const std::string& name, Result<Mounted> m);
  // The first free block of userns_pool for instance `sha1` (not held by another instance,
  // not overlapping /etc/subuid or /etc/subgid): ENOSPC when the pool is exhausted.
  Result<uint32_t> allocate_id_range(const std::string& sha1);
  // Makes `r` fit its userns mode: checks that its firmware's ids fit the mapped range and
  // gives it an id range when it runs in a user namespace, releases the range otherwise.
  Status settle_id_range(catalogue::InstanceRecord& r);
  // stop_signal, on_reboot and the limits: validated, stored (limits applied to a started
  // instance's cgroup first).
  Status set_runtime_property(catalogue::InstanceRecord& r, const std::string& prop,
                              const std::string& value);
  static sys::CgroupLimits limits_of(const catalogue::InstanceRecord& r);
  // Applies `r`'s limits to its cgroup when it runs (nothing otherwise: START applies them).
  Status apply_limits(const catalogue::InstanceRecord& r);
  // userns and time_offset (instance_properties.cc): validate, store, remount when the
  // mode changed.
  Status set_userns(catalogue::InstanceRecord& r, const std::string& value);
  // restore() of one instance: re-adopts its monitor (true) or kills an orphaned one, marks
  // it ready, releases its network and remounts its overlay once no monitor holds it.
  bool restore_one(catalogue::InstanceRecord& r);
  // true when `r`'s workspace is in the trash: a DROP interrupted after the rename, which
  // this finishes by forgetting the row.
  bool finish_interrupted_drop(const catalogue::InstanceRecord& r);
  // At start, after re-adoption: removes the cgroups of instances that do not run.
  void sweep_cgroups();
  // In instance_reconcile.cc: removes workspaces and snapshot layers without a row (through
  // the trash), finishes snapshot DROPs a crash interrupted, reports rows whose files are
  // gone. `records`: the instances still catalogued.
  void reconcile(const std::vector<catalogue::InstanceRecord>& records);
  // First thing at start: finishes interrupted snapshot DROPs, gives instances back the diff
  // an interrupted PREPARE snapshots froze, removes uncatalogued snapshot dirs.
  void reconcile_snapshots();
  // false when the diff could not be moved back (the dir must then be kept).
  bool undo_interrupted_snapshot(const std::string& dir);
  void remove_uncatalogued(const std::string& dir, const std::set<std::string>& known,
                           const std::string& kind);
  bool adopt_monitor(catalogue::InstanceRecord& r, int64_t monitor_pid, uint64_t start_time,
                     int64_t init_pid);
  // The events of a monitor of `sha1` launched as generation `gen`: they reach the run or
  // the standby of that generation (a standby taken over by START becomes the run).
  MonitorEvents events_for(const std::string& sha1, uint64_t gen);
  // Sends SIGKILL to PID 1 of a stopping run (the monitor too if that fails) and arms the
  // deadline after which the monitor is killed as well.
  // (`init_started` false: no PID 1 yet, only the monitor is killed.)
  void kill_run(const std::string& sha1, Runtime& rt, bool init_started = true);
  // After a reboot from inside: starts the instance again (on_reboot=restart), unless it
  // rebooted kMaxReboots times within kRebootWindowS.
  void restart_after_reboot(const std::string& sha1, const std::string& name);
  std::map<std::string, std::deque<int64_t>> reboots_;  // by sha1: times of recent reboots
  void on_started(const std::string& sha1, int64_t init_pid);
  // The end of a run (instance_end.cc): the record says ready, the waiters are answered, the
  // release of the run is queued (release_run).
  void on_exited(const std::string& sha1, std::optional<int> status);
  // Queues the release of an ended run of `sha1`: its cgroup removed (remove_cgroup) and,
  // with `plan`, its network torn down, both at once; `then` (if any) runs when both are
  // done. The instance's next START and standby build wait for it.
  void release_run(const std::string& sha1, const std::string& name,
                   const std::optional<NetworkPlan>& plan, std::function<void()> then);
  // Removes the cgroup of `sha1` on a worker thread (d_.executor; at once without one), then
  // runs `done` on the loop; a failure is logged (the next daemon start removes it).
  // At most kMaxCgroupRemovals at once; the others wait in cgroup_removals_, in order.
  void remove_cgroup(const std::string& sha1, const std::string& name, std::function<void()> done);
  void next_cgroup_removal();
  static constexpr int kMaxCgroupRemovals = 2;
  std::deque<std::function<void()>> cgroup_removals_;
  int cgroup_removing_ = 0;
  Status check_writable(const catalogue::InstanceRecord& r, const std::string& prop,
                        const std::string& value, std::vector<std::string>* cmdline);
  std::vector<PropertyValue> builtin_values(const catalogue::InstanceRecord& r) const;
  Result<std::string> new_name();
  NetworkPlan plan_for(const catalogue::InstanceRecord& r, int64_t monitor_pid) const;
  void launch(const catalogue::InstanceRecord& r, Runtime* rt);
  // Network operations of one instance run one at a time, in order (a START waits for the
  // previous run's teardown): each op calls `finish` when done.
  using NetOp = std::function<void(std::function<void()> finish)>;
  void net_enqueue(const std::string& sha1, NetOp op);
  void net_next(const std::string& sha1);
  std::map<std::string, std::deque<NetOp>> net_queues_;
  // Firmwares found to hold ids a user namespace cannot map (sha1 → the first such file);
  // "" when checked and fine. A firmware's tree never changes.
  std::map<std::string, std::string> unmappable_;

  std::string name_ = "instances";
  InstancesDeps d_;
  CustomProperties custom_;
  std::mt19937_64 rng_;
  std::map<std::string, std::unique_ptr<Runtime>> running_;  // by sha1
  Trash trash_;
};

// Validates an interface name as the kernel does (dev_valid_name): 1..15 bytes, not "."
// or "..", no '/', ':' or whitespace. EINVAL naming the rule.
Status validate_interface_name(const std::string& name);
// Validates `iface[:new_name[:cidr]]` ("" = none).
Status validate_stolen_interface(const std::string& value);
// The host_access an instance launches with, canonical ("none", "all", "tcp:22 udp:53"):
// its own, or for a record from before the property existed (""), the configuration's.
std::string effective_host_access(const catalogue::InstanceRecord& r, const config::Config& c);
// Whether `client` may set the launch property `prop` to `value`. Stealing a host
// interface takes it away from the host (it could be the uplink): root may steal any; other
// clients only one listed in `stealable` (the configuration's stealable_interfaces), else
// EPERM naming the interface and the key. stolen_btusb has no allowlist: root only. Clearing
// either ("") is always allowed; other properties are not checked here.
Status check_may_steal(const sys::ClientCredentials& client, const std::string& prop,
                       const std::string& value, const std::vector<std::string>& stealable);

}  // namespace fw::core
