// CgroupLayout: which cgroup hierarchies the host mounts, and where this process is in
// each. proc(5) describes /proc/self/mountinfo ("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1
// - ext3 /dev/root rw,errors=continue") and /proc/self/cgroup ("hierarchy-ID:controller-
// list:cgroup-path"; cgroup2 is "0::/path").

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "firmwared/base/fd.h"
#include "firmwared/sys/cgroup.h"
#include "firmwared/sys/cgroup_util.h"

namespace fw::sys {

namespace {

// The v1 controllers the kernel knows (mount options that are not controllers, such as
// "noprefix", "clone_children" or "release_agent=", are left out).
bool is_v1_controller(std::string_view option) {
  static const std::set<std::string_view> kKnown = {
      "cpu",   "cpuacct", "cpuset", "memory",  "devices", "freezer",    "net_cls", "net_prio",
      "blkio", "pids",    "rdma",   "hugetlb", "misc",    "perf_event", "debug",
  };
  return kKnown.count(option) != 0 || option.starts_with("name=");
}

bool is_used_v1(const std::vector<std::string>& controllers) {
  static const std::set<std::string_view> kUsed = {"name=systemd", "memory",  "pids",
                                                   "cpu",          "cpuacct", "devices"};
  return std::any_of(controllers.begin(), controllers.end(),
                     [](const std::string& c) { return kUsed.count(c) != 0; });
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// Mount points escape space, tab, newline and backslash as \ooo (seq_file's mangle_path).
std::string unescape_octal(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct MountEntry {
  std::string device;  // major:minor, the superblock
  CgroupHierarchy hierarchy;
};

// Parses one mountinfo line; nullopt for a mount that is not the root of a cgroup hierarchy.
Result<std::optional<MountEntry>> parse_mount_line(std::string_view line) {
  std::vector<std::string_view> f;
  for (std::string_view t : split(line, ' ')) {
    if (!t.empty()) f.push_back(t);
  }
  const auto sep = std::find(f.begin(), f.end(), "-");
  const size_t s = static_cast<size_t>(sep - f.begin());
  if (s < 6 || s + 1 >= f.size()) {
    return make_error(EINVAL, "malformed mountinfo line '" + std::string(line) + "'");
  }
  const std::string_view fstype = f[s + 1];
  if ((fstype != "cgroup" && fstype != "cgroup2") || f[3] != "/") {
    return std::optional<MountEntry>();
  }
  MountEntry e;
  e.device = std::string(f[2]);
  e.hierarchy.unified = fstype == "cgroup2";
  e.hierarchy.mount = unescape_octal(f[4]);
  if (!e.hierarchy.unified && s + 3 < f.size()) {
    for (std::string_view o : split(f[s + 3], ',')) {
      if (is_v1_controller(o)) e.hierarchy.controllers.emplace_back(o);
    }
  }
  return std::optional<MountEntry>(std::move(e));
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Fills `self` of each hierarchy from /proc/self/cgroup.
Status match_self(std::vector<CgroupHierarchy>& hs, std::string_view proc_self_cgroup) {
  for (std::string_view line : split(proc_self_cgroup, '\n')) {
    if (line.empty()) continue;
    const size_t c1 = line.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos || line.substr(c2 + 1).empty() || line[c2 + 1] != '/') {
      return make_error(EINVAL, "malformed /proc/self/cgroup line '" + std::string(line) + "'");
    }
    const std::string_view list = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path(line.substr(c2 + 1));
    std::vector<std::string> names;
    if (!list.empty()) {
      for (std::string_view n : split(list, ',')) names.emplace_back(n);
    }
    names = sorted(names);
    for (CgroupHierarchy& h : hs) {
      const bool match = h.unified ? (line.substr(0, c1) == "0" && list.empty())
                                   : (!h.unified && sorted(h.controllers) == names);
      if (match) h.self = path;
    }
  }
  return {};
}

}  // namespace

bool CgroupHierarchy::has(std::string_view controller) const {
  return std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
}

std::string CgroupHierarchy::self_dir() const { return self == "/" ? mount : mount + self; }

const CgroupHierarchy* CgroupLayout::unified() const {
  for (const CgroupHierarchy& h : hierarchies) {
    if (h.unified) return &h;
  }
  return nullptr;
}

const CgroupHierarchy* CgroupLayout::v1(std::string_view controller) const {
  for (const CgroupHierarchy& h : hierarchies) {
    if (!h.unified && h.has(controller)) return &h;
  }
  return nullptr;
}

Result<CgroupLayout> CgroupLayout::discover_from(std::string_view mountinfo,
                                                 std::string_view proc_self_cgroup) {
  CgroupLayout layout;
  std::set<std::string> seen;  // superblocks
  std::vector<CgroupHierarchy> found;
  for (std::string_view line : split(mountinfo, '\n')) {
    if (line.empty()) continue;
    FW_ASSIGN_OR_RETURN(std::optional<MountEntry> e, parse_mount_line(line));
    if (!e) continue;
    if (e->hierarchy.unified && e->hierarchy.mount == "/sys/fs/cgroup") layout.unified_host = true;
    if (!seen.insert(e->device).second) continue;
    if (!e->hierarchy.unified && !is_used_v1(e->hierarchy.controllers)) continue;
    found.push_back(std::move(e->hierarchy));
  }
  FW_TRY(match_self(found, proc_self_cgroup));
  for (CgroupHierarchy& h : found) {
    if (!h.self.empty()) layout.hierarchies.push_back(std::move(h));
  }
  if (layout.hierarchies.empty()) {
    return make_error(ENOENT, "no cgroup hierarchy is mounted (in /proc/self/mountinfo)");
  }
  return layout;
}

Result<CgroupLayout> CgroupLayout::discover() {
  FW_ASSIGN_OR_RETURN(const std::string mountinfo, read_text("/proc/self/mountinfo"));
  FW_ASSIGN_OR_RETURN(const std::string self, read_text("/proc/self/cgroup"));
  FW_ASSIGN_OR_RETURN(CgroupLayout layout, discover_from(mountinfo, self));
  for (CgroupHierarchy& h : layout.hierarchies) {
    if (!h.unified) continue;
    FW_ASSIGN_OR_RETURN(const std::string list, read_text(h.self_dir() + "/cgroup.controllers"));
    h.controllers = words(list);
  }
  return layout;
}

}  // namespace fw::sys
