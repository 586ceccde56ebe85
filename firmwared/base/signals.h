#pragma once
// Signal names as users write them ("SIGRTMIN+3", "rtmin+3", "USR2", "15") and as the
// daemon shows them ("SIGRTMIN+3"), with the shift qemu-user applies to real-time signals.

#include <string>
#include <string_view>

#include "firmwared/base/result.h"

namespace fw {

// 1..64 (SIGRTMAX); names with or without "SIG", any case; "RTMIN+n" / "RTMAX-n" relative
// to the C library's SIGRTMIN/SIGRTMAX (glibc: 34..64, as kill(1) counts them). EINVAL
// naming the text otherwise. SIGKILL and SIGSTOP are valid here: the caller decides.
Result<int> parse_signal(std::string_view text);

// "SIGTERM", "SIGRTMIN+3"; "SIG<n>" for a number without a name.
std::string signal_name(int sig);

// qemu-user delivers a host real-time signal n to its guest as n - 2 (it keeps the two
// lowest for itself), so a guest's SIGRTMIN+3 is the host's SIGRTMIN+5. Standard signals
// pass unchanged; a real-time signal that cannot be shifted (past SIGRTMAX) stays as is.
int qemu_user_host_signal(int guest_sig);

}  // namespace fw
