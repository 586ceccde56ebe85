#pragma once
// Control groups for instances: the host's cgroup layout (unified cgroup2, or hybrid/legacy
// v1 hierarchies next to a cgroup2 mount), the daemon's own directory in every hierarchy
// (CgroupParent) and one cgroup per instance below it, with limits, a device policy
// (cgroup_devices.h), statistics and OOM notification. See cgroups(7).
//
// Every instance cgroup is named by the caller (a deterministic name such as the instance's
// 40-hex id), so a restarted daemon finds the leftovers of a crash with children() and
// removes them with remove(); "already gone" counts as success there.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

// One mounted cgroup hierarchy the daemon uses.
struct CgroupHierarchy {
  bool unified = false;  // cgroup2
  std::string mount;     // "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", ...
  // v1: the controllers named in the mount options, in their order ({"cpu", "cpuacct"},
  // {"name=systemd"}); v2: the controllers of <mount><self>/cgroup.controllers (filled by
  // discover(), empty from discover_from()).
  std::vector<std::string> controllers;
  std::string self;  // this process's cgroup in it, from /proc/self/cgroup ("/" or "/a/b")

  bool has(std::string_view controller) const;
  // <mount><self>: this process's cgroup directory.
  std::string self_dir() const;
};

// The hierarchies of the host that the daemon uses.
struct CgroupLayout {
  // Only the used ones, in mountinfo order: the cgroup2 mount, and the v1 hierarchies
  // holding name=systemd, memory, pids, cpu, cpuacct or devices. A hierarchy mounted twice
  // (same superblock) appears once, at its first mount.
  std::vector<CgroupHierarchy> hierarchies;
  bool unified_host = false;  // /sys/fs/cgroup itself is cgroup2 (else hybrid or legacy)

  // Reads /proc/self/mountinfo and /proc/self/cgroup (discover_from), then the cgroup2
  // hierarchy's <mount><self>/cgroup.controllers. Errors: reading those files (EACCES,
  // ENOENT when /proc is not mounted), ENOENT when no cgroup hierarchy is mounted.
  static Result<CgroupLayout> discover();
  // Pure parser: only mounts of a hierarchy's root ("/" in mountinfo's root field) count;
  // a used hierarchy that /proc/self/cgroup does not mention is left out. Octal escapes of
  // mount points (\040) are decoded. Errors: EINVAL for a malformed line of either text,
  // ENOENT when no used hierarchy is found.
  static Result<CgroupLayout> discover_from(std::string_view mountinfo,
                                            std::string_view proc_self_cgroup);

  // The cgroup2 hierarchy, or nullptr.
  const CgroupHierarchy* unified() const;
  // The v1 hierarchy holding `controller` ("memory", "name=systemd"), or nullptr.
  const CgroupHierarchy* v1(std::string_view controller) const;
};

struct CgroupLimits {
  std::optional<uint64_t> memory_max;  // bytes
  std::optional<uint64_t> pids_max;    // tasks (processes and threads)
  std::optional<uint32_t> cpu_weight;  // 1..10000, cgroup2 cpu.weight semantics (100 = default)
};

// What the kernel counts for an instance; a value the host cannot give is unset.
struct CgroupStats {
  std::optional<uint64_t> memory_current;  // bytes
  std::optional<uint64_t> memory_peak;     // bytes (v2 memory.peak needs Linux >= 5.19)
  std::optional<uint64_t> cpu_usec;        // CPU time used, microseconds
  std::optional<uint64_t> pids_current;    // tasks
  uint64_t oom_kills = 0;                  // processes killed by the OOM killer in it
};

// Where the daemon puts the instance cgroups. Started by hand (or by any other service), in
// <self>/<name> of every hierarchy. Started by systemd as its own unit with Delegate=yes,
// in the unit's cgroup itself, the subtree systemd delegated: the daemon moves into the
// leaf <unit>/supervisor (cgroups(7) "no internal processes": a cgroup that hands
// controllers to children holds no process) and makes each instance's cgroup beside it,
// <unit>/<sha1>, so instances are accounted to firmwared.service and survive a daemon
// restart there (KillMode=process).
inline constexpr const char* kSupervisorLeaf = "supervisor";

struct CgroupPlacement {
  // The delegated unit's cgroup path ("/system.slice/firmwared.service"), "" for the layout
  // of a daemon started by hand.
  std::string unit;
  // Why the unit's cgroup is not used although systemd started the daemon ("" otherwise).
  std::string note;
};

