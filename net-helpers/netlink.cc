#include "net-helpers/netlink.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstring>
#include <system_error>
#include <thread>

namespace fw::net {

namespace {

// Owners of libnl objects (reference counted; *_put drops our reference).
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;

// The nearest errno for a libnl error that did not come from the kernel.
int nl_to_errno(int nl_err) {
  switch (nl_err < 0 ? -nl_err : nl_err) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_NODEV:
      return ENODEV;
    case NLE_PERM:
      return EPERM;
    case NLE_BUSY:
      return EBUSY;
    case NLE_INVAL:
      return EINVAL;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_RANGE:
      return ERANGE;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_NOACCESS:
      return EACCES;
    default:
      return EIO;
  }
}

Result<LinkPtr> alloc_link() {
  LinkPtr link(rtnl_link_alloc());
  if (!link) return make_error(ENOMEM, "allocating a libnl link: out of memory");
  return link;
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

// libnl keeps the callback argument by address, hence the heap-allocated state.
struct NlSocket::State {
  nl_sock* sock = nullptr;
  int last_errno = 0;  // errno of the kernel's last NLMSG_ERROR, 0 if none

  ~State() {
    if (sock != nullptr) nl_socket_free(sock);  // closes the fd too
  }

  // nl_recvmsg_err_cb_t: records the kernel's errno; NL_STOP makes libnl return
  // -nl_syserr2nlerr(error) exactly as without a handler (lib/nl.c, nl_recvmsgs_report).
  static int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
    static_cast<State*>(arg)->last_errno = err->error < 0 ? -err->error : err->error;
    return NL_STOP;
  }
};

NlSocket::NlSocket(std::unique_ptr<State> state) : state_(std::move(state)) {}
NlSocket::NlSocket(NlSocket&&) noexcept = default;
NlSocket& NlSocket::operator=(NlSocket&&) noexcept = default;
NlSocket::~NlSocket() = default;

nl_sock* NlSocket::get() const { return state_->sock; }

void NlSocket::clear_errno() const { state_->last_errno = 0; }

Error NlSocket::error(int nl_err, const std::string& what) const {
  if (state_->last_errno != 0) return errno_error(state_->last_errno, what);
  return make_error(nl_to_errno(nl_err), what + ": " + nl_geterror(nl_err));
}

Result<NlSocket> NlSocket::connect() {
  auto state = std::make_unique<State>();
  state->sock = nl_socket_alloc();
  if (state->sock == nullptr) return make_error(ENOMEM, "allocating a netlink socket");
  nl_socket_modify_err_cb(state->sock, NL_CB_CUSTOM, &State::on_error, state.get());
  if (int rc = nl_connect(state->sock, NETLINK_ROUTE); rc < 0) {
    return make_error(nl_to_errno(rc),
                      std::string("opening a NETLINK_ROUTE socket: ") + nl_geterror(rc));
  }
  return NlSocket(std::move(state));
}

Result<NlSocket> NlSocket::connect_in(const Netns& netns) {
  std::optional<Result<NlSocket>> out;
  try {
    // setns(2) with CLONE_NEWNET changes only the calling thread's namespace; the thread
    // ends right after, so no thread of the helper stays inside.
    std::thread worker([&] {
      if (setns(netns.fd.get(), CLONE_NEWNET) != 0) {
        out = errno_error("entering network namespace " + netns.path);
        return;
      }
      out = connect();
      if (!*out) out = out->error().wrap("inside " + netns.path);
    });
    worker.join();
  } catch (const std::system_error& e) {
    return make_error(e.code().value(), std::string("starting a thread: ") + e.what());
  }
  return std::move(*out);
}

Result<Netns> open_netns(const std::string& path) {
  Netns ns{Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), path};
  if (!ns.fd) return errno_error("opening network namespace " + path);
  // NS_GET_NSTYPE (Linux 4.11, ioctl_ns(2)) fails with ENOTTY on files that are not
  // namespaces and returns the CLONE_NEW* type otherwise.
  const int type = ::ioctl(ns.fd.get(), NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    return errno_error(EINVAL, path + " is not a network namespace");
  }
  struct stat target {};
  struct stat own {};
  if (::fstat(ns.fd.get(), &target) == 0 && ::stat("/proc/thread-self/ns/net", &own) == 0 &&
      same_file(target, own)) {
    return errno_error(EINVAL, path + " is the helper's own network namespace, not an instance's");
  }
  return ns;
}

