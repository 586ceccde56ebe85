#include "firmwared/sys/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>
#include <thread>

#include "firmwared/base/log.h"
#include "firmwared/sys/cgroup_devices.h"
#include "firmwared/sys/cgroup_util.h"

namespace fw::sys {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string q(const std::string& s) { return "'" + s + "'"; }

Status check_name(const std::string& name, const char* what) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255 ||
      name.find_first_of("/\n") != std::string::npos) {
    return make_error(EINVAL, std::string("invalid ") + what + " name " + q(name));
  }
  return {};
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status mkdir_p(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return {};
  if (errno != ENOENT) return errno_error("making cgroup directory " + path);
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return errno_error("making directory " + path);
  FW_TRY(mkdir_p(path.substr(0, slash), mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("making cgroup directory " + path);
  }
  return {};
}

// The sub-directories (sub-cgroups) of `dir`; none when it cannot be read.
std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (e->d_type == DT_DIR && n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// `dir` and all its sub-cgroups, parents first.
void collect_tree(const std::string& dir, std::vector<std::string>& out) {
  out.push_back(dir);
  for (const std::string& s : subdirs(dir)) collect_tree(dir + "/" + s, out);
}

std::vector<pid_t> procs_of(const std::string& dir) {
  std::vector<pid_t> pids;
  auto text = read_text(dir + "/cgroup.procs");
  if (!text.ok()) return pids;
  for (const std::string& w : words(*text)) {
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), pid);
    if (ec == std::errc() && end == w.data() + w.size() && pid > 0) pids.push_back(pid);
  }
  return pids;
}

// One round of SIGKILL to every process of `dirs`; returns how many were found. A pid is
// signalled through a pidfd opened before re-reading cgroup.procs, so a pid reused by a
// process outside the cgroup between the read and the kill is never hit.
size_t kill_round(const std::vector<std::string>& dirs) {
  size_t found = 0;
  for (const std::string& d : dirs) {
    std::vector<std::pair<pid_t, Fd>> fds;
    for (pid_t pid : procs_of(d)) {
      fds.emplace_back(pid, Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))));
    }
    const std::vector<pid_t> again = procs_of(d);
    for (auto& [pid, fd] : fds) {
      if (!fd || std::find(again.begin(), again.end(), pid) == again.end()) continue;
      ++found;
      (void)::syscall(SYS_pidfd_send_signal, fd.get(), SIGKILL, nullptr, 0);
    }
  }
  return found;
}

// rmdir(2) of `dir`, retrying EBUSY (processes still exiting) until `deadline`.
Status rmdir_retry(const std::string& dir, Clock::time_point deadline) {
  while (::rmdir(dir.c_str()) != 0) {
    if (errno == ENOENT) return {};
    if (errno != EBUSY || Clock::now() >= deadline) return errno_error("removing cgroup " + dir);
    std::this_thread::sleep_for(milliseconds(10));
  }
  return {};
}

// Enables `controllers` in <dir>/cgroup.subtree_control, one write each so that one
// refusal does not hide the others. Returns the errno of the first refusal, 0 if none.
int enable(const std::string& dir, const std::vector<std::string>& controllers) {
  int first = 0;
  const std::string file = dir + "/cgroup.subtree_control";
  auto current = read_text(file);
  const std::vector<std::string> on = current.ok() ? words(*current) : std::vector<std::string>();
  for (const std::string& c : controllers) {
    if (std::find(on.begin(), on.end(), c) != on.end()) continue;
    Status st = write_text(file, "+" + c);
    if (!st.ok() && first == 0) first = st.error().code;
  }
  return first;
}

// enable(), with a refusal logged as a warning that says what it costs (`consequence`):
// limits still come from cgroup v1, or are unavailable.
void enable_or_warn(const std::string& dir, const std::vector<std::string>& controllers,
                    std::string_view consequence) {
  if (const int e = enable(dir, controllers); e != 0) {
    log::warning(errno_error(e, "enabling cgroup controllers in " + dir).message +
                 std::string(consequence) + ", ignoring");
  }
}

// The controllers on in <dir>/cgroup.subtree_control.
Result<std::vector<std::string>> enabled_controllers(const std::string& dir) {
  FW_ASSIGN_OR_RETURN(const std::string text, read_text(dir + "/cgroup.subtree_control"));
  return words(text);
}

}  // namespace

CgroupGuard& CgroupGuard::operator=(CgroupGuard&& other) noexcept {
  if (this != &other) {
    reset();
    parent_ = std::exchange(other.parent_, nullptr);
    child_ = std::move(other.child_);
  }
  return *this;
}

