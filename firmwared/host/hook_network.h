#pragma once
// core::Network over the configured net helper (config `net_hook`; see
// docs/net-helper.md): the instance's network namespace is pinned (sys::NetnsPin: a bind
// mount of /proc/<monitor>/ns/net on <workspace>/netns), so a stolen interface can be given
// back even after PID 1 and the monitor are gone (or after a daemon crash).

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "firmwared/config/config.h"
#include "firmwared/core/network.h"
#include "firmwared/host/process_runner.h"

namespace fw::host {

inline constexpr int kHelperTimeoutMs = 10000;

class HookNetwork final : public core::Network {
 public:
  HookNetwork(ProcessRunner& runner, const config::Config& config)
      : runner_(runner), config_(config) {}

  void setup(const core::NetworkPlan& plan, std::function<void(Status)> done) override;
  void teardown(const core::NetworkPlan& plan, std::function<void(Status)> done) override;

  // Removes host veths named with our prefix that belong to none of `keep`.
  void remove_leftover_veths(const std::set<std::string>& keep);
  // Removes the host_access filters (our nftables table only) of every host end but `keep`,
  // those a crashed daemon left. Network setups wait until it is done: a filter installed
  // meanwhile could be swept.
  void sweep_filters(const std::set<std::string>& keep);

 private:
  void setup_now(const core::NetworkPlan& plan, std::function<void(Status)> done);
  void setup_veth(const core::NetworkPlan& plan, std::function<void(Status)> done,
                  std::function<void(const Error&)> fail);
  // Runs the helper with `args`; `done` gets an Error naming the action and its output.
  void run(const std::string& action, std::vector<std::string> args,
           std::function<void(Status)> done);

  ProcessRunner& runner_;
  const config::Config& config_;
  bool sweeping_ = false;
  std::vector<std::function<void()>> after_sweep_;  // setups waiting for the sweep
};

}  // namespace fw::host
