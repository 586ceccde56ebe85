// escape_probe: what root inside an instance can do to its host. Built static by
// escape_suite.sh and copied into the attacking firmware; run by its PID 1
// (escape_attack.sh) with the instance's exact confinement. Each attempt prints one line
//   PROBE <name> <refused|allowed|not-present> <detail>
// "allowed" means the call got past every permission check: the probes hand the kernel
// harmless values (the current time, junk modules, a zero offset, a sysctl's own value, a
// release agent that only writes a marker file) so that an allowed attempt does no harm,
// and they undo what they changed (mounts, masks, cgroups, sysctls).
//
// Usage: escape_probe [only=GROUP,...] [KEY=VALUE...]; the driver passes (all optional, a
// probe whose input is missing reports not-present): dir (scratch directory, default
// /tmp/fw-escape), marker (a file at the host's root), disk and uffd (MAJOR:MINOR of the
// host's root disk and /dev/userfaultfd), node (a name to create in a fresh devtmpfs),
// ptrace_pid, key (serial of a key in host root's user keyring), host_keyring (that
// keyring's serial), somaxconn (a value for net.core.somaxconn), abstract and unix_path
// (host unix sockets), host_ip and port (a host TCP listener), host_netns (inode of the
// host's network namespace), host_link (a host interface), out_name (a name for the veth
// moved out), cg2 (a cgroup the test made in the host's cgroup2 root), cg1_ctl and cg1 (a
// v1 controller and a cgroup the test made in it), release_marker (host path the release
// agent writes), tag (names the run's cgroup v1 hierarchy). Groups: chroot procfs
// devtmpfs disk devices modules kexec clock ptrace handles bpf perf userfaultfd keys userns
// unix tcp netns cgroup.
#define _GNU_SOURCE  // strerrorname_np, setns, struct file_handle
#include "escape_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
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

static int g_argc;
static char** g_argv;
char g_dir[256];
static char g_proc[300];   // a fresh proc mounted by probe_mount_proc, "" if none
char g_devtmp[300];        // a fresh devtmpfs, "" if none
static int g_proc_sys_rw;  // /proc/sys remounted read-write (restored at the end)

void report(const char* name, const char* verdict, const char* fmt, ...) {
  char detail[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  for (char* p = detail; *p; ++p) {
    if (*p == '\n' || *p == '\r') *p = ' ';
  }
  printf("PROBE %s %s %s\n", name, verdict, detail);
  fflush(stdout);
}

const char* verdict_of_errno(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
    case EROFS:
      return "refused";
    case ENOSYS:
    case ENODEV:
    case ENXIO:
    case EOPNOTSUPP:
      return "not-present";
    default:
      return "allowed";
  }
}

const char* arg(const char* key, const char* fallback) {
  size_t n = strlen(key);
  for (int i = 1; i < g_argc; ++i) {
    if (strncmp(g_argv[i], key, n) == 0 && g_argv[i][n] == '=') {
      const char* v = g_argv[i] + n + 1;
      return (*v && strcmp(v, "-") != 0) ? v : fallback;
    }
  }
  return fallback;
}

static int want(const char* group) {
  const char* only = arg("only", NULL);
  if (!only) return 1;
  size_t n = strlen(group);
  for (const char* p = only; (p = strstr(p, group)); p += n) {
    if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
  }
  return 0;
}

int write_file(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -1;
  ssize_t len = (ssize_t)strlen(text);
  ssize_t n = write(fd, text, (size_t)len);
  int err = errno;
  close(fd);
  if (n == len) return 0;
  errno = n < 0 ? err : EIO;
  return -1;
}

int read_file(const char* path, char* buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, len - 1);
  int err = errno;
  close(fd);
  if (n < 0) {
    errno = err;
    return -1;
  }
  buf[n] = '\0';
  while (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
  return (int)n;
}

void path_in(char* out, size_t len, const char* base, const char* name) {
  snprintf(out, len, "%s/%s", base, name);
}

// ---- leaving the root ------------------------------------------------------------------

