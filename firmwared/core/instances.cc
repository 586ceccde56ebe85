#include "firmwared/core/instances.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <ctime>

#include "firmwared/base/defer.h"
#include "firmwared/base/log.h"
#include "firmwared/base/paths.h"
#include "firmwared/core/identifiers.h"
#include "firmwared/core/shell_words.h"
#include "firmwared/sys/hash_copy.h"

namespace fw::core {

namespace {

constexpr const char* kFolder = "instances";

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {
      "name",       "sha1",          "base_workspace", "id",           "pid",
      "state",      "firmware_path", "root",           "inner_pts",    "outer_pts",
      "time",       "interface",     "stolen_interface", "stolen_btusb", "cmdline[]",
      "firmware_sha1", "init_pid",   "exit_status",    "upper_dir",    "console_log",
      "ip",         "host_ip"};
  return names;
}

bool is_launch_property(const std::string& p) {
  return p == "interface" || p == "stolen_interface" || p == "stolen_btusb" || p == "cmdline";
}

std::string ctime_of(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  char buf[64];
  if (::ctime_r(&tt, buf) == nullptr) return "";
  std::string s = buf;
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

Status make_dir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return errno_error("creating directory '" + path + "'");
  }
  return {};
}

std::optional<int> read_exit_status(const std::string& workspace) {
  auto content = read_small_file(workspace + "/exit_status");
  if (!content.ok() || content->empty()) return std::nullopt;
  return std::atoi(content->c_str());
}

}  // namespace

Status validate_interface_name(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return make_error(EINVAL, "invalid interface name '" + printable(name) + "': " + why);
  };
  if (name.empty() || name.size() > 15) return bad("must be 1 to 15 bytes");
  if (name == "." || name == "..") return bad("must not be . or ..");
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || std::isspace(u) || std::iscntrl(u) || u >= 0x80) {
      return bad("must not hold '/', ':', whitespace, control or non-ASCII characters");
    }
  }
  return {};
}

Status validate_stolen_interface(const std::string& value) {
  if (value.empty()) return {};
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    auto colon = value.find(':', start);
    parts.push_back(value.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) {
    return make_error(EINVAL, "invalid stolen_interface '" + printable(value) +
                                  "': expected iface[:new_name[:cidr]]");
  }
  FW_TRY_CTX(validate_interface_name(parts[0]), "stolen_interface");
  if (parts.size() >= 2 && !parts[1].empty()) {
    FW_TRY_CTX(validate_interface_name(parts[1]), "stolen_interface");
  }
  if (parts.size() == 3) {
    const std::string& cidr = parts[2];
    unsigned a, b, c, d, len;
    char tail;
    if (std::sscanf(cidr.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &len, &tail) != 5 ||
        a > 255 || b > 255 || c > 255 || d > 255 || len > 32) {
      return make_error(EINVAL, "invalid stolen_interface '" + printable(value) +
                                    "': '" + printable(cidr) + "' is not an IPv4 address/prefix");
    }
  }
  return {};
}

// What the daemon knows about an instance beyond the catalogue while it runs.
struct Instances::Runtime {
  std::string phase;  // starting, started, stopping
  std::unique_ptr<RunningMonitor> monitor;
  std::string inner_pts, outer_pts;
  std::vector<StartDone> start_waiters;
  std::vector<KillDone> kill_waiters;
  std::optional<Error> start_error;
  uint64_t generation = 0;  // distinguishes this run from the next one for timers
};

Instances::Instances(InstancesDeps deps)
    : d_(deps), custom_(deps.catalogue, kFolder), rng_(std::random_device{}()) {}

Instances::~Instances() = default;

std::string Instances::workspace(const std::string& sha1) const {
  return d_.config.mount_path() + "/instances/" + sha1;
}

std::string Instances::state_of(const std::string& sha1) const {
  auto it = running_.find(sha1);
  return it == running_.end() ? "ready" : it->second->phase;
}

std::string Instances::outer_pts(const std::string& sha1) const {
  auto it = running_.find(sha1);
  return it == running_.end() || it->second->phase != "started" ? "" : it->second->outer_pts;
}

