#include "firmwared/sys/privileges.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace fw::sys {
namespace {

constexpr const char* kAdvice =
    "run firmwared as root on the host, or in a privileged container (Docker: --privileged; "
    "Kubernetes: securityContext.privileged: true); an unprivileged container cannot run it";

}  // namespace

std::vector<NeededCapability> needed_capabilities(bool apparmor) {
  std::vector<NeededCapability> caps = {
      {CAP_SYS_ADMIN, "CAP_SYS_ADMIN",
       "mounts, namespaces (unshare, setns, pivot_root), loop devices, cgroup device programs"},
      {CAP_NET_ADMIN, "CAP_NET_ADMIN", "veth pairs, addresses, routes and nftables rules"},
      {CAP_MKNOD, "CAP_MKNOD", "device nodes of an instance's /dev"},
      {CAP_SETPCAP, "CAP_SETPCAP", "dropping capabilities from an instance's bounding set"},
      {CAP_SETUID, "CAP_SETUID", "user-namespace id maps, acting with a client's uid"},
      {CAP_SETGID, "CAP_SETGID", "user-namespace id maps, acting with a client's groups"},
      {CAP_CHOWN, "CAP_CHOWN", "the socket's group, delegated cgroups, copied trees"},
      {CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE", "reading and copying instances' files of any mode"},
      {CAP_FOWNER, "CAP_FOWNER", "modes and times of files other uids own in copied trees"},
      {CAP_KILL, "CAP_KILL", "signalling processes of instances in user namespaces"},
  };
  if (apparmor) {
    caps.push_back({CAP_MAC_ADMIN, "CAP_MAC_ADMIN", "loading the instances' AppArmor profiles"});
  }
  return caps;
}

Result<uint64_t> effective_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return errno_error("reading capabilities");
  return static_cast<uint64_t>(data[0].effective) |
         (static_cast<uint64_t>(data[1].effective) << 32);
}

std::vector<NeededCapability> missing_capabilities(uint64_t effective, bool apparmor) {
  std::vector<NeededCapability> missing;
  for (const NeededCapability& c : needed_capabilities(apparmor)) {
    if ((effective & (uint64_t{1} << c.number)) == 0) missing.push_back(c);
  }
  return missing;
}

std::string privilege_problem(uid_t euid, uint64_t effective, bool apparmor) {
  const auto missing = missing_capabilities(effective, apparmor);
  if (euid == 0 && missing.empty()) return "";
  std::string what;
  if (euid != 0) {
    // A non-root uid has no capabilities in the initial user namespace worth listing.
    what = "runs as uid " + std::to_string(euid) + ", not root";
  } else {
    what = "lacks ";
    for (size_t i = 0; i < missing.size(); ++i) {
      what += (i == 0 ? "" : ", ") + std::string(missing[i].name) + " (" + missing[i].why + ")";
    }
  }
  return "firmwared needs root with the capabilities it uses; this process " + what + ": " +
         kAdvice;
}

std::string check_privileges(bool apparmor) {
  auto caps = effective_capabilities();
  if (!caps.ok()) return caps.error().message + ": " + kAdvice;
  return privilege_problem(::geteuid(), *caps, apparmor);
}

}  // namespace fw::sys
