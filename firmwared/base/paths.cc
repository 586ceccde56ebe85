#include "firmwared/base/paths.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "firmwared/base/fd.h"

namespace fw {

std::string executable_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

Result<std::string> read_small_file(const std::string& path, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errno_error("opening '" + path + "'");
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("reading '" + path + "'");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return make_error(EFBIG,
                        "'" + path + "' is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

std::string canonical_dir(const std::string& dir) {
  std::unique_ptr<char, decltype(&::free)> real(::realpath(dir.c_str(), nullptr), ::free);
  std::string out = real ? std::string(real.get()) : dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool is_below(std::string_view path, std::string_view dir) {
  if (dir.empty() || dir[0] != '/' || path.empty() || path[0] != '/') return false;
  if (dir == "/") return true;
  return path == dir ||
         (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

}  // namespace fw