// Pure: delegated when `invocation_id` (INVOCATION_ID is set: systemd started this process or
// one of its ancestors) and this process's cgroup (the cgroup2 hierarchy's, else
// name=systemd's) is a firmwared service, "/…/firmwared[-@…]*.service", or its
// kSupervisorLeaf (systemd's DelegateSubgroup=supervisor, or a daemon that moved there). A
// daemon started from another service (a CI runner's) keeps the layout of a hand start:
// that cgroup is not delegated to it.
CgroupPlacement decide_placement(const CgroupLayout& layout, bool invocation_id);

// The daemon's own directory in every hierarchy, <mount><self>/<name>, where all instance
// cgroups live. It holds no kernel resource of its own (the directories outlive the object
// by design; remove_self_if_empty() removes them), so it is copyable.
class CgroupParent {
 public:
  // Makes <mount><self>/<name> (mode 0755, parents too) in every hierarchy of `layout`. On
  // cgroup2 it then enables the memory, pids and cpu controllers that <self> offers, in
  // <self>/cgroup.subtree_control and then in <name>'s. When <self> is not "/" and that
  // fails with EBUSY (cgroups(7) "no internal processes" rule: the daemon itself sits in
  // <self>), this process moves into <mount><self>/<name>.daemon (made here) and retries.
  // Controllers that still cannot be enabled are not an error: their limits then come from
  // a v1 hierarchy or are reported unavailable (ENOTSUP by set_limits). After such a move,
  // /proc/self/cgroup names <name>.daemon: discover the layout once, before open(). `name`
  // must be a plain file name. Errors: EINVAL (name), mkdir errors (EACCES, EROFS, ...)
  // naming the directory.
  static Result<CgroupParent> open(CgroupLayout layout, const std::string& name);
  // With a delegated `placement` (decide_placement()): in every hierarchy where this process
  // is in placement.unit (or its kSupervisorLeaf), the parent directory is
  // <mount><unit> itself and this process first moves into <mount><unit>/supervisor (made
  // here); controllers are enabled in <unit>/cgroup.subtree_control only (what systemd
  // delegated). Other hierarchies (a v1 controller systemd did not delegate) get
  // <self>/<name> as above. Errors: as open(), and writing cgroup.procs of the leaf.
  static Result<CgroupParent> open(CgroupLayout layout, const std::string& name,
                                   const CgroupPlacement& placement);
  // Whether hierarchy `index`'s parent directory is the delegated unit's cgroup.
  bool delegated(size_t index) const { return index < delegated_.size() && delegated_[index]; }

  // Makes the instance cgroup `child` (a plain file name) in every hierarchy, applies
  // `limits` (set_limits) and the instance device policy (cgroup_devices.h: a BPF program
  // attached to the cgroup2 directory with BPF_F_ALLOW_MULTI, and the v1 devices
  // controller's lists; each layer the host has must succeed). A leftover cgroup of that
  // name is removed first (remove()). When `delegate_uid` is not 0, the cgroup2 directory
  // and its cgroup.procs, cgroup.threads, cgroup.subtree_control, and the v1 name=systemd
  // directory and its cgroup.procs, tasks, notify_on_release, cgroup.clone_children are
  // chowned to delegate_uid:delegate_uid (cgroups(7) "Cgroups v2 delegation"). Returns the
  // child's directories, one per hierarchy in layout order: the monitor moves the instance's
  // PID 1 by writing its pid to <dir>/cgroup.procs of each. On failure, whatever was made is
  // removed. Errors: EINVAL (name, cpu_weight), ENOTSUP (a limit without controller, no
  // bpf(2) support), mkdir/write/chown/bpf errors naming the file.
  Result<std::vector<std::string>> create(const std::string& child, const CgroupLimits& limits,
                                          uint32_t delegate_uid);

  // Sets every limit of `child`; an unset one means no limit. cgroup2 (when the controller
  // is enabled for the children): memory.max, pids.max, cpu.weight; else v1:
  // memory.limit_in_bytes (-1 = none), pids.max, cpu.shares (weight * 1024 / 100, at least
  // 2; 1024 when unset). Errors: EINVAL for a cpu_weight outside 1..10000, ENOTSUP naming
  // the controller when a limit is requested but no hierarchy has it, write errors (EBUSY:
  // memory limit below current usage on v1, ...).
  Status set_limits(const std::string& child, const CgroupLimits& limits);

  // Reads the counters of `child`, each from the hierarchy that has the controller (v1
  // cpuacct before v2 cpu.stat): v2 memory.current, memory.peak, cpu.stat usage_usec,
  // pids.current, memory.events oom_kill; v1 memory.usage_in_bytes,
  // memory.max_usage_in_bytes, cpuacct.usage (ns -> us), pids.current, memory.oom_control
  // oom_kill. A counter whose file is missing stays unset. Errors: ENOENT when `child` does
  // not exist, read errors naming the file.
  Result<CgroupStats> stats(const std::string& child) const;

