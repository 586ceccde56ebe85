// escape_probe's kernel probes: modules, kexec, the clock, ptrace, file handles, bpf, perf,
// userfaultfd, keys, nested user namespaces. See escape_probe.c for the output and the
// arguments.
#define _GNU_SOURCE  // strerrorname_np, setns, struct file_handle
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "escape_probe.h"

void probe_modules(void) {
  // Junk that the kernel rejects once the permission checks passed (ENOEXEC and friends).
  long rc = syscall(SYS_init_module, "\177ELF", 4, "");
  report("init_module", rc == 0 ? "allowed" : verdict_of_errno(errno), "junk module: %s",
         rc == 0 ? "loaded?!" : strerrorname_np(errno));
  char path[300];
  path_in(path, sizeof(path), g_dir, "evil.ko");
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0 && write(fd, "\177ELFjunk", 8) != 8) { /* the call below reports */
  }
  rc = syscall(SYS_finit_module, fd, "", 0);
  report("finit_module", rc == 0 ? "allowed" : verdict_of_errno(errno), "junk module: %s",
         rc == 0 ? "loaded?!" : strerrorname_np(errno));
  if (fd >= 0) close(fd);
}

void probe_kexec(void) {
  // kexec_load checks capable(CAP_SYS_BOOT) and lockdown, then the flags: an unknown flag
  // gets EINVAL past the permission checks. (Zero segments would unload a loaded kernel.)
  long rc = syscall(SYS_kexec_load, 0, 0, NULL, 0x100UL);
  report("kexec_load", rc == 0 ? "allowed" : verdict_of_errno(errno), "unknown flag: %s",
         rc == 0 ? "OK?!" : strerrorname_np(errno));
  rc = syscall(SYS_kexec_file_load, -1, -1, 0, "", 0x80000000UL);
  report("kexec_file_load", rc == 0 ? "allowed" : verdict_of_errno(errno), "unknown flag: %s",
         rc == 0 ? "OK?!" : strerrorname_np(errno));
}

void probe_clock(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long rc = syscall(SYS_clock_settime, CLOCK_REALTIME, &now);
  report("clock_settime", rc == 0 ? "allowed" : verdict_of_errno(errno),
         "CLOCK_REALTIME to now: %s", rc == 0 ? "OK" : strerrorname_np(errno));
  struct timeval tv;
  gettimeofday(&tv, NULL);
  rc = syscall(SYS_settimeofday, &tv, NULL);
  report("settimeofday", rc == 0 ? "allowed" : verdict_of_errno(errno), "to now: %s",
         rc == 0 ? "OK" : strerrorname_np(errno));
  struct timex tx;
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_SETOFFSET;  // a zero offset
  rc = syscall(SYS_adjtimex, &tx);
  report("adjtimex", rc >= 0 ? "allowed" : verdict_of_errno(errno), "ADJ_SETOFFSET of 0: %s",
         rc >= 0 ? "OK" : strerrorname_np(errno));
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_SETOFFSET;
  rc = syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
  report("clock_adjtime", rc >= 0 ? "allowed" : verdict_of_errno(errno),
         "CLOCK_REALTIME ADJ_SETOFFSET of 0: %s", rc >= 0 ? "OK" : strerrorname_np(errno));
}

void probe_ptrace(void) {
  const char* text = arg("ptrace_pid", NULL);
  if (!text) return report("ptrace_host_pid", "not-present", "no host pid given");
  pid_t pid = atoi(text);
  if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0) {
    return report("ptrace_host_pid", errno == ESRCH ? "refused" : verdict_of_errno(errno),
                  "PTRACE_ATTACH %d: %s%s", pid, strerrorname_np(errno),
                  errno == ESRCH ? " (not in the instance's PID namespace)" : "");
  }
  waitpid(pid, NULL, __WALL);
  ptrace(PTRACE_DETACH, pid, NULL, NULL);
  report("ptrace_host_pid", "allowed", "PTRACE_ATTACH %d worked (detached)", pid);
}

void probe_handles(void) {
  struct {
    struct file_handle fh;
    unsigned char bytes[128];
  } h;
  h.fh.handle_bytes = sizeof(h.bytes);
  int mount_id;
  if (syscall(SYS_name_to_handle_at, AT_FDCWD, g_dir, &h.fh, &mount_id, 0) != 0) {
    return report("open_by_handle_at", verdict_of_errno(errno), "name_to_handle_at: %s",
                  strerrorname_np(errno));
  }
  int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  long fd = syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY | O_CLOEXEC);
  report("open_by_handle_at", fd >= 0 ? "allowed" : verdict_of_errno(errno),
         "a genuine handle of %s: %s", g_dir, fd >= 0 ? "opened" : strerrorname_np(errno));
  if (fd >= 0) close((int)fd);
  close(root);
}

// "r0 = 0; exit": the smallest valid program, of TYPE.
static void bpf_load(const char* name, enum bpf_prog_type type) {
  struct bpf_insn insns[2] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = type;
  attr.insn_cnt = 2;
  attr.insns = (unsigned long)insns;
  attr.license = (unsigned long)"GPL";
  long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
  // EINVAL: this kernel does not know the program type.
  const char* v = fd >= 0 ? "allowed" : errno == EINVAL ? "not-present" : verdict_of_errno(errno);
  report(name, v, "BPF_PROG_LOAD: %s",
         fd >= 0 ? "loaded (closed at once)" : strerrorname_np(errno));
  if (fd >= 0) close((int)fd);
}

void probe_bpf(void) {
  bpf_load("bpf_socket_filter", BPF_PROG_TYPE_SOCKET_FILTER);
  bpf_load("bpf_kprobe", BPF_PROG_TYPE_KPROBE);
}

