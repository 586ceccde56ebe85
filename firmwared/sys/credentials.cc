#include "firmwared/sys/credentials.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace fw::sys {
namespace {

// setfsuid(2)/setfsgid(2) return the previous id; passing -1 (never valid) changes nothing.
uid_t current_fsuid() { return static_cast<uid_t>(::syscall(SYS_setfsuid, -1)); }
gid_t current_fsgid() { return static_cast<gid_t>(::syscall(SYS_setfsgid, -1)); }

std::vector<gid_t> current_groups() {
  const long n = ::syscall(SYS_getgroups, 0, nullptr);
  std::vector<gid_t> groups(n > 0 ? static_cast<size_t>(n) : 0);
  if (n > 0 && ::syscall(SYS_getgroups, n, groups.data()) != n) groups.clear();
  return groups;
}

// The raw system call changes the calling thread's credentials only; glibc's wrapper
// broadcasts the change to every thread (nptl's setxid machinery).
bool set_groups(const std::vector<gid_t>& groups) {
  return ::syscall(SYS_setgroups, groups.size(), groups.empty() ? nullptr : groups.data()) == 0;
}

}  // namespace

AsClient::AsClient(const ClientCredentials& client) : active_(!client.is_root()) {
  if (!active_) return;
  saved_fsuid_ = current_fsuid();
  saved_fsgid_ = current_fsgid();
  saved_groups_ = current_groups();
  // Groups and gid first: once the fsuid is not 0 the kernel drops the filesystem
  // capabilities, but setgroups needs CAP_SETGID, which is not one of them.
  // Fail closed: if the client's list cannot be set (EINVAL past NGROUPS_MAX), act with no
  // supplementary group rather than with root's.
  if (!set_groups(client.groups)) (void)set_groups({});
  ::syscall(SYS_setfsgid, client.gid);
  ::syscall(SYS_setfsuid, client.uid);
}

AsClient::~AsClient() {
  if (!active_) return;
  // Back to fsuid 0 first: the kernel restores the filesystem capabilities (capabilities(7),
  // "Effect of user ID changes on capabilities").
  ::syscall(SYS_setfsuid, saved_fsuid_);
  ::syscall(SYS_setfsgid, saved_fsgid_);
  (void)set_groups(saved_groups_);
}

}  // namespace fw::sys
