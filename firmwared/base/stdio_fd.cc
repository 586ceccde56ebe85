#include "firmwared/base/stdio_fd.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

namespace fw {

namespace {

StdioKind classify_char_device(dev_t rdev) {
  // drivers/char/mem.c: 1:3 null, 1:5 zero, 1:7 full. None keeps state a reopen could
  // reach, and none takes ioctls.
  const unsigned maj = major(rdev), min = minor(rdev);
  if (maj == 1 && (min == 3 || min == 5 || min == 7)) return StdioKind::kNullDevice;
  // Terminals by number (Documentation/admin-guide/devices.txt: 2, 3 BSD ptys, 4 ttys, 5
  // tty/console/ptmx, 136-143 UNIX98 pty slaves), not with isatty: an ioctl on an unknown
  // device may be answered by a user-space driver (CUSE) that never answers, and the
  // daemon calls this on its event loop. Either way the device is refused; the kind only
  // words the message.
  if (maj == 2 || maj == 3 || maj == 4 || maj == 5 || (maj >= 136 && maj <= 143)) {
    return StdioKind::kTerminal;
  }
  return StdioKind::kCharDevice;
}

}  // namespace

StdioKind classify_stdio_fd(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return StdioKind::kClosed;
  // An O_PATH descriptor cannot be read or written, but /proc/PID/fd/N reopens it with any
  // mode (open(2), O_PATH): whatever it names, it does not cross.
  if ((flags & O_PATH) == O_PATH) return StdioKind::kPath;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return StdioKind::kClosed;
  switch (st.st_mode & S_IFMT) {
    case S_IFIFO: {
      // Anonymous pipes live in pipefs; a named FIFO in the file system that holds its
      // name, where a reopen through /proc may take the other direction.
      struct statfs fs {};
      if (::fstatfs(fd, &fs) == 0 && fs.f_type == PIPEFS_MAGIC) return StdioKind::kPipe;
      return StdioKind::kNamedFifo;
    }
    case S_IFDIR:
      return StdioKind::kDirectory;
    case S_IFREG:
      return StdioKind::kRegularFile;
    case S_IFCHR:
      return classify_char_device(st.st_rdev);
    case S_IFBLK:
      return StdioKind::kBlockDevice;
    case S_IFSOCK:
      return StdioKind::kSocket;
    default:
      return StdioKind::kOther;
  }
}

bool stdio_may_cross(StdioKind kind) {
  return kind == StdioKind::kPipe || kind == StdioKind::kNullDevice;
}

const char* describe(StdioKind kind) {
  switch (kind) {
    case StdioKind::kPipe:
      return "a pipe";
    case StdioKind::kNullDevice:
      return "/dev/null, /dev/zero or /dev/full";
    case StdioKind::kNamedFifo:
      return "a named FIFO";
    case StdioKind::kDirectory:
      return "a directory";
    case StdioKind::kRegularFile:
      return "a regular file";
    case StdioKind::kTerminal:
      return "a terminal";
    case StdioKind::kCharDevice:
      return "a character device";
    case StdioKind::kBlockDevice:
      return "a block device";
    case StdioKind::kSocket:
      return "a socket";
    case StdioKind::kPath:
      return "an O_PATH descriptor";
    case StdioKind::kOther:
      return "an anonymous inode or other special file";
    case StdioKind::kClosed:
      return "not an open descriptor";
  }
  return "unknown";
}

}  // namespace fw
