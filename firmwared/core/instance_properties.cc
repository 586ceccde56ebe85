// Properties of instances: built-in ones, their validation and the EBUSY rule
// for launch-shaping properties, and custom ones.

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "firmwared/base/host_access.h"
#include "firmwared/base/log.h"
#include "firmwared/base/signals.h"
#include "firmwared/base/strings.h"
#include "firmwared/core/binds.h"
#include "firmwared/core/instances.h"
#include "firmwared/core/instances_runtime.h"
#include "firmwared/core/limits.h"
#include "firmwared/core/shell_words.h"

namespace fw::core {

namespace {

constexpr const char* kFolder = "instances";

const std::vector<std::string>& builtin_names() {
  static const std::vector<std::string> names = {"name",
                                                 "sha1",
                                                 "base_workspace",
                                                 "id",
                                                 "pid",
                                                 "state",
                                                 "firmware_path",
                                                 "root",
                                                 "inner_pts",
                                                 "outer_pts",
                                                 "time",
                                                 "interface",
                                                 "stolen_interface",
                                                 "stolen_btusb",
                                                 "cmdline[]",
                                                 "firmware_sha1",
                                                 "init_pid",
                                                 "exit_status",
                                                 "upper_dir",
                                                 "console_log",
                                                 "ip",
                                                 "host_ip",
                                                 "userns",
                                                 "uid_base",
                                                 "time_offset",
                                                 "host_access",
                                                 "stop_signal",
                                                 "on_reboot",
                                                 "memory_max",
                                                 "pids_max",
                                                 "cpu_weight",
                                                 "exit_reason",
                                                 "binds[]",
                                                 "labels[]",
                                                 "sandbox"};
  return names;
}

bool is_launch_property(const std::string& p) {
  return p == "interface" || p == "stolen_interface" || p == "stolen_btusb" || p == "cmdline" ||
         p == "userns" || p == "time_offset" || p == "host_access" || p == "binds";
}

// Writable at any time: the stop signal and reboot policy apply to the next stop or reboot,
// limits at once to a started instance's cgroup.
bool is_runtime_property(const std::string& p) {
  return p == "stop_signal" || p == "on_reboot" || p == "memory_max" || p == "pids_max" ||
         p == "cpu_weight";
}

// Ten years: far more than any uptime a firmware expects, far less than the clocks' range.
constexpr int64_t kMaxTimeOffset = 10LL * 365 * 24 * 3600;

Result<int64_t> parse_time_offset(const std::string& value) {
  auto bad = [&]() {
    return make_error(EINVAL, "invalid time_offset " + quote(value) +
                                  ": must be a whole number of seconds from -" +
                                  std::to_string(kMaxTimeOffset) + " to " +
                                  std::to_string(kMaxTimeOffset));
  };
  if (value.empty() || value.size() > 12) return bad();
  size_t i = value[0] == '-' || value[0] == '+' ? 1 : 0;
  if (i == value.size()) return bad();
  int64_t v = 0;
  for (; i < value.size(); ++i) {
    if (value[i] < '0' || value[i] > '9') return bad();
    v = v * 10 + (value[i] - '0');
  }
  if (value[0] == '-') v = -v;
  if (v < -kMaxTimeOffset || v > kMaxTimeOffset) return bad();
  return v;
}

}  // namespace

Status validate_interface_name(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return make_error(EINVAL, "invalid interface name " + quote(name) + ": " + why);
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
    return make_error(
        EINVAL, "invalid stolen_interface " + quote(value) + ": expected iface[:new_name[:cidr]]");
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
      return make_error(EINVAL, "invalid stolen_interface " + quote(value) + ": " + quote(cidr) +
                                    " is not an IPv4 address/prefix");
    }
  }
  return {};
}

std::string effective_host_access(const catalogue::InstanceRecord& r, const config::Config& c) {
  if (!r.host_access.empty()) return r.host_access;
  auto parsed = parse_host_access(c.host_access());  // validated at start
  return parsed ? to_string(*parsed) : "none";
}

