#include "fwctl/doctor.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "firmwared/sys/privileges.h"
#include "firmwared/sys/sha1.h"
#include "firmwared/sys/userns.h"
#include "fwctl/format.h"

namespace fwctl {

namespace {

struct Check {
  std::string name;
  std::string status;  // ok, warn, fail
  std::string detail;
  std::string advice;  // what to do ("" when nothing)
};

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Check kernel() {
  utsname u{};
  ::uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  const bool ok = major > 5 || (major == 5 && minor >= 8);
  return {"kernel", ok ? "ok" : "fail", u.release,
          ok ? "" : "Linux 5.8 or newer is needed (pidfd setns, LOOP_CONFIGURE, close_range)"};
}

Check overlayfs() {
  const bool in = slurp("/proc/filesystems").find("\toverlay\n") != std::string::npos;
  return {"overlayfs", in ? "ok" : "warn", in ? "registered" : "not registered yet",
          in ? "" : "run `modprobe overlay` (the kernel may load it on first mount)"};
}

Check namespaces() {
  std::string missing;
  for (const char* ns : {"ipc", "net", "mnt", "pid", "uts"}) {
    if (!exists(std::string("/proc/self/ns/") + ns)) missing += std::string(" ") + ns;
  }
  return {"namespaces", missing.empty() ? "ok" : "fail",
          missing.empty() ? "ipc net mnt pid uts" : "missing:" + missing,
          missing.empty() ? "" : "rebuild the kernel with the missing namespaces"};
}

Check user_namespaces() {
  const std::string v = slurp("/proc/sys/user/max_user_namespaces");
  const bool on = !v.empty() && std::atoi(v.c_str()) > 0;
  return {"user namespaces", on ? "ok" : "fail",
          on ? "available (instances run in one unless AppArmor confines them)" : "disabled",
          on ? ""
             : "set user.max_user_namespaces above 0: instances with userns auto or y cannot "
               "start without them"};
}

// Whether the kernel idmaps the filesystem under `path` (instances in a user namespace see
// their layers through idmapped mounts): a probe clone, root only.
Check idmap(const std::string& what, const std::string& path) {
  std::string p = path;
  while (!p.empty() && !exists(p)) p = p.substr(0, p.rfind('/'));
  if (p.empty()) p = "/";
  struct statfs fs {};
  ::statfs(p.c_str(), &fs);
  char type[32];
  std::snprintf(type, sizeof(type), "0x%lx", static_cast<unsigned long>(fs.f_type));
  if (::geteuid() != 0)
    return {"idmapped mounts: " + what, "warn", p, "run doctor as root to probe"};
  auto ok = fw::sys::can_idmap(p);
  if (!ok.ok()) return {"idmapped mounts: " + what, "warn", p + ": " + ok.error().message, ""};
  if (*ok) return {"idmapped mounts: " + what, "ok", p + " (filesystem " + type + ")", ""};
  return {"idmapped mounts: " + what, "fail",
          p + ": this kernel cannot idmap its filesystem (" + type + ")",
          "instances in a user namespace need idmapped mounts (Linux 5.12; ext4, xfs, btrfs; "
          "tmpfs from 6.3): move it, or set userns=n (privileged mode)"};
}

Check userns_mode(const std::string& mode, const std::string& pool) {
  if (mode == "n") {
    return {"userns", "warn", "n: new instances run privileged",
            "without AppArmor a privileged instance's root can reach host root "
            "(docs/security.md); prefer userns=auto"};
  }
  std::string detail = mode.empty() ? "auto (daemon not reachable: the default)" : mode;
  if (pool.empty()) return {"userns", "ok", detail, ""};
  const auto colon = pool.find(':');
  const uint64_t first = std::strtoull(pool.c_str(), nullptr, 10);
  const uint64_t blocks = std::strtoull(pool.c_str() + colon + 1, nullptr, 10);
  const fw::sys::IdRange range{static_cast<uint32_t>(first),
                               static_cast<uint32_t>(blocks * fw::sys::kIdsPerInstance)};
  for (const char* f : {"/etc/subuid", "/etc/subgid"}) {
    auto over = fw::sys::subid_overlaps(f, range);
    if (!over.empty()) {
      return {"userns", "fail", "userns_pool " + pool + " overlaps " + f + " entry " + over[0],
              "choose a userns_pool no subordinate id range uses"};
    }
  }
  return {"userns", "ok", detail + ", pool " + pool + " (" + std::to_string(blocks) + " instances)",
          ""};
}

Check loop_devices() {
  const bool ok = exists("/dev/loop-control");
  return {"loop devices", ok ? "ok" : "fail", ok ? "/dev/loop-control" : "no /dev/loop-control",
          ok ? "" : "`modprobe loop`; image firmwares need loop devices (directories do not)"};
}

Check apparmor() {
  const std::string enabled = slurp("/sys/module/apparmor/parameters/enabled");
  const bool on = !enabled.empty() && enabled[0] == 'Y';
  if (on) return {"AppArmor", "ok", "enabled: instances get a per-instance profile", ""};
  return {"AppArmor", "warn", "absent from this kernel",
          "instances run in a user namespace (userns=auto), with capability drops, a seccomp "
          "filter and locked /proc masks (docs/security.md); set disable_apparmor=y to "
          "silence the daemon's warning"};
}

Check parser() {
  for (const char* p : {"/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"}) {
    if (exists(p)) return {"apparmor_parser", "ok", p, ""};
  }
  return {"apparmor_parser", "warn", "not installed",
          "apt-get install apparmor (needed only where AppArmor is enabled)"};
}

// What the daemon checks at start (sys/privileges.h), seen from this process: meaningful when
// doctor runs as root where the daemon would run (a container, a CI job).
Check privileges() {
  const std::string enabled = slurp("/sys/module/apparmor/parameters/enabled");
  const bool apparmor = !enabled.empty() && enabled[0] == 'Y';
  if (::geteuid() != 0) {
    return {"privileges", "warn",
            "running as uid " + std::to_string(::geteuid()) +
                ": cannot tell whether root here has what firmwared needs",
            "run `sudo fwctl doctor`"};
  }
  auto caps = fw::sys::effective_capabilities();
  if (!caps.ok()) return {"privileges", "fail", caps.error().message, ""};
  const auto missing = fw::sys::missing_capabilities(*caps, apparmor);
  if (missing.empty()) {
    return {"privileges", "ok",
            "root with the " + std::to_string(fw::sys::needed_capabilities(apparmor).size()) +
                " capabilities firmwared uses (CAP_SYS_ADMIN, CAP_NET_ADMIN, ...)",
            ""};
  }
  std::string names;
  for (const auto& c : missing) names += (names.empty() ? "" : ", ") + std::string(c.name);
  return {"privileges", "fail", "root without " + names + ": firmwared refuses to start",
          "run it on the host or in a privileged container (Docker: --privileged; "
          "Kubernetes: securityContext.privileged: true)"};
}

Check cgroups() {
  struct statfs fs {};
  if (::statfs("/sys/fs/cgroup", &fs) != 0) {
    return {"cgroups", "warn", "/sys/fs/cgroup not mounted", "mount cgroup2 on /sys/fs/cgroup"};
  }
  const bool v2 = fs.f_type == 0x63677270;  // CGROUP2_SUPER_MAGIC
  return {"cgroups", "ok", v2 ? "cgroup v2 (unified)" : "cgroup v1 / hybrid", ""};
}

Check space(const std::string& what, const std::string& path) {
  std::string p = path;
  while (!p.empty() && !exists(p)) p = p.substr(0, p.rfind('/'));
  if (p.empty()) p = "/";
  struct statvfs v {};
  if (::statvfs(p.c_str(), &v) != 0) return {"free space: " + what, "warn", path, "cannot stat"};
  const double gib = static_cast<double>(v.f_bavail) * static_cast<double>(v.f_frsize) / (1 << 30);
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%.1f GiB free at %s", gib, path.c_str());
  const bool low = gib < 1.0;
  return {"free space: " + what, low ? "warn" : "ok", buf,
          low ? "less than 1 GiB: imports and instance diffs may hit ENOSPC" : ""};
}

// Asks the daemon for a config value; "" when unreachable.
std::string daemon_config(Context& ctx, const std::string& key, bool* reachable) {
  auto client = Client::connect(ctx.socket_path);
  if (!client.ok()) {
    *reachable = false;
    return "";
  }
  fw::protocol::Request req;
  req.command = "GET_CONFIG";
  req.args = {key};
  auto r = client->call(req, std::chrono::steady_clock::now() + std::chrono::seconds(2));
  if (!r.ok() || r->is_error()) return "";
  return config_text(fw::protocol::field_or(r->body, "value", fw::protocol::Json()));
}

// The host interfaces another firmwared marked as its own (ifalias "firmwared:<16 hex>",
// which is not `own`) that have our interface prefix or an IPv4 address in our network.
// A daemon marks the host end of each veth it makes with sha1(mount_path)'s first 16 hex
// digits, so two daemons sharing a prefix or network bytes show once either runs an
// instance.
Check other_daemons(const std::string& prefix, const std::string& net, const std::string& own) {
  std::map<std::string, std::vector<std::string>> addrs;  // interface -> IPv4 addresses
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
      char buf[INET_ADDRSTRLEN] = "";
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, buf,
                  sizeof(buf));
      addrs[a->ifa_name].push_back(buf);
    }
    ::freeifaddrs(list);
  }
  std::string found;
  DIR* d = ::opendir("/sys/class/net");
  while (d != nullptr) {
    const dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string name = e->d_name;
    std::string mark = slurp("/sys/class/net/" + name + "/ifalias");
    while (!mark.empty() && (mark.back() == '\n' || mark.back() == '\0')) mark.pop_back();
    if (mark.rfind("firmwared:", 0) != 0 || mark == own) continue;
    std::string why;
    if (!prefix.empty() && name.rfind(prefix, 0) == 0) why = "prefix " + prefix;
    for (const auto& ip : addrs[name]) {
      if (!net.empty() && ip.rfind(net, 0) == 0) {
        why += (why.empty() ? "" : ", ") + std::string("address ") + ip;
        break;
      }
    }
    if (!why.empty()) found += (found.empty() ? "" : "; ") + name + " (" + mark + ": " + why + ")";
  }
  if (d != nullptr) ::closedir(d);
  if (found.empty()) {
    return {"other daemons", "ok",
            "no other firmwared's interface with prefix " + prefix + " or in " + net + "*", ""};
  }
  return {"other daemons", "warn", "another firmwared uses the same names or network: " + found,
          "give each daemon its own host_interface_prefix and net_first_two_bytes "
          "(FIRMWARED_HOST_INTERFACE_PREFIX, FIRMWARED_NET_FIRST_TWO_BYTES)"};
}

}  // namespace