  // An fd (O_CLOEXEC|O_NONBLOCK) that becomes readable when the OOM killer acts in `child`:
  // v2: an inotify watch (IN_MODIFY) on memory.events; v1: an eventfd registered through
  // cgroup.event_control on memory.oom_control (it also fires when the cgroup is removed).
  // The caller drains it (read until EAGAIN) and calls stats() for oom_kills. Errors:
  // ENOTSUP without a memory controller, ENOENT (child), inotify/eventfd errors.
  Result<Fd> oom_notifier(const std::string& child) const;

  // Kills every process in `child`'s cgroups and removes them in every hierarchy. Kill:
  // cgroup.kill when the cgroup2 directory has it (Linux >= 5.14); and SIGKILL to each pid
  // of cgroup.procs of the directories and their sub-cgroups, repeated until all are empty
  // (bounded, about 2 s). Then rmdir depth-first (sub-cgroups the instance made first),
  // retrying EBUSY briefly. A cgroup already gone counts as success. Errors: EBUSY when
  // processes survive or a directory stays busy, EINVAL (name), rmdir errors. Every
  // hierarchy is attempted; the first error is returned.
  Status remove(const std::string& child);

  // The names of the child cgroups present in any hierarchy, sorted and unique (for the
  // start-up sweep of leftovers). Unreadable parent directories count as empty; the
  // daemon's kSupervisorLeaf and names starting with '.' (systemd's ".control" of a
  // delegated unit) are never instance cgroups and are left out.
  std::vector<std::string> children() const;

  // Removes the parent directories when no child remains (daemon shutdown, tests), and the
  // <name>.daemon directory when this process is no longer in it (otherwise it stays: the
  // daemon cannot leave it while <self> has controllers enabled). A delegated unit's cgroup
  // and its supervisor leaf stay (systemd removes them with the unit). Gone counts as success.
  // Errors: ENOTEMPTY naming a child that remains, rmdir errors.
  Status remove_self_if_empty();

  const CgroupLayout& layout() const { return layout_; }
  // <mount><self>/<name> for each hierarchy, in layout order.
  const std::vector<std::string>& dirs() const { return dirs_; }
  // Controllers enabled for the children on cgroup2 (<name>/cgroup.subtree_control).
  const std::vector<std::string>& unified_controllers() const { return v2_enabled_; }

 private:
  CgroupParent(CgroupLayout layout, std::string name, std::vector<std::string> dirs,
               std::vector<bool> delegated)
      : layout_(std::move(layout)),
        name_(std::move(name)),
        dirs_(std::move(dirs)),
        delegated_(std::move(delegated)) {}
  Status enable_unified_controllers(size_t index);
  // The directory of `child` in hierarchy `index`.
  std::string dir(size_t index, const std::string& child) const;
  // The index of the hierarchy that serves a controller to the children: cgroup2 when
  // `v2_controller` is enabled there, else the v1 one holding `v1_controller`.
  std::optional<size_t> holder(std::string_view v2_controller,
                               std::string_view v1_controller) const;
  Status apply_device_policy(const std::string& child);
  Status delegate(const std::string& child, uint32_t uid);

  CgroupLayout layout_;
  std::string name_;
  std::vector<std::string> dirs_;
  std::vector<bool> delegated_;  // per hierarchy: dirs_[i] is the delegated unit's cgroup
  std::vector<std::string> v2_enabled_;
};

// The OOM watch of CgroupParent::oom_notifier on one memory cgroup directory `dir` (cgroup2
// when `unified`, else the v1 memory controller's), for a process that knows the directory
// but not the layout (the monitor).
Result<Fd> watch_oom(const std::string& dir, bool unified);
// The processes the OOM killer killed in `dir` (memory.events or memory.oom_control
// oom_kill; 0 when the kernel does not count them).
Result<uint64_t> oom_kills(const std::string& dir, bool unified);

// Rollback guard for an instance cgroup: the destructor calls parent.remove(child) (best
// effort, noexcept) unless release()d. The parent must outlive the guard.
class CgroupGuard {
 public:
  CgroupGuard(CgroupParent& parent, std::string child)
      : parent_(&parent), child_(std::move(child)) {}
  CgroupGuard(CgroupGuard&& other) noexcept
      : parent_(std::exchange(other.parent_, nullptr)), child_(std::move(other.child_)) {}
  CgroupGuard& operator=(CgroupGuard&& other) noexcept;
  CgroupGuard(const CgroupGuard&) = delete;
  CgroupGuard& operator=(const CgroupGuard&) = delete;
  ~CgroupGuard() { reset(); }

  // Commits: the cgroup stays.
  void release() noexcept { parent_ = nullptr; }

 private:
  void reset() noexcept;

  CgroupParent* parent_;
  std::string child_;
};

}  // namespace fw::sys
