#include "firmwared/sys/pty.h"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>

namespace fw::sys {

Result<Pty> open_pty() {
  Pty p;
  p.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master) return errno_error("opening a pseudo-terminal master (posix_openpt)");
  if (::grantpt(p.master.get()) != 0) return errno_error("grantpt");
  if (::unlockpt(p.master.get()) != 0) return errno_error("unlockpt");
  char name[128];
  if (::ptsname_r(p.master.get(), name, sizeof(name)) != 0) return errno_error("ptsname_r");
  p.slave_path = name;
  return p;
}

Status make_raw(int fd) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) return errno_error("tcgetattr");
  ::cfmakeraw(&t);
  if (::tcsetattr(fd, TCSANOW, &t) != 0) return errno_error("tcsetattr");
  return {};
}

}  // namespace fw::sys
