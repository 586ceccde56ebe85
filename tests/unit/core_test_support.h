#pragma once
// Test doubles shared by the core unit tests: a sink recording the notifications a folder
// emits, and recording mounters that fail at call n (fault injection for the rollback paths).

#include <algorithm>
#include <deque>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "firmwared/core/events.h"
#include "firmwared/core/firmware_mounter.h"
#include "firmwared/core/instance_mounter.h"
#include "firmwared/core/network.h"

namespace fw::core::fakes {

struct RecordedEvent {
  std::string name;
  EventFields fields;

  std::string str(const std::string& key) const {
    for (const auto& [k, v] : fields) {
      if (k == key && std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
    }
    return "<missing " + key + ">";
  }
  int64_t num(const std::string& key) const {
    for (const auto& [k, v] : fields) {
      if (k == key && std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
    }
    return -1;
  }
};

class RecordingSink final : public EventSink {
 public:
  std::vector<RecordedEvent> events;
  void emit(const std::string& event, EventFields fields) override {
    events.push_back({event, std::move(fields)});
  }
  std::vector<RecordedEvent> named(const std::string& name) const {
    std::vector<RecordedEvent> out;
    for (const auto& e : events) {
      if (e.name == name) out.push_back(e);
    }
    return out;
  }
};

// Records every call as one line; the call numbered fail_at (1-based, all kinds counted)
// fails with EIO. `hook` runs on every call before it is answered. `mounted` holds the
// targets mounted and not unmounted since (a leak shows there). remove_tree really removes,
// so a rollback that forgets it shows.
class FakeInstanceMounter final : public InstanceMounter {
 public:
  std::vector<std::string> calls;
  int fail_at = 0;
  std::function<void(const std::string& call)> hook;
  std::set<std::string> mounted;
  std::string unmappable;  // what find_unmappable answers

  Result<std::string> find_unmappable(const std::string&, uint32_t) override { return unmappable; }
  Status unmount(const std::string& target) override {
    FW_TRY(record("unmount " + target));
    mounted.erase(target);
    return {};
  }
  Result<bool> is_mounted(const std::string&) override { return true; }
  Status remove_tree(const std::string& path) override {
    FW_TRY(record("remove_tree " + path));
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    return {};
  }

 protected:
  Status do_mount_lower(const std::string& firmware_mount, const std::string& ro) override {
    return mount(ro, "mount_lower " + firmware_mount + " " + ro);
  }
  Status do_mount_lower_stack(const std::vector<std::string>& layers,
                              const std::string& ro) override {
    return mount(ro, "mount_lower_stack " + joined(layers) + " " + ro);
  }
  Status do_mount_overlay(const std::string& lower, const std::string& upper,
                          const std::string& work, const std::string& target) override {
    return mount(target, "mount_overlay " + lower + " " + upper + " " + work + " " + target);
  }
  Status do_mount_overlay_idmapped(const std::vector<std::string>& lowers, const std::string& upper,
                                   const std::string& work, const std::string& target,
                                   sys::IdRange range) override {
    return mount(target, "mount_overlay_idmapped " + joined(lowers) + " " + upper + " " + work +
                             " " + target + " " + std::to_string(range.base) + "+" +
                             std::to_string(range.count));
  }

 private:
  static std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ":") + p;
    return out;
  }
  Status mount(const std::string& target, std::string call) {
    FW_TRY(record(std::move(call)));
    mounted.insert(target);
    return {};
  }
  Status record(std::string call) {
    calls.push_back(call);
    if (hook) hook(call);
    if (static_cast<int>(calls.size()) == fail_at) {
      return make_error(EIO, "injected failure of call " + std::to_string(fail_at));
    }
    return {};
  }
};

// The firmwares' mounter, recording and failing as FakeInstanceMounter does.
class FakeFirmwareMounter final : public FirmwareMounter {
 public:
  std::vector<std::string> calls;
  int fail_at = 0;

  Status mount(const std::string& source, const std::string& format,
               const std::string& target) override {
    return record("mount " + format + " " + source + " " + target);
  }
  Status unmount(const std::string& target) override { return record("unmount " + target); }
  Status clean_stale(const std::string& mount_dir, const std::string& repository) override {
    return record("clean_stale " + mount_dir + " " + repository);
  }

 private:
  Status record(std::string call) {
    calls.push_back(std::move(call));
    if (static_cast<int>(calls.size()) == fail_at) {
      return make_error(EIO, "injected failure of call " + std::to_string(fail_at));
    }
    return {};
  }
};

// The network step of START: records "setup NAME" and "teardown NAME" (and the plans), and
// answers at once with setup_result / teardown_result, or, with hold_setup / hold_teardown,
// keeps the callback until the test completes it (complete(): the oldest held first).
class FakeNetwork final : public Network {
 public:
  std::vector<std::string> calls;
  std::vector<NetworkPlan> plans;
  Status setup_result, teardown_result;
  bool hold_setup = false, hold_teardown = false;
  std::deque<std::pair<std::string, std::function<void(Status)>>> held;

  void setup(const NetworkPlan& plan, std::function<void(Status)> done) override {
    answer("setup " + plan.instance, plan, std::move(done), hold_setup, setup_result);
  }
  void teardown(const NetworkPlan& plan, std::function<void(Status)> done) override {
    answer("teardown " + plan.instance, plan, std::move(done), hold_teardown, teardown_result);
  }
  // Answers the oldest held call with `s`; returns that call.
  std::string complete(Status s = {}) {
    if (held.empty()) return "<nothing held>";
    auto [call, done] = std::move(held.front());
    held.pop_front();
    done(std::move(s));
    return call;
  }
  size_t count(const std::string& call) const {
    return static_cast<size_t>(std::count(calls.begin(), calls.end(), call));
  }

 private:
  void answer(std::string call, const NetworkPlan& plan, std::function<void(Status)> done,
              bool hold, const Status& result) {
    calls.push_back(call);
    plans.push_back(plan);
    if (hold) {
      held.emplace_back(std::move(call), std::move(done));
    } else {
      done(result);
    }
  }
};

}  // namespace fw::core::fakes