void CgroupGuard::reset() noexcept {
  if (parent_ == nullptr) return;
  Status st = std::exchange(parent_, nullptr)->remove(child_);
  if (!st.ok()) log::warning(st.error().message + ", ignoring");
}

namespace {

std::string_view basename_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view dirname_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// systemd's unit cgroup of firmwared: "firmwared.service", "firmwared@x.service",
// "firmwared-test.service".
bool is_firmwared_service(std::string_view cgroup) {
  const std::string_view base = basename_of(cgroup);
  const std::string_view suffix = ".service";
  if (base.size() <= suffix.size() || base.substr(base.size() - suffix.size()) != suffix) {
    return false;
  }
  const std::string_view unit = base.substr(0, base.size() - suffix.size());
  return unit == "firmwared" || unit.rfind("firmwared@", 0) == 0 ||
         unit.rfind("firmwared-", 0) == 0;
}

}  // namespace

CgroupPlacement decide_placement(const CgroupLayout& layout, bool invocation_id) {
  CgroupPlacement p;
  if (!invocation_id) return p;
  const CgroupHierarchy* h = layout.unified();
  if (h == nullptr) h = layout.v1("name=systemd");
  if (h == nullptr) {
    p.note = "started by systemd but no cgroup2 or name=systemd hierarchy shows its unit";
    return p;
  }
  std::string_view self = h->self;
  if (basename_of(self) == kSupervisorLeaf && is_firmwared_service(dirname_of(self))) {
    self = dirname_of(self);
  }
  if (is_firmwared_service(self)) {
    p.unit = std::string(self);
    return p;
  }
  p.note = "started by systemd, but in cgroup " + h->self +
           ", not a firmwared service's (firmwared.service with Delegate=yes): instance "
           "cgroups go below it as when started by hand";
  return p;
}

Result<CgroupParent> CgroupParent::open(CgroupLayout layout, const std::string& name) {
  return open(std::move(layout), name, CgroupPlacement{});
}

Result<CgroupParent> CgroupParent::open(CgroupLayout layout, const std::string& name,
                                        const CgroupPlacement& placement) {
  FW_TRY(check_name(name, "cgroup"));
  std::vector<std::string> dirs;
  std::vector<bool> delegated;
  for (const CgroupHierarchy& h : layout.hierarchies) {
    const bool in_unit =
        !placement.unit.empty() &&
        (h.self == placement.unit || h.self == placement.unit + "/" + kSupervisorLeaf);
    delegated.push_back(in_unit);
    if (in_unit) {
      // Out of the unit's cgroup first: then it may hand controllers to its children.
      const std::string unit_dir = h.mount + placement.unit;
      const std::string leaf = unit_dir + "/" + kSupervisorLeaf;
      FW_TRY(mkdir_p(leaf, 0755));
      FW_TRY_CTX(write_text(leaf + "/cgroup.procs", "0"), "moving the daemon into " + leaf);
      dirs.push_back(unit_dir);
    } else {
      dirs.push_back(h.self_dir() + "/" + name);
      FW_TRY(mkdir_p(dirs.back(), 0755));
    }
  }
  CgroupParent parent(std::move(layout), name, std::move(dirs), std::move(delegated));
  for (size_t i = 0; i < parent.layout_.hierarchies.size(); ++i) {
    if (parent.layout_.hierarchies[i].unified) FW_TRY(parent.enable_unified_controllers(i));
  }
  return parent;
}

