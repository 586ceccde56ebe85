#include "firmwared/host/hook_network.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "firmwared/base/fd.h"
#include "firmwared/base/host_access.h"
#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/core/workspace.h"
#include "firmwared/sys/netns_pin.h"
#include "firmwared/sys/sha1.h"

namespace fw::host {

namespace {

std::string netns_file(const core::NetworkPlan& p) { return core::Workspace(p.workspace).netns(); }

// Splits `iface[:new_name[:cidr]]`.
struct Stolen {
  std::string iface, new_name, cidr;
};
Stolen split_stolen(const std::string& s) {
  Stolen out;
  auto a = s.find(':');
  out.iface = s.substr(0, a);
  if (a == std::string::npos) return out;
  auto b = s.find(':', a + 1);
  out.new_name = s.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  if (b != std::string::npos) out.cidr = s.substr(b + 1);
  return out;
}

// Pins the instance's network namespace (the monitor's) on <workspace>/netns.
Result<std::shared_ptr<sys::NetnsPin>> pin(const core::NetworkPlan& p) {
  FW_ASSIGN_OR_RETURN(sys::NetnsPin pin,
                      sys::NetnsPin::pin(static_cast<pid_t>(p.monitor_pid), netns_file(p),
                                         "the network namespace of " + p.instance));
  return std::make_shared<sys::NetnsPin>(std::move(pin));
}

void unpin(sys::NetnsPin& pin) {
  if (auto s = pin.remove(); !s.ok()) log::warning(s.error().message + ", ignoring");
}

}  // namespace

namespace {

// The alias of host interface `name` ("" when it has none or is gone).
std::string alias_of(const std::string& name) {
  auto a = read_small_file("/sys/class/net/" + name + "/ifalias");
  if (!a.ok()) return "";
  std::string s = std::move(*a);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

// The host interfaces whose name starts with `prefix`.
std::vector<std::string> links_with_prefix(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/sys/class/net");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

// Writes the alias of host interface `name` through sysfs.
Status set_alias(const std::string& name, const std::string& alias) {
  const std::string path = "/sys/class/net/" + name + "/ifalias";
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return errno_error("marking veth " + name + " as ours: opening " + path);
  if (::write(fd.get(), alias.data(), alias.size()) != static_cast<ssize_t>(alias.size())) {
    return errno_error("marking veth " + name + " as ours: writing " + path);
  }
  return {};
}

constexpr char kOwnerTag[] = "firmwared:";

}  // namespace

HookNetwork::HookNetwork(ProcessRunner& runner, const config::Config& config)
    : config_(config),
      owner_(kOwnerTag + sys::daemon_owner_id(config.mount_path())),
      steps_(runner.base(), runner, config.net_hook(), "network steps"),
      deletion_(runner.base(), runner, config.net_hook(), "veth deletions") {}

void HookNetwork::run(NetHelper& channel, const std::string& action, std::vector<std::string> args,
                      std::function<void(Status)> done) {
  args.insert(args.begin(), action);
  if (config_.verbose_hook_scripts()) {
    std::string line = config_.net_hook();
    for (const auto& a : args) line += " " + a;
    log::info("running " + line);
  }
  const std::string hook = config_.net_hook();
  channel.call(std::move(args), owner_, kHelperTimeoutMs, [action, hook, done](ProcessOutcome o) {
    if (o.exit_status == 0) return done({});
    std::string why = o.timed_out
                          ? "timed out after " + std::to_string(kHelperTimeoutMs / 1000) + " s"
                          : "exit status " + std::to_string(o.exit_status);
    if (o.exit_status == 127 && o.output.empty()) why += " (cannot execute it)";
    done(make_error(o.exit_status == 127 ? ENOEXEC : EIO,
                    "net helper '" + hook + " " + action + "' failed (" + why + ")" +
                        (o.output.empty() ? "" : ": " + o.output)));
  });
}

void HookNetwork::setup(const core::NetworkPlan& p, std::function<void(Status)> done_in) {
  if (sweeping_) {
    after_sweep_.push_back([this, p, done_in]() { setup(p, done_in); });
    return;
  }
  if (auto d = deleting_.find(p.host_if); d != deleting_.end()) {
    d->second.setups.push_back([this, p, done_in]() { setup(p, done_in); });
    return;
  }
  // The step's duration is logged (debug): bench/start_bench.sh reports its median.
  const auto t0 = std::chrono::steady_clock::now();
  auto done = [p, t0, done_in](Status s) {
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    log::debug("network step of " + p.instance + ": " + std::to_string(us) + " us" +
               (s.ok() ? "" : " (failed)"));
    done_in(s);
  };
  // A previous run's host veth may still be on its way out (deleted in the background):
  // delete it first rather than fail on its name. Another daemon's (same prefix) is refused
  // before anything is touched: its filter and its veth are not ours to replace.
  if (::access(("/sys/class/net/" + p.host_if).c_str(), F_OK) == 0) {
    if (const std::string alias = alias_of(p.host_if);
        !alias.empty() && alias != owner_ &&
        alias.compare(0, sizeof(kOwnerTag) - 1, kOwnerTag) == 0) {
      return done(make_error(
          EBUSY, "host interface " + p.host_if + " belongs to another firmwared (" + alias +
                     ") using host_interface_prefix '" + config_.host_interface_prefix() +
                     "': give each daemon its own prefix"));
    }
    return run("clean", {"--host-if", p.host_if}, [this, p, done](Status) { setup_now(p, done); });
  }
  setup_now(p, done);
}

void HookNetwork::setup_now(const core::NetworkPlan& p, std::function<void(Status)> done_in) {
  auto pinned = pin(p);
  if (!pinned.ok()) return done_in(pinned.error());
  // The pin is the instance's once the setup succeeded (teardown removes it, possibly
  // another daemon's after a restart); a failed setup removes it.
  std::shared_ptr<sys::NetnsPin> netns = *pinned;
  auto done = [netns, done_in](Status s) {
    if (s.ok()) {
      netns->release();
    } else {
      unpin(*netns);
    }
    done_in(s);
  };
  if (p.filter_table.empty()) {
    return setup_veth(p, done, [this, p, done](const Error& e) {
      run("clean", {"--host-if", p.host_if}, [done, e](Status) { done(e); });
    });
  }
  // The filter comes first: when the veth appears, what it may reach is already decided.
  auto fail = [this, p, done](const Error& e) {
    // Undo: the veth pair (deleting the host end deletes both), the filter, then the pin.
    run("clean", {"--host-if", p.host_if}, [this, p, done, e](Status) {
      run("unfilter", {"--table", p.filter_table, "--host-if", p.host_if},
          [done, e](Status) { done(e); });
    });
  };
  const auto t0 = std::chrono::steady_clock::now();
  run("filter",
      {"--table", p.filter_table, "--host-if", p.host_if, "--host-addr", p.host_addr, "--access",
       p.host_access},
      [this, p, done, fail, t0](Status s) {
        // Logged (debug) so that its cost can be measured apart from the veth's.
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - t0)
                            .count();
        log::debug("host_access filter of " + p.instance + ": " + std::to_string(us) + " us");
        if (!s.ok()) {
          return done(s.error().wrap("installing the host_access filter (" + p.host_access +
                                     ") of " + p.host_if));
        }
        setup_veth(p, done, fail);
      });
}

void HookNetwork::setup_veth(const core::NetworkPlan& p, std::function<void(Status)> done,
                             std::function<void(const Error&)> fail) {
  run("create",
      {"--netns", netns_file(p), "--host-if", p.host_if, "--inner-if", p.inner_if, "--host-addr",
       p.host_addr, "--inner-addr", p.inner_addr},
      [this, p, done, fail](Status s) {
        if (!s.ok()) return fail(s.error());
        // A net helper that ignores FIRMWARED_OWNER: the daemon marks the veth itself.
        if (alias_of(p.host_if).empty()) {
          if (auto w = set_alias(p.host_if, owner_); !w.ok()) {
            log::warning(w.error().message + ", ignoring");
          }
        }
        if (p.stolen.empty()) return done({});
        const Stolen st = split_stolen(p.stolen);
        std::vector<std::string> args = {"--netns", netns_file(p), "--iface", st.iface};
        if (!st.new_name.empty()) args.insert(args.end(), {"--new-name", st.new_name});
        if (!st.cidr.empty()) args.insert(args.end(), {"--addr", st.cidr});
        run("steal", args, [done, fail](Status s2) {
          if (!s2.ok()) return fail(s2.error());
          done({});
        });
      });
}

void HookNetwork::teardown(const core::NetworkPlan& p, std::function<void(Status)> done) {
  // Give back the stolen interface (needs the pinned namespace), unpin, answer; then delete
  // the veth pair, whose kernel teardown is slow (~20 ms), in the background.
  // The filter goes before the answer: a START that follows must not find its fresh
  // filter removed by this teardown's late unfilter.
  auto finish = [this, p, done]() {
    auto rest = [this, p, done]() {
      auto netns = sys::NetnsPin::adopt(netns_file(p));
      unpin(netns);
      done({});
      delete_veth(p.host_if);
    };
    if (p.filter_table.empty()) return rest();
    run("unfilter", {"--table", p.filter_table, "--host-if", p.host_if}, [p, rest](Status s) {
      if (!s.ok()) log::warning("instance " + p.instance + ": " + s.error().message + ", ignoring");
      rest();
    });
  };
  if (p.stolen.empty() || ::access(netns_file(p).c_str(), F_OK) != 0) return finish();
  const Stolen st = split_stolen(p.stolen);
  const std::string inside = st.new_name.empty() ? st.iface : st.new_name;
  run("release",
      {"--netns", netns_file(p), "--iface", inside, "--host-name", st.iface, "--missing-ok"},
      [finish, p](Status s) {
        if (!s.ok())
          log::warning("instance " + p.instance + ": " + s.error().message + ", ignoring");
        finish();
      });
}

void HookNetwork::remove_leftover_veths(const std::set<std::string>& keep) {
  std::vector<std::string> victims;
  for (const auto& n : links_with_prefix(config_.host_interface_prefix())) {
    if (keep.count(n) != 0) continue;
    const std::string alias = alias_of(n);
    if (alias == owner_) {
      victims.push_back(n);
    } else if (alias.compare(0, sizeof(kOwnerTag) - 1, kOwnerTag) == 0) {
      log::info("veth " + n + " belongs to another firmwared (" + alias + "), left alone");
    } else {
      log::warning("veth " + n + " has our prefix but no firmwared owner (made by an older " +
                   "firmwared, a net helper that does not set FIRMWARED_OWNER, or by hand): " +
                   "left alone; `ip link del " + n + "` removes it");
    }
  }
  for (const auto& v : victims) {
    log::notice("removing leftover veth " + v);
    delete_veth(v);
  }
}

void HookNetwork::delete_veth(const std::string& host_if) {
  ++deleting_[host_if].pending;
  run(deletion_, "clean", {"--host-if", host_if}, [this, host_if](Status s) {
    if (!s.ok()) log::warning(s.error().message + ", ignoring");
    auto it = deleting_.find(host_if);
    if (it == deleting_.end() || --it->second.pending > 0) return;
    auto waiting = std::move(it->second.setups);
    deleting_.erase(it);
    for (auto& f : waiting) f();
  });
}

void HookNetwork::sweep_filters(const std::set<std::string>& keep_ours) {
  // The table is ours alone (another daemon with our prefix has its own): only the filters
  // of our live veths stay.
  std::string kept;
  for (const auto& k : keep_ours) kept += (kept.empty() ? "" : " ") + k;
  std::vector<std::string> args = {"--table",
                                   host_access_table(config_.host_interface_prefix(),
                                                     sys::daemon_owner_id(config_.mount_path()))};
  if (!kept.empty()) args.insert(args.end(), {"--keep", kept});
  sweeping_ = true;
  deletion_.start();
  run("sweep", args, [this](Status s) {
    if (!s.ok()) log::warning(s.error().message + ", ignoring");
    sweeping_ = false;
    auto waiting = std::move(after_sweep_);
    after_sweep_.clear();
    for (auto& f : waiting) f();
  });
}

}  // namespace fw::host