Status check_may_steal(const sys::ClientCredentials& client, const std::string& prop,
                       const std::string& value, const std::vector<std::string>& stealable) {
  if (client.is_root() || value.empty()) return {};
  if (prop == "stolen_btusb") {
    return make_error(EPERM, "only root may set stolen_btusb (" + client.describe() +
                                 " asked for " + quote(value) + ")");
  }
  if (prop != "stolen_interface") return {};
  const std::string iface = value.substr(0, value.find(':'));
  if (std::find(stealable.begin(), stealable.end(), iface) != stealable.end()) return {};
  return make_error(EPERM, "interface " + quote(iface) + " may be stolen by " + client.describe() +
                               " only if the configuration key stealable_interfaces lists it "
                               "(root may steal any interface)");
}

std::vector<PropertyValue> Instances::builtin_values(const catalogue::InstanceRecord& r) const {
  const Workspace ws = workspace(r.sha1);
  const std::string net = d_.config.net_first_two_bytes() + std::to_string(r.id);
  auto rt = running_.find(r.sha1);
  const bool live = rt != running_.end();
  std::string firmware_path = d_.firmwares.mount_point(r.firmware_sha1);
  std::string cmdline;
  for (const auto& a : r.cmdline) cmdline += (cmdline.empty() ? "" : " ") + shell_quote(a);
  std::string binds;
  for (const auto& b : r.binds) binds += (binds.empty() ? "" : " ") + shell_quote(b);
  return {
      {"name", r.name},
      {"sha1", r.sha1},
      {"base_workspace", ws.dir()},
      {"id", std::to_string(r.id), PropertyType::kInteger},
      {"pid",
       std::to_string(live && rt->second->monitor ? rt->second->monitor->monitor_pid()
                                                  : r.monitor_pid),
       PropertyType::kInteger},
      {"state", state_of(r.sha1)},
      {"firmware_path", firmware_path},
      {"root", ws.merged()},
      {"inner_pts", live ? rt->second->inner_pts : ""},
      {"outer_pts", live ? rt->second->outer_pts : ""},
      {"time", ctime_string(r.created), PropertyType::kTime, r.created},
      {"interface", r.interface},
      {"stolen_interface", r.stolen_interface},
      {"stolen_btusb", r.stolen_btusb},
      {"cmdline[]", cmdline},
      {"firmware_sha1", r.firmware_sha1},
      {"init_pid",
       std::to_string(live && rt->second->monitor ? rt->second->monitor->init_pid() : r.init_pid),
       PropertyType::kInteger},
      {"exit_status", r.exit_status ? std::to_string(*r.exit_status) : "", PropertyType::kInteger},
      {"upper_dir", ws.upper()},
      {"console_log", ws.console_log()},
      {"ip", net + ".1"},
      {"host_ip", net + ".254"},
      {"userns", r.userns},
      {"uid_base", std::to_string(userns_effective(r) ? r.uid_base : 0), PropertyType::kInteger},
      {"time_offset", std::to_string(r.time_offset), PropertyType::kInteger},
      {"host_access", effective_host_access(r, d_.config)},
      {"stop_signal", stop_signal_of(r)},
      {"on_reboot", r.on_reboot},
      {"memory_max", r.memory_max},
      {"pids_max", r.pids_max, PropertyType::kInteger},
      {"cpu_weight", r.cpu_weight, PropertyType::kInteger},
      {"exit_reason", r.exit_reason},
      {"binds[]", binds},
      // Label keys and values need no quoting (labels.h): plain words.
      {"labels[]", join(label_list(r.labels), " ")},
      // The standby sandbox of the next START: none, building, ready or failed.
      {"sandbox", sandbox_of(r.sha1)}};
}

Result<std::vector<PropertyValue>> Instances::show(const std::string& id) {
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  std::vector<PropertyValue> out = builtin_values(r);
  FW_TRY(custom_.append_values(r.sha1, &out));
  return out;
}

Result<std::string> Instances::get_property(const std::string& id, const std::string& prop) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (ref.name == "cmdline") return array_get("cmdline", r.cmdline, ref.index);
  if (ref.name == "binds") return array_get("binds", r.binds, ref.index);
  if (ref.name == "labels") return array_get("labels", label_list(r.labels), ref.index);
  for (auto& p : builtin_values(r)) {
    if (p.name == ref.name) {
      FW_TRY(reject_index_on_scalar(kFolder, ref));
      return p.value;
    }
  }
  return custom_.get_named(r.sha1, ref);
}