Result<Netns> open_own_netns() {
  const std::string path = "/proc/thread-self/ns/net";
  Netns ns{Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), "the host namespace"};
  if (!ns.fd) return errno_error("opening " + path);
  return ns;
}

Result<std::optional<LinkInfo>> find_link(const NlSocket& sock, const std::string& name) {
  rtnl_link* raw = nullptr;
  sock.clear_errno();
  const int rc = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &raw);
  LinkPtr link(raw);
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND || (rc == 0 && !link)) {
    return std::optional<LinkInfo>();
  }
  if (rc < 0) return sock.error(rc, "looking up interface " + name);
  LinkInfo info;
  info.ifindex = rtnl_link_get_ifindex(link.get());
  const char* kind = rtnl_link_get_type(link.get());
  info.kind = kind != nullptr ? kind : "";
  info.flags = rtnl_link_get_flags(link.get());
  const char* alias = rtnl_link_get_ifalias(link.get());
  info.alias = alias != nullptr ? alias : "";
  return std::optional<LinkInfo>(info);
}

Status add_veth(const NlSocket& sock, const std::string& host_if, const std::string& peer_if,
                const Netns& peer_netns) {
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return make_error(ENOMEM, "allocating a libnl veth link: out of memory");
  rtnl_link_set_name(link.get(), host_if.c_str());
  rtnl_link_set_flags(link.get(), IFF_UP);
  // rtnl_link_veth_get_peer() takes a reference on the peer (lib/route/link/veth.c).
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(peer.get(), peer_if.c_str());
  // Serialized inside VETH_INFO_PEER: veth_newlink() resolves it with
  // rtnl_link_get_net() and registers the peer directly in that namespace.
  rtnl_link_set_ns_fd(peer.get(), peer_netns.fd.get());
  sock.clear_errno();
  if (int rc = rtnl_link_add(sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL); rc < 0) {
    return sock.error(
        rc, "creating veth " + host_if + " with peer " + peer_if + " in " + peer_netns.path);
  }
  return {};
}

Status delete_link(const NlSocket& sock, const std::string& name, int ifindex) {
  FW_ASSIGN_OR_RETURN(LinkPtr link, alloc_link());
  if (ifindex > 0) {
    rtnl_link_set_ifindex(link.get(), ifindex);
  } else {
    rtnl_link_set_name(link.get(), name.c_str());
  }
  sock.clear_errno();
  if (int rc = rtnl_link_delete(sock.get(), link.get()); rc < 0) {
    return sock.error(rc, "deleting interface " + name);
  }
  return {};
}

Result<int> count_links_in_group(const NlSocket& sock, uint32_t group) {
  nl_cache* raw = nullptr;
  sock.clear_errno();
  if (int rc = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &raw); rc < 0) {
    return sock.error(rc, "listing the interfaces");
  }
  std::unique_ptr<nl_cache, void (*)(nl_cache*)> cache(raw, nl_cache_free);
  int n = 0;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    if (rtnl_link_get_group(reinterpret_cast<rtnl_link*>(o)) == group) ++n;
  }
  return n;
}

Status set_link_group(const NlSocket& sock, int ifindex, const std::string& name, uint32_t group) {
  FW_ASSIGN_OR_RETURN(LinkPtr orig, alloc_link());
  FW_ASSIGN_OR_RETURN(LinkPtr change, alloc_link());
  rtnl_link_set_ifindex(orig.get(), ifindex);
  rtnl_link_set_group(change.get(), group);
  sock.clear_errno();
  if (int rc = rtnl_link_change(sock.get(), orig.get(), change.get(), 0); rc < 0) {
    return sock.error(rc, "putting " + name + " in interface group " + std::to_string(group));
  }
  return {};
}

