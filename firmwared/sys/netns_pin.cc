#include "firmwared/sys/netns_pin.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "firmwared/base/fd.h"

namespace fw::sys {

Result<NetnsPin> NetnsPin::pin(pid_t pid, std::string file, const std::string& what) {
  Fd f(::open(file.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444));
  if (!f) return errno_error("creating '" + file + "'");
  NetnsPin pin(std::move(file));  // from here on, a failure removes the file
  const std::string source = "/proc/" + std::to_string(pid) + "/ns/net";
  if (::mount(source.c_str(), pin.file_.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return errno_error("pinning " + what + " on '" + pin.file_ + "'");
  }
  return pin;
}

Status NetnsPin::remove() {
  if (file_.empty()) return {};
  const std::string file = release();
  // EINVAL: not a mount point (never mounted, or already detached); ENOENT: gone.
  if (::umount2(file.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
      errno != ENOENT) {
    return errno_error("unpinning '" + file + "'");
  }
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
    return errno_error("removing '" + file + "'");
  }
  return {};
}

}  // namespace fw::sys
