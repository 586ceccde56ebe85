#include "firmwared/base/fd.h"

#include <unistd.h>

namespace fw {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) {
    // close(2): never retry on EINTR on Linux, the descriptor is gone either way.
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace fw
