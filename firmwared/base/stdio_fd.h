#pragma once
// What a descriptor offered as a command's stdin, stdout or stderr is, and whether it may
// cross into an instance (docs/security.md, "What crosses into an instance on EXEC").
//
// A descriptor handed into an instance can be reopened by the instance's root through
// /proc/PID/fd/N, with any access mode DAC allows root: a read-only regular file becomes
// writable, a directory gives the whole host tree, a named FIFO can be opened the other
// way, a terminal takes TIOCSTI, a socket carries forged SCM_CREDENTIALS. Only anonymous
// pipes (pipefs: reopening one only reaches that pipe) and the harmless memory devices
// /dev/null, /dev/zero and /dev/full may cross. The daemon enforces this (clients are
// untrusted); fwctl uses the same classification to decide what it must relay.
//
// Lives in base because both the daemon and fwctl (which links only base and protocol)
// need it.

namespace fw {

enum class StdioKind {
  kPipe,        // anonymous pipe (fstatfs: PIPEFS_MAGIC): crosses
  kNullDevice,  // char 1:3, 1:5, 1:7 (/dev/null, /dev/zero, /dev/full): crosses
  kNamedFifo,   // a FIFO with a name in some file system
  kDirectory,
  kRegularFile,  // includes memfds
  kTerminal,     // a tty or pty, either side (by device number)
  kCharDevice,   // any other character device
  kBlockDevice,
  kSocket,
  kPath,    // opened with O_PATH
  kOther,   // anonymous inodes (eventfd, epoll, signalfd, pidfd, ...), symlinks
  kClosed,  // not an open descriptor (EBADF)
};

// Classifies `fd` with fcntl(F_GETFL), fstat and fstatfs only (no ioctl): never reads,
// writes or changes it.
StdioKind classify_stdio_fd(int fd);

// True for kPipe and kNullDevice.
bool stdio_may_cross(StdioKind kind);

// "a pipe", "a directory", "a regular file", ... for messages.
const char* describe(StdioKind kind);

}  // namespace fw
