#pragma once
// The seccomp filter firmwared-archive runs under while it reads an instance's files: it
// may read anything (it runs as root, to read every file and the overlay's trusted.*
// xattrs) but changes nothing. Refused with EPERM: opening a file for writing or creating
// one (open, openat with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND; openat2 and creat
// outright), every call that changes a file or its metadata (unlink, rename, mkdir, link,
// symlink, mknod, chmod, chown, truncate, setxattr, removexattr, utimes), running a
// program or making a process (execve, fork, clone), sockets, mounts and namespaces,
// signalling another process, ptrace and the other process-memory calls, modules, bpf,
// keys, io_uring. It writes only to the descriptors it was given (the tar and the report).
// The filter covers the native architecture; a system call of another one (int 0x80 on
// x86-64) kills the process.

#include "firmwared/base/result.h"

namespace fw::archive {

// Installs the filter on the calling process (no_new_privs first), for good.
Status enter_read_only();

}  // namespace fw::archive
