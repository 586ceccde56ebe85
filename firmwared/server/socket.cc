#include "firmwared/server/socket.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "firmwared/base/log.h"
#include "firmwared/base/systemd_protocol.h"

namespace fw::server {

namespace {

constexpr const char* kGroupName = "firmwared";

Result<sockaddr_un> make_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return make_error(ENAMETOOLONG, "socket path '" + path + "' is empty or longer than " +
                                        std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// True when something accepts connections on `addr` (another daemon is alive).
bool someone_answers(const sockaddr_un& addr) {
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

Status remove_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return errno_error("inspecting socket path '" + path + "'");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return make_error(EEXIST, "socket path '" + path + "' exists and is not a socket");
  }
  if (someone_answers(addr)) {
    return make_error(EADDRINUSE, "another firmwared answers on '" + path + "'");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errno_error("removing stale socket '" + path + "'");
  }
  log::notice("removed stale socket '" + path + "'");
  return {};
}

// The gid of group `firmwared`, nullopt when there is no such group. getgrnam_r(3) tells a
// missing group from a failed lookup (EMFILE while reading /etc/group, for one), which
// must not be mistaken for "not a member".
Result<std::optional<gid_t>> firmwared_gid() {
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  for (;;) {
    const int rc = ::getgrnam_r(kGroupName, &g, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 4);
      continue;
    }
    if (rc != 0) return errno_error(rc, std::string("looking up group ") + kGroupName);
    if (found == nullptr) return std::optional<gid_t>();
    return std::optional<gid_t>(g.gr_gid);
  }
}

// The lock serialises two daemons starting at once, by hand or activated; it is never
// unlinked (unlinking a lock file reopens the race it closes).
Result<Fd> take_lock(const std::string& path) {
  const std::string lock_path = path + ".lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock) return errno_error("opening lock file '" + lock_path + "'");
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return make_error(EADDRINUSE, "another firmwared holds '" + lock_path + "'");
    }
    return errno_error("locking '" + lock_path + "'");
  }
  return lock;
}

// What a passed descriptor is bound to, for the message refusing it.
std::string bound_path(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  if (addr.sun_family != AF_UNIX) return "a socket of family " + std::to_string(addr.sun_family);
  if (len <= offsetof(sockaddr_un, sun_path)) return "an unnamed socket";
  if (addr.sun_path[0] == '\0') return "an abstract socket";
  return "'" + std::string(addr.sun_path, strnlen(addr.sun_path, sizeof(addr.sun_path))) + "'";
}

}  // namespace

Result<std::optional<ListeningSocket>> adopt_activated(const std::string& path) {
  // As sd_listen_fds(1): LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES describe this process only.
  const int n = systemd::listen_fds();
  if (n < 0) return errno_error(-n, "reading the sockets passed by the service manager");
  if (n == 0) return std::optional<ListeningSocket>();
  const int fd = systemd::kListenFdsStart;
  if (n > 1) {
    for (int i = 0; i < n; ++i) ::close(fd + i);
    return make_error(EINVAL, "the service manager passed " + std::to_string(n) +
                                  " sockets; firmwared serves one (give firmwared.socket a "
                                  "single ListenStream=)");
  }
  Fd passed(fd);
  if (systemd::is_listening_unix_stream(fd) <= 0) {
    return make_error(EINVAL,
                      "the descriptor the service manager passed is not a listening "
                      "AF_UNIX stream socket (firmwared.socket needs ListenStream= "
                      "with a path)");
  }
  if (systemd::is_listening_unix_stream(fd, path) <= 0) {
    return make_error(EINVAL, "the service manager passed a socket bound to " + bound_path(fd) +
                                  " but socket_path is '" + path +
                                  "': make ListenStream= in firmwared.socket and socket_path "
                                  "in firmwared.conf name the same file");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return errno_error("making the passed socket '" + path + "' non-blocking");
  }
  ListeningSocket ls;
  FW_ASSIGN_OR_RETURN(ls.lock_fd, take_lock(path));
  ls.fd = std::move(passed);
  ls.path = path;
  ls.created = false;
  return std::optional<ListeningSocket>(std::move(ls));
}

Result<ListeningSocket> listen_unix(const std::string& path) {
  FW_ASSIGN_OR_RETURN(sockaddr_un addr, make_address(path));
  ListeningSocket ls;
  ls.path = path;
  FW_ASSIGN_OR_RETURN(ls.lock_fd, take_lock(path));
  FW_TRY(remove_stale(path, addr));

  ls.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!ls.fd) return errno_error("creating the socket for '" + path + "'");
  // bind(2) creates the file with 0777 & ~umask: set the umask so the socket is born 0660
  // (no window where others could connect). Single-threaded at this point.
  const mode_t old_umask = ::umask(0117);
  const int rc = ::bind(ls.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_umask);
  if (rc != 0) return errno_error(bind_errno, "binding socket '" + path + "'");
  if (const group* g = ::getgrnam(kGroupName); g != nullptr) {
    if (::chown(path.c_str(), 0, g->gr_gid) != 0) {
      log::warning("giving socket '" + path + "' to group " + kGroupName + ": " +
                   std::strerror(errno) + ", ignoring");
    }
  }
  if (::listen(ls.fd.get(), SOMAXCONN) != 0) {
    Error e = errno_error("listening on '" + path + "'");
    ::unlink(path.c_str());
    return e;
  }
  return ls;
}

size_t raise_fd_limit(size_t wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, rl.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? wanted : static_cast<size_t>(rl.rlim_cur);
}

namespace {

// SO_PEERGROUPS (Linux >= 4.13): the peer's supplementary groups at connect(2) time.
Result<std::vector<gid_t>> peer_groups(int fd) {
  std::vector<gid_t> groups(64);
  auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
    if (errno != ERANGE) return errno_error("reading peer groups (SO_PEERGROUPS)");
    groups.resize(len / sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
      return errno_error("reading peer groups (SO_PEERGROUPS)");
    }
  }
  groups.resize(len / sizeof(gid_t));
  return groups;
}

}  // namespace

Result<PeerCredentials> check_peer(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return errno_error("reading peer credentials (SO_PEERCRED)");
  }
  PeerCredentials pc;
  pc.pid = cred.pid;
  pc.uid = cred.uid;
  pc.gid = cred.gid;
  pc.allowed = cred.uid == 0;
  // Always read: the daemon acts with these groups on the client's behalf (sys::AsClient).
  FW_ASSIGN_OR_RETURN(pc.groups, peer_groups(fd));
  if (pc.allowed) return pc;
  FW_ASSIGN_OR_RETURN(std::optional<gid_t> group_gid, firmwared_gid());
  if (!group_gid) return pc;
  const gid_t wanted = *group_gid;
  if (cred.gid == wanted) pc.allowed = true;
  for (gid_t gid : pc.groups) {
    if (gid == wanted) pc.allowed = true;
  }
  return pc;
}

}  // namespace fw::server
