#pragma once
// core::Network over the configured net helper (config `net_hook`; see
// docs/net-helper.md): the instance's network namespace is pinned (sys::NetnsPin: a bind
// mount of /proc/<monitor>/ns/net on <workspace>/netns), so a stolen interface can be given
// back even after PID 1 and the monitor are gone (or after a daemon crash). The helper runs
// as one serving process per channel when it can (host/net_helper.h): the steps on a
// START's or a reply's path on one, the veth deletions that follow a teardown (slow, off
// every reply's path) on another, so they never queue behind each other.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "firmwared/config/config.h"
#include "firmwared/core/network.h"
#include "firmwared/host/net_helper.h"
#include "firmwared/host/process_runner.h"

namespace fw::host {

inline constexpr int kHelperTimeoutMs = 10000;

class HookNetwork final : public core::Network {
 public:
  HookNetwork(ProcessRunner& runner, const config::Config& config);

  // "firmwared:<16 hex digits of the sha1 of mount_path>": the alias (ifalias) every host
  // veth end of this daemon carries, and FIRMWARED_OWNER in the helper's environment. Two
  // daemons on one host have different mount paths, so each knows its own veths even when
  // they share host_interface_prefix.
  const std::string& owner() const { return owner_; }

  void setup(const core::NetworkPlan& plan, std::function<void(Status)> done) override;
  void teardown(const core::NetworkPlan& plan, std::function<void(Status)> done) override;

  // Removes host veths named with our prefix and carrying our owner() alias that belong to
  // none of `keep`; another daemon's (or an unowned) veth is left alone, and logged.
  void remove_leftover_veths(const std::set<std::string>& keep);
  // Removes the host_access filters (the nftables table of our prefix) of every host end
  // but `keep` and the live veths another daemon owns, those a crashed daemon left. Network
  // setups wait until it is done: a filter installed meanwhile could be swept. Called once
  // at start: it also starts both channels' helpers, so that the daemon's processes and
  // descriptors stay the same from then on.
  void sweep_filters(const std::set<std::string>& keep);

 private:
  void setup_now(const core::NetworkPlan& plan, std::function<void(Status)> done);
  void setup_veth(const core::NetworkPlan& plan, std::function<void(Status)> done,
                  std::function<void(const Error&)> fail);
  // Runs the helper with `args` on `channel`; `done` gets an Error naming the action and its
  // output.
  void run(NetHelper& channel, const std::string& action, std::vector<std::string> args,
           std::function<void(Status)> done);
  void run(const std::string& action, std::vector<std::string> args,
           std::function<void(Status)> done) {
    run(steps_, action, std::move(args), std::move(done));
  }

  const config::Config& config_;
  std::string owner_;
  NetHelper steps_;     // filter, create, steal, release, unfilter, sweep, and a START's clean
  NetHelper deletion_;  // the clean after a teardown, leftover veths
  bool sweeping_ = false;
  std::vector<std::function<void()>> after_sweep_;  // setups waiting for the sweep
  // Runs "clean" of `host_if` on the deletion channel; a setup of the same host interface
  // waits until it is done (a late deletion would take the new veth of that name away).
  void delete_veth(const std::string& host_if);
  struct Deleting {
    int pending = 0;                            // "clean" calls not yet answered
    std::vector<std::function<void()>> setups;  // waiting for them
  };
  std::map<std::string, Deleting> deleting_;  // by host_if
};

}  // namespace fw::host
