#pragma once
// The two mount helpers every launch step of the monitor uses (launch.cc, dev.cc): their
// errors name the mount point and the step.

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

}  // namespace fw::monitor
