#pragma once
// The launch steps that run inside the monitor (steps 2, 4 and 6 of "Launching an
// instance" in docs/architecture.md), each returning an Error naming the step. The monitor
// runs them in order; a failure is reported to the daemon and the monitor exits: its
// private mount namespace, and everything mounted in it, disappears with it (bubblewrap's
// rule: inside a private namespace, failing is cleanup).

#include <sys/types.h>

#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/bind_spec.h"
#include "firmwared/sys/confinement.h"
#include "firmwared/sys/monitor_wire.h"
#include "firmwared/sys/userns.h"

namespace fw::monitor {

// What PID 1 needs, known before any namespace is made.
struct InitSpec {
  std::string root;  // the overlay mount to pivot_root into
  std::vector<std::string> cmdline;
  int console_fd = -1;  // the console's pts: stdin/out/err
  const sys::Confinement* confinement = nullptr;
  // The instance's cgroups (see Options::cgroups), made by the daemon: PID 1 is
  // moved into each before it makes its cgroup namespace, and finds them mounted at
  // /sys/fs/cgroup. Empty: PID 1 stays in the monitor's cgroups, with no cgroup namespace.
  std::vector<sys::wire::CgroupArg> cgroups;
  // The cgroup.procs files of `cgroups`, opened for writing (a standby opens them before it
  // pivots, after which the host's paths are out of reach); empty: opened by path.
  std::vector<int> cgroup_procs;
  // The monitor already pivoted into `root` (a standby; `root` is then "/"): in privileged
  // mode PID 1 keeps the monitor's mount namespace, which holds nothing but the instance.
  bool pivoted = false;
};

// Opens the cgroup.procs file of each of `cgroups` for writing (InitSpec::cgroup_procs).
Result<std::vector<Fd>> open_cgroup_procs(const std::vector<sys::wire::CgroupArg>& cgroups);

// What the monitor made for one instance in step 2, used again by steps 4 and 6.
struct Sandbox {
  // Host id of the instance's root; 0: no user namespace (privileged mode).
  uint32_t uid_base = 0;
  int64_t time_offset = 0;  // seconds; 0: no time namespace
  // PID 1, made in its namespaces and waiting for `go`: in a user namespace from step 2 on,
  // in privileged mode once prepare_init made it.
  pid_t init_pid = -1;
  Fd go;         // a byte lets PID 1 go on; closed without one, PID 1 exits
  Fd ready;      // PID 1's byte once it waits at its last gate (EOF: it failed, see exec_pipe)
  Fd exec_pipe;  // PID 1's report: EOF once exec'd, "<errno> <step>" otherwise
  Fd pid_ns;     // PID 1's PID namespace, opened before any pivot (for the /proc mounter)
  bool init_prepared = false;  // prepare_init done: PID 1 waits only for its last go
  bool userns() const { return uid_base != 0; }

