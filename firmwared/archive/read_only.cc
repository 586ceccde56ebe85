#include "firmwared/archive/read_only.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include <cerrno>
#include <string>

namespace fw::archive {

namespace {

// Calls refused outright (EPERM); looked up by name, so one this kernel's headers or this
// architecture lack is left out.
constexpr const char* kRefused[] = {
    // files and their metadata
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
    "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "chmod", "fchmod", "fchmodat",
    "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate", "ftruncate", "fallocate",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "utime",
    "utimes", "utimensat", "futimesat", "name_to_handle_at", "open_by_handle_at", "copy_file_range",
    "splice", "tee", "sendfile",
    // programs and processes
    "execve", "execveat", "fork", "vfork", "clone", "kill", "pidfd_send_signal", "pidfd_getfd",
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
    // network
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    // mounts, namespaces, the system
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "unshare", "setns", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "sethostname",
    "setdomainname", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "quotactl", "acct", "syslog", "setuid", "setgid",
    "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset",
    "personality"};

// Flags of open(2) that write or create: any one of them is refused.
constexpr int kWriteFlags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};

Status refuse(scmp_filter_ctx ctx, int nr, const std::string& name, unsigned count,
              const scmp_arg_cmp* cmp, int err = EPERM) {
  const int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(err), nr, count, cmp);
  if (rc != 0) return make_error(-rc, "adding the seccomp rule for " + name);
  return {};
}

}  // namespace

Status enter_read_only() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno_error("setting no_new_privs");
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return make_error(ENOMEM, "creating the seccomp filter");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  for (const char* name : kRefused) {
    const int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || nr < 0) continue;  // not on this architecture
    FW_TRY(refuse(ctx, nr, name, 0, nullptr));
  }
  // Its flags are behind a pointer, out of the filter's reach: ENOSYS, and glibc does not
  // use it for open().
  if (const int nr = seccomp_syscall_resolve_name("openat2"); nr >= 0) {
    FW_TRY(refuse(ctx, nr, "openat2", 0, nullptr, ENOSYS));
  }
  for (const int flag : kWriteFlags) {
    const auto f = static_cast<scmp_datum_t>(flag);
    const scmp_arg_cmp at[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, f, f)};
    FW_TRY(refuse(ctx, SCMP_SYS(openat), "openat", 1, at));
    if (const int nr = seccomp_syscall_resolve_name("open"); nr >= 0) {
      const scmp_arg_cmp plain[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, f, f)};
      FW_TRY(refuse(ctx, nr, "open", 1, plain));
    }
  }
  if (const int rc = seccomp_load(ctx); rc != 0) {
    return make_error(-rc, "loading the seccomp filter");
  }
  return {};
}

}  // namespace fw::archive