Result<std::string> Instances::new_name() {
  return pick_name(
      d_.words,
      [this](const std::string& n) {
        auto taken = d_.catalogue.name_taken(kFolder, n);
        return !taken.ok() || *taken;
      },
      rng_);
}

Result<catalogue::InstanceRecord> Instances::find(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  std::vector<EntityRef> refs;
  for (const auto& r : all) refs.push_back({r.sha1, r.name});
  FW_ASSIGN_OR_RETURN(std::string sha1, resolve_identifier("instance", id, refs));
  for (auto& r : all) {
    if (r.sha1 == sha1) return r;
  }
  return make_error(ENOENT, "instance '" + printable(id) + "' vanished");
}

Status Instances::mount_workspace(const catalogue::InstanceRecord& r) {
  const std::string ws = workspace(r.sha1);
  FW_TRY(d_.mounter.mount_lower(d_.firmwares.mount_point(r.firmware_sha1), ws + "/ro"));
  if (auto s = d_.mounter.mount_overlay(ws + "/ro", ws + "/rw", ws + "/work", ws + "/union");
      !s.ok()) {
    (void)d_.mounter.unmount(ws + "/ro");
    return s;
  }
  return {};
}

void Instances::prepare(const std::string& source, const std::optional<std::string>& cwd,
                        PrepareDone done) {
  auto fw = d_.firmwares.find(source);
  if (fw.ok()) return done(create(*fw));
  // Not a firmware identifier: a directory or image path is imported first.
  if (source.find('/') == std::string::npos && source.find("://") == std::string::npos) {
    return done(fw.error());
  }
  d_.firmwares.prepare(source, cwd, [this, done](Result<EntitySummary> imported) {
    if (!imported.ok()) return done(imported.error());
    auto record = d_.firmwares.find(imported->sha1);
    if (!record.ok()) return done(record.error());
    done(create(*record));
  });
}

Result<EntitySummary> Instances::create(const catalogue::FirmwareRecord& fw) {
  catalogue::InstanceRecord r;
  FW_ASSIGN_OR_RETURN(r.id, d_.catalogue.lowest_free_instance_id());
  FW_ASSIGN_OR_RETURN(r.name, new_name());
  r.created = static_cast<int64_t>(::time(nullptr));
  std::uniform_int_distribution<uint64_t> dist;
  r.sha1 = sys::sha1_hex(fw.sha1 + ":" + r.name + ":" + std::to_string(r.created) + ":" +
                         std::to_string(dist(rng_)));
  r.firmware_sha1 = fw.sha1;
  r.interface = d_.config.container_interface();
  r.cmdline = {"/sbin/init"};

  const std::string ws = workspace(r.sha1);
  FW_TRY(make_dir(d_.config.mount_path() + "/instances", 0755));
  FW_TRY(make_dir(ws, 0755));
  bool keep = false;
  DEFER {
    if (!keep) (void)d_.mounter.remove_tree(ws);
  };
  for (const char* sub : {"ro", "rw", "work", "union"}) {
    FW_TRY(make_dir(ws + "/" + sub, 0755));
  }
  FW_TRY_CTX(mount_workspace(r), "preparing instance " + r.name);
  if (auto s = d_.catalogue.put_instance(r); !s.ok()) {
    (void)d_.mounter.unmount(ws + "/union");
    (void)d_.mounter.unmount(ws + "/ro");
    return s.error().wrap("recording instance " + r.name);
  }
  keep = true;
  log::info("instance " + r.name + " [" + r.sha1 + "] prepared from firmware " + fw.name);
  d_.events.emit("PREPARED", {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}});
  return EntitySummary{r.sha1, r.name, false, ""};
}

