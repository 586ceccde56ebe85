#include "firmwared/sys/confinement.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <ctime>
#include <string_view>

#include "firmwared/base/defer.h"
#include "firmwared/base/fault.h"
#include "firmwared/base/fd.h"

namespace fw::sys {

namespace {

// CAP_SYSLOG: the host's kernel log (syslog(2), reading /dev/kmsg) is not the instance's.
constexpr int kDroppedCaps[] = {CAP_SYS_TIME,  CAP_WAKE_ALARM,   CAP_SYS_MODULE, CAP_SYS_RAWIO,
                                CAP_MAC_ADMIN, CAP_MAC_OVERRIDE, CAP_SYSLOG};

// Refused whatever their arguments. The *64 names are the 32-bit ABIs' time64 variants,
// stime exists on 32-bit x86 only: names unknown to an architecture are skipped there.
// The last seven reach past the instance's namespaces for root in the host's user namespace
// (privileged mode; measured by the escape suite, also under AppArmor, which does not
// mediate them): BPF programs and system-wide perf events see the whole kernel,
// userfaultfd stalls kernel code, the kernel keyrings are per uid, not per namespace
// (uid 0 inside is host root's), and syslog(2) reads the host's kernel log with
// CAP_SYS_ADMIN alone. Docker's default seccomp profile refuses them too.
constexpr const char* kDeniedSyscalls[] = {"settimeofday",
                                           "clock_settime",
                                           "clock_settime64",
                                           "stime",
                                           "kexec_load",
                                           "kexec_file_load",
                                           "init_module",
                                           "finit_module",
                                           "delete_module",
                                           "open_by_handle_at",
                                           "bpf",
                                           "perf_event_open",
                                           "userfaultfd",
                                           "keyctl",
                                           "add_key",
                                           "request_key",
                                           "syslog"};
// Those of kDeniedSyscalls that set the clock (left out under the test switch).
constexpr const char* kClockSyscalls[] = {"settimeofday", "clock_settime", "clock_settime64",
                                          "stime"};

// The new mount API. AppArmor (6.1, measured in the VM lane) mediates mount(2) only:
// fsopen+fsmount+move_mount put a fresh proc, devtmpfs or sysfs wherever the path rules do
// not look, and open_tree(OPEN_TREE_CLONE) binds /proc elsewhere. ENOSYS, not EPERM: what
// a kernel without the API says, so libmount and systemd fall back to mount(2).
constexpr const char* kNewMountApiSyscalls[] = {"fsopen", "fsconfig",   "fsmount",
                                                "fspick", "move_mount", "open_tree"};

bool is_clock_syscall(const char* name) {
  for (const char* c : kClockSyscalls) {
    if (std::string_view(c) == name) return true;
  }
  return false;
}

Error seccomp_error(int rc, const std::string& what) {
  // libseccomp returns -errno.
  return errno_error(rc < 0 ? -rc : EINVAL, what);
}

Status add_rule(scmp_filter_ctx ctx, const char* name, unsigned count,
                const scmp_arg_cmp* cmp = nullptr) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return {};  // unknown to this libseccomp: nothing to filter
  const int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, count, cmp);
  if (rc != 0) return seccomp_error(rc, std::string("adding the seccomp rule for ") + name);
  return {};
}

Status add_compat_arches(scmp_filter_ctx ctx) {
  // Without these, a 32-bit binary of the firmware (int 0x80, or the x32 ABI) would be
  // killed by the filter's bad-architecture action instead of being filtered.
  std::vector<uint32_t> arches;
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
      arches = {SCMP_ARCH_X86, SCMP_ARCH_X32};
      break;
    case SCMP_ARCH_AARCH64:
      arches = {SCMP_ARCH_ARM};
      break;
    default:
      break;
  }
  for (uint32_t a : arches) {
    const int rc = seccomp_arch_add(ctx, a);
    if (rc != 0 && rc != -EEXIST) return seccomp_error(rc, "adding a seccomp architecture");
  }
  return {};
}

