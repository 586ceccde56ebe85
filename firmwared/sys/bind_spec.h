#pragma once
// One element of an instance's `binds` property: a host path bind-mounted into the
// instance, written HOST_PATH:INSTANCE_PATH[:ro|rw] (read-only when the mode is omitted).
// Shared by the daemon (which checks the host side against its policy) and the monitor
// (which mounts it).

#include <cstddef>
#include <string>

#include "firmwared/base/result.h"

namespace fw::sys {

// At most this many binds per instance, and this many bytes per path.
inline constexpr size_t kMaxBinds = 32;
inline constexpr size_t kMaxBindPathBytes = 1024;

struct BindSpec {
  std::string host;    // absolute, normalized; never "/"
  std::string target;  // absolute, normalized, inside the instance; never "/"
  bool read_only = true;
  // "HOST:TARGET:ro" or "HOST:TARGET:rw": what parse_bind() reads back.
  std::string to_string() const;
};

// Parses `value` and checks its syntax (not the file system): both paths absolute, at most
// kMaxBindPathBytes, no ':' (the separator), no control character, no empty, "." or ".."
// component, no trailing '/', not "/"; the target not /dev, /proc or /sys nor below them
// (firmwared mounts its own there); the host path not below /proc, /sys or /dev (the host
// kernel's controls and devices). EINVAL naming `value` and the rule otherwise.
Result<BindSpec> parse_bind(const std::string& value);

// True when `path` is `dir` or below it (both normalized absolute paths).
bool path_within(const std::string& path, const std::string& dir);

}  // namespace fw::sys
