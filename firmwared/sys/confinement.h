#pragma once
// The confinement applied to an instance's PID 1 and to every process EXEC starts in it,
// just before execve (docs/security.md). It holds without AppArmor:
//   - CAP_SYS_TIME, CAP_WAKE_ALARM, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_MAC_ADMIN and
//     CAP_MAC_OVERRIDE leave the bounding set (for good: no exec, setuid or file capability
//     brings them back) and the effective, permitted, inheritable and ambient sets;
//   - a seccomp filter answers EPERM to setting the clock (settimeofday, clock_settime on
//     any clock, stime, clock_adjtime on any clock but CLOCK_REALTIME), to kexec_load,
//     kexec_file_load, init_module, finit_module, delete_module, open_by_handle_at, and to
//     mknod/mknodat of block devices; ENOSYS to the new mount API (fsopen, fsconfig, fsmount,
//     fspick, move_mount, open_tree), which AppArmor does not mediate. adjtimex and
//     clock_adjtime(CLOCK_REALTIME) stay allowed so that reading the time (modes == 0) works:
//     seccomp cannot read the `modes` field (it sits behind a pointer), and the kernel refuses
//     modes != 0 without CAP_SYS_TIME, which is gone;
//   - optionally, an AppArmor profile to enter at exec (what aa_change_onexec(3) does).
// Filters and capability drops are inherited by every child and cannot be undone.
// Test builds only (FW_FAULT_INJECTION): under fault::unconfined_clock(), CAP_SYS_TIME is
// kept and the clock calls are not filtered, so a test can show AppArmor alone refuses them.
//
// Everything is built by prepare(), before fork(); apply() only makes system calls, so it
// may run in a child of the multi-threaded daemon.

#include <linux/filter.h>

#include <string>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::sys {

class Confinement {
 public:
  // Builds the seccomp program for the native architecture and its compat ones (x86 and
  // x32 on x86_64, arm on aarch64), and, when `apparmor_profile` is not empty, the request
  // to enter that profile at exec. Errors from libseccomp carry its errno.
  static Result<Confinement> prepare(const std::string& apparmor_profile = "");

  // Applies the confinement to the calling thread; async-signal-safe, no allocation.
  // Order: AppArmor onexec (if any), capabilities, seccomp (loaded without
  // no_new_privs: the caller must hold CAP_SYS_ADMIN; setuid binaries of the firmware
  // keep working). Returns 0, or the errno of the first failing step, whose name is
  // stored in *failed_step when given.
  int apply(const char** failed_step = nullptr) const noexcept;

  // The capabilities removed, and the system calls the filter refuses (for docs, tests).
  static const std::vector<int>& dropped_capabilities();
  static const std::vector<std::string>& denied_syscalls();

  const std::string& apparmor_profile() const { return apparmor_profile_; }
  size_t filter_instructions() const { return filter_.size(); }
  // True under the test switch fault::unconfined_clock() (CAP_SYS_TIME kept, clock calls
  // not filtered).
  bool keeps_sys_time() const { return keep_sys_time_; }

 private:
  Confinement() = default;

  std::vector<sock_filter> filter_;
  std::string apparmor_profile_;
  std::string onexec_request_;  // "exec <profile>"
  bool keep_sys_time_ = false;
};

}  // namespace fw::sys
