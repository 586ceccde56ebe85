#include "firmwared/base/paths.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fw {

std::string executable_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

std::string find_shipped(const std::initializer_list<const char*>& candidates,
                         const std::string& installed) {
  const std::string dir = executable_dir();
  struct stat st {};
  if (!dir.empty()) {
    for (const char* c : candidates) {
      std::string p = dir + "/" + c;
      if (::stat(p.c_str(), &st) == 0) {
        char real[PATH_MAX];
        return ::realpath(p.c_str(), real) != nullptr ? std::string(real) : p;
      }
    }
  }
  return installed;
}

}  // namespace fw