// `with_clock` false: the test switch fault::unconfined_clock() (the clock calls unfiltered).
Status add_rules(scmp_filter_ctx ctx, bool with_clock) {
  for (const char* name : kDeniedSyscalls) {
    if (with_clock || !is_clock_syscall(name)) FW_TRY(add_rule(ctx, name, 0));
  }
  for (const char* name : kNewMountApiSyscalls) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0); rc != 0) {
      return seccomp_error(rc, std::string("adding the seccomp rule for ") + name);
    }
  }
  // clock_adjtime: CLOCK_REALTIME goes through the kernel's CAP_SYS_TIME check for
  // modes != 0 (kernel/time/timekeeping.c, timekeeping_validate_timex); other clocks, such
  // as PTP clocks (posix-clock.c checks only FMODE_WRITE), are refused here.
  // datum_b (unused by SCMP_CMP_NE) is spelled out: clang's -Wmissing-field-initializers.
  const scmp_arg_cmp not_realtime[] = {SCMP_A0(SCMP_CMP_NE, CLOCK_REALTIME, 0)};
  if (with_clock) {
    FW_TRY(add_rule(ctx, "clock_adjtime", 1, not_realtime));
    FW_TRY(add_rule(ctx, "clock_adjtime64", 1, not_realtime));
  }
  // Block device nodes: the kernel checks nothing but CAP_MKNOD, and a node of the host's
  // disk opened inside the instance reads and writes the host's disk (no device cgroup).
  // mknod(2) takes the mode as argument 1, mknodat(2) as argument 2; the kernel reads it as
  // a 16-bit umode_t, which holds S_IFMT.
  const scmp_arg_cmp blk1[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK)};
  const scmp_arg_cmp blk2[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFBLK)};
  FW_TRY(add_rule(ctx, "mknod", 1, blk1));
  FW_TRY(add_rule(ctx, "mknodat", 1, blk2));
  // Character nodes of the host's memory and kernel log (devices.txt: 1:1 mem, 1:2 kmem,
  // 1:4 port, 1:11 kmsg): the kernel checks only CAP_MKNOD for them too. The device number
  // is mknod's argument 2, mknodat's 3, in the kernel's encoding (minor in the low 8 bits,
  // major in the next 12).
  for (unsigned minor : {1u, 2u, 4u, 11u}) {
    const scmp_datum_t dev = (1u << 8) | minor;
    const scmp_arg_cmp chr1[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR),
                                 SCMP_A2(SCMP_CMP_EQ, dev, 0)};
    const scmp_arg_cmp chr2[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR),
                                 SCMP_A3(SCMP_CMP_EQ, dev, 0)};
    FW_TRY(add_rule(ctx, "mknod", 2, chr1));
    FW_TRY(add_rule(ctx, "mknodat", 2, chr2));
  }
  return {};
}

// libseccomp 2.5 exports to a file descriptor only: a memfd, read back whole.
Result<std::vector<sock_filter>> export_bpf(scmp_filter_ctx ctx) {
  Fd mem(::memfd_create("firmwared-seccomp", MFD_CLOEXEC));
  if (!mem) return errno_error("creating a memfd for the seccomp program");
  if (const int rc = seccomp_export_bpf(ctx, mem.get()); rc != 0) {
    return seccomp_error(rc, "exporting the seccomp program");
  }
  struct stat st {};
  if (::fstat(mem.get(), &st) != 0) return errno_error("sizing the seccomp program");
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % sizeof(sock_filter) != 0 || size / sizeof(sock_filter) > BPF_MAXINSNS) {
    return make_error(
        EINVAL, "the seccomp program has an invalid size of " + std::to_string(size) + " bytes");
  }
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  if (::pread(mem.get(), program.data(), size, 0) != static_cast<ssize_t>(size)) {
    return errno_error("reading the seccomp program back");
  }
  return program;
}

}  // namespace