Status delete_group(const NlSocket& sock, uint32_t group) {
  const std::string what = "deleting interface group " + std::to_string(group);
  std::unique_ptr<nl_msg, void (*)(nl_msg*)> msg(nlmsg_alloc_simple(RTM_DELLINK, 0), nlmsg_free);
  if (!msg) return make_error(ENOMEM, what + ": out of memory");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  if (nlmsg_append(msg.get(), &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
      nla_put_u32(msg.get(), IFLA_GROUP, group) < 0) {
    return make_error(ENOMEM, what + ": building the request");
  }
  sock.clear_errno();
  if (int rc = nl_send_auto_complete(sock.get(), msg.get()); rc < 0) return sock.error(rc, what);
  if (int rc = nl_wait_for_ack(sock.get()); rc < 0) return sock.error(rc, what);
  return {};
}

Status set_link_up(const NlSocket& sock, const std::string& name, bool up) {
  FW_ASSIGN_OR_RETURN(LinkPtr orig, alloc_link());
  FW_ASSIGN_OR_RETURN(LinkPtr change, alloc_link());
  // No index in `orig`: the request carries ifi_index 0 and IFLA_IFNAME, so the kernel
  // finds the link by name. ifi_change = IFF_UP leaves the other flags alone.
  rtnl_link_set_name(change.get(), name.c_str());
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  sock.clear_errno();
  if (int rc = rtnl_link_change(sock.get(), orig.get(), change.get(), 0); rc < 0) {
    return sock.error(rc, "setting " + name + (up ? " up" : " down"));
  }
  return {};
}

Status set_link_alias(const NlSocket& sock, const std::string& name, const std::string& alias) {
  FW_ASSIGN_OR_RETURN(LinkPtr orig, alloc_link());
  FW_ASSIGN_OR_RETURN(LinkPtr change, alloc_link());
  rtnl_link_set_name(change.get(), name.c_str());
  rtnl_link_set_ifalias(change.get(), alias.c_str());
  sock.clear_errno();
  if (int rc = rtnl_link_change(sock.get(), orig.get(), change.get(), 0); rc < 0) {
    return sock.error(rc, "setting the alias of " + name);
  }
  return {};
}

Status add_ipv4(const NlSocket& sock, int ifindex, const std::string& name, const Cidr& cidr) {
  AddrPtr addr(rtnl_addr_alloc());
  NlAddrPtr local(nl_addr_build(AF_INET, &cidr.addr, sizeof(cidr.addr)));
  if (!addr || !local) return make_error(ENOMEM, "allocating a libnl address: out of memory");
  nl_addr_set_prefixlen(local.get(), cidr.prefix);
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), AF_INET);
  // Also sets the address's prefix length from `local` (lib/route/addr.c).
  if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) {
    return make_error(nl_to_errno(rc), "preparing address " + cidr.text + ": " + nl_geterror(rc));
  }
  sock.clear_errno();
  if (int rc = rtnl_addr_add(sock.get(), addr.get(), NLM_F_EXCL); rc < 0) {
    return sock.error(rc, "adding address " + cidr.text + " to " + name);
  }
  return {};
}

Status move_link(const NlSocket& sock, int ifindex, const std::string& name, const Netns& target,
                 const std::string& new_name) {
  FW_ASSIGN_OR_RETURN(LinkPtr orig, alloc_link());
  FW_ASSIGN_OR_RETURN(LinkPtr change, alloc_link());
  rtnl_link_set_ifindex(orig.get(), ifindex);
  rtnl_link_set_ns_fd(change.get(), target.fd.get());
  rtnl_link_set_name(change.get(), new_name.c_str());
  rtnl_link_unset_flags(change.get(), IFF_UP);
  sock.clear_errno();
  if (int rc = rtnl_link_change(sock.get(), orig.get(), change.get(), 0); rc < 0) {
    std::string what = "moving " + name + " into " + target.path;
    if (new_name != name) what += " as " + new_name;
    return sock.error(rc, what);
  }
  return {};
}

}  // namespace fw::net
