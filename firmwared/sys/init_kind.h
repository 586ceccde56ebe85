#pragma once
// Which init a firmware boots, read from its tree: the signal that asks that init to shut
// down is chosen from it (systemd: SIGRTMIN+3, BusyBox: SIGUSR2, sysvinit: SIGINT; any
// other: SIGTERM), and whether it is a binary for another machine (run by qemu-user).

#include <string>

#include "firmwared/base/result.h"

namespace fw::sys {

enum class InitKind { kUnknown, kSystemd, kBusybox, kSysvinit };

struct InitInfo {
  InitKind kind = InitKind::kUnknown;
  std::string path;  // the file /sbin/init leads to, inside the tree ("" if none)
};

// Follows /sbin/init inside `root` (every symlink resolved inside it, never out of it:
// openat2(2) RESOLVE_IN_ROOT) and looks at the names on the way, then at the file's
// contents (the first 8 MiB of a regular file). A tree without /sbin/init is kUnknown.
Result<InitInfo> detect_init(const std::string& root);

// "systemd", "busybox", "sysvinit" or "unknown".
const char* init_kind_name(InitKind kind);

// The stop signal's name for an init ("SIGRTMIN+3", "SIGUSR2", "SIGINT", "SIGTERM").
const char* default_stop_signal(InitKind kind);

}  // namespace fw::sys
