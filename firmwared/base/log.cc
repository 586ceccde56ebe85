#include "firmwared/base/log.h"

#include <sys/uio.h>

#include <atomic>
#include <string>

namespace fw::log {
namespace {
std::atomic<int> g_max_level{static_cast<int>(Level::kInfo)};
}

void set_max_level(Level level) { g_max_level = static_cast<int>(level); }
Level max_level() { return static_cast<Level>(g_max_level.load()); }

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) > g_max_level.load()) return;
  std::string prefix = "<" + std::to_string(static_cast<int>(level)) + ">";
  // One writev so lines from several threads do not interleave.
  iovec iov[3] = {{prefix.data(), prefix.size()},
                  {const_cast<char*>(message.data()), message.size()},
                  {const_cast<char*>("\n"), 1}};
  ssize_t r = ::writev(2, iov, 3);
  (void)r;
}

}  // namespace fw::log