Status Instances::check_writable(const catalogue::InstanceRecord& r, const std::string& prop,
                                 const std::string& value, std::vector<std::string>* cmdline) {
  if (is_launch_property(prop) && state_of(r.sha1) != "ready") {
    return make_error(EBUSY, "property " + quote(prop) + " of instance " + r.name +
                                 " shapes its launch: it can change only while ready (it is " +
                                 state_of(r.sha1) + ")");
  }
  if (prop == "interface") return validate_interface_name(value);
  if (prop == "time_offset") {
    if (auto v = parse_time_offset(value); !v.ok()) return v.error();
  }
  if (prop == "stolen_interface") return validate_stolen_interface(value);
  if (prop == "host_access") {
    auto parsed = parse_host_access(value);
    if (!parsed) return parsed.error();
  }
  if (prop == "stolen_btusb") {
    if (value.size() > 255) return make_error(EINVAL, "stolen_btusb is longer than 255 bytes");
    for (char c : value) {
      if (std::iscntrl(static_cast<unsigned char>(c)) || c == ' ') {
        return make_error(EINVAL, "stolen_btusb must not hold blanks or control characters");
      }
    }
  }
  if (prop == "cmdline" && cmdline != nullptr) {
    if (cmdline->empty())
      return make_error(EINVAL, "cmdline cannot be empty: PID 1 needs a program");
    if ((*cmdline)[0].empty() || (*cmdline)[0][0] != '/') {
      return make_error(EINVAL, "cmdline[0] " + quote((*cmdline)[0]) +
                                    " must be an absolute path inside the firmware");
    }
  }
  return {};
}

Status Instances::set_property(const std::string& id, const std::string& prop,
                               const std::string& value) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_ASSIGN_OR_RETURN(auto r, find(id));
  if (value.size() > kMaxPropertyValueBytes) {
    return make_error(E2BIG, "value of property " + quote(ref.name) + " is larger than " +
                                 std::to_string(kMaxPropertyValueBytes) + " bytes");
  }
  // Whatever shapes the instance's sandbox (anything but its labels and custom properties):
  // its standby, made from the old values, is made again.
  bool shapes_sandbox = ref.name != "labels";
  auto emit = [&]() {
    if (shapes_sandbox && state_of(r.sha1) == "ready") {
      rebuild_standby(r.sha1);
    }
    d_.events.emit(
        "PROPERTY_SET",
        {{"folder", std::string(kFolder)}, {"sha1", r.sha1}, {"name", r.name}, {"property", prop}});
    return Status();
  };
  if (ref.name == "name" || ref.name == "labels") {
    FW_TRY(set_identity_property(r, ref, value));
    return emit();
  }
  if (ref.name == "cmdline") {
    FW_TRY(check_writable(r, "cmdline", value, nullptr));
    std::vector<std::string> v = r.cmdline;
    FW_TRY(array_set("cmdline", v, ref.index, value));
    FW_TRY(check_writable(r, "cmdline", value, &v));
    r.cmdline = std::move(v);
    FW_TRY(d_.catalogue.put_instance(r));
    return emit();
  }
  if (ref.name == "binds") {
    FW_TRY(check_writable(r, "binds", value, nullptr));
    std::vector<std::string> v = r.binds;
    FW_TRY(array_set("binds", v, ref.index, value));
    FW_TRY(check_binds(v, bind_policy(d_.config), r.binds));
    r.binds = std::move(v);
    FW_TRY(d_.catalogue.put_instance(r));
    return emit();
  }
  if (is_launch_property(ref.name)) {
    FW_TRY(reject_index_on_scalar(kFolder, ref));
    FW_TRY(check_writable(r, ref.name, value, nullptr));
    if (ref.name == "interface") r.interface = value;
    if (ref.name == "stolen_interface") r.stolen_interface = value;
    if (ref.name == "stolen_btusb") r.stolen_btusb = value;
    if (ref.name == "host_access") r.host_access = to_string(*parse_host_access(value));
    if (ref.name == "time_offset") r.time_offset = *parse_time_offset(value);
    if (ref.name == "userns") {
      FW_TRY(set_userns(r, value));  // stores it
      return emit();
    }
    FW_TRY(d_.catalogue.put_instance(r));
    return emit();
  }
  if (is_runtime_property(ref.name)) {
    FW_TRY(reject_index_on_scalar(kFolder, ref));
    FW_TRY(set_runtime_property(r, ref.name, value));
    return emit();
  }
  for (const auto& b : builtin_names()) {
    if (b == ref.name) {
      return make_error(EPERM, "property " + quote(ref.name) + " of instances is read-only");
    }
  }
  FW_TRY(custom_.set_named(r.sha1, ref, value));
  shapes_sandbox = false;
  return emit();
}

