// When the standby sandboxes are built (premade_sandbox=y). A build is a monitor spawned,
// namespaces unshared, ~30 mounts, a veth through the net helper: made for 100 instances at
// once, right after their runs ended, they would take the CPU, the kernel's mount and RTNL
// locks and the net helper from the STARTs, STOPs and KILLs still waiting for their reply.
// So builds wait their turn: a few at a time, after the replies, after the release of the
// instance's previous run.

#include <algorithm>
#include <thread>

#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"

namespace fw::core {

size_t Instances::standby_build_cap() {
  return std::max<size_t>(2, 2 * static_cast<size_t>(std::thread::hardware_concurrency()));
}

void Instances::schedule_standby(const std::string& sha1) {
  if (!d_.config.premade_sandbox() || shutting_down_) return;
  if (std::find(standby_wanted_.begin(), standby_wanted_.end(), sha1) == standby_wanted_.end()) {
    standby_wanted_.push_back(sha1);
  }
  arm_standby_pump(0);  // once the loop has sent what it is sending
}

void Instances::arm_standby_pump(int milliseconds) {
  if (standby_pump_armed_) return;
  standby_pump_armed_ = true;
  d_.timers.after(milliseconds, [this]() {
    standby_pump_armed_ = false;
    pump_standbys();
  });
}

bool Instances::lifecycle_pending() const {
  return std::any_of(running_.begin(), running_.end(), [](const auto& run) {
    return !run.second->start_waiters.empty() || !run.second->kill_waiters.empty();
  });
}

void Instances::pump_standbys() {
  if (shutting_down_ || standby_wanted_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  if (lifecycle_pending()) {
    if (!standby_deferred_since_) standby_deferred_since_ = now;
    if (now - *standby_deferred_since_ < std::chrono::milliseconds(kStandbyDeferMaxMs)) {
      return arm_standby_pump(kStandbyPollMs);
    }
  } else {
    standby_deferred_since_.reset();
  }
  size_t building =
      static_cast<size_t>(std::count_if(standbys_.begin(), standbys_.end(), [](const auto& sb) {
        return sb.second->state == SandboxState::kBuilding;
      }));
  std::deque<std::string> later;  // still releasing their previous run
  while (!standby_wanted_.empty() && building < standby_build_cap()) {
    const std::string sha1 = standby_wanted_.front();
    standby_wanted_.pop_front();
    if (net_queues_.count(sha1) != 0) {
      later.push_back(sha1);
      continue;
    }
    build_standby(sha1);
    if (auto it = standbys_.find(sha1);
        it != standbys_.end() && it->second->state == SandboxState::kBuilding) {
      ++building;
    }
  }
  standby_wanted_.insert(standby_wanted_.begin(), later.begin(), later.end());
  if (!standby_wanted_.empty()) arm_standby_pump(kStandbyPollMs);
}

}  // namespace fw::core