Status CgroupParent::enable_unified_controllers(size_t index) {
  const CgroupHierarchy& h = layout_.hierarchies[index];
  std::vector<std::string> wanted;
  for (const char* c : {"memory", "pids", "cpu"}) {
    if (h.has(c)) wanted.emplace_back(c);
  }
  constexpr std::string_view kNoLimits = " (limits come from cgroup v1 or are unavailable)";
  if (delegated(index)) {
    // The unit's own cgroup.controllers is what systemd delegated: hand those down.
    enable_or_warn(dirs_[index], wanted, kNoLimits);
    FW_ASSIGN_OR_RETURN(v2_enabled_, enabled_controllers(dirs_[index]));
    return {};
  }
  int e = enable(h.self_dir(), wanted);
  if (e == EBUSY && h.self != "/") {
    // cgroups(7), "Rules for subtree delegation": a non-root cgroup can distribute
    // resources to its children only when it has no processes itself, and we are in it.
    // Move this process to a leaf of its own next to the parent directory and try again.
    const std::string leaf = h.self_dir() + "/" + name_ + ".daemon";
    FW_TRY(mkdir_p(leaf, 0755));
    FW_TRY_CTX(write_text(leaf + "/cgroup.procs", "0"), "moving the daemon out of " + h.self_dir());
    e = enable(h.self_dir(), wanted);
  }
  if (e != 0) {
    log::warning(errno_error(e, "enabling cgroup controllers in " + h.self_dir()).message +
                 std::string(kNoLimits) + ", ignoring");
  }
  FW_ASSIGN_OR_RETURN(const std::vector<std::string> granted, enabled_controllers(h.self_dir()));
  std::vector<std::string> usable;
  for (const std::string& c : granted) {
    if (std::find(wanted.begin(), wanted.end(), c) != wanted.end()) usable.push_back(c);
  }
  enable_or_warn(dirs_[index], usable, "");
  FW_ASSIGN_OR_RETURN(v2_enabled_, enabled_controllers(dirs_[index]));
  return {};
}

std::string CgroupParent::dir(size_t index, const std::string& child) const {
  return dirs_[index] + "/" + child;
}

std::optional<size_t> CgroupParent::holder(std::string_view v2_controller,
                                           std::string_view v1_controller) const {
  for (size_t i = 0; i < layout_.hierarchies.size(); ++i) {
    if (layout_.hierarchies[i].unified &&
        std::find(v2_enabled_.begin(), v2_enabled_.end(), v2_controller) != v2_enabled_.end()) {
      return i;
    }
  }
  for (size_t i = 0; i < layout_.hierarchies.size(); ++i) {
    const CgroupHierarchy& h = layout_.hierarchies[i];
    if (!h.unified && h.has(v1_controller)) return i;
  }
  return std::nullopt;
}

Result<std::vector<std::string>> CgroupParent::create(const std::string& child,
                                                      const CgroupLimits& limits,
                                                      uint32_t delegate_uid) {
  FW_TRY(check_name(child, "instance cgroup"));
  std::vector<std::string> made;
  bool leftover = false;
  for (size_t i = 0; i < dirs_.size(); ++i) {
    made.push_back(dir(i, child));
    leftover = leftover || exists(made.back());
  }
  if (leftover) FW_TRY_CTX(remove(child), "removing the leftover cgroup " + q(child));
  CgroupGuard guard(*this, child);
  for (const std::string& d : made) {
    if (::mkdir(d.c_str(), 0755) != 0) return errno_error("making cgroup directory " + d);
  }
  FW_TRY(set_limits(child, limits));
  FW_TRY(apply_device_policy(child));
  if (delegate_uid != 0) FW_TRY(delegate(child, delegate_uid));
  guard.release();
  return made;
}

Status CgroupParent::set_limits(const std::string& child, const CgroupLimits& limits) {
  FW_TRY(check_name(child, "instance cgroup"));
  if (limits.cpu_weight && (*limits.cpu_weight < 1 || *limits.cpu_weight > 10000)) {
    return make_error(EINVAL, "cpu weight " + std::to_string(*limits.cpu_weight) + " of cgroup " +
                                  q(child) + " is outside 1..10000");
  }
  const auto missing = [&](const char* controller) {
    return make_error(ENOTSUP, std::string("no ") + controller +
                                   " cgroup controller on this host: cannot limit cgroup " +
                                   q(child));
  };
  auto num = [](const std::optional<uint64_t>& v, const char* none) {
    return v ? std::to_string(*v) : std::string(none);
  };
  if (const auto i = holder("memory", "memory")) {
    const std::string d = dir(*i, child);
    FW_TRY(layout_.hierarchies[*i].unified
               ? write_text(d + "/memory.max", num(limits.memory_max, "max"))
               : write_text(d + "/memory.limit_in_bytes", num(limits.memory_max, "-1")));
  } else if (limits.memory_max) {
    return missing("memory");
  }
  if (const auto i = holder("pids", "pids")) {
    FW_TRY(write_text(dir(*i, child) + "/pids.max", num(limits.pids_max, "max")));
  } else if (limits.pids_max) {
    return missing("pids");
  }
  if (const auto i = holder("cpu", "cpu")) {
    const std::string d = dir(*i, child);
    const uint64_t w = limits.cpu_weight.value_or(100);
    // The v1 default of cpu.shares (1024) matches the v2 default weight (100).
    FW_TRY(
        layout_.hierarchies[*i].unified
            ? write_text(d + "/cpu.weight", std::to_string(w))
            : write_text(d + "/cpu.shares", std::to_string(std::max<uint64_t>(2, w * 1024 / 100))));
  } else if (limits.cpu_weight) {
    return missing("cpu");
  }
  return {};
}