Status Instances::set_identity_property(catalogue::InstanceRecord& r, const PropertyRef& ref,
                                        const std::string& value) {
  if (ref.name == "labels") {
    std::vector<std::string> list = label_list(r.labels);
    FW_TRY(array_set("labels", list, ref.index, value));
    FW_ASSIGN_OR_RETURN(r.labels, parse_labels(list));
    return d_.catalogue.put_instance(r);
  }
  FW_TRY(reject_index_on_scalar(kFolder, ref));
  const std::string state = state_of(r.sha1);
  if (state != "ready") {
    return make_error(EBUSY, "instance " + r.name + " is " + state +
                                 ": its name (PID 1's hostname) can change only while ready");
  }
  FW_TRY(validate_name(value));
  if (value == r.name) return {};
  FW_ASSIGN_OR_RETURN(bool taken, d_.catalogue.name_taken(kFolder, value));
  if (taken) return make_error(EEXIST, "an instance named " + quote(value) + " already exists");
  log::info("instance " + r.name + " [" + r.sha1 + "] renamed " + value,
            log::instance(r.name, r.sha1));
  r.name = value;
  return d_.catalogue.put_instance(r);
}

Status Instances::set_runtime_property(catalogue::InstanceRecord& r, const std::string& prop,
                                       const std::string& value) {
  if (prop == "stop_signal") {
    if (value.empty()) {
      r.stop_signal.clear();  // back to its firmware's
    } else {
      FW_ASSIGN_OR_RETURN(const int sig, parse_signal(value));
      r.stop_signal = signal_name(sig);
    }
  } else if (prop == "on_reboot") {
    if (value != "restart" && value != "stop") {
      return make_error(EINVAL, "invalid on_reboot " + quote(value) + ": must be restart or stop");
    }
    r.on_reboot = value;
  } else if (prop == "memory_max") {
    FW_TRY(parse_memory_max(value));
    r.memory_max = value;
  } else if (prop == "pids_max") {
    FW_TRY(parse_pids_max(value));
    r.pids_max = value;
  } else if (prop == "cpu_weight") {
    FW_TRY(parse_cpu_weight(value));
    r.cpu_weight = value;
  }
  if (prop == "memory_max" || prop == "pids_max" || prop == "cpu_weight") {
    FW_TRY(apply_limits(r));
  }
  return d_.catalogue.put_instance(r);
}

Status Instances::set_property_as(const sys::ClientCredentials& client, const std::string& id,
                                  const std::string& prop, const std::string& value) {
  FW_ASSIGN_OR_RETURN(PropertyRef ref, parse_property_ref(prop));
  FW_TRY(check_may_steal(client, ref.name, value, d_.config.stealable_interfaces()));
  // Privileged mode hands the firmware's root the host's (unless AppArmor confines it): the
  // administrator's choice, never a group member's.
  // A bind hands the firmware's root a host path with the daemon's powers (in privileged or
  // AppArmor mode it is host root there: a rw bind lets it plant setuid files): root's
  // choice only. Anyone may clear them.
  if (ref.name == "binds" && !client.is_root() && value != "nil" && !value.empty()) {
    return make_error(EPERM, "only root may bind host paths into an instance (" +
                                 client.describe() + " asked for " + quote_path(value) + ")");
  }
  if (ref.name == "userns" && value == "n" && !client.is_root()) {
    return make_error(EPERM, "only root may set userns to n (privileged mode): " +
                                 client.describe() + " asked for it");
  }
  return set_property(id, prop, value);
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
