#pragma once
// The device policy of an instance cgroup, in its two kernel forms: a
// BPF_PROG_TYPE_CGROUP_DEVICE program for cgroup2 (raw bpf(2), hand-written instructions)
// and the v1 devices controller's allow lines. Documentation/admin-guide/cgroup-v1/devices.rst
// and the "Device controller" section of Documentation/admin-guide/cgroup-v2.rst.

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

// One allow rule: device type, a range of majors, one minor or any, and the accesses.
struct DeviceRule {
  static constexpr int64_t kAny = -1;
  char type = 'c';             // 'c' (char) or 'b' (block)
  int64_t major = kAny;        // kAny: any major (then major_last is ignored)
  int64_t major_last = kAny;   // last major of a range; kAny: just `major`
  int64_t minor = kAny;        // kAny: any minor
  std::string access = "rwm";  // a subset of "rwm"
};

// What an instance may use: read/write of the char devices null 1:3, zero 1:5, full 1:7,
// random 1:8, urandom 1:9, tty 5:0, console 5:1, ptmx 5:2, the UNIX98 pty slaves 136-143:*,
// tun 10:200; mknod of any char device ("c *:* m", as systemd-nspawn); nothing else, and no
// block device at all.
const std::vector<DeviceRule>& instance_device_rules();

// The v1 devices.allow lines of `rules` ("c 1:3 rwm", "c *:* m"); a range of majors is
// one line per major.
std::vector<std::string> device_rules_v1(const std::vector<DeviceRule>& rules);

// The cgroup device program of `rules`: allows (returns 1) an access when some rule matches
// its type, major, minor and covers all the requested access bits; else returns 0 (EPERM).
std::vector<bpf_insn> device_rules_program(const std::vector<DeviceRule>& rules);

// Loads `rules` as a BPF_PROG_TYPE_CGROUP_DEVICE program. Errors: EPERM (no CAP_BPF /
// CAP_SYS_ADMIN, or bpf(2) refused by seccomp), ENOSYS, EINVAL/EACCES with the verifier's
// log in the message.
Result<Fd> load_device_program(const std::vector<DeviceRule>& rules);

// Attaches `prog_fd` to the cgroup2 directory `cgroup_dir` as BPF_CGROUP_DEVICE with
// BPF_F_ALLOW_MULTI: the programs of all ancestors run too, and a descendant's programs can
// only restrict further. The attachment holds the program; the fd may be closed after.
// Errors: open errors naming the directory, EPERM (an ancestor attached without
// BPF_F_ALLOW_MULTI), bpf(2) errors.
Status attach_device_program(const std::string& cgroup_dir, int prog_fd);

}  // namespace fw::sys
