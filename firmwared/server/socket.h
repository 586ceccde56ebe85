#pragma once
// The daemon's listening socket: safe creation (lock, stale-file replacement, mode 0660,
// group `firmwared`) and peer authentication with SO_PEERCRED / SO_PEERGROUPS.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "firmwared/sys/credentials.h"

namespace fw::server {

struct ListeningSocket {
  Fd fd;       // listening AF_UNIX stream socket, non-blocking, CLOEXEC
  Fd lock_fd;  // flock()ed "<path>.lock", held while the daemon runs
  std::string path;
  // False for a socket the service manager passed: its file is the manager's (it made it,
  // with the unit's SocketMode=/SocketGroup=), so the daemon never unlinks it.
  bool created = true;
};

// Creates the socket at `path`. Errors: EADDRINUSE when another firmwared answers there
// or holds the lock; EEXIST when `path` exists and is not a socket; ENAMETOOLONG; others
// from socket(2)/bind(2)/listen(2), each naming the path and the step.
Result<ListeningSocket> listen_unix(const std::string& path);

// Socket activation (sd_listen_fds(3)): when LISTEN_PID is this process and LISTEN_FDS says
// one socket was passed, takes it (made non-blocking; the variables are unset so no child
// sees them) and the same "<path>.lock" listen_unix() takes; nullopt when nothing was
// passed. The passed socket must be a listening AF_UNIX stream socket bound to `path`, the
// configured socket_path: the unit and the configuration must agree, since clients (and
// `fwctl doctor`) find the daemon through socket_path. Errors: EINVAL when several sockets
// were passed, when the descriptor is not a listening AF_UNIX stream socket, or when it is
// bound to another path (both named); EADDRINUSE when another firmwared holds the lock.
Result<std::optional<ListeningSocket>> adopt_activated(const std::string& path);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups at connect(2) time (SO_PEERGROUPS)
  bool allowed = false;       // uid 0 or a member of group `firmwared`

  // The identity core acts with on this client's behalf.
  sys::ClientCredentials client() const { return {uid, gid, groups}; }
};

// Raises the soft RLIMIT_NOFILE to `wanted` descriptors when it is lower, at most up to the
// hard limit (setrlimit(2)); returns the soft limit in force afterwards.
size_t raise_fd_limit(size_t wanted);

// Reads the peer's credentials and decides whether it may talk to the daemon.
Result<PeerCredentials> check_peer(int fd);

}  // namespace fw::server