Status Instances::restore() {
  FW_TRY(make_dir(d_.config.mount_path() + "/instances", 0755));
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  size_t adopted = 0;
  for (auto& r : all) {
    const std::string ws = workspace(r.sha1);
    if (r.state != "ready" && r.monitor_pid > 0) {
      auto mon = d_.launcher.adopt(r.monitor_pid, r.monitor_start_time, r.init_pid, ws,
                                   events_for(r.sha1));
      if (mon.ok()) {
        auto rt = std::make_unique<Runtime>();
        rt->phase = "started";
        rt->monitor = std::move(*mon);
        running_[r.sha1] = std::move(rt);
        ++adopted;
        log::info("instance " + r.name + " re-adopted (monitor pid " +
                  std::to_string(r.monitor_pid) + ")");
        continue;  // its mounts are in use: leave them
      }
      log::notice("instance " + r.name + " died while the daemon was away");
      r.state = "ready";
      r.exit_status = read_exit_status(ws);
      if (auto s = d_.catalogue.put_instance(r); !s.ok()) {
        log::warning("instance " + r.name + ": " + s.error().message + ", ignoring");
      }
    }
    // Stale mounts of a crashed daemon are replaced, not stacked.
    (void)d_.mounter.unmount(ws + "/union");
    (void)d_.mounter.unmount(ws + "/ro");
    for (const char* sub : {"ro", "rw", "work", "union"}) (void)make_dir(ws + "/" + sub, 0755);
    if (auto s = mount_workspace(r); !s.ok()) {
      log::warning("instance " + r.name + ": " + s.error().message + ", ignoring");
    }
  }
  log::info("restored " + std::to_string(all.size()) + " instance(s), " +
            std::to_string(adopted) + " running");
  return {};
}

MonitorEvents Instances::events_for(const std::string& sha1) {
  MonitorEvents ev;
  ev.on_ptys = [this, sha1](const std::string& inner, const std::string& outer) {
    if (auto it = running_.find(sha1); it != running_.end()) {
      it->second->inner_pts = inner;
      it->second->outer_pts = outer;
    }
  };
  ev.on_namespaces_ready = [this, sha1]() {
    // The network step (issue 5/7) goes here, between unshare and pivot_root.
    if (auto it = running_.find(sha1); it != running_.end() && it->second->phase == "starting") {
      it->second->monitor->proceed();
    }
  };
  ev.on_started = [this, sha1](int64_t pid) { on_started(sha1, pid); };
  ev.on_failed = [this, sha1](const Error& e) {
    if (auto it = running_.find(sha1); it != running_.end()) it->second->start_error = e;
  };
  ev.on_exited = [this, sha1](std::optional<int> status) { on_exited(sha1, status); };
  return ev;
}

void Instances::start(const std::string& id, StartDone done) {
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  if (auto it = running_.find(r->sha1); it != running_.end()) {
    return done(make_error(EBUSY, "instance " + r->name + " is " + it->second->phase +
                                      ", not ready"));
  }
  LaunchSpec spec{r->name, r->sha1, workspace(r->sha1) + "/union", workspace(r->sha1),
                  r->cmdline};
  auto rt = std::make_unique<Runtime>();
  rt->phase = "starting";
  static uint64_t generations = 0;
  rt->generation = ++generations;
  rt->start_waiters.push_back(std::move(done));
  Runtime* raw = rt.get();
  running_[r->sha1] = std::move(rt);
  auto mon = d_.launcher.launch(spec, events_for(r->sha1));
  if (!mon.ok()) {
    auto waiters = std::move(raw->start_waiters);
    running_.erase(r->sha1);
    for (auto& w : waiters) w(mon.error().wrap("starting instance " + r->name));
    return;
  }
  raw->monitor = std::move(*mon);
  const std::string sha1 = r->sha1;
  const uint64_t gen = raw->generation;
  d_.timers.after(kStartTimeoutMs, [this, sha1, gen]() {
    auto it = running_.find(sha1);
    if (it == running_.end() || it->second->generation != gen || it->second->phase != "starting") {
      return;
    }
    it->second->start_error = make_error(ETIMEDOUT, "PID 1 was not started within " +
                                                        std::to_string(kStartTimeoutMs / 1000) +
                                                        " s");
    it->second->monitor->kill_monitor();
  });
}