Result<Confinement> Confinement::prepare(const std::string& apparmor_profile) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return make_error(ENOMEM, "creating the seccomp filter");
  DEFER { seccomp_release(ctx); };
  FW_TRY(add_compat_arches(ctx));
  Confinement c;
  c.keep_sys_time_ = fault::unconfined_clock();
  FW_TRY(add_rules(ctx, !c.keep_sys_time_));
  FW_ASSIGN_OR_RETURN(c.filter_, export_bpf(ctx));
  if (!apparmor_profile.empty()) {
    c.apparmor_profile_ = apparmor_profile;
    c.onexec_request_ = "exec " + apparmor_profile;
  }
  return c;
}

int Confinement::apply(const char** failed_step) const noexcept {
  auto fail = [failed_step](const char* step) {
    const int e = errno != 0 ? errno : EIO;
    if (failed_step != nullptr) *failed_step = step;
    return e;
  };

  if (!onexec_request_.empty()) {
    // What aa_change_onexec(3) does, without its allocations. /proc/thread-self is the
    // caller in any proc mount of a PID namespace it belongs to; the file must be on a
    // procfs (the firmware could have mounted anything on /proc), and the kernel refuses
    // writes to another task's attributes (proc_pid_attr_write), so a successful write
    // is ours. The attribute is per task: it applies at this thread's next execve.
    int fd = ::open("/proc/thread-self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) fd = ::open("/proc/thread-self/attr/exec", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("opening /proc/thread-self/attr/exec");
    struct statfs sfs {};
    if (::fstatfs(fd, &sfs) != 0 || sfs.f_type != PROC_SUPER_MAGIC) {
      ::close(fd);
      errno = EXDEV;
      return fail("checking that /proc is a procfs");
    }
    const ssize_t n = ::write(fd, onexec_request_.data(), onexec_request_.size());
    const int e = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(onexec_request_.size())) {
      errno = n < 0 ? e : EIO;
      return fail("requesting the AppArmor profile at exec");
    }
  }

  // Ambient capabilities would survive execve; EINVAL: kernel before 4.3, none to clear.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return fail("clearing the ambient capabilities");
  }
  // EINVAL: a capability this kernel does not know (it cannot be held either).
  for (int cap : kDroppedCaps) {
    if (cap == CAP_SYS_TIME && keep_sys_time_) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      return fail("dropping capabilities from the bounding set");
    }
  }
  // The bounding set limits what execve grants; the current sets must lose them too.
  // Inheritable matters most: root's execve adds it to the permitted set
  // (capabilities(7), "Transformation of capabilities during execve()").
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return fail("reading the capabilities");
  for (int cap : kDroppedCaps) {
    if (cap == CAP_SYS_TIME && keep_sys_time_) continue;
    const auto bit = static_cast<__u32>(CAP_TO_MASK(cap));
    auto& d = data[CAP_TO_INDEX(cap)];
    d.effective &= ~bit;
    d.permitted &= ~bit;
    d.inheritable &= ~bit;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return fail("dropping capabilities");

  // Without no_new_privs (the firmware's setuid programs must work): needs CAP_SYS_ADMIN,
  // which we keep (seccomp(2), SECCOMP_SET_MODE_FILTER).
  sock_fprog program{static_cast<unsigned short>(filter_.size()),
                     const_cast<sock_filter*>(filter_.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
    return fail("loading the seccomp filter");
  }
  return 0;
}

const std::vector<int>& Confinement::dropped_capabilities() {
  static const std::vector<int> caps(std::begin(kDroppedCaps), std::end(kDroppedCaps));
  return caps;
}

const std::vector<std::string>& Confinement::denied_syscalls() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v(std::begin(kDeniedSyscalls), std::end(kDeniedSyscalls));
    v.insert(v.end(), {"clock_adjtime", "clock_adjtime64", "mknod", "mknodat"});
    v.insert(v.end(), std::begin(kNewMountApiSyscalls), std::end(kNewMountApiSyscalls));
    return v;
  }();
  return names;
}

}  // namespace fw::sys
