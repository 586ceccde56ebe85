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

#include "firmwared/base/result.h"

namespace fw::fault {

// Every fault point compiled into this executable, sorted; empty without FW_FAULT_INJECTION.
std::vector<std::string> fault_points();
// SIGKILLs the process when FIRMWARED_FAULT_POINT equals `name`.
void hit(const char* name) noexcept;

// Test switch: with FIRMWARED_TEST_UNCONFINED_CLOCK=1 in its environment, a build with
// FW_FAULT_INJECTION keeps CAP_SYS_TIME in an instance's capability sets and leaves the
// clock calls out of its seccomp filter, so that a test can show the AppArmor profile alone
// refuses them (tests/integration/apparmor_vm_test.sh). It weakens the confinement: it
// exists only for that test.
inline constexpr const char* kUnconfinedClockVariable = "FIRMWARED_TEST_UNCONFINED_CLOCK";
// True when the switch is on and this build honours it.
bool unconfined_clock() noexcept;
// The daemon's check at start: EPERM when a test switch is set in the environment of a
// build that does not honour it (so a production daemon never runs with it silently
// ignored, or worse, believed on); OK otherwise.
Status check_test_switches();

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