Status CgroupParent::apply_device_policy(const std::string& child) {
  bool applied = false;
  for (size_t i = 0; i < layout_.hierarchies.size(); ++i) {
    const CgroupHierarchy& h = layout_.hierarchies[i];
    const std::string d = dir(i, child);
    if (h.unified) {
      FW_ASSIGN_OR_RETURN(Fd prog, load_device_program(instance_device_rules()));
      FW_TRY(attach_device_program(d, prog.get()));
      applied = true;
    } else if (h.has("devices")) {
      // devices.rst: "a" in devices.deny empties the whitelist; each allow line adds one.
      FW_TRY(write_text(d + "/devices.deny", "a"));
      for (const std::string& line : device_rules_v1(instance_device_rules())) {
        FW_TRY(write_text(d + "/devices.allow", line));
      }
      applied = true;
    }
  }
  if (!applied) {
    return make_error(ENOTSUP,
                      "no device cgroup controller on this host: cannot confine the "
                      "devices of cgroup " +
                          q(child));
  }
  return {};
}

Status CgroupParent::delegate(const std::string& child, uint32_t uid) {
  for (size_t i = 0; i < layout_.hierarchies.size(); ++i) {
    const CgroupHierarchy& h = layout_.hierarchies[i];
    std::vector<const char*> files;
    if (h.unified) {
      files = {"", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control"};
    } else if (h.has("name=systemd")) {
      files = {"", "/cgroup.procs", "/tasks", "/notify_on_release", "/cgroup.clone_children"};
    }
    for (const char* f : files) {
      const std::string path = dir(i, child) + f;
      if (::chown(path.c_str(), uid, uid) != 0 && errno != ENOENT) {
        return errno_error("delegating " + path + " to uid " + std::to_string(uid));
      }
    }
  }
  return {};
}

Result<CgroupStats> CgroupParent::stats(const std::string& child) const {
  FW_TRY(check_name(child, "instance cgroup"));
  if (dirs_.empty() || !exists(dir(0, child))) {
    return errno_error(ENOENT, "reading the counters of cgroup " + q(child));
  }
  CgroupStats s;
  const CgroupHierarchy* u = layout_.unified();
  if (const auto i = holder("memory", "memory")) {
    const std::string d = dir(*i, child);
    const bool v2 = layout_.hierarchies[*i].unified;
    FW_ASSIGN_OR_RETURN(s.memory_current,
                        read_u64(d + (v2 ? "/memory.current" : "/memory.usage_in_bytes")));
    FW_ASSIGN_OR_RETURN(s.memory_peak,
                        read_u64(d + (v2 ? "/memory.peak" : "/memory.max_usage_in_bytes")));
    FW_ASSIGN_OR_RETURN(
        const std::optional<uint64_t> kills,
        read_keyed(d + (v2 ? "/memory.events" : "/memory.oom_control"), "oom_kill"));
    s.oom_kills = kills.value_or(0);
  }
  if (const auto i = holder("pids", "pids")) {
    FW_ASSIGN_OR_RETURN(s.pids_current, read_u64(dir(*i, child) + "/pids.current"));
  }
  if (const CgroupHierarchy* acct = layout_.v1("cpuacct"); acct != nullptr) {
    const size_t i = static_cast<size_t>(acct - layout_.hierarchies.data());
    FW_ASSIGN_OR_RETURN(const std::optional<uint64_t> ns,
                        read_u64(dir(i, child) + "/cpuacct.usage"));
    if (ns) s.cpu_usec = *ns / 1000;
  } else if (u != nullptr) {
    // cpu.stat is a core file of every cgroup2 directory (usage_usec even without the cpu
    // controller), cgroup-v2.rst "Core Interface Files".
    const size_t i = static_cast<size_t>(u - layout_.hierarchies.data());
    FW_ASSIGN_OR_RETURN(s.cpu_usec, read_keyed(dir(i, child) + "/cpu.stat", "usage_usec"));
  }
  return s;
}

Result<Fd> CgroupParent::oom_notifier(const std::string& child) const {
  FW_TRY(check_name(child, "instance cgroup"));
  const auto i = holder("memory", "memory");
  if (!i) {
    return make_error(ENOTSUP, "no memory cgroup controller on this host: cannot watch cgroup " +
                                   q(child) + " for OOM kills");
  }
  return watch_oom(dir(*i, child), layout_.hierarchies[*i].unified);
}

Result<Fd> watch_oom(const std::string& d, bool unified) {
  if (unified) {
    // memory.events is a kernfs file: the kernel calls cgroup_file_notify() on every OOM
    // event, which inotify reports as IN_MODIFY (cgroup-v2.rst, "memory.events").
    Fd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!fd) return errno_error("making an inotify instance for cgroup " + d);
    if (::inotify_add_watch(fd.get(), (d + "/memory.events").c_str(), IN_MODIFY) < 0) {
      return errno_error("watching " + d + "/memory.events");
    }
    return fd;
  }
  // cgroup-v1/memory.rst, "OOM Control": write "<eventfd> <fd of memory.oom_control>" to
  // cgroup.event_control. The registration holds the eventfd, not the control file's fd.
  Fd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!efd) return errno_error("making an eventfd for cgroup " + d);
  Fd control(::open((d + "/memory.oom_control").c_str(), O_RDONLY | O_CLOEXEC));
  if (!control) return errno_error("opening " + d + "/memory.oom_control");
  FW_TRY(write_text(d + "/cgroup.event_control",
                    std::to_string(efd.get()) + " " + std::to_string(control.get())));
  return efd;
}

