#pragma once
// Processes tracked by pidfd (no PID-reuse races) and identified across daemon restarts by
// (pid, start time).

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

// pidfd_open(2). ESRCH when the process is gone.
Result<Fd> pidfd_open(pid_t pid);
// pidfd_send_signal(2). ESRCH when the process already exited.
Status pidfd_send_signal(int pidfd, int sig);
// The process's start time in clock ticks since boot (/proc/PID/stat field 22). ESRCH when
// it does not exist.
Result<uint64_t> process_start_time(pid_t pid);
// Opens a pidfd for `pid` only if it is still the process that started at `start_time`.
// ESRCH when it is gone or the pid was reused.
Result<Fd> pidfd_open_verified(pid_t pid, uint64_t start_time);

}  // namespace fw::sys
