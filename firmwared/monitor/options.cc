#include "firmwared/monitor/options.h"

#include <cstring>

namespace fw::monitor {

Result<Options> parse_options(int argc, char** argv) {
  Options o;
  int i = 1;
  auto value = [&](const char* flag) -> Result<std::string> {
    if (i + 1 >= argc) return make_error(EINVAL, std::string(flag) + " needs a value");
    return std::string(argv[++i]);
  };
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--standby") {
      o.standby = true;
      continue;
    }
    FW_ASSIGN_OR_RETURN(std::string v, value(argv[i]));
    if (a == "--name") {
      o.name = v;
    } else if (a == "--root") {
      o.root = v;
    } else if (a == "--workspace") {
      o.workspace = v;
    } else if (a == "--status-fd") {
      o.status_fd = std::stoi(v);
    } else if (a == "--control-fd") {
      o.control_fd = std::stoi(v);
    } else if (a == "--log-max") {
      o.log_max = std::stoull(v);
    } else if (a == "--apparmor-profile") {
      o.apparmor_profile = v;
    } else if (a == "--userns-base") {
      const unsigned long long base = std::stoull(v);
      if (base == 0 || base > 0xFFFF0000ULL - 65536) return make_error(EINVAL, "bad --userns-base");
      o.userns_base = static_cast<uint32_t>(base);
    } else if (a == "--time-offset") {
      o.time_offset = std::stoll(v);
    } else if (a == "--cgroup") {
      FW_ASSIGN_OR_RETURN(auto cgroup, sys::wire::parse_cgroup_arg(v));
      o.cgroups.push_back(std::move(cgroup));
    } else if (a == "--bind") {
      FW_ASSIGN_OR_RETURN(auto bind, sys::parse_bind(v));
      o.binds.push_back(std::move(bind));
    } else {
      return make_error(EINVAL, "unknown option " + a);
    }
  }
  for (; i < argc; ++i) o.cmdline.emplace_back(argv[i]);
  if (o.name.empty() || o.root.empty() || o.workspace.empty() || o.status_fd < 0 ||
      o.control_fd < 0 || o.cmdline.empty()) {
    return make_error(EINVAL,
                      "missing option (need --name --root --workspace --status-fd "
                      "--control-fd -- CMD)");
  }
  return o;
}

}  // namespace fw::monitor