  Sandbox() = default;
  Sandbox(Sandbox&& other) noexcept;
  Sandbox& operator=(Sandbox&&) = delete;
  // A PID 1 that never exec'd is killed and reaped: once the monitor is gone, nothing of
  // this START holds the instance's overlay.
  ~Sandbox();
};

// Step 2: a new mount namespace with "/" recursively private, and new IPC, network and UTS
// namespaces; the hostname. In a user namespace (`uid_base` ≠ 0): PID 1 is made here, by
// clone(2) into a new user namespace mapping 65,536 ids from `uid_base` and, owned by it, new
// PID (it is its PID 1), network, UTS and IPC namespaces (and a time namespace when
// `time_offset` ≠ 0); the monitor, still host root, joins its network, UTS and IPC
// namespaces, and PID 1 waits in the monitor's mount namespace (the host's user namespace
// owns it) while the monitor mounts the instance's tree there. `time_offset` ≠ 0: the
// monotonic and boottime clocks inside run that many seconds ahead.
Result<Sandbox> enter_namespaces(const std::string& hostname, uint32_t uid_base,
                                 int64_t time_offset, const InitSpec& init);

// Step 4: a minimal /dev under `root` (tmpfs with device nodes, devpts newinstance with
// ptmx, shm), /proc and /sys mount points, and a read-only sysfs at /sys. In a user
// namespace everything belongs to the instance's root.
Status populate_dev(const std::string& root, const Sandbox& sandbox);
// Binds the console pts `console_path` on `root`/dev/console.
Status bind_console(const std::string& root, const std::string& console_path);
// In the monitor's own mount namespace (after enter_namespaces): clears nosuid and nodev on
// its copy of the instance's root mount `root`. The daemon mounts the overlay nosuid,nodev on
// the host, so nobody runs a setuid program or opens a device node of an instance through
// the host path; inside, the firmware's own setuid programs (su, passwd, ping) and device
// nodes must work. The monitor's mount namespace is owned by the host's user namespace, so
// its copy's flags are not locked and a bind remount changes them for this namespace only.
Status clear_host_mount_flags(const std::string& root);

// After populate_dev: binds each host path of `binds` on its instance path under `root`, in
// order. The host path is opened without following a symlink anywhere in it (a path swapped
// for a symlink since the daemon checked it fails with ELOOP) and bound from that
// descriptor, recursively, nosuid, nodev, private (nothing propagates back to the host), read-
// only for "ro" (every submount too). The instance path is resolved inside `root`
// (openat2(2) RESOLVE_IN_ROOT: a symlink of the firmware cannot lead out of it) and on its
// file system (RESOLVE_NO_XDEV: never into /dev, /sys or another bind); missing directories
// and the final mount point (a directory, or an empty file for a file) are made as the
// instance's root. The binds live in the monitor's mount namespace and PID 1's copy of it:
// they go when the instance ends, and the host never sees them.
Status bind_host_paths(const std::string& root, const std::vector<sys::BindSpec>& binds,
                       const Sandbox& sandbox);

// pivot_root into the current directory (`root` names it in errors) and detach the old root
// (never chroot).
Status pivot_here(const std::string& root);

// Step 6, the PID namespace last, in two halves: prepare_init makes PID 1 and everything it
// needs up to its confinement, then PID 1 waits; release_init lets it confine itself and exec.
// A standby runs the first half ahead of the START (nothing of it depends on the START: the
// firmware sees the same PID 1, mounts and cgroups), so that a START is one byte on a pipe,
// PID 1's confinement and its execve. spawn_init runs both at once.
//
// Privileged: unshare(CLONE_NEWPID), then fork PID 1, which enters the instance's cgroups and a
// cgroup namespace, mounts /proc under the root (a proc mount shows the pid namespace of its
// mounter) and masks its sensitive files, copies the monitor's mount namespace and pivots into
// the root (not with InitSpec::pivoted: a standby's monitor pivoted into the root itself, and its
// mount namespace holds nothing but the instance), mounts its cgroups at /sys/fs/cgroup, closes
// every fd it has no use for and waits. At its go: the console on stdin/out/err in a session of
// its own (no controlling tty), the confinement (prepared before the fork), exec.
// In a user namespace (PID 1 cloned in step 2): a short-lived host-root child of the monitor in
// PID 1's PID namespace mounts /proc and the masks in the monitor's mount namespace, the monitor
// moves PID 1 into the instance's cgroups, then PID 1 makes its cgroup namespace, becomes the
// user namespace's root, copies the mount namespace (owned by the user namespace, so that every
// mount in it is locked: mount_namespaces(7)), pivots, mounts its cgroups and waits. At its go:
// /dev/console opened as the console, the confinement, exec.
// Each step's failure comes back as an Error naming it (PID 1 reaped).
Status prepare_init(Sandbox& sandbox, const InitSpec& init);
// PID 1's host pid once exec succeeded. Requires prepare_init.
Result<pid_t> release_init(Sandbox& sandbox);
Result<pid_t> spawn_init(Sandbox& sandbox, const InitSpec& init);

}  // namespace fw::monitor
