#include "firmwared/core/binds.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <set>

#include "firmwared/base/fd.h"
#include "firmwared/base/strings.h"
#include "firmwared/sys/mount.h"

namespace fw::core {

namespace {

// `path` through its symbolic links, or "" when it cannot be resolved.
std::string resolved(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

const char* kind_of(mode_t mode) {
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a directory nor a regular file";
}

// The host path opened without following a symlink anywhere in it (openat2(2),
// RESOLVE_NO_SYMLINKS): a path that holds one is not canonical.
Result<Fd> open_host(const sys::BindSpec& b, const std::string& what) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, b.host.c_str(), &how, sizeof(how));
  if (fd >= 0) return Fd(static_cast<int>(fd));
  const int e = errno;
  if (e == ELOOP) {
    const std::string real = resolved(b.host);
    return make_error(
        ELOOP,
        what + ": host path " + quote_path(b.host) + " is not canonical: it holds a symbolic link" +
            (real.empty() ? "" : " (it resolves to " + quote_path(real) + "; bind that path)"));
  }
  if (e == ENOENT) {
    return make_error(ENOENT, what + ": host path " + quote_path(b.host) + " does not exist");
  }
  return errno_error(e, what + ": opening host path " + quote_path(b.host));
}

Status check_state(const sys::BindSpec& b, const Fd& fd, const std::string& what,
                   const BindPolicy& policy) {
  for (const auto& dir : policy.state_dirs) {
    const std::string real = resolved(dir).empty() ? dir : resolved(dir);
    for (const std::string& s : {dir, real}) {
      if (sys::path_within(b.host, s)) {
        return make_error(EINVAL, what + ": host path " + quote_path(b.host) +
                                      " is in the daemon's state directory " + quote_path(dir));
      }
    }
  }
  if (!policy.socket_path.empty()) {
    // Bound, the socket would let the firmware's root command the daemon.
    const std::string& sock = policy.socket_path;
    const size_t slash = sock.find_last_of('/');
    const std::string sock_dir =
        slash == 0 || slash == std::string::npos ? "/" : sock.substr(0, slash);
    const std::string real_dir = resolved(sock_dir).empty() ? sock_dir : resolved(sock_dir);
    for (const std::string& s : {sock_dir, real_dir}) {
      if (sys::path_within(s, b.host) || sys::path_within(b.host, sock)) {
        return make_error(EINVAL, what + ": host path " + quote_path(b.host) +
                                      " holds the daemon's socket " + quote_path(sock));
      }
    }
  }
  // By inode as well: "/" under another name, a state directory reached through a bind
  // mount of one of its parents.
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (auto s =
            sys::refuse_host_dirs(fd.get(), "host path " + quote_path(b.host), policy.state_dirs);
        !s.ok()) {
      return s.error().wrap(what);
    }
  }
  return {};
}

}  // namespace

BindPolicy bind_policy(const config::Config& config) {
  const std::string& db = config.database_path();
  const size_t slash = db.find_last_of('/');
  const std::string db_dir = slash == 0 || slash == std::string::npos ? "/" : db.substr(0, slash);
  return {{db_dir, config.mount_path(), config.repository_path()}, config.socket_path()};
}

Result<sys::BindSpec> check_bind(const std::string& value, const BindPolicy& policy) {
  FW_ASSIGN_OR_RETURN(sys::BindSpec b, sys::parse_bind(value));
  const std::string what = "bind " + quote_path(value);
  FW_ASSIGN_OR_RETURN(Fd fd, open_host(b, what));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error(what + ": inspecting host path");
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return make_error(EINVAL, what + ": host path " + quote_path(b.host) + " is " +
                                  kind_of(st.st_mode) +
                                  "; only directories and regular files can be bound");
  }
  FW_TRY(check_state(b, fd, what, policy));
  return b;
}

Status check_binds(std::vector<std::string>& values, const BindPolicy& policy,
                   const std::vector<std::string>& previous) {
  if (values.size() > sys::kMaxBinds) {
    return make_error(E2BIG, "binds has " + std::to_string(values.size()) + " elements; at most " +
                                 std::to_string(sys::kMaxBinds) + " are allowed");
  }
  std::vector<std::string> canonical;
  std::set<std::string> targets;
  for (size_t i = 0; i < values.size(); ++i) {
    const bool unchanged = i < previous.size() && previous[i] == values[i];
    auto b = unchanged ? sys::parse_bind(values[i]) : check_bind(values[i], policy);
    if (!b.ok()) return b.error().wrap("binds[" + std::to_string(i) + "]");
    if (!targets.insert(b->target).second) {
      return make_error(EINVAL, "binds[" + std::to_string(i) + "]: instance path " +
                                    quote_path(b->target) + " is bound twice");
    }
    canonical.push_back(b->to_string());
  }
  values = std::move(canonical);
  return {};
}

}  // namespace fw::core