// chroot into a subdirectory keeping the cwd outside, climb, chroot("."): leaves a chroot
// jail; must not leave the instance's root (pivot_root, old root detached). In a child, so
// that the other probes keep the instance's root.
static void probe_chroot(void) {
  const char* marker = arg("marker", NULL);
  if (!marker) return report("chroot_escape", "not-present", "no host marker given");
  pid_t pid = fork();
  if (pid == 0) {
    char sub[300];
    path_in(sub, sizeof(sub), g_dir, "jail");
    mkdir(sub, 0700);
    if (chroot(sub) != 0) _exit(2);
    for (int i = 0; i < 64; ++i) {
      if (chdir("..") != 0) break;
    }
    if (chroot(".") != 0) _exit(3);
    struct stat st;
    _exit(stat(marker, &st) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
  if (rc == 0)
    report("chroot_escape", "allowed", "chroot(\".\") after climbing sees the host marker");
  else if (rc == 1)
    report("chroot_escape", "refused",
           "both chroots work but land on the instance's root (no host marker)");
  else
    report("chroot_escape", "refused", "chroot failed (step %d)", rc);
}

// ---- /proc -------------------------------------------------------------------------------

// The writable view of /proc/sys: the instance's own once remounted, else a fresh proc's.
static const char* proc_sys(char* buf, size_t len) {
  if (g_proc_sys_rw)
    snprintf(buf, len, "/proc/sys");
  else if (g_proc[0])
    snprintf(buf, len, "%s/sys", g_proc);
  else
    snprintf(buf, len, "/proc/sys");
  return buf;
}

// Writes FILE's own value back (under /proc/sys, or a fresh proc's sys): harmless, and
// success proves write access to a host-wide setting.
static void rewrite_sysctl(const char* name, const char* file) {
  char base[300], path[400], value[4096];
  snprintf(path, sizeof(path), "%s/%s", proc_sys(base, sizeof(base)), file);
  if (read_file(path, value, sizeof(value)) < 0) {
    return report(name, errno == ENOENT ? "not-present" : verdict_of_errno(errno), "read %s: %s",
                  path, strerrorname_np(errno));
  }
  strcat(value, "\n");
  if (write_file(path, value) == 0)
    report(name, "allowed", "wrote its own value back through %s", path);
  else
    report(name, verdict_of_errno(errno), "write %s: %s", path, strerrorname_np(errno));
}

static void probe_procfs(void) {
  // The instance's /proc/sys is a read-only bind mount: remount it read-write.
  if (mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL) == 0) {
    g_proc_sys_rw = 1;
    report("proc_sys_remount_rw", "allowed",
           "mount(MS_REMOUNT|MS_BIND) of /proc/sys without MS_RDONLY");
  } else {
    report("proc_sys_remount_rw", verdict_of_errno(errno), "%s", strerrorname_np(errno));
  }
  if (g_proc_sys_rw)
    rewrite_sysctl("sysctl_vm_write", "vm/swappiness");
  else {
    char value[64];
    int rc = read_file("/proc/sys/vm/swappiness", value, sizeof(value));
    if (rc >= 0) {
      strcat(value, "\n");
      rc = write_file("/proc/sys/vm/swappiness", value);
    }
    report("sysctl_vm_write", rc == 0 ? "allowed" : verdict_of_errno(errno), "%s",
           rc == 0 ? "wrote vm.swappiness's own value" : strerrorname_np(errno));
  }

  // A masked file (a read-only /dev/null over it): unmount the mask, read, mask it again.
  const char* masked = NULL;
  static const char* const kMasked[] = {"/proc/timer_list", "/proc/keys", "/proc/kcore",
                                        "/proc/sched_debug", NULL};
  for (int i = 0; kMasked[i]; ++i) {
    if (access(kMasked[i], F_OK) == 0) {
      masked = kMasked[i];
      break;
    }
  }
  if (!masked) report("proc_unmask", "not-present", "no masked file in this kernel's /proc");
  // EINVAL: the mask is locked (a mount copied into a less privileged user namespace).
  else if (umount2(masked, 0) != 0)
    report("proc_unmask", errno == EINVAL ? "refused" : verdict_of_errno(errno), "umount %s: %s",
           masked, strerrorname_np(errno));
  else {
    char buf[64];
    int n = read_file(masked, buf, sizeof(buf));
    report("proc_unmask", "allowed", "umount %s, then read %d bytes", masked, n);
    if (mount("/dev/null", masked, NULL, MS_BIND, NULL) == 0) {
      mount(NULL, masked, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
    }
  }

  // A fresh proc: every file unmasked and /proc/sys writable (kept for the probes below).
  char dir[300];
  path_in(dir, sizeof(dir), g_dir, "proc");
  mkdir(dir, 0700);
  if (mount("proc", dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
    snprintf(g_proc, sizeof(g_proc), "%s", dir);
    report("mount_proc", "allowed", "a fresh proc at %s", dir);
  } else {
    report("mount_proc", verdict_of_errno(errno), "%s", strerrorname_np(errno));
  }
  rewrite_sysctl("core_pattern_write", "kernel/core_pattern");

  // net.core.somaxconn: which network namespace does a write through /proc/sys/net hit?
  // The driver compares the host's value after this write (sysctl_net_on_host).
  const char* value = arg("somaxconn", NULL);
  char base[300], path[400], old[64], text[80];
  snprintf(path, sizeof(path), "%s/net/core/somaxconn", proc_sys(base, sizeof(base)));
  if (!value)
    report("sysctl_net_write", "not-present", "no value given");
  else if (read_file(path, old, sizeof(old)) < 0)
    report("sysctl_net_write", verdict_of_errno(errno), "read %s: %s", path,
           strerrorname_np(errno));
  else {
    snprintf(text, sizeof(text), "%s\n", value);
    int rc = write_file(path, text);
    int err = errno;
    char now[64] = "";
    read_file("/proc/sys/net/core/somaxconn", now, sizeof(now));
    if (rc == 0)
      report("sysctl_net_write", "allowed", "wrote %s through %s; the instance's own reads %s",
             value, path, now);
    else
      report("sysctl_net_write", verdict_of_errno(err), "%s: %s", path, strerrorname_np(err));
    // Left for the driver to read from the host until the end of the run, then put back.
  }

  // The read-only /proc/sys back, so that the probes below see the instance as it started.
  if (g_proc_sys_rw &&
      mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0) {
    g_proc_sys_rw = 0;
  }

  char kcore[300];
  snprintf(kcore, sizeof(kcore), "%s/kcore", g_proc[0] ? g_proc : "/proc");
  int fd = open(kcore, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    report("proc_kcore", errno == ENOENT ? "not-present" : verdict_of_errno(errno), "open %s: %s",
           kcore, strerrorname_np(errno));
  else {
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf));
    report("proc_kcore", n > 0 ? "allowed" : "refused", "read %s: %zd bytes", kcore, n);
    close(fd);
  }
  // 'h' only prints the help to the kernel log.
  char sysrq[300];
  snprintf(sysrq, sizeof(sysrq), "%s/sysrq-trigger", g_proc[0] ? g_proc : "/proc");
  if (access(sysrq, F_OK) != 0)
    report("proc_sysrq_trigger", "not-present", "%s: no such file", sysrq);
  else if (write_file(sysrq, "h") == 0)
    report("proc_sysrq_trigger", "allowed", "wrote 'h' (help) to %s", sysrq);
  else
    report("proc_sysrq_trigger", verdict_of_errno(errno), "%s: %s", sysrq, strerrorname_np(errno));

  path_in(dir, sizeof(dir), g_dir, "sys");
  mkdir(dir, 0700);
  if (mount("sysfs", dir, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
    char probe[400];
    snprintf(probe, sizeof(probe), "%s/kernel", dir);
    report("mount_sysfs", "allowed", "a fresh sysfs at %s (%s)", dir,
           access(probe, F_OK) == 0 ? "the host's /sys/kernel in it" : "no /sys/kernel");
    umount2(dir, MNT_DETACH);
  } else {
    report("mount_sysfs", verdict_of_errno(errno), "%s", strerrorname_np(errno));
  }
}

// ---- devices -------------------------------------------------------------------------------

static void probe_devtmpfs(void) {
  char dir[300];
  path_in(dir, sizeof(dir), g_dir, "devtmpfs");
  mkdir(dir, 0700);
  if (mount("devtmpfs", dir, "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL) != 0) {
    report("mount_devtmpfs", verdict_of_errno(errno), "%s", strerrorname_np(errno));
  } else {
    snprintf(g_devtmp, sizeof(g_devtmp), "%s", dir);
    char probe[400];
    snprintf(probe, sizeof(probe), "%s/kmsg", dir);
    report("mount_devtmpfs", "allowed", "a fresh devtmpfs at %s (%s)", dir,
           access(probe, F_OK) == 0 ? "holds kmsg and the host's devices" : "empty");
  }
  // A FIFO (no device): the driver looks for it in the host's /dev and removes it.
  const char* node = arg("node", NULL);
  if (!node) return report("devtmpfs_node_create", "not-present", "no node name given");
  if (!g_devtmp[0]) return report("devtmpfs_node_create", "refused", "no devtmpfs mounted");
  char path[400];
  path_in(path, sizeof(path), g_devtmp, node);
  if (mknod(path, S_IFIFO | 0600, 0) == 0)
    report("devtmpfs_node_create", "allowed", "made FIFO %s", path);
  else
    report("devtmpfs_node_create", verdict_of_errno(errno), "%s: %s", path, strerrorname_np(errno));
}

// Finds the node of character/block device DEV in the fresh devtmpfs; "" if none.
static void devtmpfs_node(char* out, size_t len, mode_t type, dev_t dev) {
  out[0] = '\0';
  if (!g_devtmp[0]) return;
  // The top of devtmpfs holds the disks, kmsg, mem and userfaultfd.
  static const char* const kNames[] = {"vda",     "sda",  "nvme0n1", "xvda",        "hda",
                                       "mmcblk0", "kmsg", "mem",     "userfaultfd", NULL};
  for (int i = 0; kNames[i]; ++i) {
    char path[400];
    struct stat st;
    path_in(path, sizeof(path), g_devtmp, kNames[i]);
    if (stat(path, &st) == 0 && (st.st_mode & S_IFMT) == type && st.st_rdev == dev) {
      snprintf(out, len, "%s", path);
      return;
    }
  }
}

// A node of DEV: one made with mknod in the scratch directory, else the fresh devtmpfs's.
// Reports the mknod under MKNOD_NAME when given. Returns the path or NULL.
const char* device_node(char* out, size_t len, const char* mknod_name, const char* file,
                        mode_t type, dev_t dev) {
  path_in(out, len, g_dir, file);
  unlink(out);
  if (mknod(out, type | 0600, dev) == 0) {
    if (mknod_name) report(mknod_name, "allowed", "mknod %s %u:%u", out, major(dev), minor(dev));
    return out;
  }
  if (mknod_name)
    report(mknod_name, verdict_of_errno(errno), "mknod %s %u:%u: %s", out, major(dev), minor(dev),
           strerrorname_np(errno));
  devtmpfs_node(out, len, type, dev);
  return out[0] ? out : NULL;
}

int parse_dev(const char* text, dev_t* dev) {
  unsigned ma, mi;
  if (!text || sscanf(text, "%u:%u", &ma, &mi) != 2) return -1;
  *dev = makedev(ma, mi);
  return 0;
}

static void probe_disk(void) {
  dev_t dev;
  if (parse_dev(arg("disk", NULL), &dev) != 0) {
    report("mknod_host_disk", "not-present", "no host disk given");
    return report("open_host_disk", "not-present", "no host disk given");
  }
  char path[400];
  const char* node = device_node(path, sizeof(path), "mknod_host_disk", "disk", S_IFBLK, dev);
  if (!node)
    return report("open_host_disk", "refused", "no node of %u:%u (mknod refused, no devtmpfs)",
                  major(dev), minor(dev));
  int fd = open(node, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return report("open_host_disk", verdict_of_errno(errno), "open %s: %s", node,
                  strerrorname_np(errno));
  char buf[512];
  ssize_t n = read(fd, buf, sizeof(buf));
  int err = errno;
  close(fd);
  if (n > 0)
    report("open_host_disk", "allowed", "read %zd bytes of %s", n, node);
  else
    report("open_host_disk", n < 0 ? verdict_of_errno(err) : "refused", "read %s: %s", node,
           n < 0 ? strerrorname_np(err) : "0 bytes");
}

static void probe_devices(void) {
  char path[400];
  const char* node = device_node(path, sizeof(path), NULL, "mem", S_IFCHR, makedev(1, 1));
  int fd = node ? open(node, O_RDONLY | O_CLOEXEC) : -1;
  if (!node)
    report("dev_mem", "refused", "no node of 1:1 (mknod refused, no devtmpfs)");
  else if (fd < 0)
    report("dev_mem", errno == ENXIO || errno == ENODEV ? "not-present" : verdict_of_errno(errno),
           "open %s: %s", node, strerrorname_np(errno));
  else
    report("dev_mem", "allowed", "opened %s", node);
  if (fd >= 0) close(fd);

  node = device_node(path, sizeof(path), NULL, "kmsg", S_IFCHR, makedev(1, 11));
  if (!node) {
    report("dev_kmsg_read", "refused", "no node of 1:11 (mknod refused, no devtmpfs)");
    report("dev_kmsg_write", "refused", "no node of 1:11 (mknod refused, no devtmpfs)");
  } else {
    fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      report("dev_kmsg_read", verdict_of_errno(errno), "open %s: %s", node, strerrorname_np(errno));
    else {
      char rec[1024];
      ssize_t n = read(fd, rec, sizeof(rec));
      report("dev_kmsg_read", n > 0 ? "allowed" : verdict_of_errno(errno),
             "read a %zd-byte record of the host's kernel log", n);
      close(fd);
    }
    fd = open(node, O_WRONLY | O_CLOEXEC);
    static const char kLine[] = "<7>firmwared escape suite: /dev/kmsg written from an instance\n";
    if (fd < 0)
      report("dev_kmsg_write", verdict_of_errno(errno), "open %s: %s", node,
             strerrorname_np(errno));
    else {
      ssize_t n = write(fd, kLine, sizeof(kLine) - 1);
      report("dev_kmsg_write", n > 0 ? "allowed" : verdict_of_errno(errno), "%s",
             n > 0 ? "a debug line written to the host's kernel log" : strerrorname_np(errno));
      close(fd);
    }
  }
  char buf[256];
  int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf));
  report("syslog_read", n >= 0 ? "allowed" : verdict_of_errno(errno), "syslog(READ_ALL): %s",
         n >= 0 ? "the host's kernel log" : strerrorname_np(errno));
}

// ---- main ----------------------------------------------------------------------------------

static void cleanup(void) {
  if (g_devtmp[0]) {
    // The FIFO stays: the driver looks for it in the host's /dev, then removes it.
    umount2(g_devtmp, MNT_DETACH);
  }
  if (g_proc[0]) umount2(g_proc, MNT_DETACH);
  if (g_proc_sys_rw) mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
  char path[300];
  path_in(path, sizeof(path), g_dir, "disk");
  unlink(path);
  path_in(path, sizeof(path), g_dir, "mem");
  unlink(path);
  path_in(path, sizeof(path), g_dir, "kmsg");
  unlink(path);
  path_in(path, sizeof(path), g_dir, "userfaultfd");
  unlink(path);
}

// Host side, for the driver: a key in the caller's user keyring (prints the key's and the
// keyring's serials), and its removal.
static int host_key(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "host-key-add") == 0) {
    long key =
        syscall(SYS_add_key, "user", argv[2], argv[3], strlen(argv[3]), KEY_SPEC_USER_KEYRING);
    long ring = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
    if (key < 0 || ring < 0) return perror("add_key"), 1;
    printf("%ld %ld\n", key, ring);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "host-key-remove") == 0) {
    return syscall(SYS_keyctl, KEYCTL_INVALIDATE, atol(argv[2])) == 0 ? 0 : 1;
  }
  fprintf(stderr, "usage: %s host-key-add DESCRIPTION PAYLOAD | host-key-remove SERIAL\n", argv[0]);
  return 2;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strncmp(argv[1], "host-key-", 9) == 0) return host_key(argc, argv);
  g_argc = argc;
  g_argv = argv;
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(g_dir, sizeof(g_dir), "%s", arg("dir", "/tmp/fw-escape"));
  mkdir(g_dir, 0700);
  if (want("chroot")) probe_chroot();
  if (want("procfs")) probe_procfs();
  if (want("devtmpfs")) probe_devtmpfs();
  if (want("disk")) probe_disk();
  if (want("devices")) probe_devices();
  if (want("modules")) probe_modules();
  if (want("kexec")) probe_kexec();
  if (want("clock")) probe_clock();
  if (want("ptrace")) probe_ptrace();
  if (want("handles")) probe_handles();
  if (want("bpf")) probe_bpf();
  if (want("perf")) probe_perf();
  if (want("userfaultfd")) probe_userfaultfd();
  if (want("keys")) probe_keys();
  if (want("userns")) probe_userns();
  if (want("unix")) probe_unix_sockets();
  if (want("tcp")) probe_host_tcp_service();
  if (want("cgroup")) probe_cgroup();
  if (want("netns")) {
    probe_netns_setns();
    probe_netns_host_links();
    probe_netns_move_veth_out();  // last: the instance loses its network
  }
  cleanup();
  return 0;
}
