// Probe run inside an instance by the AppArmor VM lane (apparmor_vm_test.sh): each
// subcommand attempts one thing and prints "RESULT <key> OK" or "RESULT <key> <ERRNO>".
//   clock                      set the clock every way (each by +1 h; nothing stays set:
//                              a success is put back at once) and read it
//   open KEY PATH r            open PATH and read one byte
//   open KEY PATH w DATA       open PATH and write DATA
//   mount KEY SRC DST TYPE FLAGS DATA   mount(2), creating DST; FLAGS: none, bind, rbind,
//                              move, remount-rw-bind, remount-rw; DATA "-" for none
//   umount KEY PATH            umount2(PATH, MNT_DETACH)
//   newns                      the commands after it run in a new private mount
//                              namespace (unshare, rprivate), so mounts do not leak into
//                              the instance: `newns mount ... open ...`
//   fsmount KEY TYPE DST       the new mount API: fsopen, fsconfig, fsmount, move_mount
// Several subcommands may follow each other on one command line.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

static void result(const char* key, int ok) {
  if (ok) {
    printf("RESULT %s OK\n", key);
  } else {
    const char* name = strerrorname_np(errno);
    printf("RESULT %s %s\n", key, name != NULL ? name : "E?");
  }
  fflush(stdout);
}

static void clock_probes(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct timeval tv = {now.tv_sec + 3600, 0};
  int ok = settimeofday(&tv, NULL) == 0;
  result("settimeofday", ok);
  if (ok) clock_settime(CLOCK_REALTIME, &now);

  struct timespec later = {now.tv_sec + 3600, 0};
  ok = clock_settime(CLOCK_REALTIME, &later) == 0;
  result("clock_settime_realtime", ok);
  if (ok) clock_settime(CLOCK_REALTIME, &now);

  struct timex tx;
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_SETOFFSET;
  tx.time.tv_sec = 3600;
  ok = adjtimex(&tx) >= 0;
  result("adjtimex_setoffset", ok);
  if (ok) {
    tx.time.tv_sec = -3600;
    adjtimex(&tx);
  }
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_SETOFFSET;
  tx.time.tv_sec = 3600;
  ok = clock_adjtime(CLOCK_REALTIME, &tx) >= 0;
  result("clock_adjtime_setoffset", ok);
  if (ok) {
    tx.time.tv_sec = -3600;
    clock_adjtime(CLOCK_REALTIME, &tx);
  }
  memset(&tx, 0, sizeof(tx));
  tx.modes = ADJ_FREQUENCY;
  tx.freq = 0;
  result("adjtimex_frequency", adjtimex(&tx) >= 0);
  memset(&tx, 0, sizeof(tx));
  result("adjtimex_read", adjtimex(&tx) >= 0);
}

static unsigned long mount_flags(const char* f) {
  if (strcmp(f, "bind") == 0) return MS_BIND;
  if (strcmp(f, "rbind") == 0) return MS_BIND | MS_REC;
  if (strcmp(f, "move") == 0) return MS_MOVE;
  if (strcmp(f, "remount-rw-bind") == 0) return MS_REMOUNT | MS_BIND;
  if (strcmp(f, "remount-rw") == 0) return MS_REMOUNT;
  return 0;
}

static void open_probe(const char* key, const char* path, const char* mode, const char* data) {
  const int write_mode = strcmp(mode, "w") == 0;
  int fd = open(path, (write_mode ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    result(key, 0);
    return;
  }
  ssize_t n;
  if (write_mode) {
    n = write(fd, data, strlen(data));
  } else {
    char c;
    n = read(fd, &c, 1);
  }
  result(key, n >= 0);
  close(fd);
}

static void fsmount_probe(const char* key, const char* type, const char* dst) {
  int fs = (int)syscall(SYS_fsopen, type, 0);
  if (fs < 0) return result(key, 0);
  if (syscall(SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0) != 0) {
    return result(key, 0);
  }
  int mnt = (int)syscall(SYS_fsmount, fs, 0, 0);
  if (mnt < 0) return result(key, 0);
  result(key, syscall(SYS_move_mount, mnt, "", AT_FDCWD, dst, 4 /* MOVE_MOUNT_F_EMPTY_PATH */) == 0);
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc;) {
    const char* cmd = argv[i];
    if (strcmp(cmd, "clock") == 0) {
      clock_probes();
      i += 1;
    } else if (strcmp(cmd, "newns") == 0) {
      int ok = unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
      result("newns", ok);
      i += 1;
    } else if (strcmp(cmd, "open") == 0 && i + 3 < argc && strcmp(argv[i + 3], "r") == 0) {
      open_probe(argv[i + 1], argv[i + 2], "r", "");
      i += 4;
    } else if (strcmp(cmd, "open") == 0 && i + 4 < argc && strcmp(argv[i + 3], "w") == 0) {
      open_probe(argv[i + 1], argv[i + 2], "w", argv[i + 4]);
      i += 5;
    } else if (strcmp(cmd, "mount") == 0 && i + 6 < argc) {
      const char* data = strcmp(argv[i + 6], "-") == 0 ? NULL : argv[i + 6];
      mkdir(argv[i + 3], 0755);
      result(argv[i + 1], mount(argv[i + 2], argv[i + 3], argv[i + 4], mount_flags(argv[i + 5]),
                                data) == 0);
      i += 7;
    } else if (strcmp(cmd, "umount") == 0 && i + 2 < argc) {
      result(argv[i + 1], umount2(argv[i + 2], MNT_DETACH) == 0);
      i += 3;
    } else if (strcmp(cmd, "fsmount") == 0 && i + 3 < argc) {
      mkdir(argv[i + 3], 0755);
      fsmount_probe(argv[i + 1], argv[i + 2], argv[i + 3]);
      i += 4;
    } else {
      fprintf(stderr, "apparmor_vm_probe: bad arguments at '%s'\n", cmd);
      return 2;
    }
  }
  return 0;
}
