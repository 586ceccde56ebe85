#pragma once
// Who a client is, and acting with its filesystem rights: the daemon runs as root, but what
// it reads or writes on a client's behalf (an image to import, an export's output file)
// must be what that client itself may read or write.

#include <sys/types.h>

#include <string>
#include <vector>

namespace fw::sys {

// A client's identity as the kernel reported it at connect(2) (SO_PEERCRED,
// SO_PEERGROUPS). A plain value: core receives it without knowing about sockets.
struct ClientCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups

  bool is_root() const { return uid == 0; }
  // "uid 1000" (for messages).
  std::string describe() const { return "uid " + std::to_string(uid); }
};

// While alive, the calling thread's filesystem uid, gid and supplementary groups are the
// client's (setfsuid(2), setfsgid(2) and the raw setgroups system call are per thread; the
// glibc setgroups() wrapper would change every thread of the daemon). Opening, creating or
// renaming files then succeeds only where the client itself could. A root client changes
// nothing. The destructor restores root's fsuid and fsgid and the thread's groups. Not
// movable: it belongs to one scope of one thread, which must not start threads or fork
// meanwhile (a new thread or process copies the client's identity).
class AsClient {
 public:
  explicit AsClient(const ClientCredentials& client);
  ~AsClient();
  AsClient(const AsClient&) = delete;
  AsClient& operator=(const AsClient&) = delete;

 private:
  bool active_ = false;
  uid_t saved_fsuid_ = 0;
  gid_t saved_fsgid_ = 0;
  std::vector<gid_t> saved_groups_;
};

}  // namespace fw::sys