void Instances::on_started(const std::string& sha1, int64_t init_pid) {
  auto it = running_.find(sha1);
  if (it == running_.end()) return;
  Runtime& rt = *it->second;
  if (rt.phase != "starting") return;  // a KILL came first; on_exited will settle it
  auto r = d_.catalogue.get_instance(sha1);
  if (!r.ok() || !*r) {
    rt.start_error = make_error(EIO, "instance record vanished during START");
    rt.monitor->kill_monitor();
    return;
  }
  auto rec = **r;
  rec.state = "started";
  rec.monitor_pid = rt.monitor->monitor_pid();
  rec.monitor_start_time = rt.monitor->monitor_start_time();
  rec.init_pid = init_pid;
  rec.exit_status.reset();
  if (auto s = d_.catalogue.put_instance(rec); !s.ok()) {
    rt.start_error = s.error().wrap("recording the start of " + rec.name);
    rt.monitor->kill_monitor();
    return;
  }
  rt.phase = "started";
  log::info("instance " + rec.name + " started, PID 1 is host pid " + std::to_string(init_pid));
  d_.events.emit("STARTED", {{"folder", std::string(kFolder)},
                             {"sha1", sha1},
                             {"name", rec.name},
                             {"init_pid", init_pid}});
  auto waiters = std::move(rt.start_waiters);
  for (auto& w : waiters) w(EntitySummary{sha1, rec.name, true, ""});
}

void Instances::on_exited(const std::string& sha1, std::optional<int> status) {
  auto it = running_.find(sha1);
  if (it == running_.end()) return;
  std::unique_ptr<Runtime> rt = std::move(it->second);
  running_.erase(it);
  auto r = d_.catalogue.get_instance(sha1);
  std::string name = sha1;
  const bool was_started = rt->phase == "started" || rt->phase == "stopping";
  if (r.ok() && *r) {
    auto rec = **r;
    name = rec.name;
    const bool recorded_started = rec.state != "ready";
    rec.state = "ready";
    if (recorded_started || status) rec.exit_status = status;
    if (auto s = d_.catalogue.put_instance(rec); !s.ok()) {
      log::error("instance " + name + ": recording its death: " + s.error().message);
    }
  }
  if (!rt->start_waiters.empty()) {
    Error e = rt->start_error.value_or(
        rt->kill_waiters.empty()
            ? make_error(EIO, "the monitor exited before PID 1 started")
            : make_error(ECANCELED, "START interrupted by KILL"));
    for (auto& w : rt->start_waiters) w(e.wrap("starting instance " + name));
  }
  if (was_started || !rt->kill_waiters.empty()) {
    log::info("instance " + name + " dead, exit status " +
              (status ? std::to_string(*status) : std::string("unknown")));
    core::EventFields fields = {{"folder", std::string(kFolder)}, {"sha1", sha1}, {"name", name}};
    fields.push_back({"exit_status", status ? EventValue(int64_t{*status}) : EventValue(std::string())});
    d_.events.emit("DEAD", std::move(fields));
  }
  for (auto& w : rt->kill_waiters) w(KillResult{sha1, name, status});
}

void Instances::kill(const std::string& id, KillDone done) {
  auto r = find(id);
  if (!r.ok()) return done(r.error());
  auto it = running_.find(r->sha1);
  if (it == running_.end()) {
    return done(make_error(ECHILD, "instance " + r->name + " is not started"));
  }
  Runtime& rt = *it->second;
  rt.kill_waiters.push_back(std::move(done));
  if (rt.phase == "stopping") return;
  const bool starting = rt.phase == "starting";
  rt.phase = "stopping";
  if (!starting) {
    auto rec = *r;
    rec.state = "stopping";
    (void)d_.catalogue.put_instance(rec);
  }
  if (starting || !rt.monitor->kill_init().ok()) {
    rt.monitor->kill_monitor();
  }
  const std::string sha1 = r->sha1;
  const uint64_t gen = rt.generation;
  d_.timers.after(kKillTimeoutMs, [this, sha1, gen]() {
    auto it2 = running_.find(sha1);
    if (it2 != running_.end() && it2->second->generation == gen) {
      log::warning("instance " + sha1 + ": monitor still alive " +
                   std::to_string(kKillTimeoutMs / 1000) + " s after KILL, killing it");
      it2->second->monitor->kill_monitor();
    }
  });
}

