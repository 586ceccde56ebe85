#pragma once
// core::Network over the configured net helper (config `net_hook`; see
// docs/net-helper.md): the instance's network namespace is pinned by a bind mount of
// /proc/<monitor>/ns/net on <workspace>/netns, so a stolen interface can be given back even
// after PID 1 and the monitor are gone (or after a daemon crash).

#include <set>
#include <string>

#include "firmwared/config/config.h"
#include "firmwared/core/network.h"
#include "firmwared/server/process_runner.h"

namespace fw::server {

inline constexpr int kHelperTimeoutMs = 10000;

class HookNetwork final : public core::Network {
 public:
  HookNetwork(ProcessRunner& runner, const config::Config& config)
      : runner_(runner), config_(config) {}

  void setup(const core::NetworkPlan& plan, std::function<void(Status)> done) override;
  void teardown(const core::NetworkPlan& plan, std::function<void(Status)> done) override;

  // Removes host veths named with our prefix that belong to none of `keep`.
  void remove_leftover_veths(const std::set<std::string>& keep);

 private:
  void setup_now(const core::NetworkPlan& plan, std::function<void(Status)> done);
  // Runs the helper with `args`; `done` gets an Error naming the action and its output.
  void run(const std::string& action, std::vector<std::string> args,
           std::function<void(Status)> done);

  ProcessRunner& runner_;
  const config::Config& config_;
};

}  // namespace fw::server
