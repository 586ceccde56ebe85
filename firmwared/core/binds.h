#pragma once
// The instance property `binds`: which host paths may be bound into an instance. The syntax
// is sys::parse_bind's; this adds what the host's file system says, checked when the
// property is set and again at START (the host path may have changed in between).

#include <string>
#include <vector>

#include "firmwared/base/result.h"
#include "firmwared/config/config.h"
#include "firmwared/sys/bind_spec.h"

namespace fw::core {

// The daemon's own state, which no bind may expose: the database's directory, mount_path,
// repository_path (directories: a host path may be neither in one nor hold one) and the
// socket (a host path may not hold it, nor its directory).
struct BindPolicy {
  std::vector<std::string> state_dirs;
  std::string socket_path;
};

// The policy of a daemon running with `config`.
BindPolicy bind_policy(const config::Config& config);

// Checks one element: its syntax (sys::parse_bind), then that the host path exists, is
// canonical (no symbolic link in it: opened with RESOLVE_NO_SYMLINKS), is a directory or a
// regular file (never a device node, FIFO or socket) and stays clear of `policy`. EINVAL
// (ELOOP for a symlink, ENOENT for a missing path) naming the value and the rule.
Result<sys::BindSpec> check_bind(const std::string& value, const BindPolicy& policy);

// Checks every element of `values` (as check_bind, prefixed "binds[i]"; an element equal to
// previous[i] only as sys::parse_bind: SET_PROPERTY checks what it changes), at most
// sys::kMaxBinds of them (E2BIG), no instance path given twice (EINVAL). On success,
// `values` is rewritten in the canonical form (BindSpec::to_string: the mode spelled out).
Status check_binds(std::vector<std::string>& values, const BindPolicy& policy,
                   const std::vector<std::string>& previous = {});

}  // namespace fw::core
