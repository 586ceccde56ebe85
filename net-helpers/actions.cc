#include "net-helpers/actions.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "net-helpers/netlink.h"
#include "net-helpers/nft.h"

namespace fw::net {

namespace {

// Owns a veth pair just created: deletes it (through its host end, which takes the peer
// with it) unless committed. Failures of the undo are appended to `notes`.
class VethGuard {
 public:
  VethGuard(const NlSocket& host, std::string host_if, std::string* notes)
      : host_(host), host_if_(std::move(host_if)), notes_(notes) {}
  VethGuard(const VethGuard&) = delete;
  VethGuard& operator=(const VethGuard&) = delete;
  ~VethGuard() {
    if (!armed_) return;
    if (Status st = delete_link(host_, host_if_); !st) {
      *notes_ += "; rollback: " + st.error().message;
    }
  }
  void commit() { armed_ = false; }

 private:
  const NlSocket& host_;
  std::string host_if_;
  std::string* notes_;
  bool armed_ = true;
};

// Moves the link `name` of `inner`'s namespace to `home`, renamed `home_name`.
Status move_back(const NlSocket& inner, const std::string& name, const Netns& home,
                 const std::string& home_name) {
  FW_ASSIGN_OR_RETURN(auto link, find_link(inner, name));
  if (!link) return make_error(ENODEV, name + " is no longer in the namespace");
  return move_link(inner, link->ifindex, name, home, home_name);
}

// Owns an interface moved into a namespace: moves it back to `home` under its original
// name unless committed.
class MovedGuard {
 public:
  MovedGuard(const NlSocket& inner, std::string name, const Netns& home, std::string home_name,
             std::string* notes)
      : inner_(inner),
        name_(std::move(name)),
        home_(home),
        home_name_(std::move(home_name)),
        notes_(notes) {}
  MovedGuard(const MovedGuard&) = delete;
  MovedGuard& operator=(const MovedGuard&) = delete;
  ~MovedGuard() {
    if (!armed_) return;
    if (Status st = move_back(inner_, name_, home_, home_name_); !st) {
      *notes_ += "; rollback: " + st.error().message;
    }
  }
  void commit() { armed_ = false; }

