#pragma once
// The launch steps that run inside the monitor (DESIGN §8 steps 2, 4, 6), each returning
// an Error naming the step. The monitor runs them in order; a failure is reported to the
// daemon and the monitor exits: its private mount namespace, and everything mounted in it,
// disappears with it (bubblewrap's rule: inside a private namespace, failing is cleanup).

#include <sys/types.h>

#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/confinement.h"

namespace fw::monitor {

// Step 2: new IPC, network, mount and UTS namespaces; "/" recursively private; hostname.
Status enter_namespaces(const std::string& hostname);

// Step 4: a minimal /dev under `root` (tmpfs with device nodes, /dev/console bound to the
// console pts `console_path`, devpts newinstance with ptmx, shm).
Status populate_dev(const std::string& root, const std::string& console_path);
// In the monitor's own mount namespace (after enter_namespaces): clears nosuid and nodev on
// its copy of the instance's root mount `root`. The daemon mounts the overlay nosuid,nodev on
// the host, so nobody runs a setuid program or opens a device node of an instance through
// the host path; inside, the firmware's own setuid programs (su, passwd, ping) and device
// nodes must work. Without a user namespace the copy's flags are not locked
// (mount_namespaces(7), MNT_LOCK_*), so a bind remount changes them for this namespace only.
Status clear_host_mount_flags(const std::string& root);

// Step 4: pivot_root into `root` and detach the old root (never chroot).
Status pivot_into(const std::string& root);

// Step 6: unshare(CLONE_NEWPID) then fork PID 1. The child sets up its console on
// `console_fd` (stdin/out/err, controlling tty), mounts /proc (a proc mount shows the pid
// namespace of its mounter, so PID 1 mounts it), masks sensitive /proc files, applies
// `confinement` (step 5, prepared by the caller before the fork), closes every other fd
// and execs `cmdline`. Returns PID 1's host pid once exec succeeded; the exec's failure
// (or any step before it) comes back as an Error naming it.
Result<pid_t> spawn_init(const std::vector<std::string>& cmdline, int console_fd,
                         const sys::Confinement& confinement);

}  // namespace fw::monitor
