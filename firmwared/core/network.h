#pragma once
// The network step of START, behind an interface: the real
// one runs the configured net helper; unit tests use a fake.

#include <functional>
#include <string>

#include "firmwared/base/result.h"

namespace fw::core {

struct NetworkPlan {
  std::string instance;      // name, for messages
  std::string workspace;     // where the namespace is pinned (<workspace>/netns)
  int64_t monitor_pid = 0;   // whose network namespace it is (setup only)
  std::string host_if;       // <host_interface_prefix><id>
  std::string inner_if;      // the instance's `interface`
  std::string host_addr;     // <net_first_two_bytes><id>.254/24
  std::string inner_addr;    // <net_first_two_bytes><id>.1/24
  std::string stolen;        // `stolen_interface`: iface[:new_name[:cidr]] or ""
  std::string host_access;   // canonical `host_access`: none, all or a port list
  std::string filter_table;  // the daemon's nftables table (host_access_table())
};

class Network {
 public:
  virtual ~Network() = default;
  // Pins the monitor's network namespace, installs the host_access filter of the host end,
  // creates and configures the veth pair, moves the stolen interface in. On failure everything done
  // so far is undone before `done`.
  virtual void setup(const NetworkPlan& plan, std::function<void(Status)> done) = 0;
  // Gives the stolen interface back to the host, removes the veth pair and the filter,
  // unpins the namespace. Idempotent; "already gone" is success.
  virtual void teardown(const NetworkPlan& plan, std::function<void(Status)> done) = 0;
};

}  // namespace fw::core
