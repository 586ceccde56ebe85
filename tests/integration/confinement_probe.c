// confinement_probe: run inside an instance by confinement_test.sh (built static, copied
// into the test firmware). Each probe makes one system call an attacker would make and
// prints "RESULT <name> <OK|ERRNO_NAME>" (plus details), so the test can assert which layer
// answered: e.g. the kernel answers ENOSYS to init_module without module support, the
// seccomp filter answers EPERM.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

static void result(const char* name, long rc) {
  printf("RESULT %s %s\n", name, rc < 0 ? strerrorname_np(errno) : "OK");
  fflush(stdout);
}

// Every setter asks for no change at all (the current time, a zero offset): should the
// confinement ever fail, the probe still leaves the host's clock alone. The answer code is
// what the test checks.
static void probe_time(void) {
  struct timespec now;
  result("clock_gettime", clock_gettime(CLOCK_REALTIME, &now));
  clock_gettime(CLOCK_REALTIME, &now);
  result("clock_settime_realtime", syscall(SYS_clock_settime, CLOCK_REALTIME, &now));
  result("clock_settime_monotonic", syscall(SYS_clock_settime, CLOCK_MONOTONIC, &now));
  result("clock_settime_boottime", syscall(SYS_clock_settime, CLOCK_BOOTTIME, &now));
  struct timeval tv;
  gettimeofday(&tv, NULL);
  result("settimeofday", syscall(SYS_settimeofday, &tv, NULL));
  result("settimeofday_null", syscall(SYS_settimeofday, NULL, NULL));
  struct timex tx;
  memset(&tx, 0, sizeof(tx));
  result("adjtimex_read", syscall(SYS_adjtimex, &tx));
  // The kernel writes the clock's state back into the struct (time included): a fresh,
  // zeroed one for every call, or a "zero" offset would become the current time.
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_SETOFFSET;
  result("adjtimex_setoffset", syscall(SYS_adjtimex, &tx));
  memset(&tx, 0, sizeof(tx));
  result("clock_adjtime_realtime_read", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_SETOFFSET;
  result("clock_adjtime_realtime_setoffset", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
  memset(&tx, 0, sizeof(tx));
  result("clock_adjtime_tai", syscall(SYS_clock_adjtime, CLOCK_TAI, &tx));
}

static void probe_kernel(const char* some_file) {
  result("init_module", syscall(SYS_init_module, "\177ELF", 4, ""));
  int fd = open(some_file, O_RDONLY | O_CLOEXEC);
  result("finit_module", syscall(SYS_finit_module, fd, "", 0));
  result("delete_module", syscall(SYS_delete_module, "loop", O_NONBLOCK));
  result("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  result("kexec_file_load", syscall(SYS_kexec_file_load, fd, fd, 1, "", 0));
  // A genuine handle of a file of the instance (name_to_handle_at is allowed): the
  // "shocker" escape forges a handle of a host inode and opens it with open_by_handle_at.
  struct {
    struct file_handle fh;
    unsigned char bytes[128];
  } h;
  h.fh.handle_bytes = sizeof(h.bytes);
  int mount_id;
  result("name_to_handle_at",
         syscall(SYS_name_to_handle_at, AT_FDCWD, some_file, &h.fh, &mount_id, 0));
  int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  result("open_by_handle_at", syscall(SYS_open_by_handle_at, root, &h.fh, O_RDONLY));
  close(root);
  close(fd);
}

// mknod of block device MAJOR:MINOR at PATH, then reading 512 bytes from it.
static void probe_disk(const char* path, unsigned major_nr, unsigned minor_nr) {
  result("mknod_block", mknod(path, S_IFBLK | 0600, makedev(major_nr, minor_nr)));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  result("open_block", fd);
  if (fd >= 0) {
    char buf[512];
    result("read_block", read(fd, buf, sizeof(buf)));
    close(fd);
    unlink(path);
  }
}

// The classic chroot escape: chroot into a subdirectory while keeping the cwd outside,
// climb with "..", chroot("."). It leaves a chroot(2) jail; it must not leave the mount
// namespace whose root is the instance (pivot_root).
static void probe_chroot_escape(const char* marker) {
  mkdir("/tmp/escape", 0700);
  result("chroot_into_subdir", chroot("/tmp/escape"));
  for (int i = 0; i < 64; ++i) {
    if (chdir("..") != 0) break;
  }
  result("chroot_dot", chroot("."));
  struct stat st;
  result("escaped_stat_host_marker", stat(marker, &st));
  result("escaped_stat_firmware_release", stat("/etc/firmware-release", &st));
}

// Remounting PATH read-write, as the syscall (busybox's mount looks it up first).
static void probe_remount(const char* path) {
  result("remount_rw", mount(NULL, path, NULL, MS_REMOUNT, NULL));
  result("remount_bind_rw", mount(NULL, path, NULL, MS_REMOUNT | MS_BIND, NULL));
}

// TIOCSTI on the command's stdio and on what reopening /proc/self/fd/N gives (the
// exec stdio rules): a terminal of the operator must never be reachable. The character is a
// harmless '#'. Also prints what each descriptor is (readlink).
static void probe_tiocsti(void) {
  for (int fd = 0; fd <= 2; ++fd) {
    char name[64], link[256] = "";
    snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(name, link, sizeof(link) - 1);
    if (n > 0) link[n] = '\0';
    printf("FD %d %s\n", fd, link);
    const char c = '#';
    snprintf(name, sizeof(name), "tiocsti_fd%d", fd);
    result(name, ioctl(fd, TIOCSTI, &c));
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int re = open(path, O_RDWR | O_NOCTTY);
    snprintf(name, sizeof(name), "tiocsti_reopen_fd%d", fd);
    result(name, re < 0 ? re : ioctl(re, TIOCSTI, &c));
    if (re >= 0) close(re);
  }
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "time") == 0) {
    probe_time();
  } else if (argc >= 3 && strcmp(argv[1], "kernel") == 0) {
    probe_kernel(argv[2]);
  } else if (argc >= 5 && strcmp(argv[1], "disk") == 0) {
    probe_disk(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
  } else if (argc >= 3 && strcmp(argv[1], "remount") == 0) {
    probe_remount(argv[2]);
  } else if (argc >= 3 && strcmp(argv[1], "chroot-escape") == 0) {
    probe_chroot_escape(argv[2]);
  } else if (argc >= 2 && strcmp(argv[1], "tiocsti") == 0) {
    probe_tiocsti();
  } else {
    fprintf(stderr,
            "usage: %s time | kernel FILE | disk PATH MAJOR MINOR | remount PATH | "
            "chroot-escape MARKER | tiocsti\n",
            argv[0]);
    return 2;
  }
  return 0;
}
