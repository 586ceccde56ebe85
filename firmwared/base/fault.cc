#include "firmwared/base/fault.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(FW_FAULT_INJECTION)
// Defined by the linker for a section whose name is a C identifier (ld(1), "__start_SEC");
// weak: an executable without any fault point has no such section.
extern "C" {
extern const char* const __start_fw_fault_points[] __attribute__((weak));
extern const char* const __stop_fw_fault_points[] __attribute__((weak));
}
#endif

namespace fw::fault {

std::vector<std::string> fault_points() {
  std::vector<std::string> out;
#if defined(FW_FAULT_INJECTION)
  if (__start_fw_fault_points != nullptr) {
    for (const char* const* p = __start_fw_fault_points; p < __stop_fw_fault_points; ++p) {
      out.emplace_back(*p);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
#endif
  return out;
}

void hit(const char* name) noexcept {
  const char* wanted = std::getenv("FIRMWARED_FAULT_POINT");
  if (wanted != nullptr && std::strcmp(wanted, name) == 0) ::raise(SIGKILL);
}

bool unconfined_clock() noexcept {
#if defined(FW_FAULT_INJECTION)
  const char* v = std::getenv(kUnconfinedClockVariable);
  return v != nullptr && std::strcmp(v, "1") == 0;
#else
  return false;
#endif
}

Status check_test_switches() {
#if !defined(FW_FAULT_INJECTION)
  if (std::getenv(kUnconfinedClockVariable) != nullptr) {
    return make_error(EPERM, std::string(kUnconfinedClockVariable) +
                                 " is set, but this build does not honour test switches "
                                 "(CMake option FW_FAULT_INJECTION); unset it");
  }
#endif
  return {};
}

}  // namespace fw::fault
