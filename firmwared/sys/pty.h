#pragma once
// Pseudo-terminals for instance consoles (pty(7)).

#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"

namespace fw::sys {

struct Pty {
  Fd master;               // O_RDWR | O_NOCTTY | O_CLOEXEC
  std::string slave_path;  // /dev/pts/N
};

// posix_openpt + grantpt + unlockpt + ptsname_r; the slave is not opened.
Result<Pty> open_pty();
// Puts the terminal `fd` in raw mode (cfmakeraw).
Status make_raw(int fd);

}  // namespace fw::sys