void probe_perf(void) {
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof(pe));
  pe.size = sizeof(pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  pe.disabled = 1;
  long fd = syscall(SYS_perf_event_open, &pe, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  report("perf_system_wide", fd >= 0 ? "allowed" : verdict_of_errno(errno), "pid=-1 cpu=0: %s",
         fd >= 0 ? "opened (closed at once)" : strerrorname_np(errno));
  if (fd >= 0) close((int)fd);
}

void probe_userfaultfd(void) {
  // Without UFFD_USER_MODE_ONLY: the kernel-fault flavour that escapes rely on.
  long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  report("userfaultfd_syscall", fd >= 0 ? "allowed" : verdict_of_errno(errno), "userfaultfd(0): %s",
         fd >= 0 ? "created" : strerrorname_np(errno));
  if (fd >= 0) close((int)fd);
  dev_t dev;
  char path[400];
  const char* node = NULL;
  if (access("/dev/userfaultfd", F_OK) == 0)
    node = "/dev/userfaultfd";
  else if (parse_dev(arg("uffd", NULL), &dev) == 0)
    node = device_node(path, sizeof(path), NULL, "userfaultfd", S_IFCHR, dev);
  else
    return report("dev_userfaultfd", "not-present", "the host has no /dev/userfaultfd");
  if (!node) return report("dev_userfaultfd", "refused", "no node (mknod refused, no devtmpfs)");
  int dfd = open(node, O_RDWR | O_CLOEXEC);
  if (dfd < 0)
    return report("dev_userfaultfd", verdict_of_errno(errno), "open %s: %s", node,
                  strerrorname_np(errno));
  int ufd = ioctl(dfd, USERFAULTFD_IOC_NEW, O_CLOEXEC);
  report("dev_userfaultfd", ufd >= 0 ? "allowed" : verdict_of_errno(errno),
         "%s USERFAULTFD_IOC_NEW: %s", node, ufd >= 0 ? "created" : strerrorname_np(errno));
  if (ufd >= 0) close(ufd);
  close(dfd);
}

void probe_keys(void) {
  const char* serial = arg("key", NULL);
  if (!serial)
    report("keyctl_read_host_key", "not-present", "no key given");
  else {
    long key = atol(serial);
    char buf[256];
    long n = syscall(SYS_keyctl, KEYCTL_READ, key, buf, sizeof(buf) - 1);
    if (n < 0 && errno == EACCES) {
      // Not possessed: link the user keyring (uid 0's, if that is who we are) into a new
      // session keyring, as an attacker would, and read again.
      syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
      syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING);
      n = syscall(SYS_keyctl, KEYCTL_READ, key, buf, sizeof(buf) - 1);
    }
    if (n >= 0) {
      buf[n < (long)sizeof(buf) - 1 ? n : (long)sizeof(buf) - 1] = '\0';
      report("keyctl_read_host_key", "allowed", "payload %s", buf);
    } else {
      report("keyctl_read_host_key", errno == ENOKEY ? "refused" : verdict_of_errno(errno),
             "KEYCTL_READ %ld: %s", key, strerrorname_np(errno));
    }
  }
  const char* ring = arg("host_keyring", NULL);
  if (!ring) return report("keyctl_host_keyring", "not-present", "no host keyring given");
  long own = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
  char desc[256];
  long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, atol(ring), desc, sizeof(desc));
  if (n >= 0)
    report("keyctl_host_keyring", "allowed",
           "KEYCTL_DESCRIBE of host root's user keyring %s works (own @u %ld)", ring, own);
  else
    report("keyctl_host_keyring", errno == ENOKEY ? "refused" : verdict_of_errno(errno),
           "KEYCTL_DESCRIBE %s: %s (own @u %ld)", ring, strerrorname_np(errno), own);
}

// A new user namespace (full capabilities in it) with its own mount namespace: what it
// can mount. In a child, which reports and exits.
void probe_userns(void) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid != 0) {
    waitpid(pid, NULL, 0);
    return;
  }
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    report("userns_unshare", verdict_of_errno(errno), "unshare(CLONE_NEWUSER|CLONE_NEWNS): %s",
           strerrorname_np(errno));
    _exit(0);
  }
  report("userns_unshare", "allowed", "unshare(CLONE_NEWUSER|CLONE_NEWNS)");
  char dir[300];
  path_in(dir, sizeof(dir), g_dir, "userns");
  mkdir(dir, 0700);
  static const struct {
    const char *name, *type;
  } kMounts[] = {{"userns_mount_proc", "proc"},
                 {"userns_mount_sysfs", "sysfs"},
                 {"userns_mount_devtmpfs", "devtmpfs"},
                 {NULL, NULL}};
  for (int i = 0; kMounts[i].name; ++i) {
    if (mount(kMounts[i].type, dir, kMounts[i].type, 0, NULL) == 0) {
      report(kMounts[i].name, "allowed", "mounted %s", kMounts[i].type);
      umount2(dir, MNT_DETACH);
    } else {
      report(kMounts[i].name, verdict_of_errno(errno), "%s", strerrorname_np(errno));
    }
  }
  // The masks and the read-only /proc/sys are now locked (copied into a less privileged
  // user namespace): EPERM/EINVAL rather than success.
  if (mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL) == 0)
    report("userns_remount_proc_sys", "allowed", "remounted read-write");
  else
    report("userns_remount_proc_sys", errno == EINVAL ? "refused" : verdict_of_errno(errno), "%s",
           strerrorname_np(errno));
  _exit(0);
}