Result<EntitySummary> Instances::remount(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (state_of(r.sha1) != "ready") {
    return make_error(EBUSY, "instance " + r.name + " is " + state_of(r.sha1) + ", not ready");
  }
  const std::string ws = workspace(r.sha1);
  FW_TRY_CTX(d_.mounter.unmount(ws + "/union"), "remounting instance " + r.name);
  FW_TRY_CTX(d_.mounter.unmount(ws + "/ro"), "remounting instance " + r.name);
  FW_TRY_CTX(mount_workspace(r), "remounting instance " + r.name);
  return EntitySummary{r.sha1, r.name, true, ""};
}

Result<EntitySummary> Instances::drop(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (state_of(r.sha1) != "ready") {
    return make_error(EBUSY, "instance " + r.name + " is " + state_of(r.sha1) + ", not ready");
  }
  const std::string ws = workspace(r.sha1);
  FW_TRY_CTX(d_.mounter.unmount(ws + "/union"), "dropping instance " + r.name);
  FW_TRY_CTX(d_.mounter.unmount(ws + "/ro"), "dropping instance " + r.name);
  FW_TRY_CTX(d_.catalogue.delete_instance(r.sha1), "dropping instance " + r.name);
  if (d_.config.prevent_removal()) {
    log::info("instance " + r.name + " dropped, workspace kept at " + ws + " (prevent_removal)");
  } else if (auto s = d_.mounter.remove_tree(ws); !s.ok()) {
    log::warning(s.error().message + ", ignoring");
  }
  d_.events.emit("DROPPED", {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}});
  return EntitySummary{r.sha1, r.name, true, ""};
}

Result<std::vector<EntitySummary>> Instances::list() {
  FW_ASSIGN_OR_RETURN(auto all, d_.catalogue.list_instances());
  std::vector<EntitySummary> out;
  for (const auto& r : all) out.push_back({r.sha1, r.name, true, ""});
  return out;
}

std::vector<std::pair<std::string, std::string>> Instances::builtin_values(
    const catalogue::InstanceRecord& r) const {
  const std::string ws = workspace(r.sha1);
  const std::string net = d_.config.net_first_two_bytes() + std::to_string(r.id);
  auto rt = running_.find(r.sha1);
  const bool live = rt != running_.end();
  std::string firmware_path = d_.firmwares.mount_point(r.firmware_sha1);
  std::string cmdline;
  for (const auto& a : r.cmdline) cmdline += (cmdline.empty() ? "" : " ") + shell_quote(a);
  return {{"name", r.name},
          {"sha1", r.sha1},
          {"base_workspace", ws},
          {"id", std::to_string(r.id)},
          {"pid", std::to_string(live && rt->second->monitor ? rt->second->monitor->monitor_pid()
                                                              : r.monitor_pid)},
          {"state", state_of(r.sha1)},
          {"firmware_path", firmware_path},
          {"root", ws + "/union"},
          {"inner_pts", live ? rt->second->inner_pts : ""},
          {"outer_pts", live ? rt->second->outer_pts : ""},
          {"time", ctime_of(r.created)},
          {"interface", r.interface},
          {"stolen_interface", r.stolen_interface},
          {"stolen_btusb", r.stolen_btusb},
          {"cmdline[]", cmdline},
          {"firmware_sha1", r.firmware_sha1},
          {"init_pid", std::to_string(live && rt->second->monitor ? rt->second->monitor->init_pid()
                                                                   : r.init_pid)},
          {"exit_status", r.exit_status ? std::to_string(*r.exit_status) : ""},
          {"upper_dir", ws + "/rw"},
          {"console_log", ws + "/console.log"},
          {"ip", net + ".1"},
          {"host_ip", net + ".254"}};
}

Result<std::vector<PropertyValue>> Instances::show(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  std::vector<PropertyValue> out;
  for (auto& [k, v] : builtin_values(r)) out.push_back({k, v});
  FW_ASSIGN_OR_RETURN(auto customs, d_.catalogue.custom_properties(kFolder));
  for (const auto& c : customs) {
    FW_ASSIGN_OR_RETURN(std::string v, custom_.get(r.sha1, PropertyRef{c.name, {}, false}, c));
    out.push_back({c.is_array ? c.name + "[]" : c.name, v});
  }
  return out;
}