Result<uint64_t> oom_kills(const std::string& d, bool unified) {
  FW_ASSIGN_OR_RETURN(
      auto v, read_keyed(d + (unified ? "/memory.events" : "/memory.oom_control"), "oom_kill"));
  return v.value_or(0);
}

Status CgroupParent::remove(const std::string& child) {
  FW_TRY(check_name(child, "instance cgroup"));
  std::vector<std::string> tree;  // every directory of the child, parents first
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (exists(dir(i, child))) collect_tree(dir(i, child), tree);
  }
  if (tree.empty()) return {};
  Status result;
  const CgroupHierarchy* u = layout_.unified();
  for (size_t i = 0; u != nullptr && i < dirs_.size(); ++i) {
    const std::string kill = dir(i, child) + "/cgroup.kill";
    if (layout_.hierarchies[i].unified && exists(kill)) {
      // cgroup-v2.rst, "cgroup.kill" (Linux >= 5.14): kills the whole subtree, race-free.
      Status st = write_text(kill, "1");
      if (!st.ok() && st.error().code != ENOENT) result = st.error();
    }
  }
  // SIGKILL what is left (v1-only members, or no cgroup.kill) until every cgroup is empty.
  const Clock::time_point deadline = Clock::now() + milliseconds(2000);
  while (kill_round(tree) != 0) {
    if (Clock::now() >= deadline) {
      return make_error(EBUSY, "processes of cgroup " + q(child) + " survive SIGKILL");
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  const Clock::time_point rm_deadline = Clock::now() + milliseconds(1000);
  for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
    Status st = rmdir_retry(*it, rm_deadline);
    if (!st.ok() && result.ok()) result = st.error();
  }
  return result;
}

std::vector<std::string> CgroupParent::children() const {
  std::set<std::string> names;
  for (const std::string& d : dirs_) {
    for (std::string& n : subdirs(d)) {
      if (n == kSupervisorLeaf || n.starts_with('.')) continue;
      names.insert(std::move(n));
    }
  }
  return {names.begin(), names.end()};
}

Status CgroupParent::remove_self_if_empty() {
  const std::vector<std::string> left = children();
  if (!left.empty()) {
    return make_error(ENOTEMPTY, "cgroup " + q(name_) + " still has the child " + q(left[0]));
  }
  Status result;
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (delegated(i)) continue;  // the unit's cgroup is systemd's
    const std::string& d = dirs_[i];
    if (::rmdir(d.c_str()) != 0 && errno != ENOENT && result.ok()) {
      result = errno_error("removing cgroup " + d);
    }
  }
  if (const CgroupHierarchy* u = layout_.unified(); u != nullptr) {
    // EBUSY: this process is still in it, and stays (see open()).
    const std::string leaf = u->self_dir() + "/" + name_ + ".daemon";
    if (::rmdir(leaf.c_str()) != 0 && errno != ENOENT && errno != EBUSY && result.ok()) {
      result = errno_error("removing cgroup " + leaf);
    }
  }
  return result;
}

}  // namespace fw::sys