int run_doctor(Context& ctx, const Args&) {
  // Only what the daemon itself uses (busybox, for one, is the example firmware's business).
  std::vector<Check> checks = {privileges(), kernel(),          overlayfs(),
                               namespaces(), user_namespaces(), loop_devices(),
                               apparmor(),   parser(),          cgroups()};
  bool reachable = true;
  std::string repo = daemon_config(ctx, "repository_path", &reachable);
  std::string mounts = reachable ? daemon_config(ctx, "mount_path", &reachable) : "";
  std::string hook = reachable ? daemon_config(ctx, "net_hook", &reachable) : "";
  std::string userns = reachable ? daemon_config(ctx, "userns", &reachable) : "";
  std::string pool = reachable ? daemon_config(ctx, "userns_pool", &reachable) : "";
  const std::string prefix =
      reachable ? daemon_config(ctx, "host_interface_prefix", &reachable) : "";
  const std::string net = reachable ? daemon_config(ctx, "net_first_two_bytes", &reachable) : "";
  // Read before the defaults below replace an unreachable daemon's mount_path.
  const bool know_owner = reachable && !mounts.empty();
  checks.push_back(
      {"daemon", reachable ? "ok" : "warn",
       reachable ? "answers on " + ctx.socket_path : "not reachable on " + ctx.socket_path,
       reachable ? "" : "start firmwared (paths below are the defaults)"});
  if (repo.empty()) repo = "/var/lib/firmwared/firmwares";
  if (mounts.empty()) mounts = "/var/lib/firmwared/mount_points";
  checks.push_back(space("repository", repo));
  checks.push_back(space("mounts", mounts));
  checks.push_back(userns_mode(userns, pool));
  checks.push_back(idmap("mounts", mounts));
  checks.push_back(idmap("repository", repo));
  if (know_owner) {
    // The mark the daemon puts on its veths (the hash of its canonical mount_path).
    checks.push_back(other_daemons(prefix, net, "firmwared:" + fw::sys::daemon_owner_id(mounts)));
  }
  if (!hook.empty()) {
    const bool ok = ::access(hook.c_str(), X_OK) == 0;
    checks.push_back({"net helper", ok ? "ok" : "fail", hook,
                      ok ? "" : "set net_hook to an executable helper (docs/net-helper.md)"});
  }
  bool failed = false;
  if (ctx.json) {
    fw::protocol::Json out = fw::protocol::Json::array();
    for (const auto& c : checks) {
      out.push_back(
          {{"check", c.name}, {"status", c.status}, {"detail", c.detail}, {"advice", c.advice}});
      failed = failed || c.status == "fail";
    }
    std::cout << out.dump(2) << std::endl;
    return failed ? kExitError : kExitOk;
  }
  std::printf("%-20s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
  for (const auto& c : checks) {
    std::printf("%-20s %-6s %s\n", c.name.c_str(), c.status.c_str(), c.detail.c_str());
    if (!c.advice.empty()) std::printf("%-20s %-6s -> %s\n", "", "", c.advice.c_str());
    failed = failed || c.status == "fail";
  }
  return failed ? kExitError : kExitOk;
}

}  // namespace fwctl