Result<std::string> Instances::get_property(const std::string& id, const std::string& prop) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (ref.name == "cmdline") return array_get("cmdline", r.cmdline, ref.index);
  for (auto& [k, v] : builtin_values(r)) {
    if (k == ref.name) {
      FW_TRY(reject_index_on_scalar(kFolder, ref));
      return v;
    }
  }
  FW_ASSIGN_OR_RETURN(auto custom, custom_.find(ref.name));
  if (!custom) {
    return make_error(ESRCH, "instances have no property '" + printable(ref.name) +
                                 "' (PROPERTIES instances lists them)");
  }
  return custom_.get(r.sha1, ref, *custom);
}

Status Instances::check_writable(const catalogue::InstanceRecord& r, const std::string& prop,
                                 const std::string& value, std::vector<std::string>* cmdline) {
  if (is_launch_property(prop) && state_of(r.sha1) != "ready") {
    return make_error(EBUSY, "property '" + prop + "' of instance " + r.name +
                                 " shapes its launch: it can change only while ready (it is " +
                                 state_of(r.sha1) + ")");
  }
  if (prop == "interface") return validate_interface_name(value);
  if (prop == "stolen_interface") return validate_stolen_interface(value);
  if (prop == "stolen_btusb") {
    if (value.size() > 255) return make_error(EINVAL, "stolen_btusb is longer than 255 bytes");
    for (char c : value) {
      if (std::iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
        return make_error(EINVAL, "stolen_btusb must not hold blanks or control characters");
      }
    }
  }
  if (prop == "cmdline" && cmdline != nullptr) {
    if (cmdline->empty()) return make_error(EINVAL, "cmdline cannot be empty: PID 1 needs a program");
    if ((*cmdline)[0].empty() || (*cmdline)[0][0] != '/') {
      return make_error(EINVAL, "cmdline[0] '" + printable((*cmdline)[0]) +
                                    "' must be an absolute path inside the firmware");
    }
  }
  return {};
}

Status Instances::set_property(const std::string& id, const std::string& prop,
                               const std::string& value) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (value.size() > kMaxPropertyValueBytes) {
    return make_error(E2BIG, "value of property '" + ref.name + "' is larger than " +
                                 std::to_string(kMaxPropertyValueBytes) + " bytes");
  }
  auto emit = [&]() {
    d_.events.emit("PROPERTY_SET", {{"folder", std::string(kFolder)},
                                    {"sha1", r.sha1},
                                    {"name", r.name},
                                    {"property", prop}});
    return Status();
  };
  if (ref.name == "cmdline") {
    FW_TRY(check_writable(r, "cmdline", value, nullptr));
    std::vector<std::string> v = r.cmdline;
    FW_TRY(array_set("cmdline", v, ref.index, value));
    FW_TRY(check_writable(r, "cmdline", value, &v));
    r.cmdline = std::move(v);
    FW_TRY(d_.catalogue.put_instance(r));
    return emit();
  }
  if (is_launch_property(ref.name)) {
    FW_TRY(reject_index_on_scalar(kFolder, ref));
    FW_TRY(check_writable(r, ref.name, value, nullptr));
    if (ref.name == "interface") r.interface = value;
    if (ref.name == "stolen_interface") r.stolen_interface = value;
    if (ref.name == "stolen_btusb") r.stolen_btusb = value;
    FW_TRY(d_.catalogue.put_instance(r));
    return emit();
  }
  for (const auto& b : builtin_names()) {
    if (b == ref.name) {
      return make_error(EPERM, "property '" + ref.name + "' of instances is read-only");
    }
  }
  FW_ASSIGN_OR_RETURN(auto custom, custom_.find(ref.name));
  if (!custom) {
    return make_error(ESRCH, "instances have no property '" + printable(ref.name) +
                                 "' (PROPERTIES instances lists them)");
  }
  FW_TRY(custom_.set(r.sha1, ref, *custom, value));
  return emit();
}

Result<std::vector<std::string>> Instances::property_names() {
  std::vector<std::string> out = builtin_names();
  FW_ASSIGN_OR_RETURN(auto customs, custom_.names());
  out.insert(out.end(), customs.begin(), customs.end());
  return out;
}

Result<std::string> Instances::add_property(const std::string& name) {
  return custom_.add(name, builtin_names());
}

}  // namespace fw::core
