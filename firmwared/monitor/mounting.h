#pragma once
// The helpers every launch step of the monitor uses (launch.cc, dev.cc, binds.cc): mount
// errors name the mount point and the step.

#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <string>

#include "firmwared/base/result.h"

namespace fw::monitor {

// mount(2); the error names `type` ("bind" when null) and `dst`.
inline Status do_mount(const char* src, const std::string& dst, const char* type,
                       unsigned long flags, const char* data) {
  if (::mount(src, dst.c_str(), type, flags, data) != 0) {
    return errno_error(std::string("mounting ") + (type ? type : "bind") + " on '" + dst + "'");
  }
  return {};
}

// mkdir(2); an existing entry counts as done.
inline Status ensure_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("creating '" + path + "'");
  }
  return {};
}

// Makes the directories the monitor adds to the instance's tree as the instance's root: in
// a user namespace the overlay's layers are idmapped, and host root's own ids cannot be
// written there (EOVERFLOW). fsuid is per process here (the monitor has one thread); going
// back to 0 restores the file capabilities (capabilities(7)).
class AsInstanceRoot {
 public:
  explicit AsInstanceRoot(uint32_t uid_base) : on_(uid_base != 0) {
    if (!on_) return;
    ::setfsgid(uid_base);
    ::setfsuid(uid_base);
  }
  ~AsInstanceRoot() {
    if (!on_) return;
    ::setfsuid(0);
    ::setfsgid(0);
  }
  AsInstanceRoot(const AsInstanceRoot&) = delete;
  AsInstanceRoot& operator=(const AsInstanceRoot&) = delete;

 private:
  bool on_;
};

}  // namespace fw::monitor
