#pragma once
// The privileges firmwared cannot work without, checked before it touches anything (and by
// `fwctl doctor`): uid 0 and a set of capabilities in the effective set (capabilities(7)).
// An unprivileged container (a default Docker executor) has root without CAP_SYS_ADMIN or
// CAP_NET_ADMIN; the daemon would get far and fail at the first mount or veth.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "firmwared/base/result.h"

namespace fw::sys {

struct NeededCapability {
  int number;        // CAP_* (linux/capability.h)
  const char* name;  // "CAP_SYS_ADMIN"
  const char* why;   // what the daemon does with it
};

// What the daemon needs. `apparmor`: profiles are loaded (the kernel enforces AppArmor and
// disable_apparmor is not set), which also needs CAP_MAC_ADMIN.
std::vector<NeededCapability> needed_capabilities(bool apparmor);

// This process's effective capability set as a bit mask (bit n = capability n), by capget(2).
// Errors: capget's.
Result<uint64_t> effective_capabilities();

// The needed capabilities missing from `effective`.
std::vector<NeededCapability> missing_capabilities(uint64_t effective, bool apparmor);

// "" when `euid` is 0 and `effective` holds every needed capability; else one message naming
// what is missing and what to do. Pure, for tests.
std::string privilege_problem(uid_t euid, uint64_t effective, bool apparmor);

// privilege_problem() of this process: the refusal the daemon starts with. An unreadable
// capability set is reported as such.
std::string check_privileges(bool apparmor);

}  // namespace fw::sys
