#pragma once
// Thin libnl-route adapters for net_hook: a NETLINK_ROUTE socket bound to one network
// namespace, and the few link and address requests the helper makes through it.
//
// Errors carry the kernel's errno when the kernel answered (message "<what>: <strerror>"),
// otherwise the libnl error ("<what>: <nl_geterror>") mapped to the nearest errno.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "firmwared/base/fd.h"
#include "firmwared/base/result.h"
#include "net-helpers/args.h"

struct nl_sock;

namespace fw::net {

// A network namespace file held open (O_RDONLY|O_CLOEXEC), with its path for messages.
struct Netns {
  Fd fd;
  std::string path;
};

// Opens `path` and checks that it is a network namespace (ioctl NS_GET_NSTYPE, ioctl_ns(2)).
// ENOENT when it does not exist (the process died); EINVAL when it is another kind of file
// or namespace, or the helper's own network namespace (nothing to isolate).
Result<Netns> open_netns(const std::string& path);
// The helper's own network namespace (/proc/thread-self/ns/net), opened before anything
// enters another one.
Result<Netns> open_own_netns();

// The single owner of a connected libnl NETLINK_ROUTE socket. Move-only.
class NlSocket {
 public:
  // Connects in the calling thread's network namespace.
  static Result<NlSocket> connect();
  // Connects inside `netns`: a short-lived thread enters it with setns(CLONE_NEWNET) and
  // opens the socket there; a netlink socket stays bound to the namespace it was created in
  // (netlink(7)), so the helper itself never leaves its own namespace.
  static Result<NlSocket> connect_in(const Netns& netns);

  NlSocket(NlSocket&&) noexcept;
  NlSocket& operator=(NlSocket&&) noexcept;
  ~NlSocket();

  nl_sock* get() const;
  // Turns a negative libnl return code of the last request into an Error about `what`.
  Error error(int nl_err, const std::string& what) const;
  // Forgets the errno recorded for the previous request (call before each request).
  void clear_errno() const;

 private:
  struct State;
  explicit NlSocket(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

struct LinkInfo {
  int ifindex = 0;
  std::string kind;  // IFLA_INFO_KIND ("veth", "dummy"), "" for physical devices
  unsigned flags = 0;
  std::string alias;  // IFLA_IFALIAS: firmwared's owner mark on a host veth end, or ""
};

// RTM_GETLINK by name: the link, or std::nullopt when there is none (ENODEV).
Result<std::optional<LinkInfo>> find_link(const NlSocket& sock, const std::string& name);

// RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL) of a veth pair: `host_if` in the socket's namespace,
// born up; its peer `peer_if` created directly inside `peer_netns` (IFLA_NET_NS_FD in the
// VETH_INFO_PEER nest), down. EEXIST when either name is taken.
Status add_veth(const NlSocket& sock, const std::string& host_if, const std::string& peer_if,
                const Netns& peer_netns);

// RTM_DELLINK of `name` (by index when known, 0 = by name).
Status delete_link(const NlSocket& sock, const std::string& name, int ifindex = 0);

// How many links of the socket's namespace are in group `group` (IFLA_GROUP; a dump).
Result<int> count_links_in_group(const NlSocket& sock, uint32_t group);
// RTM_NEWLINK putting the link `ifindex` (named `name`) in group `group`.
Status set_link_group(const NlSocket& sock, int ifindex, const std::string& name, uint32_t group);
// One RTM_DELLINK of every link in group `group` (ifi_index 0, IFLA_GROUP): the kernel
// unregisters them together (rtnl_group_dellink), one RCU grace period for all instead of
// one each (~20 ms per veth).
Status delete_group(const NlSocket& sock, uint32_t group);

// RTM_NEWLINK setting or clearing IFF_UP of the link named `name`, other flags untouched.
Status set_link_up(const NlSocket& sock, const std::string& name, bool up);
// Sets the interface's alias (IFLA_IFALIAS, /sys/class/net/NAME/ifalias): firmwared records
// there which daemon owns a host veth end.
Status set_link_alias(const NlSocket& sock, const std::string& name, const std::string& alias);

// RTM_NEWADDR of `cidr` on the link `ifindex` (`name` for messages).
Status add_ipv4(const NlSocket& sock, int ifindex, const std::string& name, const Cidr& cidr);

// One RTM_NEWLINK on the link `ifindex` (named `name` now) carrying IFLA_NET_NS_FD =
// `target` and IFLA_IFNAME = `new_name`, IFF_UP cleared: the kernel moves it (closing it,
// which also drops its addresses), then renames it in the target (rtnetlink do_setlink).
Status move_link(const NlSocket& sock, int ifindex, const std::string& name, const Netns& target,
                 const std::string& new_name);

}  // namespace fw::net