 private:
  const NlSocket& inner_;
  std::string name_;
  const Netns& home_;
  std::string home_name_;
  std::string* notes_;
  bool armed_ = true;
};

// Adds `cidr` to the link `name` and, when `up`, sets it up.
Status configure(const NlSocket& sock, const std::string& name, const Cidr* cidr, bool up) {
  FW_ASSIGN_OR_RETURN(auto link, find_link(sock, name));
  if (!link) return make_error(ENODEV, "interface " + name + " vanished");
  if (cidr != nullptr) FW_TRY(add_ipv4(sock, link->ifindex, name, *cidr));
  if (up) FW_TRY(set_link_up(sock, name, true));
  return {};
}

// After an EEXIST from the veth creation, says which of the two names is taken.
Error explain_veth_exists(const Error& error, const NlSocket& host, const NlSocket& inner,
                          const Options& o) {
  const std::string what = "creating veth " + o.host_if + " with peer " + o.inner_if;
  auto on_host = find_link(host, o.host_if);
  if (on_host && *on_host) {
    return errno_error(EEXIST, what + ": interface " + o.host_if + " already exists on the host");
  }
  auto inside = find_link(inner, o.inner_if);
  if (inside && *inside) {
    return errno_error(EEXIST,
                       what + ": interface " + o.inner_if + " already exists in " + o.netns_path);
  }
  return error;
}

Status create(const Options& o, std::string* notes) {
  FW_ASSIGN_OR_RETURN(Netns ns, open_netns(o.netns_path));
  FW_ASSIGN_OR_RETURN(NlSocket host, NlSocket::connect());
  FW_ASSIGN_OR_RETURN(NlSocket inner, NlSocket::connect_in(ns));
  if (Status st = add_veth(host, o.host_if, o.inner_if, ns); !st) {
    if (st.error().code == EEXIST) return explain_veth_exists(st.error(), host, inner, o);
    return st;
  }
  VethGuard pair(host, o.host_if, notes);
  // The owner first: once the pair is up, a crash of anything must leave it recognisable.
  if (!o.owner.empty()) FW_TRY(set_link_alias(host, o.host_if, o.owner));
  FW_TRY(configure(host, o.host_if, &o.host_addr, false));  // born up
  FW_TRY(configure(inner, o.inner_if, &o.inner_addr, true));
  FW_TRY(set_link_up(inner, "lo", true));
  pair.commit();
  return {};
}

Status steal(const Options& o, std::string* notes) {
  FW_ASSIGN_OR_RETURN(Netns home, open_own_netns());
  FW_ASSIGN_OR_RETURN(Netns ns, open_netns(o.netns_path));
  FW_ASSIGN_OR_RETURN(NlSocket host, NlSocket::connect());
  FW_ASSIGN_OR_RETURN(NlSocket inner, NlSocket::connect_in(ns));
  const std::string name = o.new_name.empty() ? o.iface : o.new_name;
  FW_ASSIGN_OR_RETURN(auto link, find_link(host, o.iface));
  if (!link) return errno_error(ENODEV, "interface " + o.iface + " on the host");
  FW_ASSIGN_OR_RETURN(auto clash, find_link(inner, name));
  if (clash) {
    return errno_error(EEXIST, "interface " + name + " already in " + o.netns_path);
  }
  // An interface already inside under the host name (the instance's own eth0, say) is not
  // ours: the kernel renames on conflict, but the rollback below must not touch it.
  FW_ASSIGN_OR_RETURN(auto namesake, find_link(inner, o.iface));
  if (Status st = move_link(host, link->ifindex, o.iface, ns, name); !st) {
    // do_setlink() moves before it renames: if only the rename failed, bring it back.
    if (auto moved = find_link(inner, o.iface); !namesake && moved && *moved) {
      if (Status back = move_back(inner, o.iface, home, o.iface); !back) {
        *notes += "; rollback: " + back.error().message;
      }
    }
    return st;
  }
  MovedGuard moved(inner, name, home, o.iface, notes);
  FW_TRY(configure(inner, name, o.addr ? &*o.addr : nullptr, true));
  moved.commit();
  return {};
}

Status release(const Options& o) {
  FW_ASSIGN_OR_RETURN(Netns home, open_own_netns());
  auto ns = open_netns(o.netns_path);
  if (!ns) {
    // A namespace that no longer exists holds nothing to release: its virtual interfaces
    // died with it and physical ones went back to the initial namespace by themselves
    // (default_device_exit in net/core/dev.c).
    const int code = ns.error().code;
    if (o.missing_ok && (code == ENOENT || code == ESRCH)) return {};
    return ns.error();
  }
  FW_ASSIGN_OR_RETURN(NlSocket host, NlSocket::connect());
  FW_ASSIGN_OR_RETURN(NlSocket inner, NlSocket::connect_in(*ns));
  FW_ASSIGN_OR_RETURN(auto link, find_link(inner, o.iface));
  if (!link) {
    if (o.missing_ok) return {};
    return errno_error(ENODEV, "interface " + o.iface + " in " + o.netns_path);
  }
  const std::string name = o.host_name.empty() ? o.iface : o.host_name;
  FW_ASSIGN_OR_RETURN(auto clash, find_link(host, name));
  if (clash) return errno_error(EEXIST, "interface " + name + " already on the host");
  return move_link(inner, link->ifindex, o.iface, home, name);
}

// Whether `o.host_if` is a veth of ours to delete: its index, 0 when it is already gone,
// or why it must not be deleted.
Result<int> clean_target(const NlSocket& host, const Options& o) {
  FW_ASSIGN_OR_RETURN(auto link, find_link(host, o.host_if));
  if (!link) return 0;  // already gone counts as success (teardown is idempotent)
  if (link->kind != "veth") {
    const std::string kind = link->kind.empty() ? "a physical device" : "of kind " + link->kind;
    return make_error(EINVAL, o.host_if + " is " + kind + ", not a veth: not deleting it");
  }
  // Another firmwared's veth (same host_interface_prefix): never ours to delete.
  if (!o.owner.empty() && !link->alias.empty() && link->alias != o.owner) {
    return make_error(
        EBUSY, o.host_if + " belongs to another firmwared (" + link->alias + "): not deleting it");
  }
  return link->ifindex;
}

Status delete_one(const NlSocket& host, const std::string& name, int ifindex) {
  Status st = delete_link(host, name, ifindex);
  if (!st && st.error().code == ENODEV) return {};  // deleted meanwhile
  return st;
}

Status clean(const Options& o) {
  FW_ASSIGN_OR_RETURN(NlSocket host, NlSocket::connect());
  FW_ASSIGN_OR_RETURN(int ifindex, clean_target(host, o));
  if (ifindex == 0) return {};
  return delete_one(host, o.host_if, ifindex);
}

// An interface group number no one else uses: high, with our pid and a counter in it.
uint32_t next_group() {
  static uint32_t counter = 0;
  return 0x4e000000u | ((static_cast<uint32_t>(::getpid()) & 0xfffu) << 12) | (++counter & 0xfffu);
}

}  // namespace

std::vector<Status> clean_all(const std::vector<Options>& cleans) {
  std::vector<Status> out(cleans.size());
  auto host = NlSocket::connect();
  if (!host) {
    for (auto& st : out) st = host.error();
    return out;
  }
  // The index of each host end to delete (0: nothing to do, or refused: `out` says why).
  std::vector<int> ifindex(cleans.size(), 0);
  size_t victims = 0;
  for (size_t i = 0; i < cleans.size(); ++i) {
    auto target = clean_target(*host, cleans[i]);
    if (!target) {
      out[i] = target.error();
    } else if (*target != 0) {
      ifindex[i] = *target;
      ++victims;
    }
  }
  // Those put in the group are deleted together; the others (and all of them when the
  // group cannot be used) one by one.
  std::vector<char> grouped(cleans.size(), 0);
  if (victims >= 2) {
    const uint32_t group = next_group();
    auto used = count_links_in_group(*host, group);
    bool any = false;
    for (size_t i = 0; i < cleans.size() && used && *used == 0; ++i) {
      if (ifindex[i] == 0) continue;
      grouped[i] = set_link_group(*host, ifindex[i], cleans[i].host_if, group).ok() ? 1 : 0;
      any = any || grouped[i] != 0;
    }
    if (any && !delete_group(*host, group)) std::fill(grouped.begin(), grouped.end(), 0);
  }
  for (size_t i = 0; i < cleans.size(); ++i) {
    if (ifindex[i] != 0 && grouped[i] == 0)
      out[i] = delete_one(*host, cleans[i].host_if, ifindex[i]);
  }
  return out;
}

Status run_action(const Options& options, std::string* rollback_notes) {
  switch (options.action) {
    case Action::kCreate:
      return create(options, rollback_notes);
    case Action::kSteal:
      return steal(options, rollback_notes);
    case Action::kRelease:
      return release(options);
    case Action::kClean:
      return clean(options);
    case Action::kFilter: {
      // The address without its prefix length: the host end's own address.
      const std::string ip = options.host_addr.text.substr(0, options.host_addr.text.find('/'));
      return filter(options.table, options.host_if, ip, options.access);
    }
    case Action::kUnfilter:
      return unfilter(options.table, options.host_if);
    case Action::kSweep:
      return sweep(options.table, options.keep);
  }
  return make_error(EINVAL, "unknown action");
}

}  // namespace fw::net
