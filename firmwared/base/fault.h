#pragma once
// Fault points: FW_FAULT_POINT("start.monitor_spawned") marks a step of a
// multi-step operation where a crash must leave a state the next daemon start reconciles.
// In builds with the CMake option FW_FAULT_INJECTION (the dev and asan presets), the process
// kills itself with SIGKILL there when the environment variable FIRMWARED_FAULT_POINT names
// that point; in other builds the macro compiles to nothing. Each point's name is also
// placed in the ELF section "fw_fault_points", so fault_points() lists them all without a
// hand-kept list. Names: "<operation>.<step>", operation one of prepare_image,
// prepare_instance, start, kill, drop, snapshot, commit.

#include <string>
#include <vector>

namespace fw::fault {

// Every fault point compiled into this executable, sorted; empty without FW_FAULT_INJECTION.
std::vector<std::string> fault_points();
// SIGKILLs the process when FIRMWARED_FAULT_POINT equals `name`.
void hit(const char* name) noexcept;

}  // namespace fw::fault

#if defined(FW_FAULT_INJECTION)
#define FW_FAULT_POINT(name)                                                              \
  do {                                                                                    \
    [[gnu::used, gnu::section("fw_fault_points")]] static const char* const fw_fp = name; \
    ::fw::fault::hit(fw_fp);                                                              \
  } while (0)
#else
#define FW_FAULT_POINT(name) \
  do {                       \
  } while (0)
#endif
